// Rate limits and revocation in real SQLite Durable Objects.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DatabaseSync } from "node:sqlite";
import { startWorker, temporaryDirectory, seedKey, makeKey, digestOf, ADMIN_TOKEN } from "./fixture.mjs";

let worker;
before(async () => {
  worker = await startWorker();
});
after(() => worker?.stop());

const root = { authorization: `Bearer ${ADMIN_TOKEN}` };

test("60 concurrent requests at 30 per minute: exactly the burst of 6 passes", async () => {
  const key = await worker.createKey("burst", {
    name: "burst",
    scopes: ["keys:read"],
    rate_limit: { per_minute: 30, per_day: 10000 },
  });
  const answers = await Promise.all(
    Array.from({ length: 60 }, () =>
      worker.call("GET", "/v1/projects/burst/keys", { headers: { authorization: `Bearer ${key.key}` } }),
    ),
  );
  const admitted = answers.filter((a) => a.status === 200);
  const limited = answers.filter((a) => a.status === 429);
  assert.equal(admitted.length, 6);
  assert.equal(limited.length, 54);
  for (const answer of limited) {
    assert.equal(answer.body.error.code, "RATE_LIMIT_EXCEEDED");
    assert.equal(answer.body.error.policy, "minute");
    assert.ok(Number.isInteger(answer.body.error.retry_after) && answer.body.error.retry_after >= 1);
    assert.equal(answer.headers.get("retry-after"), String(answer.body.error.retry_after));
    assert.equal(answer.headers.get("x-ratelimit-limit"), "30");
    assert.equal(answer.headers.get("x-ratelimit-remaining"), "0");
    assert.match(answer.headers.get("x-ratelimit-reset"), /^\d{10}$/);
    assert.equal(answer.headers.get("ratelimit-policy"), '"minute";q=30;w=60, "day";q=10000;w=86400');
    assert.match(answer.headers.get("ratelimit"), /^"minute";r=0;t=\d+$/);
  }
  for (const answer of admitted) assert.ok(answer.headers.get("x-ratelimit-remaining"));
});

test("a key with per_day 5 admits 5, then 429 with policy day", async () => {
  const key = await worker.createKey("daily", {
    name: "daily",
    scopes: ["keys:read"],
    rate_limit: { per_minute: 1000, per_day: 5 },
  });
  const statuses = [];
  let last;
  for (let i = 0; i < 6; i++) {
    last = await worker.call("GET", "/v1/projects/daily/keys", { headers: { "x-api-key": key.key } });
    statuses.push(last.status);
  }
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
  assert.equal(last.body.error.policy, "day");
  assert.equal(last.headers.get("x-ratelimit-limit"), "5");
  const usage = await worker.call("GET", `/v1/projects/daily/keys/${key.id}/usage`, { headers: root });
  assert.equal(usage.status, 200);
  assert.equal(usage.body.requests_today, 5);
  assert.match(usage.body.last_used_at, /^\d{4}-\d\d-\d\dT/);
});

test("a deleted key stays dead when KV serves its old record", async () => {
  const key = await worker.createKey("stale", { name: "doomed", scopes: ["bots:read"] });
  const name = `k:${digestOf(key.key)}`;
  const stale = await worker.kv.get(name);
  const deleted = await worker.call("DELETE", `/v1/projects/stale/keys/${key.id}`, { headers: root });
  assert.equal(deleted.status, 204);
  await worker.kv.put(name, stale);
  const answer = await worker.call("GET", "/v1/projects/stale/keys", { headers: { authorization: `Bearer ${key.key}` } });
  assert.equal(answer.status, 401);
  assert.equal(answer.body.error.code, "INVALID_API_KEY");
  assert.equal((await worker.call("POST", "/v1/keys/verify", { json: { key: key.key } })).body.code, "INVALID_API_KEY");
});

test("a removed scope stays removed when KV serves the old record", async () => {
  const key = await worker.createKey("stale", { name: "narrowed", scopes: ["keys:read", "bots:read"] });
  const name = `k:${digestOf(key.key)}`;
  const stale = await worker.kv.get(name);
  const path = `/v1/projects/stale/keys/${key.id}`;
  assert.equal((await worker.call("PATCH", path, { json: { scopes: ["bots:read"] }, headers: root })).status, 200);
  await worker.kv.put(name, stale);
  const answer = await worker.call("GET", "/v1/projects/stale/keys", { headers: { authorization: `Bearer ${key.key}` } });
  assert.equal(answer.status, 403);
  assert.equal(answer.body.error.code, "INSUFFICIENT_PERMISSIONS");
  assert.equal(answer.body.error.required_scope, "keys:read");
});

