//! The control plane under faults (reproducers from an attacker review, each
//! failing before its fix): failed pushes, KV failures after the object
//! write, concurrent deletions, deletions with counts unpushed, large imports.

mod support;

use std::cell::RefCell;

use keygate::app::limiter::Limiter as _;
use keygate::app::store::{KeyValueStore, ListPage};
use keygate::error::Error;
use keygate::ids::{KeyId, ProjectId};
use keygate::key::{ApiKey, Environment, KeyPrefixes};
use keygate::keystate::delivery::RETRY_MILLIS;
use keygate::keystate::{KeyObject, LimiterAnswer, LimiterCall};
use keygate::project::{Action, Actor, AuditEvent, CatalogChange, OutboxEntry};
use keygate::testing::MemoryStore;
use serde_json::{json, Value};
use support::racing::Racing;
use support::*;

/// Was: once a push was in flight and unacknowledged, the push timer
/// overrode the retry time and the alarm re-armed at once: thousands of
/// failed deliveries a second, feeding the outage.
#[test]
fn a_failed_usage_push_waits_for_its_retry_time() {
    let key = ApiKey::generate(Environment::Live, &KeyPrefixes::default()).unwrap();
    let rec = record(&KeyId::generate().unwrap(), "acme", &key, &[]);
    let digest = key.digest().to_hex();
    let mut object = KeyObject::default();
    let check = |object: &mut KeyObject, now| {
        object.on_call(
            LimiterCall::Check {
                tag: keygate::keystate::digest_tag(&digest),
                seen_updated_at: rec.updated_at,
                adopt: Some(keygate::keystate::Adopt { digest: digest.clone(), record: rec.clone() }),
                scope: None,
                project: None,
                cost: 1,
                ip: None,
            },
            now,
        )
    };
    let mut now = NOW;
    check(&mut object, now);
    now += 1_000;
    let first = object.on_alarm(now).deliver.expect("first push");
    // Traffic continues while the push is in flight; the runtime keeps the alarm last set.
    let mut pending = check(&mut object, now + 1).set_alarm_at;
    pending = object.delivered(&first, false, now + 2).set_alarm_at.or(pending);
    let (mut deliveries, start) = (0, now);
    for _ in 0..100_000 {
        let Some(at) = pending.take() else { break };
        now = at.max(now + 1); // the runtime fires at least 1 ms later
        if now - start > 10_000 {
            break;
        }
        let plan = object.on_alarm(now);
        pending = plan.set_alarm_at;
        if let Some(delivery) = plan.deliver {
            deliveries += 1;
            pending = object.delivered(&delivery, false, now).set_alarm_at.or(pending);
        }
    }
    assert_eq!(deliveries, 0, "a failed push is retried after RETRY_MILLIS (30 s), not at once");
}

/// A key deleted in its object whose KV record and pointer an older half-failed
/// DELETE left behind is imported as live; the documented remedy (DELETE
/// again) cleans KV and now removes the catalog row too.
#[test]
fn a_deleted_key_imported_from_leftovers_goes_with_the_cleanup_delete() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let key = seed(&harness.store, &[], |r| r.name = "ghost".into());
        let id = h.verify(&key, None)["key_id"].as_str().unwrap().to_owned();
        let digest = ApiKey::parse(&key, &KeyPrefixes::default()).unwrap().digest().to_hex();
        harness.store.insert_raw(&format!("p:acme:{id}"), &digest);
        let key_id = KeyId::parse(&id).unwrap();
        let deleted =
            futures_executor::block_on(h.limiter.call(&key_id, LimiterCall::Delete { expected: None, entry: None }));
        assert_eq!(deleted.unwrap(), LimiterAnswer::Done);
        assert_eq!(h.root("GET", &format!("/v1/projects/acme/keys/{id}"), Value::Null).status, 404);
        assert_eq!(h.listed_names("acme"), ["ghost"], "a deleted key is imported as live");
        assert_eq!(h.root("DELETE", &format!("/v1/projects/acme/keys/{id}"), Value::Null).status, 204);
        assert!(h.listed_names("acme").is_empty(), "gone with the cleanup DELETE");
        let projects = h.root("GET", "/v1/projects", Value::Null).json_body();
        assert_eq!(projects["projects"], json!([]));
    })
}

/// KV failing after the object write on create: 503, and the key (which could
/// never verify without its KV record) is discarded with what it queued.
#[test]
fn a_create_answered_503_leaves_no_key_listed_or_logged() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        harness.store.fail_writes(true);
        let response = h.root("POST", "/v1/projects/acme/keys", json!({"name": "phantom"}));
        assert_eq!(response.status, 503);
        harness.store.fail_writes(false);
        h.settle();
        assert!(h.listed_names("acme").is_empty());
        assert!(h.audit_actions("acme").is_empty());
    })
}

