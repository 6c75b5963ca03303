//! The JSON request bodies of verify and the admin API as types: a body that
//! deserializes into one is valid, field by field.
//!
//! Guarantees: unknown fields are refused (`deny_unknown_fields`), so a typo
//! never silently drops a constraint; every refusal is `VALIDATION_ERROR`
//! naming the field, with a message of ours that never echoes the value
//! (which may be a secret); nothing is written unless the whole body is valid.
//!
//! Parsing and refusals are here; the fields in `fields.rs` (text) and
//! `numbers.rs` (integers, limits, credits); the bodies in `keys.rs` (create,
//! PATCH, rotate) and `verify.rs`.

mod fields;
mod keys;
mod numbers;
mod verify;

use serde::de::DeserializeOwned;

use crate::app::json::JsonObject;
use crate::error::Error;

pub use fields::{Meta, Name, Scopes, Timestamp, MAX_META_BYTES, MAX_NAME_CHARS, MAX_SCOPES};
pub use keys::{apply_patch, new_record, CreateKey, PatchKey, RotateKey, MAX_GRACE_SECONDS};
pub(crate) use numbers::limits;
pub use numbers::{whole, whole_or_null, ChangeCredits, CreditsBody, Limit, RateLimit, Whole};
pub use verify::{ClientIp, VerifyKey, WantedScope};

/// Each field's rule, which a refusal states when the value is of the wrong kind.
const RULES: &[(&str, &str)] = &[
    ("name", "Must be 1 to 100 characters, not blank, without control characters."),
    ("scopes", "Must be an array of at most 64 scope strings."),
    ("environment", "Must be `live` or `test`."),
    ("status", "Must be `active` or `inactive`."),
    ("plan", "Must be the name of one of this deployment's plans."),
    ("rate_limit", "Must be {\"per_minute\": N, \"per_day\": M} with positive integers."),
    ("expires_at", "Must be an RFC 3339 timestamp in the future, e.g. 2030-01-01T00:00:00Z."),
    ("meta", "Must be a JSON object of at most 1024 bytes."),
    ("grace_seconds", "Must be an integer from 0 to 604800."),
    ("key", "Must be a string."),
    ("scope", "Must be a scope: `admin`, `resource:action` or `resource:*`."),
    ("project", "Must be a string."),
    ("cost", "Must be an integer from 0."),
    ("credits", "Must be null or {\"remaining\": N, \"refill\": null | {\"interval\": \"daily\"|\"monthly\", \"amount\": N, \"day\": 1-31}}."),
    ("op", "Must be `set`, `increment` or `decrement`."),
    ("amount", "Must be an integer from 0."),
    ("owner_id", "Must be 1 to 128 letters, digits and . _ : -"),
    ("allowed_ips", "Must be null or an array of 1 to 32 IPv4/IPv6 addresses or CIDR blocks."),
    ("ip", "Must be an IPv4 or IPv6 address."),
    ("recoverable", "Must be true or false."),
];

fn rule(field: &str) -> &'static str {
    RULES.iter().find(|(name, _)| *name == field).map_or("Invalid value.", |(_, rule)| rule)
}

/// `body` as `T`: `INVALID_JSON` unless it is a JSON object (an empty body is
/// `{}` when `empty_ok`), else `VALIDATION_ERROR` naming the first field in error.
pub fn parse_body<T: DeserializeOwned>(body: &[u8], empty_ok: bool) -> Result<T, Error> {
    let object = JsonObject::parse(body, empty_ok)?;
    serde_path_to_error::deserialize(object.into_value()).map_err(|error| {
        let said = error.inner().to_string();
        let path = error.path().to_string();
        // An unknown or missing field is reported at the object: its name is in serde's message.
        let named = said.split('`').nth(1);
        let field = path.split(['.', '[']).next().filter(|first| !first.is_empty()).or(named).unwrap_or("body");
        let field: String = field.chars().take(64).collect();
        let message = if let Some(expected) =
            said.strip_prefix("unknown field").and_then(|rest| rest.split_once("expected "))
        {
            // serde lists the field names this body takes, which are ours.
            format!("Unknown field; this route takes {}.", expected.1.trim_start_matches("one of ").replace('`', ""))
        } else if said.starts_with(char::is_uppercase) {
            // Our own rules begin with a capital and never hold the value.
            said.clone()
        } else {
            // serde's own messages ("invalid type: string …") may quote the value.
            rule(&field).to_owned()
        };
        Error::validation(&field, message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field and message of `body`'s refusal as a `T`.
    pub(super) fn refusal<T: DeserializeOwned + std::fmt::Debug>(body: &str) -> (String, String) {
        match parse_body::<T>(body.as_bytes(), true) {
            Err(Error::Validation { field, message }) => (field, message),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_refusal_names_its_field_and_never_echoes_the_value() {
        let secret = "sk_live_not_to_be_echoed";
        for (body, field) in [
            (r#"{"name": 5}"#.into(), "name"),
            (format!(r#"{{"name": ["{secret}"]}}"#), "name"),
            (format!(r#"{{"name": "n", "meta": "{secret}"}}"#), "meta"),
            (format!(r#"{{"name": "n", "scopes": ["{secret}"]}}"#), "scopes"),
            (format!(r#"{{"name": "n", "expires_at": "{secret}"}}"#), "expires_at"),
            (r#"{"name": "n", "rate_limit": {"per_minute": 0, "per_day": 1}}"#.into(), "rate_limit"),
            (r#"{"name": "n", "rate_limit": {"per_minute": 1, "per_day": 1, "burst": 2}}"#.into(), "rate_limit"),
            (r#"{"scopes": []}"#.into(), "name"),
        ] {
            let (named, message) = refusal::<CreateKey>(&body);
            assert_eq!(named, field, "{body}");
            assert!(!message.contains(secret) && !message.contains("sk_live"), "{message}");
        }
        assert_eq!(refusal::<PatchKey>(r#"{"status": null}"#).0, "status");
        assert_eq!(refusal::<PatchKey>(r#"{"status": "paused"}"#).0, "status");
        let (field, message) = refusal::<PatchKey>(r#"{"scopez": ["a:read"]}"#);
        assert_eq!(field, "scopez");
        assert!(message.starts_with("Unknown field; this route takes name, scopes"), "{message}");
        // A secret shown once cannot be made recoverable afterwards.
        let (field, message) = refusal::<PatchKey>(r#"{"recoverable": true}"#);
        assert_eq!(field, "recoverable");
        assert!(message.starts_with("Unknown field"), "{message}");
        assert_eq!(refusal::<CreateKey>(r#"{"name": "n", "recoverable": "yes"}"#).0, "recoverable");
        assert_eq!(refusal::<RotateKey>(r#"{"recoverable": 1}"#).0, "recoverable");
    }
}
