// Shared view pieces: the html tag, dialogs, errors, the one-time secret.
import { h, type ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import htm from "htm";
import { ApiError } from "./api";

export const html = htm.bind(h);

let nextId = 0;
/** A stable id for label/aria wiring. */
export function useId(prefix: string): string {
  const ref = useRef<string>();
  if (!ref.current) ref.current = `${prefix}-${++nextId}`;
  return ref.current;
}

/**
 * A dialog's submission: `busy` while `work` runs, and its failure kept as
 * `error` (also handed to `failed`, e.g. to notice a stale ETag).
 */
export function useSubmission() {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async (work: () => Promise<void>, failed?: (error: unknown) => void) => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (e) {
      failed?.(e);
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return { error, setError, busy, run };
}

/** An API error shown with its contract message (and code), announced to screen readers. */
export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof ApiError ? error.code : null;
  return html`<div class="error" role="alert">
    <strong>${message}</strong>${code ? html` <span class="code">${code}</span>` : null}
  </div>`;
}

export function Loading({ what }: { what: string }) {
  return html`<p class="muted" role="status" aria-live="polite">Loading ${what}…</p>`;
}

/**
 * A modal dialog: focus moves into it when it opens and back to where it was
 * when it closes; Escape asks `onClose` (which may refuse, e.g. to confirm first).
 */
export function Modal({ title, onClose, children }: { title: string; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId("dialog-title");
  const close = useRef(onClose);
  close.current = onClose;
  useEffect(() => {
    const dialog = ref.current!;
    const opener = document.activeElement as HTMLElement | null;
    const cancel = (event: Event) => {
      event.preventDefault();
      close.current();
    };
    dialog.addEventListener("cancel", cancel);
    dialog.showModal();
    const first = dialog.querySelector<HTMLElement>("[autofocus], input, select, textarea, button");
    first?.focus();
    return () => {
      dialog.removeEventListener("cancel", cancel);
      if (dialog.open) dialog.close();
      if (opener && opener.isConnected) opener.focus();
    };
  }, []);
  return html`<dialog ref=${ref} aria-labelledby=${titleId} class="modal">
    <h2 id=${titleId}>${title}</h2>
    ${children}
  </dialog>`;
}

/** A dialog showing a secret once; closing it asks the same confirmation as Done. */
export function SecretModal({ title, secret, again, onDone }: { title: string; secret: string; again: boolean; onDone: () => void }) {
  const [closeAsked, setCloseAsked] = useState(0);
  return html`<${Modal} title=${title} onClose=${() => setCloseAsked(closeAsked + 1)}>
    <${SecretPanel} secret=${secret} onDone=${onDone} closeAsked=${closeAsked} again=${again} />
  <//>`;
}

/** Previous and Next over cursor pages (`pages`: the cursors of the pages opened so far). */
export function Pager({ label, pages, setPages, cursor }: { label: string; pages: (string | null)[]; setPages: (pages: (string | null)[]) => void; cursor?: string | null }) {
  return html`<nav class="pager" aria-label=${label}>
    ${pages.length > 1 ? html`<button type="button" onClick=${() => setPages(pages.slice(0, -1))}>Previous page</button>` : null}
    ${cursor ? html`<button type="button" onClick=${() => setPages([...pages, cursor])}>Next page</button>` : null}
  </nav>`;
}

/**
 * The secret, shown this once with Copy and a warning. Closing without copying
 * asks first. The caller drops the secret from its state on `onDone`.
 * `again`: a recoverable key's, which the admin token can reveal again.
 */
export function SecretPanel({ secret, onDone, closeAsked, again = false }: { secret: string; onDone: () => void; closeAsked: number; again?: boolean }) {
  const [copied, setCopied] = useState<"no" | "yes" | "failed">("no");
  const [confirming, setConfirming] = useState(false);
  useEffect(() => {
    if (closeAsked > 0) done();
  }, [closeAsked]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied("yes");
    } catch {
      setCopied("failed");
    }
  };
  const done = () => (copied === "yes" || confirming ? onDone() : setConfirming(true));
  return html`<div class="secret">
    <p class="warning" role="note">
      ${again
        ? "Copy this key now. It is recoverable: the admin token can reveal it again, and every reveal is recorded in the audit log."
        : "Copy this key now. It will not be shown again: keygate keeps only its hash."}
    </p>
    <code class="secret-value" data-secret>${secret}</code>
    <div class="actions">
      <button type="button" class="primary" onClick=${copy}>Copy</button>
      <button type="button" onClick=${done}>Done</button>
    </div>
    <p role="status" aria-live="polite" class="muted">
      ${copied === "yes" ? "Copied to the clipboard." : copied === "failed" ? "Copying failed: select the key and copy it by hand." : ""}
    </p>
    ${confirming
      ? html`<p class="warning" role="alert">
          You have not copied the key. Press Done again to close${again ? "." : "; the key cannot be shown again."}
        </p>`
      : null}
  </div>`;
}
