//! Reaching the admin API: credentials, a key's own project and scopes,
//! unknown and malformed ids and paths, and storage that fails.

mod support;

use keygate::app::http::Request;
use serde_json::{json, Value};
use support::*;

#[test]
fn unknown_foreign_and_malformed_ids_are_not_found() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let other = h.create("other", json!({"name": "theirs"}));
        let foreign = format!("/v1/projects/acme/keys/{}", other["id"].as_str().unwrap());
        for path in
            [foreign.as_str(), "/v1/projects/acme/keys/key_0000000000000000000000", "/v1/projects/acme/keys/nope"]
        {
            let response = h.root("GET", path, Value::Null);
            assert_eq!((response.status, code(&response)), (404, "KEY_NOT_FOUND".to_owned()), "{path}");
            assert!(!String::from_utf8_lossy(response.body.bytes()).contains("theirs"));
        }
        assert_eq!(h.root("PATCH", &foreign, json!({"name": "mine"})).status, 404);
        assert_eq!(h.root("DELETE", &foreign, Value::Null).status, 404);
    })
}

#[test]
fn bad_project_ids_and_methods_are_refused() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        for project in ["Acme", "-acme", "a%3Ab", &"a".repeat(65)] {
            let response = h.root("GET", &format!("/v1/projects/{project}/keys"), Value::Null);
            assert_eq!((response.status, response.json_body()["error"]["field"].clone()), (400, json!("project")));
        }
        let encoded_slash = h.root("GET", "/v1/projects/a%2Fb/keys", Value::Null);
        assert_eq!((encoded_slash.status, code(&encoded_slash)), (400, "INVALID_PATH".to_owned()));
        let response = h.root("PUT", "/v1/projects/acme/keys", Value::Null);
        assert_eq!((response.status, response.header("allow")), (405, Some("GET, POST")));
    })
}

#[test]
fn admin_credentials_are_checked() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let none = h.send(Request::new("GET", "/v1/projects/acme/keys"));
        assert_eq!((none.status, code(&none)), (401, "MISSING_API_KEY".to_owned()));
        assert_eq!(none.header("www-authenticate"), Some("Bearer realm=\"keygate\""));
        let wrong = h.call("GET", "/v1/projects/acme/keys", "not-the-admin-token", Value::Null);
        assert_eq!((wrong.status, code(&wrong)), (401, "INVALID_API_KEY".to_owned()));
        let basic = h.send(Request::new("GET", "/v1/projects/acme/keys").with_header("Authorization", "Basic abc"));
        assert_eq!(basic.status, 401);
        let both = h.send(
            Request::new("GET", "/v1/projects/acme/keys")
                .with_header("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
                .with_header("X-API-Key", "sk_live_x"),
        );
        assert_eq!(code(&both), "AMBIGUOUS_CREDENTIALS");
    })
}

#[test]
fn without_admin_token_only_keys_administer() {
    let harness = Harness::with_config(config(&[]));
    harness.with_limiter(|h| {
        let key = seed(&h.harness.store, &["keys:write"], |_| {});
        let refused = h.call("GET", "/v1/projects/acme/keys", "some-admin-token-guess", Value::Null);
        assert_eq!(refused.status, 401);
        assert!(refused.json_body()["error"]["message"].as_str().unwrap().contains("ADMIN_TOKEN"));
        let listed = h.call("GET", "/v1/projects/acme/keys", &key, Value::Null);
        assert_eq!(listed.status, 200);
    })
}

#[test]
fn a_key_administers_its_own_project_within_its_own_scopes() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let reader = seed(&h.harness.store, &["keys:read"], |_| {});
        let writer = seed(&h.harness.store, &["keys:write", "bots:*"], |_| {});
        let keys_path = "/v1/projects/acme/keys";

        assert_eq!(h.call("GET", keys_path, &reader, Value::Null).status, 200);
        let read_only = h.call("POST", keys_path, &reader, json!({"name": "n"}));
        assert_eq!(
            (read_only.status, read_only.json_body()["error"]["required_scope"].clone()),
            (403, json!("keys:write"))
        );

        let foreign = h.call("GET", "/v1/projects/other/keys", &writer, Value::Null);
        assert_eq!((foreign.status, code(&foreign)), (403, "PROJECT_MISMATCH".to_owned()));
        let foreign_create = h.call("POST", "/v1/projects/other/keys", &writer, json!({"name": "n"}));
        assert_eq!(code(&foreign_create), "PROJECT_MISMATCH");

        let minted = h.call("POST", keys_path, &writer, json!({"name": "n", "scopes": ["bots:read", "keys:read"]}));
        assert_eq!(minted.status, 201);
        for scopes in [json!(["admin"]), json!(["users:read"]), json!(["keys:*"])] {
            let escalation = h.call("POST", keys_path, &writer, json!({"name": "n", "scopes": scopes}));
            assert_eq!(
                (escalation.status, code(&escalation)),
                (403, "INSUFFICIENT_PERMISSIONS".to_owned()),
                "{scopes}"
            );
        }

        let admin_key = h.create("acme", json!({"name": "root-ish", "scopes": ["admin"]}));
        let admin_path = format!("{keys_path}/{}", admin_key["id"].as_str().unwrap());
        for (method, path, body) in [
            ("POST", format!("{admin_path}/rotate"), json!({})),
            ("DELETE", admin_path.clone(), Value::Null),
            ("PATCH", admin_path.clone(), json!({"name": "mine now"})),
        ] {
            let response = h.call(method, &path, &writer, body);
            assert_eq!(
                (response.status, code(&response)),
                (403, "INSUFFICIENT_PERMISSIONS".to_owned()),
                "{method} {path}"
            );
        }
        let minted_path = format!("{keys_path}/{}", minted.json_body()["id"].as_str().unwrap());
        let widen = h.call("PATCH", &minted_path, &writer, json!({"scopes": ["admin"]}));
        assert_eq!(widen.status, 403);
        assert_eq!(h.call("PATCH", &minted_path, &writer, json!({"scopes": ["bots:*"]})).status, 200);
    })
}

#[test]
fn storage_failure_is_503_for_admin_routes() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        h.harness.store.fail(true);
        let response = h.root("POST", "/v1/projects/acme/keys", json!({"name": "n"}));
        assert_eq!((response.status, code(&response)), (503, "UNAVAILABLE".to_owned()));
        assert_eq!(h.root("GET", "/v1/projects/acme/keys", Value::Null).status, 503);
    })
}
