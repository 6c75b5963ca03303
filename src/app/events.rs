//! The events queue's consumer, per message: a notification is signed and
//! POSTed to `EVENTS_URL` (acknowledged on a 2xx, else retried after a
//! growing delay); one that exhausted its retries arrives from the
//! dead-letter queue and is kept by its project's object, listed as failed.
//!
//! Guarantees: a message is acknowledged only once it was delivered or
//! kept; nothing in a log line is a secret or a signature.

use serde_json::{json, Value};

use crate::app::origin::{Origin, Outgoing, OutgoingBody};
use crate::app::projects::Projects;
use crate::config::EventsConfig;
use crate::events::{retry_delay_seconds, Notification};
use crate::project::{ProjectAnswer, ProjectCall};
use crate::record::UnixMillis;

/// What the queue is to do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueVerdict {
    Ack,
    RetryAfter { seconds: u64 },
}

/// How long a receiver may take to answer before the attempt counts as failed.
const DELIVERY_TIMEOUT_MS: u32 = 15_000;
/// A dead-letter message whose project's object could not keep it is tried again this soon.
const KEEP_RETRY_SECONDS: u64 = 30;

/// Delivers the message `body` (a queued [`Notification`] as JSON), on its
/// `attempts`th attempt (1 for the first), at `now`; with the log line.
pub async fn deliver(
    origin: &impl Origin,
    events: Option<&EventsConfig>,
    body: &str,
    attempts: u32,
    now: UnixMillis,
) -> (QueueVerdict, Value) {
    let Ok(notice) = serde_json::from_str::<Notification>(body) else {
        return (QueueVerdict::Ack, json!({"queue": "events", "dropped": "not a notification"}));
    };
    let mut line = json!({"queue": "events", "event_id": notice.id, "type": notice.kind, "attempt": attempts});
    let Some(events) = events else {
        // Turned off since it was queued: nobody is to receive it.
        line["dropped"] = json!("EVENTS_URL is not set");
        return (QueueVerdict::Ack, line);
    };
    let payload = notice.body();
    let headers = notice.signed_headers(&events.secret, &payload, now.div_euclid(1000));
    let outgoing = Outgoing {
        method: "POST".into(),
        url: events.url.clone(),
        headers: headers.into_iter().map(|(name, value)| (name.to_owned(), value)).collect(),
        body: OutgoingBody::Bytes(payload.as_bytes()),
        timeout_ms: Some(DELIVERY_TIMEOUT_MS),
    };
    let status = origin.send(outgoing).await.map(|response| response.status);
    line["status"] = status.as_ref().map_or(Value::Null, |status| json!(status));
    match status {
        Ok(200..=299) => (QueueVerdict::Ack, line),
        _ => {
            let seconds = retry_delay_seconds(attempts, events.retry_seconds);
            line["retry_in"] = json!(seconds);
            (QueueVerdict::RetryAfter { seconds }, line)
        }
    }
}

