// The two comparisons that matter most, without the rest of run.mjs: keygate /healthz vs floor 3 and
// the gateway with ORIGIN vs floor 4, in alternating rounds, plus workerd CPU time per request.
// KEYGATE_BUILDS=build-base,build compares builds (directories like build/) side by side in one run;
// ONLY=healthz|gateway runs one comparison. Pins only its own workerd children.
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { createServer } from "node:http";
import { Miniflare, Response } from "miniflare";
import { parse } from "smol-toml";
import { ADMIN_TOKEN } from "../tests/e2e/fixture.mjs";

const root = new URL("../", import.meta.url).pathname;
const wrangler = parse(readFileSync(join(root, "wrangler.toml"), "utf8"));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const BUILDS = (process.env.KEYGATE_BUILDS ?? "build").split(",");
const ONLY = process.env.ONLY ?? "both"; // healthz | gateway | both

const CPUS = cpus().length;
const pinned = (command, args) => (CPUS > 1 ? ["taskset", ["-c", String(CPUS - 1), command, ...args]] : [command, args]);
async function load(url, headers = {}, seconds = SECONDS) {
  const args = ["-t1", "-c16", `-d${seconds}s`];
  for (const [n, v] of Object.entries(headers)) args.push("-H", `${n}: ${v}`);
  const { stdout } = await promisify(execFile)(...pinned("wrk", [...args, url]), { encoding: "utf8" });
  const requests = Number(/(\d+) requests in/.exec(stdout)[1]);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0);
  if (non2xx) console.error(`!! ${non2xx} non-2xx from ${url}`);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)[1]), requests };
}
const ticks = (pids) => pids.reduce((sum, pid) => { const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" "); return sum + Number(f[11]) + Number(f[12]); }, 0);
// Only this process's own workerd children: others on the machine may run workerd too.
const workerds = () => new Set(execFileSync("pgrep", ["-P", String(process.pid), "-f", "workerd"], { encoding: "utf8" }).trim().split("\n"));
let known = new Set();
const newPids = () => { const now = workerds(); const fresh = [...now].filter((p) => !known.has(p)); known = now; return fresh; };
const quiet = (stdout, stderr) => { stdout.resume(); stderr.resume(); };

async function startKeygate(dir, vars = {}) {
  const sqlite = new Set(wrangler.migrations.flatMap((m) => m.new_sqlite_classes ?? []));
  // Only the classes this build exports, so an older build (fewer objects) can be compared too.
  const script = readFileSync(join(root, dir, "index.js"), "utf8");
  const bindings = wrangler.durable_objects.bindings.filter(({ class_name }) => script.includes(class_name));
  const durableObjects = Object.fromEntries(bindings.map(({ name, class_name }) => [name, { className: class_name, useSQLite: sqlite.has(class_name) }]));
  const mf = new Miniflare({
    host: "127.0.0.1", port: 0, handleRuntimeStdio: quiet,
    workers: [{
      name: wrangler.name, scriptPath: join(root, dir, "index.js"), modules: true,
      modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
      compatibilityDate: wrangler.compatibility_date,
      kvNamespaces: ["KEYS"], durableObjects, bindings: { ...wrangler.vars, ADMIN_TOKEN, ...vars },
    }],
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  const pids = newPids();
  const r = await fetch(`${url}/v1/projects/bench/keys`, {
    method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "bench", scopes: ["things:read"], rate_limit: { per_minute: 4000000000, per_day: 4000000000 } }),
  });
  const { key } = await r.json();
  return { mf, url, key, pids };
}

const originServer = createServer((_, res) => { res.writeHead(200, { "content-type": "application/json" }); res.end('{"ok":true,"items":[1,2,3]}'); });
await new Promise((r) => originServer.listen(0, "127.0.0.1", r));
const origin = `http://127.0.0.1:${originServer.address().port}`;

const instances = [];
for (const b of BUILDS) instances.push(await startKeygate(b, { ORIGIN: origin }));

// Floor 3 answers what keygate's /healthz answers, byte for byte.
const health = await (await fetch(`${instances[0].url}/healthz`)).text();
const ref = new Miniflare({
  host: "127.0.0.1", port: 0, handleRuntimeStdio: quiet,
  workers: [{ name: "reference", scriptPath: join(root, "bench/reference.mjs"), modules: true, compatibilityDate: "2025-09-23",
    kvNamespaces: ["KEYS"], durableObjects: { EMPTY: { className: "EmptyObject", useSQLite: true } }, bindings: { ORIGIN: origin, HEALTH: health } }],
});
const refUrl = (await ref.ready).toString().replace(/\/$/, "");
const refPids = newPids();
await (await ref.getKVNamespace("KEYS")).put("k:reference", JSON.stringify({ id: "key_reference" }));

const scen = [];
if (ONLY !== "gateway") {
  scen.push(["floor3", `${refUrl}/logged-health`, {}, null, refPids]);
  BUILDS.forEach((b, i) => scen.push([`${b}:healthz`, `${instances[i].url}/healthz`, {}, "floor3", instances[i].pids]));
}
if (ONLY !== "healthz") {
  scen.push(["floor4", `${refUrl}/logged-origin`, {}, null, refPids]);
  BUILDS.forEach((b, i) => scen.push([`${b}:gateway`, `${instances[i].url}/v1/projects/bench/things`, { "x-api-key": instances[i].key }, "floor4", instances[i].pids]));
}
if (CPUS > 1) for (const pid of workerds()) execFileSync("taskset", ["-a", "-p", "-c", "0", pid], { stdio: "ignore" });

for (const [, url, h] of scen) await load(url, h, 2);
const rounds = [];
for (let r = 0; r < ROUNDS; r++) {
  const fig = {};
  const cpu = {};
  for (const [name, url, h, , pids] of scen) {
    const before = ticks(pids);
    const { rps, requests } = await load(url, h);
    fig[name] = rps;
    cpu[name] = ((ticks(pids) - before) * 10000) / requests; // µs of workerd CPU per request (100 ticks/s)
  }
  rounds.push({ fig, cpu });
  console.log(`round ${r}: ` + scen.map(([n, , , f]) => `${n}=${fig[n].toFixed(0)}${f ? ` (${(fig[n] / fig[f]).toFixed(3)})` : ""} ${cpu[n].toFixed(0)}µs`).join("  "));
}
const median = (v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)];
for (const [n, , , f] of scen) {
  const rps = median(rounds.map((x) => x.fig[n]));
  const cpu = median(rounds.map((x) => x.cpu[n]));
  const cpuRatio = f ? median(rounds.map((x) => x.cpu[f] / x.cpu[n])) : 0;
  console.log(`${n.padEnd(24)} ${rps.toFixed(0).padStart(7)} rps${f ? `  ratio ${median(rounds.map((x) => x.fig[n] / x.fig[f])).toFixed(3)}` : "             "}  cpu/req ${cpu.toFixed(0)} µs${f ? `  cpu ratio ${cpuRatio.toFixed(3)}` : ""}`);
}
for (const k of instances) await k.mf.dispose();
await ref.dispose();
originServer.close();
