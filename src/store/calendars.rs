//! The `calendars` table. Hours and holidays are JSON text.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::calendars;
use super::{DbConn, corrupt, from_db_time, to_db_time};
use crate::domain::calendar::{Calendar, DayHours};

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = calendars)]
struct CalendarRow {
    id: String,
    key: String,
    name: String,
    timezone: String,
    hours: String,
    holidays: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

fn to_calendar(row: CalendarRow) -> QueryResult<Calendar> {
    let hours: BTreeMap<u8, DayHours> = serde_json::from_str(&row.hours).map_err(corrupt)?;
    let holidays: BTreeSet<NaiveDate> = serde_json::from_str(&row.holidays).map_err(corrupt)?;
    Ok(Calendar {
        key: row.key,
        name: row.name,
        timezone: row.timezone.parse().map_err(corrupt)?,
        hours,
        holidays,
        created_at: from_db_time(row.created_at),
        updated_at: from_db_time(row.updated_at),
    })
}

fn to_row(id: String, calendar: &Calendar) -> QueryResult<CalendarRow> {
    Ok(CalendarRow {
        id,
        key: calendar.key.clone(),
        name: calendar.name.clone(),
        timezone: calendar.timezone.name().to_string(),
        hours: serde_json::to_string(&calendar.hours)
            .map_err(|e| diesel::result::Error::SerializationError(e.into()))?,
        holidays: serde_json::to_string(&calendar.holidays)
            .map_err(|e| diesel::result::Error::SerializationError(e.into()))?,
        created_at: to_db_time(calendar.created_at),
        updated_at: to_db_time(calendar.updated_at),
    })
}

/// Stores a new calendar.
pub fn insert(conn: &mut DbConn, calendar: &Calendar) -> QueryResult<()> {
    diesel::insert_into(calendars::table)
        .values(to_row(super::new_id(), calendar)?)
        .execute(conn)?;
    Ok(())
}

/// Replaces a calendar's hours, holidays, name and zone.
pub fn update(conn: &mut DbConn, calendar: &Calendar) -> QueryResult<()> {
    let row = to_row(String::new(), calendar)?;
    diesel::update(calendars::table.filter(calendars::key.eq(&calendar.key)))
        .set((
            calendars::name.eq(row.name),
            calendars::timezone.eq(row.timezone),
            calendars::hours.eq(row.hours),
            calendars::holidays.eq(row.holidays),
            calendars::updated_at.eq(row.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The calendar with this key.
pub fn find(conn: &mut DbConn, key: &str) -> QueryResult<Option<Calendar>> {
    calendars::table
        .filter(calendars::key.eq(key))
        .select(CalendarRow::as_select())
        .first(conn)
        .optional()?
        .map(to_calendar)
        .transpose()
}

/// Calendars in key order after `after`, at most `limit`.
pub fn list(conn: &mut DbConn, after: Option<&str>, limit: i64) -> QueryResult<Vec<Calendar>> {
    let mut query = calendars::table
        .select(CalendarRow::as_select())
        .order(calendars::key.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(calendars::key.gt(after));
    }
    query.load(conn)?.into_iter().map(to_calendar).collect()
}

/// Removes a calendar.
pub fn delete(conn: &mut DbConn, key: &str) -> QueryResult<()> {
    diesel::delete(calendars::table.filter(calendars::key.eq(key))).execute(conn)?;
    Ok(())
}

/// A calendar as kept with a signed version (JSON text): everything that decides business time.
#[derive(serde::Serialize, serde::Deserialize)]
struct Snapshot {
    key: String,
    name: String,
    timezone: String,
    hours: BTreeMap<u8, DayHours>,
    holidays: BTreeSet<NaiveDate>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

/// The JSON text that keeps `calendar` with a signed version.
pub(super) fn snapshot(calendar: &Calendar) -> QueryResult<String> {
    serde_json::to_string(&Snapshot {
        key: calendar.key.clone(),
        name: calendar.name.clone(),
        timezone: calendar.timezone.name().to_string(),
        hours: calendar.hours.clone(),
        holidays: calendar.holidays.clone(),
        updated_at: calendar.updated_at,
    })
    .map_err(|e| diesel::result::Error::SerializationError(e.into()))
}

/// The calendar a version keeps, read back from [`snapshot`]'s text.
pub(super) fn from_snapshot(text: &str) -> QueryResult<Calendar> {
    let kept: Snapshot = serde_json::from_str(text).map_err(corrupt)?;
    Ok(Calendar {
        key: kept.key,
        name: kept.name,
        timezone: kept.timezone.parse().map_err(corrupt)?,
        hours: kept.hours,
        holidays: kept.holidays,
        created_at: kept.updated_at,
        updated_at: kept.updated_at,
    })
}
