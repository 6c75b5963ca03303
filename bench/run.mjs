// `make bench`: one table of every figure, all measured in this run on this machine.
//  1. native microbenchmarks (criterion's estimates, written by `cargo bench` just before);
//  2. load through workerd on loopback (Miniflare, local KV and Durable Objects; wrk);
//  3. the wasm module's size, raw and gzip-compressed.
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { readFileSync, existsSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import { join } from "node:path";
import { createServer } from "node:http";
import { generateKeyPairSync } from "node:crypto";
import { Miniflare } from "miniflare";
import { startWorker, makeKey, ADMIN_TOKEN } from "../tests/e2e/fixture.mjs";

const root = new URL("../", import.meta.url).pathname;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);

function criterion(name) {
  const file = join(root, "target/criterion", name, "new/estimates.json");
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, "utf8")).median.point_estimate; // nanoseconds
}

function formatNanos(ns) {
  if (ns === null) return "n/a";
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(0)} ns`;
}

/** wrk against `url`; POST `body` when given. Returns {rps, p50, p99} (latencies in ms). */
// Asynchronous on purpose: workerd's log lines flow through this process, which
// must keep reading them while wrk runs.
async function load(url, { headers = {}, body } = {}, seconds = SECONDS) {
  const args = ["-t1", `-c${CONNECTIONS}`, `-d${seconds}s`, "--latency"];
  for (const [name, value] of Object.entries(headers)) args.push("-H", `${name}: ${value}`);
  if (body !== undefined) {
    const script = join(mkdtempSync(join(tmpdir(), "keygate-wrk-")), "post.lua");
    writeFileSync(script, `wrk.method = "POST"\nwrk.body = ${JSON.stringify(body)}\n`);
    args.push("-s", script);
  }
  const { stdout: output } = await promisify(execFile)(...pinned(LOAD_CPU, "wrk", [...args, url]), { encoding: "utf8" });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)[1]);
  const latency = (p) => {
    const [, value, unit] = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(output);
    return Number(value) * { us: 0.001, ms: 1, s: 1000 }[unit];
  };
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? "0";
  return { rps, p50: latency(50), p99: latency(99), non2xx: Number(non2xx) };
}

// With two or more CPUs, workerd runs on the first and wrk on the last, so the
// load generator does not steal time from what it measures.
const CPUS = cpus().length;
const LOAD_CPU = CPUS - 1;
const PIN = CPUS > 1 && hasTaskset();
const pinned = (cpu, command, args) => (PIN ? ["taskset", ["-c", String(cpu), command, ...args]] : [command, args]);
// This process (it drains workerd's log lines) shares the last CPU with wrk.
if (PIN) execFileSync("taskset", ["-a", "-p", "-c", String(LOAD_CPU), String(process.pid)], { stdio: "ignore" });

function hasTaskset() {
  try {
    execFileSync("taskset", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Pins this process's own workerd children (others on the machine may run workerd too). */
function pinWorkerd() {
  if (!PIN) return;
  let pids = [];
  try {
    pids = execFileSync("pgrep", ["-P", String(process.pid), "-f", "workerd"], { encoding: "utf8" }).trim().split("\n");
  } catch {
    return; // none yet
  }
  for (const pid of pids.filter(Boolean)) execFileSync("taskset", ["-a", "-p", "-c", "0", pid], { stdio: "ignore" });
}

async function startReference(origin, health) {
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    // Log lines drained unread, as for keygate: they cost the worker, not this process.
    handleRuntimeStdio: (stdout, stderr) => {
      stdout.resume();
      stderr.resume();
    },
    workers: [
      {
        name: "reference",
        scriptPath: join(root, "bench/reference.mjs"),
        modules: true,
        compatibilityDate: "2025-09-23",
        kvNamespaces: ["KEYS"],
        durableObjects: { EMPTY: { className: "EmptyObject", useSQLite: true } },
        bindings: { ORIGIN: origin, HEALTH: health },
      },
    ],
  });
  const url = await mf.ready;
  await (await mf.getKVNamespace("KEYS")).put("k:reference", JSON.stringify({ id: "key_reference" }));
  return { mf, url };
}

// A local origin that answers a small JSON, for keygate with ORIGIN and its reference alike.
const originServer = createServer((_, response) => {
  response.writeHead(200, { "content-type": "application/json" });
  response.end('{"ok":true,"items":[1,2,3]}');
});
await new Promise((resolve) => originServer.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${originServer.address().port}`;

