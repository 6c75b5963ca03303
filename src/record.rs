//! What KV stores about a key, and how the admin API shows it.
//!
//! Guarantee: a [`KeyRecord`] holds no secret: only the display prefix of the
//! key, and it is stored under the key's digest, never the key.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::allowlist::Allowlist;
use crate::credits::{Balance, Credits};
use crate::ids::{KeyId, OwnerId, ProjectId};
use crate::key::Environment;
use crate::ratelimit::Quota;

/// Milliseconds since the Unix epoch, UTC.
pub type UnixMillis = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Inactive,
}

/// The stored record of one key (KV `k:<digest>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: KeyId,
    pub project: ProjectId,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub environment: Environment,
    pub status: KeyStatus,
    pub plan: Option<String>,
    pub rate_limit: Quota,
    #[serde(default)]
    pub meta: Map<String, Value>,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
    pub expires_at: Option<UnixMillis>,
    #[serde(default)]
    pub rotated_from: Option<KeyId>,
    /// The key that replaced this one, once it is rotated (it then expires).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_to: Option<KeyId>,
    /// Deactivated by the admin token: only the admin token re-activates it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled_by_admin: bool,
    /// Reported leaked (GitHub secret scanning): when, and where it was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaked: Option<Leak>,
    /// That the key has credits, and their refill; `None`: unlimited. The
    /// balance itself lives in the key's object (spending is no admin write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<Credits>,
    /// The customer whose keys share limits (held by the owner's object); `None`: no shared limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<OwnerId>,
    /// The client addresses the key answers from; `None`: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_ips: Option<Allowlist>,
    /// Its secret is kept, sealed, in the key's object (`VAULT_KEY`), and
    /// the admin token may reveal it. Set at creation or rotation only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub recoverable: bool,
}

/// Where and when a leak report found a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leak {
    pub at: UnixMillis,
    pub url: Option<String>,
    pub source: Option<String>,
}

fn is_false(value: &bool) -> bool {
    !value
}

impl KeyRecord {
    /// The key's version: its `updated_at`, which every admin write moves forward.
    /// As an HTTP entity tag, `"<version>"`.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.updated_at)
    }

    /// Whether the key may no longer be used at `now`.
    pub fn is_expired(&self, now: UnixMillis) -> bool {
        self.expires_at.is_some_and(|expires_at| expires_at <= now)
    }

    /// The key's `credits` as the admin API shows them: `null` (unlimited),
    /// else `remaining` (`null` where the key's object was not asked) and `refill`.
    pub fn credits_json(&self, balance: Option<&Balance>, now: UnixMillis) -> Value {
        match &self.credits {
            None => Value::Null,
            Some(credits) => {
                let remaining = balance.map(|balance| balance.at(credits.refill.as_ref(), now).remaining);
                json!({"remaining": remaining, "refill": credits.refill})
            }
        }
    }

    /// The key object of the admin API (no secret, no digest; the caller adds `last_used_at`, and `credits.remaining` from the key's object).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "project": self.project,
            "name": self.name,
            "prefix": self.prefix,
            "environment": self.environment,
            "status": self.status,
            "plan": self.plan,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
            "expires_at": self.expires_at.map(rfc3339),
            "scopes": self.scopes,
            "rate_limit": self.rate_limit,
            "meta": Value::Object(self.meta.clone()),
            "rotated_from": self.rotated_from,
            "rotated_to": self.rotated_to,
            "credits": self.credits_json(None, 0),
            "owner_id": self.owner_id,
            "leaked": self.leaked.as_ref().map(|leak| json!({"at": rfc3339(leak.at), "url": leak.url, "source": leak.source})),
            "allowed_ips": self.allowed_ips.as_ref().map(Allowlist::to_strings),
            "recoverable": self.recoverable,
        })
    }
}

/// `2026-11-23T09:00:00.123Z` (milliseconds only when there are any).
pub fn rfc3339(millis: UnixMillis) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|time| time.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Parses an RFC 3339 timestamp (any offset) to UTC milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<UnixMillis> {
    let time = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    let millis = i64::try_from(time.unix_timestamp_nanos() / 1_000_000).ok()?;
    // Only times [`rfc3339`] can write back: RFC 3339 has four-digit years,
    // and `9999-12-31T23:59:59-01:00` is in the year 10000 in UTC.
    (FIRST_RFC3339_MILLIS..=LAST_RFC3339_MILLIS).contains(&millis).then_some(millis)
}

/// `0000-01-01T00:00:00Z` and `9999-12-31T23:59:59.999Z`.
pub const FIRST_RFC3339_MILLIS: UnixMillis = -62_167_219_200_000;
const LAST_RFC3339_MILLIS: UnixMillis = 253_402_300_799_999;

/// The query parameter `name` (read through `param`) as an RFC 3339 time, or a 400 naming it.
pub fn time_param<'q>(
    param: &impl Fn(&str) -> Option<&'q str>,
    name: &str,
) -> Result<Option<UnixMillis>, crate::error::Error> {
    let invalid = || crate::error::Error::validation(name, "Must be an RFC 3339 timestamp.");
    param(name).map(|text| parse_rfc3339(text).ok_or_else(invalid)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_420_800_123), "2026-11-23T08:00:00.123Z");
        assert_eq!(parse_rfc3339("2026-11-23T08:00:00.123Z"), Some(1_795_420_800_123));
        assert_eq!(parse_rfc3339("2026-11-23T09:00:00+01:00"), Some(1_795_420_800_000));
        for bad in ["2026-11-23", "tomorrow", "", "2026-13-01T00:00:00Z"] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    /// Reproducer: an offset could carry a time past the years RFC 3339 can
    /// write, so a key's `expires_at` or a usage range's `to` was shown as ""
    /// (found while documenting every time as `format: date-time`).
    #[test]
    fn times_outside_four_digit_utc_years_are_refused() {
        for edge in ["0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z"] {
            assert_eq!(parse_rfc3339(edge).map(rfc3339).as_deref(), Some(edge));
        }
        for beyond in ["9999-12-31T23:59:59-00:01", "0000-01-01T00:00:00+01:00"] {
            assert_eq!(parse_rfc3339(beyond), None, "{beyond}");
        }
    }
}
