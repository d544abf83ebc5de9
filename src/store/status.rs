//! The status board's read: every active SLA with its parties and versions, in one statement.
//!
//! Chat bots poll the board, so it is read with statements that stay prepared on the
//! connection (no boxed queries, no `IN` lists of varying length) and without the signatures,
//! which the board does not show.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{evaluations, sla_versions, slas, teams};
use super::slas::VersionRow;
use super::{DbConn, from_db_time, to_db_time};
use crate::domain::agreement::{Agreement, Sla};
use crate::domain::identity::TeamRef;
use crate::domain::sla::SlaStatus;

diesel::alias!(teams as providers: ProviderTeams, teams as consumers: ConsumerTeams);

type SlaFields = (String, String, String, NaiveDateTime, NaiveDateTime);

type Row = (SlaFields, (String, String), (String, String), VersionRow);

/// Every active SLA in key order with all its versions, oldest first, but **without their
/// signatures** (`approvals` is empty): enough to pick the version in force and show it.
pub fn active_agreements(conn: &mut DbConn) -> QueryResult<Vec<Agreement>> {
    let rows: Vec<Row> = slas::table
        .inner_join(providers.on(providers.field(teams::id).eq(slas::provider_team_id)))
        .inner_join(consumers.on(consumers.field(teams::id).eq(slas::consumer_team_id)))
        .inner_join(sla_versions::table)
        .filter(slas::status.eq(SlaStatus::Active.as_str()))
        .order((slas::key.asc(), sla_versions::version.asc()))
        .select((
            (
                slas::id,
                slas::key,
                slas::created_by,
                slas::created_at,
                slas::updated_at,
            ),
            (providers.field(teams::id), providers.field(teams::slug)),
            (consumers.field(teams::id), consumers.field(teams::slug)),
            VersionRow::as_select(),
        ))
        .load(conn)?;
    let mut agreements: Vec<Agreement> = Vec::new();
    for (sla, provider, consumer, version) in rows {
        let version = version.into_version(Vec::new())?;
        if let Some(last) = agreements.last_mut().filter(|a| a.sla.id == sla.0) {
            last.versions.push(version);
            continue;
        }
        let (id, key, created_by, created_at, updated_at) = sla;
        agreements.push(Agreement {
            sla: Sla {
                id,
                key,
                provider: TeamRef {
                    id: provider.0,
                    slug: provider.1,
                },
                consumer: TeamRef {
                    id: consumer.0,
                    slug: consumer.1,
                },
                status: SlaStatus::Active,
                created_by,
                created_at: from_db_time(created_at),
                updated_at: from_db_time(updated_at),
            },
            versions: vec![version],
        });
    }
    Ok(agreements)
}

/// The earliest start of a stored period after `at`, of any SLA: until then, which evaluation
/// covers an instant does not change unless the table does.
pub fn next_period_start(
    conn: &mut DbConn,
    at: DateTime<Utc>,
) -> QueryResult<Option<DateTime<Utc>>> {
    let start: Option<NaiveDateTime> = evaluations::table
        .filter(evaluations::period_start.gt(to_db_time(at)))
        .select(diesel::dsl::min(evaluations::period_start))
        .first(conn)?;
    Ok(start.map(from_db_time))
}
