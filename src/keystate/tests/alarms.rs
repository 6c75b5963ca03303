//! The object's alarm: counts flushed within a second and pushed to the
//! project, idle counters dropped after a day, old usage pruned.

use super::*;
use crate::project::ProjectCall;

#[test]
fn counts_are_flushed_within_a_second_by_one_alarm() {
    let mut object = object_with_key();
    let first = admitted_check(&mut object, NOW + 10);
    assert_eq!((first.write_state, first.set_alarm_at), (false, Some(NOW + 10 + FLUSH_MILLIS)));
    for at in [NOW + 20, NOW + 900] {
        assert_eq!(admitted_check(&mut object, at).set_alarm_at, None, "the flush alarm is already set");
    }
    let plan = object.on_alarm(NOW + 10 + FLUSH_MILLIS);
    assert!(plan.write_counters);
    assert_eq!(plan.set_alarm_at, Some(NOW + 900 + IDLE_MILLIS), "then the idle cleanup, a day after the last use");
    assert_eq!(object.state.limit.day_count, 3);
    // The next use brings the flush forward again.
    assert_eq!(admitted_check(&mut object, NOW + 5000).set_alarm_at, Some(NOW + 5000 + FLUSH_MILLIS));
}

#[test]
fn an_idle_key_loses_its_counters_after_a_day_and_nothing_else() {
    let mut object = object_with_key();
    admitted_check(&mut object, NOW);
    let flushed = object.on_alarm(NOW + FLUSH_MILLIS);
    object.delivered(&flushed.deliver.expect("the first counts are pushed"), true, NOW + FLUSH_MILLIS);
    let plan = object.on_alarm(NOW + IDLE_MILLIS);
    assert_eq!(plan, AlarmPlan { write_counters: true, ..quiet() });
    assert_eq!(object.state.limit, LimitState::default());
    assert!(object.state.record.is_some(), "the record stays");
    assert_eq!(object.on_alarm(NOW + 2 * IDLE_MILLIS), quiet());
}

#[test]
fn a_failed_flush_keeps_the_counts_for_the_retried_alarm() {
    let mut object = object_with_key();
    admitted_check(&mut object, NOW);
    assert!(object.on_alarm(NOW + FLUSH_MILLIS).write_counters);
    object.flush_failed(NOW + FLUSH_MILLIS);
    assert_eq!(object.state.limit.day_count, 1, "memory keeps the count");
    let retried = object.on_alarm(NOW + FLUSH_MILLIS + 500);
    assert!(retried.write_counters, "the runtime's retry writes it");
}

#[test]
fn an_alarm_that_could_not_be_set_is_set_by_the_next_call() {
    let mut object = object_with_key();
    assert!(admitted_check(&mut object, NOW).set_alarm_at.is_some());
    object.alarm_not_set();
    assert_eq!(admitted_check(&mut object, NOW + 10).set_alarm_at, Some(NOW + FLUSH_MILLIS));
}

/// Reproducer (review): "at once" was `UnixMillis::MIN`, handed to the
/// runtime as an alarm time, where `at - now` overflowed.
#[test]
fn an_alarm_due_at_once_is_set_for_now() {
    let mut stored = object_with_key().state;
    stored.outbox.push(OutboxEntry {
        id: "evt_1".into(),
        project: crate::ids::ProjectId::parse("acme").unwrap(),
        change: crate::project::CatalogChange::Remove { key_id: record(&[]).id, version: NOW },
        event: None,
        notice: None,
    });
    let mut loaded = KeyObject::loaded(stored, false);
    let effects = loaded.on_call(LimiterCall::Get, NOW + 7);
    assert_eq!(effects.set_alarm_at, Some(NOW + 7), "the pending outbox is delivered now, not at i64::MIN");
}

/// Reproducer (review): a key's hourly and daily buckets were never pruned,
/// so its usage row grew for ever.
#[test]
fn the_alarm_prunes_usage_older_than_kept() {
    let mut object = object_with_key();
    admitted_check(&mut object, NOW);
    object.on_alarm(NOW + FLUSH_MILLIS);
    let later = NOW + (crate::usage::DAILY_DAYS + 2) * crate::usage::DAY_MILLIS;
    object.on_alarm(later);
    assert!(object.state.usage.history.hourly.is_empty() && object.state.usage.history.daily.is_empty());
}

/// Reproducer (e2e): an admin write just after a key's first use wrote the
/// counters, and the first push then went at once, before the rest of the
/// burst: whatever came next waited a whole push interval.
#[test]
fn the_first_push_waits_for_its_counts_to_gather() {
    let mut object = object_with_key();
    admitted_check(&mut object, NOW);
    let renamed = KeyRecord { name: "renamed".into(), updated_at: NOW + 10, ..record(&[]) };
    object.on_call(LimiterCall::write(renamed, Some(NOW)), NOW + 10);
    assert_eq!(object.on_alarm(NOW + 500).deliver, None, "still gathering");
    admitted_check(&mut object, NOW + 600);
    let first = object.on_alarm(NOW + delivery::GATHER_MILLIS).deliver.expect("gathered");
    let ProjectCall::Apply { usage: Some(push), .. } = &first else { panic!("{first:?}") };
    assert_eq!(push.hours[0].1.total(), 2, "the whole burst");
}
