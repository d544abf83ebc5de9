//! Test fixtures: a fresh database per test on either backend, and the real server on a random port.

use std::collections::HashMap;
use std::sync::Arc;

use accord::clock::ManualClock;
use accord::config::Config;
use accord::startup::Application;
use chrono::Utc;
use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

/// The admin password every test instance starts with.
pub const ADMIN_PASSWORD: &str = "first-admin-password";
/// The admin's sign-in address.
pub const ADMIN_EMAIL: &str = "admin@accord.local";
/// The signing secret of test instances, so tests can forge tokens.
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret!";
/// Password of every account a test creates.
pub const PASSWORD: &str = "a-long-test-password";

/// Which database a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Server-wide PostgreSQL URL for creating per-test databases (`ACCORD_TEST_POSTGRES_URL`).
fn postgres_admin_url() -> String {
    std::env::var("ACCORD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of its own for one test: a SQLite file in a temporary directory, or a uniquely named
/// PostgreSQL database that is dropped when this is dropped.
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    postgres_name: Option<String>,
}

impl TestDb {
    pub fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("accord.db").display());
                Self {
                    url,
                    dir,
                    postgres_name: None,
                }
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let name = format!("accord_test_{}", uuid::Uuid::now_v7().simple());
                let mut conn = PgConnection::establish(&admin_url).unwrap_or_else(|e| {
                    panic!("PostgreSQL tests need a server: set ACCORD_TEST_POSTGRES_URL ({admin_url}): {e}")
                });
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .expect("create test database");
                let (base, _) = admin_url
                    .rsplit_once('/')
                    .expect("URL with a database name");
                let url = format!("{base}/{name}");
                Self {
                    url,
                    dir,
                    postgres_name: Some(name),
                }
            }
        }
    }

    /// The environment an instance on this database runs with.
    pub fn env(&self) -> HashMap<String, String> {
        HashMap::from([
            ("ACCORD_DATABASE_URL".into(), self.url.clone()),
            (
                "ACCORD_DATA_DIR".into(),
                self.dir.path().join("data").display().to_string(),
            ),
            ("ACCORD_BIND".into(), "127.0.0.1:0".into()),
            ("ACCORD_JWT_SECRET".into(), JWT_SECRET.into()),
            ("ACCORD_PASSWORD".into(), ADMIN_PASSWORD.into()),
            ("ACCORD_LOG".into(), "warn".into()),
            ("ACCORD_SCHEDULER".into(), "off".into()),
            ("ACCORD_PUBLIC_URL".into(), "http://accord.test".into()),
        ])
    }
}

