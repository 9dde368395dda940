//! The event store on PostgreSQL, for several receiver instances sharing one database,
//! through sqlx, with the migrations in `migrations/postgres`.
//!
//! Leases take rows `FOR UPDATE SKIP LOCKED`, so workers in several processes never take
//! the same event.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgRow};
use sqlx::{Postgres, Row, Transaction};

use super::audit::{AuditCount, AuditEntry, AuditFilter, AuditRecord};
use super::effects::{statement_failed, Completion, Effects, SqlValue};
use super::event::{from_ms, to_ms, Event, EventId, Filter, Inserted, NewEvent, Status};
use super::history::{bounded_error, Attempt, AttemptOutcome, StatusCount, StatusCounts, MAX_ATTEMPTS_KEPT};
use super::reach::{Probe, Probed, Reach};
use super::retention::{PurgeBefore, Purged};
use super::sql::{audit_counts_sql, audit_sql, filter_sql, headers_from_json, headers_json, FilterValue, COLUMNS};
use super::store::EventStore;
use webhook_core::dedup::StoreError;

/// SQL `NULL` sent with no declared type (OID 0 in the Parse message): PostgreSQL takes
/// the type from where it goes, so a NULL fits a `bigint` or `timestamptz` column as well
/// as a `text` one.
struct UntypedNull;

impl sqlx::Type<sqlx::Postgres> for UntypedNull {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        sqlx::postgres::PgTypeInfo::with_oid(sqlx::postgres::types::Oid(0))
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for UntypedNull {
    fn encode_by_ref(
        &self,
        _buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Ok(sqlx::encode::IsNull::Yes)
    }
}

/// Marks the listed events done, those `$1` still holds: a batch, or one event with its
/// effects.
const COMPLETE: &str = "UPDATE webhook_events SET status = 'done', lease_until = NULL \
    WHERE status = 'processing' AND leased_by = $1 AND id = ANY($2)";

fn db_error(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| classify(format!("{what}: {e}"), e)
}

/// A PostgreSQL error as a [`StoreError`] of the kind it is: the server down, unreachable,
/// shutting down or out of resources (unavailable: 503, retried); a bad URL, refused
/// credentials, a missing database or a failed migration (misconfigured); an integrity
/// violation (SQLSTATE class 23: the data's fault).
pub(crate) fn classify(message: String, e: sqlx::Error) -> StoreError {
    let misconfigured = match &e {
        sqlx::Error::Configuration(_) | sqlx::Error::Tls(_) | sqlx::Error::Migrate(_) => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if code.starts_with("23") {
                return StoreError::constraint(message, Some(Box::new(e)));
            }
            // 28: authorization; 3D000: no such database; 42: syntax or a missing object.
            code.starts_with("28") || code == "3D000" || code.starts_with("42")
        }
        _ => false,
    };
    if misconfigured {
        StoreError::misconfigured(message, Some(Box::new(e)))
    } else {
        StoreError::unavailable(message, Some(Box::new(e)))
    }
}

/// Folds the counters' deltas into one row per status: what it deletes it sums back, in
/// one statement, so a concurrent fold (another instance's) or delta is never lost.
const FOLD_COUNTS: &str = "WITH folded AS (DELETE FROM webhook_event_counts RETURNING status, events, bytes) \
     INSERT INTO webhook_event_counts (status, events, bytes) \
     SELECT status, SUM(events), SUM(bytes) FROM folded GROUP BY status";

/// After this many events completed or failed, the worker that passes the mark folds the
/// counters' deltas (a few milliseconds, off the request path). `status_counts()` (the
/// store gauges, every 15 s by default; the console) folds too: this bounds the table for
/// a deployment that reads neither.
const FOLD_EVERY: u64 = 8192;

/// How long to wait for a connection before answering "unavailable" (while the server
/// answers: a server known down is answered at once, see [`Reach`]).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A probe of the server at `options`: one plain connection, closed at once. Refused,
/// reset or any other I/O error, or the server saying it cannot take a connection now
/// (SQLSTATE class 57P: starting up, shutting down) is "down"; anything else (an
/// authentication error, too many connections) says nothing about reachability, and the
/// pool reports it itself.
pub(crate) fn probe(options: Arc<PgConnectOptions>) -> Probe {
    Box::new(move || {
        let options = options.clone();
        Box::pin(async move {
            use sqlx::Connection;
            match sqlx::postgres::PgConnection::connect_with(&options).await {
                Ok(conn) => {
                    let _ = conn.close().await;
                    Probed::Up
                }
                Err(e @ sqlx::Error::Io(_)) => Probed::Down(e.to_string()),
                Err(sqlx::Error::Database(db)) if db.code().is_some_and(|c| c.starts_with("57P")) => {
                    Probed::Down(db.to_string())
                }
                Err(_) => Probed::Unknown,
            }
        })
    })
}

/// Starts a transaction on `conn` (durable or not as its pool's connections are).
async fn begin<'c>(
    conn: &'c mut PoolConnection<Postgres>,
    what: &'static str,
) -> Result<Transaction<'c, Postgres>, StoreError> {
    sqlx::Connection::begin(&mut **conn).await.map_err(db_error(what))
}