// Without the dashboard's assets: Miniflare would put its assets router (a
// local-only hop) in front of keygate, and not in front of the floors.
const keygate = await startWorker({ port: 0, quiet: true, assets: false, vars: { DASHBOARD: "off" } });
const gateway = await startWorker({
  port: 0,
  quiet: true,
  assets: false,
  vars: { ORIGIN: origin, DASHBOARD: "off" },
  outbound: null,
});
// The gateway with ORIGIN again, signing each forward's assertion (ASSERTION_SIGNING_KEY).
const signingKey = { ...generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }), kid: "bench" };
const signing = await startWorker({
  port: 0,
  quiet: true,
  assets: false,
  vars: { ORIGIN: origin, DASHBOARD: "off", ASSERTION_SIGNING_KEY: JSON.stringify(signingKey) },
  outbound: null,
});
// Floor 3 answers what keygate's /healthz answers, byte for byte.
const health = await (await fetch(new URL("/healthz", keygate.url))).text();
const reference = await startReference(origin, health);
pinWorkerd();
const base = keygate.url.toString().replace(/\/$/, "");
const gatewayBase = gateway.url.toString().replace(/\/$/, "");
const signingBase = signing.url.toString().replace(/\/$/, "");
const referenceBase = reference.url.toString().replace(/\/$/, "");
const benchKey = { name: "bench", scopes: ["things:read"], rate_limit: { per_minute: 4000000000, per_day: 4000000000 } };
const { key } = await keygate.createKey("bench", benchKey);
const { key: gatewayKey } = await gateway.createKey("bench", benchKey);
const { key: signingGatewayKey } = await signing.createKey("bench", benchKey);
// A key with an owner (limits shared with other keys): one more object call, key object to owner object.
const roomy = { per_minute: 4000000000, per_day: 4000000000 };
const owned = await keygate.call("PUT", "/v1/projects/bench/owners/acct_bench", {
  headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  json: { rate_limit: roomy },
});
if (owned.status !== 201) throw new Error(`bench: PUT owner answered ${owned.status}`);
const { key: ownedKey } = await keygate.createKey("bench", { ...benchKey, owner_id: "acct_bench" });
const badChecksum = key.slice(0, -1) + (key.endsWith("A") ? "B" : "A");
const unknown = makeKey();

// [name, url, options, floor]: a floor is the 1-based row whose figure of the same round divides this one's.
const scenarios = [
  ["healthz (floor 1: no storage)", `${base}/healthz`, {}, 7],
  ["reference: 1 KV read + 1 empty DO call (floor 2)", reference.url.toString(), {}, null],
  ["gateway, valid key, no ORIGIN", `${base}/v1/projects/bench/things`, { headers: { "x-api-key": key } }, 2],
  ["POST /v1/keys/verify, valid key", `${base}/v1/keys/verify`, { body: JSON.stringify({ key }) }, 2],
  ["gateway, bad checksum", `${base}/v1/projects/bench/things`, { headers: { "x-api-key": badChecksum } }, 1],
  ["gateway, unknown well-formed key", `${base}/v1/projects/bench/things`, { headers: { "x-api-key": unknown } }, 1],
  ["reference: /healthz's answer + the same log line (floor 3)", `${referenceBase}/logged-health`, {}, null],
  ["reference: KV + DO + origin fetch + log line (floor 4)", `${referenceBase}/logged-origin`, {}, null],
  ["gateway, valid key, with ORIGIN", `${gatewayBase}/v1/projects/bench/things`, { headers: { "x-api-key": gatewayKey } }, 8],
  ["gateway, valid key with an owner, no ORIGIN", `${base}/v1/projects/bench/things`, { headers: { "x-api-key": ownedKey } }, 2],
  ["reference: floor 4 + an Ed25519 JWT signature (floor 5)", `${referenceBase}/signed-origin`, {}, null],
  ["gateway, valid key, with ORIGIN and assertions", `${signingBase}/v1/projects/bench/things`, { headers: { "x-api-key": signingGatewayKey } }, 11],
  ["reference: plain \"ok\" + the same log line (floor 3 until session 7)", `${referenceBase}/logged-ok`, {}, null],
];
// Ratios shown besides the table's: [row, floor row], 1-based.
const ALSO = [[1, 13]];
const FLOOR_NAMES = { 1: "floor 1", 2: "floor 2", 7: "floor 3", 8: "floor 4", 11: "floor 5" };

