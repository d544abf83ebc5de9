//! Wiring: the database, the signing keys, the routes and the HTTP server.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi;
use utoipa_actix_web::{AppExt, scope};

use crate::auth::jwt::JwtKeys;
use crate::clock::Clock;
use crate::config::Config;
use crate::http::{self, metrics::Metrics};
use crate::service::bootstrap::{self, FirstAdmin};
use crate::store::{self, Db};

/// What every handler can reach.
pub struct AppState {
    /// The database pool.
    pub db: Db,
    /// The source of "now".
    pub clock: Arc<dyn Clock>,
    /// The settings the process started with.
    pub config: Config,
    /// Access-token keys.
    pub jwt: JwtKeys,
    /// Prometheus series.
    pub metrics: Metrics,
    /// Password hashing off the database, and the record of failed sign-ins.
    pub passwords: crate::auth::passwords::Passwords,
}

/// Opens the database, applies migrations, and returns it with the signing keys. With
/// `create_first_admin` (only `serve` sets it), an empty database gets its first admin, returned
/// so the operator can be told. Shared by `serve` and the CLI commands.
pub async fn prepare(
    config: &Config,
    clock: &dyn Clock,
    create_first_admin: bool,
) -> anyhow::Result<(Db, JwtKeys, Option<FirstAdmin>)> {
    config.ensure_data_dir()?;
    let db = Db::open(&config.database_url)?;
    let (now, setup_config) = (clock.now(), config.clone());
    let (secret, first_admin) = db
        .run(move |conn| {
            let applied = store::migrate(conn)?;
            if !applied.is_empty() {
                tracing::info!(migrations = ?applied, "applied database migrations");
            }
            let secret = bootstrap::jwt_secret(conn, &setup_config, now)?;
            let first_admin = match create_first_admin {
                true => bootstrap::first_admin(conn, &setup_config, now)?,
                false => None,
            };
            Ok((secret, first_admin))
        })
        .await
        .map_err(|e| anyhow::anyhow!("database setup failed: {e:#}"))?;
    Ok((db, JwtKeys::new(&secret), first_admin))
}

/// A built, listening server that has not started answering yet.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    first_admin: Option<FirstAdmin>,
    deliverer: crate::email::Deliverer,
    /// Held while serving an SQLite file, so that a second server on it is refused.
    _sqlite_lock: Option<std::fs::File>,
}

/// On SQLite one server serves a database: replicas need PostgreSQL. A second `serve` on the
/// same file is refused at start rather than left to compete for the scheduler and the outbox.
/// The lock is the operating system's, so it is released when the process ends, however.
fn lock_sqlite(config: &Config) -> anyhow::Result<Option<std::fs::File>> {
    let crate::config::DatabaseUrl::Sqlite(path) = &config.database_url else {
        return Ok(None);
    };
    let mut lock_path = path.clone().into_os_string();
    lock_path.push(".serve-lock");
    let lock_path = std::path::PathBuf::from(lock_path);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another accord serve is already serving {}; on SQLite one server serves a database \
             (run replicas on PostgreSQL)",
            config.database_url.redacted()
        ),
        Err(std::fs::TryLockError::Error(error)) => {
            Err(error).with_context(|| format!("cannot lock {}", lock_path.display()))
        }
    }
}

impl Application {
    /// Prepares the database and binds `config.bind` (port 0 picks a free port).
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let deliverer = crate::email::Deliverer::from_config(&config)?;
        config.ensure_data_dir()?;
        let sqlite_lock = lock_sqlite(&config)?;
        let (db, jwt, first_admin) = prepare(&config, clock.as_ref(), true).await?;
        // Hot reads (the board, callers' accounts) are kept in memory while this watches.
        db.watch_changes();
        let listener = TcpListener::bind(&config.bind)
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState {
            db,
            clock,
            config,
            jwt,
            metrics: Metrics::new()?,
            passwords: crate::auth::passwords::Passwords::new(),
        });
        let server = run(listener, state.clone())?;
        Ok(Self {
            port,
            server,
            state,
            first_admin,
            deliverer,
            _sqlite_lock: sqlite_lock,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state, for background work started beside the server.
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// What delivers the outbox.
    pub fn deliverer(&self) -> &crate::email::Deliverer {
        &self.deliverer
    }

    /// The admin created at this start, if the database was empty.
    pub fn first_admin(&self) -> Option<&FirstAdmin> {
        self.first_admin.as_ref()
    }

    /// Serves until SIGTERM or SIGINT, then finishes the requests in flight (up to 30 s). The
    /// scheduler runs beside the server unless `ACCORD_SCHEDULER=off`, and stops with it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let dispatcher = tokio::spawn(crate::scheduler::dispatch::dispatch_periodically(
            self.state.clone(),
            self.deliverer,
        ));
        let scheduler = self
            .state
            .config
            .scheduler
            .then(|| tokio::spawn(crate::scheduler::evaluate_periodically(self.state.clone())));
        let result = self.server.await;
        // A message being sent when the process stops is sent again after its lease: at least once.
        dispatcher.abort();
        if let Some(scheduler) = scheduler {
            scheduler.abort();
        }
        result
    }

    /// A handle to stop the server from elsewhere.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

