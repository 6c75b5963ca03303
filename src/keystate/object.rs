//! A key's Durable Object as it runs: when to write, when the alarm rings,
//! what to deliver. The object executes these plans and decides nothing.

use super::housekeeping::Housekeeping;
use super::{Change, Hold, KeyState, LimiterAnswer, LimiterCall, Refusal, IDLE_MILLIS};
use crate::events::{self, ExpiryNotices, Notification, RATE_LIMITED_NOTICE_MILLIS};
use crate::owner::OwnerVerdict;
use crate::project::audit::new_event_id;
use crate::project::{CatalogChange, OutboxEntry, ProjectCall};
use crate::ratelimit::LimitState;
use crate::record::UnixMillis;

/// A key's Durable Object as it runs: the state it holds in memory, and what
/// storage, the alarm and the project's object still owe it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyObject {
    pub state: KeyState,
    housekeeping: Housekeeping,
    /// Whether events are sent (`EVENTS_URL` is set): this object then
    /// notices `key.rate_limited` and `key.expiring`.
    pub notify: bool,
}

/// What the object must do for a call, besides answering it.
#[derive(Debug, Clone, PartialEq)]
pub struct Effects {
    pub answer: LimiterAnswer,
    /// Write the whole state to storage before answering: an admin change.
    pub write_state: bool,
    /// Set the alarm to this time (it comes before any alarm pending).
    pub set_alarm_at: Option<UnixMillis>,
}

/// What the object must do when its alarm fires, in this order.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmPlan {
    /// Write the counters and usage: pending counts, counters the idle
    /// cleanup dropped, or a push about to be sent.
    pub write_counters: bool,
    /// Write the whole state first: a notice joined the outbox.
    pub write_state: bool,
    /// Send this to the project's object, then report with [`KeyObject::delivered`].
    pub deliver: Option<ProjectCall>,
    /// Set the next alarm to this time.
    pub set_alarm_at: Option<UnixMillis>,
}

/// What the object must do once a delivery is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveredPlan {
    /// Write the whole state (the outbox shrank) and the usage.
    pub write_state: bool,
    pub set_alarm_at: Option<UnixMillis>,
}

impl KeyObject {
    /// The object as storage last held it; an outbox it holds is delivered at once.
    pub fn loaded(state: KeyState, notify: bool) -> KeyObject {
        let housekeeping = Housekeeping::loaded(!state.outbox.is_empty() || state.usage.in_flight.is_some());
        KeyObject { state, housekeeping, notify }
    }

    /// Decides `call` at `now`. A check of a key with an owner answers
    /// [`LimiterAnswer::Held`]: ask the owner's object, then [`KeyObject::on_owner`].
    pub fn on_call(&mut self, call: LimiterCall, now: UnixMillis) -> Effects {
        let outbox_before = self.state.outbox.len();
        let (answer, change) = self.state.apply(call, now);
        self.effects(answer, change, outbox_before, now)
    }

    /// Settles a held check with its owner's `verdict` (`None`: the owner's
    /// object could not be asked; the answer is then [`LimiterAnswer::OwnerUnavailable`]).
    pub fn on_owner(&mut self, hold: Hold, verdict: Option<OwnerVerdict>, now: UnixMillis) -> Effects {
        let outbox_before = self.state.outbox.len();
        let (answer, change) = self.state.settle(hold, verdict, now);
        self.effects(answer, change, outbox_before, now)
    }

    fn effects(&mut self, answer: LimiterAnswer, mut change: Change, outbox_before: usize, now: UnixMillis) -> Effects {
        if self.notify_rate_limited(&answer, now) {
            change = Change::Everything;
        }
        match change {
            Change::Nothing => {}
            Change::Counters => self.housekeeping.counted(now),
            Change::Everything => self.housekeeping.written(),
        }
        if self.state.outbox.len() > outbox_before {
            self.housekeeping.queued(now);
        }
        Effects { answer, write_state: change == Change::Everything, set_alarm_at: self.next_alarm(now) }
    }

    /// Housekeeping at `now`: flush what is pending, drop the counters of a
    /// key idle for a day, deliver what the project's object is owed.
    pub fn on_alarm(&mut self, now: UnixMillis) -> AlarmPlan {
        let pending = self.housekeeping.alarm_rang();
        let dropped = self.state.counters_idle(now);
        if dropped {
            self.state.limit = LimitState::default();
        }
        // Buckets older than kept go (written with the counters).
        self.state.usage.history.prune(now);
        let write_state = self.notify_expiring(now);
        if write_state {
            self.housekeeping.deliver_by(now);
        }
        let deliver = self.due_delivery(now);
        let write_counters = pending || dropped || deliver.is_some();
        AlarmPlan { write_counters, write_state, deliver, set_alarm_at: self.next_alarm(now) }
    }

