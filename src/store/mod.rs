//! Storage: one diesel code path over SQLite (embedded default) and PostgreSQL.
//!
//! Everything that touches the database runs inside [`Db::run`] on the blocking pool,
//! through the free functions of the per-table modules.

pub mod audit;
pub mod breaches;
pub mod calendars;
pub mod evaluations;
pub mod events;
pub mod held;
pub mod measure;
pub mod memo;
pub mod outbox;
pub mod schema;
pub mod service_tokens;
pub mod settings;
pub mod slas;
pub mod status;
pub mod teams;
pub mod users;

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, DurationRound, NaiveDateTime, TimeDelta, Utc};
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection};
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::DatabaseUrl;
use crate::error::AppError;

/// A connection to either backend; queries written once run on both.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// PostgreSQL, for production and scale-out.
    Postgres(PgConnection),
    /// Embedded SQLite, the default.
    Sqlite(SqliteConnection),
}

/// Which backend a database is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Settings of every SQLite connection:
/// - WAL, so readers never block the writer, with `synchronous = NORMAL` (durable at each
///   checkpoint, consistent always);
/// - foreign keys, and a busy timeout instead of an instant `SQLITE_BUSY`;
/// - a 48 MiB page cache (grown only as used): inserting into the event indexes of a large table
///   is bound by cache misses with the 2 MiB default, while a larger cache saved less than its
///   upkeep cost and kept a million-event import above 100 MB of memory;
/// - a checkpoint every 100,000 pages (400 MB of WAL) rather than every 1,000: each checkpoint
///   copies back the index pages that the next batch of events dirties again, and checkpointing
///   every 16,384 pages made loading events a fifth slower. After a checkpoint the WAL file is cut
///   back to 64 MiB, so a burst does not keep its disk space.
pub const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA cache_size = -49152; \
     PRAGMA wal_autocheckpoint = 100000; PRAGMA journal_size_limit = 67108864;";

/// Writes a consistent, compacted copy of an SQLite database to `file` (`VACUUM INTO`): a read
/// transaction, so writers carry on meanwhile. The copy is a plain database file: restoring is
/// putting it back in place while accord is stopped.
pub fn backup_sqlite(conn: &mut DbConn, file: &std::path::Path) -> QueryResult<()> {
    diesel::sql_query("VACUUM INTO ?")
        .bind::<diesel::sql_types::Text, _>(file.to_string_lossy().into_owned())
        .execute(conn)?;
    Ok(())
}

/// Opens one connection of the backend the URL names, with accord's session settings.
pub fn connect(url: &DatabaseUrl) -> Result<DbConn, diesel::ConnectionError> {
    match url {
        DatabaseUrl::Postgres(url) => {
            let mut conn = PgConnection::establish(url.expose())?;
            // Timestamps are UTC `TIMESTAMP` columns; keep the session from shifting them, and
            // JIT only adds latency to accord's short queries.
            conn.batch_execute("SET TIME ZONE 'UTC'; SET jit = off;")
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(DbConn::Postgres(conn))
        }
        DatabaseUrl::Sqlite(path) => {
            let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
            conn.batch_execute(SQLITE_PRAGMAS)
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(DbConn::Sqlite(conn))
        }
    }
}

/// Builds pool connections with [`connect`], so the URL scheme, not trial and error, picks the backend.
#[derive(Debug)]
pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConn;
    type Error = diesel::ConnectionError;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        connect(&self.url)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        <DbConn as Connection>::TransactionManager::is_broken_transaction_manager(conn)
    }
}

/// The connection pool, shared by the HTTP workers, the CLI and background jobs.
#[derive(Clone)]
pub struct Db {
    pool: Pool<ConnectionManager>,
    backend: Backend,
    url: DatabaseUrl,
    memo: std::sync::Arc<memo::Memo>,
}

