//! `/service-tokens`: scoped, revocable credentials for systems and bots.

use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::json::ApiJson;
use super::pagination::{ListResponse, PageParams};
use crate::auth::Principal;
use crate::domain::identity::{Scope, ServiceToken};
use crate::error::{AppError, Problem};
use crate::service::{self, service_tokens::NewServiceToken};
use crate::startup::AppState;

/// A token to issue.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceTokenRequest {
    /// What it is for, e.g. `crm-sync`.
    pub name: String,
    /// Team slug; a head's token defaults to the head's team.
    pub team: Option<String>,
    /// What it may do: `events:write`, `events:read`, `status:read`, `breaches:read`
    /// (see docs/security.md).
    pub scopes: Vec<Scope>,
}

/// A token as listed (never its secret).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ServiceTokenResponse {
    /// Id, used to revoke it.
    pub id: String,
    /// What it is for.
    pub name: String,
    /// Team slug.
    pub team: Option<String>,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// Id of the user who issued it.
    pub created_by: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token just issued, with its secret: shown this once, never again.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IssuedServiceTokenResponse {
    /// The token, as listed.
    #[serde(flatten)]
    pub service_token: ServiceTokenResponse,
    /// The secret to send as `Authorization: Bearer …`.
    pub token: String,
}

impl From<ServiceToken> for ServiceTokenResponse {
    fn from(token: ServiceToken) -> Self {
        Self {
            id: token.id,
            name: token.name,
            team: token.team.map(|t| t.slug),
            scopes: token.scopes,
            created_by: token.created_by,
            created_at: token.created_at,
            revoked_at: token.revoked_at,
        }
    }
}

/// Issues a service token (admin, or a head for their team).
#[utoipa::path(tag = "service-tokens", request_body = CreateServiceTokenRequest, security(("bearer" = [])), responses(
    (status = 201, body = IssuedServiceTokenResponse), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[post("/service-tokens")]
pub async fn issue_service_token(
    state: web::Data<AppState>,
    principal: Principal,
    body: ApiJson<CreateServiceTokenRequest>,
) -> Result<HttpResponse, AppError> {
    let CreateServiceTokenRequest { name, team, scopes } = body.into_inner();
    let (new, now) = (NewServiceToken { name, team, scopes }, state.clock.now());
    let (token, secret) = state
        .db
        .run(move |conn| service::service_tokens::issue(conn, &principal, new, now))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/api/v1/service-tokens/{}", token.id)))
        .json(IssuedServiceTokenResponse {
            service_token: token.into(),
            token: secret,
        }))
}

/// Lists the tokens the caller manages.
#[utoipa::path(tag = "service-tokens", params(PageParams), security(("bearer" = [])), responses(
    (status = 200, body = ListResponse<ServiceTokenResponse>), (status = 403, body = Problem)))]
#[get("/service-tokens")]
pub async fn list_service_tokens(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<PageParams>,
) -> Result<HttpResponse, AppError> {
    let page = query.to_request()?;
    let tokens = state
        .db
        .run(move |conn| service::service_tokens::list(conn, &principal, &page))
        .await?;
    Ok(HttpResponse::Ok().json(ListResponse::from_page(tokens, ServiceTokenResponse::from)))
}

/// Revokes a token; its next request is refused.
#[utoipa::path(tag = "service-tokens", security(("bearer" = [])), responses(
    (status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[delete("/service-tokens/{id}")]
pub async fn revoke_service_token(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (id, now) = (id.into_inner(), state.clock.now());
    state
        .db
        .run(move |conn| service::service_tokens::revoke(conn, &principal, &id, now))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