/// Keeps a dead-letter message in its project's object, listed as failed.
pub async fn keep_failed(projects: &impl Projects, body: &str) -> (QueueVerdict, Value) {
    let Ok(notice) = serde_json::from_str::<Notification>(body) else {
        return (QueueVerdict::Ack, json!({"queue": "events-dead-letter", "dropped": "not a notification"}));
    };
    let mut line = json!({"queue": "events-dead-letter", "event_id": notice.id, "type": notice.kind});
    // Only a project object queues notifications, each about its own project.
    if notice.data["project"] != json!(notice.project) {
        line["dropped"] = json!("the event's project is not its data's");
        return (QueueVerdict::Ack, line);
    }
    let project = notice.project.clone();
    match projects.project(&project, ProjectCall::Failed { project: project.clone(), notice }).await {
        Ok(ProjectAnswer::Done { .. }) => (QueueVerdict::Ack, line),
        answer => {
            let detail = match &answer {
                Err(error) => error.detail().unwrap_or("failed").to_owned(),
                Ok(_) => "an answer out of protocol".to_owned(),
            };
            line["detail"] = json!(detail);
            (QueueVerdict::RetryAfter { seconds: KEEP_RETRY_SECONDS }, line)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::http::{Body, Response};
    use crate::testing::{FakeClock, MemoryLimiter, MemoryOrigin};
    use crate::webhook::{verify, Scheme, WebhookSecret};
    use futures_executor::block_on;

    const NOW: UnixMillis = 1_795_420_800_000;
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn events() -> EventsConfig {
        let secret = WebhookSecret::parse(&Scheme::Standard, SECRET).unwrap();
        EventsConfig { url: "https://hooks.example/in".into(), secret, retry_seconds: 10 }
    }

    fn notice() -> Notification {
        let record = crate::keystate::tests::record(&[]);
        Notification::rate_limited("evt_0000000000000000000001".into(), &record, "minute", NOW)
    }

    #[test]
    fn a_notification_is_posted_signed_and_acknowledged_on_2xx() {
        let origin = MemoryOrigin::default();
        let body = serde_json::to_string(&notice()).unwrap();
        let (verdict, line) = block_on(deliver(&origin, Some(&events()), &body, 1, NOW));
        assert_eq!(verdict, QueueVerdict::Ack);
        let sent = &origin.received()[0];
        assert_eq!((sent.method.as_str(), sent.url.as_str()), ("POST", "https://hooks.example/in"));
        let Body::Bytes(payload) = &sent.body else { panic!("bytes") };
        let header = |name: &str| sent.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let secret = WebhookSecret::parse(&Scheme::Standard, SECRET).unwrap();
        let verified = verify(&Scheme::Standard, &[secret], header, payload, NOW / 1000, 300).unwrap();
        assert_eq!(verified.delivery_id.as_deref(), Some("evt_0000000000000000000001"));
        let shown = line.to_string();
        assert!(!shown.contains("v1,") && !shown.contains("MfKQ"), "{shown}");
        assert_eq!(line["status"], 200);
    }

    #[test]
    fn a_failing_receiver_gets_retries_further_apart() {
        let origin = MemoryOrigin::default();
        origin.answer_with(Response { status: 500, headers: Vec::new(), body: Body::Bytes(Vec::new()) });
        let body = serde_json::to_string(&notice()).unwrap();
        let verdicts: Vec<QueueVerdict> =
            (1..=3).map(|attempt| block_on(deliver(&origin, Some(&events()), &body, attempt, NOW)).0).collect();
        let seconds: Vec<u64> = verdicts
            .iter()
            .map(|verdict| match verdict {
                QueueVerdict::RetryAfter { seconds } => *seconds,
                QueueVerdict::Ack => panic!("a 500 is no delivery"),
            })
            .collect();
        assert_eq!(seconds, [10, 20, 40]);
        origin.go_down(true);
        assert_eq!(
            block_on(deliver(&origin, Some(&events()), &body, 1, NOW)).0,
            QueueVerdict::RetryAfter { seconds: 10 }
        );
        // The same id every time: the receiver can drop duplicates.
        let ids: Vec<String> = origin
            .received()
            .iter()
            .map(|sent| sent.headers.iter().find(|(n, _)| n == "webhook-id").unwrap().1.clone())
            .collect();
        assert!(ids.iter().all(|id| id == "evt_0000000000000000000001"));
    }

    #[test]
    fn garbage_or_events_turned_off_are_dropped_not_retried_forever() {
        let origin = MemoryOrigin::default();
        assert_eq!(block_on(deliver(&origin, Some(&events()), "{not json", 1, NOW)).0, QueueVerdict::Ack);
        let body = serde_json::to_string(&notice()).unwrap();
        assert_eq!(block_on(deliver(&origin, None, &body, 1, NOW)).0, QueueVerdict::Ack);
        assert!(origin.received().is_empty());
    }

    #[test]
    fn a_dead_letter_is_kept_by_its_project_and_retried_when_it_cannot_be() {
        let limiter = MemoryLimiter::new(FakeClock::at(NOW));
        let body = serde_json::to_string(&notice()).unwrap();
        limiter.fail_projects(true);
        assert_eq!(block_on(keep_failed(&limiter, &body)).0, QueueVerdict::RetryAfter { seconds: 30 });
        limiter.fail_projects(false);
        assert_eq!(block_on(keep_failed(&limiter, &body)).0, QueueVerdict::Ack);
        let project = notice().project;
        let query = crate::project::EventsQuery { limit: 10, after: None };
        let answer = block_on(limiter.project(&project, ProjectCall::FailedEvents { project: project.clone(), query }));
        let Ok(ProjectAnswer::FailedEvents { events, .. }) = answer else { panic!("{answer:?}") };
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].notice, notice());
        // A message naming one project with another's data is nobody's to keep.
        let mut forged = notice();
        forged.project = keygate_project("victim");
        let body = serde_json::to_string(&forged).unwrap();
        assert_eq!(block_on(keep_failed(&limiter, &body)).0, QueueVerdict::Ack);
        let victim = keygate_project("victim");
        let query = crate::project::EventsQuery { limit: 10, after: None };
        let answer = block_on(limiter.project(&victim, ProjectCall::FailedEvents { project: victim.clone(), query }));
        assert!(matches!(answer, Ok(ProjectAnswer::FailedEvents { events, .. }) if events.is_empty()));
    }

    fn keygate_project(id: &str) -> crate::ids::ProjectId {
        crate::ids::ProjectId::parse(id).unwrap()
    }
}