impl Db {
    /// Opens the pool. The first connection is made here so that a bad URL or an unreachable
    /// server fails at start with the real reason.
    pub fn open(url: &DatabaseUrl) -> anyhow::Result<Self> {
        let backend = match url {
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
            DatabaseUrl::Postgres(_) => Backend::Postgres,
        };
        connect(url).with_context(|| format!("cannot open {}", url.redacted()))?;
        // SQLite has one writer at a time: a few connections are enough, and more only queue.
        // No idle minimum: the pool then never opens connections in the background, which a
        // short-lived command could be tearing down (TLS and libpq state) while it exits.
        let max_size = match backend {
            Backend::Sqlite => 4,
            Backend::Postgres => 10,
        };
        let pool = Pool::builder()
            .max_size(max_size)
            .min_idle(Some(0))
            // backend: an SQLite connection is a file handle that does not go stale, so it is
            // not tested with a `SELECT 1` on every checkout as a server connection is.
            .test_on_check_out(backend == Backend::Postgres)
            .connection_timeout(Duration::from_secs(10))
            .build(ConnectionManager { url: url.clone() })
            .with_context(|| format!("cannot open {}", url.redacted()))?;
        Ok(Self {
            pool,
            backend,
            url: url.clone(),
            memo: Default::default(),
        })
    }

    /// The backend behind this pool.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A pooled connection for synchronous callers (the CLI).
    pub fn get(&self) -> Result<PooledConnection<ConnectionManager>, AppError> {
        Ok(self.pool.get()?)
    }

    /// Runs one use case on a pooled connection on the blocking pool, inside the caller's span.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let (pool, span) = (self.pool.clone(), tracing::Span::current());
        tokio::task::spawn_blocking(move || span.in_scope(|| f(&mut *pool.get()?)))
            .await
            .context("database task panicked")?
    }
}

/// Applies the embedded migrations of the connection's backend; returns the versions applied.
pub fn migrate(conn: &mut DbConn) -> anyhow::Result<Vec<String>> {
    let applied = match conn {
        DbConn::Postgres(pg) => {
            // backend: replicas starting together must not run the same migration twice.
            pg.batch_execute("SELECT pg_advisory_lock(7306001)")?;
            let applied = pg
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.iter().map(ToString::to_string).collect());
            pg.batch_execute("SELECT pg_advisory_unlock(7306001)")?;
            applied
        }
        DbConn::Sqlite(lite) => lite
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|v| v.iter().map(ToString::to_string).collect()),
    };
    applied.map_err(|e| anyhow::anyhow!("migration failed: {e}"))
}

/// Whether accord's migrations were ever applied here (their bookkeeping table exists); a
/// PostgreSQL database that `serve` or `migrate` never touched has no such table.
pub fn is_initialised(conn: &mut DbConn) -> anyhow::Result<bool> {
    #[derive(QueryableByName)]
    struct Present {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        present: bool,
    }
    // backend: each keeps its catalogue under its own name.
    let sql = match conn {
        DbConn::Postgres(_) => {
            "SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL AS present"
        }
        DbConn::Sqlite(_) => {
            "SELECT EXISTS (SELECT 1 FROM sqlite_master \
             WHERE name = '__diesel_schema_migrations') AS present"
        }
    };
    let found = diesel::sql_query(sql)
        .get_result::<Present>(conn)
        .context("cannot read migration state")?;
    Ok(found.present)
}

/// Whether migrations embedded in this binary are still to be applied.
pub fn has_pending_migrations(conn: &mut DbConn) -> anyhow::Result<bool> {
    let pending = match conn {
        DbConn::Postgres(pg) => pg.has_pending_migration(POSTGRES_MIGRATIONS),
        DbConn::Sqlite(lite) => lite.has_pending_migration(SQLITE_MIGRATIONS),
    };
    pending.map_err(|e| anyhow::anyhow!("cannot read migration state: {e}"))
}

