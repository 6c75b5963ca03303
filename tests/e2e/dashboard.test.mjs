// The dashboard as the deployment serves it: static assets under /dashboard/
// behind the worker, with strict security headers; DASHBOARD = "off" removes it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { startWorker } from "./fixture.mjs";

const assets = new URL("../../build/assets/dashboard/", import.meta.url).pathname;
let worker;
const forwarded = [];

before(async () => {
  worker = await startWorker({
    vars: { ORIGIN: "https://origin.example" },
    outbound: (request) => {
      forwarded.push(request.url);
      return new Response("from the origin");
    },
  });
});
after(() => worker?.stop());

function assertSecure(headers, what) {
  const csp = headers.get("content-security-policy");
  assert.ok(csp, `${what}: no CSP`);
  for (const directive of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"]) {
    assert.ok(csp.includes(directive), `${what}: CSP lacks ${directive}: ${csp}`);
  }
  assert.doesNotMatch(csp, /unsafe|\*|https?:|data:/, `${what}: CSP allows more than 'self'`);
  assert.equal(headers.get("x-content-type-options"), "nosniff", what);
  assert.equal(headers.get("referrer-policy"), "no-referrer", what);
  assert.equal(headers.get("x-frame-options"), "DENY", what);
}

test("every page and asset carries the security headers", async () => {
  const cases = [
    ["/dashboard/", 200, "text/html"],
    ["/dashboard/app.js", 200, "javascript"],
    ["/dashboard/app.css", 200, "text/css"],
    ["/dashboard/favicon.svg", 200, "image/svg+xml"],
    ["/dashboard/missing.js", 404, "application/json"],
  ];
  for (const [path, status, type] of cases) {
    const answer = await worker.call("GET", path);
    assert.equal(answer.status, status, path);
    if (type) assert.ok(answer.headers.get("content-type").includes(type), `${path}: ${answer.headers.get("content-type")}`);
    assertSecure(answer.headers, path);
  }
  const missing = await worker.call("GET", "/dashboard/missing.js");
  assert.equal(missing.body.error.code, "NOT_FOUND");
  const bare = await worker.mf.dispatchFetch(new URL("/dashboard", worker.url), { redirect: "manual" });
  assert.equal(bare.status, 307);
  assert.equal(bare.headers.get("location"), "/dashboard/");
  assertSecure(bare.headers, "/dashboard");
});

test("the page loads no inline script, nothing from elsewhere, and stays within 60 KiB gzip", async () => {
  const page = (await worker.call("GET", "/dashboard/")).body;
  for (const tag of page.match(/<script[^>]*>/g)) assert.match(tag, /src="app\.js"/);
  assert.doesNotMatch(page, /<script[^>]*>[^<]+<\/script>/);
  assert.doesNotMatch(page, /(src|href)="(https?:)?\/\//);
  const bytes = ["app.js", "app.css"].map((file) => gzipSync(readFileSync(assets + file), { level: 9 }).length);
  assert.ok(bytes[0] + bytes[1] <= 60 * 1024, `${bytes} bytes gzip`);
  const script = readFileSync(assets + "app.js", "utf8");
  assert.doesNotMatch(script, /https?:\/\/(?!www\.w3\.org)/, "the bundle names no remote URL");
});

test("the dashboard is keygate's: never forwarded to the origin, writes refused", async () => {
  for (const method of ["POST", "PUT", "DELETE"]) {
    const answer = await worker.call(method, "/dashboard/", { body: "x" });
    assert.equal(answer.status, 404, method);
    assert.equal(answer.body.error.code, "NOT_FOUND");
  }
  assert.equal((await worker.call("GET", "/dashboard/x/y")).status, 404);
  assert.deepEqual(forwarded, []);
  // A path outside the namespace still reaches the gateway as before.
  assert.notEqual((await worker.call("GET", "/dashboards")).status, 200);
});

test('DASHBOARD = "off" removes it: 404 NOT_FOUND from the worker', async () => {
  const off = await startWorker({ vars: { DASHBOARD: "off" } });
  try {
    for (const path of ["/dashboard/", "/dashboard", "/dashboard/app.js"]) {
      const answer = await off.call("GET", path);
      assert.equal(answer.status, 404, path);
      assert.equal(answer.body.error.code, "NOT_FOUND", path);
    }
  } finally {
    await off.stop();
  }
});
