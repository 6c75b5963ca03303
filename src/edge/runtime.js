// The runtime calls keygate makes on every request, each one crossing from
// wasm instead of several. In workerd, a Response built from a JSON init with
// a header record costs about half of one built field by field with a
// sequence of header pairs, and Headers.forEach half of Array.from (README,
// Performance; bench/isolate.mjs measures the handler per call).

/** `request`'s method and URL as `METHOD URL` (a method has no space). */
export function requestLine(request) {
  return `${request.method} ${request.url}`;
}

/** Every header of `headers` as a JSON array `[name, value, name, value, …]`. */
export function headerPairs(headers) {
  const flat = [];
  headers.forEach((value, name) => flat.push(name, value));
  return JSON.stringify(flat);
}

// Header sets seen lately (JSON → the runtime's Headers, or null when seen
// once): keygate's own answers repeat a few (`/healthz`, most refusals), and a
// Response copies a Headers object faster than it converts a record. Bounded:
// small sets only, cleared when full.
const headerSets = new Map();
const MAX_HEADER_SETS = 64;
const MAX_KEPT_JSON = 1024;

/** `new Response(body, { status, headers })`, `headers` as JSON (a record or pairs). */
export function newResponse(body, status, headers) {
  const known = headers.length <= MAX_KEPT_JSON ? remembered(headers) : undefined;
  return new Response(body, { status, headers: known ?? JSON.parse(headers) });
}

/** The Headers of `json` when it was seen before (made at its second sighting). */
function remembered(json) {
  const known = headerSets.get(json);
  if (known) return known;
  if (known === null) {
    const made = new Headers(JSON.parse(json));
    headerSets.set(json, made);
    return made;
  }
  if (headerSets.size >= MAX_HEADER_SETS) headerSets.clear();
  headerSets.set(json, null);
  return undefined;
}

/**
 * `fetch(url, init)`, `init` as JSON (method, headers, redirect) plus the
 * body and a deadline in milliseconds (`undefined`: none). A synchronous throw is a rejection.
 */
export async function fetchWith(url, init, body, timeoutMs) {
  const options = JSON.parse(init);
  if (body !== undefined && body !== null) options.body = body;
  if (timeoutMs !== undefined) options.signal = AbortSignal.timeout(timeoutMs);
  return fetch(url, options);
}
