// A list of events, oldest first, as a timeline: time, name, page, and the
// raw properties on demand. Used for a session and for a person.
import { useState } from "preact/hooks";

export type TimelineEvent = {
  uuid: string; event: string; distinct_id: string; timestamp: string; path?: string | null;
  properties: Record<string, unknown>;
};

export function Timeline({ events }: { events: TimelineEvent[] }) {
  const [open, setOpen] = useState<string | null>(null);
  if (events.length === 0) return <p class="muted">No events.</p>;
  return (
    <ol class="timeline" data-testid="timeline">
      {events.map((e) => (
        <li>
          <button class="ghost row-button" aria-expanded={open === e.uuid} onClick={() => setOpen(open === e.uuid ? null : e.uuid)}>
            <span class="muted mono">{new Date(e.timestamp).toLocaleTimeString()}</span>
            <span class="event-name">{e.event}</span>
            <span class="muted">{e.path ?? ""}</span>
          </button>
          {open === e.uuid && <pre class="props">{JSON.stringify(e.properties, null, 2)}</pre>}
        </li>
      ))}
    </ol>
  );
}
