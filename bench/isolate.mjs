// keygate's handler alone, without HTTP: a wrapper worker calls a build's
// `fetch` N times per request (and, for comparison, a JS handler doing what
// floor 3 does), so the isolate's own cost per call shows, and a CPU profile
// of it is not drowned by the runtime's per-request work.
//   KEYGATE_BUILDS=build-base,build  builds (directories like build/) side by side
//   MODES=healthz,healthz-unlogged,gateway,floor3,floor3-unlogged  what each call is (gateway: valid key, local ORIGIN)
//   ISOLATE_CALLS=3000 ISOLATE_ROUNDS=7
// Prints µs of wall time per call, minimum and median over interleaved rounds.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createServer } from "node:http";
import { Miniflare } from "miniflare";
import { parse } from "smol-toml";
import { ADMIN_TOKEN } from "../tests/e2e/fixture.mjs";

const root = new URL("../", import.meta.url).pathname;
const wrangler = parse(readFileSync(join(root, "wrangler.toml"), "utf8"));
const BUILDS = (process.env.KEYGATE_BUILDS ?? "build").split(",");
const MODES = (process.env.MODES ?? "healthz,healthz-unlogged,gateway,floor3").split(",");
const CALLS = Number(process.env.ISOLATE_CALLS ?? 3000);
const ROUNDS = Number(process.env.ISOLATE_ROUNDS ?? 7);

// Written beside each build's index.js (workerd loads modules from one root).
const LOOP = `import keygate from "./index.js";
export * from "./index.js";
const floor3 = { fetch(request) {
  const started = Date.now();
  new URL(request.url).pathname;
  console.log(JSON.stringify({ method: request.method, route: "/healthz", key_id: null, project: null,
    decision: "allow", code: null, status: 200, duration_ms: Date.now() - started }));
  return new Response("ok");
} };
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname !== "/loop") return keygate.fetch(request, env, ctx);
    const calls = Number(url.searchParams.get("calls"));
    const target = url.searchParams.get("floor") ? floor3 : keygate;
    const headers = url.searchParams.has("key") ? { "x-api-key": url.searchParams.get("key") } : {};
    const inner = "http://127.0.0.1" + url.searchParams.get("path");
    const log = console.log;
    if (url.searchParams.get("unlogged")) console.log = () => {};
    let last;
    try {
      for (let i = 0; i < calls; i++) {
        last = await target.fetch(new Request(inner, { headers }), env, ctx);
        await last.arrayBuffer();
      }
    } finally {
      console.log = log;
    }
    return new Response(String(last.status));
  },
};
`;

const origin = createServer((_, response) => {
  response.writeHead(200, { "content-type": "application/json" });
  response.end('{"ok":true,"items":[1,2,3]}');
});
await new Promise((resolve) => origin.listen(0, "127.0.0.1", resolve));
const sqlite = new Set(wrangler.migrations.flatMap((m) => m.new_sqlite_classes ?? []));

const instances = [];
for (const dir of BUILDS) {
  writeFileSync(join(root, dir, "isolate-loop.mjs"), LOOP);
  const script = readFileSync(join(root, dir, "index.js"), "utf8");
  const bindings = wrangler.durable_objects.bindings.filter(({ class_name }) => script.includes(class_name));
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    handleRuntimeStdio: (stdout, stderr) => (stdout.resume(), stderr.resume()),
    workers: [{
      name: wrangler.name,
      scriptPath: join(root, dir, "isolate-loop.mjs"),
      modules: true,
      modulesRules: [{ type: "ESModule", include: ["**/*.js"] }, { type: "CompiledWasm", include: ["**/*.wasm"] }],
      compatibilityDate: wrangler.compatibility_date,
      kvNamespaces: ["KEYS"],
      durableObjects: Object.fromEntries(bindings.map(({ name, class_name }) => [name, { className: class_name, useSQLite: sqlite.has(class_name) }])),
      bindings: { ...wrangler.vars, ADMIN_TOKEN, DASHBOARD: "off", ORIGIN: `http://127.0.0.1:${origin.address().port}` },
    }],
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  const created = await fetch(`${url}/v1/projects/bench/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "bench", scopes: ["things:read"], rate_limit: { per_minute: 4e9, per_day: 4e9 } }),
  });
  const { key } = await created.json();
  instances.push({ dir, mf, url, key });
}

const query = (instance, mode) =>
  ({
    healthz: "path=/healthz",
    "healthz-unlogged": "path=/healthz&unlogged=1",
    floor3: "path=/healthz&floor=1",
    "floor3-unlogged": "path=/healthz&floor=1&unlogged=1",
    gateway: `path=/v1/projects/bench/things&key=${instance.key}`,
  })[mode];

/** µs per call; the gateway waits on its object and origin, so it makes a tenth of the calls. */
async function measure(instance, mode) {
  const calls = mode === "gateway" ? Math.ceil(CALLS / 10) : CALLS;
  const started = process.hrtime.bigint();
  const answer = await fetch(`${instance.url}/loop?calls=${calls}&${query(instance, mode)}`);
  const status = await answer.text();
  if (status !== "200") throw new Error(`${instance.dir} ${mode}: the last call answered ${status}`);
  return Number(process.hrtime.bigint() - started) / 1000 / calls;
}

for (const instance of instances) for (const mode of MODES) await measure(instance, mode); // warm-up
const figures = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const mode of MODES) {
    for (const instance of instances) (figures[`${mode} ${instance.dir}`] ??= []).push(await measure(instance, mode));
  }
}
for (const [name, values] of Object.entries(figures)) {
  values.sort((a, b) => a - b);
  const median = values[values.length >> 1];
  console.log(`${name.padEnd(32)} min ${values[0].toFixed(2).padStart(8)}  median ${median.toFixed(2).padStart(8)} µs per call`);
}
for (const { mf } of instances) await mf.dispose();
origin.close();
