//! What a key's object owes its project's object: the outbox of admin
//! changes and the usage counts not yet pushed, and when to send them.
//!
//! Guarantees: an outbox entry leaves the outbox only once the project's
//! object acknowledged it; a usage push is sent again unchanged (same `seq`)
//! until acknowledged, so it is counted once; new counts are pushed at most
//! once per [`PUSH_MILLIS`], never per request.

use serde::{Deserialize, Serialize};

use crate::ids::KeyId;
use crate::project::UsagePush;
use crate::record::UnixMillis;
use crate::usage::{Buckets, Granularity, History, Outcome};

/// The least time between two usage pushes of a key.
pub const PUSH_MILLIS: UnixMillis = 60_000;
/// How long new counts gather before they may be pushed (the first push of a
/// key comes this long after its first use).
pub const GATHER_MILLIS: UnixMillis = 1_000;
/// When the alarm delivers an admin change the worker normally delivered already.
pub const OUTBOX_DELAY_MILLIS: UnixMillis = 5_000;
/// When a delivery that failed is tried again.
pub const RETRY_MILLIS: UnixMillis = 30_000;

/// A key's usage history and push bookkeeping (stored with its counters).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageState {
    pub history: History,
    /// Hourly counts not yet in a push.
    #[serde(default)]
    pub unpushed: Buckets,
    /// A push sent and not yet acknowledged.
    #[serde(default)]
    pub in_flight: Option<UsagePush>,
    #[serde(default)]
    pub last_seq: u64,
    #[serde(default)]
    pub pushed_at: Option<UnixMillis>,
    /// When the oldest count in `unpushed` was made.
    #[serde(default)]
    pub unpushed_since: Option<UnixMillis>,
}

impl UsageState {
    pub fn count(&mut self, outcome: Outcome, now: UnixMillis) {
        self.history.count(outcome, now);
        self.unpushed_since.get_or_insert(now);
        self.unpushed.entry(Granularity::Hour.bucket(now)).or_default().add(outcome, 1);
    }

    /// The push to send at `now`, if one is due: the one in flight again, else
    /// the new counts once [`PUSH_MILLIS`] passed since the last push.
    pub fn due_push(&mut self, key_id: &KeyId, last_used_at: Option<UnixMillis>, now: UnixMillis) -> Option<UsagePush> {
        if let Some(push) = &self.in_flight {
            return Some(push.clone());
        }
        if self.unpushed.is_empty() || self.pushed_at.is_some_and(|at| now - at < PUSH_MILLIS) {
            return None;
        }
        self.last_seq += 1;
        let hours = std::mem::take(&mut self.unpushed).into_iter().collect();
        self.unpushed_since = None;
        let push = UsagePush { key_id: key_id.clone(), seq: self.last_seq, hours, last_used_at };
        self.in_flight = Some(push.clone());
        Some(push)
    }

    /// When new counts may be pushed, if there are any: once they gathered
    /// for [`GATHER_MILLIS`], and [`PUSH_MILLIS`] after the last push.
    pub fn push_at(&self) -> Option<UnixMillis> {
        if self.unpushed.is_empty() {
            return None;
        }
        let gathered = self.unpushed_since.map_or(UnixMillis::MIN, |since| since + GATHER_MILLIS);
        Some(gathered.max(self.pushed_at.map_or(UnixMillis::MIN, |at| at + PUSH_MILLIS)))
    }
}
