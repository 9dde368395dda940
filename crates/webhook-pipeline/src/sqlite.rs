//! The event store on SQLite: one file, no setup, the default.
//!
//! SQLite has one writer at a time, so the store has exactly one: a thread of its own
//! holding the only connection, fed through a queue. Each turn it takes every job waiting
//! (the group commit's inserts, the workers' leases and completions, replays, reads), runs
//! them with prepared statements in ONE transaction, commits, and only then answers each
//! caller. A turn that stored a new delivery commits with `synchronous = FULL` (the WAL is
//! on disk before any 200 goes out); a turn of bookkeeping only commits with
//! `synchronous = NORMAL` and is made durable by the next FULL commit (a crash can at worst
//! forget that an event was done, and its handler runs again: never an acknowledged delivery
//! lost). A turn that runs a handler's [effects](super::effects) commits with `FULL` too:
//! they are the application's data.
//!
//! No async runtime thread ever blocks on the database, no statement is parsed twice, and
//! nothing sleeps on SQLite's busy handler: the writers of this process queue in order.

use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use std::sync::mpsc;
use tokio::sync::oneshot;

use super::audit::{AuditCount, AuditEntry, AuditFilter, AuditRecord};
use super::dedup_sql::{millis, PURGE_BATCH, SQLITE as SQLITE_DEDUP};
use super::effects::{placeholder_values, statement_failed, Completion, Effects, SqlValue};
use super::event::{from_ms, to_ms, Event, EventId, Filter, Inserted, NewEvent, Status};
use super::history::{bounded_error, Attempt, AttemptOutcome, StatusCount, StatusCounts, MAX_ATTEMPTS_KEPT};
use super::retention::{PurgeBefore, Purged};
use super::sql::{audit_counts_sql, audit_sql, filter_sql, headers_from_json, headers_json, FilterValue, COLUMNS};
use super::store::EventStore;
use webhook_core::dedup::{Claim, DedupStore, MemoryDedup, StoreError};

/// Most jobs in one transaction (each job may hold a whole group-commit batch).
const MAX_JOBS: usize = 256;
/// How long a turn of bookkeeping alone (leases, completions, reads) waits for a delivery
/// to commit with. Every turn rewrites the pages it touches into the WAL; riding along with
/// the next ingest turn, the workers' bookkeeping does not pay for turns of its own. A
/// delivery that arrives meanwhile starts the turn at once.
const BOOKKEEPING_LINGER: Duration = Duration::from_millis(2);
/// How long SQLite waits for a lock held by another process (a dedup store, the CLI).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

fn db_error(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| classify(format!("{what}: {e}"), e)
}

/// A SQLite error as a [`StoreError`] of the kind its code says: a full disk, a lock or an
/// I/O error pass (unavailable: 503, retried); a constraint is the data's fault; a file
/// that cannot be opened or written is the configuration's.
fn classify(message: String, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::*;
    let code = match &e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
        _ => None,
    };
    match code {
        Some(ConstraintViolation) => StoreError::constraint(message, Some(Box::new(e))),
        Some(CannotOpen | PermissionDenied | ReadOnly | NotADatabase | DatabaseCorrupt) => {
            StoreError::misconfigured(message, Some(Box::new(e)))
        }
        _ => StoreError::unavailable(message, Some(Box::new(e))),
    }
}

fn stopped() -> StoreError {
    StoreError::unavailable("the SQLite writer has stopped", None)
}

