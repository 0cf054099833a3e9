// Project settings (name, time zone, allowed origins, retention, bot and IP
// switches), the ingest key's rotation, members and roles; and the signed-in
// user's password and personal API keys. Writes need the admin role; the API
// says so (403) and the message is shown.
import { useEffect, useState } from "preact/hooks";
import { api, errorText } from "../api/client";
import type { Me } from "../main";

type Project = {
  id: number; name: string; role: string; timezone: string; allowed_origins: string[];
  retention_days: number | null; drop_bots: boolean; use_ip: boolean;
};
type Member = { user: { id: number; email?: string | null; name?: string | null }; role: string };
type Key = { id: number; name: string; scope: string; created_at: string; last_used_at?: string | null };
type Role = "viewer" | "admin" | "owner";

function useNotice() {
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | null>(null);
  const show = (error: unknown, ok: string) => setNotice(error ? { ok: false, text: errorText(error) } : { ok: true, text: ok });
  const view = notice && <p class={notice.ok ? "up" : "error"} role="status">{notice.text}</p>;
  return { show, view };
}

const ZONES: string[] = (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.("timeZone") ?? ["UTC"];

export function Settings({ projectId, me, onChange }: { projectId: number; me: Me; onChange: () => void }) {
  const [project, setProject] = useState<Project | null>(null);
  const general = useNotice();
  const path = { project_id: projectId };

  useEffect(() => {
    api.GET("/api/v1/projects/{project_id}", { params: { path } }).then((r) => setProject(r.data as unknown as Project));
  }, [projectId]);

  async function save(e: Event) {
    e.preventDefault();
    const f = new FormData(e.target as HTMLFormElement);
    const body = {
      name: String(f.get("name")),
      timezone: String(f.get("timezone")),
      allowed_origins: String(f.get("origins")).split(/\s+/).filter(Boolean),
      retention_days: Number(f.get("retention")),
      drop_bots: f.get("drop_bots") === "on",
      use_ip: f.get("use_ip") === "on",
    };
    const r = await api.PATCH("/api/v1/projects/{project_id}", { params: { path }, body });
    general.show(r.error, "Saved.");
    if (!r.error) {
      setProject(r.data as unknown as Project);
      onChange();
    }
  }

  if (!project) return <p class="muted">Loading…</p>;
  return (
    <section class="stack">
      <h1>Settings</h1>
      <form class="card stack" onSubmit={save} aria-label="Project settings">
        <h2>Project</h2>
        <label>Name<input name="name" required value={project.name} /></label>
        <label>Time zone (days and hours of charts)
          <input name="timezone" list="zones" required value={project.timezone} />
          <datalist id="zones">{ZONES.map((z) => <option value={z} />)}</datalist>
        </label>
        <label>Allowed origins (one per line; empty: any site may send events)
          <textarea name="origins" rows={3} placeholder="https://shop.example">{project.allowed_origins.join("\n")}</textarea>
        </label>
        <label>Keep events for (days; 0 = forever)<input name="retention" type="number" min={0} max={36500} value={project.retention_days ?? 0} /></label>
        <label class="inline"><input name="drop_bots" type="checkbox" checked={project.drop_bots} /> Drop bot traffic instead of storing it</label>
        <label class="inline"><input name="use_ip" type="checkbox" checked={project.use_ip} /> Use visitors' addresses for country and a hashed id (never stored raw)</label>
        <div class="row"><button>Save</button>{general.view}</div>
      </form>
      <IngestKey projectId={projectId} />
      <Members projectId={projectId} />
      <Invites projectId={projectId} />
      <Account me={me} onChange={onChange} />
      {me.user.is_superuser && <Users myId={me.user.id} />}
    </section>
  );
}

function IngestKey({ projectId }: { projectId: number }) {
  const [rotated, setRotated] = useState<{ api_key: string; previous_keys_expire_at: string } | null>(null);
  const notice = useNotice();
  async function rotate() {
    if (!confirm("Make a new ingest key? The current one keeps working for 24 hours.")) return;
    const r = await api.POST("/api/v1/projects/{project_id}/ingest-key/rotate", { params: { path: { project_id: projectId } }, body: {} });
    notice.show(r.error, "New key made.");
    if (!r.error) setRotated(r.data as unknown as { api_key: string; previous_keys_expire_at: string });
  }
  return (
    <div class="card stack">
      <h2>Ingest key</h2>
      <p class="muted">Keys are stored hashed, so the current one cannot be shown again. Rotating makes a new one; the old one keeps working for 24 hours so deployed sites and apps can switch over.</p>
      {rotated && (
        <div class="stack">
          <code class="key" data-testid="rotated-key">{rotated.api_key}</code>
          <span class="muted">The previous key stops at {new Date(rotated.previous_keys_expire_at).toLocaleString()}.</span>
        </div>
      )}
      <div class="row"><button class="ghost" onClick={rotate}>Rotate the ingest key</button>{notice.view}</div>
    </div>
  );
}

function Members({ projectId }: { projectId: number }) {
  const [members, setMembers] = useState<Member[]>([]);
  const notice = useNotice();
  const path = { project_id: projectId };
  const load = () => api.GET("/api/v1/projects/{project_id}/members", { params: { path } }).then((r) => setMembers((r.data as unknown as Member[]) ?? []));
  useEffect(() => void load(), [projectId]);

  async function add(e: Event) {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const f = new FormData(form);
    const r = await api.PUT("/api/v1/projects/{project_id}/members", { params: { path }, body: { email: String(f.get("email")), role: String(f.get("role")) as Role } });
    notice.show(r.error, "Member saved.");
    if (!r.error) form.reset();
    load();
  }
  async function remove(m: Member) {
    if (!confirm(`Remove ${m.user.email ?? m.user.name} from this project?`)) return;
    const r = await api.DELETE("/api/v1/projects/{project_id}/members/{user_id}", { params: { path: { project_id: projectId, user_id: m.user.id } } });
    notice.show(r.error, "Member removed.");
    load();
  }
  return (
    <div class="card stack">
      <h2>Members</h2>
      <table>
        <thead><tr><th scope="col">Who</th><th scope="col">Role</th><th /></tr></thead>
        <tbody>
          {members.map((m) => (
            <tr><td>{m.user.email ?? m.user.name}</td><td>{m.role}</td><td class="num"><button class="ghost" onClick={() => remove(m)}>Remove</button></td></tr>
          ))}
        </tbody>
      </table>
      <form class="row wrap" onSubmit={add}>
        <label class="grow">Add a user by email<input name="email" type="email" required /></label>
        <label>Role<select name="role"><option value="viewer">viewer</option><option value="admin">admin</option><option value="owner">owner</option></select></label>
        <button>Add</button>
      </form>
      {notice.view}
    </div>
  );
}

function Account({ me, onChange }: { me: Me; onChange: () => void }) {
  const [keys, setKeys] = useState<Key[]>([]);
  const profile = useNotice();
  // Held here: a re-render (the keys list loading, say) must not reset what is typed.
  const [name, setName] = useState(me.user.name ?? "");
  const [made, setMade] = useState<string | null>(null);
  const password = useNotice();
  const keyNotice = useNotice();
  const load = () => api.GET("/api/v1/auth/keys").then((r) => setKeys((r.data as unknown as Key[]) ?? []));
  useEffect(() => void load(), []);

  async function saveProfile(e: Event) {
    e.preventDefault();
    const r = await api.PATCH("/api/v1/auth/me", { body: { name } });
    profile.show(r.error, "Profile saved.");
    if (!r.error) onChange();
  }
  async function changePassword(e: Event) {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const f = new FormData(form);
    const r = await api.POST("/api/v1/auth/password", { body: { current_password: String(f.get("current")), new_password: String(f.get("new")) } });
    password.show(r.error, "Password changed; your other sessions were signed out.");
    if (!r.error) form.reset();
  }
  async function makeKey(e: Event) {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const f = new FormData(form);
    const r = await api.POST("/api/v1/auth/keys", { body: { name: String(f.get("name")), scope: String(f.get("scope")) as "read" | "write" } });
    keyNotice.show(r.error, "Key made: copy it now, it is shown once.");
    if (!r.error) {
      setMade((r.data as unknown as { key: string }).key);
      form.reset();
    }
    load();
  }
  async function revoke(k: Key) {
    if (!confirm(`Revoke the key "${k.name}"? Programs using it stop working.`)) return;
    const r = await api.DELETE("/api/v1/auth/keys/{key_id}", { params: { path: { key_id: k.id } } });
    keyNotice.show(r.error, "Key revoked.");
    load();
  }
  return (
    <>
      <form class="card stack" onSubmit={saveProfile} aria-label="Profile">
        <h2>Your profile</h2>
        <label>Email<input value={me.user.email ?? ""} disabled /></label>
        <label>Your name<input name="name" maxLength={100} value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} autocomplete="name" /></label>
        <div class="row"><button>Save profile</button>{profile.view}</div>
      </form>
      <form class="card stack" onSubmit={changePassword} aria-label="Password">
        <h2>Your password</h2>
        <label>Current password<input name="current" type="password" required autocomplete="current-password" /></label>
        <label>New password<input name="new" type="password" required minLength={8} autocomplete="new-password" /></label>
        <div class="row"><button>Change password</button>{password.view}</div>
      </form>
      <div class="card stack">
        <h2>Your API keys</h2>
        <p class="muted">For scripts and the API (<code>Authorization: Bearer …</code>); they act as you.</p>
        {keys.length > 0 && (
          <table>
            <thead><tr><th scope="col">Name</th><th scope="col">Scope</th><th scope="col">Last used</th><th /></tr></thead>
            <tbody>
              {keys.map((k) => (
                <tr><td>{k.name}</td><td>{k.scope}</td><td class="muted">{k.last_used_at ? new Date(k.last_used_at).toLocaleString() : "never"}</td><td class="num"><button class="ghost" onClick={() => revoke(k)}>Revoke</button></td></tr>
              ))}
            </tbody>
          </table>
        )}
        {made && <code class="key" data-testid="personal-key">{made}</code>}
        <form class="row wrap" onSubmit={makeKey}>
          <label class="grow">Key name<input name="name" required placeholder="reporting script" /></label>
          <label>Scope<select name="scope"><option value="read">read</option><option value="write">write</option></select></label>
          <button>Make key</button>
        </form>
        {keyNotice.view}
      </div>
    </>
  );
}

