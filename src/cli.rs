//! The `accord` command line: `serve`, `migrate`, `demo` and the one-shot commands (`user add`,
//! `token issue`, `evaluate`, `import`, `backup`), which work only on an existing instance.

use std::io::BufRead;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::builder::TypedValueParser;
use clap::{Parser, Subcommand};

use crate::auth::Principal;
use crate::auth::jwt::JwtKeys;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, DatabaseUrl};
use crate::domain::duration::Span;
use crate::domain::event::Format;
use crate::domain::identity::{Role, Scope};
use crate::service::bootstrap::FirstAdmin;
use crate::service::users::{self, NewUser};
use crate::startup::{Application, prepare};
use crate::store::{self, Db};

/// accord keeps the SLAs between departments and tells both sides when one is broken.
///
/// Settings come from ACCORD_* environment variables; see docs/operations.md.
#[derive(Debug, Parser)]
#[command(name = "accord", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (applies pending migrations first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Show the whole job on a fresh data directory: teams, heads, three signed SLAs, six weeks
    /// of activity, evaluation, the breaches it opens and their mail (in ACCORD_DATA_DIR/outbox/
    /// unless ACCORD_SMTP_URL is set); prints the breaches, a token and URLs to try on stdout,
    /// then serves.
    Demo {
        /// Set everything up, deliver the mail, and exit without serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Evaluate every active SLA now and store the result (what one scheduler cycle does), or,
    /// with --at, print what the scheduler would have computed then, storing nothing.
    Evaluate {
        /// An RFC 3339 instant in the past: judge as of then, from the events that had arrived by then.
        #[arg(long)]
        at: Option<String>,
    },
    /// Load events from an NDJSON or CSV file (`-` for stdin) without HTTP. Batches commit one by
    /// one; a re-run skips what is stored. Invalid rows are reported and skipped (exit status 1).
    Import {
        /// The file, or `-` for stdin.
        file: String,
        /// ndjson or csv (default: by extension, else ndjson).
        #[arg(long, value_parser = ["ndjson", "csv", "json"])]
        format: Option<String>,
        /// Events per transaction: larger is faster (fewer commits); on SQLite a transaction
        /// holds the write lock, which a running server's writes wait for (up to 5 s). Memory
        /// does not grow with it: the file is streamed in chunks of 5,000.
        #[arg(long, default_value_t = 50_000)]
        batch: usize,
    },
    /// Write a consistent copy of the embedded SQLite database to FILE, while accord runs
    /// (PostgreSQL is backed up with pg_dump; see docs/operations.md).
    Backup {
        /// Where the copy goes; must not exist yet.
        file: std::path::PathBuf,
    },
    /// Manage people.
    User {
        /// What to do with users.
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Access tokens.
    Token {
        /// What to do with tokens.
        #[command(subcommand)]
        command: TokenCommand,
    },
}

/// `accord user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password comes from ACCORD_PASSWORD or the first line of stdin.
    Add {
        /// Sign-in address.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// admin, head or member.
        #[arg(long)]
        role: Role,
        /// Team slug (required for heads and members).
        #[arg(long)]
        team: Option<String>,
    },
}

/// `accord token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print an access token (JWT) for an existing account on stdout, and nothing else.
    Issue {
        /// The account's sign-in address.
        #[arg(long)]
        email: String,
        /// How long the token is valid: 30m, 1h, 7d…
        #[arg(long, default_value = "1h")]
        ttl: Span,
    },
}

impl clap::builder::ValueParserFactory for Role {
    type Parser = clap::builder::TryMapValueParser<
        clap::builder::StringValueParser,
        fn(String) -> Result<Role, String>,
    >;
    fn value_parser() -> Self::Parser {
        clap::builder::StringValueParser::new().try_map(|s| s.parse())
    }
}

impl clap::builder::ValueParserFactory for Span {
    type Parser = clap::builder::TryMapValueParser<
        clap::builder::StringValueParser,
        fn(String) -> Result<Span, String>,
    >;
    fn value_parser() -> Self::Parser {
        clap::builder::StringValueParser::new().try_map(|s| s.parse())
    }
}

