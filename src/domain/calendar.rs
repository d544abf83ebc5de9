//! Business-hours calendars: when the clock of a response-time SLA runs.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::FieldErrors;
use super::validate;

/// Weekday keys as written in a calendar, Monday first.
pub const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

/// Seconds after local midnight; `86_400` is the end of the day (`"24:00"`).
pub type DaySecond = u32;

/// Opening hours of one day: sorted, non-overlapping `[start, end)` ranges.
pub type DayHours = Vec<(DaySecond, DaySecond)>;

/// A business-hours calendar.
#[derive(Clone, Debug, PartialEq)]
pub struct Calendar {
    /// Public key, e.g. `emea-office`.
    pub key: String,
    /// Display name.
    pub name: String,
    /// The zone the hours are local to.
    pub timezone: Tz,
    /// Opening hours by weekday; a day absent is closed.
    pub hours: BTreeMap<u8, DayHours>,
    /// Local dates that are closed all day.
    pub holidays: BTreeSet<NaiveDate>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A calendar as written by a client.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarInput {
    /// Public key; in a `PUT`, may be left out.
    pub key: Option<String>,
    /// Display name.
    pub name: String,
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// `{"mon": [["09:00", "12:30"], ["13:30", "17:00"]], …}`; absent days are closed.
    #[serde(default)]
    #[schema(schema_with = hours_schema)]
    pub hours: BTreeMap<String, Vec<(String, String)>>,
    /// Closed local dates, `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// The schema of weekly hours: weekday → ranges, each a pair `["HH:MM", "HH:MM"]`.
///
/// Written by hand: a Rust tuple is described with 3.0's `items: [...]`, which is not valid in
/// OpenAPI 3.1; a pair of strings is an array of exactly two.
pub fn hours_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let range = ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::String))
        .min_items(Some(2))
        .max_items(Some(2));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(ArrayBuilder::new().items(range)))
        .description(Some(
            "Weekly hours by day (`mon` … `sun`): ranges `[start, end]` of local times `HH:MM`",
        ))
        .build()
}

fn parse_time(text: &str) -> Option<DaySecond> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(86_400),
        (0..=23, 0..=59) => Some(h * 3600 + m * 60),
        _ => None,
    }
}

fn format_time(second: DaySecond) -> String {
    format!("{:02}:{:02}", second / 3600, second % 3600 / 60)
}

/// Parses an IANA zone name, with the message every resource uses.
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("{name:?} is not an IANA time zone (e.g. Europe/Berlin)"))
}

impl CalendarInput {
    /// Checks every field; `key` is the calendar's key (from the body or the path).
    pub fn parse(self, key: &str, now: DateTime<Utc>) -> Result<Calendar, FieldErrors> {
        let mut errors = FieldErrors::new();
        if let Err(e) = validate::slug(key) {
            errors.insert("key".into(), e);
        }
        if let Err(e) = validate::name(&self.name) {
            errors.insert("name".into(), e);
        }
        let timezone = parse_timezone(&self.timezone)
            .map_err(|e| errors.insert("timezone".into(), e))
            .ok();
        let mut hours = BTreeMap::new();
        for (day, ranges) in &self.hours {
            let Some(&(_, weekday)) = DAYS.iter().find(|(name, _)| name == day) else {
                errors.insert(
                    format!("hours.{day}"),
                    "unknown day; use mon, tue, wed, thu, fri, sat or sun".into(),
                );
                continue;
            };
            let mut parsed: DayHours = Vec::new();
            for (i, (start, end)) in ranges.iter().enumerate() {
                let field = format!("hours.{day}[{i}]");
                match (parse_time(start), parse_time(end)) {
                    (Some(s), Some(e)) if s < e && s < 86_400 => parsed.push((s, e)),
                    (Some(_), Some(_)) => {
                        errors.insert(
                            field,
                            format!("{start}–{end}: the start must come before the end"),
                        );
                    }
                    _ => {
                        errors.insert(field, "times are HH:MM, from 00:00 to 24:00".into());
                    }
                }
            }
            parsed.sort_unstable();
            if parsed.windows(2).any(|pair| pair[0].1 > pair[1].0) {
                errors.insert(format!("hours.{day}"), "ranges overlap".into());
            }
            if !parsed.is_empty() {
                hours.insert(weekday.num_days_from_monday() as u8, parsed);
            }
        }
        let mut holidays = BTreeSet::new();
        for (i, day) in self.holidays.iter().enumerate() {
            match NaiveDate::parse_from_str(day, "%Y-%m-%d") {
                Ok(date) => {
                    holidays.insert(date);
                }
                Err(_) => {
                    errors.insert(
                        format!("holidays[{i}]"),
                        format!("{day:?} is not a date (YYYY-MM-DD)"),
                    );
                }
            }
        }
        match timezone {
            Some(timezone) if errors.is_empty() => Ok(Calendar {
                key: key.into(),
                name: self.name.trim().into(),
                timezone,
                hours,
                holidays,
                created_at: now,
                updated_at: now,
            }),
            _ => Err(errors),
        }
    }
}

