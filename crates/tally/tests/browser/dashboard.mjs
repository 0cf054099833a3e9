// Drives the dashboard in Debian's headless Chromium (playwright-core) against a
// real Tally, as a new user would: first-run setup, a new project (key and
// snippet shown once), the live view while a test site that loads Tally's SDK
// with that key is clicked through, then the overview's cards and tables.
// Screenshots of each screen go to OUT_DIR. Run by ../dashboard.rs:
//
//   node dashboard.mjs TALLY_URL OUT_DIR
//
// Prints one JSON report line; page errors make the exit code 1.

import { createServer } from "node:http";
import { launchChromium } from "./chromium.mjs";

const [tally, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error("usage: node dashboard.mjs TALLY_URL OUT_DIR");
  process.exit(2);
}

// A visitor's ordinary Chrome (not "HeadlessChrome", which Tally counts as a bot
// and leaves out of the overview).
const visitorAgent =
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
let key = "";
const site = createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(`<!doctype html><html><head><title>Test shop</title><link rel="icon" href="data:,">
<script src="${tally}/sdk.js" data-key="${key}"></script></head>
<body><h1>Test shop</h1><button id="buy">Buy</button>
<a id="next" href="/pricing">Pricing</a></body></html>`);
});
await new Promise((ok) => site.listen(0, "127.0.0.1", ok));
const siteUrl = `http://127.0.0.1:${site.address().port}`;

