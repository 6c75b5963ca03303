//! Per-key IP allowlists through the app: the gateway, verify and the admin
//! API judge a key with `allowed_ips` by the client's address, deny by
//! default, and a PATCH is in force on the very next request.

mod support;

use keygate::app::http::{Request, Response};
use keygate::app::store::KeyValueStore;
use keygate::key::{ApiKey, KeyPrefixes};
use keygate::record::KeyRecord;
use serde_json::{json, Value};
use support::*;

const OFFICE: &str = "203.0.113.0/24";
const INSIDE: &str = "203.0.113.5";
const OUTSIDE: &str = "198.51.100.9";

/// A `bots:read` key of `acme` created by the admin token with `allowed_ips`; (key, path).
fn allowlisted(h: &Session<'_>, allowed_ips: Value) -> (String, String) {
    let created = h.create("acme", json!({"name": "office", "scopes": ["bots:read"], "allowed_ips": allowed_ips}));
    let path = format!("/v1/projects/acme/keys/{}", created["id"].as_str().unwrap());
    (created["key"].as_str().unwrap().to_owned(), path)
}

/// A gateway request with `key` and `headers`.
fn gateway(h: &Session<'_>, key: &str, headers: &[(&str, &str)]) -> Response {
    let mut request =
        Request::new("GET", "/v1/projects/acme/bots/1").with_header("Authorization", &format!("Bearer {key}"));
    for (name, value) in headers {
        request = request.with_header(name, value);
    }
    h.send(request)
}

fn from(h: &Session<'_>, key: &str, ip: &str) -> (u16, String) {
    let response = gateway(h, key, &[("CF-Connecting-IP", ip)]);
    (response.status, code(&response))
}

/// A verify request from the backend (the admin token), which alone may assert a client's `ip`.
fn verify_body(h: &Session<'_>, body: Value) -> Response {
    h.call("POST", "/v1/keys/verify", ADMIN_TOKEN, body)
}

fn refused() -> (u16, String) {
    (403, "IP_NOT_ALLOWED".to_owned())
}

fn passed() -> (u16, String) {
    (200, String::new())
}

#[test]
fn the_gateway_admits_a_client_inside_the_allowlist_and_refuses_one_outside() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let (key, _) = allowlisted(h, json!([OFFICE, "2001:db8::/32"]));
        assert_eq!(from(h, &key, INSIDE), passed());
        assert_eq!(from(h, &key, "2001:db8:1::1"), passed());
        assert_eq!(from(h, &key, OUTSIDE), refused());
        assert_eq!(from(h, &key, "2001:db9::1"), refused());
        let body = gateway(h, &key, &[("CF-Connecting-IP", OUTSIDE)]).json_body();
        assert_eq!(body["error"]["message"], "The API key may not be used from this client address.");
        assert!(!body.to_string().contains(OUTSIDE), "the answer does not echo the address");
    })
}

#[test]
fn an_ipv4_mapped_client_is_judged_as_its_ipv4_address_and_back() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let (key, _) = allowlisted(h, json!([OFFICE]));
        assert_eq!(from(h, &key, "::ffff:203.0.113.5"), passed());
        assert_eq!(from(h, &key, "::ffff:cb00:7105"), passed(), "hex spelling of 203.0.113.5");
        assert_eq!(from(h, &key, "::ffff:198.51.100.9"), refused());
        let (mapped, path) = allowlisted(h, json!(["::ffff:203.0.113.0/120"]));
        assert_eq!(from(h, &mapped, INSIDE), passed());
        assert_eq!(h.root("GET", &path, Value::Null).json_body()["allowed_ips"], json!([OFFICE]));
    })
}

