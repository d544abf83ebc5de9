//! The evaluation engine: a period's measurement in, its value and status out.
//!
//! The database does the counting ([`Measurement`]); this module turns counts and answer times
//! into the value and status of §4. It never reads the clock: `now` is passed in.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::calendar::Hours;
use super::sla::{Definition, Metric, Op};

/// How a period stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The objective holds (a closed period, or a count already reached).
    Met,
    /// The objective failed.
    Breached,
    /// The current period is on course.
    OnTrack,
    /// The current period is projected to miss.
    AtRisk,
    /// Nothing to judge: a ratio with an empty denominator, a response time with no decided start.
    NoData,
}

impl Status {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Met => "met",
            Self::Breached => "breached",
            Self::OnTrack => "on_track",
            Self::AtRisk => "at_risk",
            Self::NoData => "no_data",
        }
    }
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "met" => Ok(Self::Met),
            "breached" => Ok(Self::Breached),
            "on_track" => Ok(Self::OnTrack),
            "at_risk" => Ok(Self::AtRisk),
            "no_data" => Ok(Self::NoData),
            other => Err(format!("unknown status {other:?}")),
        }
    }
}

/// A stretch during which a subject's clock stood still: `[pause, resume)`, open while paused.
pub type Pause = (DateTime<Utc>, Option<DateTime<Utc>>);

/// One start of a response-time SLA, as the database found it.
#[derive(Clone, Debug, PartialEq)]
pub struct StartRecord {
    /// The lead.
    pub subject_id: String,
    /// When the clock started.
    pub start_at: DateTime<Utc>,
    /// The first stop at or after the start, if one came (before the evaluation instant).
    pub stop_at: Option<DateTime<Utc>>,
    /// Times the clock was stopped for this subject: `[pause, resume)`, `None` while still paused.
    pub pauses: Vec<Pause>,
}

/// What the database measured over one window.
#[derive(Clone, Debug, PartialEq)]
pub enum Measurement {
    /// Matching events.
    Count(i64),
    /// Matching numerator and denominator events.
    Ratio {
        /// Above the line.
        numerator: i64,
        /// Below the line.
        denominator: i64,
    },
    /// Every start in the window with its first stop.
    ResponseTime(Vec<StartRecord>),
}

/// The window being judged, and whether it is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Judged {
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
    /// A rolling window is judged as a whole at every run, like a closed period.
    pub rolling: bool,
}

/// The result for one window.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The value, `None` without data.
    pub value: Option<f64>,
    /// The status.
    pub status: Status,
    /// Counts behind the value.
    pub details: serde_json::Value,
}

/// Fraction of the period before which no pace projection is made.
const PROJECTION_FROM: f64 = 0.1;

