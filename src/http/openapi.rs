//! The OpenAPI document: paths and schemas are collected from the handlers at start.

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::Problem;

/// `GET /api/v1/openapi.json`: the document built from the routes at start.
pub async fn serve_openapi(document: web::Data<utoipa::openapi::OpenApi>) -> HttpResponse {
    HttpResponse::Ok().json(document.get_ref())
}

/// The parts of the document not derived from handlers.
#[derive(OpenApi)]
#[openapi(
    info(title = "accord", description = "Service-level agreements between departments: signed targets, measured activity, breach notifications."),
    components(schemas(Problem)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Access tokens"),
        (name = "teams", description = "Departments that sign SLAs"),
        (name = "users", description = "People and roles"),
        (name = "service-tokens", description = "Credentials for systems and bots"),
        (name = "calendars", description = "Business hours"),
        (name = "slas", description = "Agreements and their signing workflow"),
        (name = "events", description = "Activity, in bulk"),
        (name = "evaluations", description = "Measured values and statuses, overdue items, what-if"),
        (name = "breaches", description = "Missed objectives and who is on them"),
        (name = "notifications", description = "The outbox of messages"),
        (name = "reports", description = "Status board and compliance"),
        (name = "audit", description = "Every state change"),
        (name = "operations", description = "Probes and metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or acc_ service token")
                    .build(),
            ),
        );
    }
}