/// A store whose puts of one name fail.
#[derive(Default)]
struct FlakyStore {
    inner: MemoryStore,
    fail_put: RefCell<Option<String>>,
}

impl KeyValueStore for FlakyStore {
    async fn get(&self, name: &str) -> Result<Option<String>, Error> {
        self.inner.get(name).await
    }
    async fn put(&self, name: &str, value: &str, metadata: Option<Value>) -> Result<(), Error> {
        if self.fail_put.borrow().as_deref() == Some(name) {
            return Err(Error::Unavailable("flaky".into()));
        }
        self.inner.put(name, value, metadata).await
    }
    async fn delete(&self, name: &str) -> Result<(), Error> {
        self.inner.delete(name).await
    }
    async fn list(&self, prefix: &str, limit: usize, cursor: Option<&str>) -> Result<ListPage, Error> {
        self.inner.list(prefix, limit, cursor).await
    }
}

/// The retire write of a rotation reaches the object, then its KV save fails.
/// Was: 503, the new secret lost while the old key was retired at once. The
/// object decides every use, so the rotation stands and its answer is given.
#[test]
fn a_rotation_whose_kv_index_write_fails_still_answers_the_new_secret() {
    let harness = Harness::new();
    let store = FlakyStore::default();
    let limiter = keygate::testing::MemoryLimiter::new(&harness.clock);
    let app = app(&harness.config, &store, &limiter, &harness.origin, &harness.clock);
    let root = |method: &str, path: &str, body: Value| {
        let mut request = keygate::app::http::Request::new(method, path)
            .with_header("Authorization", &format!("Bearer {ADMIN_TOKEN}"));
        if !body.is_null() {
            request = request.with_body(body.to_string());
        }
        send(&app, request)
    };
    let created = root("POST", "/v1/projects/acme/keys", json!({"name": "prod"})).json_body();
    let (id, key) = (created["id"].as_str().unwrap().to_owned(), created["key"].as_str().unwrap().to_owned());
    let digest = ApiKey::parse(&key, &KeyPrefixes::default()).unwrap().digest().to_hex();
    harness.clock.advance(1);
    *store.fail_put.borrow_mut() = Some(format!("k:{digest}"));
    let rotated = root("POST", &format!("/v1/projects/acme/keys/{id}/rotate"), Value::Null);
    assert_eq!(rotated.status, 201);
    let new_key = rotated.json_body()["key"].as_str().unwrap().to_owned();
    *store.fail_put.borrow_mut() = None;
    harness.clock.advance(1);
    let verify = |key: &str| {
        let request =
            keygate::app::http::Request::new("POST", "/v1/keys/verify").with_body(json!({"key": key}).to_string());
        send(&app, request).json_body()
    };
    assert_eq!(verify(&key)["code"], "API_KEY_EXPIRED", "the stale KV copy does not keep the old key alive");
    assert_eq!(verify(&new_key)["valid"], true);
    harness.clock.advance(RETRY_MILLIS + 1);
    limiter.ring_alarms();
    let audit = root("GET", "/v1/projects/acme/audit", Value::Null).json_body();
    assert_eq!(audit["events"][0]["action"], "key.rotated");
}

/// Another request's DELETE of `key_id`, with its own audit event.
fn winning_delete(key_id: &KeyId) -> LimiterCall {
    let event = AuditEvent {
        id: "evt_winnerwinnerwinnerwin".into(),
        at: NOW,
        action: Action::KeyDeleted,
        key_id: Some(key_id.clone()),
        actor: Actor::AdminToken,
        changes: None,
        new_key_id: None,
        owner_id: None,
        origin: Default::default(),
    };
    let entry = OutboxEntry {
        id: event.id.clone(),
        project: ProjectId::parse("acme").unwrap(),
        change: CatalogChange::Remove { key_id: key_id.clone(), version: NOW + 5 },
        event: Some(event),
        notice: None,
    };
    LimiterCall::Delete { expected: None, entry: Some(entry) }
}

