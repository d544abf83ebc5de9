//! The web workspace: server-rendered pages (askama templates in `templates/pages/`) on the same
//! accounts, policy and services as the API.
//!
//! A page knows a person by the session cookie ([`crate::auth::session`]) and a wall screen by a
//! share link (`?share=<service token>`); a bearer header is the API's and is not read here. A
//! page asked for with neither answers 303 to `/sign-in?next=<the page>`. Every form carries the
//! session's anti-forgery token; a post without it is 403 and changes nothing. Errors are HTML
//! pages with the API's statuses.

mod board;
mod breach;
mod chart;
mod propose;
mod sign_in;
mod sla;

use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload, web};
use askama::Template;

use crate::auth::{Principal, session};
use crate::error::AppError;
use crate::startup::AppState;

/// The pages and their forms.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(board::board))
        .route("/sign-in", web::get().to(sign_in::form))
        .route("/sign-in", web::post().to(sign_in::submit))
        .route("/sign-out", web::post().to(sign_in::sign_out))
        // Before `/slas/{key}`, which would take `new` for a key.
        .route("/slas/new", web::get().to(propose::new_form))
        .route("/slas/new", web::post().to(propose::new_submit))
        .route("/slas/{key}", web::get().to(sla::page))
        .route("/slas/{key}/revise", web::get().to(propose::revise_form))
        .route("/slas/{key}/revise", web::post().to(propose::revise_submit))
        .route("/slas/{key}/approve", web::post().to(sla::approve))
        .route("/slas/{key}/reject", web::post().to(sla::reject))
        .route("/breaches/{id}", web::get().to(breach::page))
        .route(
            "/breaches/{id}/acknowledge",
            web::post().to(breach::acknowledge),
        )
        .route("/breaches/{id}/dispute", web::post().to(breach::dispute))
        .route("/breaches/{id}/resolve", web::post().to(breach::resolve));
}

/// Who looks at a page: a person signed in with a session, or a share link's token.
pub struct Viewer {
    /// The caller, for the policy and the services.
    pub principal: Principal,
    /// Present for a signed-in person: what the layout shows and the forms carry.
    pub person: Option<Person>,
}

/// The signed-in person, as the layout shows them.
pub struct Person {
    /// Name and role, e.g. `Ada (head of sales)`.
    pub label: String,
    /// The session's anti-forgery token.
    pub csrf: String,
}

impl Viewer {
    /// The layout's part for this viewer, with the page's title.
    fn chrome(&self, title: impl Into<String>) -> Chrome {
        Chrome {
            title: title.into(),
            who: self.person.as_ref().map(|p| p.label.clone()),
            csrf: self
                .person
                .as_ref()
                .map(|p| p.csrf.clone())
                .unwrap_or_default(),
            refresh: None,
        }
    }

    /// The anti-forgery token for forms (empty for a share link, whose pages have no forms).
    fn csrf(&self) -> String {
        self.person
            .as_ref()
            .map(|p| p.csrf.clone())
            .unwrap_or_default()
    }
}

impl FromRequest for Viewer {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let session = req.get_session();
        let share = crate::auth::share_token(req);
        let next = next_of(req);
        let reading = req.method() == actix_web::http::Method::GET;
        Box::pin(async move {
            let state = state.ok_or_else(|| anyhow::anyhow!("application state missing"))?;
            if let Some(principal) = session::person(&state, &session).await? {
                let label = match &principal {
                    Principal::User(user) => match &user.team {
                        Some(team) => format!("{} ({} of {})", user.name, user.role, team.slug),
                        None => format!("{} ({})", user.name, user.role),
                    },
                    other => other.actor(),
                };
                let csrf = session::csrf_token(&session)?;
                return Ok(Self {
                    principal,
                    person: Some(Person { label, csrf }),
                });
            }
            match share {
                Some(token) => Ok(Self {
                    principal: crate::auth::share_link_viewer(&state, token).await?,
                    person: None,
                }),
                // A page is worth a detour through the sign-in; a form post is not (what it
                // carried would be lost on the way).
                None if reading => Err(PageError::SignIn { next }),
                None => Err(PageError::Failed(AppError::Unauthorized(
                    "your session has ended; sign in again and repeat what you did",
                ))),
            }
        })
    }
}

/// The page a request is for, as a same-site path to come back to after signing in.
fn next_of(req: &HttpRequest) -> String {
    match req.query_string() {
        "" => req.path().to_string(),
        query => format!("{}?{query}", req.path()),
    }
}

/// `next` when it is a path on this site, else `/`: never a redirect to another site
/// (`//evil.example`, `https://…`, `/\evil.example`).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(next)
            if next.starts_with('/')
                && !next.starts_with("//")
                && !next.starts_with("/\\")
                && !next.chars().any(|c| c.is_control() || c == '\\') =>
        {
            next.to_string()
        }
        _ => "/".into(),
    }
}

