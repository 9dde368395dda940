//! Dedup stores in SQL: [`PostgresDedup`], and the statements that
//! [`SqliteStore::dedup`](crate::SqliteStore::dedup) runs on the SQLite store's writer thread.
//!
//! Both keep one row per delivery id in `webhook_dedup (key, done, expires_at)` (migration
//! `0002_dedup.sql`), where `expires_at` (unix ms) is the end of the in-flight lease while
//! `done` is false and the end of the TTL once it is true. The semantics are those of
//! [`MemoryDedup`]: a row is live while `expires_at > now`, and an expired row (a crashed
//! claimer's lease, or a completion older than the TTL) is claimable again.
//!
//! A claim is a single upsert, so it is atomic whatever the number of receiver instances:
//!
//! ```sql
//! INSERT INTO webhook_dedup (key, done, expires_at) VALUES (:key, false, :now + :lease)
//! ON CONFLICT (key) DO UPDATE SET done = false, expires_at = excluded.expires_at
//!     WHERE webhook_dedup.expires_at <= :now
//! RETURNING key
//! ```
//!
//! A returned row means [`Claim::New`]; otherwise the live row's `done` tells
//! [`Claim::Duplicate`] from [`Claim::InFlight`].

use std::time::Duration;
#[cfg(feature = "postgres")]
use std::time::SystemTime;

#[cfg(feature = "postgres")]
use std::sync::Arc;

#[cfg(feature = "postgres")]
use async_trait::async_trait;
#[cfg(feature = "postgres")]
use sqlx::{pool::PoolConnection, Postgres};
#[cfg(feature = "postgres")]
use webhook_core::dedup::{Claim, DedupStore, MemoryDedup, StoreError};

#[cfg(feature = "postgres")]
use super::event::to_ms;
#[cfg(feature = "postgres")]
use super::reach::Reach;

/// How long `connect` waits for a connection before giving up.
#[cfg(feature = "postgres")]
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Rows deleted per statement by `purge_expired`, so no purge holds locks for long.
pub(super) const PURGE_BATCH: i64 = 1_000;

/// How many times a claim is tried when the row it lost to disappears (released or purged)
/// before its state could be read. After that the key is reported in flight: the sender
/// retries.
#[cfg(feature = "postgres")]
const CLAIM_ATTEMPTS: usize = 3;

/// The statements, in one database's dialect. Parameters, by position:
/// `claim(key, lease_end, now)`, `state(key, now)`, `complete(key, ttl_end)`,
/// `release(key)`, `purge(now, limit)`.
pub(super) struct Dialect {
    pub(super) claim: &'static str,
    pub(super) state: &'static str,
    pub(super) complete: &'static str,
    pub(super) release: &'static str,
    pub(super) purge: &'static str,
}

#[cfg(feature = "sqlite")]
pub(super) const SQLITE: Dialect = Dialect {
    claim: "INSERT INTO webhook_dedup (key, done, expires_at) VALUES (?1, 0, ?2) \
            ON CONFLICT (key) DO UPDATE SET done = 0, expires_at = excluded.expires_at \
            WHERE webhook_dedup.expires_at <= ?3 \
            RETURNING key",
    state: "SELECT done FROM webhook_dedup WHERE key = ?1 AND expires_at > ?2",
    complete: "UPDATE webhook_dedup SET done = 1, expires_at = ?2 WHERE key = ?1",
    release: "DELETE FROM webhook_dedup WHERE key = ?1",
    purge: "DELETE FROM webhook_dedup WHERE key IN \
            (SELECT key FROM webhook_dedup WHERE expires_at <= ?1 LIMIT ?2)",
};

#[cfg(feature = "postgres")]
const POSTGRES: Dialect = Dialect {
    claim: "INSERT INTO webhook_dedup (key, done, expires_at) VALUES ($1, FALSE, $2) \
            ON CONFLICT (key) DO UPDATE SET done = FALSE, expires_at = excluded.expires_at \
            WHERE webhook_dedup.expires_at <= $3 \
            RETURNING key",
    state: "SELECT done FROM webhook_dedup WHERE key = $1 AND expires_at > $2",
    complete: "UPDATE webhook_dedup SET done = TRUE, expires_at = $2 WHERE key = $1",
    release: "DELETE FROM webhook_dedup WHERE key = $1",
    // SKIP LOCKED: concurrent purgers (one per instance) take disjoint batches. The outer
    // `expires_at` test is re-checked on the latest row version, so a row claimed again
    // meanwhile is kept.
    purge: "DELETE FROM webhook_dedup WHERE key IN \
            (SELECT key FROM webhook_dedup WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED) \
            AND expires_at <= $1",
};

