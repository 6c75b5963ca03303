//! Limits shared by every key of one owner (a customer's account), held by
//! the owner's own Durable Object (one per project and owner), as pure decisions.
//!
//! A request by a key with an `owner_id` is first decided by the key's
//! object, which holds what it admitted ([`crate::keystate::Hold`]) and asks
//! the owner's object once; if the owner refuses, the key gives back what it
//! took. So a request is counted at both levels or at neither, and the
//! owner's object (one at a time, no `await` inside a decision) can never
//! over-admit however many keys and requests race.
//!
//! Guarantees: `PUT` replaces the limits (and sets the balance) and `DELETE`
//! removes them, each stored with its audit event in the object's outbox,
//! which stays until the project's object acknowledges it; an owner without
//! limits admits everything (and still counts it); a spend of credits is
//! written before the answer; other counts within [`FLUSH_MILLIS`](crate::keystate::FLUSH_MILLIS).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::admission::{self, Limits, Shortfall};
use crate::credits::{Balance, Credits};
use crate::keystate::Housekeeping;
use crate::project::{OutboxEntry, ProjectCall};
use crate::ratelimit::{self, LimitState, Quota, RateDecision};
use crate::record::UnixMillis;
use crate::usage::{Counts, Granularity, History, Outcome, UsageQuery};

/// What `PUT /v1/projects/{project}/owners/{owner_id}` sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerLimits {
    pub rate_limit: Option<Quota>,
    /// The plan `rate_limit` came from (kept when PLANS changes, as for keys).
    pub plan: Option<String>,
    pub credits: Option<Credits>,
}

/// An owner's object, as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OwnerState {
    pub limits: Option<OwnerLimits>,
    pub created_at: Option<UnixMillis>,
    pub updated_at: Option<UnixMillis>,
    pub limit: LimitState,
    pub balance: Option<Balance>,
    pub last_used_at: Option<UnixMillis>,
    pub history: History,
    /// Audit events the project's object has not acknowledged yet.
    pub outbox: Vec<OutboxEntry>,
}

/// What a key's object (`Admit`) or the worker (the rest) asks of an owner's object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum OwnerCall {
    /// One request of `cost` credits, admitted by its key already.
    Admit {
        cost: u64,
    },
    /// Replaces the limits; `balance` sets the credits left (with `limits.credits`).
    Put {
        limits: OwnerLimits,
        balance: Option<u64>,
        entry: OutboxEntry,
    },
    /// Removes the limits (the counts stay, for the usage history).
    Delete {
        entry: OutboxEntry,
    },
    Get {
        query: Option<UsageQuery>,
    },
}

/// The owner's verdict on one request, and where its limits stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerVerdict {
    /// `None`: admitted. Else `RateLimited` or `UsageExceeded`, with the refill for the latter.
    pub refused: Option<OwnerShortfall>,
    pub rate: Option<RateDecision>,
    pub credits: Option<u64>,
}

/// Why an owner refused (the same two reasons as a key's own limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum OwnerShortfall {
    RateLimited,
    UsageExceeded { refills_at: Option<UnixMillis> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
// A message, built and sent once: boxing would only add allocations.
#[allow(clippy::large_enum_variant)]
pub enum OwnerAnswer {
    Verdict(OwnerVerdict),
    /// A `Put` or `Delete` done: whether the owner had no limits before, and
    /// the entry as queued (its event's `changes` filled in), to deliver.
    Stored {
        created: bool,
        entry: OutboxEntry,
    },
    /// A `Delete` or `Get` of an owner without limits.
    NotFound,
    Owner(OwnerView),
}

/// An owner as `GET` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnerView {
    pub limits: OwnerLimits,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
    /// The credits left now (refills applied), with `limits.credits`.
    pub remaining: Option<u64>,
    pub rate: Option<RateDecision>,
    pub requests_today: u64,
    pub last_used_at: Option<UnixMillis>,
    pub series: Vec<(UnixMillis, Counts)>,
}

impl From<Shortfall> for OwnerShortfall {
    fn from(shortfall: Shortfall) -> OwnerShortfall {
        match shortfall {
            Shortfall::RateLimited => OwnerShortfall::RateLimited,
            Shortfall::UsageExceeded { refills_at } => OwnerShortfall::UsageExceeded { refills_at },
        }
    }
}

