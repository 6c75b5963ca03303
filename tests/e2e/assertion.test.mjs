// The origin's signed assertion end to end: the origin receives an EdDSA JWT
// that the `jose` library verifies against the worker's /.well-known/jwks.json.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { Response } from "miniflare";
import * as jose from "jose";
import { startWorker } from "./fixture.mjs";

const ORIGIN = "https://origin.test/base";
/** A fresh Ed25519 key as a private JWK with `kid`. */
const newKey = (kid) => ({ ...generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }), kid });

/** A worker whose origin records what it receives. */
async function start(vars) {
  const received = [];
  const worker = await startWorker({
    vars: { ORIGIN, ...vars },
    outbound: (request) => {
      received.push({ method: request.method, url: request.url, headers: Object.fromEntries(request.headers) });
      return new Response("{}", { headers: { "content-type": "application/json" } });
    },
  });
  const key = await worker.createKey("acme", { name: "client", scopes: ["things:read", "bots:*"] });
  return { worker, received, key };
}

const current = newKey("2026-12");
const previous = newKey("2026-06");
let one; // one key, the default issuer
let two; // two keys during a rotation, ASSERTION_ISSUER set
let none; // no signing key

before(async () => {
  [one, two, none] = await Promise.all([
    start({ ASSERTION_SIGNING_KEY: JSON.stringify(current) }),
    start({ ASSERTION_SIGNING_KEY: JSON.stringify([current, previous]), ASSERTION_ISSUER: "https://gw.example" }),
    start({}),
  ]);
});
after(() => Promise.all([one, two, none].map((w) => w?.worker.stop())));

/** One gateway request with the key; the assertion the origin received, and the request it came with. */
async function forward({ worker, received, key }, method, path, headers = {}) {
  received.length = 0;
  const answer = await worker.call(method, path, { headers: { authorization: `Bearer ${key.key}`, ...headers } });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(received.length, 1);
  return { token: received[0].headers["x-keygate-assertion"], seen: received[0] };
}

const jwksOf = ({ worker }) => jose.createRemoteJWKSet(new URL("/.well-known/jwks.json", worker.url));

test("the origin's assertion verifies with jose against the JWKS, with the request's claims", async () => {
  const { token, seen } = await forward(one, "GET", "/v1/projects/acme/things/1?page=2", {
    "x-keygate-assertion": "forged.by.client",
  });
  assert.ok(token && token !== "forged.by.client", "keygate's assertion replaces the client's");
  assert.equal(seen.url, `${ORIGIN}/v1/projects/acme/things/1?page=2`);
  const issuer = new URL(one.worker.url).origin;
  const { payload, protectedHeader } = await jose.jwtVerify(token, jwksOf(one), {
    issuer,
    audience: ORIGIN,
    algorithms: ["EdDSA"],
  });
  assert.deepEqual(protectedHeader, { alg: "EdDSA", typ: "JWT", kid: "2026-12" });
  assert.equal(payload.sub, one.key.id);
  assert.equal(payload.sub, seen.headers["x-keygate-key-id"]);
  assert.equal(payload.project, "acme");
  assert.deepEqual(payload.scopes, ["things:read", "bots:*"]);
  assert.equal(payload.htm, "GET");
  assert.equal(payload.htu, seen.url.split("?")[0], "htu is the URL the origin received, without its query");
  assert.equal(payload.exp - payload.iat, 60);
  assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 30);
  assert.match(payload.jti, /^[A-Za-z0-9_-]{22}$/);
  assert.equal(payload.owner_id, undefined);

  // Another request, another assertion, bound to its own method and URL.
  const next = await forward(one, "POST", "/v1/projects/acme/bots");
  const { payload: second } = await jose.jwtVerify(next.token, jwksOf(one), { issuer, audience: ORIGIN });
  assert.deepEqual([second.htm, second.htu], ["POST", `${ORIGIN}/v1/projects/acme/bots`]);
  assert.notEqual(second.jti, payload.jti);

  // A key with an owner: the assertion names the customer.
  const owned = await one.worker.createKey("acme", { name: "owned", scopes: ["things:read"], owner_id: "acct_42" });
  const third = await forward({ ...one, key: owned }, "GET", "/v1/projects/acme/things/2");
  const { payload: ownedPayload } = await jose.jwtVerify(third.token, jwksOf(one), { issuer, audience: ORIGIN });
  assert.equal(ownedPayload.owner_id, "acct_42");
  assert.equal(ownedPayload.sub, owned.id);
});

test("the JWKS is public, cacheable and holds no private key", async () => {
  const answer = await one.worker.call("GET", "/.well-known/jwks.json");
  assert.equal(answer.status, 200);
  assert.equal(answer.headers.get("cache-control"), "public, max-age=300");
  assert.match(answer.headers.get("content-type"), /^application\/json/);
  assert.deepEqual(answer.body, {
    keys: [{ kty: "OKP", crv: "Ed25519", x: current.x, kid: "2026-12", use: "sig", alg: "EdDSA" }],
  });
  assert.ok(!JSON.stringify(answer.body).includes(current.d));
});

