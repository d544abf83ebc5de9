//! `POST /auth/token`: email and password in, access token out.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};

use super::json::ApiJson;
use crate::error::{AppError, Problem};
use crate::startup::AppState;

/// How long a token from `/auth/token` is valid.
pub const TOKEN_TTL_SECS: i64 = 3600;

/// Credentials to exchange.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Sign-in address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// An access token.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// The JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: i64,
}

/// Exchanges email and password for an access token.
#[utoipa::path(tag = "auth", request_body = TokenRequest, responses(
    (status = 200, body = TokenResponse), (status = 401, body = Problem), (status = 422, body = Problem),
    (status = 429, description = "Too many failed sign-ins for this account or address; `Retry-After` says how long to wait", body = Problem)))]
#[post("/auth/token")]
pub async fn issue_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<TokenRequest>,
) -> Result<HttpResponse, AppError> {
    let TokenRequest { email, password } = body.into_inner();
    let address = req.peer_addr().map(|a| a.ip());
    let user = crate::auth::sign_in(&state, &email, password, address).await?;
    let ttl = chrono::Duration::seconds(TOKEN_TTL_SECS);
    let access_token = state.jwt.issue(&user, chrono::Utc::now(), ttl)?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: TOKEN_TTL_SECS,
    }))
}
