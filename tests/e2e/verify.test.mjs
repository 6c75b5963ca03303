// POST /v1/keys/verify and /healthz against the built worker in workerd.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { answeredEarly, startWorker, seedKey, makeKey } from "./fixture.mjs";

let worker;
before(async () => {
  worker = await startWorker({ vars: { KEY_HEADERS: "X-API-Key, X-TLM-Key" } });
});
after(() => worker?.stop());

const verify = (json, headers) => worker.call("POST", "/v1/keys/verify", { json, headers });

test("healthz answers without a credential", async () => {
  const { status, body } = await worker.call("GET", "/healthz");
  assert.equal(status, 200);
  assert.equal(body.ok, true);
  assert.equal(body.environment, "live");
  assert.match(body.version, /^\d+\.\d+\.\d+$/);
});

test("answers keep their own headers when the worker remembers repeated header sets", async () => {
  // runtime.js keeps a header set seen twice as a Headers object: each answer
  // must still carry exactly its own headers, however they interleave.
  for (let round = 0; round < 3; round++) {
    const health = await worker.call("GET", "/healthz");
    assert.equal(health.status, 200);
    assert.equal(health.headers.get("content-type"), "application/json");
    assert.equal(health.headers.get("allow"), null);
    const refused = await worker.call("DELETE", "/healthz");
    assert.equal(refused.status, 405);
    assert.equal(refused.headers.get("allow"), "GET, HEAD");
    const unknown = await verify({}, { "x-api-key": makeKey() });
    assert.equal(unknown.status, 200);
    assert.equal(unknown.headers.get("allow"), null);
    assert.equal(unknown.headers.get("cache-control"), "no-store");
  }
});

test("a seeded key is valid in the body, as a bearer token and in every key header", async () => {
  const { key, record } = await seedKey(worker.kv, { scopes: ["bots:read"] });
  const answers = [
    await verify({ key }),
    await verify({}, { authorization: `Bearer ${key}` }),
    await verify({}, { "x-api-key": key }),
    await verify({}, { "X-TLM-Key": key }),
  ];
  for (const { status, body } of answers) {
    assert.equal(status, 200);
    assert.equal(body.valid, true, JSON.stringify(body));
    assert.equal(body.code, "VALID");
    assert.equal(body.key_id, record.id);
    assert.equal(body.project, "acme");
    assert.deepEqual(body.scopes, ["bots:read"]);
    assert.equal(body.environment, "live");
  }
});

test("unknown, mistyped and test-environment keys are INVALID_API_KEY", async () => {
  const { key } = await seedKey(worker.kv);
  const mistyped = key.slice(0, 20) + (key[20] === "x" ? "y" : "x") + key.slice(21);
  const testKey = (await seedKey(worker.kv, { environment: "test", key: makeKey("test") })).key;
  for (const presented of [makeKey(), mistyped, testKey, "sk_live_nope", "not a key"]) {
    const { status, body } = await verify({ key: presented });
    assert.equal(status, 200);
    assert.equal(body.valid, false);
    assert.equal(body.code, "INVALID_API_KEY", presented);
    if (presented.length > 20) {
      assert.ok(!JSON.stringify(body).includes(presented.slice(8)), "the key is never echoed");
    }
  }
});

test("expired and inactive keys say so", async () => {
  const expired = await seedKey(worker.kv, { expires_at: Date.now() - 1000 });
  assert.equal((await verify({ key: expired.key })).body.code, "API_KEY_EXPIRED");
  const inactive = await seedKey(worker.kv, { status: "inactive" });
  assert.equal((await verify({ key: inactive.key })).body.code, "API_KEY_DISABLED");
});

test("scopes grant as the contract says", async () => {
  const cases = [
    [["bots:read"], "bots:write", false],
    [["admin"], "billing:delete", true],
    [["bots:*"], "bots:delete", true],
    [["bots:*"], "users:read", false],
    [["bots:write"], "bots:read", true],
    [["bots:write"], "bots:delete", false],
  ];
  for (const [scopes, scope, granted] of cases) {
    const { key } = await seedKey(worker.kv, { scopes });
    const { body } = await verify({ key, scope });
    assert.equal(body.valid, granted, `${scopes} → ${scope}: ${JSON.stringify(body)}`);
    if (!granted) {
      assert.equal(body.code, "INSUFFICIENT_PERMISSIONS");
      assert.equal(body.required_scope, scope);
    }
  }
});

test("two different keys are ambiguous; none is missing", async () => {
  const one = (await seedKey(worker.kv)).key;
  const two = (await seedKey(worker.kv)).key;
  const both = await verify({}, { authorization: `Bearer ${one}`, "x-api-key": two });
  assert.equal(both.body.code, "AMBIGUOUS_CREDENTIALS");
  assert.equal((await verify({})).body.code, "MISSING_API_KEY");
});

test("malformed bodies are 400 with the contract's error", async () => {
  const broken = await worker.call("POST", "/v1/keys/verify", { body: '{"key":' });
  assert.equal(broken.status, 400);
  assert.equal(broken.body.error.code, "INVALID_JSON");
  assert.equal(broken.headers.get("content-type"), "application/json");
  const wrongType = await verify({ key: 42 });
  assert.equal(wrongType.status, 400);
  assert.equal(wrongType.body.error.code, "VALIDATION_ERROR");
  assert.equal(wrongType.body.error.field, "key");
  const huge = await answeredEarly(() => worker.call("POST", "/v1/keys/verify", { body: "x".repeat(70 * 1024) }));
  assert.equal(huge.status, 413);
  assert.equal(huge.body.error.code, "PAYLOAD_TOO_LARGE");
  assert.equal(huge.body.error.limit_bytes, 65536);
});

test("unknown routes and wrong methods are JSON errors", async () => {
  const missing = await worker.call("GET", "/nothing-here");
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, "NOT_FOUND");
  const wrong = await worker.call("GET", "/v1/keys/verify");
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("allow"), "POST");
});

test("a bad variable is a CONFIG_ERROR naming it, reported by healthz", async () => {
  const broken = await startWorker({ vars: { KEY_HEADERS: "Bad Header", ENVIRONMENT: "prod" } });
  try {
    const health = await broken.call("GET", "/healthz");
    assert.equal(health.status, 500);
    assert.equal(health.body.ok, false);
    assert.ok(health.body.error.problems.some((p) => p.startsWith("KEY_HEADERS")));
    assert.ok(health.body.error.problems.some((p) => p.startsWith("ENVIRONMENT")));
    const verified = await broken.call("POST", "/v1/keys/verify", { json: { key: makeKey() } });
    assert.equal(verified.status, 500);
    assert.equal(verified.body.error.code, "CONFIG_ERROR");
    assert.match(verified.body.error.message, /KEY_HEADERS/);
  } finally {
    await broken.stop();
  }
});
