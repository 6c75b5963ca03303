//! One request against credits and a rate limit, decided together: the
//! decision a key's object and an owner's object both make.
//!
//! Guarantees: credits are checked first, then the rate limit; neither is
//! spent unless both admit, so a request refused for credits spends no
//! rate-limit token and one refused by the rate limit spends no credit; a
//! request already refused for another reason spends nothing. [`Spent`]
//! says exactly what an admission took, so [`Spent::give_back`] can undo it
//! when a second level (an owner's limits) refuses the request after all.

use crate::credits::{Balance, Refill};
use crate::ratelimit::{self, LimitState, Quota, RateDecision};
use crate::record::UnixMillis;

/// What refuses a request here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortfall {
    RateLimited,
    /// The credits left do not cover the cost; the next refill, if any.
    UsageExceeded {
        refills_at: Option<UnixMillis>,
    },
}

/// The limits a request must pass: a balance (with its refill) and a quota, each optional.
#[derive(Debug, Clone, Copy)]
pub struct Limits<'a> {
    pub balance: Option<Balance>,
    pub refill: Option<&'a Refill>,
    pub quota: Option<Quota>,
}

/// The verdict, and the state to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub shortfall: Option<Shortfall>,
    /// Where the rate limit stands (after this request, if it was admitted).
    pub rate: Option<RateDecision>,
    /// The credits left after this request (all of them, if it was refused).
    pub remaining: Option<u64>,
    /// What the request took, if it was admitted.
    pub spent: Option<Spent>,
}

/// What an admitted request took: the new counter state and balance, and
/// what to give back if it is withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spent {
    pub limit: LimitState,
    pub balance: Option<Balance>,
    /// The credits spent (0 without credits).
    pub cost: u64,
    /// The rate limit's emission interval spent (µs) and the UTC day counted; `None` without a quota.
    pub slot: Option<(i64, i64)>,
    pub at: UnixMillis,
}

/// Decides one request of `cost` credits at `now` against `limits` and the counters `limit`.
/// `refused` (another check refused it already) spends nothing and only reports.
pub fn admit(limits: Limits<'_>, limit: LimitState, cost: u64, refused: bool, now: UnixMillis) -> Admission {
    let now_micros = now * 1000;
    let held = limits.balance.map(|balance| balance.at(limits.refill, now));
    let mut shortfall = None;
    let mut balance = held;
    if let (Some(mut after), false) = (held, refused) {
        match after.spend(cost, limits.refill, now) {
            Ok(()) => balance = Some(after),
            Err(exhausted) => shortfall = Some(Shortfall::UsageExceeded { refills_at: exhausted.refills_at }),
        }
    }
    let (rate, counted) = match limits.quota {
        None => (None, limit),
        Some(quota) if refused || shortfall.is_some() => (Some(ratelimit::peek(quota, limit, now_micros)), limit),
        Some(quota) => {
            let (rate, counted) = ratelimit::check(quota, limit, now_micros);
            (Some(rate), counted)
        }
    };
    if rate.is_some_and(|rate| !rate.admitted) && shortfall.is_none() && !refused {
        shortfall = Some(Shortfall::RateLimited);
    }
    if refused || shortfall.is_some() {
        return Admission { shortfall, rate, remaining: held.map(|held| held.remaining), spent: None };
    }
    let slot = limits.quota.map(|quota| (quota.emission_interval(), now_micros.div_euclid(DAY_MICROS)));
    let spent = Spent { limit: counted, balance, cost: if held.is_some() { cost } else { 0 }, slot, at: now };
    Admission { shortfall: None, rate, remaining: balance.map(|balance| balance.remaining), spent: Some(spent) }
}

const DAY_MICROS: i64 = 86_400 * 1_000_000;

