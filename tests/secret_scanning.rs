//! GitHub's secret scanning reports, through the whole app over memory
//! doubles: what a signed report does to keys, and what an unsigned one cannot.

mod support;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use keygate::app::http::{Body, Request, Response};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::{code, config, Harness, Session, ADMIN_TOKEN};

const ROUTE: &str = "/v1/secret-scanning/github";

fn signing_key(byte: u8) -> SigningKey {
    SigningKey::from_slice(&[byte; 32]).unwrap()
}

/// GitHub's key document: `current` (byte 1) and the retired `old` (byte 2).
fn document() -> Response {
    let pem = |byte| signing_key(byte).verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
    let body = json!({"public_keys": [
        {"key_identifier": "current", "key": pem(1), "is_current": true},
        {"key_identifier": "old", "key": pem(2), "is_current": false},
    ]});
    Response { status: 200, headers: Vec::new(), body: Body::Bytes(body.to_string().into_bytes()) }
}

fn harness(action: &str) -> Harness {
    let harness = Harness::with_config(config(&[
        ("ADMIN_TOKEN", ADMIN_TOKEN),
        ("LEAKED_KEY_ACTION", action),
        ("SECRET_SCANNING_KEYS_URL", "https://keys.example/secret_scanning"),
    ]));
    harness.origin.answer_with(document());
    harness
}

/// `body` signed by `key` under `identifier`, as GitHub sends it.
fn report(identifier: &str, key: &SigningKey, body: &str) -> Request {
    let signature: Signature = key.sign(body.as_bytes());
    Request::new("POST", ROUTE)
        .with_header("Github-Public-Key-Identifier", identifier)
        .with_header("Github-Public-Key-Signature", &STANDARD.encode(signature.to_der().as_bytes()))
        .with_body(body.to_owned())
}

fn found(tokens: &[&str]) -> String {
    let items: Vec<Value> = tokens
        .iter()
        .map(|token| json!({"token": token, "type": "keygate_api_key", "url": "https://github.com/o/r/blob/1/.env", "source": "content"}))
        .collect();
    Value::Array(items).to_string()
}

fn key_object(session: &Session<'_>, project: &str, id: &str) -> Response {
    session.root("GET", &format!("/v1/projects/{project}/keys/{id}"), Value::Null)
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[test]
fn a_signed_report_disables_this_deployments_keys_and_labels_every_token() {
    let harness = harness("disable");
    harness.with_limiter(|session| {
        let live = session.create("acme", json!({"name": "leaky"}));
        let gone = session.create("acme", json!({"name": "gone"}));
        let deleted =
            session.root("DELETE", &format!("/v1/projects/acme/keys/{}", gone["id"].as_str().unwrap()), Value::Null);
        assert_eq!(deleted.status, 204);
        let live_key = live["key"].as_str().unwrap();
        let tokens = [live_key, gone["key"].as_str().unwrap(), "ghp_notakeyofours", "sk_live_short"];
        let answer = session.send(report("current", &signing_key(1), &found(&tokens)));
        assert_eq!(answer.status, 200, "{}", answer.json_body());
        let labels: Vec<(String, String)> = answer
            .json_body()
            .as_array()
            .unwrap()
            .iter()
            .map(|item| (item["token_hash"].as_str().unwrap().to_owned(), item["label"].as_str().unwrap().to_owned()))
            .collect();
        let expected: Vec<(String, String)> = tokens
            .iter()
            .zip(["true_positive", "false_positive", "false_positive", "false_positive"])
            .map(|(token, label)| (sha256_hex(token), label.to_owned()))
            .collect();
        assert_eq!(labels, expected);
        let Body::Bytes(bytes) = &answer.body else { panic!("a JSON answer") };
        assert!(!String::from_utf8_lossy(bytes).contains(live_key), "never the raw token");

        // In force on the very next request.
        assert_eq!(session.verify(live_key, None)["code"], "API_KEY_DISABLED");
        let id = live["id"].as_str().unwrap();
        let shown = key_object(session, "acme", id).json_body();
        assert_eq!(shown["status"], "inactive");
        assert_eq!(shown["leaked"]["url"], "https://github.com/o/r/blob/1/.env");
        assert_eq!(shown["leaked"]["source"], "content");
        assert_eq!(shown["leaked"]["at"], "2026-11-23T08:00:00Z");

        session.settle();
        let audit = session.root("GET", "/v1/projects/acme/audit?action=key.leaked", Value::Null).json_body();
        let events = audit["events"].as_array().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["key_id"], json!(id));
        assert_eq!(events[0]["actor"], json!({"type": "secret_scanning", "provider": "github"}));
        assert_eq!(events[0]["changes"]["status"], json!({"from": "active", "to": "inactive"}));
        assert!(events[0]["changes"]["leaked"]["to"].is_object());

        // A replay: the same labels, nothing more written.
        let again = session.send(report("current", &signing_key(1), &found(&tokens)));
        assert_eq!(again.json_body(), answer.json_body());
        session.settle();
        assert_eq!(session.audit_actions("acme").iter().filter(|action| *action == "key.leaked").count(), 1);
    });
}

