// Run by `make wasm` on worker-build's unminified output (NO_MINIFY=1): the
// default export becomes a plain handler object instead of worker-build's
// `Proxy` over a `WorkerEntrypoint` class, for which workerd constructs an
// instance, and the proxy two more proxies, on every request. The fetch
// handler keeps the shim's panic recovery (`checkReinitialize` before the call,
// `handleMaybeCritical` on a throw) exactly as its proxy applied them.
// The queue handler (the events queue's consumer) is wrapped the same way.
// The Durable Object classes keep their proxies. Every anchor must match
// exactly once, so a worker-build that changes its shim fails the build here.
import { readFileSync, writeFileSync } from "node:fs";

const file = process.argv[2] ?? "build/index.js";
let source = readFileSync(file, "utf8");

const anchors = [
  "function checkReinitialize() {",
  "function handleMaybeCritical(e) {",
  "var Entrypoint = class extends WorkerEntrypoint {\n};",
  "Entrypoint.prototype.fetch = function",
  "Entrypoint.prototype.queue = function",
];
const defaultExport = "var shim_default = new Proxy(Entrypoint, classProxyHooks);";
for (const anchor of [...anchors, defaultExport]) {
  const count = source.split(anchor).length - 1;
  if (count !== 1) {
    console.error(`lean-entry: expected one \`${anchor}\` in ${file}, found ${count} (worker-build's shim changed?)`);
    process.exit(1);
  }
}

source = source.replace(
  defaultExport,
  `var shim_default = {
  fetch(request, env, ctx) {
    checkReinitialize();
    try {
      return Entrypoint.prototype.fetch.call({ env, ctx }, request);
    } catch (e) {
      handleMaybeCritical(e);
      throw e;
    }
  },
  async queue(batch, env, ctx) {
    checkReinitialize();
    try {
      return await Entrypoint.prototype.queue.call({ env, ctx }, batch);
    } catch (e) {
      handleMaybeCritical(e);
      throw e;
    }
  }
};`,
);
writeFileSync(file, source);
