// Insights: a trends builder (series with their math, a breakdown, property filters,
// compare with the previous period) drawn by uPlot, a retention grid, stickiness
// and lifecycle; any of them opened from a saved insight with `?insight=ID`.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api } from "../api/client";
import { useAnswer } from "../api/useAnswer";
import { filtersOf, rangeOf, useSavedInsight, type SavedInsight } from "../api/savedInsight";
import {
  LifecycleResult, RetentionResult, StickinessResult, TrendResult,
  type LifecycleAnswer, type Query, type RetentionAnswer, type StickinessAnswer, type TrendsAnswer,
} from "../components/InsightResult";
import { rangeFields, RangePicker, type Range } from "../components/RangePicker";
import { SaveInsight } from "../components/SaveInsight";
import { FilterList, filterNode, type Filter } from "../components/Filters";
import { withChosen } from "../components/choices";

type Math = "total" | "unique_persons" | "unique_sessions" | "per_person_avg";
type SeriesSpec = { event: string; math: Math };

const MATHS: [Math, string][] = [["total", "Total events"], ["unique_persons", "Unique persons"], ["unique_sessions", "Sessions"], ["per_person_avg", "Per person (average)"]];

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
  const saved = useSavedInsight(projectId);
  if (saved === undefined) return <p class="muted" aria-busy="true">Loading…</p>;
  const trends = saved?.query.kind === "trends" ? saved : null;
  const retention = saved?.query.kind === "retention" ? saved : null;
  const stickiness = saved?.query.kind === "stickiness" ? saved : null;
  const lifecycle = saved?.query.kind === "lifecycle" ? saved : null;
  return (
    <section class="stack">
      <Trends key={trends?.id} projectId={projectId} saved={trends} />
      <Retention key={retention?.id} projectId={projectId} saved={retention} />
      <Activity key={`s${stickiness?.id}`} kind="stickiness" projectId={projectId} saved={stickiness} />
      <Activity key={`l${lifecycle?.id}`} kind="lifecycle" projectId={projectId} saved={lifecycle} />
    </section>
  );
}

type SavedSeries = { event?: string; math?: Math };

function Trends({ projectId, saved }: { projectId: number; saved: SavedInsight | null }) {
  const q = saved?.query;
  const events = useEventNames(projectId, "event");
  const properties = useEventNames(projectId, "property");
  const [range, setRange] = useState<Range>(() => rangeOf(q, "30d"));
  const [series, setSeries] = useState<SeriesSpec[]>(() =>
    Array.isArray(q?.series) ? (q.series as SavedSeries[]).filter((s) => s.event).map((s) => ({ event: s.event!, math: s.math ?? "total" })) : []);
  const [breakdown, setBreakdown] = useState(() => String((q?.breakdown as { property?: string } | undefined)?.property ?? ""));
  const [filters, setFilters] = useState<Filter[]>(() => filtersOf(q?.filters));
  const [compare, setCompare] = useState(() => Boolean(q?.compare));

  useEffect(() => {
    if (events.length && !series.length) setSeries([{ event: events.includes("$pageview") ? "$pageview" : events[0], math: "total" }]);
  }, [events]);

  const query = useMemo<Query | null>(() => !series.length ? null : ({
    kind: "trends", ...rangeFields(range), interval: range.interval, compare,
    series: series.map((s) => ({ event: s.event, math: s.math })),
    ...(breakdown ? { breakdown: { property: breakdown, limit: 8 } } : {}),
    ...(filterNode(filters) ? { filters: filterNode(filters) } : {}),
  }), [series, breakdown, filters, compare, range]);
  const { answer, error } = useAnswer<TrendsAnswer>(projectId, query);

  const update = (i: number, patch: Partial<SeriesSpec>) => setSeries(series.map((s, j) => (j === i ? { ...s, ...patch } : s)));

  return (
    <>
      <div class="row wrap">
        <h1 class="grow">Trends{saved && <span class="muted editing"> · {saved.name}</span>}</h1>
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
                  {withChosen(events, s.event).map((n) => <option value={n}>{n}</option>)}
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
                {withChosen(properties, breakdown).map((p) => <option value={p}>{p}</option>)}
              </select>
            </label>
            <label class="inline"><input type="checkbox" checked={compare} onChange={() => setCompare(!compare)} /> Compare with the previous period</label>
            <span class="spacer" />
            <SaveInsight projectId={projectId} query={query} suggestedName={series.map((s) => s.event).join(", ")} editing={saved} />
          </div>
          <FilterList properties={properties} filters={filters} onChange={setFilters} />
        </div>
      )}
      {error && <p class="error" role="alert">{error}</p>}
      {answer && <TrendResult answer={answer} breakdown={Boolean(breakdown)} />}
    </>
  );
}

