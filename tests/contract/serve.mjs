// The contract test: the built worker in workerd (Miniflare, configured from
// wrangler.toml as the e2e tests run it) and schemathesis against the
// document that worker serves.
//
//   node tests/contract/serve.mjs <path to st> [st run options…]
//
// Starts the worker on a free loopback port with the fixture's admin token,
// runs `st run <url>/openapi.json` with tests/contract/schemathesis.toml and
// hooks.py, stops the worker and exits with st's status.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startWorker, ADMIN_TOKEN } from "../e2e/fixture.mjs";

const [st, ...options] = process.argv.slice(2);
if (!st) {
  console.error("usage: node tests/contract/serve.mjs <path to st> [st run options…]");
  process.exit(2);
}
const here = (name) => fileURLToPath(new URL(name, import.meta.url));

// One webhook source, so the document lists it and deliveries reach its signature check.
const vars = { WEBHOOKS: JSON.stringify({ contract: { scheme: "hmac-sha256" } }), WEBHOOK_SECRET_CONTRACT: "contract secret" };
const worker = await startWorker({ port: 0, quiet: true, vars });
const base = worker.url.href.replace(/\/$/, "");
let status;
try {
  status = await new Promise((resolve, reject) => {
    const child = spawn(
      st,
      ["--config-file", here("schemathesis.toml"), "run", `${base}/openapi.json`, "--url", base, ...options],
      {
        stdio: "inherit",
        env: { ...process.env, KEYGATE_ADMIN_TOKEN: ADMIN_TOKEN, SCHEMATHESIS_HOOKS: here("hooks.py") },
      },
    );
    child.on("error", reject);
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
} finally {
  await worker.stop();
}
process.exit(status);
