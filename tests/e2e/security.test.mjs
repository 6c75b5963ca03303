// The security fixes end to end: raw request targets an origin could read
// differently, method overrides, forged forwarding and identity headers,
// webhook retries and replays, no-store on secrets, and a lowered daily quota.
//
// Requests whose path matters go over a real socket with node:http, which
// sends `path` byte for byte: Miniflare's dispatchFetch and Node's fetch parse
// the URL first and would resolve `..` and turn `\` into `/` before keygate
// could see them. They go in twice: through Miniflare's entry worker, and
// straight into the worker, as workerd alone hands requests over.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { request as httpRequest } from "node:http";
import { Miniflare, Response } from "miniflare";
import { answeredEarly, startWorker, makeKey, ADMIN_TOKEN, COMPATIBILITY_DATE } from "./fixture.mjs";

const ORIGIN = "https://origin.test";
const SECRETS = { gh: "github secret", stripe: "stripe secret", slack: "slack secret" };
const MAX_WEBHOOK_BYTES = 4096;
const root = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** Every request the worker sent upstream (the gateway origin and webhook forward_to). */
const received = [];
/** Answers the upstream gives next, in order; then 200 (gateway) or 202 (webhooks). */
const upstreamAnswers = [];
let worker;
let port;
/** Ports of the worker, and of a worker that echoes its URL, through each entrance. */
let ports;
let echo;
let echoPorts;
let botsKey;

before(async () => {
  worker = await startWorker({
    port: 0,
    direct: true,
    vars: {
      ORIGIN,
      KEY_HEADERS: "X-API-Key",
      WEBHOOKS: JSON.stringify({
        gh: { scheme: "github", forward_to: `${ORIGIN}/hooks/gh` },
        stripe: { scheme: "stripe", forward_to: `${ORIGIN}/hooks/stripe` },
        slack: { scheme: "slack", forward_to: `${ORIGIN}/hooks/slack` },
      }),
      WEBHOOK_SECRET_GH: SECRETS.gh,
      WEBHOOK_SECRET_STRIPE: SECRETS.stripe,
      WEBHOOK_SECRET_SLACK: SECRETS.slack,
      MAX_WEBHOOK_BYTES: String(MAX_WEBHOOK_BYTES),
    },
    outbound: async (request) => {
      received.push({
        method: request.method,
        url: request.url,
        headers: [...request.headers],
        body: Buffer.from(await request.arrayBuffer()).toString(),
      });
      const next = upstreamAnswers.shift();
      if (next) return new Response(next.body ?? "", { status: next.status });
      const webhook = new URL(request.url).pathname.startsWith("/hooks/");
      return new Response(JSON.stringify({ from: "origin" }), {
        status: webhook ? 202 : 200,
        headers: { "content-type": "application/json" },
      });
    },
  });
  port = Number(new URL(worker.url).port);
  ports = { miniflare: port, workerd: Number(worker.directUrl.port) };
  // The same runtime with a worker that only echoes the URL it was handed.
  echo = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    modules: true,
    compatibilityDate: COMPATIBILITY_DATE,
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
    script: `export default { fetch: (request) => new Response(request.url) };`,
  });
  echoPorts = {
    miniflare: Number(new URL(await echo.ready).port),
    workerd: Number((await echo.unsafeGetDirectURL()).port),
  };
  // Hundreds of requests in this file: a quota far from them, so no answer is a 429.
  botsKey = await worker.createKey("acme", {
    name: "bots reader",
    scopes: ["bots:read"],
    rate_limit: { per_minute: 100000, per_day: 1000000 },
  });
});
after(async () => {
  await echo?.dispose();
  await worker?.stop();
});

/**
 * Sends `target` as the request target, unparsed, to 127.0.0.1:`to`; header
 * names go as written (node:http keeps `_` and case).
 */
