//! Owners (#16): limits shared by several keys, through the admin API,
//! verify and the gateway; a request counted at both levels or at neither.

mod support;

use keygate::app::http::Request;
use serde_json::{json, Value};
use support::*;

const OWNER: &str = "/v1/projects/acme/owners/acct_1";

fn secret(key: &Value) -> String {
    key["key"].as_str().unwrap().to_owned()
}

/// A verification by the backend (the admin token asks the cost).
fn verify(h: &Session<'_>, key: &str, cost: u64) -> Value {
    let body = json!({"key": key, "cost": cost});
    let request =
        Request::new("POST", "/v1/keys/verify").with_header("Authorization", &format!("Bearer {ADMIN_TOKEN}"));
    h.send(request.with_body(body.to_string())).json_body()
}

/// Two keys of one owner at 30 per minute: together they get the owner's burst of 6.
#[test]
fn keys_of_one_owner_share_its_limits_exactly() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let put = h.root("PUT", OWNER, json!({"rate_limit": {"per_minute": 30, "per_day": 1000}}));
        assert_eq!(put.status, 201, "{}", put.json_body());
        let keys: Vec<String> =
            (0..2).map(|n| secret(&h.create("acme", json!({"name": format!("k{n}"), "owner_id": "acct_1"})))).collect();
        let mut admitted = 0;
        let mut refused = Vec::new();
        for n in 0..60 {
            let answer = verify(h, &keys[n % 2], 1);
            if answer["valid"] == json!(true) {
                admitted += 1;
            } else {
                refused.push(answer["code"].clone());
            }
        }
        assert_eq!(admitted, 6);
        assert!(refused.iter().all(|code| code == "RATE_LIMIT_EXCEEDED"), "{refused:?}");
        // The owner's refusals gave back what each key took: each key alone is far from its own limit.
        let owner = h.root("GET", OWNER, Value::Null).json_body();
        assert_eq!(owner["usage"]["requests_today"], 6);
        assert_eq!(owner["usage"]["ratelimit"]["minute"]["remaining"], 0);
        let list = h.root("GET", "/v1/projects/acme/keys?owner_id=acct_1", Value::Null).json_body();
        assert_eq!(list["keys"].as_array().unwrap().len(), 2);
        for key in list["keys"].as_array().unwrap() {
            let usage =
                h.root("GET", &format!("/v1/projects/acme/keys/{}/usage", key["id"].as_str().unwrap()), Value::Null);
            assert_eq!(usage.json_body()["requests_today"], 3, "{}: only admitted requests stay counted", key["name"]);
        }
        // A key without an owner is untouched by it.
        let other = secret(&h.create("acme", json!({"name": "free"})));
        assert_eq!(verify(h, &other, 1)["valid"], true);
    })
}

/// A refusal by the key's own limits never reaches the owner; one by the
/// owner's is given back at the key: counted in both or in neither.
#[test]
fn a_request_is_counted_at_both_levels_or_at_neither() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        h.root("PUT", OWNER, json!({"credits": {"remaining": 5}}));
        let key = h.create("acme", json!({"name": "k", "owner_id": "acct_1", "credits": {"remaining": 3}}));
        // The key's own credits refuse: the owner keeps its 5.
        let short = verify(h, &secret(&key), 4);
        assert_eq!((short["valid"].clone(), short["code"].clone()), (json!(false), json!("USAGE_EXCEEDED")));
        assert_eq!(h.root("GET", OWNER, Value::Null).json_body()["credits"]["remaining"], 5);
        // Both admit: both spend (the answer reports the lesser balance).
        let both = verify(h, &secret(&key), 2);
        assert_eq!((both["valid"].clone(), both["credits"]["remaining"].clone()), (json!(true), json!(1)));
        assert_eq!(h.root("GET", OWNER, Value::Null).json_body()["credits"]["remaining"], 3);
        // The owner refuses: the key gets its credit back.
        h.root("PUT", OWNER, json!({"credits": {"remaining": 0}}));
        let owner_short = verify(h, &secret(&key), 1);
        assert_eq!(owner_short["code"], "USAGE_EXCEEDED");
        let shown = h.root("GET", &format!("/v1/projects/acme/keys/{}", key["id"].as_str().unwrap()), Value::Null);
        assert_eq!(shown.json_body()["credits"]["remaining"], 1, "given back");
        let usage =
            h.root("GET", &format!("/v1/projects/acme/keys/{}/usage", key["id"].as_str().unwrap()), Value::Null);
        let series = &usage.json_body()["series"][0];
        assert_eq!((series["valid"].clone(), series["usage_exceeded"].clone()), (json!(1), json!(2)));
    })
}

