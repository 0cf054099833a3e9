// How an answer of `/query` looks, by kind: the builders (trends, funnel,
// retention) and the saved-insight tiles of dashboards and share links draw
// through these, so a saved insight looks as it did when it was built.
import { useMemo } from "preact/hooks";
import { TrendChart, type Series } from "./TrendChart";
import { BarChart } from "./BarChart";
import { PathLinks, Sankey, type PathLink, type PathNode } from "./Sankey";

export type TrendSeries = { name: string; breakdown_value?: string | null; is_other?: boolean; points: { bucket: string; value?: number | null }[] };
export type TrendsAnswer = { results: TrendSeries[]; previous?: { results: TrendSeries[] } | null };
export type FunnelStep = {
  step: number; name: string; count: number; conversion_from_first: number | null;
  conversion_from_previous: number | null; median_secs_from_previous: number | null;
};
export type FunnelBreakdown = { value: string | null; is_other: boolean; steps: FunnelStep[]; median_secs_to_convert: number | null };
export type FunnelAnswer = { steps: FunnelStep[]; avg_secs_to_convert: number | null; median_secs_to_convert: number | null; breakdown?: FunnelBreakdown[] };
export type Cohort = { start: string; size: number; values: { period: number; count: number; percentage?: number | null }[] };
export type RetentionAnswer = { cohorts: Cohort[] };
export type PathsAnswer = { nodes: PathNode[]; links: PathLink[] };
export type StickinessAnswer = { interval: string; results: { intervals: number; persons: number }[] };
export type LifecycleAnswer = { interval: string; results: { bucket: string; new: number; returning: number; resurrecting: number; dormant: number }[] };
/** A `/query` body: `kind` plus that kind's fields. */
export type Query = { kind: string } & Record<string, unknown>;

const COLORS = ["#4f6bed", "#13a37f", "#e0862b", "#c2418f", "#2b9fd8", "#8a63d2", "#7c8b2d", "#d1435b", "#5b6b84", "#1f8a70", "#b0762f"];

export function duration(secs: number | null): string {
  if (secs === null) return "–";
  if (secs < 60) return `${Math.round(secs)}s`;
  if (secs < 3600) return `${Math.floor(secs / 60)}m ${Math.round(secs % 60)}s`;
  if (secs < 86400) return `${Math.floor(secs / 3600)}h ${Math.round((secs % 3600) / 60)}m`;
  return `${(secs / 86400).toFixed(1)}d`;
}
const pct = (x: number | null) => (x === null ? "–" : `${Math.round(x * 1000) / 10}%`);