/// Runs `f` in a write transaction; after it commits, the change signal moves (see [`memo`]).
///
/// backend: on SQLite the transaction starts with `BEGIN IMMEDIATE`, taking the write lock up
/// front; a deferred transaction that reads first and then writes fails at once with
/// `SQLITE_BUSY` when another connection committed meanwhile, which the busy timeout cannot wait out.
pub fn write_tx<T, E>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    if in_transaction(conn)? {
        // Already inside a transaction: nest as a savepoint like `transaction` does; the
        // outermost transaction moves the change signal when it commits.
        return conn.transaction(f);
    }
    let DbConn::Sqlite(lite) = conn else {
        return conn.transaction(f).inspect(|_| memo::changed());
    };
    let _turn = WriterTurn::take();
    AnsiTransactionManager::begin_transaction_sql(lite, "BEGIN IMMEDIATE")?;
    let result = f(conn);
    let DbConn::Sqlite(lite) = conn else {
        unreachable!("the connection does not change its backend")
    };
    match result {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(lite)?;
            memo::changed();
            Ok(value)
        }
        Err(error) => {
            AnsiTransactionManager::rollback_transaction(lite)?;
            Err(error)
        }
    }
}

/// Runs one writing statement outside a transaction (a claim, a delivery's outcome): on SQLite
/// it takes this process's turn to write as [`write_tx`] does, so that it does not wait in the
/// busy handler while the turn passes from one transaction to the next. Inside a transaction it
/// just runs.
pub fn write_alone<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> QueryResult<T>,
) -> QueryResult<T> {
    let sqlite = matches!(conn, DbConn::Sqlite(_));
    let _turn = if sqlite && !in_transaction(conn)? {
        WriterTurn::take()
    } else {
        None
    };
    f(conn)
}

/// This process's turn to write to SQLite, held for one write transaction.
///
/// backend: SQLite lets one connection write at a time; the others wait in its busy handler,
/// which sleeps in steps of up to 100 ms and so leaves the file idle after a commit. Writers of
/// this process queue here instead and start the moment the previous one ends. The wait is cut
/// off after the busy timeout (5 s), when SQLite's own waiting takes over, so a writer that waits
/// for another inside its own transaction is refused as before rather than stuck. One turn
/// serves every SQLite file of the process: write transactions are short. A commit that
/// checkpoints the WAL (every 100,000 pages) keeps the turn while it copies them back, about a
/// second here, and the process's other writers wait that long.
struct WriterTurn;

static WRITER: (std::sync::Mutex<bool>, std::sync::Condvar) =
    (std::sync::Mutex::new(false), std::sync::Condvar::new());

impl WriterTurn {
    fn take() -> Option<WriterTurn> {
        let (taken, freed) = &WRITER;
        let guard = taken
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (mut guard, waited) = freed
            .wait_timeout_while(guard, Duration::from_secs(5), |taken| *taken)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if waited.timed_out() {
            return None;
        }
        *guard = true;
        Some(WriterTurn)
    }
}

impl Drop for WriterTurn {
    fn drop(&mut self) {
        let (taken, freed) = &WRITER;
        *taken
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = false;
        freed.notify_one();
    }
}

/// Whether `conn` is inside a transaction already.
fn in_transaction(conn: &mut DbConn) -> QueryResult<bool> {
    let status = match conn {
        DbConn::Postgres(pg) => AnsiTransactionManager::transaction_manager_status_mut(pg),
        DbConn::Sqlite(lite) => AnsiTransactionManager::transaction_manager_status_mut(lite),
    };
    Ok(status.transaction_depth()?.is_some())
}

/// [`write_tx`] for bulk inserts whose references the caller has checked already: events name
/// their team, which the batch's checker looked up, and teams are never deleted.
///
/// backend: SQLite enforces an immediate foreign key in a multi-row `INSERT` by keeping a
/// statement journal, a copy of every page the statement touches, which made loading events a
/// fifth slower. `foreign_keys` can change only outside a transaction, so it is off around this
/// one and on again afterwards, whatever the outcome.
pub fn bulk_write_tx<T, E>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    let switch = matches!(conn, DbConn::Sqlite(_)) && !in_transaction(conn)?;
    if switch {
        conn.batch_execute("PRAGMA foreign_keys = OFF")?;
    }
    let result = write_tx(conn, f);
    if switch {
        conn.batch_execute("PRAGMA foreign_keys = ON")?;
    }
    result
}

/// Runs `f` in a read transaction, so that its statements see one snapshot of the database.
///
/// backend: on SQLite the transaction is deferred and takes no write lock; its statements also
/// skip taking and dropping a WAL read lock each.
pub fn read_tx<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    conn.transaction(f)
}

