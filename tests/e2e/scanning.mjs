// GitHub's side of secret scanning, for the tests of
// POST /v1/secret-scanning/github: its P-256 signing keys (made here with
// node:crypto), a real local HTTP server serving their public-key document
// (over loopback, so the worker's own fetch path is exercised), reports
// signed as GitHub signs them (ASN.1 DER, SHA-256), and what the tests read
// and assert afterwards.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { startWorker, root, RFC3339 } from "./fixture.mjs";

const ENDPOINT = "/v1/secret-scanning/github";
export const TOKEN_TYPE = "keygate_api_key";
const CURRENT = "current-key-identifier";
export const RETIRED = "retired-key-identifier";
const sha256 = (text) => createHash("sha256").update(text).digest("hex");
export const SCANNER = { type: "secret_scanning", provider: "github" };

// GitHub's two signing keys as its document lists them: one current, one retired.
const current = generateKeyPairSync("ec", { namedCurve: "P-256" });
export const retired = generateKeyPairSync("ec", { namedCurve: "P-256" });
// A key pair GitHub never published.
export const stranger = generateKeyPairSync("ec", { namedCurve: "P-256" });
const pem = ({ publicKey }) => publicKey.export({ type: "spki", format: "pem" });
const DOCUMENT = JSON.stringify({
  public_keys: [
    { key_identifier: RETIRED, key: pem(retired), is_current: false },
    { key_identifier: CURRENT, key: pem(current), is_current: true },
  ],
});

/**
 * Serves DOCUMENT at /keys on 127.0.0.1: `url(who)` is its address for the
 * worker `who`, and `fetches` counts how often each worker fetched it.
 */
export async function startKeyServer() {
  const fetches = new Map();
  const server = createServer((request, response) => {
    const url = new URL(request.url, "http://127.0.0.1");
    if (request.method !== "GET" || url.pathname !== "/keys") {
      response.writeHead(404).end();
      return;
    }
    const who = url.searchParams.get("worker");
    fetches.set(who, (fetches.get(who) ?? 0) + 1);
    response.writeHead(200, { "content-type": "application/json" }).end(DOCUMENT);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = server.address().port;
  return {
    fetches,
    port,
    url: (who) => `http://127.0.0.1:${port}/keys?worker=${who}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Starts a worker that fetches the document from `keys`, with LEAKED_KEY_ACTION `action` (unset: the default, `disable`). */
export function startScanningWorker(keys, action) {
  const vars =
    action === undefined
      ? { SECRET_SCANNING_KEYS_URL: keys.url("disable") }
      : { SECRET_SCANNING_KEYS_URL: keys.url(action), LEAKED_KEY_ACTION: action };
  return startWorker({ vars, outbound: null });
}

/** Base64 of the DER ECDSA P-256 / SHA-256 signature of `body` by `pair`. */
const signatureOf = (body, pair = current) => sign("sha256", Buffer.from(body), pair.privateKey).toString("base64");

/** A report as GitHub sends it: `items` as the body, signed by `pair`, naming `identifier`. */
export function signed(items, { pair = current, identifier = CURRENT } = {}) {
  const body = typeof items === "string" ? items : JSON.stringify(items);
  return {
    body,
    headers: {
      "content-type": "application/json",
      "github-public-key-identifier": identifier,
      "github-public-key-signature": signatureOf(body, pair),
    },
  };
}

/** A report's sending and what the admin token reads after it, against `defaultWorker()` unless told `on`. */
export function reportCalls(defaultWorker = () => undefined) {
  /** POSTs a report (`{body, headers}`) to `on`. */
  const send = ({ body, headers }, on = defaultWorker()) => on.call("POST", ENDPOINT, { body, headers });
  /** The key object as the admin token reads it. */
  async function keyObject(project, id, on = defaultWorker()) {
    const answer = await on.call("GET", `/v1/projects/${project}/keys/${id}`, { headers: root });
    assert.equal(answer.status, 200, `GET key ${id}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  }
  /** The audit events with `action` about key `id`, newest first. */
  async function auditOf(project, id, action, on = defaultWorker()) {
    const query = new URLSearchParams({ key_id: id, action });
    const answer = await on.call("GET", `/v1/projects/${project}/audit?${query}`, { headers: root });
    assert.equal(answer.status, 200, `audit: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body.events;
  }
  const verify = (key, on = defaultWorker()) => on.call("POST", "/v1/keys/verify", { json: { key } });
  return { send, keyObject, auditOf, verify };
}

/** One reported match. */
export const item = (token, url = "https://github.com/octo/app/blob/0a1b2c/config.js", source = "content") => ({
  token,
  type: TOKEN_TYPE,
  url,
  source,
});

/** The feedback GitHub should get for `token`. */
export const label = (token, truePositive) => ({
  token_hash: sha256(token),
  token_type: TOKEN_TYPE,
  label: truePositive ? "true_positive" : "false_positive",
});

/** Asserts that the report answer `answer` is 401 INVALID_SIGNATURE. */
export function refused(answer, what) {
  assert.equal(answer.status, 401, `${what}: ${answer.status} ${JSON.stringify(answer.body)}`);
  assert.equal(answer.body?.error?.code, "INVALID_SIGNATURE", `${what}: ${JSON.stringify(answer.body)}`);
}

/** Asserts that `answer` is 400 VALIDATION_ERROR. */
export function invalid(answer, what) {
  assert.equal(answer.status, 400, `${what}: ${answer.status} ${JSON.stringify(answer.body)}`);
  assert.equal(answer.body?.error?.code, "VALIDATION_ERROR", `${what}: ${JSON.stringify(answer.body)}`);
}

/** Asserts that `leaked` records the report of `reported` made between `from` and `to` (ms). */
export function assertLeak(leaked, reported, from, to) {
  assert.ok(leaked, "the key carries `leaked`");
  assert.deepEqual(Object.keys(leaked).sort(), ["at", "source", "url"]);
  assert.match(leaked.at, RFC3339);
  const at = Date.parse(leaked.at);
  assert.ok(at >= from - 1000 && at <= to + 1000, `leaked.at ${leaked.at} is when the report came`);
  assert.equal(leaked.url, reported.url);
  assert.equal(leaked.source, reported.source);
}
