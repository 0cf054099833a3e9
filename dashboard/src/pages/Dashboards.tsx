// Saved insights and custom dashboards: the project's dashboards and saved
// insights; a dashboard's tiles (each insight run afresh), arranged by adding,
// moving and removing; a read-only share link that can be replaced or revoked.
import { useEffect, useState } from "preact/hooks";
import { api, errorText } from "../api/client";
import { useAnswer } from "../api/useAnswer";
import type { components } from "../api/schema";
import { InsightResult, type Query } from "../components/InsightResult";
import { navigate, onLink } from "../router";

type Insight = components["schemas"]["InsightBody"];
type Dashboard = components["schemas"]["DashboardBody"];

/** The builder page that opens a saved insight for editing. */
function builderOf(projectId: number, insight: Insight): string {
  const kind = String((insight.query as unknown as Query).kind);
  const page = kind === "funnel" ? "funnel" : kind === "paths" ? "paths" : "insights";
  return `/p/${projectId}/${page}?insight=${insight.id}`;
}

const KIND_LABELS: Record<string, string> = { trends: "Trend", funnel: "Funnel", retention: "Retention", paths: "Paths", stickiness: "Stickiness", lifecycle: "Lifecycle" };

export function Dashboards({ projectId, dashboardId }: { projectId: number; dashboardId: number | null }) {
  const [dashboards, setDashboards] = useState<Dashboard[] | null>(null);
  const [insights, setInsights] = useState<Insight[] | null>(null);
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const path = { params: { path: { project_id: projectId } } };

  async function load() {
    const [d, i] = await Promise.all([
      api.GET("/api/v1/projects/{project_id}/dashboards", path),
      api.GET("/api/v1/projects/{project_id}/insights", path),
    ]);
    if (d.error || i.error) return setError(errorText((d.error ?? i.error)!));
    setDashboards(d.data);
    setInsights(i.data);
  }
  useEffect(() => { load(); }, [projectId]);

  async function create(e: Event) {
    e.preventDefault();
    const r = await api.POST("/api/v1/projects/{project_id}/dashboards", { ...path, body: { name } });
    if (r.error) return setError(errorText(r.error));
    setName("");
    setError(null);
    await load();
    navigate(`/p/${projectId}/dashboards/${r.data.id}`);
  }

  async function renameInsight(insight: Insight) {
    const name = prompt("Insight name", insight.name)?.trim();
    if (!name || name === insight.name) return;
    const r = await api.PATCH("/api/v1/projects/{project_id}/insights/{insight_id}", { params: { path: { project_id: projectId, insight_id: insight.id } }, body: { name } });
    if (r.error) return setError(errorText(r.error));
    await load();
  }

  async function removeInsight(insight: Insight) {
    if (!confirm(`Delete the insight “${insight.name}”? It leaves every dashboard it is on.`)) return;
    const r = await api.DELETE("/api/v1/projects/{project_id}/insights/{insight_id}", { params: { path: { project_id: projectId, insight_id: insight.id } } });
    if (r.error) return setError(errorText(r.error));
    await load();
  }

  const current = dashboards?.find((d) => d.id === dashboardId) ?? null;
  return (
    <section class="stack">
      <div class="row wrap">
        <h1 class="grow">Dashboards</h1>
        <form class="row" onSubmit={create}>
          <input aria-label="New dashboard name" placeholder="New dashboard" value={name} maxLength={200} required onInput={(e) => setName((e.target as HTMLInputElement).value)} />
          <button type="submit">Create</button>
        </form>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {dashboards && dashboards.length > 0 && (
        <nav class="chips" aria-label="Dashboards">
          {dashboards.map((d) => (
            <a class="chip" href={`/p/${projectId}/dashboards/${d.id}`} onClick={onLink} aria-current={d.id === dashboardId ? "page" : undefined}>{d.name}</a>
          ))}
        </nav>
      )}
      {dashboards && dashboards.length === 0 && (
        <p class="empty card">No dashboards yet. Create one, then put saved insights on it: save a trend, retention, stickiness, lifecycle, funnel or paths from <a href={`/p/${projectId}/insights`} onClick={onLink}>Insights</a>, <a href={`/p/${projectId}/funnel`} onClick={onLink}>Funnel</a> or <a href={`/p/${projectId}/paths`} onClick={onLink}>Paths</a>.</p>
      )}
      {current && insights && <DashboardView key={current.id} projectId={projectId} dashboard={current} insights={insights} onChange={load} />}
      {dashboardId !== null && dashboards && !current && <p class="empty card">This dashboard does not exist (any more).</p>}
      {dashboardId === null && insights && (
        <div class="card table">
          <h2>Saved insights</h2>
          {insights.length === 0 ? (
            <p class="empty">None yet: “Save as insight” in a builder keeps its question here.</p>
          ) : (
            <table data-testid="saved-insights">
              <thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Changed</th><th scope="col"><span class="muted">Actions</span></th></tr></thead>
              <tbody>
                {insights.map((i) => (
                  <tr>
                    <td class="insight-name"><a href={builderOf(projectId, i)} onClick={onLink}>{i.name}</a></td>
                    <td>{KIND_LABELS[String((i.query as unknown as Query).kind)] ?? String((i.query as unknown as Query).kind)}</td>
                    <td>{new Date(i.updated_at).toLocaleString()}</td>
                    <td class="num">
                      <button class="ghost" aria-label={`Rename insight ${i.name}`} onClick={() => renameInsight(i)}>Rename</button>
                      <button class="ghost" aria-label={`Delete insight ${i.name}`} onClick={() => removeInsight(i)}>Delete</button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      )}
    </section>
  );
}

function DashboardView({ projectId, dashboard, insights, onChange }: { projectId: number; dashboard: Dashboard; insights: Insight[]; onChange: () => Promise<void> }) {
  const [adding, setAdding] = useState("");
  const [link, setLink] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const params = { params: { path: { project_id: projectId, dashboard_id: dashboard.id } } };
  const byId = new Map(insights.map((i) => [i.id, i]));
  const available = insights.filter((i) => !dashboard.tiles.includes(i.id));

  async function patch(body: { name?: string; tiles?: number[] }) {
    const r = await api.PATCH("/api/v1/projects/{project_id}/dashboards/{dashboard_id}", { ...params, body });
    if (r.error) return setError(errorText(r.error));
    setError(null);
    await onChange();
  }
  const move = (i: number, by: number) => {
    const tiles = [...dashboard.tiles];
    [tiles[i], tiles[i + by]] = [tiles[i + by], tiles[i]];
    patch({ tiles });
  };
  async function share() {
    const r = await api.POST("/api/v1/projects/{project_id}/dashboards/{dashboard_id}/share", params);
    if (r.error) return setError(errorText(r.error));
    setLink(new URL(r.data.path, location.origin).href);
    await onChange();
  }
  async function unshare() {
    const r = await api.DELETE("/api/v1/projects/{project_id}/dashboards/{dashboard_id}/share", params);
    if (r.error) return setError(errorText(r.error));
    setLink(null);
    await onChange();
  }
  async function remove() {
    if (!confirm(`Delete the dashboard “${dashboard.name}”? Its insights stay saved.`)) return;
    const r = await api.DELETE("/api/v1/projects/{project_id}/dashboards/{dashboard_id}", params);
    if (r.error) return setError(errorText(r.error));
    await onChange();
    navigate(`/p/${projectId}/dashboards`);
  }

  return (
    <div class="stack" data-testid="dashboard">
      <div class="row wrap">
        <h2 class="grow">{dashboard.name}</h2>
        <button class="ghost" onClick={() => { const n = prompt("Dashboard name", dashboard.name); if (n?.trim()) patch({ name: n.trim() }); }}>Rename</button>
        <button class="ghost" onClick={share}>{dashboard.shared_at ? "New share link" : "Share read-only"}</button>
        {dashboard.shared_at && <button class="ghost" onClick={unshare}>Stop sharing</button>}
        <button class="ghost" onClick={remove}>Delete</button>
      </div>
      {link && (
        <div class="card stack">
          <span>Anyone with this link sees this dashboard, read-only, until you stop sharing or make a new link. It is shown once:</span>
          <code class="key" data-testid="share-link">{link}</code>
        </div>
      )}
      {!link && dashboard.shared_at && <p class="muted">Shared by a link since {new Date(dashboard.shared_at).toLocaleString()}.</p>}
      {error && <p class="error" role="alert">{error}</p>}
      <div class="row wrap">
        {available.length > 0 ? (
          <>
            <select aria-label="Insight to add" value={adding} onChange={(e) => setAdding((e.target as HTMLSelectElement).value)}>
              <option value="">Add a saved insight…</option>
              {available.map((i) => <option value={i.id}>{i.name}</option>)}
            </select>
            <button disabled={!adding} onClick={() => { patch({ tiles: [...dashboard.tiles, Number(adding)] }); setAdding(""); }}>Add</button>
          </>
        ) : (
          <span class="muted">{insights.length ? "Every saved insight is on this dashboard." : "Save an insight in a builder to put it here."}</span>
        )}
      </div>
      {dashboard.tiles.length === 0 && <p class="empty card">This dashboard is empty: add saved insights above.</p>}
      <div class="split tiles">
        {dashboard.tiles.map((id, i) => {
          const insight = byId.get(id);
          if (!insight) return null;
          return (
            <article class="card stack tile" aria-label={insight.name}>
              <div class="row">
                <h3 class="grow"><a href={builderOf(projectId, insight)} onClick={onLink}>{insight.name}</a></h3>
                {i > 0 && <button class="ghost" aria-label={`Move ${insight.name} earlier`} onClick={() => move(i, -1)}>↑</button>}
                {i < dashboard.tiles.length - 1 && <button class="ghost" aria-label={`Move ${insight.name} later`} onClick={() => move(i, 1)}>↓</button>}
                <button class="ghost" aria-label={`Remove ${insight.name} from the dashboard`} onClick={() => patch({ tiles: dashboard.tiles.filter((t) => t !== id) })}>✕</button>
              </div>
              <LiveTile projectId={projectId} query={insight.query as unknown as Query} />
            </article>
          );
        })}
      </div>
    </div>
  );
}

/** Runs a saved insight's query now and draws the answer. */
function LiveTile({ projectId, query }: { projectId: number; query: Query }) {
  const { answer, error } = useAnswer<unknown>(projectId, query);
  if (error) return <p class="error" role="alert">{error}</p>;
  if (answer === null) return <p class="muted" aria-busy="true">Loading…</p>;
  return <InsightResult query={query} answer={answer} />;
}
