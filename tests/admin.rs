//! The admin API's key lifecycle over in-memory KV: create, patch, rotate,
//! delete, the listing's pages, and the refusal of bad bodies.

mod support;

use keygate::app::http::Request;
use serde_json::{json, Value};
use support::*;

#[test]
fn create_answers_the_key_once_and_stores_only_its_digest() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let created = h.create("acme", json!({"name": "ci bot", "scopes": ["bots:read", "bots:read", "keys:read"]}));
        let key = created["key"].as_str().unwrap();
        assert!(key.starts_with("sk_live_"));
        assert_eq!(created["prefix"], &key[..12]);
        assert_eq!(created["project"], "acme");
        assert_eq!(created["name"], "ci bot");
        assert_eq!(created["scopes"], json!(["bots:read", "keys:read"]));
        assert_eq!(created["environment"], "live");
        assert_eq!(created["status"], "active");
        assert_eq!(created["plan"], "standard");
        assert_eq!(created["rate_limit"], json!({"per_minute": 100, "per_day": 10000}));
        assert_eq!(created["meta"], json!({}));
        assert_eq!(created["created_at"], "2026-11-23T08:00:00Z");
        assert_eq!(created["expires_at"], Value::Null);
        assert!(created["id"].as_str().unwrap().starts_with("key_"));
        assert_eq!(h.verify(key, Some("bots:read"))["valid"], true);

        for (name, value, metadata) in h.harness.store.dump() {
            let everything = format!("{name} {value} {metadata:?}");
            assert!(!everything.contains(&key[8..]), "plaintext key stored under {name}");
        }
        let fetched =
            h.root("GET", &format!("/v1/projects/acme/keys/{}", created["id"].as_str().unwrap()), Value::Null);
        assert_eq!(fetched.status, 200);
        assert!(fetched.json_body().get("key").is_none(), "the secret is shown only once");
        let mut expected = created.clone();
        expected.as_object_mut().unwrap().remove("key");
        expected["last_used_at"] = json!("2026-11-23T08:00:00Z");
        assert_eq!(fetched.json_body(), expected, "as created, and used once (the verification above)");
    })
}

#[test]
fn create_takes_plan_rate_limit_environment_expiry_and_meta() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let custom = h.create(
            "acme",
            json!({"name": "n", "rate_limit": {"per_minute": 30, "per_day": 5}, "environment": "test",
               "expires_at": "2027-01-01T00:00:00+01:00", "meta": {"team": "billing"}}),
        );
        assert_eq!(custom["plan"], Value::Null);
        assert_eq!(custom["rate_limit"], json!({"per_minute": 30, "per_day": 5}));
        assert_eq!(custom["environment"], "test");
        assert!(custom["key"].as_str().unwrap().starts_with("sk_test_"));
        assert_eq!(custom["expires_at"], "2026-12-31T23:00:00Z");
        assert_eq!(custom["meta"], json!({"team": "billing"}));
        let pro = h.create("acme", json!({"name": "n", "plan": "professional"}));
        assert_eq!(pro["rate_limit"], json!({"per_minute": 300, "per_day": 50000}));
    })
}

