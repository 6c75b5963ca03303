// What the security tests share: a worker in front of a recording origin and
// three webhook sources, requests sent byte for byte over a real socket, and
// header names as a CGI/WSGI server folds them.
//
// Requests whose path matters go with node:http, which sends `path` byte for
// byte: Miniflare's dispatchFetch and Node's fetch parse the URL first and
// would resolve `..` and turn `\` into `/` before keygate could see them.
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { Response } from "miniflare";
import { startWorker } from "./fixture.mjs";

export const ORIGIN = "https://origin.test";
export const SECRETS = { gh: "github secret", stripe: "stripe secret", slack: "slack secret" };
export const MAX_WEBHOOK_BYTES = 4096;
/** The bots of project acme, which `createBotsReader`'s key may read. */
export const BOTS = "/v1/projects/acme/bots";

/**
 * Sends `target` as the request target, unparsed, to 127.0.0.1:`to`; header
 * names go as written (node:http keeps `_` and case).
 */
function raw(method, target, { headers = {}, body, to }) {
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
 * Starts the worker with ORIGIN as its origin and the webhook sources gh,
 * stripe and slack (forwarded to ORIGIN/hooks/<source>), served on a port and
 * straight into workerd (`ports`: miniflare, workerd). `received` holds every
 * request it sent upstream; `upstreamAnswers` are the upstream's next answers,
 * in order, then 200 (gateway) or 202 (webhooks). Its `raw` sends to the
 * Miniflare port unless told `to`.
 */
export async function startRecordedWorker() {
  const received = [];
  const upstreamAnswers = [];
  const worker = await startWorker({
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
  const port = Number(new URL(worker.url).port);
  const ports = { miniflare: port, workerd: Number(worker.directUrl.port) };
  const send = (method, target, options = {}) => raw(method, target, { ...options, to: options.to ?? port });
  return { worker, received, upstreamAnswers, port, ports, raw: send };
}

/** A `bots:read` key of acme whose quota is far from the hundreds of requests a security test file sends. */
export const createBotsReader = (worker) =>
  worker.createKey("acme", {
    name: "bots reader",
    scopes: ["bots:read"],
    rate_limit: { per_minute: 100000, per_day: 1000000 },
  });

/** Header names as a CGI/WSGI server reads them: lower case, `_` as `-`. */
export const folded = (name) => name.toLowerCase().replaceAll("_", "-");

/** `headers` as [folded name, value] pairs, each name once (the runtime joins repeats). */
export function foldedHeaders(headers) {
  const names = headers.map(([name]) => folded(name));
  assert.equal(new Set(names).size, names.length, `no two headers fold to one name: ${names}`);
  return Object.fromEntries(headers.map(([name, value]) => [folded(name), value]));
}
