// Opens Tally's API reference (/api/v1/docs) in Debian's headless Chromium with
// playwright-core, enters a personal API key, sends GET /api/v1/auth/me from the
// page and prints one JSON line: {"operations": n, "status": s, "body": text}.
// Run by ../api_docs.rs:
//
//   node api_docs.mjs TALLY_URL KEY SCREENSHOT_PATH
//
// Page errors, console errors (a CSP violation is one) and failed requests make
// the exit code 1.

import { launchChromium } from "./chromium.mjs";

const [tallyUrl, key, screenshot] = process.argv.slice(2);
if (!tallyUrl || !key || !screenshot) {
  console.error("usage: node api_docs.mjs TALLY_URL KEY SCREENSHOT_PATH");
  process.exit(2);
}
const browser = await launchChromium();
let failed = false;
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => { failed = true; console.error("page error:", e.message); });
  page.on("console", (m) => {
    if (m.type() === "error") { failed = true; console.error("console error:", m.text()); }
  });
  page.on("requestfailed", (r) => { failed = true; console.error("request failed:", r.url()); });
  await page.goto(`${tallyUrl}/api/v1/docs`);
  await page.waitForSelector("main[data-operations]");
  const operations = Number(await page.getAttribute("main", "data-operations"));
  await page.fill("#key", key);
  await page.dispatchEvent("#key", "change");
  await page.fill("#filter", "auth/me");
  const me = page.locator('details.op[data-route="GET /api/v1/auth/me"]');
  await me.locator("summary").click();
  await me.locator("button.send").click();
  const out = me.locator("pre.response");
  await out.and(page.locator("[data-status]")).waitFor();
  const status = Number(await out.getAttribute("data-status"));
  const body = await out.textContent();
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ operations, status, body }));
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
