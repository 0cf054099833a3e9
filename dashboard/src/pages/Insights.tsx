// Insights: a trends builder (series with their math, a breakdown, a filter,
// compare with the previous period) drawn by uPlot, and a retention grid.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, errorText } from "../api/client";
import { TrendChart, type Series } from "../components/TrendChart";
import { presetRange, RangePicker, type Range } from "../components/RangePicker";

type Math = "total" | "unique_persons" | "unique_sessions" | "per_person_avg";
type SeriesSpec = { event: string; math: Math };
type TrendSeries = { name: string; breakdown_value?: string | null; is_other?: boolean; points: { bucket: string; value?: number | null }[] };
type TrendsAnswer = { results: TrendSeries[]; previous?: { results: TrendSeries[] } | null };
type Cohort = { start: string; size: number; values: { period: number; count: number; percentage?: number | null }[] };

const MATHS: [Math, string][] = [["total", "Total events"], ["unique_persons", "Unique persons"], ["unique_sessions", "Sessions"], ["per_person_avg", "Per person (average)"]];
const COLORS = ["#4f6bed", "#13a37f", "#e0862b", "#c2418f", "#2b9fd8", "#8a63d2", "#7c8b2d", "#d1435b", "#5b6b84", "#1f8a70", "#b0762f"];

function useEventNames(projectId: number, kind: "event" | "property") {
  const [names, setNames] = useState<string[]>([]);
  useEffect(() => {
    api.GET("/api/v1/projects/{project_id}/definitions", { params: { path: { project_id: projectId }, query: { kind, limit: 300 } } }).then((r) => {
      setNames(((r.data as unknown as { results: { name: string }[] } | undefined)?.results ?? []).map((d) => d.name));
    });
  }, [projectId, kind]);
  return names;
}

export function Insights({ projectId }: { projectId: number }) {
  return (
    <section class="stack">
      <Trends projectId={projectId} />
      <Retention projectId={projectId} />
    </section>
  );
}

