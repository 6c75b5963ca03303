//! Least privilege beyond scopes: a key acting as admin never makes a key,
//! itself included, more powerful than itself.

mod support;

use keygate::ratelimit::Quota;
use keygate::record::rfc3339;
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
        // It is more powerful than the writer, so the writer cannot touch it at all.
        assert_exceeds(&h.call("PATCH", &key_path(&strong["id"]), &key, json!({"name": "renamed"})), "rate_limit");
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

/// Reproducer (attacker review): a short-lived, low-limit `keys:write` key
/// gave `keys:write` to a key with no expiry and high limits, which then
/// minted unexpiring high-limit keys. A key now acts only on keys no more
/// powerful than itself.
#[test]
fn a_key_cannot_graft_its_scopes_onto_a_more_powerful_key() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let weak = writer(h);
        let strong = seed(&h.harness.store, &[], |record| {
            record.rate_limit = Quota::new(1000, 1_000_000).unwrap();
            record.expires_at = None;
        });
        let path = key_path(&h.verify(&strong, None)["key_id"]);
        assert_exceeds(&h.call("PATCH", &path, &weak, json!({"scopes": ["keys:write"]})), "rate_limit");
        assert_exceeds(&h.call("PATCH", &path, &weak, json!({"name": "renamed"})), "rate_limit");
        assert_exceeds(&h.call("DELETE", &path, &weak, Value::Null), "rate_limit");
        assert_exceeds(&h.call("POST", &format!("{path}/rotate"), &weak, json!({})), "rate_limit");
        assert_eq!(h.root("GET", &path, Value::Null).json_body()["scopes"], json!([]), "nothing changed");
    })
}

/// Reproducer (attacker review): a `keys:write` key revived, with
/// `expires_at: null`, a leaked key the admin token had rotated away.
#[test]
fn a_key_never_extends_an_expiry_so_a_retired_key_stays_retired() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let weak = seed(&h.harness.store, &["keys:write", "bots:read"], |_| {});
        let created =
            h.root("POST", "/v1/projects/acme/keys", json!({"name": "leaked", "scopes": ["bots:read"]})).json_body();
        let leaked = created["key"].as_str().unwrap().to_owned();
        let path = key_path(&created["id"]);
        assert_eq!(h.root("POST", &format!("{path}/rotate"), json!({"grace_seconds": 60})).status, 201);
        for body in [json!({"expires_at": null}), json!({"expires_at": "2030-01-01T00:00:00Z"})] {
            assert_exceeds(&h.call("PATCH", &path, &weak, body), "expires_at");
        }
        let sooner = h.call("PATCH", &path, &weak, json!({"expires_at": rfc3339(NOW + 1_000)}));
        assert_eq!(sooner.status, 200, "shortening is fine");
        h.harness.clock.advance(1_000);
        assert_eq!(h.verify(&leaked, None)["code"], "API_KEY_EXPIRED");
    })
}
