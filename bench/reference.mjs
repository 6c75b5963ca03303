// The architecture's floor: exactly one KV read and one call to an empty
// Durable Object per request, and nothing else. keygate's valid-key path is
// measured against this.
export class EmptyObject {
  async fetch() {
    return new Response(null, { status: 204 });
  }
}

export default {
  async fetch(request, env) {
    const record = await env.KEYS.get("k:reference");
    const stub = env.EMPTY.get(env.EMPTY.idFromName("reference"));
    await stub.fetch("https://object.reference/");
    return new Response(record ?? "none");
  },
};
