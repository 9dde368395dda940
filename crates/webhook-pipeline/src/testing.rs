//! The conformance suite every [`EventStore`] must pass, public behind the `testing`
//! feature so that a store written outside this crate proves itself against the same
//! tests, and the helpers the pipeline's own tests share (isolated stores on SQLite and
//! PostgreSQL). The brokers' consumers have a suite of their own, run by the NATS and
//! RabbitMQ tests alike: a [`BrokerFixture`] for the broker, then
//! [`broker_consumer_survives_a_crash`] and [`broker_consumer_retries_dead_letters_and_replays`].
//! A [`Forwarder`] in front of PostgreSQL or Redis makes the server go away and come back,
//! for tests of what a store or a receiver does in an outage.
//!
//! ```no_run
//! # async fn run(my_store: &dyn webhook_pipeline::EventStore) {
//! // In a test of your own store (with `webhook-pipeline = { features = ["testing"] }`):
//! webhook_pipeline::testing::conformance(my_store).await;
//! # }
//! ```
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::task::JoinHandle;

use super::event::{EventId, Filter, Inserted, NewEvent, Status};
use super::retention::{purge_all, PurgeBefore, Purged, RetentionConfig};
use super::store::EventStore;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other test (in this or another process) uses.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{prefix}_{}_{}_{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A fresh SQLite database file; removed with its WAL files when dropped.
#[cfg(feature = "sqlite")]
pub struct TempDb {
    /// The file.
    pub path: std::path::PathBuf,
}

#[cfg(feature = "sqlite")]
impl TempDb {
    /// A file name in the temporary directory no other test uses.
    pub fn new() -> Self {
        Self { path: std::env::temp_dir().join(format!("{}.db", unique("webhook_test"))) }
    }

    /// Its `sqlite://` URL.
    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }
}

#[cfg(feature = "sqlite")]
impl Default for TempDb {
    fn default() -> Self {
        Self::new()
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

/// The URL of the service a test needs, from the environment variable `var`, or `None`
/// when it is unset (or empty), and the test should return at once.
///
/// A missing service never passes in silence: under CI (`CI=true`) it fails the test,
/// naming `var`; elsewhere it writes `SKIPPED <test>: <var> unset` to stderr (uncaptured,
/// so it shows in the run's output) and appends the same line to
/// `skipped-service-tests.txt` in the target directory (beside `deps/`), so a run can count
/// its skips (`wc -l target/debug/skipped-service-tests.txt`; the file only grows: remove
/// it before the run you want to count).
///
/// # Panics
///
/// Under CI, when `var` is unset.
pub fn service_url(var: &str, test: &str) -> Option<String> {
    if let Some(url) = std::env::var(var).ok().filter(|u| !u.trim().is_empty()) {
        return Some(url);
    }
    if std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1") {
        panic!("{test}: {var} is unset; under CI (CI=true) every service test must run (see .ci/run)");
    }
    use std::io::Write;
    let line = format!("SKIPPED {test}: {var} unset");
    let listed = skip_list().and_then(|path| {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).ok()?;
        writeln!(file, "{line}").ok()?;
        Some(path)
    });
    let note = listed.map(|p| format!(" (counted in {})", p.display())).unwrap_or_default();
    // Straight to the process's stderr: the test harness captures `eprintln!`, not this, so
    // the skip shows in the run's output even when the test passes.
    let _ = writeln!(std::io::stderr(), "{line}{note}");
    None
}

/// `<target>/<profile>/skipped-service-tests.txt`, from the test binary's own path
/// (`<target>/<profile>/deps/<binary>`).
fn skip_list() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile = exe.parent()?.parent()?;
    Some(profile.join("skipped-service-tests.txt"))
}

/// The PostgreSQL URL to test against (`WEBHOOK_TEST_DATABASE_URL`), or `None` when it is
/// unset: see [`service_url`], which fails the test under CI and reports the skip elsewhere.
///
/// # Panics
///
/// Under CI when it is unset, and whenever it is set to anything but a `postgres://` URL.
#[cfg(feature = "postgres")]
pub fn postgres_url(test: &str) -> Option<String> {
    let url = service_url("WEBHOOK_TEST_DATABASE_URL", test)?;
    assert!(url.starts_with("postgres"), "WEBHOOK_TEST_DATABASE_URL={url} is not a postgres:// URL ({test})");
    Some(url)
}

/// A store in a schema of its own, so tests sharing one database never see each other's
/// events. The schema is left behind only if the test panics.
#[cfg(feature = "postgres")]
pub async fn postgres_store(url: &str) -> (super::PostgresStore, String) {
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

/// A schema of its own (migrated, as [`postgres_store`] makes it) reached through a
/// [`Forwarder`], for tests of what happens while PostgreSQL is away:
/// [`pool`](Self::pool) connects through the forwarder, [`cut`](Self::cut) takes the
/// server away and [`restore`](Self::restore) brings it back at the same address.
///
/// ```no_run
/// # async fn run() {
/// use webhook_pipeline::testing::{postgres_url, ForwardedPostgres};
/// let Some(url) = postgres_url("my_outage_test") else { return };
/// let mut pg = ForwardedPostgres::start(&url).await;
/// let store = webhook_pipeline::PostgresStore::new(pg.pool(4));
/// pg.cut().await;
/// // ... every operation of `store` is answered unavailable ...
/// pg.restore().await;
/// pg.finish().await;
/// # }
/// ```
#[cfg(feature = "postgres")]
pub struct ForwardedPostgres {
    /// A store on the schema connected directly, not through the forwarder: what it sees
    /// is what the server holds.
    pub direct: super::PostgresStore,
    /// The schema's name.
    pub schema: String,
    url: String,
    upstream: std::net::SocketAddr,
    via: sqlx::postgres::PgConnectOptions,
    forwarder: Forwarder,
    restored: Option<Forwarder>,
}

#[cfg(feature = "postgres")]
impl ForwardedPostgres {
    /// Makes the schema and starts the forwarder.
    ///
    /// # Panics
    ///
    /// When PostgreSQL cannot be reached at `url`, or `url`'s host is not a loopback
    /// address (outage tests forward to 127.0.0.1 only).
    pub async fn start(url: &str) -> Self {
        use std::str::FromStr;
        let (direct, schema) = postgres_store(url).await;
        let options = sqlx::postgres::PgConnectOptions::from_str(url).expect("URL");
        let upstream = tokio::net::lookup_host((options.get_host(), options.get_port()))
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .expect("the PostgreSQL host resolves");
        assert!(upstream.ip().is_loopback(), "the test forwards to 127.0.0.1 only, not {upstream}");
        let forwarder = Forwarder::start(upstream, 0).await;
        let via = options.host("127.0.0.1").port(forwarder.port()).options([("search_path", schema.as_str())]);
        Self { direct, schema, url: url.to_owned(), upstream, via, forwarder, restored: None }
    }

    /// A pool of at most `max` connections through the forwarder, connecting lazily and
    /// waiting at most 5 s for a connection (as `PostgresStore::connect`'s).
    pub fn pool(&self, max: u32) -> sqlx::PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(self.via.clone())
    }

    /// The server goes away: the forwarder's listener and every connection through it
    /// are closed, so new connections are refused and pooled ones are cut.
    pub async fn cut(&mut self) {
        self.forwarder.stop().await;
    }

    /// The server comes back at the same address.
    pub async fn restore(&mut self) {
        self.restored = Some(Forwarder::start(self.upstream, self.forwarder.port()).await);
    }

    /// Closes the direct store and drops the schema.
    pub async fn finish(self) {
        EventStore::close(&self.direct).await;
        drop_schema(&self.url, &self.schema).await;
    }
}

