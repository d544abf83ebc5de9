//! The authorization matrix: every route × every kind of caller, as `docs/security.md` states it.
//! The table there is the one source: this test reads it, sends every cell's request on a real
//! server (on SQLite and on PostgreSQL) and fails on any status that differs, or on a route of the
//! OpenAPI document that the table leaves out.

use std::collections::{BTreeSet, HashMap};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, PASSWORD, TestApp, TestDb, WebSession, csrf_in,
    expect_status, spawn_app_with,
};

/// The security document, whose matrix this test checks.
const DOCUMENT: &str = include_str!("../../docs/security.md");

/// The callers, in the order of the table's columns.
const CALLERS: [&str; 11] = [
    "anonymous",
    "admin",
    "head of provider",
    "head of consumer",
    "head of other team",
    "member",
    "deactivated",
    "events:write (team)",
    "events:write (any team)",
    "status:read",
    "revoked token",
];

/// One row of the table: the route and the status each caller gets.
struct Row {
    method: Method,
    path: String,
    expected: Vec<u16>,
}

fn matrix_rows() -> Vec<Row> {
    let table = DOCUMENT
        .split("<!-- matrix:start -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- matrix:end -->").next())
        .expect("docs/security.md holds the matrix between its markers");
    let mut lines = table.lines().filter(|l| l.starts_with('|'));
    let header: Vec<&str> = cells(lines.next().expect("a header"));
    assert_eq!(header[1..], CALLERS, "the table's columns are the callers");
    lines
        .skip(1)
        .map(|line| {
            let cells = cells(line);
            let route = cells[0].trim_matches('`');
            let (method, path) = route.split_once(' ').expect("METHOD /path");
            Row {
                method: method.parse().expect("a method"),
                path: path.to_string(),
                expected: cells[1..]
                    .iter()
                    .map(|c| c.parse().expect("a status"))
                    .collect(),
            }
        })
        .collect()
}

fn cells(line: &str) -> Vec<&str> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(str::trim)
        .collect()
}

/// The instance and the records the requests are about.
struct World {
    app: TestApp,
    bearer: HashMap<&'static str, Option<String>>,
    /// People's web sessions (cookie and form token), for the pages.
    sessions: HashMap<&'static str, (String, String)>,
    member_id: String,
    shared_sla: String,
    response_sla: String,
    standing_breach: String,
    counter: std::cell::Cell<u32>,
}

const SLACK_SECRET: &str = "matrix-slack-signing-secret";

fn count_definition(key: &str, event: &str, op: &str, target: u32) -> Value {
    json!({"key": key, "name": format!("SLA {key}"), "provider": "marketing", "consumer": "sales",
        "metric": {"kind": "count", "event": event},
        "objective": {"op": op, "target": target},
        "window": {"kind": "calendar", "period": "month", "timezone": "UTC"}})
}

