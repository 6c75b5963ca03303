//! Credits (issue #16, groundwork): a balance a key spends per admitted
//! request, set back to a fixed amount on a UTC schedule.
//!
//! Guarantees: a refill sets the balance to its amount (it never adds); it
//! happens at 00:00 UTC (`daily`) or on `day` of the month (`monthly`,
//! clamped to the month's last day), whenever the balance is next looked at
//! after that moment, so no request is needed to trigger it; a spend that
//! the balance cannot cover changes nothing; all arithmetic saturates.

use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime, Time};

use crate::record::UnixMillis;

const DAY: UnixMillis = 24 * 3600 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Daily,
    /// On this day of each month (1–31; clamped to the month's last day).
    Monthly {
        day: u8,
    },
}

/// Set the balance back to `amount` at each of `interval`'s moments. As
/// JSON: `{"interval": "daily"|"monthly", "amount": n, "day": 1–31}`
/// (`day` for monthly only, default 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RefillJson", into = "RefillJson")]
pub struct Refill {
    pub interval: Interval,
    pub amount: u64,
}

/// That a key has credits (its record says so; its object holds the
/// [`Balance`]), and how they refill. A key without is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credits {
    pub refill: Option<Refill>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefillJson {
    /// `daily` or `monthly` (a string, not an enum: smaller in wasm).
    interval: String,
    /// Whole numbers, also as `5.0` (the document's `integer`, as elsewhere).
    #[serde(deserialize_with = "crate::app::bodies::whole")]
    amount: u64,
    #[serde(default, deserialize_with = "crate::app::bodies::whole_or_null", skip_serializing_if = "Option::is_none")]
    day: Option<u64>,
}

impl TryFrom<RefillJson> for Refill {
    type Error = &'static str;

    fn try_from(json: RefillJson) -> Result<Refill, &'static str> {
        let interval = match (json.interval.as_str(), json.day) {
            ("daily", None) => Interval::Daily,
            ("daily", Some(_)) => return Err("Must not give `day` with a daily refill."),
            ("monthly", None) => Interval::Monthly { day: 1 },
            ("monthly", Some(day @ 1..=31)) => Interval::Monthly { day: day as u8 },
            ("monthly", Some(_)) => return Err("Must give `day` from 1 to 31."),
            _ => return Err("Must give `interval` `daily` or `monthly`."),
        };
        Ok(Refill { interval, amount: json.amount })
    }
}

impl From<Refill> for RefillJson {
    fn from(refill: Refill) -> RefillJson {
        let (interval, day) = match refill.interval {
            Interval::Daily => ("daily", None),
            Interval::Monthly { day } => ("monthly", Some(u64::from(day))),
        };
        RefillJson { interval: interval.to_owned(), amount: refill.amount, day }
    }
}

impl Refill {
    /// Whether this refill never gives more than `other` does: the same
    /// moments, an amount no larger.
    pub fn within(&self, other: &Refill) -> bool {
        self.interval == other.interval && self.amount <= other.amount
    }
}

/// A key's credits as its object holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub remaining: u64,
    /// When the balance was last set (by an admin, or by a refill): refills
    /// due after this moment apply.
    pub set_at: UnixMillis,
}

/// Why a spend was refused: the balance is short, and when it refills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted {
    pub remaining: u64,
    /// The next refill, if the key has one.
    pub refills_at: Option<UnixMillis>,
}

impl Refill {
    /// The latest refill moment at or before `now`.
    pub fn last_at(&self, now: UnixMillis) -> UnixMillis {
        match self.interval {
            Interval::Daily => now.div_euclid(DAY) * DAY,
            Interval::Monthly { day } => {
                let (year, month) = year_month(now);
                let this_month = monthly_moment(year, month, day);
                if this_month <= now {
                    this_month
                } else {
                    let (year, month) = previous_month(year, month);
                    monthly_moment(year, month, day)
                }
            }
        }
    }

    /// The first refill moment after `now`.
    pub fn next_at(&self, now: UnixMillis) -> UnixMillis {
        match self.interval {
            Interval::Daily => (now.div_euclid(DAY) + 1).saturating_mul(DAY),
            Interval::Monthly { day } => {
                let (year, month) = year_month(now);
                let this_month = monthly_moment(year, month, day);
                if this_month > now {
                    this_month
                } else {
                    let (year, month) = next_month(year, month);
                    monthly_moment(year, month, day)
                }
            }
        }
    }
}

