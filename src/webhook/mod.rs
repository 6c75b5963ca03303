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
mod tests;
