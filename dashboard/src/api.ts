// The admin API as the dashboard uses it. The credential lives in
// sessionStorage only and travels only as `Authorization: Bearer`.
//
// Every request and response type comes from openapi.json, through
// ./openapi.d.ts, which `make typecheck` and `make assets` generate with
// openapi-typescript (never committed, so never stale).
import type { components, operations, paths } from "./openapi";

type Schemas = components["schemas"];
/** A key as the API shows it. */
export type KeyObject = Schemas["Key"];
/** A key with its plaintext `key`: the answer of create and rotate, shown once. */
export type NewKey = Schemas["NewKey"];
/** Where and when a leak report found a key (GitHub secret scanning). */
export type Leak = NonNullable<KeyObject["leaked"]>;
export type AuditEvent = Schemas["AuditEvent"];
/** An event notification whose delivery failed every retry (admin token only). */
export type FailedEvent = Schemas["FailedEvent"];
/** One bucket of a usage series: a count per outcome. */
export type SeriesEntry = Schemas["SeriesEntry"];
export type Outcome = keyof Schemas["OutcomeCounts"];
export type Environment = KeyObject["environment"];
export type AuditAction = AuditEvent["action"];
/** The contract's error codes, and the dashboard's own two for no answer and an answer without one. */
export type ErrorCode = Schemas["ErrorCode"] | "NETWORK_ERROR" | `HTTP_${number}`;

/**
 * `true` when `Listed` has every member of `U`: `type _ = Assert<Covers<U, (typeof LIST)[number]>>`
 * fails tsc once the document adds a member the dashboard does not list.
 */
export type Covers<U, Listed> = [U] extends [Listed] ? true : false;
export type Assert<T extends true> = T;

type Method = "GET" | "PUT" | "POST" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS";
/** The operation the document puts at `method` `path` (never: none). */
type OperationAt<P extends keyof paths, M extends Method> = NonNullable<paths[P][Lowercase<M> & keyof paths[P]]>;
/** The methods the document gives `path`. */
type MethodOf<P extends keyof paths> = { [M in Method]: [OperationAt<P, M>] extends [never] ? never : M }[Method];
type JsonOf<T> = T extends { content: { "application/json": infer J } } ? J : null;
type SuccessOf<O> = O extends { responses: infer R } ? JsonOf<R[Extract<keyof R, 200 | 201 | 202 | 204>]> : never;
type BodyOf<O> = O extends { requestBody?: infer B } ? JsonOf<NonNullable<B>> : never;
type ParametersOf<O> = O extends { parameters: infer X } ? X : never;
/** Path parameters are required when the path has any, absent when not. */
type PathOption<O> = ParametersOf<O> extends { path: infer X } ? { path: X } : { path?: undefined };
type Options<O> = PathOption<O> & {
  token?: string | null;
  query?: NonNullable<ParametersOf<O> extends { query?: infer Q } ? Q : never>;
  body?: BodyOf<O>;
  ifMatch?: string | null;
};

/** What a success (2xx) of the operation `Id` (its operationId) carries: its JSON, or null when it has none. */
export type Success<Id extends keyof operations> = SuccessOf<operations[Id]>;
/** The JSON body the operation `Id` takes. */
export type RequestBody<Id extends keyof operations> = BodyOf<operations[Id]>;

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
    readonly code: ErrorCode,
    message: string,
    readonly body: Partial<Schemas["ErrorFields"]> = {},
  ) {
    super(message);
  }
}

export interface Answer<T> {
  status: number;
  etag: string | null;
  data: T;
}

/**
 * Calls `method` `path`, a path of openapi.json as it is written there
 * (`/v1/projects/{project}/keys/{id}`) with its parameters in `options.path`:
 * the method, the path, its parameters, the query, the body and the answer
 * are all checked against the document, so the dashboard cannot drift from it.
 */
export async function api<P extends keyof paths, M extends MethodOf<P>>(
  method: M,
  path: P,
  options: Options<OperationAt<P, M>>,
): Promise<Answer<SuccessOf<OperationAt<P, M>>>> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? storedToken() : options.token;
  if (token) headers.authorization = `Bearer ${token}`;
  if (options.ifMatch) headers["if-match"] = options.ifMatch;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  const values = (options.path ?? {}) as Record<string, string>;
  let url = path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(values[name]));
  if (options.query) {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(options.query)) {
      if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
    }
    const text = String(search);
    if (text) url += "?" + text;
  }
  let response: Response;
  try {
    response = await fetch(url, { method, headers, body, credentials: "omit", cache: "no-store" });
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
      throw new ApiError(response.status, String(error.code) as ErrorCode, error.message, error);
    }
    throw new ApiError(response.status, `HTTP_${response.status}`, `keygate answered ${response.status}.`);
  }
  return { status: response.status, etag: response.headers.get("etag"), data };
}

/** Who is signed in: the admin token (every project) or a key (its own project). */
export type Principal =
  | { kind: "admin"; environment: Environment }
  | { kind: "key"; project: string; scopes: string[]; canWrite: boolean; environment: Environment };

const WRITE_SCOPES = ["admin", "keys:write", "keys:*"];
/** A key of any deployment's prefix (KEY_PREFIX), not only the default `sk`. */
const KEY_SHAPE = /^[a-z][a-z0-9]{1,11}_(live|test)_/;
const READ_SCOPES = [...WRITE_SCOPES, "keys:read"];

/** Finds out what `token` is, or throws the API's own refusal. */
export async function identify(token: string): Promise<Principal> {
  const environment = await api("GET", "/healthz", { token: null })
    .then((a) => a.data.environment)
    .catch((): Environment => "live");
  try {
    await api("GET", "/v1/projects", { token, query: { limit: 1 } });
    return { kind: "admin", environment };
  } catch (error) {
    if (!(error instanceof ApiError) || !KEY_SHAPE.test(token)) throw error;
    const { data: verdict } = await api("POST", "/v1/keys/verify", { token: null, body: { key: token } });
    if (!verdict.valid) throw new ApiError(401, verdict.code, verdict.message);
    const scopes: string[] = verdict.scopes;
    if (!scopes.some((s) => READ_SCOPES.includes(s))) {
      throw new ApiError(
        403,
        "INSUFFICIENT_PERMISSIONS",
        "This key holds neither keys:read nor keys:write, so it cannot manage keys.",
      );
    }
    return {
      kind: "key",
      project: verdict.project,
      scopes,
      canWrite: scopes.some((s) => WRITE_SCOPES.includes(s)),
      environment,
    };
  }
}
