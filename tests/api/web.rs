//! The web workspace: sign-in sessions, anti-forgery tokens, the pages' answers, and a real
//! browser (Debian's headless Chromium through chromedriver, over WebDriver) signing, acknowledging
//! and disputing, checked afterwards through the API.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use accord::clock::Clock;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Account, Backend, PASSWORD, TestApp, TestDb, WebSession, expect_status, spawn_app_with,
};

/// Two teams, a head of each, and a member of marketing.
struct Cast {
    marketing_head: Account,
    sales_head: Account,
    member: Account,
}

async fn cast(app: &TestApp) -> Cast {
    app.create_team("marketing").await;
    app.create_team("sales").await;
    Cast {
        marketing_head: app.create_user(Some("marketing"), "head").await,
        sales_head: app.create_user(Some("sales"), "head").await,
        member: app.create_user(Some("marketing"), "member").await,
    }
}

fn count_definition(key: &str, event: &str, op: &str, target: u32) -> Value {
    json!({"key": key, "name": format!("Agreement {key}"), "provider": "marketing", "consumer": "sales",
        "metric": {"kind": "count", "event": event},
        "objective": {"op": op, "target": target},
        "window": {"kind": "calendar", "period": "month", "timezone": "Europe/Berlin"}})
}

/// An SLA the admin proposed, signed by the provider's head: the consumer's head signs last.
async fn proposal(app: &TestApp, cast: &Cast, key: &str) {
    app.propose_and_sign(
        app.admin(),
        &cast.marketing_head.token,
        &count_definition(key, "lead.qualified", ">=", 20),
    )
    .await;
}

