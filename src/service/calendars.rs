//! Business-hours calendars.

use chrono::{DateTime, Utc};

use super::{Page, PageRequest, audit};
use crate::auth::Principal;
use crate::auth::policy::Action;
use crate::domain::calendar::{Calendar, CalendarInput};
use crate::error::AppError;
use crate::store::{self, DbConn, write_tx};

fn parsed(input: CalendarInput, key: &str, now: DateTime<Utc>) -> Result<Calendar, AppError> {
    input.parse(key, now).map_err(|errors| {
        AppError::check(errors)
            .err()
            .unwrap_or_else(|| AppError::invalid("body", "invalid"))
    })
}

fn snapshot(calendar: &Calendar) -> serde_json::Value {
    serde_json::json!({
        "key": calendar.key, "name": calendar.name, "timezone": calendar.timezone.name(),
        "hours": calendar.hours_as_text(), "holidays": calendar.holidays,
    })
}

/// Creates a calendar (an admin or a head).
pub fn create(
    conn: &mut DbConn,
    actor: &Principal,
    input: CalendarInput,
    now: DateTime<Utc>,
) -> Result<Calendar, AppError> {
    actor.authorize(Action::CreateCalendar)?;
    let key = input
        .key
        .clone()
        .ok_or_else(|| AppError::invalid("key", "is required"))?;
    let calendar = parsed(input, &key, now)?;
    write_tx(conn, |conn| {
        if store::calendars::find(conn, &key)?.is_some() {
            return Err(AppError::Conflict(format!(
                "a calendar with key {key:?} already exists"
            )));
        }
        store::calendars::insert(conn, &calendar)?;
        audit(
            conn,
            actor,
            "calendar.created",
            ("calendar", &key),
            (None, Some(&snapshot(&calendar))),
            now,
        )?;
        Ok(calendar)
    })
}

/// Replaces a calendar's name, zone, hours and holidays.
pub fn replace(
    conn: &mut DbConn,
    actor: &Principal,
    key: &str,
    input: CalendarInput,
    now: DateTime<Utc>,
) -> Result<Calendar, AppError> {
    if input.key.as_deref().is_some_and(|k| k != key) {
        return Err(AppError::invalid(
            "key",
            format!("must be {key:?}, the key in the path"),
        ));
    }
    let mut calendar = parsed(input, key, now)?;
    write_tx(conn, |conn| {
        let before = store::calendars::find(conn, key)?.ok_or(AppError::NotFound("calendar"))?;
        let parties = store::slas::parties_using_calendar(conn, key)?;
        actor.authorize(Action::ChangeCalendar { parties: &parties })?;
        calendar.created_at = before.created_at;
        // Versions signed before calendars were kept with them keep the hours they were signed with.
        store::slas::keep_calendar(conn, &before)?;
        store::calendars::update(conn, &calendar)?;
        audit(
            conn,
            actor,
            "calendar.updated",
            ("calendar", key),
            (Some(&snapshot(&before)), Some(&snapshot(&calendar))),
            now,
        )?;
        Ok(calendar)
    })
}

/// Deletes a calendar no proposed or active SLA version uses.
pub fn delete(
    conn: &mut DbConn,
    actor: &Principal,
    key: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    write_tx(conn, |conn| {
        let before = store::calendars::find(conn, key)?.ok_or(AppError::NotFound("calendar"))?;
        let parties = store::slas::parties_using_calendar(conn, key)?;
        actor.authorize(Action::ChangeCalendar { parties: &parties })?;
        let users = store::slas::count_using_calendar(conn, key)?;
        if users > 0 {
            return Err(AppError::Conflict(format!(
                "{users} SLA version(s) use calendar {key:?}"
            )));
        }
        // Superseded and retired versions still judge their closed periods with it.
        store::slas::keep_calendar(conn, &before)?;
        store::calendars::delete(conn, key)?;
        audit(
            conn,
            actor,
            "calendar.deleted",
            ("calendar", key),
            (Some(&snapshot(&before)), None),
            now,
        )
    })
}

/// One calendar.
pub fn get(conn: &mut DbConn, actor: &Principal, key: &str) -> Result<Calendar, AppError> {
    actor.authorize(Action::ReadSlas)?;
    store::calendars::find(conn, key)?.ok_or(AppError::NotFound("calendar"))
}

/// Calendars in key order.
pub fn list(
    conn: &mut DbConn,
    actor: &Principal,
    page: &PageRequest,
) -> Result<Page<Calendar>, AppError> {
    actor.authorize(Action::ReadSlas)?;
    let calendars = store::calendars::list(conn, page.after.as_deref(), page.fetch_limit())?;
    Ok(page.finish(calendars, |c| c.key.clone()))
}
