//! The `evaluations` table: one row per SLA and period, rewritten until final.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{evaluations, slas};
use super::{DbConn, corrupt, from_db_time, new_id, to_db_time};
use crate::domain::evaluation::{Evaluation, Status};
use crate::domain::sla::Op;

#[derive(Queryable, Selectable)]
#[diesel(table_name = evaluations)]
struct EvaluationRow {
    version: i32,
    period_start: NaiveDateTime,
    period_end: NaiveDateTime,
    is_final: bool,
    value: Option<f64>,
    target: f64,
    op: String,
    status: String,
    data_stale: bool,
    details: String,
    evaluated_at: NaiveDateTime,
}

fn to_evaluation(key: &str, row: EvaluationRow) -> QueryResult<Evaluation> {
    Ok(Evaluation {
        sla: key.to_string(),
        version: row.version,
        period_start: from_db_time(row.period_start),
        period_end: from_db_time(row.period_end),
        is_final: row.is_final,
        value: row.value,
        target: row.target,
        op: row.op.parse::<Op>().map_err(corrupt)?,
        status: row.status.parse::<Status>().map_err(corrupt)?,
        data_stale: row.data_stale,
        details: serde_json::from_str(&row.details).map_err(corrupt)?,
        evaluated_at: from_db_time(row.evaluated_at),
    })
}

/// The stored evaluation of the SLA's period starting at `period_start`.
pub fn find(
    conn: &mut DbConn,
    sla_id: &str,
    key: &str,
    period_start: DateTime<Utc>,
) -> QueryResult<Option<Evaluation>> {
    evaluations::table
        .filter(evaluations::sla_id.eq(sla_id))
        .filter(evaluations::period_start.eq(to_db_time(period_start)))
        .select(EvaluationRow::as_select())
        .first(conn)
        .optional()?
        .map(|row| to_evaluation(key, row))
        .transpose()
}

/// The SLA's newest evaluation, if any.
pub fn latest(conn: &mut DbConn, sla_id: &str, key: &str) -> QueryResult<Option<Evaluation>> {
    evaluations::table
        .filter(evaluations::sla_id.eq(sla_id))
        .order(evaluations::period_start.desc())
        .select(EvaluationRow::as_select())
        .first(conn)
        .optional()?
        .map(|row| to_evaluation(key, row))
        .transpose()
}

/// The end of the newest final period: everything before it is settled.
pub fn settled_until(conn: &mut DbConn, sla_id: &str) -> QueryResult<Option<DateTime<Utc>>> {
    let end: Option<NaiveDateTime> = evaluations::table
        .filter(evaluations::sla_id.eq(sla_id))
        .filter(evaluations::is_final.eq(true))
        .select(diesel::dsl::max(evaluations::period_end))
        .first(conn)?;
    Ok(end.map(from_db_time))
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = evaluations)]
#[diesel(treat_none_as_null = true)]
struct EvaluationValues<'a> {
    version: i32,
    period_end: NaiveDateTime,
    is_final: bool,
    value: Option<f64>,
    target: f64,
    op: &'a str,
    status: &'a str,
    data_stale: bool,
    details: String,
    evaluated_at: NaiveDateTime,
}

/// Writes an evaluation: inserts it, or rewrites the row of the same period unless that one is
/// final. Returns whether anything was written.
pub fn save(conn: &mut DbConn, sla_id: &str, evaluation: &Evaluation) -> QueryResult<bool> {
    let start = to_db_time(evaluation.period_start);
    let values = EvaluationValues {
        version: evaluation.version,
        period_end: to_db_time(evaluation.period_end),
        is_final: evaluation.is_final,
        value: evaluation.value,
        target: evaluation.target,
        op: evaluation.op.as_str(),
        status: evaluation.status.as_str(),
        data_stale: evaluation.data_stale,
        details: evaluation.details.to_string(),
        evaluated_at: to_db_time(evaluation.evaluated_at),
    };
    let this_period = evaluations::table
        .filter(evaluations::sla_id.eq(sla_id))
        .filter(evaluations::period_start.eq(start));
    let changed = diesel::update(this_period.filter(evaluations::is_final.eq(false)))
        .set(&values)
        .execute(conn)?;
    if changed > 0 {
        return Ok(true);
    }
    let exists: i64 = this_period.count().get_result(conn)?;
    if exists > 0 {
        return Ok(false);
    }
    diesel::insert_into(evaluations::table)
        .values((
            evaluations::id.eq(new_id()),
            evaluations::sla_id.eq(sla_id),
            evaluations::period_start.eq(start),
            values,
        ))
        .execute(conn)?;
    Ok(true)
}

