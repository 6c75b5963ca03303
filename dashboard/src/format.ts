// Pure helpers: masking, the scope grammar, times.
import type { Assert, Covers, Outcome } from "./api";

const NAME = "[a-z][a-z0-9_-]{0,31}";
const SCOPE = new RegExp(`^(admin|${NAME}:(${NAME}|\\*))$`);
export const PROJECT_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const KEY_ID = /^key_[0-9A-Za-z]{22}$/;

/** `sk_live_Np8J` → `sk_live_Np8J••••••••`: the display prefix (any KEY_PREFIX), never more. */
export function masked(prefix: string): string {
  return `${prefix}••••••••`;
}

/** The scopes typed (spaces or commas between), each with its grammar problem if any. */
export function parseScopes(text: string): { scopes: string[]; problems: string[] } {
  const scopes = text.split(/[\s,]+/).filter(Boolean);
  const problems = scopes
    .filter((s) => !SCOPE.test(s))
    .map((s) => `“${s}” is not a scope: use admin, resource:action or resource:* (lower-case, starting with a letter).`);
  if (scopes.length > 64) problems.push("At most 64 scopes.");
  return { scopes, problems };
}

export function when(iso: string | null | undefined, never = "—"): string {
  if (!iso) return never;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

/** A `datetime-local` value (local time) as RFC 3339 UTC; empty stays null. */
export function localToIso(value: string): string | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** RFC 3339 as a `datetime-local` value in local time. */
export function isoToLocal(iso: string | null): string {
  if (!iso) return "";
  const date = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** Meta typed as JSON: an object, or a problem to show. Empty is `{}`. */
export function parseMeta(text: string): { meta?: Record<string, unknown>; problem?: string } {
  if (!text.trim()) return { meta: {} };
  try {
    const value = JSON.parse(text);
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      return { problem: "Meta must be a JSON object, such as {\"team\": \"infra\"}." };
    }
    return { meta: value };
  } catch (error) {
    return { problem: `Meta is not valid JSON: ${(error as Error).message}` };
  }
}

export const OUTCOMES = [
  ["valid", "Valid", "#15803d"],
  ["rate_limited", "Rate limited", "#d97706"],
  ["insufficient_permissions", "Insufficient permissions", "#7c3aed"],
  ["project_mismatch", "Project mismatch", "#0e7490"],
  ["disabled", "Disabled", "#6b7280"],
  ["expired", "Expired", "#b91c1c"],
  ["usage_exceeded", "Usage exceeded", "#be185d"],
  ["ip_not_allowed", "IP not allowed", "#9a3412"],
] as const satisfies readonly (readonly [Outcome, string, string])[];
type _EveryOutcome = Assert<Covers<Outcome, (typeof OUTCOMES)[number][0]>>;
