// The dashboard cannot drift from openapi.json: its API types are generated
// from the document (scripts/api-types.mjs), and a change to the document that
// the dashboard does not follow fails tsc. Each case below alters a copy of the
// document the way a real change would, regenerates the types next to a copy of
// dashboard/src and expects tsc to fail where the dashboard uses what changed.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { apiTypes } from "../../scripts/api-types.mjs";

const root = new URL("../..", import.meta.url).pathname;
const tsc = join(root, "node_modules/.bin/tsc");
const documentText = readFileSync(join(root, "openapi.json"), "utf8");
// Inside the checkout (test-results/ is ignored), so the copies resolve preact from node_modules/.
mkdirSync(join(root, "test-results"), { recursive: true });
const scratch = mkdtempSync(join(root, "test-results", "api-drift-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Follows `$ref`s inside the document. */
function resolve(document, node) {
  while (node && node.$ref) {
    node = node.$ref.slice(2).split("/").reduce((at, part) => at[part.replaceAll("~1", "/").replaceAll("~0", "~")], document);
  }
  return node;
}

/** The parameter `name` (in `where`) of the operation `operationId`. */
function parameter(document, operationId, name, where) {
  for (const item of Object.values(document.paths)) {
    for (const operation of Object.values(item)) {
      if (operation?.operationId !== operationId) continue;
      const found = [...(item.parameters ?? []), ...(operation.parameters ?? [])]
        .map((p) => resolve(document, p))
        .find((p) => p.name === name && p.in === where);
      if (found) return found;
    }
  }
  assert.fail(`openapi.json: ${operationId} has no ${where} parameter ${name}; update this test's case`);
}

/** Type-checks a copy of the dashboard against the types generated from `document`. */
async function typecheck(name, document) {
  const dir = join(scratch, name);
  cpSync(join(root, "dashboard/src"), join(dir, "src"), { recursive: true });
  cpSync(join(root, "dashboard/tsconfig.json"), join(dir, "tsconfig.json"));
  writeFileSync(join(dir, "src/openapi.d.ts"), await apiTypes(document));
  try {
    await promisify(execFile)(tsc, ["-p", dir], { cwd: root });
    return "";
  } catch (error) {
    return String(error.stdout) + String(error.stderr);
  }
}

/** Each change, and the file of dashboard/src where tsc must then object. */
const cases = {
  "the document as it is": [null, () => {}],
  "a field of Key renamed (name → title)": ["dialogs.ts", (d) => {
    const key = resolve(d, d.components.schemas.Key);
    assert.ok(key.properties.name, "Key.name");
    key.properties.title = key.properties.name;
    delete key.properties.name;
    key.required = key.required.map((f) => (f === "name" ? "title" : f));
  }],
  "a path renamed (rotate → roll)": ["dialogs.ts", (d) => {
    const from = "/v1/projects/{project}/keys/{id}/rotate";
    assert.ok(d.paths[from], from);
    d.paths["/v1/projects/{project}/keys/{id}/roll"] = d.paths[from];
    delete d.paths[from];
  }],
  "a page's cursor renamed (cursor → next) in the audit log's answer": ["pages.ts", (d) => {
    const answer = resolve(d, resolve(d, d.paths["/v1/projects/{project}/audit"].get.responses["200"]));
    const page = resolve(d, answer.content["application/json"].schema);
    assert.ok(page.properties.cursor, "the audit page's cursor");
    page.properties.next = page.properties.cursor;
    delete page.properties.cursor;
    page.required = page.required.map((f) => (f === "cursor" ? "next" : f));
  }],
  "a query parameter renamed (q → search)": ["pages.ts", (d) => {
    Object.assign(parameter(d, "listKeys", "q", "query"), { name: "search" });
  }],
  "an audit action added that the dashboard's filter does not list": ["pages.ts", (d) => {
    const action = resolve(d, resolve(d, d.components.schemas.AuditEvent).properties.action);
    assert.ok(Array.isArray(action.enum), "AuditEvent.action.enum");
    action.enum.push("key.restored");
  }],
  "a usage outcome added that the chart does not draw": ["format.ts", (d) => {
    const counts = resolve(d, d.components.schemas.OutcomeCounts);
    counts.properties.revoked = { type: "integer" };
    counts.required = [...(counts.required ?? []), "revoked"];
  }],
  "a field the edit dialog never sends made required": ["dialogs.ts", (d) => {
    const update = resolve(d, d.components.schemas.UpdateKey);
    update.properties.reason = { type: "string" };
    update.required = [...(update.required ?? []), "reason"];
  }],
};

const results = Object.fromEntries(
  await Promise.all(
    Object.entries(cases).map(async ([name, [, change]], index) => {
      const document = JSON.parse(documentText);
      change(document);
      return [name, await typecheck(String(index), document)];
    }),
  ),
);

test("the dashboard type-checks against the types generated from openapi.json", () => {
  assert.equal(results["the document as it is"], "");
});

for (const [name, [file]] of Object.entries(cases).slice(1)) {
  test(`tsc fails when the document changes and the dashboard does not follow: ${name}`, () => {
    assert.match(results[name], /error TS\d+/, `tsc passed although ${name}`);
    assert.match(results[name], new RegExp(`src/${file}\\(\\d+,\\d+\\): error TS`), `no error in ${file}:\n${results[name]}`);
  });
}