/// Calls `op` until it succeeds, every 20 ms, and returns what it gave: for a store that
/// should find its server again once it is back.
///
/// # Panics
///
/// When `op` fails other than [unavailable](webhook_core::dedup::StoreError::is_unavailable),
/// or still fails `within` after the first call.
pub async fn until_available<T, F, Fut>(within: Duration, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, webhook_core::dedup::StoreError>>,
{
    let started = std::time::Instant::now();
    loop {
        match op().await {
            Ok(done) => return done,
            Err(e) => {
                assert!(e.is_unavailable(), "{e}");
                assert!(started.elapsed() < within, "still failing {within:?} after the first try: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Drops a schema made by [`postgres_store`].
#[cfg(feature = "postgres")]
pub async fn drop_schema(url: &str, schema: &str) {
    if let Ok(admin) = sqlx::PgPool::connect(url).await {
        let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&admin).await;
        admin.close().await;
    }
}

/// A fixed instant plus `secs`: the suites' clock.
pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

/// A new event with a small JSON body (a non-ASCII character and an escaped NUL in it).
pub fn event(provider: &str, id: &str, event_type: &str) -> NewEvent {
    NewEvent {
        provider: provider.to_owned(),
        delivery_id: id.to_owned(),
        event_type: Some(event_type.to_owned()),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: Bytes::from(format!(r#"{{"id":"{id}","bytes":"\u00e9\u0000"}}"#)),
        received_at: at(0),
    }
}

/// What every event store must do: inserts (one transaction, duplicates stored once),
/// leases (due events only, never two workers at once, taken over after expiry),
/// completion, failure with retry and dead letter, replay, listing and depth, and
/// retention ([`retention_conformance`], run last).
///
/// # Panics
///
/// On the first behaviour the store gets wrong, naming it.
pub async fn conformance(store: &dyn EventStore) {
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

    retention_conformance(store).await;
}

/// What [`EventStore::insert_leased`] must do, on a store of its own (it expects no other
/// event) that counts by status: the first `leased` events that are new are stored leased
/// (processing, one attempt, the holder named) in the insert's transaction, the others
/// pending, duplicates not at all; a leased event is not leased again before its lease
/// expires and is after it (a crashed holder), then its old holder can no longer settle
/// it; [`EventStore::status_counts`] stays exact throughout.
///
/// # Panics
///
/// On the first behaviour the store gets wrong, naming it.
pub async fn handoff_conformance(store: &dyn EventStore) {
    use crate::StatusCount;
    let lease = Duration::from_secs(1000);
    // Ids of one length: every body is as long.
    let len = event("github", "d01", "push").body.len() as u64;
    let counts = |expected: Vec<(Status, u64)>, when: &'static str| async move {
        let got = store.status_counts().await.expect("status_counts");
        for status in crate::StatusCounts::STATUSES {
            let n = expected.iter().find(|e| e.0 == status).map_or(0, |e| e.1);
            assert_eq!(got.get(status), StatusCount::new(n, n * len), "{status:?} {when}: {got:?}");
        }
    };
    let id = |i: &Inserted| i.id().expect("stored");
    store.insert(&[event("github", "d01", "push")]).await.expect("insert");

    // The first three events may be leased: the duplicate among them is not (and no later
    // event takes its place), a copy later in the batch is a duplicate, the fourth new one
    // waits for a lease.
    let until = at(100);
    let batch = [
        event("github", "d01", "push"),
        event("github", "n01", "push"),
        event("github", "n02", "push"),
        event("github", "n03", "push"),
        event("github", "n01", "push"),
    ];
    let stored = store.insert_leased(&batch, 3, "pool", until).await.expect("insert_leased");
    assert!(
        matches!(
            stored[..],
            [Inserted::Duplicate, Inserted::Leased(_), Inserted::Leased(_), Inserted::New(_), Inserted::Duplicate]
        ),
        "{stored:?}"
    );
    let (n1, n2, n3) = (id(&stored[1]), id(&stored[2]), id(&stored[3]));
    let got = store.get(n1).await.expect("get").expect("stored");
    assert_eq!(
        (got.status, got.attempts, got.body.clone()),
        (Status::Processing, 1, event("github", "n01", "push").body)
    );
    let got = store.get(n3).await.expect("get").expect("stored");
    assert_eq!((got.status, got.attempts), (Status::Pending, 0));
    counts(vec![(Status::Pending, 2), (Status::Processing, 2)], "after a leased insert").await;
    // Leasing none is a plain insert.
    let plain = store.insert_leased(&[event("github", "n04", "push")], 0, "pool", until).await.expect("insert_leased");
    assert!(matches!(plain[..], [Inserted::New(_)]), "{plain:?}");
    assert_eq!(store.depth().await.expect("depth"), 5);

    // Before their lease expires, a lease finds only the pending events.
    let mut pending: Vec<EventId> =
        store.lease("w1", 10, lease, at(50)).await.expect("lease").iter().map(|e| e.id).collect();
    pending.sort_unstable();
    let d01 = store.list(&Filter::default().delivery_id("d01"), 1).await.expect("list")[0].id;
    assert_eq!(pending, vec![d01, n3, id(&plain[0])], "leased events are not leased again before expiry");
    assert_eq!(store.complete_many(&pending, "w1").await.expect("complete"), 3);
    counts(vec![(Status::Processing, 2), (Status::Done, 3)], "after the pending events are done").await;

    // The holder settles one; the other's holder crashed: leased again after expiry.
    assert!(!store.complete(n1, "w1").await.expect("complete"), "only the holder settles");
    assert_eq!(store.complete_many(&[n1], "pool").await.expect("complete"), 1);
    assert!(store.lease("w2", 10, lease, at(99)).await.expect("lease").is_empty());
    let again = store.lease("w2", 10, lease, at(101)).await.expect("lease");
    assert_eq!(again.iter().map(|e| (e.id, e.attempts)).collect::<Vec<_>>(), vec![(n2, 2)]);
    assert!(!store.complete(n2, "pool").await.expect("late complete"), "the crashed holder lost its lease");
    assert!(store.complete(n2, "w2").await.expect("complete"));
    counts(vec![(Status::Done, 5)], "after every event is done").await;
    assert_eq!(store.depth().await.expect("depth"), 0);
}

/// What a store that keeps attempts and counts by status must do, on a store of its own (it
/// expects no other event): [`EventStore::attempts`] records each failed run (number,
/// worker, times, outcome, error cut to [`MAX_ATTEMPT_ERROR`](crate::MAX_ATTEMPT_ERROR)
/// bytes on a character boundary), only for the lease holder, keeps counting across a
/// replay, keeps the last [`MAX_ATTEMPTS_KEPT`](crate::MAX_ATTEMPTS_KEPT) and goes with
/// its event at a purge; [`EventStore::status_counts`] stays exact, events and body bytes,
/// across insert (duplicates too), lease, complete, fail, dead, replay and purge.
///
/// # Panics
///
/// On the first behaviour the store gets wrong, naming it.
pub async fn history_conformance(store: &dyn EventStore) {
    use crate::{AttemptOutcome, Completion, Effects, StatusCount, MAX_ATTEMPTS_KEPT, MAX_ATTEMPT_ERROR};
    let lease = Duration::from_secs(1000);
    let body_len = |id: &str| event("h", id, "t").body.len() as u64;
    // Checks every status's count against `expected` (events, bytes); the rest are zero.
    let counts = |expected: Vec<(Status, u64, u64)>, when: &'static str| async move {
        let got = store.status_counts().await.expect("status_counts");
        for status in crate::StatusCounts::STATUSES {
            let want = expected.iter().find(|e| e.0 == status).map_or((0, 0), |e| (e.1, e.2));
            assert_eq!(got.get(status), StatusCount::new(want.0, want.1), "{status:?} {when}: {got:?}");
        }
    };
    counts(vec![], "in an empty store").await;
    assert!(store.attempts(12345).await.expect("attempts of an unknown event").is_empty());

    let (a, b, c) = (body_len("a"), body_len("b"), body_len("cc"));
    let ids = store.insert(&[event("h", "a", "t"), event("h", "b", "t"), event("h", "cc", "t")]).await.expect("insert");
    let ids: Vec<EventId> = ids
        .iter()
        .map(|i| match i {
            Inserted::New(id) => *id,
            other => panic!("not stored: {other:?}"),
        })
        .collect();
    store.insert(&[event("h", "a", "t")]).await.expect("insert a duplicate");
    counts(vec![(Status::Pending, 3, a + b + c)], "after inserts and a duplicate").await;

    let leased = store.lease("w1", 2, lease, at(1)).await.expect("lease");
    assert_eq!(leased.iter().map(|e| e.id).collect::<Vec<_>>(), ids[..2]);
    counts(vec![(Status::Pending, 1, c), (Status::Processing, 2, a + b)], "after a lease").await;

    // A failure by another worker records nothing; the holder's is attempt 1.
    assert!(!store.fail_attempt(ids[0], "w2", "not mine", Some(at(10)), at(1)).await.expect("fail"));
    let long = format!("x{}", "é".repeat(MAX_ATTEMPT_ERROR));
    assert!(store.fail_attempt(ids[0], "w1", &long, Some(at(10)), at(1)).await.expect("fail"));
    assert!(store.complete(ids[1], "w1").await.expect("complete"));
    counts(vec![(Status::Pending, 1, c), (Status::Failed, 1, a), (Status::Done, 1, b)], "after fail and complete")
        .await;
    let first = store.attempts(ids[0]).await.expect("attempts");
    assert_eq!(first.len(), 1, "{first:?}");
    let one = &first[0];
    assert_eq!((one.event_id, one.number, one.worker.as_str(), one.outcome), (ids[0], 1, "w1", AttemptOutcome::Failed));
    assert_eq!(one.started_at, at(1));
    assert!(one.finished_at >= one.started_at);
    assert!(one.error.len() <= MAX_ATTEMPT_ERROR && one.error.len() >= MAX_ATTEMPT_ERROR - 1, "{}", one.error.len());
    assert!(long.starts_with(&one.error), "the error is cut, on a character boundary");
    assert!(store.attempts(ids[1]).await.expect("attempts").is_empty(), "a run that succeeded is no failed attempt");

    // The retry fails for good: attempt 2, dead.
    assert_eq!(store.lease("w1", 10, lease, at(10)).await.expect("lease").len(), 2, "the retry and the pending one");
    assert!(store.fail(ids[0], "w1", "gone", None).await.expect("fail"));
    assert!(store.complete(ids[2], "w1").await.expect("complete"));
    counts(vec![(Status::Dead, 1, a), (Status::Done, 2, b + c)], "after a dead letter").await;
    let outcomes: Vec<(u32, AttemptOutcome, String)> =
        store.attempts(ids[0]).await.expect("attempts").into_iter().map(|t| (t.number, t.outcome, t.error)).collect();
    assert_eq!(outcomes[1], (2, AttemptOutcome::Dead, "gone".to_owned()));

    // A replay keeps the history: the next failure is attempt 3, though the event's own
    // attempt count starts again.
    assert_eq!(store.replay(&Filter::id(ids[0]), at(20)).await.expect("replay"), 1);
    counts(vec![(Status::Pending, 1, a), (Status::Done, 2, b + c)], "after a replay").await;
    let again = store.lease("w3", 10, lease, at(20)).await.expect("lease");
    assert_eq!((again.len(), again[0].attempts), (1, 1));
    assert!(store.fail(ids[0], "w3", "still failing", Some(at(21))).await.expect("fail"));
    let numbers: Vec<u32> = store.attempts(ids[0]).await.expect("attempts").iter().map(|t| t.number).collect();
    assert_eq!(numbers, [1, 2, 3]);

    // A poison event keeps only the last MAX_ATTEMPTS_KEPT attempts.
    let extra = u64::from(MAX_ATTEMPTS_KEPT) + 2;
    for i in 0..extra {
        let t = 21 + i;
        let leased = store.lease("w3", 10, lease, at(t)).await.expect("lease");
        assert_eq!(leased.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[0]], "run {i}");
        assert!(store.fail(ids[0], "w3", &format!("run {i}"), Some(at(t + 1))).await.expect("fail"));
    }
    let kept = store.attempts(ids[0]).await.expect("attempts");
    let last = 3 + extra as u32;
    assert_eq!(kept.len(), MAX_ATTEMPTS_KEPT as usize, "capped");
    assert_eq!((kept[0].number, kept[kept.len() - 1].number), (last - MAX_ATTEMPTS_KEPT + 1, last));
    counts(vec![(Status::Failed, 1, a), (Status::Done, 2, b + c)], "after the poison runs").await;

    // It dies; the purge takes it with its attempts, and its counts.
    let t = 22 + extra;
    assert_eq!(store.lease("w3", 10, lease, at(t)).await.expect("lease").len(), 1);
    assert!(store.fail(ids[0], "w3", "the end", None).await.expect("fail"));
    let purged = store.purge(&PurgeBefore::none().dead(at(1)).done(at(1)), 10).await.expect("purge");
    assert_eq!(purged, Purged { done: 2, dead: 1 });
    assert!(store.get(ids[0]).await.expect("get").is_none());
    assert!(
        store.attempts(ids[0]).await.expect("attempts of a purged event").is_empty(),
        "attempts outlived their event"
    );
    counts(vec![], "after the purge").await;

    // Stored already leased, then done through `complete_with`; a lost lease moves nothing.
    let (d, e) = (body_len("d"), body_len("ee"));
    let stored = store
        .insert_leased(&[event("h", "d", "t"), event("h", "ee", "t")], 2, "w4", at(100) + lease)
        .await
        .expect("insert_leased");
    let fresh: Vec<EventId> = stored
        .iter()
        .map(|i| match i {
            Inserted::New(id) | Inserted::Leased(id) => *id,
            other => panic!("not stored: {other:?}"),
        })
        .collect();
    let leased_at_once = stored.iter().all(|i| matches!(i, Inserted::Leased(_)));
    if !leased_at_once {
        // A store without the handoff stores them pending: lease them the usual way.
        assert_eq!(store.lease("w4", 10, lease, at(100)).await.expect("lease").len(), 2);
    }
    counts(vec![(Status::Processing, 2, d + e)], "after an insert leased at once").await;
    let done = store
        .complete_with(&[(fresh[0], Effects::new()), (fresh[1], Effects::new())], "w5")
        .await
        .expect("complete_with by a worker without the lease");
    assert_eq!(done, [Completion::LeaseLost, Completion::LeaseLost]);
    counts(vec![(Status::Processing, 2, d + e)], "after completions with lost leases").await;

    // An expired lease taken again stays processing; then done, replayed and leased again.
    let again = store.lease("w6", 10, lease, at(100) + lease * 2).await.expect("lease of expired leases");
    assert_eq!(again.len(), 2, "both leases had expired");
    counts(vec![(Status::Processing, 2, d + e)], "after expired leases were taken again").await;
    let done = store
        .complete_with(&[(fresh[0], Effects::new()), (fresh[1], Effects::new())], "w6")
        .await
        .expect("complete_with");
    assert_eq!(done, [Completion::Done, Completion::Done]);
    counts(vec![(Status::Done, 2, d + e)], "after complete_with").await;
    assert_eq!(store.replay(&Filter::id(fresh[1]), at(200)).await.expect("replay"), 1);
    counts(vec![(Status::Done, 1, d), (Status::Pending, 1, e)], "after replaying a done event").await;
    assert_eq!(store.lease("w7", 10, lease, at(200)).await.expect("lease").len(), 1);
    assert_eq!(store.complete_many(&[fresh[1]], "w7").await.expect("complete_many"), 1);
    counts(vec![(Status::Done, 2, d + e)], "after the replayed event was done again").await;
    let purged = store.purge(&PurgeBefore::none().done(at(1000)), 10).await.expect("purge");
    assert_eq!(purged, Purged { done: 2, dead: 0 });
    counts(vec![], "after the last purge").await;
}

/// What every store must do for a console or a dashboard, on a store of its own (it
/// expects no other event or audit record): listings paged by keyset (`before`), newest
/// first, each page read on its own; the filters on delivery id and reception time, alone
/// and with the others; a replay narrowed by them; and the audit log counted by minute,
/// provider and outcome ([`EventStore::audit_counts`]).
///
/// # Panics
///
/// On the first behaviour the store gets wrong, naming it.
pub async fn listing_conformance(store: &dyn EventStore) {
    use crate::audit::{AuditCount, AuditRecord};
    // 25 events, one a minute, alternating providers; d7 and d13 "stripe" and the rest "github".
    let events: Vec<NewEvent> = (0..25u64)
        .map(|i| NewEvent {
            received_at: at(i * 60),
            ..event(
                if i % 6 == 1 { "stripe" } else { "github" },
                &format!("d{i}"),
                if i % 2 == 0 { "push" } else { "issues" },
            )
        })
        .collect();
    let inserted = store.insert(&events).await.expect("insert");
    let ids: Vec<EventId> =
        inserted.iter().map(|i| if let Inserted::New(id) = i { *id } else { panic!("{i:?}") }).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow in insertion order: {ids:?}");

    // Keyset pages of 10: newest first, no event twice, none missed, the last page short.
    let mut seen = Vec::new();
    let mut filter = Filter::default();
    for page in 0..4 {
        let got = store.list(&filter, 10).await.expect("list");
        assert!(got.windows(2).all(|w| w[0].id > w[1].id), "page {page} newest first");
        seen.extend(got.iter().map(|e| e.id));
        match got.last() {
            Some(last) if got.len() == 10 => filter = Filter::default().before(last.id),
            _ => break,
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first, "the pages together are every event once, newest first");

    // Keyset with another filter: github only, pages of 4.
    let github: Vec<EventId> =
        store.list(&Filter::default().provider("github"), 100).await.expect("list").iter().map(|e| e.id).collect();
    assert_eq!(github.len(), 25 - 4, "d1, d7, d13 and d19 are stripe's");
    let page2 = store.list(&Filter::default().provider("github").before(github[3]), 4).await.expect("list");
    assert_eq!(page2.iter().map(|e| e.id).collect::<Vec<_>>(), github[4..8]);

    // Delivery id, alone and with a provider that does not have it.
    let one = store.list(&Filter::default().delivery_id("d13"), 10).await.expect("list");
    assert_eq!((one.len(), one[0].provider.as_str()), (1, "stripe"));
    assert!(store.list(&Filter::default().delivery_id("d13").provider("github"), 10).await.expect("list").is_empty());

    // Time range: [since, until), by reception time.
    let range = Filter::default().since(at(5 * 60)).until(at(10 * 60));
    let got = store.list(&range, 100).await.expect("list");
    assert_eq!(got.iter().map(|e| e.delivery_id.as_str()).collect::<Vec<_>>(), ["d9", "d8", "d7", "d6", "d5"]);
    let pushes = store.list(&range.clone().event_type("push"), 100).await.expect("list");
    assert_eq!(pushes.iter().map(|e| e.delivery_id.as_str()).collect::<Vec<_>>(), ["d8", "d6"]);

    // A replay narrowed by time: only the dead events in the range come back.
    let lease = Duration::from_secs(1000);
    let leased = store.lease("w", 100, lease, at(10_000)).await.expect("lease");
    assert_eq!(leased.len(), 25);
    for e in &leased {
        assert!(store.fail(e.id, "w", "gone", None).await.expect("fail"));
    }
    assert_eq!(store.list(&Filter::dead(), 100).await.expect("list").len(), 25);
    assert_eq!(
        store.replay(&Filter::dead().since(at(5 * 60)).until(at(10 * 60)), at(10_001)).await.expect("replay"),
        5
    );
    assert_eq!(store.replay(&Filter::dead().delivery_id("d20"), at(10_001)).await.expect("replay"), 1);
    let pending = store.list(&Filter::default().status(Status::Pending), 100).await.expect("list");
    assert_eq!(
        pending.iter().map(|e| e.delivery_id.as_str()).collect::<Vec<_>>(),
        ["d20", "d9", "d8", "d7", "d6", "d5"]
    );
    assert_eq!(store.list(&Filter::dead().before(ids[3]), 100).await.expect("list").len(), 3);

    // The audit log counted by minute, provider and outcome; records before `since` left out.
    // `at(40)` is on a minute (the epoch's minutes); `m(k, s)` is `s` seconds into minute `k`.
    let m = |k: u64, s: u64| 40 + k * 60 + s;
    let record = |r: &str, provider: &str, secs: u64, outcome: &str| AuditRecord {
        outcome: outcome.to_owned(),
        status: if outcome == "accepted" { 200 } else { 401 },
        ..AuditRecord::new(r, provider, at(secs))
    };
    store
        .record_audit(&[
            record("r0", "github", m(0, 0), "accepted"),
            record("r1", "github", m(1, 0), "accepted"),
            record("r2", "github", m(1, 1), "accepted"),
            record("r3", "github", m(1, 59), "invalid_signature"),
            record("r4", "stripe", m(1, 30), "accepted"),
            record("r5", "github", m(3, 0), "accepted"),
        ])
        .await
        .expect("record");
    let counts = store.audit_counts(at(m(1, 0)), Duration::from_secs(60)).await.expect("counts");
    let minute = |k: u64, provider: &str, outcome: &str, count: u64| AuditCount {
        bucket: at(m(k, 0)),
        provider: provider.to_owned(),
        outcome: outcome.to_owned(),
        count,
    };
    assert_eq!(
        counts,
        [
            minute(1, "github", "accepted", 2),
            minute(1, "github", "invalid_signature", 1),
            minute(1, "stripe", "accepted", 1),
            minute(3, "github", "accepted", 1),
        ]
    );
    let hourly = store.audit_counts(at(0), Duration::from_secs(3600)).await.expect("counts");
    assert_eq!(hourly.iter().map(|c| c.count).sum::<u64>(), 6);
}

/// Days, for the retention suite's clock.
fn days(n: u64) -> u64 {
    n * 24 * 3600
}

/// What every store must do with a retention (see [`EventStore::purge`]), on a clock the
/// test sets: done events past `done` retention and dead ones past `dead` retention are
/// deleted, in batches of at most the limit, and nothing else (pending, failed, leased,
/// replayed, or settled but younger); a dry-run count matches; and a redelivery inside the
/// dedup TTL is still a duplicate after the purge.
///
/// It first settles and purges whatever the store holds (the events of [`conformance`],
/// all received before the times used here), so it may run on a store used before.
///
/// # Panics
///
/// On the first behaviour the store gets wrong, naming it.
pub async fn retention_conformance(store: &dyn EventStore) {
    const B: u64 = 10_000_000; // the suite's own epoch, after anything stored before
    let lease = Duration::from_secs(1000);
    // Clear what is there: every due event is handled, then every settled one purged.
    for e in store.lease("retention-setup", 10_000, lease, at(B)).await.expect("lease") {
        assert!(store.complete(e.id, "retention-setup").await.expect("complete"));
    }
    let everything = PurgeBefore::none().done(at(B)).dead(at(B));
    purge_all(store, &everything, 100).await.expect("purge what was there");

    let at_ = |secs: u64| at(B + secs);
    let new = |id: &str, secs: u64| NewEvent { received_at: at_(secs), ..event("retention", id, "t") };
    let insert = |e: NewEvent| async move {
        match store.insert(std::slice::from_ref(&e)).await.expect("insert")[..] {
            [Inserted::New(id)] => id,
            ref other => panic!("{} not stored: {other:?}", e.delivery_id),
        }
    };
    // Stores `e`, leases it at its reception (nothing else is due then) and settles it.
    let settle = |e: NewEvent, outcome: Option<Status>| async move {
        let received = e.received_at;
        let id = insert(e).await;
        let leased = store.lease("r", 10, lease, received).await.expect("lease");
        assert_eq!(leased.iter().map(|e| e.id).collect::<Vec<_>>(), vec![id], "only the new event is due");
        match outcome {
            Some(Status::Done) => assert!(store.complete(id, "r").await.expect("complete")),
            Some(Status::Dead) => assert!(store.fail(id, "r", "gone", None).await.expect("fail")),
            Some(Status::Failed) => assert!(store.fail(id, "r", "later", Some(at_(days(100)))).await.expect("fail")),
            other => unreachable!("no such outcome: {other:?}"),
        }
        id
    };
    let old_done: Vec<EventId> = vec![
        settle(new("old-done-1", 0), Some(Status::Done)).await,
        settle(new("old-done-2", 1), Some(Status::Done)).await,
        settle(new("old-done-3", 2), Some(Status::Done)).await,
    ];
    let old_dead = settle(new("old-dead", 10), Some(Status::Dead)).await;
    let replayed = settle(new("replayed", 11), Some(Status::Dead)).await;
    let young_done = settle(new("young-done", days(25)), Some(Status::Done)).await;
    let young_dead = settle(new("young-dead", days(2)), Some(Status::Dead)).await;
    let old_failed = settle(new("old-failed", 20), Some(Status::Failed)).await;
    // Leased for 100 days: still held at the purge.
    let old_processing = insert(new("old-processing", 21)).await;
    let held = store.lease("r", 10, Duration::from_secs(days(100)), at_(21)).await.expect("lease");
    assert_eq!(held.iter().map(|e| e.id).collect::<Vec<_>>(), vec![old_processing]);
    assert_eq!(store.replay(&Filter::id(replayed), at_(12)).await.expect("replay"), 1);
    let old_pending = insert(new("old-pending", 22)).await;

    // 31 days on, with the default policy: done before day 24, dead before day 1.
    let now = at_(days(31));
    let policy = RetentionConfig::default();
    let before = policy.cutoffs(now);
    assert_eq!((before.done, before.dead), (Some(at_(days(24))), Some(at_(days(1)))));
    assert_eq!(store.count_purgeable(&before).await.expect("count"), Purged { done: 3, dead: 1 });
    // Batches of at most the limit, done events first, oldest first.
    assert_eq!(store.purge(&before, 2).await.expect("purge"), Purged { done: 2, dead: 0 });
    assert!(
        store.get(old_done[0]).await.expect("get").is_none() && store.get(old_done[1]).await.expect("get").is_none()
    );
    assert!(store.get(old_done[2]).await.expect("get").is_some(), "the youngest old event waits for the next batch");
    assert_eq!(store.purge(&before, 2).await.expect("purge"), Purged { done: 1, dead: 1 });
    assert_eq!(store.purge(&before, 2).await.expect("purge"), Purged::default());
    assert_eq!(purge_all(store, &before, 2).await.expect("purge"), Purged::default());
    assert_eq!(store.count_purgeable(&before).await.expect("count"), Purged::default());
    for id in old_done.iter().chain([&old_dead]) {
        assert!(store.get(*id).await.expect("get").is_none(), "event {id} past retention is still there");
    }
    // Nothing else went, whatever its age.
    let status = |id| async move { store.get(id).await.expect("get").map(|e| e.status) };
    assert_eq!(status(young_done).await, Some(Status::Done));
    assert_eq!(status(young_dead).await, Some(Status::Dead));
    assert_eq!(status(old_failed).await, Some(Status::Failed));
    assert_eq!(status(old_processing).await, Some(Status::Processing));
    assert_eq!(status(replayed).await, Some(Status::Pending));
    assert_eq!(status(old_pending).await, Some(Status::Pending));
    assert_eq!(store.list(&Filter::default().provider("retention"), 100).await.expect("list").len(), 6);
    // A dead-only purge never touches done events, and the other way round.
    let dead_only = PurgeBefore::none().dead(at_(days(40)));
    assert_eq!(store.count_purgeable(&dead_only).await.expect("count"), Purged { done: 0, dead: 1 });

    // Dedup across the purge: the young done event, received 6 days ago (inside the 7-day
    // TTL the policy may not undercut), is still a duplicate; so are the kept ones. The
    // purged ones, received 31 days ago, are past any TTL: the store has forgotten them.
    assert!(policy.done >= policy.dedup_ttl);
    let again = store
        .insert(&[new("young-done", days(31)), new("old-pending", days(31)), new("old-done-1", days(31))])
        .await
        .expect("insert");
    assert!(matches!(again[..], [Inserted::Duplicate, Inserted::Duplicate, Inserted::New(_)]), "{again:?}");
}

/// What a store that runs SQL must do with a handler's effects (see
/// [`EventStore::complete_with`]). `rows` reads the table the
/// effects write, `(event_id, note)` ordered by event id then note.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub async fn effects_conformance<F, Fut>(store: &dyn EventStore, rows: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Vec<(i64, Option<String>)>>,
{
    use super::{Completion, Effects, SqlValue};
    let lease = Duration::from_secs(1000);
    // Portable DDL, run on its own.
    store
        .execute(&Effects::new().execute(
            "CREATE TABLE effect_log (event_id BIGINT NOT NULL, note TEXT, amount DOUBLE PRECISION, \
             flag BOOLEAN, raw BYTEA)",
            [],
        ))
        .await
        .expect("create the effects table");
    // `execute` is one transaction: a failing statement takes the earlier ones with it.
    let e = store
        .execute(
            &Effects::new()
                .execute("INSERT INTO effect_log (event_id, note) VALUES ($1, $2)", [0i64.into(), "lost".into()])
                .execute("INSERT INTO no_such_table VALUES ($1)", [1i64.into()]),
        )
        .await
        .expect_err("a failing statement fails execute");
    assert!(e.to_string().contains("effect statement 2 failed"), "{e}");
    assert!(rows().await.is_empty(), "execute applied part of a failed transaction");

    let inserted =
        store.insert(&[event("fx", "1", "t"), event("fx", "2", "t"), event("fx", "3", "t")]).await.expect("insert");
    let ids: Vec<_> = inserted.iter().map(|i| if let Inserted::New(id) = i { *id } else { unreachable!() }).collect();
    // (A store that ran the conformance suite first has events of its own waiting.)
    let leased = store.lease("w1", 10, lease, at(1)).await.expect("lease");
    assert!(ids.iter().all(|id| leased.iter().any(|e| e.id == *id)), "{leased:?}");
    let log = |id: i64, note: &str| {
        Effects::new().execute(
            // Placeholders in any order, one used twice: bound by number.
            "INSERT INTO effect_log (event_id, note, amount, flag, raw) VALUES ($2, $1, $3, $4, $5)",
            [note.into(), id.into(), 12.5f64.into(), true.into(), SqlValue::Blob(vec![0, 255])],
        )
    };
    let done = [
        (
            ids[0],
            log(ids[0], "first").execute("INSERT INTO effect_log (event_id, note) VALUES ($1, NULL)", [ids[0].into()]),
        ),
        // The second statement fails: the first is rolled back with the done mark.
        (ids[1], log(ids[1], "second").execute("INSERT INTO no_such_table VALUES ($1)", [1i64.into()])),
        // Completed by a worker that does not hold the lease (w2): nothing runs.
        (ids[2], log(ids[2], "third")),
    ];
    let completions = store.complete_with(&done[..2], "w1").await.expect("complete_with");
    assert_eq!(completions[0], Completion::Done);
    assert!(
        matches!(&completions[1], Completion::Failed(m) if m.starts_with("effect statement 2 failed")),
        "{completions:?}"
    );
    let stolen = store.complete_with(&done[2..], "w2").await.expect("complete_with");
    assert_eq!(stolen, vec![Completion::LeaseLost]);
    assert_eq!(rows().await, vec![(ids[0], None), (ids[0], Some("first".to_owned()))]);
    let status = |id| async move { store.get(id).await.expect("get").expect("stored").status };
    assert_eq!(status(ids[0]).await, Status::Done);
    assert_eq!(status(ids[1]).await, Status::Processing, "a failed effect leaves the event leased");
    assert_eq!(status(ids[2]).await, Status::Processing);

    // Done once, never again: a second completion of the same event applies nothing.
    let again = store.complete_with(&done[..1], "w1").await.expect("complete_with");
    assert_eq!(again, vec![Completion::LeaseLost]);
    // A failing statement of the only event held, alone or beside one done already: that
    // event's error, nothing of it applied, the event still leased.
    let failing = || log(ids[1], "failing").execute("INSERT INTO no_such_table VALUES ($1)", [1i64.into()]);
    let alone = store.complete_with(&[(ids[1], failing())], "w1").await.expect("complete_with");
    assert!(matches!(&alone[..], [Completion::Failed(m)] if m.starts_with("effect statement 2 failed")), "{alone:?}");
    let beside = store.complete_with(&[(ids[0], log(ids[0], "again")), (ids[1], failing())], "w1").await;
    let beside = beside.expect("complete_with");
    assert!(
        matches!(&beside[..], [Completion::LeaseLost, Completion::Failed(m)] if m.starts_with("effect statement 2 failed")),
        "{beside:?}"
    );
    assert_eq!(status(ids[1]).await, Status::Processing, "a failed effect leaves the event leased");
    // The holder completes the others; a plain completion in the same batch works too, and
    // an event done already (its lease gone) in the same batch applies nothing.
    let rest = store
        .complete_with(
            &[(ids[0], log(ids[0], "again")), (ids[1], log(ids[1], "second")), (ids[2], Effects::new())],
            "w1",
        )
        .await;
    assert_eq!(rest.expect("complete_with"), vec![Completion::LeaseLost, Completion::Done, Completion::Done]);
    assert_eq!(
        rows().await,
        vec![(ids[0], None), (ids[0], Some("first".to_owned())), (ids[1], Some("second".to_owned()))]
    );
    assert_eq!(status(ids[2]).await, Status::Done);
}

/// A broker under the consumer conformance suite ([`broker_consumer_survives_a_crash`],
/// [`broker_consumer_retries_dead_letters_and_replays`]): its sink, its consumer, its dead
/// letters. Each fixture owns a stream or queue of its own, so the suite sees only its events.
/// The methods panic on a broker error (the suite is a test).
#[async_trait::async_trait]
pub trait BrokerFixture: Send + Sync {
    /// A sink that publishes to the fixture's stream or queue.
    async fn sink(&self) -> std::sync::Arc<dyn webhook_core::sink::Sink>;

    /// Starts a consumer of the fixture's stream or queue running `router` with `retry`.
    /// A message held by a consumer that dies is delivered again after at most
    /// `redeliver_after` (a broker that waits for an ack that long; RabbitMQ redelivers as
    /// soon as the consumer's connection drops). Consumers started by one fixture share
    /// the work.
    async fn start(
        &self,
        router: crate::EventRouter,
        retry: crate::RetryPolicy,
        redeliver_after: Duration,
    ) -> Box<dyn BrokerConsumer>;

    /// Publishes the dead letters of `provider` (all when `None`) back to be handled again;
    /// returns how many.
    async fn replay_dead(&self, provider: Option<&str>) -> u64;

    /// The dead letters the broker holds now.
    async fn dead_letters(&self) -> u64;
}

/// A consumer started by a [`BrokerFixture`].
#[async_trait::async_trait]
pub trait BrokerConsumer: Send {
    /// Stops after the message in hand is settled.
    async fn shutdown(self: Box<Self>);

    /// Dies at once, as a killed process does: the message in hand is left unsettled and
    /// the consumer's connection dropped.
    fn kill(self: Box<Self>);
}

/// Waits until `check` holds: polled every 10 ms, at most 1 000 times (10 s).
///
/// # Panics
///
/// When it does not hold within the bound, naming `what`.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..1_000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}: not within 10 s");
}

/// Sends GitHub deliveries (id, event type; body `{}`) through an endpoint on `sink`, and
/// checks each was accepted.
///
/// # Panics
///
/// When one is not accepted.
pub async fn publish_accepted(sink: std::sync::Arc<dyn webhook_core::sink::Sink>, deliveries: &[(&str, &str)]) {
    use webhook_core::receive::Endpoint;
    use webhook_core::{providers, SignRequest, Verifier, WebhookRequest};
    let github = Verifier::new(providers::GITHUB, "s3cret").expect("a GitHub verifier");
    let endpoint = Endpoint::new(github.clone()).with_sink(sink);
    let now = SystemTime::now();
    for (id, event_type) in deliveries {
        let signed = github.sign(&SignRequest::new(b"{}", now).id(id).event_type(event_type)).expect("signed");
        let outcome = endpoint.receive(&WebhookRequest::new(&signed, &b"{}"[..]), now).await;
        assert_eq!(outcome.label(), "accepted", "delivery {id}");
    }
}

/// A consumer killed while it handles an event: the broker delivers the event again and
/// a second consumer handles it, once. Returns the event as the second consumer saw it
/// (a broker that counts deliveries shows 2 attempts).
///
/// # Panics
///
/// On the first behaviour the broker or its consumer gets wrong, naming it.
pub async fn broker_consumer_survives_a_crash(broker: &dyn BrokerFixture) -> crate::Event {
    use std::sync::atomic::AtomicU32;
    use std::sync::{Arc, Mutex};
    use webhook_core::providers;
    publish_accepted(broker.sink().await, &[("held-1", "push")]).await;
    let retry = crate::RetryPolicy::default();
    let redeliver_after = Duration::from_secs(1);
    // The first consumer takes the event and dies holding it.
    let taken = Arc::new(AtomicU32::new(0));
    let stuck = {
        let taken = taken.clone();
        crate::EventRouter::new().on(providers::GITHUB, "push", move |_event: crate::Event| {
            taken.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<Result<(), crate::HandlerError>>()
        })
    };
    let dying = broker.start(stuck, retry, redeliver_after).await;
    eventually("the first consumer took the event", || taken.load(Ordering::SeqCst) == 1).await;
    dying.kill();
    // A second consumer gets it again (after the redelivery wait where there is one).
    let seen = Arc::new(Mutex::new(Vec::new()));
    let router = {
        let seen = seen.clone();
        crate::EventRouter::new().on(providers::GITHUB, "push", move |event: crate::Event| {
            seen.lock().expect("not poisoned").push(event);
            async { Ok::<(), crate::HandlerError>(()) }
        })
    };
    let consumer = broker.start(router, retry, redeliver_after).await;
    eventually("the event handled by the second consumer", || !seen.lock().expect("not poisoned").is_empty()).await;
    consumer.shutdown().await;
    let seen = seen.lock().expect("not poisoned").clone();
    assert_eq!(seen.len(), 1, "handled once by the second consumer");
    assert_eq!(seen[0].delivery_id, "held-1");
    assert_eq!(taken.load(Ordering::SeqCst), 1, "the dead consumer ran nothing after its death");
    seen[0].clone()
}

/// The consumer's retries, dead letter and replay: an event handled at once is handled
/// once; one that fails twice is handled on its third delivery; one that always fails is
/// tried `max_attempts` (3) times and then held as a dead letter; replaying another
/// provider's dead letters moves nothing; replaying GitHub's brings the event back and a
/// fixed handler handles it; nothing runs twice.
///
/// # Panics
///
/// On the first behaviour the broker or its consumer gets wrong, naming it.
pub async fn broker_consumer_retries_dead_letters_and_replays(broker: &dyn BrokerFixture) {
    use std::sync::atomic::AtomicU32;
    use std::sync::Arc;
    use webhook_core::providers;
    publish_accepted(broker.sink().await, &[("ok-1", "push"), ("flaky-1", "issues"), ("bad-1", "release")]).await;
    let (pushes, flaky, bad) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    // A handler that fails its first `fail_until` runs, counting them in `n`.
    let counted = |n: &Arc<AtomicU32>, fail_until: u32| {
        let n = n.clone();
        crate::handler_fn(move |_event: crate::Event| {
            let run = n.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if run <= fail_until {
                    return Err(crate::HandlerError::retry(format!("run {run} fails")));
                }
                Ok(())
            }
        })
    };
    let router = crate::EventRouter::new()
        .on(providers::GITHUB, "push", counted(&pushes, 0))
        .on(providers::GITHUB, "issues", counted(&flaky, 2))
        .on(providers::GITHUB, "release", counted(&bad, u32::MAX));
    let retry = crate::RetryPolicy::new(3, Duration::from_millis(20), Duration::from_millis(100));
    // A long redelivery wait: no handler here is slow, nothing is delivered twice by it.
    let lease = Duration::from_secs(60);
    let consumer = broker.start(router, retry, lease).await;
    eventually("push handled once", || pushes.load(Ordering::SeqCst) == 1).await;
    eventually("issues handled on its third delivery", || flaky.load(Ordering::SeqCst) == 3).await;
    eventually("release tried three times", || bad.load(Ordering::SeqCst) == 3).await;
    let mut dead = 0;
    for _ in 0..500 {
        dead = broker.dead_letters().await;
        if dead == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(dead, 1, "one dead letter");
    consumer.shutdown().await;
    assert_eq!(broker.replay_dead(Some("stripe")).await, 0, "not stripe's");
    assert_eq!(broker.replay_dead(Some("github")).await, 1);
    assert_eq!(broker.dead_letters().await, 0, "the replayed dead letter is gone");
    // The handler fixed.
    let fixed = Arc::new(AtomicU32::new(0));
    let router = crate::EventRouter::new()
        .on(providers::GITHUB, "release", counted(&fixed, 0))
        .unknown(crate::UnknownEvents::Ignore);
    let consumer = broker.start(router, retry, lease).await;
    eventually("the replayed release handled", || fixed.load(Ordering::SeqCst) == 1).await;
    consumer.shutdown().await;
    assert_eq!(bad.load(Ordering::SeqCst), 3, "the dead letter was not handled again before its replay");
    assert_eq!((pushes.load(Ordering::SeqCst), flaky.load(Ordering::SeqCst)), (1, 3), "nothing ran twice");
}

/// A TCP forwarder on 127.0.0.1 to a test server, for tests of what happens when the server
/// goes away and comes back: [`stop`](Forwarder::stop) closes
/// its listener and every connection through it, so the server looks gone (connections
/// refused, the pooled ones cut).
pub struct Forwarder {
    port: u16,
    accept: Option<JoinHandle<()>>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Forwarder {
    /// Listens on `127.0.0.1:port` (0: any free port), retrying the bind for up to 5 s.
    pub async fn start(upstream: std::net::SocketAddr, port: u16) -> Forwarder {
        let mut listener = None;
        for _ in 0..50 {
            match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                Ok(l) => {
                    listener = Some(l);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let listener = listener.unwrap_or_else(|| panic!("cannot bind the forwarder on 127.0.0.1:{port}"));
        let port = listener.local_addr().expect("the forwarder's address").port();
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let tracked = conns.clone();
        let accept = tokio::spawn(async move {
            // Bounded: a test opens a few dozen connections at most.
            for _ in 0..10_000 {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tracked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(conn);
            }
        });
        Forwarder { port, accept: Some(accept), conns }
    }

    /// The port it listens on: give it back to [`start`](Self::start) to bring the server
    /// back at the same address.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`, to put in a URL in place of the server's own address.
    pub fn hostport(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Closes the listener, then every forwarded connection, and waits until they are
    /// gone.
    pub async fn stop(&mut self) {
        if let Some(h) = self.accept.take() {
            h.abort();
            let _ = h.await;
        }
        let conns: Vec<_> = self.conns.lock().unwrap_or_else(std::sync::PoisonError::into_inner).drain(..).collect();
        for h in conns {
            h.abort();
            let _ = h.await;
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        for h in self
            .accept
            .take()
            .into_iter()
            .chain(self.conns.lock().unwrap_or_else(std::sync::PoisonError::into_inner).drain(..))
        {
            h.abort();
        }
    }
}
