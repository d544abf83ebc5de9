//! `/slas`: agreements, their versions and the signing workflow.

use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, get, post, put, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::json::{ApiJson, OptionalJson};
use super::pagination::{ListResponse, PageParams};
use crate::auth::Principal;
use crate::domain::agreement::{Agreement, Approval, SlaVersion};
use crate::domain::sla::{DefinitionInput, Notice, SlaStatus, VersionStatus};
use crate::error::{AppError, Problem};
use crate::service::{self, slas::ListFilter};
use crate::startup::AppState;

/// A signature.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApprovalResponse {
    /// The party (team slug).
    pub team: String,
    /// The head who signed (email).
    pub user: String,
    /// When.
    pub at: DateTime<Utc>,
}

impl From<&Approval> for ApprovalResponse {
    fn from(approval: &Approval) -> Self {
        Self {
            team: approval.team.slug.clone(),
            user: approval.user_email.clone(),
            at: approval.at,
        }
    }
}

/// When a version governs: `[from, until)`; `until` null while it still does.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EffectiveRange {
    /// First instant it governs.
    pub from: Option<DateTime<Utc>>,
    /// First instant it no longer governs.
    pub until: Option<DateTime<Utc>>,
}

/// The definition fields of a version, as stored (canonical form).
#[derive(Serialize, utoipa::ToSchema)]
pub struct DefinitionResponse {
    /// Public key.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Longer explanation.
    pub description: Option<String>,
    /// Slug of the team that commits.
    pub provider: String,
    /// Slug of the team that relies on it.
    pub consumer: String,
    /// What is measured (`kind` and its fields).
    #[schema(value_type = Object)]
    pub metric: serde_json::Value,
    /// `{"op", "target"}`.
    #[schema(value_type = Object)]
    pub objective: serde_json::Value,
    /// `{"kind": "calendar", "period", "timezone"}` or `{"kind": "rolling", "length"}`.
    #[schema(value_type = Object)]
    pub window: serde_json::Value,
    /// Notices besides breaches.
    #[schema(value_type = Vec<String>)]
    pub notify_on: Vec<Notice>,
    /// First local date covered.
    pub effective_from: Option<NaiveDate>,
}

impl From<&SlaVersion> for DefinitionResponse {
    fn from(version: &SlaVersion) -> Self {
        let d = &version.definition;
        // Stored definition parts are plain data: serializing them cannot fail.
        let json = |v: serde_json::Result<serde_json::Value>| v.unwrap_or_default();
        Self {
            key: d.key.clone(),
            name: d.name.clone(),
            description: d.description.clone(),
            provider: d.provider.clone(),
            consumer: d.consumer.clone(),
            metric: json(serde_json::to_value(&d.metric)),
            objective: json(serde_json::to_value(d.objective)),
            window: json(serde_json::to_value(&d.window)),
            notify_on: d.notify_on.clone(),
            effective_from: d.effective_from,
        }
    }
}

/// One version of an SLA.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VersionResponse {
    /// 1, 2, …
    pub version: i32,
    /// `proposed`, `active`, `superseded`, `rejected` or `retired`.
    pub status: VersionStatus,
    /// What it says.
    pub definition: DefinitionResponse,
    /// Signatures.
    pub approvals: Vec<ApprovalResponse>,
    /// Who proposed it (`user:<id>`).
    pub proposed_by: String,
    /// When.
    pub proposed_at: DateTime<Utc>,
    /// Who decided it last (activated, rejected, superseded, retired).
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
    /// Why it was rejected.
    pub reason: Option<String>,
    /// When it governs.
    pub effective_range: EffectiveRange,
}

impl From<&SlaVersion> for VersionResponse {
    fn from(v: &SlaVersion) -> Self {
        Self {
            version: v.version,
            status: v.status,
            definition: v.into(),
            approvals: v.approvals.iter().map(ApprovalResponse::from).collect(),
            proposed_by: v.proposed_by.clone(),
            proposed_at: v.proposed_at,
            decided_by: v.decided_by.clone(),
            decided_at: v.decided_at,
            reason: v.reason.clone(),
            effective_range: EffectiveRange {
                from: v.effective_from,
                until: v.effective_until,
            },
        }
    }
}

