//! The catalog's and the audit log's list queries: their parameters, checked
//! once, and their cursors.
//!
//! Guarantees: a bad value is a `VALIDATION_ERROR` naming its parameter and
//! never quoting it; a cursor is a position (the last item shown), so a page
//! holds every matching item after it exactly once however many newer items
//! appear while paging.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::ids::{KeyId, OwnerId};
use crate::key::Environment;
use crate::project::audit::Action;
use crate::record::{time_param, KeyRecord, KeyStatus, UnixMillis};
use crate::scope::{Scope, ScopeSet};

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 100;
const MAX_Q_CHARS: usize = 100;

/// A position in a newest-first list: the time and id of the last item shown.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    pub at: UnixMillis,
    pub id: String,
}

impl Position {
    pub fn to_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}.{}", self.at, self.id))
    }

    /// A cursor this list returned, or a 400 naming `cursor`.
    fn from_cursor(cursor: &str, id_ok: impl Fn(&str) -> bool) -> Result<Position, Error> {
        let invalid = || Error::validation("cursor", "Not a cursor this list returned.");
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (at, id) = text.split_once('.').ok_or_else(invalid)?;
        let at = at.parse::<UnixMillis>().map_err(|_| invalid())?;
        if !id_ok(id) {
            return Err(invalid());
        }
        Ok(Position { at, id: id.to_owned() })
    }
}

/// `?limit=&cursor=&status=&environment=&scope=&q=` of a key listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListQuery {
    pub limit: usize,
    pub after: Option<Position>,
    pub status: Option<KeyStatus>,
    pub environment: Option<Environment>,
    /// A scope that parses (checked here).
    pub scope: Option<String>,
    /// Lower-cased.
    pub q: Option<String>,
    /// Keys of this owner only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<OwnerId>,
}

pub const LIST_PARAMETERS: &[&str] = &["limit", "cursor", "status", "environment", "scope", "q", "owner_id"];

impl ListQuery {
    pub fn parse<'q>(param: impl Fn(&str) -> Option<&'q str>) -> Result<ListQuery, Error> {
        let status = match param("status") {
            None => None,
            Some("active") => Some(KeyStatus::Active),
            Some("inactive") => Some(KeyStatus::Inactive),
            Some(_) => return Err(Error::validation("status", "Must be active or inactive.")),
        };
        let environment = match param("environment") {
            None => None,
            Some(text) => Some(
                Environment::parse(text).ok_or_else(|| Error::validation("environment", "Must be live or test."))?,
            ),
        };
        let scope = match param("scope") {
            None => None,
            Some(text) => Some(
                Scope::parse(text)
                    .map_err(|_| Error::validation("scope", "Not a scope (see the scope grammar)."))?
                    .to_string(),
            ),
        };
        let q = match param("q") {
            None => None,
            Some(text) if (1..=MAX_Q_CHARS).contains(&text.chars().count()) => Some(text.to_lowercase()),
            Some(_) => return Err(Error::validation("q", "Must be 1 to 100 characters.")),
        };
        let owner_id = param("owner_id")
            .map(|text| OwnerId::parse(text).map_err(|invalid| Error::validation("owner_id", invalid.0)))
            .transpose()?;
        let after =
            param("cursor").map(|cursor| Position::from_cursor(cursor, |id| KeyId::parse(id).is_ok())).transpose()?;
        Ok(ListQuery { limit: page_size(&param)?, after, status, environment, scope, q, owner_id })
    }

    /// Whether `record` passes every filter (the position aside).
    pub fn matches(&self, record: &KeyRecord) -> bool {
        let status_ok = self.status.is_none_or(|status| record.status == status);
        let environment_ok = self.environment.is_none_or(|environment| record.environment == environment);
        let scope_ok = self.scope.as_deref().is_none_or(|wanted| {
            Scope::parse(wanted).is_ok_and(|wanted| ScopeSet::from_stored(&record.scopes).grants(&wanted))
        });
        let q_ok = self
            .q
            .as_deref()
            .is_none_or(|q| record.name.to_lowercase().contains(q) || record.prefix.to_lowercase().contains(q));
        let owner_ok = self.owner_id.is_none() || record.owner_id == self.owner_id;
        status_ok && environment_ok && scope_ok && q_ok && owner_ok
    }
}

/// `?limit=&cursor=&key_id=&action=&since=&until=` of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub limit: usize,
    pub after: Option<Position>,
    pub key_id: Option<KeyId>,
    pub action: Option<Action>,
    pub since: Option<UnixMillis>,
    pub until: Option<UnixMillis>,
}

pub const AUDIT_PARAMETERS: &[&str] = &["limit", "cursor", "key_id", "action", "since", "until"];

