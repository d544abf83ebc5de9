//! Activity ingestion: a batch is checked whole, then stored whole, once per `external_id`.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::json;

use super::{Page, PageRequest};
use crate::auth::Principal;
use crate::auth::policy::Action;
use crate::domain::FieldErrors;
use crate::domain::event::{self, Format, ItemProblem, NewEvent, Position};
use crate::error::AppError;
use crate::store::events::{EventFilter, StoredEvent};
use crate::store::{self, DbConn, to_db_time, write_tx};

/// At most this many problems are listed in a 422; the detail still counts them all.
const MAX_LISTED_PROBLEMS: usize = 100;

/// What a stored batch came to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestSummary {
    /// Events stored now.
    pub accepted: usize,
    /// Events whose `external_id` was already stored (or repeated in the batch).
    pub duplicates: usize,
}

/// Team slug → id, for checking events.
pub fn team_ids(conn: &mut DbConn) -> Result<HashMap<String, String>, AppError> {
    let teams = store::teams::list(conn, None, i64::MAX)?;
    Ok(teams.into_iter().map(|t| (t.slug, t.id)).collect())
}

/// Collects checked events and problems, item by item.
pub struct BatchChecker<'a> {
    teams: &'a HashMap<String, String>,
    now: DateTime<Utc>,
    /// Events that passed.
    pub events: Vec<NewEvent>,
    /// Every problem found.
    pub problems: Vec<ItemProblem>,
    /// How many items were read.
    pub items: usize,
}

impl<'a> BatchChecker<'a> {
    /// A checker against `teams` at `now`.
    pub fn new(teams: &'a HashMap<String, String>, now: DateTime<Utc>) -> Self {
        Self {
            teams,
            now,
            events: Vec::new(),
            problems: Vec::new(),
            items: 0,
        }
    }

    /// Takes one item as read.
    pub fn take(&mut self, position: Position, item: Result<event::RawEvent, ItemProblem>) {
        self.items += 1;
        match item
            .map_err(|p| vec![p])
            .and_then(|raw| event::check(raw, position, self.teams, self.now))
        {
            Ok(event) => self.events.push(event),
            Err(problems) => self.problems.extend(problems),
        }
    }
}

fn invalid_items(problems: &[ItemProblem], items: usize) -> AppError {
    let bad: BTreeSet<String> = problems.iter().map(|p| p.position.to_string()).collect();
    let listed = &problems[..problems.len().min(MAX_LISTED_PROBLEMS)];
    let errors: FieldErrors = listed
        .iter()
        .map(|p| (format!("{}.{}", p.position, p.field), p.reason.clone()))
        .collect();
    let items_json = listed
        .iter()
        .map(|p| match p.position {
            Position::Index(i) => json!({"index": i, "field": p.field, "reason": p.reason}),
            Position::Line(n) => json!({"line": n, "field": p.field, "reason": p.reason}),
        })
        .collect();
    let first = bad.iter().next().cloned().unwrap_or_default();
    AppError::InvalidItems {
        detail: format!(
            "{} of {items} events are invalid (the first at {first}); nothing was stored",
            bad.len()
        ),
        errors,
        items: items_json,
    }
}

/// Reads an upload of `format`, checks every item, and stores the batch in one transaction, or
/// nothing at all when any item is invalid (422) or the caller may not post for a team (403).
pub fn ingest(
    conn: &mut DbConn,
    actor: &Principal,
    format: Format,
    body: &[u8],
    max_items: usize,
    now: DateTime<Utc>,
) -> Result<IngestSummary, AppError> {
    let teams = team_ids(conn)?;
    let mut checker = BatchChecker::new(&teams, now);
    let too_many = || {
        AppError::PayloadTooLarge(format!(
            "a batch holds at most {max_items} events; split the upload"
        ))
    };
    let read = match format {
        Format::Json => event::read_json(body, |position, item| checker.take(position, item)),
        Format::Ndjson => event::read_ndjson(body, |position, item| {
            checker.take(position, item);
            checker.items <= max_items
        }),
        Format::Csv => event::read_csv(body, |position, item| {
            checker.take(position, item);
            checker.items <= max_items
        }),
    };
    read.map_err(|e| AppError::BadRequest(e.0))?;
    if checker.items > max_items {
        return Err(too_many());
    }
    if checker.items == 0 {
        return Err(AppError::BadRequest("the upload holds no events".into()));
    }
    if !checker.problems.is_empty() {
        return Err(invalid_items(&checker.problems, checker.items));
    }
    let events = checker.events;
    let team_of: HashMap<&str, &str> = teams
        .iter()
        .map(|(slug, id)| (id.as_str(), slug.as_str()))
        .collect();
    for team in events
        .iter()
        .map(|e| e.team_id.as_str())
        .collect::<BTreeSet<_>>()
    {
        actor
            .authorize(Action::WriteEvents { team })
            .map_err(|e| match e {
                AppError::Forbidden(detail) => AppError::Forbidden(format!(
                    "{detail} (the batch holds events for {})",
                    team_of.get(team).unwrap_or(&"?")
                )),
                other => other,
            })?;
    }
    store_batch(conn, &events, now)
}

/// Stores checked events in one transaction; already-known `external_id`s count as duplicates.
pub fn store_batch(
    conn: &mut DbConn,
    events: &[NewEvent],
    now: DateTime<Utc>,
) -> Result<IngestSummary, AppError> {
    let accepted = write_tx(conn, |conn| {
        store::events::insert_new(conn, events, to_db_time(now))
    })?;
    Ok(IngestSummary {
        accepted,
        duplicates: events.len() - accepted,
    })
}

/// What `GET /events` is narrowed to, as the client wrote it.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this lead.
    pub subject_id: Option<String>,
    /// Only this team (slug).
    pub team: Option<String>,
    /// Occurred at or after.
    pub from: Option<DateTime<Utc>>,
    /// Occurred before.
    pub to: Option<DateTime<Utc>>,
}

/// The `GET /events` sort key of `event`, as the page cursor carries it: `micros|id`.
pub fn encode_position(event: &StoredEvent) -> String {
    format!("{}|{}", event.occurred_at.timestamp_micros(), event.id)
}

/// Reads a sort key written by [`encode_position`]; `None` when it is not one.
pub fn decode_position(text: &str) -> Option<(NaiveDateTime, i64)> {
    let (micros, id) = text.split_once('|')?;
    Some((
        DateTime::from_timestamp_micros(micros.parse().ok()?)?.naive_utc(),
        id.parse().ok()?,
    ))
}

/// Events in the order they happened.
pub fn list(
    conn: &mut DbConn,
    actor: &Principal,
    filter: ListFilter,
    page: &PageRequest,
) -> Result<Page<StoredEvent>, AppError> {
    actor.authorize(Action::ReadEvents)?;
    let team_id = match &filter.team {
        Some(slug) => Some(
            team_ids(conn)?
                .remove(slug)
                .ok_or_else(|| AppError::invalid("team", format!("no team with slug {slug:?}")))?,
        ),
        None => None,
    };
    let after = match page.after.as_deref() {
        Some(text) => Some(
            decode_position(text)
                .ok_or_else(|| AppError::BadRequest("cursor is not valid".into()))?,
        ),
        None => None,
    };
    let store_filter = EventFilter {
        kind: filter.kind,
        subject_id: filter.subject_id,
        team_id,
        from: filter.from.map(to_db_time),
        to: filter.to.map(to_db_time),
    };
    let events = store::events::list(conn, &store_filter, after, page.fetch_limit())?;
    Ok(page.finish(events, encode_position))
}
