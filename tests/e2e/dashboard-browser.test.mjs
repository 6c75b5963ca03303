// The dashboard in a real browser: Debian's chromium driven by playwright-core,
// against the built worker and its assets in Miniflare. Every page is checked
// with axe-core and photographed at desktop width and at 375 px under
// test-results/dashboard/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { assertAccessible, launchBrowser, openPage, shoot, signIn, DESKTOP, SHOTS } from "./browser.mjs";
import { startWorker, ADMIN_TOKEN } from "./fixture.mjs";


let worker;
let browser;
let dashboard;
let csp = [];

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  worker = await startWorker({ port: 0, quiet: true });
  dashboard = new URL("/dashboard/", worker.url).href;
  browser = await launchBrowser();
  // A project with keys, so the project picker has something to show.
  await worker.createKey("acme", { name: "acme-ci", scopes: ["bots:read"] });
});
after(async () => {
  await browser?.close();
  await worker?.stop();
});

/** A page on the dashboard, allowed to use the clipboard. */
const newPage = () =>
  openPage(browser, dashboard, csp, (context) =>
    context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(dashboard).origin }),
  );

async function verify(key, scope) {
  const answer = await worker.call("POST", "/v1/keys/verify", { json: scope ? { key, scope } : { key } });
  assert.equal(answer.status, 200);
  return answer.body;
}

test("a wrong token shows a clear error and is not kept", async () => {
  const page = await newPage();
  await assertAccessible(page, "sign-in");
  await shoot(page, "sign-in");
  await page.getByLabel("Admin token or API key").fill("not-the-admin-token-000");
  await page.getByRole("button", { name: "Sign in" }).click();
  const alert = page.getByRole("alert");
  await alert.waitFor();
  const text = await alert.innerText();
  assert.match(text, /Sign-in failed/);
  const refusal = await worker.call("GET", "/v1/projects", { headers: { authorization: "Bearer not-the-admin-token-000" } });
  assert.ok(text.includes(refusal.body.error.message), `${text} names ${refusal.body.error.message}`);
  assert.equal(await page.evaluate(() => sessionStorage.length + localStorage.length), 0);
  await shoot(page, "sign-in-error");
  await page.context().close();
});

