//! A check of a key with an owner: admitted by the key's own limits, held
//! while the owner's object decides, then settled: counted at both levels,
//! or given back at the key's.

use super::{Change, KeyState, LimiterAnswer, Refusal};
use crate::admission::Spent;
use crate::owner::OwnerVerdict;
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
    /// [`KeyState::balance_version`] when the check spent.
    pub balance_version: u64,
    /// The key's own answer (admitted).
    pub answer: LimiterAnswer,
}

impl KeyState {
    /// Settles `hold` with the owner's `verdict` (`None`: the owner's object
    /// could not be asked; the answer is [`LimiterAnswer::OwnerUnavailable`],
    /// a refusal): the answer and what changed.
    pub fn settle(&mut self, hold: Hold, verdict: Option<OwnerVerdict>, now: UnixMillis) -> (LimiterAnswer, Change) {
        let LimiterAnswer::Checked { record, rate, credits, .. } = hold.answer else {
            return (LimiterAnswer::OwnerUnavailable, Change::Nothing);
        };
        let admitted = verdict.is_some_and(|verdict| verdict.refused.is_none());
        let mut change = Change::Counters;
        if !admitted {
            // Credits go back only to the balance they came from (no admin set since).
            let same = self.balance_version == hold.balance_version;
            let mut balance = self.balance.filter(|_| same);
            hold.spent.give_back(&mut self.limit, &mut balance);
            if same {
                self.balance = balance;
            }
            if hold.spent.cost > 0 {
                change = Change::Everything;
            }
        }
        let Some(verdict) = verdict else { return (LimiterAnswer::OwnerUnavailable, change) };
        let refusal = verdict.refused.map(Refusal::from);
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
        (answer, change)
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

/// A held check interleaved with other calls (from the attacker review of owners).
#[cfg(test)]
mod tests {
    use super::super::tests::{record, Check, NOW};
    use super::super::*;
    use crate::credits::Credits;
    use crate::owner::{OwnerShortfall, OwnerVerdict};

    fn owned_key(remaining: u64) -> KeyObject {
        let held = KeyRecord {
            owner_id: Some(crate::ids::OwnerId::parse("acct_1").unwrap()),
            credits: Some(Credits { refill: None }),
            ..record(&[])
        };
        let mut object = KeyObject::default();
        object.on_call(LimiterCall::write(held, None).with_balance(remaining), NOW - 10);
        object
    }

    fn hold(object: &mut KeyObject, cost: u64, now: UnixMillis) -> Hold {
        let call = Check { seen_updated_at: NOW - 10, cost, ..Check::default() }.call();
        match object.on_call(call, now).answer {
            LimiterAnswer::Held(hold) => *hold,
            other => panic!("{other:?}"),
        }
    }

    fn owner_refuses() -> Option<OwnerVerdict> {
        Some(OwnerVerdict { refused: Some(OwnerShortfall::RateLimited), rate: None, credits: None })
    }

    fn balance(object: &KeyObject) -> u64 {
        object.state.balance.unwrap().remaining
    }

    /// The admin token sets the balance to 0 (e.g. the customer stopped paying)
    /// while a request is held; the owner refuses the request; its give-back must
    /// not land on top of the admin's new balance. It does when both happen in
    /// the same millisecond (`set_at <= at` in `Spent::give_back`).
    #[test]
    fn a_give_back_never_tops_up_a_balance_an_admin_set_meanwhile() {
        let mut object = owned_key(10);
        let held = hold(&mut object, 5, NOW);
        assert_eq!(balance(&object), 5);
        let set = LimiterCall::Credits { change: CreditOp::Set, amount: 0, entry: None };
        assert_eq!(object.on_call(set, NOW).answer, LimiterAnswer::Credits { from: 5, to: 0 });
        object.on_owner(held, owner_refuses(), NOW);
        assert_eq!(balance(&object), 0, "the admin set 0; the refused request's 5 credits were minted on top");
    }

    /// The same with a PATCH that gives the key a new balance.
    #[test]
    fn a_give_back_never_tops_up_a_balance_a_patch_set_meanwhile() {
        let mut object = owned_key(10);
        let held = hold(&mut object, 5, NOW);
        let mut patched = object.state.record.clone().unwrap();
        patched.updated_at = NOW + 1;
        object.on_call(LimiterCall::write(patched, Some(NOW)).with_balance(1), NOW);
        object.on_owner(held, owner_refuses(), NOW);
        assert_eq!(balance(&object), 1, "PATCH set 1");
    }

    /// Not a minting bug, but the README says credits come back "only if no refill
    /// or admin `set` replaced the balance meanwhile": an increment (relative)
    /// in a later millisecond silently swallows the refund.
    #[test]
    fn a_give_back_survives_a_relative_increment() {
        let mut object = owned_key(10);
        let held = hold(&mut object, 5, NOW);
        let increment = LimiterCall::Credits { change: CreditOp::Increment, amount: 3, entry: None };
        object.on_call(increment, NOW + 1);
        object.on_owner(held, owner_refuses(), NOW + 2);
        assert_eq!(balance(&object), 13, "10 - 5 + 3 + 5 given back");
    }
}
