//! Event notifications: one queued with each audit event, none with events
//! off, failed ones listed and retried.

use super::*;

fn failed(object: &ProjectDecisions<MemorySql>, query: &str) -> (Vec<FailedEvent>, Option<String>) {
    let pairs: Vec<(&str, &str)> = query.split('&').filter_map(|pair| pair.split_once('=')).collect();
    let query = EventsQuery::parse(lookup(&pairs)).unwrap();
    match object.on_call(ProjectCall::FailedEvents { project: project(), query }, NOW).unwrap() {
        ProjectAnswer::FailedEvents { events, cursor } => (events, cursor),
        other => panic!("{other:?}"),
    }
}

#[test]
fn each_audit_event_queues_one_notification_in_its_transaction() {
    let object = open();
    let created = key(1, NOW);
    let entry = upsert("evt_1", &created, Some(Action::KeyCreated));
    apply(&object, vec![entry.clone()], NOW);
    // Delivered again (a retried outbox): still one.
    apply(&object, vec![entry], NOW + 1);
    apply(&object, vec![upsert("evt_2", &key(2, NOW), None)], NOW);
    let pending = object.pending_notices().unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    let notice = &pending[0];
    assert_eq!((notice.id.as_str(), notice.kind), ("evt_1", crate::events::EventType::KeyCreated));
    assert_eq!(notice.data["project"], "acme");
    assert_eq!(notice.data["key_id"], json!(created.id));
    assert_eq!(notice.data["action"], "key.created");
    assert!(object.has_pending_notices().unwrap());
    object.notices_sent(&pending).unwrap();
    assert!(object.pending_notices().unwrap().is_empty());
    assert!(!object.has_pending_notices().unwrap());
}

#[test]
fn no_notification_is_queued_while_events_are_off() {
    let object = ProjectDecisions::open(MemorySql::new(), 400, false).unwrap();
    apply(&object, vec![upsert("evt_1", &key(1, NOW), Some(Action::KeyCreated))], NOW);
    assert!(object.pending_notices().unwrap().is_empty());
}

#[test]
fn a_key_objects_notice_is_queued_without_touching_the_catalog() {
    let object = open();
    let record = key(1, NOW);
    apply(&object, vec![upsert("evt_1", &record, Some(Action::KeyCreated))], NOW);
    object.notices_sent(&object.pending_notices().unwrap()).unwrap();
    let notice = crate::events::Notification::rate_limited("evt_9".into(), &record, "minute", NOW + 5);
    let entry = OutboxEntry {
        id: "evt_9".into(),
        project: project(),
        change: CatalogChange::Unchanged,
        event: None,
        notice: Some(notice.clone()),
    };
    assert_eq!(apply(&object, vec![entry], NOW + 5), 1);
    assert_eq!(object.pending_notices().unwrap(), vec![notice]);
}

#[test]
fn failed_notifications_are_listed_newest_first_and_retried_once() {
    let object = open();
    let record = key(1, NOW);
    for n in 1..=3 {
        let notice = crate::events::Notification::rate_limited(format!("evt_{n}"), &record, "minute", NOW);
        let call = ProjectCall::Failed { project: project(), notice };
        assert_eq!(object.on_call(call, NOW + n).unwrap(), ProjectAnswer::Done { found: true });
    }
    assert!(object.pending_notices().unwrap().is_empty(), "a failed notification waits for a retry");
    let (page, cursor) = failed(&object, "status=failed&limit=2");
    let ids: Vec<&str> = page.iter().map(|event| event.notice.id.as_str()).collect();
    assert_eq!(ids, ["evt_3", "evt_2"]);
    assert_eq!(page[0].failed_at, NOW + 3);
    let (rest, end) = failed(&object, &format!("limit=2&cursor={}", cursor.unwrap()));
    assert_eq!((rest.len(), rest[0].notice.id.as_str(), end), (1, "evt_1", None));

    let retry = |id: &str| object.on_call(ProjectCall::Retry { project: project(), id: id.into() }, NOW).unwrap();
    assert_eq!(retry("evt_2"), ProjectAnswer::Done { found: true });
    assert_eq!(retry("evt_2"), ProjectAnswer::Done { found: false }, "already back in the queue");
    assert_eq!(retry("evt_404"), ProjectAnswer::Done { found: false });
    let pending = object.pending_notices().unwrap();
    assert_eq!(pending.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), ["evt_2"]);
    assert_eq!(failed(&object, "").0.len(), 2);
}

#[test]
fn the_events_query_takes_only_failed() {
    let parse = |status: &'static str| EventsQuery::parse(|name| (name == "status").then_some(status));
    assert!(parse("failed").is_ok());
    assert!(parse("pending").is_err());
}
