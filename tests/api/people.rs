//! Teams, accounts and service tokens, and who may manage them.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, expect_problem, expect_status};
use crate::on_both_backends;

async fn an_admin_creates_and_changes_teams(app: TestApp) {
    let body = json!({"slug": "marketing", "name": "Marketing", "email": "marketing@example.com",
                      "webhook_url": "https://hooks.example.com/T1/B1"});
    let response = app.post("/api/v1/teams", app.admin(), &body).await;
    assert_eq!(response.headers()["location"], "/api/v1/teams/marketing");
    let created = expect_status(response, StatusCode::CREATED).await;
    assert_eq!(created["webhook_url"], "https://hooks.example.com/T1/B1");

    let fetched = expect_status(
        app.get("/api/v1/teams/marketing", app.admin()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        fetched, created,
        "what was returned at creation is what is stored"
    );

    let changed = app
        .patch(
            "/api/v1/teams/marketing",
            app.admin(),
            &json!({"name": "Demand generation", "webhook_url": null}),
        )
        .await;
    let changed = expect_status(changed, StatusCode::OK).await;
    assert_eq!(changed["name"], "Demand generation");
    assert!(changed["webhook_url"].is_null());
    assert_eq!(changed["email"], "marketing@example.com");

    let problem = expect_problem(
        app.post("/api/v1/teams", app.admin(), &body).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("marketing"));
    expect_problem(
        app.get("/api/v1/teams/nope", app.admin()).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn members_and_heads_cannot_create_teams(app: TestApp) {
    app.create_team("sales").await;
    let head = app.create_user(Some("sales"), "head").await;
    let member = app.create_user(Some("sales"), "member").await;
    let (service, _) = app.create_service_token(None, &["events:write"]).await;
    let body = json!({"slug": "finance", "name": "Finance", "email": "finance@example.com"});
    for token in [&head.token, &member.token, &service] {
        expect_problem(
            app.post("/api/v1/teams", token, &body).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let teams = expect_status(app.get("/api/v1/teams", app.admin()).await, StatusCode::OK).await;
    assert_eq!(
        teams["items"].as_array().unwrap().len(),
        1,
        "nothing was created: {teams}"
    );
}

async fn a_head_changes_only_their_own_team(app: TestApp) {
    app.create_team("sales").await;
    app.create_team("marketing").await;
    let head = app.create_user(Some("sales"), "head").await;
    let member = app.create_user(Some("sales"), "member").await;
    let body = json!({"email": "sales-leads@example.com"});
    expect_status(
        app.patch("/api/v1/teams/sales", &head.token, &body).await,
        StatusCode::OK,
    )
    .await;
    expect_problem(
        app.patch("/api/v1/teams/marketing", &head.token, &body)
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_problem(
        app.patch("/api/v1/teams/sales", &member.token, &body).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let marketing = expect_status(
        app.get("/api/v1/teams/marketing", app.admin()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(marketing["email"], "marketing@example.com");
}

async fn a_head_manages_their_own_team_only(app: TestApp) {
    app.create_team("sales").await;
    app.create_team("marketing").await;
    let head = app.create_user(Some("sales"), "head").await;
    let marketer = app.create_user(Some("marketing"), "member").await;

    let own = json!({"email": "rep@example.com", "name": "Rep", "team": "sales", "role": "member", "password": PASSWORD});
    let created = expect_status(
        app.post("/api/v1/users", &head.token, &own).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["team"], "sales");
    assert!(created.get("password").is_none() && created.get("password_hash").is_none());

    let foreign = json!({"email": "spy@example.com", "name": "Spy", "team": "marketing", "role": "member", "password": PASSWORD});
    expect_problem(
        app.post("/api/v1/users", &head.token, &foreign).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let admin = json!({"email": "boss@example.com", "name": "Boss", "team": "sales", "role": "admin", "password": PASSWORD});
    expect_problem(
        app.post("/api/v1/users", &head.token, &admin).await,
        StatusCode::FORBIDDEN,
    )
    .await;

    let path = format!("/api/v1/users/{}", marketer.id);
    expect_problem(
        app.patch(&path, &head.token, &json!({"name": "Renamed"}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_problem(app.delete(&path, &head.token).await, StatusCode::FORBIDDEN).await;
    // Moving one's own member into another team is managing that team too.
    let rep = format!("/api/v1/users/{}", created["id"].as_str().unwrap());
    expect_problem(
        app.patch(&rep, &head.token, &json!({"team": "marketing"}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;

    let still = expect_status(app.get(&path, app.admin()).await, StatusCode::OK).await;
    assert_eq!(still["name"], "A member");
    assert!(still["deactivated_at"].is_null());
    // The marketer's token still works: nothing was changed.
    expect_status(
        app.get("/api/v1/users/me", &marketer.token).await,
        StatusCode::OK,
    )
    .await;

    let listed = expect_status(app.get("/api/v1/users", &head.token).await, StatusCode::OK).await;
    let teams: Vec<_> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["team"].as_str().unwrap())
        .collect();
    assert_eq!(teams, ["sales", "sales"], "a head sees their own team only");
}

async fn members_cannot_manage_people_or_tokens(app: TestApp) {
    app.create_team("sales").await;
    let member = app.create_user(Some("sales"), "member").await;
    let colleague = app.create_user(Some("sales"), "member").await;
    let body = json!({"email": "x@example.com", "name": "X", "team": "sales", "role": "member", "password": PASSWORD});
    expect_problem(
        app.post("/api/v1/users", &member.token, &body).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let path = format!("/api/v1/users/{}", colleague.id);
    expect_problem(
        app.patch(&path, &member.token, &json!({"role": "head"}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_problem(
        app.delete(&path, &member.token).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let token = json!({"name": "bot", "scopes": ["status:read"]});
    expect_problem(
        app.post("/api/v1/service-tokens", &member.token, &token)
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // But anyone may change their own name and password (giving the current one).
    let me = format!("/api/v1/users/{}", member.id);
    expect_status(
        app.patch(
            &me,
            &member.token,
            &json!({"password": "another-long-password", "current_password": PASSWORD}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let member_token = app.sign_in(&member.email, "another-long-password").await;
    // …and not their own role.
    expect_problem(
        app.patch(&me, &member_token, &json!({"role": "head"}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

async fn heads_issue_tokens_for_their_own_team(app: TestApp) {
    app.create_team("sales").await;
    app.create_team("marketing").await;
    let head = app.create_user(Some("sales"), "head").await;
    let issued = app
        .post(
            "/api/v1/service-tokens",
            &head.token,
            &json!({"name": "dialer", "scopes": ["status:read"]}),
        )
        .await;
    let issued = expect_status(issued, StatusCode::CREATED).await;
    assert_eq!(
        issued["team"], "sales",
        "a head's token defaults to the head's team"
    );
    assert!(issued["token"].as_str().unwrap().starts_with("acc_"));

    let foreign = json!({"name": "spy", "team": "marketing", "scopes": ["events:write"]});
    expect_problem(
        app.post("/api/v1/service-tokens", &head.token, &foreign)
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;

    let (other, other_id) = app
        .create_service_token(Some("marketing"), &["events:write"])
        .await;
    expect_problem(
        app.delete(&format!("/api/v1/service-tokens/{other_id}"), &head.token)
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // Still a valid token: authenticated (not 401), refused only for lacking a scope.
    let problem = expect_problem(
        app.get("/api/v1/teams", &other).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("status:read"),
        "{problem}"
    );

    let listed = expect_status(
        app.get("/api/v1/service-tokens", &head.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        1,
        "a head lists their own team's tokens: {listed}"
    );
}

async fn service_tokens_cannot_manage_anything(app: TestApp) {
    app.create_team("sales").await;
    let (token, id) = app
        .create_service_token(None, &["events:write", "status:read"])
        .await;
    let user = json!({"email": "x@example.com", "name": "X", "team": "sales", "role": "admin", "password": PASSWORD});
    expect_problem(
        app.post("/api/v1/users", &token, &user).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_problem(
        app.get("/api/v1/users", &token).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let another = json!({"name": "more", "scopes": ["events:write"]});
    expect_problem(
        app.post("/api/v1/service-tokens", &token, &another).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_problem(
        app.delete(&format!("/api/v1/service-tokens/{id}"), &token)
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

async fn account_and_token_input_is_validated_field_by_field(app: TestApp) {
    app.create_team("sales").await;
    let bad = json!({"email": "not-an-email", "name": " ", "team": "nope", "role": "member", "password": "short"});
    let problem = expect_problem(
        app.post("/api/v1/users", app.admin(), &bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    for field in ["email", "name", "team", "password"] {
        assert!(
            problem["errors"][field].is_string(),
            "{field} named in {problem}"
        );
    }
    let no_team =
        json!({"email": "h@example.com", "name": "H", "role": "head", "password": PASSWORD});
    let problem = expect_problem(
        app.post("/api/v1/users", app.admin(), &no_team).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(problem["errors"]["team"].is_string(), "{problem}");
    let bad_role = json!({"email": "h@example.com", "name": "H", "role": "owner", "team": "sales", "password": PASSWORD});
    let problem = expect_problem(
        app.post("/api/v1/users", app.admin(), &bad_role).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        problem["errors"]["role"]
            .as_str()
            .unwrap()
            .contains("owner"),
        "{problem}"
    );

    let users = expect_status(app.get("/api/v1/users", app.admin()).await, StatusCode::OK).await;
    assert_eq!(
        users["items"].as_array().unwrap().len(),
        1,
        "only the admin exists: {users}"
    );

    let bad_scope = json!({"name": "bot", "scopes": ["events:delete"]});
    let problem = expect_problem(
        app.post("/api/v1/service-tokens", app.admin(), &bad_scope)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(problem["errors"]["scopes[0]"].is_string(), "{problem}");
    let no_scope = json!({"name": "bot", "scopes": []});
    let problem = expect_problem(
        app.post("/api/v1/service-tokens", app.admin(), &no_scope)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(problem["errors"]["scopes"].is_string(), "{problem}");

    let first = json!({"email": "Dup@Example.com", "name": "D", "team": "sales", "role": "member", "password": PASSWORD});
    expect_status(
        app.post("/api/v1/users", app.admin(), &first).await,
        StatusCode::CREATED,
    )
    .await;
    let again = json!({"email": "dup@example.com", "name": "D", "team": "sales", "role": "member", "password": PASSWORD});
    expect_problem(
        app.post("/api/v1/users", app.admin(), &again).await,
        StatusCode::CONFLICT,
    )
    .await;
}

on_both_backends!(
    an_admin_creates_and_changes_teams,
    members_and_heads_cannot_create_teams,
    a_head_changes_only_their_own_team,
    a_head_manages_their_own_team_only,
    members_cannot_manage_people_or_tokens,
    heads_issue_tokens_for_their_own_team,
    service_tokens_cannot_manage_anything,
    account_and_token_input_is_validated_field_by_field,
);