impl Balance {
    /// A balance set to `remaining` at `now`.
    pub fn set(remaining: u64, now: UnixMillis) -> Balance {
        Balance { remaining, set_at: now }
    }

    /// The balance at `now`: refilled if a refill moment passed since it was set.
    pub fn at(self, refill: Option<&Refill>, now: UnixMillis) -> Balance {
        match refill {
            Some(refill) if refill.last_at(now) > self.set_at => Balance { remaining: refill.amount, set_at: now },
            _ => self,
        }
    }

    /// Spends `cost` at `now` (after any refill due), or refuses and changes nothing.
    pub fn spend(&mut self, cost: u64, refill: Option<&Refill>, now: UnixMillis) -> Result<(), Exhausted> {
        let current = self.at(refill, now);
        match current.remaining.checked_sub(cost) {
            Some(left) => {
                *self = Balance { remaining: left, ..current };
                Ok(())
            }
            None => {
                Err(Exhausted { remaining: current.remaining, refills_at: refill.map(|refill| refill.next_at(now)) })
            }
        }
    }
}

fn year_month(now: UnixMillis) -> (i32, Month) {
    let date = OffsetDateTime::from_unix_timestamp(now.div_euclid(1000)).map_or(Date::MIN, |at| at.date());
    (date.year(), date.month())
}

fn previous_month(year: i32, month: Month) -> (i32, Month) {
    match month {
        Month::January => (year - 1, Month::December),
        month => (year, month.previous()),
    }
}

fn next_month(year: i32, month: Month) -> (i32, Month) {
    match month {
        Month::December => (year + 1, Month::January),
        month => (year, month.next()),
    }
}