#[test]
fn only_the_admin_token_reactivates_a_key_a_report_disabled() {
    let harness = harness("disable");
    harness.with_limiter(|session| {
        let writer = session.create("acme", json!({"name": "writer", "scopes": ["keys:write", "keys:read"]}));
        let leaky = session.create("acme", json!({"name": "leaky"}));
        let answer = session.send(report("current", &signing_key(1), &found(&[leaky["key"].as_str().unwrap()])));
        assert_eq!(answer.status, 200);
        let path = format!("/v1/projects/acme/keys/{}", leaky["id"].as_str().unwrap());
        let by_key = session.call("PATCH", &path, writer["key"].as_str().unwrap(), json!({"status": "active"}));
        assert_eq!(by_key.status, 403, "{}", by_key.json_body());
        let by_root = session.root("PATCH", &path, json!({"status": "active"}));
        assert_eq!(by_root.status, 200);
        assert_eq!(by_root.json_body()["leaked"]["source"], "content", "the leak stays on record");
        // Its successor's secret is new: not leaked.
        let rotated = session.root("POST", &format!("{path}/rotate"), Value::Null).json_body();
        assert_eq!(rotated["leaked"], Value::Null);
    });
}

#[test]
fn delete_and_report_do_what_they_say() {
    let deleting = harness("delete");
    deleting.with_limiter(|session| {
        let leaky = session.create("acme", json!({"name": "leaky"}));
        let answer = session.send(report("current", &signing_key(1), &found(&[leaky["key"].as_str().unwrap()])));
        assert_eq!(answer.json_body()[0]["label"], "true_positive");
        assert_eq!(code(&key_object(session, "acme", leaky["id"].as_str().unwrap())), "KEY_NOT_FOUND");
        assert_eq!(session.verify(leaky["key"].as_str().unwrap(), None)["valid"], false);
        session.settle();
        let audit = session.root("GET", "/v1/projects/acme/audit", Value::Null).json_body();
        let by_scanning: Vec<&str> = audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|event| event["actor"]["type"] == "secret_scanning")
            .map(|event| event["action"].as_str().unwrap())
            .collect();
        assert_eq!(by_scanning, ["key.deleted", "key.leaked"]);
    });
    let reporting = harness("report");
    reporting.with_limiter(|session| {
        let leaky = session.create("acme", json!({"name": "leaky"}));
        session.send(report("current", &signing_key(1), &found(&[leaky["key"].as_str().unwrap()])));
        let shown = key_object(session, "acme", leaky["id"].as_str().unwrap()).json_body();
        assert_eq!((shown["status"].as_str(), shown["leaked"].is_object()), (Some("active"), true));
        assert_eq!(session.verify(leaky["key"].as_str().unwrap(), None)["valid"], true);
    });
}

#[test]
fn nothing_is_acted_on_before_the_signature_holds() {
    let harness = harness("delete");
    harness.with_limiter(|session| {
        let leaky = session.create("acme", json!({"name": "leaky"}));
        let body = found(&[leaky["key"].as_str().unwrap()]);
        let tampered = body.replace("content", "commit");
        let signed = report("current", &signing_key(1), &body);
        let mut forged = vec![
            report("old", &signing_key(2), &body),
            report("current", &signing_key(3), &body),
            report("unknown", &signing_key(1), &body),
            Request::new("POST", ROUTE).with_body(body.clone()),
            signed.clone().with_body(tampered),
        ];
        let mut garbage = signed.clone();
        garbage.headers.retain(|(name, _)| name != "github-public-key-signature");
        forged.push(garbage.with_header("Github-Public-Key-Signature", "not base64!"));
        for request in forged {
            let answer = session.send(request);
            assert_eq!((answer.status, code(&answer)), (401, "INVALID_SIGNATURE".to_owned()));
        }
        let shown = key_object(session, "acme", leaky["id"].as_str().unwrap()).json_body();
        assert_eq!((shown["status"].as_str(), &shown["leaked"]), (Some("active"), &Value::Null));
    });
}

