//! The authoritative state of one key, and the housekeeping of the Durable
//! Object that holds it, as pure decisions.
//!
//! The object loads a [`KeyObject`] once, hands it each call and each alarm,
//! and only carries out what it answers: storage writes and alarm times. There
//! is no `await` inside a decision, so concurrent requests to one key are
//! decided one after another and cannot over-admit.
//!
//! Guarantees: an admin change (`Put`, `Delete`) wins over any KV copy on the
//! very next check; every admin write is a compare-and-set on the version
//! (`updated_at`) its writer read, so no write is lost; a deletion is final:
//! the tombstone is never dropped and no write or KV copy brings the key back;
//! checks run cheapest first and a denied request spends no rate-limit token;
//! admitted requests are counted in memory and written within [`FLUSH_MILLIS`];
//! a key's counters are dropped a day after its last use; every check's
//! outcome is counted in the usage history; an admin change is stored with
//! its outbox entry, which stays until the project's object acknowledges it
//! ([`delivery`]).
//!
//! Credits: a key whose record has `credits` holds its [`Balance`] here, never
//! in the record (a spend moves no version). A check spends its `cost` only
//! if it admits the request: judged first, then credits and the rate limit
//! are both checked and committed together or not at all, so a request
//! refused for credits spends no rate-limit token and one refused by the rate
//! limit spends no credit. A changed balance is written before the answer.

mod check;
pub mod delivery;
mod housekeeping;
mod object;
mod owned;
mod protocol;

pub use housekeeping::{Housekeeping, FLUSH_MILLIS};
pub use object::{AlarmPlan, DeliveredPlan, Effects, KeyObject};
pub use owned::Hold;
pub use protocol::{credits_change, digest_tag, Adopt, Change, CreditOp, LimiterAnswer, LimiterCall, Refusal};

use serde::{Deserialize, Serialize};

use crate::credits::Balance;
use crate::events::ExpiryNotices;
use crate::project::OutboxEntry;
use crate::ratelimit::{self, LimitState};
use crate::record::{KeyRecord, KeyStatus, UnixMillis};
use crate::scope::{Scope, ScopeSet};
use crate::usage::{History, Outcome};
use crate::vault::Sealed;
use delivery::UsageState;

/// How long a key may sit unused before its counters are dropped.
pub const IDLE_MILLIS: UnixMillis = 24 * 3600 * 1000;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyState {
    /// Digest hex of the key's secret; a check with another digest is refused.
    pub digest: Option<String>,
    pub record: Option<KeyRecord>,
    pub deleted: bool,
    pub limit: LimitState,
    pub last_used_at: Option<UnixMillis>,
    /// Last admin write (`Put` or `Delete`).
    pub changed_at: Option<UnixMillis>,
    /// Admin changes the project's object has not acknowledged yet.
    #[serde(default)]
    pub outbox: Vec<OutboxEntry>,
    /// When `key.rate_limited` was last sent (at most one an hour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limited_noticed_at: Option<UnixMillis>,
    /// Which `key.expiring` notices were sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_notices: Option<ExpiryNotices>,
    /// Stored with the counters, not with the rest.
    #[serde(skip)]
    pub usage: UsageState,
    /// The credits left, when the record has `credits`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<Balance>,
    /// Bumped whenever an admin write replaces the balance outright (not by a
    /// spend, a give-back or a relative change): a held check gives credits
    /// back only to the balance it spent from.
    #[serde(default)]
    pub balance_version: u64,
    /// The secret, sealed ([`crate::vault`]), while the live record is
    /// `recoverable`: held here only, and answered to [`LimiterCall::Reveal`] only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<Sealed>,
}

