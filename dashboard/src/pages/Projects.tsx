// The project list, and creating a project: its ingest key is shown once,
// with the snippets that install Tally's SDK, posthog-js or Segment.
import { useState } from "preact/hooks";
import { api, errorText } from "../api/client";
import { onLink } from "../router";
import type { Me } from "../main";

type Created = { id: number; name: string; api_key: string };

export function Projects({ me, onChange }: { me: Me; onChange: () => void }) {
  const [created, setCreated] = useState<Created | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function create(e: Event) {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const f = new FormData(form);
    const r = await api.POST("/api/v1/projects", { body: { name: String(f.get("name")) } });
    if (r.error) return setError(errorText(r.error));
    setError(null);
    form.reset();
    setCreated(r.data as unknown as Created);
    onChange();
  }

  return (
    <section class="stack">
      <h1>Projects</h1>
      {me.projects.length === 0 && <p class="empty">No projects yet: create one below, then add its snippet to your site or app.</p>}
      <ul class="cards">
        {me.projects.map((p) => (
          <li class="card">
            <a href={`/p/${p.id}`} onClick={onLink} class="big">{p.name}</a>
            <span class="muted">{p.role}</span>
          </li>
        ))}
      </ul>
      <form class="card row" onSubmit={create}>
        <label class="grow">New project<input name="name" required maxLength={200} placeholder="My site" /></label>
        <button>Create project</button>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      {created && <Install project={created} />}
    </section>
  );
}

export function Install({ project }: { project: Created }) {
  const host = location.origin;
  const key = project.api_key;
  const snippets: [string, string][] = [
    ["Tally's browser SDK", `<script src="${host}/sdk.js" data-key="${key}" defer></script>`],
    ["posthog-js", `posthog.init("${key}", { api_host: "${host}" })`],
    ["Segment analytics.js", `analytics.load("${key}", { integrations: { "Segment.io": { apiHost: "${location.host}/v1", protocol: "${location.protocol.replace(":", "")}" } } })`],
  ];
  return (
    <div class="card stack" data-testid="install">
      <h2>{project.name} is ready</h2>
      <p>
        Its ingest key — shown <strong>once</strong>, copy it now (it is public: it ships in pages):
      </p>
      <code class="key" data-testid="api-key">{key}</code>
      {snippets.map(([title, code]) => (
        <div>
          <h3>{title}</h3>
          <pre><code>{code}</code></pre>
        </div>
      ))}
      <a href={`/p/${project.id}`} onClick={onLink}>Open the project →</a>
    </div>
  );
}
