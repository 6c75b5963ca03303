// The audit log end to end (README, "Control plane: catalog, audit log,
// usage"): every write recorded with who, what changed, from where, in order,
// filtered and paged as an auditor would, and never a secret.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { root, startWorker, digestOf, bearer, sleep, RFC3339 } from "./fixture.mjs";
import { reads } from "./reads.mjs";

let worker;
before(async () => {
  worker = await startWorker();
});
after(() => worker?.stop());
const { ok, collect } = reads(() => worker);

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
