//! The `audit_log` table.

use diesel::prelude::*;

use super::schema::{audit_log, breaches, service_tokens, slas, teams, users};
use super::{DbConn, to_db_time};
use crate::domain::audit::AuditEntry;

/// Appends one entry; call it in the transaction of the change it records.
pub fn record(conn: &mut DbConn, entry: &AuditEntry) -> QueryResult<()> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::id.eq(&entry.id),
            audit_log::at.eq(to_db_time(entry.at)),
            audit_log::actor.eq(&entry.actor),
            audit_log::action.eq(&entry.action),
            audit_log::entity_type.eq(&entry.entity_type),
            audit_log::entity_id.eq(&entry.entity_id),
            audit_log::before.eq(entry.before.as_ref().map(|v| v.to_string())),
            audit_log::after.eq(entry.after.as_ref().map(|v| v.to_string())),
        ))
        .execute(conn)?;
    Ok(())
}

/// What an audit listing is narrowed to.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only entries about this kind of entity (`sla`, `team`, …).
    pub entity_type: Option<String>,
    /// Only entries about this entity (its id or key).
    pub entity_id: Option<String>,
    /// Only entries by this actor (`user:<id>`, `token:<id>`, `system`).
    pub actor: Option<String>,
    /// Only this action (`sla.activated`, …).
    pub action: Option<String>,
    /// Only entries at or after this instant.
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Only entries before this instant.
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// Only entries about this team (id), its people and tokens, the SLAs it is a party to and
    /// their breaches, and calendars (shared by everyone); `None`: every entry.
    pub concerning_team: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_log)]
struct AuditRow {
    id: String,
    at: chrono::NaiveDateTime,
    actor: String,
    action: String,
    entity_type: String,
    entity_id: String,
    before: Option<String>,
    after: Option<String>,
}

/// Entries newest first, before the id `before_id`, at most `limit`.
pub fn list(
    conn: &mut DbConn,
    filter: &AuditFilter,
    before_id: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<AuditEntry>> {
    let mut query = audit_log::table
        .select(AuditRow::as_select())
        .order(audit_log::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(v) = &filter.entity_type {
        query = query.filter(audit_log::entity_type.eq(v.clone()));
    }
    if let Some(v) = &filter.entity_id {
        query = query.filter(audit_log::entity_id.eq(v.clone()));
    }
    if let Some(v) = &filter.actor {
        query = query.filter(audit_log::actor.eq(v.clone()));
    }
    if let Some(v) = &filter.action {
        query = query.filter(audit_log::action.eq(v.clone()));
    }
    if let Some(v) = filter.from {
        query = query.filter(audit_log::at.ge(to_db_time(v)));
    }
    if let Some(v) = filter.to {
        query = query.filter(audit_log::at.lt(to_db_time(v)));
    }
    if let Some(v) = before_id {
        query = query.filter(audit_log::id.lt(v.to_string()));
    }
    if let Some(team) = &filter.concerning_team {
        let party = slas::provider_team_id
            .eq(team.clone())
            .or(slas::consumer_team_id.eq(team.clone()));
        let about = |kind: &'static str| audit_log::entity_type.eq(kind);
        query = query.filter(
            about("team")
                .and(
                    audit_log::entity_id.eq_any(
                        teams::table
                            .filter(teams::id.eq(team.clone()))
                            .select(teams::slug),
                    ),
                )
                .or(about("user").and(
                    audit_log::entity_id.eq_any(
                        users::table
                            .filter(users::team_id.eq(team.clone()))
                            .select(users::id),
                    ),
                ))
                .or(about("service_token").and(
                    audit_log::entity_id.eq_any(
                        service_tokens::table
                            .filter(service_tokens::team_id.eq(team.clone()))
                            .select(service_tokens::id),
                    ),
                ))
                .or(about("sla")
                    .and(audit_log::entity_id.eq_any(slas::table.filter(party).select(slas::key))))
                .or(about("breach").and(
                    audit_log::entity_id.eq_any(
                        breaches::table
                            .inner_join(slas::table)
                            .filter(
                                slas::provider_team_id
                                    .eq(team.clone())
                                    .or(slas::consumer_team_id.eq(team.clone())),
                            )
                            .select(breaches::id),
                    ),
                ))
                .or(about("calendar")),
        );
    }
    let parse = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
    Ok(query
        .load(conn)?
        .into_iter()
        .map(|row| AuditEntry {
            id: row.id,
            at: super::from_db_time(row.at),
            actor: row.actor,
            action: row.action,
            entity_type: row.entity_type,
            entity_id: row.entity_id,
            before: parse(row.before),
            after: parse(row.after),
        })
        .collect())
}
