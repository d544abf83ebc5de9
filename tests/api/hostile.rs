//! Hostile input: SQL-injection-shaped strings in every filter, query parameter, cursor and path
//! are refused with a 4xx or match nothing, change nothing, and are stored verbatim as values.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Account, TestApp, expect_problem, expect_status};
use crate::on_both_backends;

/// Strings shaped like SQL injections, as an attacker would paste them into any field.
const HOSTILE: [&str; 8] = [
    "' OR '1'='1",
    "'; DROP TABLE events; --",
    "%' --",
    "\" OR 1=1 --",
    "Robert'); DROP TABLE slas;--",
    "1 UNION SELECT id, email FROM users --",
    "'||(SELECT sqlite_version())||'",
    "x'); SELECT pg_sleep(10); --",
];

/// Percent-encodes one path segment or query value (everything but unreserved characters).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct World {
    marketing: Account,
    sales: Account,
    breach: String,
}

/// Two teams with a head each, a calendar, a service token, a signed monthly SLA whose October
/// is breached, and the events behind it.
async fn world(app: &TestApp) -> World {
    app.set_now("2026-10-20T10:00:00Z");
    app.create_team("marketing").await;
    app.create_team("sales").await;
    let marketing = app.create_user(Some("marketing"), "head").await;
    let sales = app.create_user(Some("sales"), "head").await;
    app.create_service_token(Some("marketing"), &["events:write"])
        .await;
    let calendar = json!({"key": "emea-office", "name": "EMEA office", "timezone": "Europe/Berlin",
        "hours": {"mon": [["09:00", "17:00"]]}, "holidays": ["2026-12-25"]});
    expect_status(
        app.post("/api/v1/calendars", app.admin(), &calendar).await,
        StatusCode::CREATED,
    )
    .await;
    let sla = json!({"key": "mql", "name": "MQL volume", "provider": "marketing", "consumer": "sales",
        "metric": {"kind": "count", "event": "lead.qualified"}, "objective": {"op": ">=", "target": 4},
        "window": {"kind": "calendar", "period": "month", "timezone": "UTC"}, "effective_from": "2026-10-01"});
    expect_status(
        app.post("/api/v1/slas", &marketing.token, &sla).await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.post("/api/v1/slas/mql/approve", &sales.token, &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let events: Vec<Value> = (0..3)
        .map(|i| json!({"external_id": format!("q{i}"), "kind": "lead.qualified", "subject_id": format!("L{i}"),
            "team": "marketing", "occurred_at": "2026-10-10T10:00:00Z", "attributes": {"source": "webinar"}}))
        .collect();
    expect_status(
        app.post("/api/v1/events", app.admin(), &json!(events))
            .await,
        StatusCode::OK,
    )
    .await;
    app.set_now("2026-11-01T12:00:00Z");
    expect_status(
        app.post("/api/v1/slas/mql/evaluate", app.admin(), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let breaches = expect_status(
        app.get("/api/v1/breaches", app.admin()).await,
        StatusCode::OK,
    )
    .await;
    let breach = breaches["items"][0]["id"].as_str().unwrap().to_string();
    World {
        marketing,
        sales,
        breach,
    }
}

/// How many rows every list shows, read through the API: a dropped or emptied table, or a row
/// written by a refused request, changes it (and a dropped table would make its list fail).
async fn snapshot(app: &TestApp) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for (name, path) in [
        ("teams", "/api/v1/teams"),
        ("users", "/api/v1/users"),
        ("service-tokens", "/api/v1/service-tokens"),
        ("calendars", "/api/v1/calendars"),
        ("slas", "/api/v1/slas"),
        ("versions", "/api/v1/slas/mql/versions"),
        ("evaluations", "/api/v1/slas/mql/evaluations"),
        ("events", "/api/v1/events"),
        ("breaches", "/api/v1/breaches"),
        ("notifications", "/api/v1/notifications"),
        ("audit", "/api/v1/audit"),
    ] {
        let separator = if path.contains('?') { '&' } else { '?' };
        let page = expect_status(
            app.get(&format!("{path}{separator}limit=1000"), app.admin())
                .await,
            StatusCode::OK,
        )
        .await;
        assert!(page["next_cursor"].is_null(), "{name}: fewer than 1000");
        counts.insert(name, page["items"].as_array().unwrap().len());
    }
    counts
}

/// A GET that must answer `expected`: a problem+json for a 4xx, an empty list for a 200.
async fn probe(app: &TestApp, path: &str, expected: StatusCode) {
    let response = app.get(path, app.admin()).await;
    if expected.is_success() {
        let body = expect_status(response, expected).await;
        assert_eq!(body["items"], json!([]), "{path} matched something: {body}");
    } else {
        expect_problem(response, expected).await;
    }
}

async fn injection_shaped_filters_are_refused_or_match_nothing(app: TestApp) {
    world(&app).await;
    let before = snapshot(&app).await;
    let range = "from=2026-01-01T00:00:00Z&to=2026-12-31T00:00:00Z";
    use StatusCode as S;
    for hostile in HOSTILE {
        let v = encode(hostile);
        let cases = [
            // Filters compared for equality match nothing.
            (format!("/api/v1/events?kind={v}"), S::OK),
            (format!("/api/v1/events?subject={v}"), S::OK),
            (format!("/api/v1/breaches?sla={v}"), S::OK),
            (format!("/api/v1/audit?entity_type={v}"), S::OK),
            (format!("/api/v1/audit?entity_id={v}"), S::OK),
            (format!("/api/v1/audit?actor={v}"), S::OK),
            (format!("/api/v1/audit?action={v}"), S::OK),
            (
                format!("/api/v1/audit?entity_type=sla&entity_id={v}&actor={v}"),
                S::OK,
            ),
            // A team that does not exist is named as the bad field.
            (format!("/api/v1/events?team={v}"), S::UNPROCESSABLE_ENTITY),
            (format!("/api/v1/slas?team={v}"), S::UNPROCESSABLE_ENTITY),
            (format!("/api/v1/status?team={v}"), S::UNPROCESSABLE_ENTITY),
            (
                format!("/api/v1/reports/compliance?{range}&team={v}"),
                S::UNPROCESSABLE_ENTITY,
            ),
            // Closed vocabularies, instants, numbers and cursors do not parse.
            (format!("/api/v1/slas?status={v}"), S::BAD_REQUEST),
            (format!("/api/v1/breaches?status={v}"), S::BAD_REQUEST),
            (format!("/api/v1/notifications?status={v}"), S::BAD_REQUEST),
            (format!("/api/v1/status?format={v}"), S::BAD_REQUEST),
            (format!("/api/v1/events?from={v}"), S::BAD_REQUEST),
            (format!("/api/v1/events?to={v}"), S::BAD_REQUEST),
            (format!("/api/v1/audit?from={v}"), S::BAD_REQUEST),
            (format!("/api/v1/audit?to={v}"), S::BAD_REQUEST),
            (
                format!("/api/v1/slas/mql/evaluations?from={v}"),
                S::BAD_REQUEST,
            ),
            (
                format!("/api/v1/slas/mql/evaluations?to={v}"),
                S::BAD_REQUEST,
            ),
            (
                format!("/api/v1/reports/compliance?from={v}&to=2026-12-31T00:00:00Z"),
                S::BAD_REQUEST,
            ),
            (
                format!("/api/v1/reports/compliance?from=2026-01-01T00:00:00Z&to={v}"),
                S::BAD_REQUEST,
            ),
            (format!("/api/v1/teams?limit={v}"), S::BAD_REQUEST),
            // Paths name nothing.
            (format!("/api/v1/teams/{v}"), S::NOT_FOUND),
            (format!("/api/v1/users/{v}"), S::NOT_FOUND),
            (format!("/api/v1/calendars/{v}"), S::NOT_FOUND),
            (format!("/api/v1/slas/{v}"), S::NOT_FOUND),
            (format!("/api/v1/slas/{v}/versions"), S::NOT_FOUND),
            (format!("/api/v1/slas/{v}/evaluations"), S::NOT_FOUND),
            (format!("/api/v1/slas/{v}/violations"), S::NOT_FOUND),
            (format!("/api/v1/breaches/{v}"), S::NOT_FOUND),
        ];
        for (path, expected) in &cases {
            probe(&app, path, *expected).await;
        }
        // A cursor is refused by every list, whether it is raw or dressed as one of ours.
        let dressed = {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1:{hostile}"))
        };
        for list in [
            "/api/v1/teams",
            "/api/v1/users",
            "/api/v1/service-tokens",
            "/api/v1/calendars",
            "/api/v1/slas",
            "/api/v1/events",
            "/api/v1/breaches",
            "/api/v1/notifications",
            "/api/v1/audit",
            "/api/v1/slas/mql/evaluations",
        ] {
            probe(&app, &format!("{list}?cursor={v}"), S::BAD_REQUEST).await;
            // A well-formed cursor holding the string is only a position: never an error, never SQL.
            let response = app
                .get(&format!("{list}?cursor={dressed}"), app.admin())
                .await;
            let status = response.status();
            assert!(
                status == S::OK || status == S::BAD_REQUEST,
                "{list} with a dressed cursor: {status}"
            );
        }
        // Writes aimed at nothing.
        for path in [
            format!("/api/v1/slas/{v}/approve"),
            format!("/api/v1/slas/{v}/retire"),
            format!("/api/v1/slas/{v}/evaluate"),
            format!("/api/v1/breaches/{v}/resolve"),
            format!("/api/v1/notifications/{v}/retry"),
        ] {
            expect_problem(app.post(&path, app.admin(), &json!({})).await, S::NOT_FOUND).await;
        }
        for path in [
            format!("/api/v1/service-tokens/{v}"),
            format!("/api/v1/calendars/{v}"),
            format!("/api/v1/users/{v}"),
        ] {
            expect_problem(app.delete(&path, app.admin()).await, S::NOT_FOUND).await;
        }
        // The simulator with a stored SLA's key that is not one.
        let body =
            json!({"sla": hostile, "from": "2026-01-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"});
        expect_problem(
            app.post("/api/v1/slas/simulate", app.admin(), &body).await,
            S::NOT_FOUND,
        )
        .await;
    }
    assert_eq!(snapshot(&app).await, before, "nothing changed");
    // The data the filters were aimed at is still there and still found.
    let found = expect_status(
        app.get(
            "/api/v1/events?kind=lead.qualified&team=marketing",
            app.admin(),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(found["items"].as_array().unwrap().len(), 3);
}

async fn get_json(app: &TestApp, path: &str) -> Value {
    expect_status(app.get(path, app.admin()).await, StatusCode::OK).await
}

async fn injection_shaped_values_are_stored_verbatim(app: TestApp) {
    let World {
        marketing,
        sales,
        breach,
    } = world(&app).await;
    app.set_now("2026-11-02T12:00:00Z");
    for (i, hostile) in HOSTILE.iter().enumerate() {
        let hostile = *hostile;
        // A team's name, created and changed.
        let slug = format!("team-{i}");
        let team = json!({"slug": slug, "name": hostile, "email": format!("{slug}@example.com")});
        let created = expect_status(
            app.post("/api/v1/teams", app.admin(), &team).await,
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(created["name"], hostile);
        let renamed = format!("{hostile} (renamed)");
        expect_status(
            app.patch(
                &format!("/api/v1/teams/{slug}"),
                app.admin(),
                &json!({"name": renamed}),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(
            get_json(&app, &format!("/api/v1/teams/{slug}")).await["name"],
            renamed
        );

        // An account's and a service token's name.
        let email = format!("user-{i}@example.com");
        let user = json!({"email": email, "name": hostile, "team": slug, "role": "member",
            "password": "a-long-enough-password"});
        let user = expect_status(
            app.post("/api/v1/users", app.admin(), &user).await,
            StatusCode::CREATED,
        )
        .await;
        let id = user["id"].as_str().unwrap();
        assert_eq!(
            get_json(&app, &format!("/api/v1/users/{id}")).await["name"],
            hostile
        );
        let token = json!({"name": hostile, "team": slug, "scopes": ["status:read"]});
        let token = expect_status(
            app.post("/api/v1/service-tokens", app.admin(), &token)
                .await,
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(token["name"], hostile);

        // A calendar's name.
        let key = format!("calendar-{i}");
        let calendar = json!({"key": key, "name": hostile, "timezone": "UTC", "hours": {"tue": [["09:00", "17:00"]]}});
        expect_status(
            app.post("/api/v1/calendars", app.admin(), &calendar).await,
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(
            get_json(&app, &format!("/api/v1/calendars/{key}")).await["name"],
            hostile
        );

        // An SLA's name and description, and a filter on an attribute with that name and value;
        // then a rejection with that reason.
        let key = format!("sla-{i}");
        let sla = json!({"key": key, "name": hostile, "description": hostile, "provider": "marketing",
            "consumer": "sales", "metric": {"kind": "count", "event": "lead.qualified",
                "filter": {"attributes": {hostile: [hostile]}}},
            "objective": {"op": ">=", "target": 1},
            "window": {"kind": "calendar", "period": "month", "timezone": "UTC"}, "effective_from": "2026-10-01"});
        let created = expect_status(
            app.post("/api/v1/slas", &marketing.token, &sla).await,
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(created["name"], hostile);
        assert_eq!(created["description"], hostile);
        assert_eq!(
            created["metric"]["filter"]["attributes"][hostile],
            json!([hostile])
        );
        // An event's ids and attributes, in JSON and in CSV; the filters find them by the same
        // strings.
        let subject = format!("{hostile} #{i}");
        let event = json!({"external_id": hostile, "kind": "lead.qualified", "subject_id": subject,
            "team": "marketing", "occurred_at": "2026-10-11T10:00:00Z", "attributes": {hostile: hostile}});
        let stored = expect_status(
            app.post("/api/v1/events", app.admin(), &event).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(stored["accepted"], 1);
        let found = get_json(
            &app,
            &format!("/api/v1/events?subject={}", encode(&subject)),
        )
        .await;
        let items = found["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{found}");
        assert_eq!(items[0]["external_id"], hostile);
        assert_eq!(items[0]["subject_id"], subject.as_str());
        assert_eq!(items[0]["attributes"], json!({hostile: hostile}));
        let quoted = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let csv = format!(
            "external_id,kind,subject_id,team,occurred_at,attributes\n{},lead.contacted,{},sales,2026-10-11T11:00:00Z,{}\n",
            quoted(&format!("csv {hostile}")),
            quoted(&subject),
            quoted(&json!({"note": hostile}).to_string()),
        );
        let stored = expect_status(
            app.post_raw("/api/v1/events", app.admin(), "text/csv", csv)
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(stored["accepted"], 1);
        let found = get_json(
            &app,
            &format!(
                "/api/v1/events?subject={}&kind=lead.contacted",
                encode(&subject)
            ),
        )
        .await;
        assert_eq!(found["items"][0]["external_id"], format!("csv {hostile}"));
        assert_eq!(found["items"][0]["attributes"]["note"], hostile);

        // The filter on the hostile attribute finds exactly the one event that has it.
        let simulated = expect_status(
            app.post(
                "/api/v1/slas/simulate",
                app.admin(),
                &json!({"sla": key, "from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(
            simulated["items"][0]["value"], 1.0,
            "the one matching event: {simulated}"
        );
        expect_status(
            app.post(
                &format!("/api/v1/slas/{key}/reject"),
                &sales.token,
                &json!({"reason": hostile}),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        let versions = get_json(&app, &format!("/api/v1/slas/{key}/versions")).await;
        assert_eq!(versions["items"][0]["reason"], hostile);
    }

    // Notes and reasons on a breach.
    let hostile = HOSTILE[4];
    let acknowledged = expect_status(
        app.post(
            &format!("/api/v1/breaches/{breach}/acknowledge"),
            &sales.token,
            &json!({"note": hostile}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(acknowledged["note"], hostile);
    let disputed = expect_status(
        app.post(
            &format!("/api/v1/breaches/{breach}/dispute"),
            &marketing.token,
            &json!({"reason": HOSTILE[1]}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(disputed["dispute_reason"], HOSTILE[1]);
    let shown = get_json(&app, &format!("/api/v1/breaches/{breach}")).await;
    assert_eq!(shown["note"], hostile);
    assert_eq!(shown["dispute_reason"], HOSTILE[1]);

    // Everything is still there: the tables the strings name were not dropped.
    let events = get_json(&app, "/api/v1/events?limit=1000").await;
    assert_eq!(
        events["items"].as_array().unwrap().len(),
        3 + 2 * HOSTILE.len()
    );
    let slas = get_json(&app, "/api/v1/slas?limit=1000").await;
    assert_eq!(slas["items"].as_array().unwrap().len(), 1 + HOSTILE.len());
}

async fn injection_shaped_keys_are_refused_and_write_nothing(app: TestApp) {
    let World { marketing, .. } = world(&app).await;
    let before = snapshot(&app).await;
    for hostile in HOSTILE {
        let cases = [
            (
                "/api/v1/teams",
                app.admin(),
                json!({"slug": hostile, "name": "Team", "email": "team@example.com"}),
                "slug",
            ),
            (
                "/api/v1/calendars",
                app.admin(),
                json!({"key": hostile, "name": "Calendar", "timezone": "UTC", "hours": {}}),
                "key",
            ),
            (
                "/api/v1/slas",
                marketing.token.as_str(),
                json!({"key": hostile, "name": "SLA", "provider": "marketing", "consumer": "sales",
                    "metric": {"kind": "count", "event": "lead.qualified"}, "objective": {"op": ">=", "target": 1},
                    "window": {"kind": "calendar", "period": "month", "timezone": "UTC"}}),
                "key",
            ),
            (
                "/api/v1/slas",
                marketing.token.as_str(),
                json!({"key": "fine", "name": "SLA", "provider": "marketing", "consumer": "sales",
                    "metric": {"kind": "count", "event": hostile}, "objective": {"op": ">=", "target": 1},
                    "window": {"kind": "calendar", "period": "month", "timezone": "UTC"}}),
                "metric.event",
            ),
            (
                "/api/v1/slas",
                marketing.token.as_str(),
                json!({"key": "fine", "name": "SLA", "provider": hostile, "consumer": "sales",
                    "metric": {"kind": "count", "event": "lead.qualified"}, "objective": {"op": ">=", "target": 1},
                    "window": {"kind": "calendar", "period": "month", "timezone": "UTC"}}),
                "provider",
            ),
            (
                "/api/v1/users",
                app.admin(),
                json!({"email": hostile, "name": "Someone", "team": "sales", "role": "member",
                    "password": "a-long-enough-password"}),
                "email",
            ),
            (
                "/api/v1/users",
                app.admin(),
                json!({"email": "someone@example.com", "name": "Someone", "team": hostile, "role": "member",
                    "password": "a-long-enough-password"}),
                "team",
            ),
            (
                "/api/v1/events",
                app.admin(),
                json!({"external_id": "e-1", "kind": hostile, "subject_id": "L1", "team": "marketing",
                    "occurred_at": "2026-10-11T10:00:00Z"}),
                "kind",
            ),
            (
                "/api/v1/events",
                app.admin(),
                json!({"external_id": "e-1", "kind": "lead.qualified", "subject_id": "L1", "team": hostile,
                    "occurred_at": "2026-10-11T10:00:00Z"}),
                "team",
            ),
        ];
        for (path, token, body, field) in cases {
            let problem = expect_problem(
                app.post(path, token, &body).await,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
            let errors = problem["errors"].as_object().unwrap();
            assert!(
                errors.keys().any(|k| k.ends_with(field)),
                "{path} {hostile}: {problem}"
            );
        }
    }
    assert_eq!(snapshot(&app).await, before, "nothing was written");
}

/// A NUL character, which PostgreSQL refuses in text and jsonb, is refused on both backends
/// wherever it comes in: a body field is a 422 naming it, a query string or path a 400.
async fn nul_characters_are_refused_and_write_nothing(app: TestApp) {
    let world = world(&app).await;
    let before = snapshot(&app).await;
    let event = |field: &str, value: Value| {
        let mut event = json!({"external_id": "nul-1", "kind": "lead.qualified", "subject_id": "L1",
            "team": "marketing", "occurred_at": "2026-10-11T10:00:00Z"});
        event[field] = value;
        event
    };
    let ndjson = format!("{}\n", event("subject_id", json!("L\u{0}1")));
    let csv_header = "external_id,kind,subject_id,team,occurred_at,attributes\n";
    // (what, response, status, field named in `errors`)
    let mut cases = vec![
        (
            "external_id",
            app.post("/api/v1/events", app.admin(), &event("external_id", json!("nul\u{0}1")))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "[0].external_id",
        ),
        (
            "subject_id",
            app.post("/api/v1/events", app.admin(), &json!([event("subject_id", json!("L\u{0}1"))]))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "[0].subject_id",
        ),
        (
            "attribute value",
            app.post("/api/v1/events", app.admin(), &event("attributes", json!({"note": "a\u{0}b"})))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "[0].attributes",
        ),
        (
            "attribute key",
            app.post("/api/v1/events", app.admin(), &event("attributes", json!({"a": [{"b\u{0}": 1}]})))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "[0].attributes",
        ),
        (
            "NDJSON escape",
            app.post_raw("/api/v1/events", app.admin(), "application/x-ndjson", ndjson)
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "line 1.subject_id",
        ),
        (
            "NDJSON byte",
            app.post_raw(
                "/api/v1/events",
                app.admin(),
                "application/x-ndjson",
                format!("{}\n", event("subject_id", json!("L1"))).replace("L1", "L\u{0}1"),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "line 1.subject_id",
        ),
        (
            "CSV byte",
            app.post_raw(
                "/api/v1/events",
                app.admin(),
                "text/csv",
                format!("{csv_header}nul\u{0}1,lead.qualified,L1,marketing,2026-10-11T10:00:00Z,\n"),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "line 2.external_id",
        ),
        (
            "CSV attributes",
            app.post_raw(
                "/api/v1/events",
                app.admin(),
                "text/csv",
                format!("{csv_header}nul-1,lead.qualified,L1,marketing,2026-10-11T10:00:00Z,\"{{\"\"a\"\": \"\"\\u0000\"\"}}\"\n"),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "line 2.attributes",
        ),
        (
            "team name",
            app.post(
                "/api/v1/teams",
                app.admin(),
                &json!({"slug": "nul", "name": "N\u{0}L", "email": "nul@example.com"}),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            "breach note",
            app.post(
                &format!("/api/v1/breaches/{}/acknowledge", world.breach),
                &world.marketing.token,
                &json!({"note": "on it\u{0}"}),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "note",
        ),
    ];
    for path in [
        "/api/v1/events?kind=a%00b",
        "/api/v1/events?subject=L%001",
        "/api/v1/audit?cursor=%00",
        "/api/v1/teams/market%00ing",
        "/api/v1/slas/mql%00/versions",
        "/api/v1/users/%00",
    ] {
        cases.push((
            path,
            app.get(path, app.admin()).await,
            StatusCode::BAD_REQUEST,
            "",
        ));
    }
    let mut seen = Vec::new();
    let mut wrong = false;
    for (what, response, expected, field) in cases {
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let named = field.is_empty() || body["errors"][field].is_string();
        wrong |= status != expected || !named;
        seen.push(format!("{what}: {status} {body}"));
    }
    assert!(!wrong, "{}", seen.join("\n"));
    assert_eq!(snapshot(&app).await, before, "nothing was written");
}

on_both_backends!(
    nul_characters_are_refused_and_write_nothing,
    injection_shaped_filters_are_refused_or_match_nothing,
    injection_shaped_values_are_stored_verbatim,
    injection_shaped_keys_are_refused_and_write_nothing,
);
