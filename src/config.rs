//! Settings, read once from the environment at start and passed down.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::domain::duration::Span;

/// A setting that is missing or malformed; names the variable so the operator can fix it.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// What is wrong with it, in one line.
    pub reason: String,
}

impl ConfigError {
    fn new(var: &'static str, reason: impl Into<String>) -> Self {
        Self {
            var,
            reason: reason.into(),
        }
    }
}

/// A string that must never reach a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where the data lives: which backend follows from the URL scheme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An embedded SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server; the URL as given (it may hold a password, so never log it whole).
    Postgres(Secret),
}

impl DatabaseUrl {
    /// Parses `sqlite://PATH` (also `sqlite:PATH`) or `postgres://…` / `postgresql://…`.
    /// Anything else is refused, so a mistyped URL never creates a stray SQLite file.
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(Secret::new(url)));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                "expected a sqlite://PATH or postgres://… URL (other schemes are not supported)"
                    .to_string()
            })?;
        if path.is_empty() || path == ":memory:" {
            return Err("a SQLite URL needs a file path (an in-memory database is lost between connections)".into());
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    /// A description safe for logs: the file path, or the PostgreSQL host and database without credentials.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
            Self::Postgres(url) => {
                let rest = url.expose().split_once("://").map_or("", |(_, r)| r);
                let host_and_db = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
                let host_and_db = host_and_db.split('?').next().unwrap_or_default();
                format!("postgres://{host_and_db}")
            }
        }
    }
}

/// Output format of the log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines for a terminal.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Everything accord reads from its environment.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address the HTTP server listens on (`ACCORD_BIND`).
    pub bind: String,
    /// Database location (`ACCORD_DATABASE_URL`, default a SQLite file in the data directory).
    pub database_url: DatabaseUrl,
    /// Directory for the embedded database and files accord writes (`ACCORD_DATA_DIR`).
    pub data_dir: PathBuf,
    /// Base of links in messages (`ACCORD_PUBLIC_URL`).
    pub public_url: String,
    /// Signing secret for access tokens; generated and kept in the database when unset.
    pub jwt_secret: Option<Secret>,
    /// Log filter in `RUST_LOG` syntax (`ACCORD_LOG`).
    pub log_filter: String,
    /// Log line format (`ACCORD_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Password for the first admin at first start and for `accord user add` (`ACCORD_PASSWORD`).
    pub admin_password: Option<Secret>,
    /// Largest body `POST /events` reads, in bytes (`ACCORD_EVENTS_MAX_BYTES`).
    pub events_max_bytes: usize,
    /// Most events one `POST /events` batch may hold (`ACCORD_EVENTS_MAX_BATCH`).
    pub events_max_batch: usize,
    /// How often the scheduler evaluates every active SLA (`ACCORD_EVAL_INTERVAL`).
    pub eval_interval: Span,
    /// How long after its end a period may still be restated (`ACCORD_GRACE`).
    pub grace: Span,
    /// How long without input before an SLA's data is stale (`ACCORD_STALE_AFTER`).
    pub stale_after: Span,
    /// Whether `serve` runs the scheduler (`ACCORD_SCHEDULER`, `on` or `off`).
    pub scheduler: bool,
    /// How often open, unacknowledged breaches are reminded (`ACCORD_REMIND_EVERY`; `0`: never).
    pub remind_every: Option<Span>,
    /// The SMTP server (`ACCORD_SMTP_URL`); without it mail is written as `.eml` files.
    pub smtp_url: Option<Secret>,
    /// The sender of accord's mail (`ACCORD_MAIL_FROM`).
    pub mail_from: String,
    /// First retry delay of a failed delivery, doubled each time (`ACCORD_RETRY_BASE`).
    pub retry_base: Span,
    /// Delivery attempts before a message is `failed` (`ACCORD_MAX_ATTEMPTS`).
    pub max_attempts: i32,
    /// Verifies Slack's requests to the slash-command endpoint (`ACCORD_SLACK_SIGNING_SECRET`).
    pub slack_signing_secret: Option<Secret>,
    /// How long a replica's claim on work (an SLA's evaluation, a message's delivery) lasts
    /// before another replica may take it over (`ACCORD_LEASE`).
    pub lease: Span,
}

fn span(var: &'static str, value: Option<String>, default: &str) -> Result<Span, ConfigError> {
    value
        .as_deref()
        .unwrap_or(default)
        .trim()
        .parse::<Span>()
        .map_err(|e| ConfigError::new(var, e))
}