/// An SLA as returned: the definition of the version in force (or, before any is signed, of the
/// newest), where the SLA stands, and the revision awaiting signature if there is one.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SlaResponse {
    /// The definition fields.
    #[serde(flatten)]
    pub definition: DefinitionResponse,
    /// `proposed`, `active`, `rejected` or `retired`.
    pub status: SlaStatus,
    /// The number of the version shown.
    pub version: i32,
    /// Its signatures.
    pub approvals: Vec<ApprovalResponse>,
    /// When the version shown governs.
    pub effective_range: EffectiveRange,
    /// The version awaiting signatures, if any.
    pub pending: Option<VersionResponse>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl SlaResponse {
    fn new(agreement: &Agreement, now: DateTime<Utc>) -> Result<Self, AppError> {
        let shown = agreement
            .current(now)
            .ok_or_else(|| anyhow::anyhow!("SLA {} has no version", agreement.sla.key))?;
        Ok(Self {
            definition: shown.into(),
            status: agreement.sla.status,
            version: shown.version,
            approvals: shown.approvals.iter().map(ApprovalResponse::from).collect(),
            effective_range: EffectiveRange {
                from: shown.effective_from,
                until: shown.effective_until,
            },
            pending: agreement
                .pending()
                .filter(|p| p.version != shown.version)
                .map(VersionResponse::from),
            created_at: agreement.sla.created_at,
            updated_at: agreement.sla.updated_at,
        })
    }
}

fn respond(agreement: &Agreement, now: DateTime<Utc>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(SlaResponse::new(agreement, now)?))
}

/// `POST /slas/{key}/approve`: which version the caller means to sign.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// Default: the version awaiting signature. Naming it guards against signing a newer one unseen.
    pub version: Option<i32>,
}

/// `POST /slas/{key}/reject`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// Why; both teams see it.
    pub reason: String,
    /// Default: the version awaiting signature.
    pub version: Option<i32>,
}

/// `GET /slas` filters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlaQuery {
    /// `proposed`, `active`, `rejected` or `retired`.
    pub status: Option<SlaStatus>,
    /// Team slug, provider or consumer.
    pub team: Option<String>,
    /// Items per page, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Proposes an SLA (admin, or a head of either party; a head's team counts as signed).
#[utoipa::path(tag = "slas", request_body = DefinitionInput, security(("bearer" = [])), responses(
    (status = 201, body = SlaResponse), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/slas")]
pub async fn create_sla(
    state: web::Data<AppState>,
    principal: Principal,
    body: ApiJson<DefinitionInput>,
) -> Result<HttpResponse, AppError> {
    let (input, now, links) = (body.into_inner(), state.clock.now(), state.config.links());
    let agreement = state
        .db
        .run(move |conn| service::slas::create(conn, &principal, input, now, &links))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/api/v1/slas/{}", agreement.sla.key)))
        .json(SlaResponse::new(&agreement, now)?))
}

/// Lists SLAs by key.
#[utoipa::path(tag = "slas", params(SlaQuery), security(("bearer" = [])), responses(
    (status = 200, body = ListResponse<SlaResponse>), (status = 422, body = Problem)))]
#[get("/slas")]
pub async fn list_slas(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<SlaQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor,
    }
    .to_request()?;
    let (filter, now) = (
        ListFilter {
            status: query.status,
            team: query.team,
        },
        state.clock.now(),
    );
    let slas = state
        .db
        .run(move |conn| service::slas::list(conn, &principal, filter, &page))
        .await?;
    Ok(
        HttpResponse::Ok().json(ListResponse::try_from_page(slas, |a| {
            SlaResponse::new(&a, now)
        })?),
    )
}

