// Leaked keys and failed event notifications in the dashboard, in a real
// browser (Debian's chromium, playwright-core) against the built worker in
// Miniflare. Both are produced the way the system produces them: a leak
// report signed like GitHub's and checked against a public-key document from
// a local server, and notifications that a local receiver refuses until they
// reach the dead-letter queue. Pages are checked with axe-core and
// photographed at 1280 and 375 px under test-results/dashboard/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, sign } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { assertAccessible, launchBrowser, openPage, shoot, signIn, SHOTS } from "./browser.mjs";
import { Webhook } from "standardwebhooks";
import { startWorker, eventually, ADMIN_TOKEN } from "./fixture.mjs";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const LEAK_URL = "https://github.com/o/r/blob/x";
const root = { authorization: `Bearer ${ADMIN_TOKEN}` };

// GitHub's side: a P-256 key pair whose public half the local server publishes.
const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const KEYS_DOCUMENT = JSON.stringify({
  public_keys: [{ key_identifier: "k1", key: publicKey.export({ type: "spki", format: "pem" }), is_current: true }],
});

/** What the receiver got: every POST to /hook, with the status it answered. */
const received = [];
let hookStatus = 500;
let server, worker, browser, dashboard;
let csp = [];

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      if (request.method === "GET" && request.url === "/keys") {
        response.writeHead(200, { "content-type": "application/json" }).end(KEYS_DOCUMENT);
      } else if (request.method === "POST" && request.url === "/hook") {
        received.push({ headers: request.headers, body: Buffer.concat(chunks).toString(), status: hookStatus });
        response.writeHead(hookStatus).end(hookStatus < 300 ? "ok" : "down");
      } else {
        response.writeHead(404).end();
      }
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const local = `http://127.0.0.1:${server.address().port}`;
  worker = await startWorker({
    port: 0,
    quiet: true,
    // The worker's own fetches (the key document, the notifications) reach the local server.
    outbound: null,
    // No retry: a refused notification goes to the dead-letter queue at once.
    queueRetries: 0,
    vars: {
      EVENTS_URL: `${local}/hook`,
      EVENTS_SECRET: SECRET,
      EVENTS_RETRY_SECONDS: "1",
      SECRET_SCANNING_KEYS_URL: `${local}/keys`,
    },
  });
  dashboard = new URL("/dashboard/", worker.url).href;
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await worker?.stop();
  server?.close();
});

const newPage = () => openPage(browser, dashboard, csp);

/** A leak report as GitHub sends it: the raw body signed with ECDSA P-256 / SHA-256 (DER, base64). */
async function reportLeak(tokens) {
  const body = JSON.stringify(
    tokens.map((token) => ({ token, type: "keygate_api_key", url: LEAK_URL, source: "content" })),
  );
  const signature = sign("sha256", Buffer.from(body), privateKey).toString("base64");
  return worker.call("POST", "/v1/secret-scanning/github", {
    headers: {
      "content-type": "application/json",
      "github-public-key-identifier": "k1",
      "github-public-key-signature": signature,
    },
    body,
  });
}

/** The failed event of `type` about `keyId` in `project`, once it is listed (through the API). */
function failedEvent(project, keyId, type = "key.created") {
  return eventually(async () => {
    const answer = await worker.call("GET", `/v1/projects/${project}/events?status=failed&limit=100`, { headers: root });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const event = answer.body.events.find((e) => e.type === type && e.data.key_id === keyId);
    assert.ok(event, `no failed ${type} of ${keyId} yet`);
    return event;
  }, 30_000);
}

