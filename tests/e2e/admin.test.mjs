// The admin API end to end: the key lifecycle in real KV, credentials, pagination.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, seedKey, bearer, ADMIN_TOKEN } from "./fixture.mjs";

let worker;
before(async () => {
  worker = await startWorker();
});
after(() => worker?.stop());

const root = { authorization: `Bearer ${ADMIN_TOKEN}` };
const verify = async (key, scope) =>
  (await worker.call("POST", "/v1/keys/verify", { json: scope ? { key, scope } : { key } })).body;

test("the whole lifecycle: create, verify, list, patch, disable, rotate, delete", async () => {
  const created = await worker.createKey("lifecycle", { name: "svc", scopes: ["bots:write", "users:read"] });
  const path = `/v1/projects/lifecycle/keys/${created.id}`;
  assert.match(created.key, /^sk_live_[0-9A-Za-z]{43}$/);
  assert.equal((await verify(created.key, "bots:read")).valid, true);

  const listed = await worker.call("GET", "/v1/projects/lifecycle/keys", { headers: root });
  assert.equal(listed.status, 200);
  assert.equal(listed.body.keys.length, 1);
  assert.equal(listed.body.keys[0].prefix, created.key.slice(0, 12));
  assert.ok(!JSON.stringify(listed.body).includes(created.key), "listed masked");

  const patched = await worker.call("PATCH", path, { json: { scopes: ["users:read"] }, headers: root });
  assert.equal(patched.status, 200);
  const denied = await verify(created.key, "bots:read");
  assert.equal(denied.code, "INSUFFICIENT_PERMISSIONS");
  assert.equal(denied.required_scope, "bots:read");

  await worker.call("PATCH", path, { json: { status: "inactive" }, headers: root });
  assert.equal((await verify(created.key)).code, "API_KEY_DISABLED");
  await worker.call("PATCH", path, { json: { status: "active" }, headers: root });

  const rotated = await worker.call("POST", `${path}/rotate`, { json: { grace_seconds: 0 }, headers: root });
  assert.equal(rotated.status, 201);
  assert.equal(rotated.body.rotated_from, created.id);
  assert.deepEqual(rotated.body.scopes, ["users:read"]);
  assert.equal((await verify(created.key)).code, "API_KEY_EXPIRED");
  assert.equal((await verify(rotated.body.key, "users:read")).valid, true);

  const newPath = `/v1/projects/lifecycle/keys/${rotated.body.id}`;
  const deleted = await worker.call("DELETE", newPath, { headers: root });
  assert.equal(deleted.status, 204);
  assert.equal((await verify(rotated.body.key)).code, "INVALID_API_KEY");
  const gone = await worker.call("GET", newPath, { headers: root });
  assert.equal(gone.status, 404);
  assert.equal(gone.body.error.code, "KEY_NOT_FOUND");
});

test("records at every size limit reach their Durable Object whole", async () => {
  // 64 scopes of the longest names, a 100-character name and 1 KiB of meta, all
  // but ASCII where allowed: a call this big goes in a body, not the URL.
  const scopes = Array.from({ length: 64 }, (_, i) => `r${String(i).padStart(31, "0")}:${"a".repeat(32)}`);
  const big = { name: "é".repeat(100), scopes, meta: { note: "ü".repeat(500) } };
  const created = await worker.createKey("limits", big);
  assert.equal((await verify(created.key, scopes[63])).valid, true);
  const path = `/v1/projects/limits/keys/${created.id}`;
  const patched = await worker.call("PATCH", path, { json: { name: "ñ".repeat(100) }, headers: root });
  assert.equal(patched.status, 200);
  const verified = await verify(created.key, scopes[0]);
  assert.deepEqual([verified.valid, verified.scopes.length], [true, 64]);
  const read = await worker.call("GET", path, { headers: root });
  assert.deepEqual([read.body.name, read.body.meta], ["ñ".repeat(100), big.meta]);

  // A key only KV knows: the object asks for the record, which comes in a body.
  const { key } = await seedKey(worker.kv, { ...big, project: "limits" });
  const adopted = await verify(key, scopes[10]);
  assert.deepEqual([adopted.valid, adopted.scopes.length], [true, 64]);
});

