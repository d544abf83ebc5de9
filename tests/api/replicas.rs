//! Several `accord serve` processes on one database: on PostgreSQL they share the scheduler and
//! the outbox, also when one is killed mid-work; on SQLite a second server is refused.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, TestDb};
use crate::process::{Served, accord, admin_token, burst, call, capped_agreements, text};
use crate::smtp::SmtpSink;

/// SLAs in the run; each caps its own event kind at a different count, so that they break at
/// different moments of the stream, some while a replica is down.
const SLAS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_mail_every_breach_once_though_one_is_killed() {
    let sink = SmtpSink::start().await;
    let db = TestDb::new(Backend::Postgres);
    let mut env = db.env();
    for (var, value) in [
        ("ACCORD_SCHEDULER", "on"),
        ("ACCORD_EVAL_INTERVAL", "1s"),
        ("ACCORD_LEASE", "3s"),
        ("ACCORD_RETRY_BASE", "1s"),
        ("ACCORD_REMIND_EVERY", "0"),
    ] {
        env.insert(var.into(), value.into());
    }
    env.insert("ACCORD_SMTP_URL".into(), sink.url());
    let log = |name: &str| db.dir.path().join(format!("{name}.log"));
    // The first start migrates and creates the admin; the others join an existing database.
    let mut replicas = vec![Some(Served::start(&env, log("replica-0")).await)];
    for n in 1..3 {
        replicas.push(Some(
            Served::start(&env, log(&format!("replica-{n}"))).await,
        ));
    }
    let admin = admin_token(replicas[0].as_ref().unwrap()).await;
    capped_agreements(replicas[0].as_ref().unwrap(), &admin, SLAS).await;

    // A stream of events and evaluations spread over the live replicas; replica 1 is killed in
    // the middle of it (its scheduler and dispatcher busy) and comes back later.
    for round in 0..8 {
        if round == 3 {
            let killed = replicas[1].take().unwrap().kill();
            assert!(killed.contains("scheduler started"), "{killed}");
        }
        if round == 6 {
            replicas[1] = Some(Served::start(&env, log("replica-1-restarted")).await);
        }
        let live: Vec<&Served> = replicas.iter().flatten().collect();
        for i in 0..SLAS {
            let to = live[(round + i) % live.len()];
            call(to, &admin, Method::POST, "/api/v1/events", burst(round, i)).await;
        }
        // On-demand evaluations race the schedulers of all replicas.
        for (n, to) in live.iter().enumerate() {
            let path = format!("/api/v1/slas/cap-{}/evaluate", (round + n) % SLAS);
            call(to, &admin, Method::POST, &path, json!({})).await;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }

    // Every cap is broken by now: one breach per SLA, mailed to each team.
    let expected = SLAS * 2;
    let breached = sink.wait_for("[accord] BREACHED", expected).await;
    assert_eq!(breached.len(), expected, "{breached:#?}");
    // Longer than a lease and a few cycles: a message sent twice would have arrived by now.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut mails: HashMap<(String, String), usize> = HashMap::new();
    for message in sink.messages() {
        for to in &message.to {
            *mails.entry((to.clone(), message.subject())).or_default() += 1;
        }
    }
    for ((to, subject), count) in &mails {
        assert_eq!(*count, 1, "{subject} to {to} arrived {count} times");
    }
    for i in 0..SLAS {
        for team in ["marketing", "sales"] {
            let to = format!("{team}@example.com");
            assert!(
                mails.keys().any(
                    |(t, s)| *t == to && s.starts_with(&format!("[accord] BREACHED: Cap {i} "))
                ),
                "no breach mail for cap-{i} to {to}: {mails:#?}"
            );
        }
    }

    let any = replicas[0].as_ref().unwrap();
    let breaches = call(
        any,
        &admin,
        Method::GET,
        "/api/v1/breaches?limit=100",
        json!({}),
    )
    .await;
    let breaches = breaches["items"].as_array().unwrap();
    assert_eq!(breaches.len(), SLAS, "one breach per SLA: {breaches:#?}");
    for i in 0..SLAS {
        // One evaluation of the month, holding every event of the stream.
        let path = format!("/api/v1/slas/cap-{i}/evaluations");
        let history = call(any, &admin, Method::GET, &path, json!({})).await;
        let items = history["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{items:#?}");
        assert_eq!(items[0]["value"].as_f64(), Some(8.0), "cap-{i}: {items:#?}");
        assert_eq!(items[0]["status"], "breached");
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let pending = call(
            any,
            &admin,
            Method::GET,
            "/api/v1/notifications?status=pending",
            json!({}),
        )
        .await;
        if pending["items"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "messages still pending: {pending:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let failed = call(
        any,
        &admin,
        Method::GET,
        "/api/v1/notifications?status=failed",
        json!({}),
    )
    .await;
    assert_eq!(failed["items"], json!([]));
    // Sharing is not failing: no replica logged an error (a conflict, a failed cycle or delivery).
    for served in replicas.into_iter().flatten() {
        let log = served.terminate().await;
        assert!(!log.contains("ERROR"), "{log}");
    }
    sink.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_one_sqlite_file_is_refused() {
    let db = TestDb::new(Backend::Sqlite);
    let env = db.env();
    let first = Served::start(&env, db.dir.path().join("first.log")).await;

    let mut second = env.clone();
    second.insert("ACCORD_BIND".into(), "127.0.0.1:0".into());
    let refused = accord(&second, &["serve"], None);
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("another accord serve is already serving") && !stderr.contains("panicked"),
        "{stderr}"
    );
    // One-shot commands still work beside the server: SQLite serialises their writes.
    let evaluated = accord(&env, &["evaluate"], None);
    assert!(evaluated.status.success(), "{}", text(&evaluated.stderr));

    // The lock belongs to the process: a crashed server leaves nothing to clean up.
    first.kill();
    let after_crash = Served::start(&env, db.dir.path().join("after-crash.log")).await;
    let admin = admin_token(&after_crash).await;
    let me = call(
        &after_crash,
        &admin,
        Method::GET,
        "/api/v1/users/me",
        json!({}),
    )
    .await;
    assert_eq!(me["email"], "admin@accord.local");
    after_crash.terminate().await;
}
