// `make dev`'s banner: waits for the local worker to answer (the first build
// can take minutes), then prints, once, where to go. Stops without a word when
// the server process (`pid`) ends first.
//
//   node scripts/dev-banner.mjs PORT PID
import { existsSync } from "node:fs";

const [port, pid] = process.argv.slice(2).map(Number);
const origin = `http://127.0.0.1:${port}`;

function alive() {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// No timeout: wrangler holds a request until the worker is built and loaded,
// so one request per page is all its log shows. A refused connection (not
// listening yet) is tried again.
async function get(path) {
  try {
    const response = await fetch(origin + path, { redirect: "manual" });
    await response.body?.cancel();
    return response;
  } catch {
    return null;
  }
}

let health = null;
while (!(health = await get("/healthz"))) {
  if (!alive()) process.exit(0);
  await new Promise((resolve) => setTimeout(resolve, 500));
}
const dashboard = (await get("/dashboard/"))?.status !== 404;
// wrangler logs each request as it ends: let those lines come first.
await new Promise((resolve) => setTimeout(resolve, 300));
// wrangler reads .dev.vars, or the .env files when there is no .dev.vars.
const secrets = existsSync(".dev.vars") ? ".dev.vars" : [".env", ".env.local"].filter(existsSync).join(" or ") || ".dev.vars";

const lines = ["", `keygate is serving on ${origin} (local KV, Durable Objects and queues in .wrangler/state).`];
if (!health.ok) lines.push(`/healthz answers ${health.status}: it names the configuration problem.`);
lines.push(
  dashboard
    ? `Sign in to the dashboard with ADMIN_TOKEN from ${secrets}.`
    : `The dashboard is off (DASHBOARD = "off").`,
  `  ${origin}/healthz`,
  `  ${origin}/openapi.json`,
);
if (dashboard) lines.push(`  ${origin}/dashboard/`);
console.log(lines.join("\n") + "\n");
