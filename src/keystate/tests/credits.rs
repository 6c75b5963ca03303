//! Credits in the object: spent by admitted checks only, refilled on
//! schedule, set, kept and handed over by admin writes.

use super::*;
use crate::credits::{Credits, Interval, Refill};
use crate::error::Error;
use crate::ratelimit::Quota;
use crate::record::parse_rfc3339;

fn at(text: &str) -> UnixMillis {
    parse_rfc3339(text).unwrap()
}

/// A key object holding a key with `credits`, given `remaining` at `now` by an admin write.
fn with_credits(refill: Option<Refill>, remaining: u64, per_minute: u32, now: UnixMillis) -> KeyState {
    let mut state = KeyState::default();
    let held = KeyRecord {
        rate_limit: Quota::new(per_minute, 100_000).unwrap(),
        credits: Some(Credits { refill }),
        ..record(&[])
    };
    assert_eq!(state.apply(LimiterCall::write(held, None).with_balance(remaining), now).0, LimiterAnswer::Done);
    state
}

fn spend(state: &mut KeyState, cost: u64, now: UnixMillis) -> (Option<Refusal>, Option<u64>, Change) {
    match state.apply(Check { cost, ..Check::default() }.call(), now) {
        (LimiterAnswer::Checked { refusal, credits, .. }, change) => (refusal, credits, change),
        other => panic!("{other:?}"),
    }
}

fn remaining(state: &mut KeyState, now: UnixMillis) -> Option<u64> {
    match state.apply(LimiterCall::Get, now).0 {
        LimiterAnswer::Record { balance, .. } => balance.map(|balance| balance.remaining),
        other => panic!("{other:?}"),
    }
}

#[test]
fn admitted_requests_spend_their_cost_and_a_short_balance_refuses() {
    let mut state = with_credits(None, 10, 1000, NOW);
    assert_eq!(spend(&mut state, 1, NOW), (None, Some(9), Change::Everything), "a spend is written at once");
    assert_eq!(spend(&mut state, 5, NOW), (None, Some(4), Change::Everything));
    let refused = spend(&mut state, 5, NOW);
    assert_eq!(refused, (Some(Refusal::UsageExceeded { refills_at: None }), Some(4), Change::Counters));
    assert_eq!(spend(&mut state, 4, NOW), (None, Some(0), Change::Everything));
    assert_eq!(spend(&mut state, 0, NOW), (None, Some(0), Change::Counters), "a cost of 0 always passes");
    assert_eq!(spend(&mut state, 1, NOW).0, Some(Refusal::UsageExceeded { refills_at: None }));
    let hours = state.usage.history.series(&hours_around_now());
    assert_eq!(hours.iter().map(|(_, c)| c.0[&Outcome::UsageExceeded]).sum::<u64>(), 2);
    assert_eq!(remaining(&mut state, NOW), Some(0));
}

#[test]
fn a_key_without_credits_spends_nothing_and_reports_none() {
    let mut state = KeyState::default();
    state.apply(LimiterCall::write(record(&[]), None).with_balance(5), NOW);
    assert_eq!(state.balance, None, "a balance without credits is not kept");
    assert_eq!(spend(&mut state, 1_000_000, NOW), (None, None, Change::Counters));
}

#[test]
fn a_request_refused_for_credits_spends_no_rate_limit_token() {
    let mut state = with_credits(None, 1, 1, NOW);
    let limit = state.limit;
    assert_eq!(spend(&mut state, 2, NOW).0, Some(Refusal::UsageExceeded { refills_at: None }));
    assert_eq!(state.limit, limit, "no token spent");
    // The one token is still there for a request the credits cover.
    assert_eq!(spend(&mut state, 1, NOW).0, None);
}

#[test]
fn a_request_refused_by_the_rate_limit_spends_no_credit() {
    let mut state = with_credits(None, 10, 1, NOW);
    assert_eq!(spend(&mut state, 1, NOW), (None, Some(9), Change::Everything));
    let (refusal, credits, _) = spend(&mut state, 1, NOW + 1);
    assert_eq!((refusal, credits), (Some(Refusal::RateLimited), Some(9)));
    assert_eq!(remaining(&mut state, NOW + 1), Some(9));
}

#[test]
fn a_refused_judgement_spends_neither() {
    let mut state = with_credits(None, 3, 1, NOW);
    let limit = state.limit;
    let (answer, _) = state.apply(Check { scope: Some("bots:read"), ..Check::default() }.call(), NOW);
    assert!(matches!(answer, LimiterAnswer::Checked { refusal: Some(Refusal::MissingScope(_)), credits: Some(3), .. }));
    assert_eq!((state.limit, remaining(&mut state, NOW)), (limit, Some(3)));
}

