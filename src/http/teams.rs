//! `/teams`: the departments, addressed by slug.

use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::json::ApiJson;
use super::pagination::{ListResponse, PageParams};
use crate::auth::Principal;
use crate::domain::identity::{Digest, Team, WebhookKind};
use crate::error::{AppError, Problem};
use crate::service::{
    self, teams::DigestInput, teams::NewTeam, teams::TeamChanges, teams::TeamView,
};
use crate::startup::AppState;

/// A new team.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeamRequest {
    /// Public address: lowercase letters, digits, dashes (`marketing`).
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Distribution address that notifications go to.
    pub email: String,
    /// Incoming webhook.
    pub webhook_url: Option<String>,
    /// What the webhook takes: `slack` (default), `teams` or `generic` (signed JSON; the
    /// answer then carries the new `webhook_secret`, once).
    pub webhook_kind: Option<WebhookKind>,
    /// A daily digest of at-risk messages and reminders instead of one message each.
    pub digest: Option<DigestRequest>,
}

/// When a team's daily digest goes out.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DigestRequest {
    /// Local hour, 0–23: the digest goes out with the first evaluation at or after it.
    pub hour: i64,
    /// IANA zone of that hour (UTC when absent).
    pub timezone: Option<String>,
}

impl From<DigestRequest> for DigestInput {
    fn from(request: DigestRequest) -> Self {
        Self {
            hour: request.hour,
            timezone: request.timezone,
        }
    }
}

/// Changes to a team; absent fields stay as they are, `"webhook_url": null` removes the webhook.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTeamRequest {
    /// Display name.
    pub name: Option<String>,
    /// Distribution address.
    pub email: Option<String>,
    /// Webhook URL, or null to remove it.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    pub webhook_url: Option<Option<String>>,
    /// What the webhook takes: `slack`, `teams` or `generic`.
    pub webhook_kind: Option<WebhookKind>,
    /// `true`: a new secret for the generic webhook, shown once in the answer; the old one
    /// stops working.
    #[serde(default)]
    pub rotate_webhook_secret: bool,
    /// The daily digest, or null to get each message as it comes.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<DigestRequest>)]
    pub digest: Option<Option<DigestRequest>>,
}

/// A team as returned.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TeamResponse {
    /// Public address.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Distribution address.
    pub email: String,
    /// Webhook URL: a secret, shown to admins and the team's heads; `null` for others and when unset.
    pub webhook_url: Option<String>,
    /// Whether the team has a webhook (shown to everyone).
    pub webhook_set: bool,
    /// What the webhook takes.
    pub webhook_kind: WebhookKind,
    /// The generic webhook's signing secret (`whsec_…`): only in the answer of the request that
    /// made it, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    /// The daily digest, if the team takes one.
    pub digest: Option<Digest>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<TeamView> for TeamResponse {
    fn from(
        TeamView {
            team,
            webhook_visible,
        }: TeamView,
    ) -> Self {
        Self {
            slug: team.slug,
            name: team.name,
            email: team.email,
            webhook_set: team.webhook_url.is_some(),
            webhook_url: team.webhook_url.filter(|_| webhook_visible),
            webhook_kind: team.webhook_kind,
            webhook_secret: None,
            digest: team.digest,
            created_at: team.created_at,
            updated_at: team.updated_at,
        }
    }
}

impl From<(Team, Option<String>)> for TeamResponse {
    /// A team as its admin or head sees it, with the webhook secret it was just given, if any.
    fn from((team, new_secret): (Team, Option<String>)) -> Self {
        let mut response: Self = TeamView {
            team,
            webhook_visible: true,
        }
        .into();
        response.webhook_secret = new_secret;
        response
    }
}

/// Creates a team (admin).
#[utoipa::path(tag = "teams", request_body = CreateTeamRequest, security(("bearer" = [])), responses(
    (status = 201, body = TeamResponse), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/teams")]
pub async fn create_team(
    state: web::Data<AppState>,
    principal: Principal,
    body: ApiJson<CreateTeamRequest>,
) -> Result<HttpResponse, AppError> {
    let CreateTeamRequest {
        slug,
        name,
        email,
        webhook_url,
        webhook_kind,
        digest,
    } = body.into_inner();
    let (new, now) = (
        NewTeam {
            slug,
            name,
            email,
            webhook_url,
            webhook_kind,
            digest: digest.map(DigestInput::from),
        },
        state.clock.now(),
    );
    let team = state
        .db
        .run(move |conn| service::teams::create(conn, &principal, new, now))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/api/v1/teams/{}", team.0.slug)))
        .json(TeamResponse::from(team)))
}

/// Lists teams by slug.
#[utoipa::path(tag = "teams", params(PageParams), security(("bearer" = [])), responses((status = 200, body = ListResponse<TeamResponse>)))]
#[get("/teams")]
pub async fn list_teams(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<PageParams>,
) -> Result<HttpResponse, AppError> {
    let page = query.to_request()?;
    let teams = state
        .db
        .run(move |conn| service::teams::list(conn, &principal, &page))
        .await?;
    Ok(HttpResponse::Ok().json(ListResponse::from_page(teams, TeamResponse::from)))
}

/// One team.
#[utoipa::path(tag = "teams", security(("bearer" = [])), responses((status = 200, body = TeamResponse), (status = 404, body = Problem)))]
#[get("/teams/{slug}")]
pub async fn get_team(
    state: web::Data<AppState>,
    principal: Principal,
    slug: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let slug = slug.into_inner();
    let team = state
        .db
        .run(move |conn| service::teams::get(conn, &principal, &slug))
        .await?;
    Ok(HttpResponse::Ok().json(TeamResponse::from(team)))
}

/// Changes a team (admin, or a head of the team).
#[utoipa::path(tag = "teams", request_body = UpdateTeamRequest, security(("bearer" = [])), responses(
    (status = 200, body = TeamResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[patch("/teams/{slug}")]
pub async fn update_team(
    state: web::Data<AppState>,
    principal: Principal,
    slug: web::Path<String>,
    body: ApiJson<UpdateTeamRequest>,
) -> Result<HttpResponse, AppError> {
    let UpdateTeamRequest {
        name,
        email,
        webhook_url,
        webhook_kind,
        rotate_webhook_secret,
        digest,
    } = body.into_inner();
    let (slug, changes, now) = (
        slug.into_inner(),
        TeamChanges {
            name,
            email,
            webhook_url,
            webhook_kind,
            rotate_webhook_secret,
            digest: digest.map(|d| d.map(DigestInput::from)),
        },
        state.clock.now(),
    );
    let team = state
        .db
        .run(move |conn| service::teams::update(conn, &principal, &slug, changes, now))
        .await?;
    Ok(HttpResponse::Ok().json(TeamResponse::from(team)))
}
