//! The HTTP surface: handlers and their request/response shapes, one file per resource.

pub mod audit;
pub mod auth;
pub mod breaches;
pub mod calendars;
pub mod evaluations;
pub mod events;
pub mod health;
pub mod json;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod pagination;
pub mod service_tokens;
pub mod slack;
pub mod slas;
pub mod status;
pub mod teams;
pub mod users;

use actix_web::{HttpRequest, web};

use crate::error::AppError;

/// Query-string extraction whose failures are problem+json 400s, not actix's plain text.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|err, _| AppError::BadRequest(format!("query string: {err}")).into())
}

/// Path extraction whose failures are problem+json 400s.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|err, _| AppError::BadRequest(format!("path: {err}")).into())
}

/// Middleware: a URL holding a percent-encoded NUL is a 400 before any extractor decodes it.
pub async fn refuse_nul_in_url(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    Ok(match nul_in_url(req.request()) {
        Some(error) => req.error_response(error).map_into_right_body(),
        None => next.call(req).await?.map_into_left_body(),
    })
}

/// A percent-encoded NUL (`%00`) in the path or the query string, refused before any extractor
/// decodes it: PostgreSQL cannot bind text holding NUL, so every backend refuses it alike.
fn nul_in_url(req: &HttpRequest) -> Option<AppError> {
    let (path, query) = (req.uri().path(), req.query_string());
    let part = if path.contains("%00") {
        "path"
    } else if query.contains("%00") {
        "query string"
    } else {
        return None;
    };
    Some(AppError::BadRequest(format!(
        "{part}: {}",
        crate::domain::validate::NUL_REASON
    )))
}

/// The answer for a request that no route takes: 405 with the methods it does take when the path
/// is one of the API's (as the OpenAPI document lists them), else 404.
pub async fn not_found(
    req: HttpRequest,
    document: Option<web::Data<utoipa::openapi::OpenApi>>,
) -> Result<actix_web::HttpResponse, AppError> {
    // The document lists itself only as served (it is completed then), not as built.
    let allowed = if req.path() == openapi::DOCUMENT_PATH {
        vec!["GET"]
    } else {
        document
            .map(|document| allowed_methods(&document, req.path()))
            .unwrap_or_default()
    };
    if allowed.is_empty() {
        return Err(AppError::NotFound("route"));
    }
    Err(AppError::MethodNotAllowed {
        method: req.method().to_string(),
        allow: allowed.join(", "),
    })
}

/// The methods of every path template in `document` that `path` fits (`{name}` takes one
/// non-empty segment).
fn allowed_methods(document: &utoipa::openapi::OpenApi, path: &str) -> Vec<&'static str> {
    let fits = |template: &str| {
        let (mut t, mut p) = (template.split('/'), path.split('/'));
        loop {
            match (t.next(), p.next()) {
                (None, None) => return true,
                (Some(t), Some(p)) if t.starts_with('{') && !p.is_empty() => {}
                (Some(t), Some(p)) if t == p => {}
                _ => return false,
            }
        }
    };
    // A literal path (`/slas/simulate`) is that resource alone, not also a `/slas/{key}`.
    let items: Vec<_> = match document.paths.paths.get(path) {
        Some(item) => vec![item],
        None => document
            .paths
            .paths
            .iter()
            .filter(|(t, _)| fits(t))
            .map(|(_, item)| item)
            .collect(),
    };
    let mut allowed = Vec::new();
    for item in items {
        for (method, operation) in [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("PATCH", &item.patch),
        ] {
            if operation.is_some() && !allowed.contains(&method) {
                allowed.push(method);
            }
        }
    }
    allowed
}

/// Deserializes a field that may be absent (leave as is), `null` (clear) or a value (set).
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}