function raw(method, target, { headers = {}, body, to = port } = {}) {
  return new Promise((resolve, reject) => {
    const options = { host: "127.0.0.1", port: to, method, path: target, headers, agent: false };
    const outgoing = httpRequest(options, (answer) => {
      const chunks = [];
      answer.on("data", (chunk) => chunks.push(chunk));
      answer.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        let data = text;
        try {
          data = text ? JSON.parse(text) : null;
        } catch {}
        resolve({ status: answer.statusCode, headers: answer.headers, body: data });
      });
      answer.on("error", reject);
    });
    outgoing.setTimeout(20_000, () => outgoing.destroy(new Error(`no answer to ${method} ${target}`)));
    outgoing.on("error", reject);
    outgoing.end(body);
  });
}

/**
 * The two ways in: Miniflare's entry worker (what `wrangler dev` serves; it
 * re-parses the URL with the WHATWG parser) and a socket straight into the
 * worker, where it is handed what workerd alone hands it, as in production.
 */
const ENTRANCES = ["miniflare", "workerd"];

/** The path a worker is handed for the raw `target` through `entrance`. */
async function handedPath(entrance, target) {
  const { status, body } = await raw("GET", target, { to: echoPorts[entrance] });
  assert.equal(status, 200, `the echo worker answers ${target}`);
  const url = String(body);
  return url.slice(url.indexOf("/", "http://".length));
}

const P = "/v1/projects/acme/bots";
const SAME = null;
/**
 * Requests for another resource through a `bots:read` key of project acme,
 * and the path a worker is handed for each, through Miniflare and workerd
 * (SAME: byte for byte as sent).
 */
const ATTACKS = [
  [`${P}/..;/..;/victim/billing`, SAME, SAME],
  [`${P}/..%2F..%2Fvictim/billing`, SAME, SAME],
  [`${P}/..%2f..%2fvictim/billing`, SAME, SAME],
  [`${P}/..%5C..%5Cvictim/billing`, SAME, SAME],
  [`${P}/..%5c..%5cvictim/billing`, SAME, SAME],
  [`${P}/..\\..\\victim/billing`, "/v1/projects/victim/billing", SAME],
  [`${P}/%252e%252e/%252e%252e/victim/billing`, SAME, SAME],
  [`${P}/%2e%2e/%2e%2e/victim/billing`, "/v1/projects/victim/billing", SAME],
  [`${P}/.%2E/.%2E/victim/billing`, "/v1/projects/victim/billing", SAME],
  [`${P}/%2E./victim`, "/v1/projects/acme/victim", SAME],
  [`${P}/../../victim/billing`, "/v1/projects/victim/billing", "/v1/projects/victim/billing"],
  [`${P}/./../../victim/billing`, "/v1/projects/victim/billing", "/v1/projects/victim/billing"],
  [`${P}/..`, "/v1/projects/acme/", "/v1/projects/acme/"],
  [`${P}/%00`, SAME, SAME],
  [`${P}/1%0a`, SAME, SAME],
  [`${P}/%c0%ae%c0%ae/%c0%ae%c0%ae/victim/billing`, SAME, SAME],
  [`${P}/%C3%A9`, SAME, SAME],
  // node:http sends this as the one byte 0xE9, which is not UTF-8: U+FFFD, encoded or not.
  [`${P}/\u00e9`, `${P}/%EF%BF%BD`, `${P}/\ufffd`],
  [`${P}//1`, SAME, SAME],
  [`/v1//projects/acme/bots/1`, SAME, SAME],
  [`//origin.evil/v1/projects/acme/bots/1`, SAME, SAME],
  [`${P};jsessionid=x/1`, SAME, SAME],
  [`${P}%3B/1`, SAME, SAME],
  [`${P}/%25`, SAME, SAME],
  [`${P}/%zz`, SAME, SAME],
];
/** Harmless dot segments: resolved by the runtime, or refused by keygate. */
const DOTS = [
  [`${P}/./1`, `${P}/1`, `${P}/1`],
  [`${P}/x/../1`, `${P}/1`, `${P}/1`],
  [`${P}/%2e/1`, `${P}/1`, SAME],
  [`${P}/x/%2E%2E/1`, `${P}/1`, SAME],
  [`${P}/x/..\\1`, `${P}/1`, SAME],
];
const handedBy = (entrance, [target, miniflare, workerd]) => (entrance === "miniflare" ? miniflare : workerd) ?? target;