test("a forged, tampered, expired or misaddressed assertion fails with jose", async () => {
  const { token } = await forward(one, "GET", "/v1/projects/acme/things");
  const issuer = new URL(one.worker.url).origin;
  const jwks = jwksOf(one);
  const { payload } = await jose.jwtVerify(token, jwks, { issuer, audience: ORIGIN });

  // Signed with another key under the same kid.
  const attacker = await jose.importJWK(newKey("2026-12"), "EdDSA");
  const forged = await new jose.SignJWT({ ...payload, scopes: ["admin"] })
    .setProtectedHeader({ alg: "EdDSA", typ: "JWT", kid: "2026-12" })
    .sign(attacker);
  await assert.rejects(jose.jwtVerify(forged, jwks, { issuer, audience: ORIGIN }), {
    code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
  });
  // keygate's signature over a payload changed afterwards.
  const [header, , signature] = token.split(".");
  const widened = Buffer.from(JSON.stringify({ ...payload, scopes: ["admin"] })).toString("base64url");
  await assert.rejects(jose.jwtVerify(`${header}.${widened}.${signature}`, jwks, { issuer, audience: ORIGIN }), {
    code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
  });
  // Expired: 61 s after it was issued.
  await assert.rejects(
    jose.jwtVerify(token, jwks, { issuer, audience: ORIGIN, currentDate: new Date((payload.iat + 61) * 1000) }),
    { code: "ERR_JWT_EXPIRED" },
  );
  // For another audience or from another issuer.
  await assert.rejects(jose.jwtVerify(token, jwks, { issuer, audience: "https://other.test" }), {
    code: "ERR_JWT_CLAIM_VALIDATION_FAILED",
  });
  await assert.rejects(jose.jwtVerify(token, jwks, { issuer: "https://evil.test", audience: ORIGIN }), {
    code: "ERR_JWT_CLAIM_VALIDATION_FAILED",
  });
  // Another deployment's keys (even under the same kid) do not verify it.
  const { d, ...elsewhere } = newKey("2026-12");
  await assert.rejects(jose.jwtVerify(token, jose.createLocalJWKSet({ keys: [elsewhere] }), { audience: ORIGIN }), {
    code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
  });
});

test("during a rotation the first key signs and both are in the JWKS", async () => {
  const answer = await two.worker.call("GET", "/.well-known/jwks.json");
  assert.deepEqual(
    answer.body.keys.map(({ kid, x }) => [kid, x]),
    [
      ["2026-12", current.x],
      ["2026-06", previous.x],
    ],
  );
  const { token } = await forward(two, "GET", "/v1/projects/acme/things");
  const { payload, protectedHeader } = await jose.jwtVerify(token, jwksOf(two), {
    issuer: "https://gw.example",
    audience: ORIGIN,
  });
  assert.equal(protectedHeader.kid, "2026-12");
  assert.equal(payload.iss, "https://gw.example");
  // What the previous key signed still verifies while it is listed.
  const old = await new jose.SignJWT({ sub: "x" })
    .setProtectedHeader({ alg: "EdDSA", kid: "2026-06" })
    .setIssuer("https://gw.example")
    .setAudience(ORIGIN)
    .setExpirationTime("1m")
    .sign(await jose.importJWK(previous, "EdDSA"));
  await jose.jwtVerify(old, jwksOf(two), { issuer: "https://gw.example", audience: ORIGIN });
});

test("without a signing key: no assertion, a client's never reaches the origin, the JWKS is 404", async () => {
  for (const name of ["x-keygate-assertion", "X_Keygate_Assertion"]) {
    const { token, seen } = await forward(none, "GET", "/v1/projects/acme/things", { [name]: "forged.by.client" });
    assert.equal(token, undefined);
    assert.ok(!JSON.stringify(seen.headers).includes("forged.by.client"), JSON.stringify(seen.headers));
  }
  const jwks = await none.worker.call("GET", "/.well-known/jwks.json");
  assert.equal(jwks.status, 404);
  assert.equal(jwks.body.error.code, "NOT_FOUND");
  // /.well-known/ is keygate's: never forwarded.
  none.received.length = 0;
  const other = await none.worker.call("GET", "/.well-known/openid-configuration", {
    headers: { authorization: `Bearer ${none.key.key}` },
  });
  assert.equal(other.status, 404);
  assert.equal(none.received.length, 0);
});

test("a bad ASSERTION_SIGNING_KEY is a CONFIG_ERROR naming it, never quoting the private key", async () => {
  const mismatched = { ...current, x: previous.x };
  const bare = await startWorker({ vars: { ORIGIN, ASSERTION_SIGNING_KEY: JSON.stringify(mismatched) } });
  try {
    const answer = await bare.call("GET", "/.well-known/jwks.json");
    assert.equal(answer.status, 500);
    assert.equal(answer.body.error.code, "CONFIG_ERROR");
    assert.match(answer.body.error.message, /ASSERTION_SIGNING_KEY/);
    const health = await bare.call("GET", "/healthz");
    assert.equal(health.status, 500);
    assert.ok(health.body.error.problems.some((p) => p.includes("`x` is not the public key of `d`")));
    assert.ok(!JSON.stringify([answer.body, health.body]).includes(current.d));
  } finally {
    await bare.stop();
  }
});
