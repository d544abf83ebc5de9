//! The `events` table: bulk idempotent inserts and filtered listing.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{events, teams};
use super::{DbConn, from_db_time};
use crate::domain::event::NewEvent;

#[derive(Insertable)]
#[diesel(table_name = events)]
#[diesel(treat_none_as_default_value = false)]
struct NewEventRow<'a> {
    external_id: &'a str,
    kind: &'a str,
    subject_id: &'a str,
    team_id: &'a str,
    occurred_at: NaiveDateTime,
    received_at: NaiveDateTime,
    attributes: &'a str,
    submitted_by: &'a str,
}

/// Rows per INSERT statement: 8 binds each stays far below both backends' bind limits.
const ROWS_PER_STATEMENT: usize = 500;

/// Inserts the events whose `external_id` is new for their team and returns how many that was;
/// the others are left alone (the unique constraint decides, so concurrent retries are safe too).
pub fn insert_new(
    conn: &mut DbConn,
    batch: &[NewEvent],
    submitted_by: &str,
    received_at: NaiveDateTime,
) -> QueryResult<usize> {
    // Inserting in key order touches each page of the unique index once per batch rather than
    // once per row (the keys arrive in time order, which is random for that index).
    let mut sorted: Vec<&NewEvent> = batch.iter().collect();
    sorted.sort_unstable_by(|a, b| (&a.team_id, &a.external_id).cmp(&(&b.team_id, &b.external_id)));
    let rows: Vec<NewEventRow<'_>> = sorted
        .into_iter()
        .map(|e| NewEventRow {
            external_id: &e.external_id,
            kind: &e.kind,
            subject_id: &e.subject_id,
            team_id: &e.team_id,
            occurred_at: e.occurred_at,
            received_at,
            attributes: &e.attributes,
            submitted_by,
        })
        .collect();
    let mut inserted = 0;
    // backend: the shared connection type has neither multi-row inserts nor ON CONFLICT; both
    // backends have them natively, and they are what makes bulk loading fast.
    match conn {
        DbConn::Postgres(pg) => {
            // backend: COPY is PostgreSQL's bulk load, as fast as the table and its indexes
            // allow. It refuses the whole batch at a stored (or repeated) external id; then the
            // batch is inserted again with ON CONFLICT DO NOTHING, which skips those. In a
            // savepoint, so the refusal leaves the caller's transaction usable.
            let copied = pg.transaction(|pg| {
                diesel::copy_from(events::table)
                    .from_insertable(rows.as_slice())
                    .execute(pg)
            });
            match copied {
                Ok(n) => return Ok(n),
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                )) => {}
                Err(error) => return Err(error),
            }
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                inserted += diesel::insert_into(events::table)
                    .values(chunk)
                    .on_conflict_do_nothing()
                    .execute(pg)?;
            }
        }
        DbConn::Sqlite(lite) => {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                inserted += diesel::insert_or_ignore_into(events::table)
                    .values(chunk)
                    .execute(lite)?;
            }
        }
    }
    Ok(inserted)
}

/// A stored event, with its team's slug.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    /// Arrival order.
    pub id: i64,
    /// Idempotency key.
    pub external_id: String,
    /// Kind.
    pub kind: String,
    /// The lead.
    pub subject_id: String,
    /// Team slug.
    pub team: String,
    /// When it happened.
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    /// When accord stored it.
    pub received_at: chrono::DateTime<chrono::Utc>,
    /// JSON object text.
    pub attributes: String,
    /// Who submitted it (`user:<id>`, `token:<id>`, `system`); unknown for events stored
    /// before accord recorded it.
    pub submitted_by: Option<String>,
}

/// What an event listing is narrowed to.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this lead.
    pub subject_id: Option<String>,
    /// Only this team (id).
    pub team_id: Option<String>,
    /// Occurred at or after.
    pub from: Option<NaiveDateTime>,
    /// Occurred before.
    pub to: Option<NaiveDateTime>,
}

/// Events in `(occurred_at, id)` order after the position `after`, at most `limit`.
pub fn list(
    conn: &mut DbConn,
    filter: &EventFilter,
    after: Option<(NaiveDateTime, i64)>,
    limit: i64,
) -> QueryResult<Vec<StoredEvent>> {
    let mut query = events::table
        .inner_join(teams::table)
        .select((
            events::id,
            events::external_id,
            events::kind,
            events::subject_id,
            teams::slug,
            events::occurred_at,
            events::received_at,
            events::attributes,
            events::submitted_by,
        ))
        .order((events::occurred_at.asc(), events::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some(kind) = &filter.kind {
        query = query.filter(events::kind.eq(kind.clone()));
    }
    if let Some(subject) = &filter.subject_id {
        query = query.filter(events::subject_id.eq(subject.clone()));
    }
    if let Some(team) = &filter.team_id {
        query = query.filter(events::team_id.eq(team.clone()));
    }
    if let Some(from) = filter.from {
        query = query.filter(events::occurred_at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(events::occurred_at.lt(to));
    }
    if let Some((at, id)) = after {
        query = query.filter(
            events::occurred_at
                .gt(at)
                .or(events::occurred_at.eq(at).and(events::id.gt(id))),
        );
    }
    type Row = (
        i64,
        String,
        String,
        String,
        String,
        NaiveDateTime,
        NaiveDateTime,
        String,
        Option<String>,
    );
    Ok(query
        .load::<Row>(conn)?
        .into_iter()
        .map(
            |(
                id,
                external_id,
                kind,
                subject_id,
                team,
                occurred_at,
                received_at,
                attributes,
                submitted_by,
            )| {
                StoredEvent {
                    id,
                    external_id,
                    kind,
                    subject_id,
                    team,
                    occurred_at: from_db_time(occurred_at),
                    received_at: from_db_time(received_at),
                    attributes,
                    submitted_by,
                }
            },
        )
        .collect())
}

/// How many events are stored.
pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
    events::table.count().get_result(conn)
}
