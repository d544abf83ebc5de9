//! The OpenAPI document: paths and schemas are collected from the handlers at start.

use actix_web::{HttpResponse, web};
use anyhow::Context;
use serde_json::{Map, Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{AppError, Problem};
use crate::startup::AppState;

/// `GET /api/v1/openapi.json`: the document built from the routes at start, completed by
/// [`complete_document`].
pub async fn serve_openapi(
    document: web::Data<utoipa::openapi::OpenApi>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let mut document = serde_json::to_value(document.get_ref()).context("OpenAPI document")?;
    complete_document(&mut document, &state.config.public_url);
    Ok(HttpResponse::Ok().json(document))
}

/// Where the document is served; it lists itself there.
pub const DOCUMENT_PATH: &str = "/api/v1/openapi.json";

/// Turns the document collected from the handlers into one a validator accepts and a client
/// can use: the server is `public_url` (`ACCORD_PUBLIC_URL`), the document's own path is
/// listed, every operation gets the answers all operations share (see [`add_shared_answers`]),
/// and every response has the `description` OpenAPI requires (the annotations often leave it
/// empty).
pub fn complete_document(document: &mut Value, public_url: &str) {
    if let Some(root) = document.as_object_mut() {
        root.insert(
            "servers".into(),
            json!([{"url": public_url.trim_end_matches('/'), "description": "This accord instance"}]),
        );
        let paths = root.entry("paths").or_insert_with(|| json!({}));
        if let Some(paths) = paths.as_object_mut() {
            paths.entry(DOCUMENT_PATH).or_insert_with(|| {
                json!({"get": {
                    "tags": ["operations"],
                    "summary": "This OpenAPI 3.1 document",
                    "operationId": "openapi_document",
                    "responses": {"200": {
                        "description": "The document, generated from the code of this version",
                        "content": {"application/json": {"schema": {"type": "object"}}}
                    }}
                }})
            });
        }
    }
    add_shared_answers(document);
    describe_every_response(document);
}

/// Fills in an empty or missing response `description` from the status code.
fn describe_every_response(document: &mut Value) {
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut().filter_map(Value::as_object_mut) {
        for operation in item.values_mut() {
            let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            for (status, response) in responses.iter_mut() {
                let Some(response) = response.as_object_mut() else {
                    continue;
                };
                let missing = response
                    .get("description")
                    .and_then(Value::as_str)
                    .is_none_or(|d| d.trim().is_empty());
                if missing && !response.contains_key("$ref") {
                    response.insert("description".into(), describe_status(status).into());
                }
            }
        }
    }
}

/// The meaning of a status as accord uses it, for responses the annotations left undescribed.
fn describe_status(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted",
        "204" => "Done; no content",
        "400" => "The query, path or body could not be read",
        "401" => "No bearer token, or one that does not check out",
        "403" => "The caller's role or scopes do not allow it",
        "404" => "No such thing",
        "405" => "The path does not take this method",
        "409" => "A duplicate, or a state that does not allow the change",
        "413" => "The body is over the limit",
        "415" => "The body is in a format this operation does not read",
        "422" => "Well-formed input that breaks a rule; `errors` names each field",
        "503" => "The service or a dependency is not available",
        _ => "See the status code",
    }
}

const PROBLEM_SCHEMA: &str = "#/components/schemas/Problem";

/// Completes each operation with what the extractors answer for every handler alike, so that
/// the handlers' annotations list only their own outcomes: errors are `application/problem+json`;
/// a token-protected operation may answer 401; one with parameters or a body 400 (a malformed
/// query, path or body); one with a path parameter 404; one with a JSON body 413 (over the
/// limit), 415 (another media type) and 422 (a field of the wrong type, unknown or missing).
pub fn add_shared_answers(document: &mut Value) {
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let has_path_parameter = path.contains('{');
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for method in ["get", "put", "post", "delete", "patch"] {
            if let Some(operation) = item.get_mut(method).and_then(Value::as_object_mut) {
                complete_operation(operation, has_path_parameter);
            }
        }
    }
}

fn complete_operation(operation: &mut Map<String, Value>, has_path_parameter: bool) {
    let is_protected = operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|requirements| requirements.iter().any(|r| r != &json!({})));
    let has_parameters = operation
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    let body_types: Vec<String> = operation
        .get("requestBody")
        .and_then(|b| b.get("content"))
        .and_then(Value::as_object)
        .map(|content| content.keys().cloned().collect())
        .unwrap_or_default();
    let has_json_body = body_types.iter().any(|t| t == "application/json");
    let responses = operation
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    let Some(responses) = responses else { return };
    for response in responses.values_mut() {
        as_problem_json(response);
    }
    let mut add = |status: &str, description: &str| {
        responses.entry(status).or_insert_with(|| {
            json!({"description": description,
                   "content": {"application/problem+json": {"schema": {"$ref": PROBLEM_SCHEMA}}}})
        });
    };
    if has_parameters || !body_types.is_empty() {
        add("400", "The query, path or body could not be read");
    }
    if is_protected {
        add("401", "No bearer token, or one that does not check out");
    }
    if has_path_parameter {
        add("404", "No such thing");
    }
    if has_json_body {
        add("413", "The body is over the limit");
        add(
            "415",
            "The body is in a format this operation does not read",
        );
        add(
            "422",
            "A field has the wrong type, is unknown or is missing, or breaks a rule",
        );
    }
}

/// Problems are sent as `application/problem+json`, whatever media type the annotation defaulted to.
fn as_problem_json(response: &mut Value) {
    let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
        return;
    };
    let is_problem = content
        .get("application/json")
        .and_then(|c| c.pointer("/schema/$ref"))
        .is_some_and(|r| r == PROBLEM_SCHEMA);
    if is_problem && let Some(problem) = content.remove("application/json") {
        content.insert("application/problem+json".into(), problem);
    }
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
