// Clicks through Tally's demo site (served by `tally demo`'s router) in Debian's
// headless Chromium with playwright-core: home, video, pricing, a plan, sign-up,
// welcome, onboarding. Run by ../demo_site.rs:
//
//   node demo_site.mjs DEMO_URL SCREENSHOT
//
// Prints one JSON line: {"anonymous_id": …, "email": …}. Page errors make the exit
// code 1.

import { launchChromium } from "./chromium.mjs";

const [demo, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error("usage: node demo_site.mjs DEMO_URL SCREENSHOT");
  process.exit(2);
}
const browser = await launchChromium();
let failed = false;
const email = `demo-${Date.now()}@example.com`;
let anonymous;
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => { failed = true; console.error("page error:", e.message); });
  await page.goto(`${demo}/`);
  anonymous = await page.evaluate(() => window.tally.distinctId);
  await page.click("#watch-video");
  await page.click("#hero-cta");
  await page.waitForURL(`${demo}/pricing`);
  await page.click("a[data-plan=pro]");
  await page.waitForURL(`${demo}/signup?plan=pro`);
  await page.fill("input[name=name]", "Demo Person");
  await page.fill("input[name=email]", email);
  await page.click("#signup button");
  await page.waitForURL(`${demo}/welcome`);
  await page.click("#start");
  await page.waitForSelector("#done:not([hidden])");
  await page.evaluate(() => window.tally.flush());
  await page.screenshot({ path: screenshot });
} finally {
  await browser.close();
}
console.log(JSON.stringify({ anonymous_id: anonymous, email }));
process.exit(failed ? 1 : 0);