/// Counted seconds from `from` to `to`, less the time the subject was paused.
fn counted(
    hours: Hours<'_>,
    pauses: &[(DateTime<Utc>, Option<DateTime<Utc>>)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> i64 {
    let paused: i64 = pauses
        .iter()
        .map(|&(pause, resume)| {
            let (s, e) = (pause.max(from), resume.unwrap_or(to).min(to));
            hours.seconds_between(s, e)
        })
        .sum();
    hours.seconds_between(from, to) - paused
}

/// When `threshold` seconds of counted time will have passed since `from`, pauses included.
fn deadline(
    hours: Hours<'_>,
    pauses: &[(DateTime<Utc>, Option<DateTime<Utc>>)],
    from: DateTime<Utc>,
    threshold: i64,
) -> Option<DateTime<Utc>> {
    let mut at = hours.after(from, threshold)?;
    // Each pass pushes the deadline out by the pauses that fall before it; it settles quickly.
    for _ in 0..32 {
        // Paused and not resumed before the deadline: the clock stands still, no deadline yet.
        if pauses
            .iter()
            .any(|&(pause, resume)| pause < at && resume.is_none())
        {
            return None;
        }
        let short = threshold - counted(hours, pauses, from, at);
        if short <= 0 {
            return Some(at);
        }
        at = hours.after(at, short)?;
    }
    Some(at)
}

fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Judges a response-time window: answered within threshold ÷ (answered + missed).
fn response_time(
    starts: &[StartRecord],
    threshold: i64,
    hours: Hours<'_>,
    now: DateTime<Utc>,
) -> (Option<f64>, serde_json::Value) {
    let (mut within, mut late, mut missed, mut pending) = (0u64, 0u64, 0u64, 0u64);
    let mut durations = Vec::new();
    for start in starts {
        let pauses: Vec<_> = start
            .pauses
            .iter()
            .copied()
            .filter(|&(p, r)| r.is_none_or(|r| r > start.start_at) && p < now)
            .collect();
        match start.stop_at {
            Some(stop) => {
                let took = counted(hours, &pauses, start.start_at, stop);
                durations.push(took);
                if took <= threshold {
                    within += 1
                } else {
                    late += 1
                }
            }
            None => match deadline(hours, &pauses, start.start_at, threshold) {
                Some(due) if due <= now => missed += 1,
                _ => pending += 1,
            },
        }
    }
    durations.sort_unstable();
    let decided = within + late + missed;
    let value = (decided > 0).then(|| 100.0 * within as f64 / decided as f64);
    let details = json!({
        "starts": starts.len(), "answered_within": within, "answered_late": late, "missed": missed, "pending": pending,
        "p50_secs": percentile(&durations, 0.50), "p90_secs": percentile(&durations, 0.90), "p95_secs": percentile(&durations, 0.95),
    });
    (value, details)
}

/// Judges one window of `definition` as of `now`.
pub fn evaluate(
    definition: &Definition,
    hours: Hours<'_>,
    judged: Judged,
    measurement: &Measurement,
    now: DateTime<Utc>,
) -> Outcome {
    let objective = definition.objective;
    let (value, details) = match (&definition.metric, measurement) {
        (_, Measurement::Count(n)) => (Some(*n as f64), json!({"count": n})),
        (
            _,
            Measurement::Ratio {
                numerator,
                denominator,
            },
        ) => (
            (*denominator > 0).then(|| *numerator as f64 / *denominator as f64),
            json!({"numerator": numerator, "denominator": denominator}),
        ),
        (Metric::ResponseTime { threshold, .. }, Measurement::ResponseTime(starts)) => {
            response_time(starts, threshold.as_secs(), hours, now)
        }
        (_, Measurement::ResponseTime(_)) => (None, json!({})),
    };
    let closed = judged.rolling || now >= judged.end;
    let length = (judged.end - judged.start).num_milliseconds().max(1) as f64;
    let elapsed = ((now - judged.start).num_milliseconds() as f64 / length).clamp(0.0, 1.0);
    let holds = |v: f64| objective.op.holds(v, objective.target);
    let status = match value {
        None => Status::NoData,
        Some(v) if closed => {
            if holds(v) {
                Status::Met
            } else {
                Status::Breached
            }
        }
        Some(v) => match (&definition.metric, objective.op) {
            // A count only grows: reached is met for good, exceeded is breached for good.
            (Metric::Count { .. }, Op::Ge | Op::Gt) if holds(v) => Status::Met,
            (Metric::Count { .. }, Op::Le | Op::Lt) => {
                if holds(v) {
                    Status::OnTrack
                } else {
                    Status::Breached
                }
            }
            (Metric::Count { .. }, _) if elapsed < PROJECTION_FROM => Status::OnTrack,
            (Metric::Count { .. }, _) => {
                if holds(v / elapsed) {
                    Status::OnTrack
                } else {
                    Status::AtRisk
                }
            }
            (Metric::Ratio { .. }, _) if elapsed < PROJECTION_FROM => Status::OnTrack,
            _ => {
                if holds(v) {
                    Status::OnTrack
                } else {
                    Status::AtRisk
                }
            }
        },
    };
    let mut details = details;
    if !closed
        && matches!(definition.metric, Metric::Count { .. })
        && elapsed >= PROJECTION_FROM
        && let Some(v) = value
    {
        details["projected"] = json!(v / elapsed);
    }
    Outcome {
        value,
        status,
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sla::DefinitionInput;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn definition(metric: serde_json::Value, op: &str, target: f64) -> Definition {
        let input: DefinitionInput = serde_json::from_value(json!({
            "key": "k", "name": "K", "provider": "marketing", "consumer": "sales", "metric": metric,
            "objective": {"op": op, "target": target},
            "window": {"kind": "calendar", "period": "month", "timezone": "UTC"}
        }))
        .unwrap();
        input.parse("k").unwrap()
    }

    fn november() -> Judged {
        Judged {
            start: utc("2026-11-01T00:00:00Z"),
            end: utc("2026-12-01T00:00:00Z"),
            rolling: false,
        }
    }

    fn count(op: &str, target: f64) -> Definition {
        definition(
            json!({"kind": "count", "event": "lead.qualified"}),
            op,
            target,
        )
    }

    #[test]
    fn a_closed_period_is_met_or_breached_by_the_objective() {
        let after = utc("2026-12-02T00:00:00Z");
        let outcome = |n, op, t| {
            evaluate(
                &count(op, t),
                Hours::Always,
                november(),
                &Measurement::Count(n),
                after,
            )
            .status
        };
        assert_eq!(outcome(400, ">=", 400.0), Status::Met, "exactly at target");
        assert_eq!(outcome(399, ">=", 400.0), Status::Breached);
        assert_eq!(outcome(400, ">", 400.0), Status::Breached);
        assert_eq!(outcome(0, "<=", 0.0), Status::Met, "zero events is a value");
        assert_eq!(outcome(0, ">=", 1.0), Status::Breached);
    }

    #[test]
    fn the_current_period_is_judged_by_pace() {
        let sla = count(">=", 400.0);
        let at = |text| utc(text);
        let status =
            |n, now| evaluate(&sla, Hours::Always, november(), &Measurement::Count(n), now).status;
        // Day 2 of 30: under a tenth of the period, no projection.
        assert_eq!(status(0, at("2026-11-02T00:00:00Z")), Status::OnTrack);
        // Halfway with 150: projects to 300.
        assert_eq!(status(150, at("2026-11-16T00:00:00Z")), Status::AtRisk);
        assert_eq!(status(210, at("2026-11-16T00:00:00Z")), Status::OnTrack);
        assert_eq!(
            status(400, at("2026-11-03T00:00:00Z")),
            Status::Met,
            "reached is met"
        );
        let cap = count("<=", 10.0);
        assert_eq!(
            evaluate(
                &cap,
                Hours::Always,
                november(),
                &Measurement::Count(11),
                at("2026-11-02T00:00:00Z")
            )
            .status,
            Status::Breached
        );
        assert_eq!(
            evaluate(
                &cap,
                Hours::Always,
                november(),
                &Measurement::Count(10),
                at("2026-11-29T00:00:00Z")
            )
            .status,
            Status::OnTrack
        );
    }

    #[test]
    fn a_ratio_without_denominator_has_no_data() {
        let sla = definition(
            json!({"kind": "ratio", "numerator": {"event": "lead.converted"}, "denominator": {"event": "lead.qualified"}}),
            ">=",
            0.2,
        );
        let closed = utc("2026-12-05T00:00:00Z");
        let empty = evaluate(
            &sla,
            Hours::Always,
            november(),
            &Measurement::Ratio {
                numerator: 0,
                denominator: 0,
            },
            closed,
        );
        assert_eq!((empty.value, empty.status), (None, Status::NoData));
        let fifth = evaluate(
            &sla,
            Hours::Always,
            november(),
            &Measurement::Ratio {
                numerator: 1,
                denominator: 5,
            },
            closed,
        );
        assert_eq!((fifth.value, fifth.status), (Some(0.2), Status::Met));
    }

    #[test]
    fn response_times_count_answered_missed_and_pending() {
        let sla = definition(
            json!({"kind": "response_time", "start": {"event": "lead.handed_off"}, "stop": {"event": "lead.contacted"}, "threshold": "24h"}),
            ">=",
            75.0,
        );
        let now = utc("2026-11-10T12:00:00Z");
        let start = |s: &str, stop: Option<&str>| StartRecord {
            subject_id: s.into(),
            start_at: utc(s),
            stop_at: stop.map(utc),
            pauses: vec![],
        };
        let starts = vec![
            start("2026-11-01T10:00:00Z", Some("2026-11-01T12:00:00Z")), // 2 h
            start("2026-11-02T10:00:00Z", Some("2026-11-03T10:00:00Z")), // exactly 24 h: within
            start("2026-11-03T10:00:00Z", Some("2026-11-04T10:00:01Z")), // late
            start("2026-11-05T10:00:00Z", None),                         // missed
            start("2026-11-10T10:00:00Z", None),                         // pending
        ];
        let outcome = evaluate(
            &sla,
            Hours::Always,
            november(),
            &Measurement::ResponseTime(starts),
            now,
        );
        assert_eq!(outcome.value, Some(50.0));
        assert_eq!(outcome.status, Status::AtRisk);
        assert_eq!(outcome.details["pending"], 1);
        assert_eq!(outcome.details["missed"], 1);
        assert_eq!(outcome.details["p50_secs"], 86_400);
        let none_decided = evaluate(
            &sla,
            Hours::Always,
            november(),
            &Measurement::ResponseTime(vec![start("2026-11-10T10:00:00Z", None)]),
            now,
        );
        assert_eq!(none_decided.status, Status::NoData);
    }

    #[test]
    fn a_pause_stops_the_clock() {
        let sla = definition(
            json!({"kind": "response_time", "start": {"event": "lead.handed_off"}, "stop": {"event": "lead.contacted"}, "threshold": "24h",
            "pause": {"event": "lead.on_hold"}, "resume": {"event": "lead.reactivated"}}),
            ">=",
            100.0,
        );
        let paused = StartRecord {
            subject_id: "L".into(),
            start_at: utc("2026-11-01T10:00:00Z"),
            stop_at: Some(utc("2026-11-03T10:00:00Z")),
            pauses: vec![(
                utc("2026-11-01T12:00:00Z"),
                Some(utc("2026-11-02T12:00:00Z")),
            )],
        };
        let outcome = evaluate(
            &sla,
            Hours::Always,
            november(),
            &Measurement::ResponseTime(vec![paused.clone()]),
            utc("2026-12-05T00:00:00Z"),
        );
        assert_eq!(
            outcome.value,
            Some(100.0),
            "48 h less a 24 h pause is within 24 h"
        );
        let still_paused = StartRecord {
            stop_at: None,
            pauses: vec![(utc("2026-11-01T12:00:00Z"), None)],
            ..paused
        };
        let outcome = evaluate(
            &sla,
            Hours::Always,
            november(),
            &Measurement::ResponseTime(vec![still_paused]),
            utc("2026-11-20T00:00:00Z"),
        );
        assert_eq!(
            outcome.details["pending"], 1,
            "a paused lead is not overdue"
        );
    }
}

#[cfg(test)]
mod misses_tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn start(id: &str, at: &str, stop: Option<&str>) -> StartRecord {
        StartRecord {
            subject_id: id.into(),
            start_at: utc(at),
            stop_at: stop.map(utc),
            pauses: Vec::new(),
        }
    }

    #[test]
    fn the_evidence_lists_late_and_unanswered_starts_most_late_first() {
        let now = utc("2026-11-10T12:00:00Z");
        let starts = [
            start(
                "in-time",
                "2026-11-10T08:00:00Z",
                Some("2026-11-10T09:00:00Z"),
            ),
            start("late", "2026-11-10T00:00:00Z", Some("2026-11-10T05:00:00Z")),
            start("unanswered", "2026-11-10T06:00:00Z", None),
            start("pending", "2026-11-10T11:00:00Z", None),
        ];
        let found = misses(&starts, 4 * 3600, Hours::Always, now);
        let listed: Vec<_> = found
            .iter()
            .map(|m| (m.subject_id.as_str(), m.late_by_secs))
            .collect();
        assert_eq!(listed, [("unanswered", 2 * 3600), ("late", 3600)]);
        assert_eq!(found[0].answered_at, None);
        assert_eq!(found[0].due_at, Some(utc("2026-11-10T10:00:00Z")));
    }
}

/// A judged window as stored and returned.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The SLA's key.
    pub sla: String,
    /// The version in force for the window.
    pub version: i32,
    /// Inclusive start.
    pub period_start: DateTime<Utc>,
    /// Exclusive end.
    pub period_end: DateTime<Utc>,
    /// Whether it can no longer change (closed longer than the grace period).
    pub is_final: bool,
    /// The value, `None` without data.
    pub value: Option<f64>,
    /// The objective's target.
    pub target: f64,
    /// The objective's comparison.
    pub op: Op,
    /// The status.
    pub status: Status,
    /// No event of the kinds the SLA reads arrived for the stale-after span.
    pub data_stale: bool,
    /// Counts behind the value.
    pub details: serde_json::Value,
    /// When this was computed.
    pub evaluated_at: DateTime<Utc>,
}

/// An unanswered start that needs attention now.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenItem {
    /// The lead.
    pub subject_id: String,
    /// When its clock started.
    pub started_at: DateTime<Utc>,
    /// When the threshold runs out (`None` while paused indefinitely).
    pub due_at: Option<DateTime<Utc>>,
    /// Counted seconds past the threshold (overdue) or left (due soon; negative of that).
    pub overdue_secs: i64,
    /// Whether the threshold has passed.
    pub overdue: bool,
}

