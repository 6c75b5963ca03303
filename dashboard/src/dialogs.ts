// Create, edit, rotate, delete and reveal: each a modal dialog over the admin API.
import { useState } from "preact/hooks";
import { api, ApiError, type Environment, type KeyObject, type NewKey, type Principal, type RequestBody } from "./api";
import { isoToLocal, localToIso, parseMeta, parseScopes } from "./format";
import { ErrorBox, html, Modal, SecretModal, useId, useSubmission } from "./ui";

interface FormState {
  name: string;
  scopes: string;
  status: KeyObject["status"];
  environment: Environment;
  limits: "plan" | "custom";
  plan: string;
  perMinute: string;
  perDay: string;
  expires: string;
  meta: string;
}

function initialForm(key: KeyObject | null, environment: Environment): FormState {
  return {
    name: key?.name ?? "",
    scopes: key ? key.scopes.join(" ") : "",
    status: key?.status ?? "active",
    environment: key?.environment ?? environment,
    limits: key && key.plan === null ? "custom" : "plan",
    plan: key?.plan ?? "standard",
    perMinute: String(key?.rate_limit.per_minute ?? 100),
    perDay: String(key?.rate_limit.per_day ?? 10000),
    expires: isoToLocal(key?.expires_at ?? null),
    meta: key && Object.keys(key.meta).length ? JSON.stringify(key.meta, null, 2) : "",
  };
}

/** The fields of create and edit; `editing` adds Status and drops Environment. */
function KeyFields({ form, set, editing }: { form: FormState; set: (f: Partial<FormState>) => void; editing: boolean }) {
  const id = useId("key-form");
  const { problems } = parseScopes(form.scopes);
  const metaProblem = parseMeta(form.meta).problem;
  return html`
    <div class="field">
      <label for=${id + "-name"}>Name</label>
      <input id=${id + "-name"} required maxlength="100" value=${form.name} onInput=${(e: any) => set({ name: e.currentTarget.value })} />
    </div>
    <div class="field">
      <label for=${id + "-scopes"}>Scopes</label>
      <input id=${id + "-scopes"} value=${form.scopes} spellcheck="false" autocomplete="off"
        aria-describedby=${id + "-scopes-hint " + id + "-scopes-problems"} aria-invalid=${problems.length > 0}
        onInput=${(e: any) => set({ scopes: e.currentTarget.value })} />
      <p class="hint" id=${id + "-scopes-hint"}>
        Separated by spaces, e.g. <code>bots:read files:write</code>. <code>x:write</code> includes <code>x:read</code>; <code>x:*</code> grants every action on x; <code>admin</code> grants everything.
      </p>
      <div id=${id + "-scopes-problems"} aria-live="polite">
        ${problems.map((p) => html`<p class="invalid">${p}</p>`)}
      </div>
    </div>
    ${editing
      ? html`<div class="field">
          <label for=${id + "-status"}>Status</label>
          <select id=${id + "-status"} value=${form.status} onChange=${(e: any) => set({ status: e.currentTarget.value })}>
            <option value="active">active</option>
            <option value="inactive">inactive</option>
          </select>
        </div>`
      : html`<div class="field">
          <label for=${id + "-env"}>Environment</label>
          <select id=${id + "-env"} value=${form.environment} onChange=${(e: any) => set({ environment: e.currentTarget.value })}>
            <option value="live">live</option>
            <option value="test">test</option>
          </select>
        </div>`}
    <fieldset class="field">
      <legend>Limits</legend>
      <label class="inline"><input type="radio" name=${id + "-limits"} checked=${form.limits === "plan"} onChange=${() => set({ limits: "plan" })} /> Plan</label>
      <label class="inline"><input type="radio" name=${id + "-limits"} checked=${form.limits === "custom"} onChange=${() => set({ limits: "custom" })} /> Custom limits</label>
      ${form.limits === "plan"
        ? html`<div class="field">
            <label for=${id + "-plan"}>Plan name</label>
            <input id=${id + "-plan"} list=${id + "-plans"} value=${form.plan} onInput=${(e: any) => set({ plan: e.currentTarget.value })} />
            <datalist id=${id + "-plans"}><option value="standard" /><option value="professional" /></datalist>
          </div>`
        : html`<div class="row">
            <div class="field">
              <label for=${id + "-pm"}>Requests per minute</label>
              <input id=${id + "-pm"} type="number" min="1" value=${form.perMinute} onInput=${(e: any) => set({ perMinute: e.currentTarget.value })} />
            </div>
            <div class="field">
              <label for=${id + "-pd"}>Requests per day</label>
              <input id=${id + "-pd"} type="number" min="1" value=${form.perDay} onInput=${(e: any) => set({ perDay: e.currentTarget.value })} />
            </div>
          </div>`}
    </fieldset>
    <div class="field">
      <label for=${id + "-expires"}>Expires</label>
      <input id=${id + "-expires"} type="datetime-local" value=${form.expires} aria-describedby=${id + "-expires-hint"}
        onInput=${(e: any) => set({ expires: e.currentTarget.value })} />
      <p class="hint" id=${id + "-expires-hint"}>Your local time. Empty: never expires.</p>
    </div>
    <div class="field">
      <label for=${id + "-meta"}>Meta (JSON object)</label>
      <textarea id=${id + "-meta"} rows="3" spellcheck="false" value=${form.meta} aria-invalid=${!!metaProblem}
        aria-describedby=${id + "-meta-problem"} onInput=${(e: any) => set({ meta: e.currentTarget.value })}></textarea>
      <div id=${id + "-meta-problem"} aria-live="polite">${metaProblem ? html`<p class="invalid">${metaProblem}</p>` : null}</div>
    </div>`;
}

