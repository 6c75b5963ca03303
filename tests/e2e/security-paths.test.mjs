// Raw request targets end to end: paths an origin could read differently,
// encoded and dot segments, and method overrides in the query. Each target
// goes in byte for byte (security.mjs), twice: through Miniflare's entry
// worker, and straight into the worker, as workerd alone hands requests over.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Miniflare } from "miniflare";
import { makeKey, COMPATIBILITY_DATE } from "./fixture.mjs";
import { createBotsReader, startRecordedWorker, BOTS as P, ORIGIN } from "./security.mjs";

let worker;
/** Every request the worker sent upstream. */
let received;
/** `raw` to the worker's Miniflare port unless told `to`. */
let raw;
/** Ports of the worker, and of a worker that echoes its URL, through each entrance. */
let ports;
let echo;
let echoPorts;
let botsKey;

before(async () => {
  ({ worker, received, raw, ports } = await startRecordedWorker());
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
  botsKey = await createBotsReader(worker);
});
after(async () => {
  await echo?.dispose();
  await worker?.stop();
});

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
