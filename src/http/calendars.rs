//! `/calendars`: business hours for response-time SLAs.

use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

use super::json::ApiJson;
use super::pagination::{ListResponse, PageParams};
use crate::auth::Principal;
use crate::domain::calendar::{Calendar, CalendarInput};
use crate::error::{AppError, Problem};
use crate::service;
use crate::startup::AppState;

/// A calendar as returned.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CalendarResponse {
    /// Public key.
    pub key: String,
    /// Display name.
    pub name: String,
    /// IANA time zone.
    pub timezone: String,
    /// Weekly hours by day; absent days are closed.
    #[schema(schema_with = crate::domain::calendar::hours_schema)]
    pub hours: BTreeMap<String, Vec<(String, String)>>,
    /// Closed dates.
    pub holidays: Vec<NaiveDate>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<Calendar> for CalendarResponse {
    fn from(calendar: Calendar) -> Self {
        Self {
            hours: calendar.hours_as_text(),
            key: calendar.key,
            name: calendar.name,
            timezone: calendar.timezone.name().to_string(),
            holidays: calendar.holidays.into_iter().collect(),
            created_at: calendar.created_at,
            updated_at: calendar.updated_at,
        }
    }
}

/// Creates a calendar (admin or head).
#[utoipa::path(tag = "calendars", request_body = CalendarInput, security(("bearer" = [])), responses(
    (status = 201, body = CalendarResponse), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/calendars")]
pub async fn create_calendar(
    state: web::Data<AppState>,
    principal: Principal,
    body: ApiJson<CalendarInput>,
) -> Result<HttpResponse, AppError> {
    let (input, now) = (body.into_inner(), state.clock.now());
    let calendar = state
        .db
        .run(move |conn| service::calendars::create(conn, &principal, input, now))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/api/v1/calendars/{}", calendar.key)))
        .json(CalendarResponse::from(calendar)))
}

/// Lists calendars by key.
#[utoipa::path(tag = "calendars", params(PageParams), security(("bearer" = [])), responses((status = 200, body = ListResponse<CalendarResponse>)))]
#[get("/calendars")]
pub async fn list_calendars(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<PageParams>,
) -> Result<HttpResponse, AppError> {
    let page = query.to_request()?;
    let calendars = state
        .db
        .run(move |conn| service::calendars::list(conn, &principal, &page))
        .await?;
    Ok(HttpResponse::Ok().json(ListResponse::from_page(calendars, CalendarResponse::from)))
}

/// One calendar.
#[utoipa::path(tag = "calendars", security(("bearer" = [])), responses((status = 200, body = CalendarResponse), (status = 404, body = Problem)))]
#[get("/calendars/{key}")]
pub async fn get_calendar(
    state: web::Data<AppState>,
    principal: Principal,
    key: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let key = key.into_inner();
    let calendar = state
        .db
        .run(move |conn| service::calendars::get(conn, &principal, &key))
        .await?;
    Ok(HttpResponse::Ok().json(CalendarResponse::from(calendar)))
}

/// Replaces a calendar (admin or head). SLAs using it measure with the new hours from then on.
#[utoipa::path(tag = "calendars", request_body = CalendarInput, security(("bearer" = [])), responses(
    (status = 200, body = CalendarResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[put("/calendars/{key}")]
pub async fn replace_calendar(
    state: web::Data<AppState>,
    principal: Principal,
    key: web::Path<String>,
    body: ApiJson<CalendarInput>,
) -> Result<HttpResponse, AppError> {
    let (key, input, now) = (key.into_inner(), body.into_inner(), state.clock.now());
    let calendar = state
        .db
        .run(move |conn| service::calendars::replace(conn, &principal, &key, input, now))
        .await?;
    Ok(HttpResponse::Ok().json(CalendarResponse::from(calendar)))
}

/// Deletes a calendar that no proposed or active SLA uses.
#[utoipa::path(tag = "calendars", security(("bearer" = [])), responses(
    (status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[delete("/calendars/{key}")]
pub async fn delete_calendar(
    state: web::Data<AppState>,
    principal: Principal,
    key: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (key, now) = (key.into_inner(), state.clock.now());
    state
        .db
        .run(move |conn| service::calendars::delete(conn, &principal, &key, now))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