fn calendar(key: &str) -> Value {
    json!({"key": key, "name": "Office", "timezone": "Europe/Berlin",
        "hours": {"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]]}})
}

impl World {
    async fn new(backend: Backend) -> Self {
        let app = spawn_app_with(
            TestDb::new(backend),
            &[("ACCORD_SLACK_SIGNING_SECRET", SLACK_SECRET)],
        )
        .await;
        for team in ["marketing", "sales", "support"] {
            app.create_team(team).await;
        }
        let head_marketing = app.create_user(Some("marketing"), "head").await;
        let head_sales = app.create_user(Some("sales"), "head").await;
        let head_support = app.create_user(Some("support"), "head").await;
        let member = app.create_user(Some("marketing"), "member").await;
        let deactivated = app.create_user(Some("marketing"), "member").await;
        // Pages know people by their session: each signs in through the form (the deactivated
        // account before it is deactivated).
        let mut sessions = HashMap::new();
        for (caller, email, password) in [
            ("admin", ADMIN_EMAIL, ADMIN_PASSWORD),
            ("head of provider", head_marketing.email.as_str(), PASSWORD),
            ("head of consumer", head_sales.email.as_str(), PASSWORD),
            ("head of other team", head_support.email.as_str(), PASSWORD),
            ("member", member.email.as_str(), PASSWORD),
            ("deactivated", deactivated.email.as_str(), PASSWORD),
        ] {
            let web = WebSession::new(&app);
            web.sign_in(email, password).await;
            let token = csrf_in(&web.get("/").await.body).expect("a form token on the board");
            sessions.insert(caller, (web.cookie().expect("a session cookie"), token));
        }
        expect_status(
            app.delete(&format!("/api/v1/users/{}", deactivated.id), app.admin())
                .await,
            StatusCode::OK,
        )
        .await;
        let (team_writer, _) = app
            .create_service_token(Some("marketing"), &["events:write"])
            .await;
        let (any_writer, _) = app.create_service_token(None, &["events:write"]).await;
        let (reader, _) = app.create_service_token(None, &["status:read"]).await;
        let (revoked, revoked_id) = app
            .create_service_token(Some("marketing"), &["events:write"])
            .await;
        expect_status(
            app.delete(&format!("/api/v1/service-tokens/{revoked_id}"), app.admin())
                .await,
            StatusCode::NO_CONTENT,
        )
        .await;
        let bearer = HashMap::from([
            ("anonymous", None),
            ("admin", Some(app.admin().to_string())),
            ("head of provider", Some(head_marketing.token)),
            ("head of consumer", Some(head_sales.token)),
            ("head of other team", Some(head_support.token)),
            ("member", Some(member.token)),
            ("deactivated", Some(deactivated.token)),
            ("events:write (team)", Some(team_writer)),
            ("events:write (any team)", Some(any_writer)),
            ("status:read", Some(reader)),
            ("revoked token", Some(revoked)),
        ]);
        let mut world = Self {
            app,
            bearer,
            sessions,
            member_id: member.id,
            shared_sla: String::new(),
            response_sla: String::new(),
            standing_breach: String::new(),
            counter: std::cell::Cell::new(0),
        };
        expect_status(
            world
                .app
                .post("/api/v1/calendars", world.app.admin(), &calendar("office"))
                .await,
            StatusCode::CREATED,
        )
        .await;
        // One event of the kind every capped SLA counts, so each of them breaches at once.
        world
            .post_admin(
                "/api/v1/events",
                &json!({"external_id": "escalation-1",
            "kind": "lead.escalated", "subject_id": "lead-1", "team": "marketing",
            "occurred_at": chrono::Utc::now().to_rfc3339()}),
                StatusCode::OK,
            )
            .await;
        world.shared_sla = world
            .active_sla(count_definition("volume", "lead.qualified", ">=", 10))
            .await;
        world.response_sla = world
            .active_sla(
                json!({"key": "response", "name": "Follow-up", "provider": "marketing",
                "consumer": "sales",
                "metric": {"kind": "response_time", "start": {"event": "lead.handed_off"},
                    "stop": {"event": "lead.contacted"}, "threshold": "4h", "calendar": "office"},
                "objective": {"op": ">=", "target": 90},
                "window": {"kind": "calendar", "period": "month", "timezone": "Europe/Berlin"}}),
            )
            .await;
        world.standing_breach = world.fresh_breach().await;
        world
    }

    fn fresh(&self, prefix: &str) -> String {
        let n = self.counter.get() + 1;
        self.counter.set(n);
        format!("{prefix}-{n}")
    }

    async fn post_admin(&self, path: &str, body: &Value, status: StatusCode) -> Value {
        expect_status(self.app.post(path, self.app.admin(), body).await, status).await
    }

    fn token(&self, caller: &str) -> &str {
        self.bearer[caller]
            .as_deref()
            .expect("a caller with a token")
    }

    /// An SLA proposed by the admin (signed by neither party) with `definition`.
    async fn proposed_sla(&self, definition: Value) -> String {
        self.post_admin("/api/v1/slas", &definition, StatusCode::CREATED)
            .await;
        definition["key"].as_str().unwrap().to_string()
    }

    /// An SLA both heads signed.
    async fn active_sla(&self, definition: Value) -> String {
        let key = self.proposed_sla(definition).await;
        for head in ["head of provider", "head of consumer"] {
            expect_status(
                self.app
                    .post(
                        &format!("/api/v1/slas/{key}/approve"),
                        self.token(head),
                        &json!({}),
                    )
                    .await,
                StatusCode::OK,
            )
            .await;
        }
        key
    }

    /// An open breach of a new SLA that allows no escalations and has one.
    async fn fresh_breach(&self) -> String {
        let key = self.fresh("capped");
        self.active_sla(count_definition(&key, "lead.escalated", "<=", 0))
            .await;
        self.post_admin(
            &format!("/api/v1/slas/{key}/evaluate"),
            &json!({}),
            StatusCode::OK,
        )
        .await;
        let breaches = expect_status(
            self.app
                .get(&format!("/api/v1/breaches?sla={key}"), self.app.admin())
                .await,
            StatusCode::OK,
        )
        .await;
        breaches["items"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{key} breached: {breaches}"))
            .to_string()
    }

    /// A message to the provider's address that failed its last attempt, as the dispatcher
    /// leaves it (set in the database once the dispatcher is done with it: no failing mail
    /// server is needed to tell who may retry it).
    async fn failed_message(&self) -> String {
        let marketing_messages = || async {
            let page = expect_status(
                self.app
                    .get("/api/v1/notifications?limit=1000", self.app.admin())
                    .await,
                StatusCode::OK,
            )
            .await;
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["recipient"] == "marketing@example.com")
                .map(|m| (m["id"].as_str().unwrap().to_string(), m["status"].clone()))
                .collect::<Vec<_>>()
        };
        let before: BTreeSet<String> = marketing_messages()
            .await
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        self.fresh_breach().await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let id = loop {
            let sent = marketing_messages()
                .await
                .into_iter()
                .find(|(id, status)| !before.contains(id) && status == "sent");
            if let Some((id, _)) = sent {
                break id;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the breach's message to marketing was not delivered"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        let url = accord::config::DatabaseUrl::parse(self.app.database_url()).unwrap();
        let db = accord::store::Db::open(&url).unwrap();
        let mut conn = db.get().unwrap();
        use accord::store::schema::outbox;
        use diesel::prelude::*;
        diesel::update(outbox::table.find(&id))
            .set(outbox::status.eq("failed"))
            .execute(&mut *conn)
            .unwrap();
        id
    }

    /// The path (with its records made) and the body of one cell's request.
    async fn request(&self, method: &Method, template: &str) -> (String, Option<Value>) {
        let now = chrono::Utc::now();
        let fresh_member = || async {
            let email = format!("{}@example.com", self.fresh("person"));
            let body = json!({"email": email, "name": "Someone", "team": "marketing",
                "role": "member", "password": crate::helpers::PASSWORD});
            let created = self
                .post_admin("/api/v1/users", &body, StatusCode::CREATED)
                .await;
            created["id"].as_str().unwrap().to_string()
        };
        let route = format!("{method} {template}");
        let (path, body) = match route.as_str() {
            "POST /api/v1/auth/token" => (
                template.to_string(),
                Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
            ),
            "POST /api/v1/teams" => (
                template.to_string(),
                Some(json!({"slug": self.fresh("team"), "name": "T", "email": "t@example.com"})),
            ),
            "GET /api/v1/teams/{slug}" => ("/api/v1/teams/marketing".into(), None),
            "PATCH /api/v1/teams/{slug}" => (
                "/api/v1/teams/marketing".into(),
                Some(json!({"name": "MARKETING"})),
            ),
            "POST /api/v1/users" => {
                let email = format!("{}@example.com", self.fresh("new"));
                (
                    template.to_string(),
                    Some(json!({"email": email, "name": "New", "team": "marketing",
                        "role": "member", "password": crate::helpers::PASSWORD})),
                )
            }
            "GET /api/v1/users/{id}" => (format!("/api/v1/users/{}", self.member_id), None),
            "PATCH /api/v1/users/{id}" => (
                format!("/api/v1/users/{}", fresh_member().await),
                Some(json!({"name": "Renamed"})),
            ),
            "DELETE /api/v1/users/{id}" => {
                (format!("/api/v1/users/{}", fresh_member().await), None)
            }
            "POST /api/v1/service-tokens" => (
                template.to_string(),
                Some(json!({"name": "bot", "team": "marketing", "scopes": ["events:write"]})),
            ),
            "DELETE /api/v1/service-tokens/{id}" => {
                let issued = self
                    .post_admin(
                        "/api/v1/service-tokens",
                        &json!({"name": "bot", "team": "marketing", "scopes": ["events:write"]}),
                        StatusCode::CREATED,
                    )
                    .await;
                (
                    format!("/api/v1/service-tokens/{}", issued["id"].as_str().unwrap()),
                    None,
                )
            }
            "POST /api/v1/calendars" => (
                template.to_string(),
                Some(calendar(&self.fresh("calendar"))),
            ),
            "GET /api/v1/calendars/{key}" => ("/api/v1/calendars/office".into(), None),
            "PUT /api/v1/calendars/{key}" => {
                ("/api/v1/calendars/office".into(), Some(calendar("office")))
            }
            "DELETE /api/v1/calendars/{key}" => {
                let key = self.fresh("unused");
                self.post_admin("/api/v1/calendars", &calendar(&key), StatusCode::CREATED)
                    .await;
                (format!("/api/v1/calendars/{key}"), None)
            }
            "POST /api/v1/slas/simulate" => (
                template.to_string(),
                Some(json!({"sla": self.shared_sla,
                    "from": (now - chrono::Duration::days(60)).to_rfc3339(),
                    "to": now.to_rfc3339()})),
            ),
            "POST /api/v1/slas" => (
                template.to_string(),
                Some(count_definition(
                    &self.fresh("new-sla"),
                    "lead.qualified",
                    ">=",
                    5,
                )),
            ),
            "GET /api/v1/slas/{key}"
            | "GET /api/v1/slas/{key}/versions"
            | "GET /api/v1/slas/{key}/evaluations"
            | "POST /api/v1/slas/{key}/evaluate" => {
                (template.replace("{key}", &self.shared_sla), None)
            }
            "GET /api/v1/slas/{key}/violations" => {
                (template.replace("{key}", &self.response_sla), None)
            }
            "PUT /api/v1/slas/{key}" => {
                let key = self.fresh("revised");
                self.active_sla(count_definition(&key, "lead.qualified", ">=", 5))
                    .await;
                (
                    template.replace("{key}", &key),
                    Some(count_definition(&key, "lead.qualified", ">=", 6)),
                )
            }
            "POST /api/v1/slas/{key}/approve" | "POST /api/v1/slas/{key}/reject" => {
                let key = self
                    .proposed_sla(count_definition(
                        &self.fresh("proposal"),
                        "lead.qualified",
                        ">=",
                        5,
                    ))
                    .await;
                let body = if template.ends_with("reject") {
                    json!({"reason": "not this quarter"})
                } else {
                    json!({})
                };
                (template.replace("{key}", &key), Some(body))
            }
            "POST /api/v1/slas/{key}/retire" => {
                let key = self
                    .active_sla(count_definition(
                        &self.fresh("retiring"),
                        "lead.qualified",
                        ">=",
                        5,
                    ))
                    .await;
                (template.replace("{key}", &key), Some(json!({})))
            }
            "POST /api/v1/events" => (
                template.to_string(),
                Some(
                    json!({"external_id": self.fresh("event"), "kind": "lead.created",
                    "subject_id": "lead-9", "team": "marketing", "occurred_at": now.to_rfc3339()}),
                ),
            ),
            "GET /api/v1/breaches/{id}" => (template.replace("{id}", &self.standing_breach), None),
            "POST /api/v1/breaches/{id}/acknowledge" | "POST /api/v1/breaches/{id}/resolve" => (
                template.replace("{id}", &self.fresh_breach().await),
                Some(json!({"note": "seen to"})),
            ),
            "POST /api/v1/breaches/{id}/dispute" => (
                template.replace("{id}", &self.fresh_breach().await),
                Some(json!({"reason": "the CRM sync lost a day"})),
            ),
            "POST /api/v1/notifications/{id}/retry" => {
                (template.replace("{id}", &self.failed_message().await), None)
            }
            "GET /api/v1/reports/compliance" => (
                format!(
                    "{template}?from={}&to={}",
                    (now - chrono::Duration::days(60)).format("%Y-%m-%dT%H:%M:%SZ"),
                    now.format("%Y-%m-%dT%H:%M:%SZ")
                ),
                None,
            ),
            // The web workspace's pages and forms (form fields as a JSON object of strings).
            "GET /slas/{key}" | "GET /slas/{key}/revise" => {
                (template.replace("{key}", &self.shared_sla), None)
            }
            "GET /breaches/{id}" => (template.replace("{id}", &self.standing_breach), None),
            "POST /sign-in" => (
                template.to_string(),
                Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
            ),
            "POST /slas/new" => (
                template.to_string(),
                Some(
                    json!({"intent": "propose", "key": self.fresh("page-sla"), "name": "Volume",
                    "provider": "marketing", "consumer": "sales", "metric": "count",
                    "event": "lead.qualified", "op": ">=", "target": "5", "window": "month",
                    "timezone": "UTC"}),
                ),
            ),
            "POST /slas/{key}/revise" => {
                let key = self.fresh("page-revised");
                self.active_sla(count_definition(&key, "lead.qualified", ">=", 5))
                    .await;
                (
                    template.replace("{key}", &key),
                    Some(
                        json!({"intent": "propose", "name": "Volume", "provider": "marketing",
                        "consumer": "sales", "metric": "count", "event": "lead.qualified",
                        "op": ">=", "target": "6", "window": "month", "timezone": "UTC"}),
                    ),
                )
            }
            "POST /slas/{key}/approve" | "POST /slas/{key}/reject" => {
                let key = self
                    .proposed_sla(count_definition(
                        &self.fresh("page-proposal"),
                        "lead.qualified",
                        ">=",
                        5,
                    ))
                    .await;
                (
                    template.replace("{key}", &key),
                    Some(json!({"reason": "not this quarter"})),
                )
            }
            "POST /breaches/{id}/acknowledge" | "POST /breaches/{id}/resolve" => (
                template.replace("{id}", &self.fresh_breach().await),
                Some(json!({"note": "seen to"})),
            ),
            "POST /breaches/{id}/dispute" => (
                template.replace("{id}", &self.fresh_breach().await),
                Some(json!({"reason": "the CRM sync lost a day"})),
            ),
            _ => {
                assert!(
                    !template.contains('{'),
                    "the matrix test does not know how to fill {route}"
                );
                (template.to_string(), None)
            }
        };
        (path, body)
    }

    async fn send(&self, caller: &str, method: Method, path: &str, body: Option<&Value>) -> u16 {
        if is_page(path) {
            return self.send_to_page(caller, method, path, body).await;
        }
        let mut request = self.app.client.request(method.clone(), self.app.url(path));
        if let Some(token) = &self.bearer[caller] {
            request = request.bearer_auth(token);
        }
        if path.starts_with("/api/v1/integrations/slack") {
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body("command=%2Faccord&text=help");
        } else if let Some(body) = body {
            request = request.json(body);
        }
        request
            .send()
            .await
            .expect("request sent")
            .status()
            .as_u16()
    }
}

/// Whether `path` is one of the web workspace's pages rather than the API or an operator's route.
fn is_page(path: &str) -> bool {
    !path.starts_with("/api/") && !["/healthz", "/readyz", "/metrics"].contains(&path)
}

impl World {
    /// A page as each caller reaches one: a person with their session cookie (forms with its
    /// token), a service token in a share link, anonymous with nothing. Redirects are not followed.
    async fn send_to_page(
        &self,
        caller: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> u16 {
        let session = self.sessions.get(caller);
        let url = match (session, &self.bearer[caller]) {
            (None, Some(token)) => {
                let joiner = if path.contains('?') { '&' } else { '?' };
                format!("{}{joiner}share={token}", self.app.url(path))
            }
            _ => self.app.url(path),
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut request = client.request(method.clone(), url);
        let mut fields: Vec<(String, String)> = body
            .and_then(Value::as_object)
            .map(|fields| {
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        if let Some((cookie, token)) = session {
            request = request.header("cookie", format!("accord_session={cookie}"));
            fields.push(("csrf".into(), token.clone()));
        }
        if method == Method::POST {
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(serde_urlencoded::to_string(&fields).unwrap());
        }
        request
            .send()
            .await
            .expect("request sent")
            .status()
            .as_u16()
    }
}

async fn the_matrix_holds(backend: Backend) {
    let rows = matrix_rows();
    let world = World::new(backend).await;

    // Every operation of the OpenAPI document is a row.
    let document = expect_status(
        world
            .app
            .request(Method::GET, "/api/v1/openapi.json", None, None)
            .await,
        StatusCode::OK,
    )
    .await;
    let in_table: BTreeSet<String> = rows
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let route = format!("{} {path}", method.to_uppercase());
            if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&route.split(' ').next().unwrap())
            {
                assert!(
                    in_table.contains(&route),
                    "{route} is missing from the matrix in docs/security.md"
                );
            }
        }
    }

    let mut wrong = Vec::new();
    for row in &rows {
        for (caller, expected) in CALLERS.iter().zip(&row.expected) {
            let (path, body) = world.request(&row.method, &row.path).await;
            let got = world
                .send(caller, row.method.clone(), &path, body.as_ref())
                .await;
            if got != *expected {
                wrong.push(format!(
                    "{} {} as {caller}: expected {expected}, got {got}",
                    row.method, row.path
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cells differ from docs/security.md:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

crate::for_each_backend!(the_matrix_holds);
