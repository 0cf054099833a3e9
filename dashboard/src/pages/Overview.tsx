// A project's dashboard: metric cards against the previous period, the main
// trend (pageviews and visitors), and the traffic tables. Time buckets are in
// the project's time zone (the API's default).
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, errorText } from "../api/client";
import { onLink } from "../router";
import { TrendChart } from "../components/TrendChart";
import { presetRange, RangePicker, type Range } from "../components/RangePicker";

type Stats = {
  events: number; unique_users: number; pageviews: number; sessions: number;
  bounce_rate: number | null; avg_session_secs: number | null;
};
type TopRow = { value: string | null; visitors: number; pageviews: number; events: number };

const TABLES: [string, string, string][] = [
  ["page", "Pages", "Page"], ["entry_page", "Entry pages", "Page"], ["exit_page", "Exit pages", "Page"], ["referrer", "Referrers", "Referrer"], ["channel", "Channels", "Channel"],
  ["utm_campaign", "Campaigns", "Campaign"], ["country", "Countries", "Country"], ["browser", "Browsers", "Browser"],
  ["os", "Operating systems", "OS"], ["device", "Devices", "Device"], ["event", "Events", "Event"],
];
// A filter chip names its dimension; entry and exit pages filter sessions, not
// pageviews, and say so.
const CHIP_LABELS: Record<string, string> = { entry_page: "Entry page", exit_page: "Exit page" };

function fmtDuration(secs: number | null) {
  if (secs === null) return "–";
  const m = Math.floor(secs / 60), s = Math.round(secs % 60);
  return m ? `${m}m ${s}s` : `${s}s`;
}
const fmtPct = (x: number | null) => (x === null ? "–" : `${Math.round(x * 100)}%`);
const fmtNum = (x: number) => x.toLocaleString();

function Card({ label, now, before, format, lowerIsBetter = false }: {
  label: string; now: number | null; before: number | null; format: (x: number | null) => string; lowerIsBetter?: boolean;
}) {
  let change = null;
  if (now !== null && before !== null && before > 0) {
    const pct = Math.round(((now - before) / before) * 100);
    const good = lowerIsBetter ? pct < 0 : pct > 0;
    change = <span class={pct === 0 ? "muted" : good ? "up" : "down"}>{pct > 0 ? "▲" : pct < 0 ? "▼" : ""} {Math.abs(pct)}%</span>;
  }
  return (
    <div class="card metric" data-metric={label}>
      <span class="muted">{label}</span>
      <strong data-testid={`metric-${label.toLowerCase().replace(/\s+/g, "-")}`}>{format(now)}</strong>
      {change ?? <span class="muted">no earlier data</span>}
    </div>
  );
}

