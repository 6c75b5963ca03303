// Builds the dashboard into build/assets/dashboard/: one ES module, one
// stylesheet, the page and its icon. Fails when JS + CSS exceed 60 KiB gzip.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const here = new URL(".", import.meta.url).pathname;
const out = join(here, "../build/assets/dashboard");
const BUDGET = 60 * 1024;

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(here, "src/main.ts") },
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  outdir: out,
  legalComments: "none",
  logLevel: "warning",
});
await build({
  entryPoints: { app: join(here, "style.css") },
  bundle: true,
  minify: true,
  outdir: out,
  logLevel: "warning",
});
for (const file of ["index.html", "favicon.svg"]) copyFileSync(join(here, file), join(out, file));

const sizes = ["app.js", "app.css"].map((file) => gzipSync(readFileSync(join(out, file)), { level: 9 }).length);
const total = sizes.reduce((a, b) => a + b, 0);
console.log(`dashboard: app.js ${(sizes[0] / 1024).toFixed(1)} KiB + app.css ${(sizes[1] / 1024).toFixed(1)} KiB gzip = ${(total / 1024).toFixed(1)} KiB (budget 60 KiB)`);
if (total > BUDGET) {
  console.error("dashboard: over the 60 KiB gzip budget");
  process.exit(1);
}
