//! The notices a key's object queues for its project: rate limited (once an
//! hour), expiry a week and a day before; none with events off or once deleted.

use super::*;
use crate::ratelimit::Quota;

/// A key's object with events on or off, holding `key`.
fn object_holding(key: KeyRecord, events: bool) -> KeyObject {
    let mut object = KeyObject::loaded(KeyState::default(), events);
    object.on_call(LimiterCall::write(key, None), NOW);
    object
}

fn notices(object: &KeyObject) -> Vec<crate::events::Notification> {
    object.state.outbox.iter().filter_map(|entry| entry.notice.clone()).collect()
}

#[test]
fn the_first_rate_limited_refusal_in_an_hour_is_noticed_and_written() {
    let key = KeyRecord { rate_limit: Quota::new(1, 1000).unwrap(), ..record(&[]) };
    let mut object = object_holding(key, true);
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
    let key =
        KeyRecord { rate_limit: Quota::new(1, 1000).unwrap(), expires_at: Some(NOW + 3 * IDLE_MILLIS), ..record(&[]) };
    let mut object = object_holding(key, false);
    admitted_check(&mut object, NOW);
    assert!(!admitted_check(&mut object, NOW + 10).write_state);
    assert!(!object.on_alarm(NOW + 2 * IDLE_MILLIS + IDLE_MILLIS / 2).write_state);
    assert!(notices(&object).is_empty());
}

#[test]
fn expiry_is_noticed_a_week_and_a_day_before_by_the_alarm() {
    let day = IDLE_MILLIS;
    let expires_at = NOW + 30 * day;
    let key = KeyRecord { expires_at: Some(expires_at), ..record(&[]) };
    let mut object = KeyObject::loaded(KeyState::default(), true);
    let put = LimiterCall::write(key, None);
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
    let mut key = KeyRecord { expires_at: Some(NOW + 2 * day), ..record(&[]) };
    let mut object = object_holding(key.clone(), true);
    assert!(object.on_alarm(NOW + day).write_state, "the day's notice");
    key.expires_at = Some(NOW + 20 * day);
    key.updated_at += 1;
    assert_eq!(object.on_call(LimiterCall::write(key, Some(NOW)), NOW + day).answer, LimiterAnswer::Done);
    assert!(object.on_alarm(NOW + 13 * day).write_state, "the new expiry's week");
    object.on_call(LimiterCall::Delete { expected: None, entry: None }, NOW + 14 * day);
    assert!(!object.on_alarm(NOW + 19 * day).write_state, "a deleted key hears nothing");
}
