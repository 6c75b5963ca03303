// The admin API as the dashboard uses it. The credential lives in
// sessionStorage only and travels only as `Authorization: Bearer`.

const TOKEN = "keygate.credential";

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN);
}

export function storeToken(token: string): void {
  sessionStorage.setItem(TOKEN, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN);
}

/** An answer of the API that is not a success, with its contract code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface Answer<T> {
  status: number;
  etag: string | null;
  data: T;
}

export async function api<T>(
  method: string,
  path: string,
  options: { token?: string | null; body?: unknown; ifMatch?: string | null } = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? storedToken() : options.token;
  if (token) headers.authorization = `Bearer ${token}`;
  if (options.ifMatch) headers["if-match"] = options.ifMatch;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body, credentials: "omit", cache: "no-store" });
  } catch {
    throw new ApiError(0, "NETWORK_ERROR", "keygate could not be reached. Check your connection and try again.");
  }
  const text = await response.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data?.error;
    if (error && typeof error.message === "string") {
      throw new ApiError(response.status, String(error.code), error.message, error);
    }
    throw new ApiError(response.status, "HTTP_" + response.status, `keygate answered ${response.status}.`);
  }
  return { status: response.status, etag: response.headers.get("etag"), data: data as T };
}

export interface KeyObject {
  id: string;
  project: string;
  name: string;
  prefix: string;
  scopes: string[];
  environment: "live" | "test";
  status: "active" | "inactive";
  rate_limit: { per_minute: number; per_day: number };
  plan: string | null;
  meta: Record<string, unknown>;
  created_at: string;
  updated_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  rotated_from: string | null;
  rotated_to: string | null;
  /** Set once a leak report (GitHub secret scanning) named the key. */
  leaked: Leak | null;
  key?: string;
}

/** Where and when a leak report found a key; `url` and `source` may be unknown. */
export interface Leak {
  at: string;
  url: string | null;
  source: string | null;
}

/** An event notification whose delivery failed every retry (admin token only). */
export interface FailedEvent {
  id: string;
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
  status: "failed";
  failed_at: string;
}

export interface AuditEvent {
  id: string;
  at: string;
  action: string;
  key_id: string;
  actor: { type: string; key_id?: string; name?: string; provider?: string };
  changes: Record<string, { from: unknown; to: unknown }> | null;
  request_id: string;
  ip: string | null;
  user_agent: string | null;
  new_key_id?: string;
}

/** Who is signed in: the admin token (every project) or a key (its own project). */
export type Principal =
  | { kind: "admin"; environment: string }
  | { kind: "key"; project: string; scopes: string[]; canWrite: boolean; environment: string };

const WRITE_SCOPES = ["admin", "keys:write", "keys:*"];
/** A key of any deployment's prefix (KEY_PREFIX), not only the default `sk`. */
const KEY_SHAPE = /^[a-z][a-z0-9]{1,11}_(live|test)_/;
const READ_SCOPES = [...WRITE_SCOPES, "keys:read"];

/** Finds out what `token` is, or throws the API's own refusal. */
export async function identify(token: string): Promise<Principal> {
  const environment = await api<{ environment: string }>("GET", "/healthz", { token: null })
    .then((a) => a.data.environment)
    .catch(() => "live");
  try {
    await api("GET", "/v1/projects?limit=1", { token });
    return { kind: "admin", environment };
  } catch (error) {
    if (!(error instanceof ApiError) || !KEY_SHAPE.test(token)) throw error;
    const verdict = await api<any>("POST", "/v1/keys/verify", { token: null, body: { key: token } });
    if (!verdict.data.valid) throw new ApiError(401, verdict.data.code, verdict.data.message);
    const scopes: string[] = verdict.data.scopes;
    if (!scopes.some((s) => READ_SCOPES.includes(s))) {
      throw new ApiError(
        403,
        "INSUFFICIENT_PERMISSIONS",
        "This key holds neither keys:read nor keys:write, so it cannot manage keys.",
      );
    }
    return {
      kind: "key",
      project: verdict.data.project,
      scopes,
      canWrite: scopes.some((s) => WRITE_SCOPES.includes(s)),
      environment,
    };
  }
}

export function projectPath(project: string, rest = ""): string {
  return `/v1/projects/${encodeURIComponent(project)}${rest}`;
}
