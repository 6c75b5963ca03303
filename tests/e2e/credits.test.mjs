// Credits (#16) in real SQLite Durable Objects: exact under concurrency, a
// ROUTES rule's cost, verify's cost, refill wiring through an admin `set`
// (Miniflare cannot move the clock: refills themselves are proven natively),
// keys:write refused more credits, and balances surviving a restart.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, temporaryDirectory, ADMIN_TOKEN } from "./fixture.mjs";

const ROUTES = JSON.stringify([
  { method: "GET", path: "/v1/projects/{project}/reports/*", scope: "reports:read", cost: 5 },
  { method: "*", path: "/v1/projects/{project}/{resource}/*", scope: "{resource}:{action}" },
]);

let worker;
before(async () => {
  worker = await startWorker({ vars: { ROUTES } });
});
after(() => worker?.stop());

const root = { authorization: `Bearer ${ADMIN_TOKEN}` };
// As the backend calls it: a cost above 1 needs the admin token.
const verify = (json) => worker.call("POST", "/v1/keys/verify", { json, headers: root });

test("50 concurrent requests on remaining 10: exactly 10 pass, through the gateway and verify", async () => {
  const key = await worker.createKey("burst", {
    name: "ten",
    scopes: ["bots:read"],
    rate_limit: { per_minute: 100000, per_day: 100000 },
    credits: { remaining: 10 },
  });
  const answers = await Promise.all(
    Array.from({ length: 50 }, () =>
      worker.call("GET", "/v1/projects/burst/bots/1", { headers: { "x-api-key": key.key } }),
    ),
  );
  const admitted = answers.filter((a) => a.status === 200);
  const exhausted = answers.filter((a) => a.status === 429);
  assert.equal(admitted.length, 10);
  assert.equal(exhausted.length, 40);
  for (const answer of exhausted) {
    assert.equal(answer.body.error.code, "USAGE_EXCEEDED");
    assert.equal(answer.headers.get("retry-after"), null, "no refill: no Retry-After");
    assert.equal(answer.headers.get("x-credits-remaining"), "0");
  }
  const left = admitted.map((a) => Number(a.headers.get("x-credits-remaining"))).sort((a, b) => a - b);
  assert.deepEqual(left, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

  const other = await worker.createKey("burst", {
    name: "ten via verify",
    rate_limit: { per_minute: 100000, per_day: 100000 },
    credits: { remaining: 10 },
  });
  const verdicts = await Promise.all(Array.from({ length: 50 }, () => verify({ key: other.key })));
  assert.equal(verdicts.filter((v) => v.body.valid).length, 10);
  assert.ok(verdicts.filter((v) => !v.body.valid).every((v) => v.body.code === "USAGE_EXCEEDED"));
  const shown = await worker.call("GET", `/v1/projects/burst/keys/${other.id}`, { headers: root });
  assert.deepEqual(shown.body.credits, { remaining: 0, refill: null });
  const usage = await worker.call("GET", `/v1/projects/burst/keys/${other.id}/usage?granularity=hour`, {
    headers: root,
  });
  assert.equal(usage.status, 200);
});

test("a ROUTES rule with cost 5 spends 5 per admitted request", async () => {
  const key = await worker.createKey("routes", {
    name: "reports",
    scopes: ["reports:read", "bots:read"],
    credits: { remaining: 12 },
  });
  const get = (path) => worker.call("GET", path, { headers: { "x-api-key": key.key } });
  const first = await get("/v1/projects/routes/reports/monthly");
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("x-credits-remaining"), "7");
  assert.equal((await get("/v1/projects/routes/reports/monthly")).headers.get("x-credits-remaining"), "2");
  const third = await get("/v1/projects/routes/reports/monthly");
  assert.equal(third.status, 429);
  assert.equal(third.body.error.code, "USAGE_EXCEEDED");
  assert.equal(third.headers.get("x-credits-remaining"), "2");
  // Another rule, the default cost of 1.
  const cheap = await get("/v1/projects/routes/bots/1");
  assert.equal(cheap.status, 200);
  assert.equal(cheap.headers.get("x-credits-remaining"), "1");
});

test("verify spends its cost and reports credits.remaining", async () => {
  const key = await worker.createKey("verify", { name: "v", credits: { remaining: 10 } });
  const first = await verify({ key: key.key, cost: 4 });
  assert.equal(first.body.valid, true);
  assert.deepEqual(first.body.credits, { remaining: 6 });
  assert.equal(first.headers.get("x-credits-remaining"), "6");
  const free = await verify({ key: key.key, cost: 0 });
  assert.deepEqual(free.body.credits, { remaining: 6 });
  const short = await verify({ key: key.key, cost: 7 });
  assert.equal(short.body.valid, false);
  assert.equal(short.body.code, "USAGE_EXCEEDED");
  assert.deepEqual(short.body.credits, { remaining: 6 });
  const bad = await verify({ key: key.key, cost: 1.5 });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.field, "cost");
  const unlimited = await worker.createKey("verify", { name: "u" });
  const answer = await verify({ key: unlimited.key, cost: 1000 });
  assert.equal(answer.body.valid, true);
  assert.equal(answer.body.credits, undefined);
  assert.equal(answer.headers.get("x-credits-remaining"), null);
  // Anyone may call verify: a cost above 1 without the admin token is refused, and spends nothing.
  const drain = await worker.call("POST", "/v1/keys/verify", { json: { key: key.key, cost: 6 } });
  assert.equal(drain.status, 403);
  assert.equal(drain.body.error.field, "cost");
  assert.deepEqual((await verify({ key: key.key, cost: 0 })).body.credits, { remaining: 6 });
});

