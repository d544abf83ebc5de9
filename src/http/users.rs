//! `/users`: people, their roles and teams.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::json::ApiJson;
use super::pagination::{ListResponse, PageParams};
use crate::auth::Principal;
use crate::auth::passwords::SignInKeys;
use crate::domain::identity::{Role, User};
use crate::error::{AppError, Problem};
use crate::service::{self, users::NewUser, users::PasswordChange, users::UserChanges};
use crate::startup::AppState;

/// A new account.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Sign-in address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Team slug; required for heads and members.
    pub team: Option<String>,
    /// `admin`, `head` or `member`.
    pub role: Role,
    /// At least 12 characters.
    pub password: String,
}

/// Changes to an account; absent fields stay as they are.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// Display name.
    pub name: Option<String>,
    /// Sign-in address.
    pub email: Option<String>,
    /// Team slug.
    pub team: Option<String>,
    /// Role.
    pub role: Option<Role>,
    /// New password (at least 12 characters).
    pub password: Option<String>,
    /// The current password: required to change one's own password.
    pub current_password: Option<String>,
}

/// An account as returned (never its password).
#[derive(Serialize, utoipa::ToSchema)]
pub struct UserResponse {
    /// Id, used in `/users/{id}`.
    pub id: String,
    /// Sign-in address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Team slug.
    pub team: Option<String>,
    /// Role.
    pub role: Role,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it was deactivated, if it was.
    pub deactivated_at: Option<DateTime<Utc>>,
}

impl From<User> for UserResponse {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            name: user.name,
            team: user.team.map(|t| t.slug),
            role: user.role,
            created_at: user.created_at,
            updated_at: user.updated_at,
            deactivated_at: user.deactivated_at,
        }
    }
}

/// Creates an account (admin; a head for their own team).
#[utoipa::path(tag = "users", request_body = CreateUserRequest, security(("bearer" = [])), responses(
    (status = 201, body = UserResponse), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    principal: Principal,
    body: ApiJson<CreateUserRequest>,
) -> Result<HttpResponse, AppError> {
    let CreateUserRequest {
        email,
        name,
        team,
        role,
        password,
    } = body.into_inner();
    let (new, now) = (
        NewUser {
            email,
            name,
            team,
            role,
            password: state.passwords.hash(password).await?,
        },
        state.clock.now(),
    );
    let user = state
        .db
        .run(move |conn| service::users::create(conn, &principal, new, now))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/api/v1/users/{}", user.id)))
        .json(UserResponse::from(user)))
}

/// Lists the accounts the caller may see (all for an admin, else the caller's team).
#[utoipa::path(tag = "users", params(PageParams), security(("bearer" = [])), responses((status = 200, body = ListResponse<UserResponse>)))]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<PageParams>,
) -> Result<HttpResponse, AppError> {
    let page = query.to_request()?;
    let users = state
        .db
        .run(move |conn| service::users::list(conn, &principal, &page))
        .await?;
    Ok(HttpResponse::Ok().json(ListResponse::from_page(users, UserResponse::from)))
}

/// The caller's own account.
#[utoipa::path(tag = "users", security(("bearer" = [])), responses((status = 200, body = UserResponse), (status = 403, body = Problem)))]
#[get("/users/me")]
pub async fn get_me(principal: Principal) -> Result<HttpResponse, AppError> {
    match principal {
        Principal::User(user) => Ok(HttpResponse::Ok().json(UserResponse::from(user))),
        _ => Err(AppError::Forbidden("a service token has no account".into())),
    }
}

/// One account.
#[utoipa::path(tag = "users", security(("bearer" = [])), responses((status = 200, body = UserResponse), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let user = state
        .db
        .run(move |conn| service::users::get(conn, &principal, &id))
        .await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

/// Changes an account (admin, a head of its team; anyone their own name and password).
#[utoipa::path(tag = "users", request_body = UpdateUserRequest, security(("bearer" = [])), responses(
    (status = 200, body = UserResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
    (status = 422, body = Problem)))]
#[patch("/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    id: web::Path<String>,
    body: ApiJson<UpdateUserRequest>,
) -> Result<HttpResponse, AppError> {
    let UpdateUserRequest {
        name,
        email,
        team,
        role,
        password,
        current_password,
    } = body.into_inner();
    let id = id.into_inner();
    let password = match password {
        Some(new) => {
            let address = req.peer_addr().map(|a| a.ip());
            let current = current_password.map(|password| (password, address));
            Some(password_change(&state, &principal, &id, new, current).await?)
        }
        None => None,
    };
    let (changes, now) = (
        UserChanges {
            name,
            email,
            team,
            role,
            password,
        },
        state.clock.now(),
    );
    let user = state
        .db
        .run(move |conn| service::users::update(conn, &principal, &id, changes, now))
        .await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

/// Hashes a new password and, when the caller changes their own, checks the current one (a wrong
/// one counts as a failed sign-in), all without holding a database connection while hashing.
async fn password_change(
    state: &AppState,
    principal: &Principal,
    id: &str,
    new: String,
    current: Option<(String, Option<std::net::IpAddr>)>,
) -> Result<PasswordChange, AppError> {
    let new = state.passwords.hash(new).await?;
    let verified_against = match (principal, current) {
        (Principal::User(me), Some((current, address))) if me.id == id => {
            let keys = SignInKeys::new(&me.email, address);
            state.passwords.check_allowed(&keys)?;
            let user_id = me.id.clone();
            let stored = state
                .db
                .run(move |conn| service::users::stored_password_hash(conn, &user_id))
                .await?;
            if state.passwords.verify(current, stored.clone()).await? {
                stored
            } else {
                state.passwords.record_failure(&keys);
                state.metrics.failed_sign_ins.inc();
                return Err(AppError::invalid(
                    "current_password",
                    "does not match your password",
                ));
            }
        }
        _ => None,
    };
    Ok(PasswordChange {
        new,
        verified_against,
    })
}

/// Deactivates an account: it can no longer sign in, and its tokens stop working at once.
#[utoipa::path(tag = "users", security(("bearer" = [])), responses(
    (status = 200, body = UserResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[delete("/users/{id}")]
pub async fn deactivate_user(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (id, now) = (id.into_inner(), state.clock.now());
    let user = state
        .db
        .run(move |conn| service::users::deactivate(conn, &principal, &id, now))
        .await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}
