//! Trust between the parties: each side's numbers come only from that side, nobody reaches past
//! their role, secrets stay with their team, and no request can take the service down.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestDb, expect_problem, expect_status};
use crate::process::{Served, admin_token};

async fn two_teams(app: &TestApp) {
    for team in ["marketing", "sales", "support"] {
        app.create_team(team).await;
    }
}

fn event(id: &str, team: &str) -> Value {
    json!({"external_id": id, "kind": "lead.contacted", "subject_id": "lead-1", "team": team,
        "occurred_at": "2026-11-03T09:12:00Z"})
}

async fn events_of(app: &TestApp, team: &str) -> Vec<Value> {
    app.items(
        &format!("/api/v1/events?team={team}&limit=1000"),
        app.admin(),
    )
    .await
}

/// Nobody writes the other side's events; every event says who submitted it.
async fn each_side_writes_only_its_own_events(app: TestApp) {
    two_teams(&app).await;
    app.set_now("2026-11-04T12:00:00Z");
    let head = app.create_user(Some("marketing"), "head").await;
    let member = app.create_user(Some("sales"), "member").await;
    let (marketing_bot, marketing_bot_id) = app
        .create_service_token(Some("marketing"), &["events:write"])
        .await;
    let (central_sync, central_sync_id) = app.create_service_token(None, &["events:write"]).await;

    // The marketing head forges sales activity, as a person and through a marketing token.
    for token in [&head.token, &marketing_bot] {
        let problem = expect_problem(
            app.post(
                "/api/v1/events",
                token,
                &json!([event("forged-1", "marketing"), event("forged-2", "sales")]),
            )
            .await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert!(
            problem["detail"].as_str().unwrap().contains("sales"),
            "{problem}"
        );
    }
    assert!(events_of(&app, "sales").await.is_empty());
    assert!(
        events_of(&app, "marketing").await.is_empty(),
        "nothing of a refused batch is stored"
    );

    // A head may not issue a token for the other team, nor one of no team.
    for team in [json!("sales"), Value::Null] {
        let body = json!({"name": "spy", "team": team, "scopes": ["events:write"]});
        let answer = app.post("/api/v1/service-tokens", &head.token, &body).await;
        if team.is_null() {
            // A head's token without a team is their own team's.
            let issued = expect_status(answer, StatusCode::CREATED).await;
            assert_eq!(issued["team"], "marketing", "{issued}");
        } else {
            expect_problem(answer, StatusCode::FORBIDDEN).await;
        }
    }

    // Each side posts its own; the central sync (no team, issued by an admin) posts for any.
    for (token, id, team) in [
        (&head.token, "m-1", "marketing"),
        (&member.token, "s-1", "sales"),
        (&marketing_bot, "m-2", "marketing"),
        (&central_sync, "s-2", "sales"),
    ] {
        let stored = expect_status(
            app.post("/api/v1/events", token, &event(id, team)).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(stored["accepted"], 1, "{id}");
    }
    let by = |events: &[Value], id: &str| {
        events
            .iter()
            .find(|e| e["external_id"] == id)
            .map(|e| e["submitted_by"].clone())
            .unwrap()
    };
    let marketing = events_of(&app, "marketing").await;
    let sales = events_of(&app, "sales").await;
    assert_eq!(by(&marketing, "m-1"), format!("user:{}", head.id));
    assert_eq!(by(&marketing, "m-2"), format!("token:{marketing_bot_id}"));
    assert_eq!(by(&sales, "s-1"), format!("user:{}", member.id));
    assert_eq!(by(&sales, "s-2"), format!("token:{central_sync_id}"));
}

/// Two teams' systems may use the same ids; neither can take the other's first.
async fn external_ids_are_unique_per_team(app: TestApp) {
    two_teams(&app).await;
    app.set_now("2026-11-04T12:00:00Z");
    let first = expect_status(
        app.post("/api/v1/events", app.admin(), &event("crm-1", "marketing"))
            .await,
        StatusCode::OK,
    )
    .await;
    let second = expect_status(
        app.post("/api/v1/events", app.admin(), &event("crm-1", "sales"))
            .await,
        StatusCode::OK,
    )
    .await;
    let again = expect_status(
        app.post("/api/v1/events", app.admin(), &event("crm-1", "sales"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (first["accepted"].clone(), second["accepted"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(again, json!({"accepted": 0, "duplicates": 1}));
    assert_eq!(events_of(&app, "sales").await.len(), 1);
    assert_eq!(events_of(&app, "marketing").await.len(), 1);
}

/// A token can do what its scopes name and nothing more.
async fn tokens_do_exactly_what_their_scopes_say(app: TestApp) {
    two_teams(&app).await;
    app.set_now("2026-11-04T12:00:00Z");
    let (writer, _) = app
        .create_service_token(Some("marketing"), &["events:write"])
        .await;
    let (reader, _) = app.create_service_token(None, &["events:read"]).await;
    let (breach_bot, _) = app.create_service_token(None, &["breaches:read"]).await;
    let (status_bot, _) = app.create_service_token(None, &["status:read"]).await;
    expect_status(
        app.post("/api/v1/events", &writer, &event("w-1", "marketing"))
            .await,
        StatusCode::OK,
    )
    .await;
    for (token, path, allowed) in [
        (&writer, "/api/v1/status", false),
        (&writer, "/api/v1/events", false),
        (&writer, "/api/v1/breaches", false),
        (&reader, "/api/v1/events", true),
        (&reader, "/api/v1/status", false),
        (&breach_bot, "/api/v1/breaches", true),
        (&breach_bot, "/api/v1/events", false),
        (&status_bot, "/api/v1/status", true),
        (&status_bot, "/api/v1/slas", true),
        (&status_bot, "/api/v1/breaches", false),
        (&status_bot, "/api/v1/events", false),
    ] {
        let answer = app.get(path, token).await;
        if allowed {
            expect_status(answer, StatusCode::OK).await;
        } else {
            let problem = expect_problem(answer, StatusCode::FORBIDDEN).await;
            assert!(
                problem["detail"].as_str().unwrap().contains("scope"),
                "{path}: {problem}"
            );
        }
    }
    // A token never gets as far as a JSON body: refused before it is read (not a 422 for `{}`).
    for path in [
        "/api/v1/calendars",
        "/api/v1/slas",
        "/api/v1/teams",
        "/api/v1/slas/simulate",
    ] {
        expect_problem(
            app.post(path, &status_bot, &json!({})).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    // A token bound to a team is told nothing of other teams, real or not.
    for team in ["sales", "no-such-team"] {
        expect_problem(
            app.post("/api/v1/events", &writer, &event("w-2", team))
                .await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let read = expect_status(app.get("/api/v1/events", &reader).await, StatusCode::OK).await;
    assert_eq!(read["items"][0]["external_id"], "w-1");
}

/// Webhook URLs are secrets of their team; the audit log and the outbox are read by team.
async fn reads_are_least_privilege(app: TestApp) {
    two_teams(&app).await;
    let hook = "https://hooks.example.com/services/T1/B1/secret";
    expect_status(
        app.patch(
            "/api/v1/teams/sales",
            app.admin(),
            &json!({"webhook_url": hook}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let sales_head = app.create_user(Some("sales"), "head").await;
    let sales_member = app.create_user(Some("sales"), "member").await;
    let marketing_head = app.create_user(Some("marketing"), "head").await;
    let (bot, _) = app.create_service_token(None, &["status:read"]).await;
    for (token, sees) in [
        (app.admin(), true),
        (sales_head.token.as_str(), true),
        (sales_member.token.as_str(), false),
        (marketing_head.token.as_str(), false),
        (bot.as_str(), false),
    ] {
        let team = expect_status(app.get("/api/v1/teams/sales", token).await, StatusCode::OK).await;
        let listed = expect_status(app.get("/api/v1/teams", token).await, StatusCode::OK).await;
        let in_list = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["slug"] == "sales")
            .unwrap()
            .clone();
        for shown in [&team, &in_list] {
            assert_eq!(shown["webhook_set"], true, "{shown}");
            let expected = if sees { json!(hook) } else { Value::Null };
            assert_eq!(shown["webhook_url"], expected, "{shown}");
        }
    }

    // The audit log: the marketing head reads marketing's records, not sales's.
    let audit = |token: String| {
        let app = &app;
        async move { app.items("/api/v1/audit?limit=1000", &token).await }
    };
    let seen = audit(marketing_head.token.clone()).await;
    let about = |entries: &[Value], id: &str| entries.iter().any(|e| e["entity_id"] == id);
    assert!(about(&seen, &marketing_head.id), "own team's accounts");
    assert!(about(&seen, "marketing"));
    assert!(!about(&seen, &sales_head.id), "another team's accounts");
    assert!(
        !about(&seen, "sales"),
        "another team's record (its webhook)"
    );
    let everything = audit(app.admin().to_string()).await;
    assert!(about(&everything, &sales_head.id) && about(&everything, "sales"));
}

/// The outbox: a head reads and retries only their own team's messages.
async fn the_outbox_is_read_by_team(app: TestApp) {
    two_teams(&app).await;
    app.set_now("2026-11-04T12:00:00Z");
    let marketing_head = app.create_user(Some("marketing"), "head").await;
    let sales_head = app.create_user(Some("sales"), "head").await;
    let support_head = app.create_user(Some("support"), "head").await;
    let sla = json!({"key": "capped", "name": "Escalations", "provider": "marketing", "consumer": "sales",
        "metric": {"kind": "count", "event": "lead.escalated"},
        "objective": {"op": "<=", "target": 0},
        "window": {"kind": "calendar", "period": "month", "timezone": "UTC"}});
    expect_status(
        app.post("/api/v1/slas", &marketing_head.token, &sla).await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.post("/api/v1/slas/capped/approve", &sales_head.token, &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let escalation = json!({"external_id": "e-1", "kind": "lead.escalated", "subject_id": "l",
        "team": "marketing", "occurred_at": "2026-11-04T10:00:00Z"});
    expect_status(
        app.post("/api/v1/events", app.admin(), &escalation).await,
        StatusCode::OK,
    )
    .await;
    expect_status(
        app.post("/api/v1/slas/capped/evaluate", app.admin(), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let outbox = |token: String| {
        let app = &app;
        async move {
            app.items("/api/v1/notifications?limit=1000", &token)
                .await
                .iter()
                .map(|m| m["recipient"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let all = outbox(app.admin().to_string()).await;
    assert!(
        all.contains(&"marketing@example.com".to_string()),
        "{all:?}"
    );
    assert!(all.contains(&"sales@example.com".to_string()), "{all:?}");
    let marketing = outbox(marketing_head.token.clone()).await;
    assert!(!marketing.is_empty());
    assert!(
        marketing
            .iter()
            .all(|r| r == "marketing@example.com" || r == &marketing_head.email),
        "{marketing:?}"
    );
    assert!(outbox(support_head.token.clone()).await.is_empty());
    // A head who points their team's address at the other team's learns nothing more: a message
    // belongs to the team it was sent for, whatever addresses say now.
    expect_status(
        app.patch(
            "/api/v1/teams/marketing",
            &marketing_head.token,
            &json!({"email": "sales@example.com"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let after = outbox(marketing_head.token.clone()).await;
    assert_eq!(after, marketing, "the same messages as before the change");
    let all_ids = expect_status(
        app.get("/api/v1/notifications?limit=1000", app.admin())
            .await,
        StatusCode::OK,
    )
    .await;
    let sales_message = all_ids["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["recipient"] == "sales@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    expect_problem(
        app.post(
            &format!("/api/v1/notifications/{sales_message}/retry"),
            &marketing_head.token,
            &json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

/// `GET /` tells anonymous callers nothing; a share link from a `status:read` token opens it.
async fn pages_answer_to_people_and_share_links(app: TestApp) {
    two_teams(&app).await;
    let head = app.create_user(Some("marketing"), "head").await;
    let sales = app.create_user(Some("sales"), "head").await;
    let sla = json!({"key": "secret-volume", "name": "Secret volume", "provider": "marketing",
        "consumer": "sales", "metric": {"kind": "count", "event": "lead.qualified"},
        "objective": {"op": ">=", "target": 5},
        "window": {"kind": "calendar", "period": "month", "timezone": "UTC"}});
    expect_status(
        app.post("/api/v1/slas", &head.token, &sla).await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.post(
            "/api/v1/slas/secret-volume/approve",
            &sales.token,
            &json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let (share, share_id) = app.create_service_token(None, &["status:read"]).await;
    let (writer, _) = app.create_service_token(None, &["events:write"]).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = |query: String| {
        let (app, client) = (&app, &no_redirects);
        async move {
            let answer = client
                .get(app.url(&format!("/{query}")))
                .send()
                .await
                .unwrap();
            let status = answer.status();
            (status, answer.text().await.unwrap())
        }
    };
    let (status, body) = page(String::new()).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "to the sign-in");
    assert!(!body.contains("secret-volume") && !body.contains("Secret volume"));
    let (status, body) = page(format!("?share={share}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("data-sla=\"secret-volume\""), "{body}");
    assert!(
        body.contains("Breaches are not shown to this link"),
        "a link that may not read breaches says so rather than showing none"
    );
    // A person's token in a share link, a token without status:read, a made-up token: refused.
    for (link, refused) in [
        (head.token.clone(), StatusCode::UNAUTHORIZED),
        (writer, StatusCode::FORBIDDEN),
        ("acc_made-up".to_string(), StatusCode::UNAUTHORIZED),
    ] {
        let (status, body) = page(format!("?share={link}")).await;
        assert_eq!(status, refused, "{body}");
        assert!(!body.contains("secret-volume"));
    }
    // Revoking the token ends the link.
    expect_status(
        app.delete(&format!("/api/v1/service-tokens/{share_id}"), app.admin())
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(
        page(format!("?share={share}")).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// Changing one's own password needs the current one, and ends the tokens issued before.
async fn a_password_change_needs_the_current_one_and_ends_old_tokens(app: TestApp) {
    two_teams(&app).await;
    let ada = app.create_user(Some("sales"), "member").await;
    let path = format!("/api/v1/users/{}", ada.id);
    let new = "a-new-and-long-password";
    let problem = expect_problem(
        app.patch(&path, &ada.token, &json!({"password": new}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        problem["errors"]["current_password"].is_string(),
        "{problem}"
    );
    let problem = expect_problem(
        app.patch(
            &path,
            &ada.token,
            &json!({"password": new, "current_password": "not-my-password"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        problem["errors"]["current_password"].is_string(),
        "{problem}"
    );
    // Nothing changed: the old token and the old password still work.
    expect_status(
        app.get("/api/v1/users/me", &ada.token).await,
        StatusCode::OK,
    )
    .await;
    app.sign_in(&ada.email, crate::helpers::PASSWORD).await;

    expect_status(
        app.patch(
            &path,
            &ada.token,
            &json!({"password": new, "current_password": crate::helpers::PASSWORD}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let problem = expect_problem(
        app.get("/api/v1/users/me", &ada.token).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("password"),
        "{problem}"
    );
    let fresh = app.sign_in(&ada.email, new).await;
    expect_status(app.get("/api/v1/users/me", &fresh).await, StatusCode::OK).await;
    // Renaming oneself still needs no password.
    expect_status(
        app.patch(&path, &fresh, &json!({"name": "Ada L."})).await,
        StatusCode::OK,
    )
    .await;
    // An admin resetting the password ends the account's tokens too.
    expect_status(
        app.patch(
            &path,
            app.admin(),
            &json!({"password": "reset-by-the-admin-1"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect_problem(
        app.get("/api/v1/users/me", &fresh).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

/// Failed sign-ins are limited per account, and the limit tells how long to wait.
async fn failed_sign_ins_are_limited(app: TestApp) {
    two_teams(&app).await;
    let ada = app.create_user(Some("sales"), "member").await;
    let other = app.create_user(Some("sales"), "member").await;
    let attempt = |email: String, password: &'static str| {
        let app = &app;
        async move {
            app.request(
                Method::POST,
                "/api/v1/auth/token",
                None,
                Some(&json!({"email": email, "password": password})),
            )
            .await
        }
    };
    for _ in 0..10 {
        expect_problem(
            attempt(ada.email.clone(), "wrong-password-0").await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    let limited = attempt(ada.email.to_uppercase(), "wrong-password-0").await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 900, "{retry_after}");
    expect_problem(limited, StatusCode::TOO_MANY_REQUESTS).await;
    // Even the right password waits: the limit is checked before any password.
    expect_problem(
        attempt(ada.email.clone(), crate::helpers::PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    // Another account from the same address still signs in.
    expect_status(
        attempt(other.email.clone(), crate::helpers::PASSWORD).await,
        StatusCode::OK,
    )
    .await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("accord_failed_sign_ins_total 10"),
        "{metrics}"
    );
}

/// A rename at the same moment as a deactivation never undoes the deactivation.
async fn concurrent_changes_to_an_account_are_not_lost(app: TestApp) {
    two_teams(&app).await;
    for round in 0..12 {
        let ada = app.create_user(Some("sales"), "member").await;
        let path = format!("/api/v1/users/{}", ada.id);
        let name = format!("Renamed {round}");
        let rename_body = json!({ "name": name });
        let (renamed, deactivated) = tokio::join!(
            app.patch(&path, app.admin(), &rename_body),
            app.delete(&path, app.admin()),
        );
        assert!(renamed.status().is_success() && deactivated.status().is_success());
        let now = expect_status(app.get(&path, app.admin()).await, StatusCode::OK).await;
        assert!(
            now["deactivated_at"].is_string(),
            "round {round}: the deactivation was lost: {now}"
        );
        assert_eq!(now["name"], name, "round {round}: the rename was lost");
    }
}

/// A bad batch lists its first 100 problems and counts the rest; errors never echo a hostile body.
async fn problems_and_errors_are_bounded(app: TestApp) {
    two_teams(&app).await;
    app.set_now("2026-11-04T12:00:00Z");
    let bad: Vec<Value> = (0..1000)
        .map(|i| {
            json!({"external_id": format!("b-{i}"), "kind": "Not A Kind", "subject_id": "l",
            "team": "marketing", "occurred_at": "2026-11-03T09:12:00Z"})
        })
        .collect();
    let problem = expect_problem(
        app.post("/api/v1/events", app.admin(), &json!(bad)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["items"].as_array().unwrap().len(), 100, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("1000 of 1000 events are invalid"),
        "{problem}"
    );

    // A megabyte of garbage as CSV, and a huge event kind: the answer quotes a little of it.
    let garbage = "x".repeat(1_000_000);
    let answer = app
        .post_raw("/api/v1/events", app.admin(), "text/csv", garbage.clone())
        .await;
    let text = answer.text().await.unwrap();
    assert!(text.len() < 2_000, "a {} byte answer", text.len());
    let huge_kind = json!({"external_id": "k", "kind": garbage, "subject_id": "l",
        "team": "marketing", "occurred_at": "2026-11-03T09:12:00Z"});
    let problem = expect_problem(
        app.post("/api/v1/events", app.admin(), &huge_kind).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        problem.to_string().len() < 2_000,
        "{} bytes",
        problem.to_string().len()
    );
    assert!(
        problem["errors"]["[0].kind"]
            .as_str()
            .unwrap()
            .contains("1000000 bytes")
    );

    // Simulation has a bounded range.
    let body = json!({"definition": {"key": "sim", "name": "Sim", "provider": "marketing",
        "consumer": "sales", "metric": {"kind": "count", "event": "lead.qualified"},
        "objective": {"op": ">=", "target": 5},
        "window": {"kind": "calendar", "period": "day", "timezone": "UTC"}},
        "from": "2016-01-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"});
    let problem = expect_problem(
        app.post("/api/v1/slas/simulate", app.admin(), &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(problem["errors"]["to"].is_string(), "{problem}");
}

crate::on_both_backends!(
    each_side_writes_only_its_own_events,
    external_ids_are_unique_per_team,
    tokens_do_exactly_what_their_scopes_say,
    reads_are_least_privilege,
    the_outbox_is_read_by_team,
    pages_answer_to_people_and_share_links,
    a_password_change_needs_the_current_one_and_ends_old_tokens,
    failed_sign_ins_are_limited,
    concurrent_changes_to_an_account_are_not_lost,
    problems_and_errors_are_bounded,
);

/// A hostile 64 MiB array: refused unread for a token that may not write, refused at the batch
/// limit for an admin, with the served process's peak memory measured (the figure in
/// docs/security.md), and log lines that do not echo it.
async fn a_hostile_body_costs_little(backend: Backend) {
    let db = TestDb::new(backend);
    let served = Served::start(&db.env(), db.dir.path().join("serve.log")).await;
    let admin = admin_token(&served).await;
    let client = reqwest::Client::new();
    let create = |path: &str, body: Value| {
        client
            .post(format!("{}{path}", served.address))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    let team = json!({"slug": "marketing", "name": "Marketing", "email": "m@example.com"});
    assert!(
        create("/api/v1/teams", team)
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let issued: Value = create(
        "/api/v1/service-tokens",
        json!({"name": "wall", "scopes": ["status:read"]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let reader = issued["token"].as_str().unwrap().to_string();
    let before = served.peak_rss_mib();

    // Ten million zeros and more: 64 MiB, the body limit.
    let mut body = Vec::with_capacity(64 << 20);
    body.push(b'[');
    while body.len() < (64 << 20) - 2 {
        body.extend_from_slice(b"0,");
    }
    body.truncate((64 << 20) - 2);
    body.extend_from_slice(b"0]");
    let send = |token: &str| {
        client
            .post(format!("{}/api/v1/events", served.address))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
    };

    let started = Instant::now();
    let refused = send(&reader).await.unwrap();
    let refused_after = started.elapsed();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let after_refusal = served.peak_rss_mib();

    let started = Instant::now();
    let too_large = send(&admin).await.unwrap();
    let too_large_after = started.elapsed();
    let status = too_large.status();
    let text = too_large.text().await.unwrap();
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    assert!(text.contains("at most 100000 events"), "{text}");
    let after_admin = served.peak_rss_mib();
    println!(
        "{backend:?}: peak RSS {before:.1} MiB at start, {after_refusal:.1} MiB after refusing \
         64 MiB from a status:read token ({refused_after:?}), {after_admin:.1} MiB after \
         refusing it from an admin at the batch limit ({too_large_after:?})"
    );
    assert!(
        after_admin < 300.0,
        "peak RSS {after_admin:.1} MiB while refusing a 64 MiB body"
    );
    // A share link's token never reaches the log, accepted or refused.
    for _ in 0..2 {
        let page = client
            .get(format!("{}/?share={reader}&x=1", served.address))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
    }
    let secret = "acc_this-token-must-not-be-logged";
    let refused = client
        .get(format!("{}/?share={secret}", served.address))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let log = served.output();
    assert!(!log.contains(secret) && !log.contains(&reader), "{log}");
    let longest = log.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 4_000, "a log line of {longest} bytes");
    let _ = refused_after;
}

/// A flood of sign-ins (right and wrong passwords) while `/status` is read: every read is
/// answered, and its latency during the flood is printed next to the latency before it.
async fn a_sign_in_flood_leaves_status_answering(backend: Backend) {
    let db = TestDb::new(backend);
    let served = Served::start(&db.env(), db.dir.path().join("serve.log")).await;
    let admin = admin_token(&served).await;
    let client = reqwest::Client::new();
    let status = |client: reqwest::Client, address: String, token: String| async move {
        let mut latencies = Vec::new();
        for _ in 0..200 {
            let started = Instant::now();
            let answer = client
                .get(format!("{address}/api/v1/status"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), StatusCode::OK);
            latencies.push(started.elapsed());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies.sort();
        latencies
    };
    let quiet = status(client.clone(), served.address.clone(), admin.clone()).await;
    let flood = |right: bool| {
        let client = client.clone();
        let address = served.address.clone();
        async move {
            let mut answers = Vec::new();
            for n in 0..60 {
                let password = if right && n % 2 == 0 {
                    crate::helpers::ADMIN_PASSWORD.to_string()
                } else {
                    format!("wrong-{n}")
                };
                let email = if right {
                    "admin@accord.local".to_string()
                } else {
                    format!("nobody-{n}@example.com")
                };
                let answer = client
                    .post(format!("{address}/api/v1/auth/token"))
                    .json(&json!({"email": email, "password": password}))
                    .send()
                    .await
                    .unwrap();
                answers.push(answer.status().as_u16());
            }
            answers
        }
    };
    let (during, flood_a, flood_b, flood_c, flood_d) = tokio::join!(
        status(client.clone(), served.address.clone(), admin.clone()),
        flood(true),
        flood(false),
        flood(false),
        flood(true),
    );
    let answers: Vec<u16> = [flood_a, flood_b, flood_c, flood_d].concat();
    let count = |code: u16| answers.iter().filter(|a| **a == code).count();
    let pct = |l: &[Duration], p: usize| l[(l.len() * p / 100).min(l.len() - 1)];
    println!(
        "{backend:?}: /status p50 {:?} p99 {:?} before; p50 {:?} p99 {:?} during {} sign-ins \
         (200: {}, 401: {}, 429: {})",
        pct(&quiet, 50),
        pct(&quiet, 99),
        pct(&during, 50),
        pct(&during, 99),
        answers.len(),
        count(200),
        count(401),
        count(429),
    );
    assert!(count(429) > 0, "the flood met the limit");
    assert_eq!(during.len(), 200, "every read was answered");
}

crate::for_each_backend!(
    a_hostile_body_costs_little,
    a_sign_in_flood_leaves_status_answering,
);