/// Runs one command to completion.
pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match command {
        Command::Serve => serve(config, clock).await,
        Command::Migrate => {
            config.ensure_data_dir()?;
            let db = store::Db::open(&config.database_url)?;
            let applied = db.run(|conn| Ok(store::migrate(conn)?)).await?;
            eprintln!(
                "accord: {} migration(s) applied to {}",
                applied.len(),
                config.database_url.redacted()
            );
            Ok(())
        }
        Command::Evaluate { at } => evaluate(config, clock, at).await,
        Command::Backup { file } => {
            if !matches!(config.database_url, DatabaseUrl::Sqlite(_)) {
                bail!(
                    "accord backup copies the embedded SQLite database; back up PostgreSQL with \
                     pg_dump --format=custom (see docs/operations.md, Backups)"
                );
            }
            if file.exists() {
                bail!("{} exists already; choose a new file", file.display());
            }
            let (db, _) = open_existing(&config, clock.as_ref()).await?;
            let target = file.clone();
            db.run(move |conn| Ok(store::backup_sqlite(conn, &target)?))
                .await?;
            eprintln!(
                "accord: backed up {} to {}",
                config.database_url.redacted(),
                file.display()
            );
            Ok(())
        }
        Command::Demo { no_serve } => demo(config, clock, no_serve).await,
        Command::Import {
            file,
            format,
            batch,
        } => {
            let format = format.map(|f| match f.as_str() {
                "csv" => Format::Csv,
                "json" => Format::Json,
                _ => Format::Ndjson,
            });
            let format = crate::import::detect_format(&file, format);
            let (db, _) = open_existing(&config, clock.as_ref()).await?;
            let now = clock.now();
            let name = file.clone();
            let report = tokio::task::spawn_blocking(move || {
                crate::import::run(&db, &file, format, batch.max(1), now)
            })
            .await??;
            let secs = report.elapsed.as_secs_f64();
            let memory = crate::import::peak_memory_mib()
                .map_or(String::new(), |m| format!("; peak memory {m:.0} MiB"));
            eprintln!(
                "accord: imported {name}: {} read, {} new, {} duplicates, {} invalid (skipped) in {secs:.1} s, {:.0} events/s{memory}",
                report.read,
                report.accepted,
                report.duplicates,
                report.invalid,
                report.read as f64 / secs.max(0.001),
            );
            if report.invalid > 0 {
                bail!("{} invalid rows were skipped", report.invalid);
            }
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Add {
                    email,
                    name,
                    role,
                    team,
                },
        } => {
            let password = match &config.admin_password {
                Some(password) => password.expose().to_string(),
                None => read_password()?,
            };
            let (db, _) = open_existing(&config, clock.as_ref()).await?;
            let (new, now) = (
                NewUser {
                    email,
                    name,
                    team,
                    role,
                    password: users::new_password(&password)?,
                },
                clock.now(),
            );
            let user = db
                .run(move |conn| users::create(conn, &Principal::System, new, now))
                .await?;
            println!("{}", user.id);
            eprintln!(
                "accord: created {} ({}) with id {}",
                user.email, user.role, user.id
            );
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Issue { email, ttl },
        } => {
            let (db, jwt) = open_existing(&config, clock.as_ref()).await?;
            let lookup = email.trim().to_lowercase();
            let found = db
                .run(move |conn| Ok(store::users::find_credentials(conn, &lookup)?))
                .await?;
            let user = match found {
                Some((user, _)) if user.deactivated_at.is_none() => user,
                Some(_) => bail!("the account {email} is deactivated"),
                None => bail!("no account with email {email}"),
            };
            println!("{}", jwt.issue(&user, clock.now(), ttl.as_delta())?);
            Ok(())
        }
    }
}

