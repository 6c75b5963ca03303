//! The verification flow and `POST /v1/keys/verify`, over an in-memory KV that counts reads.

mod support;

use keygate::app::http::Request;
use keygate::key::{ApiKey, Environment, KeyPrefixes};
use keygate::record::KeyStatus;
use keygate::testing::FakeClock;
use keygate::testing::MemoryLimiter;
use keygate::testing::MemoryOrigin;
use keygate::testing::MemoryStore;
use serde_json::{json, Value};
use support::*;

fn verify_body(body: Value) -> Request {
    Request::new("POST", "/v1/keys/verify").with_body(body.to_string())
}

/// Sends one request to an app over `store` with fresh Durable Objects.
fn answer(store: &MemoryStore, request: Request) -> (u16, Value) {
    let config = default_config();
    let clock = FakeClock::at(NOW);
    let limiter = MemoryLimiter::new(&clock);
    let origin = MemoryOrigin::default();
    let response = send(&app(&config, store, &limiter, &origin, &clock), request);
    (response.status, response.json_body())
}

#[test]
fn a_valid_key_is_valid_by_body_bearer_and_every_key_header() {
    let store = MemoryStore::default();
    let key = seed(&store, &["bots:read"], |_| {});
    let requests = [
        verify_body(json!({"key": key})),
        Request::new("POST", "/v1/keys/verify").with_header("Authorization", &format!("Bearer {key}")),
        Request::new("POST", "/v1/keys/verify").with_header("authorization", &format!("bearer {key}")),
        Request::new("POST", "/v1/keys/verify").with_header("X-API-Key", &key),
        Request::new("POST", "/v1/keys/verify").with_header("X-TLM-Key", &key),
    ];
    for request in requests {
        let (status, body) = answer(&store, request);
        assert_eq!(status, 200);
        assert_eq!(body["valid"], true, "{body}");
        assert_eq!(body["code"], "VALID");
        assert!(body["key_id"].as_str().unwrap().starts_with("key_"));
        assert_eq!(body["project"], "acme");
        assert_eq!(body["scopes"], json!(["bots:read"]));
        assert_eq!(body["environment"], "live");
        assert_eq!(body["expires_at"], Value::Null);
    }
}

#[test]
fn malformed_and_bad_checksum_keys_cause_no_read() {
    let store = MemoryStore::default();
    let good = ApiKey::generate(Environment::Live, &KeyPrefixes::default()).unwrap().expose().to_owned();
    let mut bad_checksum = good.clone();
    let last = if good.ends_with('A') { "B" } else { "A" };
    bad_checksum.replace_range(50..51, last);
    let test_key = ApiKey::generate(Environment::Test, &KeyPrefixes::default()).unwrap().expose().to_owned();
    // One character, at one place: `str::replace` would also hit the same letter in `sk_live_`.
    let mut bad_character = good.clone();
    bad_character.replace_range(20..21, "-");
    for (presented, reason) in [
        (bad_checksum.as_str(), "checksum"),
        ("sk_live_short", "51 characters"),
        ("pk_live_0000000000000000000000000000000000000000000", "start with sk_live_"),
        (&format!(" {good}"), "whitespace"),
        (bad_character.as_str(), "outside [0-9A-Za-z]"),
        (test_key.as_str(), "accepts only sk_live_"),
    ] {
        let (status, body) = answer(&store, verify_body(json!({"key": presented})));
        assert_eq!(status, 200);
        assert_eq!(body["valid"], false);
        assert_eq!(body["code"], "INVALID_API_KEY", "{presented}");
        assert!(body["message"].as_str().unwrap().contains(reason), "{body}");
        assert!(!body.to_string().contains(&good[8..]), "the key must not be echoed");
    }
    assert_eq!(store.reads(), 0);
}

#[test]
fn an_unknown_well_formed_key_costs_one_read_and_looks_invalid() {
    let store = MemoryStore::default();
    let unknown = ApiKey::generate(Environment::Live, &KeyPrefixes::default()).unwrap();
    let (_, body) = answer(&store, verify_body(json!({"key": unknown.expose()})));
    assert_eq!(body["code"], "INVALID_API_KEY");
    assert_eq!(body["message"], "Invalid API key.");
    assert_eq!(store.reads(), 1);
}

#[test]
fn expired_and_disabled_keys_are_refused_with_their_codes() {
    let store = MemoryStore::default();
    let expired = seed(&store, &[], |r| r.expires_at = Some(NOW));
    assert_eq!(answer(&store, verify_body(json!({"key": expired}))).1["code"], "API_KEY_EXPIRED");
    let later = seed(&store, &[], |r| r.expires_at = Some(NOW + 1));
    assert_eq!(answer(&store, verify_body(json!({"key": later}))).1["valid"], true);
    let disabled = seed(&store, &[], |r| r.status = KeyStatus::Inactive);
    assert_eq!(answer(&store, verify_body(json!({"key": disabled}))).1["code"], "API_KEY_DISABLED");
}

