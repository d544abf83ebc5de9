//! The status board and compliance reports, as people and chat bots read them.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_problem, expect_status};
use crate::on_both_backends;

/// Three months of a monthly count SLA (target 2): September met, October breached, November current.
async fn history(app: &TestApp) {
    app.set_now("2026-09-01T00:00:00Z");
    app.create_team("marketing").await;
    app.create_team("sales").await;
    app.create_team("finance").await;
    let marketing = app.create_user(Some("marketing"), "head").await;
    let sales = app.create_user(Some("sales"), "head").await;
    let mql = json!({"key": "mql", "name": "MQL volume", "provider": "marketing", "consumer": "sales",
        "metric": {"kind": "count", "event": "lead.qualified"}, "objective": {"op": ">=", "target": 2},
        "window": {"kind": "calendar", "period": "month", "timezone": "UTC"}, "effective_from": "2026-08-01"});
    expect_status(
        app.post("/api/v1/slas", &marketing.token, &mql).await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.post("/api/v1/slas/mql/approve", &sales.token, &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let follow_up = json!({"key": "follow-up", "name": "Follow-up", "provider": "sales", "consumer": "marketing",
        "metric": {"kind": "response_time", "start": {"event": "lead.handed_off"}, "stop": {"event": "lead.contacted"}, "threshold": "24h"},
        "objective": {"op": ">=", "target": 90}, "window": {"kind": "calendar", "period": "month", "timezone": "UTC"}});
    expect_status(
        app.post("/api/v1/slas", &sales.token, &follow_up).await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.post(
            "/api/v1/slas/follow-up/approve",
            &marketing.token,
            &json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let ev = |id: &str, kind: &str, at: &str| json!({"external_id": id, "kind": kind, "subject_id": id, "team": "marketing", "occurred_at": at});
    app.set_now("2026-11-20T12:00:00Z");
    let events = json!([
        ev("a1", "lead.qualified", "2026-08-03T10:00:00Z"),
        ev("a2", "lead.qualified", "2026-08-04T10:00:00Z"),
        ev("s1", "lead.qualified", "2026-09-03T10:00:00Z"),
        ev("s2", "lead.qualified", "2026-09-04T10:00:00Z"),
        ev("o1", "lead.qualified", "2026-10-03T10:00:00Z"),
        ev("n1", "lead.qualified", "2026-11-03T10:00:00Z"),
        ev("h1", "lead.handed_off", "2026-11-18T10:00:00Z"),
        ev("h2", "lead.handed_off", "2026-11-20T09:00:00Z"),
    ]);
    expect_status(
        app.post("/api/v1/events", app.admin(), &events).await,
        StatusCode::OK,
    )
    .await;
    for key in ["mql", "follow-up"] {
        expect_status(
            app.post(
                &format!("/api/v1/slas/{key}/evaluate"),
                app.admin(),
                &json!({}),
            )
            .await,
            StatusCode::OK,
        )
        .await;
    }
}

async fn the_status_board_shows_every_active_sla(app: TestApp) {
    history(&app).await;
    let board = expect_status(app.get("/api/v1/status", app.admin()).await, StatusCode::OK).await;
    let items = board["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let mql = items.iter().find(|i| i["sla"] == "mql").unwrap();
    assert_eq!(
        (
            mql["period_start"].as_str(),
            mql["value"].as_f64(),
            mql["target"].as_f64(),
            mql["op"].as_str()
        ),
        (
            Some("2026-11-01T00:00:00Z"),
            Some(1.0),
            Some(2.0),
            Some(">=")
        )
    );
    assert_eq!(mql["status"], "at_risk", "1 by the 20th projects to 1.5");
    assert!(mql.get("overdue").is_none());
    let follow_up = items.iter().find(|i| i["sla"] == "follow-up").unwrap();
    assert_eq!(follow_up["overdue"], 1, "one hand-off past 24 h unanswered");

    let sales_only = expect_status(
        app.get("/api/v1/status?team=finance", app.admin()).await,
        StatusCode::OK,
    )
    .await;
    assert!(sales_only["items"].as_array().unwrap().is_empty());
    expect_problem(
        app.get("/api/v1/status?team=nobody", app.admin()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    let (bot, _) = app.create_service_token(None, &["status:read"]).await;
    let response = app.get("/api/v1/status?format=text", &bot).await;
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines.contains(
            &"mql (marketing → sales) November 2026 (2026-11): 1 lead.qualified; target at least 2 — At risk"
        ),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("follow-up (sales → marketing)") && l.contains("1 overdue")),
        "{text}"
    );
}

async fn compliance_is_reported_as_json_and_csv(app: TestApp) {
    history(&app).await;
    let path = "/api/v1/reports/compliance?from=2026-07-01T00:00:00Z&to=2026-11-01T00:00:00Z";
    let report = expect_status(app.get(path, app.admin()).await, StatusCode::OK).await;
    let mql = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["sla"] == "mql")
        .unwrap()
        .clone();
    assert_eq!(
        (mql["met"].as_u64(), mql["breached"].as_u64()),
        (Some(2), Some(1)),
        "August and September met, October breached: {mql}"
    );
    assert!((mql["compliance_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(
        (
            mql["streak_status"].as_str(),
            mql["streak_periods"].as_u64()
        ),
        (Some("breached"), Some(1))
    );

    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(app.admin())
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let body = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header[..4], ["sla", "name", "provider", "consumer"]);
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    let row = rows.iter().find(|r| r[0] == "mql").expect("an mql row");
    let field = |name: &str| row[header.iter().position(|h| h == name).unwrap()].clone();
    assert_eq!(
        (field("met"), field("breached"), field("compliance_rate")),
        ("2".into(), "1".into(), "0.6667".into())
    );
    assert_eq!(field("name"), "MQL volume");

    let bad: Value = expect_problem(
        app.get(
            "/api/v1/reports/compliance?from=2026-11-01T00:00:00Z&to=2026-10-01T00:00:00Z",
            app.admin(),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(bad["errors"]["to"].is_string());
    expect_problem(
        app.get(
            "/api/v1/reports/compliance?from=last+week&to=2026-10-01T00:00:00Z",
            app.admin(),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

on_both_backends!(
    the_status_board_shows_every_active_sla,
    compliance_is_reported_as_json_and_csv
);

const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

fn slack_signature(secret: &str, timestamp: i64, body: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

async fn slack(app: &TestApp, body: &str, timestamp: i64, signature: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/integrations/slack/command"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", timestamp.to_string())
        .header("x-slack-signature", signature)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn slack_commands_are_answered_only_when_signed(backend: crate::helpers::Backend) {
    let app = crate::helpers::spawn_app_with(
        crate::helpers::TestDb::new(backend),
        &[("ACCORD_SLACK_SIGNING_SECRET", SLACK_SECRET)],
    )
    .await;
    history(&app).await;
    let now = {
        use accord::clock::Clock;
        app.clock.now().timestamp()
    };
    let body = "token=x&team_id=T1&command=%2Faccord&text=status+mql&user_name=ada";
    let answer = expect_status(
        slack(&app, body, now, &slack_signature(SLACK_SECRET, now, body)).await,
        StatusCode::OK,
    )
    .await;
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("MQL volume (mql, marketing → sales) — At risk: November 2026 (2026-11): 1 lead.qualified; target at least 2"),
        "{answer}"
    );
    assert!(
        !answer["text"].as_str().unwrap().contains("follow-up"),
        "status <sla> shows that SLA only"
    );
    // A header, then the SLA with a button that opens its page.
    let blocks = answer["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 2, "{answer}");
    assert_eq!(blocks[1]["accessory"]["url"], "http://accord.test/slas/mql");

    // A NUL in the text (PostgreSQL could not look it up) is refused alike on both backends.
    let nul = "command=%2Faccord&text=status+sa%00les";
    let refused = slack(&app, nul, now, &slack_signature(SLACK_SECRET, now, nul)).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);

    let by_team = "command=%2Faccord&text=status+sales";
    let answer = expect_status(
        slack(
            &app,
            by_team,
            now,
            &slack_signature(SLACK_SECRET, now, by_team),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(
        answer["text"].as_str().unwrap().contains("follow-up")
            && answer["text"].as_str().unwrap().contains("mql")
    );

    // An unknown name gets the teams and SLAs that exist, not "nothing to show".
    let unknown_name = "command=%2Faccord&text=status+nosuchteam";
    let answer = expect_status(
        slack(
            &app,
            unknown_name,
            now,
            &slack_signature(SLACK_SECRET, now, unknown_name),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let said = answer.to_string();
    assert!(
        said.contains("nosuchteam")
            && said.contains("`sales`")
            && said.contains("`marketing`")
            && said.contains("`mql`")
            && said.contains("`follow-up`"),
        "{answer}"
    );

    let overdue = "command=%2Faccord&text=overdue+follow-up";
    let answer = expect_status(
        slack(
            &app,
            overdue,
            now,
            &slack_signature(SLACK_SECRET, now, overdue),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(
        answer["text"].as_str().unwrap().contains("h1 — overdue by"),
        "{answer}"
    );

    let breaches = "command=%2Faccord&text=breaches";
    let answer = expect_status(
        slack(
            &app,
            breaches,
            now,
            &slack_signature(SLACK_SECRET, now, breaches),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("MQL volume (mql, marketing → sales) — Open: October 2026 (2026-10)"),
        "{answer}"
    );

    let unknown = "command=%2Faccord&text=dance";
    let answer = expect_status(
        slack(
            &app,
            unknown,
            now,
            &slack_signature(SLACK_SECRET, now, unknown),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(
        answer["text"].as_str().unwrap().starts_with("accord help"),
        "an unknown command gets the help: {answer}"
    );

    // Refused: a tampered body, another secret, a timestamp older than five minutes, no signature.
    let signed = slack_signature(SLACK_SECRET, now, body);
    expect_problem(
        slack(&app, "command=%2Faccord&text=breaches", now, &signed).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    expect_problem(
        slack(
            &app,
            body,
            now,
            &slack_signature("another-secret", now, body),
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let old = now - 301;
    expect_problem(
        slack(&app, body, old, &slack_signature(SLACK_SECRET, old, body)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    expect_problem(
        slack(&app, body, now, "v0=00").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

crate::for_each_backend!(slack_commands_are_answered_only_when_signed);
