//! Audit events: who changed which key, how, from where.
//!
//! Guarantee: an event is built from key records and request metadata only,
//! and records hold no secret or digest, so neither can reach the log.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::events::EventType;
use crate::ids::{KeyId, OwnerId};
use crate::record::{rfc3339, KeyRecord, UnixMillis};

/// What an audit event records. Its name is its notification's type
/// ([`EventType::as_str`]), and serde reads and writes that name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
pub enum Action {
    KeyCreated,
    KeyUpdated,
    KeyRotated,
    KeyDeleted,
    /// A leak report (GitHub secret scanning) named the key.
    KeyLeaked,
    /// `POST …/keys/{id}/credits` changed the balance.
    KeyCreditsUpdated,
    /// `PUT …/owners/{owner_id}` set an owner's shared limits.
    OwnerUpdated,
    /// `DELETE …/owners/{owner_id}` removed them.
    OwnerDeleted,
    /// The admin token revealed a recoverable key's secret (`POST …/keys/{id}/reveal`).
    KeyRevealed,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::KeyCreated,
        Action::KeyUpdated,
        Action::KeyRotated,
        Action::KeyDeleted,
        Action::KeyLeaked,
        Action::KeyCreditsUpdated,
        Action::OwnerUpdated,
        Action::OwnerDeleted,
        Action::KeyRevealed,
    ];

    pub fn as_str(self) -> &'static str {
        self.event_type().as_str()
    }

    /// The notification an event of this action sends.
    pub fn event_type(self) -> EventType {
        match self {
            Action::KeyCreated => EventType::KeyCreated,
            Action::KeyUpdated => EventType::KeyUpdated,
            Action::KeyRotated => EventType::KeyRotated,
            Action::KeyDeleted => EventType::KeyDeleted,
            Action::KeyLeaked => EventType::KeyLeaked,
            Action::KeyCreditsUpdated => EventType::KeyCreditsUpdated,
            Action::OwnerUpdated => EventType::OwnerUpdated,
            Action::OwnerDeleted => EventType::OwnerDeleted,
            Action::KeyRevealed => EventType::KeyRevealed,
        }
    }

    pub fn parse(text: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|action| action.as_str() == text)
    }
}

impl From<Action> for &'static str {
    fn from(action: Action) -> &'static str {
        action.as_str()
    }
}

impl TryFrom<String> for Action {
    type Error = String;

    fn try_from(name: String) -> Result<Action, String> {
        Action::parse(&name).ok_or_else(|| format!("no audit action is `{name}`"))
    }
}

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    AdminToken,
    Key {
        key_id: KeyId,
        name: String,
    },
    /// A leak report from a secret-scanning provider (`github`).
    SecretScanning {
        provider: String,
    },
}

/// Where a change came from, as the runtime saw the request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestOrigin {
    pub request_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: String,
    pub at: UnixMillis,
    pub action: Action,
    /// The key changed; `None` for an owner's event.
    pub key_id: Option<KeyId>,
    pub actor: Actor,
    pub changes: Option<Map<String, Value>>,
    /// For `key.rotated`: the key that replaced this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_key_id: Option<KeyId>,
    /// The owner whose limits an `owner.*` event changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<OwnerId>,
    #[serde(flatten)]
    pub origin: RequestOrigin,
}

impl AuditEvent {
    pub fn to_json(&self) -> Value {
        let mut event = json!({
            "id": self.id,
            "at": rfc3339(self.at),
            "action": self.action,
            "key_id": self.key_id,
            "actor": self.actor,
            "changes": self.changes,
            "request_id": self.origin.request_id,
            "ip": self.origin.ip,
            "user_agent": self.origin.user_agent,
        });
        if let Some(owner_id) = &self.owner_id {
            event["owner_id"] = json!(owner_id);
        }
        if let Some(new_key_id) = &self.new_key_id {
            event["new_key_id"] = json!(new_key_id);
        }
        event
    }
}

/// The fields an audit event reports changes of.
const AUDITED: [&str; 13] = [
    "name",
    "scopes",
    "status",
    "environment",
    "plan",
    "rate_limit",
    "expires_at",
    "meta",
    "rotated_to",
    "leaked",
    "owner_id",
    "allowed_ips",
    "recoverable",
];

