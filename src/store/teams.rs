//! The `teams` table.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::teams;
use super::{DbConn, from_db_time, to_db_time};
use crate::domain::identity::{Digest, Team, WebhookKind};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = teams)]
struct TeamRow {
    id: String,
    slug: String,
    name: String,
    email: String,
    webhook_url: Option<String>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    webhook_kind: String,
    webhook_secret: Option<String>,
    digest_hour: Option<i32>,
    digest_timezone: Option<String>,
}

impl From<TeamRow> for Team {
    fn from(row: TeamRow) -> Self {
        let digest = match (row.digest_hour, row.digest_timezone.as_deref()) {
            (Some(hour), zone) => Some(Digest {
                hour: u8::try_from(hour).unwrap_or(0),
                timezone: zone.and_then(|z| z.parse().ok()).unwrap_or(chrono_tz::UTC),
            }),
            (None, _) => None,
        };
        Self {
            id: row.id,
            slug: row.slug,
            name: row.name,
            email: row.email,
            webhook_url: row.webhook_url,
            webhook_kind: WebhookKind::parse(&row.webhook_kind).unwrap_or_default(),
            webhook_secret: row.webhook_secret,
            digest,
            created_at: from_db_time(row.created_at),
            updated_at: from_db_time(row.updated_at),
        }
    }
}

impl From<&Team> for TeamRow {
    fn from(team: &Team) -> Self {
        Self {
            id: team.id.clone(),
            slug: team.slug.clone(),
            name: team.name.clone(),
            email: team.email.clone(),
            webhook_url: team.webhook_url.clone(),
            created_at: to_db_time(team.created_at),
            updated_at: to_db_time(team.updated_at),
            webhook_kind: team.webhook_kind.as_str().to_string(),
            webhook_secret: team.webhook_secret.clone(),
            digest_hour: team.digest.as_ref().map(|d| i32::from(d.hour)),
            digest_timezone: team.digest.as_ref().map(|d| d.timezone.name().to_string()),
        }
    }
}

/// Stores a new team; a taken slug is a unique violation.
pub fn insert(conn: &mut DbConn, team: &Team) -> QueryResult<()> {
    diesel::insert_into(teams::table)
        .values(TeamRow::from(team))
        .execute(conn)?;
    if team.digest.is_some() {
        // A digest starts with the next digest hour, not at once.
        diesel::update(teams::table.find(&team.id))
            .set(teams::digest_sent_at.eq(to_db_time(team.created_at)))
            .execute(conn)?;
    }
    Ok(())
}

/// The columns a change touches; `None` leaves a column as it is.
#[derive(AsChangeset)]
#[diesel(table_name = teams)]
struct TeamChanges<'a> {
    name: Option<&'a str>,
    email: Option<&'a str>,
    webhook_url: Option<Option<&'a str>>,
    webhook_kind: Option<&'a str>,
    webhook_secret: Option<Option<&'a str>>,
    digest_hour: Option<Option<i32>>,
    digest_timezone: Option<Option<String>>,
    digest_sent_at: Option<Option<NaiveDateTime>>,
    updated_at: NaiveDateTime,
}

/// Takes the team's row lock for the rest of the transaction (see [`super::users::lock`]).
/// `false`: no such team.
pub fn lock(conn: &mut DbConn, slug: &str) -> QueryResult<bool> {
    let locked = diesel::update(teams::table.filter(teams::slug.eq(slug)))
        .set(teams::id.eq(teams::id))
        .execute(conn)?;
    Ok(locked == 1)
}

/// Writes the fields of `after` that differ from `before`, and `updated_at`; call it under [`lock`].
pub fn update(conn: &mut DbConn, before: &Team, after: &Team) -> QueryResult<()> {
    let changed = |old, new| (old != new).then_some(new);
    let changes = TeamChanges {
        name: changed(before.name.as_str(), after.name.as_str()),
        email: changed(before.email.as_str(), after.email.as_str()),
        webhook_url: (before.webhook_url != after.webhook_url)
            .then_some(after.webhook_url.as_deref()),
        webhook_kind: changed(before.webhook_kind.as_str(), after.webhook_kind.as_str()),
        webhook_secret: (before.webhook_secret != after.webhook_secret)
            .then_some(after.webhook_secret.as_deref()),
        digest_hour: (before.digest != after.digest)
            .then(|| after.digest.as_ref().map(|d| i32::from(d.hour))),
        digest_timezone: (before.digest != after.digest)
            .then(|| after.digest.as_ref().map(|d| d.timezone.name().to_string())),
        // A digest starts with the next digest hour, not at once.
        digest_sent_at: (before.digest != after.digest)
            .then_some(Some(to_db_time(after.updated_at))),
        updated_at: to_db_time(after.updated_at),
    };
    diesel::update(teams::table.find(&after.id))
        .set(changes)
        .execute(conn)?;
    Ok(())
}

/// Every team's slug.
pub fn slugs(conn: &mut DbConn) -> QueryResult<Vec<String>> {
    teams::table.select(teams::slug).load(conn)
}

/// The team with this slug.
pub fn find_by_slug(conn: &mut DbConn, slug: &str) -> QueryResult<Option<Team>> {
    teams::table
        .filter(teams::slug.eq(slug))
        .select(TeamRow::as_select())
        .first(conn)
        .optional()
        .map(|row| row.map(Team::from))
}

/// Teams in slug order, after the slug `after`, at most `limit`.
pub fn list(conn: &mut DbConn, after: Option<&str>, limit: i64) -> QueryResult<Vec<Team>> {
    let mut query = teams::table
        .select(TeamRow::as_select())
        .order(teams::slug.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(teams::slug.gt(after));
    }
    Ok(query.load(conn)?.into_iter().map(Team::from).collect())
}

/// Teams that take a daily digest.
pub fn with_digest(conn: &mut DbConn) -> QueryResult<Vec<Team>> {
    Ok(teams::table
        .filter(teams::digest_hour.is_not_null())
        .order(teams::slug.asc())
        .select(TeamRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Team::from)
        .collect())
}

/// Claims the team's digest of the day whose digest hour began at `slot`: true for the one
/// caller whose update changed the row, so two replicas never send the same digest.
pub fn claim_digest(
    conn: &mut DbConn,
    team_id: &str,
    slot: DateTime<Utc>,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    let slot = to_db_time(slot);
    let changed = diesel::update(
        teams::table.filter(teams::id.eq(team_id)).filter(
            teams::digest_sent_at
                .is_null()
                .or(teams::digest_sent_at.lt(slot)),
        ),
    )
    .set(teams::digest_sent_at.eq(to_db_time(now)))
    .execute(conn)?;
    Ok(changed == 1)
}

/// The team with this id.
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Team>> {
    teams::table
        .find(id)
        .select(TeamRow::as_select())
        .first(conn)
        .optional()
        .map(|row| row.map(Team::from))
}
