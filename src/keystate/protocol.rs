//! What the worker and a key's Durable Object say to each other: the calls,
//! the answers, and why a check refuses.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Hold;
use crate::admission::Shortfall;
use crate::credits::Balance;
use crate::error::Error;
use crate::owner::OwnerShortfall;
use crate::project::OutboxEntry;
use crate::ratelimit::RateDecision;
use crate::record::{KeyRecord, UnixMillis};
use crate::usage::{Counts, UsageQuery};
use crate::vault::Sealed;

fn one_credit() -> u64 {
    1
}

/// What a credits call does with its `amount`: `set`, `increment`,
/// `decrement` (a string in JSON, not an enum: smaller in wasm).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum CreditOp {
    Set,
    Increment,
    /// Down to 0 at most.
    Decrement,
}

/// What the worker asks of a key's Durable Object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
// A message, built and sent once: boxing would only add allocations.
#[allow(clippy::large_enum_variant)]
pub enum LimiterCall {
    /// A use of the key: judge the authoritative record, then spend one request.
    /// `seen_updated_at` is the `updated_at` of the caller's copy: the answer holds
    /// the record only when it differs. `adopt` (the KV copy and its digest) is
    /// sent only after an answer of [`LimiterAnswer::NeedRecord`], and adopted only then.
    Check {
        /// [`digest_tag`] of the presented key's digest.
        tag: String,
        seen_updated_at: UnixMillis,
        adopt: Option<Adopt>,
        scope: Option<String>,
        project: Option<String>,
        /// The credits an admitted request spends (a key with credits only).
        #[serde(default = "one_credit")]
        cost: u64,
        /// The client's address, for a key with `allowed_ips` (`""`: it had
        /// none). Sent only when the caller's copy has an allowlist, or after
        /// an answer of [`LimiterAnswer::NeedIp`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ip: Option<String>,
    },
    /// An admin write, applied before KV is written, if the object's record
    /// is still at version `expected` (its `updated_at`; `None` to create).
    Put {
        digest: String,
        record: KeyRecord,
        expected: Option<UnixMillis>,
        /// Queued with the write, for the project's object.
        entry: Option<OutboxEntry>,
        /// Sets the balance (a record with `credits`), with the record; `None` keeps it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        balance: Option<u64>,
        /// The balance may only go down (a key's write): at most `balance`,
        /// and never above what the key holds as the write lands.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        lower_only: bool,
        /// The secret, sealed, of a recoverable key being created; `None`
        /// keeps what is held. Held only while the record is `recoverable`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sealed: Option<Sealed>,
    },
    /// A deletion, if the record is still at version `expected` (`None`: whatever it is).
    Delete { expected: Option<UnixMillis>, entry: Option<OutboxEntry> },
    /// A key created moments ago whose creation did not complete (its secret
    /// was never shown): deleted with everything it queued, so neither the
    /// catalog nor the audit log ever shows it; `entry` removes a row that
    /// may have been delivered already.
    Discard { entry: Option<OutboxEntry> },
    /// Changes the balance of a key with credits; `entry`'s audit event gets
    /// the change (`{"credits": {"from", "to"}}`) filled in.
    Credits { change: CreditOp, amount: u64, entry: Option<OutboxEntry> },
    /// The authoritative record, for admin reads and read-modify-write.
    Get,
    /// Counters, and the history `query` asks for.
    Usage { query: Option<UsageQuery> },
    /// The sealed secret of a live recoverable key of `entry`'s project, if
    /// one of `vault_keys` (ids of the worker's vault keys) sealed it; the
    /// audit event `entry` is queued with the answer, never without it.
    Reveal { vault_keys: Vec<String>, entry: OutboxEntry },
}

/// The KV copy of a key its object has never seen, and the digest it is stored under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adopt {
    pub digest: String,
    pub record: KeyRecord,
}

/// What a check presents instead of the key's digest: a hash of it. A
/// check's call travels in a URL, which runtime traces may show, and the
/// digest (the key's KV name) must appear in no log.
pub fn digest_tag(digest_hex: &str) -> String {
    let hash = Sha256::new().chain_update(b"keygate digest tag\n").chain_update(digest_hex.as_bytes()).finalize();
    hex::encode(&hash[..16])
}

impl LimiterCall {
    /// Whether this call may travel in a URL (which runtime traces may show):
    /// it holds no digest, no client address and no audit event (with a client's address).
    pub fn fits_in_url(&self) -> bool {
        !matches!(
            self,
            LimiterCall::Put { .. }
                | LimiterCall::Check { adopt: Some(_), .. }
                | LimiterCall::Check { ip: Some(_), .. }
                | LimiterCall::Delete { entry: Some(_), .. }
                | LimiterCall::Discard { entry: Some(_) }
                | LimiterCall::Credits { entry: Some(_), .. }
                | LimiterCall::Reveal { .. }
        )
    }
}

impl TryFrom<String> for CreditOp {
    type Error = &'static str;

