// Signed event notifications end to end (README, "Event notifications"):
// through the real events queue and its dead-letter queue in Miniflare, to a
// receiver that checks each one with the `standardwebhooks` package (the
// spec's published verifier, not keygate's code).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { Response } from "miniflare";
import { startWorker, ADMIN_TOKEN, eventually } from "./fixture.mjs";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const RECEIVER = "https://hooks.example/keygate";
const root = { authorization: `Bearer ${ADMIN_TOKEN}` };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Everything POSTed to the receiver: verified by the package, or `null` when it refused. */
const received = [];
let receiverStatus = 200;
let worker;

before(async () => {
  worker = await startWorker({
    vars: { EVENTS_URL: RECEIVER, EVENTS_SECRET: SECRET, EVENTS_RETRY_SECONDS: "1" },
    // Two retries (1 s, then 2 s) before the dead-letter queue, instead of ten.
    queueRetries: 2,
    outbound: async (request) => {
      if (!request.url.startsWith(RECEIVER)) return new Response("unexpected", { status: 599 });
      const body = await request.text();
      const headers = Object.fromEntries(request.headers);
      let event = null;
      try {
        event = new Webhook(SECRET).verify(body, headers);
      } catch {
        // Recorded as refused: the test fails on it.
      }
      received.push({ id: headers["webhook-id"], body, event, status: receiverStatus });
      return new Response(receiverStatus < 300 ? "ok" : "down", { status: receiverStatus });
    },
  });
});
after(() => worker?.stop());


/** The verified events about `keyId`, in order of arrival. */
const eventsOf = (keyId) =>
  received.filter((r) => r.event && (r.event.data.key_id === keyId || r.event.data.new_key_id === keyId));

test("every admin change reaches the receiver signed, once per event id, with no secret in it", async () => {
  const created = await worker.createKey("events", { name: "signed", scopes: ["bots:read"] });
  const patched = await worker.call("PATCH", `/v1/projects/events/keys/${created.id}`, {
    headers: root,
    json: { name: "renamed" },
  });
  assert.equal(patched.status, 200);
  const rotated = await worker.call("POST", `/v1/projects/events/keys/${created.id}/rotate`, { headers: root });
  assert.equal(rotated.status, 201);
  const deleted = await worker.call("DELETE", `/v1/projects/events/keys/${rotated.body.id}`, { headers: root });
  assert.equal(deleted.status, 204);

  const ours = () => received.filter((r) => r.event && [created.id, rotated.body.id].includes(r.event.data.key_id));
  await eventually(() => {
    const types = ours().map((r) => r.event.type);
    assert.deepEqual(types.sort(), ["key.created", "key.deleted", "key.rotated", "key.updated"]);
  });
  assert.ok(received.every((r) => r.event !== null), "every delivery verifies with the standardwebhooks package");
  const mine = ours();
  assert.equal(mine.find((r) => r.event.type === "key.rotated").event.data.new_key_id, rotated.body.id);
  assert.equal(mine.find((r) => r.event.type === "key.deleted").event.data.key_id, rotated.body.id);
  for (const { event, body, id } of mine) {
    assert.equal(event.data.project, "events");
    assert.match(event.timestamp, /^\d{4}-\d{2}-\d{2}T/);
    assert.equal(id, event.data.id, "webhook-id is the audit event's id");
    for (const secret of [created.key, rotated.body.key, SECRET, ADMIN_TOKEN]) {
      assert.ok(!body.includes(secret), "no secret in an event");
    }
  }
  const updated = mine.find((r) => r.event.type === "key.updated").event;
  assert.deepEqual(updated.data.changes.name, { from: "signed", to: "renamed" });
  assert.equal(updated.data.actor.type, "admin_token");
  // The same event is never delivered twice while the receiver answers 2xx.
  const ids = mine.map((r) => r.id);
  assert.equal(new Set(ids).size, ids.length);
});

