// Opening a saved insight in its builder: `?insight=ID` on a builder's page
// loads the insight, and these turn its stored query back into the builder's
// controls (range, filters). What a builder cannot show is left at its default.
import { useEffect, useState } from "preact/hooks";
import { api } from "./client";
import type { components } from "./schema";
import { presetRange, type Range } from "../components/RangePicker";
import type { Filter, Operator } from "../components/Filters";
import type { Query } from "../components/InsightResult";

export type SavedInsight = { id: number; name: string; query: Query };

/** The insight named by `?insight=` (null: none asked; undefined: loading). */
export function useSavedInsight(projectId: number): SavedInsight | null | undefined {
  const id = Number(new URLSearchParams(location.search).get("insight"));
  const [insight, setInsight] = useState<SavedInsight | null | undefined>(id ? undefined : null);
  useEffect(() => {
    if (!id) return setInsight(null);
    api.GET("/api/v1/projects/{project_id}/insights/{insight_id}", { params: { path: { project_id: projectId, insight_id: id } } }).then((r) => {
      const body = r.data as components["schemas"]["InsightBody"] | undefined;
      setInsight(body ? { id: body.id, name: body.name, query: body.query as unknown as Query } : null);
    });
  }, [projectId, id]);
  return insight;
}

/** The builder's range for a saved query's `date_from` / `date_to`. */
export function rangeOf(query: Query | undefined, fallback: string): Range {
  const from = typeof query?.date_from === "string" ? query.date_from : "";
  const interval = (["hour", "day", "week"].includes(String(query?.interval)) ? query?.interval : undefined) as Range["interval"] | undefined;
  const relative = from.match(/^-(\d+[hdw])$/);
  if (relative && ["24h", "7d", "30d", "90d"].includes(relative[1])) {
    const r = presetRange(relative[1]);
    return interval ? { ...r, interval } : r;
  }
  if (from && !from.startsWith("-")) {
    const to = typeof query?.date_to === "string" ? query.date_to : new Date().toISOString();
    return { preset: "custom", from: new Date(from).toISOString(), to: new Date(to).toISOString(), interval: interval ?? "day" };
  }
  return presetRange(fallback);
}

type Leaf = { key: string; operator: Operator; value?: unknown; type?: "event" | "person" };

/** The builder's filter rows for a saved `filters` (an AND of property filters). */
export function filtersOf(node: unknown): Filter[] {
  if (!node || typeof node !== "object") return [];
  const n = node as { op?: string; filters?: unknown[] } & Partial<Leaf>;
  const leaves = n.op === "and" && Array.isArray(n.filters) ? n.filters : n.key ? [n] : [];
  return leaves
    .filter((l): l is Leaf => Boolean(l && typeof l === "object" && "key" in (l as object)))
    .map((l) => ({
      key: l.key,
      operator: l.operator,
      type: l.type ?? "event",
      value: Array.isArray(l.value) ? l.value.join(", ") : l.value === undefined || l.value === null ? "" : String(l.value),
    }));
}
