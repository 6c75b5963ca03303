//! `POST /webhooks/{source}` through the app: verification, replay protection, forwarding.

mod support;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use keygate::app::http::{Body, Request, Response};
use keygate::webhook::{sign, Scheme, WebhookSecret};
use serde_json::json;
use support::*;

const GITHUB_SECRET: &str = "github secret with spaces";
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn webhook_config() -> keygate::config::Config {
    config(&[
        (
            "WEBHOOKS",
            r#"{"gh":{"scheme":"github","forward_to":"https://origin.example/hooks/gh"},
                "svix":{"scheme":"standard"},
                "chat":{"scheme":"hmac-sha256","header":"X-Chatbot-Signature","forward_to":"https://origin.example/chat"}}"#,
        ),
        ("WEBHOOK_SECRET_GH", &format!(r#"["retired secret", "{GITHUB_SECRET}"]"#)),
        ("WEBHOOK_SECRET_SVIX", STANDARD_SECRET),
        ("WEBHOOK_SECRET_CHAT", "chat secret"),
        ("MAX_WEBHOOK_BYTES", "4096"),
    ])
}

fn github_delivery(body: &str, delivery: &str) -> Request {
    let secret = WebhookSecret::parse(&Scheme::Github, GITHUB_SECRET).unwrap();
    let signature = format!("sha256={}", hex::encode(sign(&secret, &[body.as_bytes()])));
    Request::new("POST", "/webhooks/gh")
        .with_header("X-Hub-Signature-256", &signature)
        .with_header("X-GitHub-Delivery", delivery)
        .with_header("Content-Type", "application/json")
        .with_header("X-Keygate-Webhook-Source", "forged")
        .with_header("Authorization", "Bearer sk_live_credential_for_someone_else")
        .with_header("X-API-Key", "sk_live_credential_for_someone_else")
        .with_body(body)
}

fn standard_delivery(id: &str, timestamp: i64, body: &str) -> Request {
    let secret = WebhookSecret::parse(&Scheme::Standard, STANDARD_SECRET).unwrap();
    let ts = timestamp.to_string();
    let mac = sign(&secret, &[id.as_bytes(), b".", ts.as_bytes(), b".", body.as_bytes()]);
    Request::new("POST", "/webhooks/svix")
        .with_header("webhook-id", id)
        .with_header("webhook-timestamp", &ts)
        .with_header("webhook-signature", &format!("v1,{}", STANDARD.encode(mac)))
        .with_body(body)
}

fn assert_invalid_signature(response: &Response) {
    assert_eq!((response.status, code(response)), (401, "INVALID_SIGNATURE".to_owned()));
    assert_eq!(response.header("www-authenticate"), Some("Bearer realm=\"keygate\""));
}

#[test]
fn a_signed_delivery_is_forwarded_once_with_its_exact_bytes() {
    let harness = Harness::with_config(webhook_config());
    harness.with_limiter(|h| {
        harness.origin.answer_with(Response {
            status: 202,
            headers: vec![("x-origin".into(), "yes".into())],
            body: Body::Bytes(b"taken".to_vec()),
        });
        // Not what serde would write: the exact bytes must survive.
        let body = "{ \"action\" : \"opened\",\n  \"n\": 1.50 }";
        let answer = h.send(github_delivery(body, "d-1"));
        assert_eq!((answer.status, answer.header("x-origin"), answer.body.bytes()), (202, Some("yes"), &b"taken"[..]));

        let received = harness.origin.received();
        assert_eq!(received.len(), 1);
        let forwarded = &received[0];
        assert_eq!((forwarded.method.as_str(), forwarded.url.as_str()), ("POST", "https://origin.example/hooks/gh"));
        assert_eq!(forwarded.body, Body::Bytes(body.as_bytes().to_vec()));
        let header = |name: &str| {
            forwarded.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect::<Vec<_>>()
        };
        assert_eq!(header("x-keygate-webhook-source"), vec!["gh"], "the client's copy is replaced");
        assert_eq!(header("x-github-delivery"), vec!["d-1"]);
        assert_eq!(header("content-type"), vec!["application/json"]);
        for credential in ["authorization", "x-api-key"] {
            assert!(header(credential).is_empty(), "{credential} is not forwarded");
        }

        let again = h.send(github_delivery(body, "d-1"));
        assert_eq!((again.status, again.json_body()), (200, json!({"verified": true, "duplicate": true})));
        assert_eq!(harness.origin.received().len(), 1, "a duplicate is not forwarded");
        assert_eq!(h.send(github_delivery(body, "d-2")).status, 202);
        assert_eq!(harness.origin.received().len(), 2);
    })
}

#[test]
fn forgeries_are_refused_and_never_forwarded() {
    let harness = Harness::with_config(webhook_config());
    harness.with_limiter(|h| {
        let mut forged = github_delivery("{\"a\":1}", "d-9");
        forged.body = b"{\"a\":2}".to_vec();
        assert_invalid_signature(&h.send(forged));
        let unsigned = Request::new("POST", "/webhooks/gh").with_body("{}");
        assert_invalid_signature(&h.send(unsigned));
        let other_scheme =
            Request::new("POST", "/webhooks/chat").with_header("X-Signature", "sha256=00").with_body("x");
        assert_invalid_signature(&h.send(other_scheme));
        assert!(harness.origin.received().is_empty());
        // A forgery does not burn the id: the genuine delivery still passes.
        assert_eq!(h.send(github_delivery("{\"a\":1}", "d-9")).status, 200);
    })
}

#[test]
fn standard_deliveries_without_forward_to_are_answered_and_deduplicated() {
    let harness = Harness::with_config(webhook_config());
    harness.with_limiter(|h| {
        let now = NOW / 1000;
        let answer = h.send(standard_delivery("msg_1", now, "{\"x\":1}"));
        assert_eq!(
            (answer.status, answer.json_body()),
            (200, json!({"verified": true, "source": "svix", "id": "msg_1"}))
        );
        let again = h.send(standard_delivery("msg_1", now, "{\"x\":1}"));
        assert_eq!(again.json_body(), json!({"verified": true, "duplicate": true}));

        let old = h.send(standard_delivery("msg_2", now - 301, "{}"));
        assert_invalid_signature(&old);
        assert_eq!(old.json_body()["error"]["message"], "Webhook timestamp outside tolerance.");
        assert_eq!(h.send(standard_delivery("msg_3", now + 300, "{}")).status, 200);
        assert_invalid_signature(&h.send(standard_delivery("msg_4", now + 301, "{}")));
    })
}

#[test]
fn a_failed_forward_is_502_and_the_retry_goes_through() {
    let harness = Harness::with_config(webhook_config());
    harness.with_limiter(|h| {
        harness.origin.go_down(true);
        let down = h.send(github_delivery("{}", "d-5"));
        assert_eq!((down.status, code(&down)), (502, "ORIGIN_ERROR".to_owned()));
        harness.origin.go_down(false);
        assert_eq!(h.send(github_delivery("{}", "d-5")).status, 200);
        assert_eq!(harness.origin.received().len(), 1);
    })
}

#[test]
fn unknown_sources_wrong_methods_and_storage_failures() {
    let harness = Harness::with_config(webhook_config());
    harness.with_limiter(|h| {
        assert_eq!(code(&h.send(Request::new("POST", "/webhooks/nope").with_body("{}"))), "NOT_FOUND");
        let get = h.send(Request::new("GET", "/webhooks/gh"));
        assert_eq!((get.status, get.header("allow")), (405, Some("POST")));
        h.limiter.fail(true);
        let failed = h.send(github_delivery("{}", "d-7"));
        assert_eq!((failed.status, code(&failed)), (503, "UNAVAILABLE".to_owned()));
        assert!(harness.origin.received().is_empty(), "no forward without replay protection");
    })
}

#[test]
fn webhook_bodies_are_capped_by_max_webhook_bytes() {
    let config = webhook_config();
    let limit = |request: Request| keygate::app::body_limit(&config, &request).map_err(|e| e.code());
    assert_eq!(limit(github_delivery("", "d-1")), Ok(Some(4096)));
    assert_eq!(limit(Request::new("POST", "/v1/keys/verify")), Ok(Some(64 * 1024)));
    assert_eq!(limit(Request::new("GET", "/v1/projects/p/bots")), Ok(None), "gateway bodies stream");
}

/// The shell reads no body for a delivery that cannot verify whatever it holds.
#[test]
fn a_delivery_is_refused_from_its_head_before_its_body_is_read() {
    let config = webhook_config();
    let limit = |request: Request| keygate::app::body_limit(&config, &request).map_err(|e| e.code());
    assert_eq!(limit(Request::new("POST", "/webhooks/nope")), Err("NOT_FOUND"));
    assert_eq!(limit(Request::new("POST", "/webhooks/gh")), Err("INVALID_SIGNATURE"));
    let mut no_delivery_id = github_delivery("{}", "d-1");
    no_delivery_id.headers.retain(|(name, _)| name != "x-github-delivery");
    assert_eq!(limit(no_delivery_id), Err("INVALID_SIGNATURE"));
    assert_eq!(limit(Request::new("POST", "/webhooks/gh/..;/x")), Err("INVALID_PATH"));
}

/// Reproducer: a `forward_to` answering 5xx kept the delivery claimed, so the
/// sender's retry was answered `duplicate` and the event was lost.
#[test]
fn a_forward_answered_5xx_or_429_is_released_for_the_retry() {
    let harness = Harness::with_config(webhook_config());
    harness.with_limiter(|h| {
        for (status, delivery) in [(500, "d-500"), (503, "d-503"), (429, "d-429")] {
            harness.origin.answer_with(Response { status, headers: Vec::new(), body: Body::Bytes(Vec::new()) });
            assert_eq!(h.send(github_delivery("{}", delivery)).status, status);
            harness.origin.answer_with(Response { status: 200, headers: Vec::new(), body: Body::Bytes(Vec::new()) });
            let retry = h.send(github_delivery("{}", delivery));
            assert_eq!((retry.status, retry.json_body()), (200, serde_json::Value::Null), "{status}: forwarded again");
        }
        assert_eq!(harness.origin.received().len(), 6);
        // A 4xx other than 429 is the receiver's final word: the delivery stays claimed.
        harness.origin.answer_with(Response { status: 400, headers: Vec::new(), body: Body::Bytes(Vec::new()) });
        assert_eq!(h.send(github_delivery("{}", "d-400")).status, 400);
        assert_eq!(h.send(github_delivery("{}", "d-400")).json_body()["duplicate"], true);
    })
}

/// Stripe deliveries carry no id: a captured one replayed within the
/// tolerance window is a duplicate, even with its signature header rearranged.
#[test]
fn a_replayed_stripe_delivery_is_a_duplicate() {
    let mut config = webhook_config();
    let stripe = config.webhooks["chat"].clone();
    let secret = WebhookSecret::parse(&Scheme::Stripe, "stripe secret").unwrap();
    config.webhooks.insert(
        "stripe".into(),
        keygate::config::WebhookSource {
            scheme: Scheme::Stripe,
            secrets: vec![secret.clone()],
            forward_to: None,
            ..stripe
        },
    );
    let harness = Harness::with_config(config);
    harness.with_limiter(|h| {
        let ts = (NOW / 1000).to_string();
        let v1 = hex::encode(sign(&secret, &[ts.as_bytes(), b".", b"{\"id\":\"evt_1\"}"]));
        let deliver = |header: String| {
            h.send(
                Request::new("POST", "/webhooks/stripe")
                    .with_header("Stripe-Signature", &header)
                    .with_body("{\"id\":\"evt_1\"}"),
            )
        };
        assert_eq!(deliver(format!("t={ts},v1={v1}")).json_body()["verified"], true);
        assert_eq!(deliver(format!("t={ts},v1={v1}")).json_body()["duplicate"], true);
        assert_eq!(deliver(format!("t={ts},v0=00,v1={v1}")).json_body()["duplicate"], true);
    })
}

/// Reproducer: the shell's head check ran before the method check, so a GET
/// (or TRACE) to a webhook route or the leak endpoint was 401 INVALID_SIGNATURE,
/// not the contract's 405 with `Allow` (found by schemathesis).
#[test]
fn another_method_is_405_before_any_signature_check() {
    let config = webhook_config();
    for (method, path) in [
        ("GET", "/webhooks/chat"),
        ("TRACE", "/webhooks/chat"),
        ("PUT", "/webhooks/unknown"),
        ("GET", "/v1/secret-scanning/github"),
    ] {
        let request = Request::new(method, path);
        assert_eq!(keygate::app::body_limit(&config, &request), Ok(Some(64 * 1024)), "{method} {path}");
        let harness = Harness::with_config(webhook_config());
        let response = harness.with_limiter(|h| h.send(Request::new(method, path)));
        assert_eq!((response.status, code(&response).as_str()), (405, "METHOD_NOT_ALLOWED"), "{method} {path}");
        assert!(response.headers.iter().any(|(name, value)| name == "allow" && value == "POST"));
    }
}