/// Whether an unanswered start is overdue now, or due soon (less than a fifth of the threshold
/// left); `None` for answered starts and those with time to spare.
pub fn open_item(
    start: &StartRecord,
    threshold: i64,
    hours: Hours<'_>,
    now: DateTime<Utc>,
) -> Option<OpenItem> {
    if start.stop_at.is_some() {
        return None;
    }
    let pauses: Vec<_> = start
        .pauses
        .iter()
        .copied()
        .filter(|&(p, _)| p < now)
        .collect();
    let used = counted(hours, &pauses, start.start_at, now);
    let due_at = deadline(hours, &pauses, start.start_at, threshold);
    let overdue = due_at.is_some_and(|due| due <= now);
    let left = threshold - used;
    if !overdue && left * 5 >= threshold {
        return None;
    }
    let overdue_secs = match due_at {
        Some(due) if overdue => hours.seconds_between(due, now),
        _ => -left,
    };
    Some(OpenItem {
        subject_id: start.subject_id.clone(),
        started_at: start.start_at,
        due_at,
        overdue_secs,
        overdue,
    })
}

/// A start that was answered late, or not at all by its deadline: the evidence of a breach.
#[derive(Clone, Debug, PartialEq)]
pub struct Missed {
    /// The lead.
    pub subject_id: String,
    /// When its clock started.
    pub started_at: DateTime<Utc>,
    /// When the threshold ran out (`None` while paused indefinitely).
    pub due_at: Option<DateTime<Utc>>,
    /// When it was answered, if it was.
    pub answered_at: Option<DateTime<Utc>>,
    /// Counted seconds past the threshold: when answered, or up to `now`.
    pub late_by_secs: i64,
}

