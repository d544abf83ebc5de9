//! What the messages say and carry, as received: MIME read off a real SMTP server (headers, both
//! parts, the threading of a reminder), the three webhook kinds as posted (a Teams card, a
//! signed generic body), one summary per team per cycle, the daily digest, every link opening
//! for a signed-in person, and the HTML mail as a browser shows it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Account, Backend, PASSWORD, TestApp, TestDb, expect_status, spawn_app_with};
use crate::smtp::{Received, SmtpSink};

/// A received mail taken apart: unfolded headers and the decoded body of each part.
struct Mime {
    headers: BTreeMap<String, String>,
    parts: Vec<(String, String)>,
}

fn unfold(head: &str) -> BTreeMap<String, String> {
    let mut headers = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(name) = &last {
                headers
                    .entry(name.clone())
                    .and_modify(|v: &mut String| v.push_str(line.trim_start_matches(['\t'])));
            }
        } else if let Some((name, value)) = line.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            headers.insert(name.clone(), value.trim().to_string());
            last = Some(name);
        }
    }
    headers
}

fn decode_quoted_printable(body: &str) -> String {
    let mut bytes = Vec::new();
    for line in body.split("\r\n").flat_map(|l| l.split('\n')) {
        let (line, soft) = match line.strip_suffix('=') {
            Some(rest) => (rest, true),
            None => (line, false),
        };
        let raw = line.as_bytes();
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'='
                && let Some(Ok(byte)) = line.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16))
            {
                bytes.push(byte);
                i += 3;
                continue;
            }
            bytes.push(raw[i]);
            i += 1;
        }
        if !soft {
            bytes.push(b'\n');
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn decode_part(headers: &BTreeMap<String, String>, body: &str) -> String {
    use base64::Engine;
    match headers
        .get("content-transfer-encoding")
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("base64") => {
            let joined: String = body.split_whitespace().collect();
            String::from_utf8_lossy(
                &base64::engine::general_purpose::STANDARD
                    .decode(joined)
                    .unwrap_or_default(),
            )
            .into_owned()
        }
        Some("quoted-printable") => decode_quoted_printable(body),
        _ => body.replace("\r\n", "\n"),
    }
}

fn mime(mail: &Received) -> Mime {
    let data = mail.data.replace("\r\n", "\n");
    let (head, body) = data.split_once("\n\n").unwrap();
    let headers = unfold(head);
    let content_type = headers["content-type"].clone();
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .unwrap()
        .trim_matches('"')
        .to_string();
    let parts = body
        .split(&format!("--{boundary}"))
        .filter_map(|part| {
            let part = part.trim_start_matches('\n');
            let (head, body) = part.split_once("\n\n")?;
            let headers = unfold(head);
            let kind = headers.get("content-type")?.clone();
            Some((kind, decode_part(&headers, body)))
        })
        .collect();
    Mime { headers, parts }
}

