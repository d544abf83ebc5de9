//! Who is calling: credentials (passwords, JWTs, service tokens) and the rules of what each may do.

pub mod credentials;
pub mod jwt;
pub mod policy;

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};

use crate::domain::identity::{Role, Scope, ServiceToken, TeamRef, User};
use crate::error::AppError;
use crate::startup::AppState;
use crate::store;

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub enum Principal {
    /// A person, signed in with a JWT.
    User(User),
    /// A system or bot, with a service token.
    Service(ServiceToken),
    /// accord itself or its operator at the command line (bootstrap, `accord user add`, the scheduler).
    /// Never produced from a request.
    System,
}

impl Principal {
    /// The caller as written in the audit log: `user:<id>` or `token:<id>`.
    pub fn actor(&self) -> String {
        match self {
            Self::User(user) => format!("user:{}", user.id),
            Self::Service(token) => format!("token:{}", token.id),
            Self::System => "system".into(),
        }
    }

    /// The caller's team, if it has one.
    pub fn team(&self) -> Option<&TeamRef> {
        match self {
            Self::User(user) => user.team.as_ref(),
            Self::Service(token) => token.team.as_ref(),
            Self::System => None,
        }
    }

    /// The caller's role, for people.
    pub fn role(&self) -> Option<Role> {
        match self {
            Self::User(user) => Some(user.role),
            Self::Service(_) | Self::System => None,
        }
    }

    /// Whether the caller is a service token holding `scope`.
    pub fn has_scope(&self, scope: Scope) -> bool {
        matches!(self, Self::Service(token) if token.scopes.contains(&scope))
    }
}

/// Extracts the [`Principal`] from `Authorization: Bearer …`; refuses the request with 401 otherwise.
impl FromRequest for Principal {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let bearer = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| token.trim().to_string())
            });
        Box::pin(async move {
            let state = state.ok_or_else(|| anyhow::anyhow!("application state missing"))?;
            let token = bearer.ok_or(AppError::Unauthorized("a bearer token is required"))?;
            authenticate(&state, token).await
        })
    }
}

async fn authenticate(state: &AppState, token: String) -> Result<Principal, AppError> {
    if credentials::is_service_token(&token) {
        let hash = credentials::hash_service_token(&token);
        let found = state
            .db
            .run(move |conn| Ok(store::service_tokens::find_by_hash(conn, &hash)?))
            .await?;
        return match found {
            Some(token) if token.revoked_at.is_none() => Ok(Principal::Service(token)),
            Some(_) => Err(AppError::Unauthorized(
                "this service token has been revoked",
            )),
            None => Err(AppError::Unauthorized("unknown service token")),
        };
    }
    let user_id = state.jwt.verify(&token)?;
    // The user is read on every request, so a deactivation or a role change applies at once.
    let user = state
        .db
        .run(move |conn| Ok(store::users::find(conn, &user_id)?))
        .await?;
    match user {
        Some(user) if user.deactivated_at.is_none() => Ok(Principal::User(user)),
        _ => Err(AppError::Unauthorized(
            "the account behind this token no longer exists or is deactivated",
        )),
    }
}