/// The event store on SQLite: one file, no setup. Open it with [`SqliteStore::connect`].
///
/// Cheap to clone; every clone feeds the same writer thread, which stops when the last
/// clone is dropped or [`close`](Self::close) is called.
#[derive(Clone)]
pub struct SqliteStore {
    /// Unbounded, but every job has a caller awaiting its reply: the queue never holds more
    /// jobs than there are callers waiting.
    jobs: mpsc::Sender<Job>,
    path: Arc<Path>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish()
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `url` (`sqlite://webhooks.db`,
    /// `sqlite:///var/lib/webhooks/events.db`), runs the migrations, and starts the writer
    /// thread.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), webhook_core::dedup::StoreError> {
    /// let store = webhook_pipeline::SqliteStore::connect("sqlite://webhooks.db").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// An invalid URL, an in-memory URL (`sqlite::memory:`: not durable, and invisible to
    /// every other connection; use [`MemoryStore`](super::MemoryStore)), a file that cannot
    /// be opened or created, or a failed migration.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::misconfigured(
                "an in-memory SQLite database is not durable: use a file (sqlite://events.db) or MemoryStore",
                None,
            ));
        }
        let path: Arc<Path> = Arc::from(Path::new(super::migrate_sqlite::path_of(url)?));
        let (jobs, queue) = mpsc::channel();
        let (ready, opened) = oneshot::channel();
        let file = path.to_path_buf();
        std::thread::Builder::new()
            .name("webhook-sqlite-writer".to_owned())
            .spawn(move || match Writer::open(&file) {
                Ok(writer) => {
                    let _ = ready.send(Ok(()));
                    // Answered once the connection is closed.
                    if let Some(closed) = writer.run(queue) {
                        let _ = closed.send(());
                    }
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                }
            })
            .map_err(|e| StoreError::unavailable(format!("starting the SQLite writer: {e}"), Some(Box::new(e))))?;
        opened.await.map_err(|_| stopped())??;
        Ok(Self { jobs, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Finishes the jobs already queued, then stops the writer thread and closes the
    /// database (SQLite checkpoints the WAL into the file). Later calls answer "stopped".
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.jobs.send(Job::Close(done)).is_ok() {
            let _ = closed.await;
        }
    }

    /// A [`DedupStore`] in this store's file (the `webhook_dedup` table, with the statements
    /// and semantics of [`PostgresDedup`](crate::PostgresDedup)'s), run by this store's
    /// writer thread: claims queue with the deliveries instead of meeting them on
    /// SQLite's lock. Completed ids are remembered for `ttl`; the in-flight lease is
    /// [`MemoryDedup::DEFAULT_LEASE`] unless [`with_lease`](SqliteStoreDedup::with_lease)
    /// says otherwise.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), webhook_core::dedup::StoreError> {
    /// use webhook_core::dedup::{Claim, DedupStore, MemoryDedup};
    /// use webhook_pipeline::SqliteStore;
    ///
    /// let store = SqliteStore::connect("sqlite://webhooks.db").await?;
    /// let dedup = store.dedup(MemoryDedup::DEFAULT_TTL);
    /// assert_eq!(dedup.claim("github:72d3162e").await?, Claim::New);
    /// # Ok(()) }
    /// ```
    pub fn dedup(&self, ttl: Duration) -> SqliteStoreDedup {
        SqliteStoreDedup { store: self.clone(), ttl, lease: MemoryDedup::DEFAULT_LEASE }
    }

    async fn ask<T>(&self, job: impl FnOnce(Reply<T>) -> Job) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(job(reply)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// The [`DedupStore`] made by [`SqliteStore::dedup`]: claims run on the store's writer
/// thread. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SqliteStoreDedup {
    store: SqliteStore,
    ttl: Duration,
    lease: Duration,
}

impl SqliteStoreDedup {
    /// How long a claim may stay in flight before another request may claim the key.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The event store whose writer runs the claims.
    pub fn store(&self) -> &SqliteStore {
        &self.store
    }

    /// [`DedupStore::claim`] with an explicit clock: `now` decides whether an existing
    /// row has expired and when the new lease ends.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the database fails or the writer has stopped.
    pub async fn claim_at(&self, key: &str, now: SystemTime) -> Result<Claim, StoreError> {
        let (key, now) = (key.to_owned(), to_ms(now));
        let lease_end = now.saturating_add(millis(self.lease));
        self.store.ask(|reply| Job::Claim { key, now, lease_end, reply }).await
    }

    /// [`DedupStore::complete`] with an explicit clock: the key stays a duplicate until
    /// `now + ttl`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the database fails or the writer has stopped.
    pub async fn complete_at(&self, key: &str, now: SystemTime) -> Result<(), StoreError> {
        let key = key.to_owned();
        let ttl_end = to_ms(now).saturating_add(millis(self.ttl));
        self.store.ask(|reply| Job::ClaimDone { key, ttl_end, reply }).await
    }

    /// Deletes the rows expired at `now`, 1,000 per statement, and returns how many went:
    /// rows whose lease or TTL ended, never a live claim.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the database fails or the writer has stopped.
    pub async fn purge_expired(&self, now: SystemTime) -> Result<u64, StoreError> {
        self.store.ask(|reply| Job::PurgeClaims { now: to_ms(now), reply }).await
    }
}

#[async_trait]
impl DedupStore for SqliteStoreDedup {
    async fn claim(&self, key: &str) -> Result<Claim, StoreError> {
        self.claim_at(key, SystemTime::now()).await
    }

    async fn complete(&self, key: &str) -> Result<(), StoreError> {
        self.complete_at(key, SystemTime::now()).await
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.store.ask(|reply| Job::ClaimRelease { key, reply }).await
    }
}

/// An accepted delivery in the form it is stored (prepared by the caller, off the writer
/// thread).
struct Row {
    provider: String,
    delivery_id: String,
    event_type: Option<String>,
    headers: String,
    body: Bytes,
    received_at: i64,
}

/// Which new rows an insert leases at once (see [`EventStore::insert_leased`]): each of the
/// first `first` rows that is new, to `worker` until `until` (ms).
struct NewLease {
    first: usize,
    worker: String,
    until: i64,
}

impl NewLease {
    /// Leases nothing: a plain insert.
    fn none() -> Self {
        Self { first: 0, worker: String::new(), until: 0 }
    }
}

/// What the writer thread is asked to do.
enum Job {
    Insert(Vec<Row>, NewLease, Reply<Vec<Inserted>>),
    Lease {
        worker: String,
        max: i64,
        until: i64,
        now: i64,
        reply: Reply<Vec<Read>>,
    },
    Complete {
        ids: Vec<EventId>,
        worker: String,
        reply: Reply<u64>,
    },
    CompleteWith {
        done: Vec<(EventId, Effects)>,
        worker: String,
        reply: Reply<Vec<Completion>>,
    },
    Execute(Effects, Reply<()>),
    Fail {
        id: EventId,
        worker: String,
        status: Status,
        error: String,
        next: Option<i64>,
        started: i64,
        reply: Reply<bool>,
    },
    Attempts {
        id: EventId,
        reply: Reply<Vec<Attempt>>,
    },
    StatusCounts(Reply<StatusCounts>),
    Replay {
        filter: Filter,
        now: i64,
        reply: Reply<u64>,
    },
    List {
        filter: Filter,
        limit: usize,
        reply: Reply<Vec<Read>>,
    },
    Depth(Reply<u64>),
    Audit(Vec<AuditRecord>, Reply<()>),
    AuditQuery {
        filter: AuditFilter,
        limit: usize,
        reply: Reply<Vec<AuditEntry>>,
    },
    AuditCounts {
        since: i64,
        bucket: i64,
        reply: Reply<Vec<AuditCount>>,
    },
    PurgeAudit {
        before: i64,
        reply: Reply<u64>,
    },
    Claim {
        key: String,
        now: i64,
        lease_end: i64,
        reply: Reply<Claim>,
    },
    ClaimDone {
        key: String,
        ttl_end: i64,
        reply: Reply<()>,
    },
    ClaimRelease {
        key: String,
        reply: Reply<()>,
    },
    PurgeClaims {
        now: i64,
        reply: Reply<u64>,
    },
    Purge {
        done: Option<i64>,
        dead: Option<i64>,
        limit: i64,
        reply: Reply<Purged>,
    },
    CountPurgeable {
        done: Option<i64>,
        dead: Option<i64>,
        reply: Reply<Purged>,
    },
    Close(oneshot::Sender<()>),
}

/// An event as the writer read it: its headers still in their stored JSON, parsed by the
/// caller, off the writer thread.
struct Read {
    event: Event,
    headers: String,
}

impl Read {
    fn event(self) -> Event {
        Event { headers: headers_from_json(&self.headers), ..self.event }
    }
}

/// A job's result, held until its transaction commits.
trait Answer: Send {
    /// Sends the result, or the commit's error if the transaction did not commit.
    fn send(self: Box<Self>, commit: Result<(), &StoreError>);
}

struct Pending<T> {
    reply: Reply<T>,
    result: Result<T, StoreError>,
}

impl<T: Send> Answer for Pending<T> {
    fn send(self: Box<Self>, commit: Result<(), &StoreError>) {
        let result = match (commit, self.result) {
            (Ok(()), result) | (Err(_), result @ Err(_)) => result,
            (Err(e), Ok(_)) => Err(e.detached()),
        };
        let _ = self.reply.send(result);
    }
}

fn pending<T: Send + 'static>(reply: Reply<T>, result: Result<T, StoreError>) -> Box<dyn Answer> {
    Box::new(Pending { reply, result })
}

const INSERT_EVENT: &str = "INSERT INTO webhook_events \
    (provider, delivery_id, event_type, received_at, status, attempts, next_attempt_at, body_bytes) \
    VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?4, ?5) ON CONFLICT (provider, delivery_id) DO NOTHING";
// The same row leased at once, as the lease statement would leave it.
const INSERT_LEASED: &str = "INSERT INTO webhook_events \
    (provider, delivery_id, event_type, received_at, status, attempts, next_attempt_at, body_bytes, lease_until, \
    leased_by) VALUES (?1, ?2, ?3, ?4, 'processing', 1, ?4, ?5, ?6, ?7) ON CONFLICT (provider, delivery_id) DO NOTHING";
const INSERT_AUDIT: &str = "INSERT INTO webhook_audit (request_id, provider, delivery_id, event_type, \
    received_at, signature_verified, outcome, status, error, client_ip) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
const PURGE_AUDIT: &str = "DELETE FROM webhook_audit WHERE received_at < ?1";
const INSERT_BODY: &str = "INSERT INTO webhook_bodies (id, headers, body) VALUES (?1, ?2, ?3)";
const READ_BODY: &str = "SELECT headers, body FROM webhook_bodies WHERE id = ?1";
// The status changes return the body length the counts by status move with.
const COMPLETE: &str = "UPDATE webhook_events SET status = 'done', lease_until = NULL \
    WHERE id = ?1 AND status = 'processing' AND leased_by = ?2 RETURNING body_bytes";
const FAIL: &str = "UPDATE webhook_events SET status = ?1, last_error = ?2, lease_until = NULL, \
    next_attempt_at = COALESCE(?3, next_attempt_at) WHERE id = ?4 AND status = 'processing' AND leased_by = ?5 \
    RETURNING body_bytes";
// Settled events by reception time, through `webhook_events_received`: a batch of ids, then
// their bodies and rows deleted one by one with prepared statements.
const PURGEABLE: &str =
    "SELECT id FROM webhook_events WHERE received_at < ?2 AND status = ?1 ORDER BY received_at LIMIT ?3";
const COUNT_PURGEABLE: &str = "SELECT COUNT(*) FROM webhook_events WHERE received_at < ?2 AND status = ?1";
const DELETE_BODY: &str = "DELETE FROM webhook_bodies WHERE id = ?1";
const DELETE_ATTEMPTS: &str = "DELETE FROM webhook_event_attempts WHERE event_id = ?1";
// The next number follows the event's last kept attempt; then the oldest beyond the cap go.
const INSERT_ATTEMPT: &str = "INSERT INTO webhook_event_attempts \
    (event_id, attempt, worker, started_at, finished_at, outcome, error) \
    SELECT ?1, COALESCE(MAX(attempt), 0) + 1, ?2, ?3, ?4, ?5, ?6 FROM webhook_event_attempts WHERE event_id = ?1 \
    RETURNING attempt";