type Invite = { id: number; email: string; role: string; created_at: string; expires_at: string };

/** Invitations by link: Tally sends no mail, so the link is shown once to pass on. */
function Invites({ projectId }: { projectId: number }) {
  const [pending, setPending] = useState<Invite[]>([]);
  const [link, setLink] = useState<string | null>(null);
  const notice = useNotice();
  const path = { project_id: projectId };
  const load = () => api.GET("/api/v1/projects/{project_id}/invites", { params: { path } }).then((r) => setPending(r.data ?? []));
  useEffect(() => void load(), [projectId]);

  async function invite(e: Event) {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const f = new FormData(form);
    const r = await api.POST("/api/v1/projects/{project_id}/invites", { params: { path }, body: { email: String(f.get("email")), role: String(f.get("role")) as Role } });
    notice.show(r.error, "Invitation made: send this link to them. It is shown once and works for 7 days.");
    if (!r.error) {
      setLink(new URL(`/invite/${r.data.token}`, location.origin).href);
      form.reset();
    }
    load();
  }
  async function revoke(i: Invite) {
    const r = await api.DELETE("/api/v1/projects/{project_id}/invites/{invite_id}", { params: { path: { project_id: projectId, invite_id: i.id } } });
    notice.show(r.error, "Invitation revoked.");
    load();
  }
  return (
    <div class="card stack">
      <h2>Invitations</h2>
      <p class="muted">Invite someone who has no account yet: the link lets them sign up (even when sign-up is closed) and join with the role you pick.</p>
      {pending.length > 0 && (
        <table data-testid="pending-invites">
          <thead><tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Expires</th><th /></tr></thead>
          <tbody>
            {pending.map((i) => (
              <tr><td class="invite-email">{i.email}</td><td>{i.role}</td><td class="muted">{new Date(i.expires_at).toLocaleString()}</td><td class="num"><button class="ghost" aria-label={`Revoke the invitation of ${i.email}`} onClick={() => revoke(i)}>Revoke</button></td></tr>
            ))}
          </tbody>
        </table>
      )}
      {link && <code class="key" data-testid="invite-link">{link}</code>}
      <form class="row wrap" onSubmit={invite} aria-label="Invite">
        <label class="grow">Invite by email<input name="email" type="email" required /></label>
        <label>Role<select name="role"><option value="viewer">viewer</option><option value="admin">admin</option><option value="owner">owner</option></select></label>
        <button>Invite</button>
      </form>
      {notice.view}
    </div>
  );
}

