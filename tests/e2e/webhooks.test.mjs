// Signed webhooks end to end: verification, replay protection, forwarding, size caps.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import { Response } from "miniflare";
import { answeredEarly, startWorker } from "./fixture.mjs";

const SECRET = "a github secret";
const received = [];
let worker;

before(async () => {
  worker = await startWorker({
    vars: {
      WEBHOOKS: JSON.stringify({
        gh: { scheme: "github", forward_to: "https://origin.test/hooks/gh" },
        slack: { scheme: "slack" },
      }),
      WEBHOOK_SECRET_GH: SECRET,
      WEBHOOK_SECRET_SLACK: "slack secret",
      MAX_WEBHOOK_BYTES: "2048",
    },
    outbound: async (request) => {
      received.push({
        url: request.url,
        method: request.method,
        headers: Object.fromEntries(request.headers),
        body: Buffer.from(await request.arrayBuffer()),
      });
      return new Response("origin took it", { status: 202, headers: { "x-origin": "1" } });
    },
  });
});
after(() => worker?.stop());

const githubSignature = (body, secret = SECRET) =>
  `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

const deliver = (body, delivery, signature = githubSignature(body)) =>
  worker.call("POST", "/webhooks/gh", {
    body,
    headers: {
      "content-type": "application/json",
      "x-hub-signature-256": signature,
      "x-github-delivery": delivery,
      "x-keygate-webhook-source": "spoofed",
    },
  });

test("a signed delivery is forwarded once, byte for byte; a repeat is a duplicate", async () => {
  const body = Buffer.from('{"zen" : "Keep it logically awesome.",\n "n": 1.0, "é": "\\u00e9"}');
  const first = await deliver(body, "delivery-1");
  assert.equal(first.status, 202);
  assert.equal(first.body, "origin took it");
  assert.equal(first.headers.get("x-origin"), "1");
  assert.equal(received.length, 1);
  const [forwarded] = received;
  assert.equal(forwarded.url, "https://origin.test/hooks/gh");
  assert.equal(forwarded.method, "POST");
  assert.ok(forwarded.body.equals(body), "exact bytes");
  assert.equal(forwarded.headers["x-keygate-webhook-source"], "gh");
  assert.equal(forwarded.headers["x-github-delivery"], "delivery-1");
  assert.equal(forwarded.headers["x-hub-signature-256"], githubSignature(body));

  const repeat = await deliver(body, "delivery-1");
  assert.equal(repeat.status, 200);
  assert.deepEqual(repeat.body, { verified: true, duplicate: true });
  assert.equal(received.length, 1, "not forwarded again");
});

test("a forged delivery is 401 and not forwarded", async () => {
  const before = received.length;
  const body = '{"action":"deleted"}';
  for (const signature of [githubSignature(body, "wrong secret"), githubSignature('{"action":"created"}'), "sha256=", ""]) {
    const answer = await deliver(body, `forged-${signature.length}`, signature);
    assert.equal(answer.status, 401);
    assert.equal(answer.body.error.code, "INVALID_SIGNATURE");
    assert.equal(answer.headers.get("www-authenticate"), 'Bearer realm="keygate"');
  }
  assert.equal(received.length, before);
});

test("bodies over MAX_WEBHOOK_BYTES are 413, declared or streamed", async () => {
  const big = "x".repeat(4096);
  const declared = await answeredEarly(() => deliver(big, "big-1"));
  assert.equal(declared.status, 413);
  assert.equal(declared.body.error.code, "PAYLOAD_TOO_LARGE");
  assert.equal(declared.body.error.limit_bytes, 2048);
  const chunks = [new TextEncoder().encode(big.slice(0, 2000)), new TextEncoder().encode(big.slice(2000))];
  const stream = new ReadableStream({
    pull(controller) {
      const next = chunks.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  });
  const streamed = await worker.call("POST", "/webhooks/gh", {
    body: stream,
    headers: { "x-hub-signature-256": githubSignature(big), "x-github-delivery": "big-2" },
  });
  assert.equal(streamed.status, 413);
});

test("an unreachable forward_to is 502 and the retry is forwarded", async () => {
  // A real origin on loopback, closed for the first attempt: a true connection failure.
  const hits = [];
  const origin = createServer((request, response) => {
    hits.push(request.headers["x-github-delivery"]);
    response.writeHead(204).end();
  });
  await new Promise((resolve) => origin.listen(0, "127.0.0.1", resolve));
  const { port } = origin.address();
  await new Promise((resolve) => origin.close(resolve));
  const direct = await startWorker({
    vars: {
      WEBHOOKS: JSON.stringify({ gh: { scheme: "github", forward_to: `http://127.0.0.1:${port}/hooks` } }),
      WEBHOOK_SECRET_GH: SECRET,
    },
    outbound: null,
  });
  try {
    const call = () =>
      direct.call("POST", "/webhooks/gh", {
        body: "{}",
        headers: { "x-hub-signature-256": githubSignature("{}"), "x-github-delivery": "retry-1" },
      });
    const down = await call();
    assert.equal(down.status, 502);
    assert.equal(down.body.error.code, "ORIGIN_ERROR");
    await new Promise((resolve) => origin.listen(port, "127.0.0.1", resolve));
    const retry = await call();
    assert.equal(retry.status, 204);
    assert.deepEqual(hits, ["retry-1"]);
  } finally {
    await direct.stop();
    origin.close();
  }
});

test("a slack delivery without forward_to is answered, and stale timestamps refused", async () => {
  const ts = Math.floor(Date.now() / 1000);
  const body = "token=x&command=%2Fdeploy";
  const sign = (t) => `v0=${createHmac("sha256", "slack secret").update(`v0:${t}:${body}`).digest("hex")}`;
  const ok = await worker.call("POST", "/webhooks/slack", {
    body,
    headers: { "x-slack-request-timestamp": String(ts), "x-slack-signature": sign(ts) },
  });
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.body, { verified: true, source: "slack", id: null });
  const stale = await worker.call("POST", "/webhooks/slack", {
    body,
    headers: { "x-slack-request-timestamp": String(ts - 3600), "x-slack-signature": sign(ts - 3600) },
  });
  assert.equal(stale.status, 401);
  assert.match(stale.body.error.message, /tolerance/);
});

test("a source without its secret is a CONFIG_ERROR naming it", async () => {
  const broken = await startWorker({ vars: { WEBHOOKS: JSON.stringify({ "my-src": { scheme: "github" } }) } });
  try {
    const health = await broken.call("GET", "/healthz");
    assert.equal(health.status, 500);
    assert.ok(health.body.error.problems.some((p) => p.includes("WEBHOOK_SECRET_MY_SRC")));
  } finally {
    await broken.stop();
  }
});
