// Leaked keys end to end (README, "Leaked keys"): GitHub's secret-scanning
// partner endpoint, POST /v1/secret-scanning/github, with the default
// LEAKED_KEY_ACTION (`disable`); GitHub's side is scanning.mjs. It checks the
// labels GitHub gets back, what a report does to the keys and their audit log,
// that nothing unsigned changes anything, a replay, undoing a leak, and
// bodies that are no report.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { answeredEarly, makeKey, bearer, root, sleep } from "./fixture.mjs";
import { assertLeak, invalid, item, label, refused, reportCalls, signed } from "./scanning.mjs";
import { startKeyServer, startScanningWorker, retired, stranger, RETIRED, SCANNER, TOKEN_TYPE } from "./scanning.mjs";

let keys;
/** The worker with the default LEAKED_KEY_ACTION (`disable`). */
let worker;
const { send, keyObject, auditOf, verify } = reportCalls(() => worker);

before(async () => {
  keys = await startKeyServer();
  worker = await startScanningWorker(keys);
});
after(async () => {
  await worker?.stop();
  await keys?.close();
});

// GitHub reports every match of the registered pattern; keygate tells it
// which were real and neutralises those at once.
test("a signed report labels each token, disables this deployment's keys and logs the leak", async () => {
  const project = "scan-labels";
  const live = await worker.createKey(project, { name: "live one" });
  const sandbox = await worker.createKey(project, { name: "sandbox", environment: "test" });
  const gone = await worker.createKey(project, { name: "gone" });
  assert.equal((await worker.call("DELETE", `/v1/projects/${project}/keys/${gone.id}`, { headers: root })).status, 204);
  assert.match(sandbox.key, /^sk_test_/);
  assert.equal((await keyObject(project, live.id)).leaked, null, "no `leaked` before a report");

  const mistyped = live.key.slice(0, 20) + (live.key[20] === "x" ? "y" : "x") + live.key.slice(21);
  const reported = [
    item(live.key),
    item(gone.key, "https://github.com/octo/app/commit/9f8e7d", "commit"),
    item("ghp_notours"),
    item(sandbox.key, "https://www.npmjs.com/package/octo-app", "npm"),
    item(makeKey("live")), // well-formed and checksummed, but no key of this deployment
    item(mistyped), // a checksum mismatch
    item("sk_live_tooshort"),
  ];
  const report = signed(reported);
  const from = Date.now();
  const answer = await send(report);
  const to = Date.now();
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.deepEqual(answer.body, [
    label(live.key, true),
    label(gone.key, false),
    label("ghp_notours", false),
    label(sandbox.key, true),
    label(reported[4].token, false),
    label(mistyped, false),
    label("sk_live_tooshort", false),
  ]);
  const text = JSON.stringify(answer.body);
  for (const { token } of reported) assert.ok(!text.includes(token), "the answer never holds a reported token");

  // The live key is refused on its very next request, as if the admin token had deactivated it.
  const refusal = await verify(live.key);
  assert.equal(refusal.status, 200);
  assert.deepEqual([refusal.body.valid, refusal.body.code], [false, "API_KEY_DISABLED"], JSON.stringify(refusal.body));
  const liveAfter = await keyObject(project, live.id);
  assert.equal(liveAfter.status, "inactive");
  assertLeak(liveAfter.leaked, reported[0], from, to);

  // The other environment's key is this deployment's too: disabled and marked alike.
  const sandboxAfter = await keyObject(project, sandbox.id);
  assert.equal(sandboxAfter.environment, "test");
  assert.equal(sandboxAfter.status, "inactive");
  assertLeak(sandboxAfter.leaked, reported[3], from, to);

  // The deleted key stays deleted, and nothing is logged for it.
  const deleted = await worker.call("GET", `/v1/projects/${project}/keys/${gone.id}`, { headers: root });
  assert.equal(deleted.status, 404);
  assert.equal(deleted.body.error.code, "KEY_NOT_FOUND");
  assert.deepEqual(await auditOf(project, gone.id, "key.leaked"), []);

  // One key.leaked event per true positive, by the scanner, with what changed.
  for (const [key, after] of [
    [live, liveAfter],
    [sandbox, sandboxAfter],
  ]) {
    const events = await auditOf(project, key.id, "key.leaked");
    assert.equal(events.length, 1, JSON.stringify(events));
    const [event] = events;
    assert.equal(event.action, "key.leaked");
    assert.equal(event.key_id, key.id);
    assert.deepEqual(event.actor, SCANNER);
    assert.deepEqual(Object.keys(event.changes).sort(), ["leaked", "status"]);
    assert.deepEqual(event.changes.leaked, { from: null, to: after.leaked });
    assert.deepEqual(event.changes.status, { from: "active", to: "inactive" });
    assert.ok(!JSON.stringify(event).includes(key.key), "no secret in the audit event");
  }
  // The project's whole leak log holds exactly those two.
  const all = await worker.call("GET", `/v1/projects/${project}/audit?action=key.leaked`, { headers: root });
  assert.deepEqual(all.body.events.map((e) => e.key_id).sort(), [live.id, sandbox.id].sort());
});