function limitsOf(form: FormState): Pick<RequestBody<"updateKey">, "plan" | "rate_limit"> {
  return form.limits === "plan"
    ? { plan: form.plan.trim() }
    : { rate_limit: { per_minute: Number(form.perMinute), per_day: Number(form.perDay) } };
}

function formProblem(form: FormState): string | null {
  if (!form.name.trim()) return "Give the key a name.";
  if (parseScopes(form.scopes).problems.length) return "Fix the scopes first.";
  if (parseMeta(form.meta).problem) return "Fix the meta JSON first.";
  return null;
}

export function CreateDialog({ project, principal, onClose }: { project: string; principal: Principal; onClose: (created?: KeyObject) => void }) {
  const [form, setForm] = useState(initialForm(null, principal.environment));
  const { error, setError, busy, run } = useSubmission();
  const [created, setCreated] = useState<NewKey | null>(null);
  const [recoverable, setRecoverable] = useState(false);
  const set = (change: Partial<FormState>) => setForm({ ...form, ...change });
  const submit = async (event: Event) => {
    event.preventDefault();
    const problem = formProblem(form);
    if (problem) return setError(new Error(problem));
    const body: RequestBody<"createKey"> = {
      name: form.name.trim(),
      scopes: parseScopes(form.scopes).scopes,
      environment: form.environment,
      ...limitsOf(form),
      meta: parseMeta(form.meta).meta,
    };
    if (recoverable) body.recoverable = true;
    const expires = localToIso(form.expires);
    if (expires) body.expires_at = expires;
    await run(async () => {
      const answer = await api("POST", "/v1/projects/{project}/keys", { path: { project }, body });
      setCreated(answer.data);
    });
  };
  if (created?.key) {
    const { key, ...rest } = created;
    const done = () => {
      setCreated(null);
      onClose(rest);
    };
    return html`<${SecretModal} title=${`Key “${created.name}” created`} secret=${key} again=${created.recoverable} onDone=${done} />`;
  }
  return html`<${Modal} title="Create key" onClose=${() => onClose()}>
    <form onSubmit=${submit} novalidate>
      <${KeyFields} form=${form} set=${set} editing=${false} />
      <${RecoverableField} checked=${recoverable} set=${setRecoverable} />
      <${ErrorBox} error=${error} />
      <div class="actions">
        <button type="submit" class="primary" disabled=${busy}>Create</button>
        <button type="button" onClick=${() => onClose()}>Cancel</button>
      </div>
    </form>
  <//>`;
}

