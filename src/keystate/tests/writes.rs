//! Admin writes: compare-and-set on the record's version, and the tombstone
//! a deletion leaves, which nothing writes over or adopts again.

use super::*;
use crate::project::ProjectCall;

fn put(state: &mut KeyState, record: KeyRecord, expected: Option<UnixMillis>) -> LimiterAnswer {
    state.apply(LimiterCall::write(record, expected), NOW).0
}

/// Reproducer: PATCH read the record, then wrote it back whole; a DELETE
/// in between was undone and the deleted key verified again.
#[test]
fn a_write_on_a_version_that_moved_on_is_refused_and_a_deletion_is_final() {
    let mut state = KeyState::default();
    let v1 = record(&["bots:read"]);
    assert_eq!(put(&mut state, v1.clone(), None), LimiterAnswer::Done);
    assert_eq!(put(&mut state, v1.clone(), None), LimiterAnswer::Conflict, "a create never overwrites");
    let mut v2 = v1.clone();
    v2.updated_at += 1;
    assert_eq!(put(&mut state, v2.clone(), Some(v1.updated_at)), LimiterAnswer::Done);
    assert_eq!(put(&mut state, v2.clone(), Some(v1.updated_at)), LimiterAnswer::Conflict, "v1 is gone");
    let delete = |expected| LimiterCall::Delete { expected, entry: None };
    assert_eq!(state.apply(delete(Some(v1.updated_at)), NOW).0, LimiterAnswer::Conflict);
    assert_eq!(state.apply(delete(Some(v2.updated_at)), NOW).0, LimiterAnswer::Done);
    for expected in [None, Some(v2.updated_at), Some(v1.updated_at)] {
        assert_eq!(put(&mut state, v2.clone(), expected), LimiterAnswer::Gone);
    }
    assert_eq!(state.apply(delete(None), NOW).0, LimiterAnswer::Gone);
    // Whatever KV still holds, however much later: never adopted again.
    let mut later = state.clone();
    let adopt = Some(Adopt { digest: "d1".into(), record: v2.clone() });
    let kv_copy = Check { seen_updated_at: v2.updated_at, adopt, ..Check::default() }.call();
    let (answer, _) = later.apply(kv_copy, NOW + 1000 * IDLE_MILLIS);
    assert_eq!(answer, unknown());
}

/// A key written to KV by hand has no record in its object yet: its first
/// admin write adopts it, whatever version the writer read from KV.
#[test]
fn the_first_admin_write_of_a_kv_only_key_applies() {
    let mut state = KeyState::default();
    assert_eq!(put(&mut state, record(&[]), Some(12345)), LimiterAnswer::Done);
    let mut fresh = KeyState::default();
    assert_eq!(fresh.apply(LimiterCall::Delete { expected: Some(1), entry: None }, NOW).0, LimiterAnswer::Done);
    assert!(fresh.deleted);
}

#[test]
fn idle_counters_are_dropped_after_a_day_and_tombstones_never() {
    let mut state = KeyState::default();
    put(&mut state, record(&[]), None);
    let (LimiterAnswer::Checked { .. }, _) = state.apply(Check::default().call(), NOW) else { panic!() };
    assert!(!state.counters_idle(NOW + IDLE_MILLIS - 1));
    assert!(state.counters_idle(NOW + IDLE_MILLIS));
    state.apply(LimiterCall::Delete { expected: None, entry: None }, NOW + 5 * IDLE_MILLIS);
    assert!(!state.counters_idle(NOW + 400 * IDLE_MILLIS), "nothing to drop: the tombstone stays");
    assert!(!KeyState::default().counters_idle(NOW));
}

#[test]
fn a_tombstone_outlives_everything_and_wants_no_alarm_once_its_counts_are_pushed() {
    let mut object = object_with_key();
    admitted_check(&mut object, NOW);
    let deleted = object.on_call(LimiterCall::Delete { expected: None, entry: None }, NOW + 100);
    assert!(deleted.write_state, "the tombstone is written before the answer");
    let last = object.on_alarm(NOW + FLUSH_MILLIS);
    let delivery = last.deliver.expect("the counts made before the deletion still reach the project");
    let ProjectCall::Apply { usage: Some(push), .. } = &delivery else { panic!("{delivery:?}") };
    assert_eq!(push.hours[0].1.total(), 1);
    object.delivered(&delivery, true, NOW + FLUSH_MILLIS);
    let later = NOW + 1000 * IDLE_MILLIS;
    assert_eq!(object.on_alarm(later), quiet());
    assert_eq!(admitted_check(&mut object, later).answer, unknown());
}