fn positive(
    var: &'static str,
    value: Option<String>,
    default: usize,
) -> Result<usize, ConfigError> {
    match value {
        None => Ok(default),
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ConfigError::new(
                var,
                format!("expected a positive whole number, got {text:?}"),
            )),
        },
    }
}

/// Shortest accepted `ACCORD_JWT_SECRET`: HS256 is only as strong as its key.
pub const MIN_JWT_SECRET_LEN: usize = 32;

impl Config {
    /// The evaluation spans.
    pub fn evaluation(&self) -> crate::service::evaluation::Settings {
        crate::service::evaluation::Settings {
            grace: self.grace,
            stale_after: self.stale_after,
            remind_every: self.remind_every,
        }
    }

    /// Where links in messages point.
    pub fn links(&self) -> crate::service::breaches::Links {
        crate::service::breaches::Links {
            public_url: self.public_url.clone(),
        }
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can pass their own environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());

        let data_dir = PathBuf::from(get("ACCORD_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database_url = match get("ACCORD_DATABASE_URL") {
            Some(url) => {
                DatabaseUrl::parse(&url).map_err(|e| ConfigError::new("ACCORD_DATABASE_URL", e))?
            }
            None => DatabaseUrl::Sqlite(data_dir.join("accord.db")),
        };

        let bind = get("ACCORD_BIND").unwrap_or_else(|| "127.0.0.1:8080".into());
        if !bind.contains(':')
            || bind
                .rsplit_once(':')
                .is_some_and(|(_, port)| port.parse::<u16>().is_err())
        {
            return Err(ConfigError::new(
                "ACCORD_BIND",
                format!("expected HOST:PORT, got {bind:?}"),
            ));
        }

        let public_url = match get("ACCORD_PUBLIC_URL") {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                url.trim_end_matches('/').to_string()
            }
            Some(url) => {
                return Err(ConfigError::new(
                    "ACCORD_PUBLIC_URL",
                    format!("expected an http:// or https:// URL, got {url:?}"),
                ));
            }
            None => default_public_url(&bind),
        };

        let jwt_secret = match get("ACCORD_JWT_SECRET") {
            Some(secret) if secret.len() < MIN_JWT_SECRET_LEN => {
                return Err(ConfigError::new(
                    "ACCORD_JWT_SECRET",
                    format!(
                        "must be at least {MIN_JWT_SECRET_LEN} characters (unset it to have one generated and kept)"
                    ),
                ));
            }
            other => other.map(Secret::new),
        };

        let log_filter = get("ACCORD_LOG").unwrap_or_else(|| "info".into());
        tracing_subscriber::EnvFilter::try_new(&log_filter)
            .map_err(|e| ConfigError::new("ACCORD_LOG", format!("not a valid filter: {e}")))?;

