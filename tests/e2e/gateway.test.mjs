// The gateway end to end: a captured origin sees only verified requests.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Response } from "miniflare";
import { startWorker } from "./fixture.mjs";

const received = [];
let worker;
let key;

before(async () => {
  worker = await startWorker({
    vars: { ORIGIN: "https://origin.test", KEY_HEADERS: "X-API-Key, X-TLM-Key" },
    outbound: async (request) => {
      received.push({
        method: request.method,
        url: request.url,
        headers: Object.fromEntries(request.headers),
        body: Buffer.from(await request.arrayBuffer()).toString(),
      });
      return new Response(JSON.stringify({ from: "origin" }), {
        status: 201,
        headers: { "content-type": "application/json", "x-origin-trace": "t-1" },
      });
    },
  });
  key = await worker.createKey("123", { name: "client", scopes: ["conversations:*"] });
});
after(() => worker?.stop());

test("a GET reaches the origin with identity headers, its query, and no credential", async () => {
  received.length = 0;
  const answer = await worker.call("GET", "/v1/projects/123/conversations?page=2&sort=-created", {
    headers: { authorization: `Bearer ${key.key}`, "x-keygate-key-id": "key_forged", accept: "application/json" },
  });
  assert.equal(answer.status, 201);
  assert.deepEqual(answer.body, { from: "origin" });
  assert.equal(answer.headers.get("x-origin-trace"), "t-1");
  assert.equal(answer.headers.get("x-ratelimit-limit"), "100");
  assert.ok(answer.headers.get("ratelimit-policy"));
  assert.equal(received.length, 1);
  const [seen] = received;
  assert.equal(seen.url, "https://origin.test/v1/projects/123/conversations?page=2&sort=-created");
  assert.equal(seen.headers["authorization"], undefined);
  assert.equal(seen.headers["x-keygate-key-id"], key.id, "the forged id is replaced");
  assert.equal(seen.headers["x-keygate-project"], "123");
  assert.equal(seen.headers["x-keygate-scopes"], "conversations:*");
  assert.equal(seen.headers["accept"], "application/json");
});

test("a POST body streams to the origin; the key header does not", async () => {
  received.length = 0;
  const body = JSON.stringify({ text: "hello", n: [1, 2, 3] });
  const answer = await worker.call("POST", "/v1/projects/123/conversations", {
    body,
    headers: { "x-tlm-key": key.key, "content-type": "application/json" },
  });
  assert.equal(answer.status, 201);
  assert.equal(received.length, 1);
  assert.equal(received[0].method, "POST");
  assert.equal(received[0].body, body);
  assert.equal(received[0].headers["x-tlm-key"], undefined);
  assert.ok(!JSON.stringify(received[0].headers).includes(key.key));
});

test("wrong project, missing scope, unknown path and no key never reach the origin", async () => {
  received.length = 0;
  const auth = { authorization: `Bearer ${key.key}` };
  const wrongProject = await worker.call("GET", "/v1/projects/456/conversations", { headers: auth });
  assert.equal(wrongProject.status, 403);
  assert.equal(wrongProject.body.error.code, "PROJECT_MISMATCH");
  const noScope = await worker.call("GET", "/v1/projects/123/bots", { headers: auth });
  assert.equal(noScope.status, 403);
  assert.equal(noScope.body.error.required_scope, "bots:read");
  const unknown = await worker.call("GET", "/somewhere/else", { headers: auth });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, "NOT_FOUND");
  const anonymous = await worker.call("GET", "/v1/projects/123/conversations");
  assert.equal(anonymous.status, 401);
  assert.equal(received.length, 0);
});

test("an unreachable origin is 502 ORIGIN_ERROR", async () => {
  const direct = await startWorker({ vars: { ORIGIN: "http://127.0.0.1:9" }, outbound: null });
  try {
    const created = await direct.createKey("123", { name: "c", scopes: ["bots:read"] });
    const answer = await direct.call("GET", "/v1/projects/123/bots", { headers: { "x-api-key": created.key } });
    assert.equal(answer.status, 502);
    assert.equal(answer.body.error.code, "ORIGIN_ERROR");
  } finally {
    await direct.stop();
  }
});

test("without ORIGIN a verified request gets the identity", async () => {
  const plain = await startWorker();
  try {
    const created = await plain.createKey("123", { name: "c", scopes: ["bots:read"] });
    const answer = await plain.call("GET", "/v1/projects/123/bots", { headers: { "x-api-key": created.key } });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { ok: true, key_id: created.id, project: "123", scopes: ["bots:read"] });
  } finally {
    await plain.stop();
  }
});