export function TrendResult({ answer, breakdown, compact = false }: { answer: TrendsAnswer; breakdown: boolean; compact?: boolean }) {
  const chart = useMemo(() => {
    if (!answer.results.length) return null;
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
  if (!chart) return <p class="empty">No data in this range.</p>;
  const totals = answer.results.map((s) => s.points.reduce((a, p) => a + (p.value ?? 0), 0));
  return (
    <>
      <div class={compact ? "" : "card"}><TrendChart times={chart.times} series={chart.lines} height={compact ? 200 : undefined} /></div>
      <div class={compact ? "table" : "card table"}>
        <table data-testid="trend-totals">
          <thead><tr><th scope="col">Series</th><th scope="col" class="num">Sum over the range</th></tr></thead>
          <tbody>
            {answer.results.map((s, i) => (
              <tr><td>{chart.lines[i].label ?? s.name}</td><td class="num trend-total">{Math.round(totals[i] * 100) / 100}</td></tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

export function FunnelResult({ answer, compact = false }: { answer: FunnelAnswer; compact?: boolean }) {
  const labels = answer.steps.map((s, i) => `${i + 1}. ${s.name}`);
  const counts = answer.steps.map((s) => s.count);
  const card = compact ? "" : "card ";
  return (
    <>
      <div class={compact ? "" : "card"}><BarChart labels={labels} values={counts} label="Persons" height={compact ? 200 : undefined} /></div>
      <div class="metrics">
        <div class={`${card}metric`}><span class="muted">Converted</span><strong data-testid="funnel-conversion">{pct(answer.steps.at(-1)?.conversion_from_first ?? null)}</strong><span class="muted">first step to last</span></div>
        <div class={`${card}metric`}><span class="muted">Median time to convert</span><strong>{duration(answer.median_secs_to_convert)}</strong><span class="muted">mean {duration(answer.avg_secs_to_convert)}</span></div>
      </div>
      <div class={`${card}table`}>
        <table data-testid="funnel-steps">
          <thead><tr><th scope="col">Step</th><th scope="col" class="num">Persons</th><th scope="col" class="num">From previous</th><th scope="col" class="num">From first</th><th scope="col" class="num">Median time</th></tr></thead>
          <tbody>
            {answer.steps.map((s, i) => (
              <tr>
                <td>{i + 1}. {s.name}</td>
                <td class="num step-count">{s.count}</td>
                <td class="num">{pct(s.conversion_from_previous)}</td>
                <td class="num">{pct(s.conversion_from_first)}</td>
                <td class="num">{duration(s.median_secs_from_previous)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {answer.breakdown && (
        <div class={`${card}table scroll-x`}>
          <table data-testid="funnel-breakdown">
            <thead>
              <tr>
                <th scope="col">Breakdown</th>
                {answer.steps.map((s, i) => <th scope="col" class="num">{i + 1}. {s.name}</th>)}
                <th scope="col" class="num">Converted</th>
                <th scope="col" class="num">Median time</th>
              </tr>
            </thead>
            <tbody>
              {answer.breakdown.map((b) => (
                <tr>
                  <td class="breakdown-value">{b.is_other ? "other" : b.value ?? "(none)"}</td>
                  {b.steps.map((s) => <td class="num">{s.count}</td>)}
                  <td class="num">{pct(b.steps.at(-1)?.conversion_from_first ?? null)}</td>
                  <td class="num">{duration(b.median_secs_to_convert)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

export function RetentionResult({ answer, period }: { answer: RetentionAnswer; period: string }) {
  const width = Math.max(0, ...answer.cohorts.map((c) => c.values.length));
  return (
    <div class="card table scroll-x">
      <table class="retention" data-testid="retention">
        <thead>
          <tr><th scope="col">Cohort</th><th scope="col" class="num">Persons</th>{Array.from({ length: width }, (_, i) => <th scope="col" class="num">{period[0]}{i}</th>)}</tr>
        </thead>
        <tbody>
          {answer.cohorts.map((c) => (
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
  );
}

export function PathsResult({ answer, compact = false }: { answer: PathsAnswer; compact?: boolean }) {
  // As tall as the busiest step needs: one link should not fill a wall.
  const perStep = new Map<number, number>();
  for (const n of answer.nodes) perStep.set(n.step, (perStep.get(n.step) ?? 0) + 1);
  const busiest = Math.max(1, ...perStep.values());
  const height = Math.min(compact ? 260 : 420, 60 + 48 * busiest);
  return (
    <>
      <div class={compact ? "" : "card"}><Sankey nodes={answer.nodes} links={answer.links} height={height} /></div>
      <div class={compact ? "table" : "card table"}><PathLinks links={answer.links} limit={compact ? 5 : 15} /></div>
    </>
  );
}

/** Persons by how many intervals of the range they were active in. */
export function StickinessResult({ answer, compact = false }: { answer: StickinessAnswer; compact?: boolean }) {
  const unit = answer.interval;
  const labels = answer.results.map((r) => `${r.intervals} ${unit}${r.intervals === 1 ? "" : "s"}`);
  return (
    <>
      <div class={compact ? "" : "card"}><BarChart labels={labels} values={answer.results.map((r) => r.persons)} label="Persons" height={compact ? 200 : undefined} /></div>
      <div class={compact ? "table" : "card table"}>
        <table data-testid="stickiness">
          <thead><tr><th scope="col">Active in</th><th scope="col" class="num">Persons</th></tr></thead>
          <tbody>
            {answer.results.map((r, i) => r.persons > 0 && (
              <tr><td class="sticky-label">{labels[i]}</td><td class="num sticky-persons">{r.persons}</td></tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

const LIFECYCLE: ["new" | "returning" | "resurrecting" | "dormant", string][] = [["new", "#13a37f"], ["returning", "#4f6bed"], ["resurrecting", "#e0862b"], ["dormant", "#d1435b"]];

/** New, returning, resurrecting and (below zero) dormant persons per interval. */
export function LifecycleResult({ answer, compact = false }: { answer: LifecycleAnswer; compact?: boolean }) {
  const times = answer.results.map((b) => Date.parse(b.bucket) / 1000);
  const lines: Series[] = LIFECYCLE.map(([status, color]) => ({
    label: status,
    values: answer.results.map((b) => (status === "dormant" ? -b[status] : b[status])),
    color,
  }));
  const sum = (status: (typeof LIFECYCLE)[number][0]) => answer.results.reduce((a, b) => a + b[status], 0);
  return (
    <>
      <div class={compact ? "" : "card"}><TrendChart times={times} series={lines} height={compact ? 200 : undefined} /></div>
      <div class={compact ? "table" : "card table"}>
        <table data-testid="lifecycle">
          <thead><tr>{LIFECYCLE.map(([status]) => <th scope="col" class="num">{status}</th>)}</tr></thead>
          <tbody><tr>{LIFECYCLE.map(([status]) => <td class={`num lifecycle-${status}`}>{sum(status)}</td>)}</tr></tbody>
        </table>
      </div>
    </>
  );
}

/** Any saved insight's answer, drawn by the kind of its query. */
export function InsightResult({ query, answer }: { query: Query; answer: unknown }) {
  switch (query.kind) {
    case "trends":
      return <TrendResult answer={answer as TrendsAnswer} breakdown={Boolean(query.breakdown)} compact />;
    case "funnel":
      return <FunnelResult answer={answer as FunnelAnswer} compact />;
    case "retention":
      return <RetentionResult answer={answer as RetentionAnswer} period={String(query.period ?? "day")} />;
    case "paths":
      return <PathsResult answer={answer as PathsAnswer} compact />;
    case "stickiness":
      return <StickinessResult answer={answer as StickinessAnswer} compact />;
    case "lifecycle":
      return <LifecycleResult answer={answer as LifecycleAnswer} compact />;
    default:
      // Kinds the dashboard draws no chart for (persons, realtime): the answer
      // as the API gave it.
      return <pre class="raw">{JSON.stringify(answer, null, 2)}</pre>;
  }
}
