//! Results of hot reads kept while the database has not changed (SQLite).
//!
//! A dedicated connection that never writes asks SQLite's `PRAGMA data_version`, which moves
//! whenever any other connection — of this process or of another one (`accord evaluate`, a
//! replica) — commits to the database file. A kept result is served only while the version it
//! was computed at is still the current one and the clock is within the range the caller said
//! the result holds for; anything else computes afresh. So a kept result is never older than the
//! last commit. On PostgreSQL nothing is kept: every read computes.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::{Db, DbConn};
use crate::error::AppError;

/// The most results kept at once; beyond it the oldest computed is dropped.
const MAX_ENTRIES: usize = 64;

struct Entry {
    version: i64,
    from: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    value: Arc<dyn Any + Send + Sync>,
}

/// The watching connection and the results kept against its data version.
pub(super) struct Memo {
    watch: Mutex<diesel::SqliteConnection>,
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(QueryableByName)]
struct DataVersion {
    #[diesel(sql_type = BigInt)]
    data_version: i64,
}

impl Memo {
    pub(super) fn new(watch: diesel::SqliteConnection) -> Self {
        Self {
            watch: Mutex::new(watch),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Changes whenever another connection committed since the last call.
    fn version(&self) -> QueryResult<i64> {
        let mut watch = self.watch.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(diesel::sql_query("PRAGMA data_version")
            .get_result::<DataVersion>(&mut *watch)?
            .data_version)
    }

    fn get<T: Send + Sync + 'static>(
        &self,
        key: &str,
        version: i64,
        now: DateTime<Utc>,
    ) -> Option<Arc<T>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(key)?;
        let holds = entry.version == version
            && entry.from <= now
            && entry.until.is_none_or(|until| now < until);
        holds.then(|| entry.value.clone().downcast::<T>().ok())?
    }

    fn put(&self, key: String, entry: Entry) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| (e.version, e.from))
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(key, entry);
    }
}

impl Db {
    /// Like [`Db::run`] for a read whose result depends only on the database and on `now`: on
    /// SQLite the result is kept under `key` and served again, without touching the pool, while
    /// nothing has been committed to the database since and `now` is before the instant `f`
    /// returned with it (`None`: no such instant). Errors are not kept.
    pub async fn run_memo<T: Send + Sync + 'static>(
        &self,
        key: String,
        now: DateTime<Utc>,
        f: impl FnOnce(&mut DbConn) -> Result<(T, Option<DateTime<Utc>>), AppError> + Send + 'static,
    ) -> Result<Arc<T>, AppError> {
        let (pool, memo, span) = (
            self.pool.clone(),
            self.memo.clone(),
            tracing::Span::current(),
        );
        tokio::task::spawn_blocking(move || {
            span.in_scope(|| {
                let Some(memo) = memo else {
                    return Ok(Arc::new(f(&mut *pool.get()?)?.0));
                };
                // Read before computing: a commit landing meanwhile makes the next call recompute.
                let version = memo.version()?;
                if let Some(value) = memo.get(&key, version, now) {
                    return Ok(value);
                }
                let (value, until) = f(&mut *pool.get()?)?;
                let value = Arc::new(value);
                let entry = Entry {
                    version,
                    from: now,
                    until,
                    value: value.clone(),
                };
                memo.put(key, entry);
                Ok(value)
            })
        })
        .await
        .context("database task panicked")?
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use chrono::TimeZone;
    use diesel::connection::SimpleConnection;

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

        assert_eq!(count(&db, &calls, at(9)).await, 0);
        assert_eq!(count(&db, &calls, at(10)).await, 0);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "unchanged: served again");

        // A commit through the pool, then one from another connection (as another process).
        db.get()
            .unwrap()
            .batch_execute("INSERT INTO t VALUES (1)")
            .unwrap();
        assert_eq!(count(&db, &calls, at(10)).await, 1);
        let mut other = super::super::connect(&url).unwrap();
        other.batch_execute("INSERT INTO t VALUES (2)").unwrap();
        assert_eq!(count(&db, &calls, at(10)).await, 2);
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        // Outside the time range the result holds for: computed afresh.
        count(&db, &calls, at(12)).await;
        count(&db, &calls, at(8)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }
}