/** Durable Object storage files under a persistence directory. */
/** The SQLite files of key objects (not the project's or deliveries') under `dir`. */
function objectFiles(dir) {
  const root = join(dir, "do");
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true })
    .map(String)
    .filter((name) => name.includes("LimiterObject") && name.endsWith(".sqlite") && !name.endsWith("metadata.sqlite"));
}

/** The `day_count` each key object under `dir` has written to SQLite. */
function storedDayCounts(dir) {
  return objectFiles(dir).map((file) => {
    const db = new DatabaseSync(join(dir, "do", file), { readOnly: true });
    try {
      return db.prepare("SELECT day_count FROM counters WHERE id = 0").get()?.day_count ?? 0;
    } finally {
      db.close();
    }
  });
}

/** Polls until `check()` holds; fails after `seconds`. */
async function eventually(check, seconds, message) {
  for (const deadline = Date.now() + seconds * 1000; !check(); await sleep(100)) {
    if (Date.now() > deadline) assert.fail(message);
  }
}

test("counts reach SQLite by the flush alarm and survive a restart; unknown keys create no Durable Object", async () => {
  const storage = temporaryDirectory();
  try {
    const first = await startWorker({ persistTo: storage.dir });
    let key;
    try {
      key = await first.createKey("durable", {
        name: "persisted",
        scopes: ["keys:read"],
        rate_limit: { per_minute: 1000, per_day: 4 },
      });
      for (let i = 0; i < 3; i++) {
        const answer = await first.call("GET", "/v1/projects/durable/keys", { headers: { "x-api-key": key.key } });
        assert.equal(answer.status, 200);
      }
      const objectsBefore = objectFiles(storage.dir).length;
      assert.equal(objectsBefore, 1, "the key's object is persisted");
      for (const presented of [makeKey(), "sk_live_short", makeKey("test")]) {
        await first.call("POST", "/v1/keys/verify", { json: { key: presented } });
      }
      assert.equal(objectFiles(storage.dir).length, objectsBefore, "no object for unknown keys");
      // Counters are written by an alarm within a second, not on each request.
      await eventually(() => storedDayCounts(storage.dir)[0] === 3, 10, "the flush alarm wrote the 3 uses");
    } finally {
      await first.stop();
    }

    const second = await startWorker({ persistTo: storage.dir });
    try {
      const usage = await second.call("GET", `/v1/projects/durable/keys/${key.id}/usage`, { headers: root });
      assert.equal(usage.body.requests_today, 3);
      const fourth = await second.call("GET", "/v1/projects/durable/keys", { headers: { "x-api-key": key.key } });
      assert.equal(fourth.status, 200);
      const fifth = await second.call("GET", "/v1/projects/durable/keys", { headers: { "x-api-key": key.key } });
      assert.equal(fifth.status, 429);
      assert.equal(fifth.body.error.policy, "day");
    } finally {
      await second.stop();
    }
  } finally {
    storage.remove();
  }
});

test("a key seeded only in KV is adopted by its Durable Object", async () => {
  const { key } = await seedKey(worker.kv, { scopes: ["bots:read"], rate_limit: { per_minute: 100, per_day: 2 } });
  const first = await worker.call("POST", "/v1/keys/verify", { json: { key } });
  assert.equal(first.body.valid, true);
  // The day policy (1 left) is nearer exhaustion than the minute one (16 left).
  assert.deepEqual([first.body.ratelimit.limit, first.body.ratelimit.remaining], [2, 1]);
  assert.equal(first.headers.get("ratelimit-policy"), '"minute";q=100;w=60, "day";q=2;w=86400');
  await worker.call("POST", "/v1/keys/verify", { json: { key } });
  const third = await worker.call("POST", "/v1/keys/verify", { json: { key } });
  assert.equal(third.body.code, "RATE_LIMIT_EXCEEDED");
  assert.equal(third.body.policy, "day");
});