/// The document is fetched at most once in five minutes per isolate, and a
/// copy over an hour old is fetched again (attacker review: forged
/// identifiers drove a fetch a minute; a retired key verified for ever).
#[test]
fn the_key_document_is_fetched_rarely_and_kept_at_most_an_hour() {
    const MINUTE: i64 = 60_000;
    let harness = harness("disable");
    harness.origin.go_down(true);
    harness.with_limiter(|session| {
        let leaky = session.create("acme", json!({"name": "leaky"}));
        let body = found(&[leaky["key"].as_str().unwrap()]);
        let fetches = || harness.origin.received().iter().filter(|sent| sent.url.starts_with("https://keys.")).count();
        assert_eq!(session.send(report("current", &signing_key(1), &body)).status, 401);
        harness.origin.go_down(false);
        assert_eq!(session.send(report("current", &signing_key(1), &body)).status, 401, "within the interval");
        assert_eq!(fetches(), 0, "the failed fetch never reached the document");
        harness.clock.advance(5 * MINUTE);
        assert_eq!(session.send(report("current", &signing_key(1), &body)).status, 200);
        assert_eq!(fetches(), 1);
        // Forged identifiers: one more fetch at most per interval; malformed signatures none.
        for _ in 0..5 {
            assert_eq!(session.send(report("forged", &signing_key(1), &body)).status, 401);
            let garbage = report("forged", &signing_key(1), &body);
            let mut garbage = garbage.clone();
            garbage.headers.retain(|(name, _)| name != "github-public-key-signature");
            assert_eq!(session.send(garbage.with_header("Github-Public-Key-Signature", "AAAA")).status, 401);
        }
        assert_eq!(fetches(), 1, "the copy was fetched less than five minutes ago");
        // GitHub retires the key: within the hour the isolate's copy says so.
        let retired = json!({"public_keys": [{"key_identifier": "current", "key":
            signing_key(1).verifying_key().to_public_key_pem(LineEnding::LF).unwrap(), "is_current": false}]});
        harness.origin.answer_with(Response {
            status: 200,
            headers: Vec::new(),
            body: Body::Bytes(retired.to_string().into_bytes()),
        });
        harness.clock.advance(61 * MINUTE);
        assert_eq!(session.send(report("current", &signing_key(1), &body)).status, 401);
        assert_eq!(fetches(), 2);
    });
}

#[test]
fn malformed_reports_get_the_contracts_errors() {
    let harness = harness("disable");
    harness.with_limiter(|session| {
        for body in [r#"{"token": "x"}"#, r#"[{"type": "t"}]"#, "[", r#"[{"token": 5, "type": "t"}]"#] {
            let answer = session.send(report("current", &signing_key(1), body));
            assert_eq!((answer.status, code(&answer)), (400, "VALIDATION_ERROR".to_owned()), "{body}");
        }
        let many = Value::Array(vec![json!({"token": "x", "type": "t"}); 1001]).to_string();
        assert_eq!(session.send(report("current", &signing_key(1), &many)).status, 400);
        let answer = session.send(report("current", &signing_key(1), "[]"));
        assert_eq!((answer.status, answer.json_body()), (200, json!([])));
    });
}

#[test]
fn a_key_only_kv_knows_is_neutralised_too() {
    let harness = harness("disable");
    let key = support::seed(&harness.store, &[], |_| {});
    harness.with_limiter(|session| {
        let answer = session.send(report("current", &signing_key(1), &found(&[&key])));
        assert_eq!(answer.json_body()[0]["label"], "true_positive");
        assert_eq!(session.verify(&key, None)["code"], "API_KEY_DISABLED", "its first use finds it disabled");
    });
}

