// Events as they are stored, over the live WebSocket: a single-use ticket per
// connection, reconnects with exponential backoff (1 s … 30 s), pause keeps the
// connection and holds new events back until resumed.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, errorText } from "../api/client";

type LiveEvent = {
  uuid: string; event: string; distinct_id: string; timestamp: string; path?: string | null;
  browser?: string | null; os?: string | null; country?: string | null; is_bot: boolean;
  properties: Record<string, unknown>;
};

const KEEP = 200;

export function Live({ projectId }: { projectId: number }) {
  const [events, setEvents] = useState<LiveEvent[]>([]);
  const [status, setStatus] = useState<"connecting" | "live" | "retrying">("connecting");
  const [paused, setPaused] = useState(false);
  const [held, setHeld] = useState<LiveEvent[]>([]);
  const [open, setOpen] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;

  useEffect(() => {
    let socket: WebSocket | null = null;
    let stopped = false;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;

    async function connect() {
      setStatus(attempt ? "retrying" : "connecting");
      const t = await api.POST("/api/v1/projects/{project_id}/live/ticket", { params: { path: { project_id: projectId } } });
      if (stopped) return;
      if (t.error || !t.data) {
        setError(errorText(t.error, "Could not open the live stream"));
        return retry();
      }
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      const ticket = (t.data as unknown as { ticket: string }).ticket;
      socket = new WebSocket(`${scheme}://${location.host}/api/v1/projects/${projectId}/live?ticket=${encodeURIComponent(ticket)}`);
      socket.onopen = () => {
        attempt = 0;
        setError(null);
        setStatus("live");
      };
      socket.onmessage = (m) => {
        const msg = JSON.parse(m.data);
        if (msg.type !== "event") return;
        const e = msg.event as LiveEvent;
        if (pausedRef.current) setHeld((h) => [e, ...h].slice(0, KEEP));
        else setEvents((list) => [e, ...list].slice(0, KEEP));
      };
      socket.onclose = () => !stopped && retry();
    }
    function retry() {
      setStatus("retrying");
      const delay = Math.min(30_000, 1000 * 2 ** attempt++);
      timer = setTimeout(connect, delay);
    }
    connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      socket?.close();
    };
  }, [projectId]);

  function toggle() {
    if (paused) {
      setEvents((list) => [...held, ...list].slice(0, KEEP));
      setHeld([]);
    }
    setPaused(!paused);
  }

  return (
    <section class="stack">
      <div class="row wrap">
        <h1 class="grow">Live events</h1>
        <span class={`status ${status}`} data-testid="live-status" role="status">
          {status === "live" ? (paused ? `Paused · ${held.length} waiting` : "Live") : status === "connecting" ? "Connecting…" : "Reconnecting…"}
        </span>
        <button onClick={toggle} aria-pressed={paused}>{paused ? "Resume" : "Pause"}</button>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {events.length === 0 ? (
        <p class="empty card">Waiting for events. Anything your site or app sends now shows up here within a second.</p>
      ) : (
        <div class="card table">
          <table data-testid="live-events">
            <thead><tr><th scope="col">Event</th><th scope="col">Who</th><th scope="col">Where</th><th scope="col">When</th></tr></thead>
            <tbody>
              {events.map((e) => (
                <>
                  <tr class="clickable" tabIndex={0} onClick={() => setOpen(open === e.uuid ? null : e.uuid)} onKeyDown={(k) => k.key === "Enter" && setOpen(open === e.uuid ? null : e.uuid)} aria-expanded={open === e.uuid}>
                    <td class="event-name">{e.event}{e.is_bot && <span class="tag">bot</span>}</td>
                    <td class="mono">{e.distinct_id}</td>
                    <td>{e.path ?? ""} <span class="muted">{[e.browser, e.os, e.country].filter(Boolean).join(" · ")}</span></td>
                    <td class="muted">{new Date(e.timestamp).toLocaleTimeString()}</td>
                  </tr>
                  {open === e.uuid && (
                    <tr><td colSpan={4}><pre class="props">{JSON.stringify(e.properties, null, 2)}</pre></td></tr>
                  )}
                </>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
