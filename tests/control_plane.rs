//! The control plane through the app: the catalog agrees with the keys'
//! objects and KV after any sequence of admin writes, the outbox delivers
//! what an unreachable project object missed exactly once, and keys from
//! before the catalog are imported.

mod support;

use std::collections::BTreeMap;

use keygate::keystate::delivery::{OUTBOX_DELAY_MILLIS, RETRY_MILLIS};
use keygate::record::KeyRecord;
use proptest::prelude::*;
use serde_json::{json, Value};
use support::*;

const PROJECT: &str = "model";

#[derive(Debug, Clone)]
enum Op {
    Create { scopes: usize },
    Patch { key: usize, scopes: usize },
    Disable { key: usize },
    Rotate { key: usize },
    Delete { key: usize },
    ProjectsDown(bool),
    Wait,
}

const SCOPE_SETS: [&[&str]; 3] = [&[], &["bots:read"], &["bots:*", "users:read"]];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize).prop_map(|scopes| Op::Create { scopes }),
        2 => (0..8usize, 0..3usize).prop_map(|(key, scopes)| Op::Patch { key, scopes }),
        1 => (0..8usize).prop_map(|key| Op::Disable { key }),
        1 => (0..8usize).prop_map(|key| Op::Rotate { key }),
        1 => (0..8usize).prop_map(|key| Op::Delete { key }),
        1 => any::<bool>().prop_map(Op::ProjectsDown),
        1 => Just(Op::Wait),
    ]
}

fn listing(h: &Session<'_>) -> BTreeMap<String, Value> {
    let mut keys = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = cursor.as_ref().map_or(String::new(), |cursor| format!("&cursor={cursor}"));
        let page = h.root("GET", &format!("/v1/projects/{PROJECT}/keys?limit=7{query}"), Value::Null);
        assert_eq!(page.status, 200, "{}", page.json_body());
        let body = page.json_body();
        for key in body["keys"].as_array().unwrap() {
            assert!(keys.insert(key["id"].as_str().unwrap().to_owned(), key.clone()).is_none(), "listed twice");
        }
        match body["cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return keys,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Whatever the admin writes, and whenever the project's object was
    /// unreachable: once the outboxes have delivered, the catalog holds
    /// exactly the keys their objects hold, as their objects hold them, KV
    /// holds a record for each, and each successful write has one event.
    #[test]
    fn catalog_key_objects_and_kv_agree(ops in prop::collection::vec(op(), 1..25)) {
        let harness = Harness::new();
        harness.with_limiter(|h| {
            let mut ids: Vec<String> = Vec::new();
            let mut expected_events: BTreeMap<&str, usize> = BTreeMap::new();
            let path = |id: &str| format!("/v1/projects/{PROJECT}/keys/{id}");
            for op in ops {
                let (answer, action) = match op {
                    Op::Create { scopes } => {
                        let body = json!({"name": format!("k{}", ids.len()), "scopes": SCOPE_SETS[scopes]});
                        (h.root("POST", &format!("/v1/projects/{PROJECT}/keys"), body), "key.created")
                    }
                    Op::Patch { key, scopes } if key < ids.len() => {
                        (h.root("PATCH", &path(&ids[key]), json!({"scopes": SCOPE_SETS[scopes]})), "key.updated")
                    }
                    Op::Disable { key } if key < ids.len() => {
                        (h.root("PATCH", &path(&ids[key]), json!({"status": "inactive"})), "key.updated")
                    }
                    Op::Rotate { key } if key < ids.len() => {
                        (h.root("POST", &format!("{}/rotate", path(&ids[key])), json!({"grace_seconds": 60})), "key.rotated")
                    }
                    Op::Delete { key } if key < ids.len() => (h.root("DELETE", &path(&ids[key]), Value::Null), "key.deleted"),
                    Op::ProjectsDown(down) => {
                        h.limiter.fail_projects(down);
                        continue;
                    }
                    Op::Wait => {
                        h.harness.clock.advance(OUTBOX_DELAY_MILLIS + 1);
                        h.limiter.ring_alarms();
                        continue;
                    }
                    _ => continue,
                };
                h.harness.clock.advance(1);
                if answer.status < 300 {
                    *expected_events.entry(action).or_default() += 1;
                    if let Some(id) = answer.json_body()["id"].as_str() {
                        if !ids.iter().any(|known| known == id) {
                            ids.push(id.to_owned());
                        }
                    }
                } else {
                    // Only a key deleted or rotated before may refuse a write.
                    prop_assert!([404, 409].contains(&answer.status), "{} {}", answer.status, answer.json_body());
                }
            }
            h.settle();
            let catalog = listing(h);
            let mut live = BTreeMap::new();
            for id in h.limiter.key_ids() {
                let state = h.limiter.state(&id).unwrap();
                prop_assert!(state.outbox.is_empty(), "{id}'s outbox was delivered");
                if let Some(record) = state.record.filter(|_| !state.deleted) {
                    live.insert(id, record);
                }
            }
            prop_assert_eq!(catalog.keys().collect::<Vec<_>>(), live.keys().collect::<Vec<_>>());
            let kv_records: Vec<KeyRecord> = h.harness.store.dump().iter()
                .filter(|(name, _, _)| name.starts_with("k:"))
                .map(|(_, json, _)| serde_json::from_str(json).unwrap())
                .collect();
            for (id, record) in &live {
                let mut shown = record.to_json();
                shown["last_used_at"] = Value::Null;
                prop_assert_eq!(&catalog[id], &shown);
                prop_assert!(kv_records.iter().any(|kv| kv == record), "KV holds {id} as its object does");
            }
            prop_assert_eq!(kv_records.len(), live.len(), "no KV record outlives its key");
            let mut actions = h.audit_actions(PROJECT);
            actions.sort();
            let mut expected: Vec<String> = expected_events.iter()
                .flat_map(|(action, n)| std::iter::repeat_n(action.to_string(), *n))
                .collect();
            expected.sort();
            prop_assert_eq!(actions, expected, "one event per successful write");
            Ok(())
        })?;
    }
}

/// The project's object is down during a write: the write succeeds (enforced
/// and queued), the listing catches up when the outbox delivers, and a
/// second delivery of the same entries changes nothing.
#[test]
fn the_outbox_delivers_what_the_project_object_missed_exactly_once() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        h.create("acme", json!({"name": "first"}));
        h.harness.clock.advance(1);
        h.limiter.fail_projects(true);
        let created = h.root("POST", "/v1/projects/acme/keys", json!({"name": "during the outage"}));
        assert_eq!(created.status, 201, "a write does not wait for the project's object");
        let key = created.json_body()["key"].as_str().unwrap().to_owned();
        assert_eq!(h.verify(&key, None)["valid"], true, "and is in force at once");
        assert_eq!(h.root("GET", "/v1/projects/acme/keys", Value::Null).status, 503, "listings need the object");
        h.limiter.fail_projects(false);
        assert_eq!(h.listed_names("acme"), ["first"], "not delivered yet");
        h.harness.clock.advance(OUTBOX_DELAY_MILLIS);
        assert_eq!(h.limiter.ring_alarms(), 2, "both keys' outboxes deliver");
        assert_eq!(h.listed_names("acme"), ["during the outage", "first"]);
        let events =
            || h.root("GET", "/v1/projects/acme/audit", Value::Null).json_body()["events"].as_array().unwrap().len();
        assert_eq!(events(), 2);
        // Nothing is owed any more, and a redelivery (an acknowledgement lost) would change nothing.
        h.harness.clock.advance(RETRY_MILLIS);
        assert_eq!(h.limiter.ring_alarms(), 0);
        assert_eq!(events(), 2);
    })
}

