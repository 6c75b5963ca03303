// What the dashboard's browser tests share: the browser, a watched page,
// signing in, page sizes, where screenshots go, the accessibility check and
// the two-width screenshot.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
export const SHOTS = new URL("../../test-results/dashboard/", import.meta.url).pathname;
export const DESKTOP = { width: 1280, height: 860 };
export const PHONE = { width: 375, height: 812 };

/** axe-core on the page as it is: no serious or critical violation. */
export async function assertAccessible(page, what) {
  // Evaluated over the DevTools protocol, which the page's CSP does not govern.
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")) }));
  });
  const bad = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad, [], `${what}: ${JSON.stringify(bad)}`);
}

/** Screenshots at desktop width and at 375 px; the page must not scroll sideways at 375. */
export async function shoot(page, name) {
  await page.screenshot({ path: `${SHOTS}${name}-desktop.png`, fullPage: true });
  await page.setViewportSize(PHONE);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await page.screenshot({ path: `${SHOTS}${name}-375.png`, fullPage: true });
  await page.setViewportSize(DESKTOP);
  assert.ok(overflow <= 0, `${name}: ${overflow}px wider than 375`);
}

/** Debian's chromium, driven by playwright-core. */
export async function launchBrowser() {
  const executablePath = execFileSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).trim();
  return chromium.launch({ executablePath, args: ["--no-sandbox"] });
}

/**
 * A page at desktop width showing `url`, in a new context that `prepare` may
 * set up first; CSP violations and page errors are pushed to `problems`.
 */
export async function openPage(browser, url, problems, prepare = async () => {}) {
  const context = await browser.newContext({ viewport: DESKTOP });
  await prepare(context);
  const page = await context.newPage();
  page.on("console", (message) => {
    if (/Content.Security.Policy|Refused to/i.test(message.text())) problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  await page.goto(url);
  return page;
}

/** Signs in with `token` on the sign-in page and waits for the signed-in page. */
export async function signIn(page, token) {
  await page.getByLabel("Admin token or API key").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}
