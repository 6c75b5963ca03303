//! The project object's decisions over a real SQLite, by subject, and the
//! fixtures they share: the catalog, listings, the audit log and usage here.

use serde_json::{json, Value};

use super::audit::RequestOrigin;
use super::object::ProjectDecisions;
use super::*;
use crate::keystate::tests::record;
use crate::record::KeyStatus;
use crate::testing::MemorySql;
use crate::usage::{Granularity, Outcome, DAY_MILLIS, HOUR_MILLIS};

mod messages;
mod notices;

const NOW: UnixMillis = 1_795_420_800_000;

fn project() -> ProjectId {
    ProjectId::parse("acme").unwrap()
}

fn open() -> ProjectDecisions<MemorySql> {
    let object = ProjectDecisions::open(MemorySql::new(), 400, true).unwrap();
    let import = ProjectCall::Import { project: project(), records: vec![], next: None };
    assert_eq!(object.on_call(import, NOW).unwrap(), ProjectAnswer::Applied { keys_before: 0, keys: 0 });
    object
}

fn key(n: u32, created_at: UnixMillis) -> KeyRecord {
    let mut record = record(&["bots:read"]);
    record.id = KeyId::parse(&format!("key_{n:0>22}")).unwrap();
    record.name = format!("key {n}");
    record.created_at = created_at;
    record.updated_at = created_at;
    record
}

fn event(id: &str, action: Action, record: &KeyRecord, at: UnixMillis) -> AuditEvent {
    AuditEvent {
        id: id.into(),
        at,
        action,
        key_id: Some(record.id.clone()),
        owner_id: None,
        actor: Actor::AdminToken,
        changes: None,
        new_key_id: None,
        origin: RequestOrigin { request_id: "req".into(), ip: None, user_agent: None },
    }
}

fn upsert(id: &str, record: &KeyRecord, action: Option<Action>) -> OutboxEntry {
    OutboxEntry {
        id: id.into(),
        project: project(),
        change: CatalogChange::Upsert { record: record.clone() },
        event: action.map(|action| event(id, action, record, record.updated_at)),
        notice: None,
    }
}

fn apply(object: &ProjectDecisions<MemorySql>, entries: Vec<OutboxEntry>, now: UnixMillis) -> u64 {
    match object.on_call(ProjectCall::Apply { project: project(), entries, usage: None }, now).unwrap() {
        ProjectAnswer::Applied { keys, .. } => keys,
        other => panic!("{other:?}"),
    }
}

