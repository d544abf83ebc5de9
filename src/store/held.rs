//! The `held_messages` table: messages to a team that wait to go out together, as one summary of
//! an evaluation cycle's breaches or as the team's daily digest. Held in the transaction of the
//! change that causes them, released in the transaction that writes the outbox message carrying
//! them: each is sent once.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::held_messages;
use super::{DbConn, from_db_time, new_id, to_db_time};

/// A held message.
#[derive(Clone, Debug)]
pub struct Held {
    /// Id (UUIDv7: they sort in the order they were held).
    pub id: String,
    /// The team it waits for (id).
    pub team_id: String,
    /// What it is about (`breach.opened`, …).
    pub kind: String,
    /// The message's facts, as the generic webhook's `data` carries them.
    pub facts: serde_json::Value,
    /// The cause, as the outbox would have been told.
    pub dedupe_key: String,
    /// When it was held.
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = held_messages)]
struct Row {
    id: String,
    team_id: String,
    kind: String,
    facts: String,
    dedupe_key: String,
    created_at: NaiveDateTime,
}

/// Holds a message for `team_id` in `batch` (`cycle` or `digest`) unless the same cause was
/// held already; returns whether it was new.
pub fn hold(
    conn: &mut DbConn,
    team_id: &str,
    batch: &str,
    kind: &str,
    facts: &serde_json::Value,
    dedupe_key: &str,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    let exists: i64 = held_messages::table
        .filter(held_messages::dedupe_key.eq(dedupe_key))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        return Ok(false);
    }
    diesel::insert_into(held_messages::table)
        .values((
            held_messages::id.eq(new_id()),
            held_messages::team_id.eq(team_id),
            held_messages::batch.eq(batch),
            held_messages::kind.eq(kind),
            held_messages::facts.eq(facts.to_string()),
            held_messages::dedupe_key.eq(dedupe_key),
            held_messages::created_at.eq(to_db_time(now)),
        ))
        .execute(conn)?;
    Ok(true)
}

/// The teams (ids) with messages waiting in `batch`.
pub fn teams_waiting(conn: &mut DbConn, batch: &str) -> QueryResult<Vec<String>> {
    held_messages::table
        .filter(held_messages::batch.eq(batch))
        .filter(held_messages::released_in.is_null())
        .select(held_messages::team_id)
        .distinct()
        .order(held_messages::team_id.asc())
        .load(conn)
}

/// What waits for `team_id` in `batch`, in the order it was held, at most `limit`.
pub fn waiting(
    conn: &mut DbConn,
    team_id: &str,
    batch: &str,
    limit: i64,
) -> QueryResult<Vec<Held>> {
    Ok(held_messages::table
        .filter(held_messages::team_id.eq(team_id))
        .filter(held_messages::batch.eq(batch))
        .filter(held_messages::released_in.is_null())
        .order(held_messages::id.asc())
        .limit(limit)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| Held {
            id: row.id,
            team_id: row.team_id,
            kind: row.kind,
            facts: serde_json::from_str(&row.facts).unwrap_or_default(),
            dedupe_key: row.dedupe_key,
            created_at: from_db_time(row.created_at),
        })
        .collect())
}

/// Marks `ids` as carried by the outbox message `carrier` (its dedupe key); false when another
/// caller released any of them first (the caller then rolls back).
pub fn release(conn: &mut DbConn, ids: &[String], carrier: &str) -> QueryResult<bool> {
    let changed = diesel::update(
        held_messages::table
            .filter(held_messages::id.eq_any(ids))
            .filter(held_messages::released_in.is_null()),
    )
    .set(held_messages::released_in.eq(carrier))
    .execute(conn)?;
    Ok(changed == ids.len())
}
