//! The `accord` binary itself: settings, commands, first start, restarts and SIGTERM.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestDb, expect_status};
use crate::process::{Served, accord, admin_token, call, text};

#[test]
fn bad_settings_fail_at_start_with_one_clear_line() {
    let db = TestDb::new(Backend::Sqlite);
    let cases = [
        ("ACCORD_DATABASE_URL", "mysql://localhost/accord"),
        ("ACCORD_BIND", "8080"),
        ("ACCORD_JWT_SECRET", "short"),
        ("ACCORD_LOG_FORMAT", "xml"),
        ("ACCORD_LOG", "accord=loud"),
    ];
    for (var, value) in cases {
        let mut env = db.env();
        env.insert(var.into(), value.into());
        let output = accord(&env, &["serve"], None);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{var}={value}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line for {var}: {stderr}");
        assert!(
            stderr.contains(var) && !stderr.contains("panicked"),
            "{stderr}"
        );
    }

    let mut env = db.env();
    env.insert(
        "ACCORD_DATABASE_URL".into(),
        "postgres://accord@127.0.0.1:1/accord".into(),
    );
    let output = accord(&env, &["serve"], None);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot open postgres://127.0.0.1:1/accord")
            && !stderr.contains("panicked"),
        "{stderr}"
    );
}

