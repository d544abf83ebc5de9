//! The `users` table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{teams, users};
use super::{DbConn, from_db_time, to_db_time};
use crate::domain::identity::{Role, TeamRef, User};

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
struct UserRow {
    id: String,
    email: String,
    name: String,
    team_id: Option<String>,
    role: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    deactivated_at: Option<NaiveDateTime>,
    token_generation: i32,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUserRow<'a> {
    id: &'a str,
    email: &'a str,
    name: &'a str,
    team_id: Option<&'a str>,
    role: &'a str,
    password_hash: &'a str,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// The columns a change touches; `None` leaves a column as it is.
#[derive(AsChangeset)]
#[diesel(table_name = users)]
struct UserChanges<'a> {
    email: Option<&'a str>,
    name: Option<&'a str>,
    team_id: Option<Option<&'a str>>,
    role: Option<&'a str>,
    updated_at: NaiveDateTime,
    deactivated_at: Option<Option<NaiveDateTime>>,
}

fn to_user((row, team_slug): (UserRow, Option<String>)) -> QueryResult<User> {
    let role: Role = row
        .role
        .parse()
        .map_err(|e: String| diesel::result::Error::DeserializationError(e.into()))?;
    Ok(User {
        id: row.id,
        email: row.email,
        name: row.name,
        team: row
            .team_id
            .zip(team_slug)
            .map(|(id, slug)| TeamRef { id, slug }),
        role,
        created_at: from_db_time(row.created_at),
        updated_at: from_db_time(row.updated_at),
        deactivated_at: row.deactivated_at.map(from_db_time),
        token_generation: row.token_generation,
    })
}

/// Stores a new user with the hash of their password; a taken email is a unique violation.
pub fn insert(conn: &mut DbConn, user: &User, password_hash: &str) -> QueryResult<()> {
    let row = NewUserRow {
        id: &user.id,
        email: &user.email,
        name: &user.name,
        team_id: user.team.as_ref().map(|t| t.id.as_str()),
        role: user.role.as_str(),
        password_hash,
        created_at: to_db_time(user.created_at),
        updated_at: to_db_time(user.updated_at),
    };
    diesel::insert_into(users::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Takes the user's row lock for the rest of the transaction, so that two changes to one account
/// read and write one after the other (a rename cannot undo a deactivation). `false`: no such user.
pub fn lock(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    let locked = diesel::update(users::table.find(id))
        .set(users::id.eq(users::id))
        .execute(conn)?;
    Ok(locked == 1)
}

/// Writes the profile fields of `after` that differ from `before` (not the password), and
/// `updated_at`; call it under [`lock`].
pub fn update(conn: &mut DbConn, before: &User, after: &User) -> QueryResult<()> {
    let changed = |old, new| (old != new).then_some(new);
    fn team_id(user: &User) -> Option<&str> {
        user.team.as_ref().map(|t| t.id.as_str())
    }
    let changes = UserChanges {
        email: changed(before.email.as_str(), after.email.as_str()),
        name: changed(before.name.as_str(), after.name.as_str()),
        team_id: (team_id(before) != team_id(after)).then(|| team_id(after)),
        role: changed(before.role.as_str(), after.role.as_str()),
        updated_at: to_db_time(after.updated_at),
        deactivated_at: (before.deactivated_at != after.deactivated_at)
            .then(|| after.deactivated_at.map(to_db_time)),
    };
    diesel::update(users::table.find(&after.id))
        .set(changes)
        .execute(conn)?;
    Ok(())
}

/// Replaces a user's password hash and moves the token generation on, so every token issued
/// before stops working.
pub fn set_password_hash(
    conn: &mut DbConn,
    user_id: &str,
    hash: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set((
            users::password_hash.eq(hash),
            users::token_generation.eq(users::token_generation + 1),
            users::updated_at.eq(to_db_time(at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The stored password hash of a user.
pub fn password_hash(conn: &mut DbConn, user_id: &str) -> QueryResult<Option<String>> {
    users::table
        .find(user_id)
        .select(users::password_hash)
        .first(conn)
        .optional()
}

/// The user with this id.
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<User>> {
    users::table
        .left_join(teams::table)
        .filter(users::id.eq(id))
        .select((UserRow::as_select(), teams::slug.nullable()))
        .first(conn)
        .optional()?
        .map(to_user)
        .transpose()
}

/// The user with this (lowercase) email and their password hash, for signing in.
pub fn find_credentials(conn: &mut DbConn, email: &str) -> QueryResult<Option<(User, String)>> {
    let found: Option<(UserRow, Option<String>, String)> = users::table
        .left_join(teams::table)
        .filter(users::email.eq(email))
        .select((
            UserRow::as_select(),
            teams::slug.nullable(),
            users::password_hash,
        ))
        .first(conn)
        .optional()?;
    found
        .map(|(row, slug, hash)| Ok((to_user((row, slug))?, hash)))
        .transpose()
}

/// Users in id (creation) order after `after`, at most `limit`; only one team's when `team_id` is set.
pub fn list(
    conn: &mut DbConn,
    team_id: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<User>> {
    let mut query = users::table
        .left_join(teams::table)
        .select((UserRow::as_select(), teams::slug.nullable()))
        .order(users::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(team_id) = team_id {
        query = query.filter(users::team_id.eq(team_id));
    }
    if let Some(after) = after {
        query = query.filter(users::id.gt(after));
    }
    query.load(conn)?.into_iter().map(to_user).collect()
}

/// How many users exist, deactivated ones included.
pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}

/// Addresses of the active heads of a team.
pub fn head_emails(conn: &mut DbConn, team_id: &str) -> QueryResult<Vec<String>> {
    users::table
        .filter(users::team_id.eq(team_id))
        .filter(users::role.eq("head"))
        .filter(users::deactivated_at.is_null())
        .select(users::email)
        .order(users::email.asc())
        .load(conn)
}

/// Addresses of the active admins.
pub fn admin_emails(conn: &mut DbConn) -> QueryResult<Vec<String>> {
    users::table
        .filter(users::role.eq("admin"))
        .filter(users::deactivated_at.is_null())
        .select(users::email)
        .order(users::email.asc())
        .load(conn)
}
