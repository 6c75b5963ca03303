// The control plane end to end (README, "Control plane: catalog, audit log,
// usage"): the key catalog behind the listing, the audit log, usage rollups and
// the project list, as a dashboard or an auditor would use them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, digestOf, bearer, ADMIN_TOKEN, eventually } from "./fixture.mjs";

let worker;
before(async () => {
  worker = await startWorker();
});
after(() => worker?.stop());

const root = { authorization: `Bearer ${ADMIN_TOKEN}` };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const OUTCOMES = ["valid", "rate_limited", "insufficient_permissions", "project_mismatch", "disabled", "expired", "usage_exceeded", "ip_not_allowed"];
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** GETs `path` and expects 200; answers the body. */
async function ok(path, headers = root) {
  const answer = await worker.call("GET", path, { headers });
  assert.equal(answer.status, 200, `GET ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** Every item of a paged list (`field` of each page), following cursors to the end. */
async function collect(path, field, params = {}, headers = root) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < 50; page++) {
    const query = new URLSearchParams({ ...params, ...(cursor === null ? {} : { cursor }) });
    const body = await ok(`${path}?${query}`, headers);
    assert.ok(Array.isArray(body[field]), `${path}: ${JSON.stringify(body)}`);
    items.push(...body[field]);
    cursor = body.cursor;
    if (cursor === null) return items;
    assert.equal(typeof cursor, "string");
  }
  assert.fail(`${path}: the cursor never came to an end`);
}


const outcomesOf = (entry) => Object.fromEntries(OUTCOMES.map((o) => [o, entry[o]]));
const sumOf = (series) => Object.fromEntries(OUTCOMES.map((o) => [o, series.reduce((n, entry) => n + entry[o], 0)]));

// A dashboard relies on the listing being current (what was just written is
// there, whole), newest first, and on each filter selecting what it says.
test("the key listing is current and whole, newest first, and filters as documented", async () => {
  const path = "/v1/projects/cp-list/keys";
  const first = await worker.createKey("cp-list", {
    name: "Billing Worker",
    scopes: ["bots:*"],
    rate_limit: { per_minute: 30, per_day: 3000 },
    meta: { team: "billing" },
  });
  const { key: plaintext, ...object } = first;
  const listed = await ok(path);
  assert.deepEqual(listed.keys, [object], "the key just created, whole, in the very next listing");
  assert.deepEqual([listed.keys[0].scopes, listed.keys[0].rate_limit], [["bots:*"], { per_minute: 30, per_day: 3000 }]);
  assert.deepEqual([listed.keys[0].meta, listed.keys[0].last_used_at], [{ team: "billing" }, null]);
  assert.equal(listed.cursor, null);
  assert.ok(!JSON.stringify(listed).includes(plaintext.slice(8)), "no secret in a listing");
  assert.deepEqual(listed.keys[0], await ok(`${path}/${first.id}`));

  const make = async (name, json) => {
    await sleep(5); // distinct created_at, so "newest first" has one answer
    return worker.createKey("cp-list", { name, ...json });
  };
  await make("root", { scopes: ["admin"] });
  const writer = await make("writer", { scopes: ["bots:write"] });
  await make("users", { scopes: ["users:read"] });
  const sleepy = await make("sleepy", { scopes: ["bots:read"] });
  await make("sandbox", { scopes: ["bots:read"], environment: "test" });
  const lookalike = await make("lookalike", { scopes: ["botsy:*", "bots_x:read"] });
  const patched = await worker.call("PATCH", `${path}/${sleepy.id}`, { headers: root, json: { status: "inactive" } });
  assert.equal(patched.status, 200);
  assert.equal((await worker.call("DELETE", `${path}/${lookalike.id}`, { headers: root })).status, 204);

  const everything = await collect(path, "keys");
  const names = (keys) => keys.map((key) => key.name);
  const newestFirst = ["sandbox", "sleepy", "users", "writer", "root", "Billing Worker"];
  assert.deepEqual(names(everything), newestFirst, "newest first; the deleted key is gone at once");
  assert.equal(everything.find((key) => key.name === "sleepy").status, "inactive", "a change shows at once");
  for (let i = 1; i < everything.length; i++) {
    assert.ok(Date.parse(everything[i - 1].created_at) >= Date.parse(everything[i].created_at), "by created_at");
  }

  const cases = [
    [{ status: "inactive" }, ["sleepy"]],
    [{ status: "active" }, ["sandbox", "users", "writer", "root", "Billing Worker"]],
    [{ environment: "test" }, ["sandbox"]],
    [{ environment: "live" }, ["sleepy", "users", "writer", "root", "Billing Worker"]],
    // admin grants everything, bots:* every action on bots, and any action on bots grants bots:read.
    [{ scope: "bots:read" }, ["sandbox", "sleepy", "writer", "root", "Billing Worker"]],
    [{ scope: "bots:write" }, ["writer", "root", "Billing Worker"]],
    [{ scope: "bots:delete" }, ["root", "Billing Worker"]],
    [{ scope: "users:read" }, ["users", "root"]],
    [{ scope: "bots:read", status: "active", environment: "live" }, ["writer", "root", "Billing Worker"]],
    [{ q: "bILLING w" }, ["Billing Worker"]],
    [{ q: writer.prefix.toUpperCase() }, ["writer"]],
    [{ q: "SK_TEST_" }, ["sandbox"]],
  ];
  for (const [params, expected] of cases) {
    assert.deepEqual(names(await collect(path, "keys", params)), expected, JSON.stringify(params));
  }

  const page = await ok(`${path}?limit=2`);
  assert.deepEqual([names(page.keys), typeof page.cursor], [newestFirst.slice(0, 2), "string"]);
  assert.deepEqual(names(await collect(path, "keys", { limit: "2" })), newestFirst, "limit and cursor");
  const botsReaders = names(await collect(path, "keys", { scope: "bots:read", limit: "2" }));
  assert.deepEqual(botsReaders, ["sandbox", "sleepy", "writer", "root", "Billing Worker"], "paging a filter");
});

// A client paging through keys while others are being created must still see
// every key that existed when it started, exactly once.
test("paging while keys are created returns every earlier key exactly once", async () => {
  const path = "/v1/projects/cp-paging/keys";
  const existing = [];
  for (let i = 0; i < 12; i++) {
    existing.push((await worker.createKey("cp-paging", { name: `k${i}` })).id);
    await sleep(3);
  }
  const seen = [];
  let cursor = null;
  let pages = 0;
  do {
    const query = new URLSearchParams({ limit: "5", ...(cursor === null ? {} : { cursor }) });
    const page = await ok(`${path}?${query}`);
    assert.ok(page.keys.length <= 5, "limit");
    seen.push(...page.keys.map((key) => key.id));
    cursor = page.cursor;
    pages += 1;
    await worker.createKey("cp-paging", { name: `created while paging ${pages}` });
  } while (cursor !== null && pages < 10);
  assert.equal(new Set(seen).size, seen.length, "no key twice");
  assert.deepEqual([...seen].sort(), [...existing].sort(), "every earlier key, and none created while paging");
  assert.deepEqual(seen, [...existing].reverse(), "newest first");
});

// An auditor relies on every write being recorded with who, what changed,
// from where, in order, and on the log never holding a secret.
test("the audit log records each write with its actor, changes and origin, and no secret", async () => {
  const project = "/v1/projects/cp-audit";
  const writer = await worker.createKey("cp-audit", {
    name: "writer",
    scopes: ["keys:write", "bots:*"],
    rate_limit: { per_minute: 100, per_day: 1000 },
    expires_at: new Date(Date.now() + 30 * 86400_000).toISOString(),
  });
  const from = (credential, step) => ({ ...credential, "user-agent": `cp-audit/${step}`, "cf-connecting-ip": `203.0.113.${step}` });
  const admin = { type: "admin_token" };
  const byWriter = { type: "key", key_id: writer.id, name: "writer" };

  // Within the writer's power: scopes within its own, lower limits, an earlier expiry.
  const target = await worker.createKey(
    "cp-audit",
    {
      name: "target",
      scopes: ["bots:read", "bots:write"],
      rate_limit: { per_minute: 10, per_day: 100 },
      expires_at: new Date(Date.now() + 86400_000).toISOString(),
    },
    from(bearer(writer.key), 1),
  );
  const path = `${project}/keys/${target.id}`;
  await sleep(1100); // so that since/until can tell the creation apart
  const write = async (method, url, headers, json) => {
    const answer = await worker.call(method, url, { headers, json });
    assert.ok([200, 201, 204].includes(answer.status), `${method} ${url}: ${JSON.stringify(answer.body)}`);
    return answer.body;
  };
  await write("PATCH", path, from(root, 2), { scopes: ["bots:read"] });
  await write("PATCH", path, from(bearer(writer.key), 3), { status: "inactive" });
  const ray = "8f2a61c3e9b04d17-AMS";
  const rotated = await write("POST", `${path}/rotate`, { ...from(root, 4), "cf-ray": ray }, {});
  await sleep(1100);
  await write("DELETE", path, from(bearer(writer.key), 5));

  const events = await collect(`${project}/audit`, "events", { key_id: target.id });
  const actions = events.map((event) => event.action);
  assert.deepEqual(actions, ["key.deleted", "key.rotated", "key.updated", "key.updated", "key.created"], "newest first");
  const [deleted, rotation, deactivation, rescoping, creation] = events;
  const actors = [byWriter, admin, byWriter, admin, byWriter]; // steps 1 to 5
  [creation, rescoping, deactivation, rotation, deleted].forEach((event, i) => {
    const step = i + 1;
    assert.match(event.id, /^evt_/);
    assert.equal(event.key_id, target.id);
    assert.match(event.at, RFC3339);
    assert.ok(!Number.isNaN(Date.parse(event.at)));
    assert.deepEqual(event.actor, actors[i], `actor of ${event.action} (step ${step})`);
    assert.equal(event.user_agent, `cp-audit/${step}`);
    assert.equal(event.ip, `203.0.113.${step}`);
    assert.equal(typeof event.request_id, "string");
    assert.ok(event.request_id.length > 0);
    if (step !== 4) assert.match(event.request_id, /^req_/);
  });
  assert.equal(rotation.request_id, ray, "request_id is the CF-Ray header when there is one");
  for (let i = 1; i < events.length; i++) assert.ok(Date.parse(events[i - 1].at) >= Date.parse(events[i].at));

  assert.deepEqual(creation.changes.name, { from: null, to: "target" });
  assert.deepEqual(creation.changes.scopes, { from: null, to: ["bots:read", "bots:write"] });
  assert.ok(Object.values(creation.changes).every((change) => change.from === null), "created: every field from null");
  assert.deepEqual(rescoping.changes, { scopes: { from: ["bots:read", "bots:write"], to: ["bots:read"] } });
  assert.deepEqual(deactivation.changes, { status: { from: "active", to: "inactive" } });
  assert.equal(rotation.new_key_id, rotated.id);
  assert.deepEqual(rotation.changes.rotated_to, { from: null, to: rotated.id });
  assert.equal(Date.parse(rotation.changes.expires_at.from), Date.parse(target.expires_at));
  assert.ok(Date.parse(rotation.changes.expires_at.to) <= Date.now(), "grace 0: retired now");
  assert.equal(deleted.changes, null);

  // Never a secret or its digest, anywhere in the whole log.
  const log = JSON.stringify(await collect(`${project}/audit`, "events"));
  for (const key of [writer.key, target.key, rotated.key]) {
    assert.ok(!log.includes(key.slice(8)), "a plaintext key in the audit log");
    assert.ok(!log.includes(digestOf(key)), "a key digest in the audit log");
  }

  // Filters, and paging.
  const ids = (list) => list.map((event) => event.id);
  const updates = await collect(`${project}/audit`, "events", { key_id: target.id, action: "key.updated" });
  assert.deepEqual(ids(updates), ids([deactivation, rescoping]));
  const created = await collect(`${project}/audit`, "events", { action: "key.created" });
  assert.ok(created.every((event) => event.action === "key.created"));
  assert.ok(created.some((event) => event.key_id === writer.id) && created.some((event) => event.key_id === target.id));
  const window = { key_id: target.id, since: rescoping.at, until: rotation.at };
  assert.deepEqual(ids(await collect(`${project}/audit`, "events", window)), ids([rotation, deactivation, rescoping]));
  const onlySince = await collect(`${project}/audit`, "events", { key_id: target.id, since: deleted.at });
  assert.deepEqual(ids(onlySince), [deleted.id], "since is inclusive");
  const page = await ok(`${project}/audit?key_id=${target.id}&limit=2`);
  assert.deepEqual([ids(page.events), typeof page.cursor], [ids(events.slice(0, 2)), "string"]);
  assert.deepEqual(ids(await collect(`${project}/audit`, "events", { key_id: target.id, limit: "2" })), ids(events));
});

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

// An operator relies on the project list naming every project that has keys,
// with how many, and on only the admin token seeing it.
test("the admin token lists the projects that have keys, with their counts; a key cannot", async () => {
  const a = [];
  for (const name of ["one", "two", "three"]) a.push(await worker.createKey("cp-proj-a", { name }));
  const removed = await worker.call("DELETE", `/v1/projects/cp-proj-a/keys/${a[1].id}`, { headers: root });
  assert.equal(removed.status, 204);
  const reader = await worker.createKey("cp-proj-b", { name: "reader", scopes: ["keys:read"] });
  const only = await worker.createKey("cp-proj-gone", { name: "only" });
  const gone = await worker.call("DELETE", `/v1/projects/cp-proj-gone/keys/${only.id}`, { headers: root });
  assert.equal(gone.status, 204);

  await eventually(async () => {
    const projects = await collect("/v1/projects", "projects", { limit: "100" });
    const ids = projects.map((project) => project.id);
    assert.deepEqual(ids, [...ids].sort(), "by id");
    assert.equal(new Set(ids).size, ids.length);
    const counts = Object.fromEntries(projects.map((project) => [project.id, project.keys]));
    assert.equal(counts["cp-proj-a"], 2);
    assert.equal(counts["cp-proj-b"], 1);
    assert.ok(!("cp-proj-gone" in counts), "only projects with at least one key");
    assert.ok(projects.every((project) => project.keys >= 1));
    assert.deepEqual(await collect("/v1/projects", "projects", { limit: "2" }), projects, "limit and cursor");
  }, 10_000);

  const refused = await worker.call("GET", "/v1/projects", { headers: bearer(reader.key) });
  assert.equal(refused.status, 403, "a keys:read key cannot list projects");
  const anonymous = await worker.call("GET", "/v1/projects");
  assert.equal(anonymous.status, 401);
});

// A client relies on a mistake being named, not silently ignored or guessed.
test("bad query parameters are 400 VALIDATION_ERROR naming the parameter", async () => {
  const key = await worker.createKey("cp-bad", { name: "k", scopes: ["bots:read"] });
  const keys = "/v1/projects/cp-bad/keys";
  const audit = "/v1/projects/cp-bad/audit";
  const keyUsage = `${keys}/${key.id}/usage`;
  const usage = "/v1/projects/cp-bad/usage";
  const now = Date.now();
  const iso = (ms) => new Date(ms).toISOString();
  const span = (granularity, days) => `granularity=${granularity}&from=${iso(now - days * 86400_000)}&to=${iso(now)}`;
  const range = ["from", "to"];
  const cases = [
    [`${keyUsage}?granularity=minute`, ["granularity"]],
    [`${usage}?granularity=minute`, ["granularity"]],
    [`${keyUsage}?from=${iso(now)}&to=${iso(now - 3600_000)}`, range],
    [`${usage}?from=${iso(now)}&to=${iso(now - 3600_000)}`, range],
    [`${keyUsage}?${span("hour", 91)}`, range],
    [`${usage}?${span("hour", 91)}`, range],
    [`${keyUsage}?${span("hour", 8)}`, range], // hourly: at most 7 days
    [`${keyUsage}?${span("day", 91)}`, range], // daily: at most 90 days
    [`${keyUsage}?from=yesterday`, ["from"]],
    [`${keys}?cursor=garbage`, ["cursor"]],
    [`${audit}?cursor=garbage`, ["cursor"]],
    [`${keys}?status=deleted`, ["status"]],
    [`${keys}?environment=prod`, ["environment"]],
    [`${keys}?scope=Not-A-Scope`, ["scope"]],
    [`${keys}?limit=0`, ["limit"]],
    [`${keys}?limit=101`, ["limit"]],
    [`${keys}?q=${"x".repeat(101)}`, ["q"]],
    [`${audit}?action=key.exploded`, ["action"]],
    [`${audit}?since=yesterday`, ["since"]],
    [`${audit}?until=2026-13-01T00:00:00Z`, ["until"]],
    [`${keys}?foo=1`, ["foo"]],
    [`${audit}?foo=1`, ["foo"]],
    [`${keyUsage}?foo=1`, ["foo"]],
    [`${usage}?foo=1`, ["foo"]],
    ["/v1/projects?foo=1", ["foo"]],
  ];
  for (const [path, fields] of cases) {
    const answer = await worker.call("GET", path, { headers: root });
    assert.equal(answer.status, 400, `${path}: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.error.code, "VALIDATION_ERROR", path);
    assert.ok(fields.includes(answer.body.error.field), `${path}: field ${answer.body.error.field}`);
  }
  // The same parameters, well formed, are accepted.
  for (const path of [
    `${keyUsage}?${span("hour", 2)}`,
    `${usage}?${span("day", 30)}`,
    `${audit}?action=key.created&since=${iso(now - 86400_000)}&until=${iso(now + 60_000)}`,
    `${keys}?scope=bots:read&status=active&environment=live&q=k&limit=100`,
  ]) {
    await ok(path);
  }
});

