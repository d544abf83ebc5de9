//! `/events`: activity in bulk (JSON, NDJSON, CSV) and the log of it.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::json::read_body;
use super::pagination::{ListResponse, PageParams};
use crate::auth::Principal;
use crate::auth::policy::Action;
use crate::domain::event::Format;
use crate::error::{AppError, Problem};
use crate::service::{self, events::ListFilter};
use crate::startup::AppState;
use crate::store::events::StoredEvent;

/// What a stored batch came to.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IngestResponse {
    /// Events stored now.
    pub accepted: usize,
    /// Events already stored before (same `external_id`), counted, not errors.
    pub duplicates: usize,
}

/// An event as stored.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventResponse {
    /// Idempotency key.
    pub external_id: String,
    /// Kind.
    pub kind: String,
    /// The lead.
    pub subject_id: String,
    /// Team slug.
    pub team: String,
    /// When it happened (UTC).
    pub occurred_at: DateTime<Utc>,
    /// When accord stored it.
    pub received_at: DateTime<Utc>,
    /// Attributes as sent.
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    /// Who submitted it: `user:<id>` or `token:<id>` (as in the audit log), `system` for
    /// `accord import` and the demo, `null` for events stored before accord recorded it.
    pub submitted_by: Option<String>,
}

impl From<StoredEvent> for EventResponse {
    fn from(e: StoredEvent) -> Self {
        Self {
            external_id: e.external_id,
            kind: e.kind,
            subject_id: e.subject_id,
            team: e.team,
            occurred_at: e.occurred_at,
            received_at: e.received_at,
            attributes: serde_json::from_str(&e.attributes).unwrap_or_default(),
            submitted_by: e.submitted_by,
        }
    }
}

fn format_of(req: &HttpRequest) -> Result<Format, AppError> {
    let media_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let essence = media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(Format::Json),
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/x-jsonlines" => Ok(Format::Ndjson),
        "text/csv" => Ok(Format::Csv),
        other => Err(AppError::UnsupportedMediaType(format!(
            "events come as application/json, application/x-ndjson or text/csv, not {other}"
        ))),
    }
}

/// Logs activity: one event, a JSON array, NDJSON or CSV. The batch is checked whole; if any
/// item is invalid nothing is stored and each bad item is named.
#[utoipa::path(tag = "events", security(("bearer" = [])),
    request_body(description = "An event, an array of events, NDJSON or CSV (header external_id,kind,subject_id,team,occurred_at,attributes)",
        content((Object = "application/json"), (String = "application/x-ndjson"), (String = "text/csv"))),
    responses((status = 200, body = IngestResponse), (status = 403, body = Problem), (status = 413, body = Problem),
        (status = 415, body = Problem), (status = 422, body = Problem)))]
#[post("/events")]
pub async fn post_events(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let format = format_of(&req)?;
    // Refused before a byte of the body is read.
    principal.authorize(Action::WriteSomeEvents)?;
    let (max_bytes, max_items, now) = (
        state.config.events_max_bytes,
        state.config.events_max_batch,
        state.clock.now(),
    );
    let teams = state.db.run(service::events::team_ids).await?;
    let slugs: std::collections::HashMap<String, String> = teams
        .iter()
        .map(|(slug, id)| (id.clone(), slug.clone()))
        .collect();
    let body = read_body(&req, &mut payload.into_inner(), max_bytes)
        .await?
        .freeze();
    let submitted_by = principal.actor();
    // Parsing is CPU work: on the blocking pool, holding no database connection.
    let events = web::block(move || {
        service::events::check_upload(&principal, format, &body, &teams, max_items, now)
    })
    .await
    .map_err(|e| anyhow::anyhow!("event check failed: {e}"))??;
    let (summary, events) = state
        .db
        .run(move |conn| {
            let summary = service::events::store_batch(conn, &events, &submitted_by, now)?;
            Ok((summary, events))
        })
        .await?;
    let mut counts: std::collections::HashMap<(&str, &str), u64> = Default::default();
    for event in &events {
        let team = slugs.get(&event.team_id).map_or("", String::as_str);
        *counts.entry((team, event.kind.as_str())).or_default() += 1;
    }
    state
        .metrics
        .events_ingested(counts, summary.duplicates as u64);
    Ok(HttpResponse::Ok().json(IngestResponse {
        accepted: summary.accepted,
        duplicates: summary.duplicates,
    }))
}

/// `GET /events` filters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this lead.
    pub subject: Option<String>,
    /// Only this team (slug).
    pub team: Option<String>,
    /// Occurred at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Occurred before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Items per page, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Events in the order they happened.
#[utoipa::path(tag = "events", params(EventQuery), security(("bearer" = [])), responses(
    (status = 200, body = ListResponse<EventResponse>), (status = 422, body = Problem)))]
#[get("/events")]
pub async fn list_events(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<EventQuery>,
) -> Result<HttpResponse, AppError> {
    let q = query.into_inner();
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .to_request()?;
    let filter = ListFilter {
        kind: q.kind,
        subject_id: q.subject,
        team: q.team,
        from: q.from,
        to: q.to,
    };
    let events = state
        .db
        .run(move |conn| service::events::list(conn, &principal, filter, &page))
        .await?;
    Ok(HttpResponse::Ok().json(ListResponse::from_page(events, EventResponse::from)))
}
