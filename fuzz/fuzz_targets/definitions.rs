//! Bodies of `POST /slas` and `PUT /slas/{key}` (SLA definitions, objectives, windows) and of
//! `POST /calendars` (business hours), read as the JSON extractor reads them.
#![no_main]

use accord::domain::calendar::CalendarInput;
use accord::domain::sla::{Definition, DefinitionInput};
use accord::http::json;
use chrono::{DateTime, Duration, Utc};
use libfuzzer_sys::fuzz_target;

fn signed_at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-12T10:00:00Z")
        .expect("a fixed instant")
        .with_timezone(&Utc)
}

fn definition(input: DefinitionInput) {
    let key = input.key.clone().unwrap_or_else(|| "fuzz-sla".into());
    let definition = match input.parse(&key) {
        Ok(definition) => definition,
        Err(errors) => {
            assert!(!errors.is_empty(), "a refusal names a field");
            return;
        }
    };
    // Stored as JSON and read back as the same definition.
    let stored = serde_json::to_string(&definition).expect("a definition serializes");
    let back: Definition = serde_json::from_str(&stored).expect("a stored definition reads");
    assert_eq!(back, definition);

    let signed = signed_at();
    let first = definition.takes_effect(signed, None);
    assert_eq!(first.old_until, None, "a first version replaces nothing");
    // A revision of a version that began a day before: it never starts before it is signed, and
    // no instant is judged by both versions.
    let revision = definition.takes_effect(signed, Some((&definition, signed - Duration::days(1))));
    assert!(revision.from >= signed, "{revision:?}");
    let until = revision.old_until.expect("a revision ends the old version");
    assert!(until <= revision.from, "{revision:?}");
}

fn calendar(input: CalendarInput) {
    let key = input.key.clone().unwrap_or_else(|| "fuzz-calendar".into());
    let now = signed_at();
    let calendar = match input.parse(&key, now) {
        Ok(calendar) => calendar,
        Err(errors) => {
            assert!(!errors.is_empty(), "a refusal names a field");
            return;
        }
    };
    // What `GET /calendars/{key}` shows reads back as the same calendar.
    let shown = CalendarInput {
        key: Some(calendar.key.clone()),
        name: calendar.name.clone(),
        timezone: calendar.timezone.name().to_string(),
        hours: calendar.hours_as_text(),
        holidays: calendar.holidays.iter().map(|d| d.to_string()).collect(),
    };
    assert_eq!(shown.parse(&key, now), Ok(calendar));
}

fuzz_target!(|data: &[u8]| {
    if let Ok(input) = json::parse::<DefinitionInput>(data) {
        definition(input);
    }
    if let Ok(input) = json::parse::<CalendarInput>(data) {
        calendar(input);
    }
});