impl Mime {
    fn part(&self, kind: &str) -> &str {
        &self
            .parts
            .iter()
            .find(|(k, _)| k.starts_with(kind))
            .unwrap_or_else(|| panic!("no {kind} part in {:?}", self.parts))
            .1
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}

/// The decoded text part of a received mail.
pub(crate) fn text_part(mail: &Received) -> String {
    mime(mail).part("text/plain").to_string()
}

/// The teams, their heads, and `mql` (marketing → sales, at least 4 qualified leads a month,
/// UTC) breached for October 2026 by an evaluation on 1 November. `before` sets the teams up
/// (webhooks, digests) before anything is sent.
async fn breached_october(app: &TestApp, teams: &[(&str, Value)]) -> (Account, Account, String) {
    app.set_now("2026-10-20T10:00:00Z");
    for (slug, changes) in teams {
        app.create_team(slug).await;
        if !changes.is_null() {
            expect_status(
                app.patch(&format!("/api/v1/teams/{slug}"), app.admin(), changes)
                    .await,
                StatusCode::OK,
            )
            .await;
        }
    }
    let marketing = app.create_user(Some("marketing"), "head").await;
    let sales = app.create_user(Some("sales"), "head").await;
    for key in ["mql", "mql-2"] {
        let sla = json!({"key": key, "name": format!("MQL volume <{key}>"), "provider": "marketing", "consumer": "sales",
            "metric": {"kind": "count", "event": "lead.qualified"}, "objective": {"op": ">=", "target": 4},
            "window": {"kind": "calendar", "period": "month", "timezone": "UTC"}, "effective_from": "2026-10-01"});
        app.propose_and_sign(&marketing.token, &sales.token, &sla)
            .await;
    }
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
    let breaches = app.items("/api/v1/breaches?sla=mql", app.admin()).await;
    let id = breaches[0]["id"].as_str().unwrap().to_string();
    (marketing, sales, id)
}

/// `ACCORD_PUBLIC_URL` of the test instances: the base of every link in a message.
const PUBLIC: &str = "http://accord.test";

fn at(rfc3339: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// One scheduler cycle at `now`, reminding every `remind_every`.
fn cycle(app: &TestApp, now: &str, remind_every: &str) {
    let url = accord::config::DatabaseUrl::parse(app.database_url()).unwrap();
    let db = accord::store::Db::open(&url).unwrap();
    let settings = accord::service::evaluation::Settings {
        grace: "48h".parse().unwrap(),
        stale_after: "480h".parse().unwrap(),
        remind_every: Some(remind_every.parse().unwrap()),
    };
    let links = accord::service::breaches::Links {
        public_url: PUBLIC.into(),
    };
    app.set_now(now);
    let mut conn = db.get().unwrap();
    accord::service::evaluation::run_cycle(&mut conn, at(now), settings, &links, None).unwrap();
}

/// Every `http(s)://` address in a text, up to the first character no URL has here.
fn links_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("http") {
        let candidate = &rest[start..];
        if candidate.starts_with("http://") || candidate.starts_with("https://") {
            let end = candidate
                .find(|c: char| c.is_whitespace() || "\"'<>|)".contains(c))
                .unwrap_or(candidate.len());
            found.push(candidate[..end].trim_end_matches(['.', ',']).to_string());
            rest = &candidate[end..];
        } else {
            rest = &candidate[4..];
        }
    }
    found
}

async fn a_breach_mail_has_both_parts_and_threads_what_follows(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(
        TestDb::new(backend),
        &[
            ("ACCORD_SMTP_URL", &sink.url()),
            ("ACCORD_MAIL_FROM", "accord <accord@example.com>"),
        ],
    )
    .await;
    let (_, sales, id) =
        breached_october(&app, &[("marketing", Value::Null), ("sales", Value::Null)]).await;
    let opened = sink.wait_for("[accord] BREACHED", 2).await;
    let mail = mime(&opened[0]);
    let root = format!("<breach.opened.{id}@accord.test>");
    assert_eq!(mail.header("Auto-Submitted"), "auto-generated");
    assert_eq!(mail.header("Message-ID"), root);
    assert!(
        mail.header("List-Id").ends_with("<mql.accord.accord.test>"),
        "{}",
        mail.header("List-Id")
    );
    assert!(!mail.headers.contains_key("in-reply-to"));
    assert!(
        opened[0].subject().contains("(2026-10)"),
        "{}",
        opened[0].subject()
    );
    let text = mail.part("text/plain");
    let html = mail.part("text/html");
    let breach_page = format!("{PUBLIC}/breaches/{id}");
    for expected in [
        "What was promised",
        "What was measured",
        "target",
        "What to do next",
        "either team",
        "provider's head may instead dispute",
        breach_page.as_str(),
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    assert!(
        html.contains(&format!("href=\"{breach_page}\""))
            && html.contains(&format!("href=\"{PUBLIC}/slas/mql\"")),
        "{html}"
    );
    assert!(html.contains("MQL volume &#60;mql&#62;"), "escaped: {html}");
    assert!(
        !text.contains("/api/v1") && !html.contains("/api/v1"),
        "links open pages"
    );

    // A day later nobody has acknowledged: the reminder threads under the opening mail.
    cycle(&app, "2026-11-02T13:00:00Z", "24h");
    let reminded = sink.wait_for("[accord] STILL OPEN", 2).await;
    let reminder = mime(&reminded[0]);
    assert_eq!(reminder.header("In-Reply-To"), root);
    assert_eq!(reminder.header("References"), root);
    assert_ne!(reminder.header("Message-ID"), root);
    assert_eq!(reminder.header("Auto-Submitted"), "auto-generated");

    // So does the acknowledgement, which both teams hear of.
    expect_status(
        app.post(
            &format!("/api/v1/breaches/{id}/acknowledge"),
            &sales.token,
            &json!({"note": "we call them back today"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let acknowledged = sink.wait_for("[accord] ACKNOWLEDGED", 2).await;
    let ack = mime(&acknowledged[0]);
    assert_eq!(ack.header("In-Reply-To"), root);
    assert!(ack.part("text/plain").contains("we call them back today"));

    // The HTML as a browser shows it, kept under target/screenshots/.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let name = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let page = dir.join(format!("breach-mail-{name}.html"));
    std::fs::write(&page, html).unwrap();
    let shot = dir.join(format!("breach-mail-{name}.png"));
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect(
            "the mail rendering test needs Debian's chromium package (scripts/test installs it)",
        );
    let profile = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--window-size=760,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        output.status.success() && std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000),
        "a screenshot at {}: {}",
        shot.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    sink.stop();
}

type Posts = Arc<Mutex<Vec<(String, BTreeMap<String, String>, String)>>>;

/// Keeps every post: path, headers, raw body.
async fn receiver() -> (String, Posts) {
    let seen: Posts = Arc::new(Mutex::new(Vec::new()));
    let state = web::Data::new(seen.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new().app_data(state.clone()).default_service(web::to(
            |seen: web::Data<Posts>, req: HttpRequest, body: web::Bytes| async move {
                let headers = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                seen.lock().unwrap().push((
                    req.path().to_string(),
                    headers,
                    String::from_utf8_lossy(&body).into_owned(),
                ));
                HttpResponse::Ok().finish()
            },
        ))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    (format!("http://127.0.0.1:{port}"), seen)
}

/// The first post to `path` whose body holds `needle`.
async fn wait_for_post(
    seen: &Posts,
    path: &str,
    needle: &str,
) -> (BTreeMap<String, String>, String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if let Some((_, headers, body)) = seen
            .lock()
            .unwrap()
            .iter()
            .find(|(p, _, body)| p == path && body.contains(needle))
        {
            return (headers.clone(), body.clone());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing posted to {path}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn teams_and_generic_webhooks_are_posted_as_their_kind_asks(backend: Backend) {
    let (base, seen) = receiver().await;
    let app = spawn_app_with(TestDb::new(backend), &[]).await;
    app.set_now("2026-10-20T10:00:00Z");
    app.create_team("marketing").await;
    app.create_team("sales").await;
    let set = expect_status(
        app.patch(
            "/api/v1/teams/marketing",
            app.admin(),
            &json!({"webhook_url": format!("{base}/generic"), "webhook_kind": "generic"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let secret = set["webhook_secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{set}");
    assert_eq!(set["webhook_kind"], "generic");
    let again = expect_status(
        app.get("/api/v1/teams/marketing", app.admin()).await,
        StatusCode::OK,
    )
    .await;
    assert!(again.get("webhook_secret").is_none(), "shown once: {again}");
    let member = app.create_user(Some("sales"), "member").await;
    let seen_by_member = expect_status(
        app.get("/api/v1/teams/marketing", &member.token).await,
        StatusCode::OK,
    )
    .await;
    assert!(!seen_by_member.to_string().contains(&secret));
    expect_status(
        app.patch(
            "/api/v1/teams/sales",
            app.admin(),
            &json!({"webhook_url": format!("{base}/teams"), "webhook_kind": "teams"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let (_, _, id) = breached_october(&app, &[]).await;
    let breach_page = format!("{PUBLIC}/breaches/{id}");

    let (_, card) = wait_for_post(&seen, "/teams", "BREACHED").await;
    let card: Value = serde_json::from_str(&card).unwrap();
    assert_eq!(card["type"], "message");
    let attachment = &card["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(attachment["content"]["type"], "AdaptiveCard");
    assert_eq!(attachment["content"]["version"], "1.4");
    assert!(
        attachment["content"]["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["type"] == "Action.OpenUrl" && a["url"] == breach_page.as_str()),
        "{card}"
    );

    let (headers, body) = wait_for_post(&seen, "/generic", "\"breach.opened\"").await;
    let (id_header, timestamp) = (&headers["webhook-id"], &headers["webhook-timestamp"]);
    assert!(id_header.starts_with("msg_") && !id_header.contains('.'));
    let signed = {
        use base64::Engine;
        use hmac::{KeyInit, Mac};
        let engine = base64::engine::general_purpose::STANDARD;
        let key = engine.decode(secret.trim_start_matches("whsec_")).unwrap();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{id_header}.{timestamp}.{body}").as_bytes());
        format!("v1,{}", engine.encode(mac.finalize().into_bytes()))
    };
    assert!(
        headers["webhook-signature"].split(' ').any(|s| s == signed),
        "the signature verifies"
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["type"], "breach.opened");
    assert_eq!(body["data"]["breach"]["id"], id.as_str());
    assert_eq!(body["data"]["breach"]["url"], breach_page.as_str());
    assert_eq!(body["data"]["period"]["code"], "2026-10");
    assert!(
        body["data"]["next"]
            .as_str()
            .unwrap()
            .contains("acknowledges")
    );
}

async fn one_cycle_sends_each_team_one_summary_and_digests_wait_for_their_hour(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(TestDb::new(backend), &[("ACCORD_SMTP_URL", &sink.url())]).await;
    // Sales takes a digest at 08:00 in Berlin (07:00 UTC in November).
    let digest = json!({"digest": {"hour": 8, "timezone": "Europe/Berlin"}});
    breached_october(&app, &[("marketing", Value::Null), ("sales", digest)]).await;
    sink.wait_for("[accord] BREACHED", 2).await;
    // A breach found alone in a cycle goes out as its own mail.
    cycle(&app, "2026-11-01T12:30:00Z", "240h");
    assert_eq!(
        sink.wait_for("[accord] BREACHED: MQL volume <mql-2>", 2)
            .await
            .len(),
        2
    );

    // Two SLAs breached in one cycle: one summary per team.
    let marketing = app.create_user(Some("marketing"), "head").await;
    let sales = app.create_user(Some("sales"), "head").await;
    for key in ["sql-a", "sql-b"] {
        let sla = json!({"key": key, "name": format!("SQL {key}"), "provider": "marketing", "consumer": "sales",
            "metric": {"kind": "count", "event": "lead.sql"}, "objective": {"op": ">=", "target": 1},
            "window": {"kind": "calendar", "period": "day", "timezone": "UTC"}});
        app.propose_and_sign(&marketing.token, &sales.token, &sla)
            .await;
    }
    cycle(&app, "2026-11-02T08:00:00Z", "240h");
    let summaries = sink.wait_for("[accord] 2 BREACHES for", 2).await;
    let mut to: Vec<String> = summaries.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(to, ["marketing@example.com", "sales@example.com"]);
    let summary = mime(&summaries[0]);
    let text = summary.part("text/plain");
    assert!(
        text.contains("SQL sql-a") && text.contains("SQL sql-b"),
        "{text}"
    );
    assert_eq!(
        links_in(text)
            .iter()
            .filter(|l| l.contains("/breaches/"))
            .count(),
        2,
        "{text}"
    );
    assert!(
        sink.messages()
            .iter()
            .all(|m| !m.subject().contains("BREACHED: SQL")),
        "no mail per breach besides the summary"
    );

    // Reminders: marketing hears at once; sales's wait for its 08:00 digest.
    let digests = |sink: &SmtpSink| {
        sink.messages()
            .iter()
            .filter(|m| m.subject().starts_with("[accord] DAILY DIGEST for sales"))
            .count()
    };
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let before = digests(&sink);
    cycle(&app, "2026-11-03T06:30:00Z", "12h");
    sink.wait_for("[accord] STILL OPEN", 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let still_open: Vec<Vec<String>> = sink
        .messages()
        .iter()
        .filter(|m| m.subject().starts_with("[accord] STILL OPEN"))
        .map(|m| m.to.clone())
        .collect();
    assert!(
        !still_open.is_empty() && still_open.iter().all(|to| to == &["marketing@example.com"]),
        "{still_open:?}"
    );
    assert_eq!(
        digests(&sink),
        before,
        "before 08:00 in Berlin, sales hears nothing"
    );
    cycle(&app, "2026-11-03T07:05:00Z", "12h");
    let sent = sink
        .wait_for("[accord] DAILY DIGEST for sales", before + 1)
        .await;
    let digest = mime(sent.last().unwrap());
    assert_eq!(sent.last().unwrap().to, ["sales@example.com"]);
    assert!(digest.part("text/plain").contains("STILL OPEN"));
    // Once a day: a later cycle that day sends no second digest.
    cycle(&app, "2026-11-03T19:30:00Z", "12h");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(digests(&sink), before + 1);
    sink.stop();
}

/// Every link in every message opens a page for a signed-in person. The pages (board, SLA,
/// breach) and the browser sign-in belong to the web workspace.
async fn every_link_in_every_message_opens_for_a_signed_in_person(backend: Backend) {
    let sink = SmtpSink::start().await;
    let (base, seen) = receiver().await;
    let app = spawn_app_with(TestDb::new(backend), &[("ACCORD_SMTP_URL", &sink.url())]).await;
    let (marketing, _, id) = breached_october(
        &app,
        &[
            ("marketing", json!({"webhook_url": format!("{base}/slack")})),
            (
                "sales",
                json!({"webhook_url": format!("{base}/teams"), "webhook_kind": "teams"}),
            ),
        ],
    )
    .await;
    expect_status(
        app.post(
            &format!("/api/v1/breaches/{id}/dispute"),
            &marketing.token,
            &json!({"reason": "the CRM lost a day"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    sink.wait_for("[accord] DISPUTED", 2).await;
    wait_for_post(&seen, "/slack", "DISPUTED").await;
    wait_for_post(&seen, "/teams", "DISPUTED").await;
    let mut links: Vec<String> = sink
        .messages()
        .iter()
        .flat_map(|m| {
            let mail = mime(m);
            mail.parts
                .iter()
                .flat_map(|(_, body)| links_in(body))
                .collect::<Vec<_>>()
        })
        .chain(
            seen.lock()
                .unwrap()
                .iter()
                .flat_map(|(_, _, body)| links_in(body)),
        )
        .filter_map(|l| l.strip_prefix(PUBLIC).map(|path| app.url(path)))
        .collect();
    links.sort();
    links.dedup();
    assert!(
        links
            .iter()
            .any(|l| l.ends_with(&format!("/breaches/{id}")))
            && links.iter().any(|l| l.ends_with("/slas/mql")),
        "{links:?}"
    );
    assert!(links.iter().all(|l| !l.contains("/api/")), "{links:?}");

    // A browser session: sign in with the form (with its anti-forgery token), keep the session
    // cookie, then open each link.
    let browser = crate::helpers::WebSession::new(&app);
    browser.sign_in(&marketing.email, PASSWORD).await;
    for link in &links {
        let path = link.strip_prefix(&app.address).unwrap();
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{link}: {}", page.body);
    }
}

crate::for_each_backend!(
    a_breach_mail_has_both_parts_and_threads_what_follows,
    teams_and_generic_webhooks_are_posted_as_their_kind_asks,
    one_cycle_sends_each_team_one_summary_and_digests_wait_for_their_hour,
    every_link_in_every_message_opens_for_a_signed_in_person,
);