const browser = await launchChromium();
let failed = false;
const report = {};
// Whether `locator` comes to be shown. A screen draws after the click that
// asks for it, so a read taken at once would race the render.
const shows = (locator) => locator.first().waitFor({ timeout: 30000 }).then(() => true, () => false);
const watch = (page) => {
  page.on("pageerror", (e) => { failed = true; console.error("page error:", e.message); });
  page.on("console", (m) => m.type() === "error" && console.error("console:", m.text()));
};
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // Generous: CI runs this beside the rest of the suite on two cores, where a
  // debug-built server answering a chart's queries can take more than the default 30 s.
  context.setDefaultTimeout(90000);
  const page = await context.newPage();
  watch(page);

  // First run: the setup form, then the project list with `default`.
  await page.goto(tally);
  await page.getByRole("heading", { name: "Welcome to Tally" }).waitFor();
  await page.screenshot({ path: `${outDir}/dashboard-setup.png` });
  await page.getByLabel("Name").fill("Ada");
  await page.getByLabel("Email").fill("ada@example.com");
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { name: "Projects" }).waitFor();
  report.projects_after_setup = await page.locator(".cards .big").allTextContents();

  // A new project: the key and the snippets, once.
  await page.getByLabel("New project").fill("Shop");
  await page.getByRole("button", { name: "Create project" }).click();
  await page.getByTestId("install").waitFor();
  key = (await page.getByTestId("api-key").textContent()).trim();
  report.key_shown = key.length > 10;
  report.snippet_has_key = (await page.getByTestId("install").textContent()).includes(`data-key="${key}"`);
  await page.screenshot({ path: `${outDir}/dashboard-project-created.png`, fullPage: true });
  await page.getByRole("link", { name: "Open the project →" }).click();
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  report.empty_state = await page.locator("p.empty").first().waitFor({ timeout: 60000 }).then(() => true, () => false);

  // The live view, connected before anything is sent.
  await page.getByRole("link", { name: "Live", exact: true }).click();
  await page.getByTestId("live-status").filter({ hasText: "Live" }).waitFor({ timeout: 60000 });

  // A visitor on the site: a pageview, a click, an SPA navigation.
  const visitorContext = await browser.newContext({ userAgent: visitorAgent });
  const visitor = await visitorContext.newPage();
  watch(visitor);
  await visitor.goto(`${siteUrl}/`);
  await visitor.click("#buy");
  await visitor.evaluate(() => history.pushState({}, "", "/checkout"));
  await visitor.evaluate(() => window.tally.flush());

  // The events arrive in the live view by themselves.
  const rows = page.getByTestId("live-events").locator("tbody tr");
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=live-events] tbody tr").length >= 3, null, { timeout: 60000 });
  report.live_events = (await rows.locator(".event-name").allTextContents()).sort();
  await rows.first().click();
  report.live_properties_open = await shows(page.locator("pre.props"));
  await page.screenshot({ path: `${outDir}/dashboard-live.png` });

  // Pause holds new events back.
  await page.getByRole("button", { name: "Pause" }).click();
  await visitor.evaluate(() => { window.tally.capture("while_paused"); return window.tally.flush(); });
  await page.getByTestId("live-status").filter({ hasText: "1 waiting" }).waitFor({ timeout: 60000 });
  report.paused_rows = await rows.locator(".event-name").allTextContents().then((l) => l.includes("while_paused"));
  await page.getByRole("button", { name: "Resume" }).click();
  report.resumed_rows = await shows(rows.locator(".event-name", { hasText: "while_paused" }));

  // The overview counts the visit.
  await page.getByRole("link", { name: "Overview", exact: true }).click();
  await page.getByTestId("metric-pageviews").filter({ hasNotText: "–" }).waitFor();
  report.cards = {
    visitors: await page.getByTestId("metric-visitors").textContent(),
    pageviews: await page.getByTestId("metric-pageviews").textContent(),
    sessions: await page.getByTestId("metric-sessions").textContent(),
    bounce: await page.getByTestId("metric-bounce-rate").textContent(),
  };
  await page.locator("[data-table=page] tbody tr").first().waitFor();
  report.top_pages = await page.locator("[data-table=page] tbody .label").allTextContents();
  await page.locator(".chart canvas").first().waitFor();
  report.chart_drawn = await page.locator(".chart canvas").count();
  await page.screenshot({ path: `${outDir}/dashboard-overview.png`, fullPage: true });

  // Click-to-filter: a page row narrows the cards and the other tables.
  await page.locator("[data-table=page] tbody tr", { hasText: "/checkout" }).click();
  await page.getByRole("button", { name: "Remove filter page" }).waitFor();
  await page.getByTestId("metric-pageviews").filter({ hasText: /^1$/ }).waitFor();
  report.filtered_pageviews = await page.getByTestId("metric-pageviews").textContent();
  await page.waitForFunction(() => document.querySelectorAll("[data-table=event] tbody tr").length === 2);
  report.filtered_events_table = await page.locator("[data-table=event] tbody .label").allTextContents();
  await page.screenshot({ path: `${outDir}/dashboard-overview-filtered.png`, fullPage: true });
  await page.getByRole("button", { name: "Clear filters" }).click();
  await page.getByTestId("metric-pageviews").filter({ hasText: /^2$/ }).waitFor();
  report.unfiltered_pageviews = await page.getByTestId("metric-pageviews").textContent();

  // A funnel of the visit: a pageview, then the click.
  await page.getByRole("link", { name: "Funnel", exact: true }).click();
  await page.getByLabel("Step 1").waitFor();
  await page.getByLabel("Step 1").selectOption("$pageview");
  await page.getByLabel("Step 2").selectOption("$autocapture");
  await page.waitForFunction(() => {
    const cells = [...document.querySelectorAll("[data-testid=funnel-steps] .step-count")];
    return cells.length === 2 && document.querySelector("[data-testid=funnel-steps]")?.textContent.includes("$autocapture");
  });
  report.funnel_counts = await page.locator("[data-testid=funnel-steps] .step-count").allTextContents();
  report.funnel_conversion = await page.getByTestId("funnel-conversion").textContent();
  await page.locator(".chart canvas").first().waitFor();
  report.funnel_bars = await page.locator(".chart canvas").count();
  // Broken down by the page the attempt started on: the click followed the view of /.
  await page.getByLabel("Funnel breakdown").selectOption("$pathname");
  await page.locator("[data-testid=funnel-breakdown] .breakdown-value").first().waitFor();
  report.funnel_breakdown = await page.locator("[data-testid=funnel-breakdown] tbody tr").evaluateAll((rows) =>
    rows.map((r) => [...r.querySelectorAll("td")].slice(0, 3).map((td) => td.textContent.trim()).join(" | ")));
  await page.screenshot({ path: `${outDir}/dashboard-funnel.png`, fullPage: true });
  // Kept for later: the funnel saved as an insight.
  await page.getByRole("button", { name: "Save as insight" }).click();
  await page.getByLabel("Insight name").fill("Visit to click");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.getByRole("status").filter({ hasText: "Saved" }).waitFor();
  // Trends: pageviews over the range, then broken down by path; retention of
  // the visitor in today's cohort.
  await page.getByRole("link", { name: "Insights", exact: true }).click();
  await page.locator("[data-testid=trend-totals] .trend-total").first().waitFor();
  report.trend_total = await page.locator("[data-testid=trend-totals] .trend-total").allTextContents();
  await page.getByLabel("Breakdown").selectOption("$pathname");
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=trend-totals] .trend-total").length === 2);
  report.trend_breakdown = await page.locator("[data-testid=trend-totals] tbody tr").allTextContents();
  // Two filters, both must hold: on /checkout, with a known browser.
  await page.getByRole("button", { name: "+ Add filter" }).click();
  await page.getByLabel("Filter 1 property").fill("$pathname");
  await page.getByLabel("Filter 1 property").press("Tab");
  await page.getByLabel("Filter 1 value").fill("/checkout");
  await page.getByLabel("Filter 1 value").press("Tab");
  await page.getByRole("button", { name: "+ Add filter" }).click();
  await page.getByLabel("Filter 2 property").fill("$browser");
  await page.getByLabel("Filter 2 property").press("Tab");
  await page.getByLabel("Filter 2 operator").selectOption("is_set");
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=trend-totals] .trend-total").length === 1);
  report.trend_filtered = await page.locator("[data-testid=trend-totals] tbody tr").allTextContents();
  await page.locator("[data-testid=retention] .cohort-size").first().waitFor();
  report.retention_sizes = await page.locator("[data-testid=retention] .cohort-size").allTextContents();
  // Stickiness and lifecycle of any event: one person, active on one day, new.
  await page.locator("[data-testid=stickiness] .sticky-persons").first().waitFor();
  report.stickiness = await page.locator("[data-testid=stickiness] tbody tr").evaluateAll((rows) =>
    rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent.trim()).join(" | ")));
  await page.locator("[data-testid=lifecycle] tbody td").first().waitFor();
  report.lifecycle = await page.locator("[data-testid=lifecycle] tbody td").allTextContents();
  await page.screenshot({ path: `${outDir}/dashboard-insights.png`, fullPage: true });

  // Paths of the visit's pages, as a Sankey and as a table of links.
  await page.getByRole("link", { name: "Paths", exact: true }).click();
  await page.locator("[data-testid=path-links] tbody tr").first().waitFor();
  report.path_links = await page.locator("[data-testid=path-links] tbody tr").evaluateAll((rows) =>
    rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent.trim()).join(" | ")));
  await page.locator("[data-testid=sankey] rect").first().waitFor();
  report.sankey_nodes = await page.locator("[data-testid=sankey] rect").count();
  await page.screenshot({ path: `${outDir}/dashboard-paths.png`, fullPage: true });

  // A dashboard with the saved funnel on it, shared read-only: someone with
  // the link and no account sees the same counts, until sharing stops.
  await page.getByRole("link", { name: "Dashboards", exact: true }).click();
  await page.getByLabel("New dashboard name").fill("Weekly");
  await page.getByRole("button", { name: "Create", exact: true }).click();
  await page.getByTestId("dashboard").waitFor();
  await page.getByLabel("Insight to add").selectOption({ label: "Visit to click" });
  await page.getByRole("button", { name: "Add", exact: true }).click();
  const tileCounts = page.locator("[data-testid=dashboard] [data-testid=funnel-steps] .step-count");
  await tileCounts.nth(1).waitFor();
  report.dashboard_tile_counts = await tileCounts.allTextContents();
  await page.getByRole("button", { name: "Share read-only" }).click();
  const shareLink = (await page.getByTestId("share-link").textContent()).trim();
  report.share_link_path = new URL(shareLink).pathname.startsWith("/shared/");
  await page.screenshot({ path: `${outDir}/dashboard-board.png`, fullPage: true });
  const stranger = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  stranger.setDefaultTimeout(90000);
  const outsider = await stranger.newPage();
  watch(outsider);
  await outsider.goto(shareLink);
  await outsider.getByTestId("shared-dashboard").waitFor();
  const sharedCounts = outsider.locator("[data-testid=funnel-steps] .step-count");
  await sharedCounts.nth(1).waitFor();
  report.shared_counts = await sharedCounts.allTextContents();
  report.shared_title = await outsider.getByRole("heading", { level: 1 }).textContent();
  report.shared_has_nav = await outsider.getByRole("link", { name: "Settings" }).count();
  await outsider.screenshot({ path: `${outDir}/dashboard-shared.png`, fullPage: true });
  await page.getByRole("button", { name: "Stop sharing" }).click();
  await page.getByRole("button", { name: "Share read-only" }).waitFor();
  await outsider.reload();
  report.revoked_link_dead = await outsider.getByText("This link does not work").waitFor().then(() => true, () => false);
  await stranger.close();

  // The tile's name opens the funnel builder on the saved insight; a change
  // saved there is what the insight then holds.
  await page.getByRole("link", { name: "Visit to click" }).first().click();
  await page.getByRole("heading", { name: /Funnel · Visit to click/ }).waitFor();
  report.reopened = [
    await page.getByLabel("Step 1").inputValue(),
    await page.getByLabel("Step 2").inputValue(),
    await page.getByLabel("Funnel breakdown").inputValue(),
  ];
  await page.getByLabel("Steps in a row (strict)").check();
  await page.getByRole("button", { name: "Save changes to “Visit to click”" }).click();
  await page.getByRole("status").filter({ hasText: "Saved" }).waitFor();
  const projectPath = new URL(page.url()).pathname.split("/").slice(0, 3).join("/");
  report.saved_order = await page.evaluate(async (p) => {
    const insights = await (await fetch(`/api/v1/projects/${p.split("/")[2]}/insights`)).json();
    return insights.map((i) => `${i.name}: ${i.query.order}`);
  }, projectPath);
  // Renamed from the list of saved insights.
  await page.getByRole("link", { name: "Dashboards", exact: true }).click();
  page.once("dialog", (d) => d.accept("Visit, then click"));
  await page.getByRole("button", { name: "Rename insight Visit to click" }).click();
  await page.locator("[data-testid=saved-insights] .insight-name", { hasText: "Visit, then click" }).waitFor();
  report.renamed = await page.locator("[data-testid=saved-insights] .insight-name").allTextContents();

  // The event explorer: everything, then only pageviews, each row opening
  // its properties.
  await page.getByRole("link", { name: "Events", exact: true }).click();
  await page.getByTestId("events").waitFor();
  report.explorer_all = (await page.locator("[data-testid=events] .event-name").allTextContents()).sort();
  await page.getByLabel("Event").selectOption("$pageview");
  await page.waitForFunction(() => {
    const names = [...document.querySelectorAll("[data-testid=events] .event-name")];
    return names.length > 0 && names.every((c) => c.textContent === "$pageview");
  });
  report.explorer_pageviews = await page.locator("[data-testid=events] .event-name").count();
  await page.locator("[data-testid=events] tbody tr").first().click();
  report.explorer_properties = (await page.locator("pre.props").textContent()).includes("$current_url");
  await page.screenshot({ path: `${outDir}/dashboard-events.png`, fullPage: true });

  await page.getByRole("link", { name: "Overview", exact: true }).click();
  await page.getByTestId("metric-pageviews").filter({ hasNotText: "–" }).waitFor();
  await page.locator("[data-table=entry_page] tbody tr").first().waitFor();
  report.entry_pages = await page.locator("[data-table=entry_page] tbody .label").allTextContents();
  await page.locator("[data-table=exit_page] tbody tr").first().waitFor();
  report.exit_pages = await page.locator("[data-table=exit_page] tbody .label").allTextContents();
  // An entry page filters whole visits: the pages table keeps /checkout,
  // seen later in the visit that entered on /.
  // (Unfiltered, the table shows the same two pages: what the table asked for
  // and got is read from its request, not from the screen.)
  const filteredPages = page.waitForResponse((r) => {
    const url = new URL(r.url());
    return url.pathname.endsWith("/top/page") && (url.searchParams.get("filter") ?? "").includes("entry_page");
  });
  await page.locator("[data-table=entry_page] tbody tr").first().click();
  const entryChip = page.getByRole("button", { name: "Remove filter entry_page" });
  report.entry_chip = (await entryChip.textContent()).trim();
  report.entry_filtered_pages = (await (await filteredPages).json()).results.map((row) => row.value);
  await entryChip.click();

  // Sessions and persons, each opening a timeline of the visit.
  await page.getByRole("link", { name: "Sessions", exact: true }).click();
  await page.locator("[data-testid=sessions] tbody tr").first().waitFor();
  report.sessions_rows = await page.locator("[data-testid=sessions] tbody tr").count();
  await page.locator("[data-testid=sessions] tbody tr").first().click();
  await page.locator("[data-testid=timeline] .event-name").first().waitFor();
  report.session_timeline = await page.locator("[data-testid=timeline] .event-name").allTextContents();
  await page.screenshot({ path: `${outDir}/dashboard-sessions.png`, fullPage: true });
  await page.getByRole("link", { name: "Persons", exact: true }).click();
  await page.locator("[data-testid=persons] tbody tr").first().waitFor();
  report.persons_rows = await page.locator("[data-testid=persons] tbody tr").count();
  await page.locator("[data-testid=persons] tbody tr").first().click();
  await page.locator("[data-testid=timeline] .event-name").first().waitFor();
  report.person_timeline = await page.locator("[data-testid=timeline] .event-name").count();
  await page.screenshot({ path: `${outDir}/dashboard-persons.png`, fullPage: true });

  // Settings: the time zone saved, the ingest key rotated, a personal key made.
  page.on("dialog", (d) => d.accept());
  await page.getByRole("link", { name: "Settings", exact: true }).click();
  await page.getByLabel("Time zone", { exact: false }).fill("Europe/Berlin");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.getByText("Saved.").waitFor();
  await page.reload();
  report.saved_timezone = await page.getByLabel("Time zone", { exact: false }).inputValue();
  await page.getByRole("button", { name: "Rotate the ingest key" }).click();
  report.rotated_key = (await page.getByTestId("rotated-key").textContent()).startsWith("tly_ing_");
  await page.getByLabel("Key name").fill("reporting");
  await page.getByRole("button", { name: "Make key" }).click();
  report.personal_key = (await page.getByTestId("personal-key").textContent()).length > 10;
  await page.getByLabel("Your name").fill("Ada Lovelace");
  await page.getByRole("button", { name: "Save profile" }).click();
  await page.getByText("Profile saved.").waitFor();
  report.profile_name = await page.evaluate(async () => (await (await fetch("/api/v1/auth/me")).json()).user.name);
  // An invitation link for Carol, who has no account yet; the superuser's list of users.
  await page.getByLabel("Invite by email").fill("carol@example.com");
  await page.getByRole("form", { name: "Invite" }).getByLabel("Role").selectOption("viewer");
  await page.getByRole("button", { name: "Invite", exact: true }).click();
  const inviteLink = (await page.getByTestId("invite-link").textContent()).trim();
  await page.locator("[data-testid=pending-invites] .invite-email").first().waitFor();
  report.pending_invites = await page.locator("[data-testid=pending-invites] .invite-email").allTextContents();
  await page.locator("[data-testid=users] .user-email").first().waitFor();
  report.users_listed = await page.locator("[data-testid=users] .user-email").allTextContents();
  await page.screenshot({ path: `${outDir}/dashboard-settings.png`, fullPage: true });
  await page.getByRole("link", { name: "Overview", exact: true }).click();
  await page.getByTestId("metric-pageviews").filter({ hasNotText: "–" }).waitFor();

  // Phone width and dark mode.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.emulateMedia({ colorScheme: "dark" });
  await page.screenshot({ path: `${outDir}/dashboard-overview-phone-dark.png`, fullPage: true });
  report.no_horizontal_scroll = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1);

  // Log out: back to the login form.
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("heading", { name: "Log in to Tally" }).waitFor();
  report.logged_out = true;
  await page.screenshot({ path: `${outDir}/dashboard-login.png` });

  // Sign-up is open by default: a second person registers and starts with no
  // projects (Ada's are not theirs) and a hint what to do.
  await page.getByRole("link", { name: "Create an account" }).click();
  await page.getByLabel("Email").fill("bob@example.com");
  await page.getByLabel("Password").fill("another good password");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { name: "Projects" }).waitFor();
  report.registered_hint = await shows(page.locator("p.empty"));
  report.registered_projects = await page.locator(".cards .big").count();

  // Carol follows her invitation: she signs up through it and lands in the
  // project she was invited to.
  const invited = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  invited.setDefaultTimeout(90000);
  const carol = await invited.newPage();
  watch(carol);
  await carol.goto(inviteLink);
  await carol.getByTestId("invite-note").waitFor();
  await carol.getByRole("link", { name: "Create an account" }).click();
  await carol.getByLabel("Email").fill("carol@example.com");
  await carol.getByLabel("Password").fill("carol's good password");
  await carol.getByRole("button", { name: "Create account" }).click();
  await carol.getByRole("heading", { name: "Projects" }).waitFor();
  await carol.locator(".cards .big").first().waitFor();
  report.invited_projects = await carol.locator(".cards .big").allTextContents();
  await invited.close();
} catch (e) {
  // Which screen a failed step was on is half the diagnosis.
  for (const [c, context] of browser.contexts().entries()) {
    for (const [i, p] of context.pages().entries()) {
      const name = `dashboard-failure-${c}-${i}.png`;
      await p.screenshot({ path: `${outDir}/${name}`, fullPage: true }).catch(() => {});
      console.error(`failed on ${p.url()} (screenshot ${name})`);
    }
  }
  throw e;
} finally {
  await browser.close();
  site.close();
}
console.log(JSON.stringify(report));
process.exit(failed ? 1 : 0);
