//! Admin writes are linearisable: compare-and-set on the version read, `If-Match`
//! and 412, final deletions, and a DELETE that failed half-way finished by its retry.

mod support;

use keygate::app::http::{Request, Response};
use keygate::keystate::LimiterCall;
use serde_json::{json, Value};
use support::racing::Racing;
use support::*;

fn with_race<T>(f: impl FnOnce(&dyn Fn(Request) -> Response, &Racing<'_>) -> T) -> T {
    let harness = Harness::new();
    let racing = Racing::new(&harness.clock);
    let app = app(&harness.config, &harness.store, &racing, &harness.origin, &harness.clock);
    let send = |request: Request| send(&app, request);
    f(&send, &racing)
}

fn root(method: &str, path: &str, body: Value) -> Request {
    let request = Request::new(method, path).with_header("Authorization", &format!("Bearer {ADMIN_TOKEN}"));
    if body.is_null() {
        request
    } else {
        request.with_body(body.to_string())
    }
}

fn verify(send: &dyn Fn(Request) -> Response, key: &str) -> Value {
    send(Request::new("POST", "/v1/keys/verify").with_body(json!({"key": key}).to_string())).json_body()
}

/// Reproducer: a burst of no-op `PATCH {}` with a DELETE in the middle
/// brought the deleted key back, valid, in 3 of 4 tries.
#[test]
fn a_deletion_between_a_patchs_read_and_write_stays_a_deletion() {
    with_race(|send, racing| {
        let created = send(root("POST", "/v1/projects/acme/keys", json!({"name": "n"}))).json_body();
        let id = created["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/projects/acme/keys/{id}");
        *racing.before_next_write.borrow_mut() =
            Some((id.clone(), LimiterCall::Delete { expected: None, entry: None }));
        let patched = send(root("PATCH", &path, json!({})));
        assert_eq!((patched.status, code(&patched)), (404, "KEY_NOT_FOUND".to_owned()));
        assert_eq!(verify(send, created["key"].as_str().unwrap())["code"], "INVALID_API_KEY");
        assert_eq!(send(root("GET", &path, Value::Null)).status, 404);
        let rotated = send(root("POST", &format!("{path}/rotate"), json!({})));
        assert_eq!(rotated.status, 404, "no rotation from a deleted key");
    })
}

/// Without `If-Match` the last writer wins field by field: a PATCH that lost
/// the race reads the key again and applies itself on top, so neither is lost.
#[test]
fn two_concurrent_patches_both_take_effect() {
    with_race(|send, racing| {
        let created = send(root("POST", "/v1/projects/acme/keys", json!({"name": "n", "scopes": ["a:read"]})));
        let created = created.json_body();
        let id = created["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/projects/acme/keys/{id}");
        let current = send(root("GET", &path, Value::Null));
        let mut other = racing.inner.state(&id).unwrap().record.unwrap();
        let version = other.updated_at;
        other.name = "renamed elsewhere".into();
        other.updated_at += 1;
        let digest = racing.inner.state(&id).unwrap().digest.unwrap();
        let put = LimiterCall::Put {
            digest,
            record: other,
            expected: Some(version),
            entry: None,
            balance: None,
            lower_only: false,
            sealed: None,
        };
        *racing.before_next_write.borrow_mut() = Some((id.clone(), put));
        let patched = send(root("PATCH", &path, json!({"scopes": ["b:read"]})));
        assert_eq!(patched.status, 200);
        let body = patched.json_body();
        assert_eq!((body["name"].clone(), body["scopes"].clone()), (json!("renamed elsewhere"), json!(["b:read"])));
        assert_ne!(patched.header("etag"), current.header("etag"));
    })
}

#[test]
fn if_match_makes_writes_conditional() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let created = h.root("POST", "/v1/projects/acme/keys", json!({"name": "n"}));
        let etag = created.header("etag").unwrap().to_owned();
        let path = format!("/v1/projects/acme/keys/{}", created.json_body()["id"].as_str().unwrap());
        let get = h.root("GET", &path, Value::Null);
        assert_eq!(get.header("etag"), Some(etag.as_str()));
        let conditional = |method: &str, path: &str, tag: &str, body: Value| {
            let mut request = Request::new(method, path)
                .with_header("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
                .with_header("If-Match", tag);
            if !body.is_null() {
                request = request.with_body(body.to_string());
            }
            h.send(request)
        };
        let first = conditional("PATCH", &path, &etag, json!({"name": "first"}));
        assert_eq!(first.status, 200);
        let new_etag = first.header("etag").unwrap().to_owned();
        assert_ne!(new_etag, etag);
        for (method, target, body) in [
            ("PATCH", path.clone(), json!({"name": "second"})),
            ("POST", format!("{path}/rotate"), json!({})),
            ("DELETE", path.clone(), Value::Null),
        ] {
            let stale = conditional(method, &target, &etag, body.clone());
            assert_eq!((stale.status, code(&stale)), (412, "PRECONDITION_FAILED".to_owned()), "{method}");
            let weak = conditional(method, &target, &format!("W/{new_etag}"), body);
            assert_eq!(weak.status, 412, "a weak tag never matches");
        }
        assert_eq!(h.root("GET", &path, Value::Null).json_body()["name"], "first", "nothing changed");
        let listed = conditional("PATCH", &path, &format!("\"1\", {new_etag}"), json!({"name": "third"}));
        assert_eq!(listed.status, 200, "one of a list matches");
        assert_eq!(conditional("PATCH", &path, "*", json!({"name": "fourth"})).status, 200);
        let tag = h.root("GET", &path, Value::Null).header("etag").unwrap().to_owned();
        assert_eq!(conditional("DELETE", &path, &tag, Value::Null).status, 204);
        assert_eq!(conditional("PATCH", &path, "*", json!({})).status, 404);
    })
}

