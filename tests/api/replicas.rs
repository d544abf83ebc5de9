//! Several `accord serve` processes on one database: on PostgreSQL they share the scheduler and
//! the outbox, also when one is killed mid-work; on SQLite a second server is refused.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, TestDb};
use crate::process::{Served, accord, admin_token, burst, call, capped_agreements, sign_in, text};
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

    // Every cap is broken by now: one breach per SLA. Each team hears of each breach in exactly
    // one mail: the breach's own (`BREACHED`) or the summary of the cycle that found it with
    // others (`N BREACHES`).
    let any = replicas[0].as_ref().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let ids: Vec<String> = loop {
        let breaches = call(
            any,
            &admin,
            Method::GET,
            "/api/v1/breaches?limit=100",
            json!({}),
        )
        .await;
        let ids: Vec<String> = breaches["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["id"].as_str().unwrap().to_string())
            .collect();
        if ids.len() >= SLAS || Instant::now() > deadline {
            break ids;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ids.len(), SLAS, "one breach per SLA");
    let teams = ["marketing@example.com", "sales@example.com"];
    let telling = |to: &str, id: &str| {
        sink.messages()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == to))
            .filter(|m| {
                let subject = m.subject();
                subject.starts_with("[accord] BREACHED") || subject.contains(" BREACHES for ")
            })
            // Quoted-printable folds long lines with a trailing `=`.
            .filter(|m| m.data.replace("=\r\n", "").replace("=\n", "").contains(id))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline
        && !teams
            .iter()
            .all(|to| ids.iter().all(|id| telling(to, id) >= 1))
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Longer than a lease and a few cycles: a message sent twice would have arrived by now.
    tokio::time::sleep(Duration::from_secs(5)).await;
    for to in teams {
        for id in &ids {
            assert_eq!(telling(to, id), 1, "breach {id} told to {to}");
        }
    }
    // No message arrives twice: each recipient sees each Message-ID once (two summaries of
    // different cycles may share a subject, never an id).
    let mut mails: HashMap<(String, String), usize> = HashMap::new();
    for message in sink.messages() {
        let id = message
            .data
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .expect("every mail has a Message-ID")
            .to_string();
        for to in &message.to {
            *mails.entry((to.clone(), id.clone())).or_default() += 1;
        }
    }
    for ((to, id), count) in &mails {
        assert_eq!(*count, 1, "{id} to {to} arrived {count} times");
    }

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

/// `GET /status` of `served` as the admin.
async fn status_of(served: &Served, admin: &str) -> serde_json::Value {
    call(served, admin, Method::GET, "/api/v1/status", json!({})).await
}

/// Polls `served`'s `/status` for up to a second until `cap-0`'s value is `want`.
async fn shows_within_a_second(served: &Served, admin: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let board = status_of(served, admin).await;
        if board["items"][0]["value"].as_f64() == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} still shows {board} after 1 s",
            served.address
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evaluation_through_one_replica_shows_in_every_replicas_status_within_a_second() {
    let db = TestDb::new(Backend::Postgres);
    let env = db.env();
    let log = |name: &str| db.dir.path().join(format!("{name}.log"));
    let mut replicas = Vec::new();
    for n in 0..3 {
        replicas.push(Served::start(&env, log(&format!("replica-{n}"))).await);
    }
    let admin = admin_token(&replicas[0]).await;
    capped_agreements(&replicas[0], &admin, 1).await;
    // Each replica has read (and keeps) the board: the SLA is not evaluated yet.
    for served in &replicas {
        let board = status_of(served, &admin).await;
        assert_eq!(board["items"][0]["sla"], "cap-0", "{board}");
        assert_eq!(
            board["items"][0]["value"],
            serde_json::Value::Null,
            "{board}"
        );
    }
    for (round, value) in [(0, 1.0), (1, 2.0)] {
        // Written and evaluated through one replica (a different one each round)...
        let writer = &replicas[round];
        call(
            writer,
            &admin,
            Method::POST,
            "/api/v1/events",
            burst(round, 0),
        )
        .await;
        call(
            writer,
            &admin,
            Method::POST,
            "/api/v1/slas/cap-0/evaluate",
            json!({}),
        )
        .await;
        // ...it shows at once there, and within a second in the others.
        let board = status_of(writer, &admin).await;
        assert_eq!(board["items"][0]["value"].as_f64(), Some(value), "{board}");
        for served in &replicas {
            shows_within_a_second(served, &admin, value).await;
        }
    }
    // A deactivated account loses access on every replica within a second too.
    let member = json!({"email": "member@example.com", "name": "Member", "team": "sales",
        "role": "member", "password": "member-password-123"});
    let created = call(&replicas[0], &admin, Method::POST, "/api/v1/users", member).await;
    let token = sign_in(&replicas[0], "member@example.com", "member-password-123").await;
    for served in &replicas {
        status_of(served, &token).await;
    }
    let path = format!("/api/v1/users/{}", created["id"].as_str().unwrap());
    call(&replicas[1], &admin, Method::DELETE, &path, json!({})).await;
    for served in &replicas {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let status = reqwest::Client::new()
                .get(format!("{}/api/v1/status", served.address))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .status();
            if status == reqwest::StatusCode::UNAUTHORIZED {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} still answers a deactivated account after 1 s",
                served.address
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for served in replicas {
        let log = served.terminate().await;
        assert!(!log.contains("ERROR"), "{log}");
    }
}