impl TestDb {
    /// Destroys the data, as a lost disk or a dropped database would: the SQLite file with its
    /// journal, or the PostgreSQL database, recreated empty.
    pub fn wipe(&self) {
        match &self.postgres_name {
            None => {
                let file = self.url.trim_start_matches("sqlite://");
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{file}{suffix}"));
                }
            }
            Some(name) => {
                let mut conn = PgConnection::establish(&postgres_admin_url()).unwrap();
                diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .unwrap();
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .unwrap();
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.postgres_name
            && let Ok(mut conn) = PgConnection::establish(&postgres_admin_url())
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

/// A running accord on a random port with its own database and a hand-set clock.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// The server's clock; tests move it.
    pub clock: Arc<ManualClock>,
    /// Kept so the database lives as long as the server.
    _db: TestDb,
    admin_token: String,
    server: actix_web::dev::ServerHandle,
}

/// An account created by a test, with a token to act as it.
pub struct Account {
    pub id: String,
    pub email: String,
    pub token: String,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_on(TestDb::new(backend)).await
}

pub async fn spawn_app_on(db: TestDb) -> TestApp {
    spawn_app_with(db, &[]).await
}

/// An instance with extra settings, e.g. small limits.
pub async fn spawn_app_with(db: TestDb, settings: &[(&str, &str)]) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        accord::telemetry::init("info", accord::config::LogFormat::Pretty);
    }
    let mut env = db.env();
    env.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = Config::from_lookup(|name| env.get(name).cloned()).expect("test configuration");
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let application = Application::build(config, clock.clone())
        .await
        .expect("application builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    let server = application.handle();
    actix_web::rt::spawn(application.run_until_stopped());
    let client = reqwest::Client::new();
    let mut app = TestApp {
        address,
        client,
        clock,
        _db: db,
        admin_token: String::new(),
        server,
    };
    app.admin_token = app.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    app
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The instance's data directory (where `.eml` files go without SMTP).
    pub fn data_dir(&self) -> std::path::PathBuf {
        self._db.dir.path().join("data")
    }

    /// The instance's database URL, for tests that drive services directly.
    pub fn database_url(&self) -> &str {
        &self._db.url
    }

    /// Sets the server's clock.
    pub fn set_now(&self, rfc3339: &str) {
        let at = chrono::DateTime::parse_from_rfc3339(rfc3339).expect("RFC 3339");
        self.clock.set(at.with_timezone(&Utc));
    }

    pub fn admin(&self) -> &str {
        &self.admin_token
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Response {
        self.request(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    /// Posts a raw body with a content type.
    pub async fn post_raw(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    /// The `items` of a list answer (200 expected) as `token`.
    pub async fn items(&self, path: &str, token: &str) -> Vec<Value> {
        let page = expect_status(self.get(path, token).await, StatusCode::OK).await;
        page["items"].as_array().expect("a list answer").clone()
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> String {
        let response = self
            .request(
                Method::POST,
                "/api/v1/auth/token",
                None,
                Some(&json!({"email": email, "password": password})),
            )
            .await;
        let body = expect_status(response, StatusCode::OK).await;
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    pub async fn create_team(&self, slug: &str) {
        let body = json!({"slug": slug, "name": slug.to_uppercase(), "email": format!("{slug}@example.com")});
        expect_status(
            self.post("/api/v1/teams", self.admin(), &body).await,
            StatusCode::CREATED,
        )
        .await;
    }

    /// Creates an account (as the admin) and signs it in.
    pub async fn create_user(&self, team: Option<&str>, role: &str) -> Account {
        let email = format!("{role}-{}@example.com", uuid::Uuid::now_v7().simple());
        let body = json!({"email": email, "name": format!("A {role}"), "team": team, "role": role, "password": PASSWORD});
        let created = expect_status(
            self.post("/api/v1/users", self.admin(), &body).await,
            StatusCode::CREATED,
        )
        .await;
        let token = self.sign_in(&email, PASSWORD).await;
        Account {
            id: created["id"].as_str().expect("id").to_string(),
            email,
            token,
        }
    }

    /// Issues a service token (as the admin) and returns its secret and id.
    pub async fn create_service_token(
        &self,
        team: Option<&str>,
        scopes: &[&str],
    ) -> (String, String) {
        let body = json!({"name": "crm-sync", "team": team, "scopes": scopes});
        let issued = expect_status(
            self.post("/api/v1/service-tokens", self.admin(), &body)
                .await,
            StatusCode::CREATED,
        )
        .await;
        (
            issued["token"].as_str().expect("token").to_string(),
            issued["id"].as_str().expect("id").to_string(),
        )
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting; the runtime ends with the test and takes the workers with it.
        drop(self.server.stop(false));
    }
}

/// Asserts the status (showing the body when it differs) and returns the JSON body (`null` if empty).
impl TestApp {
    /// Proposes `sla` as `proposer` and signs it as `signer` (the other party's head): in force,
    /// or still pending when a third signature is missing. Each step must succeed.
    pub async fn propose_and_sign(&self, proposer: &str, signer: &str, sla: &Value) {
        let key = sla["key"].as_str().expect("an SLA has a key");
        expect_status(
            self.post("/api/v1/slas", proposer, sla).await,
            StatusCode::CREATED,
        )
        .await;
        expect_status(
            self.post(&format!("/api/v1/slas/{key}/approve"), signer, &json!({}))
                .await,
            StatusCode::OK,
        )
        .await;
    }
}

pub async fn expect_status(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("JSON body")
    }
}

/// Asserts a problem+json answer with `status` and returns it.
pub async fn expect_problem(response: Response, status: StatusCode) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let problem = expect_status(response, status).await;
    assert_eq!(
        content_type.as_deref(),
        Some("application/problem+json"),
        "{problem}"
    );
    assert_eq!(problem["status"], status.as_u16(), "{problem}");
    assert!(
        problem["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("/problems/")),
        "{problem}"
    );
    assert!(
        problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{problem}"
    );
    problem
}

/// Runs each listed test function against a fresh instance on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[actix_web::test]
            async fn $name() {
                super::$name($crate::helpers::spawn_app($crate::helpers::Backend::Sqlite).await).await
            })*
        }
        mod postgres {
            $(#[actix_web::test]
            async fn $name() {
                super::$name($crate::helpers::spawn_app($crate::helpers::Backend::Postgres).await).await
            })*
        }
    };
}

/// Runs each listed test function, which takes a [`Backend`], once on SQLite and once on
/// PostgreSQL (for tests that start their own instance or process).
#[macro_export]
macro_rules! for_each_backend {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[actix_web::test]
            async fn on_sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[actix_web::test]
            async fn on_postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        })*
    };
}