/// A stored value that does not read back as its domain type: the row is corrupt.
pub(crate) fn corrupt(e: impl std::fmt::Display) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(e.to_string().into())
}

/// A timestamp as stored: UTC, cut to microseconds so both backends read back the same value.
pub fn to_db_time(at: DateTime<Utc>) -> NaiveDateTime {
    at.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(at)
        .naive_utc()
}

/// A stored timestamp back as UTC.
pub fn from_db_time(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

/// A new time-ordered identifier (UUIDv7), so ids sort in creation order.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    fn migration_names(backend: &str) -> BTreeSet<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn both_migration_trees_have_the_same_versions() {
        let sqlite = migration_names("sqlite");
        assert!(!sqlite.is_empty());
        assert_eq!(sqlite, migration_names("postgres"));
        for name in &sqlite {
            for backend in ["sqlite", "postgres"] {
                for file in ["up.sql", "down.sql"] {
                    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("migrations")
                        .join(backend)
                        .join(name)
                        .join(file);
                    assert!(path.is_file(), "{} is missing", path.display());
                }
            }
        }
    }
}

#[cfg(test)]
mod pragma_tests {
    use super::*;
    use diesel::sql_types::BigInt;

    #[derive(QueryableByName)]
    struct Value {
        #[diesel(sql_type = BigInt)]
        v: i64,
    }

    fn pragma(conn: &mut DbConn, pragma: &str) -> i64 {
        let DbConn::Sqlite(lite) = conn else {
            unreachable!()
        };
        let column = if pragma == "busy_timeout" {
            "timeout"
        } else {
            pragma
        };
        let sql = format!("SELECT {column} AS v FROM pragma_{pragma}()");
        diesel::sql_query(sql).get_result::<Value>(lite).unwrap().v
    }

    #[test]
    fn sqlite_connections_get_accords_settings() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = connect(&DatabaseUrl::Sqlite(dir.path().join("t.db"))).unwrap();
        assert_eq!(pragma(&mut conn, "cache_size"), -49152);
        assert_eq!(pragma(&mut conn, "foreign_keys"), 1);
        assert_eq!(pragma(&mut conn, "busy_timeout"), 5000);
        // Pragmas with side effects have no table-valued form: read by their own statement.
        #[derive(QueryableByName)]
        struct Checkpoint {
            #[diesel(sql_type = BigInt)]
            wal_autocheckpoint: i64,
        }
        #[derive(QueryableByName)]
        struct Limit {
            #[diesel(sql_type = BigInt)]
            journal_size_limit: i64,
        }
        let DbConn::Sqlite(lite) = &mut conn else {
            unreachable!()
        };
        let checkpoint =
            diesel::sql_query("PRAGMA wal_autocheckpoint").get_result::<Checkpoint>(lite);
        assert_eq!(checkpoint.unwrap().wal_autocheckpoint, 100_000);
        let limit = diesel::sql_query("PRAGMA journal_size_limit").get_result::<Limit>(lite);
        assert_eq!(limit.unwrap().journal_size_limit, 64 << 20);
    }

    #[test]
    fn a_bulk_write_turns_foreign_keys_back_on_whatever_its_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = connect(&DatabaseUrl::Sqlite(dir.path().join("t.db"))).unwrap();
        let inside = bulk_write_tx(&mut conn, |conn| {
            Ok::<_, diesel::result::Error>(pragma(conn, "foreign_keys"))
        });
        assert_eq!(inside.unwrap(), 0, "off inside the bulk write");
        assert_eq!(pragma(&mut conn, "foreign_keys"), 1, "on after a commit");
        let failed = bulk_write_tx(&mut conn, |_| {
            Err::<(), _>(diesel::result::Error::RollbackTransaction)
        });
        assert!(failed.is_err());
        assert_eq!(pragma(&mut conn, "foreign_keys"), 1, "on after a rollback");
        // Nested in a transaction the setting cannot change, and is left alone.
        let nested = write_tx(&mut conn, |conn| {
            bulk_write_tx(conn, |conn| {
                Ok::<_, diesel::result::Error>(pragma(conn, "foreign_keys"))
            })
        });
        assert_eq!(nested.unwrap(), 1);
    }
}