test("the runtime hands a worker these raw targets unchanged, or resolved as listed", async () => {
  // Pins what workerd and Miniflare do, so the next tests' split is known, not assumed.
  for (const entrance of ENTRANCES) {
    for (const row of [...ATTACKS, ...DOTS]) {
      assert.equal(await handedPath(entrance, row[0]), handedBy(entrance, row), `${entrance}: ${row[0]}`);
    }
  }
});

/**
 * What keygate answers `target` through `entrance`: 400 INVALID_PATH when it
 * was handed the target as sent; otherwise, whatever it answers the path it
 * was handed (sent as is), which must be INVALID_PATH when that is not ASCII.
 */
async function checkPath(entrance, row, headers) {
  const [target] = row;
  const to = ports[entrance];
  const answer = await raw("GET", target, { headers, to });
  const handed = handedBy(entrance, row);
  const as = handed === target ? "" : ` (handed ${handed})`;
  const context = `${entrance}: ${target}${as}: ${JSON.stringify(answer.body)}`;
  if (handed === target || !/^[\x21-\x7e]*$/.test(handed)) {
    assert.equal(answer.status, 400, context);
    assert.equal(answer.body.error.code, "INVALID_PATH", context);
    assert.ok(!answer.body.error.message.includes("victim"), "the message never repeats the path");
  } else {
    const resolved = await raw("GET", handed, { headers, to });
    assert.deepEqual([answer.status, answer.body], [resolved.status, resolved.body], context);
  }
  return answer;
}

test("paths an origin could read differently are 400 INVALID_PATH and reach no origin", async () => {
  received.length = 0;
  const auth = { authorization: `Bearer ${botsKey.key}` };
  for (const entrance of ENTRANCES) {
    for (const row of ATTACKS) {
      const answer = await checkPath(entrance, row, auth);
      assert.ok(answer.status >= 400 && answer.status < 500, `${entrance}: ${row[0]}: ${answer.status}`);
    }
  }
  assert.deepEqual(received, [], "the origin saw nothing");
});

test("an invalid path is refused before any credential work", async () => {
  received.length = 0;
  const target = `${P}/..;/..;/victim/billing`;
  for (const headers of [{}, { authorization: `Bearer ${makeKey()}` }, { "x-api-key": "garbage" }]) {
    const answer = await raw("GET", target, { headers });
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error.code, "INVALID_PATH");
  }
  // A key with one request a day: refused paths do not spend it.
  const once = await worker.createKey("acme", {
    name: "once",
    scopes: ["bots:read"],
    rate_limit: { per_minute: 100, per_day: 1 },
  });
  for (let i = 0; i < 3; i++) {
    assert.equal((await raw("GET", target, { headers: { "x-api-key": once.key } })).status, 400);
  }
  assert.equal(received.length, 0);
  const valid = await raw("GET", `${P}/1`, { headers: { "x-api-key": once.key } });
  assert.equal(valid.status, 200);
  assert.equal(valid.headers["x-ratelimit-remaining"], "0");
  assert.equal(received.length, 1);
});

test("encoded unreserved characters are decoded: the origin gets the path keygate matched", async () => {
  const auth = { authorization: `Bearer ${botsKey.key}` };
  for (const entrance of ENTRANCES) {
    received.length = 0;
    const to = ports[entrance];
    const answer = await raw("GET", "/v1/projects/acme/b%6Fts/1", { headers: auth, to });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { from: "origin" });
    const other = await raw("GET", "/v1/projects/%61cme/bots/%7Ex%2D1%3a2?q=%2F", { headers: auth, to });
    assert.equal(other.status, 200);
    assert.deepEqual(
      received.map((r) => r.url),
      [`${ORIGIN}/v1/projects/acme/bots/1`, `${ORIGIN}/v1/projects/acme/bots/~x-1%3A2?q=%2F`],
      entrance,
    );
    // A decoded spelling of another resource is judged as that resource.
    const denied = await raw("GET", "/v1/projects/acme/%62illing/1", { headers: auth, to });
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error.required_scope, "billing:read");
    assert.equal(received.length, 2);
  }
});

