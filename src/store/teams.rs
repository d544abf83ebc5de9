//! The `teams` table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::teams;
use super::{DbConn, from_db_time, to_db_time};
use crate::domain::identity::Team;

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
}

impl From<TeamRow> for Team {
    fn from(row: TeamRow) -> Self {
        Self {
            id: row.id,
            slug: row.slug,
            name: row.name,
            email: row.email,
            webhook_url: row.webhook_url,
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
        }
    }
}

/// Stores a new team; a taken slug is a unique violation.
pub fn insert(conn: &mut DbConn, team: &Team) -> QueryResult<()> {
    diesel::insert_into(teams::table)
        .values(TeamRow::from(team))
        .execute(conn)?;
    Ok(())
}

/// The columns a change touches; `None` leaves a column as it is.
#[derive(AsChangeset)]
#[diesel(table_name = teams)]
struct TeamChanges<'a> {
    name: Option<&'a str>,
    email: Option<&'a str>,
    webhook_url: Option<Option<&'a str>>,
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
