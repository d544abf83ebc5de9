//! Activity events: reading them from JSON, NDJSON and CSV, and checking each one.
//!
//! Readers hand items over one at a time with their position (array index or line), so a
//! large upload is never turned into a tree of values, and every bad item can be named.

use std::collections::HashMap;
use std::io::BufRead;

use chrono::{DateTime, Duration, NaiveDateTime, SubsecRound, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::sla::is_event_kind;
use super::validate;

/// How far ahead of the server's clock an event may lie: a skewed source must not fill periods
/// that have not happened.
pub const MAX_FUTURE_SKEW: Duration = Duration::minutes(5);

/// The formats `POST /events` and `accord import` read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object, or a JSON array of them.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// A header line `external_id,kind,subject_id,team,occurred_at,attributes`, then one event a line.
    Csv,
}

/// Where an item was in its upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Position {
    /// Index in a JSON array (0-based; 0 for a single object).
    Index(usize),
    /// Line of NDJSON or CSV (1-based; a CSV header is line 1).
    Line(u64),
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Index(i) => write!(f, "[{i}]"),
            Self::Line(n) => write!(f, "line {n}"),
        }
    }
}

/// One problem with one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemProblem {
    /// Where the item was.
    pub position: Position,
    /// The field at fault (`body` when the item as a whole is).
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

/// An event as read, before any check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawEvent {
    /// Idempotency key.
    pub external_id: String,
    /// Kind, e.g. `lead.handed_off`.
    pub kind: String,
    /// The lead.
    pub subject_id: String,
    /// Team slug.
    pub team: String,
    /// RFC 3339 with any offset.
    pub occurred_at: String,
    /// JSON object text, if any.
    pub attributes: Option<String>,
}

/// A checked event, ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    /// Idempotency key.
    pub external_id: String,
    /// Kind.
    pub kind: String,
    /// The lead.
    pub subject_id: String,
    /// Team id.
    pub team_id: String,
    /// When it happened, UTC, to the microsecond.
    pub occurred_at: NaiveDateTime,
    /// JSON object text.
    pub attributes: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonEvent<'a> {
    external_id: String,
    kind: String,
    subject_id: String,
    team: String,
    occurred_at: String,
    #[serde(borrow)]
    attributes: Option<&'a RawValue>,
}

fn problem(position: Position, field: impl Into<String>, reason: impl Into<String>) -> ItemProblem {
    ItemProblem {
        position,
        field: field.into(),
        reason: reason.into(),
    }
}

fn json_item(position: Position, bytes: &[u8]) -> Result<RawEvent, ItemProblem> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let event: JsonEvent<'_> =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            let path = e.path().to_string();
            let message = e.inner().to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(m, _)| m)
                .to_string();
            let field = match message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split_once('`'))
            {
                Some((missing, _)) => missing.to_string(),
                // An unknown field with an empty name has an empty path: name the item instead.
                None if path == "." || path.is_empty() => "body".into(),
                None => path,
            };
            let reason = if message.starts_with("missing field") {
                "is required".into()
            } else {
                message
            };
            problem(position, field, reason)
        })?;
    // An NDJSON line holds one event: a second object after it would otherwise be dropped unread.
    deserializer.end().map_err(|_| {
        problem(
            position,
            "body",
            "has more after the event; write one event a line",
        )
    })?;
    Ok(RawEvent {
        external_id: event.external_id,
        kind: event.kind,
        subject_id: event.subject_id,
        team: event.team,
        occurred_at: event.occurred_at,
        attributes: event.attributes.map(|raw| raw.get().to_string()),
    })
}

/// A whole upload could not be read (broken JSON around the items, a CSV without its header).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UnreadableUpload(pub String);

/// Reads a JSON object or array, calling `each` for every item in order until it answers `false`.
///
/// An array is read as a stream: each element is handed over as soon as it is read (a slice of
/// the body, read on its own so that a bad item is named by its index), and nothing is kept, so
/// the work is bounded by what `each` accepts, whatever the array holds. Items may be handed over
/// before a fault further on makes the upload unreadable; the caller then refuses it whole.
pub fn read_json(
    body: &[u8],
    mut each: impl FnMut(Position, Result<RawEvent, ItemProblem>) -> bool,
) -> Result<(), UnreadableUpload> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        let mut stopped = false;
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let read = serde::Deserializer::deserialize_seq(
            &mut deserializer,
            EachElement {
                each: &mut each,
                stopped: &mut stopped,
            },
        )
        .and_then(|()| deserializer.end());
        // Stopping leaves the rest of the array unread, which serde_json reports as an error.
        return match read {
            Err(_) if stopped => Ok(()),
            other => other.map_err(|e| UnreadableUpload(format!("malformed JSON: {e}"))),
        };
    }
    let item: &RawValue = serde_json::from_slice(body)
        .map_err(|e| UnreadableUpload(format!("malformed JSON: {e}")))?;
    each(
        Position::Index(0),
        json_item(Position::Index(0), item.get().as_bytes()),
    );
    Ok(())
}

