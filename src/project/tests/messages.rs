//! The project's calls and answers as they cross a Durable Object boundary:
//! JSON that reads back as written, and only queries in URLs.

use super::*;
use crate::keystate::LimiterCall;

/// Every message crosses a Durable Object boundary as JSON, inside tagged
/// enums (which buffer): each must read back as it was written.
#[test]
fn every_message_survives_its_json_crossing() {
    let record = key(1, NOW);
    let mut entry = upsert("evt_1", &record, Some(Action::KeyUpdated));
    let event = entry.event.as_mut().unwrap();
    event.changes = Some(serde_json::Map::from_iter([("scopes".into(), json!({"from": [], "to": ["a:read"]}))]));
    event.origin.ip = Some("192.0.2.1".into());
    let mut counts = Counts::default();
    counts.add(Outcome::RateLimited, 2);
    let usage =
        UsagePush { key_id: record.id.clone(), seq: 3, hours: vec![(NOW, counts.clone())], last_used_at: Some(NOW) };
    let calls = [
        ProjectCall::Apply { project: project(), entries: vec![entry.clone()], usage: Some(usage) },
        ProjectCall::Import { project: project(), records: vec![record.clone()], next: Some("c".into()) },
        ProjectCall::List { project: project(), query: ListQuery::parse(|name| (name == "q").then_some("x")).unwrap() },
        ProjectCall::Usage { project: project(), query: UsageQuery::parse(|_| None, NOW).unwrap() },
    ];
    for call in calls {
        let json = serde_json::to_string(&call).unwrap();
        assert_eq!(serde_json::from_str::<ProjectCall>(&json).unwrap(), call, "{json}");
    }
    let answer = ProjectAnswer::Usage {
        totals: counts.clone(),
        series: vec![(NOW, counts)],
        top_keys: vec![TopKey { key_id: record.id.clone(), name: None, requests: 2 }],
    };
    assert_eq!(serde_json::from_str::<ProjectAnswer>(&serde_json::to_string(&answer).unwrap()).unwrap(), answer);
    let put = LimiterCall::Put {
        digest: "d".into(),
        record,
        expected: Some(NOW),
        entry: Some(entry),
        balance: None,
        lower_only: false,
        sealed: None,
    };
    let json = serde_json::to_string(&put).unwrap();
    assert_eq!(serde_json::from_str::<LimiterCall>(&json).unwrap(), put);
}

/// Only calls without audit events or digests may travel in a URL, which
/// runtime traces may show: queries do, deliveries and writes never.
#[test]
fn only_queries_travel_in_urls() {
    let record = key(1, NOW);
    let entry = upsert("evt_1", &record, Some(Action::KeyUpdated));
    let query = ListQuery::parse(|_| None).unwrap();
    assert!(ProjectCall::List { project: project(), query }.fits_in_url());
    let apply = ProjectCall::Apply { project: project(), entries: vec![entry.clone()], usage: None };
    assert!(!apply.fits_in_url());
    assert!(!ProjectCall::Import { project: project(), records: vec![record.clone()], next: None }.fits_in_url());
    assert!(LimiterCall::Get.fits_in_url());
    assert!(LimiterCall::Delete { expected: None, entry: None }.fits_in_url());
    assert!(!LimiterCall::Delete { expected: None, entry: Some(entry.clone()) }.fits_in_url());
    assert!(!LimiterCall::Discard { entry: Some(entry.clone()) }.fits_in_url());
    assert!(!LimiterCall::write(record, None).fits_in_url());
}
