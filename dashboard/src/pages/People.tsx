// Sessions and persons. Sessions: those that start in the range, sortable,
// each opening its events in order. Persons: newest activity first,
// searchable by id or property, each opening its profile and its timeline
// across every id it has had.
import { useEffect, useState } from "preact/hooks";
import { api, errorText } from "../api/client";
import { presetRange, RangePicker, type Range } from "../components/RangePicker";
import { Timeline, type TimelineEvent } from "../components/Timeline";
import { duration } from "../components/InsightResult";

type Session = {
  id: string; distinct_id: string; start: string; duration_secs: number; events: number; pageviews: number;
  entry_path?: string | null; exit_path?: string | null; bounce: boolean; browser?: string | null; country?: string | null;
};
type Person = {
  id: number; distinct_ids: string[]; first_seen: string; last_seen: string; is_identified: boolean;
  properties: Record<string, unknown>; events?: number;
};

export function Sessions({ projectId }: { projectId: number }) {
  const [range, setRange] = useState<Range>(() => presetRange("7d"));
  const [sort, setSort] = useState("start");
  const [rows, setRows] = useState<Session[] | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [timeline, setTimeline] = useState<TimelineEvent[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api.GET("/api/v1/projects/{project_id}/sessions", {
      params: { path: { project_id: projectId }, query: { from: range.from, to: range.to, sort, limit: 100 } },
    }).then((r) => {
      if (r.error) return setError(errorText(r.error));
      setError(null);
      setRows((r.data as unknown as { results: Session[] }).results);
    });
  }, [projectId, range, sort]);

  async function show(id: string) {
    if (open === id) return setOpen(null);
    setOpen(id);
    setTimeline(null);
    const r = await api.GET("/api/v1/projects/{project_id}/sessions/{session_id}", { params: { path: { project_id: projectId, session_id: id } } });
    setTimeline(r.data ? ((r.data as unknown as { events: TimelineEvent[] }).events) : []);
  }

  return (
    <section class="stack">
      <div class="row wrap">
        <h1 class="grow">Sessions</h1>
        <RangePicker range={range} onChange={setRange} intervals={false} />
        <select aria-label="Sort" value={sort} onChange={(e) => setSort((e.target as HTMLSelectElement).value)}>
          <option value="start">Newest</option><option value="duration">Longest</option>
          <option value="events">Most events</option><option value="pageviews">Most pageviews</option>
        </select>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {rows?.length === 0 && <p class="empty card">No sessions in this range. Each visit (events less than 30 minutes apart, or one SDK session) becomes one.</p>}
      {rows && rows.length > 0 && (
        <div class="card table">
          <table data-testid="sessions">
            <thead><tr><th scope="col">Started</th><th scope="col">Who</th><th scope="col">Entry → exit</th><th scope="col" class="num">Length</th><th scope="col" class="num">Pageviews</th></tr></thead>
            <tbody>
              {rows.map((s) => (
                <>
                  <tr class="clickable" tabIndex={0} aria-expanded={open === s.id} onClick={() => show(s.id)} onKeyDown={(k) => k.key === "Enter" && show(s.id)}>
                    <td>{new Date(s.start).toLocaleString()}</td>
                    <td class="mono">{s.distinct_id}</td>
                    <td>{s.entry_path ?? "–"} → {s.exit_path ?? "–"} {s.bounce && <span class="tag">bounce</span>}</td>
                    <td class="num">{duration(s.duration_secs)}</td>
                    <td class="num">{s.pageviews}</td>
                  </tr>
                  {open === s.id && <tr><td colSpan={5}>{timeline ? <Timeline events={timeline} /> : <span class="muted">Loading…</span>}</td></tr>}
                </>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function Persons({ projectId }: { projectId: number }) {
  const [search, setSearch] = useState("");
  const [rows, setRows] = useState<Person[] | null>(null);
  const [selected, setSelected] = useState<Person | null>(null);
  const [timeline, setTimeline] = useState<TimelineEvent[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const body = { kind: "persons", limit: 100, ...(search.trim() ? { search: search.trim() } : {}) };
    api.POST("/api/v1/projects/{project_id}/query", { params: { path: { project_id: projectId } }, body: body as never }).then((r) => {
      if (r.error) return setError(errorText(r.error));
      setError(null);
      setRows((r.data as unknown as { results: Person[] }).results);
    });
  }, [projectId, search]);

  async function open(p: Person) {
    setSelected(p);
    setTimeline(null);
    const r = await api.GET("/api/v1/projects/{project_id}/events", {
      params: { path: { project_id: projectId }, query: { person: p.distinct_ids[0], limit: 200 } as never },
    });
    setTimeline(r.data ? [...(r.data as unknown as { results: TimelineEvent[] }).results].reverse() : []);
  }

  const name = (p: Person) => String(p.properties.email ?? p.properties.name ?? p.distinct_ids[0]);
  return (
    <section class="stack">
      <div class="row wrap">
        <h1 class="grow">Persons</h1>
        <input type="search" aria-label="Search persons" placeholder="id, email, any property value" value={search} onChange={(e) => setSearch((e.target as HTMLInputElement).value)} />
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {rows?.length === 0 && <p class="empty card">No persons match. A person appears with their first event; identify calls join their ids.</p>}
      <div class="split">
        {rows && rows.length > 0 && (
          <div class="card table">
            <table data-testid="persons">
              <thead><tr><th scope="col">Person</th><th scope="col" class="num">Events</th><th scope="col">Last seen</th></tr></thead>
              <tbody>
                {rows.map((p) => (
                  <tr class="clickable" tabIndex={0} aria-selected={selected?.id === p.id} onClick={() => open(p)} onKeyDown={(k) => k.key === "Enter" && open(p)}>
                    <td>{name(p)} {p.is_identified && <span class="tag">identified</span>}</td>
                    <td class="num">{p.events ?? ""}</td>
                    <td class="muted">{new Date(p.last_seen).toLocaleString()}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {selected && (
          <div class="card stack" data-testid="person">
            <h2>{name(selected)}</h2>
            <p class="muted">Ids: <span class="mono">{selected.distinct_ids.join(", ")}</span></p>
            <pre class="props">{JSON.stringify(selected.properties, null, 2)}</pre>
            <h3>Timeline</h3>
            {timeline ? <Timeline events={timeline} /> : <span class="muted">Loading…</span>}
          </div>
        )}
      </div>
    </section>
  );
}
