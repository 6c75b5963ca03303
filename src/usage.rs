//! Usage history: the outcome of every check of a key, counted per hour and
//! per UTC day, and the queries over it.
//!
//! Guarantees: hourly buckets are kept for [`HOURLY_DAYS`] days and daily
//! buckets for [`DAILY_DAYS`]; a query is refused unless its range fits what
//! is kept; counts saturate instead of wrapping.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::Error;
use crate::record::{rfc3339, time_param, UnixMillis, FIRST_RFC3339_MILLIS};

pub const HOUR_MILLIS: UnixMillis = 3600 * 1000;
pub const DAY_MILLIS: UnixMillis = 24 * HOUR_MILLIS;
/// How long hourly buckets are kept.
pub const HOURLY_DAYS: i64 = 7;
/// How long daily buckets are kept.
pub const DAILY_DAYS: i64 = 90;

/// What a check of a key came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Valid,
    RateLimited,
    InsufficientPermissions,
    ProjectMismatch,
    Disabled,
    Expired,
    UsageExceeded,
    IpNotAllowed,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Valid,
        Outcome::RateLimited,
        Outcome::InsufficientPermissions,
        Outcome::ProjectMismatch,
        Outcome::Disabled,
        Outcome::Expired,
        Outcome::UsageExceeded,
        Outcome::IpNotAllowed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Valid => "valid",
            Outcome::RateLimited => "rate_limited",
            Outcome::InsufficientPermissions => "insufficient_permissions",
            Outcome::ProjectMismatch => "project_mismatch",
            Outcome::Disabled => "disabled",
            Outcome::Expired => "expired",
            Outcome::UsageExceeded => "usage_exceeded",
            Outcome::IpNotAllowed => "ip_not_allowed",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|outcome| outcome.as_str() == text)
    }
}

/// Counts per outcome (absent = 0).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Counts(pub BTreeMap<Outcome, u64>);

impl Counts {
    pub fn add(&mut self, outcome: Outcome, n: u64) {
        let count = self.0.entry(outcome).or_default();
        *count = count.saturating_add(n);
    }

    pub fn total(&self) -> u64 {
        self.0.values().fold(0, |sum, n| sum.saturating_add(*n))
    }

    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// Every outcome, zeros included, as the contract shows counts.
    pub fn to_json(&self) -> Map<String, Value> {
        Outcome::ALL
            .iter()
            .map(|outcome| (outcome.as_str().to_owned(), json!(self.0.get(outcome).copied().unwrap_or(0))))
            .collect()
    }
}

/// Bucket width of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Hour,
    Day,
}

impl Granularity {
    pub fn millis(self) -> UnixMillis {
        match self {
            Granularity::Hour => HOUR_MILLIS,
            Granularity::Day => DAY_MILLIS,
        }
    }

    /// The start of the bucket holding `at`.
    pub fn bucket(self, at: UnixMillis) -> UnixMillis {
        at - at.rem_euclid(self.millis())
    }

    /// How far back buckets of this width are kept.
    pub fn kept_millis(self) -> UnixMillis {
        match self {
            Granularity::Hour => HOURLY_DAYS * DAY_MILLIS,
            Granularity::Day => DAILY_DAYS * DAY_MILLIS,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Hour => "hour",
            Granularity::Day => "day",
        }
    }
}

/// A validated `?granularity=&from=&to=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageQuery {
    pub granularity: Granularity,
    pub from: UnixMillis,
    pub to: UnixMillis,
}

impl UsageQuery {
    /// Parses the query parameters at `now` (`param` reads one by name).
    pub fn parse<'q>(param: impl Fn(&str) -> Option<&'q str>, now: UnixMillis) -> Result<UsageQuery, Error> {
        let granularity = match param("granularity") {
            None | Some("hour") => Granularity::Hour,
            Some("day") => Granularity::Day,
            Some(_) => return Err(Error::validation("granularity", "Must be hour or day.")),
        };
        let to = time_param(&param, "to")?.unwrap_or(now);
        let default_span = match granularity {
            Granularity::Hour => DAY_MILLIS,
            Granularity::Day => 30 * DAY_MILLIS,
        };
        // The default never reaches before the first time an answer can write.
        let from = time_param(&param, "from")?.unwrap_or((to - default_span).max(FIRST_RFC3339_MILLIS));
        if from > to {
            return Err(Error::validation("from", "Must not be after `to`."));
        }
        if to - from > granularity.kept_millis() {
            let message = match granularity {
                Granularity::Hour => format!("An hourly range spans at most {HOURLY_DAYS} days (hourly buckets are kept that long); use granularity=day."),
                Granularity::Day => format!("A daily range spans at most {DAILY_DAYS} days (daily buckets are kept that long)."),
            };
            return Err(Error::validation("from", message));
        }
        Ok(UsageQuery { granularity, from, to })
    }

    /// Whether the bucket starting at `start` overlaps the range.
    pub fn covers(&self, start: UnixMillis) -> bool {
        start <= self.to && start + self.granularity.millis() > self.from
    }
}

/// Buckets by start time.
pub type Buckets = BTreeMap<UnixMillis, Counts>;

/// A key's history: hourly and daily buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    #[serde(default)]
    pub hourly: Buckets,
    #[serde(default)]
    pub daily: Buckets,
}

impl History {
    pub fn count(&mut self, outcome: Outcome, at: UnixMillis) {
        self.hourly.entry(Granularity::Hour.bucket(at)).or_default().add(outcome, 1);
        self.daily.entry(Granularity::Day.bucket(at)).or_default().add(outcome, 1);
    }