#[test]
fn a_failed_delivery_is_retried_until_acknowledged() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        h.limiter.fail_projects(true);
        assert_eq!(h.root("POST", "/v1/projects/acme/keys", json!({"name": "queued"})).status, 201);
        h.harness.clock.advance(OUTBOX_DELAY_MILLIS);
        assert_eq!(h.limiter.ring_alarms(), 0, "still down");
        h.limiter.fail_projects(false);
        h.harness.clock.advance(RETRY_MILLIS - 1);
        assert_eq!(h.limiter.ring_alarms(), 0, "not before the retry time");
        h.harness.clock.advance(1);
        assert_eq!(h.limiter.ring_alarms(), 1);
        assert_eq!(h.listed_names("acme"), ["queued"]);
    })
}

/// Keys written by an older version (a KV record and a `p:` pointer, no
/// object) are listed once their project's catalog is first read, keep
/// working, and lose their pointer once written.
#[test]
fn keys_from_before_the_catalog_are_imported_on_first_listing() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let key = seed(&harness.store, &["bots:read"], |_| {});
        let id = h.verify(&key, None)["key_id"].as_str().unwrap().to_owned();
        let digest =
            keygate::key::ApiKey::parse(&key, &keygate::key::KeyPrefixes::default()).unwrap().digest().to_hex();
        harness.store.insert_raw(&format!("p:acme:{id}"), &digest);
        let listed = h.root("GET", "/v1/projects/acme/keys", Value::Null).json_body();
        assert_eq!(listed["keys"][0]["id"], json!(id));
        assert_eq!(listed["keys"][0]["scopes"], json!(["bots:read"]));
        let projects = h.root("GET", "/v1/projects", Value::Null).json_body();
        assert_eq!(projects["projects"], json!([{"id": "acme", "keys": 1}]));
        assert_eq!(h.root("PATCH", &format!("/v1/projects/acme/keys/{id}"), json!({"name": "renamed"})).status, 200);
        assert!(!harness.store.dump().iter().any(|(name, _, _)| name.starts_with("p:")), "the pointer went");
        assert_eq!(h.verify(&key, None)["valid"], true);
        assert_eq!(h.root("GET", &format!("/v1/projects/acme/keys/{id}"), Value::Null).json_body()["name"], "renamed");
    })
}

/// Reproducer (review): a key asking for the projects list was verified
/// first, so its refusal spent a rate-limit token and counted as a use.
#[test]
fn the_projects_list_refuses_a_key_without_spending_it() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let key = seed(&harness.store, &["keys:read"], |_| {});
        let id = h.verify(&key, None)["key_id"].as_str().unwrap().to_owned();
        let before = h.limiter.state(&id).unwrap();
        let refused = h.call("GET", "/v1/projects", &key, Value::Null);
        assert_eq!((refused.status, code(&refused)), (403, "INSUFFICIENT_PERMISSIONS".to_owned()));
        let after = h.limiter.state(&id).unwrap();
        assert_eq!((after.limit, after.last_used_at), (before.limit, before.last_used_at));
        assert_eq!(after.usage, before.usage, "not counted as a use");
        assert_eq!(h.call("GET", "/v1/projects", "not-the-admin-token-at-all", Value::Null).status, 401);
    })
}