impl KeyState {
    /// Applies one call at `now`; returns the answer and what changed.
    pub fn apply(&mut self, call: LimiterCall, now: UnixMillis) -> (LimiterAnswer, Change) {
        match call {
            LimiterCall::Check { tag, seen_updated_at, adopt, scope, project, cost, ip } => {
                let asked = Asked { scope: scope.as_deref(), project: project.as_deref(), ip: ip.as_deref() };
                self.check(&tag, seen_updated_at, adopt, &asked, cost, now)
            }
            LimiterCall::Put { digest, record, expected, entry, balance, lower_only, sealed } => {
                if let Some(refused) = self.refuse_write(|held| expected == Some(held.updated_at)) {
                    return (refused, Change::Nothing);
                }
                let held = self.current_balance(now);
                let answer = match (balance, held) {
                    (Some(_), Some(held)) => LimiterAnswer::Replaced { remaining: held.remaining },
                    _ => LimiterAnswer::Done,
                };
                if balance.is_some() || record.credits.is_none() {
                    self.balance_version += 1;
                }
                self.balance = match (&record.credits, balance) {
                    (None, _) => None,
                    (Some(_), Some(remaining)) => {
                        // A spend between the writer's read and this write stays spent.
                        let ceiling = held.filter(|_| lower_only).map_or(u64::MAX, |held| held.remaining);
                        Some(Balance::set(remaining.min(ceiling), now))
                    }
                    (Some(_), None) => self.balance.or(Some(Balance::set(0, now))),
                };
                // A secret is kept only while the record says so: a write that
                // clears `recoverable` (a retirement by rotation) destroys it.
                self.sealed = sealed.or(self.sealed.take()).filter(|_| record.recoverable);
                self.digest = Some(digest);
                self.record = Some(record);
                self.changed_at = Some(now);
                self.outbox.extend(entry);
                (answer, Change::Everything)
            }
            LimiterCall::Credits { change: op, amount, entry } => {
                if self.deleted || self.record.is_none() {
                    return (LimiterAnswer::Gone, Change::Nothing);
                }
                let Some(held) = self.current_balance(now) else { return (LimiterAnswer::NoCredits, Change::Nothing) };
                let from = held.remaining;
                let to = match op {
                    CreditOp::Set => amount,
                    CreditOp::Increment => from.saturating_add(amount),
                    CreditOp::Decrement => from.saturating_sub(amount),
                };
                // Any refill due by now has happened (in `held`); the next comes on schedule.
                // A relative change that did not saturate keeps what a held check may give back.
                let relative = match op {
                    CreditOp::Set => false,
                    CreditOp::Increment => true,
                    CreditOp::Decrement => from >= amount,
                };
                self.balance = Some(if relative { Balance { remaining: to, ..held } } else { Balance::set(to, now) });
                if !relative {
                    self.balance_version += 1;
                }
                self.changed_at = Some(now);
                self.outbox.extend(entry.map(|mut entry| {
                    if let Some(event) = &mut entry.event {
                        event.changes = Some(credits_change(from, to));
                    }
                    entry
                }));
                (LimiterAnswer::Credits { from, to }, Change::Everything)
            }
            LimiterCall::Delete { expected, entry } => {
                if let Some(refused) = self.refuse_write(|held| expected.is_none_or(|v| v == held.updated_at)) {
                    return (refused, Change::Nothing);
                }
                // The tombstone keeps the digest (a retried DELETE still cleans up KV),
                // the last record and the counts not yet pushed (the project still gets them).
                self.deleted = true;
                self.sealed = None;
                self.limit = LimitState::default();
                self.usage.history = History::default();
                self.changed_at = Some(now);
                self.outbox.extend(entry);
                (LimiterAnswer::Done, Change::Everything)
            }
            LimiterCall::Discard { entry } => {
                // Nobody ever saw this key: what it queued goes too.
                let digest = self.digest.take();
                let outbox = entry.into_iter().collect();
                *self = KeyState { deleted: true, digest, changed_at: Some(now), outbox, ..KeyState::default() };
                (LimiterAnswer::Done, Change::Everything)
            }
            LimiterCall::Get => {
                let answer = LimiterAnswer::Record {
                    record: self.record.clone(),
                    deleted: self.deleted,
                    digest: self.digest.clone(),
                    last_used_at: self.last_used_at,
                    balance: self.current_balance(now),
                };
                (answer, Change::Nothing)
            }
            LimiterCall::Usage { query } => {
                let now_micros = now * 1000;
                let rate = self.record.as_ref().map(|r| ratelimit::peek(r.rate_limit, self.limit, now_micros));
                let requests_today = self.limit.count_on(now_micros);
                let series = query.map_or_else(Vec::new, |query| {
                    self.usage
                        .history
                        .series(&query)
                        .into_iter()
                        .map(|(start, counts)| (start, counts.clone()))
                        .collect()
                });
                let answer = LimiterAnswer::Usage { requests_today, last_used_at: self.last_used_at, rate, series };
                (answer, Change::Nothing)
            }
            LimiterCall::Reveal { vault_keys, entry } => self.reveal(&vault_keys, entry),
        }
    }

