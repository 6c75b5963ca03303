// A crafted dashboard link (reproducer from an attacker review): a key id that
// climbs out of /keys/ must not steer the signed-in user's credential elsewhere.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Response } from "miniflare";
import { launchBrowser } from "./browser.mjs";
import { startWorker } from "./fixture.mjs";

const received = [];
let worker, browser, victim;

before(async () => {
  worker = await startWorker({
    port: 0,
    quiet: true,
    vars: { ORIGIN: "https://origin.test" },
    outbound: async (request) => {
      received.push({ method: request.method, url: request.url, key: request.headers.get("x-keygate-key-id") });
      return new Response("{}", { headers: { "content-type": "application/json" } });
    },
  });
  victim = await worker.createKey("acme", { name: "ops", scopes: ["keys:read", "files:read"] });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await worker?.stop();
});

test("a crafted #/p/acme/keys/<id> link stays inside /v1/projects/acme/keys/", async () => {
  const page = await (await browser.newContext()).newPage();
  await page.goto(new URL("/dashboard/", worker.url).href);
  await page.getByLabel("Admin token or API key").fill(victim.key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: /Keys/ }).waitFor();
  received.length = 0;
  // The link an attacker sends: the key id is `../../acme/files/report`.
  await page.goto(new URL("/dashboard/#/p/acme/keys/..%2F..%2Facme%2Ffiles%2Freport", worker.url).href);
  await page.waitForTimeout(1500);
  assert.deepEqual(received, [], "the origin received the victim's requests");
});
