// Paths: where people went, step by step — page paths of pageviews or event
// names, from a start point or to an end point, drawn as a Sankey diagram with
// the heaviest links listed below it.
import { useMemo, useState } from "preact/hooks";
import { useAnswer } from "../api/useAnswer";
import { rangeOf, useSavedInsight, type SavedInsight } from "../api/savedInsight";
import { PathsResult, type PathsAnswer, type Query } from "../components/InsightResult";
import { rangeFields, RangePicker, type Range } from "../components/RangePicker";
import { SaveInsight } from "../components/SaveInsight";

export function Paths({ projectId }: { projectId: number }) {
  const saved = useSavedInsight(projectId);
  if (saved === undefined) return <p class="muted" aria-busy="true">Loading…</p>;
  const paths = saved?.query.kind === "paths" ? saved : null;
  return <PathsBuilder key={paths?.id} projectId={projectId} saved={paths} />;
}

function PathsBuilder({ projectId, saved }: { projectId: number; saved: SavedInsight | null }) {
  const q = saved?.query;
  const [range, setRange] = useState<Range>(() => rangeOf(q, "30d"));
  const [pathType, setPathType] = useState<"pages" | "events">(() => (q?.path_type === "events" ? "events" : "pages"));
  const [anchor, setAnchor] = useState(() =>
    q?.end_point ? { at: "end" as "start" | "end", value: String(q.end_point) } : { at: "start" as "start" | "end", value: String(q?.start_point ?? "") });
  const [steps, setSteps] = useState(() => Number(q?.steps ?? 4));

  const query = useMemo<Query>(() => ({
    kind: "paths", path_type: pathType, steps, ...rangeFields(range),
    ...(anchor.value.trim() ? { [anchor.at === "start" ? "start_point" : "end_point"]: anchor.value.trim() } : {}),
  }), [pathType, steps, range, anchor]);

  const { answer, error } = useAnswer<PathsAnswer>(projectId, query);

  return (
    <section class="stack">
      <div class="row wrap">
        <h1 class="grow">Paths{saved && <span class="muted editing"> · {saved.name}</span>}</h1>
        <RangePicker range={range} onChange={setRange} intervals={false} />
      </div>
      <div class="card row wrap" aria-label="Path options">
        <label class="inline">Of
          <select aria-label="Path type" value={pathType} onChange={(e) => setPathType((e.target as HTMLSelectElement).value as "pages" | "events")}>
            <option value="pages">pages viewed</option>
            <option value="events">events</option>
          </select>
        </label>
        <select aria-label="Anchor" value={anchor.at} onChange={(e) => setAnchor({ ...anchor, at: (e.target as HTMLSelectElement).value as "start" | "end" })}>
          <option value="start">starting at</option>
          <option value="end">ending at</option>
        </select>
        <input aria-label="Anchor point" placeholder={pathType === "pages" ? "any page, or e.g. /pricing" : "any event, or e.g. signup"} value={anchor.value} onChange={(e) => setAnchor({ ...anchor, value: (e.target as HTMLInputElement).value })} />
        <label class="inline">Steps
          <select aria-label="Steps" value={steps} onChange={(e) => setSteps(Number((e.target as HTMLSelectElement).value))}>
            {[2, 3, 4, 5, 6, 8, 10].map((n) => <option value={n}>{n}</option>)}
          </select>
        </label>
        <span class="spacer" />
        <SaveInsight projectId={projectId} query={query} suggestedName={`Paths${anchor.value ? ` ${anchor.at === "start" ? "from" : "to"} ${anchor.value}` : ""}`} editing={saved} />
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {answer && (answer.links.length === 0 ? (
        <p class="empty card">No paths in this range yet: they appear once people view two or more {pathType === "pages" ? "pages" : "events"} in a row.</p>
      ) : (
        <PathsResult answer={answer} />
      ))}
    </section>
  );
}
