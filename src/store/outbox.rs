//! The `outbox` table: every message, written in the transaction of the change that causes it,
//! then claimed and delivered by the dispatcher.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use diesel::sql_types::Bool;

/// The backend of the shared connection type.
type Backend = <DbConn as diesel::Connection>::Backend;

use super::schema::outbox;
use super::{DbConn, from_db_time, new_id, to_db_time};

/// A message in the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxMessage {
    /// Id (UUIDv7).
    pub id: String,
    /// What it is about (`breach.opened`, …).
    pub kind: String,
    /// `email` or `webhook`.
    pub channel: String,
    /// An email address or a webhook URL.
    pub recipient: String,
    /// The subject (the chat headline for webhooks).
    pub subject: String,
    /// Email: `{"text", "html"}`; webhook: the JSON body to post.
    pub payload: serde_json::Value,
    /// Makes enqueueing idempotent.
    pub dedupe_key: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// When the next attempt is due.
    pub next_attempt_at: DateTime<Utc>,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it was delivered.
    pub sent_at: Option<DateTime<Utc>>,
    /// The team it was sent for (id); `None` for messages to admins.
    pub team_id: Option<String>,
    /// Headers fixed when it was written (mail: `Message-ID`, `In-Reply-To`, `References`,
    /// `List-Id`; a generic webhook: `webhook-id`), so every attempt sends the same message.
    pub headers: serde_json::Map<String, serde_json::Value>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = outbox)]
struct Row {
    id: String,
    kind: String,
    channel: String,
    recipient: String,
    subject: String,
    payload: String,
    dedupe_key: String,
    status: String,
    attempts: i32,
    next_attempt_at: NaiveDateTime,
    last_error: Option<String>,
    created_at: NaiveDateTime,
    sent_at: Option<NaiveDateTime>,
    team_id: Option<String>,
    headers: Option<String>,
}

fn to_message(row: Row) -> OutboxMessage {
    OutboxMessage {
        id: row.id,
        kind: row.kind,
        channel: row.channel,
        recipient: row.recipient,
        subject: row.subject,
        payload: serde_json::from_str(&row.payload).unwrap_or_default(),
        dedupe_key: row.dedupe_key,
        status: row.status,
        attempts: row.attempts,
        next_attempt_at: from_db_time(row.next_attempt_at),
        last_error: row.last_error,
        created_at: from_db_time(row.created_at),
        sent_at: row.sent_at.map(from_db_time),
        team_id: row.team_id,
        headers: row
            .headers
            .and_then(|h| serde_json::from_str(&h).ok())
            .unwrap_or_default(),
    }
}

/// A message to enqueue.
#[derive(Clone, Copy, Debug)]
pub struct NewMessage<'a> {
    /// What it is about.
    pub kind: &'a str,
    /// The team it is sent for (id); `None` for messages to admins. Who may read it in the
    /// outbox follows from this, never from the address, which a head may change.
    pub team_id: Option<&'a str>,
    /// `email` or `webhook`.
    pub channel: &'a str,
    /// Address or URL.
    pub recipient: &'a str,
    /// Subject.
    pub subject: &'a str,
    /// Body (see [`OutboxMessage::payload`]).
    pub payload: &'a serde_json::Value,
    /// Makes enqueueing idempotent.
    pub dedupe_key: &'a str,
    /// Headers every attempt sends (see [`OutboxMessage::headers`]).
    pub headers: &'a serde_json::Map<String, serde_json::Value>,
}