test("a key that a leak report named shows Leaked in the list and on its page, with where it was found", async () => {
  const leaked = await worker.createKey("leaky", { name: "laptop", scopes: ["bots:read"] });
  await worker.createKey("leaky", { name: "clean", scopes: ["bots:read"] });
  const report = await reportLeak([leaked.key]);
  assert.equal(report.status, 200, JSON.stringify(report.body));
  assert.equal(report.body[0].label, "true_positive");
  const key = (await worker.call("GET", `/v1/projects/leaky/keys/${leaked.id}`, { headers: root })).body;
  assert.equal(key.leaked.url, LEAK_URL);
  assert.equal(key.status, "inactive", "LEAKED_KEY_ACTION's default deactivates it");

  const page = await newPage();
  await signIn(page, ADMIN_TOKEN);
  await page.goto(dashboard + "#/p/leaky");
  // The list: the badge is a word in the status cell of that key's row only.
  const row = page.getByRole("row", { name: /laptop/ });
  await row.waitFor();
  assert.match(await row.locator("td[data-label=Status]").innerText(), /inactive\s*Leaked/);
  const clean = page.getByRole("row", { name: /clean/ });
  assert.doesNotMatch(await clean.locator("td[data-label=Status]").innerText(), /Leaked/);
  await assertAccessible(page, "keys with a leaked key");
  await shoot(page, "keys-leaked");

  // The key's page: the badge by its status, and when, where and how it was found.
  await row.getByRole("link", { name: "laptop" }).click();
  await page.getByRole("heading", { name: "laptop", exact: true }).waitFor();
  const status = page.locator("dl.fields div", { has: page.locator("dt", { hasText: /^Status$/ }) });
  assert.match(await status.locator("dd").innerText(), /inactive\s*Leaked/);
  const notice = page.getByRole("region", { name: /This key was found in public/ });
  await notice.waitFor();
  assert.match(await notice.innerText(), /deactivated/);
  const link = notice.getByRole("link", { name: LEAK_URL });
  assert.equal(await link.getAttribute("href"), LEAK_URL);
  assert.equal(await link.getAttribute("rel"), "noopener noreferrer");
  const fact = (name) => notice.locator("div", { has: page.locator("dt", { hasText: name }) }).locator("dd").innerText();
  assert.equal(await fact("Source"), "content");
  assert.equal(await fact("Found"), `${key.leaked.at.slice(0, 16).replace("T", " ")} UTC`);
  // The audit trail names the report's actor.
  const leakRow = page.getByRole("row", { name: /key\.leaked/ });
  await leakRow.waitFor();
  assert.equal(await leakRow.locator("td[data-label=By]").innerText(), "GitHub secret scanning");
  assert.match(await leakRow.locator("td[data-label=Changes]").innerText(), /found at https:\/\/github\.com\/o\/r\/blob\/x/);
  await assertAccessible(page, "leaked key detail");
  await shoot(page, "key-leaked");
  await page.context().close();
  assert.deepEqual(csp, [], "no CSP violation or page error");
});