/// What every page's layout shows.
pub struct Chrome {
    /// The page's title.
    pub title: String,
    /// Who is signed in (none for a share link).
    pub who: Option<String>,
    /// The anti-forgery token of the sign-out form.
    pub csrf: String,
    /// Seconds after which the page reloads itself (the wall screen).
    pub refresh: Option<u32>,
}

/// A page that could not be shown: a redirect to the sign-in, or an error page.
#[derive(Debug)]
pub enum PageError {
    /// No session and no share link: sign in, then come back to `next`.
    SignIn {
        /// The page to come back to.
        next: String,
    },
    /// Anything else, shown as a page with the API's status.
    Failed(AppError),
}

impl From<AppError> for PageError {
    fn from(error: AppError) -> Self {
        Self::Failed(error)
    }
}

impl From<anyhow::Error> for PageError {
    fn from(error: anyhow::Error) -> Self {
        Self::Failed(AppError::Unexpected(error))
    }
}

impl From<askama::Error> for PageError {
    fn from(error: askama::Error) -> Self {
        Self::Failed(AppError::Unexpected(
            anyhow::Error::new(error).context("rendering a page"),
        ))
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SignIn { next } => write!(f, "sign in to see {next}"),
            Self::Failed(error) => write!(f, "{error}"),
        }
    }
}

#[derive(Template)]
#[template(path = "pages/error.html")]
struct ErrorPage {
    chrome: Chrome,
    status: u16,
    heading: &'static str,
    detail: String,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn { .. } => StatusCode::SEE_OTHER,
            Self::Failed(error) => error.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let error = match self {
            Self::SignIn { next } => {
                let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, format!("/sign-in?{query}")))
                    .finish();
            }
            Self::Failed(error) => error,
        };
        let status = error.status_code();
        let detail = match error {
            AppError::Unexpected(cause) => {
                tracing::error!(error = format!("{cause:#}"), "page failed");
                "Something went wrong on our side; it has been logged. Try again in a moment."
                    .to_string()
            }
            AppError::Validation { errors, detail }
            | AppError::InvalidItems { errors, detail, .. } => {
                if errors.is_empty() {
                    detail.clone()
                } else {
                    errors
                        .iter()
                        .map(|(field, message)| format!("{field}: {message}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                }
            }
            other => other.to_string(),
        };
        let heading = match status {
            StatusCode::UNAUTHORIZED => "Please sign in",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::CONFLICT => "That cannot be done now",
            StatusCode::UNPROCESSABLE_ENTITY => "Please check what you entered",
            StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
            _ if status.is_server_error() => "Something went wrong",
            _ => "That did not work",
        };
        let page = ErrorPage {
            chrome: Chrome {
                title: heading.into(),
                who: None,
                csrf: String::new(),
                refresh: None,
            },
            status: status.as_u16(),
            heading,
            detail,
        };
        let mut response = HttpResponse::build(status);
        response.content_type("text/html; charset=utf-8");
        if let AppError::TooManyRequests {
            retry_after_secs, ..
        } = error
        {
            response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        response.body(page.render().unwrap_or_else(|_| error.to_string()))
    }
}

/// A page's answer.
pub type PageResult = Result<HttpResponse, PageError>;

/// A rendered page, 200.
fn html(page: impl Template) -> PageResult {
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(page.render()?))
}

/// After a form did its work: on to `to` (303, so a reload does not post again).
fn see_other(to: &str) -> PageResult {
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_string()))
        .finish())
}

/// A posted form's fields (`application/x-www-form-urlencoded`).
pub struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Result<Self, AppError> {
        serde_urlencoded::from_bytes(body)
            .map(Self)
            .map_err(|e| AppError::BadRequest(format!("form: {e}")))
    }

    /// The field's value, trimmed; `None` when absent or blank.
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim().to_string())
            .filter(|value| !value.is_empty())
    }

    /// The field's value as typed (blank when absent).
    fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default()
    }
}

/// A posted form whose anti-forgery token matches the session's; anything else is 403 before
/// the form is read further.
fn checked_form(session: &Session, body: &[u8]) -> Result<Form, AppError> {
    let form = Form::parse(body).map_err(|_| {
        AppError::Forbidden("this form did not come from accord; reload the page".into())
    });
    let form = match form {
        Ok(form) => form,
        Err(refusal) => {
            session::check_csrf(session, None)?;
            return Err(refusal);
        }
    };
    session::check_csrf(session, form.get(session::CSRF_FIELD).as_deref())?;
    Ok(form)
}

/// A form post by a signed-in person: the viewer and the checked form.
async fn posted(req: &HttpRequest, body: &[u8]) -> Result<(Viewer, Form), PageError> {
    let viewer = Viewer::extract(req).await?;
    let form = checked_form(&req.get_session(), body)?;
    Ok((viewer, form))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/slas/x?y=1")), "/slas/x?y=1");
        for outside in [
            "//evil.example",
            "https://evil.example/",
            "/\\evil.example",
            "evil",
            "/a\\b",
            "/a\nb",
        ] {
            assert_eq!(safe_next(Some(outside)), "/", "{outside}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