/// `{"<field>": {"from", "to"}}` for each audited field that differs between
/// `before` and `after` (`None`: the key did not exist), as the API shows them.
pub fn changes(before: Option<&KeyRecord>, after: &KeyRecord) -> Map<String, Value> {
    let shown = |record: Option<&KeyRecord>| record.map(|record| record.to_json());
    let (before, after) = (shown(before), after.to_json());
    let mut changes = Map::new();
    for field in AUDITED {
        let from = before.as_ref().map_or(&Value::Null, |before| &before[field]);
        let to = &after[field];
        if from != to && !(from.is_null() && is_empty(to)) {
            changes.insert(field.to_owned(), json!({"from": from, "to": to}));
        }
    }
    changes
}

/// An empty list or object (or `false`) is as good as nothing when a key is created.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Bool(set) => !set,
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
        other => other.is_null(),
    }
}

/// A new event id: `evt_` + 22 base62 characters.
pub fn new_event_id() -> Result<String, getrandom::Error> {
    random_id("evt_")
}

/// A request id for a request the runtime gave none (no `CF-Ray`): `req_` + 22 base62 characters.
pub fn new_request_id() -> Result<String, getrandom::Error> {
    random_id("req_")
}

fn random_id(prefix: &str) -> Result<String, getrandom::Error> {
    let mut id = String::from(prefix);
    crate::key::push_random_base62(&mut id, 22)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystate::tests::record;

    #[test]
    fn changes_name_each_field_that_moved_and_nothing_else() {
        let before = record(&["a:read"]);
        let mut after = before.clone();
        after.scopes = vec!["b:read".into()];
        after.updated_at += 5;
        let diff = changes(Some(&before), &after);
        assert_eq!(Value::Object(diff), json!({"scopes": {"from": ["a:read"], "to": ["b:read"]}}));
        let mut allowed = before.clone();
        allowed.allowed_ips = Some(serde_json::from_value(json!(["10.0.0.0/8"])).unwrap());
        let diff = changes(Some(&before), &allowed);
        assert_eq!(Value::Object(diff), json!({"allowed_ips": {"from": null, "to": ["10.0.0.0/8"]}}));
    }

    #[test]
    fn a_created_key_shows_its_fields_from_null() {
        let mut created = record(&["a:read"]);
        created.meta.clear();
        let diff = changes(None, &created);
        assert_eq!(diff["scopes"], json!({"from": null, "to": ["a:read"]}));
        assert_eq!(diff["name"]["to"], json!(created.name));
        assert!(!diff.contains_key("meta"), "an empty meta is no change");
        assert!(!diff.contains_key("expires_at"));
        for hidden in ["prefix", "id", "updated_at"] {
            assert!(!diff.contains_key(hidden), "{hidden}");
        }
    }

    #[test]
    fn events_show_as_the_contract_says() {
        let event = AuditEvent {
            id: "evt_1".into(),
            at: 1_795_420_800_000,
            action: Action::KeyUpdated,
            key_id: Some(KeyId::parse("key_0000000000000000000001").unwrap()),
            actor: Actor::Key { key_id: KeyId::parse("key_0000000000000000000002").unwrap(), name: "ci".into() },
            changes: None,
            new_key_id: None,
            owner_id: None,
            origin: RequestOrigin { request_id: "r".into(), ip: Some("192.0.2.1".into()), user_agent: None },
        };
        let shown = event.to_json();
        assert_eq!(shown["at"], "2026-11-23T08:00:00Z");
        assert_eq!(shown["action"], "key.updated");
        assert_eq!(shown["actor"], json!({"type": "key", "key_id": "key_0000000000000000000002", "name": "ci"}));
        assert_eq!((shown["ip"].clone(), shown["user_agent"].clone()), (json!("192.0.2.1"), Value::Null));
        let stored: AuditEvent = serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(stored, event);
        assert_eq!(Action::parse("key.rotated"), Some(Action::KeyRotated));
        assert_eq!(Action::parse("key.exploded"), None);
    }
}
