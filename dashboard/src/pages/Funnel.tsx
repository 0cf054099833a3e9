// The funnel builder: 2–20 steps picked from the project's event names, a
// conversion window, loose or strict order; the persons at each step as bars,
// conversion rates and the time each step took.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, errorText } from "../api/client";
import { BarChart } from "../components/BarChart";
import { presetRange, RangePicker, type Range } from "../components/RangePicker";

type Step = {
  step: number; name: string; count: number; conversion_from_first: number | null;
  conversion_from_previous: number | null; median_secs_from_previous: number | null;
};
type Answer = { steps: Step[]; avg_secs_to_convert: number | null; median_secs_to_convert: number | null };

const WINDOWS: [number, string][] = [[3600, "1 hour"], [86400, "1 day"], [7 * 86400, "7 days"], [14 * 86400, "14 days"], [30 * 86400, "30 days"]];

export function duration(secs: number | null): string {
  if (secs === null) return "–";
  if (secs < 60) return `${Math.round(secs)}s`;
  if (secs < 3600) return `${Math.floor(secs / 60)}m ${Math.round(secs % 60)}s`;
  if (secs < 86400) return `${Math.floor(secs / 3600)}h ${Math.round((secs % 3600) / 60)}m`;
  return `${(secs / 86400).toFixed(1)}d`;
}
const pct = (x: number | null) => (x === null ? "–" : `${Math.round(x * 1000) / 10}%`);

export function Funnel({ projectId }: { projectId: number }) {
  const [events, setEvents] = useState<string[]>([]);
  const [steps, setSteps] = useState<string[]>([]);
  const [windowSecs, setWindowSecs] = useState(14 * 86400);
  const [strict, setStrict] = useState(false);
  const [range, setRange] = useState<Range>(() => presetRange("30d"));
  const [answer, setAnswer] = useState<Answer | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api.GET("/api/v1/projects/{project_id}/definitions", { params: { path: { project_id: projectId }, query: { kind: "event", limit: 200 } } }).then((r) => {
      const names = ((r.data as unknown as { results: { name: string }[] } | undefined)?.results ?? []).map((d) => d.name);
      setEvents(names);
      setSteps((s) => (s.length ? s : names.slice(0, 2)));
    });
  }, [projectId]);

  useEffect(() => {
    if (steps.length < 2) return setAnswer(null);
    const body = {
      kind: "funnel", date_from: range.from, date_to: range.to, conversion_window_secs: windowSecs,
      order: strict ? "strict" : "loose", steps: steps.map((event) => ({ event })),
    };
    api.POST("/api/v1/projects/{project_id}/query", { params: { path: { project_id: projectId } }, body: body as never }).then((r) => {
      if (r.error) return setError(errorText(r.error));
      setError(null);
      setAnswer(r.data as unknown as Answer);
    });
  }, [projectId, steps, windowSecs, strict, range]);

  const labels = useMemo(() => answer?.steps.map((s, i) => `${i + 1}. ${s.name}`) ?? [], [answer]);
  const counts = useMemo(() => answer?.steps.map((s) => s.count) ?? [], [answer]);
  const setStep = (i: number, name: string) => setSteps(steps.map((s, j) => (j === i ? name : s)));

  return (
    <section class="stack">
      <div class="row wrap">
        <h1 class="grow">Funnel</h1>
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
                  {events.map((name) => <option value={name}>{name}</option>)}
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
          </div>
        </div>
      )}
      {error && <p class="error" role="alert">{error}</p>}
      {answer && (
        <>
          <div class="card"><BarChart labels={labels} values={counts} label="Persons" /></div>
          <div class="metrics">
            <div class="card metric"><span class="muted">Converted</span><strong data-testid="funnel-conversion">{pct(answer.steps.at(-1)?.conversion_from_first ?? null)}</strong><span class="muted">first step to last</span></div>
            <div class="card metric"><span class="muted">Median time to convert</span><strong>{duration(answer.median_secs_to_convert)}</strong><span class="muted">mean {duration(answer.avg_secs_to_convert)}</span></div>
          </div>
          <div class="card table">
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
        </>
      )}
    </section>
  );
}
