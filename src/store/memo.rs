//! Hot reads kept in memory until the database changes: the change signal and the cache.
//!
//! The change signal is one counter, the *generation*, that moves whenever something may have
//! been committed that a kept result depends on:
//!
//! - at once, after every commit of [`write_tx`](super::write_tx) in this process (and after the
//!   few writes that a cached read depends on and that run outside it, see [`changed`]);
//! - within [`WATCH_EVERY`] for every other commit, of this process or of another one (a
//!   replica, `accord evaluate`): `serve` runs a thread that watches the database. On PostgreSQL
//!   it `LISTEN`s on [`CHANNEL`], on which triggers of the tables the cached reads use (teams,
//!   users, service tokens, SLAs, versions, evaluations) `NOTIFY` at commit; on SQLite it asks
//!   `PRAGMA data_version`, which moves whenever another connection commits to the file.
//!
//! A kept result is served only while the generation it was computed at is the current one, the
//! watch is up, and the clock is within the range the caller said the result holds for; anything
//! else computes afresh. Without a watch (one-shot commands, or while the watching connection is
//! down) nothing is kept.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::{Db, DbConn};
use crate::config::DatabaseUrl;
use crate::error::AppError;

/// The PostgreSQL channel the change triggers notify on.
pub const CHANNEL: &str = "accord_changes";

/// How often the watching thread looks for changes.
pub const WATCH_EVERY: Duration = Duration::from_millis(25);

/// How often the watching connection is also asked a query, so a silently lost server is noticed.
const PING_EVERY: Duration = Duration::from_secs(2);

/// The most results kept at once (cached accounts and boards); past it, older ones are dropped.
const MAX_ENTRIES: usize = 10_000;

/// The generation: one counter for the process, so a commit through any pool of this process
/// (a test's second pool, a command's) counts. Moving it too often only costs a recomputation.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Moves the change signal: whatever was kept is recomputed at its next read.
pub fn changed() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

struct Entry {
    generation: u64,
    from: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    value: Arc<dyn Any + Send + Sync>,
}

/// The kept results, and whether a watch is up to tell when they go stale.
#[derive(Default)]
pub(super) struct Memo {
    watching: AtomicBool,
    entries: RwLock<HashMap<String, Entry>>,
}

impl Memo {
    /// The generation results are kept against, or `None` when nothing may be kept now.
    fn generation(&self) -> Option<u64> {
        self.watching
            .load(Ordering::SeqCst)
            .then(|| GENERATION.load(Ordering::SeqCst))
    }

    fn get<T: Send + Sync + 'static>(&self, key: &str, now: DateTime<Utc>) -> Option<Arc<T>> {
        let generation = self.generation()?;
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(key)?;
        let holds = entry.generation == generation
            && entry.from <= now
            && entry.until.is_none_or(|until| now < until);
        holds.then(|| entry.value.clone().downcast::<T>().ok())?
    }

    fn put(&self, key: String, entry: Entry) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            let current = GENERATION.load(Ordering::SeqCst);
            entries.retain(|_, e| e.generation == current);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, entry);
    }
}

impl Db {
    /// Like [`Db::run`] for a read whose result depends only on the database and on `now`: the
    /// result is kept under `key` and served again, without touching the pool or leaving the
    /// caller's thread, until the change signal moves or `now` reaches the instant `f` returned
    /// with it (`None`: no such instant). Errors are not kept.
    pub async fn run_memo<T: Send + Sync + 'static>(
        &self,
        key: String,
        now: DateTime<Utc>,
        f: impl FnOnce(&mut DbConn) -> Result<(T, Option<DateTime<Utc>>), AppError> + Send + 'static,
    ) -> Result<Arc<T>, AppError> {
        if let Some(value) = self.memo.get(&key, now) {
            return Ok(value);
        }
        // Read before computing: a change landing meanwhile makes the next call recompute.
        let generation = self.memo.generation();
        let (value, until) = self.run(f).await?;
        let value = Arc::new(value);
        if let Some(generation) = generation {
            let entry = Entry {
                generation,
                from: now,
                until,
                value: value.clone(),
            };
            self.memo.put(key, entry);
        }
        Ok(value)
    }

    /// Starts the thread that watches the database for commits (see the module's comment), for
    /// as long as this pool lives. Until it watches, nothing is kept.
    pub fn watch_changes(&self) {
        let (url, memo) = (self.url.clone(), Arc::downgrade(&self.memo));
        let spawned = std::thread::Builder::new()
            .name("accord-changes".into())
            .spawn(move || watch(&url, &memo));
        if let Err(error) = spawned {
            tracing::warn!(error = %error, "cannot watch the database for changes; nothing is cached");
        }
    }
}

/// A connection that only looks for commits of others.
enum Watcher {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection, i64),
}

#[derive(QueryableByName)]
struct DataVersion {
    #[diesel(sql_type = BigInt)]
    data_version: i64,
}

fn data_version(lite: &mut diesel::SqliteConnection) -> QueryResult<i64> {
    Ok(diesel::sql_query("PRAGMA data_version")
        .get_result::<DataVersion>(lite)?
        .data_version)
}

impl Watcher {
    fn open(url: &DatabaseUrl) -> anyhow::Result<Self> {
        let conn = super::connect(url).context("cannot connect")?;
        Ok(match conn {
            DbConn::Postgres(mut pg) => {
                pg.batch_execute(&format!("LISTEN {CHANNEL}"))?;
                Self::Postgres(pg)
            }
            DbConn::Sqlite(mut lite) => {
                let version = data_version(&mut lite)?;
                Self::Sqlite(lite, version)
            }
        })
    }

