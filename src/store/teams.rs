//! The `teams` table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::teams;
use super::{DbConn, from_db_time, to_db_time};
use crate::domain::identity::Team;

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = teams)]
#[diesel(treat_none_as_null = true)]
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

/// Writes every field of an existing team.
pub fn update(conn: &mut DbConn, team: &Team) -> QueryResult<()> {
    diesel::update(teams::table.find(&team.id))
        .set(TeamRow::from(team))
        .execute(conn)?;
    Ok(())
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
