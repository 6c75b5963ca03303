//! The decisions of a project's Durable Object, over its SQLite.
//!
//! Guarantees: each call's statements run with no `await` between them, so a
//! call commits whole (catalog row and audit event together); an entry or a
//! usage push applies at most once; a row only moves to a newer version and a
//! removed key stays removed; events older than the retention are pruned on
//! every write, usage buckets older than kept likewise.

mod reads;

use crate::events::Notification;
use crate::project::sql::{Sql, SqlError, SqlValue};
use crate::project::{CatalogChange, OutboxEntry, ProjectAnswer, ProjectCall, UsagePush};
use crate::record::UnixMillis;
use crate::usage::{Granularity, DAY_MILLIS};

pub const DEFAULT_AUDIT_RETENTION_DAYS: i64 = 400;

const SCHEMA: &str = "\
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, version INTEGER NOT NULL,
  deleted INTEGER NOT NULL, record TEXT, last_used_at INTEGER);
CREATE INDEX IF NOT EXISTS keys_newest ON keys (created_at, id);
CREATE TABLE IF NOT EXISTS applied (id TEXT PRIMARY KEY, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, at INTEGER NOT NULL, key_id TEXT NOT NULL,
  action TEXT NOT NULL, event TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_newest ON events (at, id);
CREATE TABLE IF NOT EXISTS usage (granularity TEXT NOT NULL, start INTEGER NOT NULL, key_id TEXT NOT NULL,
  outcome TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (granularity, start, key_id, outcome));
CREATE TABLE IF NOT EXISTS pushes (key_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS notices (id TEXT PRIMARY KEY, at INTEGER NOT NULL, failed_at INTEGER,
  notice TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS notices_failed ON notices (failed_at, id);";

/// Notifications handed to the queue per batch (the queue takes at most 100).
pub const NOTICES_PER_BATCH: i64 = 100;

pub struct ProjectDecisions<S: Sql> {
    sql: S,
    retention_millis: UnixMillis,
    /// Whether events are sent (`EVENTS_URL` is set): else none is queued.
    notify: bool,
}

impl<S: Sql> ProjectDecisions<S> {
    /// The object over `sql`, its tables created if missing.
    pub fn open(sql: S, retention_days: i64, notify: bool) -> Result<ProjectDecisions<S>, SqlError> {
        for statement in SCHEMA.split(';').filter(|statement| !statement.trim().is_empty()) {
            sql.exec(statement, &[])?;
        }
        Ok(ProjectDecisions { sql, retention_millis: retention_days * DAY_MILLIS, notify })
    }

    /// Notifications waiting for the queue, oldest first (at most a batch).
    pub fn pending_notices(&self) -> Result<Vec<Notification>, SqlError> {
        let rows = self.sql.exec(
            "SELECT notice FROM notices WHERE failed_at IS NULL ORDER BY at, id LIMIT ?",
            &[NOTICES_PER_BATCH.into()],
        )?;
        rows.iter().map(|row| from_json(&row[0])).collect()
    }

    /// Whether any notification waits for the queue.
    pub fn has_pending_notices(&self) -> Result<bool, SqlError> {
        Ok(!self.sql.exec("SELECT 1 FROM notices WHERE failed_at IS NULL LIMIT 1", &[])?.is_empty())
    }

    /// The queue took these: they are its to deliver now.
    pub fn notices_sent(&self, sent: &[Notification]) -> Result<(), SqlError> {
        for notice in sent {
            self.sql.exec("DELETE FROM notices WHERE id = ? AND failed_at IS NULL", &[notice.id.as_str().into()])?;
        }
        Ok(())
    }

    /// Queues `notice` for the events queue, once (by id).
    fn notify(&self, notice: &Notification) -> Result<(), SqlError> {
        if self.notify {
            self.sql.exec(
                "INSERT OR IGNORE INTO notices (id, at, notice) VALUES (?, ?, ?)",
                &[notice.id.as_str().into(), notice.at.into(), to_json(notice)?.into()],
            )?;
        }
        Ok(())
    }

    pub fn on_call(&self, call: ProjectCall, now: UnixMillis) -> Result<ProjectAnswer, SqlError> {
        match call {
            ProjectCall::Apply { entries, usage, .. } => {
                let keys_before = self.live_keys()?;
                for entry in &entries {
                    self.apply_entry(entry, now)?;
                }
                if let Some(push) = &usage {
                    self.apply_usage(push)?;
                }
                self.prune(now)?;
                Ok(ProjectAnswer::Applied { keys_before, keys: self.live_keys()? })
            }
            ProjectCall::Import { records, next, .. } => {
                let keys_before = self.live_keys()?;
                for record in &records {
                    // Any row already there is newer (or a removal): it stands.
                    self.sql.exec(
                        "INSERT OR IGNORE INTO keys (id, created_at, version, deleted, record) VALUES (?, ?, ?, 0, ?)",
                        &[
                            record.id.as_str().into(),
                            record.created_at.into(),
                            record.updated_at.into(),
                            to_json(record)?.into(),
                        ],
                    )?;
                }
                match next {
                    None => self.sql.exec("INSERT OR REPLACE INTO meta (name, value) VALUES ('imported', '1')", &[])?,
                    Some(cursor) => self.sql.exec(
                        "INSERT OR REPLACE INTO meta (name, value) VALUES ('import_cursor', ?)",
                        &[cursor.into()],
                    )?,
                };
                Ok(ProjectAnswer::Applied { keys_before, keys: self.live_keys()? })
            }
            ProjectCall::List { query, .. } => {
                if self.sql.exec("SELECT value FROM meta WHERE name = 'imported'", &[])?.is_empty() {
                    let cursor = self.sql.exec("SELECT value FROM meta WHERE name = 'import_cursor'", &[])?;
                    let cursor = cursor.first().and_then(|row| row[0].text()).map(str::to_owned);
                    return Ok(ProjectAnswer::NeedImport { cursor });
                }
                self.list(&query)
            }
            ProjectCall::Audit { query, .. } => self.audit(&query),
            ProjectCall::Usage { query, .. } => self.usage(&query),
            ProjectCall::Failed { notice, .. } => {
                // Kept whether or not events are on now: it was sent when they were.
                self.sql.exec(
                    "INSERT INTO notices (id, at, failed_at, notice) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (id) DO UPDATE SET failed_at = ?3",
                    &[notice.id.as_str().into(), notice.at.into(), now.into(), to_json(&notice)?.into()],
                )?;
                Ok(ProjectAnswer::Done { found: true })
            }
            ProjectCall::FailedEvents { query, .. } => self.failed_events(&query),
            ProjectCall::Retry { id, .. } => {
                let retried = self.sql.exec(
                    "UPDATE notices SET failed_at = NULL WHERE id = ? AND failed_at IS NOT NULL RETURNING id",
                    &[id.as_str().into()],
                )?;
                Ok(ProjectAnswer::Done { found: !retried.is_empty() })
            }
        }
    }

    fn apply_entry(&self, entry: &OutboxEntry, now: UnixMillis) -> Result<(), SqlError> {
        let fresh = self.sql.exec(
            "INSERT OR IGNORE INTO applied (id, at) VALUES (?, ?) RETURNING id",
            &[entry.id.as_str().into(), now.into()],
        )?;
        if fresh.is_empty() {
            return Ok(());
        }
        match &entry.change {
            CatalogChange::Upsert { record } => {
                self.sql.exec(
                    "INSERT INTO keys (id, created_at, version, deleted, record) VALUES (?1, ?2, ?3, 0, ?4) \
                     ON CONFLICT (id) DO UPDATE SET version = ?3, record = ?4 WHERE deleted = 0 AND version < ?3",
                    &[
                        record.id.as_str().into(),
                        record.created_at.into(),
                        record.updated_at.into(),
                        to_json(record)?.into(),
                    ],
                )?;
            }
            CatalogChange::Remove { key_id, version } => {
                self.sql.exec(
                    "INSERT INTO keys (id, created_at, version, deleted) VALUES (?1, 0, ?2, 1) \
                     ON CONFLICT (id) DO UPDATE SET deleted = 1, record = NULL, version = max(version, ?2)",
                    &[key_id.as_str().into(), (*version).into()],
                )?;
            }
            CatalogChange::Unchanged => {}
        }
        if let Some(notice) = &entry.notice {
            self.notify(notice)?;
        }
        if let Some(event) = &entry.event {
            self.notify(&Notification::of_audit(&entry.project, event))?;
            self.sql.exec(
                "INSERT OR IGNORE INTO events (id, at, key_id, action, event) VALUES (?, ?, ?, ?, ?)",
                &[
                    event.id.as_str().into(),
                    event.at.into(),
                    event.key_id.as_deref().unwrap_or("").into(),
                    event.action.as_str().into(),
                    to_json(event)?.into(),
                ],
            )?;
        }
        Ok(())
    }

    fn apply_usage(&self, push: &UsagePush) -> Result<(), SqlError> {
        let key_id = push.key_id.as_str();
        let last = self.sql.exec("SELECT seq FROM pushes WHERE key_id = ?", &[key_id.into()])?;
        if last.first().and_then(|row| row[0].int()).is_some_and(|seq| seq >= push.seq as i64) {
            return Ok(());
        }
        self.sql.exec(
            "INSERT OR REPLACE INTO pushes (key_id, seq) VALUES (?, ?)",
            &[key_id.into(), (push.seq as i64).into()],
        )?;
        for (start, counts) in &push.hours {
            let start = *start;
            for granularity in [Granularity::Hour, Granularity::Day] {
                for (outcome, &n) in &counts.0 {
                    self.sql.exec(
                        "INSERT INTO usage (granularity, start, key_id, outcome, n) VALUES (?1, ?2, ?3, ?4, ?5) \
                         ON CONFLICT (granularity, start, key_id, outcome) DO UPDATE SET n = n + ?5",
                        &[
                            granularity.as_str().into(),
                            granularity.bucket(start).into(),
                            key_id.into(),
                            outcome.as_str().into(),
                            i64::try_from(n).unwrap_or(i64::MAX).into(),
                        ],
                    )?;
                }
            }
        }
        if let Some(at) = push.last_used_at {
            self.sql.exec(
                "UPDATE keys SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?",
                &[at.into(), key_id.into()],
            )?;
        }
        Ok(())
    }

    fn prune(&self, now: UnixMillis) -> Result<(), SqlError> {
        let cutoff = now - self.retention_millis;
        self.sql.exec("DELETE FROM events WHERE at < ?", &[cutoff.into()])?;
        self.sql.exec("DELETE FROM applied WHERE at < ?", &[cutoff.into()])?;
        self.sql.exec("DELETE FROM notices WHERE at < ?", &[cutoff.into()])?;
        for granularity in [Granularity::Hour, Granularity::Day] {
            let oldest = granularity.bucket(now - granularity.kept_millis());
            self.sql.exec(
                "DELETE FROM usage WHERE granularity = ? AND start < ?",
                &[granularity.as_str().into(), oldest.into()],
            )?;
        }
        Ok(())
    }

    fn live_keys(&self) -> Result<u64, SqlError> {
        let rows = self.sql.exec("SELECT count(*) FROM keys WHERE deleted = 0", &[])?;
        Ok(rows.first().and_then(|row| row[0].int()).unwrap_or(0) as u64)
    }
}

fn to_json(value: &impl serde::Serialize) -> Result<String, SqlError> {
    serde_json::to_string(value).map_err(|e| SqlError(format!("cannot encode a row: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(value: &SqlValue) -> Result<T, SqlError> {
    let text = value.text().ok_or_else(|| SqlError("a stored row is not text".into()))?;
    serde_json::from_str(text).map_err(|e| SqlError(format!("a stored row does not parse: {e}")))
}