    fn try_from(text: String) -> Result<CreditOp, &'static str> {
        match text.as_str() {
            "set" => Ok(CreditOp::Set),
            "increment" => Ok(CreditOp::Increment),
            "decrement" => Ok(CreditOp::Decrement),
            _ => Err("Must be `set`, `increment` or `decrement`."),
        }
    }
}

impl From<CreditOp> for &'static str {
    fn from(op: CreditOp) -> &'static str {
        match op {
            CreditOp::Set => "set",
            CreditOp::Increment => "increment",
            CreditOp::Decrement => "decrement",
        }
    }
}

/// An audit event's `changes` for a credits call: `{"credits": {"from", "to"}}`.
pub fn credits_change(from: u64, to: u64) -> serde_json::Map<String, serde_json::Value> {
    let change = serde_json::json!({"from": from, "to": to});
    [("credits".to_owned(), change)].into_iter().collect()
}

/// Why a check refused a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    Unknown,
    Disabled,
    Expired,
    ProjectMismatch,
    MissingScope(String),
    RateLimited,
    /// The credits left do not cover the cost; the next refill, if any.
    UsageExceeded {
        refills_at: Option<UnixMillis>,
    },
    /// The client's address is not in the key's `allowed_ips` (or it had none).
    IpNotAllowed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum LimiterAnswer {
    /// `record` is `None` when the caller's copy is current (or the key was refused unseen).
    Checked {
        refusal: Option<Refusal>,
        record: Option<KeyRecord>,
        rate: Option<RateDecision>,
        /// The credits left after this check, for a key with credits.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credits: Option<u64>,
    },
    /// The object has never seen this key: send the KV copy along.
    NeedRecord,
    /// A check admitted by the key's own limits, waiting for its owner's
    /// ([`KeyObject::on_owner`]); never sent to the worker.
    #[serde(skip)]
    Held(Box<Hold>),
    /// The owner's object of a held check could not be asked: the request
    /// is refused as unavailable (never let through); never sent to the worker.
    #[serde(skip)]
    OwnerUnavailable,
    /// The key has `allowed_ips` (the caller's copy had none): send the client's address.
    NeedIp,
    Done,
    /// A write refused: the record is no longer at the version the writer read.
    Conflict,
    /// A write refused: the key is deleted, for good.
    Gone,
    /// A `Put` that set the balance: what it held before (at the time of the write).
    Replaced {
        remaining: u64,
    },
    /// A credits call done: the balance before and after.
    Credits {
        from: u64,
        to: u64,
    },
    /// A credits call on a key without credits.
    NoCredits,
    Record {
        record: Option<KeyRecord>,
        deleted: bool,
        digest: Option<String>,
        last_used_at: Option<UnixMillis>,
        /// The balance (for a key with credits).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        balance: Option<Balance>,
    },
    Usage {
        requests_today: u32,
        last_used_at: Option<UnixMillis>,
        rate: Option<RateDecision>,
        series: Vec<(UnixMillis, Counts)>,
    },
    /// A reveal: the sealed secret (its audit event is queued).
    Sealed {
        sealed: Sealed,
    },
    /// A reveal of a key whose secret is not kept.
    NotRecoverable,
    /// A reveal of a secret sealed by a vault key the worker does not hold (nothing queued).
    VaultKeyMissing,
}

/// What a call changed, so storage writes only that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Nothing,
    /// Only `limit`, `last_used_at` and `usage`: the per-request write.
    Counters,
    /// The record, digest or tombstone (and perhaps the counters).
    Everything,
}

impl From<OwnerShortfall> for Refusal {
    fn from(shortfall: OwnerShortfall) -> Refusal {
        match shortfall {
            OwnerShortfall::RateLimited => Refusal::RateLimited,
            OwnerShortfall::UsageExceeded { refills_at } => Refusal::UsageExceeded { refills_at },
        }
    }
}

impl From<Shortfall> for Refusal {
    fn from(shortfall: Shortfall) -> Refusal {
        match shortfall {
            Shortfall::RateLimited => Refusal::RateLimited,
            Shortfall::UsageExceeded { refills_at } => Refusal::UsageExceeded { refills_at },
        }
    }
}

impl Refusal {
    /// The contract's error for this refusal.
    pub fn to_error(&self, rate: Option<&RateDecision>, now: UnixMillis) -> Error {
        match self {
            Refusal::Unknown => Error::unknown_key(),
            Refusal::Disabled => Error::ApiKeyDisabled,
            Refusal::Expired => Error::ApiKeyExpired,
            Refusal::ProjectMismatch => Error::ProjectMismatch,
            Refusal::MissingScope(scope) => Error::InsufficientPermissions { required_scope: scope.clone() },
            Refusal::RateLimited => Error::RateLimited {
                retry_after: rate.and_then(|r| r.retry_after).unwrap_or(1),
                policy: rate.map_or("minute", |r| r.reported.as_str()),
            },
            Refusal::UsageExceeded { refills_at } => Error::UsageExceeded {
                retry_after: refills_at.map(|at| u64::try_from((at - now + 999) / 1000).unwrap_or(0).max(1)),
            },
            Refusal::IpNotAllowed => Error::IpNotAllowed,
        }
    }
}
