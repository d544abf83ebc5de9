//! The one error type of the HTTP surface, rendered as `application/problem+json` (RFC 9457).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Field path (dotted, e.g. `metric.kind` or `[3].occurred_at`) → what is wrong with it.
pub type FieldErrors = BTreeMap<String, String>;

/// The longest text an error shows or logs: a sentence and about 200 bytes of the client's input.
/// A longer text is cut there, so a hostile body never comes back whole in an answer or a log line.
pub const MAX_ERROR_TEXT: usize = 400;

/// `text`, cut to [`MAX_ERROR_TEXT`] bytes (at a character boundary) with a note of its length.
pub fn bounded(text: &str) -> std::borrow::Cow<'_, str> {
    match crate::domain::validate::cut(text, MAX_ERROR_TEXT) {
        whole if whole.len() == text.len() => text.into(),
        start => format!("{start}… (cut; {} bytes in all)", text.len()).into(),
    }
}

/// Every way a request can fail; each maps to one status and one problem `type`.
#[derive(thiserror::Error)]
pub enum AppError {
    /// 400: the request could not be read (malformed JSON, bad query or path).
    #[error("{}", bounded(.0))]
    BadRequest(String),
    /// 422: well-formed input that breaks a rule; `errors` names each field.
    #[error("{}", bounded(.detail))]
    Validation {
        /// One sentence for humans.
        detail: String,
        /// Field → message.
        errors: FieldErrors,
    },
    /// 422 for a batch: `errors` names each bad field of each bad item, `items` lists them.
    #[error("{}", bounded(.detail))]
    InvalidItems {
        /// One sentence for humans.
        detail: String,
        /// `"<position>.<field>"` → message, e.g. `"line 7.occurred_at"`.
        errors: FieldErrors,
        /// The same problems as objects: `{"line" | "index", "field", "reason"}`.
        items: Vec<serde_json::Value>,
    },
    /// 404: the named kind of thing does not exist (or is not visible to the caller).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 401: no credentials, or credentials that do not check out.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403: authenticated, but the role does not allow this.
    #[error("{}", bounded(.0))]
    Forbidden(String),
    /// 405: the path exists, not with this method; lists the methods it takes (`Allow`).
    #[error("{} is not allowed here; use {allow}", bounded(.method))]
    MethodNotAllowed {
        /// The method of the request.
        method: String,
        /// The methods the path takes, comma-separated, as the `Allow` header says them.
        allow: String,
    },
    /// 409: a duplicate key or a state that does not allow the change.
    #[error("{}", bounded(.0))]
    Conflict(String),
    /// 413: the body is larger than accepted.
    #[error("{}", bounded(.0))]
    PayloadTooLarge(String),
    /// 415: a body in a format this endpoint does not read.
    #[error("{}", bounded(.0))]
    UnsupportedMediaType(String),
    /// 429: too many attempts (failed sign-ins); `Retry-After` says how long to wait.
    #[error("{detail}")]
    TooManyRequests {
        /// One sentence for humans.
        detail: String,
        /// Seconds until the next attempt is taken.
        retry_after_secs: u64,
    },
    /// 503: a dependency (the database) is not ready.
    #[error("{}", bounded(.0))]
    Unavailable(String),
    /// 500: a fault on our side; the detail is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Debug shows the variant and the bounded text, never the whole of a client's input: the request
/// log records errors with both `Display` and `Debug`.
impl std::fmt::Debug for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unexpected(error) => write!(f, "Unexpected({error:?})"),
            other => write!(f, "{}({other})", other.kind().1),
        }
    }
}

impl AppError {
    /// A 422 for a single field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let (field, message) = (field.into(), message.into());
        Self::Validation {
            detail: format!("{field}: {message}"),
            errors: BTreeMap::from([(field, message)]),
        }
    }

    /// A 422 for several fields at once; `Ok(())` when there are none.
    pub fn check(errors: FieldErrors) -> Result<(), Self> {
        if errors.is_empty() {
            return Ok(());
        }
        let detail = if errors.len() == 1 {
            errors.iter().map(|(f, m)| format!("{f}: {m}")).collect()
        } else {
            format!("{} fields are invalid", errors.len())
        };
        Err(Self::Validation { detail, errors })
    }

    /// A 403 with the default wording.
    pub fn forbidden() -> Self {
        Self::Forbidden("your role does not allow this".into())
    }

    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            Self::BadRequest(_) => ("bad-request", "Bad Request"),
            Self::Validation { .. } | Self::InvalidItems { .. } => ("validation", "Invalid Input"),
            Self::NotFound(_) => ("not-found", "Not Found"),
            Self::Unauthorized(_) => ("unauthorized", "Unauthorized"),
            Self::Forbidden(_) => ("forbidden", "Forbidden"),
            Self::MethodNotAllowed { .. } => ("method-not-allowed", "Method Not Allowed"),
            Self::Conflict(_) => ("conflict", "Conflict"),
            Self::PayloadTooLarge(_) => ("payload-too-large", "Payload Too Large"),
            Self::UnsupportedMediaType(_) => ("unsupported-media-type", "Unsupported Media Type"),
            Self::TooManyRequests { .. } => ("too-many-requests", "Too Many Requests"),
            Self::Unavailable(_) => ("unavailable", "Service Unavailable"),
            Self::Unexpected(_) => ("internal", "Internal Server Error"),
        }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem, e.g. `/problems/validation`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// For validation problems: field → message.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub errors: Option<FieldErrors>,
    /// For a batch: each bad item, `{"line" | "index", "field", "reason"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub items: Option<Vec<serde_json::Value>>,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation { .. } | Self::InvalidItems { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let detail = match self {
            Self::Unexpected(error) => {
                // The only place a 5xx is logged, with its cause chain; the client sees none of it.
                tracing::error!(error = format!("{error:#}"), "request failed");
                "an unexpected error occurred; it has been logged".to_string()
            }
            other => other.to_string(),
        };
        if let Self::Unavailable(reason) = self {
            tracing::warn!(reason, "not ready");
        }
        let (slug, title) = self.kind();
        let problem = Problem {
            kind: format!("/problems/{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail,
            errors: match self {
                Self::Validation { errors, .. } | Self::InvalidItems { errors, .. } => Some(
                    errors
                        .iter()
                        .map(|(field, message)| {
                            (bounded(field).into_owned(), bounded(message).into_owned())
                        })
                        .collect(),
                ),
                _ => None,
            },
            items: match self {
                Self::InvalidItems { items, .. } => Some(items.clone()),
                _ => None,
            },
        };
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if let Self::TooManyRequests {
            retry_after_secs, ..
        } = self
        {
            response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        if let Self::MethodNotAllowed { allow, .. } = self
            && let Ok(allow) = HeaderValue::from_str(allow)
        {
            response.insert_header((header::ALLOW, allow));
        }
        response.json(problem)
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::NotFound => Self::NotFound("record"),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                Self::Conflict(format!("already exists ({})", info.message()))
            }
            other => Self::Unexpected(anyhow::Error::new(other).context("database")),
        }
    }
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        Self::Unavailable(format!("no database connection: {error}"))
    }
}
