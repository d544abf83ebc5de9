//! `/metrics` as operators watch it: SLA values and statuses, open breaches, the outbox, ingestion
//! and bounded labels.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};

use crate::helpers::{Backend, TestApp, TestDb, spawn_app_with};
use crate::smtp::{SmtpSink, free_port};

async fn scrape(app: &TestApp) -> String {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

/// The value of the series `series` (name and labels exactly as exposed), if it is there.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Scrapes until `holds` is true of the text, for up to 15 s.
async fn scrape_until(app: &TestApp, what: &str, holds: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = scrape(app).await;
        if holds(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "{what}:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn the_gauges_follow_a_breach_and_its_messages(backend: Backend) {
    // Mail cannot be delivered at first: nothing listens on the port yet.
    let port = free_port();
    let smtp_url = format!("smtp://127.0.0.1:{port}");
    let app = spawn_app_with(TestDb::new(backend), &[("ACCORD_SMTP_URL", &smtp_url)]).await;
    let before = scrape(&app).await;
    assert_eq!(
        value(&before, "accord_outbox_messages{status=\"pending\"}"),
        Some(0.0)
    );
    assert_eq!(
        value(&before, "accord_outbox_oldest_pending_age_seconds"),
        Some(0.0)
    );

    crate::notifications::breached_october(&app).await;
    let text = scrape(&app).await;
    // The board shows November, just begun; October's breach is open.
    for (series, want) in [
        ("accord_sla_target{sla=\"mql\"}", 4.0),
        ("accord_sla_value{sla=\"mql\"}", 0.0),
        ("accord_sla_status{sla=\"mql\",status=\"on_track\"}", 1.0),
        ("accord_sla_status{sla=\"mql\",status=\"breached\"}", 0.0),
        ("accord_breaches_open{sla=\"mql\"}", 1.0),
        ("accord_slas_failing", 0.0),
        (
            "accord_events_ingested_total{kind=\"lead.qualified\",team=\"marketing\"}",
            3.0,
        ),
    ] {
        assert_eq!(value(&text, series), Some(want), "{series} in\n{text}");
    }
    assert!(
        value(&text, "accord_sla_evaluation_age_seconds{sla=\"mql\"}").is_some(),
        "{text}"
    );
    let pending = value(&text, "accord_outbox_messages{status=\"pending\"}").unwrap();
    assert!(pending >= 2.0, "both teams' breach mails wait:\n{text}");
    app.clock.advance(chrono::Duration::minutes(10));
    let text = scrape(&app).await;
    let age = value(&text, "accord_outbox_oldest_pending_age_seconds").unwrap();
    assert!(
        age >= 600.0,
        "the oldest waits since the evaluation: {age}\n{text}"
    );

    // The mail server comes up, the retries fall due, and the messages go out.
    let sink = SmtpSink::start_on(port).await;
    app.clock.advance(chrono::Duration::hours(2));
    let text = scrape_until(&app, "the messages were not sent", |text| {
        value(text, "accord_outbox_messages{status=\"pending\"}") == Some(0.0)
    })
    .await;
    assert!(
        value(&text, "accord_outbox_messages{status=\"sent\"}").unwrap() >= 2.0,
        "{text}"
    );
    assert_eq!(
        value(&text, "accord_outbox_oldest_pending_age_seconds"),
        Some(0.0)
    );
    assert!(!sink.messages().is_empty());
    sink.stop();
}

async fn an_unknown_http_method_makes_no_new_series(backend: Backend) {
    let app = spawn_app_with(TestDb::new(backend), &[]).await;
    for method in ["FOO", "BREW", "PROPFIND"] {
        let response = app
            .client
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                app.url("/api/v1/teams"),
            )
            .bearer_auth(app.admin())
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{method}");
    }
    let text = scrape(&app).await;
    for method in ["FOO", "BREW", "PROPFIND"] {
        assert!(!text.contains(method), "{method} became a label:\n{text}");
    }
    let others: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("accord_http_requests_total{method=\"other\""))
        .collect();
    assert_eq!(others.len(), 1, "one series for all three: {others:?}");
    assert!(others[0].ends_with(" 3"), "{others:?}");
}

crate::for_each_backend!(
    the_gauges_follow_a_breach_and_its_messages,
    an_unknown_http_method_makes_no_new_series,
);
