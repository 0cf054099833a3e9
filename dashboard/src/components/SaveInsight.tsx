// "Save as insight": stores the builder's current query under a name, so it
// can be opened again and placed on dashboards. Ranges chosen from a preset are
// saved relative ("-30d"), so the insight shows the latest data when opened.
// A builder opened from a saved insight can also save its changes to it.
import { useState } from "preact/hooks";
import { api, errorText } from "../api/client";
import { onLink } from "../router";
import type { Query } from "./InsightResult";
import type { SavedInsight } from "../api/savedInsight";

export function SaveInsight({ projectId, query, suggestedName, editing }: { projectId: number; query: Query | null; suggestedName: string; editing?: SavedInsight | null }) {
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

  async function update() {
    if (!query || !editing) return;
    const r = await api.PATCH("/api/v1/projects/{project_id}/insights/{insight_id}", {
      params: { path: { project_id: projectId, insight_id: editing.id } },
      body: { query: query as never },
    });
    if (r.error) return setError(errorText(r.error));
    setError(null);
    setSaved(r.data.name);
  }

  if (!open) {
    return (
      <span class="row">
        {editing && <button disabled={!query} onClick={update}>Save changes to “{editing.name}”</button>}
        {error && <span class="error" role="alert">{error}</span>}
        <button class="ghost" disabled={!query} onClick={() => { setName(suggestedName); setSaved(null); setOpen(true); }}>{editing ? "Save as a new insight" : "Save as insight"}</button>
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
