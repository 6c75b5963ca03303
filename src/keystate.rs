//! The authoritative state of one key, and the housekeeping of the Durable
//! Object that holds it, as pure decisions.
//!
//! The object loads a [`KeyObject`] once, hands it each call and each alarm,
//! and only carries out what it answers: storage writes and alarm times. There
//! is no `await` inside a decision, so concurrent requests to one key are
//! decided one after another and cannot over-admit.
//!
//! Guarantees: an admin change (`Put`, `Delete`) wins over any KV copy on the
//! very next check; every admin write is a compare-and-set on the version
//! (`updated_at`) its writer read, so no write is lost; a deletion is final:
//! the tombstone is never dropped and no write or KV copy brings the key back;
//! checks run cheapest first and a denied request spends no rate-limit token;
//! admitted requests are counted in memory and written within [`FLUSH_MILLIS`];
//! a key's counters are dropped a day after its last use.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::ratelimit::{self, LimitState, RateDecision};
use crate::record::{KeyRecord, KeyStatus, UnixMillis};
use crate::scope::{Scope, ScopeSet};

/// How long a key may sit unused before its counters are dropped.
pub const IDLE_MILLIS: UnixMillis = 24 * 3600 * 1000;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyState {
    /// Digest hex of the key's secret; a check with another digest is refused.
    pub digest: Option<String>,
    pub record: Option<KeyRecord>,
    pub deleted: bool,
    pub limit: LimitState,
    pub last_used_at: Option<UnixMillis>,
    /// Last admin write (`Put` or `Delete`).
    pub changed_at: Option<UnixMillis>,
}

/// What the worker asks of a key's Durable Object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LimiterCall {
    /// A use of the key: judge the authoritative record, then spend one request.
    /// `seen_updated_at` is the `updated_at` of the caller's copy: the answer holds
    /// the record only when it differs. `record` (the KV copy) is sent only after
    /// an answer of [`LimiterAnswer::NeedRecord`], and adopted only then.
    Check {
        digest: String,
        seen_updated_at: UnixMillis,
        record: Option<KeyRecord>,
        scope: Option<String>,
        project: Option<String>,
    },
    /// An admin write, applied before KV is written, if the object's record
    /// is still at version `expected` (its `updated_at`; `None` to create).
    Put {
        digest: String,
        record: KeyRecord,
        expected: Option<UnixMillis>,
    },
    /// A deletion, if the record is still at version `expected` (`None`: whatever it is).
    Delete {
        expected: Option<UnixMillis>,
    },
    /// The authoritative record, for admin reads and read-modify-write.
    Get,
    Usage,
}

/// Why a check refused a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    Unknown,
    Disabled,
    Expired,
    ProjectMismatch,
    MissingScope(String),
    RateLimited,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum LimiterAnswer {
    /// `record` is `None` when the caller's copy is current (or the key was refused unseen).
    Checked {
        refusal: Option<Refusal>,
        record: Option<KeyRecord>,
        rate: Option<RateDecision>,
    },
    /// The object has never seen this key: send the KV copy along.
    NeedRecord,
    Done,
    /// A write refused: the record is no longer at the version the writer read.
    Conflict,
    /// A write refused: the key is deleted, for good.
    Gone,
    Record {
        record: Option<KeyRecord>,
        deleted: bool,
    },
    Usage {
        requests_today: u32,
        last_used_at: Option<UnixMillis>,
        rate: Option<RateDecision>,
    },
}

/// What a call changed, so storage writes only that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Nothing,
    /// Only `limit` and `last_used_at`: the per-request write.
    Counters,
    /// The record, digest or tombstone (and perhaps the counters).
    Everything,
}