async fn the_cli_prepares_an_instance_that_serve_then_uses(backend: Backend) {
    let db = TestDb::new(backend);
    let mut env = db.env();
    env.remove("ACCORD_PASSWORD");

    let migrated = accord(&env, &["migrate"], None);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));

    let added = accord(
        &env,
        &[
            "user",
            "add",
            "--email",
            "Ops@Example.com",
            "--name",
            "Ops",
            "--role",
            "admin",
        ],
        Some("ops-password-123\n"),
    );
    assert!(added.status.success(), "{}", text(&added.stderr));
    let again = accord(
        &env,
        &[
            "user",
            "add",
            "--email",
            "ops@example.com",
            "--name",
            "Ops",
            "--role",
            "admin",
        ],
        Some("ops-password-123\n"),
    );
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );
    let no_team = accord(
        &env,
        &[
            "user",
            "add",
            "--email",
            "h@example.com",
            "--name",
            "H",
            "--role",
            "head",
        ],
        Some("head-password-123\n"),
    );
    assert!(
        !no_team.status.success() && text(&no_team.stderr).contains("team"),
        "{}",
        text(&no_team.stderr)
    );

    let issued = accord(
        &env,
        &[
            "token",
            "issue",
            "--email",
            "ops@example.com",
            "--ttl",
            "2h",
        ],
        None,
    );
    assert!(
        issued.status.success(),
        "{:?}: {}",
        issued.status,
        text(&issued.stderr)
    );
    let stdout = text(&issued.stdout);
    assert_eq!(
        stdout.lines().count(),
        1,
        "only the token on stdout: {stdout}"
    );
    let token = stdout.trim();
    assert_eq!(token.split('.').count(), 3, "{token}");

    let served = Served::start(&env, db.dir.path().join("serve.log")).await;
    let client = reqwest::Client::new();
    let me = client
        .get(format!("{}/api/v1/users/me", served.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let me = expect_status(me, StatusCode::OK).await;
    assert_eq!(me["email"], "ops@example.com");
    let signed_in = client
        .post(format!("{}/api/v1/auth/token", served.address))
        .json(&json!({"email": "ops@example.com", "password": "ops-password-123"}))
        .send()
        .await
        .unwrap();
    expect_status(signed_in, StatusCode::OK).await;
    let output = served.terminate().await;
    assert!(
        !output.contains("created the first admin"),
        "accounts existed already:\n{output}"
    );
}

/// One-shot commands run where no instance was set up say so, create nothing, and fail.
async fn one_shot_commands_never_create_a_database(backend: Backend) {
    let db = TestDb::new(backend);
    let env = db.env();
    let events = db.dir.path().join("events.ndjson");
    std::fs::write(&events, "").unwrap();
    let backup = db.dir.path().join("copy.db");
    let commands: [&[&str]; 5] = [
        &["token", "issue", "--email", "admin@accord.local"],
        &[
            "user",
            "add",
            "--email",
            "a@example.com",
            "--name",
            "A",
            "--role",
            "admin",
        ],
        &["evaluate"],
        &["import", events.to_str().unwrap()],
        &["backup", backup.to_str().unwrap()],
    ];
    for args in commands {
        if backend == Backend::Postgres && args[0] == "backup" {
            continue; // pg_dump's job: refused before any database is opened
        }
        let output = accord(&env, args, None);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("no accord database at ")
                && stderr.contains("run `accord serve` or `accord migrate` first"),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    match backend {
        Backend::Sqlite => {
            let file = db.url.trim_start_matches("sqlite://");
            assert!(
                !std::path::Path::new(file).exists(),
                "no database file was created"
            );
            assert!(!backup.exists());
        }
        Backend::Postgres => {
            let served = Served::start(&env, db.dir.path().join("serve.log")).await;
            let output = served.terminate().await;
            assert!(
                output.contains("created the first admin"),
                "the database was still empty:\n{output}"
            );
        }
    }
    // Once `migrate` has set the instance up, the same command gets as far as the accounts.
    let migrated = accord(&env, &["migrate"], None);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    let issued = accord(
        &env,
        &["token", "issue", "--email", "nobody@example.com"],
        None,
    );
    assert!(
        text(&issued.stderr).contains("no account with email nobody@example.com"),
        "{}",
        text(&issued.stderr)
    );
}

async fn first_start_creates_an_admin_once_and_tokens_survive_a_restart(backend: Backend) {
    let db = TestDb::new(backend);
    let mut env = db.env();
    env.remove("ACCORD_PASSWORD");
    env.remove("ACCORD_JWT_SECRET");

    let served = Served::start(&env, db.dir.path().join("first.log")).await;
    let output = served.output();
    assert!(output.contains("created the first admin"), "{output}");
    let password = output
        .lines()
        .find_map(|line| line.trim().strip_prefix("password: "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no password in:\n{output}"))
        .to_string();
    // The hint's command works as printed, pointed at this server's port.
    let printed = output
        .lines()
        .find_map(|line| line.trim().strip_prefix("curl "))
        .unwrap_or_else(|| panic!("no curl command in:\n{output}"))
        .replace("http://accord.test", &served.address);
    assert!(printed.contains(&password), "{printed}");
    let answered = Command::new("sh")
        .args(["-c", &format!("curl --fail {printed}")])
        .output()
        .unwrap();
    assert!(
        answered.status.success(),
        "curl {printed}: {}",
        text(&answered.stderr)
    );
    let answered: serde_json::Value = serde_json::from_slice(&answered.stdout).unwrap();
    let token = answered["access_token"].as_str().unwrap().to_string();
    let client = reqwest::Client::new();
    served.terminate().await;

    let served = Served::start(&env, db.dir.path().join("second.log")).await;
    let response = client
        .get(format!("{}/api/v1/users/me", served.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
    let output = served.terminate().await;
    assert!(
        !output.contains("created the first admin"),
        "told once only:\n{output}"
    );
    assert!(
        !output.contains(&password),
        "the password is not repeated:\n{output}"
    );
}

async fn import_loads_batches_idempotently(backend: Backend) {
    let db = TestDb::new(backend);
    let env = db.env();
    // Teams must exist first: create them through the API of a running instance.
    let served = Served::start(&env, db.dir.path().join("serve.log")).await;
    let client = reqwest::Client::new();
    let token = client
        .post(format!("{}/api/v1/auth/token", served.address))
        .json(&json!({"email": "admin@accord.local", "password": crate::helpers::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    for team in ["marketing", "sales"] {
        let body = json!({"slug": team, "name": team, "email": format!("{team}@example.com")});
        let response = client
            .post(format!("{}/api/v1/teams", served.address))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_status(response, StatusCode::CREATED).await;
    }

    let ndjson = db.dir.path().join("events.ndjson");
    let mut lines = String::new();
    for i in 0..12_345 {
        let team = if i % 3 == 0 { "sales" } else { "marketing" };
        lines.push_str(&format!(
            "{{\"external_id\":\"e-{i}\",\"kind\":\"lead.created\",\"subject_id\":\"L{i}\",\"team\":\"{team}\",\"occurred_at\":\"2026-10-{:02}T10:00:00+02:00\",\"attributes\":{{\"source\":\"ads\"}}}}\n",
            i % 28 + 1
        ));
    }
    std::fs::write(&ndjson, &lines).unwrap();
    let path = ndjson.to_str().unwrap();
    let first = accord(&env, &["import", path, "--batch", "1000"], None);
    let stderr = text(&first.stderr);
    assert!(first.status.success(), "{stderr}");
    assert!(
        stderr.contains("12345 read, 12345 new, 0 duplicates, 0 invalid"),
        "{stderr}"
    );
    let again = accord(&env, &["import", path], None);
    assert!(
        text(&again.stderr).contains("12345 read, 0 new, 12345 duplicates"),
        "{}",
        text(&again.stderr)
    );

    let csv = "external_id,kind,subject_id,team,occurred_at,attributes\n\
               c-1,lead.contacted,L1,sales,2026-10-02T10:00:00Z,\"{\"\"channel\"\": \"\"phone, then email\"\"}\"\n\
               c-2,lead.contacted,L2,nobody,2026-10-02T10:00:00Z,\n\
               c-3,lead.contacted,L3,sales,2026-10-02T11:00:00Z,\n";
    let from_stdin = accord(&env, &["import", "-", "--format", "csv"], Some(csv));
    let stderr = text(&from_stdin.stderr);
    assert_eq!(
        from_stdin.status.code(),
        Some(1),
        "an invalid row makes the exit status 1: {stderr}"
    );
    assert!(stderr.contains("skipped line 3: team"), "{stderr}");
    assert!(
        stderr.contains("3 read, 2 new, 0 duplicates, 1 invalid"),
        "{stderr}"
    );

    let events = client
        .get(format!(
            "{}/api/v1/events?subject=L1&kind=lead.contacted",
            served.address
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let events = expect_status(events, StatusCode::OK).await;
    assert_eq!(
        events["items"][0]["attributes"]["channel"],
        "phone, then email"
    );
    let created = client
        .get(format!(
            "{}/api/v1/events?kind=lead.created&limit=1000",
            served.address
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let created = expect_status(created, StatusCode::OK).await;
    assert_eq!(created["items"][0]["occurred_at"], "2026-10-01T08:00:00Z");
    served.terminate().await;
}

/// Two teams, a head each, and an active daily count SLA over UTC (from `effective_from`, or today).
async fn daily_sla(served: &Served, token: &str, effective_from: Option<&str>) {
    use reqwest::Method;
    for team in ["marketing", "sales"] {
        call(
            served,
            token,
            Method::POST,
            "/api/v1/teams",
            json!({"slug": team, "name": team, "email": format!("{team}@example.com")}),
        )
        .await;
        let email = format!("head@{team}.example.com");
        call(served, token, Method::POST, "/api/v1/users", json!({"email": email, "name": "Head", "team": team, "role": "head", "password": "head-password-123"})).await;
    }
    let head = |team: &str| {
        let body =
            json!({"email": format!("head@{team}.example.com"), "password": "head-password-123"});
        let url = format!("{}/api/v1/auth/token", served.address);
        async move {
            reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let (marketing, sales) = (head("marketing").await, head("sales").await);
    let sla = json!({"key": "daily", "name": "Daily MQLs", "provider": "marketing", "consumer": "sales",
        "metric": {"kind": "count", "event": "lead.qualified"}, "objective": {"op": ">=", "target": 1000},
        "window": {"kind": "calendar", "period": "day", "timezone": "UTC"}, "effective_from": effective_from});
    call(served, &marketing, Method::POST, "/api/v1/slas", sla).await;
    call(
        served,
        &sales,
        Method::POST,
        "/api/v1/slas/daily/approve",
        json!({}),
    )
    .await;
}

fn qualified(ids: std::ops::Range<usize>) -> serde_json::Value {
    let now = chrono::Utc::now().to_rfc3339();
    json!(ids.map(|i| json!({"external_id": format!("q{i}"), "kind": "lead.qualified", "subject_id": format!("L{i}"), "team": "marketing", "occurred_at": now})).collect::<Vec<_>>())
}

async fn the_scheduler_evaluates_inside_serve(backend: Backend) {
    let db = TestDb::new(backend);
    let mut env = db.env();
    env.insert("ACCORD_SCHEDULER".into(), "on".into());
    env.insert("ACCORD_EVAL_INTERVAL".into(), "1s".into());
    let served = Served::start(&env, db.dir.path().join("serve.log")).await;
    let token = admin_token(&served).await;
    daily_sla(&served, &token, None).await;
    call(
        &served,
        &token,
        reqwest::Method::POST,
        "/api/v1/events",
        qualified(0..3),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let history = call(
            &served,
            &token,
            reqwest::Method::GET,
            "/api/v1/slas/daily/evaluations",
            serde_json::Value::Null,
        )
        .await;
        if history["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|e| e["value"] == 3.0))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the scheduler wrote no evaluation: {history}\n{}",
            served.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    served.terminate().await;
}

async fn evaluate_at_a_past_instant_sees_what_had_arrived_then(backend: Backend) {
    let db = TestDb::new(backend);
    let env = db.env();
    let served = Served::start(&env, db.dir.path().join("serve.log")).await;
    let token = admin_token(&served).await;
    daily_sla(&served, &token, None).await;
    call(
        &served,
        &token,
        reqwest::Method::POST,
        "/api/v1/events",
        qualified(0..2),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let then = chrono::Utc::now().to_rfc3339();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    call(
        &served,
        &token,
        reqwest::Method::POST,
        "/api/v1/events",
        qualified(2..5),
    )
    .await;

    let value_of = |output: &Output| {
        let stdout = text(&output.stdout);
        let line = stdout
            .lines()
            .find(|l| l.starts_with("daily\t"))
            .unwrap_or_else(|| panic!("no line for daily: {stdout}"))
            .to_string();
        line.split('\t')
            .nth(5)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_string()
    };
    let past = accord(&env, &["evaluate", "--at", &then], None);
    assert!(past.status.success(), "{}", text(&past.stderr));
    assert_eq!(value_of(&past), "2", "only what had arrived by then");
    assert!(text(&past.stderr).contains("nothing stored"));
    let history = call(
        &served,
        &token,
        reqwest::Method::GET,
        "/api/v1/slas/daily/evaluations",
        serde_json::Value::Null,
    )
    .await;
    assert!(
        history["items"].as_array().unwrap().is_empty(),
        "--at stores nothing"
    );

    let now = accord(&env, &["evaluate"], None);
    assert_eq!(value_of(&now), "5");
    let history = call(
        &served,
        &token,
        reqwest::Method::GET,
        "/api/v1/slas/daily/evaluations",
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(history["items"][0]["value"], 5.0);
    served.terminate().await;
}

async fn a_message_survives_sigkill_and_arrives_once(backend: Backend) {
    use reqwest::Method;
    let db = TestDb::new(backend);
    let port = crate::smtp::free_port();
    let mut env = db.env();
    env.insert("ACCORD_SMTP_URL".into(), format!("smtp://127.0.0.1:{port}"));
    env.insert("ACCORD_RETRY_BASE".into(), "1s".into());
    let served = Served::start(&env, db.dir.path().join("first.log")).await;
    let token = admin_token(&served).await;
    // The SLA covers yesterday, so that evaluating now finds a closed, breached day: history
    // from before the signing, summed up in one message per team.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
        .date_naive()
        .to_string();
    daily_sla(&served, &token, Some(&yesterday)).await;
    call(
        &served,
        &token,
        Method::POST,
        "/api/v1/slas/daily/evaluate",
        json!({}),
    )
    .await;
    let breaches = call(
        &served,
        &token,
        Method::GET,
        "/api/v1/breaches",
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(
        breaches["items"].as_array().map(Vec::len),
        Some(1),
        "{breaches}"
    );

    // The mail server is down: the messages are tried, fail, and wait.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pending = call(
            &served,
            &token,
            Method::GET,
            "/api/v1/notifications?status=pending",
            serde_json::Value::Null,
        )
        .await;
        let items = pending["items"].as_array().cloned().unwrap_or_default();
        if items
            .iter()
            .filter(|n| n["kind"] == "sla.backfilled")
            .all(|n| n["attempts"].as_i64().unwrap_or(0) >= 1)
            && items.iter().any(|n| n["kind"] == "sla.backfilled")
        {
            break;
        }
        assert!(Instant::now() < deadline, "no failed attempt: {pending}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    served.kill();

    let sink = crate::smtp::SmtpSink::start_on(port).await;
    let restarted = Served::start(&env, db.dir.path().join("second.log")).await;
    let breached = sink.wait_for("[accord] HISTORY EVALUATED", 2).await;
    assert_eq!(breached.len(), 2, "{}", restarted.output());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all: Vec<String> = sink
        .messages()
        .iter()
        .map(|m| format!("{} {:?}", m.subject(), m.to))
        .collect();
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(all.len(), unique.len(), "nothing arrives twice: {all:?}");
    assert_eq!(
        all.iter()
            .filter(|s| s.starts_with("[accord] HISTORY EVALUATED"))
            .count(),
        2
    );
    restarted.terminate().await;
    sink.stop();
}

#[test]
fn the_demo_reports_its_breaches_on_stdout_and_names_their_mail() {
    let db = TestDb::new(Backend::Sqlite);
    let mut env = db.env();
    env.remove("ACCORD_PASSWORD");
    env.remove("ACCORD_JWT_SECRET");
    env.insert("ACCORD_LOG".into(), "info".into());
    let output = accord(&env, &["demo", "--no-serve"], None);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("export TOKEN=") && stdout.contains("/api/v1/status?format=text"),
        "{stdout}"
    );
    assert!(
        !stderr.contains("export TOKEN="),
        "the results are on stdout only: {stderr}"
    );
    // The summary counts the breaches and lists one line per breach: SLA, ISO week, value.
    let count: usize = stdout
        .split("opened ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no breach count in:\n{stdout}"));
    let listed: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_end().ends_with(" open"))
        .collect();
    assert!(count >= 1, "{stdout}");
    assert_eq!(listed.len(), count, "{stdout}");
    assert!(listed.iter().all(|l| l.contains("-W")), "{stdout}");
    // Values and targets with their units and in words: "8 % (target: at least 20 %)".
    assert!(
        listed
            .iter()
            .all(|l| l.contains("(target: at least ") && !l.contains(">=")),
        "{stdout}"
    );
    for line in listed
        .iter()
        .filter(|l| l.trim_start().starts_with("conversion"))
    {
        assert_eq!(
            line.matches(" %").count(),
            2,
            "a ratio reads in percent: {line}"
        );
    }

    let outbox = db.dir.path().join("data").join("outbox");
    let names: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // The breaches one evaluation finds reach each team as one mail: the breach's own when it is
    // alone, else one summary listing them all.
    let breach_mail: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("breach.opened_") || n.starts_with("breach.summary_"))
        .collect();
    for team in ["marketing", "sales"] {
        let theirs: Vec<&&String> = breach_mail
            .iter()
            .filter(|n| n.contains(&format!("_{team}@demo.example.com_")))
            .collect();
        assert_eq!(theirs.len(), 1, "one breach mail per team: {names:?}");
        let mail = std::fs::read_to_string(outbox.join(theirs[0])).unwrap();
        let subject = crate::smtp::subject_of(&mail);
        if count == 1 {
            assert!(subject.starts_with("[accord] BREACHED"), "{subject}");
        } else {
            assert!(
                subject.starts_with(&format!("[accord] {count} BREACHES for {team}")),
                "{subject}"
            );
            // Every breach is listed with a link to its page.
            let unfolded = mail.replace("=\r\n", "").replace("=\n", "");
            assert!(
                unfolded.matches("/breaches/").count() >= count,
                "{unfolded}"
            );
        }
    }
    let again = accord(&env, &["demo", "--no-serve"], None);
    assert!(
        !again.status.success() && text(&again.stderr).contains("fresh data directory"),
        "{}",
        text(&again.stderr)
    );
}

/// Headless Chromium (Debian's package) loads the status page of a served demo.
#[actix_web::test]
async fn the_status_page_shows_the_slas_and_their_charts_in_a_browser() {
    let chromium = ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let chromium = chromium
        .expect("the browser test needs Debian's chromium package (scripts/test installs it)");
    let db = TestDb::new(Backend::Sqlite);
    let mut env = db.env();
    env.remove("ACCORD_PASSWORD");
    let port = crate::smtp::free_port();
    env.insert("ACCORD_BIND".into(), format!("127.0.0.1:{port}"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_accord"))
        .arg("demo")
        .env_clear()
        .envs(&env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reqwest::get(format!("{base}/readyz"))
        .await
        .is_ok_and(|r| r.status() == StatusCode::OK)
    {
        assert!(Instant::now() < deadline, "the demo did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The page answers to a signed-in person or a share link: the demo's head of marketing makes
    // one for a wall screen, as the docs describe.
    let client = reqwest::Client::new();
    let signed_in: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(
            &serde_json::json!({"email": "head@marketing.demo.example.com",
            "password": accord::demo::DEMO_PASSWORD}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issued: serde_json::Value = client
        .post(format!("{base}/api/v1/service-tokens"))
        .bearer_auth(signed_in["access_token"].as_str().unwrap())
        .json(
            &serde_json::json!({"name": "wall screen", "scopes": ["status:read", "breaches:read"]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{base}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            anonymous.status(),
            anonymous.headers().get("location").cloned()
        ),
        (
            StatusCode::SEE_OTHER,
            Some("/sign-in?next=%2F".parse().unwrap())
        ),
        "the page tells anonymous callers nothing and sends them to the sign-in"
    );
    let address = format!("{base}/?share={}", issued["token"].as_str().unwrap());
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let profile = db.dir.path().join("chromium");
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1000",
    ];
    let profile_flag = format!("--user-data-dir={}", profile.display());
    let dom = Command::new(chromium)
        .args(flags)
        .arg(&profile_flag)
        .arg("--dump-dom")
        .arg(&address)
        .output()
        .unwrap();
    let dom = text(&dom.stdout);
    let screenshot = Command::new(chromium)
        .args(flags)
        .arg(&profile_flag)
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&address)
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    for sla in ["mql-volume", "follow-up", "conversion"] {
        assert!(
            dom.contains(&format!("data-sla=\"{sla}\"")),
            "{sla} is on the page"
        );
    }
    assert_eq!(
        dom.matches("<svg class=\"chart\"").count(),
        3,
        "one chart per SLA"
    );
    assert!(
        dom.matches("<rect ").count() >= 15,
        "bars for the last periods"
    );
    assert!(
        dom.contains("Open breaches") && dom.contains(">Open<"),
        "the open breaches are listed"
    );
    assert!(
        screenshot.status.success() && std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000),
        "a screenshot at {}",
        shot.display()
    );
}

crate::for_each_backend!(
    the_cli_prepares_an_instance_that_serve_then_uses,
    one_shot_commands_never_create_a_database,
    first_start_creates_an_admin_once_and_tokens_survive_a_restart,
    import_loads_batches_idempotently,
    the_scheduler_evaluates_inside_serve,
    evaluate_at_a_past_instant_sees_what_had_arrived_then,
    a_message_survives_sigkill_and_arrives_once,
);