test("the first rate-limited refusal in an hour is told, and only the first", async () => {
  const key = await worker.createKey("events", { name: "busy", rate_limit: { per_minute: 1, per_day: 100 } });
  const verify = () =>
    worker.call("POST", "/v1/keys/verify", { headers: { authorization: `Bearer ${key.key}` }, json: {} });
  assert.equal((await verify()).body.valid, true);
  for (let n = 0; n < 3; n++) assert.equal((await verify()).body.code, "RATE_LIMIT_EXCEEDED");
  const limited = () => eventsOf(key.id).filter((r) => r.event.type === "key.rate_limited");
  // Delivered with the key's outbox (a few seconds), then through the queue.
  await eventually(() => assert.equal(limited().length, 1), 30_000);
  const { data } = limited()[0].event;
  assert.equal(data.name, "busy");
  assert.equal(data.policy, "minute");
  assert.deepEqual(data.rate_limit, { per_minute: 1, per_day: 100 });
  await sleep(1500);
  assert.equal(limited().length, 1, "later refusals in the hour are not told again");
});

test("a receiver that fails gets retries, then the event is listed as failed and a retry delivers it", async () => {
  receiverStatus = 500;
  const key = await worker.createKey("events", { name: "unlucky" });
  const attempts = () => eventsOf(key.id).filter((r) => r.event.type === "key.created");
  // The first attempt and two retries, all with one id, then the dead-letter queue.
  await eventually(() => assert.equal(attempts().length, 3), 30_000);
  assert.equal(new Set(attempts().map((r) => r.id)).size, 1, "one webhook-id through every retry");
  const failed = await eventually(async () => {
    const answer = await worker.call("GET", "/v1/projects/events/events?status=failed", { headers: root });
    assert.equal(answer.status, 200);
    const event = answer.body.events.find((e) => e.data.key_id === key.id);
    assert.ok(event, JSON.stringify(answer.body));
    return event;
  });
  assert.equal(failed.type, "key.created");
  assert.equal(failed.status, "failed");
  assert.match(failed.failed_at, /^\d{4}-\d{2}-\d{2}T/);
  assert.equal(failed.id, attempts()[0].id);

  receiverStatus = 200;
  const retried = await worker.call("POST", `/v1/projects/events/events/${failed.id}/retry`, { headers: root });
  assert.equal(retried.status, 202, JSON.stringify(retried.body));
  assert.deepEqual(retried.body, { id: failed.id, status: "pending" });
  await eventually(() => assert.equal(attempts().at(-1).status, 200));
  assert.equal(attempts().at(-1).id, failed.id, "the retry keeps the event's id");
  const after = await worker.call("GET", "/v1/projects/events/events", { headers: root });
  assert.ok(!after.body.events.some((e) => e.id === failed.id), "no longer failed");
  const again = await worker.call("POST", `/v1/projects/events/events/${failed.id}/retry`, { headers: root });
  assert.equal(again.status, 404);
  assert.equal(again.body.error.code, "EVENT_NOT_FOUND");
});

test("failed events are the admin token's alone, and bad input gets the contract's errors", async () => {
  const writer = await worker.createKey("events", { name: "writer", scopes: ["keys:write", "keys:read"] });
  const asKey = { authorization: `Bearer ${writer.key}` };
  const listed = await worker.call("GET", "/v1/projects/events/events?status=failed", { headers: asKey });
  assert.equal(listed.status, 403);
  const retried = await worker.call("POST", "/v1/projects/events/events/evt_0000000000000000000000/retry", {
    headers: asKey,
  });
  assert.equal(retried.status, 403);
  const status = await worker.call("GET", "/v1/projects/events/events?status=sent", { headers: root });
  assert.equal(status.status, 400);
  assert.equal(status.body.error.field, "status");
  const unknown = await worker.call("GET", "/v1/projects/events/events?when=now", { headers: root });
  assert.equal(unknown.status, 400);
  for (const id of ["evt_0000000000000000000000", "nope", "evt_%2e%2e"]) {
    const answer = await worker.call("POST", `/v1/projects/events/events/${id}/retry`, { headers: root });
    assert.equal(answer.status, 404, id);
  }
  const withBody = await worker.call("POST", "/v1/projects/events/events/evt_0000000000000000000000/retry", {
    headers: root,
    json: { force: true },
  });
  assert.equal(withBody.status, 400);
});

test("events configured without the queue binding are a CONFIG_ERROR, not silently lost", async () => {
  const unqueued = await startWorker({ vars: { EVENTS_URL: RECEIVER, EVENTS_SECRET: SECRET }, queues: false });
  try {
    const answer = await unqueued.call("GET", "/v1/projects/events/keys", { headers: root });
    assert.equal(answer.status, 500);
    assert.equal(answer.body.error.code, "CONFIG_ERROR");
  } finally {
    await unqueued.stop();
  }
});
