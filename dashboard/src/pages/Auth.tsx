// First-run setup (claims the first start's superuser), login, and sign-up
// when the server allows it.
import { useState } from "preact/hooks";
import { api, errorText } from "../api/client";
import { navigate } from "../router";

function useForm(submit: (form: FormData) => Promise<string | null>) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function onSubmit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(await submit(new FormData(e.target as HTMLFormElement)));
    setBusy(false);
  }
  return { error, busy, onSubmit };
}

/** A new account's form: first-run setup or sign-up (same fields, other route). */
function NewAccount({ route, title, intro, footer, invite, onDone }: {
  route: "/api/v1/setup" | "/api/v1/auth/register"; title: string; intro?: preact.ComponentChildren;
  footer?: preact.ComponentChildren; invite?: string; onDone: () => void;
}) {
  const form = useForm(async (f) => {
    const body = { email: String(f.get("email")), password: String(f.get("password")), name: String(f.get("name") || "") || undefined, ...(invite ? { invite } : {}) };
    const r = await api.POST(route, { body });
    if (r.error) return errorText(r.error);
    // Signing up with an invitation joins its project: nothing left to accept.
    if (invite) navigate("/", true);
    onDone();
    return null;
  });
  return (
    <form class="card auth" onSubmit={form.onSubmit}>
      <h1>{title}</h1>
      {intro}
      <label>Name<input name="name" autocomplete="name" /></label>
      <label>Email<input name="email" type="email" required autocomplete="email" /></label>
      <label>Password<input name="password" type="password" required minLength={8} autocomplete="new-password" /></label>
      {form.error && <p class="error" role="alert">{form.error}</p>}
      <button disabled={form.busy}>Create account</button>
      {footer}
    </form>
  );
}

export function Setup({ onDone }: { onDone: () => void }) {
  return (
    <NewAccount route="/api/v1/setup" title="Welcome to Tally" onDone={onDone}
      intro={<p class="muted">Create the first account. It owns the <code>default</code> project and can create more.</p>} />
  );
}

export function Login({ onDone, allowSignup, invite }: { onDone: () => void; allowSignup: boolean; invite?: string }) {
  const [registering, setRegistering] = useState(false);
  const form = useForm(async (f) => {
    const r = await api.POST("/api/v1/auth/login", {
      body: { email: String(f.get("email")), password: String(f.get("password")) },
    });
    if (r.error) return errorText(r.error, "Wrong email or password");
    onDone();
    return null;
  });
  if (registering) return <Register onDone={onDone} invite={invite} onCancel={() => setRegistering(false)} />;
  return (
    <form class="card auth" onSubmit={form.onSubmit}>
      <h1>Log in to Tally</h1>
      {invite && <p class="muted" data-testid="invite-note">You were invited to a project. Log in, or create an account, with the email the invitation was sent to.</p>}
      <label>Email<input name="email" type="email" required autocomplete="username" /></label>
      <label>Password<input name="password" type="password" required autocomplete="current-password" /></label>
      {form.error && <p class="error" role="alert">{form.error}</p>}
      <button disabled={form.busy}>Log in</button>
      {(allowSignup || invite) && (
        <p class="muted">
          New here? <a href="#register" onClick={(e) => { e.preventDefault(); setRegistering(true); }}>Create an account</a>
        </p>
      )}
    </form>
  );
}

function Register({ onDone, onCancel, invite }: { onDone: () => void; onCancel: () => void; invite?: string }) {
  return (
    <NewAccount route="/api/v1/auth/register" title="Create your Tally account" onDone={onDone} invite={invite}
      footer={<p class="muted"><a href="#login" onClick={(e) => { e.preventDefault(); onCancel(); }}>I have an account</a></p>} />
  );
}

/** A signed-in user opening an invitation link: join its project. */
export function AcceptInvite({ token, onDone }: { token: string; onDone: () => Promise<void> }) {
  const [error, setError] = useState<string | null>(null);
  async function accept() {
    const r = await api.POST("/api/v1/auth/invites/accept", { body: { token } });
    if (r.error) return setError(errorText(r.error));
    await onDone();
    navigate(`/p/${r.data.id}`, true);
  }
  return (
    <div class="card auth stack">
      <h1>Join a project</h1>
      <p class="muted">This invitation adds you to a Tally project. It works once, for the email it was sent to.</p>
      {error && <p class="error" role="alert">{error}</p>}
      <button onClick={accept}>Accept the invitation</button>
      <a href="/" onClick={(e) => { e.preventDefault(); navigate("/"); }}>Not now</a>
    </div>
  );
}