/// A browser without a browser: the session cookie of the web workspace kept between requests,
/// redirects not followed, forms posted with the page's anti-forgery token.
pub struct WebSession {
    base: String,
    client: reqwest::Client,
    cookie: std::sync::Mutex<Option<String>>,
}

/// A page's answer: status, `Location` (if any) and body.
pub struct PageAnswer {
    pub status: StatusCode,
    pub location: Option<String>,
    pub set_cookie: Vec<String>,
    pub body: String,
}

impl WebSession {
    pub fn new(app: &TestApp) -> Self {
        Self::at(&app.address)
    }

    pub fn at(base: &str) -> Self {
        Self {
            base: base.to_string(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookie: std::sync::Mutex::new(None),
        }
    }

    /// The session cookie's value, if the server set one.
    pub fn cookie(&self) -> Option<String> {
        self.cookie.lock().unwrap().clone()
    }

    /// Uses `cookie` as the session cookie from now on.
    pub fn set_cookie(&self, cookie: Option<String>) {
        *self.cookie.lock().unwrap() = cookie;
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> PageAnswer {
        let request = match self.cookie() {
            Some(cookie) => request.header("cookie", format!("accord_session={cookie}")),
            None => request,
        };
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        let set_cookie: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        for header in &set_cookie {
            if let Some(rest) = header.strip_prefix("accord_session=") {
                let value = rest.split(';').next().unwrap_or_default();
                let removed = value.is_empty() || header.contains("Max-Age=0");
                self.set_cookie((!removed).then(|| value.to_string()));
            }
        }
        PageAnswer {
            status,
            location,
            set_cookie,
            body: response.text().await.expect("body"),
        }
    }

    pub async fn get(&self, path: &str) -> PageAnswer {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    /// Posts `fields` as a form, as they are (no token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> PageAnswer {
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(serde_urlencoded::to_string(fields).unwrap()),
        )
        .await
    }

    /// Posts `fields` with the anti-forgery token of the page at `from`.
    pub async fn post(&self, from: &str, path: &str, fields: &[(&str, &str)]) -> PageAnswer {
        let page = self.get(from).await;
        let token = csrf_in(&page.body)
            .unwrap_or_else(|| panic!("{from} has no form token ({}): {}", page.status, page.body));
        let mut all = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Signs in through the form; panics unless it lands on `/`.
    pub async fn sign_in(&self, email: &str, password: &str) {
        let answer = self
            .post(
                "/sign-in",
                "/sign-in",
                &[("email", email), ("password", password)],
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert_eq!(answer.location.as_deref(), Some("/"));
    }
}

/// The anti-forgery token of the first form in `html`.
pub fn csrf_in(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(html[at..].split('"').next()?.to_string())
}