/// When the SLA was last evaluated: the latest `evaluated_at` of its rows.
pub fn last_evaluated_at(conn: &mut DbConn, sla_id: &str) -> QueryResult<Option<DateTime<Utc>>> {
    let last: Option<NaiveDateTime> = evaluations::table
        .filter(evaluations::sla_id.eq(sla_id))
        .select(diesel::dsl::max(evaluations::evaluated_at))
        .first(conn)?;
    Ok(last.map(from_db_time))
}

/// Moves a rolling window's episode row to a new start (the same status goes on).
pub fn move_start(
    conn: &mut DbConn,
    sla_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(
        evaluations::table
            .filter(evaluations::sla_id.eq(sla_id))
            .filter(evaluations::period_start.eq(to_db_time(from))),
    )
    .set(evaluations::period_start.eq(to_db_time(to)))
    .execute(conn)?;
    Ok(())
}

/// The SLA's evaluations with `from <= period_start < to`, by period, after `after`, at most `limit`.
pub fn list(
    conn: &mut DbConn,
    key: &str,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    after: Option<DateTime<Utc>>,
    limit: i64,
) -> QueryResult<Vec<Evaluation>> {
    let mut query = evaluations::table
        .inner_join(slas::table)
        .filter(slas::key.eq(key))
        .select(EvaluationRow::as_select())
        .order(evaluations::period_start.asc())
        .limit(limit)
        .into_boxed();
    if let Some(from) = from {
        query = query.filter(evaluations::period_start.ge(to_db_time(from)));
    }
    if let Some(to) = to {
        query = query.filter(evaluations::period_start.lt(to_db_time(to)));
    }
    if let Some(after) = after {
        query = query.filter(evaluations::period_start.gt(to_db_time(after)));
    }
    query
        .load(conn)?
        .into_iter()
        .map(|row| to_evaluation(key, row))
        .collect()
}

/// For each of the SLAs (id, key), its evaluation of the period holding `at` (or the latest
/// not-final one that began by then), in one query: the status board reads every SLA at once.
pub fn covering_all(
    conn: &mut DbConn,
    slas: &[(&str, &str)],
    at: DateTime<Utc>,
) -> QueryResult<std::collections::HashMap<String, Evaluation>> {
    let at = to_db_time(at);
    let ids: Vec<&str> = slas.iter().map(|(id, _)| *id).collect();
    let rows: Vec<(String, EvaluationRow)> = evaluations::table
        .filter(evaluations::sla_id.eq_any(&ids))
        .filter(evaluations::period_start.le(at))
        .filter(
            evaluations::period_end
                .gt(at)
                .or(evaluations::is_final.eq(false)),
        )
        .order((evaluations::sla_id.asc(), evaluations::period_start.desc()))
        .select((evaluations::sla_id, EvaluationRow::as_select()))
        .load(conn)?;
    let mut covering = std::collections::HashMap::new();
    for (sla_id, row) in rows {
        // Ordered by start, newest first: the first row of each SLA is its covering one.
        if covering.contains_key(&sla_id) {
            continue;
        }
        let Some((_, key)) = slas.iter().find(|(id, _)| *id == sla_id) else {
            continue;
        };
        let evaluation = to_evaluation(key, row)?;
        covering.insert(sla_id, evaluation);
    }
    Ok(covering)
}