/// The loser of two concurrent DELETEs gets `Gone` from the object: it
/// answers 204 but logs no second deletion in its own name.
#[test]
fn the_loser_of_two_concurrent_deletes_logs_nothing() {
    let harness = Harness::new();
    let racing = Racing::new(&harness.clock);
    let app = app(&harness.config, &harness.store, &racing, &harness.origin, &harness.clock);
    let root = |method: &str, path: &str, body: Value| {
        let mut request = keygate::app::http::Request::new(method, path)
            .with_header("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
            .with_header("User-Agent", "loser");
        if !body.is_null() {
            request = request.with_body(body.to_string());
        }
        send(&app, request)
    };
    let id =
        root("POST", "/v1/projects/acme/keys", json!({"name": "k"})).json_body()["id"].as_str().unwrap().to_owned();
    // The other request (an admin-token DELETE) gets there first, with its own event.
    *racing.before_next_write.borrow_mut() = Some((id.clone(), winning_delete(&KeyId::parse(&id).unwrap())));
    assert_eq!(root("DELETE", &format!("/v1/projects/acme/keys/{id}"), Value::Null).status, 204);
    harness.clock.advance(RETRY_MILLIS + 1);
    racing.inner.ring_alarms();
    let audit = root("GET", "/v1/projects/acme/audit", Value::Null).json_body();
    let deleted: Vec<&Value> =
        audit["events"].as_array().unwrap().iter().filter(|e| e["action"] == "key.deleted").collect();
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert_eq!(deleted[0]["id"], "evt_winnerwinnerwinnerwin");
}

/// Importing keys an older version wrote costs two KV reads a key: a listing
/// imports a bounded batch (within a request's 1000 operations), answers 503
/// while more remain, and the next listing resumes where it stopped.
#[test]
fn a_large_import_stays_within_a_request_budget_and_resumes() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        for _ in 0..600 {
            let key = ApiKey::generate(Environment::Live, &KeyPrefixes::default()).unwrap();
            let id = KeyId::generate().unwrap();
            let stored = record(&id, "acme", &key, &[]);
            harness.store.insert_raw(&format!("k:{}", key.digest().to_hex()), &serde_json::to_string(&stored).unwrap());
            harness.store.insert_raw(&format!("p:acme:{id}"), &key.digest().to_hex());
        }
        let before = harness.store.reads();
        let first = h.root("GET", "/v1/projects/acme/keys?limit=1", Value::Null);
        assert_eq!(first.status, 503, "more remain: retry");
        assert!(harness.store.reads() - before <= 900, "{} reads", harness.store.reads() - before);
        let second = h.root("GET", "/v1/projects/acme/keys?limit=100", Value::Null);
        assert_eq!(second.status, 200);
        let mut seen = second.json_body()["keys"].as_array().unwrap().len();
        let mut cursor = second.json_body()["cursor"].as_str().map(str::to_owned);
        while let Some(next) = cursor {
            let page =
                h.root("GET", &format!("/v1/projects/acme/keys?limit=100&cursor={next}"), Value::Null).json_body();
            seen += page["keys"].as_array().unwrap().len();
            cursor = page["cursor"].as_str().map(str::to_owned);
        }
        assert_eq!(seen, 600, "every key imported once");
    })
}

/// Counts not yet pushed when the key is deleted still reach the project.
#[test]
fn counts_not_yet_pushed_reach_the_project_after_a_deletion() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let created = h.create("acme", json!({"name": "busy"}));
        let key = created["key"].as_str().unwrap();
        for _ in 0..5 {
            assert_eq!(h.verify(key, None)["valid"], true);
        }
        let id = created["id"].as_str().unwrap();
        assert_eq!(h.root("DELETE", &format!("/v1/projects/acme/keys/{id}"), Value::Null).status, 204);
        h.settle();
        h.settle();
        let usage = h.root("GET", "/v1/projects/acme/usage", Value::Null).json_body();
        assert_eq!(usage["totals"]["valid"], 5, "{usage}");
    })
}

/// Reproducer (attacker review): the cleanup of a half-failed deletion
/// skipped the project and power checks, so a `keys:write` key of another
/// project could finish (and so break) the owner's retry.
#[test]
fn only_the_keys_own_project_finishes_a_half_failed_deletion() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let victim = h.create("other", json!({"name": "ops", "scopes": ["admin"]}));
        let id = victim["id"].as_str().unwrap();
        harness.store.fail_writes(true);
        assert_eq!(h.root("DELETE", &format!("/v1/projects/other/keys/{id}"), Value::Null).status, 503);
        harness.store.fail_writes(false);
        let weak = seed(&harness.store, &["keys:write"], |_| {});
        let foreign = h.call("DELETE", &format!("/v1/projects/acme/keys/{id}"), &weak, Value::Null);
        assert_eq!((foreign.status, code(&foreign)), (404, "KEY_NOT_FOUND".to_owned()));
        let retry = h.root("DELETE", &format!("/v1/projects/other/keys/{id}"), Value::Null);
        assert_eq!(retry.status, 204, "the owner's retry still finishes the cleanup");
    })
}