impl KeyState {
    /// Applies one call at `now`; returns the answer and what changed.
    pub fn apply(&mut self, call: LimiterCall, now: UnixMillis) -> (LimiterAnswer, Change) {
        match call {
            LimiterCall::Check { digest, seen_updated_at, record, scope, project } => {
                self.check(digest, seen_updated_at, record, scope.as_deref(), project.as_deref(), now)
            }
            LimiterCall::Put { digest, record, expected } => {
                if let Some(refused) = self.refuse_write(|held| expected == Some(held.updated_at)) {
                    return (refused, Change::Nothing);
                }
                self.digest = Some(digest);
                self.record = Some(record);
                self.changed_at = Some(now);
                (LimiterAnswer::Done, Change::Everything)
            }
            LimiterCall::Delete { expected } => {
                if let Some(refused) = self.refuse_write(|held| expected.is_none_or(|v| v == held.updated_at)) {
                    return (refused, Change::Nothing);
                }
                *self = KeyState { deleted: true, changed_at: Some(now), ..KeyState::default() };
                (LimiterAnswer::Done, Change::Everything)
            }
            LimiterCall::Get => {
                (LimiterAnswer::Record { record: self.record.clone(), deleted: self.deleted }, Change::Nothing)
            }
            LimiterCall::Usage => {
                let now_micros = now * 1000;
                let rate = self.record.as_ref().map(|r| ratelimit::peek(r.rate_limit, self.limit, now_micros));
                let requests_today = self.limit.count_on(now_micros);
                (LimiterAnswer::Usage { requests_today, last_used_at: self.last_used_at, rate }, Change::Nothing)
            }
        }
    }

    /// Why a write must not apply, if it must not: the key is deleted, or the
    /// record held is not the version the writer read. An object that has
    /// never held a record (the key lives only in KV, or does not exist yet)
    /// takes the write: there is nothing to lose.
    fn refuse_write(&self, read_this: impl Fn(&KeyRecord) -> bool) -> Option<LimiterAnswer> {
        match &self.record {
            _ if self.deleted => Some(LimiterAnswer::Gone),
            Some(held) if !read_this(held) => Some(LimiterAnswer::Conflict),
            _ => None,
        }
    }

    fn check(
        &mut self,
        digest: String,
        seen_updated_at: UnixMillis,
        kv_record: Option<KeyRecord>,
        scope: Option<&str>,
        project: Option<&str>,
        now: UnixMillis,
    ) -> (LimiterAnswer, Change) {
        let unknown = LimiterAnswer::Checked { refusal: Some(Refusal::Unknown), record: None, rate: None };
        if self.deleted || self.digest.as_ref().is_some_and(|held| *held != digest) {
            return (unknown, Change::Nothing);
        }
        let mut change = Change::Nothing;
        if self.record.is_none() {
            // First sight of a key KV knows (e.g. written to KV by hand): adopt the KV copy.
            let Some(kv_record) = kv_record else { return (LimiterAnswer::NeedRecord, Change::Nothing) };
            self.digest = Some(digest);
            self.record = Some(kv_record);
            change = Change::Everything;
        }
        let record = self.record.as_ref().expect("set above");
        // The caller's copy is current unless an admin write moved `updated_at`.
        let newer = (record.updated_at != seen_updated_at).then(|| record.clone());
        let now_micros = now * 1000;
        let refusal = match judge(record, now, scope, project) {
            Err(refusal @ (Refusal::Unknown | Refusal::Disabled | Refusal::Expired)) => {
                return (LimiterAnswer::Checked { refusal: Some(refusal), record: None, rate: None }, change)
            }
            Err(refusal) => Some(refusal),
            Ok(()) => None,
        };
        let (rate, limit) = match refusal {
            Some(_) => (ratelimit::peek(record.rate_limit, self.limit, now_micros), self.limit),
            None => ratelimit::check(record.rate_limit, self.limit, now_micros),
        };
        let refusal = refusal.or((!rate.admitted).then_some(Refusal::RateLimited));
        if refusal.is_none() {
            self.limit = limit;
            self.last_used_at = Some(now);
            if change == Change::Nothing {
                change = Change::Counters;
            }
        }
        (LimiterAnswer::Checked { refusal, record: newer, rate: Some(rate) }, change)
    }

    /// When the state last moved (a use or an admin write).
    pub fn last_activity(&self) -> Option<UnixMillis> {
        self.last_used_at.max(self.changed_at)
    }

    /// Whether an idle alarm at `now` should drop the counters: a day after
    /// the last use. Nothing else is ever dropped: a deleted key's tombstone
    /// (a few bytes) stays, so no KV copy left behind can bring it back.
    pub fn counters_idle(&self, now: UnixMillis) -> bool {
        let idle = self.last_activity().is_none_or(|at| now - at >= IDLE_MILLIS);
        idle && self.limit != LimitState::default()
    }
}