/// The starts of a window that missed their threshold as of `now`, in the same terms as the
/// value: answered late, or unanswered past their deadline. Latest first.
pub fn misses(
    starts: &[StartRecord],
    threshold: i64,
    hours: Hours<'_>,
    now: DateTime<Utc>,
) -> Vec<Missed> {
    let mut found: Vec<Missed> = starts
        .iter()
        .filter_map(|start| {
            let pauses: Vec<_> = start
                .pauses
                .iter()
                .copied()
                .filter(|&(p, r)| r.is_none_or(|r| r > start.start_at) && p < now)
                .collect();
            let due_at = deadline(hours, &pauses, start.start_at, threshold);
            let late_by_secs = match start.stop_at {
                Some(stop) => counted(hours, &pauses, start.start_at, stop) - threshold,
                None => match due_at {
                    Some(due) if due <= now => hours.seconds_between(due, now),
                    _ => return None,
                },
            };
            (late_by_secs > 0 || (start.stop_at.is_none() && due_at.is_some())).then(|| Missed {
                subject_id: start.subject_id.clone(),
                started_at: start.start_at,
                due_at,
                answered_at: start.stop_at,
                late_by_secs: late_by_secs.max(0),
            })
        })
        .collect();
    found.sort_by(|a, b| {
        b.late_by_secs
            .cmp(&a.late_by_secs)
            .then(a.started_at.cmp(&b.started_at))
    });
    found
}
