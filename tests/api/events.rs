//! Activity ingestion: formats, idempotency, all-or-nothing batches, limits and team rules.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, TestDb, expect_problem, expect_status, spawn_app_on, spawn_app_with,
};
use crate::on_both_backends;
use crate::process::accord;

fn event(id: usize, team: &str) -> Value {
    json!({"external_id": format!("crm-{id}"), "kind": "lead.handed_off", "subject_id": format!("lead-{id}"), "team": team,
           "occurred_at": "2026-11-03T09:12:00+01:00", "attributes": {"source": "webinar"}})
}

fn ndjson(events: &[Value]) -> String {
    events.iter().map(|e| format!("{e}\n")).collect()
}

async fn stored(app: &TestApp) -> Vec<Value> {
    let mut all = Vec::new();
    let mut path = "/api/v1/events?limit=1000".to_string();
    loop {
        let page = expect_status(app.get(&path, app.admin()).await, StatusCode::OK).await;
        all.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/events?limit=1000&cursor={cursor}"),
            None => return all,
        }
    }
}

async fn setup(app: &TestApp) {
    app.set_now("2026-11-27T12:00:00Z");
    app.create_team("marketing").await;
    app.create_team("sales").await;
}

async fn every_format_is_read(app: TestApp) {
    setup(&app).await;
    let one = expect_status(
        app.post("/api/v1/events", app.admin(), &event(1, "marketing"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(one, json!({"accepted": 1, "duplicates": 0}));
    let array = expect_status(
        app.post(
            "/api/v1/events",
            app.admin(),
            &json!([event(2, "marketing"), event(3, "sales")]),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(array["accepted"], 2);
    let lines = ndjson(&[event(4, "sales"), event(5, "sales")]);
    let nd = expect_status(
        app.post_raw("/api/v1/events", app.admin(), "application/x-ndjson", lines)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(nd["accepted"], 2);
    let csv = "external_id,kind,subject_id,team,occurred_at,attributes\n\
               crm-6,lead.contacted,lead-6,sales,2026-11-03T10:00:00-05:00,\"{\"\"channel\"\": \"\"phone\"\"}\"\n\
               crm-7,lead.contacted,lead-7,sales,2026-11-03T10:00:00Z,\n";
    let csv = expect_status(
        app.post_raw(
            "/api/v1/events",
            app.admin(),
            "text/csv; charset=utf-8",
            csv,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(csv["accepted"], 2);

    let events = stored(&app).await;
    assert_eq!(events.len(), 7);
    let first = events.iter().find(|e| e["external_id"] == "crm-1").unwrap();
    assert_eq!(
        first["occurred_at"], "2026-11-03T08:12:00Z",
        "offsets are normalised to UTC"
    );
    assert_eq!(first["attributes"], json!({"source": "webinar"}));
    let from_csv = events.iter().find(|e| e["external_id"] == "crm-6").unwrap();
    assert_eq!(from_csv["occurred_at"], "2026-11-03T15:00:00Z");
    assert_eq!(from_csv["attributes"]["channel"], "phone");
    assert_eq!(
        events.iter().find(|e| e["external_id"] == "crm-7").unwrap()["attributes"],
        json!({})
    );

    let filtered = expect_status(
        app.get(
            "/api/v1/events?kind=lead.contacted&team=sales&from=2026-11-03T12:00:00Z",
            app.admin(),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let ids: Vec<_> = filtered["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["external_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["crm-6"]);
    let by_subject = expect_status(
        app.get("/api/v1/events?subject=lead-3", app.admin()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_subject["items"].as_array().unwrap().len(), 1);
}

async fn a_replayed_batch_adds_nothing(app: TestApp) {
    setup(&app).await;
    let batch: Vec<Value> = (0..50).map(|i| event(i, "marketing")).collect();
    let body = json!(batch);
    assert_eq!(
        expect_status(
            app.post("/api/v1/events", app.admin(), &body).await,
            StatusCode::OK
        )
        .await,
        json!({"accepted": 50, "duplicates": 0})
    );
    assert_eq!(
        expect_status(
            app.post("/api/v1/events", app.admin(), &body).await,
            StatusCode::OK
        )
        .await,
        json!({"accepted": 0, "duplicates": 50})
    );
    // The same external_id twice in one batch is stored once.
    let doubled = json!([event(100, "marketing"), event(100, "marketing")]);
    assert_eq!(
        expect_status(
            app.post("/api/v1/events", app.admin(), &doubled).await,
            StatusCode::OK
        )
        .await,
        json!({"accepted": 1, "duplicates": 1})
    );
    // Concurrent retries of one batch: the unique constraint lets exactly one set in.
    let retry: Vec<Value> = (200..400).map(|i| event(i, "sales")).collect();
    let lines = ndjson(&retry);
    let answers = join_all((0..4).map(|_| {
        app.post_raw(
            "/api/v1/events",
            app.admin(),
            "application/x-ndjson",
            lines.clone(),
        )
    }))
    .await;
    let mut accepted = 0;
    for answer in answers {
        let summary = expect_status(answer, StatusCode::OK).await;
        accepted += summary["accepted"].as_u64().unwrap();
        assert_eq!(
            summary["accepted"].as_u64().unwrap() + summary["duplicates"].as_u64().unwrap(),
            200
        );
    }
    assert_eq!(accepted, 200);
    assert_eq!(stored(&app).await.len(), 50 + 1 + 200);
}

async fn one_bad_row_among_ten_thousand_stores_nothing(app: TestApp) {
    setup(&app).await;
    let mut rows: Vec<Value> = (0..10_000)
        .map(|i| event(i, if i % 2 == 0 { "marketing" } else { "sales" }))
        .collect();
    rows[6_789]["occurred_at"] = json!("yesterday");
    let problem = expect_problem(
        app.post_raw(
            "/api/v1/events",
            app.admin(),
            "application/x-ndjson",
            ndjson(&rows),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        problem["errors"],
        json!({"line 6790.occurred_at": "\"yesterday\" is not an RFC 3339 timestamp"})
    );
    assert_eq!(
        problem["items"],
        json!([{"line": 6790, "field": "occurred_at", "reason": "\"yesterday\" is not an RFC 3339 timestamp"}])
    );
    assert!(
        problem["detail"].as_str().unwrap().contains("1 of 10000"),
        "{problem}"
    );
    assert!(stored(&app).await.is_empty(), "nothing was stored");

    let mut csv = String::from("external_id,kind,subject_id,team,occurred_at,attributes\n");
    for i in 0..10_000 {
        let team = if i == 4_321 { "legal" } else { "sales" };
        csv.push_str(&format!(
            "csv-{i},lead.contacted,lead-{i},{team},2026-11-03T10:00:00Z,\n"
        ));
    }
    let problem = expect_problem(
        app.post_raw("/api/v1/events", app.admin(), "text/csv", csv)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        problem["errors"],
        json!({"line 4323.team": "no team with slug \"legal\""}),
        "the header is line 1"
    );

    let mut array: Vec<Value> = (0..20).map(|i| event(i, "sales")).collect();
    array[3]["kind"] = json!("Lead Contacted");
    array[7]["occurred_at"] = json!("2026-11-27T12:06:00Z");
    array[9].as_object_mut().unwrap().remove("subject_id");
    array[11]["colour"] = json!("red");
    let problem = expect_problem(
        app.post("/api/v1/events", app.admin(), &json!(array)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let errors = problem["errors"].as_object().unwrap();
    assert!(errors.contains_key("[3].kind"), "{problem}");
    assert!(
        errors["[7].occurred_at"]
            .as_str()
            .unwrap()
            .contains("future"),
        "{problem}"
    );
    assert_eq!(errors["[9].subject_id"], "is required");
    assert!(errors.keys().any(|k| k.starts_with("[11].")), "{problem}");
    assert!(stored(&app).await.is_empty());
}

async fn quoted_csv_fields_keep_commas_quotes_and_newlines(app: TestApp) {
    setup(&app).await;
    let csv = concat!(
        "external_id,kind,subject_id,team,occurred_at,attributes\n",
        r#""crm-1,a",lead.created,"Smith, John ""JJ""",marketing,2026-11-03T09:00:00Z,"{""note"": ""call back, after 5"","#,
        "\n",
        r#" ""region"": ""EMEA""}""#,
        "\n",
        "crm-2,lead.created,lead-2,marketing,2026-11-03T09:01:00Z,\n",
    );
    let summary = expect_status(
        app.post_raw("/api/v1/events", app.admin(), "text/csv", csv)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(summary["accepted"], 2);
    let events = stored(&app).await;
    assert_eq!(events[0]["external_id"], "crm-1,a");
    assert_eq!(events[0]["subject_id"], "Smith, John \"JJ\"");
    assert_eq!(
        events[0]["attributes"],
        json!({"note": "call back, after 5", "region": "EMEA"})
    );
    let broken = "external_id,kind,subject_id,team,occurred_at,attributes\ncrm-3,lead.created,lead-3,marketing\n";
    let problem = expect_problem(
        app.post_raw("/api/v1/events", app.admin(), "text/csv", broken)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(problem["errors"]["line 2.body"].is_string(), "{problem}");
    let no_header = "crm-3,lead.created,lead-3,marketing,2026-11-03T09:01:00Z,\n";
    expect_problem(
        app.post_raw("/api/v1/events", app.admin(), "text/csv", no_header)
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

async fn teams_post_only_their_own_events(app: TestApp) {
    setup(&app).await;
    let marketer = app.create_user(Some("marketing"), "member").await;
    let ok = app
        .post(
            "/api/v1/events",
            &marketer.token,
            &json!([event(1, "marketing")]),
        )
        .await;
    expect_status(ok, StatusCode::OK).await;
    let mixed = json!([event(2, "marketing"), event(3, "sales")]);
    let problem = expect_problem(
        app.post("/api/v1/events", &marketer.token, &mixed).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("sales"),
        "{problem}"
    );
    assert_eq!(
        stored(&app).await.len(),
        1,
        "nothing of the refused batch was stored"
    );

    // A token bound to a team writes that team's events only; one of no team (an admin's, for a
    // central CRM sync) writes any team's.
    let (writer, _) = app
        .create_service_token(Some("marketing"), &["events:write"])
        .await;
    expect_problem(
        app.post("/api/v1/events", &writer, &mixed).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let (central, _) = app.create_service_token(None, &["events:write"]).await;
    expect_status(
        app.post("/api/v1/events", &central, &mixed).await,
        StatusCode::OK,
    )
    .await;
    let (reader, _) = app.create_service_token(None, &["status:read"]).await;
    let problem = expect_problem(
        app.post("/api/v1/events", &reader, &json!([event(9, "sales")]))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("events:write"),
        "{problem}"
    );
    expect_problem(
        app.request(
            reqwest::Method::POST,
            "/api/v1/events",
            None,
            Some(&event(9, "sales")),
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(stored(&app).await.len(), 3);
}

async fn bad_uploads_are_refused_whole(app: TestApp) {
    setup(&app).await;
    expect_problem(
        app.post_raw("/api/v1/events", app.admin(), "application/xml", "<event/>")
            .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    expect_problem(
        app.post_raw(
            "/api/v1/events",
            app.admin(),
            "application/json",
            "[{\"external_id\": ",
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect_problem(
        app.post_raw("/api/v1/events", app.admin(), "application/json", "[]")
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let problem = expect_problem(
        app.post_raw(
            "/api/v1/events",
            app.admin(),
            "application/x-ndjson",
            "{\"external_id\": 1\nnot json\n",
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        problem["errors"]["line 1.external_id"].is_string()
            && problem["errors"]["line 2.body"].is_string(),
        "{problem}"
    );
    assert!(stored(&app).await.is_empty());
}

async fn limits_on_body_size_and_batch_length_are_413(backend: Backend) {
    let app = spawn_app_with(
        TestDb::new(backend),
        &[
            ("ACCORD_EVENTS_MAX_BYTES", "20000"),
            ("ACCORD_EVENTS_MAX_BATCH", "50"),
        ],
    )
    .await;
    setup(&app).await;
    let big: Vec<Value> = (0..200).map(|i| event(i, "sales")).collect();
    let problem = expect_problem(
        app.post_raw(
            "/api/v1/events",
            app.admin(),
            "application/x-ndjson",
            ndjson(&big),
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("20000"),
        "{problem}"
    );
    let long: Vec<Value> = (0..51).map(|i| event(i, "sales")).collect();
    let body = ndjson(&long);
    assert!(body.len() < 20_000);
    let problem = expect_problem(
        app.post_raw("/api/v1/events", app.admin(), "application/x-ndjson", body)
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("50 events"),
        "{problem}"
    );
    let problem = expect_problem(
        app.post("/api/v1/events", app.admin(), &json!(long)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("50"),
        "{problem}"
    );
    expect_status(
        app.post_raw(
            "/api/v1/events",
            app.admin(),
            "application/x-ndjson",
            ndjson(&long[..50]),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(stored(&app).await.len(), 50);
}

/// Attributes that are well-formed JSON but read back as `null`: a number beyond a double, and
/// nesting past serde_json's 128 levels.
fn unreadable_attributes() -> [String; 2] {
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    [r#"{"a": 1e999}"#.to_string(), format!(r#"{{"a": {deep}}}"#)]
}

fn with_attributes(id: &str, attributes: &str) -> String {
    format!(
        r#"{{"external_id": "{id}", "kind": "lead.created", "subject_id": "L-{id}", "team": "sales", "occurred_at": "2026-11-03T09:12:00Z", "attributes": {attributes}}}"#
    )
}

async fn attributes_that_cannot_be_read_back_are_refused(app: TestApp) {
    setup(&app).await;
    let good = event(1, "sales").to_string();
    for attributes in unreadable_attributes() {
        let bad = with_attributes("bad", &attributes);
        let problem = expect_problem(
            app.post_raw(
                "/api/v1/events",
                app.admin(),
                "application/json",
                format!("[{good}, {bad}]"),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(problem["errors"]["[1].attributes"].is_string(), "{problem}");
        let problem = expect_problem(
            app.post_raw(
                "/api/v1/events",
                app.admin(),
                "application/x-ndjson",
                format!("{good}\n{bad}\n"),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(
            problem["errors"]["line 2.attributes"].is_string(),
            "{problem}"
        );
        let csv = format!(
            "external_id,kind,subject_id,team,occurred_at,attributes\n\
             c-1,lead.created,L1,sales,2026-11-03T09:12:00Z,\n\
             c-2,lead.created,L2,sales,2026-11-03T09:12:00Z,\"{}\"\n",
            attributes.replace('"', "\"\"")
        );
        let problem = expect_problem(
            app.post_raw("/api/v1/events", app.admin(), "text/csv", csv)
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(
            problem["errors"]["line 3.attributes"].is_string(),
            "{problem}"
        );
    }
    assert!(stored(&app).await.is_empty());

    // At the edges, attributes are stored and read back as sent.
    let nested = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    let edge = format!(r#"{{"max": 1.7976931348623157e308, "tiny": 5e-324, "nested": {nested}}}"#);
    expect_status(
        app.post_raw(
            "/api/v1/events",
            app.admin(),
            "application/json",
            with_attributes("edge", &edge),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let events = stored(&app).await;
    let expected: Value = serde_json::from_str(&edge).unwrap();
    assert_eq!(events[0]["attributes"], expected);
}

async fn import_refuses_attributes_that_cannot_be_read_back(backend: Backend) {
    let db = TestDb::new(backend);
    let env = db.env();
    let app = spawn_app_on(db).await;
    setup(&app).await;
    let [out_of_range, deep] = unreadable_attributes();
    let lines = [
        with_attributes("i-1", r#"{"source": "ads"}"#),
        with_attributes("i-2", &out_of_range),
        with_attributes("i-3", &deep),
    ]
    .join("\n");
    let import = accord(
        &env,
        &["import", "-", "--format", "ndjson"],
        Some(lines.as_str()),
    );
    let stderr = String::from_utf8_lossy(&import.stderr);
    assert_eq!(import.status.code(), Some(1), "{stderr}");
    for line in ["skipped line 2: attributes", "skipped line 3: attributes"] {
        assert!(stderr.contains(line), "{stderr}");
    }
    assert!(stderr.contains("3 read, 1 new"), "{stderr}");
    let events = stored(&app).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["attributes"], json!({"source": "ads"}));
}

on_both_backends!(
    attributes_that_cannot_be_read_back_are_refused,
    every_format_is_read,
    a_replayed_batch_adds_nothing,
    one_bad_row_among_ten_thousand_stores_nothing,
    quoted_csv_fields_keep_commas_quotes_and_newlines,
    teams_post_only_their_own_events,
    bad_uploads_are_refused_whole,
);

crate::for_each_backend!(
    limits_on_body_size_and_batch_length_are_413,
    import_refuses_attributes_that_cannot_be_read_back,
);
