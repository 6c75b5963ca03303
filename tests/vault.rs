//! Recoverable keys (#17, the vault): opt-in with `VAULT_KEY`, a secret
//! sealed in its key's object only, revealed to the admin token alone and
//! audited, gone with the key.

mod support;

use keygate::app::http::{Request, Response};
use keygate::config::Config;
use keygate::events::EventType;
use keygate::ids::ProjectId;
use serde_json::{json, Value};
use support::*;

/// 32 bytes, base64: the vault key of these tests, and two others.
const VAULT_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const NEW_VAULT_KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
const OTHER_VAULT_KEY: &str = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=";

fn vault_config(vault_key: Option<&str>) -> Config {
    let mut vars = vec![("KEY_HEADERS", "X-API-Key"), ("ADMIN_TOKEN", ADMIN_TOKEN)];
    vars.extend(vault_key.map(|key| ("VAULT_KEY", key)));
    config(&vars)
}

fn path(key: &Value, tail: &str) -> String {
    format!("/v1/projects/acme/keys/{}{tail}", key["id"].as_str().unwrap())
}

fn secret(key: &Value) -> String {
    key["key"].as_str().unwrap().to_owned()
}

fn reveal(h: &Session<'_>, key: &Value, credential: &str) -> Response {
    h.call("POST", &path(key, "/reveal"), credential, Value::Null)
}

/// The same request, answered by a worker with another configuration (a
/// redeployment: same storage, other secrets).
fn reveal_under(h: &Session<'_>, config: &Config, key: &Value) -> Response {
    let harness = h.harness;
    let request =
        Request::new("POST", &path(key, "/reveal")).with_header("Authorization", &format!("Bearer {ADMIN_TOKEN}"));
    send(&app(config, &harness.store, &h.limiter, &harness.origin, &harness.clock), request)
}

fn header<'r>(response: &'r Response, name: &str) -> Option<&'r str> {
    response.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn revealed_events(h: &Session<'_>) -> Vec<Value> {
    let body = h.root("GET", "/v1/projects/acme/audit?action=key.revealed", Value::Null).json_body();
    body["events"].as_array().unwrap().clone()
}

#[test]
fn a_recoverable_key_is_revealed_to_the_admin_token_with_no_store_and_audited() {
    let harness = Harness::with_config(vault_config(Some(VAULT_KEY)));
    harness.with_limiter(|h| {
        let key = h.create("acme", json!({"name": "kept", "recoverable": true}));
        assert_eq!(key["recoverable"], true);
        assert_eq!(h.root("GET", &path(&key, ""), Value::Null).json_body()["recoverable"], true);
        let plain = h.create("acme", json!({"name": "plain"}));
        assert_eq!(plain["recoverable"], false, "digests only, by default");

        let revealed = reveal(h, &key, ADMIN_TOKEN);
        assert_eq!(revealed.status, 200, "{}", revealed.json_body());
        assert_eq!(revealed.json_body(), json!({"key": secret(&key)}));
        assert_eq!(header(&revealed, "cache-control"), Some("no-store"));
        // It is the key: it verifies.
        assert_eq!(h.verify(&secret(&key), None)["valid"], true);

        h.settle();
        let events = revealed_events(h);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["key_id"], key["id"]);
        assert_eq!(events[0]["actor"], json!({"type": "admin_token"}));
        assert_eq!(events[0]["changes"], Value::Null);
        let notices = h.limiter.send_notices(&ProjectId::parse("acme").unwrap());
        let notice = notices.iter().find(|n| n.kind == EventType::KeyRevealed).expect("a key.revealed notification");
        let told = format!("{} {}", json!(events), notice.body());
        assert!(!told.contains(&secret(&key)) && !told.contains("v1."), "{told}");
    })
}

#[test]
fn api_keys_never_reveal_even_with_keys_write_but_may_create_recoverable_keys() {
    let harness = Harness::with_config(vault_config(Some(VAULT_KEY)));
    harness.with_limiter(|h| {
        let writer = secret(&h.create("acme", json!({"name": "writer", "scopes": ["keys:write", "keys:read"]})));
        let reader = secret(&h.create("acme", json!({"name": "reader", "scopes": ["keys:read"]})));
        // Harmless: whoever creates a key sees its secret anyway, and only the admin token reveals.
        let created = h.call("POST", "/v1/projects/acme/keys", &writer, json!({"name": "k", "recoverable": true}));
        assert_eq!(created.status, 201);
        let key = created.json_body();
        assert_eq!(key["recoverable"], true);
        for credential in [&writer, &reader] {
            let refused = reveal(h, &key, credential);
            assert_eq!((refused.status, code(&refused)), (403, "INSUFFICIENT_PERMISSIONS".to_owned()));
            assert!(!refused.json_body().to_string().contains(&secret(&key)));
            // Also through the key header, and with a body.
            let request = Request::new("POST", &path(&key, "/reveal")).with_header("X-API-Key", credential);
            assert_eq!(h.send(request).status, 403);
        }
        assert_eq!(h.call("POST", &path(&key, "/reveal"), "not-the-admin-token", Value::Null).status, 401);
        h.settle();
        assert!(revealed_events(h).is_empty(), "a refusal reveals nothing and records no reveal");
        assert_eq!(reveal(h, &key, ADMIN_TOKEN).json_body()["key"], key["key"]);
    })
}