impl OwnerState {
    fn refill(&self) -> Option<&crate::credits::Refill> {
        self.limits.as_ref()?.credits.as_ref()?.refill.as_ref()
    }

    /// Decides `call` at `now`: the answer, and whether the whole state must be written before it.
    fn apply(&mut self, call: OwnerCall, now: UnixMillis) -> (OwnerAnswer, bool) {
        match call {
            OwnerCall::Admit { cost } => {
                let limits = Limits {
                    balance: self.balance.filter(|_| self.credited()),
                    refill: self.refill(),
                    quota: self.limits.as_ref().and_then(|limits| limits.rate_limit),
                };
                let admission = admission::admit(limits, self.limit, cost, false, now);
                let refused = admission.shortfall.map(OwnerShortfall::from);
                let mut write = false;
                match (refused, admission.spent) {
                    (None, Some(spent)) => {
                        self.limit = spent.limit;
                        self.last_used_at = Some(now);
                        self.history.count(Outcome::Valid, now);
                        write = spent.cost > 0 && self.balance != spent.balance;
                        if self.credited() {
                            self.balance = spent.balance;
                        }
                    }
                    (Some(OwnerShortfall::RateLimited), _) => self.history.count(Outcome::RateLimited, now),
                    (Some(_), _) => self.history.count(Outcome::UsageExceeded, now),
                    (None, None) => {}
                }
                let verdict = OwnerVerdict { refused, rate: admission.rate, credits: admission.remaining };
                (OwnerAnswer::Verdict(verdict), write)
            }
            OwnerCall::Put { limits, balance, mut entry } => {
                let created = self.limits.is_none();
                note_changes(&mut entry, self.limits.as_ref(), Some(&limits), balance);
                self.balance = match (&limits.credits, balance) {
                    (None, _) => None,
                    (Some(_), Some(remaining)) => Some(Balance::set(remaining, now)),
                    (Some(_), None) => self.balance.or(Some(Balance::set(0, now))),
                };
                if created {
                    self.created_at = Some(now);
                }
                self.limits = Some(limits);
                self.updated_at = Some(now);
                self.outbox.push(entry.clone());
                (OwnerAnswer::Stored { created, entry }, true)
            }
            OwnerCall::Delete { mut entry } => {
                if self.limits.is_none() {
                    return (OwnerAnswer::NotFound, false);
                }
                note_changes(&mut entry, self.limits.as_ref(), None, None);
                self.limits = None;
                self.balance = None;
                self.created_at = None;
                self.updated_at = Some(now);
                self.outbox.push(entry.clone());
                (OwnerAnswer::Stored { created: false, entry }, true)
            }
            OwnerCall::Get { query } => {
                (self.view(query, now).map_or(OwnerAnswer::NotFound, OwnerAnswer::Owner), false)
            }
        }
    }

    fn credited(&self) -> bool {
        self.limits.as_ref().is_some_and(|limits| limits.credits.is_some())
    }

    fn view(&self, query: Option<UsageQuery>, now: UnixMillis) -> Option<OwnerView> {
        let limits = self.limits.clone()?;
        let remaining = self.balance.filter(|_| self.credited()).map(|held| held.at(self.refill(), now).remaining);
        let rate = limits.rate_limit.map(|quota| ratelimit::peek(quota, self.limit, now * 1000));
        let today = self.history.daily.get(&Granularity::Day.bucket(now));
        let series = query.map_or_else(Vec::new, |query| {
            self.history.series(&query).into_iter().map(|(start, counts)| (start, counts.clone())).collect()
        });
        Some(OwnerView {
            limits,
            created_at: self.created_at.unwrap_or(now),
            updated_at: self.updated_at.unwrap_or(now),
            remaining,
            rate,
            requests_today: today.and_then(|counts| counts.0.get(&Outcome::Valid).copied()).unwrap_or(0),
            last_used_at: self.last_used_at,
            series,
        })
    }
}

