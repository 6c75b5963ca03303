//! Rate limits as a pure function of (state, now, quota).
//!
//! Minute policy: GCRA with emission interval 60 s / `per_minute` and burst
//! tolerance 10 s, so from idle `floor(10 s / interval) + 1` requests pass at
//! once and the sustained rate is `per_minute`. Day policy: at most `per_day`
//! admitted requests per UTC day.
//!
//! Guarantees: both policies are decided together and a refused request
//! changes nothing; all arithmetic is integer microseconds; an advertised
//! `retry_after` is never 0 and never early.

use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

/// A key's limits: `per_minute` sustained (GCRA) and `per_day` per UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub per_minute: NonZeroU32,
    pub per_day: NonZeroU32,
}

impl Quota {
    /// `None` unless both limits are positive.
    ///
    /// ```
    /// use keygate::ratelimit::Quota;
    /// let quota = Quota::new(100, 10_000).unwrap();
    /// assert_eq!(quota.emission_interval(), 600_000); // µs: one request every 0.6 s
    /// assert_eq!(quota.burst(), 17); // 10 s of tolerance / 0.6 s, plus the request itself
    /// assert!(Quota::new(0, 5).is_none());
    /// ```
    pub fn new(per_minute: u32, per_day: u32) -> Option<Quota> {
        Some(Quota { per_minute: NonZeroU32::new(per_minute)?, per_day: NonZeroU32::new(per_day)? })
    }

    /// Microseconds between requests at the sustained rate (at least 1).
    pub fn emission_interval(&self) -> i64 {
        (MINUTE / i64::from(self.per_minute.get())).max(1)
    }

    /// How many requests pass back to back from idle.
    pub fn burst(&self) -> u64 {
        (TOLERANCE / self.emission_interval()) as u64 + 1
    }
}

const SECOND: i64 = 1_000_000;
const MINUTE: i64 = 60 * SECOND;
const DAY: i64 = 86_400 * SECOND;
/// How far ahead of the sustained schedule a burst may run.
pub const TOLERANCE: i64 = 10 * SECOND;

/// Microseconds since the Unix epoch.
pub type Micros = i64;

/// The whole per-key limiter state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitState {
    /// GCRA theoretical arrival time; `None` when idle.
    pub tat: Option<Micros>,
    /// UTC day number (days since the epoch) that `day_count` counts.
    pub day: i64,
    pub day_count: u32,
}

impl LimitState {
    /// Admitted requests on the UTC day of `now`.
    pub fn count_on(&self, now: Micros) -> u32 {
        if self.day == now.div_euclid(DAY) {
            self.day_count
        } else {
            0
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    Minute,
    Day,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Minute => "minute",
            Policy::Day => "day",
        }
    }
}

/// Where one policy stands after a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyStatus {
    pub policy: Policy,
    pub limit: u32,
    /// Requests that would pass right now.
    pub remaining: u32,
    /// Microseconds until the policy is back to full capacity.
    pub reset_after: Micros,
}

impl PolicyStatus {
    /// When the policy is back to full capacity, in unix seconds (rounded up).
    pub fn reset_at(&self, now: Micros) -> u64 {
        whole_seconds(now + self.reset_after)
    }
}

/// `micros` in whole seconds, rounded up; never negative.
pub fn whole_seconds(micros: Micros) -> u64 {
    (micros.max(0) as u64).div_ceil(SECOND as u64)
}

/// The verdict of [`check`] with everything the headers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateDecision {
    pub admitted: bool,
    pub minute: PolicyStatus,
    pub day: PolicyStatus,
    /// Whole seconds until a retry passes; `Some` only when refused, and ≥ 1.
    pub retry_after: Option<u64>,
    /// The policy to report: the violated one, else the nearest to exhaustion.
    pub reported: Policy,
    /// When the decision was made.
    pub now: Micros,
}

impl RateDecision {
    pub fn reported_status(&self) -> PolicyStatus {
        match self.reported {
            Policy::Minute => self.minute,
            Policy::Day => self.day,
        }
    }
}

/// Decides one request at `now`; returns the decision and the state to store.
pub fn check(quota: Quota, state: LimitState, now: Micros) -> (RateDecision, LimitState) {
    decide(quota, state, now, true)
}

/// Where the policies stand at `now`, without spending anything.
pub fn peek(quota: Quota, state: LimitState, now: Micros) -> RateDecision {
    decide(quota, state, now, false).0
}

