// One way to run the built worker in workerd for every spec: Miniflare,
// configured from wrangler.toml itself (bindings, Durable Object classes,
// vars), so these tests prove the deployment file as well as the code.
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { Miniflare, Response } from "miniflare";
import { parse } from "smol-toml";

const checkout = new URL("../../", import.meta.url).pathname;
const wrangler = parse(readFileSync(join(checkout, "wrangler.toml"), "utf8"));

export const ADMIN_TOKEN = "e2e-admin-token-0123456789";
export const COMPATIBILITY_DATE = wrangler.compatibility_date;

/** The headers that present `key` (an API key or the admin token) as a bearer credential. */
export const bearer = (key) => ({ authorization: `Bearer ${key}` });
/** The headers that present the admin token. */
export const root = bearer(ADMIN_TOKEN);
/** A timestamp as the API writes them (RFC 3339). */
export const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** wrangler.toml's [assets] as Miniflare takes them (wrangler's own translation). */
function assetOptions({ directory, binding, run_worker_first, html_handling, not_found_handling }) {
  const routerConfig = { has_user_worker: true };
  if (typeof run_worker_first === "boolean") routerConfig.invoke_user_worker_ahead_of_assets = run_worker_first;
  if (Array.isArray(run_worker_first)) throw new Error("fixture: run_worker_first patterns are not translated");
  return {
    directory: join(checkout, directory),
    binding,
    routerConfig,
    assetConfig: { html_handling, not_found_handling },
  };
}

/** wrangler.toml's queues as Miniflare takes them; `maxRetries` overrides each consumer's. */
function queueOptions({ producers = [], consumers = [] } = {}, maxRetries) {
  return {
    queueProducers: Object.fromEntries(producers.map(({ binding, queue }) => [binding, { queueName: queue }])),
    queueConsumers: Object.fromEntries(
      consumers.map((consumer) => [
        consumer.queue,
        {
          maxBatchSize: consumer.max_batch_size,
          maxBatchTimeout: consumer.max_batch_timeout,
          maxRetries: maxRetries ?? consumer.max_retries,
          deadLetterQueue: consumer.dead_letter_queue,
        },
      ]),
    ),
  };
}

/** Miniflare options equivalent to `wrangler dev` with this wrangler.toml. */
function options({ vars = {}, persistTo, outbound, port, direct, quiet, assets = true, queueRetries, queues = true, logs } = {}) {
  const sqliteClasses = new Set(wrangler.migrations.flatMap((m) => m.new_sqlite_classes ?? []));
  const durableObjects = Object.fromEntries(
    wrangler.durable_objects.bindings.map(({ name, class_name }) => [
      name,
      { className: class_name, useSQLite: sqliteClasses.has(class_name) },
    ]),
  );
  const worker = {
    name: wrangler.name,
    scriptPath: join(checkout, wrangler.main),
    modules: true,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
    compatibilityDate: wrangler.compatibility_date,
    kvNamespaces: wrangler.kv_namespaces.map((ns) => ns.binding),
    durableObjects,
    ...(queues ? queueOptions(wrangler.queues, queueRetries) : {}),
    bindings: { ...wrangler.vars, ADMIN_TOKEN, ...vars },
    // Every fetch the worker makes (origin, forward_to) goes here instead of the network.
    // (`outbound: null` lets them reach the network, which tests keep on loopback.)
    ...(outbound === null
      ? {}
      : { outboundService: outbound ?? (() => new Response("no outbound handler in this test", { status: 599 })) }),
    // A socket straight into the worker, past Miniflare's entry worker (which re-parses the URL).
    ...(direct ? { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] } : {}),
    // Static assets (the dashboard) as `wrangler dev` serves them: the worker first, then the binding.
    ...(wrangler.assets && assets ? { assets: assetOptions(wrangler.assets) } : {}),
  };
  // Without a persistence root Miniflare keeps storage in memory only.
  const shared = port === undefined ? {} : { host: "127.0.0.1", port };
  if (quiet) {
    // Drain workerd's output unread: the log lines still cost the worker, not this process.
    shared.handleRuntimeStdio = (stdout, stderr) => {
      stdout.resume();
      stderr.resume();
    };
  }
  if (logs) {
    // Every line workerd writes, kept for the test to read.
    shared.handleRuntimeStdio = (stdout, stderr) => {
      for (const stream of [stdout, stderr]) stream.on("data", (chunk) => logs.push(String(chunk)));
    };
  }
  return persistTo ? { ...shared, workers: [worker], defaultPersistRoot: persistTo } : { ...shared, workers: [worker] };
}