const CAP_ATTEMPTS: &str = "DELETE FROM webhook_event_attempts WHERE event_id = ?1 AND attempt <= ?2";
const READ_ATTEMPTS: &str = "SELECT event_id, attempt, worker, started_at, finished_at, outcome, error \
    FROM webhook_event_attempts WHERE event_id = ?1 ORDER BY attempt";
const STATUS_COUNTS: &str = "SELECT status, events, bytes FROM webhook_event_counts";
const ADD_COUNTS: &str = "UPDATE webhook_event_counts SET events = events + ?2, bytes = bytes + ?3 WHERE status = ?1";
const DELETE_EVENT: &str = "DELETE FROM webhook_events WHERE id = ?1 RETURNING body_bytes";
/// Most free pages handed back to the file system after a purge batch (4 MiB of 4 KiB
/// pages), when the file has `auto_vacuum = INCREMENTAL`.
const VACUUM_PAGES: i64 = 1024;
// Each count reads one partial index: the cost follows the backlog, not the history.
const DEPTH: &str = "SELECT (SELECT COUNT(*) FROM webhook_events WHERE status IN ('pending', 'failed')) \
    + (SELECT COUNT(*) FROM webhook_events WHERE status = 'processing')";

/// The events due for a lease, oldest first, with the status and body length each leaves
/// (for the counts by status): each branch reads one partial index (waiting rows by next
/// attempt, expired leases by lease end) and stops at the limit.
const DUE: &str = "WITH waiting AS (SELECT id, next_attempt_at FROM webhook_events \
         WHERE status IN ('pending', 'failed') AND next_attempt_at <= ?1 \
         ORDER BY next_attempt_at, id LIMIT ?2), \
     expired AS (SELECT id, next_attempt_at FROM webhook_events \
         WHERE status = 'processing' AND lease_until < ?1 ORDER BY lease_until LIMIT ?2), \
     due AS (SELECT id, next_attempt_at FROM (SELECT id, next_attempt_at FROM waiting \
         UNION ALL SELECT id, next_attempt_at FROM expired) ORDER BY next_attempt_at, id LIMIT ?2) \
     SELECT e.id, e.status, e.body_bytes FROM due JOIN webhook_events e ON e.id = due.id \
     ORDER BY due.next_attempt_at, due.id";

/// Leases one due event (found by [`DUE`] in the same transaction).
fn lease_sql() -> String {
    format!(
        "UPDATE webhook_events SET status = 'processing', attempts = attempts + 1, lease_until = ?1, leased_by = ?2 \
         WHERE id = ?3 RETURNING {COLUMNS}"
    )
}

/// What a turn's jobs changed in the counts by status: events and body bytes per status,
/// added to `webhook_event_counts` once, just before the commit. Counting here rather than
/// in triggers costs one statement per status a turn touched instead of one or two per row
/// (the triggers once took a third of the writer's instructions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Moved([(i64, i64); 5]);

impl Moved {
    fn slot(&mut self, status: Status) -> &mut (i64, i64) {
        &mut self.0[StatusCounts::index(status)]
    }

    /// `events` events holding `bytes` bytes of bodies joined (or, negative, left) `status`.
    fn add(&mut self, status: Status, events: i64, bytes: i64) {
        let slot = self.slot(status);
        slot.0 += events;
        slot.1 += bytes;
    }

    /// One event of `bytes` went from `from` to `to`.
    fn moved(&mut self, from: Status, to: Status, bytes: i64) {
        if from != to {
            self.add(from, -1, -bytes);
            self.add(to, 1, bytes);
        }
    }

    fn get(&self, status: Status) -> (i64, i64) {
        self.0[StatusCounts::index(status)]
    }
}

/// The writer thread's state: the connection, what it last set `synchronous` to, and
/// whether the file gives freed pages back (`auto_vacuum = INCREMENTAL`).
struct Writer {
    conn: Connection,
    lease_sql: String,
    durable: bool,
    incremental: bool,
    /// The counts by status the current turn changed, not yet written.
    moved: Cell<Moved>,
}

impl Writer {
    fn open(path: &Path) -> Result<Self, StoreError> {
        let open = |e: rusqlite::Error| {
            StoreError::misconfigured(format!("opening the SQLite database {}: {e}", path.display()), Some(Box::new(e)))
        };
        let mut conn = Connection::open(path).map_err(&open)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(&open)?;
        // Only takes effect on a file with no tables yet (a new one): purged pages are then
        // given back with `incremental_vacuum`. An older file keeps its mode (and reuses
        // freed pages) until a `VACUUM` converts it (docs/OPERATIONS.md).
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL").map_err(&open)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(&open)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(&open)?;
        // Savepoints' statement journals stay in memory instead of a file created and
        // deleted per statement.
        conn.pragma_update(None, "temp_store", "MEMORY").map_err(&open)?;
        super::migrate_sqlite::migrate(&mut conn)?;
        conn.set_prepared_statement_cache_capacity(64);
        let mode: i64 = conn.pragma_query_value(None, "auto_vacuum", |r| r.get(0)).map_err(&open)?;
        Ok(Self { conn, lease_sql: lease_sql(), durable: true, incremental: mode == 2, moved: Cell::default() })
    }