type UserRow = { id: number; email?: string | null; name: string; is_superuser: boolean; is_active: boolean; created_at: string };

/** Superusers: every account of this Tally, deactivated or deleted here. */
function Users({ myId }: { myId: number }) {
  const [users, setUsers] = useState<UserRow[]>([]);
  const notice = useNotice();
  const load = () => api.GET("/api/v1/users").then((r) => setUsers((r.data as unknown as UserRow[]) ?? []));
  useEffect(() => void load(), []);

  async function setActive(u: UserRow, active: boolean) {
    const r = await api.PATCH("/api/v1/users/{user_id}", { params: { path: { user_id: u.id } }, body: { is_active: active } });
    notice.show(r.error, active ? "Account reactivated." : "Account deactivated: its sessions and keys stop working.");
    load();
  }
  async function remove(u: UserRow) {
    if (!confirm(`Delete the account ${u.email ?? u.name}? This cannot be undone.`)) return;
    const r = await api.DELETE("/api/v1/users/{user_id}", { params: { path: { user_id: u.id } } });
    notice.show(r.error, "Account deleted.");
    load();
  }
  return (
    <div class="card stack" data-testid="users">
      <h2>Users of this Tally</h2>
      <p class="muted">Shown to superusers only.</p>
      <table>
        <thead><tr><th scope="col">Who</th><th scope="col">Status</th><th scope="col">Since</th><th /></tr></thead>
        <tbody>
          {users.map((u) => (
            <tr>
              <td class="user-email">{u.email ?? u.name}{u.is_superuser && <span class="tag">superuser</span>}</td>
              <td class="user-status">{u.is_active ? "active" : "deactivated"}</td>
              <td class="muted">{new Date(u.created_at).toLocaleDateString()}</td>
              <td class="num">
                {u.id !== myId && (
                  <>
                    <button class="ghost" aria-label={`${u.is_active ? "Deactivate" : "Reactivate"} ${u.email ?? u.name}`} onClick={() => setActive(u, !u.is_active)}>{u.is_active ? "Deactivate" : "Reactivate"}</button>
                    <button class="ghost" aria-label={`Delete ${u.email ?? u.name}`} onClick={() => remove(u)}>Delete</button>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {notice.view}
    </div>
  );
}