/// 00:00 UTC on `day` of the month, or on its last day if shorter.
fn monthly_moment(year: i32, month: Month, day: u8) -> UnixMillis {
    let day = day.clamp(1, time::util::days_in_month(month, year));
    Date::from_calendar_date(year, month, day)
        .map_or(UnixMillis::MAX, |date| date.with_time(Time::MIDNIGHT).assume_utc().unix_timestamp() * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::parse_rfc3339;
    use proptest::prelude::*;

    fn at(text: &str) -> UnixMillis {
        parse_rfc3339(text).unwrap()
    }

    fn monthly(day: u8, amount: u64) -> Refill {
        Refill { interval: Interval::Monthly { day }, amount }
    }

    #[test]
    fn daily_refills_come_at_midnight_utc() {
        let daily = Refill { interval: Interval::Daily, amount: 100 };
        assert_eq!(daily.last_at(at("2026-12-04T23:59:59.999Z")), at("2026-12-04T00:00:00Z"));
        assert_eq!(daily.next_at(at("2026-12-04T23:59:59.999Z")), at("2026-12-05T00:00:00Z"));
        assert_eq!(daily.next_at(at("2026-12-05T00:00:00Z")), at("2026-12-06T00:00:00Z"));
        let mut balance = Balance::set(3, at("2026-12-04T10:00:00Z"));
        balance.spend(3, Some(&daily), at("2026-12-04T11:00:00Z")).unwrap();
        let refused = balance.spend(1, Some(&daily), at("2026-12-04T23:00:00Z")).unwrap_err();
        assert_eq!(refused, Exhausted { remaining: 0, refills_at: Some(at("2026-12-05T00:00:00Z")) });
        // Set, not added: the day's amount whatever was left.
        balance.spend(1, Some(&daily), at("2026-12-05T00:00:00Z")).unwrap();
        assert_eq!(balance.remaining, 99);
    }

    #[test]
    fn monthly_refills_clamp_to_the_months_last_day() {
        let end = monthly(31, 10);
        assert_eq!(end.next_at(at("2027-01-31T00:00:00Z")), at("2027-02-28T00:00:00Z"));
        assert_eq!(end.next_at(at("2028-01-31T00:00:00Z")), at("2028-02-29T00:00:00Z"), "a leap year");
        assert_eq!(end.next_at(at("2027-04-01T00:00:00Z")), at("2027-04-30T00:00:00Z"));
        assert_eq!(end.last_at(at("2027-03-15T00:00:00Z")), at("2027-02-28T00:00:00Z"));
        let leap_day = monthly(29, 10);
        assert_eq!(leap_day.next_at(at("2027-02-01T00:00:00Z")), at("2027-02-28T00:00:00Z"));
        assert_eq!(leap_day.next_at(at("2028-02-01T00:00:00Z")), at("2028-02-29T00:00:00Z"));
        assert_eq!(leap_day.next_at(at("2028-02-29T00:00:00Z")), at("2028-03-29T00:00:00Z"));
        let first = monthly(1, 10);
        assert_eq!(first.next_at(at("2026-12-31T23:59:59Z")), at("2027-01-01T00:00:00Z"), "across the year");
        assert_eq!(first.last_at(at("2027-01-01T00:00:00Z")), at("2027-01-01T00:00:00Z"));
    }

    #[test]
    fn a_balance_set_after_a_refill_moment_keeps_its_value_until_the_next() {
        let first = monthly(1, 1000);
        let balance = Balance::set(5, at("2027-03-10T00:00:00Z"));
        assert_eq!(balance.at(Some(&first), at("2027-03-31T23:59:59Z")).remaining, 5);
        assert_eq!(balance.at(Some(&first), at("2027-04-01T00:00:00Z")).remaining, 1000);
        assert_eq!(balance.at(None, at("2030-01-01T00:00:00Z")).remaining, 5, "no refill: it never comes back");
        let mut refused = balance;
        assert_eq!(refused.spend(6, None, at("2027-03-11T00:00:00Z")).unwrap_err().refills_at, None);
        assert_eq!(refused, balance, "a refused spend changes nothing");
        let mut free = balance;
        free.spend(0, None, at("2027-03-11T00:00:00Z")).unwrap();
        assert_eq!(free.remaining, 5, "a cost of 0 spends nothing");
    }

    #[test]
    fn refills_read_and_write_as_the_contract_says() {
        let read = |text: &str| serde_json::from_str::<Refill>(text).map_err(|e| e.to_string());
        assert_eq!(read(r#"{"interval":"daily","amount":5}"#), Ok(Refill { interval: Interval::Daily, amount: 5 }));
        assert_eq!(read(r#"{"interval":"monthly","amount":5}"#), Ok(monthly(1, 5)), "day 1 by default");
        assert_eq!(read(r#"{"interval":"monthly","amount":5,"day":31}"#), Ok(monthly(31, 5)));
        for bad in [
            r#"{"interval":"monthly","amount":5,"day":0}"#,
            r#"{"interval":"monthly","amount":5,"day":32}"#,
            r#"{"interval":"daily","amount":5,"day":3}"#,
            r#"{"interval":"weekly","amount":5}"#,
            r#"{"interval":"daily","amount":-1}"#,
            r#"{"interval":"daily","amount":5,"extra":1}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
        assert_eq!(serde_json::to_string(&monthly(3, 7)).unwrap(), r#"{"interval":"monthly","amount":7,"day":3}"#);
    }

    proptest! {
        #[test]
        fn refill_moments_bracket_now(now in 0i64..4_102_444_800_000, day in 1u8..=31, daily in any::<bool>()) {
            let refill = Refill { interval: if daily { Interval::Daily } else { Interval::Monthly { day } }, amount: 1 };
            let (last, next) = (refill.last_at(now), refill.next_at(now));
            prop_assert!(last <= now && now < next, "{last} <= {now} < {next}");
            prop_assert!(next - last <= 31 * DAY);
            prop_assert_eq!(refill.last_at(next), next);
        }

        #[test]
        fn spending_never_goes_below_zero(start in 0u64..100, costs in proptest::collection::vec(0u64..20, 0..40)) {
            let mut balance = Balance::set(start, 0);
            let mut spent = 0;
            for cost in costs {
                if balance.spend(cost, None, 1).is_ok() {
                    spent += cost;
                }
            }
            prop_assert_eq!(balance.remaining + spent, start);
        }
    }
}