/// Deny by default: a key with an allowlist is never let through without an
/// address Cloudflare vouches for.
#[test]
fn an_absent_garbage_or_repeated_client_address_is_refused() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let (key, _) = allowlisted(h, json!(["0.0.0.0/0", "::/0"]));
        assert_eq!(from(h, &key, INSIDE), passed(), "the list allows every address");
        let none = gateway(h, &key, &[]);
        assert_eq!((none.status, code(&none)), refused());
        for garbage in ["", "   ", "unknown", "203.0.113.5, 198.51.100.9", "203.0.113.5:443", "[::1]", "fe80::1%eth0"] {
            assert_eq!(from(h, &key, garbage), refused(), "{garbage:?}");
        }
        let twice = gateway(h, &key, &[("CF-Connecting-IP", INSIDE), ("CF-Connecting-IP", INSIDE)]);
        assert_eq!((twice.status, code(&twice)), refused(), "a repeated header is no one address");
    })
}

/// Only `CF-Connecting-IP` (which Cloudflare overwrites at its edge) is read:
/// no header a client controls behind Cloudflare picks the judged address.
#[test]
fn no_other_header_chooses_the_judged_address() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let (key, _) = allowlisted(h, json!([OFFICE]));
        let forged: Vec<(&str, String)> = [
            "X-Forwarded-For",
            "X_Forwarded_For",
            "X-Real-IP",
            "True-Client-IP",
            "X-Client-IP",
            "X-Cluster-Client-IP",
            "Fastly-Client-IP",
            "CF-Connecting-IPv6",
            "CF_Connecting_IP",
        ]
        .iter()
        .map(|name| (*name, INSIDE.to_owned()))
        .chain([("Forwarded", format!("for={INSIDE}"))])
        .collect();
        let forged: Vec<(&str, &str)> = forged.iter().map(|(name, value)| (*name, value.as_str())).collect();
        let without = gateway(h, &key, &forged);
        assert_eq!((without.status, code(&without)), refused());
        let mut outside = forged.clone();
        outside.push(("CF-Connecting-IP", OUTSIDE));
        let response = gateway(h, &key, &outside);
        assert_eq!((response.status, code(&response)), refused());
    })
}

#[test]
fn a_patch_is_in_force_on_the_very_next_request() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let (key, path) = allowlisted(h, json!(["192.0.2.0/24"]));
        assert_eq!(from(h, &key, INSIDE), refused());
        let widened = h.root("PATCH", &path, json!({"allowed_ips": ["192.0.2.0/24", OFFICE]}));
        assert_eq!(widened.status, 200, "{}", widened.json_body());
        assert_eq!(widened.json_body()["allowed_ips"], json!(["192.0.2.0/24", OFFICE]));
        assert_eq!(from(h, &key, INSIDE), passed());
        assert_eq!(h.root("PATCH", &path, json!({"allowed_ips": ["192.0.2.0/24"]})).status, 200);
        assert_eq!(from(h, &key, INSIDE), refused(), "narrowed again at once");
        assert_eq!(
            h.root("PATCH", &path, json!({"name": "renamed"})).json_body()["allowed_ips"],
            json!(["192.0.2.0/24"])
        );
        assert_eq!(h.root("PATCH", &path, json!({"allowed_ips": null})).status, 200);
        assert_eq!(from(h, &key, OUTSIDE), passed(), "null: any address");
        assert_eq!(gateway(h, &key, &[]).status, 200, "and no address needed");
    })
}

