// Secret scanning under other configurations, end to end, each test with a
// worker of its own: LEAKED_KEY_ACTION=delete deletes a reported key, by the
// scanner; =report only marks it leaked and leaves it working; and without a
// usable public-key document every report is refused. (The default, `disable`,
// is secret-scanning.test.mjs's.) GitHub's side is scanning.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, root, sleep } from "./fixture.mjs";
import { assertLeak, item, label, refused, reportCalls, signed, startKeyServer, startScanningWorker, SCANNER } from "./scanning.mjs";

let keys;
/** Every call names its worker: each test starts its own. */
const { send, keyObject, auditOf, verify } = reportCalls();

before(async () => {
  keys = await startKeyServer();
});
after(() => keys?.close());

/** Starts another worker whose LEAKED_KEY_ACTION is `action`. */
const workerWith = (action) => startScanningWorker(keys, action);

test("with LEAKED_KEY_ACTION=delete the reported key is deleted, by the scanner", async () => {
  const deleting = await workerWith("delete");
  try {
    const project = "scan-delete";
    const key = await deleting.createKey(project, { name: "doomed" });
    const bystander = await deleting.createKey(project, { name: "bystander" });
    const report = signed([item(key.key, null, null), item("ghp_notours")]);
    const answer = await send(report, deleting);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body, [label(key.key, true), label("ghp_notours", false)]);

    const gone = await deleting.call("GET", `/v1/projects/${project}/keys/${key.id}`, { headers: root });
    assert.equal(gone.status, 404, JSON.stringify(gone.body));
    assert.equal(gone.body.error.code, "KEY_NOT_FOUND");
    const refusal = await verify(key.key, deleting);
    assert.equal(refusal.body.valid, false);
    assert.equal(refusal.body.code, "INVALID_API_KEY", JSON.stringify(refusal.body));

    const leakedEvents = await auditOf(project, key.id, "key.leaked", deleting);
    assert.equal(leakedEvents.length, 1, JSON.stringify(leakedEvents));
    assert.deepEqual(leakedEvents[0].actor, SCANNER);
    assert.deepEqual(Object.keys(leakedEvents[0].changes), ["leaked"], "delete does not deactivate first");
    assert.equal(leakedEvents[0].changes.leaked.from, null);
    assert.deepEqual([leakedEvents[0].changes.leaked.to.url, leakedEvents[0].changes.leaked.to.source], [null, null]);
    const deletedEvents = await auditOf(project, key.id, "key.deleted", deleting);
    assert.equal(deletedEvents.length, 1, JSON.stringify(deletedEvents));
    assert.deepEqual(deletedEvents[0].actor, SCANNER);
    assert.equal(deletedEvents[0].changes, null);

    // Once deleted, the key no longer exists: a replay is a false positive and logs nothing.
    assert.deepEqual((await send(report, deleting)).body, [label(key.key, false), label("ghp_notours", false)]);
    await sleep(500);
    assert.equal((await auditOf(project, key.id, "key.leaked", deleting)).length, 1);
    assert.equal((await auditOf(project, key.id, "key.deleted", deleting)).length, 1);
    assert.equal((await verify(bystander.key, deleting)).body.valid, true, "other keys are untouched");
  } finally {
    await deleting.stop();
  }
});

test("with LEAKED_KEY_ACTION=report the key keeps working and is only marked leaked", async () => {
  const reporting = await workerWith("report");
  try {
    const project = "scan-report";
    const key = await reporting.createKey(project, { name: "flagged" });
    const reported = item(key.key, "", null); // an empty url is recorded as none
    const report = signed([reported]);
    const from = Date.now();
    const answer = await send(report, reporting);
    const to = Date.now();
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body, [label(key.key, true)]);

    const after = await keyObject(project, key.id, reporting);
    assert.equal(after.status, "active");
    assertLeak(after.leaked, { url: null, source: null }, from, to);
    assert.equal((await verify(key.key, reporting)).body.valid, true, "the key still works");

    const events = await auditOf(project, key.id, "key.leaked", reporting);
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.deepEqual(events[0].actor, SCANNER);
    assert.deepEqual(events[0].changes, { leaked: { from: null, to: after.leaked } }, "the flag alone changed");

    const settled = await keyObject(project, key.id, reporting); // with the use above in last_used_at
    assert.deepEqual((await send(report, reporting)).body, [label(key.key, true)], "a replay is still a true positive");
    await sleep(500);
    assert.equal((await auditOf(project, key.id, "key.leaked", reporting)).length, 1, "no second key.leaked event");
    assert.deepEqual(await keyObject(project, key.id, reporting), settled, "the replay changed nothing");

    // Rotating the leaked key is the way out: its successor starts clean.
    const rotated = await reporting.call("POST", `/v1/projects/${project}/keys/${key.id}/rotate`, { headers: root });
    assert.equal(rotated.status, 201, JSON.stringify(rotated.body));
    assert.equal(rotated.body.leaked, null, "the successor is not leaked");
    assert.deepEqual((await keyObject(project, key.id, reporting)).leaked, after.leaked, "the old key still is");
  } finally {
    await reporting.stop();
  }
});

test("without a usable public-key document every report is 401 INVALID_SIGNATURE", async () => {
  const blind = await startWorker({
    vars: { SECRET_SCANNING_KEYS_URL: `http://127.0.0.1:${keys.port}/no-such-document` },
    outbound: null,
  });
  try {
    const key = await blind.createKey("scan-blind", { name: "safe" });
    refused(await send(signed([item(key.key)]), blind), "a document that answers 404");
    const after = await keyObject("scan-blind", key.id, blind);
    assert.deepEqual([after.status, after.leaked], ["active", null]);
  } finally {
    await blind.stop();
  }
});