/// One SLA.
#[utoipa::path(tag = "slas", security(("bearer" = [])), responses((status = 200, body = SlaResponse), (status = 404, body = Problem)))]
#[get("/slas/{key}")]
pub async fn get_sla(
    state: web::Data<AppState>,
    principal: Principal,
    key: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (key, now) = (key.into_inner(), state.clock.now());
    let agreement = state
        .db
        .run(move |conn| service::slas::get(conn, &principal, &key))
        .await?;
    respond(&agreement, now)
}

/// Proposes a revision: version n+1, awaiting both signatures; the version in force stays until it is signed.
#[utoipa::path(tag = "slas", request_body = DefinitionInput, security(("bearer" = [])), responses(
    (status = 200, body = SlaResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[put("/slas/{key}")]
pub async fn revise_sla(
    state: web::Data<AppState>,
    principal: Principal,
    key: web::Path<String>,
    body: ApiJson<DefinitionInput>,
) -> Result<HttpResponse, AppError> {
    let (key, input, now) = (key.into_inner(), body.into_inner(), state.clock.now());
    let links = state.config.links();
    let agreement = state
        .db
        .run(move |conn| service::slas::revise(conn, &principal, &key, input, now, &links))
        .await?;
    respond(&agreement, now)
}

/// Every version with its signatures and effective range.
#[utoipa::path(tag = "slas", security(("bearer" = [])), responses((status = 200, body = ListResponse<VersionResponse>), (status = 404, body = Problem)))]
#[get("/slas/{key}/versions")]
pub async fn list_sla_versions(
    state: web::Data<AppState>,
    principal: Principal,
    key: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let key = key.into_inner();
    let agreement = state
        .db
        .run(move |conn| service::slas::get(conn, &principal, &key))
        .await?;
    let items: Vec<VersionResponse> = agreement
        .versions
        .iter()
        .map(VersionResponse::from)
        .collect();
    Ok(HttpResponse::Ok().json(ListResponse {
        items,
        next_cursor: None,
    }))
}

/// Signs the version awaiting signature for the caller's team (heads of a party only).
#[utoipa::path(tag = "slas", request_body(content = Option<ApproveRequest>), security(("bearer" = [])), responses(
    (status = 200, body = SlaResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/slas/{key}/approve")]
pub async fn approve_sla(
    state: web::Data<AppState>,
    principal: Principal,
    key: web::Path<String>,
    body: OptionalJson<ApproveRequest>,
) -> Result<HttpResponse, AppError> {
    let (key, version, now) = (
        key.into_inner(),
        body.0.and_then(|b| b.version),
        state.clock.now(),
    );
    let links = state.config.links();
    let agreement = state
        .db
        .run(move |conn| service::slas::approve(conn, &principal, &key, version, now, &links))
        .await?;
    respond(&agreement, now)
}

/// Refuses the version awaiting signature, with a reason (heads of a party only).
#[utoipa::path(tag = "slas", request_body = RejectRequest, security(("bearer" = [])), responses(
    (status = 200, body = SlaResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/slas/{key}/reject")]
pub async fn reject_sla(
    state: web::Data<AppState>,
    principal: Principal,
    key: web::Path<String>,
    body: ApiJson<RejectRequest>,
) -> Result<HttpResponse, AppError> {
    let (key, RejectRequest { reason, version }, now) =
        (key.into_inner(), body.into_inner(), state.clock.now());
    let agreement = state
        .db
        .run(move |conn| service::slas::reject(conn, &principal, &key, version, reason, now))
        .await?;
    respond(&agreement, now)
}

/// Retires the SLA now (admin, or a head of either party).
#[utoipa::path(tag = "slas", security(("bearer" = [])), responses(
    (status = 200, body = SlaResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/slas/{key}/retire")]
pub async fn retire_sla(
    state: web::Data<AppState>,
    principal: Principal,
    key: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (key, now) = (key.into_inner(), state.clock.now());
    let agreement = state
        .db
        .run(move |conn| service::slas::retire(conn, &principal, &key, now))
        .await?;
    respond(&agreement, now)
}
