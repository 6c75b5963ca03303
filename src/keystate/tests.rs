use super::*;
use crate::error::Error;
use crate::project::ProjectCall;
use crate::ratelimit::Quota;
use crate::usage::UsageQuery;

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
        owner_id: None,
        allowed_ips: None,
        recoverable: false,
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
        ip: None,
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
        LimiterCall::Put {
            digest: "d1".into(),
            record: record(&[]),
            expected: None,
            entry: None,
            balance: None,
            lower_only: false,
            sealed: None,
        },
        NOW,
    );
    assert_eq!(
        check(&mut state, record(&["bots:read"]), Some("bots:read")).0,
        Some(Refusal::MissingScope("bots:read".into()))
    );
    let mut inactive = record(&[]);
    inactive.status = KeyStatus::Inactive;
    state.apply(
        LimiterCall::Put {
            digest: "d1".into(),
            record: inactive,
            expected: Some(NOW),
            entry: None,
            balance: None,
            lower_only: false,
            sealed: None,
        },
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
        LimiterCall::Put {
            digest: "d1".into(),
            record: current.clone(),
            expected: None,
            entry: None,
            balance: None,
            lower_only: false,
            sealed: None,
        },
        NOW,
    );
    let ask = |seen| LimiterCall::Check {
        tag: digest_tag("d1"),
        seen_updated_at: seen,
        adopt: None,
        scope: None,
        project: None,
        cost: 1,
        ip: None,
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
        LimiterCall::Put {
            digest: "d0".into(),
            record: record(&[]),
            expected: None,
            entry: None,
            balance: None,
            lower_only: false,
            sealed: None,
        },
        NOW,
    );
    assert_eq!(check(&mut state, record(&[]), None).0, Some(Refusal::Unknown));
}

#[test]
fn denied_requests_spend_nothing() {
    let mut state = KeyState::default();
    state.apply(
        LimiterCall::Put {
            digest: "d1".into(),
            record: record(&[]),
            expected: None,
            entry: None,
            balance: None,
            lower_only: false,
            sealed: None,
        },
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
        LimiterCall::Put {
            digest: "d1".into(),
            record: record(&[]),
            expected: None,
            entry: None,
            balance: None,
            lower_only: false,
            sealed: None,
        },
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
    state
        .apply(
            LimiterCall::Put {
                digest: "d1".into(),
                record,
                expected,
                entry: None,
                balance: None,
                lower_only: false,
                sealed: None,
            },
            NOW,
        )
        .0
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
        ip: None,
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
        ip: None,
    };
    object.on_call(call, now)
}

fn object_with_key() -> KeyObject {
    let mut object = KeyObject::default();
    let put = LimiterCall::Put {
        digest: "d1".into(),
        record: record(&[]),
        expected: None,
        entry: None,
        balance: None,
        lower_only: false,
        sealed: None,
    };
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
    let put = LimiterCall::Put {
        digest: "d1".into(),
        record: slow,
        expected: Some(NOW),
        entry: None,
        balance: None,
        lower_only: false,
        sealed: None,
    };
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
        ip: None,
    };
    assert!(!adopt("d1").fits_in_url(), "a call holding a digest goes in a body");
    let (answer, _) = state.apply(adopt("d2"), NOW);
    assert_eq!(
        answer,
        LimiterAnswer::Checked { refusal: Some(Refusal::Unknown), record: None, rate: None, credits: None }
    );
    assert!(state.record.is_none(), "not adopted under another digest");
    assert!(matches!(state.apply(adopt("d1"), NOW).0, LimiterAnswer::Checked { refusal: None, .. }));
    let plain =
        LimiterCall::Check { tag, seen_updated_at: NOW, adopt: None, scope: None, project: None, cost: 1, ip: None };
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
    let put = LimiterCall::Put {
        digest: "d1".into(),
        record: renamed,
        expected: Some(NOW),
        entry: None,
        balance: None,
        lower_only: false,
        sealed: None,
    };
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
        LimiterCall::Put {
            digest: "d1".into(),
            record: key,
            expected: None,
            entry: None,
            balance: None,
            lower_only: false,
            sealed: None,
        },
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
        LimiterCall::Put {
            digest: "d1".into(),
            record: key,
            expected: None,
            entry: None,
            balance: None,
            lower_only: false,
            sealed: None,
        },
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
    let put = LimiterCall::Put {
        digest: "d1".into(),
        record: key,
        expected: None,
        entry: None,
        balance: None,
        lower_only: false,
        sealed: None,
    };
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
    let put = LimiterCall::Put {
        digest: "d1".into(),
        record: key,
        expected: Some(NOW),
        entry: None,
        balance: None,
        lower_only: false,
        sealed: None,
    };
    assert_eq!(object.on_call(put, NOW + day).answer, LimiterAnswer::Done);
    assert!(object.on_alarm(NOW + 13 * day).write_state, "the new expiry's week");
    object.on_call(LimiterCall::Delete { expected: None, entry: None }, NOW + 14 * day);
    assert!(!object.on_alarm(NOW + 19 * day).write_state, "a deleted key hears nothing");
}