    /// Serves the queue until every sender is gone or a job asks to close; returns the
    /// closer's channel (the connection is closed when this returns).
    fn run(mut self, queue: mpsc::Receiver<Job>) -> Option<oneshot::Sender<()>> {
        let mut jobs = Vec::with_capacity(MAX_JOBS);
        while let Ok(first) = queue.recv() {
            jobs.push(first);
            Self::drain(&queue, &mut jobs);
            // A claim holds up its request: it starts the turn at once, like a delivery.
            let carried =
                |jobs: &[Job]| jobs.iter().any(|j| matches!(j, Job::Insert(..) | Job::Claim { .. } | Job::Close(_)));
            let deadline = Instant::now() + BOOKKEEPING_LINGER;
            while !carried(&jobs) && jobs.len() < MAX_JOBS {
                match queue.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(job) => {
                        jobs.push(job);
                        Self::drain(&queue, &mut jobs);
                    }
                    Err(_) => break,
                }
            }
            if let Some(closed) = self.turn(&mut jobs) {
                return Some(closed);
            }
        }
        None
    }

    /// Takes the jobs already waiting, up to [`MAX_JOBS`] in all.
    fn drain(queue: &mpsc::Receiver<Job>, jobs: &mut Vec<Job>) {
        while jobs.len() < MAX_JOBS {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
    }

    /// Runs `jobs` in one transaction and answers them; returns a close request's channel.
    fn turn(&mut self, jobs: &mut Vec<Job>) -> Option<oneshot::Sender<()>> {
        let started = Instant::now();
        let durable = jobs.iter().any(|j| matches!(j, Job::Insert(..) | Job::CompleteWith { .. } | Job::Execute(..)));
        if durable != self.durable {
            let level = if durable { "FULL" } else { "NORMAL" };
            if self.conn.pragma_update(None, "synchronous", level).is_ok() {
                self.durable = durable;
            }
        }
        let mut answers: Vec<Box<dyn Answer>> = Vec::with_capacity(jobs.len());
        let mut close = None;
        let begun = self.exec("BEGIN IMMEDIATE").map_err(db_error("starting a transaction"));
        let count = jobs.len();
        for job in jobs.drain(..) {
            if let Job::Close(done) = job {
                close = Some(done);
                continue;
            }
            answers.push(match &begun {
                Ok(()) => self.run_job(job),
                Err(e) => fail_job(job, e),
            });
        }
        let commit = match begun {
            Ok(()) => self
                .write_counts()
                .and_then(|()| self.exec("COMMIT").map_err(db_error("committing")))
                .inspect_err(|_| {
                    let _ = self.exec("ROLLBACK");
                }),
            Err(e) => Err(e),
        };
        self.moved.set(Moved::default());
        if let Err(e) = &commit {
            tracing::warn!(error = %e, jobs = count, "SQLite transaction failed");
        }
        for answer in answers {
            answer.send(commit.as_ref().map(|_| ()));
        }
        metrics::histogram!("webhook_sqlite_turn_jobs").record(count as f64);
        metrics::histogram!("webhook_sqlite_turn_seconds").record(started.elapsed().as_secs_f64());
        close
    }

    fn exec(&self, sql: &str) -> rusqlite::Result<()> {
        self.conn.prepare_cached(sql)?.execute([]).map(drop)
    }

    /// Notes a change of the counts by status, written with the turn.
    fn count(&self, change: impl FnOnce(&mut Moved)) {
        let mut moved = self.moved.get();
        change(&mut moved);
        self.moved.set(moved);
    }

    /// Adds what the turn changed to `webhook_event_counts`, in its transaction.
    fn write_counts(&self) -> Result<(), StoreError> {
        let moved = self.moved.get();
        if moved == Moved::default() {
            return Ok(());
        }
        let write = db_error("counting events by status");
        let mut stmt = self.conn.prepare_cached(ADD_COUNTS).map_err(&write)?;
        for status in StatusCounts::STATUSES {
            let (events, bytes) = moved.get(status);
            if (events, bytes) != (0, 0) {
                stmt.execute(params![status.as_str(), events, bytes]).map_err(&write)?;
            }
        }
        Ok(())
    }

    /// Runs one job inside the turn's transaction, in a savepoint of its own: a job that
    /// fails leaves no trace and does not take the others down.
    fn run_job(&self, job: Job) -> Box<dyn Answer> {
        if let Err(e) = self.exec("SAVEPOINT job") {
            return fail_job(job, &db_error("starting a savepoint")(e));
        }
        let counted = self.moved.get();
        let (ok, answer) = match job {
            Job::Insert(rows, lease, reply) => {
                let r = self.insert(&rows, &lease);
                (r.is_ok(), pending(reply, r))
            }
            Job::Lease { worker, max, until, now, reply } => {
                let r = self.lease(&worker, max, until, now);
                (r.is_ok(), pending(reply, r))
            }
            Job::Complete { ids, worker, reply } => {
                let r = self.complete(&ids, &worker);
                (r.is_ok(), pending(reply, r))
            }
            Job::CompleteWith { done, worker, reply } => {
                let r = self.complete_with(&done, &worker);
                (r.is_ok(), pending(reply, r))
            }
            Job::Execute(effects, reply) => {
                let r = self.run_effects(&effects).map_err(|e| StoreError::constraint(e, None));
                (r.is_ok(), pending(reply, r))
            }
            Job::Fail { id, worker, status, error, next, started, reply } => {
                let r = self.fail(id, &worker, status, &error, next, started);
                (r.is_ok(), pending(reply, r))
            }
            Job::Attempts { id, reply } => {
                let r = self.attempts(id);
                (r.is_ok(), pending(reply, r))
            }
            Job::StatusCounts(reply) => {
                let r = self.status_counts();
                (r.is_ok(), pending(reply, r))
            }
            Job::Replay { filter, now, reply } => {
                let r = self.replay(&filter, now);
                (r.is_ok(), pending(reply, r))
            }
            Job::List { filter, limit, reply } => {
                let r = self.list(&filter, limit);
                (r.is_ok(), pending(reply, r))
            }
            Job::Depth(reply) => {
                let r = self
                    .conn
                    .prepare_cached(DEPTH)
                    .and_then(|mut s| s.query_row([], |row| row.get::<_, i64>(0)))
                    .map(|n| u64::try_from(n).unwrap_or(0))
                    .map_err(db_error("counting the queue"));
                (r.is_ok(), pending(reply, r))
            }
            Job::Audit(records, reply) => {
                let r = self.record_audit(&records);
                (r.is_ok(), pending(reply, r))
            }
            Job::AuditQuery { filter, limit, reply } => {
                let r = self.audit(&filter, limit);
                (r.is_ok(), pending(reply, r))
            }
            Job::AuditCounts { since, bucket, reply } => {
                let r = self.audit_counts(since, bucket);
                (r.is_ok(), pending(reply, r))
            }
            Job::PurgeAudit { before, reply } => {
                let r = self
                    .conn
                    .prepare_cached(PURGE_AUDIT)
                    .and_then(|mut s| s.execute([before]))
                    .map(|n| n as u64)
                    .map_err(db_error("purging the audit log"));
                (r.is_ok(), pending(reply, r))
            }
            Job::Claim { key, now, lease_end, reply } => {
                let r = self.claim(&key, now, lease_end);
                (r.is_ok(), pending(reply, r))
            }
            Job::ClaimDone { key, ttl_end, reply } => {
                let r = self.dedup_exec(SQLITE_DEDUP.complete, params![key, ttl_end], "completing a claim").map(drop);
                (r.is_ok(), pending(reply, r))
            }
            Job::ClaimRelease { key, reply } => {
                let r = self.dedup_exec(SQLITE_DEDUP.release, params![key], "releasing a claim").map(drop);
                (r.is_ok(), pending(reply, r))
            }
            Job::PurgeClaims { now, reply } => {
                let r = self.purge_claims(now);
                (r.is_ok(), pending(reply, r))
            }
            Job::Purge { done, dead, limit, reply } => {
                let r = self.purge(done, dead, limit);
                (r.is_ok(), pending(reply, r))
            }
            Job::CountPurgeable { done, dead, reply } => {
                let r = self.count_purgeable(done, dead);
                (r.is_ok(), pending(reply, r))
            }
            Job::Close(_) => unreachable_close(),
        };
        let end = if ok {
            self.exec("RELEASE job")
        } else {
            self.moved.set(counted);
            self.exec("ROLLBACK TO job").and_then(|()| self.exec("RELEASE job"))
        };
        if let Err(e) = end {
            tracing::warn!(error = %e, "SQLite savepoint failed");
        }
        answer
    }

    /// Marks a leased event failed or dead and records the attempt (capped per event).
    fn fail(
        &self,
        id: EventId,
        worker: &str,
        status: Status,
        error: &str,
        next: Option<i64>,
        started: i64,
    ) -> Result<bool, StoreError> {
        let fail = db_error("recording a failed attempt");
        let held: Option<i64> = self
            .conn
            .prepare_cached(FAIL)
            .and_then(|mut s| s.query_row(params![status.as_str(), error, next, id, worker], |r| r.get(0)).optional())
            .map_err(&fail)?;
        if let Some(bytes) = held {
            self.count(|m| m.moved(Status::Processing, status, bytes));
            let outcome = if status == Status::Dead { AttemptOutcome::Dead } else { AttemptOutcome::Failed };
            let now = to_ms(SystemTime::now());
            let number: i64 = self
                .conn
                .prepare_cached(INSERT_ATTEMPT)
                .and_then(|mut s| {
                    s.query_row(
                        params![id, worker, started.min(now), now, outcome.as_str(), bounded_error(error)],
                        |r| r.get(0),
                    )
                })
                .map_err(&fail)?;
            self.conn
                .prepare_cached(CAP_ATTEMPTS)
                .and_then(|mut s| s.execute(params![id, number - i64::from(MAX_ATTEMPTS_KEPT)]))
                .map_err(&fail)?;
        }
        Ok(held.is_some())
    }

    fn attempts(&self, id: EventId) -> Result<Vec<Attempt>, StoreError> {
        let read = db_error("reading attempts");
        let mut stmt = self.conn.prepare_cached(READ_ATTEMPTS).map_err(&read)?;
        let rows = stmt
            .query_map([id], |row| {
                let outcome: String = row.get(5)?;
                Ok(Attempt {
                    event_id: row.get(0)?,
                    number: row.get::<_, i64>(1)?.try_into().unwrap_or(u32::MAX),
                    worker: row.get(2)?,
                    started_at: from_ms(row.get(3)?),
                    finished_at: from_ms(row.get(4)?),
                    outcome: AttemptOutcome::parse(&outcome).unwrap_or(AttemptOutcome::Failed),
                    error: row.get(6)?,
                })
            })
            .map_err(&read)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&read)?;
        Ok(rows)
    }

    fn status_counts(&self) -> Result<StatusCounts, StoreError> {
        let read = db_error("counting events by status");
        let mut stmt = self.conn.prepare_cached(STATUS_COUNTS).map_err(&read)?;
        let rows = stmt
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?, row.get::<_, i64>(2)?)))
            .map_err(&read)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&read)?;
        // What this turn changed before this job counts too: it commits with it.
        let moved = self.moved.get();
        let mut counts = StatusCounts::default();
        for (status, events, bytes) in rows {
            if let Some(status) = Status::parse(&status) {
                let (more, more_bytes) = moved.get(status);
                counts.set(status, StatusCount::new((events + more).max(0) as u64, (bytes + more_bytes).max(0) as u64));
            }
        }
        Ok(counts)
    }

    fn insert(&self, rows: &[Row], lease: &NewLease) -> Result<Vec<Inserted>, StoreError> {
        let store = db_error("storing events");
        let mut event = self.conn.prepare_cached(INSERT_EVENT).map_err(&store)?;
        let mut leased =
            if lease.first > 0 { Some(self.conn.prepare_cached(INSERT_LEASED).map_err(&store)?) } else { None };
        let mut body = self.conn.prepare_cached(INSERT_BODY).map_err(&store)?;
        let mut out = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            // A conflict changes no row: stored before, or earlier in this same batch. (Not
            // `RETURNING id`: reading the new rowid costs a quarter of the insert's CPU less.)
            let bytes = i64::try_from(r.body.len()).unwrap_or(i64::MAX);
            let (changed, is_leased) = match leased.as_mut().filter(|_| i < lease.first) {
                Some(stmt) => (
                    stmt.execute(params![
                        r.provider,
                        r.delivery_id,
                        r.event_type,
                        r.received_at,
                        bytes,
                        lease.until,
                        lease.worker
                    ])
                    .map_err(&store)?,
                    true,
                ),
                None => (
                    event
                        .execute(params![r.provider, r.delivery_id, r.event_type, r.received_at, bytes])
                        .map_err(&store)?,
                    false,
                ),
            };
            out.push(if changed == 1 {
                let id = self.conn.last_insert_rowid();
                body.execute(params![id, r.headers, r.body.as_ref()]).map_err(&store)?;
                self.count(|m| m.add(if is_leased { Status::Processing } else { Status::Pending }, 1, bytes));
                if is_leased {
                    Inserted::Leased(id)
                } else {
                    Inserted::New(id)
                }
            } else {
                Inserted::Duplicate
            });
        }
        Ok(out)
    }

    fn lease(&self, worker: &str, max: i64, until: i64, now: i64) -> Result<Vec<Read>, StoreError> {
        let lease = db_error("leasing events");
        let due = self
            .conn
            .prepare_cached(DUE)
            .and_then(|mut s| {
                s.query_map(params![now, max], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
                })?
                .collect::<Result<Vec<_>, _>>()
            })
            .map_err(&lease)?;
        let mut stmt = self.conn.prepare_cached(&self.lease_sql).map_err(&lease)?;
        let mut events = Vec::with_capacity(due.len());
        for (id, status, bytes) in due {
            events.push(stmt.query_row(params![until, worker, id], event_row).map_err(&lease)?);
            if let Some(from) = Status::parse(&status) {
                self.count(|m| m.moved(from, Status::Processing, bytes));
            }
        }
        self.attach_bodies(events)
    }

    fn complete(&self, ids: &[EventId], worker: &str) -> Result<u64, StoreError> {
        let complete = db_error("completing events");
        let mut stmt = self.conn.prepare_cached(COMPLETE).map_err(&complete)?;
        let mut done = 0;
        for id in ids {
            let held: Option<i64> = stmt.query_row(params![id, worker], |r| r.get(0)).optional().map_err(&complete)?;
            if let Some(bytes) = held {
                self.count(|m| m.moved(Status::Processing, Status::Done, bytes));
                done += 1;
            }
        }
        Ok(done)
    }

    /// Each event in a savepoint of its own: its done mark (only while `worker` holds the
    /// lease), then its effects; a lost lease or a failing statement rolls that event
    /// back alone.
    fn complete_with(&self, done: &[(EventId, Effects)], worker: &str) -> Result<Vec<Completion>, StoreError> {
        let complete = db_error("completing events");
        let mut out = Vec::with_capacity(done.len());
        for (id, effects) in done {
            self.exec("SAVEPOINT effects").map_err(&complete)?;
            let held = self
                .conn
                .prepare_cached(COMPLETE)
                .and_then(|mut s| s.query_row(params![id, worker], |r| r.get::<_, i64>(0)).optional());
            let (completion, bytes) = match held {
                Ok(Some(bytes)) => match self.run_effects(effects) {
                    Ok(()) => (Completion::Done, bytes),
                    Err(e) => (Completion::Failed(e), 0),
                },
                Ok(None) => (Completion::LeaseLost, 0),
                Err(e) => return Err(complete(e)),
            };
            let end = if completion == Completion::Done {
                self.exec("RELEASE effects")
            } else {
                self.exec("ROLLBACK TO effects").and_then(|()| self.exec("RELEASE effects"))
            };
            end.map_err(&complete)?;
            if completion == Completion::Done {
                self.count(|m| m.moved(Status::Processing, Status::Done, bytes));
            }
            out.push(completion);
        }
        Ok(out)
    }

    /// Runs a handler's statements, binding each `$n` to its value; the error names the
    /// statement.
    fn run_effects(&self, effects: &Effects) -> Result<(), String> {
        for (i, statement) in effects.statements().iter().enumerate() {
            let failed = |e: &dyn std::fmt::Display| statement_failed(i + 1, e);
            let mut stmt = self.conn.prepare_cached(statement.sql()).map_err(|e| failed(&e))?;
            let names: Vec<Option<String>> =
                (1..=stmt.parameter_count()).map(|k| stmt.parameter_name(k).map(str::to_owned)).collect();
            let names: Vec<Option<&str>> = names.iter().map(Option::as_deref).collect();
            let values = placeholder_values(&names, statement.params().len()).map_err(|e| failed(&e))?;
            for (k, v) in values.into_iter().enumerate() {
                stmt.raw_bind_parameter(k + 1, sql_value(&statement.params()[v])).map_err(|e| failed(&e))?;
            }
            stmt.raw_execute().map_err(|e| failed(&e))?;
        }
        Ok(())
    }

    /// The dedup claim of [`SqliteDedup`](super::SqliteDedup), in the writer's transaction:
    /// the upsert, then (when it lost) the live row's state.
    fn claim(&self, key: &str, now: i64, lease_end: i64) -> Result<Claim, StoreError> {
        let claim = db_error("claiming a delivery id");
        let won = self
            .conn
            .prepare_cached(SQLITE_DEDUP.claim)
            .and_then(|mut s| s.query_row(params![key, lease_end, now], |r| r.get::<_, String>(0)).optional())
            .map_err(&claim)?;
        if won.is_some() {
            return Ok(Claim::New);
        }
        let done = self
            .conn
            .prepare_cached(SQLITE_DEDUP.state)
            .and_then(|mut s| s.query_row(params![key, now], |r| r.get::<_, bool>(0)).optional())
            .map_err(&claim)?;
        // No live row after a lost upsert cannot happen inside the one writer's transaction;
        // answer in flight (the sender retries) rather than claim twice.
        Ok(if done == Some(true) { Claim::Duplicate } else { Claim::InFlight })
    }

    fn dedup_exec(&self, sql: &str, params: impl rusqlite::Params, what: &'static str) -> Result<usize, StoreError> {
        self.conn.prepare_cached(sql).and_then(|mut s| s.execute(params)).map_err(db_error(what))
    }

    fn purge_claims(&self, now: i64) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let n = self.dedup_exec(SQLITE_DEDUP.purge, params![now, PURGE_BATCH], "purging claims")? as u64;
            total += n;
            if n < PURGE_BATCH.unsigned_abs() {
                return Ok(total);
            }
        }
    }

    /// One batch of settled events: at most `limit` done ones received before `done`, then
    /// dead ones before `dead`, with their bodies; then (incremental auto-vacuum) gives up
    /// to [`VACUUM_PAGES`] free pages back.
    fn purge(&self, done: Option<i64>, dead: Option<i64>, limit: i64) -> Result<Purged, StoreError> {
        let purge = db_error("purging events");
        let mut purged = Purged::default();
        let mut left = limit;
        for (status, before) in [(Status::Done, done), (Status::Dead, dead)] {
            let Some(before) = before else { continue };
            if left <= 0 {
                break;
            }
            let ids = self
                .conn
                .prepare_cached(PURGEABLE)
                .and_then(|mut s| {
                    s.query_map(params![status.as_str(), before, left], |r| r.get::<_, i64>(0))?
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(&purge)?;
            let mut body = self.conn.prepare_cached(DELETE_BODY).map_err(&purge)?;
            let mut event = self.conn.prepare_cached(DELETE_EVENT).map_err(&purge)?;
            let mut attempts = self.conn.prepare_cached(DELETE_ATTEMPTS).map_err(&purge)?;
            for id in &ids {
                attempts.execute([id]).map_err(&purge)?;
                body.execute([id]).map_err(&purge)?;
                let bytes: Option<i64> = event.query_row([id], |r| r.get(0)).optional().map_err(&purge)?;
                if let Some(bytes) = bytes {
                    self.count(|m| m.add(status, -1, -bytes));
                }
            }
            let n = ids.len() as u64;
            left -= n as i64;
            if status == Status::Done {
                purged.done = n;
            } else {
                purged.dead = n;
            }
        }
        if self.incremental && purged.total() > 0 {
            // The pragma frees one page per step: run it to the end (`execute` would stop
            // after the first page).
            let vacuum = db_error("vacuuming after a purge");
            let mut stmt =
                self.conn.prepare_cached(&format!("PRAGMA incremental_vacuum({VACUUM_PAGES})")).map_err(&vacuum)?;
            let mut rows = stmt.query([]).map_err(&vacuum)?;
            while rows.next().map_err(&vacuum)?.is_some() {}
        }
        Ok(purged)
    }

    fn count_purgeable(&self, done: Option<i64>, dead: Option<i64>) -> Result<Purged, StoreError> {
        let count = |status: &str, before: Option<i64>| -> Result<u64, StoreError> {
            let Some(before) = before else { return Ok(0) };
            self.conn
                .prepare_cached(COUNT_PURGEABLE)
                .and_then(|mut s| s.query_row(params![status, before], |r| r.get::<_, i64>(0)))
                .map(|n| u64::try_from(n).unwrap_or(0))
                .map_err(db_error("counting purgeable events"))
        };
        Ok(Purged { done: count("done", done)?, dead: count("dead", dead)? })
    }

    fn replay(&self, filter: &Filter, now: i64) -> Result<u64, StoreError> {
        let replay = db_error("replaying events");
        // What leaves each status, read first in the same transaction.
        let (cond, values) = filter_sql(filter, '?', 1);
        let leaving = format!(
            "SELECT status, COUNT(*), COALESCE(SUM(body_bytes), 0) FROM webhook_events \
             WHERE {cond} AND status <> 'processing' GROUP BY status"
        );
        let leaving = self
            .conn
            .prepare(&leaving)
            .and_then(|mut s| {
                s.query_map(params_from_iter(values.into_iter().map(value)), |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                })?
                .collect::<Result<Vec<_>, _>>()
            })
            .map_err(&replay)?;
        for (status, events, bytes) in leaving {
            if let Some(status) = Status::parse(&status) {
                self.count(|m| {
                    m.add(status, -events, -bytes);
                    m.add(Status::Pending, events, bytes);
                });
            }
        }
        let (cond, values) = filter_sql(filter, '?', 2);
        let sql = format!(
            "UPDATE webhook_events SET status = 'pending', attempts = 0, next_attempt_at = ?1, lease_until = NULL \
             WHERE {cond} AND status <> 'processing'"
        );
        let binds = std::iter::once(Value::Integer(now)).chain(values.into_iter().map(value));
        let n = self.conn.execute(&sql, params_from_iter(binds)).map_err(db_error("replaying events"))?;
        Ok(n as u64)
    }

    fn list(&self, filter: &Filter, limit: usize) -> Result<Vec<Read>, StoreError> {
        let list = db_error("listing events");
        let (cond, values) = filter_sql(filter, '?', 1);
        let sql = format!("SELECT {COLUMNS} FROM webhook_events WHERE {cond} ORDER BY id DESC LIMIT {limit}");
        let mut stmt = self.conn.prepare(&sql).map_err(&list)?;
        let events = stmt
            .query_map(params_from_iter(values.into_iter().map(value)), event_row)
            .map_err(&list)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&list)?;
        self.attach_bodies(events)
    }

    fn record_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let write = db_error("writing the audit log");
        let mut stmt = self.conn.prepare_cached(INSERT_AUDIT).map_err(&write)?;
        for r in records {
            stmt.execute(params![
                r.request_id,
                r.provider,
                r.delivery_id,
                r.event_type,
                to_ms(r.received_at),
                r.signature_verified,
                r.outcome,
                r.status,
                r.error,
                r.client_ip
            ])
            .map_err(&write)?;
        }
        Ok(())
    }

    fn audit(&self, filter: &AuditFilter, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let read = db_error("reading the audit log");
        let (sql, values) = audit_sql(filter, '?', limit);
        let mut stmt = self.conn.prepare(&sql).map_err(&read)?;
        let entries = stmt
            .query_map(params_from_iter(values.into_iter().map(value)), |row| {
                let processing: Option<String> = row.get(11)?;
                Ok(AuditEntry {
                    id: row.get(0)?,
                    record: AuditRecord {
                        request_id: row.get(1)?,
                        provider: row.get(2)?,
                        delivery_id: row.get(3)?,
                        event_type: row.get(4)?,
                        received_at: from_ms(row.get(5)?),
                        signature_verified: row.get(6)?,
                        outcome: row.get(7)?,
                        status: row.get(8)?,
                        error: row.get(9)?,
                        client_ip: row.get(10)?,
                    },
                    processing: processing.as_deref().and_then(Status::parse),
                })
            })
            .map_err(&read)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&read)?;
        Ok(entries)
    }

    fn audit_counts(&self, since: i64, bucket: i64) -> Result<Vec<AuditCount>, StoreError> {
        let read = db_error("counting the audit log");
        let mut stmt = self.conn.prepare_cached(&audit_counts_sql('?')).map_err(&read)?;
        let counts = stmt
            .query_map(params![bucket, since], |row| {
                let count: i64 = row.get(3)?;
                Ok(AuditCount {
                    bucket: from_ms(row.get(0)?),
                    provider: row.get(1)?,
                    outcome: row.get(2)?,
                    count: u64::try_from(count).unwrap_or(0),
                })
            })
            .map_err(&read)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&read)?;
        Ok(counts)
    }

    /// Reads the headers and bodies of `events` from `webhook_bodies`.
    fn attach_bodies(&self, events: Vec<Event>) -> Result<Vec<Read>, StoreError> {
        let read = db_error("reading event bodies");
        let mut stmt = self.conn.prepare_cached(READ_BODY).map_err(&read)?;
        let mut out = Vec::with_capacity(events.len());
        for mut event in events {
            let stored: Option<(String, Vec<u8>)> =
                stmt.query_row([event.id], |row| Ok((row.get(0)?, row.get(1)?))).optional().map_err(&read)?;
            let (headers, body) = stored.unwrap_or_default();
            event.body = Bytes::from(body);
            out.push(Read { event, headers });
        }
        Ok(out)
    }
}

