//! Probes, metrics, the OpenAPI document and request ids.

use reqwest::StatusCode;

use crate::helpers::{TestApp, expect_status};
use crate::on_both_backends;

async fn probes_answer(app: TestApp) {
    let health = expect_status(
        app.client.get(app.url("/healthz")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(health["status"], "ok");
    let ready = expect_status(
        app.client.get(app.url("/readyz")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(ready["status"], "ready");
}

async fn metrics_count_requests_by_route(app: TestApp) {
    for _ in 0..3 {
        app.get("/api/v1/teams", app.admin()).await;
    }
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("accord_http_requests_total")
                && l.contains(r#"route="/api/v1/teams""#)
                && l.contains(r#"status="200""#)
        })
        .unwrap_or_else(|| panic!("no teams series in:\n{text}"));
    assert!(line.ends_with(" 3"), "{line}");
    assert!(text.contains("accord_http_request_duration_seconds_bucket"));
}

async fn the_openapi_document_describes_the_api(app: TestApp) {
    let doc = expect_status(
        app.client
            .get(app.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/auth/token",
        "/api/v1/teams",
        "/api/v1/teams/{slug}",
        "/api/v1/users",
        "/api/v1/users/{id}",
        "/api/v1/service-tokens/{id}",
        "/readyz",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the document"
        );
    }
    assert!(doc["paths"]["/api/v1/teams"]["post"]["requestBody"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert_eq!(
        doc["servers"][0]["url"], "http://accord.test",
        "the server is ACCORD_PUBLIC_URL"
    );
    assert!(
        doc["paths"]["/api/v1/openapi.json"]["get"]["responses"]["200"].is_object(),
        "the document lists itself"
    );
    let mut responses = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(answers) = operation["responses"].as_object() else {
                continue;
            };
            for (status, response) in answers {
                responses += 1;
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.trim().is_empty()),
                    "{method} {path} {status} has no description"
                );
            }
        }
    }
    assert!(responses > 200, "{responses} responses");
}

async fn every_answer_carries_a_request_id(app: TestApp) {
    let a = app.get("/api/v1/teams", app.admin()).await;
    let b = app
        .client
        .get(app.url("/api/v1/teams"))
        .send()
        .await
        .unwrap();
    let id = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (a, b) = (id(&a).expect("on a success"), id(&b).expect("on an error"));
    assert_ne!(a, b);
}

on_both_backends!(
    probes_answer,
    metrics_count_requests_by_route,
    the_openapi_document_describes_the_api,
    every_answer_carries_a_request_id,
);
