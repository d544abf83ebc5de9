//! What every event target asserts about the items a reader hands over.
#![allow(dead_code, reason = "each target uses its part")]

use std::collections::HashMap;

use accord::domain::event::{self, ItemProblem, MAX_FUTURE_SKEW, Position, RawEvent};
use accord::domain::sla::is_event_kind;
use accord::service::events::BatchChecker;
use chrono::{DateTime, Utc};

/// Items as a reader handed them over.
pub type Items = Vec<(Position, Result<RawEvent, ItemProblem>)>;

/// Most items one run reads: enough for any interesting input, and a bound on time.
pub const MAX_ITEMS: usize = 10_000;

/// The clock the checks run at.
pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-03T12:00:00Z")
        .expect("a fixed instant")
        .with_timezone(&Utc)
}

/// Checks every item as `POST /events` does, and asserts what a stored event must hold.
pub fn check_items(items: &Items) {
    let teams = HashMap::from([
        ("marketing".to_string(), "team-marketing".to_string()),
        ("sales".to_string(), "team-sales".to_string()),
    ]);
    let now = now();
    let mut checker = BatchChecker::new(&teams, now);
    let mut bad_items = 0;
    for (position, item) in items.iter().cloned() {
        if let Err(problem) = &item {
            assert_eq!(problem.position, position, "a problem names its own item");
        }
        let problems_before = checker.problems.len();
        checker.take(position, item);
        if checker.problems.len() > problems_before {
            bad_items += 1;
            assert!(
                checker.problems[problems_before..]
                    .iter()
                    .all(|p| p.position == position && !p.field.is_empty()),
                "problems name the item and a field: {:?}",
                &checker.problems[problems_before..]
            );
        }
    }
    assert_eq!(checker.items, items.len());
    assert_eq!(checker.events.len() + bad_items, items.len());
    for stored in &checker.events {
        assert!(is_event_kind(&stored.kind), "{:?}", stored.kind);
        assert!(teams.values().any(|id| *id == stored.team_id));
        for key in [&stored.external_id, &stored.subject_id] {
            assert!(!key.trim().is_empty() && key.len() <= 200, "{key:?}");
        }
        let at = stored.occurred_at.and_utc();
        assert!(at <= now + MAX_FUTURE_SKEW, "{at} is in the future");
        assert_eq!(
            event::parse_instant(&at.to_rfc3339()),
            Some(at),
            "an accepted instant reads back as itself"
        );
        // `GET /events` reads the stored attributes back as a JSON object.
        let attributes: Result<serde_json::Map<String, serde_json::Value>, _> =
            serde_json::from_str(&stored.attributes);
        assert!(
            attributes.is_ok(),
            "stored attributes {:?} do not read back: {:?}",
            stored.attributes,
            attributes.err()
        );
    }
}

/// One event as a JSON object, attributes verbatim.
pub fn to_json(raw: &RawEvent) -> String {
    let text = |s: &String| serde_json::to_string(s).expect("strings serialize");
    let mut out = format!(
        "{{\"external_id\":{},\"kind\":{},\"subject_id\":{},\"team\":{},\"occurred_at\":{}",
        text(&raw.external_id),
        text(&raw.kind),
        text(&raw.subject_id),
        text(&raw.team),
        text(&raw.occurred_at),
    );
    if let Some(attributes) = &raw.attributes {
        out.push_str(",\"attributes\":");
        out.push_str(attributes);
    }
    out.push('}');
    out
}

/// The events among `items`.
pub fn events(items: &Items) -> Vec<RawEvent> {
    items
        .iter()
        .filter_map(|(_, item)| item.as_ref().ok().cloned())
        .collect()
}
