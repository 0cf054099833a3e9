// "Save as insight": stores the builder's current query under a name, so it
// can be opened again and placed on dashboards. Ranges chosen from a preset are
// saved relative ("-30d"), so the insight shows the latest data when opened.
import { useState } from "preact/hooks";
import { api, errorText } from "../api/client";
import { onLink } from "../router";
import type { Query } from "./InsightResult";

export function SaveInsight({ projectId, query, suggestedName }: { projectId: number; query: Query | null; suggestedName: string }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [saved, setSaved] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function save(e: Event) {
    e.preventDefault();
    if (!query) return;
    const r = await api.POST("/api/v1/projects/{project_id}/insights", {
      params: { path: { project_id: projectId } },
      body: { name: name.trim() || suggestedName, query: query as never },
    });
    if (r.error) return setError(errorText(r.error));
    setError(null);
    setSaved(r.data.name);
    setOpen(false);
  }

  if (!open) {
    return (
      <span class="row">
        <button class="ghost" disabled={!query} onClick={() => { setName(suggestedName); setSaved(null); setOpen(true); }}>Save as insight</button>
        {saved && <span role="status" class="muted">Saved “{saved}”. <a href={`/p/${projectId}/dashboards`} onClick={onLink}>Put it on a dashboard</a></span>}
      </span>
    );
  }
  return (
    <form class="row" onSubmit={save}>
      <input aria-label="Insight name" value={name} maxLength={200} onInput={(e) => setName((e.target as HTMLInputElement).value)} autoFocus />
      <button type="submit">Save</button>
      <button type="button" class="ghost" onClick={() => setOpen(false)}>Cancel</button>
      {error && <span class="error" role="alert">{error}</span>}
    </form>
  );
}
