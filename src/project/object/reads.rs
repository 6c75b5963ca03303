//! The pages a project's object answers: keys newest first, audit events,
//! failed event notifications, and usage totals with the busiest keys.

use super::{from_json, ProjectDecisions};
use crate::ids::KeyId;
use crate::project::query::{AuditQuery, EventsQuery, ListQuery, Position};
use crate::project::sql::{Sql, SqlError};
use crate::project::{AuditEvent, CatalogItem, FailedEvent, ProjectAnswer, TopKey};
use crate::record::{KeyRecord, UnixMillis};
use crate::usage::{Counts, Outcome, UsageQuery};

/// Rows read per statement while a listing filters in Rust.
const LIST_BATCH: i64 = 200;
const TOP_KEYS: i64 = 10;

/// Later than any time stored, and exact as a JavaScript number (the
/// object's SQLite binds its parameters through JavaScript).
const LATEST: UnixMillis = (1 << 53) - 1;

impl<S: Sql> ProjectDecisions<S> {
    pub(super) fn failed_events(&self, query: &EventsQuery) -> Result<ProjectAnswer, SqlError> {
        let after = query.after.as_ref();
        let rows = self.sql.exec(
            "SELECT notice, failed_at FROM notices WHERE failed_at IS NOT NULL \
             AND (?1 IS NULL OR failed_at < ?1 OR (failed_at = ?1 AND id < ?2)) \
             ORDER BY failed_at DESC, id DESC LIMIT ?3",
            &[
                after.map(|position| position.at).into(),
                after.map(|position| position.id.as_str()).into(),
                (query.limit as i64 + 1).into(),
            ],
        )?;
        let mut events = rows
            .iter()
            .map(|row| Ok(FailedEvent { notice: from_json(&row[0])?, failed_at: row[1].int().unwrap_or(0) }))
            .collect::<Result<Vec<_>, SqlError>>()?;
        let cursor =
            cut_to_page(&mut events, query.limit, |last| Position { at: last.failed_at, id: last.notice.id.clone() });
        Ok(ProjectAnswer::FailedEvents { events, cursor })
    }

    /// Newest first from the cursor, filtered in Rust (scope implication
    /// does not fit SQL), read in batches until a page and one more are found.
    pub(super) fn list(&self, query: &ListQuery) -> Result<ProjectAnswer, SqlError> {
        let mut position = query.after.clone().unwrap_or(Position { at: LATEST, id: String::new() });
        let mut page: Vec<CatalogItem> = Vec::new();
        loop {
            let rows = self.sql.exec(
                "SELECT created_at, id, record, last_used_at FROM keys \
                 WHERE deleted = 0 AND (created_at < ?1 OR (created_at = ?1 AND id < ?2)) \
                 ORDER BY created_at DESC, id DESC LIMIT ?3",
                &[position.at.into(), position.id.as_str().into(), LIST_BATCH.into()],
            )?;
            for row in &rows {
                let record: KeyRecord = from_json(&row[2])?;
                if query.matches(&record) {
                    page.push(CatalogItem { record, last_used_at: row[3].int() });
                }
            }
            match rows.last() {
                Some(last) if page.len() <= query.limit && rows.len() as i64 == LIST_BATCH => {
                    position = Position { at: last[0].int().unwrap_or(0), id: last[1].text().unwrap_or("").to_owned() };
                }
                _ => break,
            }
        }
        let cursor = cut_to_page(&mut page, query.limit, |last| Position {
            at: last.record.created_at,
            id: last.record.id.to_string(),
        });
        Ok(ProjectAnswer::Keys { keys: page, cursor })
    }

    pub(super) fn audit(&self, query: &AuditQuery) -> Result<ProjectAnswer, SqlError> {
        let after = query.after.as_ref();
        let rows = self.sql.exec(
            "SELECT event FROM events WHERE (?1 IS NULL OR at < ?1 OR (at = ?1 AND id < ?2)) \
             AND (?3 IS NULL OR key_id = ?3) AND (?4 IS NULL OR action = ?4) \
             AND (?5 IS NULL OR at >= ?5) AND (?6 IS NULL OR at <= ?6) \
             ORDER BY at DESC, id DESC LIMIT ?7",
            &[
                after.map(|position| position.at).into(),
                after.map(|position| position.id.as_str()).into(),
                query.key_id.as_ref().map(KeyId::as_str).into(),
                query.action.map(|action| action.as_str()).into(),
                query.since.into(),
                query.until.into(),
                (query.limit as i64 + 1).into(),
            ],
        )?;
        let mut events: Vec<AuditEvent> = rows.iter().map(|row| from_json(&row[0])).collect::<Result<_, _>>()?;
        let cursor = cut_to_page(&mut events, query.limit, |last| Position { at: last.at, id: last.id.clone() });
        Ok(ProjectAnswer::Events { events, cursor })
    }

    pub(super) fn usage(&self, query: &UsageQuery) -> Result<ProjectAnswer, SqlError> {
        let width = query.granularity.millis();
        let range = [query.granularity.as_str().into(), (query.from - width).into(), query.to.into()];
        let in_range = "granularity = ?1 AND start > ?2 AND start <= ?3";
        let rows = self.sql.exec(
            &format!(
                "SELECT start, outcome, sum(n) FROM usage WHERE {in_range} GROUP BY start, outcome ORDER BY start"
            ),
            &range,
        )?;
        let mut totals = Counts::default();
        let mut series: Vec<(UnixMillis, Counts)> = Vec::new();
        for row in &rows {
            let (Some(start), Some(outcome), Some(n)) =
                (row[0].int(), row[1].text().and_then(Outcome::parse), row[2].int())
            else {
                continue;
            };
            totals.add(outcome, n as u64);
            match series.last_mut() {
                Some((last, counts)) if *last == start => counts.add(outcome, n as u64),
                _ => {
                    let mut counts = Counts::default();
                    counts.add(outcome, n as u64);
                    series.push((start, counts));
                }
            }
        }
        let top = self.sql.exec(
            &format!(
                "SELECT usage.key_id, sum(n) AS requests, keys.record FROM usage LEFT JOIN keys ON keys.id = usage.key_id \
                 WHERE {in_range} GROUP BY usage.key_id ORDER BY requests DESC, usage.key_id LIMIT {TOP_KEYS}"
            ),
            &range,
        )?;
        let top_keys = top
            .iter()
            .filter_map(|row| {
                let key_id = KeyId::parse(row[0].text()?).ok()?;
                let name = row[2]
                    .text()
                    .and_then(|json| serde_json::from_str::<KeyRecord>(json).ok())
                    .map(|record| record.name);
                Some(TopKey { key_id, name, requests: row[1].int()? as u64 })
            })
            .collect();
        Ok(ProjectAnswer::Usage { totals, series, top_keys })
    }
}

/// Cuts `items`, read with one more than a page, to `limit`; the cursor after
/// the last one kept, if that one more was there.
fn cut_to_page<T>(items: &mut Vec<T>, limit: usize, position_of: impl Fn(&T) -> Position) -> Option<String> {
    (items.len() > limit).then(|| {
        items.truncate(limit);
        position_of(&items[limit - 1]).to_cursor()
    })
}