function Trends({ projectId }: { projectId: number }) {
  const events = useEventNames(projectId, "event");
  const properties = useEventNames(projectId, "property");
  const [range, setRange] = useState<Range>(() => presetRange("30d"));
  const [series, setSeries] = useState<SeriesSpec[]>([]);
  const [breakdown, setBreakdown] = useState("");
  const [filter, setFilter] = useState({ key: "", value: "" });
  const [compare, setCompare] = useState(false);
  const [answer, setAnswer] = useState<TrendsAnswer | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (events.length && !series.length) setSeries([{ event: events.includes("$pageview") ? "$pageview" : events[0], math: "total" }]);
  }, [events]);

  useEffect(() => {
    if (!series.length) return;
    const body = {
      kind: "trends", date_from: range.from, date_to: range.to, interval: range.interval, compare,
      series: series.map((s) => ({ event: s.event, math: s.math })),
      ...(breakdown ? { breakdown: { property: breakdown, limit: 8 } } : {}),
      ...(filter.key && filter.value ? { filters: { key: filter.key, operator: "eq", value: filter.value } } : {}),
    };
    api.POST("/api/v1/projects/{project_id}/query", { params: { path: { project_id: projectId } }, body: body as never }).then((r) => {
      if (r.error) return setError(errorText(r.error));
      setError(null);
      setAnswer(r.data as unknown as TrendsAnswer);
    });
  }, [projectId, series, breakdown, filter, compare, range]);

  const chart = useMemo(() => {
    if (!answer?.results.length) return null;
    const times = answer.results[0].points.map((p) => Date.parse(p.bucket) / 1000);
    const lines: Series[] = answer.results.map((s, i) => ({
      label: s.breakdown_value !== undefined && breakdown ? `${s.name}: ${s.is_other ? "other" : s.breakdown_value ?? "(none)"}` : s.name,
      values: s.points.map((p) => p.value ?? 0),
      color: COLORS[i % COLORS.length],
    }));
    for (const [i, s] of (answer.previous?.results ?? []).entries()) {
      lines.push({ label: `${s.name} (previous period)`, values: s.points.map((p) => p.value ?? 0), color: COLORS[i % COLORS.length] + "80" });
    }
    return { times, lines };
  }, [answer, breakdown]);

  const update = (i: number, patch: Partial<SeriesSpec>) => setSeries(series.map((s, j) => (j === i ? { ...s, ...patch } : s)));
  const totals = answer?.results.map((s) => s.points.reduce((a, p) => a + (p.value ?? 0), 0)) ?? [];

  return (
    <>
      <div class="row wrap">
        <h1 class="grow">Trends</h1>
        <RangePicker range={range} onChange={setRange} />
      </div>
      {events.length === 0 ? (
        <p class="empty card">No events yet. Trends chart any event over time once some arrive.</p>
      ) : (
        <div class="card stack" aria-label="Trend series">
          <ol class="steps">
            {series.map((s, i) => (
              <li>
                <select aria-label={`Series ${i + 1} event`} value={s.event} onChange={(e) => update(i, { event: (e.target as HTMLSelectElement).value })}>
                  {events.map((n) => <option value={n}>{n}</option>)}
                </select>{" "}
                <select aria-label={`Series ${i + 1} math`} value={s.math} onChange={(e) => update(i, { math: (e.target as HTMLSelectElement).value as Math })}>
                  {MATHS.map(([m, label]) => <option value={m}>{label}</option>)}
                </select>
                {series.length > 1 && <button class="ghost" aria-label={`Remove series ${i + 1}`} onClick={() => setSeries(series.filter((_, j) => j !== i))}>✕</button>}
              </li>
            ))}
          </ol>
          <div class="row wrap">
            {series.length < 10 && <button class="ghost" onClick={() => setSeries([...series, { event: events[0], math: "total" }])}>+ Add series</button>}
            <label class="inline">Breakdown
              <select aria-label="Breakdown" value={breakdown} onChange={(e) => setBreakdown((e.target as HTMLSelectElement).value)}>
                <option value="">none</option>
                {properties.map((p) => <option value={p}>{p}</option>)}
              </select>
            </label>
            <label class="inline">Where
              <select aria-label="Filter property" value={filter.key} onChange={(e) => setFilter({ ...filter, key: (e.target as HTMLSelectElement).value })}>
                <option value="">any property</option>
                {properties.map((p) => <option value={p}>{p}</option>)}
              </select>
              = <input aria-label="Filter value" value={filter.value} onChange={(e) => setFilter({ ...filter, value: (e.target as HTMLInputElement).value })} />
            </label>
            <label class="inline"><input type="checkbox" checked={compare} onChange={() => setCompare(!compare)} /> Compare with the previous period</label>
          </div>
        </div>
      )}
      {error && <p class="error" role="alert">{error}</p>}
      {chart && <div class="card"><TrendChart times={chart.times} series={chart.lines} /></div>}
      {answer && answer.results.length > 0 && (
        <div class="card table">
          <table data-testid="trend-totals">
            <thead><tr><th scope="col">Series</th><th scope="col" class="num">Sum over the range</th></tr></thead>
            <tbody>
              {answer.results.map((s, i) => (
                <tr><td>{chart?.lines[i].label ?? s.name}</td><td class="num trend-total">{Math.round(totals[i] * 100) / 100}</td></tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function Retention({ projectId }: { projectId: number }) {
  const events = useEventNames(projectId, "event");
  const [start, setStart] = useState("");
  const [back, setBack] = useState("");
  const [period, setPeriod] = useState("day");
  const [cohorts, setCohorts] = useState<Cohort[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const body = {
      kind: "retention", period, periods: period === "day" ? 14 : period === "week" ? 8 : 6,
      ...(start ? { start_event: { event: start } } : {}), ...(back ? { return_event: { event: back } } : {}),
    };
    api.POST("/api/v1/projects/{project_id}/query", { params: { path: { project_id: projectId } }, body: body as never }).then((r) => {
      if (r.error) return setError(errorText(r.error));
      setError(null);
      setCohorts((r.data as unknown as { cohorts: Cohort[] }).cohorts);
    });
  }, [projectId, start, back, period]);

  const width = Math.max(0, ...(cohorts ?? []).map((c) => c.values.length));
  return (
    <>
      <div class="row wrap">
        <h1 class="grow">Retention</h1>
        <label class="inline">Who did
          <select aria-label="Start event" value={start} onChange={(e) => setStart((e.target as HTMLSelectElement).value)}>
            <option value="">any event</option>
            {events.map((n) => <option value={n}>{n}</option>)}
          </select>
        </label>
        <label class="inline">came back to
          <select aria-label="Return event" value={back} onChange={(e) => setBack((e.target as HTMLSelectElement).value)}>
            <option value="">any event</option>
            {events.map((n) => <option value={n}>{n}</option>)}
          </select>
        </label>
        <select aria-label="Period" value={period} onChange={(e) => setPeriod((e.target as HTMLSelectElement).value)}>
          <option value="day">Daily</option><option value="week">Weekly</option><option value="month">Monthly</option>
        </select>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {cohorts && (
        <div class="card table scroll-x">
          <table class="retention" data-testid="retention">
            <thead>
              <tr><th scope="col">Cohort</th><th scope="col" class="num">Persons</th>{Array.from({ length: width }, (_, i) => <th scope="col" class="num">{period[0]}{i}</th>)}</tr>
            </thead>
            <tbody>
              {cohorts.map((c) => (
                <tr>
                  <td>{new Date(c.start).toLocaleDateString()}</td>
                  <td class="num cohort-size">{c.size}</td>
                  {c.values.map((v) => (
                    <td class="num cell" style={{ background: `color-mix(in srgb, var(--accent) ${Math.round(v.percentage ?? 0)}%, transparent)` }} title={`${v.count} persons`}>
                      {v.percentage === null || v.percentage === undefined ? "" : `${Math.round(v.percentage)}%`}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