/// The owner's object unreachable: the request is refused (503), never let
/// through, and the key's own count is given back.
#[test]
fn an_unreachable_owner_refuses_and_the_key_gives_back() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let key = h.create("acme", json!({"name": "k", "owner_id": "acct_1", "credits": {"remaining": 2}}));
        h.limiter.fail_owners(true);
        let refused =
            h.send(Request::new("POST", "/v1/keys/verify").with_body(json!({"key": secret(&key)}).to_string()));
        assert_eq!((refused.status, code(&refused)), (503, "UNAVAILABLE".to_owned()));
        h.limiter.fail_owners(false);
        // An owner without limits admits (and counts).
        assert_eq!(verify(h, &secret(&key), 2)["credits"]["remaining"], 0, "both credits were still there");
    })
}

#[test]
fn owner_routes_are_the_admin_tokens_validated_and_audited() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        assert_eq!(code(&h.root("GET", OWNER, Value::Null)), "OWNER_NOT_FOUND");
        assert_eq!(code(&h.root("DELETE", OWNER, Value::Null)), "OWNER_NOT_FOUND");
        for (body, field) in [
            (json!({"rate_limit": {"per_minute": 0, "per_day": 1}}), "rate_limit"),
            (json!({"plan": "standard", "rate_limit": {"per_minute": 1, "per_day": 1}}), "rate_limit"),
            (json!({"plan": "nope"}), "plan"),
            (json!({"credits": {"remaining": -1}}), "credits"),
            (json!({"burst": 1}), "burst"),
        ] {
            let refused = h.root("PUT", OWNER, body.clone());
            assert_eq!((refused.status, refused.json_body()["error"]["field"].clone()), (400, json!(field)), "{body}");
        }
        // `:` as clients encode it (encodeURIComponent) is the same owner.
        assert_eq!(h.root("PUT", "/v1/projects/other/owners/org%3a42", json!({})).status, 201);
        assert_eq!(h.root("GET", "/v1/projects/other/owners/org:42", Value::Null).json_body()["owner_id"], "org:42");
        let bad_id = h.root("PUT", "/v1/projects/acme/owners/a%20b", json!({}));
        assert_eq!((bad_id.status, bad_id.json_body()["error"]["field"].clone()), (400, json!("owner_id")));
        assert_eq!(h.root("GET", OWNER, Value::Null).status, 404, "nothing written by refused bodies");

        let created = h.root(
            "PUT",
            OWNER,
            json!({"plan": "standard", "credits": {"remaining": 10, "refill": {"interval": "daily", "amount": 10}}}),
        );
        assert_eq!(created.status, 201);
        let shown = created.json_body();
        assert_eq!(shown["rate_limit"], json!({"per_minute": 100, "per_day": 10000}));
        assert_eq!(shown["plan"], "standard");
        assert_eq!(shown["credits"], json!({"remaining": 10, "refill": {"interval": "daily", "amount": 10}}));
        assert_eq!(shown["usage"]["granularity"], "hour");
        h.harness.clock.advance(1000);
        assert_eq!(h.root("PUT", OWNER, json!({"rate_limit": {"per_minute": 5, "per_day": 50}})).status, 200);
        let replaced = h.root("GET", OWNER, Value::Null).json_body();
        assert_eq!(
            (replaced["plan"].clone(), replaced["credits"].clone()),
            (Value::Null, Value::Null),
            "PUT replaces whole"
        );

        // API keys, even keys:write ones, are refused.
        let writer = secret(&h.create("acme", json!({"name": "w", "scopes": ["keys:write", "keys:read"]})));
        for method in ["GET", "PUT", "DELETE"] {
            let refused = h.call(method, OWNER, &writer, json!({}));
            assert_eq!((refused.status, code(&refused)), (403, "INSUFFICIENT_PERMISSIONS".to_owned()), "{method}");
        }
        assert_eq!(h.root("DELETE", OWNER, Value::Null).status, 204);
        assert_eq!(h.root("GET", OWNER, Value::Null).status, 404);
        h.settle();
        let audit = h.root("GET", "/v1/projects/acme/audit?action=owner.updated", Value::Null).json_body();
        let events = audit["events"].as_array().unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["owner_id"], "acct_1");
        assert_eq!(events[0]["key_id"], Value::Null);
        assert_eq!(events[0]["changes"]["rate_limit"]["to"], json!({"per_minute": 5, "per_day": 50}));
        assert_eq!(h.audit_actions("acme").iter().filter(|a| a.starts_with("owner.")).count(), 3);
    })
}

