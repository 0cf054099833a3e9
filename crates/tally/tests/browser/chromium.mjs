// Debian's Chromium, headless, as every browser test starts it: no sandbox
// (root in CI), and none of Chromium's own network chatter, which this
// machine's closed network refuses (CHROMIUM overrides the binary).
import { chromium } from "playwright-core";

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}