test("an admin manages a key end to end, and the audit log lists each step", async () => {
  const page = await newPage();
  await signIn(page, ADMIN_TOKEN);
  // The token is in sessionStorage only.
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  assert.deepEqual(await page.evaluate(() => Object.values(sessionStorage)), [ADMIN_TOKEN]);

  // Projects: the picker lists acme; open a new project by its id.
  await page.getByRole("link", { name: "acme" }).waitFor();
  await assertAccessible(page, "projects");
  await shoot(page, "projects");
  await page.getByLabel("Project", { exact: true }).fill("shop");
  await page.getByRole("button", { name: "Open project" }).click();
  await page.getByText("No keys in this project yet.").waitFor();
  await assertAccessible(page, "keys (empty)");

  // Create: the scope grammar is checked as one types.
  const createButton = page.getByRole("button", { name: "Create key" });
  await createButton.click();
  const dialog = page.getByRole("dialog");
  await dialog.getByLabel("Name", { exact: true }).fill("checkout");
  await dialog.getByLabel("Scopes").fill("Orders:write");
  await dialog.getByText("“Orders:write” is not a scope").waitFor();
  await dialog.getByLabel("Scopes").fill("orders:write");
  assert.equal(await dialog.locator(".invalid").count(), 0);
  await dialog.getByLabel("Meta (JSON object)").fill('{"team":"payments"}');
  await assertAccessible(page, "create dialog");
  await shoot(page, "create-dialog");
  await dialog.getByRole("button", { name: "Create" }).click();
  const secretBox = dialog.locator("[data-secret]");
  await secretBox.waitFor();
  const secret = await secretBox.innerText();
  assert.match(secret, /^sk_live_[0-9A-Za-z]{43}$/);
  await dialog.getByText("It will not be shown again").waitFor();
  await assertAccessible(page, "secret dialog");
  await shoot(page, "secret-dialog");

  // The secret works, and x:write includes x:read.
  assert.equal((await verify(secret, "orders:read")).valid, true);

  await dialog.getByRole("button", { name: "Copy" }).click();
  await dialog.getByText("Copied to the clipboard.").waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
  await dialog.getByRole("button", { name: "Done" }).click();
  await dialog.waitFor({ state: "detached" });
  // Focus is back where it was, and the secret is nowhere in the page or its storage.
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Create key");
  const traces = await page.evaluate(() => ({
    html: document.documentElement.outerHTML,
    text: document.body.innerText,
    values: [...document.querySelectorAll("input, textarea")].map((e) => e.value).join("\n"),
    local: JSON.stringify({ ...localStorage }),
    session: JSON.stringify({ ...sessionStorage }),
  }));
  for (const [where, text] of Object.entries(traces)) {
    assert.ok(!text.includes(secret), `the secret is still in ${where}`);
    assert.ok(!text.includes(secret.slice(12)), `part of the secret is still in ${where}`);
  }

  // The keys table: masked key, badges, status.
  const row = page.getByRole("row", { name: /checkout/ });
  await row.waitFor();
  await row.getByText(`${secret.slice(0, 12)}••••••••`).waitFor();
  await row.getByText("orders:write").waitFor();
  await assertAccessible(page, "keys");
  await shoot(page, "keys");

  // Key detail: every field, usage, audit trail.
  await row.getByRole("link", { name: "checkout" }).click();
  await page.getByRole("heading", { name: "checkout" }).waitFor();
  const keyId = page.url().split("/keys/")[1];
  await page.getByRole("img", { name: /checks in the last 7 days/ }).waitFor();
  await page.getByRole("heading", { name: "Audit trail" }).waitFor();
  await page.getByRole("cell", { name: "key.created" }).waitFor();

  // Keyboard only: the dialog takes focus, Escape closes it, focus comes back.
  const edit = page.getByRole("button", { name: "Edit", exact: true });
  await edit.focus();
  await page.keyboard.press("Enter");
  await page.getByRole("dialog").waitFor();
  assert.equal(await page.evaluate(() => !!document.activeElement?.closest("dialog")), true);
  await page.keyboard.press("Escape");
  await page.getByRole("dialog").waitFor({ state: "detached" });
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Edit");

  // Edit the scopes: the key no longer grants orders:read.
  await edit.click();
  await page.getByRole("dialog").getByLabel("Scopes").fill("billing:read");
  await assertAccessible(page, "edit dialog");
  await shoot(page, "edit-dialog");
  await page.getByRole("dialog").getByRole("button", { name: "Save" }).click();
  await page.getByRole("dialog").waitFor({ state: "detached" });
  await page.getByText("Saved.").waitFor();
  const narrowed = await verify(secret, "orders:read");
  assert.equal(narrowed.code, "INSUFFICIENT_PERMISSIONS");

  // A change by someone else in between: 412, explained.
  await edit.click();
  const patched = await worker.call("PATCH", `/v1/projects/shop/keys/${keyId}`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    json: { meta: { team: "payments", by: "someone else" } },
  });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  await page.getByRole("dialog").getByLabel("Name", { exact: true }).fill("checkout-2");
  await page.getByRole("dialog").getByRole("button", { name: "Save" }).click();
  await page.getByRole("dialog").getByText("changed by someone else").waitFor();
  await shoot(page, "edit-conflict");
  await page.getByRole("dialog").getByRole("button", { name: "Reload" }).click();
  await page.getByRole("dialog").waitFor({ state: "detached" });
  await page.getByText('"by": "someone else"').waitFor();

  // The key's allowed IPs: any address, then the list a PATCH set.
  const allowedIps = page.locator("dt", { hasText: "Allowed IPs" }).locator("xpath=following-sibling::dd");
  assert.equal(await allowedIps.textContent(), "any address");
  const allowlist = ["203.0.113.0/24", "2001:db8::/32"];
  const listed = await worker.call("PATCH", `/v1/projects/shop/keys/${keyId}`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    json: { allowed_ips: allowlist },
  });
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  await page.reload();
  await allowedIps.getByText("2001:db8::/32").waitFor();
  assert.deepEqual(await allowedIps.locator("code").allTextContents(), allowlist);
  await worker.call("PATCH", `/v1/projects/shop/keys/${keyId}`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    json: { allowed_ips: null },
  });
  await page.reload();
  await page.getByRole("heading", { name: "checkout" }).waitFor();

  // Deactivate.
  await edit.click();
  await page.getByRole("dialog").getByLabel("Status", { exact: true }).selectOption("inactive");
  await page.getByRole("dialog").getByRole("button", { name: "Save" }).click();
  await page.getByRole("dialog").waitFor({ state: "detached" });
  assert.equal((await verify(secret)).code, "API_KEY_DISABLED");
  await page.getByText("inactive", { exact: true }).first().waitFor();
  await assertAccessible(page, "key detail");
  await shoot(page, "key-detail");

  // Rotate, with a grace choice; the new secret is shown once.
  await page.getByRole("button", { name: "Rotate" }).click();
  await page.getByRole("dialog").getByLabel("1 hour").check();
  await assertAccessible(page, "rotate dialog");
  await page.getByRole("dialog").getByRole("button", { name: "Rotate" }).click();
  const rotatedBox = page.getByRole("dialog").locator("[data-secret]");
  await rotatedBox.waitFor();
  const successor = await rotatedBox.innerText();
  assert.notEqual(successor, secret);
  await page.getByRole("dialog").getByRole("button", { name: "Done" }).click();
  // Not copied: Done asks once more.
  await page.getByRole("dialog").getByText("You have not copied the key").waitFor();
  await page.getByRole("dialog").getByRole("button", { name: "Done" }).click();
  await page.getByRole("dialog").waitFor({ state: "detached" });
  assert.ok(!(await page.content()).includes(successor));
  // The successor inherits the inactive status: a known key, not an unknown one.
  const inherited = await verify(successor);
  assert.equal(inherited.code, "API_KEY_DISABLED");
  await page.waitForURL((url) => !url.href.endsWith(keyId));
  const successorId = page.url().split("/keys/")[1];
  await page.getByRole("link", { name: keyId }).waitFor();

  // Delete asks for the name.
  await page.getByRole("button", { name: "Delete" }).click();
  const confirm = page.getByRole("dialog").getByRole("button", { name: "Delete" });
  assert.equal(await confirm.isDisabled(), true);
  await page.getByRole("dialog").getByLabel(/Type the key's name/).fill("checkout");
  await assertAccessible(page, "delete dialog");
  await shoot(page, "delete-dialog");
  await confirm.click();
  await page.getByRole("dialog").waitFor({ state: "detached" });
  assert.equal((await verify(successor)).code, "INVALID_API_KEY");

  // The audit log lists each step, and filters by action and key.
  await page.getByRole("link", { name: "Audit log" }).click();
  await page.getByRole("heading", { name: /Audit log/ }).waitFor();
  await page.getByRole("cell", { name: "key.deleted" }).waitFor();
  const actions = await page.locator("table.audit td[data-label=Action]").allInnerTexts();
  assert.deepEqual(
    [...new Set(actions)].sort(),
    ["key.created", "key.deleted", "key.rotated", "key.updated"],
  );
  assert.ok(actions.filter((a) => a === "key.updated").length >= 3, actions.join());
  await assertAccessible(page, "audit");
  await shoot(page, "audit");
  await page.getByLabel("Action").selectOption("key.rotated");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForFunction(() => {
    const cells = [...document.querySelectorAll("table.audit td[data-label=Action]")];
    return cells.length > 0 && cells.every((td) => td.textContent === "key.rotated");
  });
  assert.equal(await page.locator("table.audit tbody tr").count(), 1);
  await page.getByLabel("Action").selectOption("");
  await page.getByLabel("Key id").fill(keyId);
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForFunction(() => document.querySelectorAll("table.audit tbody tr").length === 7);
  assert.deepEqual(await page.locator("table.audit td[data-label=Action]").allInnerTexts(), [
    "key.rotated",
    "key.updated",
    "key.updated",
    "key.updated",
    "key.updated",
    "key.updated",
    "key.created",
  ]);
  // The successor's own trail: its deletion (a rotation is recorded on the old key, naming the new one).
  await page.getByLabel("Key id").fill(successorId);
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForFunction(() => document.querySelectorAll("table.audit tbody tr").length === 1);
  assert.deepEqual(await page.locator("table.audit td[data-label=Action]").allInnerTexts(), ["key.deleted"]);

  // Sign out forgets the token.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Admin token or API key").waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length + localStorage.length), 0);
  await page.context().close();
  assert.deepEqual(csp, [], "no CSP violation or page error");
});

