//! Agreements: the signing workflow, revisions, validation, permissions, races and the audit log.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Account, TestApp, expect_problem, expect_status};
use crate::on_both_backends;

/// marketing → sales, at least 400 qualified leads a month in Berlin.
fn mql_volume(key: &str) -> Value {
    json!({
        "key": key, "name": "Marketing-qualified leads per month", "description": "The volume marketing commits to.",
        "provider": "marketing", "consumer": "sales",
        "metric": {"kind": "count", "event": "lead.qualified", "filter": {"attributes": {"source": ["webinar", "ads"]}}},
        "objective": {"op": ">=", "target": 400},
        "window": {"kind": "calendar", "period": "month", "timezone": "Europe/Berlin"},
        "notify_on": ["breach", "at_risk", "recovered"]
    })
}

struct Parties {
    marketing: Account,
    sales: Account,
}

async fn parties(app: &TestApp) -> Parties {
    app.create_team("marketing").await;
    app.create_team("sales").await;
    Parties {
        marketing: app.create_user(Some("marketing"), "head").await,
        sales: app.create_user(Some("sales"), "head").await,
    }
}

fn teams_signed(sla: &Value) -> Vec<&str> {
    sla["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["team"].as_str().unwrap())
        .collect()
}

async fn audit(app: &TestApp, query: &str) -> Vec<Value> {
    let page = expect_status(
        app.get(&format!("/api/v1/audit?limit=1000&{query}"), app.admin())
            .await,
        StatusCode::OK,
    )
    .await;
    page["items"].as_array().unwrap().clone()
}

async fn both_heads_sign_and_the_sla_becomes_active(app: TestApp) {
    app.set_now("2026-11-12T10:00:00Z");
    let p = parties(&app).await;
    let response = app
        .post(
            "/api/v1/slas",
            &p.marketing.token,
            &mql_volume("mql-volume"),
        )
        .await;
    assert_eq!(response.headers()["location"], "/api/v1/slas/mql-volume");
    let proposed = expect_status(response, StatusCode::CREATED).await;
    assert_eq!(proposed["status"], "proposed");
    assert_eq!(proposed["version"], 1);
    assert_eq!(
        teams_signed(&proposed),
        ["marketing"],
        "the proposer's team counts as signed"
    );
    assert_eq!(
        proposed["metric"]["filter"]["attributes"]["source"],
        json!(["webinar", "ads"])
    );
    assert!(proposed["effective_range"]["from"].is_null());

    let active = expect_status(
        app.post(
            "/api/v1/slas/mql-volume/approve",
            &p.sales.token,
            &json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(active["status"], "active");
    assert_eq!(teams_signed(&active), ["marketing", "sales"]);
    assert_eq!(active["approvals"][1]["user"], p.sales.email.as_str());
    assert_eq!(
        active["effective_range"]["from"], "2026-10-31T23:00:00Z",
        "from the start of the month in Berlin"
    );
    assert!(active["effective_range"]["until"].is_null());

    let again = expect_problem(
        app.post(
            "/api/v1/slas/mql-volume/approve",
            &p.sales.token,
            &json!({}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        again["detail"].as_str().unwrap().contains("no version"),
        "{again}"
    );

    let fetched = expect_status(
        app.get("/api/v1/slas/mql-volume", &p.sales.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(fetched, active);
    let listed = expect_status(
        app.get("/api/v1/slas?status=active&team=sales", &p.sales.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let none = expect_status(
        app.get("/api/v1/slas?status=proposed", &p.sales.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(none["items"].as_array().unwrap().is_empty());

    let actions: Vec<_> = audit(&app, "entity_type=sla&entity_id=mql-volume")
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actions, ["sla.activated", "sla.proposed"], "newest first");
}

async fn a_revision_signed_mid_period_takes_effect_next_period(app: TestApp) {
    app.set_now("2026-11-03T09:00:00Z");
    let p = parties(&app).await;
    expect_status(
        app.post(
            "/api/v1/slas",
            &p.marketing.token,
            &mql_volume("mql-volume"),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.post(
            "/api/v1/slas/mql-volume/approve",
            &p.sales.token,
            &Value::Null,
        )
        .await,
        StatusCode::OK,
    )
    .await;

    app.set_now("2026-11-12T10:00:00Z");
    let mut revised = mql_volume("mql-volume");
    revised["objective"]["target"] = json!(450);
    let during = expect_status(
        app.request(
            reqwest::Method::PUT,
            "/api/v1/slas/mql-volume",
            Some(&p.sales.token),
            Some(&revised),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(during["status"], "active");
    assert_eq!(
        during["version"], 1,
        "version 1 stays in force while 2 awaits signature"
    );
    assert_eq!(during["objective"]["target"], 400.0);
    assert_eq!(during["pending"]["version"], 2);
    assert_eq!(
        during["pending"]["definition"]["objective"]["target"],
        450.0
    );
    assert_eq!(teams_signed(&during["pending"]), ["sales"]);

    app.set_now("2026-11-20T16:00:00Z");
    let signed = expect_status(
        app.post(
            "/api/v1/slas/mql-volume/approve",
            &p.marketing.token,
            &json!({"version": 2}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        signed["version"], 1,
        "November is still measured against version 1"
    );
    assert_eq!(signed["objective"]["target"], 400.0);
    assert_eq!(signed["effective_range"]["until"], "2026-11-30T23:00:00Z");
    assert!(signed["pending"].is_null());

    let versions = expect_status(
        app.get("/api/v1/slas/mql-volume/versions", &p.sales.token)
            .await,
        StatusCode::OK,
    )
    .await;
    let versions = versions["items"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["status"], "superseded");
    assert_eq!(
        versions[0]["effective_range"],
        json!({"from": "2026-10-31T23:00:00Z", "until": "2026-11-30T23:00:00Z"})
    );
    assert_eq!(versions[1]["status"], "active");
    assert_eq!(
        versions[1]["effective_range"],
        json!({"from": "2026-11-30T23:00:00Z", "until": null})
    );
    assert_eq!(teams_signed(&versions[1]), ["sales", "marketing"]);

    app.set_now("2026-12-01T08:00:00Z");
    let december = expect_status(
        app.get("/api/v1/slas/mql-volume", &p.sales.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(december["version"], 2);
    assert_eq!(december["objective"]["target"], 450.0);
}

async fn a_rolling_revision_takes_effect_when_signed(app: TestApp) {
    app.set_now("2026-11-12T10:00:00Z");
    let p = parties(&app).await;
    let mut body = mql_volume("weekly-mqls");
    body["window"] = json!({"kind": "rolling", "length": "7d"});
    expect_status(
        app.post("/api/v1/slas", &p.marketing.token, &body).await,
        StatusCode::CREATED,
    )
    .await;
    let active = expect_status(
        app.post(
            "/api/v1/slas/weekly-mqls/approve",
            &p.sales.token,
            &json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(active["effective_range"]["from"], "2026-11-12T10:00:00Z");
    assert_eq!(
        active["window"],
        json!({"kind": "rolling", "length": "1w"}),
        "stored in canonical form"
    );
    app.set_now("2026-11-13T10:00:00Z");
    body["objective"]["target"] = json!(100);
    app.request(
        reqwest::Method::PUT,
        "/api/v1/slas/weekly-mqls",
        Some(&p.marketing.token),
        Some(&body),
    )
    .await;
    let no_body = app
        .request(
            reqwest::Method::POST,
            "/api/v1/slas/weekly-mqls/approve",
            Some(&p.sales.token),
            None,
        )
        .await;
    let revised = expect_status(no_body, StatusCode::OK).await;
    assert_eq!(revised["version"], 2);
    assert_eq!(revised["effective_range"]["from"], "2026-11-13T10:00:00Z");
}

async fn a_rejection_needs_a_reason_and_keeps_what_is_in_force(app: TestApp) {
    let p = parties(&app).await;
    expect_status(
        app.post("/api/v1/slas", &p.marketing.token, &mql_volume("first"))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let problem = expect_problem(
        app.post(
            "/api/v1/slas/first/reject",
            &p.sales.token,
            &json!({"reason": "  "}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(problem["errors"]["reason"].is_string());
    let rejected = expect_status(
        app.post(
            "/api/v1/slas/first/reject",
            &p.sales.token,
            &json!({"reason": "400 is not enough"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rejected["status"], "rejected");
    let versions = expect_status(
        app.get("/api/v1/slas/first/versions", &p.marketing.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        versions["items"][0]["reason"], "400 is not enough",
        "both teams see why"
    );
    expect_problem(
        app.post("/api/v1/slas/first/approve", &p.sales.token, &json!({}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;

    expect_status(
        app.post("/api/v1/slas", &p.marketing.token, &mql_volume("second"))
            .await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.post("/api/v1/slas/second/approve", &p.sales.token, &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let mut revision = mql_volume("second");
    revision["objective"]["target"] = json!(300);
    app.request(
        reqwest::Method::PUT,
        "/api/v1/slas/second",
        Some(&p.marketing.token),
        Some(&revision),
    )
    .await;
    let kept = expect_status(
        app.post(
            "/api/v1/slas/second/reject",
            &p.sales.token,
            &json!({"reason": "lower is worse"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(kept["status"], "active");
    assert_eq!(kept["version"], 1);
    assert_eq!(kept["objective"]["target"], 400.0);
}

async fn approving_a_superseded_version_is_a_conflict(app: TestApp) {
    let p = parties(&app).await;
    expect_status(
        app.post("/api/v1/slas", &p.marketing.token, &mql_volume("mql"))
            .await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.post("/api/v1/slas/mql/approve", &p.sales.token, &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let mut v2 = mql_volume("mql");
    v2["objective"]["target"] = json!(450);
    expect_status(
        app.request(
            reqwest::Method::PUT,
            "/api/v1/slas/mql",
            Some(&p.sales.token),
            Some(&v2),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let mut v3 = mql_volume("mql");
    v3["objective"]["target"] = json!(420);
    expect_status(
        app.request(
            reqwest::Method::PUT,
            "/api/v1/slas/mql",
            Some(&p.marketing.token),
            Some(&v3),
        )
        .await,
        StatusCode::OK,
    )
    .await;

    let problem = expect_problem(
        app.post(
            "/api/v1/slas/mql/approve",
            &p.marketing.token,
            &json!({"version": 2}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("superseded"),
        "{problem}"
    );
    expect_problem(
        app.post(
            "/api/v1/slas/mql/approve",
            &p.marketing.token,
            &json!({"version": 3}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    let signed = expect_status(
        app.post(
            "/api/v1/slas/mql/approve",
            &p.sales.token,
            &json!({"version": 3}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(signed["pending"], Value::Null);
    let versions = expect_status(
        app.get("/api/v1/slas/mql/versions", app.admin()).await,
        StatusCode::OK,
    )
    .await;
    let statuses: Vec<_> = versions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["superseded", "superseded", "active"]);
}

async fn a_retired_sla_takes_no_more_changes(app: TestApp) {
    let p = parties(&app).await;
    expect_status(
        app.post("/api/v1/slas", app.admin(), &mql_volume("mql"))
            .await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.post("/api/v1/slas/mql/approve", &p.sales.token, &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    expect_status(
        app.post("/api/v1/slas/mql/approve", &p.marketing.token, &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let retired = expect_status(
        app.post("/api/v1/slas/mql/retire", app.admin(), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(retired["status"], "retired");
    assert!(retired["effective_range"]["until"].is_string());
    expect_problem(
        app.post("/api/v1/slas/mql/retire", app.admin(), &json!({}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    expect_problem(
        app.request(
            reqwest::Method::PUT,
            "/api/v1/slas/mql",
            Some(&p.sales.token),
            Some(&mql_volume("mql")),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    expect_problem(
        app.post("/api/v1/slas/mql/approve", &p.sales.token, &json!({}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
}

async fn definitions_are_validated_field_by_field(app: TestApp) {
    let p = parties(&app).await;
    app.create_team("finance").await;
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Change)> = vec![
        ("provider", Box::new(|b| b["provider"] = json!("legal"))),
        ("consumer", Box::new(|b| b["consumer"] = json!("marketing"))),
        (
            "metric.kind",
            Box::new(|b| b["metric"]["kind"] = json!("median")),
        ),
        (
            "window.timezone",
            Box::new(|b| b["window"]["timezone"] = json!("Europe/Atlantis")),
        ),
        (
            "window.period",
            Box::new(|b| b["window"]["period"] = json!("fortnight")),
        ),
        (
            "window.length",
            Box::new(|b| b["window"] = json!({"kind": "rolling", "length": "7 days"})),
        ),
        (
            "metric.threshold",
            Box::new(
                |b| b["metric"] = json!({"kind": "response_time", "start": {"event": "lead.handed_off"}, "stop": {"event": "lead.contacted"}, "threshold": "a day"}),
            ),
        ),
        (
            "metric.calendar",
            Box::new(|b| {
                b["metric"] = json!({"kind": "response_time", "start": {"event": "lead.handed_off"}, "stop": {"event": "lead.contacted"}, "threshold": "24h", "calendar": "nowhere"});
                b["objective"]["target"] = json!(95);
            }),
        ),
        (
            "objective.target",
            Box::new(|b| b["objective"]["target"] = json!(-5)),
        ),
        (
            "objective.target",
            Box::new(|b| {
                b["metric"] = json!({"kind": "ratio", "numerator": {"event": "lead.converted"}, "denominator": {"event": "lead.qualified"}});
                b["objective"]["target"] = json!(25);
            }),
        ),
        (
            "objective.op",
            Box::new(|b| b["objective"]["op"] = json!("==")),
        ),
        (
            "metric.event",
            Box::new(|b| b["metric"]["event"] = json!("Lead Qualified")),
        ),
        (
            "metric.filter.team",
            Box::new(|b| b["metric"]["filter"] = json!({"team": "legal"})),
        ),
        (
            "notify_on[0]",
            Box::new(|b| b["notify_on"] = json!(["always"])),
        ),
        (
            "effective_from",
            Box::new(|b| b["effective_from"] = json!("01.10.2026")),
        ),
        (
            "metric.colour",
            Box::new(|b| b["metric"]["colour"] = json!("red")),
        ),
        (
            "objective.target",
            Box::new(|b| b["objective"]["target"] = json!("lots")),
        ),
    ];
    for (field, change) in cases {
        let mut body = mql_volume("invalid");
        change(&mut body);
        let problem = expect_problem(
            app.post("/api/v1/slas", &p.marketing.token, &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        let named = problem["errors"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k == field || k.starts_with(&format!("{field}.")));
        assert!(named, "{field} should be named in {problem}");
    }
    let listed = expect_status(app.get("/api/v1/slas", app.admin()).await, StatusCode::OK).await;
    assert!(
        listed["items"].as_array().unwrap().is_empty(),
        "nothing stored: {listed}"
    );
    assert!(audit(&app, "entity_type=sla").await.is_empty());
}

async fn calendars_are_kept_and_checked(app: TestApp) {
    let p = parties(&app).await;
    let calendar = json!({"key": "emea-office", "name": "EMEA office", "timezone": "Europe/Berlin",
        "hours": {"mon": [["09:00", "12:30"], ["13:30", "17:00"]], "fri": [["09:00", "15:00"]]}, "holidays": ["2026-12-25", "2026-12-26"]});
    let created = expect_status(
        app.post("/api/v1/calendars", &p.sales.token, &calendar)
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        created["hours"]["mon"],
        json!([["09:00", "12:30"], ["13:30", "17:00"]])
    );
    assert!(
        created["hours"].get("tue").is_none(),
        "closed days stay absent"
    );
    expect_problem(
        app.post("/api/v1/calendars", &p.sales.token, &calendar)
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    let member = app.create_user(Some("sales"), "member").await;
    expect_problem(
        app.post(
            "/api/v1/calendars",
            &member.token,
            &json!({"key": "x", "name": "x", "timezone": "UTC"}),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let bad = json!({"key": "bad", "name": "Bad", "timezone": "Mars/Base", "hours": {"mon": [["17:00", "09:00"]], "xyz": []}, "holidays": ["soon"]});
    let problem = expect_problem(
        app.post("/api/v1/calendars", &p.sales.token, &bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    for field in ["timezone", "hours.mon[0]", "hours.xyz", "holidays[0]"] {
        assert!(problem["errors"][field].is_string(), "{field}: {problem}");
    }

    let mut sla = mql_volume("follow-up");
    sla["metric"] = json!({"kind": "response_time", "start": {"event": "lead.handed_off"}, "stop": {"event": "lead.contacted"},
                           "threshold": "24h", "calendar": "emea-office", "pause": {"event": "lead.on_hold"}, "resume": {"event": "lead.reactivated"}});
    sla["objective"] = json!({"op": ">=", "target": 95});
    sla["provider"] = json!("sales");
    sla["consumer"] = json!("marketing");
    let created = expect_status(
        app.post("/api/v1/slas", &p.sales.token, &sla).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["metric"]["threshold"], "1d");
    let problem = expect_problem(
        app.delete("/api/v1/calendars/emea-office", &p.sales.token)
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("use"),
        "{problem}"
    );

    let mut changed = calendar.clone();
    changed["holidays"] = json!(["2026-12-24"]);
    let replaced = expect_status(
        app.request(
            reqwest::Method::PUT,
            "/api/v1/calendars/emea-office",
            Some(&p.marketing.token),
            Some(&changed),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(replaced["holidays"], json!(["2026-12-24"]));
}

async fn the_audit_log_filters_and_pages(app: TestApp) {
    let p = parties(&app).await;
    app.set_now("2026-11-12T10:00:00Z");
    expect_status(
        app.post("/api/v1/slas", &p.marketing.token, &mql_volume("a"))
            .await,
        StatusCode::CREATED,
    )
    .await;
    app.set_now("2026-11-13T10:00:00Z");
    expect_status(
        app.post("/api/v1/slas", &p.sales.token, &mql_volume("b"))
            .await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.post("/api/v1/slas/a/approve", &p.sales.token, &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;

    let entries = audit(&app, "entity_type=sla").await;
    assert_eq!(entries.len(), 3);
    let activated = &entries[0];
    assert_eq!(activated["action"], "sla.activated");
    assert_eq!(activated["before"]["status"], "proposed");
    assert_eq!(activated["after"]["status"], "active");
    assert_eq!(
        activated["after"]["versions"][0]["approvals"],
        json!(["marketing", "sales"])
    );
    assert_eq!(activated["at"], "2026-11-13T10:00:00Z");

    let by_sales = audit(&app, &format!("entity_type=sla&actor=user:{}", p.sales.id)).await;
    assert_eq!(by_sales.len(), 2);
    let on_the_12th = audit(
        &app,
        "entity_type=sla&from=2026-11-12T00:00:00Z&to=2026-11-13T00:00:00%2B00:00",
    )
    .await;
    assert_eq!(on_the_12th.len(), 1);
    assert_eq!(on_the_12th[0]["entity_id"], "a");

    let first = expect_status(
        app.get("/api/v1/audit?entity_type=sla&limit=2", app.admin())
            .await,
        StatusCode::OK,
    )
    .await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = expect_status(
        app.get(
            &format!("/api/v1/audit?entity_type=sla&limit=2&cursor={cursor}"),
            app.admin(),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_eq!(second["items"][0]["action"], "sla.proposed");

    let member = app.create_user(Some("sales"), "member").await;
    expect_problem(
        app.get("/api/v1/audit", &member.token).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_problem(
        app.get("/api/v1/audit?from=yesterday", app.admin()).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

async fn simultaneous_approvals_activate_once(app: TestApp) {
    app.create_team("marketing").await;
    app.create_team("sales").await;
    let marketing = app.create_user(Some("marketing"), "head").await;
    let mut sales = Vec::new();
    for _ in 0..8 {
        sales.push(app.create_user(Some("sales"), "head").await);
    }
    for round in 0..3 {
        let key = format!("race-{round}");
        expect_status(
            app.post("/api/v1/slas", &marketing.token, &mql_volume(&key))
                .await,
            StatusCode::CREATED,
        )
        .await;
        let path = format!("/api/v1/slas/{key}/approve");
        let empty = json!({});
        let answers = join_all(
            sales
                .iter()
                .map(|head| app.post(&path, &head.token, &empty)),
        )
        .await;
        let statuses: Vec<StatusCode> = answers.iter().map(|r| r.status()).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == StatusCode::OK).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::CONFLICT)
                .count(),
            7,
            "{statuses:?}"
        );
        let activations = audit(
            &app,
            &format!("entity_type=sla&entity_id={key}&action=sla.activated"),
        )
        .await;
        assert_eq!(activations.len(), 1);
        let sla = expect_status(
            app.get(&format!("/api/v1/slas/{key}"), app.admin()).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(teams_signed(&sla), ["marketing", "sales"]);

        // Both parties at once on an admin's proposal: one signs, the other activates.
        let key = format!("pair-{round}");
        expect_status(
            app.post("/api/v1/slas", app.admin(), &mql_volume(&key))
                .await,
            StatusCode::CREATED,
        )
        .await;
        let path = format!("/api/v1/slas/{key}/approve");
        let (a, b) = futures_util::future::join(
            app.post(&path, &marketing.token, &json!({})),
            app.post(&path, &sales[round].token, &json!({})),
        )
        .await;
        assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
        let sla = expect_status(
            app.get(&format!("/api/v1/slas/{key}"), app.admin()).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(sla["status"], "active");
        let activations = audit(
            &app,
            &format!("entity_type=sla&entity_id={key}&action=sla.activated"),
        )
        .await;
        assert_eq!(activations.len(), 1);
    }
}

#[derive(Clone, Copy, Debug)]
enum Act {
    Create,
    Revise,
    Approve,
    Reject,
    Retire,
    Read,
    Versions,
}

/// Every role × every agreement action, with the status each must get.
async fn the_permission_table_holds(app: TestApp) {
    let p = parties(&app).await;
    app.create_team("finance").await;
    let outsider = app.create_user(Some("finance"), "head").await;
    let member = app.create_user(Some("marketing"), "member").await;
    let (service, _) = app
        .create_service_token(Some("marketing"), &["events:write", "status:read"])
        .await;
    let roles: [(&str, &str); 6] = [
        ("admin", app.admin()),
        ("head of provider", &p.marketing.token),
        ("head of consumer", &p.sales.token),
        ("head of another team", &outsider.token),
        ("member", &member.token),
        ("service token", &service),
    ];
    use StatusCode as S;
    let (ok, created, forbidden) = (S::OK, S::CREATED, S::FORBIDDEN);
    let table: [(Act, [StatusCode; 6]); 7] = [
        (
            Act::Create,
            [created, created, created, forbidden, forbidden, forbidden],
        ),
        (Act::Revise, [ok, ok, ok, forbidden, forbidden, forbidden]),
        (
            Act::Approve,
            [forbidden, ok, ok, forbidden, forbidden, forbidden],
        ),
        (
            Act::Reject,
            [forbidden, ok, ok, forbidden, forbidden, forbidden],
        ),
        (Act::Retire, [ok, ok, ok, forbidden, forbidden, forbidden]),
        (Act::Read, [ok, ok, ok, ok, ok, ok]),
        (Act::Versions, [ok, ok, ok, ok, ok, ok]),
    ];
    let mut n = 0;
    for (act, expected) in table {
        for ((role, token), want) in roles.iter().zip(expected) {
            n += 1;
            let key = format!("sla-{n}");
            // Each cell gets its own SLA: proposed by the admin (signed by neither team) or,
            // for revising and retiring, signed by both.
            if !matches!(act, Act::Create) {
                expect_status(
                    app.post("/api/v1/slas", app.admin(), &mql_volume(&key))
                        .await,
                    StatusCode::CREATED,
                )
                .await;
            }
            if matches!(act, Act::Revise | Act::Retire) {
                for head in [&p.marketing, &p.sales] {
                    expect_status(
                        app.post(
                            &format!("/api/v1/slas/{key}/approve"),
                            &head.token,
                            &json!({}),
                        )
                        .await,
                        StatusCode::OK,
                    )
                    .await;
                }
            }
            let path = format!("/api/v1/slas/{key}");
            let response = match act {
                Act::Create => app.post("/api/v1/slas", token, &mql_volume(&key)).await,
                Act::Revise => {
                    app.request(
                        reqwest::Method::PUT,
                        &path,
                        Some(token),
                        Some(&mql_volume(&key)),
                    )
                    .await
                }
                Act::Approve => {
                    app.post(&format!("{path}/approve"), token, &json!({}))
                        .await
                }
                Act::Reject => {
                    app.post(&format!("{path}/reject"), token, &json!({"reason": "no"}))
                        .await
                }
                Act::Retire => app.post(&format!("{path}/retire"), token, &json!({})).await,
                Act::Read => app.get(&path, token).await,
                Act::Versions => app.get(&format!("{path}/versions"), token).await,
            };
            let got = response.status();
            let body = response.text().await.unwrap();
            assert_eq!(got, want, "{role} × {act:?}: {body}");
        }
    }
    // Nothing a refused caller tried left a trace.
    let refused_creates = audit(&app, "entity_type=sla&action=sla.proposed")
        .await
        .len();
    assert_eq!(
        refused_creates,
        3 + 6 * 6,
        "three allowed creations and one per other cell"
    );
}

on_both_backends!(
    the_permission_table_holds,
    both_heads_sign_and_the_sla_becomes_active,
    a_revision_signed_mid_period_takes_effect_next_period,
    a_rolling_revision_takes_effect_when_signed,
    a_rejection_needs_a_reason_and_keeps_what_is_in_force,
    approving_a_superseded_version_is_a_conflict,
    a_retired_sla_takes_no_more_changes,
    definitions_are_validated_field_by_field,
    calendars_are_kept_and_checked,
    the_audit_log_filters_and_pages,
    simultaneous_approvals_activate_once,
);