/// A DELETE whose KV cleanup failed (503) is finished by its retry, and the
/// key never verifies again, whatever KV still held in between.
#[test]
fn a_delete_that_failed_half_way_is_finished_by_its_retry() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let created = h.create("acme", json!({"name": "n"}));
        let key = created["key"].as_str().unwrap();
        let path = format!("/v1/projects/acme/keys/{}", created["id"].as_str().unwrap());
        harness.store.fail_writes(true);
        let failed = h.root("DELETE", &path, Value::Null);
        assert_eq!((failed.status, code(&failed)), (503, "UNAVAILABLE".to_owned()));
        assert_eq!(h.verify(key, None)["code"], "INVALID_API_KEY", "the tombstone is already in force");
        assert!(harness.store.dump().iter().any(|(name, _, _)| name.starts_with("k:")), "KV still holds it");
        harness.store.fail_writes(false);
        assert_eq!(h.root("DELETE", &path, Value::Null).status, 204, "the retry finishes the job");
        let left: Vec<String> = harness.store.dump().into_iter().map(|(name, _, _)| name).collect();
        assert!(left.iter().all(|name| name.starts_with("project:")), "the record is gone: {left:?}");
        assert_eq!(h.root("DELETE", &path, Value::Null).status, 404);
        assert_eq!(h.verify(key, None)["code"], "INVALID_API_KEY");
    })
}

/// The tombstone is never dropped: a KV record a failed deletion left behind
/// (or one written back by hand) is not adopted, however long after.
#[test]
fn a_deleted_key_never_verifies_again_whatever_kv_holds() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let created = h.create("acme", json!({"name": "n"}));
        let key = created["key"].as_str().unwrap();
        let leftovers = harness.store.dump();
        let path = format!("/v1/projects/acme/keys/{}", created["id"].as_str().unwrap());
        assert_eq!(h.root("DELETE", &path, Value::Null).status, 204);
        for (name, value, _) in &leftovers {
            harness.store.insert_raw(name, value);
        }
        harness.clock.advance(400 * 24 * 3600 * 1000);
        assert_eq!(h.verify(key, None)["code"], "INVALID_API_KEY");
        let state = h.limiter.state(created["id"].as_str().unwrap()).unwrap();
        assert!(state.deleted, "the tombstone stands");
        assert!(!state.counters_idle(keygate::app::Clock::now(&harness.clock)));
    })
}