function Retention({ projectId, saved }: { projectId: number; saved: SavedInsight | null }) {
  const q = saved?.query;
  const eventOf = (e: unknown) => String((e as { event?: string } | undefined)?.event ?? "");
  const events = useEventNames(projectId, "event");
  const [start, setStart] = useState(() => eventOf(q?.start_event));
  const [back, setBack] = useState(() => eventOf(q?.return_event));
  const [period, setPeriod] = useState(() => String(q?.period ?? "day"));

  const query = useMemo<Query>(() => ({
    kind: "retention", period, periods: period === "day" ? 14 : period === "week" ? 8 : 6,
    ...(start ? { start_event: { event: start } } : {}), ...(back ? { return_event: { event: back } } : {}),
  }), [start, back, period]);

  const { answer, error } = useAnswer<RetentionAnswer>(projectId, query);

  return (
    <>
      <div class="row wrap">
        <h1 class="grow">Retention{saved && <span class="muted editing"> · {saved.name}</span>}</h1>
        <label class="inline">Who did
          <select aria-label="Start event" value={start} onChange={(e) => setStart((e.target as HTMLSelectElement).value)}>
            <option value="">any event</option>
            {withChosen(events, start).map((n) => <option value={n}>{n}</option>)}
          </select>
        </label>
        <label class="inline">came back to
          <select aria-label="Return event" value={back} onChange={(e) => setBack((e.target as HTMLSelectElement).value)}>
            <option value="">any event</option>
            {withChosen(events, back).map((n) => <option value={n}>{n}</option>)}
          </select>
        </label>
        <select aria-label="Period" value={period} onChange={(e) => setPeriod((e.target as HTMLSelectElement).value)}>
          <option value="day">Daily</option><option value="week">Weekly</option><option value="month">Monthly</option>
        </select>
        <SaveInsight projectId={projectId} query={query} suggestedName={`Retention: ${start || "any event"} → ${back || "any event"}`} editing={saved} />
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {answer && <RetentionResult answer={answer} period={period} />}
    </>
  );
}

const ACTIVITY = {
  stickiness: { title: "Stickiness", about: "How many days (or hours, weeks) of the range each person was active in." },
  lifecycle: { title: "Lifecycle", about: "Per interval: persons new, returning from the interval before, resurrecting after a gap, and gone dormant." },
};

/** Stickiness or lifecycle of one event (or any event). */
function Activity({ kind, projectId, saved }: { kind: "stickiness" | "lifecycle"; projectId: number; saved: SavedInsight | null }) {
  const events = useEventNames(projectId, "event");
  const q = saved?.query;
  const [event, setEvent] = useState(() => String((q?.event as { event?: string } | undefined)?.event ?? ""));
  const [range, setRange] = useState<Range>(() => rangeOf(q, "30d"));
  const query = useMemo<Query>(() => ({
    kind, ...rangeFields(range), interval: range.interval, ...(event ? { event: { event } } : {}),
  }), [kind, event, range]);
  const { answer, error } = useAnswer<StickinessAnswer | LifecycleAnswer>(projectId, query);
  const { title, about } = ACTIVITY[kind];
  return (
    <>
      <div class="row wrap">
        <h1 class="grow">{title}{saved && <span class="muted editing"> · {saved.name}</span>}</h1>
        <RangePicker range={range} onChange={setRange} />
      </div>
      <div class="row wrap">
        <span class="muted grow">{about}</span>
        <label class="inline">Of
          <select aria-label={`${title} event`} value={event} onChange={(e) => setEvent((e.target as HTMLSelectElement).value)}>
            <option value="">any event</option>
            {withChosen(events, event).map((n) => <option value={n}>{n}</option>)}
          </select>
        </label>
        <SaveInsight projectId={projectId} query={query} suggestedName={`${title}: ${event || "any event"}`} editing={saved} />
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {answer && (kind === "stickiness"
        ? <StickinessResult answer={answer as StickinessAnswer} />
        : <LifecycleResult answer={answer as LifecycleAnswer} />)}
    </>
  );
}
