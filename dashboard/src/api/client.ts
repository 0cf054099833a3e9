// The typed API client. Types come from `schema.d.ts`, generated from the
// OpenAPI document Tally serves (`npm run api-types`); a test in the Rust suite
// regenerates it from a running Tally and fails when the two differ.
//
// Cookie sessions: every write carries the `tally_csrf` cookie in
// `X-CSRF-Token`; a 401 refreshes the session once (`/auth/refresh`) and
// retries, else sends the user to the login page.
import createClient, { type Middleware } from "openapi-fetch";
import type { paths } from "./schema";

export function csrfToken(): string {
  const m = document.cookie.match(/(?:^|;\s*)tally_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

const unsafe = new Set(["POST", "PUT", "PATCH", "DELETE"]);

const csrf: Middleware = {
  onRequest({ request }) {
    if (unsafe.has(request.method)) request.headers.set("X-CSRF-Token", csrfToken());
    return request;
  },
};

let refreshing: Promise<boolean> | null = null;
/** Renews the access cookie with the refresh cookie; one attempt at a time. */
export function refreshSession(): Promise<boolean> {
  refreshing ??= fetch("/api/v1/auth/refresh", {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRF-Token": csrfToken() },
  })
    .then((r) => r.ok)
    .catch(() => false)
    .finally(() => setTimeout(() => (refreshing = null), 0));
  return refreshing;
}

/** Called when the session is gone for good (set by the app shell). */
export const onSignedOut = { handler: () => {} };

const renew: Middleware = {
  async onResponse({ request, response }) {
    const auth = request.url.includes("/api/v1/auth/") || request.url.includes("/api/v1/setup");
    if (response.status !== 401 || auth) return response;
    if (await refreshSession()) {
      const retry = new Request(request, { headers: new Headers(request.headers) });
      retry.headers.set("X-CSRF-Token", csrfToken());
      const again = await fetch(retry);
      if (again.status !== 401) return again;
    }
    onSignedOut.handler();
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: "", credentials: "same-origin" });
api.use(csrf, renew);

/** The `{"error": {"code", "message"}}` body of a failed call, as text. */
export function errorText(error: unknown, fallback = "Something went wrong"): string {
  const e = error as { error?: { message?: string } } | undefined;
  return e?.error?.message ?? fallback;
}