/// Hands each element of a JSON array to `each` as it is read, until `each` answers `false`.
struct EachElement<'f, F> {
    each: &'f mut F,
    stopped: &'f mut bool,
}

impl<'de, F> serde::de::Visitor<'de> for EachElement<'_, F>
where
    F: FnMut(Position, Result<RawEvent, ItemProblem>) -> bool,
{
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of events")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            let position = Position::Index(index);
            if !(self.each)(position, json_item(position, item.get().as_bytes())) {
                *self.stopped = true;
                return Ok(());
            }
            index += 1;
        }
        Ok(())
    }
}

/// Reads NDJSON line by line from `reader`; blank lines are skipped.
pub fn read_ndjson(
    mut reader: impl BufRead,
    mut each: impl FnMut(Position, Result<RawEvent, ItemProblem>) -> bool,
) -> Result<(), UnreadableUpload> {
    let mut line = Vec::with_capacity(512);
    let mut number = 0u64;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| UnreadableUpload(format!("cannot read: {e}")))?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let position = Position::Line(number);
        if !each(position, json_item(position, &line)) {
            return Ok(());
        }
    }
}

/// The columns of an event upload in CSV, in the order of its header line.
pub const CSV_COLUMNS: [&str; 6] = [
    "external_id",
    "kind",
    "subject_id",
    "team",
    "occurred_at",
    "attributes",
];

/// Reads CSV with a header line; fields may be quoted (commas, quotes and newlines inside).
pub fn read_csv(
    reader: impl std::io::Read,
    mut each: impl FnMut(Position, Result<RawEvent, ItemProblem>) -> bool,
) -> Result<(), UnreadableUpload> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(reader);
    let header = csv
        .headers()
        .map_err(|e| UnreadableUpload(format!("cannot read the CSV header: {e}")))?
        .clone();
    let mut columns = [None; 6];
    for (index, name) in header.iter().enumerate() {
        match CSV_COLUMNS.iter().position(|c| *c == name.trim()) {
            Some(column) => columns[column] = Some(index),
            None => {
                return Err(UnreadableUpload(format!(
                    "unknown CSV column {}; expected {}",
                    validate::quoted(name),
                    CSV_COLUMNS.join(",")
                )));
            }
        }
    }
    if let Some(missing) = CSV_COLUMNS
        .iter()
        .zip(columns)
        .take(5)
        .find(|(_, c)| c.is_none())
    {
        return Err(UnreadableUpload(format!(
            "the CSV header lacks the column {:?}",
            missing.0
        )));
    }
    let mut record = csv::StringRecord::new();
    loop {
        let line = csv.position().line() + 1;
        match csv.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                let position = Position::Line(e.position().map_or(line, |p| p.line()));
                if !each(
                    position,
                    Err(problem(position, "body", format!("unreadable CSV: {e}"))),
                ) {
                    return Ok(());
                }
                continue;
            }
        }
        let position = Position::Line(record.position().map_or(line, |p| p.line()));
        let field = |column: usize| {
            columns[column]
                .and_then(|i| record.get(i))
                .unwrap_or_default()
                .to_string()
        };
        let item = if record.len() != header.len() {
            Err(problem(
                position,
                "body",
                format!(
                    "has {} fields; the header has {}",
                    record.len(),
                    header.len()
                ),
            ))
        } else {
            let attributes = field(5);
            Ok(RawEvent {
                external_id: field(0),
                kind: field(1),
                subject_id: field(2),
                team: field(3),
                occurred_at: field(4),
                attributes: (!attributes.trim().is_empty()).then_some(attributes),
            })
        };
        if !each(position, item) {
            return Ok(());
        }
    }
}

/// Parses RFC 3339 with any offset into UTC, to the microsecond.
pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc).trunc_subsecs(6))
}

/// Reads attributes text as the JSON object `GET /events` will read back. Being well-formed is not
/// enough: a number beyond `f64` (`1e999`) or nesting deeper than serde_json's limit of 128 levels
/// would be stored, then read back as `null`.
pub fn read_attributes(text: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err("must be a JSON object".into()),
        Err(e) => {
            let message = e.to_string();
            Err(if message.starts_with("number out of range") {
                format!("holds a number out of range for a double ({e})")
            } else if message.starts_with("recursion limit exceeded") {
                format!("nests deeper than 128 levels ({e})")
            } else {
                format!("is not JSON: {e}")
            })
        }
    }
}