// Rounds, each running every scenario once: a ratio is taken between figures of
// the same round, so drift on a shared machine cancels; the table shows medians.
// Each floor runs right before what it divides, and every other round runs
// backwards, so a ratio's two figures are neighbours and slow drift cancels.
const order = [12, 6, 0, 4, 5, 1, 2, 3, 9, 7, 8, 10, 11];
if (order.length !== scenarios.length || new Set(order).size !== scenarios.length) throw new Error("bench: order");
const rounds = [];
for (const [, url, options] of scenarios) await load(url, options, 2); // warm-up: isolates, objects, caches
for (let round = 0; round < ROUNDS; round++) {
  const figures = [];
  for (const i of round % 2 ? [...order].reverse() : order) figures[i] = await load(scenarios[i][1], scenarios[i][2]);
  rounds.push(figures);
}
const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
const results = scenarios.map(([name, , , floor], i) => {
  const of = (field) => median(rounds.map((figures) => figures[i][field]));
  const ratio = floor && median(rounds.map((figures) => figures[i].rps / figures[floor - 1].rps));
  return { name, floor, ratio, rps: of("rps"), p50: of("p50"), p99: of("p99"), non2xx: of("non2xx") };
});
await keygate.stop();
await gateway.stop();
await signing.stop();
await reference.mf.dispose();
originServer.close();

const wasm = readFileSync(join(root, "build/index_bg.wasm"));

const rows = [];
rows.push(["native (criterion, median)", "", "", "", ""]);
for (const [label, id] of [
  ["key parse + checksum + digest", "key parse + checksum + digest"],
  ["scope check, 64-scope key", "scope check against 64 scopes"],
  ["path check, plain", "path check, plain"],
  ["path check, with escapes", "path check, encoded"],
  ["rate-limit decision", "rate-limit decision"],
  ["webhook HMAC verify, 1 KiB", "webhook verify (github)/1 KiB"],
  ["webhook HMAC verify, 1 MiB", "webhook verify (github)/1024 KiB"],
]) {
  rows.push([`  ${label}`, formatNanos(criterion(id)), "", "", ""]);
}
rows.push([`load (wrk, ${CONNECTIONS} connections, median of ${ROUNDS} × ${SECONDS} s, loopback)`, "req/s", "p50", "p99", "vs floor"]);
for (const r of results) {
  const ratio = r.floor ? `${(r.ratio * 100).toFixed(0)} % of ${FLOOR_NAMES[r.floor]}` : "";
  const errors = r.non2xx && r.floor !== 1 ? ` (${r.non2xx} non-2xx!)` : "";
  rows.push([`  ${r.name}${errors}`, r.rps.toFixed(0), `${r.p50.toFixed(2)} ms`, `${r.p99.toFixed(2)} ms`, ratio]);
}
for (const [row, floor] of ALSO) {
  const ratio = median(rounds.map((figures) => figures[row - 1].rps / figures[floor - 1].rps));
  rows.push([`  ${scenarios[row - 1][0]}`, "", "", "", `${(ratio * 100).toFixed(0)} % of row ${floor}`]);
}
rows.push(["wasm module", "", "", "", ""]);
rows.push(["  raw", `${(wasm.length / 1024).toFixed(0)} KiB`, "", "", ""]);
rows.push(["  gzip -9", `${(gzipSync(wasm, { level: 9 }).length / 1024).toFixed(0)} KiB`, "", "", ""]);

const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
console.log(`\nkeygate bench — ${cpus().length} × ${cpus()[0].model}, node ${process.version}`);
for (const row of rows) console.log(row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  "));
