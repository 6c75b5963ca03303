// The architecture's floors, as plain JS workers in the same workerd:
//   /              exactly one KV read and one call to an empty Durable Object;
//   /logged-ok     "ok" and the same JSON log line keygate writes;
//   /logged-origin one KV read, one empty Durable Object call, the same fetch
//                  to the same origin and the same log line.
// keygate's paths are measured against these.
export class EmptyObject {
  async fetch() {
    return new Response(null, { status: 204 });
  }
}

function logLine(request, status, started) {
  const line = {
    method: request.method,
    route: "/v1/projects/{project}/{resource}/*",
    key_id: "key_reference0000000000000",
    project: "bench",
    decision: "allow",
    code: null,
    status,
    duration_ms: Date.now() - started,
  };
  console.log(JSON.stringify(line));
}

export default {
  async fetch(request, env) {
    const started = Date.now();
    const path = new URL(request.url).pathname;
    if (path === "/logged-ok") {
      logLine(request, 200, started);
      return new Response("ok");
    }
    const record = await env.KEYS.get("k:reference");
    const stub = env.EMPTY.get(env.EMPTY.idFromName("reference"));
    await stub.fetch("https://object.reference/");
    if (path === "/logged-origin") {
      const answer = await fetch(`${env.ORIGIN}${path}`, { headers: request.headers });
      logLine(request, answer.status, started);
      return new Response(answer.body, answer);
    }
    return new Response(record ?? "none");
  },
};
