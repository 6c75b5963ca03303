//! Request handling over plain types and traits; no `worker` code here.
//!
//! Guarantee: [`App::handle`] always answers: a failure becomes the
//! contract's JSON error, never a panic or an unverified pass.

pub mod http;
pub mod json;
pub mod record;
pub mod store;
pub mod verify;

use serde_json::json;

use crate::config::{Config, ConfigError};
use crate::error::Error;
use http::{Request, Response};
use record::UnixMillis;
use store::{KeyStore, KeyValueStore};

/// The current time, injected so tests control it.
pub trait Clock {
    fn now(&self) -> UnixMillis;
}

/// A clock that stands still until told to move.
#[derive(Debug, Default)]
pub struct FakeClock(std::cell::Cell<UnixMillis>);

impl FakeClock {
    pub fn at(now: UnixMillis) -> FakeClock {
        FakeClock(std::cell::Cell::new(now))
    }

    pub fn advance(&self, millis: UnixMillis) {
        self.0.set(self.0.get() + millis);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> UnixMillis {
        self.0.get()
    }
}

impl<C: Clock> Clock for &C {
    fn now(&self) -> UnixMillis {
        (**self).now()
    }
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// keygate's own routes; everything else is not found (deny by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    Verify,
}

impl Route {
    pub fn parse(path: &str) -> Option<Route> {
        match path {
            "/healthz" => Some(Route::Health),
            "/v1/keys/verify" => Some(Route::Verify),
            _ => None,
        }
    }

    /// The methods this route answers, as the `Allow` header lists them.
    pub fn allow(&self) -> &'static str {
        match self {
            Route::Health => "GET, HEAD",
            Route::Verify => "POST",
        }
    }
}

pub struct App<'c, S, C> {
    pub config: &'c Config,
    pub keys: KeyStore<S>,
    pub clock: C,
}

impl<S: KeyValueStore, C: Clock> App<'_, S, C> {
    pub async fn handle(&self, request: &Request) -> Response {
        self.route(request).await.unwrap_or_else(Response::from)
    }

    async fn route(&self, request: &Request) -> Result<Response, Error> {
        let route = Route::parse(&request.path).ok_or(Error::NotFound)?;
        let method = request.method.as_str();
        match (&route, method) {
            (Route::Health, "GET" | "HEAD") => Ok(health(self.config)),
            (Route::Verify, "POST") => verify::handle_verify(self.config, &self.keys, self.clock.now(), request).await,
            _ => Err(Error::MethodNotAllowed { allow: route.allow() }),
        }
    }
}

fn health(config: &Config) -> Response {
    Response::json(200, &json!({"ok": true, "environment": config.environment.as_str(), "version": VERSION}))
}

/// The answer of every request while the configuration is invalid:
/// `/healthz` lists the problems, everything else is `CONFIG_ERROR`.
pub fn unconfigured(request: &Request, problem: &ConfigError) -> Response {
    let error = Error::Config(problem.to_string());
    if Route::parse(&request.path) == Some(Route::Health) {
        let mut fields = error.fields();
        fields.insert("problems".into(), json!(problem.problems));
        return Response::json(500, &json!({"ok": false, "version": VERSION, "error": fields}));
    }
    Response::from(error)
}