#[test]
fn a_deleted_key_is_not_found_and_its_sealed_secret_is_gone() {
    let harness = Harness::with_config(vault_config(Some(VAULT_KEY)));
    harness.with_limiter(|h| {
        let key = h.create("acme", json!({"name": "kept", "recoverable": true}));
        let id = key["id"].as_str().unwrap();
        assert!(h.limiter.state(id).unwrap().sealed.is_some());
        assert_eq!(h.root("DELETE", &path(&key, ""), Value::Null).status, 204);
        assert_eq!(h.limiter.state(id).unwrap().sealed, None, "the tombstone keeps no ciphertext");
        let gone = reveal(h, &key, ADMIN_TOKEN);
        assert_eq!((gone.status, code(&gone)), (404, "KEY_NOT_FOUND".to_owned()));
        let unknown = h.root("POST", "/v1/projects/acme/keys/key_0000000000000000000000/reveal", Value::Null);
        assert_eq!((unknown.status, code(&unknown)), (404, "KEY_NOT_FOUND".to_owned()));
        // Another project's key is not found from this one.
        let theirs = h.create("other", json!({"name": "theirs", "recoverable": true}));
        let across = h.root("POST", &path(&theirs, "/reveal"), Value::Null);
        assert_eq!((across.status, code(&across)), (404, "KEY_NOT_FOUND".to_owned()));
    })
}

#[test]
fn a_key_whose_secret_was_not_kept_is_409_and_patch_cannot_make_it_recoverable() {
    let harness = Harness::with_config(vault_config(Some(VAULT_KEY)));
    harness.with_limiter(|h| {
        let key = h.create("acme", json!({"name": "plain", "recoverable": false}));
        let refused = reveal(h, &key, ADMIN_TOKEN);
        assert_eq!((refused.status, code(&refused)), (409, "KEY_NOT_RECOVERABLE".to_owned()));
        let patched = h.root("PATCH", &path(&key, ""), json!({"recoverable": true}));
        assert_eq!((patched.status, code(&patched)), (400, "VALIDATION_ERROR".to_owned()));
        assert_eq!(patched.json_body()["error"]["field"], "recoverable");
        assert_eq!(reveal(h, &key, ADMIN_TOKEN).status, 409);
        let extra = h.root("POST", &path(&key, "/reveal"), json!({"why": "audit"}));
        assert_eq!((extra.status, code(&extra)), (400, "VALIDATION_ERROR".to_owned()));
    })
}

#[test]
fn rotation_keeps_the_new_secret_only_when_asked_and_never_the_retired_one() {
    let harness = Harness::with_config(vault_config(Some(VAULT_KEY)));
    harness.with_limiter(|h| {
        let old = h.create("acme", json!({"name": "kept", "recoverable": true}));
        let rotated = h.root("POST", &path(&old, "/rotate"), json!({"grace_seconds": 60, "recoverable": true}));
        assert_eq!(rotated.status, 201);
        let new = rotated.json_body();
        assert_eq!(new["recoverable"], true);
        assert_eq!(reveal(h, &new, ADMIN_TOKEN).json_body()["key"], new["key"]);
        // The retired key still works for its grace, but its secret is gone.
        assert_eq!(h.verify(&secret(&old), None)["valid"], true);
        let retired = h.root("GET", &path(&old, ""), Value::Null).json_body();
        assert_eq!(retired["recoverable"], false);
        assert_eq!(h.limiter.state(old["id"].as_str().unwrap()).unwrap().sealed, None);
        assert_eq!(code(&reveal(h, &old, ADMIN_TOKEN)), "KEY_NOT_RECOVERABLE");
        // Not asked: the successor is not recoverable.
        let next = h.root("POST", &path(&new, "/rotate"), Value::Null).json_body();
        assert_eq!(next["recoverable"], false);
        assert_eq!(code(&reveal(h, &next, ADMIN_TOKEN)), "KEY_NOT_RECOVERABLE");
        // And a key that was not recoverable may get a recoverable successor.
        let plain = h.create("acme", json!({"name": "plain"}));
        let kept = h.root("POST", &path(&plain, "/rotate"), json!({"recoverable": true})).json_body();
        assert_eq!(reveal(h, &kept, ADMIN_TOKEN).json_body()["key"], kept["key"]);
    })
}

