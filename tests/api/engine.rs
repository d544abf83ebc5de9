//! The engine against an obviously-correct in-memory reference, over random events and SLAs, on
//! both backends: the database's counting and matching must agree with plain iteration.

use std::collections::HashMap;

use accord::domain::event::NewEvent;
use accord::domain::sla::{Definition, DefinitionInput, Op};
use accord::service::evaluation::{Settings, simulate};
use accord::store::{self, Db, DbConn};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::json;

use crate::helpers::{Backend, TestDb};

const KINDS: [&str; 5] = [
    "lead.created",
    "lead.qualified",
    "lead.handed_off",
    "lead.contacted",
    "lead.converted",
];
const TEAMS: [&str; 2] = ["marketing", "sales"];
const SOURCES: [&str; 3] = ["webinar", "ads", "organic"];
const ZONES: [Tz; 3] = [
    chrono_tz::UTC,
    chrono_tz::Europe::Berlin,
    chrono_tz::America::New_York,
];

#[derive(Clone, Debug)]
struct Ev {
    kind: usize,
    subject: usize,
    team: usize,
    at: DateTime<Utc>,
    source: usize,
}

#[derive(Clone, Debug)]
struct Case {
    metric: usize,
    zone: usize,
    period: usize,
    op: usize,
    target: f64,
    source_filter: Option<usize>,
    team_filter: Option<usize>,
    threshold_hours: i64,
    events: Vec<Ev>,
}

fn origin() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 1, 0, 0, 0).unwrap()
}

fn case() -> impl Strategy<Value = Case> {
    let event = (
        0..5usize,
        0..6usize,
        0..2usize,
        0..(61 * 24 * 60i64),
        0..3usize,
    )
        .prop_map(|(kind, subject, team, minutes, source)| Ev {
            kind,
            subject,
            team,
            at: origin() + Duration::minutes(minutes),
            source,
        });
    (
        0..3usize,
        0..3usize,
        0..4usize,
        0..4usize,
        0..=20u32,
        proptest::option::of(0..3usize),
        proptest::option::of(0..2usize),
        1..72i64,
        proptest::collection::vec(event, 0..80),
    )
        .prop_map(
            |(metric, zone, period, op, t, source_filter, team_filter, threshold_hours, events)| {
                let target = match metric {
                    0 => f64::from(t),
                    1 => f64::from(t) / 20.0,
                    _ => f64::from(t) * 5.0,
                };
                Case {
                    metric,
                    zone,
                    period,
                    op,
                    target,
                    source_filter,
                    team_filter,
                    threshold_hours,
                    events,
                }
            },
        )
}

fn definition(case: &Case) -> Definition {
    let mut filter = json!({});
    if let Some(s) = case.source_filter {
        filter["attributes"] = json!({"source": SOURCES[s]});
    }
    if let Some(t) = case.team_filter {
        filter["team"] = json!(TEAMS[t]);
    }
    let selector = |kind: &str| json!({"event": kind, "filter": filter});
    let metric = match case.metric {
        0 => json!({"kind": "count", "event": "lead.qualified", "filter": filter}),
        1 => {
            json!({"kind": "ratio", "numerator": selector("lead.converted"), "denominator": selector("lead.qualified")})
        }
        _ => {
            json!({"kind": "response_time", "start": selector("lead.handed_off"), "stop": {"event": "lead.contacted"},
                    "threshold": format!("{}h", case.threshold_hours)})
        }
    };
    let (op, period) = (
        [">=", "<=", ">", "<"][case.op],
        ["day", "week", "month", "quarter"][case.period],
    );
    let input: DefinitionInput = serde_json::from_value(json!({
        "key": "prop", "name": "Property", "provider": "marketing", "consumer": "sales", "metric": metric,
        "objective": {"op": op, "target": case.target},
        "window": {"kind": "calendar", "period": period, "timezone": ZONES[case.zone].name()}
    }))
    .unwrap();
    input.parse("prop").unwrap()
}

/// Where the periods of kind `period` (day, week, month, quarter) start in `zone` between `from`
/// and `to`, found without the engine's period code: walking UTC in quarter hours (these zones'
/// local midnights fall on them), a period starts where the local date turns to a first day.
fn boundaries(
    period: usize,
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let starts_period = |date: NaiveDate| match period {
        0 => true,
        1 => date.weekday() == Weekday::Mon,
        2 => date.day() == 1,
        _ => date.day() == 1 && date.month() % 3 == 1,
    };
    let step = Duration::minutes(15);
    let mut found = Vec::new();
    let (mut at, mut before) = (from, (from - step).with_timezone(&zone).date_naive());
    while at <= to {
        let date = at.with_timezone(&zone).date_naive();
        if date != before && starts_period(date) {
            found.push(at);
        }
        (before, at) = (date, at + step);
    }
    found
}

