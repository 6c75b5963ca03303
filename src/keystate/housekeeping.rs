//! What a key's and an owner's object keep in memory between calls: since
//! when counts wait to be written, the alarm they set, and when their outbox
//! is to be delivered to the project's object.

use super::delivery::{OUTBOX_DELAY_MILLIS, RETRY_MILLIS};
use crate::project::{OutboxEntry, ProjectCall};
use crate::record::UnixMillis;

/// How long admitted requests may be counted in memory only: writing the
/// counters on every request would cost a third of the throughput, and what
/// a crash can forget is at most this last second of counts.
pub const FLUSH_MILLIS: UnixMillis = 1000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Housekeeping {
    /// Since when memory holds counts that storage lacks.
    unflushed_since: Option<UnixMillis>,
    /// The alarm this instance set and has not seen fire, if any.
    alarm_at: Option<UnixMillis>,
    /// When the outbox is to be delivered (after a write, or a failed delivery).
    deliver_at: Option<UnixMillis>,
}

impl Housekeeping {
    /// As loaded from storage: what it still `owes` the project's object is delivered at once.
    pub fn loaded(owes: bool) -> Housekeeping {
        Housekeeping { deliver_at: owes.then_some(UnixMillis::MIN), ..Housekeeping::default() }
    }

    /// Memory holds counts storage lacks (also when writing them failed:
    /// memory keeps them, and the runtime retries the alarm).
    pub fn counted(&mut self, now: UnixMillis) {
        self.unflushed_since.get_or_insert(now);
    }

    /// The whole state was written, counters included.
    pub fn written(&mut self) {
        self.unflushed_since = None;
    }

    /// The alarm fired; whether counts wait to be written.
    pub fn alarm_rang(&mut self) -> bool {
        self.alarm_at = None;
        self.unflushed_since.take().is_some()
    }

    /// Setting the alarm failed: the next call or alarm sets it again.
    pub fn alarm_not_set(&mut self) {
        self.alarm_at = None;
    }

    /// The outbox is to be delivered by `at` (an earlier time stands).
    pub fn deliver_by(&mut self, at: UnixMillis) {
        self.deliver_at.get_or_insert(at);
    }

    /// Entries joined the outbox: the alarm delivers them if the worker did not.
    pub fn queued(&mut self, now: UnixMillis) {
        self.deliver_by(now + OUTBOX_DELAY_MILLIS);
    }

    /// Whether a delivery (first, or again) is due at `now`.
    pub fn delivery_due(&self, now: UnixMillis) -> bool {
        self.deliver_at.is_some_and(|at| at <= now)
    }

    /// A delivery is under way: its answer says when the next is due.
    pub fn delivering(&mut self) {
        self.deliver_at = None;
    }

    /// The project's object answered `delivery` (`acknowledged`) or not: the
    /// entries it took leave `outbox`; the rest go later, all of them again
    /// after [`RETRY_MILLIS`] if it did not answer.
    pub fn delivered(
        &mut self,
        outbox: &mut Vec<OutboxEntry>,
        delivery: &ProjectCall,
        acknowledged: bool,
        now: UnixMillis,
    ) {
        if !acknowledged {
            self.deliver_at = Some(now + RETRY_MILLIS);
            return;
        }
        if let ProjectCall::Apply { entries, .. } = delivery {
            outbox.retain(|queued| !entries.iter().any(|delivered| delivered.id == queued.id));
        }
        // Entries queued while this delivery was under way go with the next.
        self.deliver_at = (!outbox.is_empty()).then_some(now + OUTBOX_DELAY_MILLIS);
    }

    /// The alarm to set at `now`, if the earliest wanted comes before the one
    /// pending: a flush [`FLUSH_MILLIS`] after the first unwritten count, the
    /// delivery while the object `owes` one, or any of `also`.
    pub fn next_alarm(
        &mut self,
        now: UnixMillis,
        owes: bool,
        also: impl IntoIterator<Item = UnixMillis>,
    ) -> Option<UnixMillis> {
        let flush = self.unflushed_since.map(|since| since + FLUSH_MILLIS);
        let deliver = self.deliver_at.filter(|_| owes);
        // "At once" (a time already past) is now: never earlier.
        let wanted = flush.into_iter().chain(deliver).chain(also).min()?.max(now);
        if self.alarm_at.is_some_and(|pending| pending <= wanted) {
            return None;
        }
        self.alarm_at = Some(wanted);
        Some(wanted)
    }
}