// A team relies on its audit log and usage being readable only with keys:read
// of its own project.
test("audit and usage need a credential holding keys:read of the project itself", async () => {
  const reader = await worker.createKey("cp-cred", { name: "reader", scopes: ["keys:read"] });
  const bots = await worker.createKey("cp-cred", { name: "bots", scopes: ["bots:read"] });
  const foreign = await worker.createKey("cp-cred-other", { name: "foreign reader", scopes: ["keys:read"] });
  for (const path of [
    "/v1/projects/cp-cred/audit",
    `/v1/projects/cp-cred/keys/${bots.id}/usage`,
    "/v1/projects/cp-cred/usage",
  ]) {
    const none = await worker.call("GET", path);
    assert.equal(none.status, 401, path);
    assert.equal(none.body.error.code, "MISSING_API_KEY");
    assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="keygate"');
    const weak = await worker.call("GET", path, { headers: bearer(bots.key) });
    assert.equal(weak.status, 403, path);
    assert.equal(weak.body.error.code, "INSUFFICIENT_PERMISSIONS");
    assert.equal(weak.body.error.required_scope, "keys:read");
    const other = await worker.call("GET", path, { headers: bearer(foreign.key) });
    assert.equal(other.status, 403, path);
    assert.equal(other.body.error.code, "PROJECT_MISMATCH");
    await ok(path, bearer(reader.key));
  }
});
