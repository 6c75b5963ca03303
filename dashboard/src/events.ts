// The project's failed event notifications: those that failed every retry and
// sit in the dead-letter list, each with Retry. The admin token's alone.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, type FailedEvent, type Principal, type Success } from "./api";
import { KEY_ID, when } from "./format";
import { keysHash } from "./pages";
import { ErrorBox, html, Loading, Pager } from "./ui";

function AdminOnly({ project }: { project: string }) {
  return html`<section>
    <h1>Failed events <span class="muted">of ${project}</span></h1>
    <p class="note">
      Only the admin token can see and retry failed events: they tell of every key in the project, client IPs
      included, so an API key cannot list them. Sign in with the admin token to see them.
    </p>
  </section>`;
}

function isForbidden(error: unknown) {
  return error instanceof ApiError && error.status === 403;
}

export function FailedEvents({ project, principal }: { project: string; principal: Principal }) {
  if (principal.kind !== "admin") return html`<${AdminOnly} project=${project} />`;
  return html`<${FailedList} project=${project} />`;
}

function FailedList({ project }: { project: string }) {
  const [pages, setPages] = useState<(string | null)[]>([null]);
  const [page, setPage] = useState<Success<"listFailedEvents"> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [reload, setReload] = useState(0);
  const [pending, setPending] = useState<string[]>([]);
  const [message, setMessage] = useState("");
  const [retryError, setRetryError] = useState<unknown>(null);
  const [refocus, setRefocus] = useState<number | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  const table = useRef<HTMLTableElement>(null);
  const inFlight = useRef(new Set<string>());
  const cursor = pages[pages.length - 1];
  useEffect(() => {
    let live = true;
    setPage(null);
    setError(null);
    api("GET", "/v1/projects/{project}/events", {
      path: { project },
      query: { status: "failed", limit: 25, cursor: cursor ?? undefined },
    })
      .then((answer) => live && setPage(answer.data))
      .catch((e) => {
        if (!live) return;
        setPage(null);
        setError(e);
      });
    return () => {
      live = false;
    };
  }, [project, cursor, reload]);
  // A row whose Retry had the focus is gone: the focus goes to the next row's Retry, or the heading,
  // in the same commit that removed the row.
  useLayoutEffect(() => {
    if (refocus === null) return;
    setRefocus(null);
    const active = document.activeElement;
    if (active && active !== document.body && active.isConnected) return;
    const buttons = table.current?.querySelectorAll<HTMLButtonElement>("button[data-retry]") ?? [];
    (buttons[Math.min(refocus, buttons.length - 1)] ?? heading.current)?.focus();
  }, [refocus]);

  const retry = async (event: FailedEvent, index: number) => {
    if (inFlight.current.has(event.id)) return;
    inFlight.current.add(event.id);
    setPending((ids) => [...ids, event.id]);
    setRetryError(null);
    setMessage(`Retrying ${event.type} ${event.id}…`);
    const drop = () => {
      setPage((current) => current && { ...current, events: current.events.filter((e) => e.id !== event.id) });
      setRefocus(index);
    };
    try {
      await api("POST", "/v1/projects/{project}/events/{id}/retry", { path: { project, id: event.id } });
      drop();
      setMessage(`Queued ${event.type} ${event.id} for delivery again.`);
    } catch (e) {
      if (e instanceof ApiError && e.code === "EVENT_NOT_FOUND") {
        drop();
        setMessage(`${event.id} is no longer failed: it was retried already.`);
      } else {
        setMessage("");
        setRetryError(e);
      }
    } finally {
      inFlight.current.delete(event.id);
      setPending((ids) => ids.filter((id) => id !== event.id));
    }
  };
  const refresh = () => {
    setMessage("");
    setRetryError(null);
    setReload(reload + 1);
  };

  if (isForbidden(error)) return html`<${AdminOnly} project=${project} />`;
  const events = page?.events ?? [];
  return html`<section>
    <div class="title-row">
      <h1 ref=${heading} tabindex="-1">Failed events <span class="muted">of ${project}</span></h1>
      <button type="button" onClick=${refresh}>Refresh</button>
    </div>
    <p class="hint lead">
      Event notifications that failed every retry to EVENTS_URL, newest failure first. Retry sends one again
      with its original id.
    </p>
    <div role="status" aria-live="polite">${message ? html`<p class="notice">${message}</p>` : null}</div>
    <${ErrorBox} error=${retryError} />
    <${ErrorBox} error=${error} />
    ${page === null && !error ? html`<${Loading} what="failed events" />` : null}
    ${page && events.length === 0
      ? html`<p class="empty">
          ${pages.length > 1 || page.cursor
            ? "No failed events left on this page."
            : "No failed events. Every notification was delivered or is still being retried."}
        </p>`
      : null}
    ${events.length > 0
      ? html`<table class="events" ref=${table}>
          <caption class="visually-hidden">Failed events of ${project}</caption>
          <thead><tr>
            <th scope="col">Type</th><th scope="col">Failed</th><th scope="col">Key</th>
            <th scope="col">Event id</th><th scope="col"><span class="visually-hidden">Action</span></th>
          </tr></thead>
          <tbody>
            ${events.map((e, index) => {
              const keyId = typeof e.data.key_id === "string" && KEY_ID.test(e.data.key_id) ? e.data.key_id : null;
              const busy = pending.includes(e.id);
              return html`<tr key=${e.id}>
                <td data-label="Type"><code>${e.type}</code></td>
                <td data-label="Failed">${when(e.failed_at)}</td>
                <td data-label="Key">${keyId
                  ? html`<a href=${`${keysHash(project)}/keys/${keyId}`}><code>${keyId}</code></a>`
                  : html`<span class="muted">—</span>`}</td>
                <td data-label="Event id"><code>${e.id}</code></td>
                <td data-label="Action">
                  <button type="button" data-retry aria-disabled=${busy ? "true" : null}
                    aria-label=${`Retry ${e.type} ${e.id}`} onClick=${() => retry(e, index)}>Retry</button>
                </td>
              </tr>`;
            })}
          </tbody>
        </table>`
      : null}
    <${Pager} label="Pages of failed events" pages=${pages} setPages=${setPages} cursor=${page?.cursor} />
  </section>`;
}