#[test]
fn every_bad_create_is_400_and_stores_nothing() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let long_meta = json!({"blob": "x".repeat(1100)});
        let too_many: Vec<String> = (0..65).map(|i| format!("r{i}:read")).collect();
        let cases: Vec<(Value, &str, &str)> = vec![
            (json!({"scopes": []}), "VALIDATION_ERROR", "name"),
            (json!({"name": ""}), "VALIDATION_ERROR", "name"),
            (json!({"name": "   "}), "VALIDATION_ERROR", "name"),
            (json!({"name": "x".repeat(101)}), "VALIDATION_ERROR", "name"),
            (json!({"name": 5}), "VALIDATION_ERROR", "name"),
            (json!({"name": "n", "scopes": "bots:read"}), "VALIDATION_ERROR", "scopes"),
            (json!({"name": "n", "scopes": ["Bots:read"]}), "VALIDATION_ERROR", "scopes"),
            (json!({"name": "n", "scopes": [1]}), "VALIDATION_ERROR", "scopes"),
            (json!({"name": "n", "scopes": too_many}), "VALIDATION_ERROR", "scopes"),
            (json!({"name": "n", "meta": long_meta}), "VALIDATION_ERROR", "meta"),
            (json!({"name": "n", "meta": [1]}), "VALIDATION_ERROR", "meta"),
            (json!({"name": "n", "expires_at": "2020-01-01T00:00:00Z"}), "VALIDATION_ERROR", "expires_at"),
            (json!({"name": "n", "expires_at": "next week"}), "VALIDATION_ERROR", "expires_at"),
            (json!({"name": "n", "expires_at": 1_900_000_000}), "VALIDATION_ERROR", "expires_at"),
            (json!({"name": "n", "plan": "gold"}), "VALIDATION_ERROR", "plan"),
            (json!({"name": "n", "rate_limit": {"per_minute": 0, "per_day": 5}}), "VALIDATION_ERROR", "rate_limit"),
            (json!({"name": "n", "rate_limit": {"per_minute": -1, "per_day": 5}}), "VALIDATION_ERROR", "rate_limit"),
            (json!({"name": "n", "rate_limit": {"per_minute": 1}}), "VALIDATION_ERROR", "rate_limit"),
            (
                json!({"name": "n", "plan": "standard", "rate_limit": {"per_minute": 1, "per_day": 1}}),
                "VALIDATION_ERROR",
                "rate_limit",
            ),
            (json!({"name": "n", "environment": "prod"}), "VALIDATION_ERROR", "environment"),
            (json!({"name": "n", "scope": ["bots:read"]}), "VALIDATION_ERROR", "scope"),
        ];
        for (body, expected_code, field) in cases {
            let response = h.root("POST", "/v1/projects/acme/keys", body.clone());
            assert_eq!(response.status, 400, "{body}");
            assert_eq!(code(&response), expected_code, "{body}");
            assert_eq!(response.json_body()["error"]["field"], field, "{body}");
        }
        for raw in ["{\"name\":", "[]", "", "null"] {
            let request = Request::new("POST", "/v1/projects/acme/keys")
                .with_header("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
                .with_body(raw);
            assert_eq!(code(&h.send(request)), "INVALID_JSON", "{raw:?}");
        }
        assert!(h.harness.store.dump().is_empty(), "nothing may be stored");
    })
}

#[test]
fn lifecycle_patch_disable_rotate_delete() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let created =
            h.create("acme", json!({"name": "svc", "scopes": ["bots:write", "users:read"], "meta": {"a": 1}}));
        let key = created["key"].as_str().unwrap().to_owned();
        let path = format!("/v1/projects/acme/keys/{}", created["id"].as_str().unwrap());
        assert_eq!(h.verify(&key, Some("bots:read"))["valid"], true);

        h.harness.clock.advance(1000);
        let patched = h.root("PATCH", &path, json!({"scopes": ["users:read"], "name": "svc2"}));
        assert_eq!(patched.status, 200);
        assert_eq!(patched.json_body()["scopes"], json!(["users:read"]));
        assert_eq!(patched.json_body()["name"], "svc2");
        assert_eq!(patched.json_body()["meta"], json!({"a": 1}), "PATCH is partial");
        assert_eq!(patched.json_body()["updated_at"], "2026-11-23T08:00:01Z");
        let denied = h.verify(&key, Some("bots:read"));
        assert_eq!(
            (denied["code"].as_str(), denied["required_scope"].as_str()),
            (Some("INSUFFICIENT_PERMISSIONS"), Some("bots:read"))
        );

        assert_eq!(h.root("PATCH", &path, json!({"status": "inactive"})).status, 200);
        assert_eq!(h.verify(&key, None)["code"], "API_KEY_DISABLED");
        assert_eq!(
            h.root("PATCH", &path, json!({"status": "active", "expires_at": "2026-11-23T09:00:00Z"})).status,
            200
        );
        assert_eq!(h.verify(&key, None)["valid"], true);
        let cleared = h.root("PATCH", &path, json!({"expires_at": null, "meta": null}));
        assert_eq!(
            (cleared.json_body()["expires_at"].clone(), cleared.json_body()["meta"].clone()),
            (Value::Null, json!({}))
        );

        let rotated = h.root("POST", &format!("{path}/rotate"), json!({"grace_seconds": 0}));
        assert_eq!(rotated.status, 201);
        let rotated = rotated.json_body();
        let new_key = rotated["key"].as_str().unwrap().to_owned();
        assert_ne!(rotated["id"], created["id"]);
        assert_eq!(rotated["rotated_from"], created["id"]);
        assert_eq!(rotated["scopes"], json!(["users:read"]));
        assert_eq!(rotated["name"], "svc2");
        assert_eq!(h.verify(&key, None)["code"], "API_KEY_EXPIRED");
        assert_eq!(h.verify(&new_key, Some("users:read"))["valid"], true);

        let new_path = format!("/v1/projects/acme/keys/{}", rotated["id"].as_str().unwrap());
        let deleted = h.root("DELETE", &new_path, Value::Null);
        assert_eq!((deleted.status, deleted.body.bytes().len()), (204, 0));
        assert_eq!(h.verify(&new_key, None)["code"], "INVALID_API_KEY");
        assert_eq!(code(&h.root("GET", &new_path, Value::Null)), "KEY_NOT_FOUND");
        assert_eq!(code(&h.root("DELETE", &new_path, Value::Null)), "KEY_NOT_FOUND");
    })
}