    /// Queues `key.rate_limited` for the first refusal by the rate limit in
    /// an hour; whether it did (the state must then be written).
    fn notify_rate_limited(&mut self, answer: &LimiterAnswer, now: UnixMillis) -> bool {
        let LimiterAnswer::Checked { refusal: Some(Refusal::RateLimited), rate, .. } = answer else { return false };
        let state = &mut self.state;
        let quiet = state.rate_limited_noticed_at.is_none_or(|at| now - at >= RATE_LIMITED_NOTICE_MILLIS);
        let (Some(record), true, true) = (&state.record, self.notify, quiet) else { return false };
        let policy = rate.as_ref().map_or("minute", |rate| rate.reported.as_str());
        let Ok(id) = new_event_id() else { return false };
        let notice = Notification::rate_limited(id, record, policy, now);
        state.outbox.push(notice_entry(notice));
        state.rate_limited_noticed_at = Some(now);
        true
    }

    /// Queues the `key.expiring` notice due at `now`, if one is; whether it did.
    fn notify_expiring(&mut self, now: UnixMillis) -> bool {
        let state = &mut self.state;
        let Some(record) = state.record.as_ref().filter(|_| self.notify && !state.deleted) else { return false };
        let Some(stage) = events::due_expiry_notice(record, state.expiry_notices, now) else { return false };
        let (Some(expires_at), Ok(id)) = (record.expires_at, new_event_id()) else { return false };
        state.outbox.push(notice_entry(Notification::expiring(id, record, expires_at, now)));
        state.expiry_notices = Some(ExpiryNotices { expires_at, stages: stage + 1 });
        true
    }

    /// What to send the project's object at `now`, if anything is due.
    fn due_delivery(&mut self, now: UnixMillis) -> Option<ProjectCall> {
        let retry_due = self.housekeeping.delivery_due(now);
        let outbox_due = retry_due && !self.state.outbox.is_empty();
        let state = &mut self.state;
        // A push in flight goes again only when a retry is due; new counts when their interval ends.
        let push_due = match state.usage.in_flight {
            Some(_) => retry_due,
            None => outbox_due || state.usage.push_at().is_some_and(|at| at <= now),
        };
        let usage = match &state.record {
            Some(record) if push_due => state.usage.due_push(&record.id, state.last_used_at, now),
            _ => None,
        };
        let entries = if outbox_due { state.outbox.clone() } else { Vec::new() };
        let project = entries
            .first()
            .map(|entry| entry.project.clone())
            .or_else(|| state.record.as_ref().map(|record| record.project.clone()))?;
        if entries.is_empty() && usage.is_none() {
            return None;
        }
        Some(ProjectCall::Apply { project, entries, usage })
    }

    /// The project's object answered `delivery` (`acknowledged`) or not.
    pub fn delivered(&mut self, delivery: &ProjectCall, acknowledged: bool, now: UnixMillis) -> DeliveredPlan {
        self.housekeeping.delivered(&mut self.state.outbox, delivery, acknowledged, now);
        if !acknowledged {
            return DeliveredPlan { write_state: false, set_alarm_at: self.next_alarm(now) };
        }
        if let ProjectCall::Apply { usage, .. } = delivery {
            let push = usage.as_ref().map(|push| push.seq);
            if push.is_some() && self.state.usage.in_flight.as_ref().map(|in_flight| in_flight.seq) == push {
                self.state.usage.in_flight = None;
                self.state.usage.pushed_at = Some(now);
            }
        }
        DeliveredPlan { write_state: true, set_alarm_at: self.next_alarm(now) }
    }

    /// Writing the counters failed: memory keeps them, and the runtime retries the alarm.
    pub fn flush_failed(&mut self, now: UnixMillis) {
        self.housekeeping.counted(now);
    }

    /// Setting the alarm failed: the next call or alarm sets it again.
    pub fn alarm_not_set(&mut self) {
        self.housekeeping.alarm_not_set();
    }

    /// The alarm to set now, if the one wanted comes before the one pending:
    /// a flush a second after the first unwritten count, a delivery when due,
    /// else the idle cleanup a day after the last use while counters remain.
    fn next_alarm(&mut self, now: UnixMillis) -> Option<UnixMillis> {
        let counting = self.state.limit != LimitState::default();
        let idle = counting.then(|| self.state.last_activity().unwrap_or(0) + IDLE_MILLIS);
        let usage = &self.state.usage;
        let owes = !self.state.outbox.is_empty() || usage.in_flight.is_some();
        // New counts wait until they have gathered and the push interval has
        // passed, and for the push in flight (which goes again when `deliver_at` says).
        let push = match (&self.state.record, &usage.in_flight) {
            (Some(_), None) => usage.push_at(),
            _ => None,
        };
        let expiry = match &self.state.record {
            Some(record) if self.notify && !self.state.deleted => {
                events::next_expiry_notice(record, self.state.expiry_notices, now)
            }
            _ => None,
        };
        self.housekeeping.next_alarm(now, owes, idle.into_iter().chain(push).chain(expiry))
    }
}

/// An outbox entry that carries `notice` alone.
fn notice_entry(notice: Notification) -> OutboxEntry {
    OutboxEntry {
        id: notice.id.clone(),
        project: notice.project.clone(),
        change: CatalogChange::Unchanged,
        event: None,
        notice: Some(notice),
    }
}