export function Overview({ projectId }: { projectId: number }) {
  const [range, setRange] = useState<Range>(() => presetRange("7d"));
  const [stats, setStats] = useState<{ current: Stats; previous: Stats } | null>(null);
  const [trend, setTrend] = useState<{ times: number[]; pageviews: number[]; visitors: number[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [reload, setReload] = useState(0);
  // Click-to-filter: dimension → the value of the clicked row (null: "(none)").
  const [filters, setFilters] = useState<Record<string, string | null>>({});
  const filter = Object.keys(filters).length ? JSON.stringify(filters) : undefined;

  useEffect(() => {
    const path = { project_id: projectId };
    const q = { from: range.from, to: range.to, filter };
    setError(null);
    api.GET("/api/v1/projects/{project_id}/overview", { params: { path, query: q } }).then((r) => {
      if (r.error) return setError(errorText(r.error));
      setStats(r.data as unknown as { current: Stats; previous: Stats });
    });
    const series = (math: "total" | "unique_users") =>
      api.GET("/api/v1/projects/{project_id}/timeseries", {
        params: { path, query: { ...q, event: "$pageview", interval: range.interval, math } },
      });
    Promise.all([series("total"), series("unique_users")]).then(([pv, uv]) => {
      if (pv.error || uv.error) return setError(errorText(pv.error ?? uv.error));
      setTrend({
        times: pv.data!.results.map((p) => Date.parse(p.bucket) / 1000),
        pageviews: pv.data!.results.map((p) => p.value),
        visitors: uv.data!.results.map((p) => p.value),
      });
    });
  }, [projectId, range, reload, filter]);

  // Fresh numbers every 30 s while the tab is visible (new events arrive all the time).
  useEffect(() => {
    const t = setInterval(() => document.visibilityState === "visible" && setReload((n) => n + 1), 30_000);
    return () => clearInterval(t);
  }, []);

  const chartSeries = useMemo(
    () => (trend ? [
      { label: "Pageviews", values: trend.pageviews, color: "#4f6bed" },
      { label: "Visitors", values: trend.visitors, color: "#13a37f" },
    ] : []),
    [trend],
  );

  const c = stats?.current, p = stats?.previous;
  return (
    <section class="stack">
      <div class="row wrap">
        <h1 class="grow">Overview</h1>
        <RangePicker range={range} onChange={setRange} />
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {filter && (
        <div class="row wrap chips" aria-label="Filters">
          {Object.entries(filters).map(([dim, value]) => (
            <button class="chip" aria-label={`Remove filter ${dim}`} onClick={() => { const { [dim]: _, ...rest } = filters; setFilters(rest); }}>
              {CHIP_LABELS[dim] ?? TABLES.find((t) => t[0] === dim)?.[2] ?? dim}: {value ?? "(none)"} ✕
            </button>
          ))}
          <button class="ghost" onClick={() => setFilters({})}>Clear filters</button>
        </div>
      )}
      <div class="metrics">
        <Card label="Visitors" now={c?.unique_users ?? null} before={p?.unique_users ?? null} format={(x) => (x === null ? "–" : fmtNum(x))} />
        <Card label="Pageviews" now={c?.pageviews ?? null} before={p?.pageviews ?? null} format={(x) => (x === null ? "–" : fmtNum(x))} />
        <Card label="Sessions" now={c?.sessions ?? null} before={p?.sessions ?? null} format={(x) => (x === null ? "–" : fmtNum(x))} />
        <Card label="Bounce rate" now={c?.bounce_rate ?? null} before={p?.bounce_rate ?? null} format={fmtPct} lowerIsBetter />
        <Card label="Session duration" now={c?.avg_session_secs ?? null} before={p?.avg_session_secs ?? null} format={fmtDuration} />
        <Card label="Events" now={c?.events ?? null} before={p?.events ?? null} format={(x) => (x === null ? "–" : fmtNum(x))} />
      </div>
      {stats && stats.current.events === 0 && (
        <p class="empty card">
          No events in this range yet. Add the snippet from the project's page to your site, or open the{" "}
          <a href={`/p/${projectId}/live`} onClick={onLink}>live view</a> and send a first event.
        </p>
      )}
      <div class="card">{trend ? <TrendChart times={trend.times} series={chartSeries} /> : <div class="chart muted">Loading…</div>}</div>
      <div class="tables">
        {TABLES.map(([dim, title, column]) => (
          <TopTable projectId={projectId} dimension={dim} title={title} column={column} range={range} reload={reload} filter={filter}
            onPick={(value) => setFilters({ ...filters, [dim]: value })} />
        ))}
      </div>
    </section>
  );
}

function TopTable({ projectId, dimension, title, column, range, reload, filter, onPick }: {
  projectId: number; dimension: string; title: string; column: string; range: Range; reload: number;
  filter?: string; onPick?: (value: string | null) => void;
}) {
  const [rows, setRows] = useState<TopRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.GET("/api/v1/projects/{project_id}/top/{dimension}", {
      params: { path: { project_id: projectId, dimension }, query: { from: range.from, to: range.to, limit: 10, filter } },
    }).then((r) => {
      if (r.error) return setError(errorText(r.error));
      setRows((r.data as unknown as { results: TopRow[] }).results);
    });
  }, [projectId, dimension, range, reload, filter]);
  const max = Math.max(1, ...(rows ?? []).map((r) => r.visitors));
  return (
    <div class="card table" data-table={dimension}>
      <h2>{title}</h2>
      {error && <p class="error">{error}</p>}
      {rows === null && !error && <p class="muted">Loading…</p>}
      {rows?.length === 0 && <p class="muted">Nothing in this range.</p>}
      {rows && rows.length > 0 && (
        <table>
          <thead><tr><th scope="col">{column}</th><th scope="col" class="num">Visitors</th></tr></thead>
          <tbody>
            {rows.map((r) => (
              <tr class={onPick ? "clickable" : undefined} tabIndex={onPick ? 0 : undefined} title={onPick ? "Filter the dashboard by this" : undefined}
                onClick={() => onPick?.(r.value)} onKeyDown={(k) => k.key === "Enter" && onPick?.(r.value)}>
                <td><span class="bar" style={{ width: `${(r.visitors / max) * 100}%` }} /> <span class="label">{r.value ?? "(none)"}</span></td>
                <td class="num">{fmtNum(r.visitors)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