/// The answer for a job that could not run because the transaction did not start.
fn fail_job(job: Job, error: &StoreError) -> Box<dyn Answer> {
    fn e<T>(error: &StoreError) -> Result<T, StoreError> {
        Err(error.detached())
    }
    match job {
        Job::Insert(_, _, reply) => pending(reply, e(error)),
        Job::Lease { reply, .. } => pending(reply, e(error)),
        Job::Complete { reply, .. } | Job::Replay { reply, .. } | Job::Depth(reply) => pending(reply, e(error)),
        Job::CompleteWith { reply, .. } => pending(reply, e(error)),
        Job::Execute(_, reply) | Job::ClaimDone { reply, .. } | Job::ClaimRelease { reply, .. } => {
            pending(reply, e(error))
        }
        Job::Claim { reply, .. } => pending(reply, e(error)),
        Job::PurgeClaims { reply, .. } => pending(reply, e(error)),
        Job::Purge { reply, .. } | Job::CountPurgeable { reply, .. } => pending(reply, e(error)),
        Job::Fail { reply, .. } => pending(reply, e(error)),
        Job::Attempts { reply, .. } => pending(reply, e(error)),
        Job::StatusCounts(reply) => pending(reply, e(error)),
        Job::List { reply, .. } => pending(reply, e(error)),
        Job::Audit(_, reply) => pending(reply, e(error)),
        Job::AuditQuery { reply, .. } => pending(reply, e(error)),
        Job::AuditCounts { reply, .. } => pending(reply, e(error)),
        Job::PurgeAudit { reply, .. } => pending(reply, e(error)),
        Job::Close(_) => unreachable_close(),
    }
}

