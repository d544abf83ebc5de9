//! Calendar periods in a time zone: boundaries are local midnights, stored as UTC instants.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The length of a calendar window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodKind {
    /// A local day.
    Day,
    /// An ISO week, Monday to Sunday.
    Week,
    /// A calendar month.
    Month,
    /// A calendar quarter (January, April, July, October).
    Quarter,
}

impl PeriodKind {
    /// The serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
            Self::Quarter => "quarter",
        }
    }

    /// The local date on which the period containing `date` starts.
    pub fn first_day(self, date: NaiveDate) -> NaiveDate {
        match self {
            Self::Day => date,
            Self::Week => date - Duration::days(i64::from(date.weekday().num_days_from_monday())),
            Self::Month => date.with_day(1).unwrap_or(date),
            Self::Quarter => {
                let month = (date.month0() / 3) * 3 + 1;
                NaiveDate::from_ymd_opt(date.year(), month, 1).unwrap_or(date)
            }
        }
    }

    /// The first day of the period after the one starting on `first_day`.
    pub fn next_first_day(self, first_day: NaiveDate) -> NaiveDate {
        let next = match self {
            Self::Day => first_day.checked_add_signed(Duration::days(1)),
            Self::Week => first_day.checked_add_signed(Duration::days(7)),
            Self::Month => first_day.checked_add_months(Months::new(1)),
            Self::Quarter => first_day.checked_add_months(Months::new(3)),
        };
        next.unwrap_or(first_day)
    }
}

impl FromStr for PeriodKind {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            "month" => Ok(Self::Month),
            "quarter" => Ok(Self::Quarter),
            other => Err(format!(
                "unknown period {other:?}; expected day, week, month or quarter"
            )),
        }
    }
}

impl fmt::Display for PeriodKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One period: `[start, end)` in UTC, with the local date it starts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
    /// The local date the period starts on.
    pub first_day: NaiveDate,
}

/// The instant local midnight starts `date` in `tz`. Where a time-zone change skips midnight
/// (some zones move clocks at 00:00), the day starts at the first local time that exists.
pub fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    for minutes in (0..=180).step_by(15) {
        if let Some(at) = tz
            .from_local_datetime(&(midnight + Duration::minutes(minutes)))
            .earliest()
        {
            return at.with_timezone(&Utc);
        }
    }
    midnight.and_utc()
}

impl Period {
    /// The period of `kind` in `tz` that contains `at`.
    pub fn containing(kind: PeriodKind, tz: Tz, at: DateTime<Utc>) -> Self {
        Self::starting_on(kind, tz, kind.first_day(at.with_timezone(&tz).date_naive()))
    }

    /// The period of `kind` in `tz` that contains the local date `date`.
    pub fn of_date(kind: PeriodKind, tz: Tz, date: NaiveDate) -> Self {
        Self::starting_on(kind, tz, kind.first_day(date))
    }

    fn starting_on(kind: PeriodKind, tz: Tz, first_day: NaiveDate) -> Self {
        Self {
            start: local_midnight(tz, first_day),
            end: local_midnight(tz, kind.next_first_day(first_day)),
            first_day,
        }
    }

    /// The period right after this one.
    pub fn next(self, kind: PeriodKind, tz: Tz) -> Self {
        Self::starting_on(kind, tz, kind.next_first_day(self.first_day))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::New_York, Europe::Berlin};

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_berlin_month_starts_at_local_midnight() {
        let october = Period::containing(PeriodKind::Month, Berlin, utc("2026-10-15T12:00:00Z"));
        assert_eq!(october.start, utc("2026-09-30T22:00:00Z"), "CEST is UTC+2");
        assert_eq!(
            october.end,
            utc("2026-10-31T23:00:00Z"),
            "CET is UTC+1 after the switch"
        );
        // The first hours of 1 November in UTC are still October in Berlin… until 23:00 UTC.
        assert_eq!(
            Period::containing(PeriodKind::Month, Berlin, utc("2026-10-31T22:59:59Z")).start,
            october.start
        );
        assert_eq!(
            Period::containing(PeriodKind::Month, Berlin, utc("2026-10-31T23:00:00Z")).start,
            october.end
        );
    }

    #[test]
    fn dst_days_are_23_and_25_hours_long() {
        let spring = Period::of_date(
            PeriodKind::Day,
            Berlin,
            NaiveDate::from_ymd_opt(2026, 3, 29).unwrap(),
        );
        assert_eq!(spring.end - spring.start, Duration::hours(23));
        let autumn = Period::of_date(
            PeriodKind::Day,
            Berlin,
            NaiveDate::from_ymd_opt(2026, 10, 25).unwrap(),
        );
        assert_eq!(autumn.end - autumn.start, Duration::hours(25));
        let spring_ny = Period::of_date(
            PeriodKind::Day,
            New_York,
            NaiveDate::from_ymd_opt(2026, 3, 8).unwrap(),
        );
        assert_eq!(spring_ny.start, utc("2026-03-08T05:00:00Z"));
        assert_eq!(spring_ny.end, utc("2026-03-09T04:00:00Z"));
        let autumn_ny = Period::of_date(
            PeriodKind::Day,
            New_York,
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
        );
        assert_eq!(autumn_ny.end - autumn_ny.start, Duration::hours(25));
    }

    #[test]
    fn iso_weeks_cross_the_year_end() {
        // 2026-12-31 is a Thursday; its ISO week runs Monday 28 December to Sunday 3 January.
        let week = Period::of_date(
            PeriodKind::Week,
            Berlin,
            NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
        );
        assert_eq!(
            week.first_day,
            NaiveDate::from_ymd_opt(2026, 12, 28).unwrap()
        );
        assert_eq!(week.end, utc("2027-01-03T23:00:00Z"));
        assert_eq!(
            week.next(PeriodKind::Week, Berlin).first_day,
            NaiveDate::from_ymd_opt(2027, 1, 4).unwrap()
        );
    }

    #[test]
    fn quarters_and_leap_days() {
        let q = Period::of_date(
            PeriodKind::Quarter,
            New_York,
            NaiveDate::from_ymd_opt(2028, 2, 29).unwrap(),
        );
        assert_eq!(q.first_day, NaiveDate::from_ymd_opt(2028, 1, 1).unwrap());
        assert_eq!(q.end, utc("2028-04-01T04:00:00Z"), "EDT from March");
        let feb = Period::of_date(
            PeriodKind::Month,
            Berlin,
            NaiveDate::from_ymd_opt(2028, 2, 10).unwrap(),
        );
        assert_eq!(feb.end - feb.start, Duration::days(29));
        let q4 = Period::of_date(
            PeriodKind::Quarter,
            Berlin,
            NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
        );
        assert_eq!(
            q4.next(PeriodKind::Quarter, Berlin).first_day,
            NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()
        );
    }

    #[test]
    fn a_zone_that_skips_midnight_starts_the_day_at_the_first_real_time() {
        // Chile moves clocks forward at midnight (2026-09-06 00:00 does not exist in Santiago).
        let day = Period::of_date(
            PeriodKind::Day,
            chrono_tz::America::Santiago,
            NaiveDate::from_ymd_opt(2026, 9, 6).unwrap(),
        );
        assert_eq!(day.start, utc("2026-09-06T04:00:00Z"));
        assert_eq!(day.end - day.start, Duration::hours(23));
    }
}
