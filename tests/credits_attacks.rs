//! Attacks on credits (#16) an attacker review found, each closed: a limited
//! writer rotating a richer key, refills during a rotation grace, a PATCH
//! racing a spend, an adopted key refilled at once.

mod support;

use keygate::app::http::Request;
use keygate::keystate::{digest_tag, LimiterCall};
use serde_json::{json, Value};
use support::racing::Racing;
use support::*;

fn key_path(key: &Value) -> String {
    format!("/v1/projects/acme/keys/{}", key["id"].as_str().unwrap())
}
fn secret(key: &Value) -> String {
    key["key"].as_str().unwrap().to_owned()
}
fn verify_cost(h: &Session<'_>, key: &str, cost: u64) -> Value {
    h.send(Request::new("POST", "/v1/keys/verify").with_body(json!({"key": key, "cost": cost}).to_string())).json_body()
}

/// A credit-limited keys:write key's secret, and two keys within its scopes
/// it must not take over: one unlimited, one with more credits than it has.
struct Writer {
    secret: String,
    unlimited: Value,
    rich: Value,
}

/// Runs `test` against a fresh [`Writer`] and its targets.
fn with_limited_writer(test: impl FnOnce(&Session<'_>, &Writer)) {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let writer =
            h.create("acme", json!({"name": "w", "scopes": ["keys:write", "bots:*"], "credits": {"remaining": 5}}));
        let unlimited = h.create("acme", json!({"name": "u", "scopes": ["bots:read"]}));
        let rich = h.create("acme", json!({"name": "r", "scopes": ["bots:read"], "credits": {"remaining": 1000000}}));
        test(h, &Writer { secret: secret(&writer), unlimited, rich })
    })
}

/// F1: `may_touch` ignores credits, so a credit-limited keys:write key rotates an
/// unlimited (or richer) key and receives its successor's secret: unlimited use.
#[test]
fn f1_a_limited_writer_cannot_take_over_an_unlimited_key_by_rotation() {
    with_limited_writer(|h, writer| {
        for target in [&writer.unlimited, &writer.rich] {
            let rotated = h.call("POST", &format!("{}/rotate", key_path(target)), &writer.secret, json!({}));
            let body = rotated.json_body();
            assert_eq!(rotated.status, 403, "limited writer obtained a key with credits {}", body["credits"]);
        }
    })
}

/// F3: during the rotation grace the retired key keeps its refill policy, so at the
/// next refill moment it gets `amount` again while the successor holds the moved balance.
#[test]
fn f3_a_retired_key_does_not_refill_during_its_grace() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let refill = json!({"interval": "daily", "amount": 100});
        let old = h.create("acme", json!({"name": "k", "credits": {"remaining": 100, "refill": refill}}));
        let rotated = h.root("POST", &format!("{}/rotate", key_path(&old)), json!({"grace_seconds": 604800}));
        assert_eq!(rotated.status, 201);
        // NOW is 08:00 UTC; go past midnight.
        h.harness.clock.advance(17 * 3600 * 1000);
        let during_grace = verify_cost(h, &secret(&old), 1);
        assert_eq!(during_grace["code"], "USAGE_EXCEEDED", "the retired key refilled: {during_grace}");
    })
}

