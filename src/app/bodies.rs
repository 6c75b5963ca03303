//! The JSON request bodies of verify and the admin API as types: a body that
//! deserializes into one is valid, field by field.
//!
//! Guarantees: unknown fields are refused (`deny_unknown_fields`), so a typo
//! never silently drops a constraint; every refusal is `VALIDATION_ERROR`
//! naming the field, with a message of ours that never echoes the value
//! (which may be a secret); nothing is written unless the whole body is valid.

use std::net::IpAddr;
use std::num::NonZeroU32;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Number, Value};

use crate::allowlist::Allowlist;
use crate::app::json::JsonObject;
use crate::app::principal::Principal;
use crate::config::Config;
use crate::credits::{Credits, Refill};
use crate::error::Error;
use crate::ids::{KeyId, OwnerId, ProjectId};
use crate::key::Environment;
use crate::keystate::CreditOp;
use crate::ratelimit::Quota;
use crate::record::{parse_rfc3339, KeyRecord, KeyStatus, UnixMillis};
use crate::scope::Scope;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_SCOPES: usize = 64;
pub const MAX_META_BYTES: usize = 1024;
pub const MAX_GRACE_SECONDS: u64 = 7 * 24 * 3600;

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

/// `name`: 1 to 100 characters, not blank, without control characters.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct Name(String);

impl TryFrom<String> for Name {
    type Error = &'static str;

    fn try_from(text: String) -> Result<Name, &'static str> {
        let chars = text.chars().count();
        if text.trim().is_empty() || chars > MAX_NAME_CHARS || text.chars().any(char::is_control) {
            return Err("Must be 1 to 100 characters, not blank, without control characters.");
        }
        Ok(Name(text))
    }
}

/// `scopes`: at most 64 well-formed scopes, written canonically, duplicates dropped, order kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct Scopes(Vec<String>);

impl TryFrom<Vec<String>> for Scopes {
    type Error = String;

    fn try_from(texts: Vec<String>) -> Result<Scopes, String> {
        if texts.len() > MAX_SCOPES {
            return Err(format!("At most {MAX_SCOPES} scopes."));
        }
        let mut scopes: Vec<String> = Vec::with_capacity(texts.len());
        for (index, text) in texts.iter().enumerate() {
            let scope = Scope::parse(text).map_err(|e| format!("The scope at index {index}: {e}."))?.to_string();
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        Ok(Scopes(scopes))
    }
}

/// `expires_at`: an RFC 3339 timestamp, any offset (that it is in the future is checked against the clock).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
pub struct Timestamp(UnixMillis);

impl TryFrom<String> for Timestamp {
    type Error = &'static str;

    fn try_from(text: String) -> Result<Timestamp, &'static str> {
        parse_rfc3339(&text).map(Timestamp).ok_or("Must be an RFC 3339 timestamp, e.g. 2030-01-01T00:00:00Z.")
    }
}

impl Timestamp {
    fn in_the_future(self, now: UnixMillis) -> Result<UnixMillis, Error> {
        if self.0 <= now {
            return Err(Error::validation("expires_at", "Must be in the future."));
        }
        Ok(self.0)
    }
}

/// `meta`: a JSON object of at most 1 KiB as JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Map<String, Value>")]
pub struct Meta(Map<String, Value>);

impl TryFrom<Map<String, Value>> for Meta {
    type Error = String;

    fn try_from(object: Map<String, Value>) -> Result<Meta, String> {
        if Value::Object(object.clone()).to_string().len() > MAX_META_BYTES {
            return Err(format!("Must be at most {MAX_META_BYTES} bytes as JSON."));
        }
        Ok(Meta(object))
    }
}

/// A JSON Schema `integer`: a JSON number without a fractional part, written
/// `5` or `5.0` alike (serde alone refuses the latter, which a client that
/// keeps numbers as floats, or a generated one, may send).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "Number")]
pub struct Whole(pub u64);

impl TryFrom<Number> for Whole {
    type Error = &'static str;

    fn try_from(number: Number) -> Result<Whole, &'static str> {
        if let Some(whole) = number.as_u64() {
            return Ok(Whole(whole));
        }
        match number.as_f64() {
            // Below 2^64, so the cast is exact for every whole value.
            Some(float) if float.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&float) => {
                Ok(Whole(float as u64))
            }
            // Lower case: parse_body then states the field's rule.
            _ => Err("not a whole number from 0 to 2^64 - 1"),
        }
    }
}

/// A [`Whole`] as a `u64`, for `deserialize_with` (the credits' refill).
pub fn whole<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    Whole::deserialize(deserializer).map(|whole| whole.0)
}

