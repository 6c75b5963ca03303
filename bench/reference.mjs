// The architecture's floors, as plain JS workers in the same workerd:
//   /              exactly one KV read and one call to an empty Durable Object;
//   /logged-ok     "ok" and the same JSON log line keygate writes;
//   /logged-health keygate's answer to /healthz (the same JSON body and
//                  content type) and the same log line;
//   /logged-origin one KV read, one empty Durable Object call, the same fetch
//                  to the same origin and the same log line;
//   /signed-origin /logged-origin plus an Ed25519 JWT (WebCrypto, the key made
//                  once per isolate) sent to the origin, as keygate's assertion.
// keygate's paths are measured against these.
export class EmptyObject {
  async fetch() {
    return new Response(null, { status: 204 });
  }
}

function logLine(request, status, started) {
  const line = {
    method: request.method,
    route: "/v1/projects/{project}/{resource}/*",
    key_id: "key_reference0000000000000",
    project: "bench",
    decision: "allow",
    code: null,
    status,
    duration_ms: Date.now() - started,
  };
  console.log(JSON.stringify(line));
}

let signingKeys;
const encoder = new TextEncoder();
const base64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/** A JWT of the size and shape of keygate's assertion. */
async function assertion(method, url) {
  signingKeys ??= await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  const iat = Math.floor(Date.now() / 1000);
  const header = { alg: "EdDSA", typ: "JWT", kid: "reference" };
  const claims = {
    iss: "https://keygate.bench", aud: "http://127.0.0.1", sub: "key_reference0000000000000", project: "bench",
    scopes: ["things:read"], iat, exp: iat + 60, jti: base64url(crypto.getRandomValues(new Uint8Array(16))),
    htm: method, htu: url,
  };
  const input = `${base64url(encoder.encode(JSON.stringify(header)))}.${base64url(encoder.encode(JSON.stringify(claims)))}`;
  const signature = await crypto.subtle.sign({ name: "Ed25519" }, signingKeys.privateKey, encoder.encode(input));
  return `${input}.${base64url(new Uint8Array(signature))}`;
}

export default {
  async fetch(request, env) {
    const started = Date.now();
    const path = new URL(request.url).pathname;
    if (path === "/logged-ok") {
      logLine(request, 200, started);
      return new Response("ok");
    }
    if (path === "/logged-health") {
      logLine(request, 200, started);
      return new Response(env.HEALTH, { headers: { "content-type": "application/json" } });
    }
    const record = await env.KEYS.get("k:reference");
    const stub = env.EMPTY.get(env.EMPTY.idFromName("reference"));
    await stub.fetch("https://object.reference/");
    if (path === "/logged-origin") {
      const answer = await fetch(`${env.ORIGIN}${path}`, { headers: request.headers });
      logLine(request, answer.status, started);
      return new Response(answer.body, answer);
    }
    if (path === "/signed-origin") {
      const headers = new Headers(request.headers);
      headers.set("x-keygate-assertion", await assertion(request.method, `${env.ORIGIN}${path}`));
      const answer = await fetch(`${env.ORIGIN}${path}`, { headers });
      logLine(request, answer.status, started);
      return new Response(answer.body, answer);
    }
    return new Response(record ?? "none");
  },
};
