//! Rate limits and authoritative key state through the app, with in-memory Durable Objects.

mod support;

use keygate::app::http::Request;
use keygate::app::store::KeyValueStore;
use keygate::key::{ApiKey, Environment, KeyPrefixes};
use serde_json::{json, Value};
use support::*;

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    futures_executor::block_on(future)
}

/// A key created through the admin API, with a copy of its KV record as it was
/// at creation, to write back later as an edge cache serving a stale copy would.
struct StaleCopy {
    key: ApiKey,
    path: String,
    name: String,
    value: String,
}

impl StaleCopy {
    fn create(h: &Session<'_>, scopes: &[&str]) -> StaleCopy {
        let created = h.create("acme", json!({"name": "n", "scopes": scopes}));
        let key = ApiKey::parse(created["key"].as_str().unwrap(), &KeyPrefixes::default()).unwrap();
        let name = key.digest().storage_key();
        let (_, value, _) = h.harness.store.dump().into_iter().find(|(n, _, _)| *n == name).unwrap();
        let path = format!("/v1/projects/acme/keys/{}", created["id"].as_str().unwrap());
        StaleCopy { key, path, name, value }
    }

    /// Puts the creation-time record back into KV.
    fn restore(&self, h: &Session<'_>) {
        block_on(h.harness.store.put(&self.name, &self.value, None)).unwrap();
    }
}

#[test]
fn every_authenticated_answer_carries_rate_limit_headers() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let created = h.create("acme", json!({"name": "n", "rate_limit": {"per_minute": 100, "per_day": 1000}}));
        let response = h.verify_response(created["key"].as_str().unwrap(), None);
        assert_eq!(response.header("x-ratelimit-limit"), Some("100"));
        assert_eq!(response.header("x-ratelimit-remaining"), Some("16"));
        assert_eq!(response.header("x-ratelimit-reset"), Some("1795420801"));
        assert_eq!(response.header("ratelimit-policy"), Some("\"minute\";q=100;w=60, \"day\";q=1000;w=86400"));
        assert_eq!(response.header("ratelimit"), Some("\"minute\";r=16;t=1"));
        assert_eq!(response.json_body()["ratelimit"], json!({"limit": 100, "remaining": 16, "reset": 1795420801}));

        // A scope denial of an authenticated key carries them too, and spends nothing.
        let denied = h.verify_response(created["key"].as_str().unwrap(), Some("bots:read"));
        assert_eq!(denied.header("x-ratelimit-remaining"), Some("16"));
    })
}

#[test]
fn a_limited_key_gets_429_with_retry_after_and_passes_after_it() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let created = h.create(
            "acme",
            json!({"name": "n", "scopes": ["keys:read"], "rate_limit": {"per_minute": 30, "per_day": 1000}}),
        );
        let key = created["key"].as_str().unwrap();
        let statuses: Vec<u16> =
            (0..8).map(|_| h.call("GET", "/v1/projects/acme/keys", key, Value::Null).status).collect();
        assert_eq!(statuses, vec![200, 200, 200, 200, 200, 200, 429, 429]);
        let limited = h.call("GET", "/v1/projects/acme/keys", key, Value::Null);
        assert_eq!(code(&limited), "RATE_LIMIT_EXCEEDED");
        let body = limited.json_body();
        assert_eq!(body["error"]["retry_after"], 2);
        assert_eq!(body["error"]["policy"], "minute");
        assert_eq!(body["error"]["message"], "Rate limit exceeded. Please retry after 2 seconds.");
        assert_eq!(limited.header("retry-after"), Some("2"));
        assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
        assert_eq!(limited.header("x-ratelimit-limit"), Some("30"));
        h.harness.clock.advance(2000);
        assert_eq!(h.call("GET", "/v1/projects/acme/keys", key, Value::Null).status, 200);
    })
}

#[test]
fn the_day_limit_reports_the_day_policy() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let created = h.create("acme", json!({"name": "n", "rate_limit": {"per_minute": 1000, "per_day": 5}}));
        let key = created["key"].as_str().unwrap();
        let valid: Vec<Value> = (0..6).map(|_| h.verify(key, None)["valid"].clone()).collect();
        assert_eq!(valid, vec![json!(true); 5].into_iter().chain([json!(false)]).collect::<Vec<_>>());
        let refused = h.verify(key, None);
        assert_eq!((refused["code"].as_str(), refused["policy"].as_str()), (Some("RATE_LIMIT_EXCEEDED"), Some("day")));
        let usage =
            h.root("GET", &format!("/v1/projects/acme/keys/{}/usage", created["id"].as_str().unwrap()), Value::Null);
        assert_eq!(usage.status, 200);
        let usage = usage.json_body();
        assert_eq!(usage["requests_today"], 5);
        assert_eq!(usage["last_used_at"], "2026-11-23T08:00:00Z");
        assert_eq!(usage["ratelimit"]["day"], json!({"limit": 5, "remaining": 0, "reset": 1795478400}));
    })
}

