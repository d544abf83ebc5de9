//! Liveness and readiness probes.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use crate::error::{AppError, Problem};
use crate::startup::AppState;
use crate::store;

/// A probe's answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthResponse {
    /// `ok` or `ready`.
    pub status: &'static str,
}

/// The process is up and answering.
#[utoipa::path(tag = "operations", responses((status = 200, body = HealthResponse)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthResponse { status: "ok" })
}

/// The database is reachable and every migration of this binary is applied.
#[utoipa::path(tag = "operations", responses((status = 200, body = HealthResponse), (status = 503, body = Problem)))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let pending = state
        .db
        .run(|conn| {
            store::has_pending_migrations(conn)
                .map_err(|e| AppError::Unavailable(format!("database: {e:#}")))
        })
        .await?;
    if pending {
        return Err(AppError::Unavailable(
            "database migrations are pending; run `accord migrate`".into(),
        ));
    }
    Ok(HttpResponse::Ok().json(HealthResponse { status: "ready" }))
}