// Only a report GitHub signed with a current key may touch a key; every
// failure looks the same to the sender, and none reads the body.
test("a report whose signature does not hold is 401 INVALID_SIGNATURE and changes nothing", async () => {
  const project = "scan-forged";
  const target = await worker.createKey(project, { name: "target" });
  const items = [item(target.key)];
  const good = signed(items);
  const tampered = JSON.stringify([item(target.key, "https://github.com/octo/app/blob/0a1b2c/other.js")]);
  assert.notEqual(tampered, good.body);
  const withHeaders = (changes) => ({ ...good, headers: { ...good.headers, ...changes } });
  const without = (name) => {
    const headers = { ...good.headers };
    delete headers[name];
    return { ...good, headers };
  };
  const fetchesBefore = keys.fetches.get("disable") ?? 0;

  const forgeries = {
    "a tampered body": { ...good, body: tampered },
    "a signature by the retired key": signed(items, { pair: retired, identifier: RETIRED }),
    "the current key's signature under the retired identifier": withHeaders({ "github-public-key-identifier": RETIRED }),
    "a signature by a key GitHub never published": signed(items, { pair: stranger }),
    "an unknown identifier": withHeaders({ "github-public-key-identifier": "no-such-identifier" }),
    "garbage base64": withHeaders({ "github-public-key-signature": "!!not*base64!!" }),
    "base64 of bytes that are not DER": withHeaders({ "github-public-key-signature": Buffer.from("hello").toString("base64") }),
    "an empty signature": withHeaders({ "github-public-key-signature": "" }),
    "a missing signature header": without("github-public-key-signature"),
    "a missing identifier header": without("github-public-key-identifier"),
    "no signature headers at all": { body: good.body, headers: { "content-type": "application/json" } },
    // Nothing in the body is read before the signature holds: malformed and unsigned is still 401.
    "a malformed body, unsigned": { body: "{not json", headers: { "content-type": "application/json" } },
    "a malformed body, badly signed": { ...good, body: "{not json" },
  };
  for (const [what, report] of Object.entries(forgeries)) refused(await send(report), what);

  const after = await keyObject(project, target.id);
  assert.equal(after.status, "active");
  assert.equal(after.leaked, null);
  assert.equal((await verify(target.key)).body.valid, true, "the key still works");
  assert.deepEqual(await auditOf(project, target.id, "key.leaked"), []);
  // An unknown identifier does not make keygate fetch the document again within the minute.
  const fetched = keys.fetches.get("disable") ?? 0;
  assert.ok(fetched - fetchesBefore <= 1, `document fetched ${fetched} times`);

  // The control: the very same report, properly signed, is taken.
  assert.deepEqual((await send(good)).body, [label(target.key, true)]);
  assert.equal((await keyObject(project, target.id)).status, "inactive");
});

// GitHub may deliver a report again; a replay is labelled the same and does nothing more.
test("a replayed report is labelled the same and changes nothing more", async () => {
  const project = "scan-replay";
  const key = await worker.createKey(project, { name: "replayed" });
  const sandbox = await worker.createKey(project, { name: "replayed sandbox", environment: "test" });
  const report = signed([item(key.key), item(sandbox.key), item("ghp_notours")]);
  const expected = [label(key.key, true), label(sandbox.key, true), label("ghp_notours", false)];

  const first = await send(report);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.deepEqual(first.body, expected);
  const objectsAfterFirst = [await keyObject(project, key.id), await keyObject(project, sandbox.id)];

  for (let n = 0; n < 2; n++) {
    const again = await send(report);
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.deepEqual(again.body, expected, "a key already marked leaked is still a true positive");
  }
  await sleep(500);
  const objectsAfterReplay = [await keyObject(project, key.id), await keyObject(project, sandbox.id)];
  assert.deepEqual(objectsAfterReplay, objectsAfterFirst, "the replay changed nothing (not even `leaked.at`)");
  assert.equal((await auditOf(project, key.id, "key.leaked")).length, 1, "no second key.leaked event");
  assert.equal((await auditOf(project, sandbox.id, "key.leaked")).length, 1, "no second key.leaked event");
  assert.equal((await auditOf(project, key.id, "key.updated")).length, 0, "nor any other event");
});