/// Fills in the audit event's `changes`: each of `rate_limit`, `plan` and
/// `credits` that moved, `{"from", "to"}` (`credits.remaining` when a balance is set).
fn note_changes(
    entry: &mut OutboxEntry,
    before: Option<&OwnerLimits>,
    after: Option<&OwnerLimits>,
    balance: Option<u64>,
) {
    let Some(event) = &mut entry.event else { return };
    let fields = |limits: Option<&OwnerLimits>, remaining: Option<u64>| {
        let credits = limits.and_then(|limits| limits.credits).map(|credits| {
            let mut shown = json!({"refill": credits.refill});
            if let Some(remaining) = remaining {
                shown["remaining"] = json!(remaining);
            }
            shown
        });
        [
            ("rate_limit", json!(limits.and_then(|limits| limits.rate_limit))),
            ("plan", json!(limits.and_then(|limits| limits.plan.clone()))),
            ("credits", json!(credits)),
        ]
    };
    let moved = fields(before, None).into_iter().zip(fields(after, balance)).filter(|((_, from), (_, to))| from != to);
    event.changes =
        Some(moved.map(|((name, from), (_, to))| (name.to_owned(), json!({"from": from, "to": to}))).collect());
}

/// An owner's object as it runs: its state, and what storage, the alarm and
/// the project's object are still owed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OwnerObject {
    pub state: OwnerState,
    housekeeping: Housekeeping,
}

/// What the object must do for a call, besides answering it.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerEffects {
    pub answer: OwnerAnswer,
    /// Write the state before answering.
    pub write: bool,
    pub set_alarm_at: Option<UnixMillis>,
}

/// What the object must do when its alarm fires.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerAlarm {
    pub write: bool,
    /// Send this to the project's object, then report with [`OwnerObject::delivered`].
    pub deliver: Option<ProjectCall>,
    pub set_alarm_at: Option<UnixMillis>,
}

impl OwnerObject {
    /// The object as storage last held it; an outbox it holds is delivered at once.
    pub fn loaded(state: OwnerState) -> OwnerObject {
        let housekeeping = Housekeeping::loaded(!state.outbox.is_empty());
        OwnerObject { state, housekeeping }
    }

    pub fn on_call(&mut self, call: OwnerCall, now: UnixMillis) -> OwnerEffects {
        let outbox_before = self.state.outbox.len();
        let counted = matches!(call, OwnerCall::Admit { .. });
        let (answer, write) = self.state.apply(call, now);
        if write {
            self.housekeeping.written();
        } else if counted {
            self.housekeeping.counted(now);
        }
        if self.state.outbox.len() > outbox_before {
            self.housekeeping.queued(now);
        }
        OwnerEffects { answer, write, set_alarm_at: self.next_alarm(now) }
    }

    /// Flushes pending counts (dropping old buckets) and delivers what is due.
    pub fn on_alarm(&mut self, now: UnixMillis) -> OwnerAlarm {
        let write = self.housekeeping.alarm_rang();
        self.state.history.prune(now);
        let due = self.housekeeping.delivery_due(now) && !self.state.outbox.is_empty();
        if due {
            // In flight: [`OwnerObject::delivered`] says when the next one is due.
            self.housekeeping.delivering();
        }
        let deliver = due.then(|| ProjectCall::Apply {
            project: self.state.outbox[0].project.clone(),
            entries: self.state.outbox.clone(),
            usage: None,
        });
        OwnerAlarm { write, deliver, set_alarm_at: self.next_alarm(now) }
    }

    /// The project's object answered `delivery` (`acknowledged`) or not; whether to write the state.
    pub fn delivered(
        &mut self,
        delivery: &ProjectCall,
        acknowledged: bool,
        now: UnixMillis,
    ) -> (bool, Option<UnixMillis>) {
        self.housekeeping.delivered(&mut self.state.outbox, delivery, acknowledged, now);
        (acknowledged, self.next_alarm(now))
    }

    /// Writing failed: memory keeps the counts, and the runtime retries the alarm.
    pub fn flush_failed(&mut self, now: UnixMillis) {
        self.housekeeping.counted(now);
    }

    pub fn alarm_not_set(&mut self) {
        self.housekeeping.alarm_not_set();
    }

    fn next_alarm(&mut self, now: UnixMillis) -> Option<UnixMillis> {
        self.housekeeping.next_alarm(now, !self.state.outbox.is_empty(), None)
    }
}

#[cfg(test)]
mod tests;