fn unreachable_close() -> ! {
    unreachable!("Close is handled by the turn, never run as a job")
}

fn sql_value(v: &SqlValue) -> rusqlite::types::ToSqlOutput<'_> {
    use rusqlite::types::{ToSqlOutput, ValueRef};
    match v {
        SqlValue::Integer(n) => ToSqlOutput::Owned(Value::Integer(*n)),
        SqlValue::Real(x) => ToSqlOutput::Owned(Value::Real(*x)),
        SqlValue::Bool(b) => ToSqlOutput::Owned(Value::Integer(i64::from(*b))),
        SqlValue::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
        SqlValue::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        _ => ToSqlOutput::Owned(Value::Null),
    }
}

fn value(v: FilterValue) -> Value {
    match v {
        FilterValue::Int(i) => Value::Integer(i),
        FilterValue::Text(t) => Value::Text(t),
        FilterValue::Bool(b) => Value::Integer(i64::from(b)),
    }
}

/// Events in the form they are stored, prepared off the writer thread.
fn rows(events: &[NewEvent]) -> Vec<Row> {
    events
        .iter()
        .map(|e| Row {
            provider: e.provider.clone(),
            delivery_id: e.delivery_id.clone(),
            event_type: e.event_type.clone(),
            headers: headers_json(&e.headers),
            body: e.body.clone(),
            received_at: to_ms(e.received_at),
        })
        .collect()
}

