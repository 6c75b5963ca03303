//! Credits (#16) through the admin API, verify and the gateway: spending,
//! the credits route, what a `keys:write` key may do with credits, and the
//! balance a rotation hands over.

mod support;

use keygate::app::http::Request;
use serde_json::{json, Value};
use support::*;

fn key_path(key: &Value) -> String {
    format!("/v1/projects/acme/keys/{}", key["id"].as_str().unwrap())
}

fn secret(key: &Value) -> String {
    key["key"].as_str().unwrap().to_owned()
}

/// A verification by the backend (the admin token asks the cost).
fn verify_cost(h: &Session<'_>, key: &str, cost: Option<u64>) -> keygate::app::http::Response {
    let body = match cost {
        Some(cost) => json!({"key": key, "cost": cost}),
        None => json!({"key": key}),
    };
    let request =
        Request::new("POST", "/v1/keys/verify").with_header("Authorization", &format!("Bearer {ADMIN_TOKEN}"));
    h.send(request.with_body(body.to_string()))
}

fn header(response: &keygate::app::http::Response, name: &str) -> Option<String> {
    response.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
}

#[test]
fn verify_spends_cost_and_reports_what_remains() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let key = h.create("acme", json!({"name": "trial", "credits": {"remaining": 10}}));
        assert_eq!(key["credits"], json!({"remaining": 10, "refill": null}));
        let once = verify_cost(h, &secret(&key), None);
        assert_eq!(once.json_body()["credits"], json!({"remaining": 9}));
        assert_eq!(header(&once, "x-credits-remaining").as_deref(), Some("9"));
        assert_eq!(verify_cost(h, &secret(&key), Some(5)).json_body()["credits"]["remaining"], 4);
        let short = verify_cost(h, &secret(&key), Some(5));
        let body = short.json_body();
        assert_eq!((body["valid"].clone(), body["code"].clone()), (json!(false), json!("USAGE_EXCEEDED")));
        assert_eq!(body["credits"]["remaining"], 4, "a refused request spends nothing");
        assert_eq!(header(&short, "x-credits-remaining").as_deref(), Some("4"));
        let shown = h.root("GET", &key_path(&key), Value::Null).json_body();
        assert_eq!(shown["credits"]["remaining"], 4);
        // A key without credits reports none.
        let unlimited = h.create("acme", json!({"name": "unlimited"}));
        let answer = verify_cost(h, &secret(&unlimited), Some(1_000_000));
        assert_eq!(
            (answer.json_body()["valid"].clone(), answer.json_body()["credits"].clone()),
            (json!(true), Value::Null)
        );
        assert_eq!(header(&answer, "x-credits-remaining"), None);
        assert_eq!(h.root("GET", &key_path(&unlimited), Value::Null).json_body()["credits"], Value::Null);
        let refused =
            h.send(Request::new("POST", "/v1/keys/verify").with_body(json!({"key": "x", "cost": -1}).to_string()));
        assert_eq!((refused.status, refused.json_body()["error"]["field"].clone()), (400, json!("cost")));
        // Attacker review: anyone may call verify; a cost above 1 could spend a
        // whole balance (a key's, or its owner's) at once, so it is the backend's to ask.
        let plain = |body: Value| h.send(Request::new("POST", "/v1/keys/verify").with_body(body.to_string()));
        let drain = plain(json!({"key": secret(&key), "cost": 4}));
        assert_eq!((drain.status, drain.json_body()["error"]["field"].clone()), (403, json!("cost")));
        let as_key = h.send(
            Request::new("POST", "/v1/keys/verify")
                .with_header("Authorization", &format!("Bearer {}", secret(&unlimited)))
                .with_body(json!({"key": secret(&key), "cost": 4}).to_string()),
        );
        assert_eq!(as_key.status, 403, "only the admin token asks a cost");
        assert_eq!(plain(json!({"key": secret(&key), "cost": 1})).json_body()["credits"]["remaining"], 3);
        assert_eq!(plain(json!({"key": secret(&key), "cost": 0})).json_body()["credits"]["remaining"], 3);
    })
}

#[test]
fn the_gateway_refuses_an_exhausted_key_with_429_and_the_next_refill() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let refill = json!({"interval": "daily", "amount": 3});
        let key = h.create(
            "acme",
            json!({"name": "k", "scopes": ["bots:read"], "credits": {"remaining": 1, "refill": refill}}),
        );
        assert_eq!(key["credits"]["refill"], json!({"interval": "daily", "amount": 3}));
        let get = || h.send(Request::new("GET", "/v1/projects/acme/bots/1").with_header("X-API-Key", &secret(&key)));
        let admitted = get();
        assert_eq!((admitted.status, header(&admitted, "x-credits-remaining").as_deref()), (200, Some("0")));
        let refused = get();
        assert_eq!((refused.status, code(&refused)), (429, "USAGE_EXCEEDED".to_owned()));
        // NOW is 08:00 UTC: the refill comes in 16 hours.
        assert_eq!(header(&refused, "retry-after").as_deref(), Some("57600"));
        assert_eq!(refused.json_body()["error"]["retry_after"], 57600);
        h.harness.clock.advance(16 * 3600 * 1000);
        assert_eq!(h.root("GET", &key_path(&key), Value::Null).json_body()["credits"]["remaining"], 3);
        assert_eq!(get().status, 200);
    })
}

