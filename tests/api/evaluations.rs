//! Evaluation over HTTP: values and statuses per period, restatement until final, versions per
//! period, staleness, overdue items and the simulator.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_problem, expect_status};
use crate::on_both_backends;

fn ev(id: &str, kind: &str, subject: &str, team: &str, at: &str) -> Value {
    json!({"external_id": id, "kind": kind, "subject_id": subject, "team": team, "occurred_at": at, "attributes": {"source": "webinar"}})
}

async fn post_events(app: &TestApp, events: Vec<Value>) {
    expect_status(
        app.post("/api/v1/events", app.admin(), &json!(events))
            .await,
        StatusCode::OK,
    )
    .await;
}

async fn evaluate(app: &TestApp, key: &str) -> Vec<Value> {
    let written = expect_status(
        app.post(
            &format!("/api/v1/slas/{key}/evaluate"),
            app.admin(),
            &json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    written["items"].as_array().unwrap().clone()
}

async fn history(app: &TestApp, key: &str) -> Vec<Value> {
    let page = expect_status(
        app.get(
            &format!("/api/v1/slas/{key}/evaluations?limit=1000"),
            app.admin(),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    page["items"].as_array().unwrap().clone()
}

fn period<'a>(items: &'a [Value], start: &str) -> &'a Value {
    items
        .iter()
        .find(|e| e["period_start"] == start)
        .unwrap_or_else(|| panic!("no period {start} in {items:?}"))
}

/// Activates `body` (signed by both heads) and returns nothing; teams and heads are created.
async fn activate(app: &TestApp, body: Value) {
    if app
        .get("/api/v1/teams/marketing", app.admin())
        .await
        .status()
        == StatusCode::NOT_FOUND
    {
        app.create_team("marketing").await;
        app.create_team("sales").await;
    }
    let marketing = app.create_user(Some("marketing"), "head").await;
    let sales = app.create_user(Some("sales"), "head").await;
    let key = body["key"].as_str().unwrap().to_string();
    expect_status(
        app.post("/api/v1/slas", &marketing.token, &body).await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.post(
            &format!("/api/v1/slas/{key}/approve"),
            &sales.token,
            &json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
}

fn monthly_count(key: &str, target: f64, effective_from: &str) -> Value {
    json!({"key": key, "name": "MQLs", "provider": "marketing", "consumer": "sales",
           "metric": {"kind": "count", "event": "lead.qualified", "filter": {"attributes": {"source": "webinar"}}},
           "objective": {"op": ">=", "target": target},
           "window": {"kind": "calendar", "period": "month", "timezone": "Europe/Berlin"},
           "effective_from": effective_from})
}

async fn periods_are_judged_and_late_events_restate_until_final(app: TestApp) {
    app.set_now("2026-10-20T10:00:00Z");
    activate(&app, monthly_count("mql", 4.0, "2026-10-01")).await;
    post_events(
        &app,
        vec![
            ev(
                "q1",
                "lead.qualified",
                "L1",
                "marketing",
                "2026-10-01T00:30:00+02:00",
            ), // Berlin October, UTC September
            ev(
                "q2",
                "lead.qualified",
                "L2",
                "marketing",
                "2026-10-05T10:00:00Z",
            ),
            ev(
                "q3",
                "lead.qualified",
                "L3",
                "marketing",
                "2026-10-20T09:00:00Z",
            ),
            ev(
                "x1",
                "lead.created",
                "L4",
                "marketing",
                "2026-10-20T09:00:00Z",
            ),
        ],
    )
    .await;
    let current = evaluate(&app, "mql").await;
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["period_start"], "2026-09-30T22:00:00Z");
    assert_eq!(current[0]["period_end"], "2026-10-31T23:00:00Z");
    assert_eq!(current[0]["value"], 3.0);
    assert_eq!(
        current[0]["status"], "on_track",
        "3 by day 20 of 31 projects to about 4.8"
    );
    assert_eq!(current[0]["final"], false);
    assert_eq!(current[0]["version"], 1);

    app.set_now("2026-11-01T12:00:00Z");
    let after = evaluate(&app, "mql").await;
    let october = period(&after, "2026-09-30T22:00:00Z");
    assert_eq!(
        (october["status"].as_str(), october["final"].as_bool()),
        (Some("breached"), Some(false))
    );
    let november = period(&after, "2026-10-31T23:00:00Z");
    assert_eq!(november["value"], 0.0);
    assert_eq!(
        november["status"], "on_track",
        "no projection in the first tenth of the month"
    );

    // A late event for October, inside the grace period: October is restated to met.
    post_events(
        &app,
        vec![ev(
            "q4",
            "lead.qualified",
            "L5",
            "marketing",
            "2026-10-31T22:30:00Z",
        )],
    )
    .await;
    let restated = evaluate(&app, "mql").await;
    let october = period(&restated, "2026-09-30T22:00:00Z");
    assert_eq!(
        (october["value"].as_f64(), october["status"].as_str()),
        (Some(4.0), Some("met"))
    );

    // Two days after October ended (48 h grace), it becomes final …
    app.set_now("2026-11-03T00:00:00Z");
    let settled = evaluate(&app, "mql").await;
    assert_eq!(period(&settled, "2026-09-30T22:00:00Z")["final"], true);
    // … and a later late event changes nothing.
    post_events(
        &app,
        vec![ev(
            "q5",
            "lead.qualified",
            "L6",
            "marketing",
            "2026-10-15T10:00:00Z",
        )],
    )
    .await;
    let again = evaluate(&app, "mql").await;
    assert!(
        again
            .iter()
            .all(|e| e["period_start"] != "2026-09-30T22:00:00Z"),
        "a final period is not rewritten"
    );
    let stored = history(&app, "mql").await;
    assert_eq!(stored.len(), 2);
    assert_eq!(period(&stored, "2026-09-30T22:00:00Z")["value"], 4.0);
    let from_filter = expect_status(
        app.get(
            "/api/v1/slas/mql/evaluations?from=2026-10-15T00:00:00Z",
            app.admin(),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(from_filter["items"].as_array().unwrap().len(), 1);
}

async fn a_revision_is_used_from_its_first_period(app: TestApp) {
    app.set_now("2026-11-10T10:00:00Z");
    activate(&app, monthly_count("mql", 2.0, "2026-11-01")).await;
    let marketing = app.create_user(Some("marketing"), "head").await;
    let sales = app.create_user(Some("sales"), "head").await;
    let revised = monthly_count("mql", 10.0, "2026-11-01");
    app.request(
        reqwest::Method::PUT,
        "/api/v1/slas/mql",
        Some(&marketing.token),
        Some(&revised),
    )
    .await;
    expect_status(
        app.post("/api/v1/slas/mql/approve", &sales.token, &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    post_events(
        &app,
        vec![
            ev(
                "a",
                "lead.qualified",
                "L1",
                "marketing",
                "2026-11-05T10:00:00Z",
            ),
            ev(
                "b",
                "lead.qualified",
                "L2",
                "marketing",
                "2026-11-06T10:00:00Z",
            ),
        ],
    )
    .await;
    app.set_now("2026-12-10T10:00:00Z");
    let results = evaluate(&app, "mql").await;
    let november = period(&results, "2026-10-31T23:00:00Z");
    assert_eq!(
        (
            november["version"].as_i64(),
            november["target"].as_f64(),
            november["status"].as_str()
        ),
        (Some(1), Some(2.0), Some("met"))
    );
    let december = period(&results, "2026-11-30T23:00:00Z");
    assert_eq!(
        (december["version"].as_i64(), december["target"].as_f64()),
        (Some(2), Some(10.0))
    );
}

async fn response_times_and_overdue_items(app: TestApp) {
    app.set_now("2026-11-02T08:00:00Z");
    let body = json!({"key": "follow-up", "name": "Follow-up", "provider": "sales", "consumer": "marketing",
        "metric": {"kind": "response_time", "start": {"event": "lead.handed_off"}, "stop": {"event": "lead.contacted"}, "threshold": "24h"},
        "objective": {"op": ">=", "target": 80},
        "window": {"kind": "calendar", "period": "week", "timezone": "UTC"}, "effective_from": "2026-11-02"});
    app.create_team("marketing").await;
    app.create_team("sales").await;
    let marketing = app.create_user(Some("marketing"), "head").await;
    let sales = app.create_user(Some("sales"), "head").await;
    expect_status(
        app.post("/api/v1/slas", &sales.token, &body).await,
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

    app.set_now("2026-11-05T12:00:00Z");
    post_events(
        &app,
        vec![
            ev(
                "h1",
                "lead.handed_off",
                "L1",
                "marketing",
                "2026-11-02T09:00:00Z",
            ),
            ev(
                "c1",
                "lead.contacted",
                "L1",
                "sales",
                "2026-11-02T10:00:00Z",
            ), // 1 h
            ev(
                "h2",
                "lead.handed_off",
                "L2",
                "marketing",
                "2026-11-02T09:00:00Z",
            ),
            ev(
                "c2",
                "lead.contacted",
                "L2",
                "sales",
                "2026-11-03T12:00:00Z",
            ), // 27 h: late
            ev(
                "h3",
                "lead.handed_off",
                "L3",
                "marketing",
                "2026-11-03T09:00:00Z",
            ), // never: overdue by 27 h
            ev(
                "h4",
                "lead.handed_off",
                "L4",
                "marketing",
                "2026-11-04T08:00:00Z",
            ), // overdue by 4 h
            ev(
                "h5",
                "lead.handed_off",
                "L5",
                "marketing",
                "2026-11-04T14:00:00Z",
            ), // 2 h left: due soon
            ev(
                "h6",
                "lead.handed_off",
                "L6",
                "marketing",
                "2026-11-05T11:00:00Z",
            ), // pending
            ev(
                "c0",
                "lead.contacted",
                "L9",
                "sales",
                "2026-11-01T10:00:00Z",
            ), // a stop without a start
        ],
    )
    .await;
    let week = evaluate(&app, "follow-up").await;
    assert_eq!(week.len(), 1);
    let details = &week[0]["details"];
    assert_eq!(week[0]["value"], 25.0, "1 within of 4 decided: {week:?}");
    assert_eq!(week[0]["status"], "at_risk");
    assert_eq!(
        (
            details["missed"].as_u64(),
            details["pending"].as_u64(),
            details["answered_late"].as_u64()
        ),
        (Some(2), Some(2), Some(1))
    );
    assert_eq!(details["p50_secs"], 3600);

    let violations = expect_status(
        app.get("/api/v1/slas/follow-up/violations", app.admin())
            .await,
        StatusCode::OK,
    )
    .await;
    let items: Vec<(&str, &str, i64)> = violations["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["subject_id"].as_str().unwrap(),
                v["state"].as_str().unwrap(),
                v["overdue_secs"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        items,
        [
            ("L3", "overdue", 27 * 3600),
            ("L4", "overdue", 4 * 3600),
            ("L5", "due_soon", -2 * 3600)
        ]
    );

    let count_sla = monthly_count("mql", 1.0, "2026-11-01");
    expect_status(
        app.post("/api/v1/slas", app.admin(), &count_sla).await,
        StatusCode::CREATED,
    )
    .await;
    expect_problem(
        app.get("/api/v1/slas/mql/violations", app.admin()).await,
        StatusCode::CONFLICT,
    )
    .await;
}

async fn silence_is_stale_and_empty_ratios_have_no_data(app: TestApp) {
    app.set_now("2026-11-02T08:00:00Z");
    let body = json!({"key": "conversion", "name": "Conversion", "provider": "sales", "consumer": "marketing",
        "metric": {"kind": "ratio", "numerator": {"event": "lead.converted"}, "denominator": {"event": "lead.qualified"}},
        "objective": {"op": ">=", "target": 0.2},
        "window": {"kind": "calendar", "period": "month", "timezone": "UTC"}, "effective_from": "2026-11-01"});
    activate(&app, body).await;
    let first = evaluate(&app, "conversion").await;
    assert_eq!(
        (first[0]["status"].as_str(), first[0]["value"].clone()),
        (Some("no_data"), Value::Null)
    );
    assert_eq!(first[0]["data_stale"], false);
    post_events(
        &app,
        vec![
            ev(
                "q1",
                "lead.qualified",
                "L1",
                "marketing",
                "2026-11-02T07:00:00Z",
            ),
            ev(
                "q2",
                "lead.qualified",
                "L2",
                "marketing",
                "2026-11-02T07:00:00Z",
            ),
            ev(
                "v1",
                "lead.converted",
                "L1",
                "sales",
                "2026-11-02T07:30:00Z",
            ),
        ],
    )
    .await;
    let with_data = evaluate(&app, "conversion").await;
    assert_eq!(
        (
            with_data[0]["value"].as_f64(),
            with_data[0]["status"].as_str()
        ),
        (Some(0.5), Some("on_track"))
    );
    app.set_now("2026-11-04T09:00:00Z");
    let silent = evaluate(&app, "conversion").await;
    assert_eq!(
        silent[0]["data_stale"], true,
        "no input for more than 48 h: {silent:?}"
    );
}

async fn the_simulator_scores_history_and_stores_nothing(app: TestApp) {
    app.set_now("2026-11-20T10:00:00Z");
    app.create_team("marketing").await;
    app.create_team("sales").await;
    post_events(
        &app,
        vec![
            ev(
                "a",
                "lead.qualified",
                "L1",
                "marketing",
                "2026-09-10T10:00:00Z",
            ),
            ev(
                "b",
                "lead.qualified",
                "L2",
                "marketing",
                "2026-10-10T10:00:00Z",
            ),
            ev(
                "c",
                "lead.qualified",
                "L3",
                "marketing",
                "2026-10-11T10:00:00Z",
            ),
        ],
    )
    .await;
    let mut definition = monthly_count("what-if", 2.0, "2026-09-01");
    definition.as_object_mut().unwrap().remove("key");
    definition["window"]["timezone"] = json!("UTC");
    let body = json!({"definition": definition, "from": "2026-09-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"});
    let simulated = expect_status(
        app.post("/api/v1/slas/simulate", app.admin(), &body).await,
        StatusCode::OK,
    )
    .await;
    let statuses: Vec<(&str, f64)> = simulated["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["status"].as_str().unwrap(), e["value"].as_f64().unwrap()))
        .collect();
    assert_eq!(statuses, [("breached", 1.0), ("met", 2.0)]);
    let slas = expect_status(app.get("/api/v1/slas", app.admin()).await, StatusCode::OK).await;
    assert!(
        slas["items"].as_array().unwrap().is_empty(),
        "the simulator stores nothing"
    );
    let bad = json!({"definition": {"name": "x"}, "from": "2026-09-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"});
    expect_problem(
        app.post("/api/v1/slas/simulate", app.admin(), &bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

/// What a slower replica or request judged before the latest stored evaluation is not written
/// over it; the next evaluation after it counts everything.
async fn an_evaluation_judged_earlier_does_not_overwrite_a_later_one(app: TestApp) {
    app.set_now("2026-11-10T12:00:00Z");
    activate(&app, monthly_count("mql", 4.0, "2026-10-01")).await;
    let q = |id: &str| {
        ev(
            id,
            "lead.qualified",
            id,
            "marketing",
            "2026-11-05T10:00:00Z",
        )
    };
    post_events(&app, vec![q("q1")]).await;
    assert!(!evaluate(&app, "mql").await.is_empty());
    let november = "2026-10-31T23:00:00Z";
    let stored = period(&history(&app, "mql").await, november).clone();
    assert_eq!(stored["value"].as_f64(), Some(1.0));

    app.set_now("2026-11-10T11:00:00Z");
    post_events(&app, vec![q("q2")]).await;
    assert_eq!(evaluate(&app, "mql").await, Vec::<Value>::new());
    assert_eq!(period(&history(&app, "mql").await, november), &stored);

    app.set_now("2026-11-10T12:01:00Z");
    evaluate(&app, "mql").await;
    let now = period(&history(&app, "mql").await, november).clone();
    assert_eq!(now["value"].as_f64(), Some(2.0));
    assert_eq!(now["evaluated_at"], "2026-11-10T12:01:00Z");
}

on_both_backends!(
    an_evaluation_judged_earlier_does_not_overwrite_a_later_one,
    periods_are_judged_and_late_events_restate_until_final,
    a_revision_is_used_from_its_first_period,
    response_times_and_overdue_items,
    silence_is_stale_and_empty_ratios_have_no_data,
    the_simulator_scores_history_and_stores_nothing,
    a_rolling_window_opens_and_closes_a_breach_episode,
);

async fn a_rolling_window_opens_and_closes_a_breach_episode(app: TestApp) {
    app.set_now("2026-11-10T12:00:00Z");
    let body = json!({"key": "weekly", "name": "MQLs, last 7 days", "provider": "marketing", "consumer": "sales",
        "metric": {"kind": "count", "event": "lead.qualified"}, "objective": {"op": ">=", "target": 3},
        "window": {"kind": "rolling", "length": "7d"}});
    activate(&app, body).await;
    post_events(
        &app,
        vec![
            ev(
                "old",
                "lead.qualified",
                "L0",
                "marketing",
                "2026-11-01T12:00:00Z",
            ),
            ev(
                "a",
                "lead.qualified",
                "L1",
                "marketing",
                "2026-11-05T12:00:00Z",
            ),
            ev(
                "b",
                "lead.qualified",
                "L2",
                "marketing",
                "2026-11-09T12:00:00Z",
            ),
        ],
    )
    .await;
    let first = evaluate(&app, "weekly").await;
    assert_eq!(
        (first[0]["value"].as_f64(), first[0]["status"].as_str()),
        (Some(2.0), Some("breached")),
        "the last 7 days hold 2"
    );
    assert_eq!(first[0]["period_start"], "2026-11-03T12:00:00Z");
    app.set_now("2026-11-10T13:00:00Z");
    evaluate(&app, "weekly").await;
    let breaches = expect_status(
        app.get("/api/v1/breaches?sla=weekly", app.admin()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        breaches["items"].as_array().unwrap().len(),
        1,
        "one breach for the episode: {breaches}"
    );
    assert_eq!(breaches["items"][0]["status"], "open");
    assert_eq!(
        history(&app, "weekly").await.len(),
        1,
        "the same status moves one row along"
    );

    post_events(
        &app,
        vec![ev(
            "c",
            "lead.qualified",
            "L3",
            "marketing",
            "2026-11-10T12:30:00Z",
        )],
    )
    .await;
    app.set_now("2026-11-10T14:00:00Z");
    let met = evaluate(&app, "weekly").await;
    assert_eq!(met[0]["status"], "met");
    let breaches = expect_status(
        app.get("/api/v1/breaches?sla=weekly", app.admin()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        breaches["items"][0]["status"], "resolved",
        "the episode ends when the objective holds again"
    );
    let episodes = history(&app, "weekly").await;
    let statuses: Vec<(&str, bool)> = episodes
        .iter()
        .map(|e| (e["status"].as_str().unwrap(), e["final"].as_bool().unwrap()))
        .collect();
    assert_eq!(statuses, [("breached", true), ("met", false)]);
}
