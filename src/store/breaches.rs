//! The `breaches` table.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{breaches, slas};
use super::{DbConn, corrupt, from_db_time, to_db_time};
use crate::domain::breach::{Breach, BreachStatus};
use crate::domain::sla::Op;

#[derive(Queryable, Selectable)]
#[diesel(table_name = breaches)]
struct BreachRow {
    id: String,
    sla_id: String,
    version: i32,
    period_start: NaiveDateTime,
    period_end: NaiveDateTime,
    status: String,
    value: Option<f64>,
    target: f64,
    op: String,
    opened_at: NaiveDateTime,
    acknowledged_by: Option<String>,
    acknowledged_at: Option<NaiveDateTime>,
    note: Option<String>,
    disputed_by: Option<String>,
    dispute_reason: Option<String>,
    closed_at: Option<NaiveDateTime>,
    last_reminded_at: Option<NaiveDateTime>,
    is_historical: bool,
}

fn to_breach((row, key): (BreachRow, String)) -> QueryResult<Breach> {
    Ok(Breach {
        id: row.id,
        sla_id: row.sla_id,
        sla: key,
        version: row.version,
        period_start: from_db_time(row.period_start),
        period_end: from_db_time(row.period_end),
        status: row.status.parse::<BreachStatus>().map_err(corrupt)?,
        value: row.value,
        target: row.target,
        op: row.op.parse::<Op>().map_err(corrupt)?,
        opened_at: from_db_time(row.opened_at),
        acknowledged_by: row.acknowledged_by,
        acknowledged_at: row.acknowledged_at.map(from_db_time),
        note: row.note,
        disputed_by: row.disputed_by,
        dispute_reason: row.dispute_reason,
        closed_at: row.closed_at.map(from_db_time),
        last_reminded_at: row.last_reminded_at.map(from_db_time),
        is_historical: row.is_historical,
    })
}

/// Stores a new breach; a second one for the same SLA and period is a unique violation.
pub fn insert(conn: &mut DbConn, breach: &Breach) -> QueryResult<()> {
    diesel::insert_into(breaches::table)
        .values((
            breaches::id.eq(&breach.id),
            breaches::sla_id.eq(&breach.sla_id),
            breaches::version.eq(breach.version),
            breaches::period_start.eq(to_db_time(breach.period_start)),
            breaches::period_end.eq(to_db_time(breach.period_end)),
            breaches::status.eq(breach.status.as_str()),
            breaches::value.eq(breach.value),
            breaches::target.eq(breach.target),
            breaches::op.eq(breach.op.as_str()),
            breaches::opened_at.eq(to_db_time(breach.opened_at)),
            breaches::is_historical.eq(breach.is_historical),
        ))
        .execute(conn)?;
    Ok(())
}

