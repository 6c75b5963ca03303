//! Shared fixtures for the native integration tests: an app over memory stores.
#![allow(dead_code)]

pub mod racing;

use keygate::app::http::{Request, Response};
use keygate::app::store::KeyStore;
use keygate::app::App;
use keygate::config::Config;
use keygate::ids::KeyId;
use keygate::key::{ApiKey, Environment, KeyPrefixes};
use keygate::ratelimit::Quota;
use keygate::record::KeyRecord;
use keygate::testing::key_record;
use keygate::testing::FakeClock;
use keygate::testing::MemoryLimiter;
use keygate::testing::MemoryOrigin;
use keygate::testing::MemoryStore;

/// 2026-11-23T08:00:00Z.
pub const NOW: i64 = 1_795_420_800_000;
pub const ADMIN_TOKEN: &str = "admin-token-0123456789";

pub fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_vars(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())).unwrap()
}

pub fn default_config() -> Config {
    config(&[("KEY_HEADERS", "X-API-Key, X-TLM-Key"), ("ADMIN_TOKEN", ADMIN_TOKEN)])
}

/// Durable Objects in memory, on the same clock as the app.
pub type Limiter<'c> = MemoryLimiter<&'c FakeClock>;

/// An app over `store` and `limiter` (the memory doubles, or wrappers that
/// inject faults or races), with the harness's origin and clock.
pub fn app<'c, S: keygate::app::store::KeyValueStore, L>(
    config: &'c Config,
    store: S,
    limiter: L,
    origin: &'c MemoryOrigin,
    clock: &'c FakeClock,
) -> App<'c, S, L, &'c MemoryOrigin, &'c FakeClock> {
    App { config, keys: KeyStore::new(store), limiter, origin, clock }
}

/// The record `key` is stored under: on the standard plan at 100 requests a
/// minute, written a second before `NOW`.
pub fn record(id: &str, project: &str, key: &ApiKey, scopes: &[&str]) -> KeyRecord {
    KeyRecord {
        name: "fixture".to_owned(),
        prefix: key.display_prefix(),
        environment: key.environment(),
        plan: Some("standard".to_owned()),
        rate_limit: Quota::new(100, 10_000).unwrap(),
        ..key_record(id, project, scopes, NOW - 1_000)
    }
}

/// Stores a new live key with `scopes` (edited by `edit`) and returns its plaintext.
pub fn seed(store: &MemoryStore, scopes: &[&str], edit: impl FnOnce(&mut KeyRecord)) -> String {
    let key = ApiKey::generate(Environment::Live, &KeyPrefixes::default()).unwrap();
    let mut stored = record(&KeyId::generate().unwrap(), "acme", &key, scopes);
    edit(&mut stored);
    futures_executor::block_on(KeyStore::new(store).save(&key.digest().to_hex(), &stored)).unwrap();
    key.expose().to_owned()
}

pub fn send<S, L, O, C>(app: &App<'_, S, L, O, C>, request: Request) -> Response
where
    S: keygate::app::store::KeyValueStore,
    L: keygate::app::limiter::Limiter
        + keygate::app::webhooks::Deliveries
        + keygate::app::projects::Projects
        + keygate::app::owners::Owners,
    O: keygate::app::origin::Origin,
    C: keygate::app::Clock,
{
    futures_executor::block_on(app.handle(&request))
}

/// An app over memory stores and a fake clock, kept across requests.
pub struct Harness {
    pub config: Config,
    pub store: MemoryStore,
    pub origin: MemoryOrigin,
    pub clock: FakeClock,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_config(default_config())
    }

    pub fn with_config(config: Config) -> Harness {
        Harness { config, store: MemoryStore::default(), origin: MemoryOrigin::default(), clock: FakeClock::at(NOW) }
    }

    /// Runs `f` with a limiter; the limiter (the Durable Objects) lives as long as `f`.
    pub fn with_limiter<T>(&self, f: impl FnOnce(&Session<'_>) -> T) -> T {
        let limiter = MemoryLimiter::new(&self.clock);
        f(&Session { harness: self, limiter })
    }
}

/// A harness with its Durable Objects.
pub struct Session<'h> {
    pub harness: &'h Harness,
    pub limiter: Limiter<'h>,
}

impl Session<'_> {
    /// Lets every key object's outbox and usage come due and be delivered,
    /// with the projects' objects reachable.
    pub fn settle(&self) {
        use keygate::keystate::delivery::{OUTBOX_DELAY_MILLIS, RETRY_MILLIS};
        self.limiter.fail_projects(false);
        self.harness.clock.advance(RETRY_MILLIS.max(OUTBOX_DELAY_MILLIS) + 1);
        self.limiter.ring_alarms();
    }

    /// The names of the first page of `project`'s catalog, newest first.
    pub fn listed_names(&self, project: &str) -> Vec<String> {
        let body = self.root("GET", &format!("/v1/projects/{project}/keys"), serde_json::Value::Null).json_body();
        body["keys"].as_array().unwrap().iter().map(|key| key["name"].as_str().unwrap().to_owned()).collect()
    }

    /// The actions of the first 100 events of `project`'s audit log, newest first.
    pub fn audit_actions(&self, project: &str) -> Vec<String> {
        let path = format!("/v1/projects/{project}/audit?limit=100");
        let body = self.root("GET", &path, serde_json::Value::Null).json_body();
        body["events"].as_array().unwrap().iter().map(|event| event["action"].as_str().unwrap().to_owned()).collect()
    }

    pub fn send(&self, request: Request) -> Response {
        let h = self.harness;
        send(&app(&h.config, &h.store, &self.limiter, &h.origin, &h.clock), request)
    }

    /// A request with `credential` as a bearer token and `body` as JSON (when not null).
    pub fn call(&self, method: &str, path: &str, credential: &str, body: serde_json::Value) -> Response {
        let mut request = Request::new(method, path).with_header("Authorization", &format!("Bearer {credential}"));
        if !body.is_null() {
            request = request.with_body(body.to_string());
        }
        self.send(request)
    }

    pub fn root(&self, method: &str, path: &str, body: serde_json::Value) -> Response {
        self.call(method, path, ADMIN_TOKEN, body)
    }

    /// Creates a key as root in `project` and returns the whole answer.
    pub fn create(&self, project: &str, body: serde_json::Value) -> serde_json::Value {
        let response = self.root("POST", &format!("/v1/projects/{project}/keys"), body);
        assert_eq!(response.status, 201, "{}", response.json_body());
        response.json_body()
    }

    pub fn verify(&self, key: &str, scope: Option<&str>) -> serde_json::Value {
        self.verify_response(key, scope).json_body()
    }

    pub fn verify_response(&self, key: &str, scope: Option<&str>) -> Response {
        let body = match scope {
            Some(scope) => serde_json::json!({"key": key, "scope": scope}),
            None => serde_json::json!({"key": key}),
        };
        self.send(Request::new("POST", "/v1/keys/verify").with_body(body.to_string()))
    }
}

pub fn code(response: &Response) -> String {
    response.json_body()["error"]["code"].as_str().unwrap_or_default().to_owned()
}