/// A keys:write key with an owner can only make keys of that owner: it
/// never mints a key that escapes its customer's plan.
#[test]
fn a_key_with_an_owner_cannot_mint_keys_outside_it() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        h.root("PUT", OWNER, json!({"rate_limit": {"per_minute": 30, "per_day": 1000}}));
        let writer =
            h.create("acme", json!({"name": "w", "scopes": ["keys:write", "keys:read"], "owner_id": "acct_1"}));
        let made = h.call("POST", "/v1/projects/acme/keys", &secret(&writer), json!({"name": "child"}));
        assert_eq!(made.status, 201);
        assert_eq!(made.json_body()["owner_id"], "acct_1", "inherited");
        let other =
            h.call("POST", "/v1/projects/acme/keys", &secret(&writer), json!({"name": "x", "owner_id": "acct_2"}));
        assert_eq!((other.status, other.json_body()["error"]["field"].clone()), (403, json!("owner_id")));
        let child = format!("/v1/projects/acme/keys/{}", made.json_body()["id"].as_str().unwrap());
        let freed = h.call("PATCH", &child, &secret(&writer), json!({"owner_id": null}));
        assert_eq!((freed.status, freed.json_body()["error"]["field"].clone()), (403, json!("owner_id")));
        // The admin token may move or free it; the next request is judged by the new owner at once.
        let moved = h.root("PATCH", &child, json!({"owner_id": null}));
        assert_eq!((moved.status, moved.json_body()["owner_id"].clone()), (200, Value::Null));
        h.settle();
        let audit = h.root("GET", "/v1/projects/acme/audit?action=key.updated", Value::Null).json_body();
        assert_eq!(audit["events"][0]["changes"], json!({"owner_id": {"from": "acct_1", "to": null}}));
        assert_eq!(
            h.root("GET", "/v1/projects/acme/keys?owner_id=acct_1", Value::Null).json_body()["keys"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let invalid = h.root("GET", "/v1/projects/acme/keys?owner_id=a%20b", Value::Null);
        assert_eq!((invalid.status, invalid.json_body()["error"]["field"].clone()), (400, json!("owner_id")));
    })
}

/// Rotation copies the owner: the successor shares the same limits.
#[test]
fn rotation_keeps_the_owner() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        h.root("PUT", OWNER, json!({"rate_limit": {"per_minute": 1, "per_day": 1000}}));
        let key = h.create("acme", json!({"name": "k", "owner_id": "acct_1"}));
        let rotated = h.root(
            "POST",
            &format!("/v1/projects/acme/keys/{}/rotate", key["id"].as_str().unwrap()),
            json!({"grace_seconds": 60}),
        );
        assert_eq!(rotated.status, 201, "{}", rotated.json_body());
        assert_eq!(rotated.json_body()["owner_id"], "acct_1");
        assert_eq!(verify(h, &secret(&rotated.json_body()), 1)["valid"], true);
        assert_eq!(
            verify(h, &secret(&key), 1)["code"],
            "RATE_LIMIT_EXCEEDED",
            "old and new share the owner's one request"
        );
    })
}

/// Attacker review: a keys:write key without an owner put a key under another
/// customer's owner and spent that customer's shared credits.
#[test]
fn a_key_without_an_owner_cannot_charge_another_customers_owner() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        h.root("PUT", OWNER, json!({"credits": {"remaining": 100}}));
        let writer = h.create("acme", json!({"name": "legacy", "scopes": ["keys:write", "keys:read"]}));
        let minted =
            h.call("POST", "/v1/projects/acme/keys", &secret(&writer), json!({"name": "x", "owner_id": "acct_1"}));
        assert_eq!((minted.status, minted.json_body()["error"]["field"].clone()), (403, json!("owner_id")));
        let own = format!("/v1/projects/acme/keys/{}", writer["id"].as_str().unwrap());
        let moved = h.call("PATCH", &own, &secret(&writer), json!({"owner_id": "acct_1"}));
        assert_eq!((moved.status, moved.json_body()["error"]["field"].clone()), (403, json!("owner_id")));
        assert_eq!(h.root("GET", OWNER, Value::Null).json_body()["credits"]["remaining"], 100);
    })
}