impl Calendar {
    /// The weekly hours as written: `{"mon": [["09:00", "17:00"]], …}`.
    pub fn hours_as_text(&self) -> BTreeMap<String, Vec<(String, String)>> {
        DAYS.iter()
            .filter_map(|(name, weekday)| {
                let ranges = self.hours.get(&(weekday.num_days_from_monday() as u8))?;
                Some((
                    name.to_string(),
                    ranges
                        .iter()
                        .map(|&(s, e)| (format_time(s), format_time(e)))
                        .collect(),
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(hours: &[(&str, &[(&str, &str)])], holidays: &[&str]) -> CalendarInput {
        CalendarInput {
            key: None,
            name: "EMEA office".into(),
            timezone: "Europe/Berlin".into(),
            hours: hours
                .iter()
                .map(|(d, r)| {
                    (
                        d.to_string(),
                        r.iter()
                            .map(|(s, e)| (s.to_string(), e.to_string()))
                            .collect(),
                    )
                })
                .collect(),
            holidays: holidays.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn parses_split_days_and_round_trips() {
        let calendar = input(
            &[
                ("mon", &[("13:30", "17:00"), ("09:00", "12:30")]),
                ("sat", &[("10:00", "24:00")]),
            ],
            &["2026-12-25"],
        )
        .parse("emea", Utc::now())
        .unwrap();
        assert_eq!(calendar.hours[&0], vec![(32_400, 45_000), (48_600, 61_200)]);
        let text = calendar.hours_as_text();
        assert_eq!(text["mon"][0], ("09:00".to_string(), "12:30".to_string()));
        assert_eq!(text["sat"][0].1, "24:00");
    }

    #[test]
    fn names_each_bad_field() {
        let mut bad = input(
            &[
                ("mon", &[("17:00", "09:00")]),
                ("tue", &[("09:00", "13:00"), ("12:00", "17:00")]),
                ("funday", &[]),
            ],
            &["25.12.2026"],
        );
        bad.timezone = "Europe/Atlantis".into();
        let errors = bad.parse("emea", Utc::now()).unwrap_err();
        for field in [
            "timezone",
            "hours.mon[0]",
            "hours.tue",
            "hours.funday",
            "holidays[0]",
        ] {
            assert!(errors.contains_key(field), "{field}: {errors:?}");
        }
    }
}

/// When the clock of a response-time SLA runs: always, or in a calendar's business hours.
#[derive(Clone, Copy, Debug)]
pub enum Hours<'a> {
    /// Every second counts.
    Always,
    /// Only business hours count; holidays and absent days are closed.
    Business(&'a Calendar),
}

/// Longest span the business-time walk looks through: a calendar with almost no hours must not
/// make a deadline search run forever.
const MAX_DAYS_WALKED: i64 = 3 * 366;

impl Calendar {
    /// The open intervals of local `date` as UTC instants (none on holidays and closed days).
    fn open_intervals(&self, date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        use chrono::Datelike;
        if self.holidays.contains(&date) {
            return Vec::new();
        }
        let Some(ranges) = self
            .hours
            .get(&(date.weekday().num_days_from_monday() as u8))
        else {
            return Vec::new();
        };
        let at = |second: DaySecond| {
            let midnight = crate::domain::period::local_midnight(self.timezone, date);
            // Wall-clock seconds after midnight; on DST days the instant is found from the local time.
            let naive = date.and_hms_opt(0, 0, 0).unwrap_or_default()
                + chrono::Duration::seconds(i64::from(second));
            use chrono::TimeZone;
            self.timezone
                .from_local_datetime(&naive)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|| midnight + chrono::Duration::seconds(i64::from(second)))
        };
        ranges
            .iter()
            .map(|&(start, end)| (at(start), at(end)))
            .filter(|(s, e)| s < e)
            .collect()
    }
}

impl Hours<'_> {
    /// Seconds of counted time in `[from, to)`.
    pub fn seconds_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        if to <= from {
            return 0;
        }
        match self {
            Self::Always => (to - from).num_seconds(),
            Self::Business(calendar) => {
                let mut total = 0;
                let first = from.with_timezone(&calendar.timezone).date_naive();
                let last = to.with_timezone(&calendar.timezone).date_naive();
                let mut date = first;
                while date <= last {
                    for (open, close) in calendar.open_intervals(date) {
                        let (s, e) = (open.max(from), close.min(to));
                        if s < e {
                            total += (e - s).num_seconds();
                        }
                    }
                    date = date.succ_opt().unwrap_or(last + chrono::Duration::days(1));
                }
                total
            }
        }
    }

    /// The instant at which `seconds` of counted time have passed since `from`; `None` when that
    /// lies beyond the walk (a calendar with hardly any hours).
    pub fn after(&self, from: DateTime<Utc>, seconds: i64) -> Option<DateTime<Utc>> {
        match self {
            Self::Always => Some(from + chrono::Duration::seconds(seconds)),
            Self::Business(calendar) => {
                let mut left = seconds;
                let mut date = from.with_timezone(&calendar.timezone).date_naive();
                for _ in 0..MAX_DAYS_WALKED {
                    for (open, close) in calendar.open_intervals(date) {
                        let start = open.max(from);
                        if start >= close {
                            continue;
                        }
                        let available = (close - start).num_seconds();
                        if available >= left {
                            return Some(start + chrono::Duration::seconds(left));
                        }
                        left -= available;
                    }
                    date = date.succ_opt()?;
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod business_time_tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    /// Berlin office: Mon–Fri 09:00–12:30 and 13:30–17:00 (7 h a day), closed on 2026-12-25.
    fn office() -> Calendar {
        let mut hours = BTreeMap::new();
        for day in 0..5u8 {
            hours.insert(
                day,
                vec![(9 * 3600, 12 * 3600 + 1800), (13 * 3600 + 1800, 17 * 3600)],
            );
        }
        Calendar {
            key: "office".into(),
            name: "Office".into(),
            timezone: chrono_tz::Europe::Berlin,
            hours,
            holidays: BTreeSet::from([NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()]),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn a_start_outside_hours_waits_for_the_next_opening() {
        let office = office();
        let hours = Hours::Business(&office);
        // Monday 2026-11-02 18:00 Berlin (17:00 UTC) → one business hour later is Tuesday 10:00 Berlin.
        assert_eq!(
            hours.after(utc("2026-11-02T17:00:00Z"), 3600),
            Some(utc("2026-11-03T09:00:00Z"))
        );
        assert_eq!(
            hours.seconds_between(utc("2026-11-02T17:00:00Z"), utc("2026-11-03T09:00:00Z")),
            3600
        );
    }

    #[test]
    fn the_lunch_break_does_not_count() {
        let office = office();
        let hours = Hours::Business(&office);
        // 12:00 → 14:00 Berlin on a Wednesday is 30 + 30 minutes of business time.
        assert_eq!(
            hours.seconds_between(utc("2026-11-04T11:00:00Z"), utc("2026-11-04T13:00:00Z")),
            3600
        );
        assert_eq!(
            hours.after(utc("2026-11-04T11:00:00Z"), 3600),
            Some(utc("2026-11-04T13:00:00Z"))
        );
    }

    #[test]
    fn weekends_and_holidays_are_skipped() {
        let office = office();
        let hours = Hours::Business(&office);
        // Friday 2026-11-06 16:00 Berlin + 2 business hours → Monday 10:00 Berlin.
        assert_eq!(
            hours.after(utc("2026-11-06T15:00:00Z"), 7200),
            Some(utc("2026-11-09T09:00:00Z"))
        );
        // Thursday 2026-12-24 16:30 + 1 h: the 25th is a holiday → Monday 28th 09:30 (the 26th is a Saturday).
        assert_eq!(
            hours.after(utc("2026-12-24T15:30:00Z"), 3600),
            Some(utc("2026-12-28T08:30:00Z"))
        );
        // A full week holds 35 business hours.
        assert_eq!(
            hours.seconds_between(utc("2026-11-02T00:00:00Z"), utc("2026-11-09T00:00:00Z")),
            35 * 3600
        );
    }

    #[test]
    fn dst_changes_keep_local_hours() {
        let office = office();
        let hours = Hours::Business(&office);
        // Monday 2026-10-26, the first day of CET: 09:00 Berlin is 08:00 UTC.
        assert_eq!(
            hours.after(utc("2026-10-25T12:00:00Z"), 1),
            Some(utc("2026-10-26T08:00:01Z"))
        );
        assert_eq!(
            Hours::Always.after(utc("2026-10-25T12:00:00Z"), 60),
            Some(utc("2026-10-25T12:01:00Z"))
        );
    }

    #[test]
    fn a_calendar_without_hours_never_reaches_a_deadline() {
        let mut closed = office();
        closed.hours.clear();
        assert_eq!(
            Hours::Business(&closed).after(utc("2026-11-02T10:00:00Z"), 60),
            None
        );
    }
}