/// The key's object judges its own record: an allowlist added by PATCH binds
/// even while KV (an edge cache) still serves the copy without one.
#[test]
fn an_allowlist_added_by_patch_binds_while_kv_serves_a_copy_without_one() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let created = h.create("acme", json!({"name": "n", "scopes": ["bots:read"]}));
        let key = created["key"].as_str().unwrap().to_owned();
        let path = format!("/v1/projects/acme/keys/{}", created["id"].as_str().unwrap());
        let name = ApiKey::parse(&key, &KeyPrefixes::default()).unwrap().digest().storage_key();
        let (_, stale, _) = h.harness.store.dump().into_iter().find(|(n, _, _)| *n == name).unwrap();
        assert_eq!(h.root("PATCH", &path, json!({"allowed_ips": [OFFICE]})).status, 200);
        futures_executor::block_on(h.harness.store.put(&name, &stale, None)).unwrap();
        let copy: KeyRecord = serde_json::from_str(&stale).unwrap();
        assert!(copy.allowed_ips.is_none(), "KV serves the copy without an allowlist");
        assert_eq!(from(h, &key, OUTSIDE), refused());
        assert_eq!(gateway(h, &key, &[]).status, 403);
        // The object asked for the address it lacked: an inside client still passes.
        assert_eq!(from(h, &key, INSIDE), passed());
    })
}

/// No extra work for keys without an allowlist: one object call per request,
/// and a call that carries no client address.
#[test]
fn a_key_without_an_allowlist_costs_one_object_call_and_sends_no_address() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let created = h.create("acme", json!({"name": "n", "scopes": ["bots:read"]}));
        let key = created["key"].as_str().unwrap().to_owned();
        assert_eq!(from(h, &key, INSIDE), passed());
        let before = h.limiter.calls();
        assert_eq!(from(h, &key, INSIDE), passed());
        assert_eq!(h.limiter.calls() - before, 1);
        let (listed, _) = allowlisted(h, json!([OFFICE]));
        assert_eq!(from(h, &listed, INSIDE), passed());
        let before = h.limiter.calls();
        assert_eq!(from(h, &listed, INSIDE), passed());
        assert_eq!(h.limiter.calls() - before, 1, "a key with an allowlist: still one call");
        let check = |ip: Option<&str>| keygate::keystate::LimiterCall::Check {
            tag: "t".into(),
            seen_updated_at: NOW,
            adopt: None,
            scope: None,
            project: None,
            cost: 1,
            ip: ip.map(str::to_owned),
        };
        assert!(check(None).fits_in_url());
        assert!(!check(Some(INSIDE)).fits_in_url(), "a client's address never travels in a URL");
    })
}

#[test]
fn verify_judges_the_ip_the_backend_sends_and_refuses_a_key_with_an_allowlist_without_one() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let (key, _) = allowlisted(h, json!([OFFICE]));
        let verdict = |body: Value| verify_body(h, body).json_body();
        assert_eq!(verdict(json!({"key": key, "ip": INSIDE}))["valid"], true);
        assert_eq!(verdict(json!({"key": key, "ip": "::ffff:203.0.113.5"}))["valid"], true);
        let outside = verdict(json!({"key": key, "ip": OUTSIDE}));
        assert_eq!((outside["valid"].clone(), outside["code"].clone()), (json!(false), json!("IP_NOT_ALLOWED")));
        for absent in [json!({"key": key}), json!({"key": key, "ip": null})] {
            assert_eq!(verdict(absent)["code"], "IP_NOT_ALLOWED", "verify never guesses the client");
        }
        // The verify request's own CF-Connecting-IP is not the client of a key in the body.
        let request = Request::new("POST", "/v1/keys/verify")
            .with_header("CF-Connecting-IP", INSIDE)
            .with_body(json!({"key": key}).to_string());
        assert_eq!(h.send(request).json_body()["code"], "IP_NOT_ALLOWED");
        for bad in [json!("nope"), json!("203.0.113.0/24"), json!(5), json!("fe80::1%eth0")] {
            let answer = verify_body(h, json!({"key": key, "ip": bad}));
            assert_eq!((answer.status, answer.json_body()["error"]["field"].clone()), (400, json!("ip")), "{bad}");
        }
        // A key without an allowlist ignores the address.
        let any = h.create("acme", json!({"name": "any"}))["key"].as_str().unwrap().to_owned();
        assert_eq!(verdict(json!({"key": any, "ip": OUTSIDE}))["valid"], true);
        assert_eq!(verdict(json!({"key": any}))["valid"], true);
    })
}

