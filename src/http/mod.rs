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
pub mod page;
pub mod pagination;
pub mod service_tokens;
pub mod slack;
pub mod slas;
pub mod status;
pub mod teams;
pub mod users;

use actix_web::web;

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

/// The answer for a path that matches no route.
pub async fn not_found() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::NotFound("route"))
}

/// Deserializes a field that may be absent (leave as is), `null` (clear) or a value (set).
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}