/// Plain iteration over the events: what every period's value must be.
fn reference(
    case: &Case,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<f64> {
    let matches = |e: &Ev, kind: usize| {
        e.kind == kind
            && case.source_filter.is_none_or(|s| s == e.source)
            && case.team_filter.is_none_or(|t| t == e.team)
            && start <= e.at
            && e.at < end
    };
    match case.metric {
        0 => Some(case.events.iter().filter(|e| matches(e, 1)).count() as f64),
        1 => {
            let den = case.events.iter().filter(|e| matches(e, 1)).count();
            let num = case.events.iter().filter(|e| matches(e, 4)).count();
            (den > 0).then(|| num as f64 / den as f64)
        }
        _ => {
            let threshold = Duration::hours(case.threshold_hours);
            let (mut within, mut decided) = (0, 0);
            for s in case.events.iter().filter(|e| matches(e, 2)) {
                let stop = case
                    .events
                    .iter()
                    .filter(|t| t.kind == 3 && t.subject == s.subject && t.at >= s.at && t.at < now)
                    .map(|t| t.at)
                    .min();
                match stop {
                    Some(stop) => {
                        decided += 1;
                        if stop - s.at <= threshold {
                            within += 1;
                        }
                    }
                    None if s.at + threshold <= now => decided += 1,
                    None => {}
                }
            }
            (decided > 0).then(|| 100.0 * f64::from(within) / f64::from(decided))
        }
    }
}

fn load(conn: &mut DbConn, teams: &HashMap<&str, String>, events: &[Ev]) {
    diesel::RunQueryDsl::execute(diesel::sql_query("DELETE FROM events"), conn).unwrap();
    let rows: Vec<NewEvent> = events
        .iter()
        .enumerate()
        .map(|(i, e)| NewEvent {
            external_id: format!("e{i}"),
            kind: KINDS[e.kind].into(),
            subject_id: format!("L{}", e.subject),
            team_id: teams[TEAMS[e.team]].clone(),
            occurred_at: e.at.naive_utc(),
            attributes: json!({"source": SOURCES[e.source]}).to_string(),
        })
        .collect();
    accord::service::events::store_batch(conn, &rows, "system", origin()).unwrap();
}

fn engine_agrees_with_the_reference(backend: Backend) {
    let test_db = TestDb::new(backend);
    let url = accord::config::DatabaseUrl::parse(&test_db.url).unwrap();
    let db = Db::open(&url).unwrap();
    let mut conn = db.get().unwrap();
    store::migrate(&mut conn).unwrap();
    let mut teams = HashMap::new();
    for slug in TEAMS {
        let team = accord::domain::identity::Team {
            id: store::new_id(),
            slug: slug.into(),
            name: slug.into(),
            email: format!("{slug}@example.com"),
            webhook_url: None,
            webhook_kind: Default::default(),
            webhook_secret: None,
            digest: None,
            created_at: origin(),
            updated_at: origin(),
        };
        store::teams::insert(&mut conn, &team).unwrap();
        teams.insert(slug, team.id);
    }
    let settings = Settings {
        grace: "48h".parse().unwrap(),
        stale_after: "48h".parse().unwrap(),
        remind_every: None,
    };
    let (from, to, now) = (
        origin(),
        origin() + Duration::days(61),
        origin() + Duration::days(200),
    );
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let conn = std::cell::RefCell::new(conn);
    runner
        .run(&case(), |case| {
            let mut conn = conn.borrow_mut();
            load(&mut conn, &teams, &case.events);
            let definition = definition(&case);
            let got = simulate(&mut conn, &definition, from, to, now, settings).unwrap();
            let starts = boundaries(
                case.period,
                ZONES[case.zone],
                from - Duration::days(100),
                to + Duration::days(100),
            );
            // Every period that overlaps [from, to), as (start, end).
            let expected: Vec<(DateTime<Utc>, DateTime<Utc>)> = starts
                .windows(2)
                .map(|pair| (pair[0], pair[1]))
                .filter(|(start, end)| *start < to && *end > from)
                .collect();
            prop_assert_eq!(got.len(), expected.len());
            let op: Op = [">=", "<=", ">", "<"][case.op].parse().unwrap();
            for (evaluation, &(start, end)) in got.iter().zip(&expected) {
                prop_assert_eq!(evaluation.period_start, start);
                prop_assert_eq!(evaluation.period_end, end);
                let period = (start, end);
                let want = reference(&case, start, end, now);
                match (evaluation.value, want) {
                    (Some(a), Some(b)) => prop_assert!(
                        (a - b).abs() < 1e-9,
                        "value {} ≠ reference {} in {:?}",
                        a,
                        b,
                        period
                    ),
                    (a, b) => prop_assert_eq!(a, b, "in {:?}", period),
                }
                let status = match want {
                    None => "no_data",
                    Some(v) if op.holds(v, case.target) => "met",
                    Some(_) => "breached",
                };
                prop_assert_eq!(evaluation.status.as_str(), status);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_engine_agrees_with_the_reference_on_sqlite() {
    engine_agrees_with_the_reference(Backend::Sqlite);
}

#[test]
fn the_engine_agrees_with_the_reference_on_postgres() {
    engine_agrees_with_the_reference(Backend::Postgres);
}
