// The contract test: the built worker in workerd (Miniflare, configured from
// wrangler.toml as the e2e tests run it) and schemathesis against the
// document that worker serves.
//
//   node tests/contract/serve.mjs <path to st> [st run options…]
//
// Starts the worker on a free loopback port, then runs `st run
// <url>/openapi.json` twice with the options given: as the admin token over
// every operation (schemathesis.toml), then as an API key over the read
// routes (key.toml). Both use hooks.py. Stops the worker and exits non-zero
// if either pass failed.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { startWorker, ADMIN_TOKEN } from "../e2e/fixture.mjs";

const [st, ...options] = process.argv.slice(2);
if (!st) {
  console.error("usage: node tests/contract/serve.mjs <path to st> [st run options…]");
  process.exit(2);
}
const here = (name) => fileURLToPath(new URL(name, import.meta.url));
const READ_ROUTES = ["listKeys", "getKey", "keyUsage", "listAuditEvents", "getProjectUsage"];

/** Runs one schemathesis pass; resolves to its exit status. */
function pass(base, config, env, extra = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      st,
      ["--config-file", here(config), "run", `${base}/openapi.json`, "--url", base, ...options, ...extra],
      { stdio: "inherit", env: { ...process.env, SCHEMATHESIS_HOOKS: here("hooks.py"), ...env } },
    );
    child.on("error", reject);
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

// One webhook source, so the document lists it and deliveries reach its signature check;
// a VAULT_KEY, so `recoverable: true` is accepted as documented and reveals can succeed.
// A signing key (RFC 8032's first test key), so the JWK Set is served and checked.
const vars = {
  WEBHOOKS: JSON.stringify({ contract: { scheme: "hmac-sha256" } }),
  WEBHOOK_SECRET_CONTRACT: "contract secret",
  VAULT_KEY: randomBytes(32).toString("base64"),
  ASSERTION_SIGNING_KEY: JSON.stringify({
    kty: "OKP", crv: "Ed25519", kid: "contract",
    d: "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
  }),
};
const worker = await startWorker({ port: 0, quiet: true, vars });
const base = worker.url.href.replace(/\/$/, "");
const statuses = [];
try {
  console.log("\n=== Pass 1: every operation, as the admin token ===\n");
  statuses.push(await pass(base, "schemathesis.toml", { KEYGATE_ADMIN_TOKEN: ADMIN_TOKEN }));

  console.log("\n=== Pass 2: the read routes, as an API key with keys:read ===\n");
  const most = 4294967295;
  const key = await worker.createKey("contract", {
    name: "contract test reader",
    scopes: ["keys:read"],
    rate_limit: { per_minute: most, per_day: most },
    // Credits (never used up here), so every answer carries X-Credits-Remaining and the key its balance.
    credits: { remaining: 1_000_000_000_000, refill: { interval: "monthly", amount: 1_000_000_000_000, day: 31 } },
  });
  const only = READ_ROUTES.flatMap((id) => ["--include-operation-id", id]);
  statuses.push(await pass(base, "key.toml", { KEYGATE_KEY: key.key, KEYGATE_KEY_ID: key.id }, only));
} finally {
  await worker.stop();
}
process.exit(statuses.length === 2 && statuses.every((status) => status === 0) ? 0 : 1);
