//! Shared fixtures for the native integration tests: an app over memory stores.
#![allow(dead_code)]

use keygate::app::http::{Request, Response};
use keygate::app::record::{KeyRecord, KeyStatus};
use keygate::app::store::{KeyStore, MemoryStore};
use keygate::app::{App, FakeClock};
use keygate::config::Config;
use keygate::key::{ApiKey, Environment};
use keygate::ratelimit::Quota;

/// 2026-11-23T08:00:00Z.
pub const NOW: i64 = 1_795_420_800_000;
pub const ADMIN_TOKEN: &str = "admin-token-0123456789";

pub fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_vars(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())).unwrap()
}

pub fn default_config() -> Config {
    config(&[("KEY_HEADERS", "X-API-Key, X-TLM-Key"), ("ADMIN_TOKEN", ADMIN_TOKEN)])
}

pub fn app<'c>(
    config: &'c Config,
    store: &'c MemoryStore,
    clock: &'c FakeClock,
) -> App<'c, &'c MemoryStore, &'c FakeClock> {
    App { config, keys: KeyStore::new(store), clock }
}

pub fn record(id: &str, project: &str, key: &ApiKey, scopes: &[&str]) -> KeyRecord {
    KeyRecord {
        id: id.to_owned(),
        project: project.to_owned(),
        name: "fixture".to_owned(),
        prefix: key.display_prefix(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        environment: key.environment().as_str().to_owned(),
        status: KeyStatus::Active,
        plan: Some("standard".to_owned()),
        rate_limit: Quota::new(100, 10_000).unwrap(),
        meta: Default::default(),
        created_at: NOW - 1_000,
        updated_at: NOW - 1_000,
        expires_at: None,
        rotated_from: None,
    }
}

/// Stores a new live key with `scopes` (edited by `edit`) and returns its plaintext.
pub fn seed(store: &MemoryStore, scopes: &[&str], edit: impl FnOnce(&mut KeyRecord)) -> String {
    let key = ApiKey::generate(Environment::Live).unwrap();
    let mut stored = record("key_0000000000000000000001", "acme", &key, scopes);
    edit(&mut stored);
    futures_executor::block_on(KeyStore::new(store).save(&key.digest().to_hex(), &stored)).unwrap();
    key.expose().to_owned()
}

pub fn send<S, C>(app: &App<'_, S, C>, request: Request) -> Response
where
    S: keygate::app::store::KeyValueStore,
    C: keygate::app::Clock,
{
    futures_executor::block_on(app.handle(&request))
}