#[test]
fn the_credits_route_sets_increments_and_decrements_and_is_audited() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let key = h.create("acme", json!({"name": "k", "credits": {"remaining": 5}}));
        let path = format!("{}/credits", key_path(&key));
        let change = |op: &str, amount: i64| h.root("POST", &path, json!({"op": op, "amount": amount}));
        assert_eq!(change("increment", 3).json_body(), json!({"remaining": 8}));
        assert_eq!(change("decrement", 100).json_body(), json!({"remaining": 0}), "down to 0 at most");
        assert_eq!(change("set", 20).json_body(), json!({"remaining": 20}));
        for bad in [
            json!({"op": "set"}),
            json!({"op": "double", "amount": 1}),
            json!({"op": "set", "amount": -1}),
            json!({"op": "set", "amount": 1, "x": 1}),
        ] {
            assert_eq!(h.root("POST", &path, bad.clone()).status, 400, "{bad}");
        }
        assert_eq!(verify_cost(h, &secret(&key), None).json_body()["credits"]["remaining"], 19);
        let unlimited = h.create("acme", json!({"name": "u"}));
        let none = h.root("POST", &format!("{}/credits", key_path(&unlimited)), json!({"op": "set", "amount": 1}));
        assert_eq!((none.status, code(&none)), (409, "KEY_HAS_NO_CREDITS".to_owned()));
        h.settle();
        let events = h.root("GET", "/v1/projects/acme/audit?limit=100", Value::Null).json_body()["events"].clone();
        let credits: Vec<&Value> =
            events.as_array().unwrap().iter().filter(|e| e["action"] == "key.credits_updated").collect();
        assert_eq!(credits.len(), 3);
        for change in [json!({"from": 5, "to": 8}), json!({"from": 8, "to": 0}), json!({"from": 0, "to": 20})] {
            assert!(credits.iter().any(|event| event["changes"]["credits"] == change), "{change}");
        }
    })
}

#[test]
fn patch_sets_keeps_and_removes_credits() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let key = h.create("acme", json!({"name": "k"}));
        let path = key_path(&key);
        let given = h.root(
            "PATCH",
            &path,
            json!({"credits": {"remaining": 4, "refill": {"interval": "monthly", "amount": 4}}}),
        );
        assert_eq!(
            given.json_body()["credits"],
            json!({"remaining": 4, "refill": {"interval": "monthly", "amount": 4, "day": 1}})
        );
        verify_cost(h, &secret(&key), Some(3));
        let renamed = h.root("PATCH", &path, json!({"name": "renamed"}));
        assert_eq!(renamed.json_body()["credits"]["remaining"], 1, "a PATCH without credits keeps the balance");
        let listed = h.root("GET", "/v1/projects/acme/keys", Value::Null).json_body();
        assert_eq!(
            listed["keys"][0]["credits"],
            json!({"remaining": null, "refill": {"interval": "monthly", "amount": 4, "day": 1}})
        );
        assert_eq!(h.root("PATCH", &path, json!({"credits": null})).json_body()["credits"], Value::Null);
        h.settle();
        let events =
            h.root("GET", "/v1/projects/acme/audit?action=key.updated", Value::Null).json_body()["events"].clone();
        let noted: Vec<&Value> =
            events.as_array().unwrap().iter().filter_map(|event| event["changes"].get("credits")).collect();
        let monthly = json!({"interval": "monthly", "amount": 4, "day": 1});
        assert_eq!(noted.len(), 2, "{events}");
        assert!(noted.contains(&&json!({"from": null, "to": {"remaining": 4, "refill": monthly}})), "{events}");
        assert!(noted.contains(&&json!({"from": {"remaining": 1, "refill": monthly}, "to": null})), "{events}");
        assert_eq!(verify_cost(h, &secret(&key), Some(1000)).json_body()["valid"], true);
        let bad = h.root(
            "PATCH",
            &path,
            json!({"credits": {"remaining": 1, "refill": {"interval": "daily", "amount": 1, "day": 2}}}),
        );
        assert_eq!((bad.status, bad.json_body()["error"]["field"].clone()), (400, json!("credits")));
    })
}

