// Runs a `/query` body whenever it changes and keeps the answer of the latest
// one: an answer that arrives after a newer query was sent is dropped, so a
// slow early query never overwrites what the builder shows now.
import { useEffect, useState } from "preact/hooks";
import { api, errorText } from "./client";

export function useAnswer<T>(projectId: number, query: object | null): { answer: T | null; error: string | null } {
  const [state, setState] = useState<{ answer: T | null; error: string | null }>({ answer: null, error: null });
  const key = query ? JSON.stringify(query) : null;
  useEffect(() => {
    if (!query) {
      setState({ answer: null, error: null });
      return;
    }
    let current = true;
    api.POST("/api/v1/projects/{project_id}/query", { params: { path: { project_id: projectId } }, body: query as never }).then((r) => {
      if (!current) return;
      if (r.error) setState((s) => ({ answer: s.answer, error: errorText(r.error) }));
      else setState({ answer: r.data as unknown as T, error: null });
    });
    return () => {
      current = false;
    };
  }, [projectId, key]);
  return state;
}