impl Spent {
    /// Undoes this admission on the counters and balance as they are now:
    /// the rate-limit slot is returned, and the credits too unless the
    /// balance was set since (a refill or an admin write replaced it).
    pub fn give_back(&self, limit: &mut LimitState, balance: &mut Option<Balance>) {
        if let Some((interval, day)) = self.slot {
            limit.tat = limit.tat.map(|tat| tat - interval);
            if limit.day == day {
                limit.day_count = limit.day_count.saturating_sub(1);
            }
        }
        if let Some(balance) = balance.as_mut().filter(|balance| balance.set_at <= self.at && self.cost > 0) {
            balance.remaining = balance.remaining.saturating_add(self.cost);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credits::Interval;

    const NOW: UnixMillis = 1_795_420_800_000;

    fn limits(balance: Option<u64>, quota: Option<(u32, u32)>) -> Limits<'static> {
        Limits {
            balance: balance.map(|remaining| Balance::set(remaining, NOW - 1)),
            refill: None,
            quota: quota.map(|(minute, day)| Quota::new(minute, day).unwrap()),
        }
    }

    #[test]
    fn credits_then_the_rate_limit_and_neither_is_spent_unless_both_admit() {
        // Short of credits: no rate-limit token taken.
        let refused = admit(limits(Some(1), Some((60, 100))), LimitState::default(), 2, false, NOW);
        assert_eq!(refused.shortfall, Some(Shortfall::UsageExceeded { refills_at: None }));
        assert_eq!((refused.remaining, refused.spent), (Some(1), None));
        assert_eq!(refused.rate.unwrap().day.remaining, 100);
        // Rate-limited: no credit spent.
        let full = LimitState { tat: Some(NOW * 1000 + 20_000_000), day: 0, day_count: 0 };
        let limited = admit(limits(Some(5), Some((60, 100))), full, 1, false, NOW);
        assert_eq!(
            (limited.shortfall, limited.remaining, limited.spent),
            (Some(Shortfall::RateLimited), Some(5), None)
        );
        // Admitted: both spent.
        let admitted = admit(limits(Some(5), Some((60, 100))), LimitState::default(), 3, false, NOW);
        assert_eq!((admitted.shortfall, admitted.remaining), (None, Some(2)));
        assert_eq!(admitted.spent.unwrap().limit.day_count, 1);
        // Refused before: nothing spent, the state reported.
        let reported = admit(limits(Some(5), Some((60, 100))), LimitState::default(), 3, true, NOW);
        assert_eq!((reported.shortfall, reported.remaining, reported.spent), (None, Some(5), None));
    }

    #[test]
    fn without_limits_everything_is_admitted_and_nothing_is_counted() {
        let open = admit(limits(None, None), LimitState::default(), 10, false, NOW);
        assert_eq!((open.shortfall, open.rate, open.remaining), (None, None, None));
        assert_eq!(open.spent.unwrap().limit, LimitState::default());
    }

    #[test]
    fn giving_back_undoes_an_admission_even_after_others() {
        let quota = Some((30, 100));
        let first = admit(limits(Some(10), quota), LimitState::default(), 4, false, NOW).spent.unwrap();
        let second = admit(limits(first.balance.map(|b| b.remaining), quota), first.limit, 4, false, NOW + 1);
        let second = second.spent.unwrap();
        let (mut limit, mut balance) = (second.limit, second.balance);
        first.give_back(&mut limit, &mut balance);
        assert_eq!(balance.unwrap().remaining, 6, "10 - 4 - 4 + 4");
        assert_eq!(limit.day_count, 1);
        // What remains is what the second request alone would have left.
        let alone = admit(limits(Some(10), quota), LimitState::default(), 4, false, NOW + 1).spent.unwrap();
        assert_eq!(limit.tat, alone.limit.tat.map(|tat| tat - 1000));
        // A balance set since (a refill) is not topped up.
        let mut refilled = Some(Balance::set(50, NOW + 5));
        first.give_back(&mut LimitState::default(), &mut refilled);
        assert_eq!(refilled.unwrap().remaining, 50);
    }

    #[test]
    fn a_refill_due_is_applied_before_spending() {
        let refill = Refill { interval: Interval::Daily, amount: 7 };
        let yesterday = Limits { balance: Some(Balance::set(0, NOW - 86_400_000)), refill: Some(&refill), quota: None };
        let admitted = admit(yesterday, LimitState::default(), 2, false, NOW);
        assert_eq!((admitted.shortfall, admitted.remaining), (None, Some(5)));
    }
}
