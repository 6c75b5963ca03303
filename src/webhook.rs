//! Webhook signature schemes, pure.
//!
//! Guarantees: HMAC-SHA256 over the raw bytes, compared in constant time
//! with a length check (`Mac::verify_slice`); every signature entry of a
//! header is tried against every configured secret; unknown signature
//! versions are ignored; timestamps are plain integers within ±tolerance;
//! errors never say which secret or byte was wrong. [`WebhookSecret`] never
//! prints its bytes.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The signature schemes of the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// `<header>: sha256=<hex>` over the body; `header` is lower-case.
    HmacSha256 { header: String },
    /// `X-Hub-Signature-256: sha256=<hex>`; deliveries dedupe on `X-GitHub-Delivery`.
    Github,
    /// Standard Webhooks / Svix: `v1,<base64>` over `id.timestamp.body`.
    Standard,
    /// `Stripe-Signature: t=…,v1=…` over `t.body`.
    Stripe,
    /// `X-Slack-Signature: v0=<hex>` over `v0:ts:body`.
    Slack,
}

impl Scheme {
    pub fn parse(name: &str, header: Option<&str>) -> Result<Scheme, String> {
        if header.is_some() && name != "hmac-sha256" {
            return Err(format!("`header` applies only to the hmac-sha256 scheme, not `{name}`"));
        }
        Ok(match name {
            "hmac-sha256" => Scheme::HmacSha256 { header: header.unwrap_or("x-signature").to_ascii_lowercase() },
            "github" => Scheme::Github,
            "standard" => Scheme::Standard,
            "stripe" => Scheme::Stripe,
            "slack" => Scheme::Slack,
            other => return Err(format!("unknown scheme `{other}` (hmac-sha256, github, standard, stripe or slack)")),
        })
    }

    /// Whether every header the scheme needs is there, so a delivery without
    /// them is refused before its body is read.
    pub fn has_signature_headers<'h>(&self, header: impl Fn(&str) -> Option<&'h str>) -> bool {
        let all = |names: &[&str]| names.iter().all(|name| header(name).is_some());
        match self {
            Scheme::HmacSha256 { header: name } => all(&[name]),
            Scheme::Github => all(&["x-hub-signature-256", "x-github-delivery"]),
            Scheme::Standard => {
                all(&["webhook-id", "webhook-timestamp", "webhook-signature"])
                    || all(&["svix-id", "svix-timestamp", "svix-signature"])
            }
            Scheme::Stripe => all(&["stripe-signature"]),
            Scheme::Slack => all(&["x-slack-signature", "x-slack-request-timestamp"]),
        }
    }
}

/// A signing secret's key bytes.
/// Keyed into its HMAC once, when the configuration is parsed; each
/// verification clones the keyed state instead of keying again.
#[derive(Clone)]
pub struct WebhookSecret(HmacSha256);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

impl WebhookSecret {
    /// The key of `text` for `scheme`: `whsec_` + base64 decoded strictly for
    /// `standard`, the UTF-8 bytes otherwise. Never an empty key.
    pub fn parse(scheme: &Scheme, text: &str) -> Result<WebhookSecret, &'static str> {
        let bytes = match scheme {
            Scheme::Standard => {
                let encoded = text.strip_prefix("whsec_").unwrap_or(text);
                STANDARD.decode(encoded).map_err(|_| "a standard secret must be whsec_ followed by base64")?
            }
            _ => text.as_bytes().to_vec(),
        };
        if bytes.is_empty() {
            return Err("a secret must not be empty");
        }
        Ok(WebhookSecret(HmacSha256::new_from_slice(&bytes).expect("HMAC takes keys of any length")))
    }
}

/// Why a delivery was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookError {
    MissingHeader,
    InvalidSignature,
    InvalidTimestamp,
    TimestampTooOld,
    TimestampInFuture,
}

impl WebhookError {
    /// A message that names no secret and no byte.
    pub fn message(self) -> &'static str {
        match self {
            WebhookError::MissingHeader => "Missing webhook signature headers.",
            WebhookError::InvalidSignature => "Invalid webhook signature.",
            WebhookError::InvalidTimestamp => "Invalid webhook timestamp.",
            WebhookError::TimestampTooOld | WebhookError::TimestampInFuture => "Webhook timestamp outside tolerance.",
        }
    }
}

/// A verified delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The sender's delivery id, for schemes that have one.
    pub delivery_id: Option<String>,
    /// What tells this delivery from its replays: the sender's id (`github`,
    /// `standard`), else (`stripe`, `slack`) a digest of the signature under
    /// the first secret, the same for every copy of one signed delivery
    /// whichever of the header's signatures matched. `None` for plain
    /// `hmac-sha256`, which signs no timestamp and no id.
    pub replay_id: Option<String>,
}

