//! API conventions every resource shares: problem+json errors for bad input, and cursor paging.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, expect_problem, expect_status};
use crate::on_both_backends;

async fn send_raw(app: &TestApp, body: &'static [u8], content_type: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/teams"))
        .bearer_auth(app.admin())
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn team_count(app: &TestApp) -> usize {
    let teams = expect_status(
        app.get("/api/v1/teams?limit=1000", app.admin()).await,
        StatusCode::OK,
    )
    .await;
    teams["items"].as_array().unwrap().len()
}

async fn bad_bodies_get_a_useful_4xx_and_change_nothing(app: TestApp) {
    let problem = expect_problem(
        send_raw(&app, br#"{"slug": "sales", "name": "#, "application/json").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("malformed JSON"),
        "{problem}"
    );
    expect_problem(
        send_raw(&app, b"", "application/json").await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let wrong_type = br#"{"slug": "sales", "name": 42, "email": "sales@example.com"}"#;
    let problem = expect_problem(
        send_raw(&app, wrong_type, "application/json").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        problem["errors"]["name"]
            .as_str()
            .unwrap()
            .contains("invalid type"),
        "{problem}"
    );

    let unknown =
        br#"{"slug": "sales", "name": "Sales", "email": "sales@example.com", "colour": "red"}"#;
    let problem = expect_problem(
        send_raw(&app, unknown, "application/json").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`"),
        "{problem}"
    );

    let missing = br#"{"slug": "sales", "name": "Sales"}"#;
    let problem = expect_problem(
        send_raw(&app, missing, "application/json").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["errors"]["email"], "is required", "{problem}");

    let good = br#"{"slug": "sales", "name": "Sales", "email": "sales@example.com"}"#;
    expect_problem(
        send_raw(&app, good, "text/plain").await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;

    let huge =
        json!({"slug": "sales", "name": "x".repeat(2 * 1024 * 1024), "email": "sales@example.com"});
    let problem = expect_problem(
        app.post("/api/v1/teams", app.admin(), &huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("limit"),
        "{problem}"
    );

    assert_eq!(team_count(&app).await, 0, "no bad request stored anything");
    expect_status(
        send_raw(&app, good, "application/json; charset=utf-8").await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(team_count(&app).await, 1);
}

async fn unknown_routes_and_bad_paths_are_problems(app: TestApp) {
    expect_problem(
        app.get("/api/v1/nothing-here", app.admin()).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.get("/nothing-here", app.admin()).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.get("/api/v1/users/not-an-id", app.admin()).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn lists_page_with_an_opaque_cursor(app: TestApp) {
    let slugs = ["alpha", "bravo", "charlie", "delta", "echo"];
    for slug in slugs.iter().rev() {
        app.create_team(slug).await;
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/teams?limit=2".to_string();
    let mut pages = 0;
    loop {
        let page = expect_status(app.get(&path, app.admin()).await, StatusCode::OK).await;
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|t| t["slug"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/teams?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, slugs, "every team once, in slug order");
    assert_eq!(pages, 3);

    let all = expect_status(app.get("/api/v1/teams", app.admin()).await, StatusCode::OK).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 5);
    assert!(all["next_cursor"].is_null());

    for bad in ["limit=0", "limit=1001", "limit=ten", "cursor=garbage!"] {
        let problem = expect_problem(
            app.get(&format!("/api/v1/teams?{bad}"), app.admin()).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{bad}");
    }
}

async fn user_lists_page_in_creation_order(app: TestApp) {
    app.create_team("sales").await;
    let mut created = BTreeSet::new();
    for _ in 0..4 {
        created.insert(app.create_user(Some("sales"), "member").await.id);
    }
    let first = expect_status(
        app.get("/api/v1/users?limit=3", app.admin()).await,
        StatusCode::OK,
    )
    .await;
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let second = expect_status(
        app.get(
            &format!("/api/v1/users?limit=3&cursor={cursor}"),
            app.admin(),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(second["next_cursor"].is_null());
    let ids: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["items"].as_array().unwrap())
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 5, "four members and the admin");
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    assert!(created.iter().all(|id| ids.contains(id)));
}

async fn a_known_path_with_another_method_is_405_with_allow(app: TestApp) {
    for (method, path, allow) in [
        (Method::PUT, "/api/v1/teams", "GET, POST"),
        (Method::DELETE, "/api/v1/teams/sales", "GET, PATCH"),
        (Method::DELETE, "/api/v1/slas/simulate", "POST"),
        (Method::OPTIONS, "/api/v1/users/me", "GET"),
        (Method::POST, "/healthz", "GET"),
        (Method::TRACE, "/api/v1/openapi.json", "GET"),
    ] {
        let response = app
            .request(method.clone(), path, Some(app.admin()), None)
            .await;
        let allowed = response
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_string());
        let problem = expect_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
        assert_eq!(problem["type"], "/problems/method-not-allowed");
        assert_eq!(allowed.as_deref(), Some(allow), "{method} {path}");
    }
    // A path that is none of the API's is still a 404, whatever the method.
    expect_problem(
        app.request(Method::PUT, "/api/v1/nothing-here", Some(app.admin()), None)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.request(
            Method::PUT,
            "/api/v1/teams/sales/extra",
            Some(app.admin()),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn the_document_lists_the_answers_every_operation_shares(app: TestApp) {
    let doc = expect_status(
        app.client
            .get(app.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let operation = |path: &str, method: &str| doc["paths"][path][method].clone();
    let problem = json!({"schema": {"$ref": "#/components/schemas/Problem"}});
    let create_team = operation("/api/v1/teams", "post");
    for status in ["400", "401", "403", "409", "413", "415", "422"] {
        let response = &create_team["responses"][status];
        assert_eq!(
            response["content"]["application/problem+json"], problem,
            "POST /teams {status}: {response}"
        );
        assert!(response["content"].get("application/json").is_none());
    }
    let get_team = operation("/api/v1/teams/{slug}", "get");
    for status in ["400", "401", "404"] {
        assert!(get_team["responses"][status].is_object(), "{status}");
    }
    // Without a token or parameters there is nothing to refuse.
    let healthz = operation("/healthz", "get");
    assert!(healthz["responses"].get("401").is_none());
    assert!(healthz["responses"].get("400").is_none());
    let limit = operation("/api/v1/teams", "get")["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .cloned()
        .unwrap();
    assert_eq!(limit["schema"]["minimum"], 1);
    assert_eq!(limit["schema"]["maximum"], 1000);
    let status = operation("/api/v1/status", "get");
    assert!(status["responses"]["200"]["content"]["text/plain"].is_object());
}

on_both_backends!(
    bad_bodies_get_a_useful_4xx_and_change_nothing,
    unknown_routes_and_bad_paths_are_problems,
    lists_page_with_an_opaque_cursor,
    user_lists_page_in_creation_order,
    a_known_path_with_another_method_is_405_with_allow,
    the_document_lists_the_answers_every_operation_shares,
);