/// An optional [`Whole`] (`null` as absent), for `deserialize_with`.
pub fn whole_or_null<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    Option::<Whole>::deserialize(deserializer).map(|whole| whole.map(|whole| whole.0))
}

/// A limit: a whole number from 1 to 2^32 - 1.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "Whole")]
pub struct Limit(NonZeroU32);

impl TryFrom<Whole> for Limit {
    type Error = &'static str;

    fn try_from(whole: Whole) -> Result<Limit, &'static str> {
        u32::try_from(whole.0).ok().and_then(NonZeroU32::new).map(Limit).ok_or("out of range")
    }
}

/// `rate_limit`: both limits, positive.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    per_minute: Limit,
    per_day: Limit,
}

/// `credits`: the balance to start from, and the refill (`null`: none).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditsBody {
    remaining: Whole,
    #[serde(default)]
    refill: Option<Refill>,
}

impl CreditsBody {
    /// The record's policy and the balance to set.
    pub fn split(self) -> (Credits, u64) {
        (Credits { refill: self.refill }, self.remaining.0)
    }
}

/// `POST /v1/projects/{project}/keys/{id}/credits`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeCredits {
    pub op: CreditOp,
    pub amount: Whole,
}

/// A scope to check, parsed.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct WantedScope(pub Scope);

impl TryFrom<String> for WantedScope {
    type Error = String;

    fn try_from(text: String) -> Result<WantedScope, String> {
        let scope = Scope::parse(&text).map_err(|e| e.to_string())?;
        Ok(WantedScope(scope))
    }
}

/// `POST /v1/keys/verify`; an empty body counts as `{}`, `null` as absent. Without
/// `key`, the key is the request's credential. A misspelt `scopes` is refused,
/// never a silently skipped check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyKey {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub scope: Option<WantedScope>,
    #[serde(default)]
    pub project: Option<String>,
    /// The credits this request spends if admitted (1 by default).
    #[serde(default)]
    pub cost: Option<Whole>,
    /// The address of the client that sent `key`, judged by a key with `allowed_ips`.
    #[serde(default)]
    pub ip: Option<ClientIp>,
}

/// An IP address (IPv4, or IPv6 without a zone).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
pub struct ClientIp(pub IpAddr);

impl TryFrom<String> for ClientIp {
    type Error = &'static str;

    fn try_from(text: String) -> Result<ClientIp, &'static str> {
        text.parse().map(ClientIp).map_err(|_| "Must be an IPv4 or IPv6 address.")
    }
}

/// `POST /v1/projects/{project}/keys`. `null` counts as absent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    name: Name,
    #[serde(default)]
    scopes: Option<Scopes>,
    #[serde(default)]
    environment: Option<Environment>,
    #[serde(default)]
    plan: Option<String>,
    #[serde(default)]
    rate_limit: Option<RateLimit>,
    #[serde(default)]
    expires_at: Option<Timestamp>,
    #[serde(default)]
    meta: Option<Meta>,
    #[serde(default)]
    credits: Option<CreditsBody>,
    #[serde(default)]
    owner_id: Option<OwnerId>,
    allowed_ips: Option<Allowlist>,
    /// Keep the secret, sealed with `VAULT_KEY`, for the admin token to reveal.
    #[serde(default)]
    recoverable: Option<bool>,
}

/// `PATCH /v1/projects/{project}/keys/{id}`: absent fields stay as they are;
/// `null` clears `expires_at` and `meta`, leaves the others, and is refused for `status`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchKey {
    #[serde(default)]
    name: Option<Name>,
    #[serde(default)]
    scopes: Option<Scopes>,
    #[serde(default, deserialize_with = "not_null")]
    status: Option<KeyStatus>,
    #[serde(default)]
    plan: Option<String>,
    #[serde(default)]
    rate_limit: Option<RateLimit>,
    #[serde(default, deserialize_with = "nullable")]
    expires_at: Option<Option<Timestamp>>,
    #[serde(default, deserialize_with = "nullable")]
    meta: Option<Option<Meta>>,
    /// `null`: no credits (unlimited).
    #[serde(default, deserialize_with = "nullable")]
    credits: Option<Option<CreditsBody>>,
    /// `null`: the key no longer shares its owner's limits.
    #[serde(default, deserialize_with = "nullable")]
    owner_id: Option<Option<OwnerId>>,
    /// `null`: any address.
    #[serde(default, deserialize_with = "nullable")]
    allowed_ips: Option<Option<Allowlist>>,
}

impl PatchKey {
    /// Whether the body gives `credits` (or `null`).
    pub fn mentions_credits(&self) -> bool {
        self.credits.is_some()
    }
}

