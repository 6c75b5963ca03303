use super::*;

const TOLERANCE: i64 = 300;

/// GitHub's documentation example ("Validating webhook deliveries").
const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const GITHUB_BODY: &str = "Hello, World!";
const GITHUB_SIGNATURE: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

/// The Standard Webhooks reference libraries' test vector.
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const STANDARD_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const STANDARD_TIMESTAMP: i64 = 1614265330;
const STANDARD_BODY: &str = r#"{"test": 2432232314}"#;
const STANDARD_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

/// Slack's worked example ("Verifying requests from Slack").
const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const SLACK_TIMESTAMP: i64 = 1531420618;
const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const SLACK_SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

/// Stripe publishes no fixed vector (its libraries' tests sign at run time);
/// this one was computed with Python's `hmac` over `t.body`, independently of this crate.
const STRIPE_SECRET: &str = "whsec_test_secret";
const STRIPE_TIMESTAMP: i64 = 1700000000;
const STRIPE_BODY: &str = r#"{"id":"evt_test_webhook","object":"event"}"#;
const STRIPE_V1: &str = "d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990";

fn secrets(scheme: &Scheme, texts: &[&str]) -> Vec<WebhookSecret> {
    texts.iter().map(|t| WebhookSecret::parse(scheme, t).unwrap()).collect()
}

fn run(
    scheme: &Scheme,
    secret_texts: &[&str],
    headers: &[(&str, &str)],
    body: &str,
    now: i64,
) -> Result<Verified, WebhookError> {
    let header = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    verify(scheme, &secrets(scheme, secret_texts), header, body.as_bytes(), now, TOLERANCE)
}

const DELIVERY: (&str, &str) = ("x-github-delivery", "d-1");

fn flip_last(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let last = bytes.last_mut().unwrap();
    *last = if *last == b'0' { b'1' } else { b'0' };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn githubs_documented_example_verifies() {
    let headers = [("x-hub-signature-256", GITHUB_SIGNATURE), ("x-github-delivery", "d-1")];
    let verified = run(&Scheme::Github, &[GITHUB_SECRET], &headers, GITHUB_BODY, 0).unwrap();
    assert_eq!(verified.delivery_id.as_deref(), Some("d-1"));
}

#[test]
fn github_refuses_tampering_truncation_and_other_secrets() {
    let cases: Vec<(String, &str, &str)> = vec![
        (flip_last(GITHUB_SIGNATURE), GITHUB_BODY, GITHUB_SECRET),
        (GITHUB_SIGNATURE.to_owned(), "Hello, World?", GITHUB_SECRET),
        (GITHUB_SIGNATURE[..40].to_owned(), GITHUB_BODY, GITHUB_SECRET),
        ("sha256=".to_owned(), GITHUB_BODY, GITHUB_SECRET),
        (GITHUB_SIGNATURE.replace("sha256=", "sha1="), GITHUB_BODY, GITHUB_SECRET),
        (GITHUB_SIGNATURE.to_owned(), GITHUB_BODY, "another secret"),
    ];
    for (signature, body, secret) in cases {
        let result = run(&Scheme::Github, &[secret], &[("x-hub-signature-256", &signature), DELIVERY], body, 0);
        assert_eq!(result, Err(WebhookError::InvalidSignature), "{signature} {body}");
    }
    assert_eq!(run(&Scheme::Github, &[GITHUB_SECRET], &[DELIVERY], GITHUB_BODY, 0), Err(WebhookError::MissingHeader));
}

/// Without its delivery id a GitHub delivery could not be deduplicated: an
/// attacker replaying a captured one would just leave the header out.
#[test]
fn a_github_delivery_without_its_id_is_refused() {
    let headers = [("x-hub-signature-256", GITHUB_SIGNATURE)];
    assert_eq!(run(&Scheme::Github, &[GITHUB_SECRET], &headers, GITHUB_BODY, 0), Err(WebhookError::MissingHeader));
    assert!(!Scheme::Github.has_signature_headers(|name| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)));
}

#[test]
fn hex_is_case_insensitive() {
    let upper = format!("sha256={}", GITHUB_SIGNATURE[7..].to_uppercase());
    let headers = [("x-hub-signature-256", upper.as_str()), DELIVERY];
    assert!(run(&Scheme::Github, &[GITHUB_SECRET], &headers, GITHUB_BODY, 0).is_ok());
}

#[test]
fn every_secret_is_tried_during_rotation() {
    let headers = [("x-hub-signature-256", GITHUB_SIGNATURE), DELIVERY];
    assert!(run(&Scheme::Github, &["old secret", GITHUB_SECRET], &headers, GITHUB_BODY, 0).is_ok());
    assert!(run(&Scheme::Github, &[GITHUB_SECRET, "new secret"], &headers, GITHUB_BODY, 0).is_ok());
}

