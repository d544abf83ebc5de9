//! Who is calling: credentials (passwords, JWTs, service tokens) and the rules of what each may do.

pub mod credentials;
pub mod jwt;
pub mod passwords;
pub mod policy;
pub mod session;

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, http::header, web};

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
        let known = req
            .extensions()
            .get::<Authenticated>()
            .and_then(|a| a.0.as_ref().ok().cloned());
        if let Some(principal) = known {
            return Box::pin(std::future::ready(Ok(principal)));
        }
        if let Some(Authenticated(refused)) = req.extensions_mut().remove::<Authenticated>() {
            return Box::pin(std::future::ready(refused));
        }
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let bearer = bearer(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| anyhow::anyhow!("application state missing"))?;
            let token = bearer.ok_or(AppError::Unauthorized("a bearer token is required"))?;
            authenticate(&state, token).await
        })
    }
}

/// The outcome of authenticating a request's bearer token, left by [`authenticate_first`] for the
/// [`Principal`] extractor.
struct Authenticated(Result<Principal, AppError>);

/// Routes that answer whoever calls (health, metrics, the OpenAPI document, sign-in, and Slack,
/// which signs its own requests): a bearer header there is not read.
const PUBLIC_PATHS: [&str; 6] = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/api/v1/openapi.json",
    "/api/v1/auth/token",
    "/api/v1/integrations/slack/command",
];

/// Middleware: authenticates the bearer token, if the request has one, before the handler's
/// extractors run. A handler's extractors are polled together, so without this a request with a
/// revoked token and a bad body could be told about its body (422) before being refused (401).
pub async fn authenticate_first(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    if !PUBLIC_PATHS.contains(&req.path())
        && let Some(token) = bearer(req.request())
        && let Some(state) = req.app_data::<web::Data<AppState>>().cloned()
    {
        let outcome = authenticate(&state, token).await;
        req.extensions_mut().insert(Authenticated(outcome));
    }
    next.call(req).await
}

/// A refusal for a service token sending a JSON body, before the body is read: no route that
/// reads JSON is open to tokens (they post events through their own reader, and read).
pub fn refuse_json_from_token(req: &HttpRequest) -> Result<(), AppError> {
    let from_token = matches!(
        req.extensions().get::<Authenticated>(),
        Some(Authenticated(Ok(Principal::Service(_))))
    );
    if from_token {
        return Err(AppError::Forbidden(
            "service tokens cannot do this; it takes a person's sign-in".into(),
        ));
    }
    Ok(())
}

fn bearer(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())
        })
}

/// The token of a share link (`?share=<service token>`), taken out of the URL by
/// [`take_share_token`]; `None` when the request has none.
pub fn share_token(req: &HttpRequest) -> Option<String> {
    req.extensions_mut()
        .remove::<ShareToken>()
        .map(|ShareToken(token)| token)
}

/// The caller behind a share link: a service token (the policy then decides what it may read;
/// a wall screen's link holds one with `status:read`). A person's access token in a link is
/// refused, so a link never signs anyone in.
pub async fn share_link_viewer(state: &AppState, token: String) -> Result<Principal, AppError> {
    if !credentials::is_service_token(&token) {
        return Err(AppError::Unauthorized(
            "a share link holds a service token with the status:read scope",
        ));
    }
    authenticate(state, token).await
}

/// The token of a share link, taken out of the URL by [`take_share_token`].
struct ShareToken(String);

/// Middleware (outermost): takes a share link's token (`?share=…`) out of the URL before anything
/// logs the URL, and hands it to [`share_token`]. The request log then shows `share=…` only as
/// redacted, so a token that is refused (or accepted) never lands in a log.
pub async fn take_share_token(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let query = req.query_string();
    if query.split('&').any(|pair| pair.starts_with("share=")) {
        let mut token = None;
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| match pair.strip_prefix("share=") {
                Some(value) => {
                    token =
                        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("s={value}"))
                            .ok()
                            .and_then(|mut pairs| pairs.pop())
                            .map(|(_, v)| v);
                    false
                }
                None => true,
            })
            .collect();
        let redacted = if kept.is_empty() {
            "share=redacted".to_string()
        } else {
            format!("{}&share=redacted", kept.join("&"))
        };
        let uri = format!("{}?{redacted}", req.path());
        if let Ok(uri) = uri.parse() {
            req.head_mut().uri = uri;
        }
        if let Some(token) = token {
            req.extensions_mut().insert(ShareToken(token));
        }
    }
    next.call(req).await
}

async fn authenticate(state: &AppState, token: String) -> Result<Principal, AppError> {
    let now = state.clock.now();
    if credentials::is_service_token(&token) {
        let hash = credentials::hash_service_token(&token);
        // Kept in memory until the database changes (see `store::memo`): a revocation applies
        // at once on this replica, and within the change signal's delay on the others.
        let found = state
            .db
            .run_memo(format!("token {hash}"), now, move |conn| {
                Ok((store::service_tokens::find_by_hash(conn, &hash)?, None))
            })
            .await?;
        return match (*found).clone() {
            Some(token) if token.revoked_at.is_none() => Ok(Principal::Service(token)),
            Some(_) => Err(AppError::Unauthorized(
                "this service token has been revoked",
            )),
            None => Err(AppError::Unauthorized("unknown service token")),
        };
    }
    let subject = state.jwt.verify(&token)?;
    current_person(state, subject.user_id, subject.generation).await
}

/// The person behind a token or a web session that names `user_id` at `generation`: refused
/// (401) once the account is deactivated, gone, or its password changed. The one place both
/// bearer tokens and sessions read the account.
pub async fn current_person(
    state: &AppState,
    user_id: String,
    generation: i32,
) -> Result<Principal, AppError> {
    let now = state.clock.now();
    // The account is kept in memory until the database changes (see `store::memo`), so a
    // deactivation, a role change or a new password applies at once on this replica and within
    // the change signal's delay on the others.
    let user = state
        .db
        .run_memo(format!("user {user_id}"), now, move |conn| {
            Ok((store::users::find(conn, &user_id)?, None))
        })
        .await?;
    match (*user).clone() {
        Some(user) if user.deactivated_at.is_some() => Err(AppError::Unauthorized(
            "the account behind this token is deactivated",
        )),
        Some(user) if user.token_generation != generation => Err(AppError::Unauthorized(
            "the password has changed since this token was issued",
        )),
        Some(user) => Ok(Principal::User(user)),
        None => Err(AppError::Unauthorized(
            "the account behind this token no longer exists",
        )),
    }
}

/// Signs a person in with email and password: the active account whose password matches, or the
/// same 401 for an unknown email, a wrong password or a deactivated account, so the answer does
/// not tell which. Failed attempts count against the account and the client address (429 once
/// either has failed too often); the password is checked holding no database connection.
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: String,
    address: Option<std::net::IpAddr>,
) -> Result<User, AppError> {
    let keys = passwords::SignInKeys::new(email, address);
    state.passwords.check_allowed(&keys)?;
    let email = email.trim().to_lowercase();
    let found = state
        .db
        .run(move |conn| Ok(store::users::find_credentials(conn, &email)?))
        .await?;
    let (user, hash) = found.unzip();
    let matches = state.passwords.verify(password, hash).await?;
    match user {
        Some(user) if matches && user.deactivated_at.is_none() => {
            state.passwords.record_success(&keys);
            Ok(user)
        }
        _ => {
            state.passwords.record_failure(&keys);
            state.metrics.failed_sign_ins.inc();
            Err(AppError::Unauthorized("wrong email or password"))
        }
    }
}