test("failed events are listed with their key, and Retry delivers one and takes its row away", async () => {
  hookStatus = 500;
  const first = await worker.createKey("hooks", { name: "unlucky" });
  const second = await worker.createKey("hooks", { name: "unluckier" });
  const [one, two] = [await failedEvent("hooks", first.id), await failedEvent("hooks", second.id)];

  const page = await newPage();
  await signIn(page, ADMIN_TOKEN);
  await page.goto(dashboard + "#/p/hooks");
  await page.getByRole("link", { name: "Failed events" }).click();
  await page.getByRole("heading", { name: /Failed events/ }).waitFor();
  const row = page.getByRole("row", { name: new RegExp(one.id) });
  await row.waitFor();
  assert.equal(await row.locator("td[data-label=Type]").innerText(), "key.created");
  assert.equal(await row.locator("td[data-label=Failed]").innerText(), `${one.failed_at.slice(0, 16).replace("T", " ")} UTC`);
  const keyLink = row.getByRole("link", { name: first.id });
  assert.equal(await keyLink.getAttribute("href"), `#/p/hooks/keys/${first.id}`);
  assert.equal(await page.locator("table.events tbody tr").count(), 2);
  await assertAccessible(page, "failed events");
  await shoot(page, "failed-events");

  // The receiver is back: Retry sends the event again with its id, and the row goes.
  hookStatus = 200;
  await row.getByRole("button", { name: /^Retry/ }).click();
  await row.waitFor({ state: "detached" });
  await page.getByRole("status").getByText(`Queued key.created ${one.id} for delivery again.`).waitFor();
  // The focus moves on to the next row's Retry, not to the page's top.
  await page.waitForFunction((label) => document.activeElement?.getAttribute("aria-label") === label, `Retry key.created ${two.id}`);
  const delivered = await eventually(() => {
    const hit = received.find((r) => r.headers["webhook-id"] === one.id && r.status === 200);
    assert.ok(hit, "the retried event has not arrived");
    return hit;
  }, 30_000);
  const event = new Webhook(SECRET).verify(delivered.body, delivered.headers);
  assert.equal(event.type, "key.created");
  assert.equal(event.data.key_id, first.id);
  const listed = await worker.call("GET", "/v1/projects/hooks/events?status=failed", { headers: root });
  assert.ok(!listed.body.events.some((e) => e.id === one.id), "no longer failed");

  // An event retried elsewhere meanwhile: its Retry says so and drops the row too.
  const elsewhere = await worker.call("POST", `/v1/projects/hooks/events/${two.id}/retry`, { headers: root });
  assert.equal(elsewhere.status, 202);
  await page.getByRole("button", { name: `Retry key.created ${two.id}` }).click();
  await page.getByRole("status").getByText(`${two.id} is no longer failed: it was retried already.`).waitFor();
  await page.getByText("No failed events.").waitFor();
  await page.waitForFunction(() => document.activeElement?.tagName === "H1");
  await assertAccessible(page, "failed events, empty");
  await shoot(page, "failed-events-empty");
  await page.context().close();
  assert.deepEqual(csp, [], "no CSP violation or page error");
});

test("failed events page through with the cursor", async () => {
  hookStatus = 500;
  const keys = [];
  for (let n = 0; n < 26; n++) keys.push(await worker.createKey("paged", { name: `bulk-${n}` }));
  await eventually(async () => {
    const answer = await worker.call("GET", "/v1/projects/paged/events?status=failed&limit=100", { headers: root });
    assert.equal(answer.body.events.length, 26);
  }, 60_000);
  const page = await newPage();
  await signIn(page, ADMIN_TOKEN);
  await page.goto(dashboard + "#/p/paged/events");
  await page.locator("table.events tbody tr").first().waitFor();
  assert.equal(await page.locator("table.events tbody tr").count(), 25);
  const firstPage = await page.locator("table.events td[data-label='Event id']").allInnerTexts();
  await page.getByRole("button", { name: "Next page" }).click();
  await page.waitForFunction(() => document.querySelectorAll("table.events tbody tr").length === 1);
  const secondPage = await page.locator("table.events td[data-label='Event id']").allInnerTexts();
  assert.equal(new Set([...firstPage, ...secondPage]).size, 26, "every event once over both pages");
  assert.equal(await page.getByRole("button", { name: "Next page" }).count(), 0);
  await page.getByRole("button", { name: "Previous page" }).click();
  await page.waitForFunction(() => document.querySelectorAll("table.events tbody tr").length === 25);
  await page.context().close();
  assert.deepEqual(csp, [], "no CSP violation or page error");
});

test("a key is told that failed events are the admin token's, with no link and no error", async () => {
  const reader = await worker.createKey("hooks", { name: "reader", scopes: ["keys:read"] });
  const page = await newPage();
  await signIn(page, reader.key);
  await page.getByRole("heading", { name: /Keys in hooks/ }).waitFor();
  assert.equal(await page.getByRole("link", { name: "Failed events" }).count(), 0);
  await page.goto(dashboard + "#/p/hooks/events");
  await page.getByText("Only the admin token can see and retry failed events").waitFor();
  assert.equal(await page.getByRole("alert").count(), 0);
  await assertAccessible(page, "failed events as a key");
  await shoot(page, "failed-events-key");
  await page.context().close();
  assert.deepEqual(csp, [], "no CSP violation or page error");
});