#[test]
fn hmac_sha256_reads_its_configured_header() {
    let scheme = Scheme::parse("hmac-sha256", Some("X-Chatbot-Signature")).unwrap();
    let headers = [("x-chatbot-signature", GITHUB_SIGNATURE)];
    assert!(run(&scheme, &[GITHUB_SECRET], &headers, GITHUB_BODY, 0).is_ok());
    let default = Scheme::parse("hmac-sha256", None).unwrap();
    assert_eq!(run(&default, &[GITHUB_SECRET], &headers, GITHUB_BODY, 0), Err(WebhookError::MissingHeader));
    assert!(run(&default, &[GITHUB_SECRET], &[("x-signature", GITHUB_SIGNATURE)], GITHUB_BODY, 0).is_ok());
}

fn standard_headers(signature: &str, timestamp: &str) -> Vec<(&'static str, String)> {
    vec![
        ("webhook-id", STANDARD_ID.to_owned()),
        ("webhook-timestamp", timestamp.to_owned()),
        ("webhook-signature", signature.to_owned()),
    ]
}

fn run_standard(signature: &str, timestamp: &str, body: &str, now: i64) -> Result<Verified, WebhookError> {
    let owned = standard_headers(signature, timestamp);
    let headers: Vec<(&str, &str)> = owned.iter().map(|(n, v)| (*n, v.as_str())).collect();
    run(&Scheme::Standard, &[STANDARD_SECRET], &headers, body, now)
}

#[test]
fn the_standard_webhooks_vector_verifies_at_its_time() {
    let ts = STANDARD_TIMESTAMP.to_string();
    let verified = run_standard(STANDARD_SIGNATURE, &ts, STANDARD_BODY, STANDARD_TIMESTAMP).unwrap();
    assert_eq!(verified.delivery_id.as_deref(), Some(STANDARD_ID));
    let svix: Vec<(&str, &str)> =
        vec![("svix-id", STANDARD_ID), ("svix-timestamp", &ts), ("svix-signature", STANDARD_SIGNATURE)];
    assert!(run(&Scheme::Standard, &[STANDARD_SECRET], &svix, STANDARD_BODY, STANDARD_TIMESTAMP).is_ok());
}

#[test]
fn standard_tolerance_is_300_seconds_each_way() {
    let ts = STANDARD_TIMESTAMP.to_string();
    let at = |now| run_standard(STANDARD_SIGNATURE, &ts, STANDARD_BODY, now);
    assert!(at(STANDARD_TIMESTAMP + 300).is_ok());
    assert!(at(STANDARD_TIMESTAMP - 300).is_ok());
    assert_eq!(at(STANDARD_TIMESTAMP + 301), Err(WebhookError::TimestampTooOld));
    assert_eq!(at(STANDARD_TIMESTAMP - 301), Err(WebhookError::TimestampInFuture));
}

#[test]
fn standard_refuses_malformed_entries_and_timestamps() {
    let ts = STANDARD_TIMESTAMP.to_string();
    let now = STANDARD_TIMESTAMP;
    for signature in [
        "v1,",
        "v1",
        "",
        &flip_last(&STANDARD_SIGNATURE.replace('=', "")),
        "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    ] {
        assert_eq!(
            run_standard(signature, &ts, STANDARD_BODY, now),
            Err(WebhookError::InvalidSignature),
            "{signature:?}"
        );
    }
    let several = format!("v1,bm9wZQ== v1a,whatever {STANDARD_SIGNATURE}");
    assert!(run_standard(&several, &ts, STANDARD_BODY, now).is_ok(), "the last of several may be the right one");
    let reserialized = r#"{"test":2432232314}"#;
    assert_eq!(run_standard(STANDARD_SIGNATURE, &ts, reserialized, now), Err(WebhookError::InvalidSignature));
    for bad in ["1614265330.5", "-1614265330", "+1614265330", "abc", "", " 1614265330"] {
        assert_eq!(
            run_standard(STANDARD_SIGNATURE, bad, STANDARD_BODY, now),
            Err(WebhookError::InvalidTimestamp),
            "{bad:?}"
        );
    }
    let missing = [("webhook-id", STANDARD_ID), ("webhook-signature", STANDARD_SIGNATURE)];
    assert_eq!(
        run(&Scheme::Standard, &[STANDARD_SECRET], &missing, STANDARD_BODY, now),
        Err(WebhookError::MissingHeader)
    );
}

#[test]
fn standard_secrets_decode_strictly() {
    assert!(WebhookSecret::parse(&Scheme::Standard, "whsec_").is_err());
    assert!(WebhookSecret::parse(&Scheme::Standard, "whsec_not base64!").is_err());
    assert!(WebhookSecret::parse(&Scheme::Github, "").is_err());
    assert!(WebhookSecret::parse(&Scheme::Github, "a secret with spaces").is_ok());
    assert_eq!(format!("{:?}", WebhookSecret::parse(&Scheme::Github, "hunter2").unwrap()), "WebhookSecret([redacted])");
}

