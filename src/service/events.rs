//! Activity ingestion: a batch is checked whole, then stored whole, once per `external_id`.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::json;

use super::{Page, PageRequest};
use crate::auth::Principal;
use crate::auth::policy::Action;
use crate::domain::event::{self, Format, ItemProblem, NewEvent, Position};
use crate::domain::{FieldErrors, validate};
use crate::error::{AppError, bounded};
use crate::store::events::{EventFilter, StoredEvent};
use crate::store::{self, DbConn, to_db_time};

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
    listed_problems: usize,
    /// Events that passed (none are kept once an item has failed, when bounded: the batch is
    /// refused anyway).
    pub events: Vec<NewEvent>,
    /// The problems found (the first ones only, when bounded).
    pub problems: Vec<ItemProblem>,
    /// How many items were read.
    pub items: usize,
    /// How many items failed.
    pub bad_items: usize,
}

impl<'a> BatchChecker<'a> {
    /// A checker against `teams` at `now` that keeps every event and problem.
    pub fn new(teams: &'a HashMap<String, String>, now: DateTime<Utc>) -> Self {
        Self {
            teams,
            now,
            listed_problems: usize::MAX,
            events: Vec::new(),
            problems: Vec::new(),
            items: 0,
            bad_items: 0,
        }
    }

    /// A checker for a batch stored whole or not at all: it keeps the first
    /// [`MAX_LISTED_PROBLEMS`] problems, and no events once one item has failed, so a hostile
    /// upload costs no more memory than a good one.
    pub fn all_or_nothing(teams: &'a HashMap<String, String>, now: DateTime<Utc>) -> Self {
        Self {
            listed_problems: MAX_LISTED_PROBLEMS,
            ..Self::new(teams, now)
        }
    }

    /// Takes one item as read.
    pub fn take(&mut self, position: Position, item: Result<event::RawEvent, ItemProblem>) {
        self.items += 1;
        match item
            .map_err(|p| vec![p])
            .and_then(|raw| event::check(raw, position, self.teams, self.now))
        {
            Ok(_) if self.bad_items > 0 && self.listed_problems != usize::MAX => {}
            Ok(event) => self.events.push(event),
            Err(problems) => {
                self.bad_items += 1;
                let room = self.listed_problems.saturating_sub(self.problems.len());
                self.problems.extend(problems.into_iter().take(room));
                if self.listed_problems != usize::MAX {
                    self.events = Vec::new();
                }
            }
        }
    }
}

fn invalid_items(checker: &BatchChecker<'_>) -> AppError {
    let listed = &checker.problems[..checker.problems.len().min(MAX_LISTED_PROBLEMS)];
    let errors: FieldErrors = listed
        .iter()
        .map(|p| (format!("{}.{}", p.position, p.field), p.reason.clone()))
        .collect();
    let items_json = listed
        .iter()
        .map(|p| {
            let (field, reason) = (bounded(&p.field), bounded(&p.reason));
            match p.position {
                Position::Index(i) => json!({"index": i, "field": field, "reason": reason}),
                Position::Line(n) => json!({"line": n, "field": field, "reason": reason}),
            }
        })
        .collect();
    let first = listed
        .first()
        .map(|p| p.position.to_string())
        .unwrap_or_default();
    let unlisted = checker.bad_items
        - listed
            .iter()
            .map(|p| p.position)
            .collect::<BTreeSet<_>>()
            .len();
    let more = if unlisted > 0 {
        format!("; the first {MAX_LISTED_PROBLEMS} problems are listed")
    } else {
        String::new()
    };
    AppError::InvalidItems {
        detail: format!(
            "{} of {} events are invalid (the first at {first}){more}; nothing was stored",
            checker.bad_items, checker.items
        ),
        errors,
        items: items_json,
    }
}