/// `POST /v1/projects/{project}/keys/{id}/rotate`; an empty body counts as `{}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    #[serde(default)]
    grace_seconds: Option<Whole>,
    /// Keep the new key's secret (the retired key's is never kept).
    #[serde(default)]
    recoverable: Option<bool>,
}

impl RotateKey {
    /// The grace, checked: 0 to 7 days.
    pub fn grace_seconds(&self) -> Result<u64, Error> {
        match self.grace_seconds {
            Some(Whole(seconds)) if seconds > MAX_GRACE_SECONDS => {
                Err(Error::validation("grace_seconds", rule("grace_seconds")))
            }
            seconds => Ok(seconds.map_or(0, |Whole(seconds)| seconds)),
        }
    }

    /// Whether the new key is to be recoverable (which needs `VAULT_KEY`).
    pub fn recoverable(&self, config: &Config) -> Result<bool, Error> {
        recoverable(config, self.recoverable)
    }
}

/// `recoverable`, refused when the deployment has no `VAULT_KEY` to seal with.
fn recoverable(config: &Config, asked: Option<bool>) -> Result<bool, Error> {
    match asked {
        Some(true) if config.vault.is_none() => Err(Error::validation(
            "recoverable",
            "This deployment keeps no secrets: recoverable keys need VAULT_KEY to be set.",
        )),
        asked => Ok(asked.unwrap_or(false)),
    }
}

/// A present field, `null` refused (absent is `None` by `#[serde(default)]`).
fn not_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// A present field that may be `null`: `Some(None)`; absent is `None` by `#[serde(default)]`.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

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

/// The limits a body names: a plan of this deployment's, or explicit limits; never both.
pub(crate) fn limits(
    config: &Config,
    plan: Option<&str>,
    rate_limit: Option<RateLimit>,
) -> Result<Option<(Option<String>, Quota)>, Error> {
    match (plan, rate_limit) {
        (Some(_), Some(_)) => Err(Error::validation("rate_limit", "Give either plan or rate_limit, not both.")),
        (Some(name), None) => {
            let quota = config.plans.get(name).ok_or_else(|| {
                let known = config.plans.keys().cloned().collect::<Vec<_>>().join(", ");
                Error::validation("plan", format!("Unknown plan; this deployment has: {known}."))
            })?;
            Ok(Some((Some(name.to_owned()), *quota)))
        }
        (None, Some(limits)) => Ok(Some((None, Quota { per_minute: limits.per_minute.0, per_day: limits.per_day.0 }))),
        (None, None) => Ok(None),
    }
}

/// The record a create body asks for (no id or prefix yet), and its starting balance (a key with credits).
pub fn new_record(
    config: &Config,
    project: ProjectId,
    body: CreateKey,
    now: UnixMillis,
) -> Result<(KeyRecord, Option<u64>), Error> {
    let (credits, balance) = body.credits.map(CreditsBody::split).unzip();
    let (plan, rate_limit) = match limits(config, body.plan.as_deref(), body.rate_limit)? {
        Some(limits) => limits,
        None => (Some(config.default_plan.clone()), config.plans[&config.default_plan]),
    };
    let record = KeyRecord {
        id: KeyId::placeholder(),
        project,
        name: body.name.0,
        prefix: String::new(),
        scopes: body.scopes.map_or_else(Vec::new, |scopes| scopes.0),
        environment: body.environment.unwrap_or(config.environment),
        status: KeyStatus::Active,
        plan,
        rate_limit,
        meta: body.meta.map_or_else(Map::new, |meta| meta.0),
        created_at: now,
        updated_at: now,
        expires_at: body.expires_at.map(|at| at.in_the_future(now)).transpose()?,
        rotated_from: None,
        rotated_to: None,
        disabled_by_admin: false,
        leaked: None,
        credits,
        owner_id: body.owner_id,
        allowed_ips: body.allowed_ips,
        recoverable: recoverable(config, body.recoverable)?,
    };
    Ok((record, balance))
}

