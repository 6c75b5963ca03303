// Owners (#16) in real SQLite Durable Objects: limits shared by several keys,
// exact under concurrency (each key's object asks the owner's object once),
// counted at both levels or at neither, admin-token-only routes, and shared
// limits surviving a restart of the worker.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, temporaryDirectory, eventually, ADMIN_TOKEN } from "./fixture.mjs";

let worker;
before(async () => {
  worker = await startWorker();
});
after(() => worker?.stop());

const root = { authorization: `Bearer ${ADMIN_TOKEN}` };
const putOwner = (w, project, owner, json) =>
  w.call("PUT", `/v1/projects/${project}/owners/${owner}`, { headers: root, json });
const roomy = { per_minute: 100000, per_day: 100000 };

test("two keys of one owner at 30/min, 60 concurrent requests: exactly the owner's burst of 6", async () => {
  const put = await putOwner(worker, "shared", "acct_1", { rate_limit: { per_minute: 30, per_day: 1000 } });
  assert.equal(put.status, 201);
  assert.deepEqual(put.body.rate_limit, { per_minute: 30, per_day: 1000 });
  const keys = [];
  for (const name of ["a", "b"]) {
    keys.push(
      await worker.createKey("shared", { name, scopes: ["bots:read"], rate_limit: roomy, owner_id: "acct_1" }),
    );
  }
  assert.equal(keys[0].owner_id, "acct_1");
  const answers = await Promise.all(
    Array.from({ length: 60 }, (_, n) =>
      n % 3 === 0
        ? worker.call("POST", "/v1/keys/verify", { json: { key: keys[n % 2].key } })
        : worker.call("GET", "/v1/projects/shared/bots/1", { headers: { "x-api-key": keys[n % 2].key } }),
    ),
  );
  const admitted = answers.filter((a) => a.status === 200 && a.body?.valid !== false);
  assert.equal(admitted.length, 6);
  for (const refused of answers.filter((a) => !admitted.includes(a))) {
    const code = refused.body.code ?? refused.body.error?.code;
    assert.equal(code, "RATE_LIMIT_EXCEEDED");
  }
  const owner = await worker.call("GET", "/v1/projects/shared/owners/acct_1", { headers: root });
  assert.equal(owner.status, 200);
  assert.equal(owner.body.usage.requests_today, 6);
  // Counted at both levels or at neither: the keys' own counts add up to the owner's.
  let keyTotal = 0;
  for (const key of keys) {
    const usage = await worker.call("GET", `/v1/projects/shared/keys/${key.id}/usage`, { headers: root });
    keyTotal += usage.body.requests_today;
  }
  assert.equal(keyTotal, 6);
  const listed = await worker.call("GET", "/v1/projects/shared/keys?owner_id=acct_1", { headers: root });
  assert.deepEqual(listed.body.keys.map((k) => k.name).sort(), ["a", "b"]);
});

test("shared credits: an owner's refusal gives the key its credit back", async () => {
  await putOwner(worker, "credits", "acct_2", { credits: { remaining: 10 } });
  const key = await worker.createKey("credits", {
    name: "k",
    rate_limit: roomy,
    owner_id: "acct_2",
    credits: { remaining: 100 },
  });
  const verdicts = await Promise.all(
    Array.from({ length: 30 }, () => worker.call("POST", "/v1/keys/verify", { json: { key: key.key } })),
  );
  assert.equal(verdicts.filter((v) => v.body.valid).length, 10);
  assert.ok(verdicts.filter((v) => !v.body.valid).every((v) => v.body.code === "USAGE_EXCEEDED"));
  const shown = await worker.call("GET", `/v1/projects/credits/keys/${key.id}`, { headers: root });
  assert.equal(shown.body.credits.remaining, 90, "only the 10 admitted requests spent the key's credits");
  const owner = await worker.call("GET", "/v1/projects/credits/owners/acct_2", { headers: root });
  assert.equal(owner.body.credits.remaining, 0);
});

test("owner routes: admin token only, validated, audited; DELETE frees the keys", async () => {
  const writer = await worker.createKey("admin", { name: "w", scopes: ["keys:write", "keys:read"] });
  for (const method of ["GET", "PUT", "DELETE"]) {
    const refused = await worker.call(method, "/v1/projects/admin/owners/acct_3", {
      headers: { authorization: `Bearer ${writer.key}` },
      ...(method === "PUT" ? { json: {} } : {}),
    });
    assert.equal(refused.status, 403, method);
  }
  const bad = await putOwner(worker, "admin", "acct_3", { rate_limit: { per_minute: 1 } });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.field, "rate_limit");
  assert.equal((await worker.call("GET", "/v1/projects/admin/owners/acct_3", { headers: root })).status, 404);
  assert.equal((await putOwner(worker, "admin", "acct_3", { rate_limit: { per_minute: 1, per_day: 1 } })).status, 201);
  const key = await worker.createKey("admin", { name: "k", rate_limit: roomy, owner_id: "acct_3" });
  const use = () => worker.call("POST", "/v1/keys/verify", { json: { key: key.key } });
  assert.equal((await use()).body.valid, true);
  assert.equal((await use()).body.code, "RATE_LIMIT_EXCEEDED");
  const deleted = await worker.call("DELETE", "/v1/projects/admin/owners/acct_3", { headers: root });
  assert.equal(deleted.status, 204);
  assert.equal((await use()).body.valid, true, "the key keeps only its own limits");
  const audit = await eventually(async () => {
    const answer = await worker.call("GET", "/v1/projects/admin/audit", { headers: root });
    const owners = answer.body.events.filter((e) => e.action.startsWith("owner."));
    assert.equal(owners.length, 2);
    return owners;
  });
  assert.deepEqual(audit.map((e) => e.action), ["owner.deleted", "owner.updated"]);
  assert.equal(audit[0].owner_id, "acct_3");
  assert.equal(audit[0].key_id, null);
});

test("shared limits and their counts survive a restart of the worker", async () => {
  const storage = temporaryDirectory();
  try {
    const first = await startWorker({ persistTo: storage.dir });
    let key;
    try {
      await putOwner(first, "durable", "acct_4", { rate_limit: { per_minute: 1, per_day: 3 } });
      key = await first.createKey("durable", { name: "k", rate_limit: roomy, owner_id: "acct_4" });
      assert.equal((await first.call("POST", "/v1/keys/verify", { json: { key: key.key } })).body.valid, true);
      // The owner's counts are written within a second (its flush alarm).
      await new Promise((resolve) => setTimeout(resolve, 1500));
    } finally {
      await first.stop();
    }
    const second = await startWorker({ persistTo: storage.dir });
    try {
      const owner = await second.call("GET", "/v1/projects/durable/owners/acct_4", { headers: root });
      assert.equal(owner.status, 200);
      assert.deepEqual(owner.body.rate_limit, { per_minute: 1, per_day: 3 });
      assert.equal(owner.body.usage.requests_today, 1);
      const again = await second.call("POST", "/v1/keys/verify", { json: { key: key.key } });
      assert.equal(again.body.code, "RATE_LIMIT_EXCEEDED", "the minute's one request was spent before the restart");
    } finally {
      await second.stop();
    }
  } finally {
    storage.remove();
  }
});