/// Checks one event against the rules of §3; `teams` maps slugs to ids.
pub fn check(
    raw: RawEvent,
    position: Position,
    teams: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> Result<NewEvent, Vec<ItemProblem>> {
    let mut problems = Vec::new();
    let mut fail = |field: &str, reason: String| problems.push(problem(position, field, reason));
    for (field, value) in [
        ("external_id", &raw.external_id),
        ("subject_id", &raw.subject_id),
    ] {
        if value.trim().is_empty() {
            fail(field, "must not be empty".into());
        } else if value.len() > 200 {
            fail(field, "must be at most 200 bytes".into());
        } else if value.contains('\0') {
            fail(field, validate::NUL_REASON.into());
        }
    }
    if !is_event_kind(&raw.kind) {
        fail(
            "kind",
            format!(
                "{} does not match ^[a-z][a-z0-9_.-]{{0,63}}$",
                validate::quoted(&raw.kind)
            ),
        );
    }
    let team_id = teams.get(&raw.team).cloned();
    if team_id.is_none() {
        fail(
            "team",
            format!("no team with slug {}", validate::quoted(&raw.team)),
        );
    }
    let occurred_at = parse_instant(&raw.occurred_at);
    match occurred_at {
        None => fail(
            "occurred_at",
            format!(
                "{} is not an RFC 3339 timestamp",
                validate::quoted(&raw.occurred_at)
            ),
        ),
        Some(at) if at > now + MAX_FUTURE_SKEW => fail(
            "occurred_at",
            format!("{} is more than 5 minutes in the future", at.to_rfc3339()),
        ),
        Some(_) => {}
    }
    let attributes = match raw.attributes {
        None => "{}".to_string(),
        Some(text) => match read_attributes(&text) {
            Ok(map) => match validate::nul_in_json(&serde_json::Value::Object(map)) {
                None => text.trim().to_string(),
                Some(path) => {
                    fail(
                        "attributes",
                        format!("{} (at {path})", validate::NUL_REASON),
                    );
                    String::new()
                }
            },
            Err(reason) => {
                fail("attributes", reason);
                String::new()
            }
        },
    };
    match (team_id, occurred_at) {
        (Some(team_id), Some(at)) if problems.is_empty() => Ok(NewEvent {
            external_id: raw.external_id,
            kind: raw.kind,
            subject_id: raw.subject_id,
            team_id,
            occurred_at: at.naive_utc(),
            attributes,
        }),
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect_csv(text: &str) -> Vec<(Position, Result<RawEvent, ItemProblem>)> {
        let mut items = Vec::new();
        read_csv(text.as_bytes(), |p, r| {
            items.push((p, r));
            true
        })
        .unwrap();
        items
    }

    #[test]
    fn csv_fields_may_hold_commas_quotes_and_newlines() {
        let text = concat!(
            "external_id,kind,subject_id,team,occurred_at,attributes\n",
            r#"a-1,lead.created,"L,1",marketing,2026-11-03T09:12:00+01:00,"{""note"": ""big, \""urgent\"""","#,
            "\n",
            r#" ""region"": ""EMEA""}""#,
            "\n",
            "a-2,lead.created,L2,marketing,2026-11-03T09:13:00Z,\n",
        );
        let items = collect_csv(text);
        assert_eq!(items.len(), 2);
        let first = items[0].1.as_ref().unwrap();
        assert_eq!(items[0].0, Position::Line(2));
        let attributes: serde_json::Value =
            serde_json::from_str(first.attributes.as_deref().unwrap()).unwrap();
        assert_eq!(attributes["note"], "big, \"urgent\"");
        assert_eq!(attributes["region"], "EMEA");
        assert_eq!(first.subject_id, "L,1");
        assert_eq!(
            items[1].0,
            Position::Line(4),
            "the quoted newline makes the second record start on line 4"
        );
        assert_eq!(items[1].1.as_ref().unwrap().attributes, None);
    }

    #[test]
    fn csv_headers_are_checked() {
        let err = read_csv("external_id,kind,subject\n".as_bytes(), |_, _| true).unwrap_err();
        assert!(err.0.contains("subject"), "{err}");
    }

    #[test]
    fn ndjson_and_json_name_bad_items_by_position() {
        let text = "{\"external_id\":\"a\",\"kind\":\"lead.created\",\"subject_id\":\"L\",\"team\":\"m\",\"occurred_at\":\"x\"}\n\n{\"external_id\":\"b\",\"kind\":5}\n";
        let mut seen = Vec::new();
        read_ndjson(text.as_bytes(), |p, r| {
            seen.push((p, r.err().map(|e| e.field)));
            true
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![
                (Position::Line(1), None),
                (Position::Line(3), Some("kind".to_string()))
            ]
        );

        let mut seen = Vec::new();
        read_json(br#"[{"external_id":"a"}, {"external_id":"b","kind":"k","subject_id":"s","team":"t","occurred_at":"o","colour":1}]"#, |p, r| {
            seen.push((p, r.err().map(|e| e.field)));
            true
        })
        .unwrap();
        assert_eq!(seen[0], (Position::Index(0), Some("kind".to_string())));
        assert_eq!(seen[1].0, Position::Index(1));
        assert!(read_json(b"[{", |_, _| true).is_err());
    }

    #[test]
    fn ndjson_refuses_more_than_one_event_a_line() {
        let event = r#"{"external_id":"a","kind":"lead.created","subject_id":"L","team":"m","occurred_at":"2026-11-02T08:00:00Z"}"#;
        let text = format!("{event}{event}\n{event} x\n{event} \r\n");
        let mut seen = Vec::new();
        read_ndjson(text.as_bytes(), |p, r| {
            seen.push((p, r.err().map(|e| e.field)));
            true
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![
                (Position::Line(1), Some("body".to_string())),
                (Position::Line(2), Some("body".to_string())),
                (Position::Line(3), None),
            ]
        );
    }

    #[test]
    fn a_json_array_is_read_only_as_far_as_asked() {
        let mut seen = 0;
        // Ten million elements would take gigabytes as a list; the reader stops at the third.
        let body = format!("[{}0]", "0,".repeat(10_000_000));
        read_json(body.as_bytes(), |_, item| {
            assert!(item.is_err(), "a zero is not an event");
            seen += 1;
            seen < 3
        })
        .unwrap();
        assert_eq!(seen, 3);
        let mut all = 0;
        read_json(b" [1, 2] ", |_, _| {
            all += 1;
            true
        })
        .unwrap();
        assert_eq!(all, 2);
        assert!(read_json(b"[1, 2] x", |_, _| true).is_err());
        assert!(read_json(b"[1, 2", |_, _| true).is_err());
    }

    #[test]
    fn an_unknown_field_without_a_name_names_the_item() {
        let mut seen = Vec::new();
        read_json(br#"{"external_id":"a","":1}"#, |_, r| {
            seen.push(r.unwrap_err().field);
            true
        })
        .unwrap();
        assert_eq!(seen, ["body"]);
    }

    #[test]
    fn attributes_must_read_back() {
        let deep = format!("{{\"a\": {}1{}}}", "[".repeat(128), "]".repeat(128));
        let just = format!("{{\"a\": {}1{}}}", "[".repeat(126), "]".repeat(126));
        assert!(read_attributes(&just).is_ok());
        for (text, reason) in [
            (r#"{"a": 1e999}"#, "out of range"),
            (r#"{"a": -1e400}"#, "out of range"),
            (deep.as_str(), "deeper than 128"),
            ("[1]", "must be a JSON object"),
            ("{", "is not JSON"),
        ] {
            let error = read_attributes(text).unwrap_err();
            assert!(error.contains(reason), "{text}: {error}");
        }
        assert_eq!(read_attributes(r#" {"a": 1e300} "#).unwrap()["a"], 1e300);
    }

    #[test]
    fn checks_each_field_and_normalises_offsets() {
        let teams = HashMap::from([("marketing".to_string(), "team-1".to_string())]);
        let now = parse_instant("2026-11-03T12:00:00Z").unwrap();
        let raw = RawEvent {
            external_id: "crm-1".into(),
            kind: "lead.handed_off".into(),
            subject_id: "L1".into(),
            team: "marketing".into(),
            occurred_at: "2026-11-03T09:12:00.1234567+01:00".into(),
            attributes: Some(r#"{"source": "webinar"}"#.into()),
        };
        let event = check(raw.clone(), Position::Line(2), &teams, now).unwrap();
        assert_eq!(event.occurred_at.to_string(), "2026-11-03 08:12:00.123456");
        assert_eq!(event.team_id, "team-1");

        let bad = RawEvent {
            external_id: " ".into(),
            kind: "Lead".into(),
            team: "sales".into(),
            occurred_at: "2026-11-03T12:06:00Z".into(),
            attributes: Some("[1]".into()),
            ..raw
        };
        let fields: Vec<String> = check(bad, Position::Line(2), &teams, now)
            .unwrap_err()
            .into_iter()
            .map(|p| p.field)
            .collect();
        assert_eq!(
            fields,
            ["external_id", "kind", "team", "occurred_at", "attributes"]
        );
    }
}
