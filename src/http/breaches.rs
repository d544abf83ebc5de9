//! `/breaches` and `/notifications`: what went wrong, who is on it, and what was sent.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::json::ApiJson;
use super::pagination::{ListResponse, PageParams};
use crate::auth::Principal;
use crate::domain::breach::{Breach, BreachStatus};
use crate::error::{AppError, Problem};
use crate::service::{self, breaches::Handling};
use crate::startup::AppState;
use crate::store::breaches::BreachFilter;
use crate::store::outbox::OutboxMessage;

/// A breach as returned.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BreachResponse {
    /// Id.
    pub id: String,
    /// The SLA's key.
    pub sla: String,
    /// The version in force for the period.
    pub version: i32,
    /// Period start.
    pub period_start: DateTime<Utc>,
    /// Period end.
    pub period_end: DateTime<Utc>,
    /// `open`, `acknowledged`, `disputed`, `resolved` or `withdrawn`.
    pub status: BreachStatus,
    /// The value that missed.
    pub value: Option<f64>,
    /// The target.
    pub target: f64,
    /// The comparison.
    pub op: String,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
    /// When.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// The acknowledgement's note.
    pub note: Option<String>,
    /// Who disputed it.
    pub disputed_by: Option<String>,
    /// Why; both teams see it.
    pub dispute_reason: Option<String>,
    /// When it was resolved or withdrawn.
    pub closed_at: Option<DateTime<Utc>>,
    /// Its period ended before its version was signed (found by a backfill): never reminded.
    pub historical: bool,
}

impl From<Breach> for BreachResponse {
    fn from(b: Breach) -> Self {
        Self {
            id: b.id,
            sla: b.sla,
            version: b.version,
            period_start: b.period_start,
            period_end: b.period_end,
            status: b.status,
            value: b.value,
            target: b.target,
            op: b.op.as_str().into(),
            opened_at: b.opened_at,
            acknowledged_by: b.acknowledged_by,
            acknowledged_at: b.acknowledged_at,
            note: b.note,
            disputed_by: b.disputed_by,
            dispute_reason: b.dispute_reason,
            closed_at: b.closed_at,
            historical: b.is_historical,
        }
    }
}

/// `GET /breaches` filters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BreachQuery {
    /// `open`, `acknowledged`, `disputed`, `resolved` or `withdrawn`.
    pub status: Option<String>,
    /// An SLA's key.
    pub sla: Option<String>,
    /// Items per page, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Breaches, newest first (people see their own team's, admins all).
#[utoipa::path(tag = "breaches", params(BreachQuery), security(("bearer" = [])), responses((status = 200, body = ListResponse<BreachResponse>)))]
#[get("/breaches")]
pub async fn list_breaches(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<BreachQuery>,
) -> Result<HttpResponse, AppError> {
    let q = query.into_inner();
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .to_request()?;
    let status = q
        .status
        .as_deref()
        .map(str::parse::<BreachStatus>)
        .transpose()
        .map_err(AppError::BadRequest)?;
    let filter = BreachFilter {
        status,
        sla: q.sla,
        team_id: None,
    };
    let found = state
        .db
        .run(move |conn| service::breaches::list(conn, &principal, filter, &page))
        .await?;
    Ok(HttpResponse::Ok().json(ListResponse::from_page(found, BreachResponse::from)))
}

/// One breach.
#[utoipa::path(tag = "breaches", security(("bearer" = [])), responses((status = 200, body = BreachResponse), (status = 404, body = Problem)))]
#[get("/breaches/{id}")]
pub async fn get_breach(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let breach = state
        .db
        .run(move |conn| service::breaches::get(conn, &principal, &id))
        .await?;
    Ok(HttpResponse::Ok().json(BreachResponse::from(breach)))
}

/// `{"note"}` for acknowledge and resolve.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// What happens next (required to acknowledge).
    pub note: Option<String>,
}

/// `{"reason"}` for a dispute.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisputeRequest {
    /// Why the provider contests the breach; both teams see it.
    pub reason: String,
}

