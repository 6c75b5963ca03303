//! Request handling over plain types and traits; no `worker` code here.
//!
//! Guarantee: [`App::handle`] always answers: a failure becomes the
//! contract's JSON error, never a panic or an unverified pass.

pub mod admin;
pub mod bodies;
pub mod credential;
pub mod dashboard;
pub mod events;
pub mod gateway;
pub mod http;
pub mod json;
pub mod limiter;
pub mod origin;
pub mod owners;
pub mod principal;
pub mod projects;
pub mod routes;
pub mod secret_scanning;
pub mod store;
pub mod verify;
pub mod webhooks;

use serde::Serialize;
use serde_json::json;

use crate::config::{Config, ConfigError};
use crate::error::Error;
use crate::ids::{KeyId, ProjectId};
use crate::ratelimit::RateDecision;
use crate::record::UnixMillis;
use http::MAX_JSON_BODY_BYTES;
use http::{Request, Response};
use limiter::Limiter;
use origin::Origin;
use owners::Owners;
use projects::Projects;
use routes::Route;
use store::{KeyStore, KeyValueStore};
use verify::Verdict;
use webhooks::Deliveries;

/// The current time, injected so tests control it.
pub trait Clock {
    fn now(&self) -> UnixMillis;
}

impl<C: Clock> Clock for &C {
    fn now(&self) -> UnixMillis {
        (**self).now()
    }
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a key with credits has left, on every answer for it; keygate's alone
/// (never an origin's, never forwarded from a client).
pub const CREDITS_HEADER: &str = "x-credits-remaining";

pub struct App<'c, S, L, O, C> {
    pub config: &'c Config,
    pub keys: KeyStore<S>,
    /// The Durable Objects: one per key, one per webhook delivery, one per project.
    pub limiter: L,
    pub origin: O,
    pub clock: C,
}

/// What one request works with.
pub struct Context<'a, S, L, O> {
    pub config: &'a Config,
    pub keys: &'a KeyStore<S>,
    pub limiter: &'a L,
    pub origin: &'a O,
    pub now: UnixMillis,
}

/// What a request learned on its way, whatever its answer: [`App::handle`]
/// turns it into the answer's rate-limit headers and the log line.
#[derive(Debug, Default)]
pub struct Trace<'a> {
    /// The route pattern that matched.
    pub route: &'a str,
    /// The key the request presented, once found: (key id, project).
    pub identity: Option<(KeyId, ProjectId)>,
    /// The key's rate-limit state, once its object was consulted.
    pub rate: Option<RateDecision>,
    /// The key's credits left, once its object was consulted, if it has credits.
    pub credits: Option<u64>,
}

impl Trace<'_> {
    /// Keeps what `verdict` learned, and hands it on.
    pub fn saw(&mut self, verdict: Verdict) -> Verdict {
        self.identity.clone_from(&verdict.identity);
        self.rate = verdict.rate;
        self.credits = verdict.credits;
        verdict
    }
}

/// One structured log line per request. It never holds a key, secret or signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub method: String,
    pub route: String,
    pub key_id: Option<KeyId>,
    pub project: Option<ProjectId>,
    /// `allow`, `deny` (a 4xx) or `error` (a 5xx).
    pub decision: &'static str,
    pub code: Option<&'static str>,
    pub status: u16,
    pub duration_ms: i64,
    /// Why a request failed inside (a 5xx): which binding, what it said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `detail` with every run of 32 or more hex digits (a digest, a signature) masked.
fn redact_hex_runs(detail: &str) -> String {
    let mut out = String::with_capacity(detail.len());
    let mut run = String::new();
    for c in detail.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_hexdigit() {
            run.push(c);
            continue;
        }
        out.push_str(if run.len() >= 32 { "[redacted]" } else { &run });
        run.clear();
        out.push(c);
    }
    out.pop();
    out
}