#[test]
fn a_key_of_another_environment_in_storage_looks_unknown() {
    let store = MemoryStore::default();
    let key = seed(&store, &[], |r| r.environment = keygate::key::Environment::Test);
    assert_eq!(answer(&store, verify_body(json!({"key": key}))).1["code"], "INVALID_API_KEY");
}

#[test]
fn scopes_grant_as_the_contract_says() {
    let store = MemoryStore::default();
    let cases = [
        (&["bots:read"][..], "bots:read", true),
        (&["bots:read"][..], "bots:write", false),
        (&["admin"][..], "anything:delete", true),
        (&["bots:*"][..], "bots:delete", true),
        (&["bots:*"][..], "users:read", false),
        (&["bots:write"][..], "bots:read", true),
        (&["bots:write"][..], "bots:delete", false),
        (&[][..], "bots:read", false),
    ];
    for (held, wanted, granted) in cases {
        let key = seed(&store, held, |_| {});
        let (_, body) = answer(&store, verify_body(json!({"key": key, "scope": wanted})));
        assert_eq!(body["valid"], granted, "{held:?} → {wanted}: {body}");
        if !granted {
            assert_eq!(body["code"], "INSUFFICIENT_PERMISSIONS");
            assert_eq!(body["required_scope"], wanted);
        }
    }
}

#[test]
fn a_key_of_another_project_is_a_mismatch() {
    let store = MemoryStore::default();
    let key = seed(&store, &[], |_| {});
    assert_eq!(answer(&store, verify_body(json!({"key": key, "project": "acme"}))).1["valid"], true);
    let (_, body) = answer(&store, verify_body(json!({"key": key, "project": "other"})));
    assert_eq!(body["code"], "PROJECT_MISMATCH");
}

#[test]
fn credentials_in_headers_must_agree_and_be_well_formed() {
    let store = MemoryStore::default();
    let one = seed(&store, &[], |_| {});
    let two = seed(&store, &[], |_| {});
    let both = Request::new("POST", "/v1/keys/verify")
        .with_header("Authorization", &format!("Bearer {one}"))
        .with_header("X-API-Key", &two);
    assert_eq!(answer(&store, both).1["code"], "AMBIGUOUS_CREDENTIALS");
    let same = Request::new("POST", "/v1/keys/verify")
        .with_header("Authorization", &format!("Bearer {one}"))
        .with_header("X-API-Key", &one);
    assert_eq!(answer(&store, same).1["valid"], true);
    let none = Request::new("POST", "/v1/keys/verify");
    assert_eq!(answer(&store, none).1["code"], "MISSING_API_KEY");
    let basic = Request::new("POST", "/v1/keys/verify").with_header("Authorization", &format!("Basic {one}"));
    let (_, body) = answer(&store, basic);
    assert_eq!(body["code"], "INVALID_API_KEY");
    assert!(body["message"].as_str().unwrap().contains("Bearer <key>"), "{body}");
    let spaced = Request::new("POST", "/v1/keys/verify").with_header("Authorization", &format!("Bearer  {one}"));
    assert!(answer(&store, spaced).1["message"].as_str().unwrap().contains("whitespace"));
}

#[test]
fn malformed_bodies_are_400_and_read_nothing() {
    let store = MemoryStore::default();
    for (body, code, field) in [
        ("{\"key\":", "INVALID_JSON", None),
        ("[1,2]", "INVALID_JSON", None),
        ("\"sk_live_x\"", "INVALID_JSON", None),
        ("{\"key\": 42}", "VALIDATION_ERROR", Some("key")),
        ("{\"key\": \"sk\", \"scope\": \"Bots\"}", "VALIDATION_ERROR", Some("scope")),
        ("{\"key\": \"sk\", \"scopes\": \"bots:read\"}", "VALIDATION_ERROR", Some("scopes")),
        ("{\"key\": \"sk\", \"project\": []}", "VALIDATION_ERROR", Some("project")),
    ] {
        let (status, answer) = answer(&store, Request::new("POST", "/v1/keys/verify").with_body(body));
        assert_eq!(status, 400, "{body}");
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
        if let Some(field) = field {
            assert_eq!(answer["error"]["field"], field);
        }
    }
    assert_eq!(store.reads(), 0);
}

#[test]
fn storage_failure_fails_closed() {
    let store = MemoryStore::default();
    let key = seed(&store, &["bots:read"], |_| {});
    store.fail(true);
    let (status, body) = answer(&store, verify_body(json!({"key": key})));
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "UNAVAILABLE");
}

#[test]
fn a_corrupt_record_fails_closed() {
    let store = MemoryStore::default();
    let key = ApiKey::parse(&seed(&store, &[], |_| {}), &KeyPrefixes::default()).unwrap();
    store.insert_raw(&key.digest().storage_key(), "{not json");
    assert_eq!(answer(&store, verify_body(json!({"key": key.expose()}))).0, 503);
}

