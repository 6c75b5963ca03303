// The pages: sign-in, projects, a project's keys, its audit log; and what the
// key page (key.ts) shares with them: the badges, the read-only note, the audit table.
import { useEffect, useState } from "preact/hooks";
import { api, identify, storeToken, type Assert, type AuditAction, type AuditEvent, type Covers, type KeyObject, type Leak, type Principal, type Success } from "./api";
import { CreateDialog } from "./dialogs";
import { masked, PROJECT_ID, when } from "./format";
import { ErrorBox, html, Loading, Pager, useId } from "./ui";

export function go(hash: string) {
  location.hash = hash;
}

export function keysHash(project: string) {
  return `#/p/${encodeURIComponent(project)}`;
}

export function SignIn({ onSignedIn }: { onSignedIn: (principal: Principal) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const id = useId("token");
  const submit = async (event: Event) => {
    event.preventDefault();
    const value = token.trim();
    if (!value) return setError(new Error("Paste the admin token or an API key first."));
    setBusy(true);
    setError(null);
    try {
      const principal = await identify(value);
      storeToken(value);
      setToken("");
      onSignedIn(principal);
    } catch (e) {
      setError(new Error(`Sign-in failed: ${(e as Error).message}`));
    } finally {
      setBusy(false);
    }
  };
  return html`<section class="card narrow">
    <h1>Sign in to keygate</h1>
    <form onSubmit=${submit}>
      <div class="field">
        <label for=${id}>Admin token or API key</label>
        <input id=${id} type="password" autocomplete="off" spellcheck="false" value=${token}
          aria-describedby=${id + "-hint"} onInput=${(e: any) => setToken(e.currentTarget.value)} />
        <p class="hint" id=${id + "-hint"}>
          The deployment's ADMIN_TOKEN, or a key holding keys:read or keys:write. It stays in this tab
          (sessionStorage) and is sent only in the Authorization header.
        </p>
      </div>
      <${ErrorBox} error=${error} />
      <div class="actions"><button type="submit" class="primary" disabled=${busy}>Sign in</button></div>
    </form>
  </section>`;
}

export function Projects() {
  const [projects, setProjects] = useState<Success<"listProjects">["projects"] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [typed, setTyped] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const id = useId("project");
  const load = async (after: string | null) => {
    try {
      const answer = await api("GET", "/v1/projects", { query: { limit: 100, cursor: after ?? undefined } });
      setProjects([...(after ? projects ?? [] : []), ...answer.data.projects]);
      setCursor(answer.data.cursor);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    load(null);
  }, []);
  const open = (event: Event) => {
    event.preventDefault();
    const project = typed.trim();
    if (!PROJECT_ID.test(project)) {
      return setProblem("A project id is 1–64 characters: lower-case letters, digits, - and _, starting with a letter or digit.");
    }
    go(keysHash(project));
  };
  return html`<section>
    <h1>Projects</h1>
    <form class="card inline-form" onSubmit=${open}>
      <div class="field">
        <label for=${id}>Project</label>
        <input id=${id} list=${id + "-list"} value=${typed} spellcheck="false" autocomplete="off"
          aria-describedby=${id + "-hint"} onInput=${(e: any) => { setTyped(e.currentTarget.value); setProblem(null); }} />
        <datalist id=${id + "-list"}>${(projects ?? []).map((p) => html`<option value=${p.id} />`)}</datalist>
        <p class="hint" id=${id + "-hint"}>Any project id; a new project has no keys until you create one.</p>
        ${problem ? html`<p class="invalid" role="alert">${problem}</p>` : null}
      </div>
      <button type="submit" class="primary">Open project</button>
    </form>
    <${ErrorBox} error=${error} />
    ${projects === null && !error
      ? html`<${Loading} what="projects" />`
      : projects && projects.length === 0
        ? html`<p class="empty">No project has keys yet. Open a project by its id above and create its first key.</p>`
        : html`<ul class="projects">
            ${(projects ?? []).map(
              (p) => html`<li><a href=${keysHash(p.id)}>${p.id}</a> <span class="muted">${p.keys} ${p.keys === 1 ? "key" : "keys"}</span></li>`,
            )}
          </ul>`}
    ${cursor ? html`<button type="button" onClick=${() => load(cursor)}>More projects</button>` : null}
  </section>`;
}

export function ScopeBadges({ scopes }: { scopes: string[] }) {
  if (!scopes.length) return html`<span class="muted">none</span>`;
  return html`<ul class="badges">${scopes.map((s) => html`<li class="badge">${s}</li>`)}</ul>`;
}

function StatusBadge({ status }: { status: string }) {
  return html`<span class=${"status status-" + status}>${status}</span>`;
}

/** The key's status, and "Leaked" (a word, not only a colour) once a leak report named it. */
export function KeyStatus({ keyObject }: { keyObject: KeyObject }) {
  return html`<span class="statuses"><${StatusBadge} status=${keyObject.status} />${keyObject.leaked
    ? html`<span class="status status-leaked">Leaked</span>`
    : null}</span>`;
}

export function ReadOnlyNote({ principal }: { principal: Principal }) {
  return principal.kind === "key" && !principal.canWrite
    ? html`<p class="note">Read-only: you signed in with a key that holds keys:read, not keys:write, so you cannot create or change keys.</p>`
    : null;
}

export function canWrite(principal: Principal) {
  return principal.kind === "admin" || principal.canWrite;
}

export function Keys({ project, principal }: { project: string; principal: Principal }) {
  const [status, setStatus] = useState<KeyObject["status"] | "">("");
  const [search, setSearch] = useState("");
  const [query, setQuery] = useState("");
  const [pages, setPages] = useState<(string | null)[]>([null]);
  const [page, setPage] = useState<Success<"listKeys"> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [creating, setCreating] = useState(false);
  const [reload, setReload] = useState(0);
  const id = useId("keys");
  const cursor = pages[pages.length - 1];
  useEffect(() => {
    let live = true;
    setPage(null);
    setError(null);
    api("GET", "/v1/projects/{project}/keys", {
      path: { project },
      query: { limit: 25, status: status || undefined, q: query, cursor: cursor ?? undefined },
    })
      .then((answer) => live && setPage(answer.data))
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [project, status, query, cursor, reload]);
  const filter = (event: Event) => {
    event.preventDefault();
    setPages([null]);
    setQuery(search.trim());
  };
  return html`<section>
    <div class="title-row">
      <h1>Keys <span class="muted">in ${project}</span></h1>
      ${canWrite(principal)
        ? html`<button type="button" class="primary" onClick=${() => setCreating(true)}>Create key</button>`
        : null}
    </div>
    <${ReadOnlyNote} principal=${principal} />
    <form class="filters" onSubmit=${filter} role="search">
      <div class="field">
        <label for=${id + "-status"}>Show</label>
        <select id=${id + "-status"} value=${status} onChange=${(e: any) => { setPages([null]); setStatus(e.currentTarget.value); }}>
          <option value="">all keys</option>
          <option value="active">active keys</option>
          <option value="inactive">inactive keys</option>
        </select>
      </div>
      <div class="field grow">
        <label for=${id + "-q"}>Search by name or prefix</label>
        <input id=${id + "-q"} type="search" value=${search} onInput=${(e: any) => setSearch(e.currentTarget.value)} />
      </div>
      <button type="submit">Search</button>
    </form>
    <${ErrorBox} error=${error} />
    ${page === null && !error ? html`<${Loading} what="keys" />` : null}
    ${page && page.keys.length === 0
      ? html`<p class="empty">${query || status ? "No key matches." : "No keys in this project yet."}</p>`
      : null}
    ${page && page.keys.length > 0
      ? html`<table class="keys">
          <caption class="visually-hidden">Keys in ${project}</caption>
          <thead><tr>
            <th scope="col">Name</th><th scope="col">Key</th><th scope="col">Scopes</th><th scope="col">Status</th>
            <th scope="col">Environment</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col">Expires</th>
          </tr></thead>
          <tbody>
            ${page.keys.map(
              (k) => html`<tr>
                <td data-label="Name"><a href=${`${keysHash(project)}/keys/${k.id}`}>${k.name}</a></td>
                <td data-label="Key"><code>${masked(k.prefix)}</code></td>
                <td data-label="Scopes"><${ScopeBadges} scopes=${k.scopes} /></td>
                <td data-label="Status"><${KeyStatus} keyObject=${k} /></td>
                <td data-label="Environment">${k.environment}</td>
                <td data-label="Created">${when(k.created_at)}</td>
                <td data-label="Last used">${when(k.last_used_at, "never")}</td>
                <td data-label="Expires">${when(k.expires_at, "never")}</td>
              </tr>`,
            )}
          </tbody>
        </table>`
      : null}
    <${Pager} label="Pages of keys" pages=${pages} setPages=${setPages} cursor=${page?.cursor} />
    ${creating
      ? html`<${CreateDialog} project=${project} principal=${principal}
          onClose=${(created?: KeyObject) => { setCreating(false); if (created) { setPages([null]); setReload(reload + 1); } }} />`
      : null}
  </section>`;
}

export function AuditTable({ events, project, showKey }: { events: AuditEvent[]; project: string; showKey: boolean }) {
  return html`<table class="audit">
    <thead><tr>
      <th scope="col">When</th><th scope="col">Action</th>${showKey ? html`<th scope="col">Key</th>` : null}
      <th scope="col">By</th><th scope="col">Changes</th>
    </tr></thead>
    <tbody>
      ${events.map(
        (e) => html`<tr>
          <td data-label="When">${when(e.at)}</td>
          <td data-label="Action"><code>${e.action}</code></td>
          ${showKey
            ? html`<td data-label="Key">${e.key_id
                ? html`<a href=${`${keysHash(project)}/keys/${e.key_id}`}>${e.key_id}</a>`
                : html`owner <code>${e.owner_id}</code>`}</td>`
            : null}
          <td data-label="By">${actorText(e.actor)}</td>
          <td data-label="Changes">${describeChanges(e)}</td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}

function actorText(actor: AuditEvent["actor"]): string {
  if (actor.type === "key") return `key ${actor.name ?? ""} (${actor.key_id})`;
  if (actor.type === "admin_token") return "admin token";
  if (actor.type === "secret_scanning") return `${actor.provider === "github" ? "GitHub" : actor.provider ?? "a"} secret scanning`;
  // An actor a newer keygate may name.
  return (actor as { type: string }).type;
}

function describeChanges(event: AuditEvent): string {
  if (event.action === "key.deleted") return "deleted";
  const parts = Object.entries(event.changes ?? {}).map(([field, change]) =>
    event.action === "key.created"
      ? field
      : field === "leaked" && change.to && typeof change.to === "object"
        ? `leaked: found at ${short((change.to as Leak).url ?? "an unknown place")}`
        : `${field}: ${short(change.from)} → ${short(change.to)}`,
  );
  if (event.new_key_id) parts.push(`new key ${event.new_key_id}`);
  return event.action === "key.created" ? `created with ${parts.join(", ")}` : parts.join("; ");
}

function short(value: unknown): string {
  const text = value === null || value === undefined ? "none" : typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 60 ? text.slice(0, 57) + "…" : text;
}
const ACTIONS = [
  "key.created",
  "key.updated",
  "key.rotated",
  "key.deleted",
  "key.leaked",
  "key.credits_updated",
  "owner.updated",
  "owner.deleted",
  "key.revealed",
] as const satisfies readonly AuditAction[];
type _EveryAction = Assert<Covers<AuditAction, (typeof ACTIONS)[number]>>;

export function Audit({ project }: { project: string }) {
  const [action, setAction] = useState<AuditAction | "">("");
  const [keyFilter, setKeyFilter] = useState("");
  const [applied, setApplied] = useState<{ action: AuditAction | ""; key: string }>({ action: "", key: "" });
  const [events, setEvents] = useState<AuditEvent[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const id = useId("audit");
  const load = async (after: string | null, filter = applied) => {
    setError(null);
    try {
      const answer = await api("GET", "/v1/projects/{project}/audit", {
        path: { project },
        query: { limit: 50, action: filter.action || undefined, key_id: filter.key, cursor: after ?? undefined },
      });
      setEvents([...(after ? events ?? [] : []), ...answer.data.events]);
      setCursor(answer.data.cursor);
    } catch (e) {
      setEvents([]);
      setError(e);
    }
  };
  useEffect(() => {
    setEvents(null);
    load(null);
  }, [project]);
  const filter = (event: Event) => {
    event.preventDefault();
    const next = { action, key: keyFilter.trim() };
    setApplied(next);
    setEvents(null);
    load(null, next);
  };
  return html`<section>
    <h1>Audit log <span class="muted">of ${project}</span></h1>
    <form class="filters" onSubmit=${filter} role="search">
      <div class="field">
        <label for=${id + "-action"}>Action</label>
        <select id=${id + "-action"} value=${action} onChange=${(e: any) => setAction(e.currentTarget.value)}>
          <option value="">every action</option>
          ${ACTIONS.map((a) => html`<option value=${a}>${a}</option>`)}
        </select>
      </div>
      <div class="field grow">
        <label for=${id + "-key"}>Key id</label>
        <input id=${id + "-key"} value=${keyFilter} spellcheck="false" onInput=${(e: any) => setKeyFilter(e.currentTarget.value)} />
      </div>
      <button type="submit">Filter</button>
    </form>
    <${ErrorBox} error=${error} />
    ${events === null
      ? html`<${Loading} what="events" />`
      : events.length === 0
        ? error ? null : html`<p class="empty">No events${applied.action || applied.key ? " match" : " yet"}.</p>`
        : html`<${AuditTable} events=${events} project=${project} showKey=${true} />`}
    ${cursor ? html`<button type="button" onClick=${() => load(cursor)}>Older events</button>` : null}
  </section>`;
}
