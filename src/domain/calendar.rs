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
    pub hours: BTreeMap<String, Vec<(String, String)>>,
    /// Closed local dates, `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
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
