// A dashboard shared by a link: no login, read-only. The server runs the
// dashboard's insights and sends their answers; this page only draws them.
import { useEffect, useState } from "preact/hooks";
import type { components } from "../api/schema";
import { InsightResult, type Query } from "../components/InsightResult";

type Shared = components["schemas"]["SharedDashboard"];

export function SharedDashboard({ token }: { token: string }) {
  const [shared, setShared] = useState<Shared | null>(null);
  const [missing, setMissing] = useState(false);
  useEffect(() => {
    // Plain fetch: the page has no session, and must not try to refresh one.
    fetch(`/api/v1/shared/${encodeURIComponent(token)}`, { credentials: "omit" }).then(async (r) => {
      if (!r.ok) return setMissing(true);
      setShared(await r.json());
    }, () => setMissing(true));
  }, [token]);

  if (missing) {
    return <div class="center stack"><h1>This link does not work</h1><p class="muted">It may have been replaced or revoked. Ask whoever shared it for a new one.</p></div>;
  }
  if (!shared) return <div class="center muted" aria-busy="true">Loading…</div>;
  return (
    <>
      <header class="top">
        <span class="brand">Tally</span>
        <span class="muted">{shared.project_name} · read-only · times in {shared.timezone}</span>
      </header>
      <main class="stack" data-testid="shared-dashboard">
        <h1>{shared.name}</h1>
        {shared.tiles.length === 0 && <p class="empty card">This dashboard has no insights yet.</p>}
        <div class="split tiles">
          {shared.tiles.map((t) => (
            <article class="card stack tile" aria-label={t.name}>
              <h3>{t.name}</h3>
              {t.error ? <p class="error">{t.error.message}</p> : <InsightResult query={t.query as unknown as Query} answer={t.answer} />}
            </article>
          ))}
        </div>
      </main>
    </>
  );
}
