//! Checks: the KV copy adopted once, the object's record winning after, and
//! what a refused check counts and spends (scope, address, rate limit).

use super::*;
use crate::ratelimit::Quota;

/// A check as the worker makes it: first without the KV copy, then with it if asked.
fn check(state: &mut KeyState, kv: KeyRecord, scope: Option<&str>) -> (Option<Refusal>, Change) {
    let call = |adopt| Check { seen_updated_at: kv.updated_at, adopt, scope, ..Check::default() }.call();
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

/// A key's state holding `key`, written at [`NOW`].
fn state_with(key: KeyRecord) -> KeyState {
    let mut state = KeyState::default();
    state.apply(LimiterCall::write(key, None), NOW);
    state
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
    let mut state = state_with(record(&[]));
    assert_eq!(
        check(&mut state, record(&["bots:read"]), Some("bots:read")).0,
        Some(Refusal::MissingScope("bots:read".into()))
    );
    let inactive = KeyRecord { status: KeyStatus::Inactive, ..record(&[]) };
    state.apply(LimiterCall::write(inactive, Some(NOW)), NOW);
    assert_eq!(check(&mut state, record(&[]), None).0, Some(Refusal::Disabled));
    state.apply(LimiterCall::Delete { expected: None, entry: None }, NOW);
    assert_eq!(check(&mut state, record(&[]), None), (Some(Refusal::Unknown), Change::Nothing));
}

#[test]
fn the_record_travels_back_only_when_the_callers_copy_is_stale() {
    let current = KeyRecord { updated_at: NOW + 5, ..record(&["bots:read"]) };
    let mut state = state_with(current.clone());
    let ask = |seen_updated_at| Check { seen_updated_at, ..Check::default() }.call();
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
    let mut under_d0 = LimiterCall::write(record(&[]), None);
    let LimiterCall::Put { digest, .. } = &mut under_d0 else { unreachable!() };
    *digest = "d0".into();
    state.apply(under_d0, NOW);
    assert_eq!(check(&mut state, record(&[]), None).0, Some(Refusal::Unknown));
}

#[test]
fn denied_requests_spend_nothing() {
    let mut state = state_with(record(&[]));
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
fn a_quota_changed_mid_window_applies_to_the_next_request() {
    let mut object = object_with_key();
    let slow = KeyRecord { rate_limit: Quota::new(1, 1000).unwrap(), updated_at: NOW + 1, ..record(&[]) };
    for at in 0..3 {
        admitted_check(&mut object, NOW + at);
    }
    assert_eq!(object.on_call(LimiterCall::write(slow, Some(NOW)), NOW + 3).answer, LimiterAnswer::Done);
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
    let adopt = |digest: &str| {
        let adopt = Some(Adopt { digest: digest.into(), record: record(&[]) });
        Check { adopt, ..Check::default() }.call()
    };
    assert!(!adopt("d1").fits_in_url(), "a call holding a digest goes in a body");
    let (answer, _) = state.apply(adopt("d2"), NOW);
    assert_eq!(answer, unknown());
    assert!(state.record.is_none(), "not adopted under another digest");
    assert!(matches!(state.apply(adopt("d1"), NOW).0, LimiterAnswer::Checked { refusal: None, .. }));
    let plain = Check::default().call();
    assert!(matches!(&plain, LimiterCall::Check { tag: presented, .. } if *presented == tag));
    assert!(plain.fits_in_url());
    let json = serde_json::to_string(&plain).unwrap();
    assert!(!json.contains("\"d1\""), "{json}");
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
    let call = |ip: Option<&str>, scope: Option<&str>| Check { ip, scope, ..Check::default() }.call();
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
    let counted: u64 = state
        .usage
        .history
        .series(&hours_around_now())
        .iter()
        .map(|(_, c)| c.0.get(&Outcome::IpNotAllowed).copied().unwrap_or(0))
        .sum();
    assert_eq!(counted, 3);
    assert_eq!(Refusal::IpNotAllowed.to_error(None, NOW).code(), "IP_NOT_ALLOWED");
    assert_eq!(Refusal::IpNotAllowed.to_error(None, NOW).status(), 403);
}