    /// Whether anything was committed since the last call.
    fn changed(&mut self) -> QueryResult<bool> {
        match self {
            Self::Postgres(pg) => {
                let mut any = false;
                for notification in pg.notifications_iter() {
                    notification?;
                    any = true;
                }
                Ok(any)
            }
            Self::Sqlite(lite, seen) => {
                let version = data_version(lite)?;
                Ok(std::mem::replace(seen, version) != version)
            }
        }
    }

    fn ping(&mut self) -> QueryResult<()> {
        match self {
            Self::Postgres(pg) => pg.batch_execute("SELECT 1"),
            Self::Sqlite(..) => Ok(()),
        }
    }
}

/// The watching thread: ends when the pool is dropped; reconnects when the connection is lost,
/// keeping nothing meanwhile.
fn watch(url: &DatabaseUrl, memo: &Weak<Memo>) {
    let mut warned = false;
    loop {
        match Watcher::open(url) {
            Ok(mut watcher) => {
                let Some(live) = memo.upgrade() else { return };
                // Anything may have changed while nobody watched.
                changed();
                live.watching.store(true, Ordering::SeqCst);
                drop(live);
                if warned {
                    tracing::info!("watching the database for changes again");
                }
                let mut pinged = Instant::now();
                loop {
                    std::thread::sleep(WATCH_EVERY);
                    let Some(live) = memo.upgrade() else { return };
                    let mut seen = watcher.changed();
                    if seen.is_ok() && pinged.elapsed() >= PING_EVERY {
                        pinged = Instant::now();
                        seen = watcher.ping().map(|()| false);
                    }
                    match seen {
                        Ok(true) => changed(),
                        Ok(false) => {}
                        Err(error) => {
                            live.watching.store(false, Ordering::SeqCst);
                            changed();
                            tracing::warn!(error = %error, "lost the database watch; nothing is cached until it is back");
                            warned = true;
                            break;
                        }
                    }
                }
            }
            Err(error) => {
                if memo.strong_count() == 0 {
                    return;
                }
                if !warned {
                    tracing::warn!(error = %format!("{error:#}"), "cannot watch the database for changes; nothing is cached until it can");
                    warned = true;
                }
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use chrono::TimeZone;

    use super::*;
    use crate::config::DatabaseUrl;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, hour, 0, 0).unwrap()
    }

    async fn count(db: &Db, calls: &Arc<AtomicUsize>, now: DateTime<Utc>) -> i64 {
        let calls = calls.clone();
        let value = db
            .run_memo("n".into(), now, move |conn| {
                calls.fetch_add(1, Ordering::SeqCst);
                #[derive(QueryableByName)]
                struct N {
                    #[diesel(sql_type = BigInt)]
                    n: i64,
                }
                let n = diesel::sql_query("SELECT count(*) AS n FROM t").get_result::<N>(conn)?;
                Ok((n.n, Some(at(12))))
            })
            .await
            .unwrap();
        *value
    }

    /// Until the watch has seen a change, or for at most a second.
    async fn settle(db: &Db, calls: &Arc<AtomicUsize>, now: DateTime<Utc>, want: i64) {
        let deadline = Instant::now() + Duration::from_secs(1);
        while count(db, calls, now).await != want {
            assert!(
                Instant::now() < deadline,
                "the change was not seen within 1 s"
            );
            tokio::time::sleep(WATCH_EVERY).await;
        }
    }

    #[tokio::test]
    async fn kept_results_never_outlive_a_commit_or_their_time() {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::Sqlite(dir.path().join("memo.db"));
        let db = Db::open(&url).unwrap();
        db.get()
            .unwrap()
            .batch_execute("CREATE TABLE t (x)")
            .unwrap();
        let calls = Arc::new(AtomicUsize::new(0));

        // No watch yet: nothing is kept.
        count(&db, &calls, at(9)).await;
        count(&db, &calls, at(9)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        db.watch_changes();
        let deadline = Instant::now() + Duration::from_secs(5);
        while db.memo.generation().is_none() {
            assert!(Instant::now() < deadline, "the watch did not start");
            tokio::time::sleep(WATCH_EVERY).await;
        }
        let before = calls.load(Ordering::SeqCst);
        assert_eq!(count(&db, &calls, at(9)).await, 0);
        assert_eq!(count(&db, &calls, at(10)).await, 0);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            before + 1,
            "unchanged: served again"
        );

        // A write transaction of this process is seen at once.
        super::super::write_tx(&mut db.get().unwrap(), |conn| {
            conn.batch_execute("INSERT INTO t VALUES (1)")
        })
        .unwrap();
        assert_eq!(count(&db, &calls, at(10)).await, 1);
        // A commit from another connection (as another process) within the watch's interval.
        let mut other = super::super::connect(&url).unwrap();
        other.batch_execute("INSERT INTO t VALUES (2)").unwrap();
        settle(&db, &calls, at(10), 2).await;

        // Outside the time range the result holds for: computed afresh.
        let before = calls.load(Ordering::SeqCst);
        count(&db, &calls, at(12)).await;
        count(&db, &calls, at(8)).await;
        assert_eq!(calls.load(Ordering::SeqCst), before + 2);
    }
}
