// Headers end to end: forged overrides, identities, credentials and forwarding
// headers never reach the origin, X-Forwarded-For is CF-Connecting-IP; and on
// the way back, no-store on every answer that may hold a secret, and the
// rate-limit headers of a daily quota lowered below today's count.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { makeKey, root } from "./fixture.mjs";
import { createBotsReader, folded, foldedHeaders, startRecordedWorker, BOTS } from "./security.mjs";

let worker;
/** Every request the worker sent upstream. */
let received;
/** `raw` to the worker's Miniflare port unless told `to`. */
let raw;
let port;
let ports;
let botsKey;

before(async () => {
  ({ worker, received, raw, port, ports } = await startRecordedWorker());
  botsKey = await createBotsReader(worker);
});
after(() => worker?.stop());

/** Headers a client may forge, in the spellings servers fold together. */
const FORGED = {
  "X-HTTP-Method-Override": "DELETE",
  X_HTTP_Method_Override: "DELETE",
  "X-HTTP-Method": "DELETE",
  "X-Method-Override": "DELETE",
  "X-Original-URL": "/admin",
  "X-Rewrite-URL": "/admin",
  X_Original_URL: "/admin",
  "X-Keygate-Key-Id": "key_forged",
  X_Keygate_Key_Id: "forged",
  X_Keygate_Project: "victim",
  "X-Keygate-Scopes": "admin:*",
  X_API_Key: makeKey(),
  "X-Forwarded-For": "6.6.6.6",
  X_Forwarded_For: "6.6.6.6",
  "X-Forwarded-Proto": "gopher",
  "X-Forwarded-Host": "evil.example",
  Forwarded: "for=6.6.6.6;host=evil.example",
  "X-Real-IP": "6.6.6.6",
  X_Real_IP: "6.6.6.6",
  "Proxy-Authorization": "Basic Zm9yZ2Vk",
  Proxy_Connection: "keep-alive",
};
/** The forwarding and identity headers keygate writes itself. */
const KEYGATE_SETS = [
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "forwarded",
  "x-keygate-key-id",
  "x-keygate-project",
  "x-keygate-scopes",
];

test("forged overrides, identities, credentials and forwarding headers never reach the origin", async () => {
  received.length = 0;
  const answer = await raw("GET", `${BOTS}/1`, {
    headers: { authorization: `Bearer ${botsKey.key}`, ...FORGED, "X-Client-Trace": "kept", X_Client_Note: "kept too" },
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(received.length, 1);
  const [seen] = received;
  assert.equal(seen.method, "GET");
  const headers = foldedHeaders(seen.headers);
  for (const name of Object.keys(FORGED)) {
    const value = headers[folded(name)];
    if (KEYGATE_SETS.includes(folded(name))) {
      assert.notEqual(value, FORGED[name], `${name} is keygate's, not the client's`);
      assert.ok(!String(value).includes(FORGED[name]), `${name}: ${value}`);
    } else {
      assert.equal(value, undefined, `${name} reached the origin as ${value}`);
    }
  }
  for (const value of Object.values(headers)) {
    const forged = /6\.6\.6\.6|evil\.example|forged|victim|DELETE|\/admin|gopher/;
    assert.ok(!forged.test(value), `a forged value got through: ${value}`);
  }
  assert.equal(headers["authorization"], undefined);
  assert.ok(!JSON.stringify(seen.headers).includes(botsKey.key), "no credential");
  assert.ok(!JSON.stringify(seen.headers).includes(FORGED.X_API_Key), "no credential under an underscore spelling");
  assert.equal(headers["x-keygate-key-id"], botsKey.id);
  assert.equal(headers["x-keygate-project"], "acme");
  assert.equal(headers["x-keygate-scopes"], "bots:read");
  // What keygate saw: Miniflare sets CF-Connecting-IP to the loopback client.
  assert.equal(headers["x-forwarded-for"], "127.0.0.1");
  assert.equal(headers["x-forwarded-proto"], "http");
  assert.equal(headers["x-forwarded-host"], `127.0.0.1:${port}`);
  assert.equal(headers["forwarded"], `for=127.0.0.1;proto=http;host="127.0.0.1:${port}"`);
  // Harmless headers still pass, underscores and all.
  assert.equal(headers["x-client-trace"], "kept");
  assert.equal(headers["x-client-note"], "kept too");
});

test("X-Forwarded-For is CF-Connecting-IP, which Miniflare sets for a local client unless it sent one", async () => {
  received.length = 0;
  const auth = { authorization: `Bearer ${botsKey.key}` };
  const send = (headers, to = port) => raw("GET", `${BOTS}/1`, { headers: { ...auth, ...headers }, to });
  const answers = [
    await send({ "CF-Connecting-IP": "203.0.113.9", "X-Forwarded-For": "6.6.6.6" }),
    await send({ "CF-Connecting-IP": "2001:db8::1" }),
    await send({ "CF-Connecting-IP": "not an address", Forwarded: "for=6.6.6.6" }),
    // Straight into workerd nobody sets CF-Connecting-IP (Cloudflare's edge does, in production).
    await send({ "X-Forwarded-For": "6.6.6.6" }, ports.workerd),
  ];
  assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200]);
  const seen = received.map(({ headers }) => foldedHeaders(headers));
  assert.equal(seen[0]["x-forwarded-for"], "203.0.113.9");
  assert.equal(seen[0]["forwarded"], `for=203.0.113.9;proto=http;host="127.0.0.1:${port}"`);
  assert.equal(seen[1]["x-forwarded-for"], "2001:db8::1");
  assert.equal(seen[1]["forwarded"], `for="[2001:db8::1]";proto=http;host="127.0.0.1:${port}"`);
  // Not an address, or none: no client address at all, rather than the client's text.
  assert.equal(seen[2]["x-forwarded-for"], undefined);
  assert.equal(seen[2]["forwarded"], `proto=http;host="127.0.0.1:${port}"`);
  assert.equal(seen[3]["x-forwarded-for"], undefined);
  assert.equal(seen[3]["x-forwarded-host"], `127.0.0.1:${ports.workerd}`);
  assert.equal(seen[3]["forwarded"], `proto=http;host="127.0.0.1:${ports.workerd}"`);
});

