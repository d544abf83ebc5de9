//! The `slas`, `sla_versions` and `sla_approvals` tables. Definitions are JSON text.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{sla_approvals, sla_versions, slas, teams, users};
use super::{DbConn, corrupt, from_db_time, new_id, to_db_time};
use crate::domain::agreement::{Agreement, Approval, Sla, SlaVersion};
use crate::domain::calendar::Calendar;
use crate::domain::identity::TeamRef;
use crate::domain::sla::SlaStatus;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = slas)]
struct SlaRow {
    id: String,
    key: String,
    provider_team_id: String,
    consumer_team_id: String,
    status: String,
    created_by: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sla_versions)]
pub(super) struct VersionRow {
    id: String,
    sla_id: String,
    version: i32,
    definition: String,
    status: String,
    proposed_by: String,
    proposed_at: NaiveDateTime,
    decided_by: Option<String>,
    decided_at: Option<NaiveDateTime>,
    reason: Option<String>,
    effective_from: Option<NaiveDateTime>,
    effective_until: Option<NaiveDateTime>,
    calendar_snapshot: Option<String>,
}

fn team_slugs(conn: &mut DbConn, ids: &[&str]) -> QueryResult<HashMap<String, String>> {
    Ok(teams::table
        .filter(teams::id.eq_any(ids))
        .select((teams::id, teams::slug))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

fn to_slas(conn: &mut DbConn, rows: Vec<SlaRow>) -> QueryResult<Vec<Sla>> {
    let ids: Vec<&str> = rows
        .iter()
        .flat_map(|r| [r.provider_team_id.as_str(), r.consumer_team_id.as_str()])
        .collect();
    let slugs = team_slugs(conn, &ids)?;
    let team = |id: String| TeamRef {
        slug: slugs.get(&id).cloned().unwrap_or_default(),
        id,
    };
    rows.into_iter()
        .map(|row| {
            Ok(Sla {
                status: row.status.parse().map_err(corrupt)?,
                id: row.id,
                key: row.key,
                provider: team(row.provider_team_id),
                consumer: team(row.consumer_team_id),
                created_by: row.created_by,
                created_at: from_db_time(row.created_at),
                updated_at: from_db_time(row.updated_at),
            })
        })
        .collect()
}

/// Stores a new SLA (without versions).
pub fn insert(conn: &mut DbConn, sla: &Sla) -> QueryResult<()> {
    let row = SlaRow {
        id: sla.id.clone(),
        key: sla.key.clone(),
        provider_team_id: sla.provider.id.clone(),
        consumer_team_id: sla.consumer.id.clone(),
        status: sla.status.as_str().into(),
        created_by: sla.created_by.clone(),
        created_at: to_db_time(sla.created_at),
        updated_at: to_db_time(sla.updated_at),
    };
    diesel::insert_into(slas::table).values(row).execute(conn)?;
    Ok(())
}

/// Takes the SLA's row lock for the rest of the transaction, so that changes to one SLA
/// (approvals from two heads at once, a revision racing an approval) happen one after the other.
/// backend: on PostgreSQL the UPDATE holds a row lock until commit; SQLite's write transactions
/// are serialised already (`BEGIN IMMEDIATE`). Returns whether the SLA exists.
pub fn lock(conn: &mut DbConn, sla_id: &str, now: DateTime<Utc>) -> QueryResult<bool> {
    let changed = diesel::update(slas::table.find(sla_id))
        .set(slas::updated_at.eq(to_db_time(now)))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Takes the SLA's row lock without changing it, for writers that must not move `updated_at`:
/// evaluations and the handling of breaches, so that two evaluations of one SLA, or an
/// evaluation and a head acknowledging its breach, write one after the other.
pub fn lock_unchanged(conn: &mut DbConn, sla_id: &str) -> QueryResult<()> {
    diesel::update(slas::table.find(sla_id))
        .set(slas::eval_claimed_by.eq(slas::eval_claimed_by))
        .execute(conn)?;
    Ok(())
}

/// Claims the SLA's scheduled evaluation for `owner` until `now + lease`, if it is due and no
/// live claim holds it. A conditional UPDATE: of several replicas asking at once, exactly one
/// changes the row and gets `true`. A claim whose lease ran out (its replica died) is free again.
pub fn claim_evaluation(
    conn: &mut DbConn,
    sla_id: &str,
    owner: &str,
    now: DateTime<Utc>,
    lease: chrono::Duration,
) -> QueryResult<bool> {
    super::write_alone(conn, |conn| {
        let at = to_db_time(now);
        let changed = diesel::update(
            slas::table
                .filter(slas::id.eq(sla_id))
                .filter(slas::eval_due_at.is_null().or(slas::eval_due_at.le(at)))
                .filter(
                    slas::eval_claimed_until
                        .is_null()
                        .or(slas::eval_claimed_until.lt(at)),
                ),
        )
        .set((
            slas::eval_claimed_by.eq(owner),
            slas::eval_claimed_until.eq(to_db_time(now + lease)),
        ))
        .execute(conn)?;
        Ok(changed == 1)
    })
}

/// Ends `owner`'s claim and sets when the SLA is next due; a claim taken over meanwhile by
/// another replica is left alone.
pub fn release_evaluation(
    conn: &mut DbConn,
    sla_id: &str,
    owner: &str,
    next_due: DateTime<Utc>,
) -> QueryResult<()> {
    super::write_alone(conn, |conn| {
        diesel::update(
            slas::table
                .filter(slas::id.eq(sla_id))
                .filter(slas::eval_claimed_by.eq(owner)),
        )
        .set((
            slas::eval_due_at.eq(to_db_time(next_due)),
            slas::eval_claimed_by.eq(None::<String>),
            slas::eval_claimed_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
        Ok(())
    })
}

/// Ends `owner`'s claim if it still holds at `now` (its lease has not run out), sets when the
/// SLA is next due and clears a recorded failure; `false` when the claim lapsed. Inside a
/// transaction it is also the row lock that [`lock_unchanged`] takes, so an evaluation ends its
/// claim in the transaction that writes its results, with no statement (or commit) of its own.
pub fn finish_claim(
    conn: &mut DbConn,
    sla_id: &str,
    owner: &str,
    now: DateTime<Utc>,
    next_due: DateTime<Utc>,
) -> QueryResult<bool> {
    let changed = diesel::update(
        slas::table
            .filter(slas::id.eq(sla_id))
            .filter(slas::eval_claimed_by.eq(owner))
            .filter(slas::eval_claimed_until.gt(to_db_time(now))),
    )
    .set((
        slas::eval_due_at.eq(to_db_time(next_due)),
        slas::eval_claimed_by.eq(None::<String>),
        slas::eval_claimed_until.eq(None::<NaiveDateTime>),
        slas::eval_error.eq(None::<String>),
        slas::eval_error_since.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Records why the SLA's evaluation failed. Returns when its episode of failures began if this
/// failure began it, `None` when the SLA was failing already.
pub fn record_evaluation_error(
    conn: &mut DbConn,
    sla_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> QueryResult<Option<DateTime<Utc>>> {
    let started = diesel::update(
        slas::table
            .filter(slas::id.eq(sla_id))
            .filter(slas::eval_error_since.is_null()),
    )
    .set((
        slas::eval_error.eq(reason),
        slas::eval_error_since.eq(to_db_time(now)),
    ))
    .execute(conn)?;
    if started == 1 {
        return Ok(Some(now));
    }
    diesel::update(slas::table.find(sla_id))
        .set(slas::eval_error.eq(reason))
        .execute(conn)?;
    Ok(None)
}

/// Ends the SLA's episode of failed evaluations, if it had one. Called outside a transaction,
/// so it moves the change signal itself (the board shows the error).
pub fn clear_evaluation_error(conn: &mut DbConn, sla_id: &str) -> QueryResult<()> {
    super::write_alone(conn, |conn| {
        let cleared = diesel::update(
            slas::table
                .filter(slas::id.eq(sla_id))
                .filter(slas::eval_error_since.is_not_null()),
        )
        .set((
            slas::eval_error.eq(None::<String>),
            slas::eval_error_since.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
        if cleared > 0 {
            super::memo::changed();
        }
        Ok(())
    })
}

/// Why each failing SLA's last evaluation failed, by SLA id.
pub fn evaluation_errors(conn: &mut DbConn) -> QueryResult<HashMap<String, String>> {
    Ok(slas::table
        .filter(slas::eval_error.is_not_null())
        .select((slas::id, slas::eval_error))
        .load::<(String, Option<String>)>(conn)?
        .into_iter()
        .filter_map(|(id, reason)| Some((id, reason?)))
        .collect())
}

/// Since when the SLA's input has been stale, if it is.
pub fn stale_since(conn: &mut DbConn, sla_id: &str) -> QueryResult<Option<DateTime<Utc>>> {
    Ok(slas::table
        .find(sla_id)
        .select(slas::stale_since)
        .first::<Option<NaiveDateTime>>(conn)
        .optional()?
        .flatten()
        .map(from_db_time))
}

/// Starts (`Some`) or ends (`None`) the SLA's stale episode.
pub fn set_stale_since(
    conn: &mut DbConn,
    sla_id: &str,
    since: Option<DateTime<Utc>>,
) -> QueryResult<()> {
    diesel::update(slas::table.find(sla_id))
        .set(slas::stale_since.eq(since.map(to_db_time)))
        .execute(conn)?;
    Ok(())
}

/// Writes the SLA's status and `updated_at`.
pub fn update(conn: &mut DbConn, sla: &Sla) -> QueryResult<()> {
    diesel::update(slas::table.find(&sla.id))
        .set((
            slas::status.eq(sla.status.as_str()),
            slas::updated_at.eq(to_db_time(sla.updated_at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The SLA with this key.
pub fn find_by_key(conn: &mut DbConn, key: &str) -> QueryResult<Option<Sla>> {
    let rows = slas::table
        .filter(slas::key.eq(key))
        .select(SlaRow::as_select())
        .load(conn)?;
    Ok(to_slas(conn, rows)?.pop())
}

/// What a list of SLAs is narrowed to.
#[derive(Clone, Debug, Default)]
pub struct SlaFilter {
    /// Only SLAs in this status.
    pub status: Option<SlaStatus>,
    /// Only SLAs where this team (id) is provider or consumer.
    pub team_id: Option<String>,
}

/// SLAs in key order after `after`, at most `limit`.
pub fn list(
    conn: &mut DbConn,
    filter: &SlaFilter,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Sla>> {
    let mut query = slas::table
        .select(SlaRow::as_select())
        .order(slas::key.asc())
        .limit(limit)
        .into_boxed();
    if let Some(status) = filter.status {
        query = query.filter(slas::status.eq(status.as_str()));
    }
    if let Some(team) = &filter.team_id {
        query = query.filter(
            slas::provider_team_id
                .eq(team.clone())
                .or(slas::consumer_team_id.eq(team.clone())),
        );
    }
    if let Some(after) = after {
        query = query.filter(slas::key.gt(after));
    }
    let rows = query.load(conn)?;
    to_slas(conn, rows)
}

fn version_row(sla_id: &str, version: &SlaVersion) -> QueryResult<VersionRow> {
    Ok(VersionRow {
        id: version.id.clone(),
        sla_id: sla_id.into(),
        version: version.version,
        definition: serde_json::to_string(&version.definition)
            .map_err(|e| diesel::result::Error::SerializationError(e.into()))?,
        status: version.status.as_str().into(),
        proposed_by: version.proposed_by.clone(),
        proposed_at: to_db_time(version.proposed_at),
        decided_by: version.decided_by.clone(),
        decided_at: version.decided_at.map(to_db_time),
        reason: version.reason.clone(),
        effective_from: version.effective_from.map(to_db_time),
        effective_until: version.effective_until.map(to_db_time),
        calendar_snapshot: version
            .calendar
            .as_ref()
            .map(super::calendars::snapshot)
            .transpose()?,
    })
}

/// Stores a new version; a taken version number (a concurrent revision) is a unique violation.
pub fn insert_version(conn: &mut DbConn, sla_id: &str, version: &SlaVersion) -> QueryResult<()> {
    diesel::insert_into(sla_versions::table)
        .values(version_row(sla_id, version)?)
        .execute(conn)?;
    Ok(())
}

/// Writes a version's status, decision and effective range.
pub fn update_version(conn: &mut DbConn, version: &SlaVersion) -> QueryResult<()> {
    diesel::update(sla_versions::table.find(&version.id))
        .set((
            sla_versions::status.eq(version.status.as_str()),
            sla_versions::decided_by.eq(&version.decided_by),
            sla_versions::decided_at.eq(version.decided_at.map(to_db_time)),
            sla_versions::reason.eq(&version.reason),
            sla_versions::effective_from.eq(version.effective_from.map(to_db_time)),
            sla_versions::effective_until.eq(version.effective_until.map(to_db_time)),
            sla_versions::calendar_snapshot.eq(version
                .calendar
                .as_ref()
                .map(super::calendars::snapshot)
                .transpose()?),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records a signature; a second one for the same party and version is a unique violation.
pub fn insert_approval(
    conn: &mut DbConn,
    version_id: &str,
    approval: &Approval,
) -> QueryResult<()> {
    diesel::insert_into(sla_approvals::table)
        .values((
            sla_approvals::id.eq(new_id()),
            sla_approvals::sla_version_id.eq(version_id),
            sla_approvals::team_id.eq(&approval.team.id),
            sla_approvals::user_id.eq(&approval.user_id),
            sla_approvals::at.eq(to_db_time(approval.at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The SLA with every version and signature.
pub fn load(conn: &mut DbConn, sla: Sla) -> QueryResult<Agreement> {
    let rows: Vec<VersionRow> = sla_versions::table
        .filter(sla_versions::sla_id.eq(&sla.id))
        .select(VersionRow::as_select())
        .order(sla_versions::version.asc())
        .load(conn)?;
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let signatures: Vec<(String, String, String, String, String, NaiveDateTime)> =
        sla_approvals::table
            .inner_join(teams::table)
            .inner_join(users::table)
            .filter(sla_approvals::sla_version_id.eq_any(&ids))
            .select((
                sla_approvals::sla_version_id,
                teams::id,
                teams::slug,
                users::id,
                users::email,
                sla_approvals::at,
            ))
            .order(sla_approvals::at.asc())
            .load(conn)?;
    let mut versions = Vec::with_capacity(rows.len());
    for row in rows {
        let approvals = signatures
            .iter()
            .filter(|s| s.0 == row.id)
            .map(|(_, team_id, slug, user_id, email, at)| Approval {
                team: TeamRef {
                    id: team_id.clone(),
                    slug: slug.clone(),
                },
                user_id: user_id.clone(),
                user_email: email.clone(),
                at: from_db_time(*at),
            })
            .collect();
        versions.push(row.into_version(approvals)?);
    }
    Ok(Agreement { sla, versions })
}

impl VersionRow {
    /// The version this row stores, with its signatures.
    pub(super) fn into_version(self, approvals: Vec<Approval>) -> QueryResult<SlaVersion> {
        Ok(SlaVersion {
            definition: serde_json::from_str(&self.definition).map_err(corrupt)?,
            status: self.status.parse().map_err(corrupt)?,
            id: self.id,
            version: self.version,
            proposed_by: self.proposed_by,
            proposed_at: from_db_time(self.proposed_at),
            decided_by: self.decided_by,
            decided_at: self.decided_at.map(from_db_time),
            reason: self.reason,
            effective_from: self.effective_from.map(from_db_time),
            effective_until: self.effective_until.map(from_db_time),
            approvals,
            calendar: self
                .calendar_snapshot
                .as_deref()
                .map(super::calendars::from_snapshot)
                .transpose()?,
        })
    }
}

fn calendar_needle(key: &str) -> String {
    format!("%\"calendar\":{}%", serde_json::Value::String(key.into()))
}

/// Keeps `calendar` with every signed version that names it and does not keep one yet (those
/// signed before versions kept their calendars), before the calendar changes or goes.
pub fn keep_calendar(conn: &mut DbConn, calendar: &Calendar) -> QueryResult<usize> {
    diesel::update(
        sla_versions::table
            .filter(sla_versions::effective_from.is_not_null())
            .filter(sla_versions::calendar_snapshot.is_null())
            .filter(sla_versions::definition.like(calendar_needle(&calendar.key))),
    )
    .set(sla_versions::calendar_snapshot.eq(super::calendars::snapshot(calendar)?))
    .execute(conn)
}

/// The (provider, consumer) team ids of the proposed and active SLA versions that use the
/// calendar `key`.
pub fn parties_using_calendar(conn: &mut DbConn, key: &str) -> QueryResult<Vec<(String, String)>> {
    let needle = calendar_needle(key);
    sla_versions::table
        .inner_join(slas::table)
        .filter(sla_versions::status.eq_any(["proposed", "active"]))
        .filter(sla_versions::definition.like(needle))
        .select((slas::provider_team_id, slas::consumer_team_id))
        .distinct()
        .load(conn)
}

/// How many proposed or signed-and-governing versions use the calendar `key`.
pub fn count_using_calendar(conn: &mut DbConn, key: &str) -> QueryResult<i64> {
    let needle = calendar_needle(key);
    sla_versions::table
        .filter(sla_versions::status.eq_any(["proposed", "active"]))
        .filter(sla_versions::definition.like(needle))
        .count()
        .get_result(conn)
}