test("a dot segment is refused, unless the runtime resolved it: then the origin gets the resolved path", async () => {
  const auth = { authorization: `Bearer ${botsKey.key}` };
  for (const entrance of ENTRANCES) {
    for (const row of DOTS) {
      received.length = 0;
      const answer = await checkPath(entrance, row, auth);
      const handed = handedBy(entrance, row);
      if (handed === row[0]) {
        assert.equal(received.length, 0, `${entrance}: ${row[0]}`);
      } else {
        assert.equal(answer.status, 200, `${entrance}: ${row[0]}`);
        // Twice: the target, and the resolved path checkPath compared it with.
        assert.deepEqual(received.map((r) => r.url), [`${ORIGIN}${handed}`, `${ORIGIN}${handed}`], row[0]);
      }
    }
  }
});

test("_method in the query is 400 METHOD_OVERRIDE_REFUSED in any case or encoding", async () => {
  received.length = 0;
  const auth = { authorization: `Bearer ${botsKey.key}` };
  const queries = [
    "_method=DELETE",
    "page=2&_METHOD=delete",
    "%5Fmethod=PUT",
    "%5f%6D%45thod=PATCH",
    "_method",
    "_Method[]=x",
  ];
  for (const query of queries) {
    for (const method of ["GET", "POST"]) {
      const answer = await raw(method, `${P}/1?${query}`, { headers: auth });
      assert.equal(answer.status, 400, `${method} ?${query}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.error.code, "METHOD_OVERRIDE_REFUSED", query);
    }
  }
  assert.equal(received.length, 0, "the origin saw nothing");
  // Other parameters pass untouched.
  const plain = await raw("GET", `${P}/1?method=DELETE&x_method=1`, { headers: auth });
  assert.equal(plain.status, 200);
  assert.equal(received[0].url, `${ORIGIN}${P}/1?method=DELETE&x_method=1`);
});

/** Header names as a CGI/WSGI server reads them: lower case, `_` as `-`. */
const folded = (name) => name.toLowerCase().replaceAll("_", "-");
const FORGED = {
  "X-HTTP-Method-Override": "DELETE",
  X_HTTP_Method_Override: "DELETE",
  "X-HTTP-Method": "DELETE",
  "X-Method-Override": "DELETE",
  "X-Original-URL": "/admin",
  "X-Rewrite-URL": "/admin",
  X_Original_URL: "/admin",
  "X-Keygate-Key-Id": "key_forged",
  X_Keygate_Key_Id: "forged",
  X_Keygate_Project: "victim",
  "X-Keygate-Scopes": "admin:*",
  X_API_Key: makeKey(),
  "X-Forwarded-For": "6.6.6.6",
  X_Forwarded_For: "6.6.6.6",
  "X-Forwarded-Proto": "gopher",
  "X-Forwarded-Host": "evil.example",
  Forwarded: "for=6.6.6.6;host=evil.example",
  "X-Real-IP": "6.6.6.6",
  X_Real_IP: "6.6.6.6",
  "Proxy-Authorization": "Basic Zm9yZ2Vk",
  Proxy_Connection: "keep-alive",
};
const KEYGATE_SETS = [
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "forwarded",
  "x-keygate-key-id",
  "x-keygate-project",
  "x-keygate-scopes",
];

/** `headers` as [folded name, value] pairs, each name once (the runtime joins repeats). */
function foldedHeaders(headers) {
  const names = headers.map(([name]) => folded(name));
  assert.equal(new Set(names).size, names.length, `no two headers fold to one name: ${names}`);
  return Object.fromEntries(headers.map(([name, value]) => [folded(name), value]));
}

test("forged overrides, identities, credentials and forwarding headers never reach the origin", async () => {
  received.length = 0;
  const answer = await raw("GET", `${P}/1`, {
    headers: { authorization: `Bearer ${botsKey.key}`, ...FORGED, "X-Client-Trace": "kept", X_Client_Note: "kept too" },
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(received.length, 1);
  const [seen] = received;
  assert.equal(seen.method, "GET");
  const headers = foldedHeaders(seen.headers);
  for (const name of Object.keys(FORGED)) {
    const value = headers[folded(name)];
    if (KEYGATE_SETS.includes(folded(name))) {
      assert.notEqual(value, FORGED[name], `${name} is keygate's, not the client's`);
      assert.ok(!String(value).includes(FORGED[name]), `${name}: ${value}`);
    } else {
      assert.equal(value, undefined, `${name} reached the origin as ${value}`);
    }
  }
  for (const value of Object.values(headers)) {
    const forged = /6\.6\.6\.6|evil\.example|forged|victim|DELETE|\/admin|gopher/;
    assert.ok(!forged.test(value), `a forged value got through: ${value}`);
  }
  assert.equal(headers["authorization"], undefined);
  assert.ok(!JSON.stringify(seen.headers).includes(botsKey.key), "no credential");
  assert.ok(!JSON.stringify(seen.headers).includes(FORGED.X_API_Key), "no credential under an underscore spelling");
  assert.equal(headers["x-keygate-key-id"], botsKey.id);
  assert.equal(headers["x-keygate-project"], "acme");
  assert.equal(headers["x-keygate-scopes"], "bots:read");
  // What keygate saw: Miniflare sets CF-Connecting-IP to the loopback client.
  assert.equal(headers["x-forwarded-for"], "127.0.0.1");
  assert.equal(headers["x-forwarded-proto"], "http");
  assert.equal(headers["x-forwarded-host"], `127.0.0.1:${port}`);
  assert.equal(headers["forwarded"], `for=127.0.0.1;proto=http;host="127.0.0.1:${port}"`);
  // Harmless headers still pass, underscores and all.
  assert.equal(headers["x-client-trace"], "kept");
  assert.equal(headers["x-client-note"], "kept too");
});

test("X-Forwarded-For is CF-Connecting-IP, which Miniflare sets for a local client unless it sent one", async () => {
  received.length = 0;
  const auth = { authorization: `Bearer ${botsKey.key}` };
  const send = (headers, to = port) => raw("GET", `${P}/1`, { headers: { ...auth, ...headers }, to });
  const answers = [
    await send({ "CF-Connecting-IP": "203.0.113.9", "X-Forwarded-For": "6.6.6.6" }),
    await send({ "CF-Connecting-IP": "2001:db8::1" }),
    await send({ "CF-Connecting-IP": "not an address", Forwarded: "for=6.6.6.6" }),
    // Straight into workerd nobody sets CF-Connecting-IP (Cloudflare's edge does, in production).
    await send({ "X-Forwarded-For": "6.6.6.6" }, ports.workerd),
  ];
  assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200]);
  const seen = received.map(({ headers }) => foldedHeaders(headers));
  assert.equal(seen[0]["x-forwarded-for"], "203.0.113.9");
  assert.equal(seen[0]["forwarded"], `for=203.0.113.9;proto=http;host="127.0.0.1:${port}"`);
  assert.equal(seen[1]["x-forwarded-for"], "2001:db8::1");
  assert.equal(seen[1]["forwarded"], `for="[2001:db8::1]";proto=http;host="127.0.0.1:${port}"`);
  // Not an address, or none: no client address at all, rather than the client's text.
  assert.equal(seen[2]["x-forwarded-for"], undefined);
  assert.equal(seen[2]["forwarded"], `proto=http;host="127.0.0.1:${port}"`);
  assert.equal(seen[3]["x-forwarded-for"], undefined);
  assert.equal(seen[3]["x-forwarded-host"], `127.0.0.1:${ports.workerd}`);
  assert.equal(seen[3]["forwarded"], `proto=http;host="127.0.0.1:${ports.workerd}"`);
});

// --- Webhooks

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

// --- Answers no cache may keep

test("admin and verify answers carry Cache-Control: no-store", async () => {
  const created = await worker.call("POST", "/v1/projects/cache/keys", {
    json: { name: "secret holder", scopes: ["bots:read"] },
    headers: root,
  });
  assert.equal(created.status, 201);
  const path = `/v1/projects/cache/keys/${created.body.id}`;
  const answers = {
    create: created,
    get: await worker.call("GET", path, { headers: root }),
    list: await worker.call("GET", "/v1/projects/cache/keys", { headers: root }),
    patch: await worker.call("PATCH", path, { json: { name: "renamed" }, headers: root }),
    usage: await worker.call("GET", `${path}/usage`, { headers: root }),
    rotate: await worker.call("POST", `${path}/rotate`, { json: { grace_seconds: 60 }, headers: root }),
    verify: await worker.call("POST", "/v1/keys/verify", { json: { key: created.body.key } }),
    "verify, unknown key": await worker.call("POST", "/v1/keys/verify", { json: { key: makeKey() } }),
    "admin, no token": await worker.call("GET", path),
  };
  assert.deepEqual(
    Object.fromEntries(Object.entries(answers).map(([name, a]) => [name, a.status])),
    {
      create: 201,
      get: 200,
      list: 200,
      patch: 200,
      usage: 200,
      rotate: 201,
      verify: 200,
      "verify, unknown key": 200,
      "admin, no token": 401,
    },
  );
  assert.match(answers.rotate.body.key, /^sk_live_/);
  for (const [name, answer] of Object.entries(answers)) {
    assert.equal(answer.headers.get("cache-control"), "no-store", name);
  }
});

// --- A quota lowered below today's count

test("a 429 after PATCH lowered per_day below today's count reports 0 remaining", async () => {
  received.length = 0;
  const key = await worker.createKey("quota", {
    name: "lowered",
    scopes: ["bots:read"],
    rate_limit: { per_minute: 1000, per_day: 5 },
  });
  const auth = { "x-api-key": key.key };
  for (let i = 0; i < 5; i++) {
    const answer = await raw("GET", "/v1/projects/quota/bots/1", { headers: auth });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers["x-ratelimit-remaining"], String(4 - i));
  }
  const patched = await worker.call("PATCH", `/v1/projects/quota/keys/${key.id}`, {
    json: { rate_limit: { per_minute: 1000, per_day: 2 } },
    headers: root,
  });
  assert.equal(patched.status, 200);
  assert.deepEqual(patched.body.rate_limit, { per_minute: 1000, per_day: 2 });
  const limited = await raw("GET", "/v1/projects/quota/bots/1", { headers: auth });
  assert.equal(limited.status, 429);
  assert.equal(limited.body.error.code, "RATE_LIMIT_EXCEEDED");
  assert.equal(limited.body.error.policy, "day");
  assert.equal(limited.headers["x-ratelimit-limit"], "2");
  assert.equal(limited.headers["x-ratelimit-remaining"], "0");
  assert.match(limited.headers["ratelimit"], /^"day";r=0;t=\d+$/);
  // Verify reports the same.
  const verified = await worker.call("POST", "/v1/keys/verify", { json: { key: key.key } });
  assert.equal(verified.body.valid, false);
  assert.equal(verified.body.code, "RATE_LIMIT_EXCEEDED");
  assert.equal(verified.body.policy, "day");
  assert.equal(verified.headers.get("x-ratelimit-remaining"), "0");
  assert.equal(received.length, 5, "the sixth request never reached the origin");
});