/// Verifies `body` as delivered with `header` (lower-case names) at `now` (unix seconds).
pub fn verify<'h>(
    scheme: &Scheme,
    secrets: &[WebhookSecret],
    header: impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<Verified, WebhookError> {
    let required = |name: &str| header(name).ok_or(WebhookError::MissingHeader);
    match scheme {
        Scheme::HmacSha256 { header: name } => {
            let candidates = prefixed_hex(required(name)?, "sha256=");
            check(secrets, &[body], &candidates)?;
            Ok(Verified { delivery_id: None, replay_id: None })
        }
        Scheme::Github => {
            // GitHub always sends its delivery id: without it, deduplication would be off.
            let delivery = required("x-github-delivery")?;
            let candidates = prefixed_hex(required("x-hub-signature-256")?, "sha256=");
            check(secrets, &[body], &candidates)?;
            Ok(Verified::with_id(delivery))
        }
        Scheme::Standard => {
            let prefix = if header("webhook-id").is_some() { "webhook" } else { "svix" };
            let id = required(&format!("{prefix}-id"))?;
            let timestamp = required(&format!("{prefix}-timestamp"))?;
            let signatures = required(&format!("{prefix}-signature"))?;
            check_time(timestamp, now, tolerance)?;
            let candidates: Vec<Vec<u8>> = signatures
                .split_whitespace()
                .filter_map(|entry| entry.strip_prefix("v1,"))
                .filter_map(|encoded| STANDARD.decode(encoded).ok())
                .collect();
            check(secrets, &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body], &candidates)?;
            Ok(Verified::with_id(id))
        }
        Scheme::Stripe => {
            let mut timestamp = None;
            let mut candidates = Vec::new();
            for (key, value) in required("stripe-signature")?.split(',').filter_map(|item| item.trim().split_once('='))
            {
                match key {
                    "t" if timestamp.is_none() => timestamp = Some(value),
                    "v1" => candidates.extend(hex::decode(value).ok()),
                    _ => {}
                }
            }
            let timestamp = timestamp.ok_or(WebhookError::MissingHeader)?;
            check_time(timestamp, now, tolerance)?;
            let tag = check(secrets, &[timestamp.as_bytes(), b".", body], &candidates)?;
            Ok(Verified::with_tag(&tag))
        }
        Scheme::Slack => {
            let timestamp = required("x-slack-request-timestamp")?;
            let candidates = prefixed_hex(required("x-slack-signature")?, "v0=");
            check_time(timestamp, now, tolerance)?;
            let tag = check(secrets, &[b"v0:", timestamp.as_bytes(), b":", body], &candidates)?;
            Ok(Verified::with_tag(&tag))
        }
    }
}

/// The signature of `parts` under `secret`, for tests and senders.
pub fn sign(secret: &WebhookSecret, parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = secret.0.clone();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Every `<prefix><hex>` entry of a comma-separated header value, decoded (hex is case-insensitive).
fn prefixed_hex(value: &str, prefix: &str) -> Vec<Vec<u8>> {
    value.split(',').filter_map(|entry| entry.trim().strip_prefix(prefix)).filter_map(|h| hex::decode(h).ok()).collect()
}

impl Verified {
    fn with_id(id: &str) -> Verified {
        Verified { delivery_id: Some(id.to_owned()), replay_id: Some(format!("id-{id}")) }
    }

    /// Named by a digest of the tag, so no signature is kept as a name.
    fn with_tag(tag: &[u8; 32]) -> Verified {
        let digest = Sha256::digest(tag);
        Verified { delivery_id: None, replay_id: Some(format!("sig-{}", hex::encode(&digest[..16]))) }
    }
}

/// Accepts if any candidate is the MAC of `parts` under any secret; returns
/// the MAC under the first secret, whichever matched.
fn check(secrets: &[WebhookSecret], parts: &[&[u8]], candidates: &[Vec<u8>]) -> Result<[u8; 32], WebhookError> {
    let mut matched = false;
    let mut first_tag = None;
    for secret in secrets {
        let mut mac = secret.0.clone();
        for part in parts {
            mac.update(part);
        }
        for candidate in candidates {
            // Constant time and length-checked; no early exit, so timing says nothing of which matched.
            matched |= mac.clone().verify_slice(candidate).is_ok();
        }
        first_tag.get_or_insert_with(|| mac.finalize().into_bytes().into());
    }
    match first_tag {
        Some(tag) if matched => Ok(tag),
        _ => Err(WebhookError::InvalidSignature),
    }
}

/// A timestamp of plain ASCII digits within ±`tolerance` seconds of `now`.
fn check_time(text: &str, now: i64, tolerance: i64) -> Result<(), WebhookError> {
    if text.is_empty() || text.len() > 15 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WebhookError::InvalidTimestamp);
    }
    let timestamp: i64 = text.parse().map_err(|_| WebhookError::InvalidTimestamp)?;
    if now.saturating_sub(timestamp) > tolerance {
        return Err(WebhookError::TimestampTooOld);
    }
    if timestamp.saturating_sub(now) > tolerance {
        return Err(WebhookError::TimestampInFuture);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
        assert_eq!(
            run(&Scheme::Github, &[GITHUB_SECRET], &[DELIVERY], GITHUB_BODY, 0),
            Err(WebhookError::MissingHeader)
        );
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
        assert_eq!(
            format!("{:?}", WebhookSecret::parse(&Scheme::Github, "hunter2").unwrap()),
            "WebhookSecret([redacted])"
        );
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
        let at = |header: &str, now| {
            run(&Scheme::Stripe, &[STRIPE_SECRET], &[("stripe-signature", header)], STRIPE_BODY, now)
        };
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
}