#[test]
fn without_vault_key_recoverable_is_a_validation_error() {
    let harness = Harness::with_config(vault_config(None));
    harness.with_limiter(|h| {
        let refused = h.root("POST", "/v1/projects/acme/keys", json!({"name": "k", "recoverable": true}));
        assert_eq!((refused.status, code(&refused)), (400, "VALIDATION_ERROR".to_owned()));
        assert_eq!(refused.json_body()["error"]["field"], "recoverable");
        assert!(refused.json_body()["error"]["message"].as_str().unwrap().contains("VAULT_KEY"));
        assert!(h.listed_names("acme").is_empty(), "nothing was written");
        let key = h.create("acme", json!({"name": "k", "recoverable": false}));
        let rotate = h.root("POST", &path(&key, "/rotate"), json!({"recoverable": true}));
        assert_eq!((rotate.status, rotate.json_body()["error"]["field"].clone()), (400, json!("recoverable")));
        assert_eq!(h.root("GET", &path(&key, ""), Value::Null).json_body()["rotated_to"], Value::Null);
    })
}

#[test]
fn a_missing_or_replaced_vault_key_is_503_vault_unavailable_never_the_sealed_secret() {
    let harness = Harness::with_config(vault_config(Some(VAULT_KEY)));
    harness.with_limiter(|h| {
        let key = h.create("acme", json!({"name": "kept", "recoverable": true}));
        let sealed = h.limiter.state(key["id"].as_str().unwrap()).unwrap().sealed.unwrap().0;
        for (config, says) in
            [(vault_config(None), "VAULT_KEY is not set"), (vault_config(Some(OTHER_VAULT_KEY)), "not in VAULT_KEY")]
        {
            let refused = reveal_under(h, &config, &key);
            assert_eq!((refused.status, code(&refused)), (503, "VAULT_UNAVAILABLE".to_owned()));
            let body = refused.json_body().to_string();
            assert!(body.contains(says), "{body}");
            assert!(!body.contains(&sealed) && !body.contains(&secret(&key)), "{body}");
        }
        h.settle();
        assert!(revealed_events(h).is_empty(), "nothing was revealed, nothing is recorded");
        // VAULT_KEY rotated: the new key first seals, the old one (kept second) still opens.
        let rotated = vault_config(Some(&format!(r#"["{NEW_VAULT_KEY}", "{VAULT_KEY}"]"#)));
        let opened = reveal_under(h, &rotated, &key);
        assert_eq!((opened.status, opened.json_body()["key"].clone()), (200, key["key"].clone()));
    })
}

#[test]
fn the_secret_and_its_sealed_form_are_in_no_store_and_no_admin_answer() {
    let harness = Harness::with_config(vault_config(Some(VAULT_KEY)));
    harness.with_limiter(|h| {
        let key = h.create("acme", json!({"name": "kept", "recoverable": true}));
        let plaintext = secret(&key);
        let sealed = h.limiter.state(key["id"].as_str().unwrap()).unwrap().sealed.unwrap().0;
        assert!(sealed.starts_with("v1.") && !sealed.contains(&plaintext));
        h.settle();
        let kv = format!("{:?}", h.harness.store.dump());
        assert!(!kv.contains(&plaintext) && !kv.contains(&sealed), "KV holds a digest and a record only");
        for answer in [
            h.root("GET", &path(&key, ""), Value::Null),
            h.root("GET", "/v1/projects/acme/keys", Value::Null),
            h.root("GET", "/v1/projects/acme/audit", Value::Null),
            h.root("PATCH", &path(&key, ""), json!({"name": "renamed"})),
            h.verify_response(&plaintext, None),
        ] {
            let body = answer.json_body().to_string();
            assert!(!body.contains(&plaintext) && !body.contains(&sealed), "{body}");
        }
        // The rename kept the secret.
        assert_eq!(reveal(h, &key, ADMIN_TOKEN).json_body()["key"], json!(plaintext));
    })
}

#[test]
fn the_audit_log_shows_a_key_made_recoverable_and_a_rotation_destroying_its_secret() {
    let harness = Harness::with_config(vault_config(Some(VAULT_KEY)));
    harness.with_limiter(|h| {
        let key = h.create("acme", json!({"name": "kept", "recoverable": true}));
        let plain = h.create("acme", json!({"name": "plain"}));
        h.root("POST", &path(&key, "/rotate"), Value::Null);
        h.settle();
        let body = h.root("GET", "/v1/projects/acme/audit?limit=100", Value::Null).json_body();
        let event = |action: &str, id: &Value| {
            body["events"].as_array().unwrap().iter().find(|e| e["action"] == action && &e["key_id"] == id).cloned()
        };
        let created = event("key.created", &key["id"]).unwrap();
        assert_eq!(created["changes"]["recoverable"], json!({"from": null, "to": true}));
        let created_plain = event("key.created", &plain["id"]).unwrap();
        assert_eq!(created_plain["changes"].get("recoverable"), None, "false is not news on a new key");
        let rotated = event("key.rotated", &key["id"]).unwrap();
        assert_eq!(rotated["changes"]["recoverable"], json!({"from": true, "to": false}));
    })
}
