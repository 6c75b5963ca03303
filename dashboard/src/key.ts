// One key's page: its fields, a leak report's notice, its usage chart and
// audit trail, and the dialogs that edit, rotate, reveal or delete it.
import { useEffect, useState } from "preact/hooks";
import { api, type AuditEvent, type KeyObject, type Leak, type Principal, type SeriesEntry } from "./api";
import { UsageChart } from "./chart";
import { DeleteDialog, EditDialog, RevealDialog, RotateDialog } from "./dialogs";
import { masked, when } from "./format";
import { AuditTable, canWrite, go, keysHash, KeyStatus, ReadOnlyNote, ScopeBadges } from "./pages";
import { ErrorBox, html, Loading, useId } from "./ui";

/** A leak report's URL as a link when it is a web address, else as text (never a `javascript:` link). */
function LeakUrl({ url }: { url: string | null }) {
  if (!url) return html`<span class="muted">not given</span>`;
  return /^https?:\/\//i.test(url)
    ? html`<a href=${url} target="_blank" rel="noopener noreferrer">${url}</a>`
    : html`<code>${url}</code>`;
}

/** When and where a leak report found the key, and what that means for it now. */
function LeakNotice({ leak, status }: { leak: Leak; status: string }) {
  const id = useId("leak");
  return html`<section class="leak" aria-labelledby=${id}>
    <h2 id=${id}><span class="status status-leaked">Leaked</span> This key was found in public</h2>
    <p>
      GitHub secret scanning reported it. Treat it as compromised: give its owner a new key and delete this one.
      ${status === "active" ? " It is still active." : " keygate has deactivated it."}
    </p>
    <dl class="leak-facts">
      <div><dt>Found</dt><dd>${when(leak.at)}</dd></div>
      <div><dt>Where</dt><dd><${LeakUrl} url=${leak.url} /></dd></div>
      <div><dt>Source</dt><dd>${leak.source ?? html`<span class="muted">not given</span>`}</dd></div>
    </dl>
  </section>`;
}

