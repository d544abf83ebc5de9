//! Breaches and their messages against a real SMTP server and a webhook receiver on loopback:
//! one message per team, retries while the server is down, nothing twice.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestDb, expect_problem, expect_status, spawn_app_with};
use crate::smtp::{SmtpSink, free_port};

/// marketing → sales, at least 4 qualified leads a month (UTC), from October 2026.
pub(crate) async fn breached_october(
    app: &TestApp,
) -> (crate::helpers::Account, crate::helpers::Account) {
    app.set_now("2026-10-20T10:00:00Z");
    app.create_team("marketing").await;
    app.create_team("sales").await;
    let marketing = app.create_user(Some("marketing"), "head").await;
    let sales = app.create_user(Some("sales"), "head").await;
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
        .map(|i| json!({"external_id": format!("q{i}"), "kind": "lead.qualified", "subject_id": format!("L{i}"), "team": "marketing", "occurred_at": "2026-10-10T10:00:00Z"}))
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
    (marketing, sales)
}

async fn notifications(app: &TestApp, query: &str) -> Vec<Value> {
    app.items(
        &format!("/api/v1/notifications?limit=1000{query}"),
        app.admin(),
    )
    .await
}

async fn a_breach_mails_each_team_once(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(
        TestDb::new(backend),
        &[
            ("ACCORD_SMTP_URL", &sink.url()),
            ("ACCORD_MAIL_FROM", "accord <accord@example.com>"),
        ],
    )
    .await;
    let (marketing, sales) = breached_october(&app).await;

    let mails = sink.wait_for("[accord] BREACHED", 2).await;
    assert_eq!(
        mails.len(),
        2,
        "{:?}",
        sink.messages()
            .iter()
            .map(|m| m.subject())
            .collect::<Vec<_>>()
    );
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(to, ["marketing@example.com", "sales@example.com"]);
    let mail = &mails[0];
    assert_eq!(
        mail.subject(),
        "[accord] BREACHED: MQL volume (marketing → sales), October 2026 (2026-10)"
    );
    assert!(
        mail.data.contains("multipart/alternative") && mail.data.contains("text/html"),
        "text and HTML parts"
    );
    let text = crate::messages::text_part(mail);
    for figure in [
        "October 2026, Thu 1 – Sat 31 Oct 2026, UTC",
        "Target: at least 4",
        "3 lead.qualified",
        "version 1",
        "http://accord.test/slas/mql",
        "http://accord.test/breaches/",
    ] {
        assert!(text.contains(figure), "{figure} in:\n{text}");
    }
    // The heads were told about the proposal and the activation too.
    assert_eq!(sink.wait_for("[accord] ACTIVE", 2).await.len(), 2);

    // Evaluating again, any number of times, opens no second breach and sends nothing twice.
    for _ in 0..3 {
        expect_status(
            app.post("/api/v1/slas/mql/evaluate", app.admin(), &json!({}))
                .await,
            StatusCode::OK,
        )
        .await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        sink.messages()
            .iter()
            .filter(|m| m.subject().starts_with("[accord] BREACHED"))
            .count(),
        2
    );
    let breaches = expect_status(
        app.get("/api/v1/breaches?sla=mql", app.admin()).await,
        StatusCode::OK,
    )
    .await;
    let items = breaches["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let breach = &items[0];
    assert_eq!(
        (
            breach["status"].as_str(),
            breach["value"].as_f64(),
            breach["target"].as_f64()
        ),
        (Some("open"), Some(3.0), Some(4.0))
    );
    assert_eq!(breach["period_start"], "2026-10-01T00:00:00Z");

    // The provider's head disputes it; both teams hear the reason. Only an open or acknowledged one can be.
    let id = breach["id"].as_str().unwrap();
    expect_problem(
        app.post(
            &format!("/api/v1/breaches/{id}/dispute"),
            &sales.token,
            &json!({"reason": "no"}),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_problem(
        app.post(
            &format!("/api/v1/breaches/{id}/acknowledge"),
            &sales.token,
            &json!({"note": " "}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let acked = expect_status(
        app.post(
            &format!("/api/v1/breaches/{id}/acknowledge"),
            &sales.token,
            &json!({"note": "we will chase marketing"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (acked["status"].as_str(), acked["acknowledged_by"].as_str()),
        (Some("acknowledged"), Some(sales.email.as_str()))
    );
    let disputed = expect_status(
        app.post(
            &format!("/api/v1/breaches/{id}/dispute"),
            &marketing.token,
            &json!({"reason": "the CRM lost a day of data"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(disputed["dispute_reason"], "the CRM lost a day of data");
    let told = sink.wait_for("[accord] DISPUTED", 2).await;
    assert_eq!(told.len(), 2);
    assert!(told[0].data.contains("the CRM lost a day of data"));
    expect_status(
        app.post(
            &format!("/api/v1/breaches/{id}/resolve"),
            &sales.token,
            &json!({"note": "settled"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect_problem(
        app.post(
            &format!("/api/v1/breaches/{id}/resolve"),
            &sales.token,
            &json!({}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    sink.stop();
}

async fn a_late_event_withdraws_the_breach(backend: Backend) {
    let sink = SmtpSink::start().await;
    // With credentials in the URL, accord signs in to the server first.
    let url = format!("smtp://accord:s3cret@127.0.0.1:{}", sink.port);
    let app = spawn_app_with(TestDb::new(backend), &[("ACCORD_SMTP_URL", &url)]).await;
    breached_october(&app).await;
    assert_eq!(sink.wait_for("[accord] BREACHED", 2).await.len(), 2);
    let late = json!([{"external_id": "late", "kind": "lead.qualified", "subject_id": "L9", "team": "marketing", "occurred_at": "2026-10-31T23:00:00Z"}]);
    expect_status(
        app.post("/api/v1/events", app.admin(), &late).await,
        StatusCode::OK,
    )
    .await;
    expect_status(
        app.post("/api/v1/slas/mql/evaluate", app.admin(), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(sink.wait_for("[accord] WITHDRAWN", 2).await.len(), 2);
    let breaches = expect_status(
        app.get("/api/v1/breaches", app.admin()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(breaches["items"][0]["status"], "withdrawn");
    assert!(
        !sink.logins().is_empty() && sink.logins().iter().all(|l| l == "accord:s3cret"),
        "{:?}",
        sink.logins()
    );
    sink.stop();
}

async fn mail_waits_out_a_server_that_is_down(backend: Backend) {
    let port = free_port();
    let app = spawn_app_with(
        TestDb::new(backend),
        &[
            ("ACCORD_SMTP_URL", &format!("smtp://127.0.0.1:{port}")),
            ("ACCORD_RETRY_BASE", "1m"),
            ("ACCORD_MAX_ATTEMPTS", "3"),
        ],
    )
    .await;
    breached_october(&app).await;
    // Every message fails once and waits for its retry.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let pending = notifications(&app, "&status=pending").await;
        if !pending.is_empty() && pending.iter().all(|n| n["attempts"].as_i64() == Some(1)) {
            assert!(
                pending
                    .iter()
                    .all(|n| n["last_error"].as_str().is_some_and(|e| e.contains("smtp"))),
                "{pending:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failed attempt recorded: {pending:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let sink = SmtpSink::start_on(port).await;
    // The retry comes after the backoff (a minute, ±20 %): move the clock past it.
    app.clock.advance(chrono::Duration::minutes(2));
    let breached = sink.wait_for("[accord] BREACHED", 2).await;
    assert_eq!(breached.len(), 2);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !notifications(&app, "&status=pending").await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "messages still pending"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let subjects: Vec<String> = sink
        .messages()
        .iter()
        .map(|m| format!("{} {:?}", m.subject(), m.to))
        .collect();
    let mut unique = subjects.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        subjects.len(),
        unique.len(),
        "each message arrives once: {subjects:?}"
    );
    let sent = notifications(&app, "&status=sent").await;
    assert!(
        sent.iter().all(|n| n["attempts"].as_i64() == Some(2)),
        "{sent:?}"
    );
    sink.stop();
}

async fn failed_messages_can_be_retried(backend: Backend) {
    let port = free_port();
    let app = spawn_app_with(
        TestDb::new(backend),
        &[
            ("ACCORD_SMTP_URL", &format!("smtp://127.0.0.1:{port}")),
            ("ACCORD_RETRY_BASE", "1m"),
            ("ACCORD_MAX_ATTEMPTS", "1"),
        ],
    )
    .await;
    breached_october(&app).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let failed = loop {
        let failed = notifications(&app, "&status=failed").await;
        if failed
            .iter()
            .filter(|n| n["kind"] == "breach.opened")
            .count()
            == 2
        {
            break failed;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no message failed: {:?}",
            notifications(&app, "").await
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let sink = SmtpSink::start_on(port).await;
    let member = app.create_user(Some("sales"), "member").await;
    let one = failed
        .iter()
        .find(|n| n["kind"] == "breach.opened")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    expect_problem(
        app.post(
            &format!("/api/v1/notifications/{one}/retry"),
            &member.token,
            &json!({}),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let retried = expect_status(
        app.post(
            &format!("/api/v1/notifications/{one}/retry"),
            app.admin(),
            &json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(retried["status"], "pending");
    assert_eq!(sink.wait_for("[accord] BREACHED", 1).await.len(), 1);
    expect_problem(
        app.post(
            &format!("/api/v1/notifications/{one}/retry"),
            app.admin(),
            &json!({}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    sink.stop();
}

/// What a webhook receiver got: the status it answered and the body.
type Posts = Arc<Mutex<Vec<(u16, Value)>>>;

/// A webhook receiver on loopback that answers 500 to the first post of each message and 200 after.
async fn webhook_receiver() -> (String, Posts) {
    let seen: Posts = Arc::new(Mutex::new(Vec::new()));
    let state = web::Data::new(seen.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new().app_data(state.clone()).route(
            "/hook",
            web::post().to(
                |seen: web::Data<Posts>, body: web::Json<Value>| async move {
                    let mut seen = seen.lock().unwrap();
                    let body = body.into_inner();
                    let status = if seen
                        .iter()
                        .any(|(_, earlier)| earlier["text"] == body["text"])
                    {
                        200
                    } else {
                        500
                    };
                    seen.push((status, body));
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                        .finish()
                },
            ),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    (format!("http://127.0.0.1:{port}/hook"), seen)
}

async fn webhooks_are_posted_and_retried(backend: Backend) {
    let (url, seen) = webhook_receiver().await;
    let app = spawn_app_with(TestDb::new(backend), &[("ACCORD_RETRY_BASE", "1m")]).await;
    app.create_team("marketing").await;
    app.create_team("sales").await;
    expect_status(
        app.patch(
            "/api/v1/teams/sales",
            app.admin(),
            &json!({"webhook_url": url}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    // The rest of the setup finds the teams in place.
    app.set_now("2026-10-20T10:00:00Z");
    let marketing = app.create_user(Some("marketing"), "head").await;
    let sales = app.create_user(Some("sales"), "head").await;
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
    app.set_now("2026-11-01T12:00:00Z");
    expect_status(
        app.post("/api/v1/slas/mql/evaluate", app.admin(), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let breached = |seen: &[(u16, Value)]| -> Vec<(u16, Value)> {
        seen.iter()
            .filter(|(_, body)| {
                body["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("BREACHED"))
            })
            .cloned()
            .collect()
    };
    while breached(&seen.lock().unwrap()).is_empty() {
        assert!(std::time::Instant::now() < deadline, "no webhook post");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    app.clock.advance(chrono::Duration::minutes(2));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while breached(&seen.lock().unwrap()).len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the 500 was not retried: {:?}",
            seen.lock().unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let seen = breached(&seen.lock().unwrap());
    assert_eq!(
        seen.len(),
        2,
        "posted, refused with 500, posted again, accepted: {seen:?}"
    );
    let (first, second) = (&seen[0], &seen[1]);
    assert_eq!((first.0, second.0), (500, 200));
    assert_eq!(first.1, second.1, "the same message");
    assert_eq!(
        second.1["text"],
        "[accord] BREACHED: MQL volume (marketing → sales), October 2026 (2026-10)"
    );
    assert!(second.1["blocks"].as_array().is_some_and(|b| !b.is_empty()));
}

async fn without_smtp_mail_is_written_as_eml_files(backend: Backend) {
    let app = spawn_app_with(TestDb::new(backend), &[]).await;
    breached_october(&app).await;
    let outbox = app.data_dir().join("outbox");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let breached = loop {
        let files: Vec<String> = std::fs::read_dir(&outbox)
            .map(|dir| {
                dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        let breached: Vec<String> = files
            .into_iter()
            .filter(|f| f.contains("BREACHED") || f.contains("=?utf-8?b?W2FjY29yZF0gQlJFQUNIRUQ"))
            .collect();
        if breached.len() >= 2 || std::time::Instant::now() > deadline {
            break breached;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        breached.len(),
        2,
        "one .eml per team in {}",
        outbox.display()
    );
    assert!(
        breached
            .iter()
            .any(|f| f.contains("To: marketing@example.com"))
            && breached.iter().any(|f| f.contains("To: sales@example.com"))
    );
}

async fn open_breaches_are_reminded(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(TestDb::new(backend), &[("ACCORD_SMTP_URL", &sink.url())]).await;
    breached_october(&app).await;
    assert_eq!(sink.wait_for("[accord] BREACHED", 2).await.len(), 2);
    // A scheduler cycle a day later reminds both teams, once.
    let url = accord::config::DatabaseUrl::parse(app.database_url()).unwrap();
    let db = accord::store::Db::open(&url).unwrap();
    let settings = accord::service::evaluation::Settings {
        grace: "48h".parse().unwrap(),
        stale_after: "48h".parse().unwrap(),
        remind_every: Some("24h".parse().unwrap()),
    };
    let links = accord::service::breaches::Links {
        public_url: "http://accord.test".into(),
    };
    app.set_now("2026-11-02T13:00:00Z");
    let later = chrono::DateTime::parse_from_rfc3339("2026-11-02T13:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    for _ in 0..2 {
        let mut conn = db.get().unwrap();
        let report =
            accord::service::evaluation::run_cycle(&mut conn, later, settings, &links, None)
                .unwrap();
        assert!(report.reminders <= 1);
    }
    assert_eq!(sink.wait_for("[accord] STILL OPEN", 2).await.len(), 2);
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert_eq!(
        sink.messages()
            .iter()
            .filter(|m| m.subject().starts_with("[accord] STILL OPEN"))
            .count(),
        2,
        "reminded once per span"
    );
    sink.stop();
}

crate::for_each_backend!(
    a_breach_mails_each_team_once,
    a_late_event_withdraws_the_breach,
    mail_waits_out_a_server_that_is_down,
    failed_messages_can_be_retried,
    webhooks_are_posted_and_retried,
    without_smtp_mail_is_written_as_eml_files,
    open_breaches_are_reminded,
    at_risk_and_recovery_are_told_as_notify_on_asks,
);

async fn at_risk_and_recovery_are_told_as_notify_on_asks(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(TestDb::new(backend), &[("ACCORD_SMTP_URL", &sink.url())]).await;
    app.set_now("2026-11-01T00:00:00Z");
    app.create_team("marketing").await;
    app.create_team("sales").await;
    let marketing = app.create_user(Some("marketing"), "head").await;
    let sales = app.create_user(Some("sales"), "head").await;
    let sla = json!({"key": "pace", "name": "MQL pace", "provider": "marketing", "consumer": "sales",
        "metric": {"kind": "count", "event": "lead.qualified"}, "objective": {"op": ">=", "target": 10},
        "window": {"kind": "calendar", "period": "month", "timezone": "UTC"}, "notify_on": ["breach", "at_risk", "recovered"]});
    expect_status(
        app.post("/api/v1/slas", &marketing.token, &sla).await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.post("/api/v1/slas/pace/approve", &sales.token, &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let qualified = |from: usize, to: usize| {
        json!((from..to).map(|i| json!({"external_id": format!("q{i}"), "kind": "lead.qualified", "subject_id": format!("L{i}"), "team": "marketing", "occurred_at": "2026-11-02T10:00:00Z"})).collect::<Vec<_>>())
    };
    // Mid-month with 2 of 10: projected 4, at risk.
    app.set_now("2026-11-16T00:00:00Z");
    expect_status(
        app.post("/api/v1/events", app.admin(), &qualified(0, 2))
            .await,
        StatusCode::OK,
    )
    .await;
    let at_risk = expect_status(
        app.post("/api/v1/slas/pace/evaluate", app.admin(), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(at_risk["items"][0]["status"], "at_risk");
    assert_eq!(sink.wait_for("[accord] AT RISK", 2).await.len(), 2);
    expect_status(
        app.post("/api/v1/slas/pace/evaluate", app.admin(), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    // Eight more: 10 reached, met.
    expect_status(
        app.post("/api/v1/events", app.admin(), &qualified(2, 10))
            .await,
        StatusCode::OK,
    )
    .await;
    let met = expect_status(
        app.post("/api/v1/slas/pace/evaluate", app.admin(), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(met["items"][0]["status"], "met");
    assert_eq!(sink.wait_for("[accord] RECOVERED", 2).await.len(), 2);
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(
        sink.messages()
            .iter()
            .filter(|m| m.subject().starts_with("[accord] AT RISK"))
            .count(),
        2,
        "told once"
    );
    sink.stop();
}