/// A query's parameters as the query parsers read them.
fn lookup<'a>(params: &'a [(&str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
    |name| params.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fn list(object: &ProjectDecisions<MemorySql>, params: &[(&str, &str)]) -> (Vec<KeyRecord>, Option<String>) {
    let query = ListQuery::parse(lookup(params)).unwrap();
    match object.on_call(ProjectCall::List { project: project(), query }, NOW).unwrap() {
        ProjectAnswer::Keys { keys, cursor } => (keys.into_iter().map(|item| item.record).collect(), cursor),
        other => panic!("{other:?}"),
    }
}

fn audit(object: &ProjectDecisions<MemorySql>, params: &[(&str, &str)]) -> (Vec<AuditEvent>, Option<String>) {
    let query = AuditQuery::parse(lookup(params)).unwrap();
    match object.on_call(ProjectCall::Audit { project: project(), query }, NOW).unwrap() {
        ProjectAnswer::Events { events, cursor } => (events, cursor),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_entry_applies_once_however_often_it_is_delivered() {
    let object = open();
    let created = key(1, NOW);
    let entry = upsert("evt_1", &created, Some(Action::KeyCreated));
    for _ in 0..3 {
        assert_eq!(apply(&object, vec![entry.clone()], NOW), 1);
    }
    assert_eq!(audit(&object, &[]).0.len(), 1);
}

#[test]
fn rows_only_move_forward_and_a_removal_is_final() {
    let object = open();
    let v1 = key(1, NOW);
    let mut v2 = v1.clone();
    v2.name = "renamed".into();
    v2.updated_at += 1;
    // Delivered out of order (an outbox retry after the direct delivery).
    apply(&object, vec![upsert("evt_2", &v2, None), upsert("evt_1", &v1, None)], NOW);
    assert_eq!(list(&object, &[]).0, vec![v2.clone()]);
    let removal = OutboxEntry {
        id: "evt_3".into(),
        project: project(),
        change: CatalogChange::Remove { key_id: v1.id.clone(), version: v2.updated_at + 1 },
        event: None,
        notice: None,
    };
    assert_eq!(apply(&object, vec![removal], NOW), 0);
    let mut v3 = v2.clone();
    v3.updated_at += 10;
    assert_eq!(apply(&object, vec![upsert("evt_4", &v3, None)], NOW), 0, "a late upsert does not resurrect");
    assert!(list(&object, &[]).0.is_empty());
}

#[test]
fn listings_are_newest_first_filtered_and_page_exactly_once_while_keys_are_created() {
    let object = open();
    for n in 0..12 {
        let mut record = key(n, NOW + i64::from(n) / 3);
        if n % 4 == 0 {
            record.status = KeyStatus::Inactive;
        }
        apply(&object, vec![upsert(&format!("evt_{n}"), &record, None)], NOW);
    }
    let (first, cursor) = list(&object, &[("limit", "5")]);
    assert_eq!(
        first.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["key 11", "key 10", "key 9", "key 8", "key 7"]
    );
    let mut seen: Vec<String> = first.iter().map(|r| r.name.clone()).collect();
    let mut cursor = cursor;
    let mut extra = 100;
    while let Some(position) = cursor {
        // A key created between pages is newer than every page: it never shifts them.
        apply(&object, vec![upsert(&format!("evt_{extra}"), &key(extra, NOW + 50), None)], NOW);
        extra += 1;
        let (page, next) = list(&object, &[("limit", "5"), ("cursor", &position)]);
        seen.extend(page.iter().map(|r| r.name.clone()));
        cursor = next;
    }
    let mut expected: Vec<String> = (0..12).map(|n| format!("key {n}")).collect();
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);
    let inactive = list(&object, &[("status", "inactive")]).0;
    assert_eq!(inactive.len(), 3);
    assert_eq!(list(&object, &[("q", "KEY 1")]).0.len(), 3 + 2, "key 1, 10, 11 and the two extras 100, 101");
    assert_eq!(list(&object, &[("scope", "bots:write")]).0.len(), 0);
}

#[test]
fn a_filtered_listing_reads_past_a_batch_of_misses() {
    let object = open();
    for n in 0..450 {
        let mut record = key(n, NOW + i64::from(n));
        record.scopes = if n < 3 { vec!["rare:read".into()] } else { vec![] };
        apply(&object, vec![upsert(&format!("evt_{n}"), &record, None)], NOW);
    }
    let (found, cursor) = list(&object, &[("scope", "rare:read"), ("limit", "2")]);
    assert_eq!(found.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["key 2", "key 1"]);
    let (rest, end) = list(&object, &[("scope", "rare:read"), ("cursor", &cursor.unwrap())]);
    assert_eq!((rest.len(), end), (1, None));
}

#[test]
fn the_audit_log_is_newest_first_and_filters() {
    let object = open();
    let first = key(1, NOW);
    let other = key(2, NOW);
    let mut updated = first.clone();
    updated.updated_at = NOW + 10;
    apply(
        &object,
        vec![
            upsert("evt_a", &first, Some(Action::KeyCreated)),
            upsert("evt_b", &other, Some(Action::KeyCreated)),
            upsert("evt_c", &updated, Some(Action::KeyUpdated)),
        ],
        NOW,
    );
    let (events, _) = audit(&object, &[]);
    assert_eq!(events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["evt_c", "evt_b", "evt_a"]);
    let (mine, _) = audit(&object, &[("key_id", first.id.as_str())]);
    assert_eq!(mine.iter().map(|e| e.action).collect::<Vec<_>>(), [Action::KeyUpdated, Action::KeyCreated]);
    assert_eq!(audit(&object, &[("action", "key.updated")]).0.len(), 1);
    assert_eq!(audit(&object, &[("since", "2026-11-23T08:00:00.001Z")]).0.len(), 1);
    let (page, cursor) = audit(&object, &[("limit", "2")]);
    assert_eq!(page.len(), 2);
    let (rest, end) = audit(&object, &[("limit", "2"), ("cursor", &cursor.unwrap())]);
    assert_eq!((rest[0].id.as_str(), end), ("evt_a", None));
}

#[test]
fn events_and_usage_older_than_kept_are_pruned() {
    let object = open();
    let record = key(1, NOW);
    apply(&object, vec![upsert("evt_old", &record, Some(Action::KeyCreated))], NOW);
    apply(&object, vec![], NOW + 400 * DAY_MILLIS);
    assert_eq!(audit(&object, &[]).0.len(), 1, "exactly as old as kept: kept");
    apply(&object, vec![], NOW + 400 * DAY_MILLIS + 1);
    assert!(audit(&object, &[]).0.is_empty());
}

#[test]
fn usage_pushes_apply_once_and_roll_up_by_hour_day_and_key() {
    let object = open();
    let (a, b) = (key(1, NOW), key(2, NOW));
    apply(&object, vec![upsert("evt_a", &a, None), upsert("evt_b", &b, None)], NOW);
    let counts = |valid: u64, limited: u64| {
        let mut counts = Counts::default();
        counts.add(Outcome::Valid, valid);
        counts.add(Outcome::RateLimited, limited);
        counts
    };
    let push = |key: &KeyRecord, seq, hours: Vec<(UnixMillis, Counts)>| ProjectCall::Apply {
        project: project(),
        entries: vec![],
        usage: Some(UsagePush { key_id: key.id.clone(), seq, hours, last_used_at: Some(NOW + 5) }),
    };
    let hours = vec![(NOW, counts(3, 1)), (NOW + HOUR_MILLIS, counts(2, 0))];
    object.on_call(push(&a, 1, hours.clone()), NOW).unwrap();
    object.on_call(push(&a, 1, hours), NOW).unwrap();
    object.on_call(push(&b, 1, vec![(NOW, counts(1, 0))]), NOW).unwrap();
    let query = UsageQuery { granularity: Granularity::Hour, from: NOW, to: NOW + 2 * HOUR_MILLIS };
    let ProjectAnswer::Usage { totals, series, top_keys } =
        object.on_call(ProjectCall::Usage { project: project(), query }, NOW).unwrap()
    else {
        panic!()
    };
    assert_eq!(Value::Object(totals.to_json())["valid"], json!(6));
    assert_eq!(Value::Object(totals.to_json())["rate_limited"], json!(1));
    assert_eq!(series.len(), 2);
    assert_eq!(series[0].1.total(), 5);
    assert_eq!(top_keys[0], TopKey { key_id: a.id.clone(), name: Some("key 1".into()), requests: 6 });
    assert_eq!(top_keys[1].requests, 1);
    let day = UsageQuery { granularity: Granularity::Day, from: NOW, to: NOW };
    let ProjectAnswer::Usage { totals, .. } =
        object.on_call(ProjectCall::Usage { project: project(), query: day }, NOW).unwrap()
    else {
        panic!()
    };
    assert_eq!(totals.total(), 7);
    assert_eq!(list(&object, &[]).0.len(), 2);
}

#[test]
fn a_project_lists_nothing_until_its_kv_keys_are_imported_and_import_never_overrides() {
    let object = ProjectDecisions::open(MemorySql::new(), 400, true).unwrap();
    let query = ListQuery::parse(|_| None).unwrap();
    let list_call = ProjectCall::List { project: project(), query };
    assert_eq!(object.on_call(list_call.clone(), NOW).unwrap(), ProjectAnswer::NeedImport { cursor: None });
    let current = key(1, NOW);
    let mut newer = current.clone();
    newer.updated_at += 5;
    newer.name = "newer".into();
    apply(&object, vec![upsert("evt_1", &newer, None)], NOW);
    let legacy = key(2, NOW - 1);
    // In two batches: the first leaves a cursor to resume from, and the listing waits for the last.
    let first = ProjectCall::Import { project: project(), records: vec![current], next: Some("page-2".into()) };
    assert_eq!(object.on_call(first, NOW).unwrap(), ProjectAnswer::Applied { keys_before: 1, keys: 1 });
    assert_eq!(
        object.on_call(list_call.clone(), NOW).unwrap(),
        ProjectAnswer::NeedImport { cursor: Some("page-2".into()) }
    );
    let import = ProjectCall::Import { project: project(), records: vec![legacy], next: None };
    assert_eq!(object.on_call(import, NOW).unwrap(), ProjectAnswer::Applied { keys_before: 1, keys: 2 });
    let ProjectAnswer::Keys { keys, .. } = object.on_call(list_call, NOW).unwrap() else { panic!() };
    assert_eq!(keys.iter().map(|item| item.record.name.as_str()).collect::<Vec<_>>(), ["newer", "key 2"]);
}
