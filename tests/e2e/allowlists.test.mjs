// Per-key IP allowlists end to end: the built worker in workerd judges a key
// with `allowed_ips` by CF-Connecting-IP (gateway, admin API) or verify's
// `ip`, and a PATCH is in force on the very next request.
//
// What CF-Connecting-IP the worker sees locally (verified here): Miniflare's
// entry (and so `wrangler dev`, and `dispatchFetch`) sets it to the loopback
// client, 127.0.0.1, unless the request carries one, which it passes through;
// straight into workerd nobody sets it. On Cloudflare the edge sets it over
// anything the client sent.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Response } from "miniflare";
import { ADMIN_TOKEN, startWorker } from "./fixture.mjs";

const received = [];
let worker;
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

before(async () => {
  worker = await startWorker({
    port: 0,
    direct: true,
    vars: { ORIGIN: "https://origin.test" },
    outbound: async (request) => {
      received.push(Object.fromEntries(request.headers));
      return new Response(JSON.stringify({ from: "origin" }), { status: 200, headers: { "content-type": "application/json" } });
    },
  });
});
after(() => worker?.stop());

const keyPath = (key) => `/v1/projects/acme/keys/${key.id}`;

/** A gateway request with `key` through Miniflare's entry (or `to`: the direct workerd URL). */
async function gateway(key, headers = {}, to = worker.url) {
  const answer = await fetch(new URL("/v1/projects/acme/bots/1", to), {
    headers: { authorization: `Bearer ${key.key}`, ...headers },
  });
  const body = await answer.json();
  return { status: answer.status, code: body?.error?.code ?? null };
}

const REFUSED = { status: 403, code: "IP_NOT_ALLOWED" };
const PASSED = { status: 200, code: null };

test("an allowlist excluding the client refuses with IP_NOT_ALLOWED, and a PATCH widening it works on the next request", async () => {
  const key = await worker.createKey("acme", { name: "office", scopes: ["bots:read"], allowed_ips: ["192.0.2.0/24"] });
  assert.deepEqual(key.allowed_ips, ["192.0.2.0/24"]);
  const client = { "cf-connecting-ip": "203.0.113.7" };
  received.length = 0;
  assert.deepEqual(await gateway(key, client), REFUSED);
  assert.equal(received.length, 0, "the origin never saw it");
  const widened = await worker.call("PATCH", keyPath(key), {
    headers: admin,
    json: { allowed_ips: ["192.0.2.0/24", "203.0.113.0/24"] },
  });
  assert.equal(widened.status, 200, JSON.stringify(widened.body));
  assert.deepEqual(widened.body.allowed_ips, ["192.0.2.0/24", "203.0.113.0/24"]);
  assert.deepEqual(await gateway(key, client), PASSED, "in force on the very next request");
  assert.equal(received.at(-1)["x-forwarded-for"], "203.0.113.7");
  // Narrowed again: refused at once, though KV may still serve the wider copy.
  await worker.call("PATCH", keyPath(key), { headers: admin, json: { allowed_ips: ["192.0.2.0/24"] } });
  assert.deepEqual(await gateway(key, client), REFUSED);
  // Usage counts the refusals.
  const usage = await worker.call("GET", `${keyPath(key)}/usage?granularity=hour`, { headers: admin });
  const total = usage.body.series.reduce((n, entry) => n + entry.ip_not_allowed, 0);
  assert.equal(total, 2, JSON.stringify(usage.body.series));
});

test("an allowlist added to a key in use binds at once, and an IPv4-mapped client is its IPv4 address", async () => {
  const key = await worker.createKey("acme", { name: "later", scopes: ["bots:read"] });
  assert.equal(key.allowed_ips, null);
  assert.deepEqual(await gateway(key, { "cf-connecting-ip": "198.51.100.9" }), PASSED, "any address");
  await worker.call("PATCH", keyPath(key), { headers: admin, json: { allowed_ips: ["203.0.113.0/24"] } });
  assert.deepEqual(await gateway(key, { "cf-connecting-ip": "198.51.100.9" }), REFUSED);
  assert.deepEqual(await gateway(key, { "cf-connecting-ip": "::ffff:203.0.113.9" }), PASSED);
  assert.deepEqual(await gateway(key, { "cf-connecting-ip": "203.0.113.9" }), PASSED);
});

test("no other header picks the judged address, and garbage in CF-Connecting-IP is refused", async () => {
  const key = await worker.createKey("acme", { name: "forged", scopes: ["bots:read"], allowed_ips: ["203.0.113.0/24"] });
  const forged = {
    "x-forwarded-for": "203.0.113.5",
    "x-real-ip": "203.0.113.5",
    "true-client-ip": "203.0.113.5",
    forwarded: "for=203.0.113.5",
  };
  assert.deepEqual(await gateway(key, { ...forged, "cf-connecting-ip": "198.51.100.9" }), REFUSED);
  for (const garbage of ["not an address", "203.0.113.5, 198.51.100.9", "203.0.113.5:80"]) {
    assert.deepEqual(await gateway(key, { "cf-connecting-ip": garbage }), REFUSED, garbage);
  }
  // Straight into workerd nobody sets CF-Connecting-IP: no address, refused.
  assert.deepEqual(await gateway(key, forged, worker.directUrl), REFUSED);
});