/// Attacker review: a customer's keys:read key listed, read and watched other
/// customers' keys (and the project's audit log named every owner's plan).
#[test]
fn a_key_with_an_owner_reads_only_its_owners_keys() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let reader =
            h.create("acme", json!({"name": "reader", "scopes": ["keys:read", "keys:write"], "owner_id": "acct_1"}));
        let mine = h.create("acme", json!({"name": "mine", "owner_id": "acct_1"}));
        let theirs = h.create("acme", json!({"name": "theirs", "owner_id": "acct_2"}));
        let unowned = h.create("acme", json!({"name": "unowned"}));
        let as_reader = |method: &str, path: &str| h.call(method, path, &secret(&reader), Value::Null);
        let listed = as_reader("GET", "/v1/projects/acme/keys").json_body();
        let mut names: Vec<&str> =
            listed["keys"].as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["mine", "reader"]);
        let other = as_reader("GET", "/v1/projects/acme/keys?owner_id=acct_2");
        assert_eq!((other.status, other.json_body()["error"]["field"].clone()), (403, json!("owner_id")));
        let path = |key: &Value| format!("/v1/projects/acme/keys/{}", key["id"].as_str().unwrap());
        assert_eq!(as_reader("GET", &path(&mine)).status, 200);
        for key in [&theirs, &unowned] {
            assert_eq!(code(&as_reader("GET", &path(key))), "KEY_NOT_FOUND");
            assert_eq!(code(&as_reader("GET", &format!("{}/usage", path(key)))), "KEY_NOT_FOUND");
            let patched = h.call("PATCH", &path(key), &secret(&reader), json!({"name": "x"}));
            assert_eq!(code(&patched), "KEY_NOT_FOUND", "as if it did not exist");
            assert_eq!(code(&h.call("DELETE", &path(key), &secret(&reader), Value::Null)), "KEY_NOT_FOUND");
        }
        for project_wide in ["/v1/projects/acme/audit", "/v1/projects/acme/usage"] {
            let refused = as_reader("GET", project_wide);
            assert_eq!(
                (refused.status, refused.json_body()["error"]["field"].clone()),
                (403, json!("owner_id")),
                "{project_wide}"
            );
        }
        // A key without an owner still reads the whole project.
        let unowned_reader = secret(&h.create("acme", json!({"name": "ops", "scopes": ["keys:read"]})));
        assert_eq!(h.call("GET", "/v1/projects/acme/audit", &unowned_reader, Value::Null).status, 200);
        assert_eq!(h.call("GET", &path(&theirs), &unowned_reader, Value::Null).status, 200);
    })
}

/// The cost bound: a key with an owner costs the worker still one
/// object call per request (the key's object asks the owner's, once), and a
/// key without an owner makes no call to any owner's object.
#[test]
fn an_owned_key_costs_one_object_call_and_its_owner_one_admission() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        h.root("PUT", OWNER, json!({"rate_limit": {"per_minute": 1000, "per_day": 100000}}));
        let owned = secret(&h.create("acme", json!({"name": "owned", "owner_id": "acct_1"})));
        let free = secret(&h.create("acme", json!({"name": "free"})));
        let requests_today = || h.root("GET", OWNER, Value::Null).json_body()["usage"]["requests_today"].clone();
        let before = h.limiter.calls();
        for _ in 0..3 {
            assert_eq!(verify(h, &owned, 1)["valid"], true);
        }
        assert_eq!(h.limiter.calls() - before, 3, "one key-object call per request");
        assert_eq!(requests_today(), 3, "one admission by the owner's object per request");
        let before = h.limiter.calls();
        assert_eq!(verify(h, &free, 1)["valid"], true);
        assert_eq!(h.limiter.calls() - before, 1);
        assert_eq!(requests_today(), 3, "a key without an owner never reaches it");
    })
}