/// The SQL of `lease`. Each branch reads one partial index (waiting rows by next attempt,
/// expired leases by lease end) and stops at the limit, so a lease costs the same however
/// long the backlog or the history.
fn lease_sql() -> String {
    format!(
        "WITH waiting AS (SELECT id, next_attempt_at FROM webhook_events \
             WHERE status IN ('pending', 'failed') AND next_attempt_at <= $3 \
             ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED), \
         expired AS (SELECT id, next_attempt_at FROM webhook_events \
             WHERE status = 'processing' AND lease_until < $3 ORDER BY lease_until LIMIT $4 FOR UPDATE SKIP LOCKED), \
         due AS (SELECT id FROM (SELECT id, next_attempt_at FROM waiting UNION ALL SELECT id, next_attempt_at FROM expired) AS d \
             ORDER BY next_attempt_at, id LIMIT $4) \
         UPDATE webhook_events SET status = 'processing', attempts = attempts + 1, lease_until = $1, leased_by = $2 \
         WHERE id IN (SELECT id FROM due) \
         RETURNING {COLUMNS}"
    )
}

/// The event store on PostgreSQL, for several receiver instances sharing one database.
/// Open it with [`PostgresStore::connect`].
///
/// While the server is down (connections refused or reset, or the server starting up or
/// shutting down), operations are answered "unavailable" ([`StoreError::is_unavailable`]:
/// the receivers' 503) within milliseconds, not after the pools' 5 s wait for a
/// connection: an operation that waits over 25 ms starts a probe (one plain connection;
/// one at a time), and a probe that finds the server down fails the waiting operations
/// and those after them at once. One probe every 250 ms then finds the server again, and
/// operations go through as before, without a restart. A pool that is only busy (every
/// connection in use, the server answering) is waited for, up to 5 s: load alone is never
/// answered "unavailable".
#[derive(Clone, Debug)]
pub struct PostgresStore {
    /// Leases, status updates and reads.
    pool: PgPool,
    /// Inserts of accepted deliveries: the commits that must be durable.
    ingest: PgPool,
    lease_sql: String,
    /// Events completed or failed since this store last folded the counters' deltas, and
    /// how many make it fold again (see [`FOLD_EVERY`]).
    unfolded: Arc<AtomicU64>,
    fold_every: u64,
    /// Whether the server is known down, so operations are answered "unavailable" at once
    /// instead of after the pool's 5 s.
    reach: Arc<Reach>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host/db`) and runs the migrations.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), webhook_core::dedup::StoreError> {
    /// let store = webhook_pipeline::PostgresStore::connect("postgres://postgres@127.0.0.1/test").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// Deliveries are inserted through a pool with the server's durable commits; the
    /// workers' leases and status updates go through a second pool with
    /// `synchronous_commit = off` (a crash can forget an event was done, and its handler runs
    /// again; an acknowledged delivery is never lost).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options =
            sqlx::postgres::PgConnectOptions::from_str(url).map_err(db_error("reading the PostgreSQL URL"))?;
        // One plain connection first: a pool that cannot connect reports only that it timed
        // out, while this says why (refused, unknown host, authentication, no database).
        {
            use sqlx::Connection;
            let first = tokio::time::timeout(ACQUIRE_TIMEOUT, sqlx::postgres::PgConnection::connect_with(&options))
                .await
                .map_err(|_| {
                    StoreError::unavailable(
                        format!("connecting to PostgreSQL: no answer within {} s", ACQUIRE_TIMEOUT.as_secs()),
                        None,
                    )
                })?
                .map_err(db_error("connecting to PostgreSQL"))?;
            let _ = first.close().await;
        }
        let pool_options = || sqlx::postgres::PgPoolOptions::new().max_connections(8).acquire_timeout(ACQUIRE_TIMEOUT);
        let ingest =
            pool_options().connect_with(options.clone()).await.map_err(db_error("connecting to PostgreSQL"))?;
        Self::migrate(&ingest).await?;
        let pool = pool_options()
            .connect_with(options.options([("synchronous_commit", "off")]))
            .await
            .map_err(db_error("connecting to PostgreSQL"))?;
        Ok(Self::with_ingest(pool, ingest))
    }

    /// A store on an existing pool whose database has been migrated.
    pub fn new(pool: PgPool) -> Self {
        Self::with_ingest(pool.clone(), pool)
    }

    /// A store that writes accepted deliveries through `ingest` (durable commits) and does
    /// the workers' bookkeeping and reads through `pool`.
    pub fn with_ingest(pool: PgPool, ingest: PgPool) -> Self {
        let reach = Reach::new("PostgreSQL", probe(ingest.connect_options()));
        Self { pool, ingest, lease_sql: lease_sql(), reach, unfolded: Arc::default(), fold_every: FOLD_EVERY }
    }

    /// A connection from `pool` (`self.pool` or `self.ingest`), or "unavailable" at once
    /// while the server is known down, or as soon as a probe finds it down while this waits.
    async fn conn(&self, pool: &PgPool, what: &'static str) -> Result<PoolConnection<Postgres>, StoreError> {
        self.reach.run(what, pool.acquire(), db_error(what)).await
    }

    /// The connection pool (shared with the dedup store, for instance).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs the migrations in `migrations/postgres` on `pool`.
    pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/postgres")
            .run(pool)
            .await
            .map_err(|e| StoreError::misconfigured(format!("migrating the event store: {e}"), Some(Box::new(e))))
    }

    /// Runs a handler's statements on `conn`, in its transaction; the error names the
    /// statement.
    async fn run_effects(conn: &mut sqlx::PgConnection, effects: &Effects) -> Result<(), String> {
        for (i, statement) in effects.statements().iter().enumerate() {
            let mut query = sqlx::query(statement.sql());
            for v in statement.params() {
                query = match v {
                    SqlValue::Integer(n) => query.bind(*n),
                    SqlValue::Real(x) => query.bind(*x),
                    SqlValue::Bool(b) => query.bind(*b),
                    SqlValue::Text(t) => query.bind(t.as_str()),
                    SqlValue::Blob(b) => query.bind(b.as_slice()),
                    _ => query.bind(UntypedNull),
                };
            }
            query.execute(&mut *conn).await.map_err(|e| statement_failed(i + 1, e))?;
        }
        Ok(())
    }

    /// The events' done marks and effects in one transaction (durable commit) with no
    /// savepoints: the done marks in one statement (the events still leased to `worker`
    /// come back; the `UPDATE` locks their rows, so no other worker can lease them until
    /// the commit), then the effects of those events. When a statement fails, the
    /// transaction is rolled back and nothing happened: with only one event held, that
    /// event has failed (its error comes back); with several, `None`, and
    /// [`complete_batch`](Self::complete_batch) sorts the failure out per event. A commit
    /// that fails may or may not have happened: every event it held comes back failed (the
    /// worker's failed attempt only lands where the event is still leased: it did not
    /// commit).
    async fn complete_together(
        &self,
        done: &[(EventId, Effects)],
        worker: &str,
    ) -> Result<Option<Vec<Completion>>, StoreError> {
        let what = "completing events";
        let complete = db_error(what);
        let ids: Vec<EventId> = done.iter().map(|(id, _)| *id).collect();
        let mut conn = self.conn(&self.ingest, what).await?;
        let mut tx = begin(&mut conn, what).await?;
        let held: Vec<EventId> = sqlx::query_scalar(&format!("{COMPLETE} RETURNING id"))
            .bind(worker)
            .bind(ids.as_slice())
            .fetch_all(&mut *tx)
            .await
            .map_err(&complete)?;
        let mut out = Vec::with_capacity(done.len());
        for (id, effects) in done {
            if !held.contains(id) {
                out.push(Completion::LeaseLost);
                continue;
            }
            if let Err(e) = Self::run_effects(&mut tx, effects).await {
                tx.rollback().await.map_err(&complete)?;
                if held.len() > 1 {
                    return Ok(None);
                }
                // The only event held: its failure is the whole outcome.
                let failed = Completion::Failed(e);
                return Ok(Some(
                    done.iter().map(|(i, _)| if i == id { failed.clone() } else { Completion::LeaseLost }).collect(),
                ));
            }
            out.push(Completion::Done);
        }
        if let Err(e) = tx.commit().await {
            let failed = Completion::Failed(format!("committing the effects: {e}"));
            return Ok(Some(out.into_iter().map(|o| if o == Completion::Done { failed.clone() } else { o }).collect()));
        }
        self.changed(&mut conn, held.len() as u64).await;
        Ok(Some(out))
    }

    /// Counts `events` completed or failed on `conn`; the call that passes a multiple of
    /// `fold_every` folds the counters' deltas there. A fold that fails is left to the next.
    async fn changed(&self, conn: &mut sqlx::PgConnection, events: u64) {
        let before = self.unfolded.fetch_add(events, Ordering::Relaxed);
        if (before + events) / self.fold_every == before / self.fold_every {
            return;
        }
        if let Err(e) = sqlx::query(FOLD_COUNTS).execute(conn).await {
            tracing::debug!(error = %e, "folding the counters by status failed; the next fold takes them");
        }
    }

    /// Several events' done marks and effects in one transaction (one durable commit), each
    /// in a savepoint: a lease lost or a failing statement rolls back that event's part
    /// only. A commit that fails may or may not have happened: every event the batch would
    /// have completed comes back failed, and the worker's failed attempt only lands where
    /// the event is still leased (it did not commit).
    async fn complete_batch(&self, done: &[(EventId, Effects)], worker: &str) -> Result<Vec<Completion>, StoreError> {
        let what = "completing events";
        let complete = db_error(what);
        let mut conn = self.conn(&self.ingest, what).await?;
        let mut tx = begin(&mut conn, what).await?;
        let mut out = Vec::with_capacity(done.len());
        for (id, effects) in done {
            sqlx::query("SAVEPOINT event").execute(&mut *tx).await.map_err(&complete)?;
            let held =
                sqlx::query(COMPLETE).bind(worker).bind([*id].as_slice()).execute(&mut *tx).await.map_err(&complete)?;
            let outcome = if held.rows_affected() != 1 {
                Completion::LeaseLost
            } else {
                match Self::run_effects(&mut tx, effects).await {
                    Ok(()) => Completion::Done,
                    Err(e) => Completion::Failed(e),
                }
            };
            let end =
                if outcome == Completion::Done { "RELEASE SAVEPOINT event" } else { "ROLLBACK TO SAVEPOINT event" };
            sqlx::query(end).execute(&mut *tx).await.map_err(&complete)?;
            out.push(outcome);
        }
        if let Err(e) = tx.commit().await {
            for o in &mut out {
                if *o == Completion::Done {
                    *o = Completion::Failed(format!("committing the effects: {e}"));
                }
            }
        } else {
            let done = out.iter().filter(|o| **o == Completion::Done).count();
            self.changed(&mut conn, done as u64).await;
        }
        Ok(out)
    }

    fn row(row: &PgRow) -> Result<Event, StoreError> {
        let get = db_error("reading an event");
        let status: String = row.try_get("status").map_err(&get)?;
        let attempts: i32 = row.try_get("attempts").map_err(&get)?;
        Ok(Event {
            id: row.try_get("id").map_err(&get)?,
            provider: row.try_get("provider").map_err(&get)?,
            delivery_id: row.try_get("delivery_id").map_err(&get)?,
            event_type: row.try_get("event_type").map_err(&get)?,
            headers: Vec::new(),
            body: bytes::Bytes::new(),
            received_at: from_ms(row.try_get("received_at").map_err(&get)?),
            status: Status::parse(&status)
                .ok_or_else(|| StoreError::new(format!("unknown event status {status:?}"), None))?,
            attempts: u32::try_from(attempts).unwrap_or(0),
            last_error: row.try_get("last_error").map_err(&get)?,
            next_attempt_at: from_ms(row.try_get("next_attempt_at").map_err(&get)?),
        })
    }

    /// Stores the new `events` in one transaction, each of the first `leased` leased to
    /// `worker` until `until` (ms): [`EventStore::insert`] and [`EventStore::insert_leased`].
    async fn insert_rows(
        &self,
        events: &[NewEvent],
        leased: usize,
        worker: &str,
        until: i64,
    ) -> Result<Vec<Inserted>, StoreError> {
        // One multi-row statement per batch: the commit (the fsync) is what costs, and it is
        // paid once. A delivery twice in one batch is a duplicate of the first copy.
        let mut out = vec![Inserted::Duplicate; events.len()];
        let mut seen = std::collections::HashMap::new();
        for (i, e) in events.iter().enumerate() {
            seen.entry((e.provider.as_str(), e.delivery_id.as_str())).or_insert(i);
        }
        let firsts: Vec<usize> = {
            let mut v: Vec<usize> = seen.values().copied().collect();
            v.sort_unstable();
            v
        };
        let mut conn = self.conn(&self.ingest, "storing events").await?;
        let mut tx = begin(&mut conn, "starting a transaction").await?;
        for chunk in firsts.chunks(1000) {
            let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
                "INSERT INTO webhook_events (provider, delivery_id, event_type, received_at, body_bytes, status, attempts, \
                 next_attempt_at, lease_until, leased_by) ",
            );
            q.push_values(chunk, |mut row, &i| {
                let e = &events[i];
                let at = to_ms(e.received_at);
                let bytes = i64::try_from(e.body.len()).unwrap_or(i64::MAX);
                row.push_bind(&e.provider)
                    .push_bind(&e.delivery_id)
                    .push_bind(&e.event_type)
                    .push_bind(at)
                    .push_bind(bytes);
                // The first `leased` rows go in leased, as the lease statement would leave
                // them; a conflict writes nothing, leased or not.
                if i < leased {
                    row.push("'processing'").push("1").push_bind(at).push_bind(until).push_bind(worker);
                } else {
                    row.push("'pending'").push("0").push_bind(at).push("NULL").push("NULL");
                }
            });
            q.push(" ON CONFLICT (provider, delivery_id) DO NOTHING RETURNING id, provider, delivery_id");
            let rows = q.build().fetch_all(&mut *tx).await.map_err(db_error("storing events"))?;
            let mut stored = Vec::with_capacity(rows.len());
            for r in rows {
                let get = db_error("reading a stored event's id");
                let (id, provider, delivery): (EventId, String, String) = (
                    r.try_get("id").map_err(&get)?,
                    r.try_get("provider").map_err(&get)?,
                    r.try_get("delivery_id").map_err(&get)?,
                );
                if let Some(&i) = seen.get(&(provider.as_str(), delivery.as_str())) {
                    out[i] = if i < leased { Inserted::Leased(id) } else { Inserted::New(id) };
                    stored.push((id, i));
                }
            }
            if stored.is_empty() {
                continue;
            }
            let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new("INSERT INTO webhook_bodies (id, headers, body) ");
            q.push_values(&stored, |mut row, &(id, i)| {
                row.push_bind(id).push_bind(headers_json(&events[i].headers)).push_bind(events[i].body.as_ref());
            });
            q.build().execute(&mut *tx).await.map_err(db_error("storing event bodies"))?;
        }
        tx.commit().await.map_err(db_error("committing events"))?;
        Ok(out)
    }

    /// Binds a filter's values, in the order [`filter_sql`] numbered them.
    fn bind_filter<'q>(
        mut q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
        values: Vec<FilterValue>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        for v in values {
            q = match v {
                FilterValue::Int(i) => q.bind(i),
                FilterValue::Text(t) => q.bind(t),
                FilterValue::Bool(b) => q.bind(b),
            };
        }
        q
    }

    async fn query_filtered(&self, filter: &Filter, tail: &str) -> Result<Vec<Event>, StoreError> {
        let (cond, values) = filter_sql(filter, '$', 1);
        let sql = format!("SELECT {COLUMNS} FROM webhook_events WHERE {cond} {tail}");
        let q = Self::bind_filter(sqlx::query(&sql), values);
        let mut conn = self.conn(&self.pool, "listing events").await?;
        let rows = q.fetch_all(&mut *conn).await.map_err(db_error("listing events"))?;
        let mut events = rows.iter().map(Self::row).collect::<Result<Vec<_>, _>>()?;
        Self::attach_bodies(&mut conn, &mut events).await?;
        Ok(events)
    }

    /// Fills in the headers and bodies of `events` from `webhook_bodies`.
    async fn attach_bodies(conn: &mut sqlx::PgConnection, events: &mut [Event]) -> Result<(), StoreError> {
        for chunk in events.chunks_mut(500) {
            let mut q =
                sqlx::QueryBuilder::<sqlx::Postgres>::new("SELECT id, headers, body FROM webhook_bodies WHERE id IN (");
            let mut list = q.separated(", ");
            for e in chunk.iter() {
                list.push_bind(e.id);
            }
            q.push(")");
            let rows = q.build().fetch_all(&mut *conn).await.map_err(db_error("reading event bodies"))?;
            let get = db_error("reading an event body");
            for r in rows {
                let id: EventId = r.try_get("id").map_err(&get)?;
                let headers: String = r.try_get("headers").map_err(&get)?;
                let body: Vec<u8> = r.try_get("body").map_err(&get)?;
                if let Some(e) = chunk.iter_mut().find(|e| e.id == id) {
                    e.headers = headers_from_json(&headers);
                    e.body = bytes::Bytes::from(body);
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl EventStore for PostgresStore {
    fn commit_writers(&self) -> usize {
        4
    }

    async fn insert(&self, events: &[NewEvent]) -> Result<Vec<Inserted>, StoreError> {
        self.insert_rows(events, 0, "", 0).await
    }

    async fn insert_leased(
        &self,
        events: &[NewEvent],
        leased: usize,
        worker: &str,
        until: SystemTime,
    ) -> Result<Vec<Inserted>, StoreError> {
        self.insert_rows(events, leased, worker, to_ms(until)).await
    }

    async fn lease(
        &self,
        worker: &str,
        max: usize,
        lease: Duration,
        now: SystemTime,
    ) -> Result<Vec<Event>, StoreError> {
        let mut conn = self.conn(&self.pool, "leasing events").await?;
        let rows = sqlx::query(&self.lease_sql)
            .bind(to_ms(now + lease))
            .bind(worker)
            .bind(to_ms(now))
            .bind(i64::try_from(max).unwrap_or(i64::MAX))
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error("leasing events"))?;
        let mut events = rows.iter().map(Self::row).collect::<Result<Vec<_>, _>>()?;
        events.sort_by_key(|e| (e.next_attempt_at, e.id));
        Self::attach_bodies(&mut conn, &mut events).await?;
        Ok(events)
    }

    async fn complete(&self, id: EventId, worker: &str) -> Result<bool, StoreError> {
        Ok(self.complete_many(&[id], worker).await? == 1)
    }

    async fn complete_many(&self, ids: &[EventId], worker: &str) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn(&self.pool, "completing events").await?;
        let done = sqlx::query(COMPLETE)
            .bind(worker)
            .bind(ids)
            .execute(&mut *conn)
            .await
            .map_err(db_error("completing events"))?;
        self.changed(&mut conn, done.rows_affected()).await;
        Ok(done.rows_affected())
    }

    async fn complete_with(&self, done: &[(EventId, Effects)], worker: &str) -> Result<Vec<Completion>, StoreError> {
        if done.is_empty() {
            return Ok(Vec::new());
        }
        // One durable commit for the batch (one event or many): first all at once (one
        // done-mark statement, then the effects); if a statement fails while several events
        // are held, again with each event in a savepoint of its own, so an error is that
        // event's alone: it comes back as a failed attempt (its savepoint rolled back),
        // never as the batch's `Err`.
        match self.complete_together(done, worker).await {
            Ok(Some(out)) => return Ok(out),
            Ok(None) => {}
            Err(e) => return Ok(vec![Completion::Failed(e.to_string()); done.len()]),
        }
        Ok(self.complete_batch(done, worker).await.unwrap_or_else(|e| {
            let failed = Completion::Failed(e.to_string());
            vec![failed; done.len()]
        }))
    }

    async fn close(&self) {
        self.reach.close();
        self.pool.close().await;
        self.ingest.close().await;
    }

    async fn execute(&self, effects: &Effects) -> Result<(), StoreError> {
        let what = "running statements";
        let run = db_error(what);
        let mut conn = self.conn(&self.ingest, what).await?;
        let mut tx = begin(&mut conn, what).await?;
        if let Err(e) = Self::run_effects(&mut tx, effects).await {
            tx.rollback().await.map_err(&run)?;
            return Err(StoreError::constraint(e, None));
        }
        tx.commit().await.map_err(run)
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

    /// One transaction: the event's update and, if it was still leased, its attempt (numbered
    /// after the last kept one) and the removal of the oldest beyond the cap. The update
    /// locks the event's row, so two failures of one event are numbered one after the other.
    async fn fail_attempt(
        &self,
        id: EventId,
        worker: &str,
        error: &str,
        retry_at: Option<SystemTime>,
        started_at: SystemTime,
    ) -> Result<bool, StoreError> {
        let (outcome, next) = match retry_at {
            Some(t) => (AttemptOutcome::Failed, Some(to_ms(t))),
            None => (AttemptOutcome::Dead, None),
        };
        let last_error: String = error.chars().take(4096).collect();
        let now = to_ms(SystemTime::now());
        let what = "recording a failed attempt";
        let fail = db_error(what);
        let mut conn = self.conn(&self.pool, what).await?;
        let mut tx = begin(&mut conn, what).await?;
        let held = sqlx::query(
            "UPDATE webhook_events SET status = $1, last_error = $2, lease_until = NULL, \
             next_attempt_at = COALESCE($3, next_attempt_at) \
             WHERE id = $4 AND status = 'processing' AND leased_by = $5",
        )
        .bind(outcome.as_str())
        .bind(last_error)
        .bind(next)
        .bind(id)
        .bind(worker)
        .execute(&mut *tx)
        .await
        .map_err(&fail)?
        .rows_affected()
            == 1;
        if !held {
            tx.rollback().await.map_err(&fail)?;
            return Ok(false);
        }
        let number: i32 = sqlx::query_scalar(
            "INSERT INTO webhook_event_attempts (event_id, attempt, worker, started_at, finished_at, outcome, error) \
             SELECT $1, COALESCE(MAX(attempt), 0) + 1, $2, $3, $4, $5, $6 FROM webhook_event_attempts \
             WHERE event_id = $1 RETURNING attempt",
        )
        .bind(id)
        .bind(worker)
        .bind(to_ms(started_at).min(now))
        .bind(now)
        .bind(outcome.as_str())
        .bind(bounded_error(error))
        .fetch_one(&mut *tx)
        .await
        .map_err(&fail)?;
        sqlx::query("DELETE FROM webhook_event_attempts WHERE event_id = $1 AND attempt <= $2")
            .bind(id)
            .bind(number - MAX_ATTEMPTS_KEPT as i32)
            .execute(&mut *tx)
            .await
            .map_err(&fail)?;
        tx.commit().await.map_err(&fail)?;
        self.changed(&mut conn, 1).await;
        Ok(true)
    }

    async fn attempts(&self, id: EventId) -> Result<Vec<Attempt>, StoreError> {
        let read = db_error("reading attempts");
        let mut conn = self.conn(&self.pool, "reading attempts").await?;
        let rows = sqlx::query(
            "SELECT attempt, worker, started_at, finished_at, outcome, error FROM webhook_event_attempts \
             WHERE event_id = $1 ORDER BY attempt",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await
        .map_err(&read)?;
        rows.iter()
            .map(|row| {
                let outcome: String = row.try_get("outcome").map_err(&read)?;
                Ok(Attempt {
                    event_id: id,
                    number: u32::try_from(row.try_get::<i32, _>("attempt").map_err(&read)?).unwrap_or(0),
                    worker: row.try_get("worker").map_err(&read)?,
                    started_at: from_ms(row.try_get("started_at").map_err(&read)?),
                    finished_at: from_ms(row.try_get("finished_at").map_err(&read)?),
                    outcome: AttemptOutcome::parse(&outcome).unwrap_or(AttemptOutcome::Failed),
                    error: row.try_get("error").map_err(&read)?,
                })
            })
            .collect()
    }

    /// Folds the counters' deltas into one row per status (`FOLD_COUNTS`), then sums
    /// what is left.
    async fn status_counts(&self) -> Result<StatusCounts, StoreError> {
        let count = db_error("counting events by status");
        let mut conn = self.conn(&self.pool, "counting events by status").await?;
        sqlx::query(FOLD_COUNTS).execute(&mut *conn).await.map_err(&count)?;
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT status, SUM(events)::BIGINT, SUM(bytes)::BIGINT FROM webhook_event_counts GROUP BY status",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(&count)?;
        let mut counts = StatusCounts::default();
        for (status, events, bytes) in rows {
            if let Some(status) = Status::parse(&status) {
                counts.set(status, StatusCount::new(events.max(0) as u64, bytes.max(0) as u64));
            }
        }
        Ok(counts)
    }

    async fn get(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        Ok(self.query_filtered(&Filter::id(id), "").await?.pop())
    }

    async fn list(&self, filter: &Filter, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.query_filtered(filter, &format!("ORDER BY id DESC LIMIT {}", limit.min(100_000))).await
    }

    async fn replay(&self, filter: &Filter, now: SystemTime) -> Result<u64, StoreError> {
        let (cond, values) = filter_sql(filter, '$', 2);
        let sql = format!(
            "UPDATE webhook_events SET status = 'pending', attempts = 0, next_attempt_at = $1, lease_until = NULL \
             WHERE {cond} AND status <> 'processing'"
        );
        let q = Self::bind_filter(sqlx::query(&sql).bind(to_ms(now)), values);
        let mut conn = self.conn(&self.pool, "replaying events").await?;
        let done = q.execute(&mut *conn).await.map_err(db_error("replaying events"))?;
        Ok(done.rows_affected())
    }

    async fn depth(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn(&self.pool, "counting the queue").await?;
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM webhook_events WHERE status IN ('pending', 'failed')) \
                  + (SELECT COUNT(*) FROM webhook_events WHERE status = 'processing') AS n",
        )
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error("counting the queue"))?;
        let n: i64 = row.try_get("n").map_err(db_error("counting the queue"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn record_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn(&self.pool, "writing the audit log").await?;
        for chunk in records.chunks(1000) {
            let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
                "INSERT INTO webhook_audit (request_id, provider, delivery_id, event_type, received_at, \
                 signature_verified, outcome, status, error, client_ip) ",
            );
            q.push_values(chunk, |mut row, r| {
                row.push_bind(&r.request_id)
                    .push_bind(&r.provider)
                    .push_bind(&r.delivery_id)
                    .push_bind(&r.event_type)
                    .push_bind(to_ms(r.received_at))
                    .push_bind(r.signature_verified)
                    .push_bind(&r.outcome)
                    .push_bind(i16::try_from(r.status).unwrap_or(i16::MAX))
                    .push_bind(&r.error)
                    .push_bind(&r.client_ip);
            });
            q.build().execute(&mut *conn).await.map_err(db_error("writing the audit log"))?;
        }
        Ok(())
    }

    async fn audit(&self, filter: &AuditFilter, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let (sql, values) = audit_sql(filter, '$', limit);
        let mut conn = self.conn(&self.pool, "reading the audit log").await?;
        let rows = Self::bind_filter(sqlx::query(&sql), values)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error("reading the audit log"))?;
        let get = db_error("reading an audit record");
        rows.iter()
            .map(|row| {
                let status: i16 = row.try_get(8).map_err(&get)?;
                let processing: Option<String> = row.try_get(11).map_err(&get)?;
                Ok(AuditEntry {
                    id: row.try_get(0).map_err(&get)?,
                    record: AuditRecord {
                        request_id: row.try_get(1).map_err(&get)?,
                        provider: row.try_get(2).map_err(&get)?,
                        delivery_id: row.try_get(3).map_err(&get)?,
                        event_type: row.try_get(4).map_err(&get)?,
                        received_at: from_ms(row.try_get(5).map_err(&get)?),
                        signature_verified: row.try_get(6).map_err(&get)?,
                        outcome: row.try_get(7).map_err(&get)?,
                        status: u16::try_from(status).unwrap_or(0),
                        error: row.try_get(9).map_err(&get)?,
                        client_ip: row.try_get(10).map_err(&get)?,
                    },
                    processing: processing.as_deref().and_then(Status::parse),
                })
            })
            .collect()
    }

    async fn audit_counts(&self, since: SystemTime, bucket: Duration) -> Result<Vec<AuditCount>, StoreError> {
        let bucket = i64::try_from(crate::audit::bucket_ms(bucket)).unwrap_or(i64::MAX);
        let mut conn = self.conn(&self.pool, "counting the audit log").await?;
        let rows = sqlx::query(&audit_counts_sql('$'))
            .bind(bucket)
            .bind(to_ms(since))
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error("counting the audit log"))?;
        let get = db_error("reading an audit count");
        rows.iter()
            .map(|row| {
                let count: i64 = row.try_get(3).map_err(&get)?;
                Ok(AuditCount {
                    bucket: from_ms(row.try_get(0).map_err(&get)?),
                    provider: row.try_get(1).map_err(&get)?,
                    outcome: row.try_get(2).map_err(&get)?,
                    count: u64::try_from(count).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn purge_audit(&self, before: SystemTime) -> Result<u64, StoreError> {
        let mut conn = self.conn(&self.pool, "purging the audit log").await?;
        let done = sqlx::query("DELETE FROM webhook_audit WHERE received_at < $1")
            .bind(to_ms(before))
            .execute(&mut *conn)
            .await
            .map_err(db_error("purging the audit log"))?;
        Ok(done.rows_affected())
    }

    /// One short transaction: the batch's rows are locked `FOR UPDATE SKIP LOCKED` (a row a
    /// worker is replaying or another purger holds is left for later), then their bodies and
    /// the rows themselves are deleted. Small batches keep each transaction short and leave
    /// autovacuum dead tuples in amounts it keeps up with.
    async fn purge(&self, before: &PurgeBefore, limit: usize) -> Result<Purged, StoreError> {
        let purge = db_error("purging events");
        let mut purged = Purged::default();
        let mut left = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut conn = self.conn(&self.pool, "purging events").await?;
        let mut tx = begin(&mut conn, "purging events").await?;
        for (status, cutoff) in [("done", before.done), ("dead", before.dead)] {
            let Some(cutoff) = cutoff else { continue };
            if left <= 0 {
                break;
            }
            let ids: Vec<EventId> = sqlx::query_scalar(
                "SELECT id FROM webhook_events WHERE received_at < $2 AND status = $1 \
                 ORDER BY received_at LIMIT $3 FOR UPDATE SKIP LOCKED",
            )
            .bind(status)
            .bind(to_ms(cutoff))
            .bind(left)
            .fetch_all(&mut *tx)
            .await
            .map_err(&purge)?;
            if !ids.is_empty() {
                sqlx::query("DELETE FROM webhook_event_attempts WHERE event_id = ANY($1)")
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await
                    .map_err(&purge)?;
                sqlx::query("DELETE FROM webhook_bodies WHERE id = ANY($1)")
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await
                    .map_err(&purge)?;
                sqlx::query("DELETE FROM webhook_events WHERE id = ANY($1)")
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await
                    .map_err(&purge)?;
            }
            let n = ids.len() as u64;
            left -= n as i64;
            if status == "done" {
                purged.done = n;
            } else {
                purged.dead = n;
            }
        }
        tx.commit().await.map_err(&purge)?;
        Ok(purged)
    }

    async fn count_purgeable(&self, before: &PurgeBefore) -> Result<Purged, StoreError> {
        let mut counted = Purged::default();
        let mut conn = self.conn(&self.pool, "counting purgeable events").await?;
        for (status, cutoff) in [("done", before.done), ("dead", before.dead)] {
            let Some(cutoff) = cutoff else { continue };
            let n: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events WHERE received_at < $2 AND status = $1")
                    .bind(status)
                    .bind(to_ms(cutoff))
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_error("counting purgeable events"))?;
            let n = u64::try_from(n).unwrap_or(0);
            if status == "done" {
                counted.done = n;
            } else {
                counted.dead = n;
            }
        }
        Ok(counted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A purge batch never waits for a row another transaction holds (a worker's replay,
    /// another instance's purge): it takes the others and leaves that one for later.
    #[tokio::test]
    async fn a_purge_skips_the_rows_another_transaction_holds() {
        use crate::testing::{at, drop_schema, event, postgres_store, postgres_url};
        let Some(url) = postgres_url("a_purge_skips_the_rows_another_transaction_holds") else {
            return;
        };
        let (store, schema) = postgres_store(&url).await;
        store.insert(&[event("github", "a", "push"), event("github", "b", "push")]).await.unwrap();
        let leased = store.lease("w", 2, Duration::from_secs(60), at(1)).await.unwrap();
        assert_eq!(store.complete_many(&[leased[0].id, leased[1].id], "w").await.unwrap(), 2);
        let mut holder = store.pool().begin().await.unwrap();
        sqlx::query("SELECT id FROM webhook_events WHERE id = $1 FOR UPDATE")
            .bind(leased[0].id)
            .execute(&mut *holder)
            .await
            .unwrap();
        let before = PurgeBefore::none().done(at(10));
        let purged = tokio::time::timeout(Duration::from_secs(5), store.purge(&before, 10))
            .await
            .expect("the purge waited for a locked row")
            .unwrap();
        assert_eq!(purged, Purged { done: 1, dead: 0 });
        assert!(store.get(leased[1].id).await.unwrap().is_none());
        holder.rollback().await.unwrap();
        assert_eq!(store.purge(&before, 10).await.unwrap(), Purged { done: 1, dead: 0 });
        assert!(store.get(leased[0].id).await.unwrap().is_none());
        store.pool().close().await;
        drop_schema(&url, &schema).await;
    }

    #[tokio::test]
    async fn an_unreachable_server_is_reported_with_its_cause() {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let started = std::time::Instant::now();
        let err = PostgresStore::connect("postgres://postgres@127.0.0.1:1/test").await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("connecting to PostgreSQL") && text.contains("refused"), "{text}");
        assert!(started.elapsed() < ACQUIRE_TIMEOUT, "answered without waiting for a pool timeout");
    }

    /// Workers fold the counters' deltas every `fold_every` events completed or failed, so
    /// the table stays a row per status even when nothing reads the counts; the counts stay
    /// exact.
    #[tokio::test]
    async fn workers_fold_the_counters_deltas_now_and_then() {
        use crate::testing::{drop_schema, event, postgres_store, postgres_url};
        let Some(url) = postgres_url("workers_fold_the_counters_deltas_now_and_then") else { return };
        let (mut store, schema) = postgres_store(&url).await;
        store.fold_every = 10;
        for i in 0..60 {
            store.insert(&[event("github", &format!("fold-{i}"), "push")]).await.unwrap();
        }
        let now = SystemTime::now();
        let leased = store.lease("w", 60, Duration::from_secs(60), now).await.unwrap();
        assert_eq!(leased.len(), 60);
        let rows = || async {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM webhook_event_counts")
                .fetch_one(store.pool())
                .await
                .unwrap()
        };
        assert!(rows().await > 60, "a delta per insert before any fold: {}", rows().await);
        for e in &leased[..10] {
            assert!(store.fail_attempt(e.id, "w", "boom", None, now).await.unwrap());
        }
        for e in &leased[10..] {
            assert!(store.complete(e.id, "w").await.unwrap());
        }
        // The 60th event folded: at most a row per status is left.
        assert!(rows().await <= 5, "{} rows left after the fold", rows().await);
        let counts = store.status_counts().await.unwrap();
        assert_eq!(counts.get(Status::Done).events, 50);
        assert_eq!(counts.get(Status::Dead).events, 10);
        assert_eq!(counts.total().events, 60);
        store.close().await;
        drop_schema(&url, &schema).await;
    }

    /// The delivery ids stored in `store`, sorted.
    async fn delivery_ids(store: &PostgresStore) -> Vec<String> {
        let mut ids: Vec<String> =
            store.list(&Filter::default(), 100).await.unwrap().into_iter().map(|e| e.delivery_id).collect();
        ids.sort();
        ids
    }

    /// While the server refuses connections, operations are answered "unavailable" without
    /// the pool's 5 s wait, nothing answered so is stored, and the store finds the server
    /// again by itself once it returns.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_that_goes_away_is_answered_unavailable_at_once_and_found_again() {
        use crate::testing::{event, postgres_url, until_available, ForwardedPostgres};
        let test = "a_server_that_goes_away_is_answered_unavailable_at_once_and_found_again";
        let Some(url) = postgres_url(test) else { return };
        let mut pg = ForwardedPostgres::start(&url).await;
        let store = PostgresStore::with_ingest(pg.pool(4), pg.pool(4));
        store.insert(&[event("github", "before", "push")]).await.unwrap();
        assert_eq!(store.depth().await.unwrap(), 1);

        pg.cut().await;
        for i in 0..3 {
            let started = std::time::Instant::now();
            let err = store.insert(&[event("github", &format!("down-{i}"), "push")]).await.unwrap_err();
            let took = started.elapsed();
            assert!(err.is_unavailable(), "{err}");
            assert!(took < ACQUIRE_TIMEOUT / 2, "insert {i} answered after {took:?}: {err}");
            let started = std::time::Instant::now();
            let err = store.depth().await.unwrap_err();
            let took = started.elapsed();
            assert!(err.is_unavailable(), "{err}");
            assert!(took < ACQUIRE_TIMEOUT / 2, "read {i} answered after {took:?}: {err}");
        }
        assert_eq!(delivery_ids(&pg.direct).await, ["before"], "nothing answered unavailable is stored");

        pg.restore().await;
        let after = [event("github", "after", "push")];
        until_available(ACQUIRE_TIMEOUT, || store.insert(&after)).await;
        assert_eq!(delivery_ids(&store).await, ["after", "before"]);
        store.close().await;
        pg.finish().await;
    }

    /// A pool that is only busy (its one connection held, the server up) is waited for:
    /// the probe connects, so the operation gets the connection when it is released, and
    /// is never answered "unavailable".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_busy_pool_is_waited_for_not_answered_unavailable() {
        use crate::testing::{drop_schema, event, postgres_store, postgres_url};
        let Some(url) = postgres_url("a_busy_pool_is_waited_for_not_answered_unavailable") else { return };
        let (direct, schema) = postgres_store(&url).await;
        let options = PgConnectOptions::from_str(&url).unwrap().options([("search_path", schema.as_str())]);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .unwrap();
        let store = PostgresStore::new(pool);
        let held = store.pool().acquire().await.unwrap();
        let release = tokio::spawn(async move {
            // Well past the wait after which a probe starts.
            tokio::time::sleep(crate::reach::PROBE_AFTER * 20).await;
            drop(held);
        });
        store.insert(&[event("github", "busy", "push")]).await.unwrap();
        release.await.unwrap();
        assert!(store.reach.down().is_none(), "the probe found the server up");
        assert_eq!(delivery_ids(&store).await, ["busy"]);
        store.close().await;
        direct.close().await;
        drop_schema(&url, &schema).await;
    }
}
