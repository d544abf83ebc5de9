//! How accord says things to people: a period as people name it, a value with its unit and the
//! counts behind it, a target in words, a definition as a sentence. Every surface (mail, chat,
//! pages, CSV, `?format=text`) speaks through this module, so one breach has one name everywhere.

use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde_json::Value;

use super::period::PeriodKind;
use super::sla::{Definition, Metric, Op, Window};

/// A period as people say it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeriodName {
    /// `week 46`, `November 2026`, `Q4 2026`, `Mon 9 Nov 2026`, `the 30 days to Tue 1 Dec 2026, 14:00`.
    pub label: String,
    /// The local dates it covers: `Mon 9 – Sun 15 Nov 2026`.
    pub dates: String,
    /// The time zone its boundaries are local midnights in (`UTC` for rolling windows).
    pub zone: String,
    /// A stable identifier for machines and subjects: `2026-W46`, `2026-11`, `2026-Q4`,
    /// `2026-11-09`; a rolling window's end, `2026-12-01T14:00Z`.
    pub code: String,
}

impl PeriodName {
    /// `week 46, Mon 9 – Sun 15 Nov 2026, Europe/Berlin`, each part once: a day's label is
    /// already its date.
    pub fn full(&self) -> String {
        let mut words = self.label.clone();
        for part in [&self.dates, &self.zone] {
            if !part.is_empty() && !self.label.contains(part.as_str()) {
                words.push_str(", ");
                words.push_str(part);
            }
        }
        words
    }

    /// The short form for subjects and headlines: `November 2026 (2026-11)`.
    pub fn short(&self) -> String {
        format!("{} ({})", self.label, self.code)
    }
}

impl fmt::Display for PeriodName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full())
    }
}

/// `Mon 9 Nov 2026`.
fn day(date: NaiveDate) -> String {
    date.format("%a %-d %b %Y").to_string()
}

/// A span of local dates, sharing what the two ends share: `Mon 9 – Sun 15 Nov 2026`,
/// `Mon 30 Nov – Sun 6 Dec 2026`, `Mon 28 Dec 2026 – Sun 3 Jan 2027`.
fn date_span(first: NaiveDate, last: NaiveDate) -> String {
    if first == last {
        day(first)
    } else if first.year() != last.year() {
        format!("{} – {}", day(first), day(last))
    } else if first.month() != last.month() {
        format!(
            "{} – {}",
            first.format("%a %-d %b"),
            last.format("%a %-d %b %Y")
        )
    } else {
        format!(
            "{} – {}",
            first.format("%a %-d"),
            last.format("%a %-d %b %Y")
        )
    }
}

/// The period `[start, end)` of `definition`, as people say it.
pub fn period(definition: &Definition, start: DateTime<Utc>, end: DateTime<Utc>) -> PeriodName {
    match &definition.window {
        Window::Calendar { period, timezone } => {
            let first = start.with_timezone(timezone).date_naive();
            let last = (end - Duration::seconds(1))
                .with_timezone(timezone)
                .date_naive()
                .max(first);
            let (label, code) = match period {
                PeriodKind::Day => (day(first), first.format("%Y-%m-%d").to_string()),
                PeriodKind::Week => {
                    let week = first.iso_week();
                    (
                        format!("week {}", week.week()),
                        format!("{}-W{:02}", week.year(), week.week()),
                    )
                }
                PeriodKind::Month => (
                    first.format("%B %Y").to_string(),
                    first.format("%Y-%m").to_string(),
                ),
                PeriodKind::Quarter => {
                    let quarter = first.month0() / 3 + 1;
                    (
                        format!("Q{quarter} {}", first.year()),
                        format!("{}-Q{quarter}", first.year()),
                    )
                }
            };
            PeriodName {
                label,
                dates: date_span(first, last),
                zone: timezone.name().to_string(),
                code,
            }
        }
        Window::Rolling { length } => {
            let at = |t: DateTime<Utc>| t.format("%a %-d %b %Y, %H:%M").to_string();
            PeriodName {
                label: format!("the {} to {}", span(length.as_secs()), at(end)),
                dates: format!("{} – {}", at(start), at(end)),
                zone: "UTC".into(),
                code: end.format("%Y-%m-%dT%H:%MZ").to_string(),
            }
        }
    }
}

