// A list of property filters (all must hold), as the query API takes them:
// the event's or the person's property, an operator, a value. Rows still being
// filled in are left out of the query until they are complete.
import { useId } from "preact/hooks";

export type Operator = "eq" | "neq" | "contains" | "not_contains" | "regex" | "gt" | "lt" | "is_set" | "is_not_set" | "in";
export type Filter = { key: string; operator: Operator; value: string; type: "event" | "person" | "session" };
/** What a session filter can read (the API's SESSION_PROPERTIES). */
const SESSION_PROPERTIES = ["$session_duration", "$entry_pathname", "$exit_pathname", "$session_pageviews"];

const OPERATORS: [Operator, string][] = [
  ["eq", "="], ["neq", "≠"], ["contains", "contains"], ["not_contains", "does not contain"], ["in", "is one of (a, b)"],
  ["gt", ">"], ["lt", "<"], ["regex", "matches regex"], ["is_set", "is set"], ["is_not_set", "is not set"],
];
const valueless = (op: Operator) => op === "is_set" || op === "is_not_set";

/** The complete filters as a query's `filters` (none: undefined). */
export function filterNode(filters: Filter[]): object | undefined {
  const done = filters
    .filter((f) => f.key.trim() && (valueless(f.operator) || f.value.trim() !== ""))
    .map((f) => ({
      key: f.key.trim(), operator: f.operator, type: f.type,
      ...(valueless(f.operator) ? {}
        : f.operator === "in" ? { value: f.value.split(",").map((v) => v.trim()).filter(Boolean) }
        : f.operator === "gt" || f.operator === "lt" ? { value: Number(f.value) }
        : { value: f.value }),
    }));
  if (done.length === 0) return undefined;
  return done.length === 1 ? done[0] : { op: "and", filters: done };
}

export function FilterList({ properties, filters, onChange }: { properties: string[]; filters: Filter[]; onChange: (f: Filter[]) => void }) {
  const list = useId();
  const sessionList = useId();
  const update = (i: number, patch: Partial<Filter>) => onChange(filters.map((f, j) => (j === i ? { ...f, ...patch } : f)));
  return (
    <div class="stack filters" role="group" aria-label="Filters">
      <datalist id={list}>{properties.map((p) => <option value={p} />)}</datalist>
      <datalist id={sessionList}>{SESSION_PROPERTIES.map((p) => <option value={p} />)}</datalist>
      {filters.map((f, i) => (
        <div class="row wrap">
          <span class="muted">{i === 0 ? "Where" : "and"}</span>
          <select aria-label={`Filter ${i + 1} source`} value={f.type} onChange={(e) => update(i, { type: (e.target as HTMLSelectElement).value as Filter["type"] })}>
            <option value="event">event's</option>
            <option value="person">person's</option>
            <option value="session">session's</option>
          </select>
          <input aria-label={`Filter ${i + 1} property`} list={f.type === "session" ? sessionList : list} placeholder="property" value={f.key} onChange={(e) => update(i, { key: (e.target as HTMLInputElement).value })} />
          <select aria-label={`Filter ${i + 1} operator`} value={f.operator} onChange={(e) => update(i, { operator: (e.target as HTMLSelectElement).value as Operator })}>
            {OPERATORS.map(([op, label]) => <option value={op}>{label}</option>)}
          </select>
          {!valueless(f.operator) && (
            <input aria-label={`Filter ${i + 1} value`} placeholder="value" type={f.operator === "gt" || f.operator === "lt" ? "number" : "text"} value={f.value} onChange={(e) => update(i, { value: (e.target as HTMLInputElement).value })} />
          )}
          <button class="ghost" aria-label={`Remove filter ${i + 1}`} onClick={() => onChange(filters.filter((_, j) => j !== i))}>✕</button>
        </div>
      ))}
      {filters.length < 20 && (
        <div><button class="ghost" onClick={() => onChange([...filters, { key: "", operator: "eq", value: "", type: "event" }])}>+ Add filter</button></div>
      )}
    </div>
  );
}