impl<S: KeyValueStore, L: Limiter + Deliveries + Projects + Owners, O: Origin, C: Clock> App<'_, S, L, O, C> {
    pub async fn handle(&self, request: &Request) -> Response {
        self.handle_logged(request).await.0
    }

    /// The answer, and the log line that describes it.
    pub async fn handle_logged(&self, request: &Request) -> (Response, LogLine) {
        let context = Context {
            config: self.config,
            keys: &self.keys,
            limiter: &self.limiter,
            origin: &self.origin,
            now: self.clock.now(),
        };
        let mut trace = Trace::default();
        let (mut response, code, detail) = match context.route(request, &mut trace).await {
            Ok(response) => (response, None, None),
            Err(error) => (Response::from(&error), Some(error.code()), error.detail().map(redact_hex_runs)),
        };
        if let Some(rate) = &trace.rate {
            response.add_rate_headers(rate);
        }
        if let Some(remaining) = trace.credits {
            response.set_header(CREDITS_HEADER, remaining.to_string());
        }
        if Route::is_private_template(trace.route) {
            response.headers.push(("cache-control".into(), "no-store".into()));
        }
        // The dashboard's refusals (a bad path, another method) carry its headers too.
        if dashboard::claims(&request.path) {
            response.headers = dashboard::secured(std::mem::take(&mut response.headers));
        }
        let (key_id, project) = trace.identity.unzip();
        let decision = match response.status {
            ..400 => "allow",
            400..500 => "deny",
            _ => "error",
        };
        let line = LogLine {
            method: request.method.clone(),
            route: trace.route.to_owned(),
            key_id,
            project,
            decision,
            code,
            status: response.status,
            duration_ms: self.clock.now() - context.now,
            detail,
        };
        (response, line)
    }
}

impl<'a, S: KeyValueStore, L: Limiter + Deliveries + Projects + Owners, O: Origin> Context<'a, S, L, O> {
    async fn route(&self, request: &Request, trace: &mut Trace<'a>) -> Result<Response, Error> {
        // Every decision reads this one path, worked out once per request.
        let path = request.canonical_path().map_err(Error::InvalidPath)?;
        let Some(route) = request.route().map_err(Error::InvalidPath)? else {
            if request.is_reserved() {
                return Err(Error::NotFound);
            }
            return self.handle_gateway(request, path, trace).await;
        };
        trace.route = route.template();
        if !route.methods().contains(&request.method.as_str()) {
            return Err(Error::MethodNotAllowed { allow: route.methods() });
        }
        match route {
            Route::Health => Ok(health(self.config)),
            Route::OpenApi => Ok(openapi(self.config)),
            Route::Verify => self.handle_verify(request, trace).await,
            Route::Webhook { source } => self.handle_webhook(source, request).await,
            Route::SecretScanning => self.handle_secret_scanning(request).await,
            Route::Jwks => jwks(self.config),
            _ => self.handle_admin(route, request, trace).await,
        }
    }
}

/// How much of a body the shell reads, decided from the request's head alone:
/// webhooks `MAX_WEBHOOK_BYTES`, keygate's JSON routes 64 KiB, and `None` for
/// the gateway, whose bodies stream to the origin unread. A request that will
/// be refused whatever its body (a bad path, an unknown webhook source, a
/// delivery without its signature headers) is refused here, unread; one with a
/// method its route does not serve goes on to its 405.
pub fn body_limit(config: &Config, request: &Request) -> Result<Option<usize>, Error> {
    let route = request.route().map_err(Error::InvalidPath)?;
    // A method the route does not serve is 405 (`handle`), whatever its headers.
    let served = route.is_some_and(|route| route.methods().contains(&request.method.as_str()));
    Ok(match route {
        Some(Route::Webhook { source }) if served => {
            webhooks::check_head(config, source, request)?;
            Some(config.max_webhook_bytes)
        }
        Some(Route::SecretScanning) if served => {
            secret_scanning::check_head(request)?;
            Some(crate::secret_scanning::MAX_REPORT_BYTES)
        }
        Some(_) => Some(MAX_JSON_BODY_BYTES),
        None if request.is_reserved() => Some(MAX_JSON_BODY_BYTES),
        None => None,
    })
}

