#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod audit;
mod batch;
#[cfg(feature = "certificates")]
pub mod certificates;
pub mod effects;
mod event;
mod history;
#[cfg(feature = "sqlite")]
mod migrate_sqlite;
#[cfg(feature = "nats")]
mod nats;
mod pipeline;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "rabbitmq")]
mod rabbitmq;
#[cfg(any(feature = "postgres", feature = "redis"))]
mod reach;
mod retention;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;
mod worker;

pub use audit::{AuditConfig, AuditCount, AuditEntry, AuditFilter, AuditLog, AuditRecord};
pub use batch::{GroupCommit, GroupCommitConfig};
#[cfg(feature = "certificates")]
pub use certificates::{CertificateFetcher, CertificateFetcherBuilder, FetchError};
pub use effects::{Completion, Effects, SqlValue};
pub use event::{Event, EventId, Filter, Inserted, NewEvent, Status};
pub use history::{Attempt, AttemptOutcome, StatusCount, StatusCounts, MAX_ATTEMPTS_KEPT, MAX_ATTEMPT_ERROR};
#[cfg(feature = "nats")]
pub use nats::{NatsConfig, NatsConsumer, NatsConsumerConfig, NatsSink};
pub use pipeline::{Pipeline, PipelineBuilder};
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "rabbitmq")]
pub use rabbitmq::{RabbitConfig, RabbitConsumer, RabbitConsumerConfig, RabbitSink};
pub use retention::{purge_all, PurgeBefore, Purged, RetentionConfig, RetentionError};
#[allow(deprecated)]
pub use router::{
    handler_fn, transactional, typed, EventRouter, Handled, Handler, HandlerError, Router, UnknownEvents,
};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteStore, SqliteStoreDedup};
pub use store::{EventStore, MemoryStore};
pub use webhook_core::dedup::StoreError;
pub use worker::{RetryPolicy, WorkerConfig, Workers};