/// Applies a PATCH to `record` as `principal` (whose deactivations are
/// remembered); the balance to set when it gives credits.
pub fn apply_patch(
    config: &Config,
    body: &PatchKey,
    principal: &Principal,
    record: &mut KeyRecord,
    now: UnixMillis,
) -> Result<Option<u64>, Error> {
    if let Some(name) = &body.name {
        record.name.clone_from(&name.0);
    }
    if let Some(scopes) = &body.scopes {
        record.scopes.clone_from(&scopes.0);
    }
    if let Some(status) = body.status {
        principal.set_status(record, status);
    }
    if let Some((plan, rate_limit)) = limits(config, body.plan.as_deref(), body.rate_limit)? {
        (record.plan, record.rate_limit) = (plan, rate_limit);
    }
    match body.expires_at {
        None => {}
        Some(None) => record.expires_at = None,
        Some(Some(at)) => record.expires_at = Some(at.in_the_future(now)?),
    }
    match &body.meta {
        None => {}
        Some(None) => record.meta = Map::new(),
        Some(Some(meta)) => record.meta.clone_from(&meta.0),
    }
    if let Some(owner_id) = &body.owner_id {
        record.owner_id.clone_from(owner_id);
    }
    if let Some(allowed_ips) = &body.allowed_ips {
        record.allowed_ips.clone_from(allowed_ips);
    }
    let (credits, balance) = match body.credits {
        None => return Ok(None),
        Some(None) => (None, None),
        Some(Some(given)) => {
            let (credits, balance) = given.split();
            (Some(credits), Some(balance))
        }
    };
    record.credits = credits;
    Ok(balance)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal<T: DeserializeOwned + std::fmt::Debug>(body: &str) -> (String, String) {
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

    #[test]
    fn whole_numbers_may_be_written_with_a_decimal_point() {
        // JSON Schema's `integer` (the document's) takes 60.0 as 60; so does the API.
        let rotate: RotateKey = parse_body(br#"{"grace_seconds": 60.0}"#, false).unwrap();
        assert_eq!(rotate.grace_seconds().unwrap(), 60);
        let limits: RateLimit = parse_body(br#"{"per_minute": 100.0, "per_day": 1e4}"#, false).unwrap();
        assert_eq!((limits.per_minute.0.get(), limits.per_day.0.get()), (100, 10_000));
        assert_eq!(refusal::<RotateKey>(r#"{"grace_seconds": 60.5}"#).0, "grace_seconds");
        assert_eq!(refusal::<RotateKey>(r#"{"grace_seconds": -1}"#).0, "grace_seconds");
        for limits in ["0.0", "4294967296.0", "1.5", "-1", "18446744073709551616"] {
            let body = format!(r#"{{"name": "n", "rate_limit": {{"per_minute": {limits}, "per_day": 1}}}}"#);
            let (field, message) = refusal::<CreateKey>(&body);
            assert_eq!(field, "rate_limit", "{limits}");
            assert!(message.starts_with("Must be"), "{message}");
        }
    }

    #[test]
    fn credits_numbers_may_be_written_with_a_decimal_point_too() {
        // The document's integers (remaining, amount, day, cost), as for the limits above.
        let body = br#"{"name": "n", "credits": {"remaining": 985.0, "refill": {"interval": "monthly", "amount": 1e3, "day": 20.0}}}"#;
        let create: CreateKey = parse_body(body, false).unwrap();
        let (credits, remaining) = create.credits.unwrap().split();
        assert_eq!(remaining, 985);
        assert_eq!(
            credits.refill,
            Some(Refill { interval: crate::credits::Interval::Monthly { day: 20 }, amount: 1000 })
        );
        let change: ChangeCredits = parse_body(br#"{"op": "set", "amount": 156.0}"#, false).unwrap();
        assert_eq!(change.amount.0, 156);
        let verify: VerifyKey = parse_body(br#"{"cost": 6038612632554.0}"#, true).unwrap();
        assert_eq!(verify.cost.map(|cost| cost.0), Some(6_038_612_632_554));
        for refused in [
            r#""remaining": 1.5"#,
            r#""remaining": -1"#,
            r#""remaining": 1, "refill": {"interval": "monthly", "amount": 1, "day": 1.5}"#,
        ] {
            let body = format!(r#"{{"name": "n", "credits": {{{refused}}}}}"#);
            assert_eq!(refusal::<CreateKey>(&body).0, "credits", "{body}");
        }
        assert_eq!(refusal::<ChangeCredits>(r#"{"op": "set", "amount": 0.5}"#).0, "amount");
        assert_eq!(refusal::<VerifyKey>(r#"{"cost": -1.0}"#).0, "cost");
    }

    #[test]
    fn null_clears_what_may_be_cleared_and_leaves_the_rest() {
        let patch: PatchKey = parse_body(br#"{"name": null, "expires_at": null, "meta": null}"#, false).unwrap();
        assert!(patch.name.is_none());
        assert!(matches!(patch.expires_at, Some(None)));
        assert!(matches!(patch.meta, Some(None)));
        let absent: PatchKey = parse_body(b"{}", false).unwrap();
        assert!(absent.expires_at.is_none() && absent.meta.is_none());
    }
}