mod credits {
    use super::*;
    use crate::credits::{Credits, Interval, Refill};
    use crate::record::parse_rfc3339;

    fn at(text: &str) -> UnixMillis {
        parse_rfc3339(text).unwrap()
    }

    /// A key object holding a key with `credits`, given `remaining` at `now` by an admin write.
    fn with_credits(refill: Option<Refill>, remaining: u64, per_minute: u32, now: UnixMillis) -> KeyState {
        let mut state = KeyState::default();
        let mut held = record(&[]);
        held.rate_limit = Quota::new(per_minute, 100_000).unwrap();
        held.credits = Some(Credits { refill });
        let put = LimiterCall::Put {
            digest: "d1".into(),
            record: held,
            expected: None,
            entry: None,
            balance: Some(remaining),
            lower_only: false,
            sealed: None,
        };
        assert_eq!(state.apply(put, now).0, LimiterAnswer::Done);
        state
    }

    fn spend(state: &mut KeyState, cost: u64, now: UnixMillis) -> (Option<Refusal>, Option<u64>, Change) {
        let call = LimiterCall::Check {
            tag: digest_tag("d1"),
            seen_updated_at: NOW,
            adopt: None,
            scope: None,
            project: None,
            cost,
            ip: None,
        };
        match state.apply(call, now) {
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
        assert_eq!(
            state.usage.history.series(&hourly()).iter().map(|(_, c)| c.0[&Outcome::UsageExceeded]).sum::<u64>(),
            2
        );
        assert_eq!(remaining(&mut state, NOW), Some(0));
    }

    fn hourly() -> UsageQuery {
        UsageQuery { granularity: crate::usage::Granularity::Hour, from: NOW - 3_600_000, to: NOW + 3_600_000 }
    }

    #[test]
    fn a_key_without_credits_spends_nothing_and_reports_none() {
        let mut state = KeyState::default();
        let put = LimiterCall::Put {
            digest: "d1".into(),
            record: record(&[]),
            expected: None,
            entry: None,
            balance: Some(5),
            lower_only: false,
            sealed: None,
        };
        state.apply(put, NOW);
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
        let call = LimiterCall::Check {
            tag: digest_tag("d1"),
            seen_updated_at: NOW,
            adopt: None,
            scope: Some("bots:read".into()),
            project: None,
            cost: 1,
            ip: None,
        };
        let (answer, _) = state.apply(call, NOW);
        assert!(matches!(
            answer,
            LimiterAnswer::Checked { refusal: Some(Refusal::MissingScope(_)), credits: Some(3), .. }
        ));
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
        let mut renamed = state.record.clone().unwrap();
        renamed.name = "renamed".into();
        renamed.updated_at = NOW + 1;
        let keep = LimiterCall::Put {
            digest: "d1".into(),
            record: renamed.clone(),
            expected: Some(NOW),
            entry: None,
            balance: None,
            lower_only: false,
            sealed: None,
        };
        assert_eq!(state.apply(keep, NOW + 1).0, LimiterAnswer::Done);
        assert_eq!(remaining(&mut state, NOW + 1), Some(7), "a write that does not mention credits keeps them");
        let mut retired = renamed.clone();
        retired.updated_at = NOW + 2;
        let take = LimiterCall::Put {
            digest: "d1".into(),
            record: retired.clone(),
            expected: Some(NOW + 1),
            entry: None,
            balance: Some(0),
            lower_only: false,
            sealed: None,
        };
        assert_eq!(state.apply(take, NOW + 2).0, LimiterAnswer::Replaced { remaining: 7 });
        assert_eq!(remaining(&mut state, NOW + 2), Some(0), "the old key keeps none");
        let credit = |change, amount| LimiterCall::Credits { change, amount, entry: None };
        assert_eq!(state.apply(credit(CreditOp::Increment, 5), NOW + 3).0, LimiterAnswer::Credits { from: 0, to: 5 });
        assert_eq!(state.apply(credit(CreditOp::Decrement, 9), NOW + 3).0, LimiterAnswer::Credits { from: 5, to: 0 });
        assert_eq!(state.apply(credit(CreditOp::Set, 42), NOW + 3).0, LimiterAnswer::Credits { from: 0, to: 42 });
        let mut unlimited = retired;
        unlimited.credits = None;
        unlimited.updated_at = NOW + 4;
        let remove = LimiterCall::Put {
            digest: "d1".into(),
            record: unlimited,
            expected: Some(NOW + 2),
            entry: None,
            balance: None,
            lower_only: false,
            sealed: None,
        };
        state.apply(remove, NOW + 4);
        assert_eq!(state.apply(credit(CreditOp::Set, 1), NOW + 5).0, LimiterAnswer::NoCredits);
        assert_eq!(remaining(&mut state, NOW + 5), None);
    }

    #[test]
    fn concurrent_checks_on_ten_credits_admit_exactly_ten() {
        let mut state = with_credits(None, 10, 100_000, NOW);
        let admitted = (0..50).filter(|i| spend(&mut state, 1, NOW + i).0.is_none()).count();
        assert_eq!(admitted, 10);
    }
}

/// The object judges its own record's `allowed_ips`: a call that brings no
/// address (the caller's copy had no allowlist) is asked for one, with nothing
/// counted or spent; an empty address is refused and counted; the address is
/// judged before the scope.
#[test]
fn a_key_with_an_allowlist_asks_for_the_address_and_refuses_none() {
    let mut state = KeyState::default();
    let mut listed = record(&["bots:read"]);
    listed.allowed_ips = Some(serde_json::from_value(serde_json::json!(["203.0.113.0/24"])).unwrap());
    assert_eq!(check(&mut state, record(&["bots:read"]), None), (None, Change::Everything));
    state.record = Some(listed.clone());
    let call = |ip: Option<&str>, scope: Option<&str>| LimiterCall::Check {
        tag: digest_tag("d1"),
        seen_updated_at: NOW,
        adopt: None,
        scope: scope.map(Into::into),
        project: None,
        cost: 1,
        ip: ip.map(Into::into),
    };
    let limit = state.limit;
    assert_eq!(state.apply(call(None, None), NOW), (LimiterAnswer::NeedIp, Change::Nothing));
    assert_eq!(state.limit, limit, "nothing spent");
    let refusal = |state: &mut KeyState, ip, scope| match state.apply(call(ip, scope), NOW).0 {
        LimiterAnswer::Checked { refusal, .. } => refusal,
        other => panic!("{other:?}"),
    };
    assert_eq!(refusal(&mut state, Some(""), None), Some(Refusal::IpNotAllowed));
    assert_eq!(refusal(&mut state, Some("198.51.100.1"), None), Some(Refusal::IpNotAllowed));
    assert_eq!(refusal(&mut state, Some("198.51.100.1"), Some("users:read")), Some(Refusal::IpNotAllowed));
    assert_eq!(state.limit, limit, "a refused address spends no rate-limit token");
    assert_eq!(refusal(&mut state, Some("203.0.113.9"), Some("bots:read")), None);
    assert_eq!(refusal(&mut state, Some("::ffff:203.0.113.9"), None), None);
    let hourly =
        UsageQuery { granularity: crate::usage::Granularity::Hour, from: NOW - 3_600_000, to: NOW + 3_600_000 };
    let counted: u64 = state
        .usage
        .history
        .series(&hourly)
        .iter()
        .map(|(_, c)| c.0.get(&Outcome::IpNotAllowed).copied().unwrap_or(0))
        .sum();
    assert_eq!(counted, 3);
    assert_eq!(Refusal::IpNotAllowed.to_error(None, NOW).code(), "IP_NOT_ALLOWED");
    assert_eq!(Refusal::IpNotAllowed.to_error(None, NOW).status(), 403);
}