/// A key presented as the verify request's own credential is judged by that
/// request's address: its holder must not pick one in the body.
#[test]
fn verify_of_the_requests_own_credential_judges_its_cf_connecting_ip() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let (key, _) = allowlisted(h, json!([OFFICE]));
        let own = |ip: Option<&str>, body: Value| {
            let mut request =
                Request::new("POST", "/v1/keys/verify").with_header("Authorization", &format!("Bearer {key}"));
            if let Some(ip) = ip {
                request = request.with_header("CF-Connecting-IP", ip);
            }
            h.send(request.with_body(body.to_string()))
        };
        assert_eq!(own(Some(INSIDE), json!({})).json_body()["valid"], true);
        assert_eq!(own(Some(OUTSIDE), json!({})).json_body()["code"], "IP_NOT_ALLOWED");
        assert_eq!(own(None, json!({})).json_body()["code"], "IP_NOT_ALLOWED");
        let chosen = own(Some(OUTSIDE), json!({"ip": INSIDE}));
        assert_eq!((chosen.status, chosen.json_body()["error"]["field"].clone()), (400, json!("ip")));
    })
}

#[test]
fn allowed_ips_are_validated_stored_canonically_shown_everywhere_and_rotated() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        for (bad, fragment) in [
            (json!(["10.0.0.1/8"]), "bits set after its prefix"),
            (json!([]), "null allows any"),
            (json!(["10.0.0.0/8", "not an ip"]), "index 1"),
            (json!("10.0.0.0/8"), "array of 1 to 32"),
            (json!([10]), "array of 1 to 32"),
            (json!((0..33).map(|i| format!("10.0.{i}.0/24")).collect::<Vec<_>>()), "At most 32"),
        ] {
            let answer = h.root("POST", "/v1/projects/acme/keys", json!({"name": "n", "allowed_ips": bad}));
            let error = &answer.json_body()["error"];
            assert_eq!(
                (answer.status, error["code"].clone(), error["field"].clone()),
                (400, json!("VALIDATION_ERROR"), json!("allowed_ips")),
                "{bad}"
            );
            assert!(error["message"].as_str().unwrap().contains(fragment), "{bad}: {error}");
        }
        let created =
            h.create("acme", json!({"name": "n", "allowed_ips": ["2001:DB8:0::/32", "10.0.0.1/32", "10.0.0.1"]}));
        assert_eq!(created["allowed_ips"], json!(["2001:db8::/32", "10.0.0.1"]));
        let path = format!("/v1/projects/acme/keys/{}", created["id"].as_str().unwrap());
        assert_eq!(h.root("GET", &path, Value::Null).json_body()["allowed_ips"], json!(["2001:db8::/32", "10.0.0.1"]));
        assert_eq!(h.create("acme", json!({"name": "any"}))["allowed_ips"], Value::Null);
        let bad_patch = h.root("PATCH", &path, json!({"allowed_ips": ["10.0.0.1/8"]}));
        assert_eq!((bad_patch.status, bad_patch.json_body()["error"]["field"].clone()), (400, json!("allowed_ips")));
        assert_eq!(
            h.root("GET", &path, Value::Null).json_body()["allowed_ips"],
            json!(["2001:db8::/32", "10.0.0.1"]),
            "nothing written"
        );
        // The catalog lists it; rotation hands it to the successor.
        h.settle();
        let listed = h.root("GET", "/v1/projects/acme/keys", Value::Null).json_body();
        let row = listed["keys"].as_array().unwrap().iter().find(|k| k["id"] == created["id"]).unwrap().clone();
        assert_eq!(row["allowed_ips"], json!(["2001:db8::/32", "10.0.0.1"]));
        let rotated = h.root("POST", &format!("{path}/rotate"), json!({}));
        assert_eq!(rotated.status, 201, "{}", rotated.json_body());
        let successor = rotated.json_body();
        assert_eq!(successor["allowed_ips"], json!(["2001:db8::/32", "10.0.0.1"]));
        let new_key = successor["key"].as_str().unwrap();
        assert_eq!(verify_body(h, json!({"key": new_key, "ip": "10.0.0.2"})).json_body()["code"], "IP_NOT_ALLOWED");
        assert_eq!(verify_body(h, json!({"key": new_key, "ip": "10.0.0.1"})).json_body()["valid"], true);
    })
}