/// Whether answering `request` reads any of its headers. `/healthz`,
/// `/openapi.json` and the JWK Set read none, whatever the method (and neither
/// does their log line), so the shell need not fetch them: on the runtime that
/// is the costliest step of a health check.
pub fn reads_headers(request: &Request) -> bool {
    !request.route().is_ok_and(|route| matches!(route, Some(Route::Health | Route::OpenApi | Route::Jwks)))
}

/// The OpenAPI 3.1 document of this contract (`openapi.json`, embedded without
/// its indentation by `build.rs`), kept true by a test against [`routes::ROUTE_TABLE`].
pub const OPENAPI_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.min.json"));

/// The document as this deployment serves it: [`OPENAPI_JSON`] with what a
/// request may name that the configuration decides, the plans of `PLANS` and
/// the sources of `WEBHOOKS`, as enums. So a client generated from it refuses
/// a plan this deployment lacks, as the API does.
pub fn openapi_document(config: &Config) -> serde_json::Value {
    let mut document: serde_json::Value = serde_json::from_str(OPENAPI_JSON).unwrap_or_default();
    if let Some(plan) = document.pointer_mut("/components/schemas/PlanName") {
        plan["enum"] = json!(config.plans.keys().collect::<Vec<_>>());
    }
    if let Some(source) = document.pointer_mut("/components/parameters/WebhookSource/schema") {
        if !config.webhooks.is_empty() {
            source["enum"] = json!(config.webhooks.keys().collect::<Vec<_>>());
        }
    }
    document
}

fn openapi(config: &Config) -> Response {
    Response::json(200, &openapi_document(config))
}

/// The JWK Set of `ASSERTION_SIGNING_KEY`, cacheable; 404 when no key is configured.
fn jwks(config: &Config) -> Result<Response, Error> {
    let assertion = config.assertion.as_ref().ok_or(Error::NotFound)?;
    Ok(Response {
        status: 200,
        headers: vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("cache-control".to_owned(), crate::assertion::JWKS_CACHE_CONTROL.to_owned()),
        ],
        body: http::Body::Bytes(assertion.keys.jwks().as_bytes().to_vec()),
    })
}

fn health(config: &Config) -> Response {
    #[derive(serde::Serialize)]
    struct Health<'a> {
        environment: &'a str,
        ok: bool,
        version: &'a str,
    }
    Response::json(200, &Health { environment: config.environment.as_str(), ok: true, version: VERSION })
}

/// The answer of every request while the configuration is invalid:
/// `/healthz` lists the problems, everything else is `CONFIG_ERROR`.
pub fn unconfigured(request: &Request, problem: &ConfigError) -> Response {
    let error = Error::Config(problem.to_string());
    if request.route().is_ok_and(|route| route == Some(Route::Health)) {
        let mut fields = error.fields();
        fields.insert("problems".into(), json!(problem.problems));
        return Response::json(500, &json!({"ok": false, "version": VERSION, "error": fields}));
    }
    Response::from(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_health_and_the_document_go_without_headers() {
        for target in ["/healthz", "/openapi.json", "/healthz?x=1", "/.well-known/jwks.json"] {
            assert!(!reads_headers(&Request::new("GET", target)), "{target}");
            assert!(!reads_headers(&Request::new("POST", target)), "{target}");
        }
        for target in [
            "/v1/keys/verify",
            "/v1/projects/acme/keys",
            "/webhooks/github",
            "/things",
            "/healthz/x",
            "/%2e%2e/healthz",
        ] {
            assert!(reads_headers(&Request::new("GET", target)), "{target}");
        }
    }

    #[test]
    fn log_details_never_carry_a_digest() {
        let digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(
            redact_hex_runs(&format!("KV KEYS get failed for k:{digest}: 500")),
            "KV KEYS get failed for k:[redacted]: 500"
        );
        assert_eq!(redact_hex_runs("status 500: deadbeef"), "status 500: deadbeef");
        assert_eq!(redact_hex_runs(""), "");
    }
}
