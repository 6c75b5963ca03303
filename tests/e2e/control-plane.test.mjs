// The control plane end to end (README, "Control plane: catalog, audit log,
// usage"): the key catalog behind the listing and the project list, as a
// dashboard or an operator would use them, the reads' query parameters, and
// who may read the audit log and usage. (The audit log and usage themselves:
// control-plane-audit.test.mjs, control-plane-usage.test.mjs.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { root, startWorker, bearer, eventually, sleep } from "./fixture.mjs";
import { reads } from "./reads.mjs";

let worker;
before(async () => {
  worker = await startWorker();
});
after(() => worker?.stop());
const { ok, collect } = reads(() => worker);

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