/// A duration in whole milliseconds, saturating.
pub(super) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Wraps a database error with what was being done.
#[cfg(feature = "postgres")]
fn store_error(what: &str, source: sqlx::Error) -> StoreError {
    crate::postgres::classify(format!("postgres: {what} failed"), source)
}

/// A [`DedupStore`] in PostgreSQL: shared by several receiver instances.
///
/// Every claim is one `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` statement, so
/// concurrent claims of a key, from any number of instances, have one winner.
///
/// While the server is down, operations are answered [unavailable](StoreError::is_unavailable)
/// at once rather than after the pool's acquire timeout: an operation that has waited 25 ms
/// for a connection starts a probe, and a probe that is refused marks the server down until
/// one connects again (the same as [`PostgresStore`](crate::PostgresStore)'s).
///
/// ```no_run
/// use std::time::Duration;
/// use webhook_core::dedup::{Claim, DedupStore, MemoryDedup};
/// use webhook_pipeline::PostgresDedup;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = PostgresDedup::connect(
///     "postgres://webhooks@db.internal/webhooks",
///     MemoryDedup::DEFAULT_TTL,
/// )
/// .await?
/// .with_lease(Duration::from_secs(30));
/// if store.claim("stripe:evt_1NG8Du2eZvKYlo2C").await? == Claim::New {
///     // ... store or handle the delivery, then:
///     store.complete("stripe:evt_1NG8Du2eZvKYlo2C").await?;
/// }
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "postgres")]
#[derive(Debug, Clone)]
pub struct PostgresDedup {
    pool: sqlx::PgPool,
    ttl: Duration,
    lease: Duration,
    reach: Arc<Reach>,
}

#[cfg(feature = "postgres")]
impl PostgresDedup {
    /// A store on `pool`, remembering completed ids for `ttl` (see
    /// [`MemoryDedup::DEFAULT_TTL`]), with the default in-flight lease
    /// ([`MemoryDedup::DEFAULT_LEASE`]).
    ///
    /// The `webhook_dedup` table must exist: see [`PostgresDedup::migrate`].
    pub fn new(pool: sqlx::PgPool, ttl: Duration) -> Self {
        let reach = Reach::new("PostgreSQL", crate::postgres::probe(pool.connect_options()));
        Self { pool, ttl, lease: MemoryDedup::DEFAULT_LEASE, reach }
    }

    /// How long a claim may stay in flight before another request may claim the key.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The pool, to share with an event store on the same database.
    pub fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }

    /// A connection from the pool, or "unavailable" at once while the server is known
    /// down, or as soon as a probe finds it down while this waits.
    async fn conn(&self, what: &str) -> Result<PoolConnection<Postgres>, StoreError> {
        self.reach.run(what, self.pool.acquire(), |e| store_error(what, e)).await
    }

    /// [`DedupStore::claim`] with an explicit clock: `now` decides whether an
    /// existing row has expired and when the new lease ends.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the database fails or cannot be reached.
    pub async fn claim_at(&self, key: &str, now: SystemTime) -> Result<Claim, StoreError> {
        let now = to_ms(now);
        let lease_end = now.saturating_add(millis(self.lease));
        let mut conn = self.conn("claim").await?;
        for _ in 0..CLAIM_ATTEMPTS {
            let won: Option<String> = sqlx::query_scalar(POSTGRES.claim)
                .bind(key)
                .bind(lease_end)
                .bind(now)
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| store_error("claim", e))?;
            if won.is_some() {
                return Ok(Claim::New);
            }
            let done: Option<bool> = sqlx::query_scalar(POSTGRES.state)
                .bind(key)
                .bind(now)
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| store_error("reading a claim", e))?;
            match done {
                Some(true) => return Ok(Claim::Duplicate),
                Some(false) => return Ok(Claim::InFlight),
                // Released, purged or expired since the upsert: try again.
                None => {}
            }
        }
        Ok(Claim::InFlight)
    }

    /// [`DedupStore::complete`] with an explicit clock: the key stays a duplicate
    /// until `now + ttl`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the database fails or cannot be reached.
    pub async fn complete_at(&self, key: &str, now: SystemTime) -> Result<(), StoreError> {
        let ttl_end = to_ms(now).saturating_add(millis(self.ttl));
        let mut conn = self.conn("complete").await?;
        sqlx::query(POSTGRES.complete)
            .bind(key)
            .bind(ttl_end)
            .execute(&mut *conn)
            .await
            .map_err(|e| store_error("complete", e))?;
        Ok(())
    }

    /// Deletes the rows expired at `now` (ended leases and completions older than
    /// the TTL), 1,000 per statement, and returns how many went. Expired rows are
    /// already claimable: purging only keeps the table small, so run it now and
    /// then (say hourly) from one place or several.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the database fails or cannot be reached; batches
    /// deleted before the failure stay deleted.
    pub async fn purge_expired(&self, now: SystemTime) -> Result<u64, StoreError> {
        let now = to_ms(now);
        let mut total = 0;
        loop {
            let mut conn = self.conn("purge").await?;
            let deleted = sqlx::query(POSTGRES.purge)
                .bind(now)
                .bind(PURGE_BATCH)
                .execute(&mut *conn)
                .await
                .map_err(|e| store_error("purge", e))?
                .rows_affected();
            total += deleted;
            if deleted < PURGE_BATCH.unsigned_abs() {
                return Ok(total);
            }
        }
    }
}