/// An open breach: an agreement allowing no escalations, one escalation, an evaluation.
async fn breach(app: &TestApp, cast: &Cast, key: &str) -> String {
    expect_status(
        app.post(
            "/api/v1/events",
            app.admin(),
            &json!({"external_id": format!("escalation-{key}"), "kind": "lead.escalated",
                "subject_id": "lead-7", "team": "marketing",
                "occurred_at": app.clock.now().to_rfc3339()}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect_status(
        app.post(
            "/api/v1/slas",
            app.admin(),
            &count_definition(key, "lead.escalated", "<=", 0),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    for head in [&cast.marketing_head, &cast.sales_head] {
        expect_status(
            app.post(
                &format!("/api/v1/slas/{key}/approve"),
                &head.token,
                &json!({}),
            )
            .await,
            StatusCode::OK,
        )
        .await;
    }
    expect_status(
        app.post(
            &format!("/api/v1/slas/{key}/evaluate"),
            app.admin(),
            &json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let breaches = app
        .items(&format!("/api/v1/breaches?sla={key}"), app.admin())
        .await;
    breaches[0]["id"].as_str().expect("a breach").to_string()
}

async fn breach_status(app: &TestApp, id: &str) -> Value {
    expect_status(
        app.get(&format!("/api/v1/breaches/{id}"), app.admin())
            .await,
        StatusCode::OK,
    )
    .await
}

/// Signing in, the cookie's attributes, the way back to the page asked for, forms refused
/// without their token (changing nothing), sign-out.
async fn a_session_signs_in_and_forms_need_their_token(app: TestApp) {
    let cast = cast(&app).await;
    proposal(&app, &cast, "volume").await;
    let web = WebSession::new(&app);

    let answer = web.get("/slas/volume").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(
        answer.location.as_deref(),
        Some("/sign-in?next=%2Fslas%2Fvolume")
    );

    let form = web.get("/sign-in?next=%2Fslas%2Fvolume").await;
    assert_eq!(form.status, StatusCode::OK);
    let cookie = form
        .set_cookie
        .iter()
        .find(|c| c.starts_with("accord_session="))
        .expect("a session cookie for the form's token");
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && !cookie.contains("Secure"),
        "{cookie}"
    );
    assert!(
        form.body.contains("<label for=\"email\">") && form.body.contains("lang=\"en\""),
        "{}",
        form.body
    );

    // Without the form's token: refused, whatever the password.
    let refused = web
        .post_raw(
            "/sign-in",
            &[("email", &cast.sales_head.email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("<html"), "pages answer in HTML");

    let wrong = web
        .post(
            "/sign-in",
            "/sign-in",
            &[
                ("email", &cast.sales_head.email),
                ("password", "not-the-password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("Wrong email or password"));

    let signed_in = web
        .post(
            "/sign-in",
            "/sign-in",
            &[
                ("email", &cast.sales_head.email),
                ("password", PASSWORD),
                ("next", "/slas/volume"),
            ],
        )
        .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert_eq!(signed_in.location.as_deref(), Some("/slas/volume"));
    let page = web.get("/slas/volume").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("id=\"approve\"") && page.body.contains("Version 1 awaits signatures"),
        "{}",
        page.body
    );
    // The proposer by address, as people know them, not by an internal id.
    assert!(
        page.body
            .contains(&format!("Proposed by {}, ", crate::helpers::ADMIN_EMAIL))
            && !page.body.contains("user:"),
        "{}",
        page.body
    );

    // An approval without the token, or with another session's, changes nothing.
    let other = WebSession::new(&app);
    let foreign_token = crate::helpers::csrf_in(&other.get("/sign-in").await.body).unwrap();
    for fields in [vec![], vec![("csrf", foreign_token.as_str())]] {
        let answer = web.post_raw("/slas/volume/approve", &fields).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    }
    let sla = expect_status(
        app.get("/api/v1/slas/volume", app.admin()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(sla["status"], "proposed", "{sla}");

    let approved = web.post("/slas/volume", "/slas/volume/approve", &[]).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    let sla = expect_status(
        app.get("/api/v1/slas/volume", app.admin()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(sla["status"], "active", "{sla}");

    // Only a path on this site is a way back.
    for next in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let elsewhere = WebSession::new(&app);
        let answer = elsewhere
            .post(
                "/sign-in",
                "/sign-in",
                &[
                    ("email", &cast.member.email),
                    ("password", PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(answer.location.as_deref(), Some("/"), "{next}");
    }

    // Signing out takes the form's token too.
    assert_eq!(
        web.post_raw("/sign-out", &[]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(web.get("/").await.status, StatusCode::OK);
    let out = web.post("/", "/sign-out", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(web.cookie(), None, "the cookie is removed");
    assert_eq!(web.get("/").await.status, StatusCode::SEE_OTHER);
}

/// A breach's forms without their token change nothing; with it, they call the API's service.
async fn breach_forms_need_their_token_and_the_policy(app: TestApp) {
    let cast = cast(&app).await;
    let id = breach(&app, &cast, "capped").await;
    let page = format!("/breaches/{id}");
    let provider = WebSession::new(&app);
    provider.sign_in(&cast.marketing_head.email, PASSWORD).await;
    let member = WebSession::new(&app);
    member.sign_in(&cast.member.email, PASSWORD).await;

    let shown = provider.get(&page).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(
        shown.body.contains("id=\"acknowledge\"") && shown.body.contains("id=\"dispute\""),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("Opened"), "the timeline starts");
    let refused = provider
        .post_raw(&format!("{page}/acknowledge"), &[("note", "on it")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(breach_status(&app, &id).await["status"], "open");

    // A member sees the breach but no actions; posting anyway is refused by the policy.
    let seen = member.get(&page).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert!(!seen.body.contains("id=\"acknowledge\""));
    let refused = member
        .post(&page, &format!("{page}/acknowledge"), &[("note", "on it")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("Not allowed"), "{}", refused.body);
    assert_eq!(breach_status(&app, &id).await["status"], "open");

    let done = provider
        .post(
            &page,
            &format!("{page}/acknowledge"),
            &[("note", "Calling the three back today")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some(page.as_str()));
    let breach = breach_status(&app, &id).await;
    assert_eq!(breach["status"], "acknowledged");
    assert_eq!(breach["note"], "Calling the three back today");
    let shown = provider.get(&page).await;
    assert!(shown.body.contains("Calling the three back today"));
    assert!(
        shown.body.contains(&cast.marketing_head.email),
        "who acknowledged"
    );

    // A blank reason is the API's 422, as a page.
    let blank = provider
        .post(&page, &format!("{page}/dispute"), &[("reason", "  ")])
        .await;
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(blank.body.contains("reason"), "{}", blank.body);

    // Pages answer in HTML; the API keeps problem+json.
    let missing = provider.get("/breaches/no-such-breach").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing.body.contains("<h1>Not found</h1>"),
        "{}",
        missing.body
    );
    crate::helpers::expect_problem(
        app.get("/api/v1/breaches/no-such-breach", app.admin())
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

/// A deactivated account's session ends at once, as does one whose password changed.
async fn a_deactivated_accounts_cookie_is_refused(app: TestApp) {
    let cast = cast(&app).await;
    let member = WebSession::new(&app);
    member.sign_in(&cast.member.email, PASSWORD).await;
    let head = WebSession::new(&app);
    head.sign_in(&cast.sales_head.email, PASSWORD).await;
    assert_eq!(member.get("/").await.status, StatusCode::OK);
    let cookie = member.cookie();
    expect_status(
        app.delete(&format!("/api/v1/users/{}", cast.member.id), app.admin())
            .await,
        StatusCode::OK,
    )
    .await;
    let answer = member.get("/").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location.as_deref(), Some("/sign-in?next=%2F"));
    // The same cookie sent again (say, a copy) is refused too.
    member.set_cookie(cookie);
    assert_eq!(member.get("/").await.status, StatusCode::SEE_OTHER);

    // A new password ends the sessions started before it.
    assert_eq!(head.get("/").await.status, StatusCode::OK);
    expect_status(
        app.patch(
            &format!("/api/v1/users/{}", cast.sales_head.id),
            &cast.sales_head.token,
            &json!({"password": "another-long-password", "current_password": PASSWORD}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(head.get("/").await.status, StatusCode::SEE_OTHER);
}

/// The sign-in form counts failures against the API's limit: after the API's failures the
/// form refuses even the right password, with Retry-After.
async fn the_form_shares_the_sign_in_limit(app: TestApp) {
    let cast = cast(&app).await;
    for _ in 0..accord::auth::passwords::ACCOUNT_FAILURES {
        let answer = app
            .request(
                reqwest::Method::POST,
                "/api/v1/auth/token",
                None,
                Some(&json!({"email": cast.member.email, "password": "wrong-password"})),
            )
            .await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
    let web = WebSession::new(&app);
    let page = web.get("/sign-in").await;
    let token = crate::helpers::csrf_in(&page.body).unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = client
        .post(app.url("/sign-in"))
        .header(
            "cookie",
            format!("accord_session={}", web.cookie().unwrap()),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("csrf", token.as_str()),
                ("email", &cast.member.email),
                ("password", PASSWORD),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(answer.headers().contains_key("retry-after"));
}

crate::on_both_backends!(
    a_session_signs_in_and_forms_need_their_token,
    breach_forms_need_their_token_and_the_policy,
    a_deactivated_accounts_cookie_is_refused,
    the_form_shares_the_sign_in_limit,
    a_head_signs_acknowledges_and_disputes_in_a_browser,
);

/// Behind an https public URL the session cookie is `Secure`.
async fn the_cookie_is_secure_behind_https(backend: Backend) {
    let app = spawn_app_with(
        TestDb::new(backend),
        &[("ACCORD_PUBLIC_URL", "https://accord.example.com")],
    )
    .await;
    let form = WebSession::new(&app).get("/sign-in").await;
    let cookie = form
        .set_cookie
        .iter()
        .find(|c| c.starts_with("accord_session="))
        .unwrap();
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
}

crate::for_each_backend!(the_cookie_is_secure_behind_https);

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Self {
        let port = crate::smtp::free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the browser tests need Debian's chromium-driver (scripts/test installs it)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }

    async fn browser(&self) -> fantoccini::Client {
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking"]}
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a browser session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn fill(browser: &fantoccini::Client, css: &str, text: &str) {
    let field = browser
        .find(fantoccini::Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    field.send_keys(text).await.unwrap();
}

/// Clicks a form's button and waits until the browser has loaded the page the form led to.
async fn click(browser: &fantoccini::Client, css: &str) {
    browser
        .execute("window.beforeTheClick = true;", vec![])
        .await
        .unwrap();
    browser
        .find(fantoccini::Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let loaded = browser
            .execute(
                "return window.beforeTheClick === undefined && document.readyState === 'complete';",
                vec![],
            )
            .await;
        if matches!(loaded, Ok(Value::Bool(true))) {
            return;
        }
        assert!(Instant::now() < deadline, "{css} led to no new page");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn path_of(browser: &fantoccini::Client) -> String {
    let url = browser.current_url().await.unwrap();
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    }
}

/// The page's width against the viewport's, and a screenshot under `target/screenshots/`.
async fn measure_and_shoot(browser: &fantoccini::Client, name: &str, width: u32) -> (i64, i64) {
    browser.set_window_size(width, 1000).await.unwrap();
    let sizes = browser
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    let png = browser.screenshot().await.unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}-{width}.png")), png).unwrap();
    (sizes[0].as_i64().unwrap(), sizes[1].as_i64().unwrap())
}

/// In Chromium: the provider's head signs in from the link a message gives, approves a proposal,
/// acknowledges a breach and disputes it; the API shows each. Screenshots of the board, an SLA
/// page and a breach page at 390, 1280 and 1920 px, none wider than the viewport.
async fn a_head_signs_acknowledges_and_disputes_in_a_browser(app: TestApp) {
    let cast = cast(&app).await;
    // The consumer signed first this time; the provider's head signs last, in the browser.
    expect_status(
        app.post(
            "/api/v1/slas",
            app.admin(),
            &count_definition("volume", "lead.qualified", ">=", 20),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.post(
            "/api/v1/slas/volume/approve",
            &cast.sales_head.token,
            &json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let id = breach(&app, &cast, "capped").await;
    let driver = Driver::start();
    let browser = driver.browser().await;

    browser.goto(&app.url("/slas/volume")).await.unwrap();
    assert_eq!(path_of(&browser).await, "/sign-in?next=%2Fslas%2Fvolume");
    fill(&browser, "#email", &cast.marketing_head.email).await;
    fill(&browser, "#password", PASSWORD).await;
    click(&browser, "button[type=submit].primary").await;
    assert_eq!(path_of(&browser).await, "/slas/volume");
    click(&browser, "#approve").await;
    let sla = expect_status(
        app.get("/api/v1/slas/volume", app.admin()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(sla["status"], "active", "{sla}");
    let signers: Vec<&str> = sla["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["user"].as_str().unwrap())
        .collect();
    assert!(
        signers.contains(&cast.marketing_head.email.as_str()),
        "{sla}"
    );

    let page = format!("/breaches/{id}");
    browser.goto(&app.url(&page)).await.unwrap();
    fill(
        &browser,
        "#ack-note",
        "Seen; the three leads are called back today",
    )
    .await;
    click(&browser, "#acknowledge").await;
    assert_eq!(path_of(&browser).await, page);
    let breach = breach_status(&app, &id).await;
    assert_eq!(breach["status"], "acknowledged", "{breach}");
    assert_eq!(
        breach["note"],
        "Seen; the three leads are called back today"
    );
    fill(
        &browser,
        "#dispute-reason",
        "The CRM sync lost a day of events",
    )
    .await;
    click(&browser, "#dispute").await;
    let breach = breach_status(&app, &id).await;
    assert_eq!(breach["status"], "disputed", "{breach}");
    assert_eq!(
        breach["dispute_reason"],
        "The CRM sync lost a day of events"
    );
    let timeline = browser
        .find(fantoccini::Locator::Css("#timeline"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        timeline.contains("Acknowledged") && timeline.contains("Disputed"),
        "{timeline}"
    );

    let backend = if app.database_url().starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    let mut too_wide = Vec::new();
    for (name, path) in [
        ("board", "/".to_string()),
        ("sla", "/slas/volume".to_string()),
        ("breach", page.clone()),
    ] {
        browser.goto(&app.url(&path)).await.unwrap();
        for width in [390, 1280, 1920] {
            let (scroll, inner) =
                measure_and_shoot(&browser, &format!("{name}-{backend}"), width).await;
            if width == 390 && scroll > inner {
                too_wide.push(format!("{name}: {scroll} px wide in a {inner} px viewport"));
            }
        }
    }
    browser.close().await.unwrap();
    assert!(too_wide.is_empty(), "{too_wide:?}");
}
