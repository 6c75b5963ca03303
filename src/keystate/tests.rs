use super::*;
use crate::project::ProjectCall;
use crate::ratelimit::Quota;

const NOW: UnixMillis = 1_795_420_800_000;

pub(crate) fn record(scopes: &[&str]) -> KeyRecord {
    KeyRecord {
        id: crate::ids::KeyId::parse("key_0000000000000000000001").unwrap(),
        project: crate::ids::ProjectId::parse("acme").unwrap(),
        name: "n".into(),
        prefix: "sk_live_abcd".into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        environment: crate::key::Environment::Live,
        status: KeyStatus::Active,
        plan: None,
        rate_limit: Quota::new(60, 1000).unwrap(),
        meta: Default::default(),
        created_at: NOW,
        updated_at: NOW,
        expires_at: None,
        rotated_from: None,
        rotated_to: None,
        disabled_by_admin: false,
        leaked: None,
        credits: None,
    }
}

/// A check as the worker makes it: first without the KV copy, then with it if asked.
fn check(state: &mut KeyState, kv: KeyRecord, scope: Option<&str>) -> (Option<Refusal>, Change) {
    let call = |adopt| LimiterCall::Check {
        tag: digest_tag("d1"),
        seen_updated_at: kv.updated_at,
        adopt,
        scope: scope.map(Into::into),
        project: None,
        cost: 1,
    };
    let answer = match state.apply(call(None), NOW) {
        (LimiterAnswer::NeedRecord, Change::Nothing) => {
            state.apply(call(Some(Adopt { digest: "d1".into(), record: kv.clone() })), NOW)
        }
        answer => answer,
    };
    match answer {
        (LimiterAnswer::Checked { refusal, .. }, change) => (refusal, change),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_first_check_adopts_the_kv_record_and_later_ones_ignore_kv() {
    let mut state = KeyState::default();
    assert_eq!(check(&mut state, record(&["bots:read"]), Some("bots:read")), (None, Change::Everything));
    assert_eq!(check(&mut state, record(&["bots:read"]), Some("bots:read")), (None, Change::Counters));
    // KV now serves a stale copy with more scopes: the object's record wins.
    assert_eq!(
        check(&mut state, record(&["bots:read", "admin"]), Some("users:read")).0,
        Some(Refusal::MissingScope("users:read".into()))
    );
}

#[test]
fn a_put_or_delete_wins_over_a_stale_kv_copy() {
    let mut state = KeyState::default();
    state.apply(
        LimiterCall::Put { digest: "d1".into(), record: record(&[]), expected: None, entry: None, balance: None },
        NOW,
    );
    assert_eq!(
        check(&mut state, record(&["bots:read"]), Some("bots:read")).0,
        Some(Refusal::MissingScope("bots:read".into()))
    );
    let mut inactive = record(&[]);
    inactive.status = KeyStatus::Inactive;
    state.apply(
        LimiterCall::Put { digest: "d1".into(), record: inactive, expected: Some(NOW), entry: None, balance: None },
        NOW,
    );
    assert_eq!(check(&mut state, record(&[]), None).0, Some(Refusal::Disabled));
    state.apply(LimiterCall::Delete { expected: None, entry: None }, NOW);
    assert_eq!(check(&mut state, record(&[]), None), (Some(Refusal::Unknown), Change::Nothing));
}

#[test]
fn the_record_travels_back_only_when_the_callers_copy_is_stale() {
    let mut state = KeyState::default();
    let mut current = record(&["bots:read"]);
    current.updated_at = NOW + 5;
    state.apply(
        LimiterCall::Put { digest: "d1".into(), record: current.clone(), expected: None, entry: None, balance: None },
        NOW,
    );
    let ask = |seen| LimiterCall::Check {
        tag: digest_tag("d1"),
        seen_updated_at: seen,
        adopt: None,
        scope: None,
        project: None,
        cost: 1,
    };
    match state.apply(ask(NOW + 5), NOW).0 {
        LimiterAnswer::Checked { refusal: None, record: None, .. } => {}
        other => panic!("{other:?}"),
    }
    match state.apply(ask(NOW), NOW).0 {
        LimiterAnswer::Checked { refusal: None, record: Some(newer), .. } => assert_eq!(newer, current),
        other => panic!("{other:?}"),
    }
}

#[test]
fn another_digest_under_the_same_id_is_unknown() {
    let mut state = KeyState::default();
    state.apply(
        LimiterCall::Put { digest: "d0".into(), record: record(&[]), expected: None, entry: None, balance: None },
        NOW,
    );
    assert_eq!(check(&mut state, record(&[]), None).0, Some(Refusal::Unknown));
}

#[test]
fn denied_requests_spend_nothing() {
    let mut state = KeyState::default();
    state.apply(
        LimiterCall::Put { digest: "d1".into(), record: record(&[]), expected: None, entry: None, balance: None },
        NOW,
    );
    let before = state.clone();
    assert_eq!(
        check(&mut state, record(&[]), Some("bots:read")),
        (Some(Refusal::MissingScope("bots:read".into())), Change::Counters),
        "the denial is counted in the usage history"
    );
    assert_eq!((state.limit, state.last_used_at), (before.limit, before.last_used_at), "and spends nothing");
    let hour = &state.usage.history.hourly[&NOW];
    assert_eq!(hour.0.get(&crate::usage::Outcome::InsufficientPermissions), Some(&1));
    assert_eq!(check(&mut state, record(&[]), None), (None, Change::Counters));
    assert_eq!(state.limit.day_count, 1);
    assert_eq!(state.last_used_at, Some(NOW));
}

#[test]
fn idle_counters_are_dropped_after_a_day_and_tombstones_never() {
    let mut state = KeyState::default();
    state.apply(
        LimiterCall::Put { digest: "d1".into(), record: record(&[]), expected: None, entry: None, balance: None },
        NOW,
    );
    check(&mut state, record(&[]), None);
    assert!(!state.counters_idle(NOW + IDLE_MILLIS - 1));
    assert!(state.counters_idle(NOW + IDLE_MILLIS));
    state.apply(LimiterCall::Delete { expected: None, entry: None }, NOW + 5 * IDLE_MILLIS);
    assert!(!state.counters_idle(NOW + 400 * IDLE_MILLIS), "nothing to drop: the tombstone stays");
    assert!(!KeyState::default().counters_idle(NOW));
}

fn put(state: &mut KeyState, record: KeyRecord, expected: Option<UnixMillis>) -> LimiterAnswer {
    state.apply(LimiterCall::Put { digest: "d1".into(), record, expected, entry: None, balance: None }, NOW).0
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
    let kv_copy = LimiterCall::Check {
        tag: digest_tag("d1"),
        seen_updated_at: v2.updated_at,
        adopt: Some(Adopt { digest: "d1".into(), record: v2 }),
        scope: None,
        project: None,
        cost: 1,
    };
    let (answer, _) = later.apply(kv_copy, NOW + 1000 * IDLE_MILLIS);
    assert_eq!(
        answer,
        LimiterAnswer::Checked { refusal: Some(Refusal::Unknown), record: None, rate: None, credits: None }
    );
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

fn admitted_check(object: &mut KeyObject, now: UnixMillis) -> Effects {
    let call = LimiterCall::Check {
        tag: digest_tag("d1"),
        seen_updated_at: NOW,
        adopt: None,
        scope: None,
        project: None,
        cost: 1,
    };
    object.on_call(call, now)
}

fn object_with_key() -> KeyObject {
    let mut object = KeyObject::default();
    let put = LimiterCall::Put { digest: "d1".into(), record: record(&[]), expected: None, entry: None, balance: None };
    let effects = object.on_call(put, NOW);
    assert_eq!((effects.write_state, effects.set_alarm_at), (true, None), "nothing to count yet");
    object
}

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
    assert_eq!(plan, AlarmPlan { write_counters: true, write_state: false, deliver: None, set_alarm_at: None });
    assert_eq!(object.state.limit, LimitState::default());
    assert!(object.state.record.is_some(), "the record stays");
    assert_eq!(
        object.on_alarm(NOW + 2 * IDLE_MILLIS),
        AlarmPlan { write_counters: false, write_state: false, deliver: None, set_alarm_at: None }
    );
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
    assert_eq!(
        object.on_alarm(later),
        AlarmPlan { write_counters: false, write_state: false, deliver: None, set_alarm_at: None }
    );
    let answer = admitted_check(&mut object, later).answer;
    assert_eq!(
        answer,
        LimiterAnswer::Checked { refusal: Some(Refusal::Unknown), record: None, rate: None, credits: None }
    );
}

#[test]
fn a_quota_changed_mid_window_applies_to_the_next_request() {
    let mut object = object_with_key();
    let mut slow = record(&[]);
    slow.rate_limit = Quota::new(1, 1000).unwrap();
    slow.updated_at = NOW + 1;
    for at in 0..3 {
        admitted_check(&mut object, NOW + at);
    }
    let put = LimiterCall::Put { digest: "d1".into(), record: slow, expected: Some(NOW), entry: None, balance: None };
    assert_eq!(object.on_call(put, NOW + 3).answer, LimiterAnswer::Done);
    // The backlog of 3 s is within the 10 s tolerance, so one more passes at 1/min; then none.
    assert!(matches!(admitted_check(&mut object, NOW + 4).answer, LimiterAnswer::Checked { refusal: None, .. }));
    match admitted_check(&mut object, NOW + 5).answer {
        LimiterAnswer::Checked { refusal: Some(Refusal::RateLimited), rate: Some(rate), .. } => {
            assert_eq!((rate.minute.limit, rate.minute.remaining), (1, 0));
        }
        other => panic!("{other:?}"),
    }
}

/// Checks present a tag of the digest: the digest itself (a key's KV name)
/// never travels in a URL, and a KV copy adopted must be stored under the
/// digest the tag names.
#[test]
fn checks_present_a_tag_and_only_a_matching_digest_is_adopted() {
    let tag = digest_tag("d1");
    assert_eq!(tag.len(), 32);
    assert!(!tag.contains("d1") && tag != digest_tag("d2"));
    let mut state = KeyState::default();
    let adopt = |digest: &str| LimiterCall::Check {
        tag: tag.clone(),
        seen_updated_at: NOW,
        adopt: Some(Adopt { digest: digest.into(), record: record(&[]) }),
        scope: None,
        project: None,
        cost: 1,
    };
    assert!(!adopt("d1").fits_in_url(), "a call holding a digest goes in a body");
    let (answer, _) = state.apply(adopt("d2"), NOW);
    assert_eq!(
        answer,
        LimiterAnswer::Checked { refusal: Some(Refusal::Unknown), record: None, rate: None, credits: None }
    );
    assert!(state.record.is_none(), "not adopted under another digest");
    assert!(matches!(state.apply(adopt("d1"), NOW).0, LimiterAnswer::Checked { refusal: None, .. }));
    let plain = LimiterCall::Check { tag, seen_updated_at: NOW, adopt: None, scope: None, project: None, cost: 1 };
    assert!(plain.fits_in_url());
    let json = serde_json::to_string(&plain).unwrap();
    assert!(!json.contains("\"d1\""), "{json}");
}

/// Reproducer (review): "at once" was `UnixMillis::MIN`, handed to the
/// runtime as an alarm time, where `at - now` overflowed.
#[test]
fn an_alarm_due_at_once_is_set_for_now() {
    let mut stored = object_with_key().state;
    stored.outbox.push(crate::project::OutboxEntry {
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
    let mut renamed = record(&[]);
    renamed.name = "renamed".into();
    renamed.updated_at = NOW + 10;
    let put =
        LimiterCall::Put { digest: "d1".into(), record: renamed, expected: Some(NOW), entry: None, balance: None };
    object.on_call(put, NOW + 10);
    assert_eq!(object.on_alarm(NOW + 500).deliver, None, "still gathering");
    admitted_check(&mut object, NOW + 600);
    let first = object.on_alarm(NOW + delivery::GATHER_MILLIS).deliver.expect("gathered");
    let ProjectCall::Apply { usage: Some(push), .. } = &first else { panic!("{first:?}") };
    assert_eq!(push.hours[0].1.total(), 2, "the whole burst");
}

/// A key's object with events on, holding `key`.
fn notifying_object(key: KeyRecord) -> KeyObject {
    let mut object = KeyObject::loaded(KeyState::default(), true);
    object.on_call(
        LimiterCall::Put { digest: "d1".into(), record: key, expected: None, entry: None, balance: None },
        NOW,
    );
    object
}

fn notices(object: &KeyObject) -> Vec<crate::events::Notification> {
    object.state.outbox.iter().filter_map(|entry| entry.notice.clone()).collect()
}

#[test]
fn the_first_rate_limited_refusal_in_an_hour_is_noticed_and_written() {
    let mut key = record(&[]);
    key.rate_limit = Quota::new(1, 1000).unwrap();
    let mut object = notifying_object(key);
    assert!(!admitted_check(&mut object, NOW).write_state);
    let refused = admitted_check(&mut object, NOW + 10);
    assert!(matches!(refused.answer, LimiterAnswer::Checked { refusal: Some(Refusal::RateLimited), .. }));
    assert!(refused.write_state, "the notice is stored before the answer");
    let sent = notices(&object);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].kind, crate::events::EventType::KeyRateLimited);
    assert_eq!(sent[0].data["key_id"], serde_json::json!(record(&[]).id));
    assert!(!admitted_check(&mut object, NOW + 20).write_state, "once an hour");
    assert_eq!(notices(&object).len(), 1);
    // An hour later the next refusal is noticed again.
    let hour = crate::events::RATE_LIMITED_NOTICE_MILLIS;
    assert!(!admitted_check(&mut object, NOW + 10 + hour).write_state, "admitted: the minute is over");
    assert!(admitted_check(&mut object, NOW + 20 + hour).write_state);
    assert_eq!(notices(&object).len(), 2);
}

#[test]
fn with_events_off_no_notice_is_made() {
    let mut key = record(&[]);
    key.rate_limit = Quota::new(1, 1000).unwrap();
    key.expires_at = Some(NOW + 3 * IDLE_MILLIS);
    let mut object = KeyObject::default();
    object.on_call(
        LimiterCall::Put { digest: "d1".into(), record: key, expected: None, entry: None, balance: None },
        NOW,
    );
    admitted_check(&mut object, NOW);
    assert!(!admitted_check(&mut object, NOW + 10).write_state);
    assert!(!object.on_alarm(NOW + 2 * IDLE_MILLIS + IDLE_MILLIS / 2).write_state);
    assert!(notices(&object).is_empty());
}

#[test]
fn expiry_is_noticed_a_week_and_a_day_before_by_the_alarm() {
    let day = IDLE_MILLIS;
    let mut key = record(&[]);
    let expires_at = NOW + 30 * day;
    key.expires_at = Some(expires_at);
    let mut object = KeyObject::loaded(KeyState::default(), true);
    let put = LimiterCall::Put { digest: "d1".into(), record: key, expected: None, entry: None, balance: None };
    assert_eq!(object.on_call(put, NOW).set_alarm_at, Some(expires_at - 7 * day), "the alarm waits for the week");
    let week = object.on_alarm(expires_at - 7 * day);
    assert!(week.write_state);
    assert!(week.deliver.is_some(), "delivered at once");
    let sent = notices(&object);
    assert_eq!((sent.len(), sent[0].data["days_left"].clone()), (1, serde_json::json!(7)));
    object.delivered(&week.deliver.unwrap(), true, expires_at - 7 * day);
    assert!(!object.on_alarm(expires_at - 3 * day).write_state, "nothing between the two");
    let last = object.on_alarm(expires_at - day);
    assert!(last.write_state);
    assert_eq!(notices(&object)[0].data["days_left"], 1);
    object.delivered(&last.deliver.unwrap(), true, expires_at - day);
    assert!(!object.on_alarm(expires_at - 1).write_state, "each notice once");
}

#[test]
fn a_new_expiry_is_noticed_again_and_a_deleted_key_never() {
    let day = IDLE_MILLIS;
    let mut key = record(&[]);
    key.expires_at = Some(NOW + 2 * day);
    let mut object = notifying_object(key.clone());
    assert!(object.on_alarm(NOW + day).write_state, "the day's notice");
    key.expires_at = Some(NOW + 20 * day);
    key.updated_at += 1;
    let put = LimiterCall::Put { digest: "d1".into(), record: key, expected: Some(NOW), entry: None, balance: None };
    assert_eq!(object.on_call(put, NOW + day).answer, LimiterAnswer::Done);
    assert!(object.on_alarm(NOW + 13 * day).write_state, "the new expiry's week");
    object.on_call(LimiterCall::Delete { expected: None, entry: None }, NOW + 14 * day);
    assert!(!object.on_alarm(NOW + 19 * day).write_state, "a deleted key hears nothing");
}