test("an exhausted key with a refill says when; an admin set refills it at once and is audited", async () => {
  const key = await worker.createKey("refill", {
    name: "daily",
    scopes: ["things:read"],
    credits: { remaining: 1, refill: { interval: "daily", amount: 3 } },
  });
  assert.deepEqual(key.credits, { remaining: 1, refill: { interval: "daily", amount: 3 } });
  assert.equal((await verify({ key: key.key })).body.valid, true);
  const get = () => worker.call("GET", "/v1/projects/refill/things/1", { headers: { "x-api-key": key.key } });
  const refused = await get();
  assert.equal(refused.status, 429);
  const retryAfter = Number(refused.headers.get("retry-after"));
  const untilMidnight = Math.ceil((Math.floor(Date.now() / 86400000 + 1) * 86400000 - Date.now()) / 1000);
  assert.ok(retryAfter >= 1 && Math.abs(retryAfter - untilMidnight) <= 5, `${retryAfter} vs ${untilMidnight}`);
  assert.equal(refused.body.error.retry_after, retryAfter);
  const path = `/v1/projects/refill/keys/${key.id}/credits`;
  const set = await worker.call("POST", path, { headers: root, json: { op: "set", amount: 3 } });
  assert.deepEqual([set.status, set.body], [200, { remaining: 3 }]);
  const admitted = await get();
  assert.equal(admitted.status, 200);
  assert.equal(admitted.headers.get("x-credits-remaining"), "2");
  const increment = await worker.call("POST", path, { headers: root, json: { op: "increment", amount: 5 } });
  assert.deepEqual(increment.body, { remaining: 7 });
  const decrement = await worker.call("POST", path, { headers: root, json: { op: "decrement", amount: 50 } });
  assert.deepEqual(decrement.body, { remaining: 0 });
  const audit = await worker.call("GET", "/v1/projects/refill/audit?action=key.credits_updated", { headers: root });
  assert.equal(audit.status, 200, JSON.stringify(audit.body));
  const changes = audit.body.events.map((event) => event.changes.credits);
  assert.equal(changes.length, 3);
  assert.ok(changes.some((c) => c.from === 0 && c.to === 3));
  assert.ok(changes.some((c) => c.from === 2 && c.to === 7));
  assert.ok(changes.some((c) => c.from === 7 && c.to === 0));
});

test("a keys:write key may not add credits", async () => {
  const writer = await worker.createKey("writer", { name: "writer", scopes: ["keys:write", "bots:*"] });
  const as = { authorization: `Bearer ${writer.key}` };
  const target = await worker.createKey("writer", { name: "t", scopes: ["bots:read"], credits: { remaining: 5 } });
  const keyPath = `/v1/projects/writer/keys/${target.id}`;
  for (const json of [
    { credits: { remaining: 6 } },
    { credits: null },
    { credits: { remaining: 5, refill: { interval: "daily", amount: 1 } } },
  ]) {
    const answer = await worker.call("PATCH", keyPath, { headers: as, json });
    assert.equal(answer.status, 403, JSON.stringify(json));
    assert.equal(answer.body.error.code, "INSUFFICIENT_PERMISSIONS");
    assert.equal(answer.body.error.field, "credits");
  }
  for (const op of ["increment", "set"]) {
    const answer = await worker.call("POST", `${keyPath}/credits`, { headers: as, json: { op, amount: 1 } });
    assert.equal(answer.status, 403, op);
    assert.equal(answer.body.error.field, "credits");
  }
  const lowered = await worker.call("POST", `${keyPath}/credits`, { headers: as, json: { op: "decrement", amount: 2 } });
  assert.deepEqual([lowered.status, lowered.body], [200, { remaining: 3 }]);
  const shown = await worker.call("GET", keyPath, { headers: root });
  assert.equal(shown.body.credits.remaining, 3);

  const limited = await worker.createKey("writer", {
    name: "limited writer",
    scopes: ["keys:write", "bots:*"],
    credits: { remaining: 10 },
  });
  const more = await worker.call("POST", "/v1/projects/writer/keys", {
    headers: { authorization: `Bearer ${limited.key}` },
    json: { name: "more", credits: { remaining: 100 } },
  });
  assert.equal(more.status, 403);
  assert.equal(more.body.error.field, "credits");
});

test("balances survive a restart of the worker", async () => {
  const storage = temporaryDirectory();
  try {
    const first = await startWorker({ persistTo: storage.dir });
    let key;
    try {
      key = await first.createKey("durable", { name: "persisted", credits: { remaining: 5 } });
      for (let i = 0; i < 3; i++) {
        const answer = await first.call("POST", "/v1/keys/verify", { json: { key: key.key } });
        assert.equal(answer.body.valid, true);
      }
    } finally {
      // At once: a spend is written before its answer, not by the flush alarm.
      await first.stop();
    }
    const second = await startWorker({ persistTo: storage.dir });
    try {
      const shown = await second.call("GET", `/v1/projects/durable/keys/${key.id}`, { headers: root });
      assert.equal(shown.body.credits.remaining, 2);
      const statuses = [];
      for (let i = 0; i < 3; i++) {
        statuses.push((await second.call("POST", "/v1/keys/verify", { json: { key: key.key } })).body.code);
      }
      assert.deepEqual(statuses, ["VALID", "VALID", "USAGE_EXCEEDED"]);
    } finally {
      await second.stop();
    }
  } finally {
    storage.remove();
  }
});