test("locally Miniflare's entry gives a client without CF-Connecting-IP the loopback address", async () => {
  const key = await worker.createKey("acme", { name: "local", scopes: ["bots:read"], allowed_ips: ["127.0.0.1"] });
  assert.deepEqual(await gateway(key), PASSED, "through Miniflare (as under wrangler dev)");
  assert.deepEqual(await gateway(key, {}, worker.directUrl), REFUSED, "straight into workerd: none");
  const dispatched = await worker.call("GET", "/v1/projects/acme/bots/1", { headers: { authorization: `Bearer ${key.key}` } });
  assert.equal(dispatched.status, 200, "dispatchFetch too");
});

test("verify judges the ip its caller sends and refuses a key with an allowlist without one", async () => {
  const key = await worker.createKey("acme", { name: "backend", scopes: ["bots:read"], allowed_ips: ["2001:db8::/32"] });
  const verify = (json, headers = {}) => worker.call("POST", "/v1/keys/verify", { json, headers });
  // The backend asserts the client's address with the admin token; anyone else may not.
  const backend = { authorization: `Bearer ${ADMIN_TOKEN}` };
  assert.equal((await verify({ key: key.key, ip: "2001:db8::1" }, backend)).body.valid, true);
  const asserted = await verify({ key: key.key, ip: "2001:db8::1" });
  assert.deepEqual([asserted.status, asserted.body.error.field], [403, "ip"]);
  const outside = await verify({ key: key.key, ip: "2001:db9::1" }, backend);
  assert.deepEqual([outside.status, outside.body.valid, outside.body.code], [200, false, "IP_NOT_ALLOWED"]);
  const absent = await verify({ key: key.key }, { "cf-connecting-ip": "2001:db8::1" });
  assert.equal(absent.body.code, "IP_NOT_ALLOWED", "the verify request's own address is not the client's");
  const bad = await verify({ key: key.key, ip: "2001:db8::/32" }, backend);
  assert.deepEqual([bad.status, bad.body.error.code, bad.body.error.field], [400, "VALIDATION_ERROR", "ip"]);
  // The key as the request's own credential: judged by the request's address; `ip` refused.
  const own = (ip, json = {}) => verify(json, { authorization: `Bearer ${key.key}`, "cf-connecting-ip": ip });
  assert.equal((await own("2001:db8::2")).body.valid, true);
  assert.equal((await own("198.51.100.9")).body.code, "IP_NOT_ALLOWED");
  assert.equal((await own("198.51.100.9", { ip: "2001:db8::2" })).status, 400);
});

test("allowed_ips are validated, rotated, listed, and bound a keys:write key's keys", async () => {
  const refused = await worker.call("POST", "/v1/projects/acme/keys", {
    headers: admin,
    json: { name: "bad", allowed_ips: ["10.0.0.1/8"] },
  });
  assert.deepEqual([refused.status, refused.body.error.field], [400, "allowed_ips"]);
  const empty = await worker.call("POST", "/v1/projects/acme/keys", { headers: admin, json: { name: "bad", allowed_ips: [] } });
  assert.deepEqual([empty.status, empty.body.error.field], [400, "allowed_ips"]);

  const writer = await worker.createKey("acme", {
    name: "writer",
    scopes: ["keys:write", "keys:read", "bots:read"],
    allowed_ips: ["203.0.113.0/24"],
  });
  const asWriter = (ip) => ({ authorization: `Bearer ${writer.key}`, "cf-connecting-ip": ip });
  const wider = await worker.call("POST", "/v1/projects/acme/keys", {
    headers: asWriter("203.0.113.1"),
    json: { name: "anywhere", scopes: ["bots:read"] },
  });
  assert.deepEqual([wider.status, wider.body.error.code, wider.body.error.field], [403, "INSUFFICIENT_PERMISSIONS", "allowed_ips"]);
  const within = await worker.createKey(
    "acme",
    { name: "within", scopes: ["bots:read"], allowed_ips: ["203.0.113.128/25"] },
    asWriter("203.0.113.1"),
  );
  const fromOutside = await worker.call("GET", keyPath(within), { headers: asWriter("198.51.100.9") });
  assert.deepEqual([fromOutside.status, fromOutside.body.error.code], [403, "IP_NOT_ALLOWED"]);

  const rotated = await worker.call("POST", `${keyPath(within)}/rotate`, { headers: admin, json: {} });
  assert.equal(rotated.status, 201, JSON.stringify(rotated.body));
  assert.deepEqual(rotated.body.allowed_ips, ["203.0.113.128/25"]);
  const listed = await worker.call("GET", "/v1/projects/acme/keys?q=within", { headers: admin });
  assert.ok(listed.body.keys.length >= 1);
  for (const row of listed.body.keys) assert.deepEqual(row.allowed_ips, ["203.0.113.128/25"]);
});
