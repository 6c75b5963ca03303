//! Signed event notifications: what an operator's endpoint (`EVENTS_URL`)
//! receives when a key changes, leaks, hits its limit or nears its expiry.
//!
//! A project's object queues a [`Notification`] in the same SQLite
//! transaction as the audit event it tells of (or as a key object's notice
//! arrives), and hands it to the events queue; the queue's consumer signs and
//! POSTs it as the Standard Webhooks spec says and retries with [`retry_delay_seconds`].
//!
//! Guarantees: a notification's `data` is built from audit events and key
//! records, which hold no secret or digest; each keeps one id (`webhook-id`)
//! through every retry, so a receiver can drop duplicates.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::ids::ProjectId;
use crate::project::AuditEvent;
use crate::record::{rfc3339, KeyRecord, UnixMillis};
use crate::webhook::{sign, WebhookSecret};

/// The longest wait between two attempts: an hour.
pub const MAX_RETRY_DELAY_SECONDS: u64 = 3600;
/// A key over its rate limit is told of at most this often.
pub const RATE_LIMITED_NOTICE_MILLIS: UnixMillis = 3600 * 1000;
/// How long before `expires_at` a key's expiry is told of: a week, then a day.
pub const EXPIRY_NOTICES_MILLIS: [UnixMillis; 2] = [7 * DAY, DAY];
const DAY: UnixMillis = 24 * 3600 * 1000;

/// What happened, as the `type` of a notification. Audit actions carry the
/// same names ([`crate::project::Action::as_str`]), so [`EventType::as_str`]
/// is the one table of them; serde reads and writes that name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
pub enum EventType {
    KeyCreated,
    KeyUpdated,
    KeyRotated,
    KeyDeleted,
    KeyLeaked,
    KeyCreditsUpdated,
    KeyRateLimited,
    KeyExpiring,
    OwnerUpdated,
    OwnerDeleted,
    /// A recoverable key's secret was revealed: operators hear of every reveal.
    KeyRevealed,
}

impl EventType {
    pub const ALL: [EventType; 11] = [
        EventType::KeyCreated,
        EventType::KeyUpdated,
        EventType::KeyRotated,
        EventType::KeyDeleted,
        EventType::KeyLeaked,
        EventType::KeyCreditsUpdated,
        EventType::KeyRateLimited,
        EventType::KeyExpiring,
        EventType::OwnerUpdated,
        EventType::OwnerDeleted,
        EventType::KeyRevealed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::KeyCreated => "key.created",
            EventType::KeyUpdated => "key.updated",
            EventType::KeyRotated => "key.rotated",
            EventType::KeyDeleted => "key.deleted",
            EventType::KeyLeaked => "key.leaked",
            EventType::KeyCreditsUpdated => "key.credits_updated",
            EventType::KeyRateLimited => "key.rate_limited",
            EventType::KeyExpiring => "key.expiring",
            EventType::OwnerUpdated => "owner.updated",
            EventType::OwnerDeleted => "owner.deleted",
            EventType::KeyRevealed => "key.revealed",
        }
    }
}

impl From<EventType> for &'static str {
    fn from(kind: EventType) -> &'static str {
        kind.as_str()
    }
}

impl TryFrom<String> for EventType {
    type Error = String;

    fn try_from(name: String) -> Result<EventType, String> {
        EventType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| format!("no event type is `{name}`"))
    }
}

/// One notification, as queued and as kept when its delivery failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// `evt_…`: the audit event's id for audit events; `webhook-id`.
    pub id: String,
    pub project: ProjectId,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub at: UnixMillis,
    pub data: Value,
}

impl Notification {
    /// The notification of an audit event: its data is the event as the audit log shows it.
    pub fn of_audit(project: &ProjectId, event: &AuditEvent) -> Notification {
        let mut data = event.to_json();
        data["project"] = json!(project);
        Notification {
            id: event.id.clone(),
            project: project.clone(),
            kind: event.action.event_type(),
            at: event.at,
            data,
        }
    }

    /// `key.rate_limited`: the key and the limit it ran into.
    pub fn rate_limited(id: String, record: &KeyRecord, policy: &str, at: UnixMillis) -> Notification {
        let data = json!({
            "project": record.project,
            "key_id": record.id,
            "name": record.name,
            "rate_limit": record.rate_limit,
            "policy": policy,
            "at": rfc3339(at),
        });
        Notification { id, project: record.project.clone(), kind: EventType::KeyRateLimited, at, data }
    }

