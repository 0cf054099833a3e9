// Drives Tally's browser SDK (served by Tally at /sdk.js) in Debian's headless
// Chromium with playwright-core, on a test site served from another origin, and
// checks what reached Tally through its events API. Run by ../js_sdk.rs:
//
//   node sdk_js.mjs TALLY_URL INGEST_KEY ADMIN_TOKEN PROJECT_ID SCREENSHOT
//
// Prints one JSON report line. Page errors make the exit code 1.

import { createServer } from "node:http";
import { launchChromium } from "./chromium.mjs";

const [tally, key, admin, project, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error("usage: node sdk_js.mjs TALLY_URL INGEST_KEY ADMIN_TOKEN PROJECT_ID SCREENSHOT");
  process.exit(2);
}

const shop = `<!doctype html><html><head><title>Shop</title><link rel="icon" href="data:,">
<script src="${tally}/sdk.js" data-key="${key}" data-host="${tally}"></script></head>
<body><h1>Shop</h1>
<a id="pricing" href="#pricing">Pricing</a>
<button id="buy" class="cta primary">Buy now</button>
<form id="signup" name="signup" action="/thanks"><input name="email"><button type="submit">Sign up</button></form>
<script>document.getElementById("signup").addEventListener("submit", (e) => e.preventDefault());</script>
</body></html>`;
const plain = `<!doctype html><html><head><title>Elsewhere</title><link rel="icon" href="data:,"></head><body>bye</body></html>`;
// The ES module, initialised in code, honouring Do-Not-Track when asked to.
const modulePage = `<!doctype html><html><head><title>Module</title><link rel="icon" href="data:,">
<script type="module">
import tally from "${tally}/sdk.mjs";
tally.init({ key: "${key}", host: "${tally}", respectDnt: true, autocapture: false });
window.moduleTally = tally;
</script></head><body>module</body></html>`;
const site = createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(req.url.startsWith("/elsewhere") ? plain : req.url.startsWith("/module") ? modulePage : shop);
});
await new Promise((ok) => site.listen(0, "127.0.0.1", ok));
const origin = `http://127.0.0.1:${site.address().port}`;

async function events(distinctId) {
  const r = await fetch(`${tally}/api/v1/projects/${project}/events?distinct_id=${encodeURIComponent(distinctId)}&limit=1000`, {
    headers: { authorization: `Bearer ${admin}` },
  });
  return (await r.json()).results;
}
async function waitFor(distinctId, test, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = await events(distinctId);
    if (test(found) || Date.now() > deadline) return found;
    await new Promise((ok) => setTimeout(ok, 150));
  }
}
const named = (list, name) => list.filter((e) => e.event === name);

