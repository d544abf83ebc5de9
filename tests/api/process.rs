//! `accord` as a child process: one-shot commands and `serve` instances, for the tests of the
//! binary itself and of several replicas.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::expect_status;

pub fn accord(env: &HashMap<String, String>, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .env_clear()
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("accord runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `accord serve` as a child process, killed if the test ends early.
pub struct Served {
    child: Child,
    pub address: String,
    log: PathBuf,
}

impl Served {
    pub async fn start(env: &HashMap<String, String>, log: PathBuf) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut env = env.clone();
        env.insert("ACCORD_BIND".into(), format!("127.0.0.1:{port}"));
        env.insert("ACCORD_LOG".into(), "info".into());
        let child = Command::new(env!("CARGO_BIN_EXE_accord"))
            .arg("serve")
            .env_clear()
            .envs(&env)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("accord serve starts");
        let served = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !reqwest::get(format!("{}/readyz", served.address))
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
        {
            assert!(
                Instant::now() < deadline,
                "accord did not become ready:\n{}",
                served.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        served
    }

    /// The process's peak resident memory so far, in MiB (Linux).
    pub fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        let kib: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib / 1024.0
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub async fn terminate(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        let exit = loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                break exit;
            }
            assert!(Instant::now() < deadline, "accord did not stop on SIGTERM");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let output = self.output();
        assert!(exit.success(), "exit {exit:?} after SIGTERM:\n{output}");
        assert!(output.contains("accord stopped"), "{output}");
        output
    }
}

impl Served {
    /// Kills the process with SIGKILL, as a crash or an out-of-memory kill would: no cleanup.
    pub fn kill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.output()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Signs in to a served instance with a password; the access token.
pub async fn sign_in(served: &Served, email: &str, password: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/token", served.address))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Signs in as the first admin of a served instance.
pub async fn admin_token(served: &Served) -> String {
    sign_in(served, "admin@accord.local", crate::helpers::ADMIN_PASSWORD).await
}

pub async fn call(
    served: &Served,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let client = reqwest::Client::new();
    let response = client
        .request(method, format!("{}{path}", served.address))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or_default()
}

/// The cap of SLA `cap-{i}`: they differ, so that a stream of events breaks them at different moments.
fn cap(i: usize) -> usize {
    2 + i % 4
}

/// Two teams with a head each, and `count` signed caps: at most `cap(i)` `burst.{i}` events a month,
/// each mailing both teams when broken.
pub async fn capped_agreements(served: &Served, admin: &str, count: usize) {
    for team in ["marketing", "sales"] {
        let body = json!({"slug": team, "name": team, "email": format!("{team}@example.com")});
        call(served, admin, Method::POST, "/api/v1/teams", body).await;
        let head = json!({"email": format!("head@{team}.example.com"), "name": "Head",
            "team": team, "role": "head", "password": "head-password-123"});
        call(served, admin, Method::POST, "/api/v1/users", head).await;
    }
    let marketing = sign_in(served, "head@marketing.example.com", "head-password-123").await;
    let sales = sign_in(served, "head@sales.example.com", "head-password-123").await;
    for i in 0..count {
        let sla = json!({"key": format!("cap-{i}"), "name": format!("Cap {i}"),
            "provider": "marketing", "consumer": "sales",
            "metric": {"kind": "count", "event": format!("burst.{i}")},
            "objective": {"op": "<=", "target": cap(i)},
            "window": {"kind": "calendar", "period": "month", "timezone": "UTC"},
            "notify_on": ["breach"]});
        call(served, &marketing, Method::POST, "/api/v1/slas", sla).await;
        let approve = format!("/api/v1/slas/cap-{i}/approve");
        call(served, &sales, Method::POST, &approve, json!({})).await;
    }
}

/// Event `round` of the stream for SLA `cap-{i}`, happening now.
pub fn burst(round: usize, i: usize) -> Value {
    json!({"external_id": format!("burst-{i}-{round}"), "kind": format!("burst.{i}"),
        "subject_id": format!("lead-{i}-{round}"), "team": "marketing",
        "occurred_at": chrono::Utc::now().to_rfc3339()})
}
