// Usage end to end (README, "Control plane: catalog, audit log, usage"):
// every check of a key counted by outcome, per key at once and per project
// within seconds, as billing and abuse dashboards read it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { root, startWorker, eventually } from "./fixture.mjs";
import { reads } from "./reads.mjs";

let worker;
before(async () => {
  worker = await startWorker();
});
after(() => worker?.stop());
const { ok } = reads(() => worker);

/** The outcomes a check is counted under. */
const OUTCOMES = ["valid", "rate_limited", "insufficient_permissions", "project_mismatch", "disabled", "expired", "usage_exceeded", "ip_not_allowed"];
const outcomesOf = (entry) => Object.fromEntries(OUTCOMES.map((o) => [o, entry[o]]));
const sumOf = (series) => Object.fromEntries(OUTCOMES.map((o) => [o, series.reduce((n, entry) => n + entry[o], 0)]));

// Billing and abuse dashboards rely on every check of a key being counted by
// outcome: per key at once, per project within seconds.
test("usage counts every outcome of every check, at once per key and soon per project", async () => {
  const key = await worker.createKey("cp-usage", {
    name: "metered",
    scopes: ["bots:read"],
    rate_limit: { per_minute: 3, per_day: 1000 },
  });
  const expected = Object.fromEntries(OUTCOMES.map((outcome) => [outcome, 0]));
  const outcomeOf = {
    VALID: "valid",
    RATE_LIMIT_EXCEEDED: "rate_limited",
    INSUFFICIENT_PERMISSIONS: "insufficient_permissions",
    PROJECT_MISMATCH: "project_mismatch",
    API_KEY_DISABLED: "disabled",
    API_KEY_EXPIRED: "expired",
  };
  const check = async (json) => {
    const { status, body } = await worker.call("POST", "/v1/keys/verify", { json: { key: key.key, ...json } });
    assert.equal(status, 200);
    assert.ok(body.code in outcomeOf, JSON.stringify(body));
    expected[outcomeOf[body.code]] += 1;
    return body.code;
  };
  const hour = () => Math.floor(Date.now() / 3600_000) * 3600_000;
  const firstHour = hour();
  const started = Date.now();
  for (let i = 0; i < 4; i++) await check({ scope: "bots:read" }); // 3 per minute: the burst runs out
  assert.ok(expected.valid >= 1 && expected.rate_limited >= 1, JSON.stringify(expected));
  assert.equal(await check({ scope: "bots:write" }), "INSUFFICIENT_PERMISSIONS");
  assert.equal(await check({ scope: "bots:read", project: "cp-usage-elsewhere" }), "PROJECT_MISMATCH");
  const path = `/v1/projects/cp-usage/keys/${key.id}`;
  assert.equal((await worker.call("PATCH", path, { headers: root, json: { status: "inactive" } })).status, 200);
  assert.equal(await check({ scope: "bots:read" }), "API_KEY_DISABLED");
  const elapsed = Date.now() - started;

  const usage = await ok(`${path}/usage?granularity=hour`);
  assert.equal(usage.granularity, "hour");
  for (const field of ["requests_today", "last_used_at", "ratelimit", "from", "to", "series"]) {
    assert.ok(field in usage, `usage has ${field}`);
  }
  assert.notEqual(usage.last_used_at, null);
  const now = hour();
  const current = usage.series.find((entry) => Date.parse(entry.start) === now);
  assert.ok(current, `an entry for the current hour: ${JSON.stringify(usage.series)}`);
  if (firstHour === now) {
    assert.equal(usage.series.length, 1, "one entry per bucket with traffic");
    assert.deepEqual(outcomesOf(current), expected, "exact counts, zeros included, at once");
  } else {
    assert.deepEqual(sumOf(usage.series), expected, "the traffic straddled an hour");
  }

  // The project's object hears of it with the key's first push, about a second after its first check.
  const requests = Object.values(expected).reduce((n, count) => n + count, 0);
  await eventually(async () => {
    const project = await ok("/v1/projects/cp-usage/usage?granularity=hour");
    assert.deepEqual(outcomesOf(project.totals), expected, `totals (traffic took ${elapsed} ms)`);
    assert.deepEqual(sumOf(project.series), expected, "the project's series");
    assert.deepEqual(project.top_keys, [{ key_id: key.id, name: "metered", requests }]);
  }, 15_000);
});