/// Reads an upload of `format` and checks every item: the events to store, or the reason the
/// whole batch is refused. The caller's right to write is checked before a byte is read, and
/// each item's team as it is read: the first item for a team the caller may not write for
/// stops the read with a 403. No database connection is needed, so none is held while parsing.
pub fn check_upload(
    actor: &Principal,
    format: Format,
    body: &[u8],
    teams: &HashMap<String, String>,
    max_items: usize,
    now: DateTime<Utc>,
) -> Result<Vec<NewEvent>, AppError> {
    actor.authorize(Action::WriteSomeEvents)?;
    let mut checker = BatchChecker::all_or_nothing(teams, now);
    let mut refused: Option<AppError> = None;
    let mut take = |position: Position, item: Result<event::RawEvent, ItemProblem>| -> bool {
        // A team that does not exist is no team of the caller's either: a caller bound to a team
        // learns nothing of which others exist.
        if let Ok(raw) = &item
            && let team = teams.get(&raw.team).map_or("", String::as_str)
            && let Err(error) = actor.authorize(Action::WriteEvents { team })
        {
            refused = Some(match error {
                AppError::Forbidden(detail) => AppError::Forbidden(format!(
                    "{detail} (the event at {position} is for {}); nothing was stored",
                    validate::quoted(&raw.team)
                )),
                other => other,
            });
            return false;
        }
        checker.take(position, item);
        // One item past the limit is enough to know the batch is too large.
        checker.items <= max_items
    };
    let read = match format {
        Format::Json => event::read_json(body, &mut take),
        Format::Ndjson => event::read_ndjson(body, &mut take),
        Format::Csv => event::read_csv(body, &mut take),
    };
    if let Some(refusal) = refused {
        return Err(refusal);
    }
    read.map_err(|e| AppError::BadRequest(e.0))?;
    if checker.items > max_items {
        return Err(AppError::PayloadTooLarge(format!(
            "a batch holds at most {max_items} events; split the upload"
        )));
    }
    if checker.items == 0 {
        return Err(AppError::BadRequest("the upload holds no events".into()));
    }
    if checker.bad_items > 0 {
        return Err(invalid_items(&checker));
    }
    Ok(checker.events)
}

/// Stores checked events in one transaction as submitted by `submitted_by` (an audit actor:
/// `user:<id>`, `token:<id>`, `system`); an `external_id` the team already used counts as a
/// duplicate.
pub fn store_batch(
    conn: &mut DbConn,
    events: &[NewEvent],
    submitted_by: &str,
    now: DateTime<Utc>,
) -> Result<IngestSummary, AppError> {
    let accepted = store::bulk_write_tx(conn, |conn| {
        store::events::insert_new(conn, events, submitted_by, to_db_time(now))
    })?;
    Ok(IngestSummary {
        accepted,
        duplicates: events.len() - accepted,
    })
}

/// Stores checked events arriving in chunks (a stream too large to hold at once), committing
/// every `per_transaction` events or so (after the chunk that reaches it) and at the end;
/// `progress` hears the total after each commit. Duplicates count as in [`store_batch`].
pub fn store_chunks(
    conn: &mut DbConn,
    chunks: impl Iterator<Item = Vec<NewEvent>>,
    per_transaction: usize,
    submitted_by: &str,
    now: DateTime<Utc>,
    mut progress: impl FnMut(IngestSummary),
) -> Result<IngestSummary, AppError> {
    let mut chunks = chunks.peekable();
    let mut total = IngestSummary::default();
    while chunks.peek().is_some() {
        let stored = store::bulk_write_tx(conn, |conn| {
            let mut stored = IngestSummary::default();
            while stored.accepted + stored.duplicates < per_transaction {
                let Some(chunk) = chunks.next() else { break };
                let accepted =
                    store::events::insert_new(conn, &chunk, submitted_by, to_db_time(now))?;
                stored.accepted += accepted;
                stored.duplicates += chunk.len() - accepted;
            }
            Ok::<_, AppError>(stored)
        })?;
        total.accepted += stored.accepted;
        total.duplicates += stored.duplicates;
        progress(total);
    }
    Ok(total)
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