test("a keys:read key sees its own project read-only and cannot create", async () => {
  const reader = await worker.createKey("acme", { name: "auditor", scopes: ["keys:read"] });
  const page = await newPage();
  await signIn(page, reader.key);
  await page.getByRole("row", { name: /acme-ci/ }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Create key" }).count(), 0);
  await page.getByText("Read-only").first().waitFor();
  // Another project's address shows its own project instead.
  await page.goto(dashboard + "#/p/shop");
  await page.getByRole("heading", { name: /Keys in acme/ }).waitFor();
  await page.getByRole("link", { name: "acme-ci" }).click();
  await page.getByRole("heading", { name: "acme-ci" }).waitFor();
  for (const name of ["Edit", "Rotate", "Delete"]) {
    assert.equal(await page.getByRole("button", { name, exact: true }).count(), 0, name);
  }
  await assertAccessible(page, "read-only key detail");
  await shoot(page, "read-only");
  await page.context().close();
  assert.deepEqual(csp, [], "no CSP violation or page error");
});

test("a key of a deployment's own KEY_PREFIX signs in too", async () => {
  const own = await startWorker({ port: 0, quiet: true, vars: { KEY_PREFIX: "kg" } });
  try {
    const reader = await own.createKey("acme", { name: "reader", scopes: ["keys:read"] });
    assert.match(reader.key, /^kg_live_/);
    const page = await (await browser.newContext({ viewport: DESKTOP })).newPage();
    await page.goto(new URL("/dashboard/", own.url).href);
    await signIn(page, reader.key);
    await page.getByRole("row", { name: /reader/ }).getByText(`${reader.key.slice(0, 12)}••••••••`).waitFor();
    await page.context().close();
  } finally {
    await own.stop();
  }
});
