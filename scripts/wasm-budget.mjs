// Run by `make wasm` last: fails the build when the worker's wasm grows past
// its budget (gzip -9, as Cloudflare counts a Worker's size compressed), so a
// change that grows it says so in the README (Performance: "The wasm budget").
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const BUDGET_KIB = 480;
const file = process.argv[2] ?? "build/index_bg.wasm";
const wasm = readFileSync(file);
const gzipped = gzipSync(wasm, { level: 9 }).length;
const kib = (bytes) => (bytes / 1024).toFixed(1);
console.log(`wasm: ${kib(wasm.length)} KiB raw, ${kib(gzipped)} KiB gzip (budget ${BUDGET_KIB} KiB)`);
if (gzipped > BUDGET_KIB * 1024) {
  console.error(`wasm-budget: ${file} is ${kib(gzipped)} KiB gzip, over the budget of ${BUDGET_KIB} KiB`);
  process.exit(1);
}
