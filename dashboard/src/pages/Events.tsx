// The event explorer: the project's events newest first, filtered by event
// name and by a person (any of their distinct ids, through merges), a page at
// a time with the keyset cursor, each row opening its raw properties.
import { useEffect, useState } from "preact/hooks";
import { api, errorText } from "../api/client";

type Row = {
  uuid: string; event: string; distinct_id: string; timestamp: string; path?: string | null;
  browser?: string | null; os?: string | null; country?: string | null; is_bot: boolean;
  properties: Record<string, unknown>;
};

export function Events({ projectId }: { projectId: number }) {
  const [names, setNames] = useState<string[]>([]);
  const [event, setEvent] = useState("");
  const [person, setPerson] = useState("");
  const [pages, setPages] = useState<string[]>([""]);
  const [rows, setRows] = useState<Row[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const cursor = pages[pages.length - 1];

  useEffect(() => {
    api.GET("/api/v1/projects/{project_id}/definitions", { params: { path: { project_id: projectId }, query: { kind: "event", limit: 200 } } }).then((r) => {
      setNames(((r.data as unknown as { results: { name: string }[] } | undefined)?.results ?? []).map((d) => d.name));
    });
  }, [projectId]);

  useEffect(() => {
    setRows(null);
    const query: Record<string, string | number> = { limit: 50 };
    if (event) query.event = event;
    if (person.trim()) query.person = person.trim();
    if (cursor) query.cursor = cursor;
    api.GET("/api/v1/projects/{project_id}/events", { params: { path: { project_id: projectId }, query: query as never } }).then((r) => {
      if (r.error) return setError(errorText(r.error));
      setError(null);
      const page = r.data as unknown as { results: Row[]; next: string | null };
      setRows(page.results);
      setNext(page.next);
    });
  }, [projectId, event, person, cursor]);

  const restart = () => setPages([""]);
  return (
    <section class="stack">
      <h1>Events</h1>
      <div class="row wrap card">
        <label class="inline">Event
          <select value={event} onChange={(e) => { setEvent((e.target as HTMLSelectElement).value); restart(); }}>
            <option value="">All events</option>
            {names.map((n) => <option value={n}>{n}</option>)}
          </select>
        </label>
        <label class="inline grow">Person
          <input type="search" placeholder="any distinct id" value={person} onChange={(e) => { setPerson((e.target as HTMLInputElement).value); restart(); }} />
        </label>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {rows === null && !error && <p class="muted">Loading…</p>}
      {rows?.length === 0 && <p class="empty card">No events match. Events appear here as soon as they are stored.</p>}
      {rows && rows.length > 0 && (
        <div class="card table">
          <table data-testid="events">
            <thead><tr><th scope="col">Event</th><th scope="col">Who</th><th scope="col">Where</th><th scope="col">When</th></tr></thead>
            <tbody>
              {rows.map((e) => (
                <>
                  <tr class="clickable" tabIndex={0} aria-expanded={open === e.uuid} onClick={() => setOpen(open === e.uuid ? null : e.uuid)} onKeyDown={(k) => k.key === "Enter" && setOpen(open === e.uuid ? null : e.uuid)}>
                    <td class="event-name">{e.event}{e.is_bot && <span class="tag">bot</span>}</td>
                    <td class="mono">{e.distinct_id}</td>
                    <td>{e.path ?? ""} <span class="muted">{[e.browser, e.os, e.country].filter(Boolean).join(" · ")}</span></td>
                    <td class="muted">{new Date(e.timestamp).toLocaleString()}</td>
                  </tr>
                  {open === e.uuid && <tr><td colSpan={4}><pre class="props">{JSON.stringify(e.properties, null, 2)}</pre></td></tr>}
                </>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div class="row">
        <button class="ghost" disabled={pages.length < 2} onClick={() => setPages(pages.slice(0, -1))}>← Newer</button>
        <button class="ghost" disabled={!next} onClick={() => next && setPages([...pages, next])}>Older →</button>
      </div>
    </section>
  );
}
