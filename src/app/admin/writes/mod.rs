//! Admin writes. Each goes to the key's object first, as a compare-and-set
//! on the version it read, carrying its catalog change and audit event
//! (queued there, in the outbox, with the write itself); then to KV; then
//! straight to the project's object, which the outbox backs up.
//!
//! Guarantees: concurrent writes are never lost (a write that another got
//! ahead of is read and applied again, or 412 with `If-Match`); a deleted key
//! stays deleted; a 2xx answer means the change is enforced and its audit
//! event recorded or durably queued.
//!
//! Credits: a write that gives a key credits sets its balance in the same
//! object call as the record; one that does not mention them keeps the
//! balance. A rotation moves the balance: the successor is issued with none,
//! the old key's retirement empties its balance and answers what it held,
//! and the successor (whose secret nobody has seen yet) gets that.
//!
//! A route a file (create, update: PATCH, delete, rotate, credits); here what
//! they share: who may write a key, the compare-and-set write, delivery.

mod create;
mod credits;
mod delete;
mod rotate;
mod update;

use serde_json::Value;

use super::reads::LiveKey;
use super::Target;
use crate::app::limiter::{out_of_protocol, Limiter};
use crate::app::projects::Projects;
use crate::app::store::KeyValueStore;
use crate::app::Context;
use crate::error::Error;
use crate::ids::{KeyId, ProjectId};
use crate::keystate::{LimiterAnswer, LimiterCall};
use crate::project::{OutboxEntry, ProjectCall};
use crate::record::{KeyRecord, UnixMillis};
use crate::vault::Sealed;

/// Adds `credits` (`from` → `to`, as the key object shows them) to `entry`'s
/// audit event when they differ: the record alone does not hold the balance.
fn note_credits(entry: &mut OutboxEntry, from: Value, to: Value) {
    if let (Some(changes), false) = (entry.event.as_mut().and_then(|event| event.changes.as_mut()), from == to) {
        changes.insert("credits".into(), serde_json::json!({ "from": from, "to": to }));
    }
}

/// A write the key's object took: the balance it replaced, when the write set one.
pub(super) struct Written {
    replaced: Option<u64>,
}

/// How many times a write without `If-Match` reads and applies itself again
/// when another write got in first. Each retry means another write to the
/// same key succeeded, so this bounds the concurrent writers a write outlasts.
pub(super) const WRITE_ATTEMPTS: usize = 32;
/// A write that lost the race [`WRITE_ATTEMPTS`] times in a row.
fn kept_changing(id: &KeyId) -> Error {
    Error::Unavailable(format!("key {id} kept changing during {WRITE_ATTEMPTS} attempts"))
}

impl Target<'_> {
    /// Refuses `record` unless this principal may read and touch it, at the version named if any.
    fn may_write(&self, record: &KeyRecord) -> Result<(), Error> {
        self.principal.may_read(record)?;
        if let Some(precondition) = &self.precondition {
            precondition.holds_for(record)?;
        }
        self.principal.may_touch(record)
    }
}

impl<S: KeyValueStore, L: Limiter + Projects, O> Context<'_, S, L, O> {
    /// A live key `target`'s principal may write, at the version it names if any.
    async fn find_writable(&self, target: &Target<'_>) -> Result<LiveKey, Error> {
        let found = self.find_live(target.project, target.id).await?;
        target.may_write(&found.record)?;
        Ok(found)
    }

    /// The version a write of `record` gets: strictly increasing, since the
    /// key's object tells stale copies and stale writers apart by it.
    pub(super) fn next_version(&self, record: &KeyRecord) -> UnixMillis {
        self.now.max(record.updated_at + 1)
    }

    /// Writes `record` with `entry` (and `balance`, when given) if its object
    /// still holds version `expected` (`None`: create): the object first (in
    /// force at once), then KV. `Ok(None)` when another write got in first,
    /// else the balance a given `balance` replaced; a deleted key is not
    /// found. Once the object took a change to an existing key, KV is only
    /// the index: the object judges every use on its own record, so a KV
    /// failure then is no reason to tell the writer its change failed.
    // Each argument is a field of the one object call it makes.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn put(
        &self,
        digest_hex: &str,
        record: &KeyRecord,
        expected: Option<UnixMillis>,
        entry: &OutboxEntry,
        balance: Option<u64>,
        lower_only: bool,
        sealed: Option<Sealed>,
    ) -> Result<Option<Written>, Error> {
        let put = LimiterCall::Put {
            digest: digest_hex.to_owned(),
            record: record.clone(),
            expected,
            entry: Some(entry.clone()),
            balance,
            lower_only,
            sealed,
        };
        let written = match self.limiter.call(&record.id, put).await? {
            LimiterAnswer::Done => Written { replaced: None },
            LimiterAnswer::Replaced { remaining } => Written { replaced: Some(remaining) },
            LimiterAnswer::Conflict => return Ok(None),
            LimiterAnswer::Gone => return Err(Error::KeyNotFound),
            _ => return Err(out_of_protocol()),
        };
        match expected {
            Some(_) => {
                let _ = self.keys.save(digest_hex, record).await;
            }
            None => self.keys.save(digest_hex, record).await?,
        }
        Ok(Some(written))
    }

    /// Hands `entries` to the project's object now, so the next listing shows
    /// them. A failure is not the writer's: the keys' outboxes deliver later.
    pub(super) async fn deliver(&self, project: &ProjectId, entries: Vec<OutboxEntry>) {
        let call = ProjectCall::Apply { project: project.clone(), entries, usage: None };
        if let Ok(answer) = self.limiter.project(project, call).await {
            // The directory of projects catches up on the next write if this fails.
            let _ = self.record_project_keys(project, &answer).await;
        }
    }

    /// A pointer an older version wrote goes once the key's object holds the
    /// key (it may have adopted it earlier, on a verification, unseen here).
    pub(super) async fn forget_pointer(&self, found: &LiveKey) {
        // Harmless if it fails: the object answers first from now on.
        let _ = self.keys.drop_pointer(&found.record.project, &found.record.id).await;
    }
}
