// The dashboard's shell: who is signed in, which page the URL's hash names.
// Pages: #/ (projects or sign-in), #/p/{project}, #/p/{project}/keys/{id}, #/p/{project}/audit,
// #/p/{project}/events (failed event notifications, admin token only).
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { forgetToken, identify, storedToken, type Principal } from "./api";
import { Audit, go, Keys, keysHash, Projects, SignIn } from "./pages";
import { KeyDetail } from "./key";
import { FailedEvents } from "./events";
import { KEY_ID, PROJECT_ID } from "./format";
import { ErrorBox, html, Loading } from "./ui";

type Place =
  | { page: "home" }
  | { page: "keys"; project: string }
  | { page: "key"; project: string; keyId: string }
  | { page: "audit"; project: string }
  | { page: "events"; project: string };

/** The page a hash names. Ids are taken only in their exact shapes (a crafted
 * link must not steer the signed-in user's credential to another API path),
 * and anything else is the home page. */
function place(hash: string): Place {
  let parts: string[];
  try {
    parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    return { page: "home" }; // a malformed escape
  }
  if (parts[0] === "p" && parts[1] && PROJECT_ID.test(parts[1])) {
    if (parts[2] === "keys" && parts[3]) {
      return KEY_ID.test(parts[3]) ? { page: "key", project: parts[1], keyId: parts[3] } : { page: "home" };
    }
    if (parts[2] === "audit") return { page: "audit", project: parts[1] };
    if (parts[2] === "events") return { page: "events", project: parts[1] };
    return { page: "keys", project: parts[1] };
  }
  return { page: "home" };
}

const TITLES = { home: "Projects", keys: "Keys", key: "Key", audit: "Audit log", events: "Failed events" };

function App() {
  const [principal, setPrincipal] = useState<Principal | null>(null);
  const [checking, setChecking] = useState(storedToken() !== null);
  const [problem, setProblem] = useState<unknown>(null);
  const [here, setHere] = useState(place(location.hash));
  useEffect(() => {
    const changed = () => setHere(place(location.hash));
    addEventListener("hashchange", changed);
    const token = storedToken();
    if (token) {
      identify(token)
        .then(setPrincipal)
        .catch((e) => {
          forgetToken();
          setProblem(e);
        })
        .finally(() => setChecking(false));
    }
    return () => removeEventListener("hashchange", changed);
  }, []);
  // A key sees its own project only.
  const shown: Place =
    principal?.kind === "key" && (here.page === "home" || here.project !== principal.project)
      ? { page: "keys", project: principal.project }
      : here;
  useEffect(() => {
    document.title = `${principal ? TITLES[shown.page] : "Sign in"} · keygate`;
  }, [principal, shown.page]);
  const signOut = () => {
    forgetToken();
    setPrincipal(null);
    go("#/");
  };
  const project = shown.page === "home" ? null : shown.project;
  return html`
    <a class="skip" href="#main" onClick=${(e: Event) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>Skip to content</a>
    <header class="top">
      <a class="brand" href="#/">keygate</a>
      ${principal
        ? html`<nav aria-label="Main">
            <ul>
              ${principal.kind === "admin" ? html`<li><a href="#/" aria-current=${shown.page === "home" ? "page" : null}>Projects</a></li>` : null}
              ${project
                ? html`<li><a href=${keysHash(project)} aria-current=${shown.page === "keys" ? "page" : null}>Keys</a></li>
                    <li><a href=${keysHash(project) + "/audit"} aria-current=${shown.page === "audit" ? "page" : null}>Audit log</a></li>
                    ${principal.kind === "admin"
                      ? html`<li><a href=${keysHash(project) + "/events"} aria-current=${shown.page === "events" ? "page" : null}>Failed events</a></li>`
                      : null}`
                : null}
            </ul>
          </nav>
          <span class="who">${principal.kind === "admin" ? "admin token" : `key in ${principal.project}`}</span>
          <button type="button" onClick=${signOut}>Sign out</button>`
        : null}
    </header>
    <main id="main" tabindex="-1">
      ${checking
        ? html`<${Loading} what="your session" />`
        : !principal
          ? html`<${ErrorBox} error=${problem} /><${SignIn} onSignedIn=${(p: Principal) => { setProblem(null); setPrincipal(p); }} />`
          : shown.page === "home"
            ? html`<${Projects} />`
            : shown.page === "keys"
              ? html`<${Keys} key=${shown.project} project=${shown.project} principal=${principal} />`
              : shown.page === "key"
                ? html`<${KeyDetail} key=${shown.keyId} project=${shown.project} keyId=${shown.keyId} principal=${principal} />`
                : shown.page === "audit"
                  ? html`<${Audit} key=${shown.project} project=${shown.project} />`
                  : html`<${FailedEvents} key=${shown.project} project=${shown.project} principal=${principal} />`}
    </main>`;
}

render(html`<${App} />`, document.getElementById("app")!);