/// Opens the database of an instance that `serve` or `migrate` created, and refuses otherwise:
/// a one-shot command run in the wrong directory, or with a mistyped URL, must say so rather
/// than leave a new empty database behind. SQLite: the file must exist. PostgreSQL: accord's
/// migrations table must exist in the database's schema. Pending migrations of a newer binary
/// are applied, as at a start.
async fn open_existing(config: &Config, clock: &dyn Clock) -> anyhow::Result<(Db, JwtKeys)> {
    let exists = match &config.database_url {
        DatabaseUrl::Sqlite(path) => path.is_file(),
        DatabaseUrl::Postgres(_) => {
            let db = Db::open(&config.database_url)?;
            db.run(|conn| Ok(store::is_initialised(conn)?)).await?
        }
    };
    if !exists {
        bail!(
            "no accord database at {}; run `accord serve` or `accord migrate` first",
            config.database_url.redacted()
        );
    }
    let (db, jwt, _) = prepare(config, clock, false).await?;
    Ok((db, jwt))
}

async fn serve(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    let public_url = config.public_url.clone();
    let application = Application::build(config, clock).await?;
    if let Some(admin) = application.first_admin() {
        print_first_admin(admin, &public_url);
    }
    tracing::info!(port = application.port(), public_url, "accord is serving");
    application
        .run_until_stopped()
        .await
        .context("server failed")?;
    tracing::info!("accord stopped");
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        bail!("no password: set ACCORD_PASSWORD or pass it on stdin");
    }
    Ok(password)
}

/// Tells the operator, once, how to get into a new instance, with a command that works as
/// printed: the generated password is written into it, JSON-escaped and shell-quoted.
fn print_first_admin(admin: &FirstAdmin, public_url: &str) {
    let email = &admin.email;
    let (shown, body) = match admin.generated_password.as_deref() {
        Some(password) => {
            let body = serde_json::json!({"email": email, "password": password});
            (
                format!(
                    "{password}   (shown this once; change it with PATCH /api/v1/users/{{id}} \
                     and {{\"password\": …, \"current_password\": …}})"
                ),
                shell_quote(&body.to_string()),
            )
        }
        // Chosen in the environment: the command reads it from there rather than print it.
        None => (
            "the value of ACCORD_PASSWORD".to_string(),
            format!(r#""{{\"email\":\"{email}\",\"password\":\"$ACCORD_PASSWORD\"}}""#),
        ),
    };
    eprintln!(
        "\naccord: this is a new instance; created the first admin account.\n\
         \x20 email:    {email}\n\
         \x20 password: {shown}\n\
         Get a token:\n\
         \x20 curl -s -X POST {public_url}/api/v1/auth/token -H 'content-type: application/json' -d {body}\n\
         or, beside this server: accord token issue --email {email}\n",
    );
}

/// Quotes `text` for a POSIX shell: inside single quotes nothing is special but `'` itself.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

async fn evaluate(config: Config, clock: Arc<dyn Clock>, at: Option<String>) -> anyhow::Result<()> {
    let at = match at.as_deref() {
        Some(text) => Some(
            crate::domain::event::parse_instant(text)
                .ok_or_else(|| anyhow::anyhow!("--at: {text:?} is not an RFC 3339 instant"))?,
        ),
        None => None,
    };
    let (db, _) = open_existing(&config, clock.as_ref()).await?;
    let (settings, links) = (config.evaluation(), config.links());
    let now = clock.now();
    let mut cycle = None;
    let (evaluations, failed) = match at {
        Some(at) if at > now => bail!("--at lies in the future"),
        Some(at) => (
            db.run(move |conn| crate::service::evaluation::as_of(conn, at, settings))
                .await?,
            Vec::new(),
        ),
        None => {
            let started = std::time::Instant::now();
            let pool = db.clone();
            let report = db
                .run(move |conn| {
                    crate::service::evaluation::run_cycle_with(
                        conn,
                        Some(&pool),
                        now,
                        settings,
                        &links,
                        None,
                    )
                })
                .await?;
            cycle = Some(started.elapsed());
            (report.written, report.failed)
        }
    };
    for e in &evaluations {
        let value = e.value.map_or("no data".to_string(), |v| format!("{v}"));
        let flags = [(e.is_final, "\tfinal"), (e.data_stale, "\tstale")];
        let flags: String = flags
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, f)| *f)
            .collect();
        println!(
            "{}\tv{}\t{}\t{}\t{}\t{} {} {}{flags}",
            e.sla,
            e.version,
            e.period_start.to_rfc3339(),
            e.period_end.to_rfc3339(),
            e.status.as_str(),
            value,
            e.op.as_str(),
            e.target,
        );
    }
    // The cycle's own time, as the server's accord_evaluation_cycle_duration_seconds counts it:
    // without starting the process and opening the database.
    let stored = match cycle {
        Some(took) => format!("written in {:.1} ms", took.as_secs_f64() * 1000.0),
        None => "as of --at; nothing stored".into(),
    };
    eprintln!("accord: {} evaluation(s) {stored}", evaluations.len());
    for (key, reason) in &failed {
        eprintln!("accord: {key} could not be evaluated: {reason}");
    }
    if !failed.is_empty() {
        bail!("{} SLA(s) could not be evaluated", failed.len());
    }
    Ok(())
}

