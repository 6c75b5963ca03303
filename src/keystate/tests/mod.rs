//! The key state's tests, by subject, and the fixtures they share: the key
//! [`record`] (other modules' tests use it too) and the calls as tests write them.

use super::*;
use crate::usage::UsageQuery;

mod alarms;
mod checks;
mod credits;
mod notices;
mod writes;

pub(crate) const NOW: UnixMillis = 1_795_420_800_000;

/// Key `key_…01` of project `acme` with `scopes`, written at [`NOW`].
pub(crate) fn record(scopes: &[&str]) -> KeyRecord {
    crate::testing::key_record("key_0000000000000000000001", "acme", scopes, NOW)
}

impl LimiterCall {
    /// An admin write of `record` under digest `d1`, if the object's version
    /// is `expected` (`None`: a create); no balance, secret or outbox entry.
    pub(crate) fn write(record: KeyRecord, expected: Option<UnixMillis>) -> LimiterCall {
        LimiterCall::Put {
            digest: "d1".into(),
            record,
            expected,
            entry: None,
            balance: None,
            lower_only: false,
            sealed: None,
        }
    }

    /// This write, setting the balance of a key with credits to `amount` too.
    pub(crate) fn with_balance(mut self, amount: u64) -> LimiterCall {
        let LimiterCall::Put { balance, .. } = &mut self else { panic!("not a write: {self:?}") };
        *balance = Some(amount);
        self
    }
}

/// A check of digest `d1` as tests write it: only what differs from a plain
/// one (a caller's copy at [`NOW`], no scope, project or address, cost 1) is named.
pub(crate) struct Check<'a> {
    pub seen_updated_at: UnixMillis,
    pub adopt: Option<Adopt>,
    pub scope: Option<&'a str>,
    pub cost: u64,
    pub ip: Option<&'a str>,
}

impl Default for Check<'_> {
    fn default() -> Self {
        Check { seen_updated_at: NOW, adopt: None, scope: None, cost: 1, ip: None }
    }
}

impl Check<'_> {
    pub(crate) fn call(self) -> LimiterCall {
        LimiterCall::Check {
            tag: digest_tag("d1"),
            seen_updated_at: self.seen_updated_at,
            adopt: self.adopt,
            scope: self.scope.map(Into::into),
            project: None,
            cost: self.cost,
            ip: self.ip.map(Into::into),
        }
    }
}

/// The answer to a check of a key that is gone, or was never adopted.
fn unknown() -> LimiterAnswer {
    LimiterAnswer::Checked { refusal: Some(Refusal::Unknown), record: None, rate: None, credits: None }
}

/// An alarm with nothing to do and no next alarm.
fn quiet() -> AlarmPlan {
    AlarmPlan { write_counters: false, write_state: false, deliver: None, set_alarm_at: None }
}

/// A key's object holding [`record`]`(&[])`, created at [`NOW`].
fn object_with_key() -> KeyObject {
    let mut object = KeyObject::default();
    let effects = object.on_call(LimiterCall::write(record(&[]), None), NOW);
    assert_eq!((effects.write_state, effects.set_alarm_at), (true, None), "nothing to count yet");
    object
}

/// A plain check of the object's key at `now`, by a caller whose copy is current.
fn admitted_check(object: &mut KeyObject, now: UnixMillis) -> Effects {
    object.on_call(Check::default().call(), now)
}

/// The hour before [`NOW`] and the hour after, by the hour.
fn hours_around_now() -> UsageQuery {
    UsageQuery { granularity: crate::usage::Granularity::Hour, from: NOW - 3_600_000, to: NOW + 3_600_000 }
}
