// Webhooks end to end: a delivery whose forward_to failed is forwarded again
// on the sender's retry, a replay is a duplicate forwarded once, the sender's
// forwarding headers are keygate's own, unknown and unsigned deliveries are
// refused from their head, and MAX_WEBHOOK_BYTES has its ceiling.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { answeredEarly, startWorker } from "./fixture.mjs";
import { foldedHeaders, startRecordedWorker, MAX_WEBHOOK_BYTES, ORIGIN, SECRETS } from "./security.mjs";

let worker;
/** Every request the worker sent upstream (each source's forward_to). */
let received;
/** Answers forward_to gives next, in order; then 202. */
let upstreamAnswers;
/** `raw` to the worker's Miniflare port. */
let raw;

before(async () => {
  ({ worker, received, upstreamAnswers, raw } = await startRecordedWorker());
});
after(() => worker?.stop());

const hex = (secret, ...parts) => {
  const mac = createHmac("sha256", secret);
  for (const part of parts) mac.update(part);
  return mac.digest("hex");
};
const now = () => Math.floor(Date.now() / 1000);
const forwardsTo = (name) => received.filter((r) => r.url === `${ORIGIN}/hooks/${name}`);

const github = (body, delivery, extra = {}) =>
  raw("POST", "/webhooks/gh", {
    body,
    headers: {
      "content-type": "application/json",
      "x-hub-signature-256": `sha256=${hex(SECRETS.gh, body)}`,
      ...(delivery === undefined ? {} : { "x-github-delivery": delivery }),
      ...extra,
    },
  });

for (const status of [500, 503, 429]) {
  test(`a github delivery whose forward_to answers ${status} is forwarded again on the sender's retry`, async () => {
    received.length = 0;
    const body = JSON.stringify({ action: "opened", status });
    const delivery = `retry-${status}-${Date.now()}`;
    upstreamAnswers.push({ status, body: "try later" });
    const first = await github(body, delivery);
    assert.equal(first.status, status, "the sender sees the failure and will retry");
    const retry = await github(body, delivery);
    assert.equal(retry.status, 202, JSON.stringify(retry.body));
    assert.deepEqual(retry.body, { from: "origin" });
    // Once forward_to took it, a third copy is a duplicate.
    const third = await github(body, delivery);
    assert.equal(third.status, 200);
    assert.deepEqual(third.body, { verified: true, duplicate: true });
    const forwards = forwardsTo("gh");
    assert.equal(forwards.length, 2);
    for (const forward of forwards) {
      assert.equal(forward.body, body);
      assert.equal(foldedHeaders(forward.headers)["x-github-delivery"], delivery);
    }
  });
}

test("a github delivery without X-GitHub-Delivery is 401 and not forwarded", async () => {
  received.length = 0;
  const body = '{"action":"deleted"}';
  for (let i = 0; i < 2; i++) {
    const answer = await github(body, undefined);
    assert.equal(answer.status, 401);
    assert.equal(answer.body.error.code, "INVALID_SIGNATURE");
  }
  assert.equal(received.length, 0);
});

test("forwarded deliveries carry keygate's forwarding and source headers, not the sender's", async () => {
  received.length = 0;
  const body = '{"zen":"ok"}';
  const answer = await github(body, `headers-${Date.now()}`, {
    "X-Forwarded-For": "6.6.6.6",
    X_Real_IP: "6.6.6.6",
    "X-Keygate-Webhook-Source": "spoofed",
    X_Keygate_Webhook_Source: "spoofed",
    X_HTTP_Method_Override: "DELETE",
  });
  assert.equal(answer.status, 202);
  const headers = foldedHeaders(forwardsTo("gh")[0].headers);
  assert.equal(headers["x-keygate-webhook-source"], "gh");
  assert.equal(headers["x-forwarded-for"], "127.0.0.1");
  assert.equal(headers["x-real-ip"], undefined);
  assert.equal(headers["x-http-method-override"], undefined);
});