    /// The sealed secret, with its audit event queued (written before the answer).
    fn reveal(&mut self, vault_keys: &[String], entry: OutboxEntry) -> (LimiterAnswer, Change) {
        let Some(record) = self.record.as_ref().filter(|record| !self.deleted && record.project == entry.project)
        else {
            return (LimiterAnswer::Gone, Change::Nothing);
        };
        let Some(sealed) = self.sealed.as_ref().filter(|_| record.recoverable) else {
            return (LimiterAnswer::NotRecoverable, Change::Nothing);
        };
        // Only a readable header naming a vault key the worker lacks is refused here; a damaged
        // one is handed over (its reveal recorded) and fails to open in the worker.
        if crate::vault::sealed_by(&sealed.0).is_some_and(|id| !vault_keys.iter().any(|held| held == id)) {
            return (LimiterAnswer::VaultKeyMissing, Change::Nothing);
        }
        let answer = LimiterAnswer::Sealed { sealed: sealed.clone() };
        self.outbox.push(entry);
        (answer, Change::Everything)
    }

    /// Why a write must not apply, if it must not: the key is deleted, or the
    /// record held is not the version the writer read. An object that has
    /// never held a record (the key lives only in KV, or does not exist yet)
    /// takes the write: there is nothing to lose.
    fn refuse_write(&self, read_this: impl Fn(&KeyRecord) -> bool) -> Option<LimiterAnswer> {
        match &self.record {
            _ if self.deleted => Some(LimiterAnswer::Gone),
            Some(held) if !read_this(held) => Some(LimiterAnswer::Conflict),
            _ => None,
        }
    }

    /// The balance at `now` (refilled if due), for a live key with credits.
    fn current_balance(&self, now: UnixMillis) -> Option<Balance> {
        let credits = self.record.as_ref()?.credits?;
        // A key with credits whose object never held a balance (adopted from KV)
        // has none left, until its next refill (not one due at once).
        let held = self.balance.unwrap_or(Balance { remaining: 0, set_at: now });
        Some(held.at(credits.refill.as_ref(), now))
    }

    /// Counts a refusal in the usage history (an unknown key has none).
    pub(crate) fn count(&mut self, refusal: &Refusal, now: UnixMillis, change: &mut Change) {
        let outcome = match refusal {
            Refusal::Unknown => return,
            Refusal::Disabled => Outcome::Disabled,
            Refusal::Expired => Outcome::Expired,
            Refusal::ProjectMismatch => Outcome::ProjectMismatch,
            Refusal::MissingScope(_) => Outcome::InsufficientPermissions,
            Refusal::RateLimited => Outcome::RateLimited,
            Refusal::UsageExceeded { .. } => Outcome::UsageExceeded,
            Refusal::IpNotAllowed => Outcome::IpNotAllowed,
        };
        self.usage.count(outcome, now);
        if *change == Change::Nothing {
            *change = Change::Counters;
        }
    }

    /// When the state last moved (a use or an admin write).
    pub fn last_activity(&self) -> Option<UnixMillis> {
        self.last_used_at.max(self.changed_at)
    }

    /// Whether an idle alarm at `now` should drop the counters: a day after
    /// the last use. Nothing else is ever dropped: a deleted key's tombstone
    /// (a few bytes) stays, so no KV copy left behind can bring it back.
    pub fn counters_idle(&self, now: UnixMillis) -> bool {
        let idle = self.last_activity().is_none_or(|at| now - at >= IDLE_MILLIS);
        idle && self.limit != LimitState::default()
    }
}

/// What a check asks of a key besides being valid.
#[derive(Debug, Clone, Copy, Default)]
pub struct Asked<'a> {
    pub scope: Option<&'a str>,
    pub project: Option<&'a str>,
    /// The client's address (`""` or `None`: none), judged by a key with `allowed_ips` only.
    pub ip: Option<&'a str>,
}

/// Status, expiry, project, client address and scope, cheapest first.
/// Unknown and deleted look alike; a key without `allowed_ips` skips the address.
pub fn judge(record: &KeyRecord, now: UnixMillis, asked: &Asked<'_>) -> Result<(), Refusal> {
    let Asked { scope, project, ip } = *asked;
    // First: from outside its list a key tells nothing of its status, expiry or project.
    if record.allowed_ips.as_ref().is_some_and(|allowed| !allowed.allows(ip)) {
        return Err(Refusal::IpNotAllowed);
    }
    if record.status == KeyStatus::Inactive {
        return Err(Refusal::Disabled);
    }
    if record.is_expired(now) {
        return Err(Refusal::Expired);
    }
    if project.is_some_and(|project| project != record.project.as_str()) {
        return Err(Refusal::ProjectMismatch);
    }
    if let Some(wanted) = scope {
        let wanted = Scope::parse(wanted).map_err(|_| Refusal::MissingScope(wanted.to_owned()))?;
        if !ScopeSet::from_stored(&record.scopes).grants(&wanted) {
            return Err(Refusal::MissingScope(wanted.to_string()));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod vault_tests;