export function EditDialog({ keyObject, etag, principal, onClose, onReload }: {
  keyObject: KeyObject; etag: string | null; principal: Principal; onClose: (saved?: boolean) => void; onReload: () => void;
}) {
  const [form, setForm] = useState(initialForm(keyObject, principal.environment));
  const { error, setError, busy, run } = useSubmission();
  const [stale, setStale] = useState(false);
  const set = (change: Partial<FormState>) => setForm({ ...form, ...change });
  const submit = async (event: Event) => {
    event.preventDefault();
    const problem = formProblem(form);
    if (problem) return setError(new Error(problem));
    const before = initialForm(keyObject, principal.environment);
    const body: RequestBody<"updateKey"> = {};
    if (form.name.trim() !== keyObject.name) body.name = form.name.trim();
    const scopes = parseScopes(form.scopes).scopes;
    if (scopes.join(" ") !== keyObject.scopes.join(" ")) body.scopes = scopes;
    if (form.status !== keyObject.status) body.status = form.status;
    if (form.limits !== before.limits || form.plan !== before.plan || form.perMinute !== before.perMinute || form.perDay !== before.perDay) {
      Object.assign(body, limitsOf(form));
    }
    if (form.expires !== before.expires) body.expires_at = localToIso(form.expires);
    if (form.meta !== before.meta) body.meta = parseMeta(form.meta).meta;
    if (!Object.keys(body).length) return onClose(false);
    await run(
      async () => {
        await api("PATCH", "/v1/projects/{project}/keys/{id}", { path: { project: keyObject.project, id: keyObject.id }, body, ifMatch: etag });
        onClose(true);
      },
      (e) => {
        if (e instanceof ApiError && e.status === 412) setStale(true);
      },
    );
  };
  return html`<${Modal} title=${`Edit “${keyObject.name}”`} onClose=${() => onClose(false)}>
    <form onSubmit=${submit} novalidate>
      <${KeyFields} form=${form} set=${set} editing=${true} />
      ${stale
        ? html`<div class="error" role="alert">
            <strong>This key was changed by someone else since you opened it.</strong>
            Reload to see the latest version, then make your change again.
            <div class="actions"><button type="button" onClick=${onReload}>Reload</button></div>
          </div>`
        : html`<${ErrorBox} error=${error} />`}
      <div class="actions">
        <button type="submit" class="primary" disabled=${busy}>Save</button>
        <button type="button" onClick=${() => onClose(false)}>Cancel</button>
      </div>
    </form>
  <//>`;
}

const GRACE = [
  [0, "Now"],
  [3600, "1 hour"],
  [86400, "24 hours"],
  [604800, "7 days"],
] as const;

export function RotateDialog({ keyObject, etag, onClose }: { keyObject: KeyObject; etag: string | null; onClose: (next?: KeyObject) => void }) {
  const [grace, setGrace] = useState(0);
  const { error, setError, busy, run } = useSubmission();
  const [rotated, setRotated] = useState<NewKey | null>(null);
  const [recoverable, setRecoverable] = useState(keyObject.recoverable);
  const submit = async (event: Event) => {
    event.preventDefault();
    await run(async () => {
      const answer = await api("POST", "/v1/projects/{project}/keys/{id}/rotate", {
        path: { project: keyObject.project, id: keyObject.id },
        body: recoverable ? { grace_seconds: grace, recoverable: true } : { grace_seconds: grace },
        ifMatch: etag,
      });
      setRotated(answer.data);
    });
  };
  if (rotated?.key) {
    const { key, ...rest } = rotated;
    const done = () => {
      setRotated(null);
      onClose(rest);
    };
    return html`<${SecretModal} title="New key" secret=${key} again=${rotated.recoverable} onDone=${done} />`;
  }
  return html`<${Modal} title=${`Rotate “${keyObject.name}”`} onClose=${() => onClose()}>
    <form onSubmit=${submit}>
      <p>A new key with the same name, scopes and limits replaces this one. How long may the old key keep working?</p>
      <fieldset class="field">
        <legend>Old key keeps working for</legend>
        ${GRACE.map(
          ([seconds, label]) => html`<label class="inline">
            <input type="radio" name="grace" checked=${grace === seconds} onChange=${() => setGrace(seconds)} /> ${label}
          </label>`,
        )}
      </fieldset>
      <${RecoverableField} checked=${recoverable} set=${setRecoverable} />
      <${ErrorBox} error=${error} />
      <div class="actions">
        <button type="submit" class="primary" disabled=${busy}>Rotate</button>
        <button type="button" onClick=${() => onClose()}>Cancel</button>
      </div>
    </form>
  <//>`;
}