test("unknown sources and deliveries without signature headers are refused from their head", async () => {
  received.length = 0;
  // Larger than MAX_WEBHOOK_BYTES: a worker that read the body first would answer 413.
  const big = "x".repeat(MAX_WEBHOOK_BYTES * 4);
  const unknown = await raw("POST", "/webhooks/nope", { body: big, headers: { "x-hub-signature-256": "sha256=00" } });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, "NOT_FOUND");
  for (const [source, headers] of [
    ["gh", { "x-github-delivery": "d-1" }],
    ["gh", { "x-hub-signature-256": `sha256=${hex(SECRETS.gh, big)}` }],
    ["stripe", {}],
    ["slack", { "x-slack-request-timestamp": String(now()) }],
  ]) {
    const answer = await raw("POST", `/webhooks/${source}`, { body: big, headers });
    assert.equal(answer.status, 401, `${source} ${JSON.stringify(headers)}: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.error.code, "INVALID_SIGNATURE");
  }
  // With its headers, the same body is measured: 413.
  const signed = await answeredEarly(() => github(big, "big-1"));
  assert.equal(signed.status, 413);
  assert.equal(received.length, 0);
});

const stripe = (body, t = now(), secret = SECRETS.stripe) =>
  raw("POST", "/webhooks/stripe", {
    body,
    headers: { "content-type": "application/json", "stripe-signature": `t=${t},v1=${hex(secret, `${t}.`, body)}` },
  });
const slack = (body, ts = now(), secret = SECRETS.slack) =>
  raw("POST", "/webhooks/slack", {
    body,
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-slack-request-timestamp": String(ts),
      "x-slack-signature": `v0=${hex(secret, `v0:${ts}:`, body)}`,
    },
  });

for (const [name, send, body] of [
  ["stripe", stripe, JSON.stringify({ id: `evt_${Date.now()}`, type: "invoice.paid" })],
  ["slack", slack, `token=x&command=%2Fdeploy&n=${Date.now()}`],
]) {
  test(`a replayed ${name} delivery is a duplicate and forwarded once; a new signature is a new delivery`, async () => {
    received.length = 0;
    const t = now();
    const first = await send(body, t);
    assert.equal(first.status, 202, JSON.stringify(first.body));
    const replay = await send(body, t);
    assert.equal(replay.status, 200);
    assert.deepEqual(replay.body, { verified: true, duplicate: true });
    assert.equal(forwardsTo(name).length, 1, "the replay is not forwarded");
    assert.equal(forwardsTo(name)[0].body, body);
    // The sender's own retry is signed anew (another timestamp): it goes through.
    const resent = await send(body, t - 1);
    assert.equal(resent.status, 202);
    // A forged copy is refused, not counted as a duplicate.
    const forged = await send(body, t, "wrong secret");
    assert.equal(forged.status, 401);
    assert.equal(forwardsTo(name).length, 2);
  });

  test(`a ${name} delivery whose forward_to answers 503 is forwarded on the replay of the same signature`, async () => {
    received.length = 0;
    const t = now();
    const payload = `${body}\n`;
    upstreamAnswers.push({ status: 503 });
    assert.equal((await send(payload, t)).status, 503);
    assert.equal((await send(payload, t)).status, 202);
    assert.deepEqual((await send(payload, t)).body, { verified: true, duplicate: true });
    assert.equal(forwardsTo(name).length, 2);
  });
}

test("MAX_WEBHOOK_BYTES may be 25 MiB and no more", async () => {
  const at = async (bytes) => {
    const started = await startWorker({ vars: { MAX_WEBHOOK_BYTES: String(bytes) } });
    try {
      return await started.call("GET", "/healthz");
    } finally {
      await started.stop();
    }
  };
  assert.equal((await at(26214400)).status, 200);
  const over = await at(26214401);
  assert.equal(over.status, 500);
  const problem = over.body.error.problems.find((p) => p.startsWith("MAX_WEBHOOK_BYTES"));
  assert.match(problem, /from 1 to 26214400/);
});