#[test]
fn refusals_are_counted_as_ip_not_allowed_in_usage() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let (key, path) = allowlisted(h, json!([OFFICE]));
        assert_eq!(from(h, &key, OUTSIDE), refused());
        assert_eq!(from(h, &key, INSIDE), passed());
        let usage = h.root("GET", &format!("{path}/usage?granularity=hour"), Value::Null).json_body();
        let text = usage.to_string();
        assert!(text.contains("\"ip_not_allowed\":1") && text.contains("\"valid\":1"), "{text}");
    })
}

/// A `keys:write` key with an allowlist makes only keys allowed within it,
/// and is itself judged by its allowlist on the admin API.
#[test]
fn a_keys_write_key_with_an_allowlist_gives_only_lists_within_its_own() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let writer = seed(&h.harness.store, &["keys:write", "bots:read"], |record| {
            record.allowed_ips = Some(serde_json::from_value(json!([OFFICE, "2001:db8::/32"])).unwrap());
        });
        let create = |allowed_ips: Value, ip: &str| {
            let body = json!({"name": "n", "scopes": ["bots:read"], "allowed_ips": allowed_ips});
            let request = Request::new("POST", "/v1/projects/acme/keys")
                .with_header("Authorization", &format!("Bearer {writer}"))
                .with_header("CF-Connecting-IP", ip)
                .with_body(body.to_string());
            h.send(request)
        };
        let exceeds = |response: Response| {
            let body = response.json_body();
            (response.status, body["error"]["code"].clone(), body["error"]["field"].clone())
        };
        let refused_field = (403, json!("INSUFFICIENT_PERMISSIONS"), json!("allowed_ips"));
        assert_eq!(exceeds(create(Value::Null, INSIDE)), refused_field, "any address is wider");
        assert_eq!(exceeds(create(json!(["203.0.112.0/23"]), INSIDE)), refused_field, "a wider block");
        assert_eq!(exceeds(create(json!([INSIDE, OUTSIDE]), INSIDE)), refused_field, "one block outside");
        let made = create(json!(["203.0.113.128/25", "2001:db8:1::/48"]), INSIDE);
        assert_eq!(made.status, 201, "{}", made.json_body());
        let path = format!("/v1/projects/acme/keys/{}", made.json_body()["id"].as_str().unwrap());
        // Nor may it widen one, by PATCH to null or a wider list.
        let patch = |body: Value| {
            h.send(
                Request::new("PATCH", &path)
                    .with_header("Authorization", &format!("Bearer {writer}"))
                    .with_header("CF-Connecting-IP", INSIDE)
                    .with_body(body.to_string()),
            )
        };
        assert_eq!(exceeds(patch(json!({"allowed_ips": null}))), refused_field);
        assert_eq!(exceeds(patch(json!({"allowed_ips": ["0.0.0.0/0"]}))), refused_field);
        assert_eq!(patch(json!({"allowed_ips": [INSIDE]})).status, 200);
        // The writer itself, from outside its allowlist (or with no address), is refused.
        let outside = create(json!([INSIDE]), OUTSIDE);
        assert_eq!((outside.status, code(&outside)), refused());
        let listing = h.send(
            Request::new("GET", "/v1/projects/acme/keys").with_header("Authorization", &format!("Bearer {writer}")),
        );
        assert_eq!((listing.status, code(&listing)), refused());
    })
}
