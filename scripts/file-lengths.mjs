// Run by `make lint`: fails when a tracked source file grows past the length
// a reader can hold (issue #12: "no source file over ~400 lines"); a longer
// file is a sign that two subjects share it. Generated files are left out.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const MAX_LINES = 400;
const SOURCE = /\.(rs|mjs|js|ts|css|html|py)$/;
const GENERATED = new Set(["dashboard/src/openapi.d.ts"]);

const files = execFileSync("git", ["ls-files"], { encoding: "utf8" }).split("\n");
const long = files
  .filter((file) => SOURCE.test(file) && !GENERATED.has(file))
  .map((file) => [file, readFileSync(file, "utf8").split("\n").length - 1])
  .filter(([, lines]) => lines > MAX_LINES);
for (const [file, lines] of long) console.error(`file-lengths: ${file} has ${lines} lines (at most ${MAX_LINES}): split it along a seam`);
if (long.length) process.exit(1);