        let log_format = match get("ACCORD_LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(
                    "ACCORD_LOG_FORMAT",
                    format!("expected pretty or json, got {other:?}"),
                ));
            }
        };

        let admin_password = lookup("ACCORD_PASSWORD")
            .filter(|p| !p.is_empty())
            .map(Secret::new);

        let events_max_bytes = positive(
            "ACCORD_EVENTS_MAX_BYTES",
            get("ACCORD_EVENTS_MAX_BYTES"),
            64 * 1024 * 1024,
        )?;
        let events_max_batch = positive(
            "ACCORD_EVENTS_MAX_BATCH",
            get("ACCORD_EVENTS_MAX_BATCH"),
            100_000,
        )?;

        let eval_interval = span("ACCORD_EVAL_INTERVAL", get("ACCORD_EVAL_INTERVAL"), "60s")?;
        let grace = span("ACCORD_GRACE", get("ACCORD_GRACE"), "48h")?;
        let stale_after = span("ACCORD_STALE_AFTER", get("ACCORD_STALE_AFTER"), "48h")?;
        let scheduler = match get("ACCORD_SCHEDULER").as_deref().map(str::trim) {
            None | Some("on") => true,
            Some("off") => false,
            Some(other) => {
                return Err(ConfigError::new(
                    "ACCORD_SCHEDULER",
                    format!("expected on or off, got {other:?}"),
                ));
            }
        };

        let remind_every = match get("ACCORD_REMIND_EVERY").as_deref().map(str::trim) {
            Some("0") => None,
            other => Some(span(
                "ACCORD_REMIND_EVERY",
                other.map(str::to_owned),
                "24h",
            )?),
        };
        let smtp_url = match get("ACCORD_SMTP_URL") {
            Some(url) if url.starts_with("smtp://") || url.starts_with("smtps://") => {
                Some(Secret::new(url))
            }
            Some(_) => {
                return Err(ConfigError::new(
                    "ACCORD_SMTP_URL",
                    "expected smtp://[user:pass@]host[:port][?tls=required] or smtps://…",
                ));
            }
            None => None,
        };
        let mail_from =
            get("ACCORD_MAIL_FROM").unwrap_or_else(|| "accord <accord@localhost>".into());
        if mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::new(
                "ACCORD_MAIL_FROM",
                format!("{mail_from:?} is not an address (e.g. \"accord <accord@example.com>\")"),
            ));
        }
        let retry_base = span("ACCORD_RETRY_BASE", get("ACCORD_RETRY_BASE"), "30s")?;
        let max_attempts = i32::try_from(positive(
            "ACCORD_MAX_ATTEMPTS",
            get("ACCORD_MAX_ATTEMPTS"),
            8,
        )?)
        .map_err(|_| ConfigError::new("ACCORD_MAX_ATTEMPTS", "too large"))?;

        let slack_signing_secret = get("ACCORD_SLACK_SIGNING_SECRET").map(Secret::new);
        let lease = span("ACCORD_LEASE", get("ACCORD_LEASE"), "5m")?;
        if lease.as_delta() < chrono::Duration::seconds(1) {
            return Err(ConfigError::new("ACCORD_LEASE", "must be at least 1s"));
        }

        Ok(Self {
            lease,
            slack_signing_secret,
            remind_every,
            smtp_url,
            mail_from,
            retry_base,
            max_attempts,
            eval_interval,
            grace,
            stale_after,
            scheduler,
            events_max_bytes,
            events_max_batch,
            admin_password,
            bind,
            database_url,
            data_dir,
            public_url,
            jwt_secret,
            log_filter,
            log_format,
        })
    }

    /// Makes sure the data directory exists (the SQLite file and written files live there).
    pub fn ensure_data_dir(&self) -> Result<(), ConfigError> {
        let dirs: Vec<&Path> = match &self.database_url {
            DatabaseUrl::Sqlite(path) => {
                vec![&self.data_dir, path.parent().unwrap_or(Path::new("."))]
            }
            DatabaseUrl::Postgres(_) => vec![&self.data_dir],
        };
        for dir in dirs.into_iter().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                ConfigError::new(
                    "ACCORD_DATA_DIR",
                    format!("cannot create {}: {e}", dir.display()),
                )
            })?;
        }
        Ok(())
    }
}

fn default_public_url(bind: &str) -> String {
    let host_port = bind
        .replace("0.0.0.0", "127.0.0.1")
        .replace("[::]", "[::1]");
    format!("http://{host_port}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_to_sqlite_in_the_data_dir() {
        let config = config(&[("ACCORD_DATA_DIR", "/var/lib/accord")]).unwrap();
        assert_eq!(
            config.database_url,
            DatabaseUrl::Sqlite("/var/lib/accord/accord.db".into())
        );
        assert_eq!(config.bind, "127.0.0.1:8080");
        assert_eq!(config.public_url, "http://127.0.0.1:8080");
    }

    #[test]
    fn refuses_unknown_schemes_and_names_the_variable() {
        let err = config(&[("ACCORD_DATABASE_URL", "mysql://localhost/accord")]).unwrap_err();
        assert_eq!(err.var, "ACCORD_DATABASE_URL");
        let err = config(&[("ACCORD_DATABASE_URL", "sqlite://:memory:")]).unwrap_err();
        assert_eq!(err.var, "ACCORD_DATABASE_URL");
    }

    #[test]
    fn refuses_bad_settings() {
        for (var, value) in [
            ("ACCORD_BIND", "8080"),
            ("ACCORD_BIND", "localhost:http"),
            ("ACCORD_JWT_SECRET", "short"),
            ("ACCORD_LOG_FORMAT", "xml"),
            ("ACCORD_PUBLIC_URL", "accord.example.com"),
            ("ACCORD_EVENTS_MAX_BATCH", "0"),
            ("ACCORD_EVAL_INTERVAL", "1 minute"),
            ("ACCORD_GRACE", "-1h"),
            ("ACCORD_SCHEDULER", "maybe"),
            ("ACCORD_SMTP_URL", "mail.example.com:25"),
            ("ACCORD_MAIL_FROM", "not an address"),
            ("ACCORD_REMIND_EVERY", "daily"),
            ("ACCORD_EVENTS_MAX_BYTES", "1MB"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{value}");
        }
    }

    #[test]
    fn redacts_postgres_credentials() {
        let url =
            DatabaseUrl::parse("postgres://accord:hunter2@db.internal:5432/accord?sslmode=require")
                .unwrap();
        assert_eq!(url.redacted(), "postgres://db.internal:5432/accord");
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
