// The funnel builder: 2–20 steps picked from the project's event names, a
// conversion window, loose or strict order; the persons at each step as bars,
// conversion rates and the time each step took; filters and a breakdown by a
// property of the event that started each person's attempt.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api } from "../api/client";
import { useAnswer } from "../api/useAnswer";
import { filtersOf, rangeOf, useSavedInsight, type SavedInsight } from "../api/savedInsight";
import { FunnelResult, type FunnelAnswer, type Query } from "../components/InsightResult";
import { rangeFields, RangePicker, type Range } from "../components/RangePicker";
import { SaveInsight } from "../components/SaveInsight";
import { FilterList, filterNode, type Filter } from "../components/Filters";
import { withChosen } from "../components/choices";

const WINDOWS: [number, string][] = [[3600, "1 hour"], [86400, "1 day"], [7 * 86400, "7 days"], [14 * 86400, "14 days"], [30 * 86400, "30 days"]];

export function Funnel({ projectId }: { projectId: number }) {
  const saved = useSavedInsight(projectId);
  if (saved === undefined) return <p class="muted" aria-busy="true">Loading…</p>;
  const funnel = saved?.query.kind === "funnel" ? saved : null;
  return <FunnelBuilder key={funnel?.id} projectId={projectId} saved={funnel} />;
}

function FunnelBuilder({ projectId, saved }: { projectId: number; saved: SavedInsight | null }) {
  const q = saved?.query;
  const [events, setEvents] = useState<string[]>([]);
  const [steps, setSteps] = useState<string[]>(() =>
    Array.isArray(q?.steps) ? (q.steps as { event?: string }[]).map((s) => s.event ?? "").filter(Boolean) : []);
  const [windowSecs, setWindowSecs] = useState(() => Number(q?.conversion_window_secs ?? 14 * 86400));
  const [strict, setStrict] = useState(() => q?.order === "strict");
  const [filters, setFilters] = useState<Filter[]>(() => filtersOf(q?.filters));
  const [breakdown, setBreakdown] = useState(() => String((q?.breakdown as { property?: string } | undefined)?.property ?? ""));
  const [properties, setProperties] = useState<string[]>([]);
  const [range, setRange] = useState<Range>(() => rangeOf(q, "30d"));

  useEffect(() => {
    api.GET("/api/v1/projects/{project_id}/definitions", { params: { path: { project_id: projectId }, query: { kind: "event", limit: 200 } } }).then((r) => {
      const names = ((r.data as unknown as { results: { name: string }[] } | undefined)?.results ?? []).map((d) => d.name);
      setEvents(names);
      setSteps((s) => (s.length ? s : names.slice(0, 2)));
    });
    api.GET("/api/v1/projects/{project_id}/definitions", { params: { path: { project_id: projectId }, query: { kind: "property", limit: 300 } } }).then((r) => {
      setProperties(((r.data as unknown as { results: { name: string }[] } | undefined)?.results ?? []).map((d) => d.name));
    });
  }, [projectId]);

  const query = useMemo<Query | null>(() => steps.length < 2 ? null : ({
    kind: "funnel", ...rangeFields(range), conversion_window_secs: windowSecs,
    order: strict ? "strict" : "loose", steps: steps.map((event) => ({ event })),
    ...(filterNode(filters) ? { filters: filterNode(filters) } : {}),
    ...(breakdown ? { breakdown: { property: breakdown, limit: 8 } } : {}),
  }), [steps, windowSecs, strict, range, filters, breakdown]);

  const { answer, error } = useAnswer<FunnelAnswer>(projectId, query);

  const setStep = (i: number, name: string) => setSteps(steps.map((s, j) => (j === i ? name : s)));

  return (
    <section class="stack">
      <div class="row wrap">
        <h1 class="grow">Funnel{saved && <span class="muted editing"> · {saved.name}</span>}</h1>
        <RangePicker range={range} onChange={setRange} intervals={false} />
      </div>
      {events.length === 0 ? (
        <p class="empty card">No events yet: a funnel needs at least two kinds of events. Send some, then come back.</p>
      ) : (
        <div class="card stack" aria-label="Funnel steps">
          <ol class="steps">
            {steps.map((s, i) => (
              <li>
                <select aria-label={`Step ${i + 1}`} value={s} onChange={(e) => setStep(i, (e.target as HTMLSelectElement).value)}>
                  {withChosen(events, s).map((name) => <option value={name}>{name}</option>)}
                </select>
                {steps.length > 2 && <button class="ghost" aria-label={`Remove step ${i + 1}`} onClick={() => setSteps(steps.filter((_, j) => j !== i))}>✕</button>}
              </li>
            ))}
          </ol>
          <div class="row wrap">
            {steps.length < 20 && <button class="ghost" onClick={() => setSteps([...steps, events[0]])}>+ Add step</button>}
            <label class="inline">Within
              <select value={windowSecs} onChange={(e) => setWindowSecs(Number((e.target as HTMLSelectElement).value))}>
                {WINDOWS.map(([secs, label]) => <option value={secs}>{label}</option>)}
              </select>
            </label>
            <label class="inline"><input type="checkbox" checked={strict} onChange={() => setStrict(!strict)} /> Steps in a row (strict)</label>
            <label class="inline">Breakdown by
              <select aria-label="Funnel breakdown" value={breakdown} onChange={(e) => setBreakdown((e.target as HTMLSelectElement).value)}>
                <option value="">none</option>
                {withChosen(properties, breakdown).map((p) => <option value={p}>{p}</option>)}
              </select>
            </label>
            <span class="spacer" />
            <SaveInsight projectId={projectId} query={query} suggestedName={`${steps.join(" → ")} funnel`} editing={saved} />
          </div>
          <FilterList properties={properties} filters={filters} onChange={setFilters} />
        </div>
      )}
      {error && <p class="error" role="alert">{error}</p>}
      {answer && <FunnelResult answer={answer} />}
    </section>
  );
}