#[cfg(any(test, feature = "testing"))]
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub mod testing;

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::EventStore;

    #[tokio::test]
    async fn memory_store_conformance() {
        conformance(&super::MemoryStore::new()).await;
        listing_conformance(&super::MemoryStore::new()).await;
        history_conformance(&super::MemoryStore::new()).await;
        handoff_conformance(&super::MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn memory_store_keeps_a_body_of_its_own_not_the_servers_buffer() {
        // A request body is often a slice of the server's read buffer (8 KiB and more); a
        // store that kept the slice would pin the whole buffer for the life of the event.
        let buffer = bytes::Bytes::from(vec![b'{'; 8192]);
        let mut e = event("github", "d1", "push");
        e.body = buffer.slice(0..1);
        let store = super::MemoryStore::new();
        store.insert(std::slice::from_ref(&e)).await.expect("insert");
        drop(e);
        assert!(buffer.is_unique(), "the store still references the request's buffer");
        let stored = store.list(&super::Filter::default(), 1).await.expect("list");
        assert_eq!(stored[0].body, bytes::Bytes::from_static(b"{"));
    }

    /// Stores `n` events of `body_len` bytes received at `received`, then leases and
    /// completes every event due at that time.
    async fn handled(store: &dyn EventStore, prefix: &str, n: usize, body_len: usize, received: std::time::SystemTime) {
        for chunk in (0..n).collect::<Vec<_>>().chunks(250) {
            let batch: Vec<_> = chunk
                .iter()
                .map(|i| {
                    let mut e = event("github", &format!("{prefix}-{i}"), "push");
                    e.body = bytes::Bytes::from(vec![b'x'; body_len]);
                    e.received_at = received;
                    e
                })
                .collect();
            store.insert(&batch).await.expect("insert");
        }
        let lease = std::time::Duration::from_secs(60);
        loop {
            let leased = store.lease("w", 1000, lease, received).await.expect("lease");
            if leased.is_empty() {
                break;
            }
            let ids: Vec<_> = leased.iter().map(|e| e.id).collect();
            assert_eq!(store.complete_many(&ids, "w").await.expect("complete"), ids.len() as u64);
        }
    }

    #[tokio::test]
    async fn memory_store_evicts_the_oldest_handled_events_beyond_its_cap() {
        let store = super::MemoryStore::with_done_capacity(3);
        handled(&store, "old", 2, 10, at(0)).await;
        handled(&store, "new", 3, 10, at(10)).await;
        assert_eq!(store.evicted(), 2);
        let kept = store.list(&super::Filter::default(), 10).await.expect("list");
        assert_eq!(kept.iter().map(|e| e.delivery_id.as_str()).collect::<Vec<_>>(), ["new-2", "new-1", "new-0"]);
        // Dead and waiting events are never evicted, however many.
        let waiting = super::NewEvent { received_at: at(1000), ..event("github", "waiting", "push") };
        store.insert(&[event("github", "dead", "push"), waiting]).await.expect("insert");
        let leased = store.lease("w", 1, std::time::Duration::from_secs(60), at(20)).await.expect("lease");
        assert!(store.fail(leased[0].id, "w", "boom", None).await.expect("fail"));
        handled(&store, "newer", 1, 10, at(30)).await;
        assert_eq!(store.evicted(), 3);
        let statuses: Vec<_> =
            store.list(&super::Filter::default(), 10).await.expect("list").into_iter().map(|e| e.status).collect();
        assert_eq!(statuses.iter().filter(|s| **s == super::Status::Done).count(), 3);
        assert_eq!(statuses.iter().filter(|s| **s == super::Status::Dead).count(), 1);
        assert_eq!(store.depth().await.expect("depth"), 1);
    }

    #[tokio::test]
    async fn the_pipeline_purges_in_the_background_until_shutdown() {
        use std::time::{Duration, Instant, SystemTime};
        let store = std::sync::Arc::new(super::MemoryStore::new());
        // Handled in 2023 (past any retention against the real clock) and just now.
        handled(&*store, "old", 3, 10, at(0)).await;
        handled(&*store, "recent", 2, 10, SystemTime::now()).await;
        let short = super::RetentionConfig::default().done(Duration::from_secs(3600));
        let refused = super::Pipeline::builder(store.clone()).retention(short).expect_err("shorter than the TTL");
        assert!(refused.to_string().contains("dedup TTL"), "{refused}");
        let config = super::RetentionConfig::default().batch(2).interval(Duration::from_millis(10));
        let pipeline = super::Pipeline::builder(store.clone()).retention(config).expect("valid").start();
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.list(&super::Filter::default(), 10).await.expect("list").len() > 2 {
            assert!(Instant::now() < deadline, "the purger did not purge within 10 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let kept = store.list(&super::Filter::default(), 10).await.expect("list");
        assert!(kept.iter().all(|e| e.delivery_id.starts_with("recent")), "{kept:?}");
        pipeline.shutdown().await;
        // Stopped: an old handled event stored now stays.
        handled(&*store, "after", 1, 10, at(0)).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(store.list(&super::Filter::default(), 10).await.expect("list").len(), 3);
    }

    /// The file size of a SQLite store (with its WAL) over rounds of handled deliveries
    /// with a retention of two rounds: it reaches a plateau.
    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_file_stops_growing_under_retention() {
        const ROUNDS: u64 = 12;
        const PER_ROUND: usize = 2_000;
        let db = TempDb::new();
        let store = super::SqliteStore::connect(&db.url()).await.expect("open");
        let size = || {
            ["", "-wal"]
                .iter()
                .map(|s| std::fs::metadata(format!("{}{s}", db.path.display())).map_or(0, |m| m.len()))
                .sum::<u64>()
        };
        let mut sizes = Vec::new();
        for round in 0..ROUNDS {
            let now = at(round * 3600);
            handled(&store, &format!("r{round}"), PER_ROUND, 1500, now).await;
            // Keep the last two rounds' events.
            let before = super::PurgeBefore::none().done(at((round.saturating_sub(1)) * 3600));
            super::purge_all(&store, &before, 500).await.expect("purge");
            sizes.push(size());
        }
        eprintln!("SQLite file + WAL after each round of {PER_ROUND} handled 1.5 KB deliveries: {sizes:?}");
        let conn = rusqlite::Connection::open(&db.path).expect("open");
        let count = |table: &str| -> i64 {
            conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).expect("count")
        };
        assert_eq!((count("webhook_events"), count("webhook_bodies")), (2 * PER_ROUND as i64, 2 * PER_ROUND as i64));
        let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0)).expect("auto_vacuum");
        assert_eq!(mode, 2, "a new file is created with auto_vacuum = INCREMENTAL");
        drop(conn);
        // A plateau: the last round is no larger than the largest of the first few.
        let early = sizes[..4].iter().max().copied().unwrap_or(0);
        assert!(sizes[ROUNDS as usize - 1] <= early + early / 10, "still growing: {sizes:?}");
        // Traffic stops and everything is purged: the freed pages go back to the file
        // system (incremental vacuum), and the file shrinks once the WAL is checkpointed.
        let everything = super::PurgeBefore::none().done(at(ROUNDS * 3600));
        assert_eq!(super::purge_all(&store, &everything, 500).await.expect("purge").done, 2 * PER_ROUND as u64);
        store.close().await;
        let emptied = size();
        eprintln!("after purging every event and closing: {emptied}");
        assert!(emptied < early / 4, "the file did not shrink: {emptied} of {sizes:?}");
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_store_conformance() {
        let db = TempDb::new();
        let store = super::SqliteStore::connect(&db.url()).await.expect("open");
        conformance(&store).await;
        store.close().await;
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_store_history_conformance() {
        let db = TempDb::new();
        let store = super::SqliteStore::connect(&db.url()).await.expect("open");
        history_conformance(&store).await;
        store.close().await;
    }

    #[cfg(feature = "postgres")]
    #[tokio::test]
    async fn postgres_store_history_conformance() {
        let Some(url) = postgres_url("postgres_store_history_conformance") else {
            return;
        };
        let (store, schema) = postgres_store(&url).await;
        history_conformance(&store).await;
        store.close().await;
        drop_schema(&url, &schema).await;
    }

    #[cfg(feature = "postgres")]
    #[tokio::test]
    async fn postgres_migration_9_moves_body_lengths_onto_the_events_and_keeps_the_counts() {
        use super::{PurgeBefore, Status};
        use std::str::FromStr;
        let Some(url) = postgres_url("postgres_migration_9_moves_body_lengths_onto_the_events_and_keeps_the_counts")
        else {
            return;
        };
        // A schema as migration 8 left it, with events in three statuses.
        let (store, schema) = postgres_store(&url).await;
        store.close().await;
        let options =
            sqlx::postgres::PgConnectOptions::from_str(&url).unwrap().options([("search_path", schema.as_str())]);
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect_with(options).await.unwrap();
        sqlx::query("DROP TABLE webhook_events, webhook_bodies, webhook_event_counts, _sqlx_migrations CASCADE")
            .execute(&pool)
            .await
            .unwrap();
        let mut eight = sqlx::migrate!("./migrations/postgres");
        eight.migrations =
            std::borrow::Cow::Owned(eight.migrations.iter().filter(|m| m.version <= 8).cloned().collect());
        eight.run(&pool).await.unwrap();
        for (id, status, body) in [(1, "done", "abc"), (2, "done", "de"), (3, "dead", "f"), (4, "pending", "")] {
            sqlx::query(
                "INSERT INTO webhook_events (id, provider, delivery_id, received_at, status, next_attempt_at) \
                 VALUES ($1, 'p', $1::text, 0, $2, 0)",
            )
            .bind(id)
            .bind(status)
            .execute(&pool)
            .await
            .unwrap();
            sqlx::query("INSERT INTO webhook_bodies (id, headers, body) VALUES ($1, '[]', $2)")
                .bind(id)
                .bind(body.as_bytes())
                .execute(&pool)
                .await
                .unwrap();
        }
        let store = super::PostgresStore::new(pool.clone());
        let before = store.status_counts().await.unwrap();
        assert_eq!(before.get(Status::Done), crate::StatusCount::new(2, 5));
        super::PostgresStore::migrate(&pool).await.unwrap();
        let lengths: Vec<(i64, i64)> =
            sqlx::query_as("SELECT id, body_bytes FROM webhook_events ORDER BY id").fetch_all(&pool).await.unwrap();
        assert_eq!(lengths, [(1, 3), (2, 2), (3, 1), (4, 0)]);
        assert_eq!(store.status_counts().await.unwrap(), before, "carried over");
        // From now on the events' own lengths count: a purge of the two done events.
        let purged = store.purge(&PurgeBefore::none().done(at(1)), 10).await.unwrap();
        assert_eq!(purged.done, 2);
        let after = store.status_counts().await.unwrap();
        assert_eq!(
            (after.get(Status::Done), after.get(Status::Dead)),
            (crate::StatusCount::new(0, 0), crate::StatusCount::new(1, 1))
        );
        pool.close().await;
        drop_schema(&url, &schema).await;
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_store_handoff_conformance() {
        let db = TempDb::new();
        let store = super::SqliteStore::connect(&db.url()).await.expect("open");
        handoff_conformance(&store).await;
        store.close().await;
    }

    #[cfg(feature = "postgres")]
    #[tokio::test]
    async fn postgres_store_handoff_conformance() {
        let Some(url) = postgres_url("postgres_store_handoff_conformance") else {
            return;
        };
        let (store, schema) = postgres_store(&url).await;
        handoff_conformance(&store).await;
        store.close().await;
        drop_schema(&url, &schema).await;
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_store_listing_conformance() {
        let db = TempDb::new();
        let store = super::SqliteStore::connect(&db.url()).await.expect("open");
        listing_conformance(&store).await;
        store.close().await;
    }

    #[cfg(feature = "postgres")]
    #[tokio::test]
    async fn postgres_store_listing_conformance() {
        let Some(url) = postgres_url("postgres_store_listing_conformance") else {
            return;
        };
        let (store, schema) = postgres_store(&url).await;
        listing_conformance(&store).await;
        store.close().await;
        drop_schema(&url, &schema).await;
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_store_runs_effects_with_the_done_mark() {
        let db = TempDb::new();
        let store = super::SqliteStore::connect(&db.url()).await.expect("open");
        let path = db.path.clone();
        let rows = || {
            let path = path.clone();
            async move {
                let conn = rusqlite::Connection::open(path).expect("open");
                let mut stmt = conn
                    .prepare("SELECT event_id, note, amount, flag, raw FROM effect_log ORDER BY event_id, note")
                    .expect("query");
                let rows = stmt.query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<f64>>(2)?,
                        r.get::<_, Option<bool>>(3)?,
                        r.get::<_, Option<Vec<u8>>>(4)?,
                    ))
                });
                rows.expect("rows")
                    .map(|r| r.expect("row"))
                    .map(|(id, note, amount, flag, raw)| {
                        // Every value type arrives as itself.
                        if note.is_some() {
                            assert_eq!((amount, flag, raw), (Some(12.5), Some(true), Some(vec![0, 255])));
                        }
                        (id, note)
                    })
                    .collect::<Vec<(i64, Option<String>)>>()
            }
        };
        effects_conformance(&store, rows).await;
        // SQLite binds by number: a placeholder without a value, or a value without one,
        // is named.
        let e = store
            .execute(&super::Effects::new().execute("INSERT INTO effect_log (event_id) VALUES ($2)", [1i64.into()]))
            .await
            .expect_err("$2 has no value");
        assert!(e.to_string().contains("placeholder $2 has no value"), "{e}");
        store.close().await;
    }

    /// A row of the effects conformance table: event id, note, amount, flag, raw.
    #[cfg(feature = "postgres")]
    type Logged = (i64, Option<String>, Option<f64>, Option<bool>, Option<Vec<u8>>);

    #[cfg(feature = "postgres")]
    #[tokio::test]
    async fn postgres_store_conformance() {
        let Some(url) = postgres_url("postgres_store_conformance") else {
            return;
        };
        let (store, schema) = postgres_store(&url).await;
        conformance(&store).await;
        super::audit::tests::audit_conformance(&store).await;
        let pool = store.pool().clone();
        let rows = || {
            let pool = pool.clone();
            async move {
                let rows: Vec<Logged> = sqlx::query_as(
                    "SELECT event_id, note, amount, flag, raw FROM effect_log ORDER BY event_id, note NULLS FIRST",
                )
                .fetch_all(&pool)
                .await
                .expect("query");
                rows.into_iter()
                    .map(|(id, note, amount, flag, raw)| {
                        if note.is_some() {
                            assert_eq!((amount, flag, raw), (Some(12.5), Some(true), Some(vec![0, 255])));
                        }
                        (id, note)
                    })
                    .collect::<Vec<_>>()
            }
        };
        effects_conformance(&store, rows).await;
        // A NULL fits any column type (it is sent untyped), unlike text into `bigint`.
        let nulls =
            super::Effects::new().execute("CREATE TABLE nulls (n BIGINT, at TIMESTAMPTZ, doc JSONB)", []).execute(
                "INSERT INTO nulls VALUES ($1, $2, $3)",
                [super::SqlValue::Null, None::<i64>.into(), None::<&str>.into()],
            );
        store.execute(&nulls).await.expect("NULLs into bigint, timestamptz and jsonb");
        let typed = super::Effects::new().execute("INSERT INTO nulls (n) VALUES ($1)", ["1".into()]);
        let e = store.execute(&typed).await.expect_err("text into bigint");
        assert!(e.to_string().contains("effect statement 1 failed"), "{e}");
        store.pool().close().await;
        drop_schema(&url, &schema).await;
    }
}

pub mod router;

#[cfg(feature = "redis")]
mod dedup_redis;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod dedup_sql;
// -- dedup stores: re-exports (owned by the dedup_sql / dedup_redis modules) --
#[cfg(feature = "redis")]
pub use dedup_redis::RedisDedup;
#[cfg(feature = "postgres")]
pub use dedup_sql::PostgresDedup;
// -- end of dedup store re-exports --
