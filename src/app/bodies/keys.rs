//! The bodies that create, change and rotate a key, and the record each makes.

use serde::{Deserialize, Deserializer};
use serde_json::Map;

use super::fields::{Meta, Name, Scopes, Timestamp};
use super::numbers::{limits, CreditsBody, RateLimit, Whole};
use super::rule;
use crate::allowlist::Allowlist;
use crate::app::principal::Principal;
use crate::config::Config;
use crate::error::Error;
use crate::ids::{KeyId, OwnerId, ProjectId};
use crate::key::Environment;
use crate::record::{KeyRecord, KeyStatus, UnixMillis};

pub const MAX_GRACE_SECONDS: u64 = 7 * 24 * 3600;

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
    use crate::app::bodies::tests::refusal;
    use crate::app::bodies::{parse_body, ChangeCredits, VerifyKey};
    use crate::credits::Refill;

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