    /// Drops what is older than kept.
    pub fn prune(&mut self, now: UnixMillis) {
        for (buckets, granularity) in [(&mut self.hourly, Granularity::Hour), (&mut self.daily, Granularity::Day)] {
            let oldest = granularity.bucket(now - granularity.kept_millis());
            buckets.retain(|&start, _| start >= oldest);
        }
    }

    /// The buckets of `query` that have traffic, oldest first.
    pub fn series(&self, query: &UsageQuery) -> Vec<(UnixMillis, &Counts)> {
        let buckets = match query.granularity {
            Granularity::Hour => &self.hourly,
            Granularity::Day => &self.daily,
        };
        buckets
            .iter()
            .filter(|(&start, counts)| query.covers(start) && !counts.is_empty())
            .map(|(&start, counts)| (start, counts))
            .collect()
    }
}

/// A series as the contract shows it: `[{"start", "<outcome>": n, …}]`.
pub fn series_json<'c>(series: impl IntoIterator<Item = (UnixMillis, &'c Counts)>) -> Value {
    let entries = series.into_iter().map(|(start, counts)| {
        let mut entry = Map::new();
        entry.insert("start".into(), json!(rfc3339(start)));
        entry.extend(counts.to_json());
        Value::Object(entry)
    });
    Value::Array(entries.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: UnixMillis = 1_795_420_800_000; // 2026-11-23T08:00:00Z

    fn query(params: &[(&str, &str)]) -> Result<UsageQuery, Error> {
        UsageQuery::parse(|name| params.iter().find(|(n, _)| *n == name).map(|(_, v)| *v), T0)
    }

    fn field(result: Result<UsageQuery, Error>) -> String {
        match result {
            Err(Error::Validation { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn outcomes_are_counted_per_hour_and_per_day() {
        let mut history = History::default();
        history.count(Outcome::Valid, T0 + 1);
        history.count(Outcome::Valid, T0 + HOUR_MILLIS - 1);
        history.count(Outcome::RateLimited, T0 + HOUR_MILLIS);
        let hours = history.series(&UsageQuery { granularity: Granularity::Hour, from: T0, to: T0 + 2 * HOUR_MILLIS });
        assert_eq!(hours.len(), 2);
        assert_eq!((hours[0].0, hours[0].1 .0[&Outcome::Valid]), (T0, 2));
        assert_eq!(hours[1].1 .0[&Outcome::RateLimited], 1);
        let days = history.series(&UsageQuery { granularity: Granularity::Day, from: T0, to: T0 });
        assert_eq!((days.len(), days[0].1.total()), (1, 3));
        let json = series_json(hours);
        assert_eq!(json[0]["start"], "2026-11-23T08:00:00Z");
        assert_eq!((json[0]["valid"].clone(), json[0]["expired"].clone()), (json!(2), json!(0)));
    }

    #[test]
    fn buckets_older_than_kept_are_pruned() {
        let mut history = History::default();
        history.count(Outcome::Valid, T0);
        history.prune(T0 + HOURLY_DAYS * DAY_MILLIS);
        assert_eq!((history.hourly.len(), history.daily.len()), (1, 1), "exactly as old as kept: kept");
        history.prune(T0 + HOURLY_DAYS * DAY_MILLIS + HOUR_MILLIS);
        assert_eq!((history.hourly.len(), history.daily.len()), (0, 1));
        history.prune(T0 + (DAILY_DAYS + 1) * DAY_MILLIS);
        assert!(history.daily.is_empty());
    }

    #[test]
    fn queries_are_validated_and_name_their_parameter() {
        let q = query(&[]).unwrap();
        assert_eq!((q.granularity, q.from, q.to), (Granularity::Hour, T0 - DAY_MILLIS, T0));
        assert_eq!(query(&[("granularity", "day")]).unwrap().from, T0 - 30 * DAY_MILLIS);
        assert_eq!(field(query(&[("granularity", "minute")])), "granularity");
        assert_eq!(field(query(&[("from", "yesterday")])), "from");
        assert_eq!(field(query(&[("to", "2026-13-01T00:00:00Z")])), "to");
        assert_eq!(field(query(&[("from", "2026-11-23T09:00:00Z"), ("to", "2026-11-23T08:00:00Z")])), "from");
        assert_eq!(field(query(&[("from", "2026-08-01T00:00:00Z"), ("to", "2026-11-23T00:00:00Z")])), "from");
        assert!(query(&[("from", "2026-11-16T08:00:00Z"), ("to", "2026-11-23T08:00:00Z")]).is_ok(), "7 days hourly");
        assert_eq!(field(query(&[("granularity", "day"), ("from", "2026-01-01T00:00:00Z")])), "from");
    }

    /// Reproducer: with `to` on the first day of the year 0000, the default
    /// `from` lay before it, and the answer showed it as "" (found while
    /// writing the contract test's hooks).
    #[test]
    fn the_default_range_starts_no_earlier_than_rfc3339_can_write() {
        for granularity in ["hour", "day"] {
            let q = query(&[("granularity", granularity), ("to", "0000-01-01T12:00:00Z")]).unwrap();
            assert_eq!(rfc3339(q.from), "0000-01-01T00:00:00Z", "{granularity}");
        }
    }

    #[test]
    fn counts_saturate() {
        let mut counts = Counts::default();
        counts.add(Outcome::Valid, u64::MAX);
        counts.add(Outcome::Valid, 1);
        counts.add(Outcome::Disabled, 1);
        assert_eq!((counts.0[&Outcome::Valid], counts.total()), (u64::MAX, u64::MAX));
    }
}
