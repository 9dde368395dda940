//! The accept-and-defer pipeline: a verified delivery is written durably before the 2xx
//! goes out, then handled in the background. A slow or failing handler never makes a
//! provider retry, and no acknowledged delivery is lost.
//!
//! ```text
//! Endpoint::receive ─ verify ─ dedup.claim ─ GroupCommit ─▶ EventStore (one commit per batch) ─▶ 2xx
//!                                                                 │
//!                      Workers ◀── lease (SKIP LOCKED) ───────────┘
//!                         └─▶ Router ─▶ Handler ─▶ done | failed (backoff) | dead ─▶ replay
//! ```

mod audit;
mod batch;
mod event;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;
mod worker;

pub use audit::{AuditConfig, AuditEntry, AuditFilter, AuditLog, AuditRecord};
pub use batch::{GroupCommit, GroupCommitConfig, Sink};
pub use event::{Event, EventId, Filter, Inserted, NewEvent, Status};
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
pub use router::{handler_fn, typed, Handler, HandlerError, Router, UnknownEvents};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use store::{EventStore, MemoryStore};
pub use worker::{RetryPolicy, WorkerConfig, Workers};

#[cfg(test)]
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::testing::*;

    #[tokio::test]
    async fn memory_store_conformance() {
        conformance(&super::MemoryStore::new()).await;
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_store_conformance() {
        let db = TempDb::new();
        let store = super::SqliteStore::connect(&db.url()).await.expect("open");
        conformance(&store).await;
        store.close().await;
    }

    #[cfg(feature = "postgres")]
    #[tokio::test]
    async fn postgres_store_conformance() {
        let Some(url) = postgres_url("postgres_store_conformance") else {
            return;
        };
        let (store, schema) = postgres_store(&url).await;
        conformance(&store).await;
        super::audit::tests::audit_conformance(&store).await;
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
#[cfg(feature = "sqlite")]
pub use dedup_sql::SqliteDedup;
// -- end of dedup store re-exports --