test("no plaintext key appears anywhere in KV", async () => {
  const keys = [];
  for (let i = 0; i < 5; i++) keys.push((await worker.createKey("vault", { name: `k${i}`, scopes: ["a:read"] })).key);
  const secrets = keys.map((key) => key.slice(8));
  let names = 0;
  let cursor;
  do {
    const page = await worker.kv.list({ cursor });
    for (const { name, metadata } of page.keys) {
      names += 1;
      const value = await worker.kv.get(name);
      const stored = `${name} ${value} ${JSON.stringify(metadata ?? null)}`;
      for (const secret of secrets) assert.ok(!stored.includes(secret), `plaintext under ${name}`);
    }
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  assert.ok(names >= 10, "records and pointers were both read");
});

test("a keys:write key of one project cannot touch another or mint an admin key", async () => {
  const writer = await worker.createKey("alpha", { name: "alpha admin", scopes: ["keys:write", "bots:*"] });
  const foreign = await worker.call("POST", "/v1/projects/beta/keys", { json: { name: "x" }, headers: bearer(writer.key) });
  assert.equal(foreign.status, 403);
  assert.equal(foreign.body.error.code, "PROJECT_MISMATCH");
  const betaKey = await worker.createKey("beta", { name: "beta key" });
  const peek = await worker.call("GET", `/v1/projects/beta/keys/${betaKey.id}`, { headers: bearer(writer.key) });
  assert.equal(peek.status, 403);
  const mint = await worker.call("POST", "/v1/projects/alpha/keys", {
    json: { name: "escalate", scopes: ["admin"] },
    headers: bearer(writer.key),
  });
  assert.equal(mint.status, 403);
  assert.equal(mint.body.error.code, "INSUFFICIENT_PERMISSIONS");
  const allowed = await worker.createKey("alpha", { name: "bots", scopes: ["bots:read"] }, bearer(writer.key));
  assert.equal(allowed.project, "alpha");
});

test("pagination over real KV returns every key exactly once", async () => {
  const ids = [];
  for (let i = 0; i < 7; i++) ids.push((await worker.createKey("paged", { name: `p${i}` })).id);
  const seen = [];
  let cursor = null;
  let pages = 0;
  do {
    const query = cursor ? `?limit=3&cursor=${cursor}` : "?limit=3";
    const page = await worker.call("GET", `/v1/projects/paged/keys${query}`, { headers: root });
    assert.equal(page.status, 200);
    seen.push(...page.body.keys.map((key) => key.id));
    cursor = page.body.cursor;
    pages += 1;
  } while (cursor && pages < 10);
  assert.deepEqual(seen.sort(), ids.sort());
  const garbage = await worker.call("GET", "/v1/projects/paged/keys?cursor=garbage", { headers: root });
  assert.equal(garbage.status, 400);
  assert.equal(garbage.body.error.field, "cursor");
});

test("admin routes refuse missing and wrong credentials with a challenge", async () => {
  const none = await worker.call("GET", "/v1/projects/acme/keys");
  assert.equal(none.status, 401);
  assert.equal(none.body.error.code, "MISSING_API_KEY");
  assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="keygate"');
  const wrong = await worker.call("GET", "/v1/projects/acme/keys", { headers: bearer("wrong-token-0123456789") });
  assert.equal(wrong.status, 401);
  const invalid = await worker.call("POST", "/v1/projects/acme/keys", { body: "{nope", headers: root });
  assert.equal(invalid.status, 400);
  assert.equal(invalid.body.error.code, "INVALID_JSON");
});

test("the OpenAPI document is served", async () => {
  const { status, body, headers } = await worker.call("GET", "/openapi.json");
  assert.equal(status, 200);
  assert.equal(headers.get("content-type"), "application/json");
  assert.equal(body.openapi, "3.1.0");
  assert.ok(body.paths["/v1/projects/{project}/keys/{id}/rotate"].post);
});