/**
 * Starts the worker; `vars` override wrangler.toml's [vars] (strings, as from .dev.vars);
 * `outbound(request)` answers the worker's own fetches; `port` serves it on 127.0.0.1
 * (0: any free port, see `url`); `direct` also serves it on `directUrl` as workerd alone
 * would, without Miniflare's entry worker; `quiet` drains its log lines unread;
 * `assets: false` leaves out the dashboard's assets and Miniflare's assets router
 * (a local hop in front of every request; on Cloudflare the platform routes);
 * `queueRetries` overrides the events queues' `max_retries` (so a test sees the dead-letter queue soon);
 * `queues: false` leaves wrangler.toml's queues out; `logs` (an array) collects workerd's output.
 */
export async function startWorker({ vars, persistTo, outbound, port, direct, quiet, assets, queueRetries, queues, logs } = {}) {
  const mf = new Miniflare(options({ vars, persistTo, outbound, port, direct, quiet, assets, queueRetries, queues, logs }));
  const url = await mf.ready;
  const directUrl = direct ? await mf.unsafeGetDirectURL(wrangler.name) : undefined;
  const kv = await mf.getKVNamespace("KEYS");
  const call = async (method, path, { headers = {}, body, json } = {}) => {
    const init = { method, headers: { ...headers }, duplex: "half" };
    if (json !== undefined) {
      init.body = JSON.stringify(json);
      init.headers["content-type"] = "application/json";
    } else if (body !== undefined) {
      init.body = body;
    }
    const response = await mf.dispatchFetch(new URL(path, url), init);
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = text;
    }
    return { status: response.status, headers: response.headers, body: data };
  };
  /** POSTs a new key to `project` (as the admin token unless `headers` say otherwise); expects 201. */
  const createKey = async (project, json, headers = root) => {
    const answer = await call("POST", `/v1/projects/${project}/keys`, { json, headers });
    if (answer.status !== 201) throw new Error(`creating a key: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  };
  return { mf, url, directUrl, kv, call, createKey, stop: () => mf.dispose() };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Retries `check` (which throws, e.g. an assertion, until it holds) until it passes or `ms` have gone by; then its last failure. */
export async function eventually(check, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await sleep(200);
  }
}

/** A temporary directory for persisted storage, removed by the returned function. */
export function temporaryDirectory() {
  const dir = mkdtempSync(join(tmpdir(), "keygate-e2e-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

// --- An independent implementation of the key format of API.md, so the
// --- end-to-end tests check the Rust one rather than reuse it.

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(text) {
  let crc = 0xffffffff;
  for (const byte of Buffer.from(text)) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function base62(value, width) {
  let out = "";
  for (let i = 0; i < width; i++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/** A well-formed key with a correct checksum: `sk_<env>_` + 37 random + 6 checksum. */
export function makeKey(environment = "live") {
  let body = "";
  while (body.length < 37) {
    for (const byte of randomBytes(64)) {
      if (body.length < 37 && byte < 248) body += BASE62[byte % 62];
    }
  }
  const signed = `sk_${environment}_${body}`;
  return signed + base62(crc32(signed), 6);
}

export function digestOf(key) {
  return createHash("sha256").update(key).digest("hex");
}

let nextId = 0;
/** Writes a key record into KV directly, as the admin API would, and returns the key. */
export async function seedKey(kv, fields = {}) {
  const key = fields.key ?? makeKey(fields.environment ?? "live");
  const now = Date.now();
  nextId += 1;
  const record = {
    id: `key_${String(nextId).padStart(22, "0")}`,
    project: "acme",
    name: "seeded",
    prefix: key.slice(0, 12),
    scopes: [],
    environment: "live",
    status: "active",
    plan: "standard",
    rate_limit: { per_minute: 100, per_day: 10000 },
    meta: {},
    created_at: now,
    updated_at: now,
    expires_at: null,
    ...fields,
  };
  delete record.key;
  await kv.put(`k:${digestOf(key)}`, JSON.stringify(record));
  return { key, record };
}

/** keygate answers an over-long declared body before reading it; the HTTP
 * client may then see its upload cut off instead of the answer (a race on
 * its side, not the contract), so such a request is sent again. */
export async function answeredEarly(send) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      if (attempt === 20 || !String(error).includes("fetch failed")) throw error;
    }
    await sleep(50 * attempt);
  }
}