const browser = await launchChromium();
let failed = false;
const report = {};
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("pageerror", (e) => { failed = true; console.error("page error:", e.message); });

  // Pageviews, SPA navigations, a click, a form submit.
  await page.goto(`${origin}/?from=test`);
  const id = await page.evaluate(() => window.tally.distinctId);
  report.distinct_id = id;
  // Apart by a few milliseconds, so that the events' times order them.
  await page.waitForTimeout(30);
  await page.evaluate(() => history.pushState({}, "", "/app/a"));
  await page.waitForTimeout(30);
  await page.evaluate(() => history.replaceState({}, "", "/app/b"));
  await page.waitForTimeout(30);
  await page.evaluate(() => history.back());
  await page.waitForURL(`${origin}/?from=test`);
  await page.click("#buy");
  await page.fill("input[name=email]", "secret-value@example.com");
  await page.click("#signup button");
  await page.evaluate(() => window.tally.flush());
  let got = await waitFor(id, (l) => named(l, "$pageview").length >= 4 && named(l, "$autocapture").length >= 2);
  report.pageview_paths = named(got, "$pageview").map((e) => e.path).reverse();
  const auto = named(got, "$autocapture").map((e) => e.properties).reverse();
  report.click = auto.find((p) => p.$event_type === "click");
  report.submit = auto.find((p) => p.$event_type === "submit");
  report.secret_stored = JSON.stringify(got).includes("secret-value");
  report.session_ids = [...new Set(got.map((e) => e.session_id))];
  report.browser = got[0].browser;

  // Offline: held in the queue, delivered when back online.
  await context.setOffline(true);
  await page.evaluate(() => { window.tally.capture("offline_event", { n: 1 }); return window.tally.flush(); });
  await page.waitForTimeout(2500);
  report.offline_held = named(await events(id), "offline_event").length === 0
    && (await page.evaluate(() => window.tally.queued)) >= 1;
  await context.setOffline(false);
  got = await waitFor(id, (l) => named(l, "offline_event").length >= 1);
  report.offline_delivered = named(got, "offline_event").length;

  // A 503 (Retry-After: 1) is retried; the batch is stored once.
  let calls = 0;
  await page.route(`${tally}/api/v1/capture`, (route) => {
    calls += 1;
    if (calls === 1) return route.fulfill({ status: 503, headers: { "retry-after": "1", "access-control-allow-origin": "*" }, body: "{}" });
    return route.continue();
  });
  await page.evaluate(() => { window.tally.capture("retry_event"); return window.tally.flush(); });
  got = await waitFor(id, (l) => named(l, "retry_event").length >= 1);
  await page.waitForTimeout(500);
  report.retry_calls = calls;
  report.retry_stored = named(await events(id), "retry_event").length;
  await page.unroute(`${tally}/api/v1/capture`);

  // flush() called while a send is under way (slowed down here) waits for it
  // and sends what was queued since: once it resolves, nothing is queued.
  await page.route(`${tally}/api/v1/capture`, async (route) => {
    await new Promise((ok) => setTimeout(ok, 400));
    return route.continue();
  });
  report.flush_during_send = await page.evaluate(async () => {
    window.tally.capture("first_of_two_sends");
    const first = window.tally.flush();
    window.tally.capture("second_of_two_sends");
    await window.tally.flush();
    const queued = window.tally.queued;
    await first;
    return { queued };
  });
  await page.unrouteAll({ behavior: "wait" });
  got = await waitFor(id, (l) => named(l, "second_of_two_sends").length >= 1);
  await page.waitForTimeout(300);
  got = await events(id);
  report.flush_during_send.stored = [named(got, "first_of_two_sends").length, named(got, "second_of_two_sends").length];

  // Events captured while an automatic send (a full batch of 10) is under way
  // wait for the next interval (2 s) instead of going out in a request of their
  // own as soon as it is acknowledged.
  await page.route(`${tally}/api/v1/capture`, async (route) => {
    await new Promise((ok) => setTimeout(ok, 400));
    return route.continue();
  });
  report.batched_after_send = await page.evaluate(async () => {
    let requests = 0;
    const realFetch = window.fetch;
    window.fetch = (...args) => { requests += 1; return realFetch(...args); };
    for (let i = 0; i < 10; i++) window.tally.capture("batch_of_ten", { i });
    window.tally.capture("captured_during_the_send");
    const deadline = Date.now() + 3000;
    while (window.tally.queued > 1 && Date.now() < deadline) await new Promise((ok) => setTimeout(ok, 20));
    await new Promise((ok) => setTimeout(ok, 100));
    const seen = { requests, queued: window.tally.queued };
    window.fetch = realFetch;
    return seen;
  });
  await page.unrouteAll({ behavior: "wait" });

  // Unload: an event captured just before leaving arrives by beacon.
  await page.evaluate(() => window.tally.capture("unload_event"));
  await page.goto(`${origin}/elsewhere`);
  got = await waitFor(id, (l) => named(l, "unload_event").length >= 1);
  report.unload_delivered = named(got, "unload_event").length;

  // Opt-out, then identify.
  await page.goto(`${origin}/?back=1`);
  report.opted_out_capture = await page.evaluate(() => { window.tally.optOut(); return window.tally.capture("opted_out_event"); });
  await page.evaluate(() => {
    window.tally.optIn();
    window.tally.identify("user-js-" + window.tally.distinctId, { email: "js@example.com" });
    return window.tally.flush();
  });
  const user = `user-js-${id}`;
  got = await waitFor(user, (l) => named(l, "$identify").length >= 1);
  report.identify_anon = named(got, "$identify")[0]?.properties?.$anon_distinct_id;
  report.identify_email = named(got, "$identify")[0]?.properties?.$set?.email;
  report.opted_out_stored = named(await events(id), "opted_out_event").length + named(await events(user), "opted_out_event").length;
  await page.screenshot({ path: screenshot });

  // The ES module: without Do-Not-Track it captures; a visitor who sends
  // Do-Not-Track is not captured at all when `respectDnt` is set.
  for (const dnt of [false, true]) {
    const ctx = await browser.newContext();
    if (dnt) await ctx.addInitScript(() => Object.defineProperty(Navigator.prototype, "doNotTrack", { get: () => "1" }));
    const p = await ctx.newPage();
    p.on("pageerror", (e) => { failed = true; console.error("page error:", e.message); });
    await p.goto(`${origin}/module`);
    await p.waitForFunction(() => window.moduleTally);
    const moduleId = await p.evaluate(() => window.moduleTally.distinctId);
    const accepted = await p.evaluate(() => {
      const ok = window.moduleTally.capture("module_event", { dnt: navigator.doNotTrack });
      return window.moduleTally.flush().then(() => ok);
    });
    const stored = dnt
      ? (await p.waitForTimeout(1500), named(await events(moduleId), "module_event"))
      : named(await waitFor(moduleId, (l) => named(l, "module_event").length >= 1), "module_event");
    report[dnt ? "module_dnt" : "module"] = { accepted, stored: stored.length };
    await ctx.close();
  }
} finally {
  await browser.close();
  site.close();
}
console.log(JSON.stringify(report));
process.exit(failed ? 1 : 0);