/// Enqueues a message unless one with the same dedupe key exists; returns whether it was new.
pub fn enqueue(
    conn: &mut DbConn,
    message: NewMessage<'_>,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    let exists: i64 = outbox::table
        .filter(outbox::dedupe_key.eq(message.dedupe_key))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        return Ok(false);
    }
    diesel::insert_into(outbox::table)
        .values((
            outbox::id.eq(new_id()),
            outbox::kind.eq(message.kind),
            outbox::team_id.eq(message.team_id),
            outbox::channel.eq(message.channel),
            outbox::recipient.eq(message.recipient),
            outbox::subject.eq(message.subject),
            outbox::payload.eq(message.payload.to_string()),
            outbox::dedupe_key.eq(message.dedupe_key),
            outbox::status.eq("pending"),
            outbox::attempts.eq(0),
            outbox::next_attempt_at.eq(to_db_time(now)),
            outbox::created_at.eq(to_db_time(now)),
            outbox::headers.eq((!message.headers.is_empty())
                .then(|| serde_json::Value::Object(message.headers.clone()).to_string())),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Pending messages due at `now` and not claimed by anyone, oldest first.
pub fn due(conn: &mut DbConn, now: DateTime<Utc>, limit: i64) -> QueryResult<Vec<OutboxMessage>> {
    let now = to_db_time(now);
    Ok(outbox::table
        .filter(outbox::status.eq("pending"))
        .filter(outbox::next_attempt_at.le(now))
        .filter(
            outbox::locked_until
                .is_null()
                .or(outbox::locked_until.lt(now)),
        )
        .order(outbox::next_attempt_at.asc())
        .limit(limit)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(to_message)
        .collect())
}

/// Claims a message for `lease`: true only for the one caller whose update changed the row, so
/// two dispatchers never send the same message at once, and only once it is due (`now` is read
/// when claiming), so a retry waits out its backoff whoever claims it.
pub fn claim(
    conn: &mut DbConn,
    id: &str,
    now: DateTime<Utc>,
    lease: Duration,
) -> QueryResult<bool> {
    super::write_alone(conn, |conn| {
        let at = to_db_time(now);
        let changed = diesel::update(
            outbox::table
                .filter(outbox::id.eq(id))
                .filter(outbox::status.eq("pending"))
                .filter(outbox::next_attempt_at.le(at))
                .filter(
                    outbox::locked_until
                        .is_null()
                        .or(outbox::locked_until.lt(at)),
                ),
        )
        .set(outbox::locked_until.eq(to_db_time(now + lease)))
        .execute(conn)?;
        Ok(changed == 1)
    })
}

/// Records a delivery.
pub fn mark_sent(conn: &mut DbConn, id: &str, now: DateTime<Utc>) -> QueryResult<()> {
    super::write_alone(conn, |conn| {
        diesel::update(outbox::table.find(id))
            .set((
                outbox::status.eq("sent"),
                outbox::sent_at.eq(to_db_time(now)),
                outbox::attempts.eq(outbox::attempts + 1),
                outbox::locked_until.eq(None::<NaiveDateTime>),
                outbox::last_error.eq(None::<String>),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// Records a failed attempt: tried again at `retry_at`, or `failed` for good when `None`.
pub fn mark_attempt_failed(
    conn: &mut DbConn,
    id: &str,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> QueryResult<()> {
    super::write_alone(conn, |conn| {
        let row = outbox::table.find(id);
        let common = (
            outbox::attempts.eq(outbox::attempts + 1),
            outbox::locked_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(error),
        );
        match retry_at {
            Some(at) => diesel::update(row)
                .set((common, outbox::next_attempt_at.eq(to_db_time(at))))
                .execute(conn)?,
            None => diesel::update(row)
                .set((common, outbox::status.eq("failed")))
                .execute(conn)?,
        };
        Ok(())
    })
}

/// Puts a failed message back in line, due now.
pub fn retry(conn: &mut DbConn, id: &str, now: DateTime<Utc>) -> QueryResult<bool> {
    super::write_alone(conn, |conn| {
        let changed = diesel::update(
            outbox::table
                .filter(outbox::id.eq(id))
                .filter(outbox::status.eq("failed")),
        )
        .set((
            outbox::status.eq("pending"),
            outbox::attempts.eq(0),
            outbox::next_attempt_at.eq(to_db_time(now)),
        ))
        .execute(conn)?;
        Ok(changed == 1)
    })
}

/// Whether a message with this dedupe key was written.
pub fn exists(conn: &mut DbConn, dedupe_key: &str) -> QueryResult<bool> {
    let found: i64 = outbox::table
        .filter(outbox::dedupe_key.eq(dedupe_key))
        .count()
        .get_result(conn)?;
    Ok(found > 0)
}

/// One message by id.
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<OutboxMessage>> {
    outbox::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()
        .map(|r| r.map(to_message))
}

/// The outbox as one team sees it: the messages sent for it.
fn to_team(team_id: &str) -> Box<dyn BoxableExpression<outbox::table, Backend, SqlType = Bool>> {
    Box::new(outbox::team_id.eq(team_id.to_string()).assume_not_null())
}

/// Whether the message `id` was sent for the team `team_id` (see [`list`]).
pub fn is_to_team(conn: &mut DbConn, id: &str, team_id: &str) -> QueryResult<bool> {
    let found: Option<String> = outbox::table
        .select(outbox::id)
        .filter(outbox::id.eq(id.to_string()))
        .into_boxed()
        .filter(to_team(team_id))
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

/// Messages newest first, optionally of one status and only those sent for one team (id), before
/// the id `before`, at most `limit`.
pub fn list(
    conn: &mut DbConn,
    status: Option<&str>,
    team_id: Option<&str>,
    before: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<OutboxMessage>> {
    let mut query = outbox::table
        .select(Row::as_select())
        .order(outbox::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(team_id) = team_id {
        query = query.filter(to_team(team_id));
    }
    if let Some(status) = status {
        query = query.filter(outbox::status.eq(status.to_string()));
    }
    if let Some(before) = before {
        query = query.filter(outbox::id.lt(before.to_string()));
    }
    Ok(query.load(conn)?.into_iter().map(to_message).collect())
}

/// One status's messages: the status, how many, and when the oldest was written.
pub type StatusCount = (String, i64, Option<DateTime<Utc>>);

/// Per status (`pending`, `sent`, `failed`): how many messages, and when the oldest was written.
pub fn count_by_status(conn: &mut DbConn) -> QueryResult<Vec<StatusCount>> {
    let rows: Vec<(String, i64, Option<NaiveDateTime>)> = outbox::table
        .group_by(outbox::status)
        .select((
            outbox::status,
            diesel::dsl::count_star(),
            diesel::dsl::min(outbox::created_at),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(status, n, oldest)| (status, n, oldest.map(from_db_time)))
        .collect())
}
