use super::*;
use crate::credits::{Interval, Refill};
use crate::ids::ProjectId;
use crate::keystate::delivery::{OUTBOX_DELAY_MILLIS, RETRY_MILLIS};
use crate::keystate::FLUSH_MILLIS;
use crate::project::CatalogChange;

const NOW: UnixMillis = 1_795_420_800_000;

fn entry(id: &str) -> OutboxEntry {
    OutboxEntry {
        id: id.into(),
        project: ProjectId::parse("acme").unwrap(),
        change: CatalogChange::Unchanged,
        event: None,
        notice: None,
    }
}

fn put(object: &mut OwnerObject, limits: OwnerLimits, balance: Option<u64>, now: UnixMillis) -> OwnerEffects {
    object.on_call(OwnerCall::Put { limits, balance, entry: entry(&format!("evt_{now}")) }, now)
}

fn limits(per_minute: u32, credits: Option<Refill>) -> OwnerLimits {
    OwnerLimits {
        rate_limit: Some(Quota::new(per_minute, 10_000).unwrap()),
        plan: None,
        credits: credits.map(|refill| Credits { refill: Some(refill) }),
    }
}

fn admit(object: &mut OwnerObject, cost: u64, now: UnixMillis) -> OwnerVerdict {
    match object.on_call(OwnerCall::Admit { cost }, now).answer {
        OwnerAnswer::Verdict(verdict) => verdict,
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_owner_admits_its_burst_and_no_more_whoever_asks() {
    let mut object = OwnerObject::default();
    put(&mut object, limits(30, None), None, NOW);
    // 30 per minute: a burst of 6 from idle.
    let admitted = (0..60).filter(|_| admit(&mut object, 1, NOW).refused.is_none()).count();
    assert_eq!(admitted, 6);
    let refused = admit(&mut object, 1, NOW);
    assert_eq!(refused.refused, Some(OwnerShortfall::RateLimited));
    assert!(refused.rate.unwrap().retry_after.is_some());
}

#[test]
fn owner_credits_are_spent_written_at_once_and_refilled() {
    let mut object = OwnerObject::default();
    let daily = Refill { interval: Interval::Daily, amount: 5 };
    put(&mut object, limits(1000, Some(daily)), Some(3), NOW);
    let first = object.on_call(OwnerCall::Admit { cost: 2 }, NOW + 1);
    assert!(first.write, "a spend is written before the answer");
    let midnight = (NOW / 86_400_000 + 1) * 86_400_000;
    assert_eq!(
        admit(&mut object, 2, NOW + 2).refused,
        Some(OwnerShortfall::UsageExceeded { refills_at: Some(midnight) })
    );
    // The next day: refilled to 5 (set, not added).
    let next_day = admit(&mut object, 1, NOW + 86_400_000);
    assert_eq!((next_day.refused, next_day.credits), (None, Some(4)));
}

#[test]
fn an_owner_without_limits_admits_and_counts_everything() {
    let mut object = OwnerObject::default();
    for _ in 0..100 {
        assert_eq!(admit(&mut object, 1000, NOW), OwnerVerdict { refused: None, rate: None, credits: None });
    }
    assert_eq!(object.on_call(OwnerCall::Get { query: None }, NOW).answer, OwnerAnswer::NotFound);
    put(&mut object, limits(60, None), None, NOW + 1);
    let OwnerAnswer::Owner(view) = object.on_call(OwnerCall::Get { query: None }, NOW + 2).answer else { panic!() };
    assert_eq!(view.requests_today, 100);
    assert_eq!(view.created_at, NOW + 1);
}

#[test]
fn delete_removes_the_limits_and_queues_its_event() {
    let mut object = OwnerObject::default();
    assert_eq!(object.on_call(OwnerCall::Delete { entry: entry("evt_1") }, NOW).answer, OwnerAnswer::NotFound);
    put(&mut object, limits(1, None), None, NOW);
    assert!(admit(&mut object, 1, NOW).refused.is_none());
    assert!(admit(&mut object, 1, NOW).refused.is_some());
    let deleted = object.on_call(OwnerCall::Delete { entry: entry("evt_2") }, NOW);
    assert!(deleted.write);
    assert!(admit(&mut object, 1, NOW).refused.is_none(), "no limits any more");
    assert_eq!(object.state.outbox.len(), 2);
}

#[test]
fn counts_are_flushed_within_a_second_and_events_delivered_until_acknowledged() {
    let mut object = OwnerObject::default();
    let stored = put(&mut object, limits(60, None), None, NOW);
    assert_eq!(stored.set_alarm_at, Some(NOW + OUTBOX_DELAY_MILLIS));
    let counted = object.on_call(OwnerCall::Admit { cost: 1 }, NOW + 10);
    assert!(!counted.write);
    assert_eq!(counted.set_alarm_at, Some(NOW + 10 + FLUSH_MILLIS));
    let flush = object.on_alarm(NOW + 10 + FLUSH_MILLIS);
    assert!(flush.write && flush.deliver.is_none());
    assert_eq!(flush.set_alarm_at, Some(NOW + OUTBOX_DELAY_MILLIS));
    let alarm = object.on_alarm(NOW + OUTBOX_DELAY_MILLIS);
    let delivery = alarm.deliver.expect("the event is due");
    let (write, again) = object.delivered(&delivery, false, NOW + OUTBOX_DELAY_MILLIS);
    assert!(!write);
    assert_eq!(again, Some(NOW + OUTBOX_DELAY_MILLIS + RETRY_MILLIS));
    let retry = object.on_alarm(NOW + OUTBOX_DELAY_MILLIS + RETRY_MILLIS).deliver.expect("retried");
    assert_eq!(retry, delivery, "the same entries again");
    let (write, next) = object.delivered(&retry, true, NOW + OUTBOX_DELAY_MILLIS + RETRY_MILLIS);
    assert!(write && next.is_none() && object.state.outbox.is_empty());
    // A reload with an outbox delivers at once.
    put(&mut object, limits(60, None), None, NOW + 99_000);
    let mut reloaded = OwnerObject::loaded(object.state.clone());
    assert!(reloaded.on_alarm(NOW + 99_001).deliver.is_some());
}

#[test]
fn put_sets_the_balance_or_keeps_it_and_messages_round_trip() {
    let mut object = OwnerObject::default();
    let monthly = Refill { interval: Interval::Monthly { day: 31 }, amount: 100 };
    put(&mut object, limits(60, Some(monthly)), Some(40), NOW);
    admit(&mut object, 15, NOW + 1);
    put(&mut object, limits(30, Some(monthly)), None, NOW + 2);
    let OwnerAnswer::Owner(view) = object.on_call(OwnerCall::Get { query: None }, NOW + 3).answer else { panic!() };
    assert_eq!(view.remaining, Some(25), "a PUT without a balance keeps it");
    for call in [
        OwnerCall::Admit { cost: 3 },
        OwnerCall::Put { limits: limits(5, Some(monthly)), balance: Some(1), entry: entry("evt_9") },
        OwnerCall::Delete { entry: entry("evt_8") },
        OwnerCall::Get { query: None },
    ] {
        let json = serde_json::to_string(&call).unwrap();
        assert_eq!(serde_json::from_str::<OwnerCall>(&json).unwrap(), call);
    }
    let answer = OwnerAnswer::Verdict(admit(&mut object, 1, NOW + 4));
    let json = serde_json::to_string(&answer).unwrap();
    assert_eq!(serde_json::from_str::<OwnerAnswer>(&json).unwrap(), answer);
    let state = serde_json::to_string(&object.state).unwrap();
    assert_eq!(serde_json::from_str::<OwnerState>(&state).unwrap(), object.state);
}
