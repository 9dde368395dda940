#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod audit;
mod batch;
pub mod effects;
mod event;
#[cfg(feature = "sqlite")]
mod migrate_sqlite;
#[cfg(feature = "nats")]
mod nats;
mod pipeline;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "rabbitmq")]
mod rabbitmq;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;
mod worker;

pub use audit::{AuditConfig, AuditEntry, AuditFilter, AuditLog, AuditRecord};
pub use batch::{GroupCommit, GroupCommitConfig};
pub use effects::{Completion, Effects, SqlValue};
pub use event::{Event, EventId, Filter, Inserted, NewEvent, Status};
#[cfg(feature = "nats")]
pub use nats::{NatsConfig, NatsConsumer, NatsConsumerConfig, NatsSink};
pub use pipeline::{Pipeline, PipelineBuilder};
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "rabbitmq")]
pub use rabbitmq::{RabbitConfig, RabbitConsumer, RabbitConsumerConfig, RabbitSink};
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
