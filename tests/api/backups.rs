//! Backups: taken while accord serves, restored onto wiped storage, giving the same answers.

use std::path::Path;
use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestDb};
use crate::process::{Served, accord, admin_token, burst, call, capped_agreements, text};

/// What users would look at: agreements, their history, breaches, messages, activity and the audit log.
async fn answers(served: &Served, token: &str) -> Value {
    let mut answers = serde_json::Map::new();
    for path in [
        "/api/v1/teams",
        "/api/v1/users",
        "/api/v1/slas",
        "/api/v1/slas/cap-0/evaluations",
        "/api/v1/slas/cap-1/evaluations",
        "/api/v1/breaches",
        "/api/v1/notifications",
        "/api/v1/events?limit=1000",
        "/api/v1/audit?limit=1000",
        "/api/v1/status",
    ] {
        let answer = call(served, token, Method::GET, path, json!({})).await;
        answers.insert(path.into(), answer);
    }
    Value::Object(answers)
}

fn run(program: &str, args: &[&str]) {
    let output = Command::new(program).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        text(&output.stderr)
    );
}

/// Backs up while serving: `accord backup` on SQLite, `pg_dump` on PostgreSQL.
fn back_up(db: &TestDb, backend: Backend, to: &Path) {
    match backend {
        Backend::Sqlite => {
            let output = accord(&db.env(), &["backup", &to.display().to_string()], None);
            assert!(output.status.success(), "{}", text(&output.stderr));
        }
        Backend::Postgres => run(
            "pg_dump",
            &[
                "--format=custom",
                "--file",
                &to.display().to_string(),
                &db.url,
            ],
        ),
    }
}

/// Puts the backup in place on the wiped storage, accord stopped.
fn restore(db: &TestDb, backend: Backend, from: &Path) {
    match backend {
        Backend::Sqlite => {
            std::fs::copy(from, db.url.trim_start_matches("sqlite://")).unwrap();
        }
        Backend::Postgres => run(
            "pg_restore",
            &[
                "--no-owner",
                "--exit-on-error",
                "--dbname",
                &db.url,
                &from.display().to_string(),
            ],
        ),
    }
}

async fn a_backup_restores_the_same_answers(backend: Backend) {
    let db = TestDb::new(backend);
    let served = Served::start(&db.env(), db.dir.path().join("before.log")).await;
    let admin = admin_token(&served).await;
    capped_agreements(&served, &admin, 2).await;
    for round in 0..5 {
        for i in 0..2 {
            call(
                &served,
                &admin,
                Method::POST,
                "/api/v1/events",
                burst(round, i),
            )
            .await;
        }
    }
    for i in 0..2 {
        let path = format!("/api/v1/slas/cap-{i}/evaluate");
        call(&served, &admin, Method::POST, &path, json!({})).await;
    }
    // The breach mail is delivered (as .eml files) before the backup, so nothing moves meanwhile.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !call(
        &served,
        &admin,
        Method::GET,
        "/api/v1/notifications?status=pending",
        json!({}),
    )
    .await["items"]
        .as_array()
        .unwrap()
        .is_empty()
    {
        assert!(std::time::Instant::now() < deadline, "mail still pending");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let before = answers(&served, &admin).await;
    assert_eq!(
        before["/api/v1/breaches"]["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let backup = db.dir.path().join("accord.backup");
    back_up(&db, backend, &backup);
    served.terminate().await;

    db.wipe();
    restore(&db, backend, &backup);

    // The admin's token still works: the signing secret is in the backup too (or set, as here).
    let served = Served::start(&db.env(), db.dir.path().join("after.log")).await;
    let after = answers(&served, &admin).await;
    assert_eq!(before, after);
    let output = served.terminate().await;
    assert!(!output.contains("created the first admin"), "{output}");
}

#[test]
fn backup_refuses_to_overwrite_and_points_postgresql_to_pg_dump() {
    let db = TestDb::new(Backend::Sqlite);
    let existing = db.dir.path().join("existing.db");
    std::fs::write(&existing, "keep me").unwrap();
    let output = accord(
        &db.env(),
        &["backup", &existing.display().to_string()],
        None,
    );
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("exists already"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");

    let mut env = db.env();
    env.insert(
        "ACCORD_DATABASE_URL".into(),
        "postgres://postgres@127.0.0.1:5432/postgres".into(),
    );
    let output = accord(&env, &["backup", "/tmp/never-written.dump"], None);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("pg_dump"),
        "{}",
        text(&output.stderr)
    );
}

crate::for_each_backend!(a_backup_restores_the_same_answers);