#[test]
fn malformed_and_unknown_keys_never_reach_a_durable_object() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let unknown = ApiKey::generate(Environment::Live, &KeyPrefixes::default()).unwrap();
        for key in ["sk_live_nope", unknown.expose(), "sk_test_0000000000000000000000000000000000000000000"] {
            assert_eq!(h.verify(key, None)["valid"], false);
        }
        assert_eq!(h.limiter.calls(), 0);
        assert_eq!(h.limiter.objects(), 0);
    })
}

#[test]
fn a_deleted_key_stays_dead_when_kv_serves_a_stale_record() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let stale = StaleCopy::create(h, &["bots:read"]);
        assert_eq!(h.root("DELETE", &stale.path, Value::Null).status, 204);
        stale.restore(h);
        assert_eq!(h.verify(stale.key.expose(), None)["code"], "INVALID_API_KEY");
    })
}

#[test]
fn a_patch_is_enforced_when_kv_serves_a_stale_record() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let stale = StaleCopy::create(h, &["bots:read", "users:read"]);
        let key = stale.key.expose();
        assert_eq!(h.root("PATCH", &stale.path, json!({"scopes": ["users:read"]})).status, 200);
        stale.restore(h);
        assert_eq!(h.verify(key, Some("bots:read"))["code"], "INSUFFICIENT_PERMISSIONS");
        assert_eq!(h.verify(key, Some("users:read"))["valid"], true);
        // Admin reads show the authoritative record too.
        assert_eq!(h.root("GET", &stale.path, Value::Null).json_body()["scopes"], json!(["users:read"]));
        assert_eq!(h.root("PATCH", &stale.path, json!({"status": "inactive"})).status, 200);
        stale.restore(h);
        assert_eq!(h.verify(key, None)["code"], "API_KEY_DISABLED");
    })
}

#[test]
fn a_key_seeded_only_in_kv_is_adopted_on_first_use() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let key = seed(&h.harness.store, &["bots:read"], |_| {});
        assert_eq!(h.verify(&key, Some("bots:read"))["valid"], true);
        assert_eq!(h.limiter.objects(), 1);
    })
}

#[test]
fn a_durable_object_failure_fails_closed() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let created = h.create("acme", json!({"name": "n", "scopes": ["keys:write"]}));
        h.limiter.fail(true);
        let verified = h.verify_response(created["key"].as_str().unwrap(), None);
        assert_eq!((verified.status, code(&verified)), (503, "UNAVAILABLE".to_owned()));
        let admin = h.call("GET", "/v1/projects/acme/keys", created["key"].as_str().unwrap(), Value::Null);
        assert_eq!(admin.status, 503);
        let created_during_outage = h.root("POST", "/v1/projects/acme/keys", json!({"name": "n"}));
        assert_eq!(created_during_outage.status, 503);
        let records = h.harness.store.dump().iter().filter(|(name, _, _)| name.starts_with("k:")).count();
        assert_eq!(records, 1, "nothing written to KV when the Durable Object write failed");
    })
}

#[test]
fn requests_with_bodies_and_verify_count_against_the_same_key() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let created = h.create(
            "acme",
            json!({"name": "n", "scopes": ["keys:read"], "rate_limit": {"per_minute": 1000, "per_day": 3}}),
        );
        let key = created["key"].as_str().unwrap();
        assert_eq!(h.verify(key, None)["valid"], true);
        assert_eq!(h.call("GET", "/v1/projects/acme/keys", key, Value::Null).status, 200);
        let request = Request::new("POST", "/v1/keys/verify").with_header("X-API-Key", key);
        assert_eq!(h.send(request).json_body()["valid"], true);
        assert_eq!(h.call("GET", "/v1/projects/acme/keys", key, Value::Null).status, 429);
    })
}

#[test]
fn a_patch_in_the_same_millisecond_still_reaches_answers_from_stale_kv() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let stale = StaleCopy::create(h, &["bots:read", "users:read"]);
        // No clock movement: the PATCH lands in the same millisecond as the create.
        assert_eq!(h.root("PATCH", &stale.path, json!({"scopes": ["users:read"]})).status, 200);
        stale.restore(h);
        assert_eq!(
            h.verify(stale.key.expose(), None)["scopes"],
            json!(["users:read"]),
            "the object's record, not KV's"
        );
    })
}