fn assert_exceeds(response: &keygate::app::http::Response) {
    let body = response.json_body();
    assert_eq!((response.status, code(response)), (403, "INSUFFICIENT_PERMISSIONS".to_owned()), "{body}");
    assert_eq!(body["error"]["field"], "credits", "{body}");
}

#[test]
fn a_keys_write_key_only_lowers_credits() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let writer = seed(&h.harness.store, &["keys:write", "bots:*"], |_| {});
        let keys = "/v1/projects/acme/keys";
        let target = h.create("acme", json!({"name": "t", "scopes": ["bots:read"], "credits": {"remaining": 10}}));
        let path = key_path(&target);
        let patch = |body: Value| h.call("PATCH", &path, &writer, body);
        assert_exceeds(&patch(json!({"credits": {"remaining": 11}})));
        assert_exceeds(&patch(json!({"credits": null})));
        assert_exceeds(&patch(json!({"credits": {"remaining": 5, "refill": {"interval": "daily", "amount": 1}}})));
        assert_eq!(patch(json!({"credits": {"remaining": 5}})).json_body()["credits"]["remaining"], 5);
        let credits = format!("{path}/credits");
        assert_exceeds(&h.call("POST", &credits, &writer, json!({"op": "increment", "amount": 1})));
        assert_exceeds(&h.call("POST", &credits, &writer, json!({"op": "set", "amount": 1})));
        assert_eq!(h.call("POST", &credits, &writer, json!({"op": "decrement", "amount": 2})).json_body(), json!({"remaining": 3}));
        // Credits for a key that had none lower it: allowed.
        let unlimited = h.create("acme", json!({"name": "u", "scopes": ["bots:read"]}));
        let limited = h.call("PATCH", &key_path(&unlimited), &writer, json!({"credits": {"remaining": 100}}));
        assert_eq!(limited.status, 200, "{}", limited.json_body());

        // A key with credits gives no more than it has left, and never unlimited use.
        let rich = h.create("acme", json!({"name": "w", "scopes": ["keys:write", "bots:*"], "credits": {"remaining": 50, "refill": {"interval": "daily", "amount": 50}}}));
        let rich = secret(&rich);
        assert_exceeds(&h.call("POST", keys, &rich, json!({"name": "n", "scopes": ["bots:read"]})));
        // Its own request costs 1: 49 left by the time it gives.
        assert_exceeds(&h.call("POST", keys, &rich, json!({"name": "n", "credits": {"remaining": 49}})));
        assert_exceeds(&h.call("POST", keys, &rich, json!({"name": "n", "credits": {"remaining": 1, "refill": {"interval": "daily", "amount": 51}}})));
        assert_exceeds(&h.call("POST", keys, &rich, json!({"name": "n", "credits": {"remaining": 1, "refill": {"interval": "monthly", "amount": 1}}})));
        let minted = h.call("POST", keys, &rich, json!({"name": "n", "credits": {"remaining": 40, "refill": {"interval": "daily", "amount": 50}}}));
        assert_eq!((minted.status, minted.json_body()["credits"]["remaining"].clone()), (201, json!(40)));
        // An unlimited key may give any.
        let given = h.call("POST", keys, &writer, json!({"name": "n", "credits": {"remaining": 1_000_000}}));
        assert_eq!(given.status, 201);
    })
}

#[test]
fn rotation_hands_the_balance_to_the_successor() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let old = h.create("acme", json!({"name": "k", "credits": {"remaining": 10}}));
        verify_cost(h, &secret(&old), Some(3));
        let rotated = h.root("POST", &format!("{}/rotate", key_path(&old)), json!({"grace_seconds": 3600}));
        assert_eq!(rotated.status, 201, "{}", rotated.json_body());
        let new = rotated.json_body();
        assert_eq!(new["credits"]["remaining"], 7);
        assert_eq!(h.root("GET", &key_path(&new), Value::Null).json_body()["credits"]["remaining"], 7);
        assert_eq!(h.root("GET", &key_path(&old), Value::Null).json_body()["credits"]["remaining"], 0);
        let during_grace = verify_cost(h, &secret(&old), None).json_body();
        assert_eq!(
            (during_grace["code"].clone(), during_grace["credits"].clone()),
            (json!("USAGE_EXCEEDED"), json!({"remaining": 0}))
        );
        assert_eq!(verify_cost(h, &secret(&new), None).json_body()["credits"]["remaining"], 6);
    })
}

#[test]
fn usage_counts_usage_exceeded() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let key = h.create("acme", json!({"name": "k", "credits": {"remaining": 1}}));
        verify_cost(h, &secret(&key), None);
        verify_cost(h, &secret(&key), None);
        let usage = h.root("GET", &format!("{}/usage?granularity=hour", key_path(&key)), Value::Null).json_body();
        let text = usage.to_string();
        assert!(text.contains("\"usage_exceeded\":1"), "{text}");
    })
}