fn run(listener: TcpListener, state: web::Data<AppState>) -> anyhow::Result<Server> {
    // Built once, outside the factory, so every worker encrypts with the same key.
    let session_key = state.jwt.session_key();
    let secure_cookies = state.config.public_url.starts_with("https://");
    let server = HttpServer::new(move || {
        let (app, api) = App::new()
            .into_utoipa_app()
            .openapi(http::openapi::ApiDoc::openapi())
            .app_data(state.clone())
            .app_data(http::query_config())
            .app_data(http::path_config())
            .service(http::health::healthz)
            .service(http::health::readyz)
            .service(http::metrics::prometheus_metrics)
            .route(
                "/api/v1/openapi.json",
                web::get().to(http::openapi::serve_openapi),
            )
            .service(
                scope("/api/v1")
                    .service(http::auth::issue_token)
                    .service(http::teams::create_team)
                    .service(http::teams::list_teams)
                    .service(http::teams::get_team)
                    .service(http::teams::update_team)
                    .service(http::users::create_user)
                    .service(http::users::list_users)
                    .service(http::users::get_me)
                    .service(http::users::get_user)
                    .service(http::users::update_user)
                    .service(http::users::deactivate_user)
                    .service(http::service_tokens::issue_service_token)
                    .service(http::service_tokens::list_service_tokens)
                    .service(http::service_tokens::revoke_service_token)
                    .service(http::calendars::create_calendar)
                    .service(http::calendars::list_calendars)
                    .service(http::calendars::get_calendar)
                    .service(http::calendars::replace_calendar)
                    .service(http::calendars::delete_calendar)
                    .service(http::evaluations::simulate)
                    .service(http::slas::create_sla)
                    .service(http::slas::list_slas)
                    .service(http::slas::get_sla)
                    .service(http::slas::revise_sla)
                    .service(http::slas::list_sla_versions)
                    .service(http::slas::approve_sla)
                    .service(http::slas::reject_sla)
                    .service(http::slas::retire_sla)
                    .service(http::evaluations::evaluate_sla)
                    .service(http::evaluations::list_evaluations)
                    .service(http::evaluations::list_violations)
                    .service(http::events::post_events)
                    .service(http::events::list_events)
                    .service(http::breaches::list_breaches)
                    .service(http::breaches::get_breach)
                    .service(http::breaches::acknowledge_breach)
                    .service(http::breaches::dispute_breach)
                    .service(http::breaches::resolve_breach)
                    .service(http::breaches::list_notifications)
                    .service(http::breaches::retry_notification)
                    .service(http::status::get_status)
                    .service(http::status::compliance_report)
                    .service(http::slack::slack_command)
                    .service(http::audit::list_audit),
            )
            .split_for_parts();
        let document = web::Data::new(api);
        app.app_data(document)
            .configure(http::pages::routes)
            .default_service(web::to(http::not_found))
            // Innermost: the web workspace's session, read only by pages.
            .wrap(crate::auth::session::middleware(
                session_key.clone(),
                secure_cookies,
            ))
            // The caller is known before any extractor reads a body.
            .wrap(from_fn(crate::auth::authenticate_first))
            // Inside `observe`, so that refused requests are counted too.
            .wrap(from_fn(http::refuse_nul_in_url))
            .wrap(from_fn(http::metrics::observe))
            .wrap(TracingLogger::default())
            // Outermost: a share link's token leaves the URL before the request is logged.
            .wrap(from_fn(crate::auth::take_share_token))
    })
    .listen(listener)?
    .shutdown_timeout(30)
    .run();
    Ok(server)
}
