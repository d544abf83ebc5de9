//! The evaluation lifecycle over HTTP, on both backends: one version per instant across
//! revisions, retirement mid-period, calendars kept with signed versions, attribute filters,
//! pauses that began before a period, backfills, message hygiene, and a cycle that goes on
//! past an SLA that fails.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Account, Backend, TestApp, TestDb, expect_status, spawn_app_with};
use crate::on_both_backends;

struct Heads {
    marketing: Account,
    sales: Account,
}

async fn heads(app: &TestApp) -> Heads {
    app.create_team("marketing").await;
    app.create_team("sales").await;
    Heads {
        marketing: app.create_user(Some("marketing"), "head").await,
        sales: app.create_user(Some("sales"), "head").await,
    }
}

/// Proposes `body` as marketing's head and signs it as sales' head.
async fn activate(app: &TestApp, heads: &Heads, body: &Value) -> Value {
    let key = body["key"].as_str().unwrap();
    expect_status(
        app.post("/api/v1/slas", &heads.marketing.token, body).await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.post(
            &format!("/api/v1/slas/{key}/approve"),
            &heads.sales.token,
            &json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await
}

/// Proposes `body` as a revision (marketing) and signs it (sales).
async fn revise(app: &TestApp, heads: &Heads, body: &Value) -> Value {
    let key = body["key"].as_str().unwrap();
    expect_status(
        app.request(
            Method::PUT,
            &format!("/api/v1/slas/{key}"),
            Some(&heads.marketing.token),
            Some(body),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    activate_pending(app, heads, key).await
}

async fn activate_pending(app: &TestApp, heads: &Heads, key: &str) -> Value {
    expect_status(
        app.post(
            &format!("/api/v1/slas/{key}/approve"),
            &heads.sales.token,
            &json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await
}

fn event(id: &str, kind: &str, subject: &str, at: &str, attributes: Value) -> Value {
    json!({"external_id": id, "kind": kind, "subject_id": subject, "team": "marketing",
           "occurred_at": at, "attributes": attributes})
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
    app.items(
        &format!("/api/v1/slas/{key}/evaluations?limit=1000"),
        app.admin(),
    )
    .await
}

/// `(period_start, version)` of each stored evaluation, in order.
async fn periods(app: &TestApp, key: &str) -> Vec<(String, i64)> {
    history(app, key)
        .await
        .iter()
        .map(|e| {
            (
                e["period_start"].as_str().unwrap().to_string(),
                e["version"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Every message in the outbox, as `(kind, recipient)`.
async fn outbox(app: &TestApp) -> Vec<(String, String)> {
    let page = expect_status(
        app.get("/api/v1/notifications?limit=1000", app.admin())
            .await,
        StatusCode::OK,
    )
    .await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap().to_string(),
                m["recipient"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn count_of(app: &TestApp, kind: &str) -> usize {
    outbox(app).await.iter().filter(|(k, _)| k == kind).count()
}

fn monthly_count(key: &str, target: f64, timezone: &str) -> Value {
    json!({"key": key, "name": "MQLs", "provider": "marketing", "consumer": "sales",
           "metric": {"kind": "count", "event": "lead.qualified"},
           "objective": {"op": ">=", "target": target},
           "window": {"kind": "calendar", "period": "month", "timezone": timezone},
           "notify_on": ["breach", "at_risk", "recovered"]})
}

fn office(hours: Value) -> Value {
    json!({"key": "office", "name": "Office", "timezone": "UTC", "hours": hours})
}

fn follow_up(key: &str, calendar: Option<&str>) -> Value {
    let mut metric = json!({"kind": "response_time", "start": {"event": "lead.handed_off"},
        "stop": {"event": "lead.contacted"}, "threshold": "8h",
        "pause": {"event": "lead.on_hold"}, "resume": {"event": "lead.reactivated"}});
    if let Some(calendar) = calendar {
        metric["calendar"] = json!(calendar);
    }
    json!({"key": key, "name": "Follow-up", "provider": "marketing", "consumer": "sales",
           "metric": metric, "objective": {"op": ">=", "target": 100},
           "window": {"kind": "calendar", "period": "month", "timezone": "UTC"},
           "effective_from": "2026-10-01"})
}

/// The test's database, for what no HTTP call may do.
fn database(app: &TestApp) -> accord::store::Db {
    let url = accord::config::DatabaseUrl::parse(app.database_url()).unwrap();
    accord::store::Db::open(&url).unwrap()
}

fn settings(remind: Option<&str>) -> accord::service::evaluation::Settings {
    accord::service::evaluation::Settings {
        grace: "48h".parse().unwrap(),
        stale_after: "48h".parse().unwrap(),
        remind_every: remind.map(|r| r.parse().unwrap()),
    }
}

fn links() -> accord::service::breaches::Links {
    accord::service::breaches::Links {
        public_url: "http://accord.test".into(),
    }
}

fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

async fn a_revision_keeps_one_version_per_instant_across_zones_and_kinds(app: TestApp) {
    let heads = heads(&app).await;
    app.set_now("2026-11-12T10:00:00Z");
    let mut body = monthly_count("mqls", 1.0, "UTC");
    body["effective_from"] = json!("2026-11-01");
    activate(&app, &heads, &body).await;
    // Revised to a Berlin week, signed on Thursday 12 November.
    let mut weekly = body.clone();
    weekly["window"] = json!({"kind": "calendar", "period": "week", "timezone": "Europe/Berlin"});
    weekly.as_object_mut().unwrap().remove("effective_from");
    let signed = revise(&app, &heads, &weekly).await;
    assert_eq!(signed["version"], 1, "November stays version 1's");
    assert_eq!(signed["effective_range"]["until"], "2026-12-01T00:00:00Z");
    let versions = expect_status(
        app.get("/api/v1/slas/mqls/versions", app.admin()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        versions["items"][1]["effective_range"],
        json!({"from": "2026-12-06T23:00:00Z", "until": null}),
        "the first Berlin Monday after the month"
    );
    // Events every day; each instant counted by one version only.
    let mut events = Vec::new();
    for day in 1..=20 {
        events.push(event(
            &format!("q{day}"),
            "lead.qualified",
            &format!("L{day}"),
            &format!("2026-12-{day:02}T12:00:00Z"),
            json!({}),
        ));
    }
    app.set_now("2026-12-20T12:00:00Z");
    post_events(&app, events).await;
    evaluate(&app, "mqls").await;
    assert_eq!(
        periods(&app, "mqls").await,
        [
            ("2026-11-01T00:00:00Z".to_string(), 1),
            ("2026-12-06T23:00:00Z".to_string(), 2),
            ("2026-12-13T23:00:00Z".to_string(), 2),
        ],
        "1–6 December lies between the versions and is judged by neither"
    );
    let evaluations = history(&app, "mqls").await;
    assert_eq!(evaluations[1]["value"], 7.0, "7–13 December");

    // A month revised to a rolling window: the month finishes, the rolling window starts after.
    let mut rolling = body.clone();
    rolling["key"] = json!("rolling");
    app.set_now("2026-11-12T10:00:00Z");
    activate(&app, &heads, &rolling).await;
    let mut revised = rolling.clone();
    revised["window"] = json!({"kind": "rolling", "length": "7d"});
    revised.as_object_mut().unwrap().remove("effective_from");
    let signed = revise(&app, &heads, &revised).await;
    assert_eq!(
        signed["effective_range"]["until"], "2026-12-01T00:00:00Z",
        "not the second it is signed"
    );
    app.set_now("2026-11-20T10:00:00Z");
    let written = evaluate(&app, "rolling").await;
    assert!(
        written.iter().all(|e| e["version"] == 1),
        "November is the month's: {written:?}"
    );
    app.set_now("2026-12-10T10:00:00Z");
    let written = evaluate(&app, "rolling").await;
    let rolling_window = written.iter().find(|e| e["version"] == 2).unwrap();
    assert_eq!(rolling_window["period_end"], "2026-12-10T10:00:00Z");
}

async fn a_rolling_version_is_replaced_where_its_successor_starts(app: TestApp) {
    let heads = heads(&app).await;
    app.set_now("2026-11-02T10:00:00Z");
    let mut body = monthly_count("rolling-first", 1.0, "UTC");
    body["window"] = json!({"kind": "rolling", "length": "7d"});
    activate(&app, &heads, &body).await;
    app.set_now("2026-11-12T10:00:00Z");
    let mut monthly = body.clone();
    monthly["window"] = json!({"kind": "calendar", "period": "month", "timezone": "UTC"});
    let signed = revise(&app, &heads, &monthly).await;
    assert_eq!(signed["version"], 1);
    assert_eq!(
        signed["effective_range"]["until"], "2026-12-01T00:00:00Z",
        "the rolling window judges until the month starts: no gap"
    );
    app.set_now("2026-11-20T10:00:00Z");
    let written = evaluate(&app, "rolling-first").await;
    assert_eq!(written.len(), 1);
    assert_eq!(written[0]["version"], 1, "{written:?}");
    app.set_now("2026-12-03T10:00:00Z");
    let written = evaluate(&app, "rolling-first").await;
    assert!(
        written
            .iter()
            .all(|e| e["version"] == 2 && e["period_start"] == "2026-12-01T00:00:00Z"),
        "{written:?}"
    );
}

async fn quarters_are_judged_whole(app: TestApp) {
    let heads = heads(&app).await;
    app.set_now("2026-11-12T10:00:00Z");
    let mut body = monthly_count("quarterly", 2.0, "Europe/Berlin");
    body["window"]["period"] = json!("quarter");
    body["effective_from"] = json!("2026-07-01");
    activate(&app, &heads, &body).await;
    post_events(
        &app,
        vec![
            // 1 October 00:30 in Berlin is still 30 September in UTC: the fourth quarter's.
            event(
                "a",
                "lead.qualified",
                "L1",
                "2026-09-30T22:30:00Z",
                json!({}),
            ),
            event(
                "b",
                "lead.qualified",
                "L2",
                "2026-09-30T21:30:00Z",
                json!({}),
            ),
            event(
                "c",
                "lead.qualified",
                "L3",
                "2026-11-01T12:00:00Z",
                json!({}),
            ),
        ],
    )
    .await;
    evaluate(&app, "quarterly").await;
    let evaluations = history(&app, "quarterly").await;
    let seen: Vec<(&str, &str, f64, &str)> = evaluations
        .iter()
        .map(|e| {
            (
                e["period_start"].as_str().unwrap(),
                e["period_end"].as_str().unwrap(),
                e["value"].as_f64().unwrap(),
                e["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "2026-06-30T22:00:00Z",
                "2026-09-30T22:00:00Z",
                1.0,
                "breached"
            ),
            ("2026-09-30T22:00:00Z", "2026-12-31T23:00:00Z", 2.0, "met"),
        ]
    );
}

async fn retiring_mid_period_judges_only_closed_periods(app: TestApp) {
    let heads = heads(&app).await;
    app.set_now("2026-11-01T12:00:00Z");
    let mut body = monthly_count("retiring", 10.0, "UTC");
    body["effective_from"] = json!("2026-10-01");
    activate(&app, &heads, &body).await;
    post_events(
        &app,
        vec![event(
            "o1",
            "lead.qualified",
            "L1",
            "2026-10-10T12:00:00Z",
            json!({}),
        )],
    )
    .await;
    app.set_now("2026-11-01T13:00:00Z");
    evaluate(&app, "retiring").await;
    let before = outbox(&app).await.len();
    expect_status(
        app.post("/api/v1/slas/retiring/retire", app.admin(), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    // October is closed and inside the grace: a late event still restates it.
    post_events(
        &app,
        vec![event(
            "o2",
            "lead.qualified",
            "L2",
            "2026-10-11T12:00:00Z",
            json!({}),
        )],
    )
    .await;
    app.set_now("2026-11-02T10:00:00Z");
    let written = evaluate(&app, "retiring").await;
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(written[0]["period_start"], "2026-10-01T00:00:00Z");
    assert_eq!(written[0]["value"], 2.0);
    // November would be at risk by now; the period cut short is not judged at all.
    app.set_now("2026-11-10T10:00:00Z");
    let written = evaluate(&app, "retiring").await;
    assert!(
        written
            .iter()
            .all(|e| e["period_start"] == "2026-10-01T00:00:00Z" && e["final"] == true),
        "only October, now final: {written:?}"
    );
    let november = history(&app, "retiring")
        .await
        .into_iter()
        .find(|e| e["period_start"] == "2026-11-01T00:00:00Z")
        .unwrap();
    assert_eq!(
        november["evaluated_at"], "2026-11-01T13:00:00Z",
        "last judged before the retirement"
    );
    assert_eq!(count_of(&app, "sla.at_risk").await, 0);
    assert_eq!(
        outbox(&app).await.len(),
        before,
        "restating a breach already announced, and retiring, send nothing new"
    );
    let board = expect_status(app.get("/api/v1/status", app.admin()).await, StatusCode::OK).await;
    assert!(
        board["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|line| line["sla"] != "retiring"),
        "{board}"
    );
}

async fn a_signed_version_keeps_its_calendar(app: TestApp) {
    let heads = heads(&app).await;
    app.set_now("2026-10-01T00:00:00Z");
    // Open Monday to Friday, 09:00–17:00 UTC.
    let days = json!({"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]],
                      "thu": [["09:00", "17:00"]], "fri": [["09:00", "17:00"]]});
    expect_status(
        app.post("/api/v1/calendars", &heads.sales.token, &office(days))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let mut around = office(
        json!({"mon": [["00:00", "24:00"]], "tue": [["00:00", "24:00"]], "wed": [["00:00", "24:00"]],
                                   "thu": [["00:00", "24:00"]], "fri": [["00:00", "24:00"]], "sat": [["00:00", "24:00"]], "sun": [["00:00", "24:00"]]}),
    );
    around["key"] = json!("around-the-clock");
    expect_status(
        app.post("/api/v1/calendars", &heads.sales.token, &around)
            .await,
        StatusCode::CREATED,
    )
    .await;
    activate(&app, &heads, &follow_up("follow-up", Some("office"))).await;
    app.set_now("2026-10-12T10:00:00Z");
    // Handed off Friday 16:00, contacted Monday 10:00: two business hours, 66 calendar hours.
    post_events(
        &app,
        vec![
            event(
                "h1",
                "lead.handed_off",
                "L1",
                "2026-10-02T16:00:00Z",
                json!({}),
            ),
            event(
                "c1",
                "lead.contacted",
                "L1",
                "2026-10-05T10:00:00Z",
                json!({}),
            ),
            event(
                "h2",
                "lead.handed_off",
                "L2",
                "2026-10-09T16:00:00Z",
                json!({}),
            ),
        ],
    )
    .await;
    app.set_now("2026-10-12T10:00:00Z");
    let first = evaluate(&app, "follow-up").await;
    assert_eq!(
        first[0]["value"], 100.0,
        "L1 took 2 business hours; L2, handed off Friday 16:00, is due Monday 16:00: {first:?}"
    );

    // The office goes round the clock: the signed version still counts its own hours.
    let mut edited = office(
        json!({"mon": [["00:00", "24:00"]], "tue": [["00:00", "24:00"]], "wed": [["00:00", "24:00"]],
                                   "thu": [["00:00", "24:00"]], "fri": [["00:00", "24:00"]], "sat": [["00:00", "24:00"]], "sun": [["00:00", "24:00"]]}),
    );
    edited.as_object_mut().unwrap().remove("key");
    expect_status(
        app.request(
            Method::PUT,
            "/api/v1/calendars/office",
            Some(&heads.sales.token),
            Some(&edited),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    app.set_now("2026-10-12T11:00:00Z");
    evaluate(&app, "follow-up").await;
    let october = history(&app, "follow-up").await;
    assert_eq!(
        october[0]["value"], 100.0,
        "the edit restates nothing: {october:?}"
    );
    let simulated = expect_status(
        app.post(
            "/api/v1/slas/simulate",
            app.admin(),
            &json!({"definition": follow_up("what-if", Some("office")), "from": "2026-10-01T00:00:00Z", "to": "2026-10-12T11:00:00Z"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        simulated["items"][0]["value"], 0.0,
        "a definition not signed yet reads the calendar as it is now: {simulated}"
    );
    let signed = expect_status(
        app.post(
            "/api/v1/slas/simulate",
            app.admin(),
            &json!({"sla": "follow-up", "from": "2026-10-01T00:00:00Z", "to": "2026-10-12T11:00:00Z"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        signed["items"][0]["value"], 100.0,
        "simulating the signed version counts its kept hours: {signed}"
    );

    // Revised to the other calendar and signed: the first calendar is no longer used by a
    // version in force, may be deleted, and October is still judged with its hours.
    app.set_now("2026-10-20T10:00:00Z");
    revise(
        &app,
        &heads,
        &follow_up("follow-up", Some("around-the-clock")),
    )
    .await;
    expect_status(
        app.delete("/api/v1/calendars/office", &heads.sales.token)
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    evaluate(&app, "follow-up").await;
    let october = history(&app, "follow-up").await;
    assert_eq!(october[0]["version"], 1);
    assert_eq!(
        october[0]["value"], 50.0,
        "L2 missed under the kept hours (under round-the-clock hours both miss): {october:?}"
    );
    let board = expect_status(app.get("/api/v1/status", app.admin()).await, StatusCode::OK).await;
    assert!(
        board["items"][0].get("error").is_none(),
        "deleting a calendar breaks nothing: {board}"
    );
}

async fn attribute_filters_match_alike_on_both_backends(app: TestApp) {
    heads(&app).await;
    app.set_now("2026-11-20T10:00:00Z");
    post_events(
        &app,
        vec![
            event(
                "a",
                "lead.qualified",
                "L1",
                "2026-11-02T10:00:00Z",
                json!({"tier": 1, "vip": true}),
            ),
            event(
                "b",
                "lead.qualified",
                "L2",
                "2026-11-02T11:00:00Z",
                json!({"tier": "1", "vip": "true"}),
            ),
            event(
                "c",
                "lead.qualified",
                "L3",
                "2026-11-02T12:00:00Z",
                json!({"tier": 2.5, "vip": false}),
            ),
            event(
                "d",
                "lead.qualified",
                "L4",
                "2026-11-02T13:00:00Z",
                json!({"tier": null, "vip": [true]}),
            ),
            event(
                "e",
                "lead.qualified",
                "L5",
                "2026-11-02T14:00:00Z",
                json!({"tier": 1e0, "note": "1"}),
            ),
        ],
    )
    .await;
    let cases = [
        (json!({"tier": ["1"]}), 3.0, "1, \"1\" and 1e0"),
        (
            json!({"tier": ["1.0"]}),
            2.0,
            "the numbers 1 and 1e0, not the text \"1\"",
        ),
        (json!({"tier": ["2.5"]}), 1.0, "2.5"),
        (json!({"tier": ["2.50", "1"]}), 4.0, "any of the values"),
        (
            json!({"vip": ["true"]}),
            2.0,
            "true and \"true\", not [true]",
        ),
        (json!({"vip": ["false"]}), 1.0, "false"),
        (json!({"vip": ["TRUE"]}), 0.0, "case counts for words"),
        (json!({"tier": ["null"]}), 0.0, "null matches nothing"),
        (json!({"note": ["1"], "tier": ["1"]}), 1.0, "keys are ANDed"),
        (
            json!({"missing": ["1"]}),
            0.0,
            "an absent attribute matches nothing",
        ),
    ];
    for (attributes, expected, why) in cases {
        let mut definition = monthly_count("filters", 1.0, "UTC");
        definition.as_object_mut().unwrap().remove("key");
        definition["metric"]["filter"] = json!({"attributes": attributes});
        let simulated = expect_status(
            app.post(
                "/api/v1/slas/simulate",
                app.admin(),
                &json!({"definition": definition, "from": "2026-11-01T00:00:00Z", "to": "2026-11-20T00:00:00Z"}),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(
            simulated["items"][0]["value"].as_f64(),
            Some(expected),
            "{attributes}: {why}"
        );
    }
}

async fn a_pause_before_the_period_still_stops_the_clock(app: TestApp) {
    let heads = heads(&app).await;
    app.set_now("2026-11-20T10:00:00Z");
    let mut body = follow_up("paused", None);
    body["effective_from"] = json!("2026-11-01");
    activate(&app, &heads, &body).await;
    post_events(
        &app,
        vec![
            // Put on hold in October, handed off in November while on hold, then reactivated.
            event("p", "lead.on_hold", "L1", "2026-10-30T10:00:00Z", json!({})),
            event(
                "h",
                "lead.handed_off",
                "L1",
                "2026-11-02T10:00:00Z",
                json!({}),
            ),
            event(
                "r",
                "lead.reactivated",
                "L1",
                "2026-11-05T10:00:00Z",
                json!({}),
            ),
            event(
                "c",
                "lead.contacted",
                "L1",
                "2026-11-05T12:00:00Z",
                json!({}),
            ),
            // Handed off in November and never paused: contacted a day late.
            event(
                "h2",
                "lead.handed_off",
                "L2",
                "2026-11-02T10:00:00Z",
                json!({}),
            ),
            event(
                "c2",
                "lead.contacted",
                "L2",
                "2026-11-03T12:00:00Z",
                json!({}),
            ),
        ],
    )
    .await;
    let written = evaluate(&app, "paused").await;
    assert_eq!(written.len(), 1);
    assert_eq!(
        written[0]["value"], 50.0,
        "L1's clock ran 2 h, L2's 26 h: {written:?}"
    );
    assert_eq!(written[0]["details"]["answered_within"], 1);
}

async fn a_backfill_is_recorded_and_summed_up_once(app: TestApp) {
    let heads = heads(&app).await;
    app.set_now("2026-11-25T10:00:00Z");
    let mut body = monthly_count("weekly", 3.0, "UTC");
    body["window"]["period"] = json!("week");
    body["notify_on"] = json!(["breach", "recovered"]);
    body["effective_from"] = json!("2026-07-06");
    activate(&app, &heads, &body).await;
    let written = evaluate(&app, "weekly").await;
    // 6 July to 23 November: 20 closed weeks, plus the week in progress.
    assert_eq!(written.len(), 21);
    let breaches = expect_status(
        app.get("/api/v1/breaches?sla=weekly&limit=100", app.admin())
            .await,
        StatusCode::OK,
    )
    .await;
    let breaches = breaches["items"].as_array().unwrap();
    assert_eq!(
        breaches.len(),
        20,
        "each past week is breached and recorded"
    );
    assert!(breaches.iter().all(|b| b["historical"] == true));
    let messages = outbox(&app).await;
    let kinds: Vec<&str> = messages
        .iter()
        .filter(|(kind, _)| kind != "sla.activated" && kind != "sla.proposed")
        .map(|(kind, _)| kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        ["sla.backfilled", "sla.backfilled"],
        "one summary per team, no mail per week: {messages:?}"
    );
    // Evaluated again and a day later with reminders on: nothing more.
    let db = database(&app);
    let mut conn = db.get().unwrap();
    for later in ["2026-11-25T11:00:00Z", "2026-11-27T11:00:00Z"] {
        let report = accord::service::evaluation::run_cycle(
            &mut conn,
            at(later),
            settings(Some("24h")),
            &links(),
            None,
        )
        .unwrap();
        assert_eq!(
            report.reminders, 0,
            "historical breaches are never reminded"
        );
    }
    assert_eq!(count_of(&app, "sla.backfilled").await, 2);
    assert_eq!(count_of(&app, "breach.opened").await, 0);
    assert_eq!(count_of(&app, "breach.reminder").await, 0);
}

async fn flapping_and_silence_send_each_message_once(app: TestApp) {
    let heads = heads(&app).await;
    app.set_now("2026-11-01T00:00:00Z");
    let mut body = monthly_count("flappy", 30.0, "UTC");
    body["effective_from"] = json!("2026-11-01");
    activate(&app, &heads, &body).await;
    // Each event puts November back on pace for a while; the clock outruns it in between.
    let mut n = 0;
    for day in [4, 6, 8, 10] {
        app.set_now(&format!("2026-11-{day:02}T00:00:00Z"));
        evaluate(&app, "flappy").await;
        let batch: Vec<Value> = (0..day)
            .map(|i| {
                n += 1;
                event(
                    &format!("q{n}"),
                    "lead.qualified",
                    &format!("L{n}"),
                    &format!("2026-11-{:02}T0{}:00:00Z", day - 1, i % 10),
                    json!({}),
                )
            })
            .collect();
        post_events(&app, batch).await;
        app.set_now(&format!("2026-11-{day:02}T01:00:00Z"));
        evaluate(&app, "flappy").await;
    }
    assert_eq!(count_of(&app, "sla.at_risk").await, 2, "once per team");
    assert_eq!(
        count_of(&app, "sla.recovered").await,
        2,
        "recovered once per team, however often it flaps"
    );

    // Silence across many daily periods is one stale episode, and data coming back ends it.
    let mut daily = monthly_count("daily", 0.0, "UTC");
    daily["window"]["period"] = json!("day");
    daily["effective_from"] = json!("2026-11-10");
    app.set_now("2026-11-10T00:00:00Z");
    activate(&app, &heads, &daily).await;
    for day in 10..=18 {
        app.set_now(&format!("2026-11-{day:02}T12:00:00Z"));
        evaluate(&app, "daily").await;
    }
    assert_eq!(
        count_of(&app, "sla.data_stale").await,
        4,
        "one message per team for each SLA, not one per day"
    );
    post_events(
        &app,
        vec![event(
            "back",
            "lead.qualified",
            "L-back",
            "2026-11-18T12:00:00Z",
            json!({}),
        )],
    )
    .await;
    app.set_now("2026-11-18T13:00:00Z");
    evaluate(&app, "daily").await;
    evaluate(&app, "flappy").await;
    assert_eq!(count_of(&app, "sla.data_resumed").await, 4);
    app.set_now("2026-11-18T14:00:00Z");
    evaluate(&app, "daily").await;
    assert_eq!(count_of(&app, "sla.data_resumed").await, 4);
}

async fn a_failing_sla_leaves_the_others_evaluated_and_reminded(app: TestApp) {
    let heads = heads(&app).await;
    app.set_now("2026-10-01T00:00:00Z");
    expect_status(
        app.post(
            "/api/v1/calendars",
            &heads.sales.token,
            &office(json!({"mon": [["09:00", "17:00"]]})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    // Keys in order: the failing SLA comes first in every cycle.
    activate(&app, &heads, &follow_up("a-broken", Some("office"))).await;
    let mut healthy = monthly_count("z-healthy", 5.0, "UTC");
    healthy["effective_from"] = json!("2026-10-01");
    activate(&app, &heads, &healthy).await;
    // A version signed before calendars were kept with versions, whose calendar was deleted.
    let db = database(&app);
    break_calendar(&db);
    let mut conn = db.get().unwrap();

    app.set_now("2026-11-01T12:00:00Z");
    let mut reports = Vec::new();
    for now in ["2026-11-01T12:00:00Z", "2026-11-02T13:00:00Z"] {
        reports.push(
            accord::service::evaluation::run_cycle(
                &mut conn,
                at(now),
                settings(Some("24h")),
                &links(),
                None,
            )
            .unwrap(),
        );
    }
    for report in &reports {
        assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
        assert_eq!(report.failed[0].0, "a-broken");
        assert!(
            report.failed[0].1.contains("calendar"),
            "{:?}",
            report.failed
        );
    }
    assert!(
        reports[0]
            .written
            .iter()
            .any(|e| e.sla == "z-healthy" && e.status.as_str() == "breached"),
        "the SLA after the failing one is evaluated: {:?}",
        reports[0].written
    );
    assert_eq!(
        reports[1].reminders, 1,
        "and its October breach reminded a day later"
    );
    let board = expect_status(app.get("/api/v1/status", app.admin()).await, StatusCode::OK).await;
    let broken = board["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|line| line["sla"] == "a-broken")
        .unwrap();
    assert_eq!(broken["status"], "error", "{board}");
    assert!(
        broken["error"].as_str().unwrap().contains("calendar"),
        "{broken}"
    );
    let text = app
        .get("/api/v1/status?format=text", app.admin())
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("a-broken") && text.contains("error: "),
        "{text}"
    );
    let admin_mails: Vec<_> = outbox(&app)
        .await
        .into_iter()
        .filter(|(kind, _)| kind == "sla.evaluation_failed")
        .collect();
    assert_eq!(
        admin_mails,
        [(
            "sla.evaluation_failed".to_string(),
            "admin@accord.local".to_string()
        )],
        "the admins are told once per episode"
    );
}

/// Makes the SLA `key` (a response time on the calendar `office`) impossible to evaluate: its
/// version kept no calendar (as before versions kept them) and the calendar is gone.
fn break_calendar(db: &accord::store::Db) {
    let mut conn = db.get().unwrap();
    diesel::RunQueryDsl::execute(
        diesel::sql_query("UPDATE sla_versions SET calendar_snapshot = NULL"),
        &mut conn,
    )
    .unwrap();
    diesel::RunQueryDsl::execute(diesel::sql_query("DELETE FROM calendars"), &mut conn).unwrap();
}

async fn a_lapsed_claim_writes_nothing(app: TestApp) {
    let heads = heads(&app).await;
    app.set_now("2026-11-01T12:00:00Z");
    let mut body = monthly_count("claimed", 5.0, "UTC");
    body["effective_from"] = json!("2026-10-01");
    activate(&app, &heads, &body).await;
    let db = database(&app);
    let mut conn = db.get().unwrap();
    let sla = accord::store::slas::find_by_key(&mut conn, "claimed")
        .unwrap()
        .unwrap();
    let agreement = accord::store::slas::load(&mut conn, sla.clone()).unwrap();
    let now = at("2026-11-01T12:00:00Z");
    let clock = accord::clock::ManualClock::new(now);
    let next_due = now + chrono::Duration::seconds(60);
    let claim = accord::service::evaluation::Claim {
        owner: "replica-b",
        clock: &clock,
        next_due,
    };
    let judge = |conn: &mut accord::store::DbConn| {
        accord::service::evaluation::evaluate_and_store(
            conn,
            &agreement,
            now,
            settings(None),
            &links(),
            Some(claim),
        )
        .unwrap()
        .len()
    };
    assert_eq!(judge(&mut conn), 0, "no claim held: nothing written");
    assert!(
        accord::store::slas::claim_evaluation(
            &mut conn,
            &sla.id,
            "replica-b",
            now,
            chrono::Duration::seconds(30)
        )
        .unwrap()
    );
    clock.set(now + chrono::Duration::seconds(31));
    assert_eq!(
        judge(&mut conn),
        0,
        "the lease ran out while judging: nothing written"
    );
    assert!(history(&app, "claimed").await.is_empty());
    clock.set(now + chrono::Duration::seconds(29));
    assert_eq!(
        judge(&mut conn),
        2,
        "October and November, under a live claim"
    );
    // Writing ended the claim and set the next due time, in the same transaction.
    let claim_at = |conn: &mut accord::store::DbConn, when| {
        accord::store::slas::claim_evaluation(
            conn,
            &sla.id,
            "replica-c",
            when,
            chrono::Duration::seconds(30),
        )
        .unwrap()
    };
    assert!(
        !claim_at(&mut conn, now + chrono::Duration::seconds(59)),
        "not due again before the next due time"
    );
    assert!(
        claim_at(&mut conn, next_due),
        "due again, and no claim is left to wait for"
    );
}

async fn the_scheduler_counts_a_failing_sla(backend: Backend) {
    let app = spawn_app_with(
        TestDb::new(backend),
        &[("ACCORD_SCHEDULER", "on"), ("ACCORD_EVAL_INTERVAL", "1s")],
    )
    .await;
    app.set_now("2026-10-01T00:00:00Z");
    let heads = heads(&app).await;
    expect_status(
        app.post(
            "/api/v1/calendars",
            &heads.sales.token,
            &office(json!({"mon": [["09:00", "17:00"]]})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    activate(&app, &heads, &follow_up("a-broken", Some("office"))).await;
    break_calendar(&database(&app));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let metrics = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains("accord_sla_evaluation_failures_total{sla=\"a-broken\"}") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failure counted: {metrics}"
        );
        // The hand-set clock moves only when told: each SLA falls due again an interval later.
        app.clock.advance(chrono::Duration::seconds(2));
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let board = expect_status(app.get("/api/v1/status", app.admin()).await, StatusCode::OK).await;
    assert_eq!(board["items"][0]["status"], "error", "{board}");
}

async fn a_corrupt_sla_leaves_the_other_breaches_reminded(app: TestApp) {
    let heads = heads(&app).await;
    app.set_now("2026-10-01T00:00:00Z");
    for key in ["a-corrupt", "z-healthy"] {
        let mut body = monthly_count(key, 5.0, "UTC");
        body["effective_from"] = json!("2026-10-01");
        activate(&app, &heads, &body).await;
    }
    let db = database(&app);
    let mut conn = db.get().unwrap();
    let cycle = |conn: &mut accord::store::DbConn, now: &str| {
        accord::service::evaluation::run_cycle(conn, at(now), settings(Some("24h")), &links(), None)
            .unwrap()
    };
    let first = cycle(&mut conn, "2026-11-01T12:00:00Z");
    assert!(first.failed.is_empty(), "{:?}", first.failed);
    // Both Octobers are breached; then one SLA's stored definition is damaged.
    diesel::RunQueryDsl::execute(
        diesel::sql_query(
            "UPDATE sla_versions SET definition = '{' WHERE sla_id = (SELECT id FROM slas WHERE key = 'a-corrupt')",
        ),
        &mut conn,
    )
    .unwrap();
    let later = cycle(&mut conn, "2026-11-02T13:00:00Z");
    assert_eq!(
        later
            .failed
            .iter()
            .map(|(key, _)| key.as_str())
            .collect::<Vec<_>>(),
        ["a-corrupt"]
    );
    assert_eq!(
        later.reminders, 1,
        "the healthy SLA's breach is reminded though the other cannot be read"
    );
}

crate::for_each_backend!(the_scheduler_counts_a_failing_sla);

on_both_backends!(
    a_revision_keeps_one_version_per_instant_across_zones_and_kinds,
    a_rolling_version_is_replaced_where_its_successor_starts,
    quarters_are_judged_whole,
    retiring_mid_period_judges_only_closed_periods,
    a_signed_version_keeps_its_calendar,
    attribute_filters_match_alike_on_both_backends,
    a_pause_before_the_period_still_stops_the_clock,
    a_backfill_is_recorded_and_summed_up_once,
    flapping_and_silence_send_each_message_once,
    a_failing_sla_leaves_the_others_evaluated_and_reminded,
    a_lapsed_claim_writes_nothing,
    a_corrupt_sla_leaves_the_other_breaches_reminded,
);