fn decide(quota: Quota, state: LimitState, now: Micros, spend: bool) -> (RateDecision, LimitState) {
    let interval = quota.emission_interval();
    let per_day = quota.per_day.get();
    let tat = state.tat.unwrap_or(now).max(now);
    let today = now.div_euclid(DAY);
    let count = state.count_on(now);
    let next_midnight = (today + 1) * DAY;

    // Earliest time each policy would admit one more request.
    let minute_ok_at = tat - TOLERANCE;
    let day_ok_at = if count < per_day { now } else { next_midnight };
    let admitted = spend && minute_ok_at <= now && day_ok_at <= now;

    let (tat, count) = if admitted { (tat + interval, count.saturating_add(1)) } else { (tat, count) };
    let new_state = if admitted { LimitState { tat: Some(tat), day: today, day_count: count } } else { state };

    let backlog = tat - now;
    let minute_remaining = if backlog > TOLERANCE { 0 } else { (TOLERANCE - backlog) / interval + 1 };
    let minute = PolicyStatus {
        policy: Policy::Minute,
        limit: quota.per_minute.get(),
        remaining: minute_remaining.min(i64::from(quota.per_minute.get())) as u32,
        reset_after: backlog,
    };
    let day = PolicyStatus {
        policy: Policy::Day,
        limit: per_day,
        // The quota may have been lowered below today's count by an admin change.
        remaining: per_day.saturating_sub(count),
        reset_after: next_midnight - now,
    };

    let (retry_after, reported) = if admitted || !spend {
        let nearest = if day.remaining < minute.remaining { Policy::Day } else { Policy::Minute };
        (None, nearest)
    } else {
        // Refused: the request passes once both policies allow it.
        let wait = (minute_ok_at.max(day_ok_at) - now).max(1);
        let violated = if day_ok_at > now { Policy::Day } else { Policy::Minute };
        (Some((wait as u64).div_ceil(SECOND as u64)), violated)
    };
    (RateDecision { admitted, minute, day, retry_after, reported, now }, new_state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 2026-11-23T08:00:00Z in microseconds.
    const T0: Micros = 1_795_420_800 * SECOND;

    fn quota(per_minute: u32, per_day: u32) -> Quota {
        Quota::new(per_minute, per_day).unwrap()
    }

    /// Sends requests at the given times; returns which were admitted and the final state.
    fn run(quota: Quota, times: impl IntoIterator<Item = Micros>) -> (Vec<bool>, LimitState) {
        let mut state = LimitState::default();
        let mut admitted = Vec::new();
        for now in times {
            let (decision, next) = check(quota, state, now);
            admitted.push(decision.admitted);
            state = next;
        }
        (admitted, state)
    }

    #[test]
    fn from_idle_exactly_17_back_to_back_requests_pass_at_100_per_minute() {
        let (admitted, _) = run(quota(100, 10_000), std::iter::repeat_n(T0, 30));
        assert_eq!(admitted.iter().filter(|a| **a).count(), 17);
        assert!(admitted[..17].iter().all(|a| *a));
    }

    #[test]
    fn twice_the_rate_passes_for_ten_seconds_then_the_next_is_refused() {
        let q = quota(100, 10_000);
        let half = q.emission_interval() / 2; // 0.3 s: twice the sustained rate
        let times: Vec<Micros> = (0..=34).map(|i| T0 + i * half).collect();
        let (admitted, _) = run(q, times.iter().copied());
        let within_ten_seconds = times.iter().filter(|t| **t - T0 < TOLERANCE).count();
        assert_eq!(within_ten_seconds, 34);
        assert!(admitted[..34].iter().all(|a| *a), "{admitted:?}");
        assert!(!admitted[34], "the next one at twice the rate is refused");
    }

    #[test]
    fn the_sustained_rate_is_never_refused() {
        let q = quota(100, 1_000_000);
        let (admitted, _) = run(q, (0..5_000).map(|i| T0 + i * q.emission_interval()));
        assert!(admitted.iter().all(|a| *a));
    }

    #[test]
    fn refused_requests_do_not_move_the_state() {
        let q = quota(60, 3);
        let (_, state) = run(q, std::iter::repeat_n(T0, 3));
        let (decision, after) = check(q, state, T0 + 1);
        assert!(!decision.admitted);
        assert_eq!(after, state);
        // Refused by the minute policy while the day still has room: nothing moves either.
        let (_, state) = run(quota(6, 100), std::iter::repeat_n(T0, 2));
        let (decision, after) = check(quota(6, 100), state, T0);
        assert!(!decision.admitted);
        assert_eq!(decision.reported, Policy::Minute);
        assert_eq!(after, state);
    }

    #[test]
    fn the_day_counter_refuses_the_extra_request_and_resets_at_midnight_utc() {
        let q = quota(1_000, 5);
        let midnight = (T0 / DAY + 1) * DAY;
        let start = midnight - 10 * MINUTE;
        let (admitted, state) = run(q, (0..6).map(|i| start + i * MINUTE));
        assert_eq!(admitted, vec![true, true, true, true, true, false]);
        let (refused, _) = check(q, state, midnight - 1);
        assert!(!refused.admitted);
        assert_eq!(refused.reported, Policy::Day);
        assert_eq!(refused.retry_after, Some(1));
        let (next_day, state) = check(q, state, midnight);
        assert!(next_day.admitted);
        assert_eq!(state.day_count, 1);
        assert_eq!(next_day.day.remaining, 4);
    }

    #[test]
    fn retry_after_is_exact_for_the_minute_policy() {
        let q = quota(30, 1_000);
        let (_, state) = run(q, std::iter::repeat_n(T0, 6));
        let (refused, _) = check(q, state, T0);
        assert_eq!(refused.retry_after, Some(2));
        assert_eq!(refused.minute.remaining, 0);
        assert!(!check(q, state, T0 + 2 * SECOND - 1).0.admitted);
        assert!(check(q, state, T0 + 2 * SECOND).0.admitted);
    }

    #[test]
    fn the_nearest_policy_is_reported_when_admitted() {
        let (decision, _) = check(quota(100, 3), LimitState::default(), T0);
        assert_eq!((decision.reported, decision.day.remaining), (Policy::Day, 2));
        let (decision, _) = check(quota(100, 10_000), LimitState::default(), T0);
        assert_eq!((decision.reported, decision.minute.remaining), (Policy::Minute, 16));
        assert_eq!(decision.minute.limit, 100);
    }

    #[test]
    fn peek_spends_nothing() {
        let q = quota(100, 10);
        let (_, state) = run(q, [T0]);
        let seen = peek(q, state, T0);
        assert!(!seen.admitted && seen.retry_after.is_none());
        assert_eq!(seen.day.remaining, 9);
    }

    /// Reproducer: a PATCH lowering `per_day` below today's count made a 429
    /// report 4294967293 remaining (and panicked in a debug build).
    #[test]
    fn a_day_quota_lowered_below_the_count_reports_zero_remaining() {
        let (_, state) = run(quota(1_000, 10), std::iter::repeat_n(T0, 5));
        let (refused, after) = check(quota(1_000, 2), state, T0 + SECOND);
        assert!(!refused.admitted);
        assert_eq!((refused.reported, refused.day.remaining), (Policy::Day, 0));
        assert_eq!(after, state);
        assert_eq!(peek(quota(1_000, 2), state, T0).day.remaining, 0);
    }

    proptest! {
        /// Quotas changed at any moment, mid-window and mid-day: no overflow,
        /// nothing reported beyond the limit, and retry_after stays exact.
        #[test]
        fn quotas_changed_mid_window_and_mid_day_stay_consistent(
            steps in prop::collection::vec((0i64..4 * 3600 * SECOND, 1u32..400, 1u32..40), 1..120),
        ) {
            let mut state = LimitState::default();
            let mut now = T0;
            for (gap, per_minute, per_day) in steps {
                now += gap;
                let q = quota(per_minute, per_day);
                let (decision, next) = check(q, state, now);
                prop_assert!(decision.minute.remaining <= per_minute && decision.day.remaining <= per_day);
                if let Some(retry) = decision.retry_after {
                    prop_assert!(retry >= 1);
                    prop_assert!(check(q, state, now + retry as i64 * SECOND).0.admitted);
                }
                state = next;
            }
        }

        #[test]
        fn retry_after_is_never_zero_and_never_early(
            per_minute in 1u32..200, per_day in 1u32..50, gaps in prop::collection::vec(0i64..3 * SECOND, 1..80),
        ) {
            let q = quota(per_minute, per_day);
            let mut state = LimitState::default();
            let mut now = T0;
            for gap in gaps {
                now += gap;
                let (decision, next) = check(q, state, now);
                if let Some(retry) = decision.retry_after {
                    prop_assert!(retry >= 1);
                    prop_assert!(check(q, state, now + retry as i64 * SECOND).0.admitted);
                }
                state = next;
            }
        }

        #[test]
        fn no_window_admits_more_than_gcra_allows(
            per_minute in 1u32..300, gaps in prop::collection::vec(0i64..2 * SECOND, 1..300),
        ) {
            let q = quota(per_minute, u32::MAX);
            let mut now = T0;
            let times: Vec<Micros> = gaps.iter().map(|gap| { now += gap; now }).collect();
            let (admitted, _) = run(q, times.iter().copied());
            let passed: Vec<Micros> = times.iter().zip(&admitted).filter(|(_, a)| **a).map(|(t, _)| *t).collect();
            // In any window of length w, GCRA admits at most floor((w + tolerance) / interval) + 1.
            for (i, start) in passed.iter().enumerate() {
                for (j, end) in passed.iter().enumerate().skip(i) {
                    let allowed = (end - start + TOLERANCE) / q.emission_interval() + 1;
                    prop_assert!((j - i + 1) as i64 <= allowed);
                }
            }
        }
    }
}