/// Attacker review: a key flagged under `report` (or re-activated by the
/// admin token) was never disabled again, though labelled true_positive.
#[test]
fn every_report_leaves_the_key_as_the_action_says() {
    let reporting = harness("report");
    let flagged = reporting.with_limiter(|session| {
        let leaky = session.create("acme", json!({"name": "leaky"}));
        session.send(report("current", &signing_key(1), &found(&[leaky["key"].as_str().unwrap()])));
        leaky
    });
    let key = flagged["key"].as_str().unwrap();
    // The same deployment, now under `disable`, with the same stores.
    let disabling = Harness {
        config: config(&[
            ("ADMIN_TOKEN", ADMIN_TOKEN),
            ("LEAKED_KEY_ACTION", "disable"),
            ("SECRET_SCANNING_KEYS_URL", "https://keys.example/secret_scanning"),
        ]),
        ..reporting
    };
    disabling.with_limiter(|session| {
        // A fresh limiter knows nothing: the key stands as KV holds it, flagged and active.
        assert_eq!(session.verify(key, None)["valid"], true);
        session.send(report("current", &signing_key(1), &found(&[key])));
        assert_eq!(session.verify(key, None)["code"], "API_KEY_DISABLED");
        let path = format!("/v1/projects/acme/keys/{}", flagged["id"].as_str().unwrap());
        assert_eq!(session.root("PATCH", &path, json!({"status": "active"})).status, 200);
        // Leaked again elsewhere: disabled again, the new place recorded.
        let elsewhere = found(&[key]).replace("blob/1/.env", "blob/2/config.js");
        session.send(report("current", &signing_key(1), &elsewhere));
        assert_eq!(session.verify(key, None)["code"], "API_KEY_DISABLED");
        let shown = session.root("GET", &path, Value::Null).json_body();
        assert_eq!(shown["leaked"]["url"], "https://github.com/o/r/blob/2/config.js");
    });
}

/// Attacker review: 999 made-up keys with valid checksums beside a real one
/// cost a KV read each, past a request's budget; a report is now bounded.
#[test]
fn a_report_padded_with_made_up_keys_is_bounded() {
    use keygate::key::{ApiKey, Environment, KeyPrefixes};
    let harness = harness("disable");
    harness.with_limiter(|session| {
        let leaky = session.create("acme", json!({"name": "leaky"}));
        let fake = || ApiKey::generate(Environment::Live, &KeyPrefixes::default()).unwrap().expose().to_owned();
        let mut tokens: Vec<String> = (0..300).map(|_| fake()).collect();
        tokens.push(leaky["key"].as_str().unwrap().to_owned());
        let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
        let answer = session.send(report("current", &signing_key(1), &found(&refs)));
        assert_eq!((answer.status, code(&answer)), (400, "VALIDATION_ERROR".to_owned()));
        assert_eq!(session.verify(leaky["key"].as_str().unwrap(), None)["valid"], true, "nothing was done");
        // Within the bound, and the same key named many times, is one lookup each.
        let mut within: Vec<&str> = refs[1..].to_vec();
        within.extend(std::iter::repeat_n(refs[300], 500));
        let answer = session.send(report("current", &signing_key(1), &found(&within)));
        assert_eq!(answer.status, 200, "{}", answer.json_body());
        let labels = answer.json_body();
        assert_eq!(labels.as_array().unwrap().len(), within.len());
        assert_eq!(labels[299]["label"], "true_positive");
        assert_eq!(labels[0]["label"], "false_positive");
    });
}

/// Attacker review: a key a keys:write key had deactivated before the report
/// was not marked as the admin's deactivation, so that key re-activated the
/// leaked secret.
#[test]
fn a_leaked_key_a_key_had_deactivated_stays_off_for_keys() {
    let harness = harness("disable");
    harness.with_limiter(|session| {
        let writer = session.create("acme", json!({"name": "writer", "scopes": ["keys:write", "keys:read"]}));
        let leaky = session.create("acme", json!({"name": "leaky"}));
        let path = format!("/v1/projects/acme/keys/{}", leaky["id"].as_str().unwrap());
        let w = writer["key"].as_str().unwrap();
        assert_eq!(session.call("PATCH", &path, w, json!({"status": "inactive"})).status, 200);
        let answer = session.send(report("current", &signing_key(1), &found(&[leaky["key"].as_str().unwrap()])));
        assert_eq!(answer.json_body()[0]["label"], "true_positive");
        let by_key = session.call("PATCH", &path, w, json!({"status": "active"}));
        assert_eq!(by_key.status, 403, "a keys:write key re-activated a leaked key: {}", by_key.json_body());
    });
}