async fn handle(
    state: web::Data<AppState>,
    principal: Principal,
    id: String,
    handling: Handling,
) -> Result<HttpResponse, AppError> {
    let (now, links) = (state.clock.now(), state.config.links());
    let breach = state
        .db
        .run(move |conn| service::breaches::handle(conn, &principal, &id, handling, &links, now))
        .await?;
    Ok(HttpResponse::Ok().json(BreachResponse::from(breach)))
}

/// Acknowledges an open breach with a note (a head of either party).
#[utoipa::path(tag = "breaches", request_body = NoteRequest, security(("bearer" = [])), responses(
    (status = 200, body = BreachResponse), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/breaches/{id}/acknowledge")]
pub async fn acknowledge_breach(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<NoteRequest>,
) -> Result<HttpResponse, AppError> {
    let note = body.into_inner().note.unwrap_or_default();
    handle(
        state,
        principal,
        id.into_inner(),
        Handling::Acknowledge(note),
    )
    .await
}

/// Disputes a breach with a reason both teams see (the provider's head).
#[utoipa::path(tag = "breaches", request_body = DisputeRequest, security(("bearer" = [])), responses(
    (status = 200, body = BreachResponse), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/breaches/{id}/dispute")]
pub async fn dispute_breach(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<DisputeRequest>,
) -> Result<HttpResponse, AppError> {
    handle(
        state,
        principal,
        id.into_inner(),
        Handling::Dispute(body.into_inner().reason),
    )
    .await
}

/// Resolves a breach (a head of either party, or an admin).
#[utoipa::path(tag = "breaches", request_body(content = Option<NoteRequest>), security(("bearer" = [])), responses(
    (status = 200, body = BreachResponse), (status = 403, body = Problem), (status = 409, body = Problem)))]
#[post("/breaches/{id}/resolve")]
pub async fn resolve_breach(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
    body: super::json::OptionalJson<NoteRequest>,
) -> Result<HttpResponse, AppError> {
    handle(
        state,
        principal,
        id.into_inner(),
        Handling::Resolve(body.0.and_then(|b| b.note)),
    )
    .await
}

/// A message in the outbox.
#[derive(Serialize, utoipa::ToSchema)]
pub struct NotificationResponse {
    /// Id.
    pub id: String,
    /// `breach.opened`, `sla.at_risk`, …
    pub kind: String,
    /// `email` or `webhook`.
    pub channel: String,
    /// Address or webhook URL.
    pub recipient: String,
    /// Subject.
    pub subject: String,
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
}

impl From<OutboxMessage> for NotificationResponse {
    fn from(m: OutboxMessage) -> Self {
        Self {
            id: m.id,
            kind: m.kind,
            channel: m.channel,
            recipient: m.recipient,
            subject: m.subject,
            status: m.status,
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at,
            last_error: m.last_error,
            created_at: m.created_at,
            sent_at: m.sent_at,
        }
    }
}

/// `GET /notifications` filters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    /// `pending`, `sent` or `failed`.
    pub status: Option<String>,
    /// Items per page, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The outbox, newest first (admins and heads).
#[utoipa::path(tag = "notifications", params(NotificationQuery), security(("bearer" = [])), responses(
    (status = 200, body = ListResponse<NotificationResponse>), (status = 403, body = Problem)))]
#[get("/notifications")]
pub async fn list_notifications(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<NotificationQuery>,
) -> Result<HttpResponse, AppError> {
    let q = query.into_inner();
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .to_request()?;
    let found = state
        .db
        .run(move |conn| service::notify::list(conn, &principal, q.status.as_deref(), &page))
        .await?;
    Ok(HttpResponse::Ok().json(ListResponse::from_page(found, NotificationResponse::from)))
}

/// Puts a failed message back in line, due now (admins and heads).
#[utoipa::path(tag = "notifications", security(("bearer" = [])), responses(
    (status = 200, body = NotificationResponse), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/notifications/{id}/retry")]
pub async fn retry_notification(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (id, now) = (id.into_inner(), state.clock.now());
    let message = state
        .db
        .run(move |conn| service::notify::retry(conn, &principal, &id, now))
        .await?;
    Ok(HttpResponse::Ok().json(NotificationResponse::from(message)))
}