#[test]
fn slacks_documented_example_verifies_and_times_out() {
    let ts = SLACK_TIMESTAMP.to_string();
    let headers = [("x-slack-request-timestamp", ts.as_str()), ("x-slack-signature", SLACK_SIGNATURE)];
    assert!(run(&Scheme::Slack, &[SLACK_SECRET], &headers, SLACK_BODY, SLACK_TIMESTAMP + 60).is_ok());
    assert_eq!(
        run(&Scheme::Slack, &[SLACK_SECRET], &headers, SLACK_BODY, SLACK_TIMESTAMP + 301),
        Err(WebhookError::TimestampTooOld)
    );
    let tampered = [("x-slack-request-timestamp", ts.as_str()), ("x-slack-signature", &flip_last(SLACK_SIGNATURE))];
    assert_eq!(
        run(&Scheme::Slack, &[SLACK_SECRET], &tampered, SLACK_BODY, SLACK_TIMESTAMP),
        Err(WebhookError::InvalidSignature)
    );
}

#[test]
fn stripe_verifies_any_v1_and_ignores_other_versions() {
    let header = format!("t={STRIPE_TIMESTAMP},v0=00ff,v1=deadbeef,v1={STRIPE_V1}");
    let at =
        |header: &str, now| run(&Scheme::Stripe, &[STRIPE_SECRET], &[("stripe-signature", header)], STRIPE_BODY, now);
    assert!(at(&header, STRIPE_TIMESTAMP).is_ok());
    assert!(at(&header, STRIPE_TIMESTAMP + 300).is_ok());
    assert_eq!(at(&header, STRIPE_TIMESTAMP + 301), Err(WebhookError::TimestampTooOld));
    assert_eq!(at(&header, STRIPE_TIMESTAMP - 301), Err(WebhookError::TimestampInFuture));
    assert_eq!(
        at(&format!("t={STRIPE_TIMESTAMP},v0={STRIPE_V1}"), STRIPE_TIMESTAMP),
        Err(WebhookError::InvalidSignature)
    );
    assert_eq!(at(&format!("v1={STRIPE_V1}"), STRIPE_TIMESTAMP), Err(WebhookError::MissingHeader));
    assert_eq!(at(&format!("t=abc,v1={STRIPE_V1}"), STRIPE_TIMESTAMP), Err(WebhookError::InvalidTimestamp));
    let upper = format!("t={STRIPE_TIMESTAMP},v1={}", STRIPE_V1.to_uppercase());
    assert!(at(&upper, STRIPE_TIMESTAMP).is_ok());
}

/// A captured Stripe or Slack delivery carries no id: its replays are told
/// apart by the signature, the same however the header is rearranged.
#[test]
fn stripe_and_slack_replays_share_one_replay_id() {
    let secrets = [STRIPE_SECRET, "a second secret"];
    let second = hex::encode(sign(
        &WebhookSecret::parse(&Scheme::Stripe, secrets[1]).unwrap(),
        &[STRIPE_TIMESTAMP.to_string().as_bytes(), b".", STRIPE_BODY.as_bytes()],
    ));
    let replay_id = |header: String| {
        let headers = [("stripe-signature", header.as_str())];
        run(&Scheme::Stripe, &secrets, &headers, STRIPE_BODY, STRIPE_TIMESTAMP).unwrap().replay_id.unwrap()
    };
    let original = replay_id(format!("t={STRIPE_TIMESTAMP},v1={STRIPE_V1},v1={second}"));
    assert_eq!(replay_id(format!("t={STRIPE_TIMESTAMP},v1={STRIPE_V1}")), original);
    assert_eq!(replay_id(format!("t={STRIPE_TIMESTAMP},v1={second}")), original, "only the second secret's");
    assert!(!original.contains(STRIPE_V1) && !original.contains(&second), "no signature kept as a name");
    let slack = |ts: i64, signature: &str| {
        let ts = ts.to_string();
        let headers = [("x-slack-request-timestamp", ts.as_str()), ("x-slack-signature", signature)];
        run(&Scheme::Slack, &[SLACK_SECRET], &headers, SLACK_BODY, SLACK_TIMESTAMP).map(|v| v.replay_id)
    };
    assert_ne!(slack(SLACK_TIMESTAMP, SLACK_SIGNATURE).unwrap(), None);
    let upper = format!("v0={}", SLACK_SIGNATURE[3..].to_uppercase());
    assert_eq!(slack(SLACK_TIMESTAMP, SLACK_SIGNATURE), slack(SLACK_TIMESTAMP, &upper));
}

#[test]
fn sign_matches_verify() {
    let secret = WebhookSecret::parse(&Scheme::Github, GITHUB_SECRET).unwrap();
    assert_eq!(format!("sha256={}", hex::encode(sign(&secret, &[GITHUB_BODY.as_bytes()]))), GITHUB_SIGNATURE);
}