/// Status, expiry, project and scope, cheapest first. Unknown and deleted look alike.
pub fn judge(record: &KeyRecord, now: UnixMillis, scope: Option<&str>, project: Option<&str>) -> Result<(), Refusal> {
    if record.status == KeyStatus::Inactive {
        return Err(Refusal::Disabled);
    }
    if record.is_expired(now) {
        return Err(Refusal::Expired);
    }
    if project.is_some_and(|project| project != record.project) {
        return Err(Refusal::ProjectMismatch);
    }
    if let Some(wanted) = scope {
        let wanted = Scope::parse(wanted).map_err(|_| Refusal::MissingScope(wanted.to_owned()))?;
        if !ScopeSet::from_stored(&record.scopes).grants(&wanted) {
            return Err(Refusal::MissingScope(wanted.to_string()));
        }
    }
    Ok(())
}

impl Refusal {
    /// The contract's error for this refusal.
    pub fn to_error(&self, rate: Option<&RateDecision>) -> Error {
        match self {
            Refusal::Unknown => Error::unknown_key(),
            Refusal::Disabled => Error::ApiKeyDisabled,
            Refusal::Expired => Error::ApiKeyExpired,
            Refusal::ProjectMismatch => Error::ProjectMismatch,
            Refusal::MissingScope(scope) => Error::InsufficientPermissions { required_scope: scope.clone() },
            Refusal::RateLimited => Error::RateLimited {
                retry_after: rate.and_then(|r| r.retry_after).unwrap_or(1),
                policy: rate.map_or("minute", |r| r.reported.as_str()),
            },
        }
    }
}

/// How long admitted requests may be counted in memory only: writing the
/// counters on every request would cost a third of the throughput, and what
/// a crash can forget is at most this last second of counts.
pub const FLUSH_MILLIS: UnixMillis = 1000;

/// A key's Durable Object as it runs: the state it holds in memory, and what
/// storage and the alarm still owe it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyObject {
    pub state: KeyState,
    /// Since when memory holds counts that storage lacks.
    unflushed_since: Option<UnixMillis>,
    /// The alarm this instance set and has not seen fire, if any.
    alarm_at: Option<UnixMillis>,
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

/// What the object must do when its alarm fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlarmPlan {
    /// Write the counters: pending counts, or counters the idle cleanup dropped.
    pub write_counters: bool,
    /// Set the next alarm to this time.
    pub set_alarm_at: Option<UnixMillis>,
}

impl KeyObject {
    /// The object as storage last held it.
    pub fn loaded(state: KeyState) -> KeyObject {
        KeyObject { state, ..KeyObject::default() }
    }

    /// Decides `call` at `now`.
    pub fn on_call(&mut self, call: LimiterCall, now: UnixMillis) -> Effects {
        let (answer, change) = self.state.apply(call, now);
        match change {
            Change::Nothing => {}
            Change::Counters => {
                self.unflushed_since.get_or_insert(now);
            }
            // The whole state is written, counters included.
            Change::Everything => self.unflushed_since = None,
        }
        Effects { answer, write_state: change == Change::Everything, set_alarm_at: self.next_alarm() }
    }

    /// Housekeeping at `now`: flush what is pending, drop the counters of a key idle for a day.
    pub fn on_alarm(&mut self, now: UnixMillis) -> AlarmPlan {
        self.alarm_at = None;
        let dropped = self.state.counters_idle(now);
        if dropped {
            self.state.limit = LimitState::default();
        }
        let pending = self.unflushed_since.take().is_some();
        AlarmPlan { write_counters: pending || dropped, set_alarm_at: self.next_alarm() }
    }

    /// Writing the counters failed: memory keeps them, and the runtime retries the alarm.
    pub fn flush_failed(&mut self, now: UnixMillis) {
        self.unflushed_since.get_or_insert(now);
    }

    /// Setting the alarm failed: the next call or alarm sets it again.
    pub fn alarm_not_set(&mut self) {
        self.alarm_at = None;
    }

