//! The `settings` table: values an instance generates once and keeps (the JWT secret).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::settings;
use super::{DbConn, to_db_time};

/// The stored value for `key`.
pub fn get(conn: &mut DbConn, key: &str) -> QueryResult<Option<String>> {
    settings::table
        .find(key)
        .select(settings::value)
        .first(conn)
        .optional()
}

/// Stores `value` under `key` unless the key is already set, and returns the value in force.
/// Two processes racing here both end up with the first one's value.
pub fn get_or_insert(
    conn: &mut DbConn,
    key: &str,
    value: &str,
    at: DateTime<Utc>,
) -> QueryResult<String> {
    if let Some(existing) = get(conn, key)? {
        return Ok(existing);
    }
    let inserted = diesel::insert_into(settings::table)
        .values((
            settings::key.eq(key),
            settings::value.eq(value),
            settings::created_at.eq(to_db_time(at)),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(value.to_string()),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => get(conn, key)?.ok_or(diesel::result::Error::NotFound),
        Err(other) => Err(other),
    }
}
