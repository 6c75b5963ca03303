//! Attacker review of IP allowlists (#17): what a holder of an allowlisted
//! key can still do, or learn, from outside its list.

mod support;

use keygate::app::http::{Request, Response};
use serde_json::{json, Value};
use support::*;

const OFFICE: &str = "203.0.113.0/24";
const INSIDE: &str = "203.0.113.5";
const OUTSIDE: &str = "198.51.100.9";

/// A verify request sent from `OUTSIDE` (the attacker's own address) with `body`.
fn verify_from_outside(h: &Session<'_>, body: Value) -> Response {
    h.send(Request::new("POST", "/v1/keys/verify").with_header("CF-Connecting-IP", OUTSIDE).with_body(body.to_string()))
}

/// A stolen allowlisted key used from outside its list spends nothing, its
/// own credits and rate limit nor its owner's shared ones: verify's body `ip`
/// is an assertion only the backend (the admin token) may make, as a cost above 1 is.
#[test]
fn an_outsider_cannot_spend_an_allowlisted_key_or_its_owner_through_verify() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let owner = "/v1/projects/acme/owners/acct_1";
        assert_eq!(h.root("PUT", owner, json!({"credits": {"remaining": 3, "refill": null}})).status, 201);
        let created = h.create(
            "acme",
            json!({"name": "office", "scopes": ["bots:read"], "allowed_ips": [OFFICE],
                   "credits": {"remaining": 3, "refill": null}, "owner_id": "acct_1"}),
        );
        let key = created["key"].as_str().unwrap().to_owned();
        let path = format!("/v1/projects/acme/keys/{}", created["id"].as_str().unwrap());
        for _ in 0..3 {
            let answer = verify_from_outside(h, json!({"key": key, "ip": INSIDE}));
            assert_ne!(answer.json_body()["valid"], true, "{}", answer.json_body());
        }
        let remaining = |path: &str| h.root("GET", path, Value::Null).json_body()["credits"]["remaining"].clone();
        assert_eq!(remaining(&path), json!(3), "the key's credits are untouched");
        assert_eq!(remaining(owner), json!(3), "the owner's shared credits are untouched");
        // The backend, with the admin token, still asserts its client's address.
        let backend = h.call("POST", "/v1/keys/verify", ADMIN_TOKEN, json!({"key": key, "ip": INSIDE}));
        assert_eq!(backend.json_body()["valid"], true, "{}", backend.json_body());
        assert_eq!(remaining(&path), json!(2));
    })
}

/// From outside its list a key answers IP_NOT_ALLOWED and nothing else: not
/// whether it is disabled or expired, not its project, not its credits or
/// rate-limit state.
#[test]
fn a_refusal_for_the_address_tells_an_outsider_nothing_about_the_key() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let created = h.create(
            "acme",
            json!({"name": "office", "scopes": ["bots:read"], "allowed_ips": [OFFICE],
                   "credits": {"remaining": 7, "refill": null}}),
        );
        let key = created["key"].as_str().unwrap().to_owned();
        let path = format!("/v1/projects/acme/keys/{}", created["id"].as_str().unwrap());
        let gateway = |target: &str| {
            h.send(
                Request::new("GET", target)
                    .with_header("Authorization", &format!("Bearer {key}"))
                    .with_header("CF-Connecting-IP", OUTSIDE),
            )
        };
        let outside = gateway("/v1/projects/acme/bots/1");
        assert_eq!((outside.status, code(&outside)), (403, "IP_NOT_ALLOWED".to_owned()));
        for (name, _) in &outside.headers {
            assert!(
                !name.starts_with("x-ratelimit") && !name.starts_with("ratelimit") && name != "x-credits-remaining",
                "an outsider learns the key's {name}"
            );
        }
        let other = gateway("/v1/projects/other/bots/1");
        assert_eq!(code(&other), "IP_NOT_ALLOWED", "not which project the key belongs to");
        let verdict = verify_from_outside(h, json!({"key": key})).json_body();
        assert_eq!(verdict["code"], "IP_NOT_ALLOWED");
        assert!(verdict.get("credits").is_none(), "{verdict}");
        assert_eq!(h.root("PATCH", &path, json!({"status": "inactive"})).status, 200);
        let disabled = gateway("/v1/projects/acme/bots/1");
        assert_eq!(code(&disabled), "IP_NOT_ALLOWED", "not that the key was disabled");
    })
}