    /// The alarm to set now, if the one wanted comes before the one pending:
    /// a flush a second after the first unwritten count, else the idle
    /// cleanup a day after the last use while counters remain.
    fn next_alarm(&mut self) -> Option<UnixMillis> {
        let flush = self.unflushed_since.map(|since| since + FLUSH_MILLIS);
        let counting = self.state.limit != LimitState::default();
        let idle = counting.then(|| self.state.last_activity().unwrap_or(0) + IDLE_MILLIS);
        let wanted = flush.into_iter().chain(idle).min()?;
        if self.alarm_at.is_some_and(|pending| pending <= wanted) {
            return None;
        }
        self.alarm_at = Some(wanted);
        Some(wanted)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ratelimit::Quota;

    const NOW: UnixMillis = 1_795_420_800_000;

    pub(crate) fn record(scopes: &[&str]) -> KeyRecord {
        KeyRecord {
            id: "key_0000000000000000000001".into(),
            project: "acme".into(),
            name: "n".into(),
            prefix: "sk_live_abcd".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            environment: "live".into(),
            status: KeyStatus::Active,
            plan: None,
            rate_limit: Quota::new(60, 1000).unwrap(),
            meta: Default::default(),
            created_at: NOW,
            updated_at: NOW,
            expires_at: None,
            rotated_from: None,
            disabled_by_admin: false,
        }
    }

    /// A check as the worker makes it: first without the KV copy, then with it if asked.
    fn check(state: &mut KeyState, kv: KeyRecord, scope: Option<&str>) -> (Option<Refusal>, Change) {
        let call = |record| LimiterCall::Check {
            digest: "d1".into(),
            seen_updated_at: kv.updated_at,
            record,
            scope: scope.map(Into::into),
            project: None,
        };
        let answer = match state.apply(call(None), NOW) {
            (LimiterAnswer::NeedRecord, Change::Nothing) => state.apply(call(Some(kv.clone())), NOW),
            answer => answer,
        };
        match answer {
            (LimiterAnswer::Checked { refusal, .. }, change) => (refusal, change),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_first_check_adopts_the_kv_record_and_later_ones_ignore_kv() {
        let mut state = KeyState::default();
        assert_eq!(check(&mut state, record(&["bots:read"]), Some("bots:read")), (None, Change::Everything));
        assert_eq!(check(&mut state, record(&["bots:read"]), Some("bots:read")), (None, Change::Counters));
        // KV now serves a stale copy with more scopes: the object's record wins.
        assert_eq!(
            check(&mut state, record(&["bots:read", "admin"]), Some("users:read")).0,
            Some(Refusal::MissingScope("users:read".into()))
        );
    }

    #[test]
    fn a_put_or_delete_wins_over_a_stale_kv_copy() {
        let mut state = KeyState::default();
        state.apply(LimiterCall::Put { digest: "d1".into(), record: record(&[]), expected: None }, NOW);
        assert_eq!(
            check(&mut state, record(&["bots:read"]), Some("bots:read")).0,
            Some(Refusal::MissingScope("bots:read".into()))
        );
        let mut inactive = record(&[]);
        inactive.status = KeyStatus::Inactive;
        state.apply(LimiterCall::Put { digest: "d1".into(), record: inactive, expected: Some(NOW) }, NOW);
        assert_eq!(check(&mut state, record(&[]), None).0, Some(Refusal::Disabled));
        state.apply(LimiterCall::Delete { expected: None }, NOW);
        assert_eq!(check(&mut state, record(&[]), None), (Some(Refusal::Unknown), Change::Nothing));
    }

    #[test]
    fn the_record_travels_back_only_when_the_callers_copy_is_stale() {
        let mut state = KeyState::default();
        let mut current = record(&["bots:read"]);
        current.updated_at = NOW + 5;
        state.apply(LimiterCall::Put { digest: "d1".into(), record: current.clone(), expected: None }, NOW);
        let ask = |seen| LimiterCall::Check {
            digest: "d1".into(),
            seen_updated_at: seen,
            record: None,
            scope: None,
            project: None,
        };
        match state.apply(ask(NOW + 5), NOW).0 {
            LimiterAnswer::Checked { refusal: None, record: None, .. } => {}
            other => panic!("{other:?}"),
        }
        match state.apply(ask(NOW), NOW).0 {
            LimiterAnswer::Checked { refusal: None, record: Some(newer), .. } => assert_eq!(newer, current),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn another_digest_under_the_same_id_is_unknown() {
        let mut state = KeyState::default();
        state.apply(LimiterCall::Put { digest: "d0".into(), record: record(&[]), expected: None }, NOW);
        assert_eq!(check(&mut state, record(&[]), None).0, Some(Refusal::Unknown));
    }

    #[test]
    fn denied_requests_spend_nothing() {
        let mut state = KeyState::default();
        state.apply(LimiterCall::Put { digest: "d1".into(), record: record(&[]), expected: None }, NOW);
        let before = state.clone();
        assert_eq!(
            check(&mut state, record(&[]), Some("bots:read")),
            (Some(Refusal::MissingScope("bots:read".into())), Change::Nothing)
        );
        assert_eq!(state, before);
        assert_eq!(check(&mut state, record(&[]), None), (None, Change::Counters));
        assert_eq!(state.limit.day_count, 1);
        assert_eq!(state.last_used_at, Some(NOW));
    }

    #[test]
    fn idle_counters_are_dropped_after_a_day_and_tombstones_never() {
        let mut state = KeyState::default();
        state.apply(LimiterCall::Put { digest: "d1".into(), record: record(&[]), expected: None }, NOW);
        check(&mut state, record(&[]), None);
        assert!(!state.counters_idle(NOW + IDLE_MILLIS - 1));
        assert!(state.counters_idle(NOW + IDLE_MILLIS));
        state.apply(LimiterCall::Delete { expected: None }, NOW + 5 * IDLE_MILLIS);
        assert!(!state.counters_idle(NOW + 400 * IDLE_MILLIS), "nothing to drop: the tombstone stays");
        assert!(!KeyState::default().counters_idle(NOW));
    }

    fn put(state: &mut KeyState, record: KeyRecord, expected: Option<UnixMillis>) -> LimiterAnswer {
        state.apply(LimiterCall::Put { digest: "d1".into(), record, expected }, NOW).0
    }

    /// Reproducer: PATCH read the record, then wrote it back whole; a DELETE
    /// in between was undone and the deleted key verified again.
    #[test]
    fn a_write_on_a_version_that_moved_on_is_refused_and_a_deletion_is_final() {
        let mut state = KeyState::default();
        let v1 = record(&["bots:read"]);
        assert_eq!(put(&mut state, v1.clone(), None), LimiterAnswer::Done);
        assert_eq!(put(&mut state, v1.clone(), None), LimiterAnswer::Conflict, "a create never overwrites");
        let mut v2 = v1.clone();
        v2.updated_at += 1;
        assert_eq!(put(&mut state, v2.clone(), Some(v1.updated_at)), LimiterAnswer::Done);
        assert_eq!(put(&mut state, v2.clone(), Some(v1.updated_at)), LimiterAnswer::Conflict, "v1 is gone");
        let delete = |expected| LimiterCall::Delete { expected };
        assert_eq!(state.apply(delete(Some(v1.updated_at)), NOW).0, LimiterAnswer::Conflict);
        assert_eq!(state.apply(delete(Some(v2.updated_at)), NOW).0, LimiterAnswer::Done);
        for expected in [None, Some(v2.updated_at), Some(v1.updated_at)] {
            assert_eq!(put(&mut state, v2.clone(), expected), LimiterAnswer::Gone);
        }
        assert_eq!(state.apply(delete(None), NOW).0, LimiterAnswer::Gone);
        // Whatever KV still holds, however much later: never adopted again.
        let mut later = state.clone();
        let kv_copy = LimiterCall::Check {
            digest: "d1".into(),
            seen_updated_at: v2.updated_at,
            record: Some(v2),
            scope: None,
            project: None,
        };
        let (answer, _) = later.apply(kv_copy, NOW + 1000 * IDLE_MILLIS);
        assert_eq!(answer, LimiterAnswer::Checked { refusal: Some(Refusal::Unknown), record: None, rate: None });
    }

    /// A key written to KV by hand has no record in its object yet: its first
    /// admin write adopts it, whatever version the writer read from KV.
    #[test]
    fn the_first_admin_write_of_a_kv_only_key_applies() {
        let mut state = KeyState::default();
        assert_eq!(put(&mut state, record(&[]), Some(12345)), LimiterAnswer::Done);
        let mut fresh = KeyState::default();
        assert_eq!(fresh.apply(LimiterCall::Delete { expected: Some(1) }, NOW).0, LimiterAnswer::Done);
        assert!(fresh.deleted);
    }

    fn admitted_check(object: &mut KeyObject, now: UnixMillis) -> Effects {
        let call =
            LimiterCall::Check { digest: "d1".into(), seen_updated_at: NOW, record: None, scope: None, project: None };
        object.on_call(call, now)
    }

    fn object_with_key() -> KeyObject {
        let mut object = KeyObject::default();
        let put = LimiterCall::Put { digest: "d1".into(), record: record(&[]), expected: None };
        let effects = object.on_call(put, NOW);
        assert_eq!((effects.write_state, effects.set_alarm_at), (true, None), "nothing to count yet");
        object
    }

    #[test]
    fn counts_are_flushed_within_a_second_by_one_alarm() {
        let mut object = object_with_key();
        let first = admitted_check(&mut object, NOW + 10);
        assert_eq!((first.write_state, first.set_alarm_at), (false, Some(NOW + 10 + FLUSH_MILLIS)));
        for at in [NOW + 20, NOW + 900] {
            assert_eq!(admitted_check(&mut object, at).set_alarm_at, None, "the flush alarm is already set");
        }
        let plan = object.on_alarm(NOW + 10 + FLUSH_MILLIS);
        assert!(plan.write_counters);
        assert_eq!(plan.set_alarm_at, Some(NOW + 900 + IDLE_MILLIS), "then the idle cleanup, a day after the last use");
        assert_eq!(object.state.limit.day_count, 3);
        // The next use brings the flush forward again.
        assert_eq!(admitted_check(&mut object, NOW + 5000).set_alarm_at, Some(NOW + 5000 + FLUSH_MILLIS));
    }

    #[test]
    fn an_idle_key_loses_its_counters_after_a_day_and_nothing_else() {
        let mut object = object_with_key();
        admitted_check(&mut object, NOW);
        object.on_alarm(NOW + FLUSH_MILLIS);
        let plan = object.on_alarm(NOW + IDLE_MILLIS);
        assert_eq!(plan, AlarmPlan { write_counters: true, set_alarm_at: None });
        assert_eq!(object.state.limit, LimitState::default());
        assert!(object.state.record.is_some(), "the record stays");
        assert_eq!(object.on_alarm(NOW + 2 * IDLE_MILLIS), AlarmPlan { write_counters: false, set_alarm_at: None });
    }

    #[test]
    fn a_failed_flush_keeps_the_counts_for_the_retried_alarm() {
        let mut object = object_with_key();
        admitted_check(&mut object, NOW);
        assert!(object.on_alarm(NOW + FLUSH_MILLIS).write_counters);
        object.flush_failed(NOW + FLUSH_MILLIS);
        assert_eq!(object.state.limit.day_count, 1, "memory keeps the count");
        let retried = object.on_alarm(NOW + FLUSH_MILLIS + 500);
        assert!(retried.write_counters, "the runtime's retry writes it");
    }

    #[test]
    fn an_alarm_that_could_not_be_set_is_set_by_the_next_call() {
        let mut object = object_with_key();
        assert!(admitted_check(&mut object, NOW).set_alarm_at.is_some());
        object.alarm_not_set();
        assert_eq!(admitted_check(&mut object, NOW + 10).set_alarm_at, Some(NOW + FLUSH_MILLIS));
    }

    #[test]
    fn a_tombstone_outlives_everything_and_wants_no_alarm() {
        let mut object = object_with_key();
        admitted_check(&mut object, NOW);
        let deleted = object.on_call(LimiterCall::Delete { expected: None }, NOW + 100);
        assert!(deleted.write_state, "the tombstone is written before the answer");
        assert_eq!(object.on_alarm(NOW + FLUSH_MILLIS), AlarmPlan { write_counters: false, set_alarm_at: None });
        let later = NOW + 1000 * IDLE_MILLIS;
        assert_eq!(object.on_alarm(later), AlarmPlan { write_counters: false, set_alarm_at: None });
        let answer = admitted_check(&mut object, later).answer;
        assert_eq!(answer, LimiterAnswer::Checked { refusal: Some(Refusal::Unknown), record: None, rate: None });
    }

    #[test]
    fn a_quota_changed_mid_window_applies_to_the_next_request() {
        let mut object = object_with_key();
        let mut slow = record(&[]);
        slow.rate_limit = Quota::new(1, 1000).unwrap();
        slow.updated_at = NOW + 1;
        for at in 0..3 {
            admitted_check(&mut object, NOW + at);
        }
        let put = LimiterCall::Put { digest: "d1".into(), record: slow, expected: Some(NOW) };
        assert_eq!(object.on_call(put, NOW + 3).answer, LimiterAnswer::Done);
        // The backlog of 3 s is within the 10 s tolerance, so one more passes at 1/min; then none.
        assert!(matches!(admitted_check(&mut object, NOW + 4).answer, LimiterAnswer::Checked { refusal: None, .. }));
        match admitted_check(&mut object, NOW + 5).answer {
            LimiterAnswer::Checked { refusal: Some(Refusal::RateLimited), rate: Some(rate), .. } => {
                assert_eq!((rate.minute.limit, rate.minute.remaining), (1, 0));
            }
            other => panic!("{other:?}"),
        }
    }
}
