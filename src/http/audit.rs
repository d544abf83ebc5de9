//! `/audit`: every state change, newest first.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::pagination::{ListResponse, PageParams};
use crate::auth::Principal;
use crate::domain::audit::AuditEntry;
use crate::error::{AppError, Problem};
use crate::service;
use crate::startup::AppState;
use crate::store::audit::AuditFilter;

/// `GET /audit` filters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// `sla`, `team`, `user`, `service_token`, `calendar`.
    pub entity_type: Option<String>,
    /// The entity's id, or key for SLAs and calendars, or slug for teams.
    pub entity_id: Option<String>,
    /// `user:<id>`, `token:<id>` or `system`.
    pub actor: Option<String>,
    /// e.g. `sla.activated`.
    pub action: Option<String>,
    /// Entries at or after this instant (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Entries before this instant (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Items per page, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One state change.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditEntryResponse {
    /// Id (time-ordered).
    pub id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Kind of thing changed.
    pub entity_type: String,
    /// Which one.
    pub entity_id: String,
    /// The thing before (absent on creation).
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The thing after (absent on deletion).
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}

impl From<AuditEntry> for AuditEntryResponse {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            entity_type: e.entity_type,
            entity_id: e.entity_id,
            before: e.before,
            after: e.after,
        }
    }
}

/// The audit log, newest first (admins and heads).
#[utoipa::path(tag = "audit", params(AuditQuery), security(("bearer" = [])), responses(
    (status = 200, body = ListResponse<AuditEntryResponse>), (status = 403, body = Problem)))]
#[get("/audit")]
pub async fn list_audit(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let q = query.into_inner();
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .to_request()?;
    let filter = AuditFilter {
        entity_type: q.entity_type,
        entity_id: q.entity_id,
        actor: q.actor,
        action: q.action,
        from: q.from,
        to: q.to,
        concerning_team: None,
    };
    let entries = state
        .db
        .run(move |conn| service::audit_log(conn, &principal, &filter, &page))
        .await?;
    Ok(HttpResponse::Ok().json(ListResponse::from_page(entries, AuditEntryResponse::from)))
}