/// Sets the demo up and prints what it did on stdout (logs stay on stderr), then serves.
async fn demo(config: Config, clock: Arc<dyn Clock>, no_serve: bool) -> anyhow::Result<()> {
    let public_url = config.public_url.clone();
    let outbox = config.data_dir.join("outbox");
    let by_mail = config.smtp_url.is_some();
    let application = Application::build(config, clock.clone()).await?;
    let state = application.state();
    let report = crate::demo::prepare(&state, application.deliverer()).await?;
    let head = state
        .db
        .run(|conn| {
            Ok(store::users::find_credentials(
                conn,
                "head@marketing.demo.example.com",
            )?)
        })
        .await?
        .context("the demo's marketing head is missing")?
        .0;
    let token = state
        .jwt
        .issue(&head, clock.now(), chrono::Duration::hours(12))?;
    // Pages answer to signed-in people and to share links: the head makes one for a wall screen.
    let (now, actor) = (clock.now(), Principal::User(head.clone()));
    let wall_screen = crate::service::service_tokens::NewServiceToken {
        name: "wall screen".into(),
        team: None,
        scopes: vec![Scope::StatusRead, Scope::BreachesRead],
    };
    let (_, share) = state
        .db
        .run(move |conn| crate::service::service_tokens::issue(conn, &actor, wall_screen, now))
        .await?;
    let mail = if by_mail {
        "sent through ACCORD_SMTP_URL".to_string()
    } else {
        format!(
            "written to {} (file names start with the kind: ls {}/breach.*)",
            outbox.display(),
            outbox.display()
        )
    };
    let mut breaches = String::new();
    for shown in &report.breaches {
        breaches.push_str(&format!(
            "  {:<11} {}  {} (target: {})  {}\n",
            shown.breach.sla,
            crate::demo::week_label(shown.breach.period_start),
            shown.value,
            shown.target,
            shown.breach.status.as_str(),
        ));
    }
    println!(
        "accord demo: teams marketing and sales, three signed SLAs, six weeks of activity.\n\
         The evaluation opened {count} breach(es):\n{breaches}\
         {delivered} message(s) {mail}.\n\n\
         Sign in at {public_url}/sign-in as head@marketing.demo.example.com or\n\
         \x20 head@sales.demo.example.com, password {password}.\n\
         A read-only board for a wall screen (a share link):\n  {public_url}/?share={share}\n\
         A token for the head of marketing (12 h):\n  export TOKEN={token}\n\
         Then try:\n\
         \x20 curl -s -H \"authorization: Bearer $TOKEN\" {public_url}/api/v1/status?format=text\n\
         \x20 curl -s -H \"authorization: Bearer $TOKEN\" {public_url}/api/v1/breaches\n\
         \x20 curl -s -H \"authorization: Bearer $TOKEN\" {public_url}/api/v1/slas/follow-up/violations\n\
         \x20 curl -s -H \"authorization: Bearer $TOKEN\" {public_url}/api/v1/slas/mql-volume/evaluations",
        count = report.breaches.len(),
        delivered = report.delivered,
        password = crate::demo::DEMO_PASSWORD
    );
    if no_serve {
        return Ok(());
    }
    tracing::info!(port = application.port(), "accord demo is serving");
    application
        .run_until_stopped()
        .await
        .context("server failed")
}