/// Writes a breach's status and lifecycle fields.
pub fn update(conn: &mut DbConn, breach: &Breach) -> QueryResult<()> {
    diesel::update(breaches::table.find(&breach.id))
        .set((
            breaches::status.eq(breach.status.as_str()),
            breaches::value.eq(breach.value),
            breaches::period_end.eq(to_db_time(breach.period_end)),
            breaches::acknowledged_by.eq(&breach.acknowledged_by),
            breaches::acknowledged_at.eq(breach.acknowledged_at.map(to_db_time)),
            breaches::note.eq(&breach.note),
            breaches::disputed_by.eq(&breach.disputed_by),
            breaches::dispute_reason.eq(&breach.dispute_reason),
            breaches::closed_at.eq(breach.closed_at.map(to_db_time)),
            breaches::last_reminded_at.eq(breach.last_reminded_at.map(to_db_time)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records a reminder if the breach was last reminded at `previous` (`None`: never), so that
/// of several replicas seeing the same due reminder exactly one sends it.
pub fn mark_reminded(
    conn: &mut DbConn,
    id: &str,
    previous: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    let row = breaches::table
        .filter(breaches::id.eq(id))
        .filter(breaches::status.eq("open"));
    let changed = match previous {
        Some(at) => diesel::update(row.filter(breaches::last_reminded_at.eq(to_db_time(at))))
            .set(breaches::last_reminded_at.eq(to_db_time(now)))
            .execute(conn)?,
        None => diesel::update(row.filter(breaches::last_reminded_at.is_null()))
            .set(breaches::last_reminded_at.eq(to_db_time(now)))
            .execute(conn)?,
    };
    Ok(changed == 1)
}

/// The breach of an SLA's period, if there is one.
pub fn find_for_period(
    conn: &mut DbConn,
    sla_id: &str,
    period_start: DateTime<Utc>,
) -> QueryResult<Option<Breach>> {
    breaches::table
        .inner_join(slas::table)
        .filter(breaches::sla_id.eq(sla_id))
        .filter(breaches::period_start.eq(to_db_time(period_start)))
        .select((BreachRow::as_select(), slas::key))
        .first(conn)
        .optional()?
        .map(to_breach)
        .transpose()
}

/// The SLA's live breach of a rolling window, if there is one.
pub fn live_for_sla(conn: &mut DbConn, sla_id: &str) -> QueryResult<Option<Breach>> {
    breaches::table
        .inner_join(slas::table)
        .filter(breaches::sla_id.eq(sla_id))
        .filter(breaches::status.eq_any(["open", "acknowledged", "disputed"]))
        .order(breaches::opened_at.desc())
        .select((BreachRow::as_select(), slas::key))
        .first(conn)
        .optional()?
        .map(to_breach)
        .transpose()
}

/// One breach by id.
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Breach>> {
    breaches::table
        .inner_join(slas::table)
        .filter(breaches::id.eq(id))
        .select((BreachRow::as_select(), slas::key))
        .first(conn)
        .optional()?
        .map(to_breach)
        .transpose()
}

/// What a breach listing is narrowed to.
#[derive(Clone, Debug, Default)]
pub struct BreachFilter {
    /// Only this status.
    pub status: Option<BreachStatus>,
    /// Only this SLA (key).
    pub sla: Option<String>,
    /// Only SLAs where this team (id) is a party.
    pub team_id: Option<String>,
}

/// Breaches newest first, before the id `before`, at most `limit`.
pub fn list(
    conn: &mut DbConn,
    filter: &BreachFilter,
    before: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Breach>> {
    let mut query = breaches::table
        .inner_join(slas::table)
        .select((BreachRow::as_select(), slas::key))
        .order(breaches::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(status) = filter.status {
        query = query.filter(breaches::status.eq(status.as_str()));
    }
    if let Some(key) = &filter.sla {
        query = query.filter(slas::key.eq(key.clone()));
    }
    if let Some(team) = &filter.team_id {
        query = query.filter(
            slas::provider_team_id
                .eq(team.clone())
                .or(slas::consumer_team_id.eq(team.clone())),
        );
    }
    if let Some(before) = before {
        query = query.filter(breaches::id.lt(before.to_string()));
    }
    query.load(conn)?.into_iter().map(to_breach).collect()
}

/// Open breaches nobody acknowledged whose last reminder (or opening) is older than `before`;
/// historical ones never are.
pub fn due_for_reminder(conn: &mut DbConn, before: DateTime<Utc>) -> QueryResult<Vec<Breach>> {
    let before = to_db_time(before);
    breaches::table
        .inner_join(slas::table)
        .filter(breaches::status.eq("open"))
        .filter(breaches::is_historical.eq(false))
        .filter(
            breaches::last_reminded_at
                .lt(before)
                .or(breaches::last_reminded_at
                    .is_null()
                    .and(breaches::opened_at.lt(before))),
        )
        .select((BreachRow::as_select(), slas::key))
        .load(conn)?
        .into_iter()
        .map(to_breach)
        .collect()
}

/// How many breaches still need someone (open, acknowledged or disputed), by SLA key.
pub fn count_live_by_sla(conn: &mut DbConn) -> QueryResult<Vec<(String, i64)>> {
    let live = [
        BreachStatus::Open,
        BreachStatus::Acknowledged,
        BreachStatus::Disputed,
    ]
    .map(|s| s.as_str());
    breaches::table
        .inner_join(slas::table)
        .filter(breaches::status.eq_any(live))
        .group_by(slas::key)
        .select((slas::key, diesel::dsl::count_star()))
        .load(conn)
}