export function KeyDetail({ project, keyId, principal }: { project: string; keyId: string; principal: Principal }) {
  const [keyObject, setKey] = useState<KeyObject | null>(null);
  const [etag, setEtag] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [usage, setUsage] = useState<{ series: SeriesEntry[]; from: number; requests_today?: number } | null>(null);
  const [usageError, setUsageError] = useState<unknown>(null);
  const [events, setEvents] = useState<AuditEvent[] | null>(null);
  const [dialog, setDialog] = useState<"edit" | "rotate" | "delete" | "reveal" | null>(null);
  const [reload, setReload] = useState(0);
  const [notice, setNotice] = useState<string | null>(null);
  useEffect(() => {
    setError(null);
    api("GET", "/v1/projects/{project}/keys/{id}", { path: { project, id: keyId } })
      .then((answer) => {
        setKey(answer.data);
        setEtag(answer.etag);
      })
      .catch(setError);
    const hour = 3_600_000;
    const from = Math.floor(Date.now() / hour) * hour - 167 * hour;
    const to = new Date(Math.min(Date.now(), from + 7 * 24 * hour)).toISOString().replace(/\.\d{3}Z$/, "Z");
    const fromIso = new Date(from).toISOString().replace(/\.\d{3}Z$/, "Z");
    api("GET", "/v1/projects/{project}/keys/{id}/usage", { path: { project, id: keyId }, query: { granularity: "hour", from: fromIso, to } })
      .then((answer) => setUsage({ series: answer.data.series ?? [], from, requests_today: answer.data.requests_today }))
      .catch(setUsageError);
    api("GET", "/v1/projects/{project}/audit", { path: { project }, query: { key_id: keyId, limit: 50 } })
      .then((answer) => setEvents(answer.data.events))
      .catch(() => setEvents([]));
  }, [project, keyId, reload]);
  if (error) {
    return html`<section><h1>Key ${keyId}</h1><${ErrorBox} error=${error} /><p><a href=${keysHash(project)}>Back to the keys</a></p></section>`;
  }
  if (!keyObject) return html`<section><h1>Key</h1><${Loading} what="the key" /></section>`;
  const k = keyObject;
  const writable = canWrite(principal);
  const fields: [string, unknown][] = [
    ["Id", html`<code>${k.id}</code>`],
    ["Key", html`<code>${masked(k.prefix)}</code>`],
    ["Project", k.project],
    ["Scopes", html`<${ScopeBadges} scopes=${k.scopes} />`],
    ["Status", html`<${KeyStatus} keyObject=${k} />`],
    ["Environment", k.environment],
    ["Limits", `${k.rate_limit.per_minute} per minute, ${k.rate_limit.per_day} per day${k.plan ? ` (plan ${k.plan})` : " (custom)"}`],
    ["Created", when(k.created_at)],
    ["Updated", when(k.updated_at)],
    ["Last used", when(k.last_used_at, "never")],
    ["Expires", when(k.expires_at, "never")],
    ["Rotated from", k.rotated_from ? html`<a href=${`${keysHash(project)}/keys/${k.rotated_from}`}>${k.rotated_from}</a>` : "—"],
    ["Owner", k.owner_id ? html`<code>${k.owner_id}</code> (shares its owner's limits)` : "—"],
    ["Rotated to", k.rotated_to ? html`<a href=${`${keysHash(project)}/keys/${k.rotated_to}`}>${k.rotated_to}</a>` : "—"],
    ["Meta", Object.keys(k.meta).length ? html`<pre>${JSON.stringify(k.meta, null, 2)}</pre>` : "—"],
    ["Allowed IPs", k.allowed_ips ? html`<span class="blocks">${k.allowed_ips.map((block) => html`<code>${block}</code> `)}</span>` : "any address"],
    ["Recoverable", k.recoverable ? "Yes: the admin token can reveal its secret" : "No: only its hash is kept"],
  ];
  return html`<section>
    <p><a href=${keysHash(project)}>← Keys in ${project}</a></p>
    <div class="title-row">
      <h1>${k.name}</h1>
      ${writable
        ? html`<div class="actions">
            ${k.recoverable && principal.kind === "admin"
              ? html`<button type="button" onClick=${() => setDialog("reveal")}>Reveal</button>`
              : null}
            <button type="button" onClick=${() => setDialog("edit")}>Edit</button>
            ${k.rotated_to ? null : html`<button type="button" onClick=${() => setDialog("rotate")}>Rotate</button>`}
            <button type="button" class="danger" onClick=${() => setDialog("delete")}>Delete</button>
          </div>`
        : null}
    </div>
    <${ReadOnlyNote} principal=${principal} />
    ${notice ? html`<p class="notice" role="status">${notice}</p>` : null}
    ${k.leaked ? html`<${LeakNotice} leak=${k.leaked} status=${k.status} />` : null}
    <dl class="fields">${fields.map(([name, value]) => html`<div><dt>${name}</dt><dd>${value}</dd></div>`)}</dl>
    <h2>Usage</h2>
    <${ErrorBox} error=${usageError} />
    ${usage ? html`<${UsageChart} series=${usage.series} from=${usage.from} />` : usageError ? null : html`<${Loading} what="usage" />`}
    <h2>Audit trail</h2>
    ${events === null
      ? html`<${Loading} what="events" />`
      : events.length === 0
        ? html`<p class="empty">No events recorded for this key yet.</p>`
        : html`<${AuditTable} events=${events} project=${project} showKey=${false} />`}
    ${dialog === "edit"
      ? html`<${EditDialog} keyObject=${k} etag=${etag} principal=${principal}
          onReload=${() => { setDialog(null); setReload(reload + 1); }}
          onClose=${(saved?: boolean) => { setDialog(null); if (saved) { setNotice("Saved."); setReload(reload + 1); } }} />`
      : null}
    ${dialog === "rotate"
      ? html`<${RotateDialog} keyObject=${k} etag=${etag}
          onClose=${(next?: KeyObject) => { setDialog(null); if (next) { setNotice(null); go(`${keysHash(project)}/keys/${next.id}`); } }} />`
      : null}
    ${dialog === "reveal"
      ? html`<${RevealDialog} keyObject=${k}
          onClose=${(revealed?: boolean) => { setDialog(null); if (revealed) setReload(reload + 1); }} />`
      : null}
    ${dialog === "delete"
      ? html`<${DeleteDialog} keyObject=${k} etag=${etag}
          onClose=${(deleted?: boolean) => { setDialog(null); if (deleted) go(keysHash(project)); }} />`
      : null}
  </section>`;
}
