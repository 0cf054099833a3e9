// Drives the real posthog-js (npm, pinned in package.json) in Debian's headless
// Chromium against a running Tally. Run by ../posthog_js.rs:
//
//   node posthog_js.mjs TALLY_URL TOKEN RUN_ID [RECORD_DIR]
//
// Serves a test page on 127.0.0.1 (a free port) that loads posthog-js with
// api_host = TALLY_URL, then captures the initial pageview, a custom event and an
// identify. Prints one JSON line {"page": URL} once the page has made its calls,
// and keeps the browser open until its standard input closes, so the caller can
// wait for the events to arrive in Tally. With RECORD_DIR, every request the SDK
// sends to Tally is written there as a fixture (same format as ../sdk/record.py).
// Page errors and failed requests to Tally are printed on stderr and make the
// exit code 1.

import { createServer } from "node:http";
import { readFileSync, mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { launchChromium } from "./chromium.mjs";

const [tallyUrl, token, runId, recordDir] = process.argv.slice(2);
if (!tallyUrl || !token || !runId) {
  console.error("usage: node posthog_js.mjs TALLY_URL TOKEN RUN_ID [RECORD_DIR]");
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
// The bundle without external script loading: nothing is fetched from PostHog.
const bundle = readFileSync(
  join(here, "node_modules/posthog-js/dist/array.full.no-external.js"),
);

const page = `<!doctype html>
<html><head><title>Shop</title><script src="/posthog.js"></script></head>
<body>
<h1>Checkout</h1>
<button id="buy">Buy</button>
<script>
  posthog.init(${JSON.stringify(token)}, {
    api_host: ${JSON.stringify(tallyUrl)},
    person_profiles: "always",
    disable_session_recording: true,
    disable_surveys: true,
    // A browser under automation (navigator.webdriver) looks like a bot, and
    // posthog-js drops bots' events unless told this is a test.
    opt_out_useragent_filter: true,
  });
  document.getElementById("buy").addEventListener("click", () => {
    posthog.capture("clicked_buy", { plan: "pro", price: 42.5, run: ${JSON.stringify(runId)} });
    posthog.identify("user-" + ${JSON.stringify(runId)}, { email: "js@example.com" });
  });
</script>
</body></html>`;

const site = createServer((req, res) => {
  if (req.url === "/posthog.js") {
    res.writeHead(200, { "content-type": "application/javascript" });
    res.end(bundle);
  } else {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(page);
  }
});
await new Promise((ok) => site.listen(0, "127.0.0.1", ok));
const pageUrl = `http://127.0.0.1:${site.address().port}/checkout?run=${runId}`;

let failed = false;
const browser = await launchChromium();
const context = await browser.newContext();
const tab = await context.newPage();
tab.on("pageerror", (e) => {
  failed = true;
  console.error("page error:", e.message);
});
tab.on("console", (m) => {
  if (m.type() === "error") console.error("console error:", m.text());
});

let recorded = 0;
if (recordDir) mkdirSync(recordDir, { recursive: true });
tab.on("request", (req) => {
  // Only what carries events; the config and flags calls are not fixtures.
  if (!recordDir || !req.url().startsWith(tallyUrl) || req.method() !== "POST") return;
  const url = new URL(req.url());
  if (url.pathname.startsWith("/flags") || url.pathname.startsWith("/decide")) return;
  recorded += 1;
  const name = `${String(recorded).padStart(2, "0")}-${url.pathname.replace(/^\/|\/$/g, "").replaceAll("/", "_") || "root"}.json`;
  const headers = {};
  const type = req.headers()["content-type"];
  if (type) headers["Content-Type"] = type;
  const body = req.postDataBuffer();
  writeFileSync(
    join(recordDir, name),
    JSON.stringify(
      {
        method: req.method(),
        path: url.pathname,
        query: url.search.replace(/^\?/, "").replace(/(^|&)_=\d+/, "$1_=0"),
        headers,
        body_base64: body ? body.toString("base64") : "",
      },
      null,
      1,
    ),
  );
});
tab.on("response", (res) => {
  if (res.url().startsWith(tallyUrl) && res.status() >= 400) {
    failed = true;
    console.error(`Tally answered ${res.status()} to ${res.request().method()} ${res.url()}`);
  }
});
tab.on("requestfailed", (req) => {
  if (req.url().startsWith(tallyUrl)) {
    failed = true;
    console.error(`request failed: ${req.url()} ${req.failure()?.errorText}`);
  }
});

await tab.goto(pageUrl);
await tab.waitForFunction(() => window.posthog && window.posthog.__loaded);
await tab.click("#buy");
console.log(JSON.stringify({ page: pageUrl }));

// Keep the page open (posthog-js sends in batches) until the caller is done.
await new Promise((done) => {
  process.stdin.on("end", done);
  process.stdin.on("close", done);
  process.stdin.resume();
  setTimeout(done, 120_000);
});
await browser.close();
site.close();
process.exit(failed ? 1 : 0);
