//! The numbers of the bodies: JSON Schema integers, rate limits (a plan's or
//! explicit) and credits.

use std::num::NonZeroU32;

use serde::{Deserialize, Deserializer};
use serde_json::Number;

use crate::config::Config;
use crate::credits::{Credits, Refill};
use crate::error::Error;
use crate::keystate::CreditOp;
use crate::ratelimit::Quota;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::bodies::tests::refusal;
    use crate::app::bodies::{parse_body, CreateKey, RotateKey};

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
}