    /// `key.expiring`: the key, when it expires, and how many days remain (rounded up).
    pub fn expiring(id: String, record: &KeyRecord, expires_at: UnixMillis, at: UnixMillis) -> Notification {
        let data = json!({
            "project": record.project,
            "key_id": record.id,
            "name": record.name,
            "expires_at": rfc3339(expires_at),
            "days_left": (expires_at - at + DAY - 1).div_euclid(DAY),
        });
        Notification { id, project: record.project.clone(), kind: EventType::KeyExpiring, at, data }
    }

    /// The body POSTed to `EVENTS_URL`.
    pub fn body(&self) -> String {
        json!({"type": self.kind, "timestamp": rfc3339(self.at), "data": self.data}).to_string()
    }

    /// The Standard Webhooks headers for `body`, signed with `secret` at `now_seconds`.
    pub fn signed_headers(&self, secret: &WebhookSecret, body: &str, now_seconds: i64) -> [(&'static str, String); 4] {
        let timestamp = now_seconds.to_string();
        let parts: [&[u8]; 5] = [self.id.as_bytes(), b".", timestamp.as_bytes(), b".", body.as_bytes()];
        let signature = format!("v1,{}", STANDARD.encode(sign(secret, &parts)));
        [
            ("content-type", "application/json".to_owned()),
            ("webhook-id", self.id.clone()),
            ("webhook-timestamp", timestamp),
            ("webhook-signature", signature),
        ]
    }

    /// How the failed-events list shows it.
    pub fn to_json(&self, failed_at: Option<UnixMillis>) -> Value {
        json!({
            "id": self.id,
            "type": self.kind,
            "timestamp": rfc3339(self.at),
            "data": self.data,
            "status": if failed_at.is_some() { "failed" } else { "pending" },
            "failed_at": failed_at.map(rfc3339),
        })
    }
}

/// The wait before attempt `attempts + 1` after `attempts` failed ones:
/// `base` seconds doubled each time, at most an hour. With the default base
/// of 10 s and 10 retries the attempts span about two and a half hours.
pub fn retry_delay_seconds(attempts: u32, base: u64) -> u64 {
    let doublings = attempts.saturating_sub(1).min(32);
    base.saturating_mul(1u64 << doublings).min(MAX_RETRY_DELAY_SECONDS)
}

/// The expiry notice due for a key at `now`, if any: the stage (0 = a week,
/// 1 = a day) whose time has come and which was not sent. A stage whose
/// next one has come too is skipped (a key created twelve hours before its
/// expiry hears only of the last day).
pub fn due_expiry_notice(record: &KeyRecord, sent: Option<ExpiryNotices>, now: UnixMillis) -> Option<usize> {
    let expires_at = record.expires_at.filter(|_| record.rotated_to.is_none())?;
    let sent = sent.filter(|sent| sent.expires_at == expires_at).map_or(0, |sent| sent.stages);
    if now >= expires_at {
        return None;
    }
    let stage = EXPIRY_NOTICES_MILLIS.iter().rposition(|before| now >= expires_at - before)?;
    (stage >= sent).then_some(stage)
}

/// When the next expiry notice for `record` falls due, if one remains
/// before it expires (at `now` or later).
pub fn next_expiry_notice(record: &KeyRecord, sent: Option<ExpiryNotices>, now: UnixMillis) -> Option<UnixMillis> {
    let expires_at = record.expires_at.filter(|&at| at > now && record.rotated_to.is_none())?;
    let sent = sent.filter(|sent| sent.expires_at == expires_at).map_or(0, |sent| sent.stages);
    EXPIRY_NOTICES_MILLIS.get(sent).map(|before| expires_at - before)
}

/// Which expiry notices a key's object sent, for which `expires_at` (a new
/// expiry starts over).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryNotices {
    pub expires_at: UnixMillis,
    /// How many stages of [`EXPIRY_NOTICES_MILLIS`] are done (sent or skipped).
    pub stages: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystate::tests::record;
    use crate::webhook::{verify, Scheme};

