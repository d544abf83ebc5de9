//! The `service_tokens` table. Only a hash of each token is kept.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{service_tokens, teams};
use super::{DbConn, from_db_time, to_db_time};
use crate::domain::identity::{Scope, ServiceToken, TeamRef};

#[derive(Queryable, Selectable)]
#[diesel(table_name = service_tokens)]
struct TokenRow {
    id: String,
    name: String,
    team_id: Option<String>,
    scopes: String,
    created_by: String,
    created_at: NaiveDateTime,
    revoked_at: Option<NaiveDateTime>,
}

#[derive(Insertable)]
#[diesel(table_name = service_tokens)]
struct NewTokenRow<'a> {
    id: &'a str,
    name: &'a str,
    team_id: Option<&'a str>,
    scopes: String,
    token_hash: &'a str,
    created_by: &'a str,
    created_at: NaiveDateTime,
}

fn to_token((row, team_slug): (TokenRow, Option<String>)) -> QueryResult<ServiceToken> {
    let scopes = row
        .scopes
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<Scope>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| diesel::result::Error::DeserializationError(e.into()))?;
    Ok(ServiceToken {
        id: row.id,
        name: row.name,
        team: row
            .team_id
            .zip(team_slug)
            .map(|(id, slug)| TeamRef { id, slug }),
        scopes,
        created_by: row.created_by,
        created_at: from_db_time(row.created_at),
        revoked_at: row.revoked_at.map(from_db_time),
    })
}

/// Stores a token by the hash of its secret.
pub fn insert(conn: &mut DbConn, token: &ServiceToken, token_hash: &str) -> QueryResult<()> {
    let row = NewTokenRow {
        id: &token.id,
        name: &token.name,
        team_id: token.team.as_ref().map(|t| t.id.as_str()),
        scopes: token
            .scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(","),
        token_hash,
        created_by: &token.created_by,
        created_at: to_db_time(token.created_at),
    };
    diesel::insert_into(service_tokens::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The token whose secret hashes to `token_hash`, revoked or not.
pub fn find_by_hash(conn: &mut DbConn, token_hash: &str) -> QueryResult<Option<ServiceToken>> {
    service_tokens::table
        .left_join(teams::table)
        .filter(service_tokens::token_hash.eq(token_hash))
        .select((TokenRow::as_select(), teams::slug.nullable()))
        .first(conn)
        .optional()?
        .map(to_token)
        .transpose()
}

/// The token with this id.
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<ServiceToken>> {
    service_tokens::table
        .left_join(teams::table)
        .filter(service_tokens::id.eq(id))
        .select((TokenRow::as_select(), teams::slug.nullable()))
        .first(conn)
        .optional()?
        .map(to_token)
        .transpose()
}

/// Tokens in id (creation) order after `after`, at most `limit`; only one team's when `team_id` is set.
pub fn list(
    conn: &mut DbConn,
    team_id: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<ServiceToken>> {
    let mut query = service_tokens::table
        .left_join(teams::table)
        .select((TokenRow::as_select(), teams::slug.nullable()))
        .order(service_tokens::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(team_id) = team_id {
        query = query.filter(service_tokens::team_id.eq(team_id));
    }
    if let Some(after) = after {
        query = query.filter(service_tokens::id.gt(after));
    }
    query.load(conn)?.into_iter().map(to_token).collect()
}

/// Marks a token revoked; it is refused from its next request on.
pub fn revoke(conn: &mut DbConn, id: &str, at: DateTime<Utc>) -> QueryResult<()> {
    diesel::update(service_tokens::table.find(id))
        .set(service_tokens::revoked_at.eq(to_db_time(at)))
        .execute(conn)?;
    Ok(())
}
