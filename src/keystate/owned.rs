//! A check of a key with an owner: admitted by the key's own limits, held
//! while the owner's object decides, then settled: counted at both levels,
//! or given back at the key's.

use super::{Change, KeyState, LimiterAnswer, Refusal};
use crate::admission::Spent;
use crate::owner::{OwnerShortfall, OwnerVerdict};
use crate::ratelimit::RateDecision;
use crate::record::UnixMillis;
use crate::usage::Outcome;

/// What a check of an owned key took, waiting for the owner's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Hold {
    /// The owner's object (see [`crate::ids::OwnerId::object_name`]).
    pub owner: String,
    /// The credits the request costs (the owner's too).
    pub cost: u64,
    pub spent: Spent,
    /// The key's own answer (admitted).
    pub answer: LimiterAnswer,
}

impl KeyState {
    /// Settles `hold` with the owner's `verdict` (`None`: the owner's object
    /// could not be asked, and the request is refused): the answer, if
    /// there is one to give, and what changed.
    pub fn settle(
        &mut self,
        hold: Hold,
        verdict: Option<OwnerVerdict>,
        now: UnixMillis,
    ) -> (Option<LimiterAnswer>, Change) {
        let LimiterAnswer::Checked { record, rate, credits, .. } = hold.answer else { return (None, Change::Nothing) };
        let admitted = verdict.is_some_and(|verdict| verdict.refused.is_none());
        let mut change = Change::Counters;
        if !admitted {
            hold.spent.give_back(&mut self.limit, &mut self.balance);
            if hold.spent.cost > 0 {
                change = Change::Everything;
            }
        }
        let Some(verdict) = verdict else { return (None, change) };
        let refusal = verdict.refused.map(|refused| match refused {
            OwnerShortfall::RateLimited => Refusal::RateLimited,
            OwnerShortfall::UsageExceeded { refills_at } => Refusal::UsageExceeded { refills_at },
        });
        match &refusal {
            None => self.usage.count(Outcome::Valid, now),
            Some(refusal) => self.count(refusal, now, &mut change),
        }
        // The key's credits as they are now (given back, if refused).
        let credits = match refusal {
            None => credits,
            Some(_) => self.balance.map(|balance| balance.remaining).or(credits),
        };
        let answer = LimiterAnswer::Checked {
            rate: tighter(rate, verdict.rate, refusal.is_some()),
            credits: lesser(credits, verdict.credits),
            refusal,
            record,
        };
        (Some(answer), change)
    }
}

/// The rate limit to report: the owner's when it refused, else the one with
/// fewer requests left.
fn tighter(key: Option<RateDecision>, owner: Option<RateDecision>, owner_refused: bool) -> Option<RateDecision> {
    match (key, owner) {
        (Some(key), Some(owner)) if !owner_refused => {
            let left = |rate: &RateDecision| rate.reported_status().remaining;
            Some(if left(&owner) < left(&key) { owner } else { key })
        }
        (key, owner) => owner.or(key),
    }
}

/// The credits to report: what the key and its owner can still spend together.
fn lesser(key: Option<u64>, owner: Option<u64>) -> Option<u64> {
    match (key, owner) {
        (Some(key), Some(owner)) => Some(key.min(owner)),
        (key, owner) => key.or(owner),
    }
}