/// Reproducer (attacker review): rotating a key twice (a retry, a second
/// operator, or the loser of two concurrent rotations) answered 201 with a new
/// key that inherited the first rotation's retirement: with grace 0, born
/// expired. A rotated key now names its successor and is not rotated again.
#[test]
fn a_rotated_key_is_not_rotated_again() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let created = h.root("POST", "/v1/projects/acme/keys", json!({"name": "ci"})).json_body();
        let path = format!("/v1/projects/acme/keys/{}/rotate", created["id"].as_str().unwrap());
        let first = h.root("POST", &path, json!({"grace_seconds": 0}));
        assert_eq!(first.status, 201);
        harness.clock.advance(1);
        let second = h.root("POST", &path, json!({"grace_seconds": 0}));
        assert_eq!((second.status, code(&second)), (409, "KEY_ALREADY_ROTATED".to_owned()));
        let successor = first.json_body()["id"].clone();
        assert!(second.json_body()["error"]["message"].as_str().unwrap().contains(successor.as_str().unwrap()));
        let retired = h.root("GET", &path.replace("/rotate", ""), Value::Null).json_body();
        assert_eq!(retired["rotated_to"], successor);
        assert_eq!(h.verify(first.json_body()["key"].as_str().unwrap(), None)["valid"], true);
    })
}

/// Reproducer (attacker review): a `keys:write` key's DELETE judged the key
/// at one version and deleted whatever the key had become, here a key just
/// given `admin`, which it may not touch. It now deletes only what it judged.
#[test]
fn a_keys_delete_applies_only_to_the_version_it_judged() {
    with_race(|send, racing| {
        let created = |body: Value| send(root("POST", "/v1/projects/acme/keys", body)).json_body();
        let weak = created(json!({"name": "weak", "scopes": ["keys:write", "bots:read"]}));
        let target = created(json!({"name": "target", "scopes": ["bots:read"]}));
        let id = target["id"].as_str().unwrap().to_owned();
        let state = racing.inner.state(&id).unwrap();
        let mut promoted = state.record.unwrap();
        let version = promoted.updated_at;
        promoted.scopes = vec!["admin".into()];
        promoted.updated_at += 1;
        let put = LimiterCall::Put {
            digest: state.digest.unwrap(),
            record: promoted,
            expected: Some(version),
            entry: None,
            balance: None,
            lower_only: false,
            sealed: None,
        };
        *racing.before_next_write.borrow_mut() = Some((id.clone(), put));
        let weak_key = weak["key"].as_str().unwrap();
        let deleted = send(
            Request::new("DELETE", &format!("/v1/projects/acme/keys/{id}"))
                .with_header("Authorization", &format!("Bearer {weak_key}")),
        );
        assert_eq!((deleted.status, code(&deleted)), (403, "INSUFFICIENT_PERMISSIONS".to_owned()));
        assert!(!racing.inner.state(&id).unwrap().deleted);
        assert_eq!(verify(send, target["key"].as_str().unwrap())["valid"], true);
    })
}

/// The retire step of a rotation failing: if the old key's object took it,
/// the successor is handed over; if not, it is discarded, so no key lives
/// whose secret nobody has.
#[test]
fn a_rotation_whose_retire_step_failed_hands_over_or_discards_the_successor() {
    for applied in [true, false] {
        with_race(|send, racing| {
            let created = send(root("POST", "/v1/projects/acme/keys", json!({"name": "n"}))).json_body();
            let id = created["id"].as_str().unwrap().to_owned();
            *racing.fail_next_put_to.borrow_mut() = Some((id.clone(), applied));
            let rotated = send(root("POST", &format!("/v1/projects/acme/keys/{id}/rotate"), Value::Null));
            let old = send(root("GET", &format!("/v1/projects/acme/keys/{id}"), Value::Null)).json_body();
            let listed = send(root("GET", "/v1/projects/acme/keys", Value::Null)).json_body();
            let listed = listed["keys"].as_array().unwrap().len();
            if applied {
                assert_eq!(rotated.status, 201, "{}", rotated.json_body());
                let new = rotated.json_body();
                assert_eq!(old["rotated_to"], new["id"]);
                assert_eq!(verify(send, new["key"].as_str().unwrap())["valid"], true);
                assert_eq!(listed, 2);
            } else {
                assert_eq!(rotated.status, 503);
                assert_eq!(old["rotated_to"], Value::Null);
                assert_eq!(listed, 1, "the successor nobody holds is gone");
                assert_eq!(verify(send, created["key"].as_str().unwrap())["valid"], true);
            }
        });
    }
}