#[test]
fn routes_answer_404_and_405_as_json() {
    let store = MemoryStore::default();
    let (status, body) = answer(&store, Request::new("GET", "/nope"));
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("NOT_FOUND")));
    let config = default_config();
    let clock = FakeClock::at(NOW);
    let limiter = MemoryLimiter::new(&clock);
    let origin = MemoryOrigin::default();
    let response = send(&app(&config, &store, &limiter, &origin, &clock), Request::new("GET", "/v1/keys/verify"));
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("POST"));
    assert_eq!(response.json_body()["error"]["code"], "METHOD_NOT_ALLOWED");
}

#[test]
fn healthz_reports_environment_or_configuration_problems() {
    let store = MemoryStore::default();
    let (status, body) = answer(&store, Request::new("GET", "/healthz"));
    assert_eq!(status, 200);
    assert_eq!(body["ok"], true);
    assert_eq!(body["environment"], "live");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));

    let problem =
        keygate::config::Config::from_vars(|n| (n == "KEY_HEADERS").then(|| "bad header".into())).unwrap_err();
    let health = keygate::app::unconfigured(&Request::new("GET", "/healthz"), &problem);
    assert_eq!(health.status, 500);
    assert_eq!(health.json_body()["ok"], false);
    assert!(health.json_body()["error"]["problems"][0].as_str().unwrap().starts_with("KEY_HEADERS"));
    let other = keygate::app::unconfigured(&Request::new("POST", "/v1/keys/verify"), &problem);
    assert_eq!(other.status, 500);
    assert_eq!(other.json_body()["error"]["code"], "CONFIG_ERROR");
    assert!(other.json_body()["error"]["message"].as_str().unwrap().contains("KEY_HEADERS"));
}

#[test]
fn the_isolate_cache_spares_kv_reads_for_hot_and_made_up_keys() {
    use keygate::app::store::{KeyStore, RecordCache};
    use keygate::app::App;
    use std::rc::Rc;

    let store = MemoryStore::default();
    let key = seed(&store, &["bots:read"], |_| {});
    let unknown = ApiKey::generate(Environment::Live, &KeyPrefixes::default()).unwrap();
    let config = default_config();
    let clock = FakeClock::at(NOW);
    let limiter = MemoryLimiter::new(&clock);
    let origin = MemoryOrigin::default();
    let cache = Rc::new(RecordCache::new(100));
    let app = App {
        config: &config,
        keys: KeyStore::with_cache(&store, cache),
        limiter: &limiter,
        origin: &origin,
        clock: &clock,
    };
    for _ in 0..3 {
        assert_eq!(send(&app, verify_body(json!({"key": key}))).json_body()["valid"], true);
        assert_eq!(send(&app, verify_body(json!({"key": unknown.expose()}))).json_body()["code"], "INVALID_API_KEY");
    }
    assert_eq!(store.reads(), 2, "one read per key");
    // Every use reaches the key's object; the first also sends it the KV copy it asked for.
    assert_eq!(limiter.calls(), 4);
    clock.advance(RecordCache::MISS_MILLIS);
    send(&app, verify_body(json!({"key": unknown.expose()})));
    assert_eq!(store.reads(), 3, "a miss is re-read soon");
}

/// After `KEY_PREFIX` changes from `sk` to `acme,sk`: new keys are `acme_`,
/// keys issued before still verify, and a prefix not listed is refused unread.
#[test]
fn a_change_of_key_prefix_keeps_older_keys_working() {
    let older = Harness::new();
    let old_key =
        older.with_limiter(|h| h.create("acme", json!({"name": "before"}))["key"].as_str().unwrap().to_owned());
    assert!(old_key.starts_with("sk_live_"));
    let vars = [("KEY_HEADERS", "X-API-Key"), ("ADMIN_TOKEN", ADMIN_TOKEN), ("KEY_PREFIX", "acme,sk")];
    let harness = Harness { config: config(&vars), ..older };
    harness.with_limiter(|h| {
        let created = h.create("acme", json!({"name": "after"}));
        let new_key = created["key"].as_str().unwrap();
        assert!(new_key.starts_with("acme_live_"), "{new_key}");
        assert_eq!(created["prefix"], &new_key[.."acme_live_".len() + 4]);
        assert_eq!(h.verify(new_key, None)["valid"], true);
        assert_eq!(h.verify(&old_key, None)["valid"], true);

        let reads = h.harness.store.reads();
        let other = ApiKey::generate(Environment::Live, &KeyPrefixes::parse("other").unwrap()).unwrap();
        let refused = h.verify(other.expose(), None);
        assert_eq!(refused["code"], "INVALID_API_KEY");
        let message = refused["message"].as_str().unwrap();
        assert!(message.contains("acme_live_, acme_test_, sk_live_ or sk_test_"), "{message}");
        assert_eq!(h.harness.store.reads(), reads, "refused before any read");

        // A bearer token with an accepted prefix is read as a key, any other as the admin token.
        for (bearer, read_as) in [("acme_not_a_key", "Invalid API key: "), ("other_not_a_key", "Invalid admin token.")]
        {
            let refused = h.call("GET", "/v1/projects/acme/keys", bearer, Value::Null).json_body();
            assert!(refused["error"]["message"].as_str().unwrap().starts_with(read_as), "{bearer}: {refused}");
        }
    })
}