/// F4: a keys:write key's PATCH `credits.remaining` is checked against the balance it
/// READ, then written unconditionally (the version CAS ignores the balance): spends
/// that land between the read and the write are refunded.
#[test]
fn f4_a_patch_racing_a_spend_does_not_refund_it() {
    let harness = Harness::new();
    let racing = Racing::new(&harness.clock);
    let app = app(&harness.config, &harness.store, &racing, &harness.origin, &harness.clock);
    let send = |request: Request| send(&app, request);
    let root = |m: &str, p: &str, b: Value| {
        let r = Request::new(m, p).with_header("Authorization", &format!("Bearer {ADMIN_TOKEN}"));
        send(if b.is_null() { r } else { r.with_body(b.to_string()) })
    };
    let writer = seed(&harness.store, &["keys:write", "bots:*"], |_| {});
    let target = root("POST", "/v1/projects/acme/keys", json!({"name": "t", "credits": {"remaining": 10}})).json_body();
    let id = target["id"].as_str().unwrap().to_owned();
    let digest = racing.inner.state(&id).unwrap().digest.unwrap();
    // The target spends all 10 between the PATCH's read and its write.
    let spend = LimiterCall::Check {
        tag: digest_tag(&digest),
        seen_updated_at: racing.inner.state(&id).unwrap().record.unwrap().updated_at,
        adopt: None,
        scope: None,
        project: None,
        cost: 10,
        ip: None,
    };
    *racing.before_next_write.borrow_mut() = Some((id.clone(), spend));
    let patched = send(
        Request::new("PATCH", &key_path(&target))
            .with_header("Authorization", &format!("Bearer {writer}"))
            .with_body(json!({"credits": {"remaining": 10}}).to_string()),
    );
    assert_eq!(patched.status, 200, "a lowering PATCH is allowed");
    let left = root("GET", &key_path(&target), Value::Null).json_body()["credits"]["remaining"].clone();
    assert_eq!(left, json!(0), "10 credits spent, then refunded by a keys:write PATCH that may only lower");
}

/// F3b: a limited keys:write key rotating itself repeatedly: a retired key
/// kept refilling daily for its grace (up to 7 days) next to its successor.
#[test]
fn f3b_a_self_rotation_chain_does_not_multiply_refills() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let refill = json!({"interval": "daily", "amount": 100});
        let mut current = h.create(
            "acme",
            json!({"name": "k", "scopes": ["keys:write"], "credits": {"remaining": 100, "refill": refill}}),
        );
        let mut retired = Vec::new();
        for _ in 0..5 {
            let rotated = h.call(
                "POST",
                &format!("{}/rotate", key_path(&current)),
                &secret(&current),
                json!({"grace_seconds": 604800}),
            );
            assert_eq!(rotated.status, 201, "{}", rotated.json_body());
            retired.push(secret(&current));
            current = rotated.json_body();
        }
        h.harness.clock.advance(17 * 3600 * 1000);
        let mut total = verify_cost(h, &secret(&current), 0)["credits"]["remaining"].as_u64().unwrap();
        for old in &retired {
            total += verify_cost(h, old, 0)["credits"]["remaining"].as_u64().unwrap();
        }
        assert!(total <= 100, "one daily refill of 100 became {total}");
    })
}

/// F5 (low): a key with credits whose object never held a balance (adopted from a
/// KV-only record) is documented to have none left, but gets a full refill at once.
#[test]
fn f5_an_adopted_key_without_balance_has_none_left() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let key = seed(&harness.store, &[], |record| {
            record.credits = Some(keygate::credits::Credits {
                refill: Some(serde_json::from_value(json!({"interval": "monthly", "amount": 1000000})).unwrap()),
            });
        });
        let answer = verify_cost(h, &key, 1);
        assert_eq!(answer["code"], "USAGE_EXCEEDED", "{answer}");
    })
}

/// F1b: rotating a richer key hands its whole balance to the limited writer.
#[test]
fn f1b_a_limited_writer_cannot_take_over_a_richer_key_by_rotation() {
    with_limited_writer(|h, writer| {
        let rotated = h.call("POST", &format!("{}/rotate", key_path(&writer.rich)), &writer.secret, json!({}));
        assert_eq!(rotated.status, 403);
    })
}

/// R1: a credit-limited keys:write key PATCHes its scopes (keys:write included)
/// onto an unlimited key it holds too: that key then mints unlimited keys.
#[test]
fn r1_a_limited_writer_cannot_widen_an_unlimited_key_by_patch() {
    with_limited_writer(|h, writer| {
        for target in [&writer.unlimited, &writer.rich] {
            let patched =
                h.call("PATCH", &key_path(target), &writer.secret, json!({"scopes": ["bots:*", "keys:write"]}));
            if patched.status == 200 && target["name"] == "u" {
                let minted = h.call(
                    "POST",
                    "/v1/projects/acme/keys",
                    &secret(target),
                    json!({"name": "x", "scopes": ["bots:write"]}),
                );
                eprintln!("unlimited key now mints: {} {}", minted.status, minted.json_body()["credits"]);
            }
            assert_eq!(patched.status, 403, "limited writer widened {}: {}", target["name"], patched.json_body());
        }
    })
}
