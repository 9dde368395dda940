//! Test support shared by the pipeline's tests: isolated stores on SQLite and PostgreSQL,
//! and the conformance suite every [`EventStore`] must pass.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::event::{Filter, Inserted, NewEvent, Status};
use super::store::EventStore;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other test (in this or another process) uses.
pub(crate) fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{prefix}_{}_{}_{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A fresh SQLite database file; removed with its WAL files when dropped.
#[cfg(feature = "sqlite")]
pub(crate) struct TempDb {
    pub(crate) path: std::path::PathBuf,
}

#[cfg(feature = "sqlite")]
impl TempDb {
    pub(crate) fn new() -> Self {
        Self { path: std::env::temp_dir().join(format!("{}.db", unique("webhook_test"))) }
    }

    pub(crate) fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }
}

#[cfg(feature = "sqlite")]
impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}

/// The PostgreSQL URL to test against, or `None` (with a note) when it is not set.
#[cfg(feature = "postgres")]
pub(crate) fn postgres_url(test: &str) -> Option<String> {
    let url = std::env::var("WEBHOOK_TEST_DATABASE_URL").ok().filter(|u| u.starts_with("postgres"));
    if url.is_none() {
        eprintln!("{test}: not run against PostgreSQL (set WEBHOOK_TEST_DATABASE_URL)");
    }
    url
}

/// A store in a schema of its own, so tests sharing one database never see each other's
/// events. The schema is left behind only if the test panics.
#[cfg(feature = "postgres")]
pub(crate) async fn postgres_store(url: &str) -> (super::PostgresStore, String) {
    use std::str::FromStr;
    let schema = unique("webhook_test");
    let admin = sqlx::PgPool::connect(url).await.expect("connect to PostgreSQL");
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin).await.expect("create schema");
    admin.close().await;
    let options =
        sqlx::postgres::PgConnectOptions::from_str(url).expect("URL").options([("search_path", schema.as_str())]);
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(8).connect_with(options).await.expect("pool");
    super::PostgresStore::migrate(&pool).await.expect("migrate");
    (super::PostgresStore::new(pool), schema)
}

/// Drops a schema made by [`postgres_store`].
#[cfg(feature = "postgres")]
pub(crate) async fn drop_schema(url: &str, schema: &str) {
    if let Ok(admin) = sqlx::PgPool::connect(url).await {
        let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&admin).await;
        admin.close().await;
    }
}

pub(crate) fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

pub(crate) fn event(provider: &str, id: &str, event_type: &str) -> NewEvent {
    NewEvent {
        provider: provider.to_owned(),
        delivery_id: id.to_owned(),
        event_type: Some(event_type.to_owned()),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: Bytes::from(format!(r#"{{"id":"{id}","bytes":"\u00e9\u0000"}}"#)),
        received_at: at(0),
    }
}

/// What every event store must do.
pub(crate) async fn conformance(store: &dyn EventStore) {
    // Long enough that no lease below expires before the crash check at t = 1002.
    let lease = Duration::from_secs(1000);
    // Inserts: one transaction, duplicates inside a batch and across batches stored once.
    let first = store
        .insert(&[event("github", "a", "push"), event("github", "b", "issues"), event("github", "a", "push")])
        .await
        .expect("insert");
    assert!(matches!(first.as_slice(), [Inserted::New(_), Inserted::New(_), Inserted::Duplicate]), "{first:?}");
    let again = store.insert(&[event("github", "b", "issues"), event("stripe", "a", "x")]).await.expect("insert");
    assert!(matches!(again.as_slice(), [Inserted::Duplicate, Inserted::New(_)]), "{again:?}");
    assert_eq!(store.depth().await.expect("depth"), 3);

    // The body and headers come back byte for byte.
    let Inserted::New(a_id) = first[0] else { unreachable!() };
    let a = store.get(a_id).await.expect("get").expect("stored");
    assert_eq!(a.body, event("github", "a", "push").body);
    assert_eq!((a.status, a.attempts, a.header("content-type")), (Status::Pending, 0, Some("application/json")));

    // Leases: at most `max`, oldest first, each counted as an attempt; never twice.
    let leased = store.lease("w1", 2, lease, at(1)).await.expect("lease");
    assert_eq!(leased.len(), 2);
    assert!(leased.iter().all(|e| e.status == Status::Processing && e.attempts == 1));
    let rest = store.lease("w2", 10, lease, at(1)).await.expect("lease");
    assert_eq!(rest.len(), 1);
    assert!(store.lease("w2", 10, lease, at(2)).await.expect("lease").is_empty());

    // Only the lease holder settles an event.
    assert!(!store.complete(leased[0].id, "w2").await.expect("complete"));
    assert!(store.complete(leased[0].id, "w1").await.expect("complete"));
    assert!(!store.complete(leased[0].id, "w1").await.expect("complete twice"));
    assert_eq!(store.get(leased[0].id).await.expect("get").expect("stored").status, Status::Done);

    // A failure with a retry time waits for it, then is due again.
    let failing = leased[1].id;
    assert!(store.fail(failing, "w1", "boom", Some(at(100))).await.expect("fail"));
    let failed = store.get(failing).await.expect("get").expect("stored");
    assert_eq!((failed.status, failed.last_error.as_deref()), (Status::Failed, Some("boom")));
    assert!(store.lease("w1", 10, lease, at(99)).await.expect("lease").is_empty());
    let retry = store.lease("w1", 10, lease, at(100)).await.expect("lease");
    assert_eq!((retry.len(), retry[0].id, retry[0].attempts), (1, failing, 2));

    // No retry time: dead. A replay brings it back with its attempts reset.
    assert!(store.fail(failing, "w1", "boom again", None).await.expect("fail"));
    assert_eq!(store.get(failing).await.expect("get").expect("stored").status, Status::Dead);
    assert_eq!(store.list(&Filter::dead(), 10).await.expect("list").len(), 1);
    assert_eq!(store.replay(&Filter::dead().provider("stripe"), at(200)).await.expect("replay"), 0);
    let provider = failed.provider.clone();
    assert_eq!(store.replay(&Filter::dead().provider(&provider), at(200)).await.expect("replay"), 1);
    let replayed = store.lease("w1", 10, lease, at(200)).await.expect("lease");
    assert_eq!((replayed.len(), replayed[0].attempts), (1, 1));

    // A crashed worker's lease expires and another worker takes the event.
    let crashed = rest[0].id;
    let stolen = store.lease("w3", 10, Duration::from_secs(1), at(1002)).await.expect("lease");
    assert_eq!(stolen.iter().map(|e| e.id).collect::<Vec<_>>(), vec![crashed]);
    assert!(!store.complete(crashed, "w2").await.expect("late complete"), "the old holder lost its lease");
    assert!(store.complete(crashed, "w3").await.expect("complete"));

    // Filters.
    let github = store.list(&Filter::default().provider("github"), 10).await.expect("list");
    assert_eq!(github.len(), 2);
    assert!(github[0].id > github[1].id, "newest first");
    assert_eq!(store.list(&Filter::default().event_type("issues"), 10).await.expect("list").len(), 1);
    assert_eq!(store.depth().await.expect("depth"), 1);
}