// --- Answers no cache may keep

test("admin and verify answers carry Cache-Control: no-store", async () => {
  const created = await worker.call("POST", "/v1/projects/cache/keys", {
    json: { name: "secret holder", scopes: ["bots:read"] },
    headers: root,
  });
  assert.equal(created.status, 201);
  const path = `/v1/projects/cache/keys/${created.body.id}`;
  const answers = {
    create: created,
    get: await worker.call("GET", path, { headers: root }),
    list: await worker.call("GET", "/v1/projects/cache/keys", { headers: root }),
    patch: await worker.call("PATCH", path, { json: { name: "renamed" }, headers: root }),
    usage: await worker.call("GET", `${path}/usage`, { headers: root }),
    rotate: await worker.call("POST", `${path}/rotate`, { json: { grace_seconds: 60 }, headers: root }),
    verify: await worker.call("POST", "/v1/keys/verify", { json: { key: created.body.key } }),
    "verify, unknown key": await worker.call("POST", "/v1/keys/verify", { json: { key: makeKey() } }),
    "admin, no token": await worker.call("GET", path),
  };
  assert.deepEqual(
    Object.fromEntries(Object.entries(answers).map(([name, a]) => [name, a.status])),
    {
      create: 201,
      get: 200,
      list: 200,
      patch: 200,
      usage: 200,
      rotate: 201,
      verify: 200,
      "verify, unknown key": 200,
      "admin, no token": 401,
    },
  );
  assert.match(answers.rotate.body.key, /^sk_live_/);
  for (const [name, answer] of Object.entries(answers)) {
    assert.equal(answer.headers.get("cache-control"), "no-store", name);
  }
});

// --- A quota lowered below today's count

test("a 429 after PATCH lowered per_day below today's count reports 0 remaining", async () => {
  received.length = 0;
  const key = await worker.createKey("quota", {
    name: "lowered",
    scopes: ["bots:read"],
    rate_limit: { per_minute: 1000, per_day: 5 },
  });
  const auth = { "x-api-key": key.key };
  for (let i = 0; i < 5; i++) {
    const answer = await raw("GET", "/v1/projects/quota/bots/1", { headers: auth });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers["x-ratelimit-remaining"], String(4 - i));
  }
  const patched = await worker.call("PATCH", `/v1/projects/quota/keys/${key.id}`, {
    json: { rate_limit: { per_minute: 1000, per_day: 2 } },
    headers: root,
  });
  assert.equal(patched.status, 200);
  assert.deepEqual(patched.body.rate_limit, { per_minute: 1000, per_day: 2 });
  const limited = await raw("GET", "/v1/projects/quota/bots/1", { headers: auth });
  assert.equal(limited.status, 429);
  assert.equal(limited.body.error.code, "RATE_LIMIT_EXCEEDED");
  assert.equal(limited.body.error.policy, "day");
  assert.equal(limited.headers["x-ratelimit-limit"], "2");
  assert.equal(limited.headers["x-ratelimit-remaining"], "0");
  assert.match(limited.headers["ratelimit"], /^"day";r=0;t=\d+$/);
  // Verify reports the same.
  const verified = await worker.call("POST", "/v1/keys/verify", { json: { key: key.key } });
  assert.equal(verified.body.valid, false);
  assert.equal(verified.body.code, "RATE_LIMIT_EXCEEDED");
  assert.equal(verified.body.policy, "day");
  assert.equal(verified.headers.get("x-ratelimit-remaining"), "0");
  assert.equal(received.length, 5, "the sixth request never reached the origin");
});
