//! A check of a key, from first sight of its KV copy to the answer: judged,
//! then its credits and a rate-limit token spent together or not at all, or
//! held while the owner's object decides.

use super::{digest_tag, Adopt, Asked, Change, Hold, KeyState, LimiterAnswer, Refusal};
use crate::admission::{self, Limits};
use crate::credits::Balance;
use crate::record::UnixMillis;
use crate::usage::Outcome;

impl KeyState {
    /// Answers a check at `now`; a key with an owner answers [`LimiterAnswer::Held`].
    pub(super) fn check(
        &mut self,
        tag: &str,
        seen_updated_at: UnixMillis,
        adopt: Option<Adopt>,
        asked: &Asked<'_>,
        cost: u64,
        now: UnixMillis,
    ) -> (LimiterAnswer, Change) {
        let unknown =
            LimiterAnswer::Checked { refusal: Some(Refusal::Unknown), record: None, rate: None, credits: None };
        if self.deleted || self.digest.as_ref().is_some_and(|held| digest_tag(held) != tag) {
            return (unknown, Change::Nothing);
        }
        let mut change = Change::Nothing;
        if self.record.is_none() {
            // First sight of a key KV knows (e.g. written to KV by hand): adopt the KV copy.
            let Some(adopt) = adopt else { return (LimiterAnswer::NeedRecord, Change::Nothing) };
            if digest_tag(&adopt.digest) != tag {
                return (unknown, Change::Nothing);
            }
            self.digest = Some(adopt.digest);
            // A key with credits starts with none left here, until its next refill.
            self.balance = adopt.record.credits.map(|_| Balance::set(0, now));
            self.balance_version += 1;
            self.record = Some(adopt.record);
            change = Change::Everything;
        }
        let record = self.record.as_ref().expect("set above");
        if record.allowed_ips.is_some() && asked.ip.is_none() {
            // Judged by this record, not the caller's (older) copy: nothing counted yet.
            return (LimiterAnswer::NeedIp, change);
        }
        // The caller's copy is current unless an admin write moved `updated_at`.
        let newer = (record.updated_at != seen_updated_at).then(|| record.clone());
        let refusal = match super::judge(record, now, asked) {
            // Nor its credits or rate-limit state (nothing was spent).
            Err(Refusal::IpNotAllowed) => {
                self.count(&Refusal::IpNotAllowed, now, &mut change);
                let refusal = Some(Refusal::IpNotAllowed);
                return (LimiterAnswer::Checked { refusal, record: None, rate: None, credits: None }, change);
            }
            Err(refusal @ (Refusal::Unknown | Refusal::Disabled | Refusal::Expired)) => {
                self.count(&refusal, now, &mut change);
                let credits = self.current_balance(now).map(|held| held.remaining);
                let answer = LimiterAnswer::Checked { refusal: Some(refusal), record: None, rate: None, credits };
                return (answer, change);
            }
            Err(refusal) => Some(refusal),
            Ok(()) => None,
        };
        // Credits first, then the rate limit; neither is committed unless both admit.
        let limits = Limits {
            balance: self.current_balance(now),
            refill: record.credits.as_ref().and_then(|credits| credits.refill.as_ref()),
            quota: Some(record.rate_limit),
        };
        let admission = admission::admit(limits, self.limit, cost, refusal.is_some(), now);
        let rate = admission.rate.expect("a key has a quota");
        let refusal = refusal.or(admission.shortfall.map(Refusal::from));
        let owner = record.owner_id.as_ref().map(|owner| owner.object_name(&record.project));
        let Some(spent) = admission.spent.filter(|_| refusal.is_none()) else {
            let refusal = refusal.expect("refused when nothing was spent");
            self.count(&refusal, now, &mut change);
            let answer = LimiterAnswer::Checked {
                refusal: Some(refusal),
                record: newer,
                rate: Some(rate),
                credits: admission.remaining,
            };
            return (answer, change);
        };
        self.limit = spent.limit;
        self.last_used_at = Some(now);
        if change == Change::Nothing {
            change = Change::Counters;
        }
        if self.balance != spent.balance && spent.cost > 0 {
            // A spend is never forgotten: written before the answer.
            self.balance = spent.balance;
            change = Change::Everything;
        }
        let answer =
            LimiterAnswer::Checked { refusal: None, record: newer, rate: Some(rate), credits: admission.remaining };
        match owner {
            // The owner's object decides too; counted once it has.
            Some(owner) => {
                let balance_version = self.balance_version;
                (LimiterAnswer::Held(Box::new(Hold { owner, cost, spent, balance_version, answer })), change)
            }
            None => {
                self.usage.count(Outcome::Valid, now);
                (answer, change)
            }
        }
    }
}