#[test]
fn rotation_grace_keeps_the_old_key_until_it_ends() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let created = h.create("acme", json!({"name": "svc"}));
        let path = format!("/v1/projects/acme/keys/{}/rotate", created["id"].as_str().unwrap());
        assert_eq!(h.root("POST", &path, json!({"grace_seconds": 604_801})).status, 400);
        assert_eq!(h.root("POST", &path, json!({"grace_seconds": -1})).status, 400);
        assert_eq!(h.root("POST", &path, json!({"grace_seconds": 3600})).status, 201);
        let old = created["key"].as_str().unwrap();
        h.harness.clock.advance(3_599_999);
        assert_eq!(h.verify(old, None)["valid"], true);
        h.harness.clock.advance(1);
        assert_eq!(h.verify(old, None)["code"], "API_KEY_EXPIRED");
    })
}

#[test]
fn bad_patches_are_400_and_change_nothing() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let created = h.create("acme", json!({"name": "svc", "scopes": ["bots:read"]}));
        let path = format!("/v1/projects/acme/keys/{}", created["id"].as_str().unwrap());
        let before = h.harness.store.dump();
        for (body, field) in [
            (json!({"status": "paused"}), "status"),
            (json!({"status": null}), "status"),
            (json!({"expires_at": "2020-01-01T00:00:00Z"}), "expires_at"),
            (json!({"name": ""}), "name"),
            (json!({"scopes": ["bad scope"]}), "scopes"),
            (json!({"environment": "test"}), "environment"),
            (json!({"name": "ok", "rate_limit": {"per_minute": 0, "per_day": 1}}), "rate_limit"),
        ] {
            let response = h.root("PATCH", &path, body.clone());
            assert_eq!(
                (response.status, response.json_body()["error"]["field"].clone()),
                (400, json!(field)),
                "{body}"
            );
        }
        assert_eq!(h.harness.store.dump(), before);
    })
}

#[test]
fn pagination_returns_every_key_exactly_once() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let mut ids: Vec<String> = (0..7)
            .map(|i| h.create("acme", json!({"name": format!("k{i}")}))["id"].as_str().unwrap().to_owned())
            .collect();
        h.create("other", json!({"name": "elsewhere"}));
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/projects/acme/keys?limit=3&cursor={c}"),
                None => "/v1/projects/acme/keys?limit=3".to_owned(),
            };
            let page = h.root("GET", &path, Value::Null).json_body();
            pages += 1;
            for key in page["keys"].as_array().unwrap() {
                assert!(key.get("key").is_none() && key["prefix"].as_str().unwrap().len() == 12, "masked");
                seen.push(key["id"].as_str().unwrap().to_owned());
            }
            match page["cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        ids.sort();
        seen.sort();
        assert_eq!(seen, ids);
        assert_eq!(
            h.root("GET", "/v1/projects/acme/keys", Value::Null).json_body()["keys"].as_array().unwrap().len(),
            7
        );
        for bad in ["limit=0", "limit=101", "limit=ten", "cursor=garbage", "cursor=AAAAAAAAAA"] {
            let response = h.root("GET", &format!("/v1/projects/acme/keys?{bad}"), Value::Null);
            assert_eq!(code(&response), "VALIDATION_ERROR", "{bad}");
        }
    })
}