/// An event's own columns, in [`COLUMNS`] order.
fn event_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    let status: String = row.get(5)?;
    let status = Status::parse(&status).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            5,
            rusqlite::types::Type::Text,
            format!("unknown status {status:?}").into(),
        )
    })?;
    Ok(Event {
        id: row.get(0)?,
        provider: row.get(1)?,
        delivery_id: row.get(2)?,
        event_type: row.get(3)?,
        headers: Vec::new(),
        body: Bytes::new(),
        received_at: from_ms(row.get(4)?),
        status,
        attempts: row.get::<_, i64>(6)?.try_into().unwrap_or(0),
        last_error: row.get(7)?,
        next_attempt_at: from_ms(row.get(8)?),
    })
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn insert(&self, events: &[NewEvent]) -> Result<Vec<Inserted>, StoreError> {
        let rows = rows(events);
        self.ask(|reply| Job::Insert(rows, NewLease::none(), reply)).await
    }

    async fn insert_leased(
        &self,
        events: &[NewEvent],
        leased: usize,
        worker: &str,
        until: SystemTime,
    ) -> Result<Vec<Inserted>, StoreError> {
        let (rows, lease) = (rows(events), NewLease { first: leased, worker: worker.to_owned(), until: to_ms(until) });
        self.ask(|reply| Job::Insert(rows, lease, reply)).await
    }

    async fn lease(
        &self,
        worker: &str,
        max: usize,
        lease: Duration,
        now: SystemTime,
    ) -> Result<Vec<Event>, StoreError> {
        let (worker, max) = (worker.to_owned(), i64::try_from(max).unwrap_or(i64::MAX));
        let read =
            self.ask(|reply| Job::Lease { worker, max, until: to_ms(now + lease), now: to_ms(now), reply }).await?;
        Ok(read.into_iter().map(Read::event).collect())
    }

    async fn complete(&self, id: EventId, worker: &str) -> Result<bool, StoreError> {
        Ok(self.complete_many(&[id], worker).await? == 1)
    }

    async fn complete_many(&self, ids: &[EventId], worker: &str) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let (ids, worker) = (ids.to_vec(), worker.to_owned());
        self.ask(|reply| Job::Complete { ids, worker, reply }).await
    }

    async fn complete_with(&self, done: &[(EventId, Effects)], worker: &str) -> Result<Vec<Completion>, StoreError> {
        if done.is_empty() {
            return Ok(Vec::new());
        }
        let (done, worker) = (done.to_vec(), worker.to_owned());
        self.ask(|reply| Job::CompleteWith { done, worker, reply }).await
    }

    async fn execute(&self, effects: &Effects) -> Result<(), StoreError> {
        let effects = effects.clone();
        self.ask(|reply| Job::Execute(effects, reply)).await
    }

    async fn close(&self) {
        SqliteStore::close(self).await;
    }

    async fn fail(
        &self,
        id: EventId,
        worker: &str,
        error: &str,
        retry_at: Option<SystemTime>,
    ) -> Result<bool, StoreError> {
        self.fail_attempt(id, worker, error, retry_at, SystemTime::now()).await
    }

    async fn fail_attempt(
        &self,
        id: EventId,
        worker: &str,
        error: &str,
        retry_at: Option<SystemTime>,
        started_at: SystemTime,
    ) -> Result<bool, StoreError> {
        let (status, next) = match retry_at {
            Some(t) => (Status::Failed, Some(to_ms(t))),
            None => (Status::Dead, None),
        };
        let (worker, error) = (worker.to_owned(), error.chars().take(4096).collect());
        let started = to_ms(started_at);
        self.ask(|reply| Job::Fail { id, worker, status, error, next, started, reply }).await
    }

    async fn attempts(&self, id: EventId) -> Result<Vec<Attempt>, StoreError> {
        self.ask(|reply| Job::Attempts { id, reply }).await
    }

    /// Reads the counters the writer keeps in the transactions that change the events
    /// (`webhook_event_counts`, updated once per transaction with what it changed): five
    /// rows, whatever the table holds.
    async fn status_counts(&self) -> Result<StatusCounts, StoreError> {
        self.ask(Job::StatusCounts).await
    }

    async fn get(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        Ok(self.ask(|reply| Job::List { filter: Filter::id(id), limit: 1, reply }).await?.pop().map(Read::event))
    }

    async fn list(&self, filter: &Filter, limit: usize) -> Result<Vec<Event>, StoreError> {
        let (filter, limit) = (filter.clone(), limit.min(100_000));
        Ok(self.ask(|reply| Job::List { filter, limit, reply }).await?.into_iter().map(Read::event).collect())
    }

    async fn replay(&self, filter: &Filter, now: SystemTime) -> Result<u64, StoreError> {
        let filter = filter.clone();
        self.ask(|reply| Job::Replay { filter, now: to_ms(now), reply }).await
    }

    async fn depth(&self) -> Result<u64, StoreError> {
        self.ask(Job::Depth).await
    }

    async fn record_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let records = records.to_vec();
        self.ask(|reply| Job::Audit(records, reply)).await
    }

    async fn audit(&self, filter: &AuditFilter, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let filter = filter.clone();
        self.ask(|reply| Job::AuditQuery { filter, limit, reply }).await
    }

    async fn audit_counts(&self, since: SystemTime, bucket: Duration) -> Result<Vec<AuditCount>, StoreError> {
        let bucket = i64::try_from(crate::audit::bucket_ms(bucket)).unwrap_or(i64::MAX);
        self.ask(|reply| Job::AuditCounts { since: to_ms(since), bucket, reply }).await
    }

    async fn purge_audit(&self, before: SystemTime) -> Result<u64, StoreError> {
        self.ask(|reply| Job::PurgeAudit { before: to_ms(before), reply }).await
    }

    async fn purge(&self, before: &PurgeBefore, limit: usize) -> Result<Purged, StoreError> {
        let (done, dead) = (before.done.map(to_ms), before.dead.map(to_ms));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.ask(|reply| Job::Purge { done, dead, limit, reply }).await
    }

    async fn count_purgeable(&self, before: &PurgeBefore) -> Result<Purged, StoreError> {
        let (done, dead) = (before.done.map(to_ms), before.dead.map(to_ms));
        self.ask(|reply| Job::CountPurgeable { done, dead, reply }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{event, TempDb};

    #[tokio::test]
    async fn keeps_an_audit_log() {
        let db = TempDb::new();
        let store = SqliteStore::connect(&db.url()).await.unwrap();
        crate::audit::tests::audit_conformance(&store).await;
        store.close().await;
    }

    #[tokio::test]
    async fn a_file_from_before_incremental_vacuum_keeps_its_mode_and_still_purges() {
        use crate::retention::PurgeBefore;
        use crate::testing::at;
        let db = TempDb::new();
        // A file whose first table was created without auto_vacuum, as older versions did.
        Connection::open(&db.path).unwrap().execute_batch("CREATE TABLE older (x INTEGER)").unwrap();
        let store = SqliteStore::connect(&db.url()).await.unwrap();
        store.insert(&[event("github", "a", "push")]).await.unwrap();
        let leased = store.lease("w", 1, Duration::from_secs(60), at(1)).await.unwrap();
        assert!(store.complete(leased[0].id, "w").await.unwrap());
        let purged = store.purge(&PurgeBefore::none().done(at(10)), 10).await.unwrap();
        assert_eq!(purged, Purged { done: 1, dead: 0 });
        store.close().await;
        let conn = Connection::open(&db.path).unwrap();
        let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, 0, "only a VACUUM changes an existing file's mode");
        let bodies: i64 = conn.query_row("SELECT COUNT(*) FROM webhook_bodies", [], |r| r.get(0)).unwrap();
        assert_eq!(bodies, 0, "the body went with its event");
    }

    #[tokio::test]
    async fn an_in_memory_url_is_refused_with_a_reason() {
        let err = SqliteStore::connect("sqlite::memory:").await.unwrap_err();
        assert!(err.to_string().contains("not durable"), "{err}");
    }

    #[tokio::test]
    async fn close_stops_the_writer_and_later_calls_say_so() {
        let db = TempDb::new();
        let store = SqliteStore::connect(&db.url()).await.unwrap();
        assert_eq!(store.path(), db.path.as_path());
        store.insert(&[event("github", "a", "push")]).await.unwrap();
        store.close().await;
        let err = store.depth().await.unwrap_err();
        assert!(err.to_string().contains("stopped"), "{err}");
        // The file is complete without its WAL: a new store reads what the old one wrote.
        let again = SqliteStore::connect(&db.url()).await.unwrap();
        assert_eq!(again.depth().await.unwrap(), 1);
        again.close().await;
    }

    /// A trigger in `db` that makes the insert of delivery `clash` fail inside the writer.
    fn refuse_clash(db: &TempDb) {
        let conn = Connection::open(&db.path).unwrap();
        conn.execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON webhook_events WHEN NEW.delivery_id = 'clash' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
        )
        .unwrap();
    }

    #[tokio::test]
    async fn one_failing_job_does_not_undo_the_others_in_its_turn() {
        let db = TempDb::new();
        let store = SqliteStore::connect(&db.url()).await.unwrap();
        // One delivery's insert fails inside the writer; a concurrent insert, in the same
        // turn or the next, must still be stored.
        refuse_clash(&db);
        let (clash, fine) = ([event("github", "clash", "push")], [event("github", "fine", "push")]);
        let (bad, good) = tokio::join!(store.insert(&clash), store.insert(&fine));
        let err = bad.unwrap_err();
        assert!(err.to_string().contains("refused by the test"), "{err}");
        assert!(matches!(good.unwrap()[..], [Inserted::New(_)]));
        let stored = store.list(&Filter::default(), 10).await.unwrap();
        assert_eq!(stored.iter().map(|e| e.delivery_id.as_str()).collect::<Vec<_>>(), ["fine"]);
        store.close().await;
    }

    #[tokio::test]
    async fn what_a_job_rolled_back_is_not_counted() {
        use crate::{Completion, Effects, StatusCount};
        let db = TempDb::new();
        let store = SqliteStore::connect(&db.url()).await.unwrap();
        refuse_clash(&db);
        // The batch's first row was inserted, and counted, before the second failed.
        let (clash, fine) =
            ([event("github", "first", "push"), event("github", "clash", "push")], [event("github", "fine", "push")]);
        let (bad, good) = tokio::join!(store.insert(&clash), store.insert(&fine));
        assert!(bad.is_err() && good.is_ok());
        let bytes = event("github", "fine", "push").body.len() as u64;
        let counts = store.status_counts().await.unwrap();
        assert_eq!(counts.get(Status::Pending), StatusCount::new(1, bytes));
        assert_eq!(counts.total(), StatusCount::new(1, bytes));
        // Effects that fail roll their done mark back: still processing.
        let leased = store.lease("w", 1, Duration::from_secs(60), SystemTime::now()).await.unwrap();
        let failing = Effects::new().execute("INSERT INTO no_such_table VALUES (1)", []);
        let done = store.complete_with(&[(leased[0].id, failing)], "w").await.unwrap();
        assert!(matches!(done[..], [Completion::Failed(_)]), "{done:?}");
        let counts = store.status_counts().await.unwrap();
        assert_eq!(counts.get(Status::Processing), StatusCount::new(1, bytes));
        assert_eq!(counts.total(), StatusCount::new(1, bytes));
        store.close().await;
    }
}
