// Recoverable keys in the dashboard, in a real browser (Debian's chromium,
// playwright-core) against the built worker in Miniflare with VAULT_KEY set:
// a recoverable key's page offers Reveal to the admin token, which shows the
// secret after a confirmation and records key.revealed; a plain key and an
// API key's session offer no Reveal. Pages are checked with axe-core and
// photographed at 1280 and 375 px under test-results/dashboard/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { assertAccessible, launchBrowser, openPage, shoot, signIn, SHOTS } from "./browser.mjs";
import { startWorker, eventually, ADMIN_TOKEN } from "./fixture.mjs";

const root = { authorization: `Bearer ${ADMIN_TOKEN}` };
let worker, browser, dashboard;
const problems = [];

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  worker = await startWorker({ port: 0, quiet: true, vars: { VAULT_KEY: randomBytes(32).toString("base64") } });
  dashboard = new URL("/dashboard/", worker.url).href;
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await worker?.stop();
});

const newPage = () => openPage(browser, dashboard, problems);

const field = (page, name) =>
  page.locator("dl.fields div", { has: page.locator("dt", { hasText: new RegExp(`^${name}$`) }) }).locator("dd");

test("the admin token reveals a recoverable key from its page, after a confirmation, and the reveal is audited", async () => {
  const kept = await worker.createKey("vaulted", { name: "kept", scopes: ["bots:read"], recoverable: true });
  const page = await newPage();
  await signIn(page, ADMIN_TOKEN);
  await page.goto(`${dashboard}#/p/vaulted/keys/${kept.id}`);
  await page.getByRole("heading", { name: "kept", exact: true }).waitFor();
  assert.match(await field(page, "Recoverable").innerText(), /^Yes/);
  assert.ok(!(await page.content()).includes(kept.key), "the page holds no secret before Reveal");

  await page.getByRole("button", { name: "Reveal" }).click();
  const dialog = page.getByRole("dialog", { name: "Reveal “kept”" });
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /key\.revealed/);
  await assertAccessible(page, "reveal confirmation");
  await shoot(page, "key-reveal-confirm");

  await dialog.getByRole("button", { name: "Reveal" }).click();
  const secret = page.locator("[data-secret]");
  await secret.waitFor();
  assert.equal(await secret.innerText(), kept.key);
  assert.match(await page.getByRole("note").innerText(), /recoverable/);
  await assertAccessible(page, "revealed secret");
  await shoot(page, "key-revealed");
  await page.getByRole("button", { name: "Done" }).click();
  await page.getByRole("button", { name: "Done" }).click();
  await secret.waitFor({ state: "detached" });
  assert.ok(!(await page.content()).includes(kept.key), "Done leaves no copy in the page");

  // The key's audit trail shows the reveal (the page reloads its events).
  await eventually(async () => {
    const audit = await worker.call("GET", "/v1/projects/vaulted/audit?action=key.revealed", { headers: root });
    assert.equal(audit.body.events.length, 1);
  });
  await page.reload();
  await page.getByRole("row", { name: /key\.revealed/ }).waitFor();
  await page.context().close();
  assert.deepEqual(problems, [], "no CSP violation or page error");
});

test("a plain key, and any key for an API key's session, offer no Reveal", async () => {
  const plain = await worker.createKey("vaulted", { name: "plain", scopes: ["bots:read"] });
  const kept = await worker.createKey("vaulted", { name: "kept2", recoverable: true });
  const writer = await worker.createKey("vaulted", { name: "writer", scopes: ["keys:write", "keys:read", "bots:read"] });
  const page = await newPage();
  await signIn(page, ADMIN_TOKEN);
  await page.goto(`${dashboard}#/p/vaulted/keys/${plain.id}`);
  await page.getByRole("heading", { name: "plain", exact: true }).waitFor();
  assert.match(await field(page, "Recoverable").innerText(), /^No/);
  assert.equal(await page.getByRole("button", { name: "Reveal" }).count(), 0);
  await page.context().close();

  const keyPage = await newPage();
  await signIn(keyPage, writer.key);
  await keyPage.goto(`${dashboard}#/p/vaulted/keys/${kept.id}`);
  await keyPage.getByRole("heading", { name: "kept2", exact: true }).waitFor();
  await keyPage.getByRole("button", { name: "Edit" }).waitFor();
  assert.equal(await keyPage.getByRole("button", { name: "Reveal" }).count(), 0);
  await keyPage.context().close();
  assert.deepEqual(problems, [], "no CSP violation or page error");
});

test("create offers Recoverable, and the new key's secret panel says it can be revealed again", async () => {
  const page = await newPage();
  await signIn(page, ADMIN_TOKEN);
  await page.goto(`${dashboard}#/p/vaulted`);
  await page.getByRole("button", { name: "Create key" }).click();
  const dialog = page.getByRole("dialog", { name: "Create key" });
  await dialog.getByLabel("Name", { exact: true }).fill("from the dashboard");
  await dialog.getByLabel("Recoverable").check();
  await dialog.getByRole("button", { name: "Create" }).click();
  const secret = page.locator("[data-secret]");
  await secret.waitFor();
  assert.match(await page.getByRole("note").innerText(), /recoverable/);
  const plaintext = await secret.innerText();
  const { body } = await worker.call("GET", "/v1/projects/vaulted/keys?q=from%20the%20dashboard", { headers: root });
  assert.equal(body.keys[0].recoverable, true);
  const revealed = await worker.call("POST", `/v1/projects/vaulted/keys/${body.keys[0].id}/reveal`, { headers: root });
  assert.equal(revealed.body.key, plaintext);
  await page.context().close();
  assert.deepEqual(problems, [], "no CSP violation or page error");
});