/// The zone an SLA's periods are local to (UTC for rolling windows): the zone its people read
/// times in.
pub fn zone(definition: &Definition) -> chrono_tz::Tz {
    match &definition.window {
        Window::Calendar { timezone, .. } => *timezone,
        Window::Rolling { .. } => chrono_tz::UTC,
    }
}

/// An instant as people in `zone` read it: `Mon 9 Nov 2026, 14:00 CET`.
pub fn moment(at: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    at.with_timezone(&zone)
        .format("%a %-d %b %Y, %H:%M %Z")
        .to_string()
}

/// A number for people: whole numbers as they are, others to one decimal.
pub fn number(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

fn plural(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A threshold or window length in words, by its largest exact unit: `4 hours`, `90 minutes`,
/// `30 days`, `1 week`.
pub fn span(seconds: i64) -> String {
    for (size, one, many) in [
        (604_800, "week", "weeks"),
        (86_400, "day", "days"),
        (3_600, "hour", "hours"),
        (60, "minute", "minutes"),
    ] {
        if seconds % size == 0 {
            return plural(seconds / size, one, many);
        }
    }
    plural(seconds, "second", "seconds")
}

/// How far past its threshold a lead is, in the time the SLA counts: on a business calendar, in
/// business hours ("3 business hours 20 min"), which a span in days would misstate; otherwise
/// as [`duration`] ("5 d 12 h").
pub fn lateness(metric: &Metric, secs: i64) -> String {
    match metric {
        Metric::ResponseTime {
            calendar: Some(_), ..
        } => {
            let minutes = secs.max(0) / 60;
            let (hours, minutes) = (minutes / 60, minutes % 60);
            match (hours, minutes) {
                (0, 0) => "under 1 business min".into(),
                (0, m) => format!("{m} business min"),
                (h, 0) => plural(h, "business hour", "business hours"),
                (h, m) => format!("{} {m} min", plural(h, "business hour", "business hours")),
            }
        }
        _ => duration(secs),
    }
}

/// An elapsed time, to the minute: `45 min`, `4 h`, `2 h 05 min`, `3 d 4 h`, `under 1 min`.
pub fn duration(seconds: i64) -> String {
    let s = seconds.unsigned_abs();
    let (days, hours, minutes) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    match (days, hours, minutes) {
        (0, 0, 0) => "under 1 min".into(),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m:02} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// The comparison in words.
pub fn op_words(op: Op) -> &'static str {
    match op {
        Op::Ge => "at least",
        Op::Gt => "more than",
        Op::Le => "at most",
        Op::Lt => "less than",
    }
}

/// How a value of `metric` is written: percentages for response times (stored as percent) and
/// ratios (stored as fractions), plain numbers for counts.
fn amount(metric: &Metric, value: f64) -> String {
    match metric {
        Metric::Count { .. } => number(value),
        Metric::ResponseTime { .. } => format!("{} %", number(value)),
        Metric::Ratio { .. } => format!("{} %", number(value * 100.0)),
    }
}

/// `within 4 business hours (calendar emea)` or `within 30 minutes`.
fn within(metric: &Metric) -> String {
    match metric {
        Metric::ResponseTime {
            threshold,
            calendar: Some(calendar),
            ..
        } => format!(
            "within {} (calendar {calendar})",
            span(threshold.as_secs()).replace("hour", "business hour")
        ),
        Metric::ResponseTime { threshold, .. } => format!("within {}", span(threshold.as_secs())),
        _ => String::new(),
    }
}

/// A measured value in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading {
    /// The value with its unit: `61.3 %`, `12`, `no data`.
    pub value: String,
    /// The value with the counts behind it: `61.3 % of 31 lead.handed_off answered within
    /// 4 business hours (calendar emea): 19 in time, 5 late, 7 not answered`.
    pub sentence: String,
    /// The target in words: `at least 90 %`.
    pub target: String,
    /// Whether the value meets the target (`None` without data).
    pub met: Option<bool>,
}

fn count_of(details: &Value, key: &str) -> i64 {
    details.get(key).and_then(Value::as_i64).unwrap_or(0)
}

/// The value of a window of `definition` (`op` and `target` as evaluated) in words.
pub fn reading(
    definition: &Definition,
    value: Option<f64>,
    op: Op,
    target: f64,
    details: &Value,
) -> Reading {
    let metric = &definition.metric;
    let target_words = format!("{} {}", op_words(op), amount(metric, target));
    let shown = value.map_or_else(|| "no data".to_string(), |v| amount(metric, v));
    let sentence = match metric {
        Metric::Count { event, .. } => format!("{shown} {event}"),
        Metric::Ratio {
            numerator,
            denominator,
        } => {
            let (n, d) = (
                count_of(details, "numerator"),
                count_of(details, "denominator"),
            );
            match value {
                Some(_) => format!(
                    "{shown}: {n} {} of {d} {}",
                    numerator.event, denominator.event
                ),
                None => format!("no data: no {} yet", denominator.event),
            }
        }
        Metric::ResponseTime { start, .. } => {
            let (within_n, late, missed, pending) = (
                count_of(details, "answered_within"),
                count_of(details, "answered_late"),
                count_of(details, "missed"),
                count_of(details, "pending"),
            );
            let decided = within_n + late + missed;
            let open = if pending > 0 {
                format!("; {pending} still within time")
            } else {
                String::new()
            };
            match value {
                Some(_) => format!(
                    "{shown} of {decided} {} answered {}: {within_n} in time, {late} late, {missed} not answered{open}",
                    start.event,
                    within(metric)
                ),
                None => format!("no data: no {} decided yet{open}", start.event),
            }
        }
    };
    Reading {
        value: shown,
        sentence,
        target: target_words,
        met: value.map(|v| op.holds(v, target)),
    }
}

/// How a count stands against its target: the shortfall of a closed period, the pace of an open
/// one (`9 so far; at this pace 14 by the end, target at least 20`). `None` for other metrics.
pub fn pace(
    definition: &Definition,
    count: i64,
    elapsed: f64,
    closed: bool,
    op: Op,
    target: f64,
) -> Option<String> {
    let Metric::Count { event, .. } = &definition.metric else {
        return None;
    };
    let target_words = format!("{} {}", op_words(op), number(target));
    let value = count as f64;
    if closed {
        return Some(if op.holds(value, target) {
            format!("{count} {event}, target {target_words}: met")
        } else {
            let gap = (value - target).abs();
            let gap = if matches!(op, Op::Gt | Op::Lt) && gap == 0.0 {
                1.0
            } else {
                gap
            };
            let word = if matches!(op, Op::Ge | Op::Gt) {
                "short"
            } else {
                "over"
            };
            format!(
                "{count} {event}, target {target_words}: {} {word}",
                number(gap)
            )
        });
    }
    // A ceiling only fills up: once passed, it stays passed; until then there is no pace to tell.
    if matches!(op, Op::Le | Op::Lt) {
        return Some(if op.holds(value, target) {
            format!("{count} {event} so far, target {target_words}")
        } else {
            format!(
                "{count} {event} so far, target {target_words}: already {} over",
                number((value - target).max(1.0))
            )
        });
    }
    if elapsed < 0.1 {
        return Some(format!(
            "{count} {event} so far, target {target_words}; too early to project"
        ));
    }
    Some(format!(
        "{count} {event} so far; at this pace {} by the end, target {target_words}",
        number((value / elapsed).floor())
    ))
}

/// The definition as a sentence: `sales answers at least 90 % of lead.handed_off (by
/// lead.contacted) within 4 business hours (calendar emea) for marketing, each month in
/// Europe/Berlin`.
pub fn definition_in_words(definition: &Definition) -> String {
    let metric = &definition.metric;
    let target = format!(
        "{} {}",
        op_words(definition.objective.op),
        amount(metric, definition.objective.target)
    );
    let what = match metric {
        Metric::Count { event, .. } => format!("delivers {target} {event}"),
        Metric::Ratio {
            numerator,
            denominator,
        } => format!(
            "turns {target} of {} into {}",
            denominator.event, numerator.event
        ),
        Metric::ResponseTime { start, stop, .. } => format!(
            "answers {target} of {} (by {}) {}",
            start.event,
            stop.event,
            within(metric)
        ),
    };
    let when = match &definition.window {
        Window::Calendar { period, timezone } => {
            let each = match period {
                PeriodKind::Day => "day",
                PeriodKind::Week => "week (Monday to Sunday)",
                PeriodKind::Month => "month",
                PeriodKind::Quarter => "quarter",
            };
            format!("each {each} in {}", timezone.name())
        }
        Window::Rolling { length } => {
            format!("over any {}, checked at every run", span(length.as_secs()))
        }
    };
    format!(
        "{} {what} for {}, {when}",
        definition.provider, definition.consumer
    )
}

/// A status as people read it.
pub fn status_words(status: &str) -> &'static str {
    match status {
        "met" => "Met",
        "breached" => "Breached",
        "on_track" => "On track",
        "at_risk" => "At risk",
        "no_data" => "No data",
        "error" => "Cannot evaluate",
        "pending" => "Not evaluated yet",
        "open" => "Open",
        "acknowledged" => "Acknowledged",
        "disputed" => "Disputed",
        "resolved" => "Resolved",
        "withdrawn" => "Withdrawn",
        "proposed" => "Awaiting signatures",
        "active" => "In force",
        "rejected" => "Rejected",
        "superseded" => "Superseded",
        "retired" => "Retired",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_on_a_calendar_is_in_business_hours() {
        let on_calendar: Metric = serde_json::from_value(json!({"kind": "response_time",
            "start": {"event": "lead.handed_off"}, "stop": {"event": "lead.contacted"},
            "threshold": "4h", "calendar": "emea"}))
        .unwrap();
        let around_the_clock: Metric = serde_json::from_value(json!({"kind": "response_time",
            "start": {"event": "lead.handed_off"}, "stop": {"event": "lead.contacted"},
            "threshold": "4h"}))
        .unwrap();
        let secs = (5 * 24 + 12) * 3600;
        assert_eq!(lateness(&on_calendar, secs), "132 business hours");
        assert_eq!(
            lateness(&on_calendar, 3600 + 20 * 60),
            "1 business hour 20 min"
        );
        assert_eq!(lateness(&on_calendar, 45 * 60), "45 business min");
        assert_eq!(lateness(&on_calendar, 30), "under 1 business min");
        assert_eq!(lateness(&around_the_clock, secs), duration(secs));
    }
    use crate::domain::sla::DefinitionInput;
    use serde_json::json;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn definition(metric: Value, op: &str, target: f64, window: Value) -> Definition {
        let input: DefinitionInput = serde_json::from_value(json!({
            "key": "k", "name": "K", "provider": "sales", "consumer": "marketing", "metric": metric,
            "objective": {"op": op, "target": target}, "window": window
        }))
        .unwrap();
        input.parse("k").unwrap()
    }

    fn calendar(period: &str, tz: &str) -> Value {
        json!({"kind": "calendar", "period": period, "timezone": tz})
    }

    fn response_time() -> Definition {
        definition(
            json!({"kind": "response_time", "start": {"event": "lead.handed_off"},
                   "stop": {"event": "lead.contacted"}, "threshold": "4h"}),
            ">=",
            90.0,
            calendar("month", "Europe/Berlin"),
        )
    }

    #[test]
    fn a_berlin_week_is_named_by_its_local_dates_not_the_utc_sunday() {
        let week = definition(
            json!({"kind": "count", "event": "lead.qualified"}),
            ">=",
            20.0,
            calendar("week", "Europe/Berlin"),
        );
        // Monday 9 November 2026 starts at 23:00 UTC on Sunday the 8th.
        let name = period(
            &week,
            utc("2026-11-08T23:00:00Z"),
            utc("2026-11-15T23:00:00Z"),
        );
        assert_eq!(
            name.full(),
            "week 46, Mon 9 – Sun 15 Nov 2026, Europe/Berlin"
        );
        assert_eq!(name.short(), "week 46 (2026-W46)");
        let across = period(
            &week,
            utc("2026-12-27T23:00:00Z"),
            utc("2027-01-03T23:00:00Z"),
        );
        assert_eq!(across.dates, "Mon 28 Dec 2026 – Sun 3 Jan 2027");
        assert_eq!(across.code, "2026-W53");
    }

    #[test]
    fn months_quarters_days_and_rolling_windows() {
        let d = response_time();
        let november = period(&d, utc("2026-10-31T23:00:00Z"), utc("2026-11-30T23:00:00Z"));
        assert_eq!(
            november.full(),
            "November 2026, Sun 1 – Mon 30 Nov 2026, Europe/Berlin"
        );
        assert_eq!(november.code, "2026-11");
        let mut q = d.clone();
        q.window = Window::Calendar {
            period: PeriodKind::Quarter,
            timezone: chrono_tz::UTC,
        };
        let q4 = period(&q, utc("2026-10-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"));
        assert_eq!(q4.full(), "Q4 2026, Thu 1 Oct – Thu 31 Dec 2026, UTC");
        q.window = Window::Calendar {
            period: PeriodKind::Day,
            timezone: chrono_tz::UTC,
        };
        let one = period(&q, utc("2026-11-09T00:00:00Z"), utc("2026-11-10T00:00:00Z"));
        assert_eq!(one.full(), "Mon 9 Nov 2026, UTC");
        q.window = Window::Rolling {
            length: "30d".parse().unwrap(),
        };
        let rolling = period(&q, utc("2026-11-01T14:00:00Z"), utc("2026-12-01T14:00:00Z"));
        assert_eq!(rolling.label, "the 30 days to Tue 1 Dec 2026, 14:00");
        assert_eq!(rolling.code, "2026-12-01T14:00Z");
    }

    #[test]
    fn values_carry_units_and_the_counts_behind_them() {
        let d = response_time();
        let details = json!({"answered_within": 19, "answered_late": 5, "missed": 7, "pending": 2});
        let r = reading(&d, Some(61.290_322), Op::Ge, 90.0, &details);
        assert_eq!(r.value, "61.3 %");
        assert_eq!(r.target, "at least 90 %");
        assert_eq!(
            r.sentence,
            "61.3 % of 31 lead.handed_off answered within 4 hours: 19 in time, 5 late, 7 not answered; 2 still within time"
        );
        assert_eq!(r.met, Some(false));

        let ratio = definition(
            json!({"kind": "ratio", "numerator": {"event": "deal.won"}, "denominator": {"event": "lead.qualified"}}),
            ">=",
            0.2,
            calendar("month", "UTC"),
        );
        let r = reading(
            &ratio,
            Some(0.08),
            Op::Ge,
            0.2,
            &json!({"numerator": 2, "denominator": 25}),
        );
        assert_eq!(
            (r.value.as_str(), r.sentence.as_str(), r.target.as_str()),
            (
                "8 %",
                "8 %: 2 deal.won of 25 lead.qualified",
                "at least 20 %"
            )
        );
        let r = reading(
            &ratio,
            Some(0.193_548_387_096_774_2),
            Op::Ge,
            0.2,
            &json!({}),
        );
        assert_eq!(r.value, "19.4 %");
        let none = reading(
            &ratio,
            None,
            Op::Ge,
            0.2,
            &json!({"numerator": 0, "denominator": 0}),
        );
        assert_eq!(none.value, "no data");
        assert_eq!(none.met, None);
    }

    #[test]
    fn counts_show_their_shortfall_or_their_pace() {
        let d = definition(
            json!({"kind": "count", "event": "lead.qualified"}),
            ">=",
            20.0,
            calendar("month", "UTC"),
        );
        assert_eq!(
            pace(&d, 12, 1.0, true, Op::Ge, 20.0).unwrap(),
            "12 lead.qualified, target at least 20: 8 short"
        );
        assert_eq!(
            pace(&d, 9, 0.6, false, Op::Ge, 20.0).unwrap(),
            "9 lead.qualified so far; at this pace 15 by the end, target at least 20"
        );
        assert_eq!(
            pace(&d, 6, 0.05, false, Op::Le, 4.0).unwrap(),
            "6 lead.qualified so far, target at most 4: already 2 over"
        );
        assert_eq!(pace(&response_time(), 9, 0.6, false, Op::Ge, 20.0), None);
    }

    #[test]
    fn a_definition_reads_as_a_sentence() {
        let mut d = response_time();
        if let Metric::ResponseTime { calendar, .. } = &mut d.metric {
            *calendar = Some("emea".into());
        }
        assert_eq!(
            definition_in_words(&d),
            "sales answers at least 90 % of lead.handed_off (by lead.contacted) within 4 business hours (calendar emea) for marketing, each month in Europe/Berlin"
        );
    }

    #[test]
    fn durations_and_spans() {
        assert_eq!(duration(45 * 60), "45 min");
        assert_eq!(duration(4 * 3600), "4 h");
        assert_eq!(duration(2 * 3600 + 5 * 60), "2 h 05 min");
        assert_eq!(duration(3 * 86_400 + 4 * 3600 + 7), "3 d 4 h");
        assert_eq!(duration(-59), "under 1 min");
        assert_eq!(span(5_400), "90 minutes");
        assert_eq!(span(3_600), "1 hour");
        assert_eq!(number(61.25), "61.3");
        assert_eq!(number(400.0), "400");
    }
}