    fn secret() -> WebhookSecret {
        WebhookSecret::parse(&Scheme::Standard, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
    }

    #[test]
    fn types_and_audit_actions_are_read_and_written_by_their_one_name() {
        for kind in EventType::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
            assert_eq!(serde_json::from_value::<EventType>(json!(kind.as_str())).unwrap(), kind);
        }
        for action in crate::project::Action::ALL {
            assert_eq!(serde_json::to_value(action).unwrap(), json!(action.event_type().as_str()));
            assert_eq!(serde_json::from_value::<crate::project::Action>(json!(action.as_str())).unwrap(), action);
        }
        assert_eq!(serde_json::to_value(EventType::KeyCreditsUpdated).unwrap(), "key.credits_updated");
        assert!(serde_json::from_str::<EventType>(r#""key.exploded""#).is_err());
        // A notification's type is no audit action.
        assert!(serde_json::from_str::<crate::project::Action>(r#""key.rate_limited""#).is_err());
    }

    #[test]
    fn a_notification_is_signed_as_standard_webhooks_verify_it() {
        let notification = Notification::rate_limited("evt_1".into(), &record(&[]), "minute", 1_795_420_800_000);
        let body = notification.body();
        let headers = notification.signed_headers(&secret(), &body, 1_795_420_800);
        let header = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
        let verified = verify(&Scheme::Standard, &[secret()], header, body.as_bytes(), 1_795_420_800, 300).unwrap();
        assert_eq!(verified.delivery_id.as_deref(), Some("evt_1"));
        let mut tampered = body.clone().into_bytes();
        tampered[3] ^= 1;
        assert!(verify(&Scheme::Standard, &[secret()], header, &tampered, 1_795_420_800, 300).is_err());
        let shown: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(shown["type"], "key.rate_limited");
        assert_eq!(shown["timestamp"], "2026-11-23T08:00:00Z");
        assert_eq!(shown["data"]["policy"], "minute");
    }

    #[test]
    fn the_signature_matches_the_specs_published_example() {
        // From the Standard Webhooks specification's example.
        let notification = Notification {
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek".into(),
            project: ProjectId::parse("default").unwrap(),
            kind: EventType::KeyCreated,
            at: 0,
            data: Value::Null,
        };
        let body = r#"{"test": 2432232314}"#;
        let headers = notification.signed_headers(&secret(), body, 1_614_265_330);
        assert_eq!(headers[3].1, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn retries_back_off_exponentially_to_an_hour() {
        let delays: Vec<u64> = (1..=10).map(|attempts| retry_delay_seconds(attempts, 10)).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]);
        assert!(delays.iter().sum::<u64>() >= 600, "retries must span at least ten minutes");
        assert_eq!(retry_delay_seconds(0, 10), 10);
        assert_eq!(retry_delay_seconds(u32::MAX, u64::MAX), MAX_RETRY_DELAY_SECONDS);
        assert_eq!(retry_delay_seconds(5, 0), 0);
    }

    #[test]
    fn expiry_notices_come_a_week_and_a_day_before() {
        let mut key = record(&[]);
        let expires_at = 100 * DAY;
        key.expires_at = Some(expires_at);
        assert_eq!(next_expiry_notice(&key, None, 0), Some(expires_at - 7 * DAY));
        assert_eq!(due_expiry_notice(&key, None, expires_at - 7 * DAY - 1), None);
        assert_eq!(due_expiry_notice(&key, None, expires_at - 7 * DAY), Some(0));
        let week_sent = ExpiryNotices { expires_at, stages: 1 };
        assert_eq!(due_expiry_notice(&key, Some(week_sent), expires_at - 3 * DAY), None);
        assert_eq!(next_expiry_notice(&key, Some(week_sent), 0), Some(expires_at - DAY));
        assert_eq!(due_expiry_notice(&key, Some(week_sent), expires_at - DAY), Some(1));
        let all_sent = ExpiryNotices { expires_at, stages: 2 };
        assert_eq!(next_expiry_notice(&key, Some(all_sent), 0), None);
        assert_eq!(due_expiry_notice(&key, Some(all_sent), expires_at - 1), None);
        // Created two days before expiry: the week's notice at once, then the day's;
        // created within the last day: the day's alone.
        assert_eq!(due_expiry_notice(&key, None, expires_at - 2 * DAY), Some(0));
        assert_eq!(due_expiry_notice(&key, None, expires_at - DAY + 5), Some(1));
        // A new expiry starts over; an expired key hears nothing.
        assert_eq!(next_expiry_notice(&key, None, expires_at), None);
        key.expires_at = Some(expires_at + 30 * DAY);
        assert_eq!(next_expiry_notice(&key, Some(all_sent), 0), Some(expires_at + 23 * DAY));
        assert_eq!(due_expiry_notice(&key, None, expires_at + 31 * DAY), None);
        // A rotated key's expiry is its grace: no notice.
        key.rotated_to = Some(key.id.clone());
        assert_eq!(next_expiry_notice(&key, None, 0), None);
    }

    #[test]
    fn days_left_counts_the_day_under_way() {
        let key = record(&[]);
        let week = Notification::expiring("evt_2".into(), &key, 10 * DAY, 3 * DAY);
        assert_eq!(week.data["days_left"], 7);
        let day = Notification::expiring("evt_3".into(), &key, 10 * DAY, 9 * DAY + 1);
        assert_eq!(day.data["days_left"], 1);
    }
}