#[test]
fn a_daily_refill_comes_at_midnight_with_the_next_check_or_read() {
    let daily = Refill { interval: Interval::Daily, amount: 100 };
    let mut state = with_credits(Some(daily), 1, 1000, at("2026-12-04T10:00:00Z"));
    assert_eq!(spend(&mut state, 1, at("2026-12-04T10:00:01Z")).1, Some(0));
    let (refusal, ..) = spend(&mut state, 1, at("2026-12-04T23:59:59.999Z"));
    assert_eq!(refusal, Some(Refusal::UsageExceeded { refills_at: Some(at("2026-12-05T00:00:00Z")) }));
    assert_eq!(
        refusal.unwrap().to_error(None, at("2026-12-04T23:59:00Z")),
        Error::UsageExceeded { retry_after: Some(60) }
    );
    // No request needed: a read shows the refill.
    assert_eq!(remaining(&mut state, at("2026-12-05T00:00:00Z")), Some(100));
    assert_eq!(spend(&mut state, 1, at("2026-12-05T00:00:00Z")).1, Some(99));
    assert_eq!(spend(&mut state, 1, at("2026-12-05T08:00:00Z")).1, Some(98), "one refill a day");
}

#[test]
fn a_monthly_refill_clamps_to_the_months_end_and_knows_leap_years() {
    let on_31st = Refill { interval: Interval::Monthly { day: 31 }, amount: 7 };
    let mut state = with_credits(Some(on_31st), 0, 1000, at("2028-01-31T12:00:00Z"));
    let (refusal, ..) = spend(&mut state, 1, at("2028-02-28T23:59:59Z"));
    assert_eq!(refusal, Some(Refusal::UsageExceeded { refills_at: Some(at("2028-02-29T00:00:00Z")) }));
    assert_eq!(spend(&mut state, 1, at("2028-02-29T00:00:00Z")).1, Some(6), "the leap day is February's last");
    let mut common = with_credits(Some(on_31st), 0, 1000, at("2027-01-31T12:00:00Z"));
    assert_eq!(remaining(&mut common, at("2027-02-27T23:59:59Z")), Some(0));
    assert_eq!(remaining(&mut common, at("2027-02-28T00:00:00Z")), Some(7), "February 28th in a common year");
    assert_eq!(spend(&mut common, 7, at("2027-03-30T00:00:00Z")).1, Some(0));
    assert_eq!(remaining(&mut common, at("2027-03-31T00:00:00Z")), Some(7));
}

#[test]
fn admin_writes_set_keep_and_hand_over_the_balance() {
    let mut state = with_credits(None, 10, 1000, NOW);
    spend(&mut state, 3, NOW);
    let renamed = KeyRecord { name: "renamed".into(), updated_at: NOW + 1, ..state.record.clone().unwrap() };
    assert_eq!(state.apply(LimiterCall::write(renamed.clone(), Some(NOW)), NOW + 1).0, LimiterAnswer::Done);
    assert_eq!(remaining(&mut state, NOW + 1), Some(7), "a write that does not mention credits keeps them");
    let retired = KeyRecord { updated_at: NOW + 2, ..renamed };
    let take = LimiterCall::write(retired.clone(), Some(NOW + 1)).with_balance(0);
    assert_eq!(state.apply(take, NOW + 2).0, LimiterAnswer::Replaced { remaining: 7 });
    assert_eq!(remaining(&mut state, NOW + 2), Some(0), "the old key keeps none");
    let credit = |change, amount| LimiterCall::Credits { change, amount, entry: None };
    assert_eq!(state.apply(credit(CreditOp::Increment, 5), NOW + 3).0, LimiterAnswer::Credits { from: 0, to: 5 });
    assert_eq!(state.apply(credit(CreditOp::Decrement, 9), NOW + 3).0, LimiterAnswer::Credits { from: 5, to: 0 });
    assert_eq!(state.apply(credit(CreditOp::Set, 42), NOW + 3).0, LimiterAnswer::Credits { from: 0, to: 42 });
    let unlimited = KeyRecord { credits: None, updated_at: NOW + 4, ..retired };
    state.apply(LimiterCall::write(unlimited, Some(NOW + 2)), NOW + 4);
    assert_eq!(state.apply(credit(CreditOp::Set, 1), NOW + 5).0, LimiterAnswer::NoCredits);
    assert_eq!(remaining(&mut state, NOW + 5), None);
}

#[test]
fn concurrent_checks_on_ten_credits_admit_exactly_ten() {
    let mut state = with_credits(None, 10, 100_000, NOW);
    let admitted = (0..50).filter(|i| spend(&mut state, 1, NOW + i).0.is_none()).count();
    assert_eq!(admitted, 10);
}