#[cfg(feature = "postgres")]
#[async_trait]
impl DedupStore for PostgresDedup {
    async fn claim(&self, key: &str) -> Result<Claim, StoreError> {
        self.claim_at(key, SystemTime::now()).await
    }

    async fn complete(&self, key: &str) -> Result<(), StoreError> {
        self.complete_at(key, SystemTime::now()).await
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let mut conn = self.conn("release").await?;
        sqlx::query(POSTGRES.release).bind(key).execute(&mut *conn).await.map_err(|e| store_error("release", e))?;
        Ok(())
    }
}

#[cfg(feature = "postgres")]
impl PostgresDedup {
    /// Connects to the PostgreSQL database at `url`, runs the migrations and returns a
    /// store on a pool that waits at most 5 s for a connection.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the URL is invalid, the server cannot be reached within 5 s,
    /// or a migration fails.
    pub async fn connect(url: &str, ttl: Duration) -> Result<Self, StoreError> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await
            .map_err(|e| store_error("connect", e))?;
        Self::migrate(&pool).await?;
        Ok(Self::new(pool, ttl))
    }

    /// Runs the crate's PostgreSQL migrations (`migrations/postgres`, the event store's
    /// included) on `pool`. Applied migrations are recorded, and concurrent runs from
    /// several instances are serialized by an advisory lock.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when a migration fails or the database cannot be reached.
    pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), StoreError> {
        crate::PostgresStore::migrate(pool).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(not(feature = "postgres"))]
    use crate::event::to_ms;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{SystemTime, UNIX_EPOCH};
    use webhook_core::dedup::{Claim, DedupStore, StoreError};

    /// A name no other test (in this process or another) uses.
    fn unique() -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        format!("{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos)
    }

    const TTL: Duration = Duration::from_secs(10);
    const LEASE: Duration = Duration::from_secs(2);

    /// A fixed clock.
    fn t(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_millis(ms)
    }

    /// What the shared test bodies need beyond [`DedupStore`].
    trait Clocked: DedupStore + 'static {
        async fn claim_at(&self, key: &str, now: SystemTime) -> Result<Claim, StoreError>;
        async fn complete_at(&self, key: &str, now: SystemTime) -> Result<(), StoreError>;
        async fn purge_expired(&self, now: SystemTime) -> Result<u64, StoreError>;
        /// Inserts `n` completed rows `{prefix}{i}` expiring at `expires_at`.
        async fn insert_bulk(&self, prefix: &str, n: i64, expires_at: SystemTime);
    }

    async fn lifecycle(store: &impl Clocked, p: &str) {
        let k = &format!("{p}a");
        assert_eq!(store.claim_at(k, t(0)).await.unwrap(), Claim::New);
        assert_eq!(store.claim_at(k, t(0)).await.unwrap(), Claim::InFlight);
        assert_eq!(store.claim_at(k, t(1_999)).await.unwrap(), Claim::InFlight);
        // The claimer crashed: its lease ends at t(2000), and the key is claimable again.
        assert_eq!(store.claim_at(k, t(2_000)).await.unwrap(), Claim::New);
        assert_eq!(store.claim_at(k, t(2_500)).await.unwrap(), Claim::InFlight);
        store.complete_at(k, t(3_000)).await.unwrap();
        assert_eq!(store.claim_at(k, t(3_000)).await.unwrap(), Claim::Duplicate);
        assert_eq!(store.claim_at(k, t(12_999)).await.unwrap(), Claim::Duplicate);
        // The TTL ends at t(13000).
        assert_eq!(store.claim_at(k, t(13_000)).await.unwrap(), Claim::New);
        // Release frees the key at once.
        store.release(k).await.unwrap();
        assert_eq!(store.claim_at(k, t(13_000)).await.unwrap(), Claim::New);
        store.complete_at(k, t(13_000)).await.unwrap();
        store.release(k).await.unwrap();
        assert_eq!(store.claim_at(k, t(13_000)).await.unwrap(), Claim::New);

        // The same through the trait, on the real clock.
        let store: &dyn DedupStore = store;
        let k = &format!("{p}b");
        assert_eq!(store.claim(k).await.unwrap(), Claim::New);
        assert_eq!(store.claim(k).await.unwrap(), Claim::InFlight);
        store.complete(k).await.unwrap();
        assert_eq!(store.claim(k).await.unwrap(), Claim::Duplicate);
        store.release(k).await.unwrap();
        assert_eq!(store.claim(k).await.unwrap(), Claim::New);
        // Releasing or completing an unknown key is not an error.
        store.release(&format!("{p}never")).await.unwrap();
        store.complete(&format!("{p}never")).await.unwrap();
        assert_eq!(store.claim(&format!("{p}never")).await.unwrap(), Claim::New);
    }

    /// Run on a table of its own: it counts deleted rows.
    async fn purge(store: &impl Clocked, p: &str) {
        let (a, b, c) = (&format!("{p}a"), &format!("{p}b"), &format!("{p}c"));
        for k in [a, b, c] {
            assert_eq!(store.claim_at(k, t(0)).await.unwrap(), Claim::New);
        }
        store.complete_at(c, t(0)).await.unwrap();
        assert_eq!(store.purge_expired(t(1_000)).await.unwrap(), 0);
        // a and b's leases ended at t(2000); c is done until t(10000).
        assert_eq!(store.purge_expired(t(2_000)).await.unwrap(), 2);
        assert_eq!(store.claim_at(c, t(2_000)).await.unwrap(), Claim::Duplicate);
        assert_eq!(store.claim_at(a, t(2_000)).await.unwrap(), Claim::New);
        // More than one batch: 2,345 rows, and a (whose new lease ends at t(4000)).
        store.insert_bulk(p, 2_345, t(5_000)).await;
        assert_eq!(store.purge_expired(t(3_999)).await.unwrap(), 0);
        assert_eq!(store.purge_expired(t(5_000)).await.unwrap(), 2_346);
        assert_eq!(store.claim_at(b, t(5_000)).await.unwrap(), Claim::New);
        assert_eq!(store.claim_at(c, t(5_000)).await.unwrap(), Claim::Duplicate);
        // c, and b's lease (ends at t(7000)).
        assert_eq!(store.purge_expired(t(10_000)).await.unwrap(), 2);
        assert_eq!(store.purge_expired(t(10_000)).await.unwrap(), 0);
    }

    async fn concurrent(store: Arc<impl Clocked>, p: &str) {
        let key: Arc<str> = format!("{p}same").into();
        let barrier = Arc::new(tokio::sync::Barrier::new(64));
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (store, key, barrier) = (Arc::clone(&store), Arc::clone(&key), Arc::clone(&barrier));
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.claim(&key).await
                })
            })
            .collect();
        let mut new = 0;
        for task in tasks {
            match task.await.unwrap().unwrap() {
                Claim::New => new += 1,
                Claim::InFlight => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(new, 1);
    }

    #[cfg(feature = "sqlite")]
    mod sqlite {
        use super::*;

        impl Clocked for crate::SqliteStoreDedup {
            async fn claim_at(&self, key: &str, now: SystemTime) -> Result<Claim, StoreError> {
                crate::SqliteStoreDedup::claim_at(self, key, now).await
            }
            async fn complete_at(&self, key: &str, now: SystemTime) -> Result<(), StoreError> {
                crate::SqliteStoreDedup::complete_at(self, key, now).await
            }
            async fn purge_expired(&self, now: SystemTime) -> Result<u64, StoreError> {
                crate::SqliteStoreDedup::purge_expired(self, now).await
            }
            async fn insert_bulk(&self, prefix: &str, n: i64, expires_at: SystemTime) {
                use crate::{Effects, EventStore};
                let sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
                           INSERT INTO webhook_dedup (key, done, expires_at) SELECT $2 || i, 1, $3 FROM n";
                let effects = Effects::new().execute(sql, [n.into(), prefix.into(), to_ms(expires_at).into()]);
                self.store().execute(&effects).await.unwrap();
            }
        }

        /// The same suite through an event store's writer thread.
        async fn on_store(db: &crate::testing::TempDb) -> crate::SqliteStoreDedup {
            crate::SqliteStore::connect(&db.url()).await.unwrap().dedup(TTL).with_lease(LEASE)
        }

        #[tokio::test]
        async fn sqlite_store_dedup_lifecycle_purge_and_one_winner() {
            let db = crate::testing::TempDb::new();
            let store = on_store(&db).await;
            lifecycle(&store, "k:").await;
            purge(&store, "p:").await;
            let store = Arc::new(store);
            concurrent(Arc::clone(&store), "c:").await;
            store.store().close().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn sqlite_store_dedup_and_the_event_store_share_the_writer() {
            // Claims and deliveries at once, from many tasks: none meets SQLite's lock (a
            // second connection would, and fail with "database is locked" past its timeout).
            use crate::{EventStore, Filter, Inserted};
            let db = crate::testing::TempDb::new();
            let dedup = on_store(&db).await;
            let tasks: Vec<_> = (0..64)
                .map(|i| {
                    let dedup = dedup.clone();
                    tokio::spawn(async move {
                        let key = format!("github:{i}");
                        assert_eq!(dedup.claim(&key).await.unwrap(), Claim::New);
                        let stored = dedup
                            .store()
                            .insert(&[crate::testing::event("github", &i.to_string(), "push")])
                            .await
                            .unwrap();
                        assert!(matches!(stored[..], [Inserted::New(_)]));
                        dedup.complete(&key).await.unwrap();
                        assert_eq!(dedup.claim(&key).await.unwrap(), Claim::Duplicate);
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            assert_eq!(dedup.store().list(&Filter::default(), 100).await.unwrap().len(), 64);
            dedup.store().close().await;
        }

        #[tokio::test]
        async fn sqlite_store_dedup_on_a_missing_directory_is_a_configuration_error() {
            let dir = std::env::temp_dir().join(format!("webhook-dedup-missing-{}", unique()));
            let url = format!("sqlite://{}/x.db", dir.display());
            let err = crate::SqliteStore::connect(&url).await.unwrap_err();
            assert!(err.is_misconfigured() && err.to_string().contains("SQLite"), "{err}");
        }
    }

    #[cfg(feature = "postgres")]
    mod postgres {
        use super::*;
        use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

        impl Clocked for PostgresDedup {
            async fn claim_at(&self, key: &str, now: SystemTime) -> Result<Claim, StoreError> {
                PostgresDedup::claim_at(self, key, now).await
            }
            async fn complete_at(&self, key: &str, now: SystemTime) -> Result<(), StoreError> {
                PostgresDedup::complete_at(self, key, now).await
            }
            async fn purge_expired(&self, now: SystemTime) -> Result<u64, StoreError> {
                PostgresDedup::purge_expired(self, now).await
            }
            async fn insert_bulk(&self, prefix: &str, n: i64, expires_at: SystemTime) {
                sqlx::query(
                    "INSERT INTO webhook_dedup (key, done, expires_at) \
                     SELECT $2 || i, TRUE, $3 FROM generate_series(1, $1) AS i",
                )
                .bind(n)
                .bind(prefix)
                .bind(to_ms(expires_at))
                .execute(self.pool())
                .await
                .unwrap();
            }
        }

        /// Runs `body` on a store in a schema of its own (its own `webhook_dedup` and
        /// migration history), so tests sharing the database never see each other's rows
        /// or migrations. The schema is dropped afterwards, even when `body` panics.
        async fn with_store<F, Fut>(test: &str, body: F)
        where
            F: FnOnce(PostgresDedup) -> Fut,
            Fut: std::future::Future<Output = ()>,
        {
            use futures_util::FutureExt;

            let Some(url) = crate::testing::postgres_url(test) else {
                return;
            };
            let schema = format!("webhook_dedup_test_{}", unique());
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(5))
                .connect(&url)
                .await
                .unwrap();
            sqlx::query(&format!("CREATE SCHEMA \"{schema}\"")).execute(&admin).await.unwrap();
            let options = url.parse::<PgConnectOptions>().unwrap().options([("search_path", schema.as_str())]);
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(5))
                .connect_lazy_with(options);
            let outcome = std::panic::AssertUnwindSafe(async {
                PostgresDedup::migrate(&pool).await.unwrap();
                body(PostgresDedup::new(pool.clone(), TTL).with_lease(LEASE)).await;
            })
            .catch_unwind()
            .await;
            pool.close().await;
            sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE")).execute(&admin).await.unwrap();
            admin.close().await;
            if let Err(panic) = outcome {
                std::panic::resume_unwind(panic);
            }
        }

        /// While the server refuses connections, claims, completions and releases are
        /// answered "unavailable" without the pool's 5 s wait, and the store finds the
        /// server again by itself once it returns.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn postgres_outage_is_answered_unavailable_at_once_and_found_again() {
            use crate::testing::{postgres_url, until_available, ForwardedPostgres};
            let test = "postgres_outage_is_answered_unavailable_at_once_and_found_again";
            let Some(url) = postgres_url(test) else { return };
            let mut pg = ForwardedPostgres::start(&url).await;
            let store = PostgresDedup::new(pg.pool(4), TTL).with_lease(LEASE);
            let key = format!("{}:before", unique());
            assert_eq!(store.claim(&key).await.unwrap(), Claim::New);
            store.complete(&key).await.unwrap();

            pg.cut().await;
            for i in 0..3 {
                let started = std::time::Instant::now();
                let err = store.claim(&format!("{}:down-{i}", unique())).await.unwrap_err();
                assert!(err.is_unavailable(), "{err}");
                assert!(started.elapsed() < ACQUIRE_TIMEOUT / 2, "claim {i} answered after {:?}", started.elapsed());
                let started = std::time::Instant::now();
                let err = store.complete(&key).await.unwrap_err();
                assert!(err.is_unavailable(), "{err}");
                assert!(started.elapsed() < ACQUIRE_TIMEOUT / 2, "complete {i} answered after {:?}", started.elapsed());
                let err = store.release(&key).await.unwrap_err();
                assert!(err.is_unavailable() && err.to_string().contains("PostgreSQL is down"), "{err}");
            }

            pg.restore().await;
            let claimed = until_available(ACQUIRE_TIMEOUT, || store.claim(&key)).await;
            assert_eq!(claimed, Claim::Duplicate, "the key completed before the outage is still done");
            store.pool().close().await;
            pg.finish().await;
        }

        #[tokio::test]
        async fn postgres_lifecycle() {
            with_store("postgres_lifecycle", |store| async move {
                // Migrating again is harmless.
                PostgresDedup::migrate(store.pool()).await.unwrap();
                lifecycle(&store, &format!("{}:", unique())).await;
            })
            .await;
        }

        #[tokio::test]
        async fn postgres_purge() {
            with_store("postgres_purge", |store| async move {
                purge(&store, &format!("{}:", unique())).await;
            })
            .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn postgres_concurrent_claims_have_one_winner() {
            with_store("postgres_concurrent_claims_have_one_winner", |store| async move {
                assert!(store.pool().options().get_max_connections() > 1);
                concurrent(Arc::new(store), &format!("{}:", unique())).await;
            })
            .await;
        }

        #[tokio::test]
        async fn postgres_unreachable_is_an_error() {
            let started = std::time::Instant::now();
            let err = PostgresDedup::connect("postgres://postgres@127.0.0.1:1/test", TTL).await.unwrap_err();
            assert!(err.to_string().contains("postgres"), "{err}");
            assert!(std::error::Error::source(&err).is_some());

            // A store whose server goes away answers errors too.
            let pool = PgPoolOptions::new()
                .acquire_timeout(Duration::from_secs(1))
                .connect_lazy("postgres://postgres@127.0.0.1:1/test")
                .unwrap();
            let store = PostgresDedup::new(pool, TTL);
            assert!(store.claim("k").await.is_err());
            assert!(store.complete("k").await.is_err());
            assert!(store.release("k").await.is_err());
            assert!(store.purge_expired(SystemTime::now()).await.is_err());
            assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
        }
    }
}
