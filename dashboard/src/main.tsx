// The dashboard's entry: decides between first-run setup, login and the app,
// and routes the app's pages.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, onSignedOut } from "./api/client";
import { match, navigate, onLink, useLocation } from "./router";
import { AcceptInvite, Login, Setup } from "./pages/Auth";
import { Projects } from "./pages/Projects";
import { Overview } from "./pages/Overview";
import { Live } from "./pages/Live";
import { Funnel } from "./pages/Funnel";
import { Events } from "./pages/Events";
import { Settings } from "./pages/Settings";
import { Persons, Sessions } from "./pages/People";
import { Insights } from "./pages/Insights";
import { Dashboards } from "./pages/Dashboards";
import { Paths } from "./pages/Paths";
import { SharedDashboard } from "./pages/Shared";
import "./style.css";

export type Me = {
  user: { id: number; email?: string | null; name?: string | null; is_superuser?: boolean };
  projects: { id: number; name: string; role: string }[];
};

function App() {
  const { path } = useLocation();
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [setupNeeded, setSetupNeeded] = useState(false);
  const [allowSignup, setAllowSignup] = useState(false);

  async function load() {
    const setup = await api.GET("/api/v1/setup");
    setAllowSignup(Boolean(setup.data?.allow_signup));
    if (setup.data?.needed) {
      setSetupNeeded(true);
      setMe(null);
      return;
    }
    setSetupNeeded(false);
    const r = await api.GET("/api/v1/auth/me");
    setMe(r.data ? (r.data as unknown as Me) : null);
  }
  useEffect(() => {
    onSignedOut.handler = () => setMe(null);
    load();
  }, []);

  if (me === undefined) return <div class="center muted" aria-busy="true">Loading…</div>;
  if (setupNeeded) return <Setup onDone={load} />;
  const invite = match("/invite/:token", path)?.token;
  if (me === null) return <Login onDone={load} allowSignup={allowSignup} invite={invite} />;

  const board = match("/p/:id/dashboards/:board", path);
  const project = match("/p/:id", path) ?? match("/p/:id/:page", path) ?? (board && { id: board.id, page: "dashboards" });
  const projectId = project ? Number(project.id) : null;
  let page;
  if (projectId !== null && !Number.isNaN(projectId)) {
    page =
      project?.page === "live" ? <Live projectId={projectId} />
      : project?.page === "funnel" ? <Funnel projectId={projectId} />
      : project?.page === "paths" ? <Paths projectId={projectId} />
      : project?.page === "insights" ? <Insights projectId={projectId} />
      : project?.page === "dashboards" ? <Dashboards projectId={projectId} dashboardId={board ? Number(board.board) : null} />
      : project?.page === "events" ? <Events projectId={projectId} />
      : project?.page === "sessions" ? <Sessions projectId={projectId} />
      : project?.page === "persons" ? <Persons projectId={projectId} />
      : project?.page === "settings" ? <Settings projectId={projectId} me={me} onChange={load} />
      : <Overview projectId={projectId} />;
  } else if (invite) {
    page = <AcceptInvite token={invite} onDone={load} />;
  } else {
    page = <Projects me={me} onChange={load} />;
  }
  return (
    <>
      <Header me={me} projectId={projectId} path={path} />
      <main>{page}</main>
    </>
  );
}

function Header({ me, projectId, path }: { me: Me; projectId: number | null; path: string }) {
  async function logout() {
    await api.POST("/api/v1/auth/logout");
    location.href = "/";
  }
  return (
    <header class="top">
      <a href="/" onClick={onLink} class="brand">Tally</a>
      {me.projects.length > 0 && (
        <select
          aria-label="Project"
          value={projectId ?? ""}
          onChange={(e) => {
            const v = (e.target as HTMLSelectElement).value;
            navigate(v ? `/p/${v}` : "/");
          }}
        >
          <option value="">All projects</option>
          {me.projects.map((p) => (
            <option value={p.id}>{p.name}</option>
          ))}
        </select>
      )}
      {projectId !== null && (
        <nav>
          <a href={`/p/${projectId}`} onClick={onLink} aria-current={path === `/p/${projectId}` ? "page" : undefined}>Overview</a>
          <a href={`/p/${projectId}/dashboards`} onClick={onLink} aria-current={path.includes("/dashboards") ? "page" : undefined}>Dashboards</a>
          <a href={`/p/${projectId}/insights`} onClick={onLink} aria-current={path.endsWith("/insights") ? "page" : undefined}>Insights</a>
          <a href={`/p/${projectId}/funnel`} onClick={onLink} aria-current={path.endsWith("/funnel") ? "page" : undefined}>Funnel</a>
          <a href={`/p/${projectId}/paths`} onClick={onLink} aria-current={path.endsWith("/paths") ? "page" : undefined}>Paths</a>
          <a href={`/p/${projectId}/events`} onClick={onLink} aria-current={path.endsWith("/events") ? "page" : undefined}>Events</a>
          <a href={`/p/${projectId}/sessions`} onClick={onLink} aria-current={path.endsWith("/sessions") ? "page" : undefined}>Sessions</a>
          <a href={`/p/${projectId}/persons`} onClick={onLink} aria-current={path.endsWith("/persons") ? "page" : undefined}>Persons</a>
          <a href={`/p/${projectId}/live`} onClick={onLink} aria-current={path.endsWith("/live") ? "page" : undefined}>Live</a>
          <a href={`/p/${projectId}/settings`} onClick={onLink} aria-current={path.endsWith("/settings") ? "page" : undefined}>Settings</a>
        </nav>
      )}
      <span class="spacer" />
      <span class="muted who">{me.user.email ?? me.user.name}</span>
      <button class="ghost" onClick={logout}>Log out</button>
    </header>
  );
}

/** A share link's page needs no account: it never asks who is signed in. */
function Root() {
  const { path } = useLocation();
  const shared = match("/shared/:token", path);
  return shared ? <SharedDashboard token={shared.token} /> : <App />;
}

render(<Root />, document.getElementById("app")!);
