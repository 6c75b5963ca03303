// The dashboard's API types, generated from the OpenAPI document by
// openapi-typescript: `node scripts/api-types.mjs openapi.json dashboard/src/openapi.d.ts`.
// `make typecheck` and `make assets` run it; tests/e2e/dashboard-types.test.mjs
// runs it on altered documents to show that tsc then fails.
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";

/** The TypeScript declarations of `document` (parsed JSON). */
export async function apiTypes(document) {
  // A bare `type: object` (meta) holds any JSON, not nothing.
  const ast = await openapiTS(document, { emptyObjectsUnknown: true, silent: true });
  return COMMENT_HEADER + astToString(ast);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    console.error("usage: node scripts/api-types.mjs openapi.json dashboard/src/openapi.d.ts");
    process.exit(2);
  }
  // Written whole, once generated: a failure leaves the old file, older than the document.
  writeFileSync(output, await apiTypes(JSON.parse(readFileSync(input, "utf8"))));
  console.log(`api types: ${input} → ${output}`);
}
