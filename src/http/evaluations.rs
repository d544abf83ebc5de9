//! Evaluations: history, on-demand runs, overdue items and the what-if simulator.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::json::ApiJson;
use super::pagination::{ListResponse, PageParams};
use crate::auth::Principal;
use crate::domain::evaluation::{Evaluation, OpenItem, Status};
use crate::domain::sla::DefinitionInput;
use crate::error::{AppError, Problem};
use crate::service::{self, Page};
use crate::startup::AppState;

/// One judged period (or rolling check).
#[derive(Serialize, utoipa::ToSchema)]
pub struct EvaluationResponse {
    /// The SLA's key.
    pub sla: String,
    /// The version in force for the period.
    pub version: i32,
    /// Inclusive start (UTC).
    pub period_start: DateTime<Utc>,
    /// Exclusive end (UTC).
    pub period_end: DateTime<Utc>,
    /// Whether it can still change (late events restate a period until `ACCORD_GRACE` after its end).
    #[serde(rename = "final")]
    pub is_final: bool,
    /// The value, or null without data.
    pub value: Option<f64>,
    /// The objective's target.
    pub target: f64,
    /// The objective's comparison.
    pub op: String,
    /// `met`, `breached`, `on_track`, `at_risk` or `no_data`.
    pub status: Status,
    /// True when no input event arrived for `ACCORD_STALE_AFTER`: silence is not success.
    pub data_stale: bool,
    /// Counts behind the value (count; numerator/denominator; starts, answered, missed, pending, p50/p90/p95).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// When it was computed.
    pub evaluated_at: DateTime<Utc>,
}

impl From<Evaluation> for EvaluationResponse {
    fn from(e: Evaluation) -> Self {
        Self {
            sla: e.sla,
            version: e.version,
            period_start: e.period_start,
            period_end: e.period_end,
            is_final: e.is_final,
            value: e.value,
            target: e.target,
            op: e.op.as_str().into(),
            status: e.status,
            data_stale: e.data_stale,
            details: e.details,
            evaluated_at: e.evaluated_at,
        }
    }
}

/// `{"items": [...]}` of evaluations.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EvaluationsResponse {
    /// The evaluations.
    pub items: Vec<EvaluationResponse>,
}

fn items(evaluations: Vec<Evaluation>) -> EvaluationsResponse {
    EvaluationsResponse {
        items: evaluations
            .into_iter()
            .map(EvaluationResponse::from)
            .collect(),
    }
}

/// Evaluates the SLA now and stores the result; answers the evaluations written.
#[utoipa::path(tag = "evaluations", security(("bearer" = [])), responses(
    (status = 200, body = EvaluationsResponse), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/slas/{key}/evaluate")]
pub async fn evaluate_sla(
    state: web::Data<AppState>,
    principal: Principal,
    key: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (key, now, settings) = (
        key.into_inner(),
        state.clock.now(),
        state.config.evaluation(),
    );
    let links = state.config.links();
    let written = state
        .db
        .run(move |conn| {
            service::evaluation::evaluate_now(conn, &principal, &key, now, settings, &links)
        })
        .await?;
    Ok(HttpResponse::Ok().json(items(written)))
}

/// `GET /slas/{key}/evaluations` range and paging.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Periods starting at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Periods starting before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Items per page, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The stored history of an SLA, by period.
#[utoipa::path(tag = "evaluations", params(HistoryQuery), security(("bearer" = [])), responses(
    (status = 200, body = ListResponse<EvaluationResponse>), (status = 404, body = Problem)))]
#[get("/slas/{key}/evaluations")]
pub async fn list_evaluations(
    state: web::Data<AppState>,
    principal: Principal,
    key: web::Path<String>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, AppError> {
    let q = query.into_inner();
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .to_request()?;
    let key = key.into_inner();
    let history: Page<Evaluation> = state
        .db
        .run(move |conn| service::evaluation::history(conn, &principal, &key, q.from, q.to, &page))
        .await?;
    Ok(HttpResponse::Ok().json(ListResponse::from_page(history, EvaluationResponse::from)))
}

/// An item that misses, or is about to miss, a response-time SLA.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ViolationResponse {
    /// The lead.
    pub subject_id: String,
    /// When its clock started.
    pub started_at: DateTime<Utc>,
    /// When the threshold runs out (null while paused).
    pub due_at: Option<DateTime<Utc>>,
    /// `overdue` or `due_soon`.
    pub state: &'static str,
    /// Counted seconds past the threshold (negative: seconds left).
    pub overdue_secs: i64,
}

impl From<OpenItem> for ViolationResponse {
    fn from(item: OpenItem) -> Self {
        Self {
            subject_id: item.subject_id,
            started_at: item.started_at,
            due_at: item.due_at,
            state: if item.overdue { "overdue" } else { "due_soon" },
            overdue_secs: item.overdue_secs,
        }
    }
}

/// Overdue items now, most overdue first, then those due soon (less than a fifth of the threshold left).
#[utoipa::path(tag = "evaluations", security(("bearer" = [])), responses(
    (status = 200, body = ListResponse<ViolationResponse>), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[get("/slas/{key}/violations")]
pub async fn list_violations(
    state: web::Data<AppState>,
    principal: Principal,
    key: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (key, now) = (key.into_inner(), state.clock.now());
    let found = state
        .db
        .run(move |conn| service::evaluation::violations(conn, &principal, &key, now))
        .await?;
    let items: Vec<ViolationResponse> = found.into_iter().map(ViolationResponse::from).collect();
    Ok(HttpResponse::Ok().json(ListResponse {
        items,
        next_cursor: None,
    }))
}

/// What to simulate: a stored SLA's definition (`sla`) or one written here (`definition`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateRequest {
    /// Key of a stored SLA whose current (or pending) definition to use.
    pub sla: Option<String>,
    /// A definition, stored or not (`key` optional).
    pub definition: Option<DefinitionInput>,
    /// Start of the range (RFC 3339).
    pub from: DateTime<Utc>,
    /// End of the range (RFC 3339); periods starting before it are judged.
    pub to: DateTime<Utc>,
}

/// What a definition would have scored, period by period, computed by the same engine; stores
/// nothing, notifies nobody.
#[utoipa::path(tag = "evaluations", request_body = SimulateRequest, security(("bearer" = [])), responses(
    (status = 200, body = EvaluationsResponse), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/slas/simulate")]
pub async fn simulate(
    state: web::Data<AppState>,
    principal: Principal,
    body: ApiJson<SimulateRequest>,
) -> Result<HttpResponse, AppError> {
    let SimulateRequest {
        sla,
        definition,
        from,
        to,
    } = body.into_inner();
    let (now, settings) = (state.clock.now(), state.config.evaluation());
    let results = state
        .db
        .run(move |conn| {
            service::evaluation::simulate_request(
                conn, &principal, sla, definition, from, to, now, settings,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(items(results)))
}