impl AuditQuery {
    pub fn parse<'q>(param: impl Fn(&str) -> Option<&'q str>) -> Result<AuditQuery, Error> {
        let key_id = param("key_id")
            .map(|text| KeyId::parse(text).map_err(|invalid| Error::validation("key_id", invalid.0)))
            .transpose()?;
        let action = param("action")
            .map(|text| {
                Action::parse(text).ok_or_else(|| {
                    let known: Vec<&str> = Action::ALL.iter().map(|action| action.as_str()).collect();
                    Error::validation("action", format!("Must be one of {}.", known.join(", ")))
                })
            })
            .transpose()?;
        let (since, until) = (time_param(&param, "since")?, time_param(&param, "until")?);
        if let (Some(since), Some(until)) = (since, until) {
            if since > until {
                return Err(Error::validation("since", "Must not be after `until`."));
            }
        }
        let after =
            param("cursor").map(|cursor| Position::from_cursor(cursor, |id| id.starts_with("evt_"))).transpose()?;
        Ok(AuditQuery { limit: page_size(&param)?, after, key_id, action, since, until })
    }
}

/// `?status=failed&limit=&cursor=` of a project's event notifications: the
/// ones whose delivery failed (kept until retried or past the retention).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsQuery {
    pub limit: usize,
    pub after: Option<Position>,
}

pub const EVENTS_PARAMETERS: &[&str] = &["status", "limit", "cursor"];

impl EventsQuery {
    pub fn parse<'q>(param: impl Fn(&str) -> Option<&'q str>) -> Result<EventsQuery, Error> {
        if param("status").is_some_and(|status| status != "failed") {
            return Err(Error::validation("status", "Must be `failed`."));
        }
        let after =
            param("cursor").map(|cursor| Position::from_cursor(cursor, |id| id.starts_with("evt_"))).transpose()?;
        Ok(EventsQuery { limit: page_size(&param)?, after })
    }
}

/// `?limit=`: 1 to [`MAX_PAGE_SIZE`], default [`DEFAULT_PAGE_SIZE`].
pub fn page_size<'q>(param: impl Fn(&str) -> Option<&'q str>) -> Result<usize, Error> {
    match param("limit") {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| Error::validation("limit", "Must be an integer from 1 to 100.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystate::tests::record;

    fn list(params: &[(&str, &str)]) -> Result<ListQuery, Error> {
        ListQuery::parse(|name| params.iter().find(|(n, _)| *n == name).map(|(_, v)| *v))
    }

    fn audit(params: &[(&str, &str)]) -> Result<AuditQuery, Error> {
        AuditQuery::parse(|name| params.iter().find(|(n, _)| *n == name).map(|(_, v)| *v))
    }

    fn field<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
        match result {
            Err(Error::Validation { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for (name, value) in [
            ("status", "deleted"),
            ("environment", "prod"),
            ("scope", "Not-A-Scope"),
            ("q", ""),
            ("limit", "0"),
            ("limit", "101"),
            ("cursor", "garbage!"),
            ("cursor", "MTIzLmtleV94"),
        ] {
            assert_eq!(field(list(&[(name, value)])), name, "{name}={value}");
        }
        for (name, value) in [("key_id", "key_x"), ("action", "key.exploded"), ("since", "yesterday"), ("cursor", "@")]
        {
            assert_eq!(field(audit(&[(name, value)])), name, "{name}={value}");
        }
        assert_eq!(field(audit(&[("since", "2026-11-24T00:00:00Z"), ("until", "2026-11-23T00:00:00Z")])), "since");
    }

    #[test]
    fn filters_match_as_the_contract_says() {
        let mut key = record(&["bots:*"]);
        key.name = "CI Deploy".into();
        key.prefix = "sk_live_AbCd".into();
        let matches = |params: &[(&str, &str)]| list(params).unwrap().matches(&key);
        assert!(matches(&[("scope", "bots:read")]), "bots:* grants bots:read");
        assert!(!matches(&[("scope", "users:read")]));
        assert!(matches(&[("q", "deploy")]) && matches(&[("q", "ABCD")]));
        assert!(!matches(&[("q", "nightly")]));
        assert!(matches(&[("status", "active"), ("environment", "live")]));
        assert!(!matches(&[("status", "inactive")]) && !matches(&[("environment", "test")]));
    }

    #[test]
    fn cursors_round_trip() {
        let id = "key_0000000000000000000001";
        let position = Position { at: 5, id: id.into() };
        let parsed = list(&[("cursor", &position.to_cursor())]).unwrap().after.unwrap();
        assert_eq!(parsed, position);
    }
}
