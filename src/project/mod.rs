//! A project's control plane: its key catalog, audit log and usage rollups,
//! held by one Durable Object per project.
//!
//! This module is the protocol: what a key's object (or the worker) delivers
//! to the project's object, and what the admin API asks of it. The object's
//! decisions are [`object::ProjectDecisions`]'s, over any SQLite ([`sql::Sql`]).
//!
//! Guarantees: an [`OutboxEntry`] applies at most once (by id) whatever how
//! often it is delivered; a catalog row only moves to a newer version of its
//! key, and a removal is final; an audit event holds no secret, digest or
//! signature (it is built from records, which hold none).

pub mod audit;
pub mod object;
pub mod query;
pub mod sql;

use serde::{Deserialize, Serialize};

use crate::events::Notification;
use crate::ids::{KeyId, ProjectId};
use crate::record::{KeyRecord, UnixMillis};
use crate::usage::{Counts, UsageQuery};
pub use audit::{Action, Actor, AuditEvent};
pub use query::{AuditQuery, EventsQuery, ListQuery};

/// One admin change as the project's object records it: the catalog's new
/// row (or the key's removal) and, for changes an operator made, the audit
/// event; or a notice a key's object sends (`key.rate_limited`, `key.expiring`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Unique; the audit event's (or notice's) id when there is one.
    pub id: String,
    pub project: ProjectId,
    pub change: CatalogChange,
    pub event: Option<AuditEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<Notification>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
// Part of a message, built and sent once: boxing would only add allocations.
#[allow(clippy::large_enum_variant)]
pub enum CatalogChange {
    /// The key's record as written, at its version (`updated_at`).
    Upsert { record: KeyRecord },
    /// The key is deleted, at `version`: its row never comes back.
    Remove { key_id: KeyId, version: UnixMillis },
    /// The catalog stays as it is (the entry carries a notice only).
    Unchanged,
}

/// A key's new counts since its last push, with its last use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsagePush {
    pub key_id: KeyId,
    /// Increases with each push of this key: a push is applied once.
    pub seq: u64,
    /// Hour starts and counts: a list, since JSON map keys are text and
    /// these travel inside tagged enums, which cannot read them back as numbers.
    pub hours: Vec<(UnixMillis, Counts)>,
    pub last_used_at: Option<UnixMillis>,
}

/// A key in the catalog, as a listing shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogItem {
    pub record: KeyRecord,
    pub last_used_at: Option<UnixMillis>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopKey {
    pub key_id: KeyId,
    pub name: Option<String>,
    pub requests: u64,
}

/// What the worker or a key's object asks of a project's object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ProjectCall {
    /// Admin changes and usage, from the worker or a key's outbox.
    Apply {
        project: ProjectId,
        entries: Vec<OutboxEntry>,
        usage: Option<UsagePush>,
    },
    /// A batch of the records of keys that only KV knew (written before the
    /// catalog); `next` is where the next batch starts, `None` after the last.
    Import {
        project: ProjectId,
        records: Vec<KeyRecord>,
        next: Option<String>,
    },
    List {
        project: ProjectId,
        query: ListQuery,
    },
    Audit {
        project: ProjectId,
        query: AuditQuery,
    },
    Usage {
        project: ProjectId,
        query: UsageQuery,
    },
    /// A notification whose every delivery failed (from the dead-letter queue): kept, listed, retried.
    Failed {
        project: ProjectId,
        notice: Notification,
    },
    FailedEvents {
        project: ProjectId,
        query: EventsQuery,
    },
    /// A failed notification goes to the queue again.
    Retry {
        project: ProjectId,
        id: String,
    },
}

/// A notification whose delivery failed, and when it was given up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedEvent {
    pub notice: Notification,
    pub failed_at: UnixMillis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum ProjectAnswer {
    /// Applied (or already applied); the number of live keys before and after.
    Applied {
        keys_before: u64,
        keys: u64,
    },
    /// This project may have keys that only KV knows: import them first,
    /// from `cursor` (where an earlier import stopped).
    NeedImport {
        cursor: Option<String>,
    },
    Keys {
        keys: Vec<CatalogItem>,
        cursor: Option<String>,
    },
    Events {
        events: Vec<AuditEvent>,
        cursor: Option<String>,
    },
    Usage {
        totals: Counts,
        series: Vec<(UnixMillis, Counts)>,
        top_keys: Vec<TopKey>,
    },
    FailedEvents {
        events: Vec<FailedEvent>,
        cursor: Option<String>,
    },
    /// A change to one item (`found`: it was there to change).
    Done {
        found: bool,
    },
}

impl ProjectAnswer {
    /// The project's new number of live keys, when this answer changed it:
    /// what the projects directory (`GET /v1/projects`) must follow.
    pub fn changed_key_count(&self) -> Option<u64> {
        match self {
            ProjectAnswer::Applied { keys, keys_before } if keys != keys_before => Some(*keys),
            _ => None,
        }
    }
}

impl ProjectCall {
    /// The project whose object takes this call.
    pub fn project(&self) -> &ProjectId {
        match self {
            ProjectCall::Apply { project, .. }
            | ProjectCall::Import { project, .. }
            | ProjectCall::List { project, .. }
            | ProjectCall::Audit { project, .. }
            | ProjectCall::Usage { project, .. }
            | ProjectCall::Failed { project, .. }
            | ProjectCall::FailedEvents { project, .. }
            | ProjectCall::Retry { project, .. } => project,
        }
    }

    /// Whether this call may travel in a URL (which runtime traces may show):
    /// queries only; deliveries hold audit events and records.
    pub fn fits_in_url(&self) -> bool {
        matches!(
            self,
            ProjectCall::List { .. }
                | ProjectCall::Audit { .. }
                | ProjectCall::Usage { .. }
                | ProjectCall::FailedEvents { .. }
        )
    }
}

#[cfg(test)]
mod tests;