// A leak the report disabled is the admin token's to undo, not a key's.
test("a keys:write key cannot re-activate a key the report disabled; the admin token can", async () => {
  const project = "scan-reactivate";
  const writer = await worker.createKey(project, { name: "writer", scopes: ["keys:write", "keys:read"] });
  const leaked = await worker.createKey(project, { name: "leaked" });
  const plain = await worker.createKey(project, { name: "plain" });
  assert.deepEqual((await send(signed([item(leaked.key)]))).body, [label(leaked.key, true)]);

  const path = `/v1/projects/${project}/keys/${leaked.id}`;
  const byKey = await worker.call("PATCH", path, { headers: bearer(writer.key), json: { status: "active" } });
  assert.equal(byKey.status, 403, JSON.stringify(byKey.body));
  assert.equal(byKey.body.error.code, "INSUFFICIENT_PERMISSIONS");
  assert.equal(byKey.body.error.field, "status");
  assert.equal((await keyObject(project, leaked.id)).status, "inactive");
  assert.equal((await verify(leaked.key)).body.code, "API_KEY_DISABLED");

  // The control: the same key may re-activate a key that it deactivated itself.
  const plainPath = `/v1/projects/${project}/keys/${plain.id}`;
  for (const status of ["inactive", "active"]) {
    const answer = await worker.call("PATCH", plainPath, { headers: bearer(writer.key), json: { status } });
    assert.equal(answer.status, 200, `${status}: ${JSON.stringify(answer.body)}`);
  }

  const byAdmin = await worker.call("PATCH", path, { headers: root, json: { status: "active" } });
  assert.equal(byAdmin.status, 200, JSON.stringify(byAdmin.body));
  assert.equal(byAdmin.body.status, "active");
  assert.ok(byAdmin.body.leaked, "re-activating does not erase the record of the leak");
  assert.equal((await verify(leaked.key)).body.valid, true);
});

// Only a JSON array of {token, type, url, source} is a report, even when signed.
test("a signed body that is not a report is 400 VALIDATION_ERROR (413 above 1 MiB) and changes nothing", async () => {
  const project = "scan-malformed";
  const key = await worker.createKey(project, { name: "untouched" });
  const bodies = {
    "an object": { token: key.key, type: TOKEN_TYPE, url: null, source: null },
    "a string": key.key,
    "an item without token": [{ type: TOKEN_TYPE, url: null, source: null }, item(key.key)],
    "an item whose token is a number": [{ token: 42, type: TOKEN_TYPE, url: null, source: null }],
    "an item that is not an object": [key.key],
    "more than 1000 items": Array.from({ length: 1001 }, () => item("ghp_notours")),
    "not JSON": `[${JSON.stringify(item(key.key))}`,
  };
  for (const [what, body] of Object.entries(bodies)) invalid(await send(signed(body)), what);

  const huge = JSON.stringify([item(key.key), item("x".repeat(1024 * 1024))]);
  const tooLarge = await answeredEarly(() => send(signed(huge)));
  assert.equal(tooLarge.status, 413, JSON.stringify(tooLarge.body));
  assert.equal(tooLarge.body.error.code, "PAYLOAD_TOO_LARGE");

  const after = await keyObject(project, key.id);
  assert.deepEqual([after.status, after.leaked], ["active", null]);
  assert.deepEqual(await auditOf(project, key.id, "key.leaked"), []);

  // The edges of a valid report: empty, null and absent `url`/`source`, extra fields ignored.
  assert.deepEqual((await send(signed([]))).body, []);
  const edges = [{ token: "ghp_notours", type: TOKEN_TYPE, extra: true }];
  assert.deepEqual((await send(signed(edges))).body, [label("ghp_notours", false)]);
});