export function DeleteDialog({ keyObject, etag, onClose }: { keyObject: KeyObject; etag: string | null; onClose: (deleted?: boolean) => void }) {
  const [typed, setTyped] = useState("");
  const { error, setError, busy, run } = useSubmission();
  const id = useId("delete");
  const submit = async (event: Event) => {
    event.preventDefault();
    if (typed !== keyObject.name) return;
    await run(async () => {
      await api("DELETE", "/v1/projects/{project}/keys/{id}", { path: { project: keyObject.project, id: keyObject.id }, ifMatch: etag });
      onClose(true);
    });
  };
  return html`<${Modal} title=${`Delete “${keyObject.name}”`} onClose=${() => onClose()}>
    <form onSubmit=${submit}>
      <p>Requests with this key fail from their next use. This cannot be undone.</p>
      <div class="field">
        <label for=${id}>Type the key's name, <strong>${keyObject.name}</strong>, to confirm</label>
        <input id=${id} value=${typed} autocomplete="off" onInput=${(e: any) => setTyped(e.currentTarget.value)} />
      </div>
      <${ErrorBox} error=${error} />
      <div class="actions">
        <button type="submit" class="danger" disabled=${busy || typed !== keyObject.name}>Delete</button>
        <button type="button" onClick=${() => onClose()}>Cancel</button>
      </div>
    </form>
  <//>`;
}

/** Create's and rotate's choice to keep the new secret for the admin token to reveal. */
function RecoverableField({ checked, set }: { checked: boolean; set: (checked: boolean) => void }) {
  const id = useId("recoverable");
  return html`<div class="field">
    <label class="inline">
      <input type="checkbox" checked=${checked} aria-describedby=${id} onChange=${(e: any) => set(e.currentTarget.checked)} /> Recoverable
    </label>
    <p class="hint" id=${id}>Keep the secret, encrypted with the deployment's VAULT_KEY, so the admin token can reveal it later (each reveal is audited).</p>
  </div>`;
}

/** Shows a recoverable key's secret again (admin token only), after a confirmation: each reveal is audited. */
export function RevealDialog({ keyObject, onClose }: { keyObject: KeyObject; onClose: (revealed?: boolean) => void }) {
  const { error, setError, busy, run } = useSubmission();
  const [secret, setSecret] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    await run(async () => {
      const answer = await api("POST", "/v1/projects/{project}/keys/{id}/reveal", { path: { project: keyObject.project, id: keyObject.id } });
      setSecret(answer.data.key);
    });
  };
  if (secret) {
    const done = () => {
      setSecret(null);
      onClose(true);
    };
    return html`<${SecretModal} title=${`Key “${keyObject.name}”`} secret=${secret} again=${true} onDone=${done} />`;
  }
  return html`<${Modal} title=${`Reveal “${keyObject.name}”`} onClose=${() => onClose()}>
    <form onSubmit=${submit}>
      <p>The key's secret is shown on this screen. The reveal is recorded in the audit log as <code>key.revealed</code>, with your address, and sent as an event notification.</p>
      <${ErrorBox} error=${error} />
      <div class="actions">
        <button type="submit" class="primary" disabled=${busy}>Reveal</button>
        <button type="button" onClick=${() => onClose()}>Cancel</button>
      </div>
    </form>
  <//>`;
}
