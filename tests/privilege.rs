//! Least privilege beyond scopes: a key acting as admin never makes a key,
//! itself included, more powerful than itself.

mod support;

use keygate::ratelimit::Quota;
use serde_json::{json, Value};
use support::*;

const DAY: i64 = 24 * 3600 * 1000;

/// A `keys:write` key at 100/min and 10,000/day that expires in 30 days.
fn writer(h: &Session<'_>) -> String {
    seed(&h.harness.store, &["keys:write", "bots:*"], |record| {
        record.rate_limit = Quota::new(100, 10_000).unwrap();
        record.expires_at = Some(NOW + 30 * DAY);
    })
}

fn assert_exceeds(response: &keygate::app::http::Response, field: &str) {
    let body = response.json_body();
    assert_eq!((response.status, code(response)), (403, "INSUFFICIENT_PERMISSIONS".to_owned()), "{body}");
    assert_eq!(body["error"]["field"], field, "{body}");
}

fn key_path(id: &Value) -> String {
    format!("/v1/projects/acme/keys/{}", id.as_str().unwrap())
}

/// Reproducer: a `keys:write` key PATCHed itself to `per_minute: 4294967295`
/// and `expires_at: null`.
#[test]
fn a_key_cannot_raise_its_own_limits_or_lift_its_own_expiry() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let key = writer(h);
        let own_id = h.verify(&key, None)["key_id"].clone();
        let path = key_path(&own_id);
        for (body, field) in [
            (json!({"rate_limit": {"per_minute": 4_294_967_295u32, "per_day": 10_000}}), "rate_limit"),
            (json!({"rate_limit": {"per_minute": 100, "per_day": 10_001}}), "rate_limit"),
            (json!({"plan": "professional"}), "rate_limit"),
            (json!({"expires_at": null}), "expires_at"),
            (json!({"expires_at": "2030-01-01T00:00:00Z"}), "expires_at"),
        ] {
            assert_exceeds(&h.call("PATCH", &path, &key, body.clone()), field);
        }
        let own = h.root("GET", &path, Value::Null).json_body();
        assert_eq!(own["rate_limit"], json!({"per_minute": 100, "per_day": 10000}), "nothing changed");
        // Lowering is fine.
        let lowered = h.call("PATCH", &path, &key, json!({"rate_limit": {"per_minute": 50, "per_day": 500}}));
        assert_eq!(lowered.status, 200);
    })
}

/// Reproducer: a `keys:write` key minted keys above its own limits, without
/// expiry, and `environment: test` keys on a live deployment.
#[test]
fn a_key_creates_nothing_more_powerful_than_itself() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let key = writer(h);
        let in_a_week = "2026-11-30T08:00:00Z";
        let create = |body: Value| h.call("POST", "/v1/projects/acme/keys", &key, body);
        for (body, field) in [
            (
                json!({"name": "n", "expires_at": in_a_week, "rate_limit": {"per_minute": 101, "per_day": 5}}),
                "rate_limit",
            ),
            (json!({"name": "n", "expires_at": in_a_week, "plan": "professional"}), "rate_limit"),
            (json!({"name": "n", "plan": "standard"}), "expires_at"),
            (json!({"name": "n", "plan": "standard", "expires_at": "2027-06-01T00:00:00Z"}), "expires_at"),
            (json!({"name": "n", "plan": "standard", "expires_at": in_a_week, "environment": "test"}), "environment"),
        ] {
            assert_exceeds(&create(body.clone()), field);
        }
        let stored = harness.store.dump().len();
        let within = create(json!({"name": "n", "plan": "standard", "expires_at": in_a_week, "scopes": ["bots:read"]}));
        assert_eq!(within.status, 201, "{}", within.json_body());
        assert!(harness.store.dump().len() > stored);
    })
}

#[test]
fn a_key_cannot_rotate_a_key_into_one_more_powerful_than_itself() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let key = writer(h);
        // Made by the admin token: within the writer's scopes, but without expiry and at 300/min.
        let strong = h.create("acme", json!({"name": "strong", "scopes": ["bots:read"], "plan": "professional"}));
        let rotated = h.call("POST", &format!("{}/rotate", key_path(&strong["id"])), &key, json!({}));
        assert_exceeds(&rotated, "rate_limit");
        assert_eq!(h.verify(strong["key"].as_str().unwrap(), None)["valid"], true, "the old key is untouched");
        // Renaming it changes no power: allowed.
        assert_eq!(h.call("PATCH", &key_path(&strong["id"]), &key, json!({"name": "renamed"})).status, 200);
    })
}

/// Reproducer: a `keys:write` key re-activated a key the admin token disabled.
#[test]
fn only_the_admin_token_reactivates_what_it_deactivated() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let key = writer(h);
        let target =
            h.create("acme", json!({"name": "t", "scopes": ["bots:read"], "expires_at": "2026-12-01T00:00:00Z"}));
        let path = key_path(&target["id"]);
        assert_eq!(h.root("PATCH", &path, json!({"status": "inactive"})).status, 200);
        assert_exceeds(&h.call("PATCH", &path, &key, json!({"status": "active"})), "status");
        assert_eq!(h.verify(target["key"].as_str().unwrap(), None)["code"], "API_KEY_DISABLED");
        // Deactivating again, or renaming, does not lift the admin's mark.
        assert_eq!(h.call("PATCH", &path, &key, json!({"status": "inactive", "name": "x"})).status, 200);
        assert_exceeds(&h.call("PATCH", &path, &key, json!({"status": "active"})), "status");
        assert_eq!(h.root("PATCH", &path, json!({"status": "active"})).status, 200);
        // A key may deactivate a key it can touch, and re-activate what it deactivated.
        assert_eq!(h.call("PATCH", &path, &key, json!({"status": "inactive"})).status, 200);
        assert_eq!(h.call("PATCH", &path, &key, json!({"status": "active"})).status, 200);
        assert_eq!(h.verify(target["key"].as_str().unwrap(), None)["valid"], true);
    })
}

/// An ADMIN_TOKEN shaped like an API key used to be read as a key, and never worked.
#[test]
fn an_admin_token_starting_with_sk_works() {
    let token = "sk_admin_0123456789abcdef";
    let harness = Harness::with_config(config(&[("ADMIN_TOKEN", token)]));
    harness.with_limiter(|h| {
        let listed = h.call("GET", "/v1/projects/acme/keys", token, Value::Null);
        assert_eq!(listed.status, 200, "{}", listed.json_body());
        let wrong = h.call("GET", "/v1/projects/acme/keys", "sk_admin_0123456789abcdeX", Value::Null);
        assert_eq!((wrong.status, code(&wrong)), (401, "INVALID_API_KEY".to_owned()));
    })
}
