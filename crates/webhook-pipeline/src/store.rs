//! The event store: where a verified delivery is written before it is acknowledged, and
//! where workers lease it from.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::audit::{bucket_ms, bucket_start, AuditCount, AuditEntry, AuditFilter, AuditRecord};
use super::effects::{Completion, Effects};
use super::event::{Event, EventId, Filter, Inserted, NewEvent, Status};
use super::history::{bounded_error, Attempt, AttemptOutcome, StatusCount, StatusCounts, MAX_ATTEMPTS_KEPT};
use super::retention::{PurgeBefore, Purged};
use webhook_core::dedup::StoreError;

/// A durable home for verified deliveries.
///
/// Implementations keep `(provider, delivery_id)` unique, so inserting a delivery twice
/// stores it once: the store is the last word on duplicates, whatever dedup runs in front.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Stores `events` in one transaction (one commit, one fsync) and says, for each, whether
    /// it was new. Either every event is stored or none is.
    async fn insert(&self, events: &[NewEvent]) -> Result<Vec<Inserted>, StoreError>;

    /// Stores `events` as [`insert`](Self::insert) does, in the same one transaction, and
    /// leases each of the first `leased` events that is new to `worker` until `until` as
    /// [`lease`](Self::lease) would (status processing, its first attempt counted): those
    /// come back [`Inserted::Leased`]. A duplicate among the first `leased` is not leased,
    /// and no later event takes its place, so a caller that can take `leased` events is
    /// never given more. A leased event no one settles is due again once its lease expires,
    /// like any other.
    ///
    /// The pipeline hands the events it gets back leased straight to its workers (no
    /// lease round trip). The default stores every event with [`insert`](Self::insert)
    /// and leases none: the workers then find them with [`lease`](Self::lease), as always.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::time::{Duration, SystemTime};
    /// use webhook_pipeline::{EventStore, Inserted, MemoryStore, NewEvent};
    ///
    /// let store = MemoryStore::new();
    /// let now = SystemTime::now();
    /// let new = |id: &str| NewEvent {
    ///     provider: "github".into(), delivery_id: id.into(), event_type: None,
    ///     headers: vec![], body: "{}".into(), received_at: now,
    /// };
    /// let until = now + Duration::from_secs(60);
    /// let stored = store.insert_leased(&[new("a"), new("b")], 1, "pool", until).await.unwrap();
    /// assert!(matches!(stored[..], [Inserted::Leased(_), Inserted::New(_)]));
    /// // Only "b" is left for a lease; "a" is the pool's until its lease expires.
    /// let leased = store.lease("w", 10, Duration::from_secs(60), now).await.unwrap();
    /// assert_eq!(leased.iter().map(|e| e.delivery_id.as_str()).collect::<Vec<_>>(), ["b"]);
    /// # });
    /// ```
    async fn insert_leased(
        &self,
        events: &[NewEvent],
        leased: usize,
        worker: &str,
        until: SystemTime,
    ) -> Result<Vec<Inserted>, StoreError> {
        let _ = (leased, worker, until);
        self.insert(events).await
    }

    /// Leases up to `max` events that are due at `now` (pending, failed and past their next
    /// attempt time, or processing with an expired lease) to `worker` until `now + lease`,
    /// counting an attempt for each.
    async fn lease(&self, worker: &str, max: usize, lease: Duration, now: SystemTime)
        -> Result<Vec<Event>, StoreError>;

    /// Marks a leased event done. False if `worker` no longer holds its lease.
    async fn complete(&self, id: EventId, worker: &str) -> Result<bool, StoreError>;

    /// Marks several leased events done at once (one transaction where the store has them);
    /// returns how many `worker` still held.
    async fn complete_many(&self, ids: &[EventId], worker: &str) -> Result<u64, StoreError> {
        let mut n = 0;
        for &id in ids {
            n += u64::from(self.complete(id, worker).await?);
        }
        Ok(n)
    }

    /// Runs each event's [effects](super::effects) and marks it done, atomically per event:
    /// its statements and its done mark commit together, and only while `worker` still
    /// holds its lease; one event's failure never undoes another's (SQLite and PostgreSQL
    /// write the batch in one transaction, each event in a savepoint of its own). Returns one [`Completion`] per event, in order; an
    /// `Err` is the store being unreachable (nothing is known to have committed).
    ///
    /// The default completes events without effects one by one and refuses effects: a
    /// store that cannot run SQL cannot make them exactly once.
    async fn complete_with(&self, done: &[(EventId, Effects)], worker: &str) -> Result<Vec<Completion>, StoreError> {
        if done.iter().any(|(_, effects)| !effects.is_empty()) {
            return Err(no_effects());
        }
        let mut out = Vec::with_capacity(done.len());
        for (id, _) in done {
            out.push(if self.complete(*id, worker).await? { Completion::Done } else { Completion::LeaseLost });
        }
        Ok(out)
    }

    /// Runs `effects` in one transaction on their own, outside any event: to create the
    /// tables handlers' effects write to, say. The default refuses any statement.
    async fn execute(&self, effects: &Effects) -> Result<(), StoreError> {
        if effects.is_empty() {
            Ok(())
        } else {
            Err(no_effects())
        }
    }

    /// Records a failed attempt: `retry_at` schedules the next one, `None` makes the event
    /// dead. False if `worker` no longer holds its lease.
    async fn fail(
        &self,
        id: EventId,
        worker: &str,
        error: &str,
        retry_at: Option<SystemTime>,
    ) -> Result<bool, StoreError>;

    /// [`fail`](Self::fail), saying when the handler run started: a store that keeps
    /// [attempts](Self::attempts) records the run with its duration, in the same
    /// transaction. The default ignores `started_at`.
    async fn fail_attempt(
        &self,
        id: EventId,
        worker: &str,
        error: &str,
        retry_at: Option<SystemTime>,
        started_at: SystemTime,
    ) -> Result<bool, StoreError> {
        let _ = started_at;
        self.fail(id, worker, error, retry_at).await
    }

    /// The failed attempts of one event, oldest first: the last
    /// [`MAX_ATTEMPTS_KEPT`](crate::MAX_ATTEMPTS_KEPT), earlier replays included. Empty for
    /// an unknown event. The default answers that this store keeps no attempts.
    async fn attempts(&self, id: EventId) -> Result<Vec<Attempt>, StoreError> {
        let _ = id;
        Err(StoreError::misconfigured("this event store keeps no attempt history", None))
    }

    /// How many events each status holds and the bytes of their bodies: cheap enough to
    /// call every few seconds on millions of events (the SQL stores keep counters, updated
    /// in the transactions that change them). The default answers that this store cannot
    /// count.
    async fn status_counts(&self) -> Result<StatusCounts, StoreError> {
        Err(StoreError::misconfigured("this event store does not count events by status", None))
    }

    /// One event.
    async fn get(&self, id: EventId) -> Result<Option<Event>, StoreError>;

    /// Up to `limit` events that pass `filter`, newest first.
    async fn list(&self, filter: &Filter, limit: usize) -> Result<Vec<Event>, StoreError>;

    /// Puts the events that pass `filter` back in the queue (pending, due at `now`, attempts
    /// reset); a leased event is left to its worker. Returns how many were re-queued.
    async fn replay(&self, filter: &Filter, now: SystemTime) -> Result<u64, StoreError>;

    /// How many events wait or are being processed (pending, failed, processing).
    async fn depth(&self) -> Result<u64, StoreError>;

    /// Finishes the work already queued and releases the database: SQLite stops its writer
    /// thread and checkpoints the WAL into the file (which leaves no `-wal` file behind),
    /// PostgreSQL closes its pools. Calls made afterwards fail. The default does nothing
    /// (a memory store has nothing to release).
    async fn close(&self) {}

    /// How many group-commit writers suit this store: one for a store with one writer
    /// (SQLite, memory), a few for a server that commits transactions in parallel
    /// (PostgreSQL). [`Pipeline`](crate::Pipeline) starts this many unless told otherwise.
    fn commit_writers(&self) -> usize {
        1
    }

    /// Appends audit records (see [`AuditLog`](super::AuditLog)). The default answers that
    /// this store keeps no audit log.
    async fn record_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let _ = records;
        Err(no_audit())
    }

    /// Up to `limit` audit records that pass `filter`, newest first, each with the current
    /// processing status of the event it delivered.
    async fn audit(&self, filter: &AuditFilter, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let _ = (filter, limit);
        Err(no_audit())
    }

    /// The audit records received at or after `since`, counted by time bucket (`bucket`
    /// long, aligned on the epoch), provider and outcome, ordered by bucket, provider and
    /// outcome: what a dashboard charts, counted by the store (one grouped query), never
    /// read record by record.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use webhook_pipeline::{AuditRecord, EventStore, MemoryStore};
    ///
    /// let store = MemoryStore::new();
    /// let at = |s| UNIX_EPOCH + Duration::from_secs(s);
    /// let accepted = |r: &str, s| AuditRecord { outcome: "accepted".into(), ..AuditRecord::new(r, "github", at(s)) };
    /// store.record_audit(&[accepted("a", 60), accepted("b", 61), accepted("c", 130)]).await.unwrap();
    /// let counts = store.audit_counts(at(0), Duration::from_secs(60)).await.unwrap();
    /// assert_eq!(counts.iter().map(|c| c.count).collect::<Vec<_>>(), [2, 1]);
    /// assert_eq!(counts[1].bucket, at(120));
    /// # });
    /// ```
    async fn audit_counts(&self, since: SystemTime, bucket: Duration) -> Result<Vec<AuditCount>, StoreError> {
        let _ = (since, bucket);
        Err(no_audit())
    }

    /// Deletes the audit records received before `before`; returns how many.
    async fn purge_audit(&self, before: SystemTime) -> Result<u64, StoreError> {
        let _ = before;
        Err(no_audit())
    }

    /// Deletes one batch of settled events and their bodies: at most `limit` of the `done`
    /// events received before `before.done` and the `dead` events received before
    /// `before.dead`, oldest first, in one short transaction. Pending, processing and
    /// failed events are never deleted. Returns how many went, by status; fewer than
    /// `limit` means nothing more matches. [`purge_all`](crate::purge_all) loops over
    /// batches; [`RetentionConfig`](crate::RetentionConfig) explains the policy.
    ///
    /// The default answers that this store cannot purge.
    async fn purge(&self, before: &PurgeBefore, limit: usize) -> Result<Purged, StoreError> {
        let _ = (before, limit);
        Err(no_purge())
    }

    /// How many events [`purge`](Self::purge) would delete for `before`, over all its
    /// batches (a dry run: nothing is deleted).
    async fn count_purgeable(&self, before: &PurgeBefore) -> Result<Purged, StoreError> {
        let _ = before;
        Err(no_purge())
    }
}

fn no_purge() -> StoreError {
    StoreError::misconfigured("this event store cannot purge settled events", None)
}

fn no_effects() -> StoreError {
    StoreError::misconfigured("this event store cannot run a handler's SQL effects", None)
}

fn no_audit() -> StoreError {
    StoreError::misconfigured("this event store keeps no audit log", None)
}

/// Audit records kept by a [`MemoryStore`]: the oldest go first beyond this.
const MEMORY_AUDIT_CAPACITY: usize = 100_000;
/// How many of the latest effects a [`MemoryStore`] keeps.
const MEMORY_EFFECTS_CAPACITY: usize = 10_000;

#[derive(Clone)]
struct Row {
    event: Event,
    lease_until: Option<SystemTime>,
    leased_by: Option<String>,
    /// The failed attempts, oldest first, at most [`MAX_ATTEMPTS_KEPT`].
    history: std::collections::VecDeque<Attempt>,
}

/// The rows, indexed so that no operation scans them all: by id, by
/// `(provider, delivery_id)`, the waiting ones by `(next attempt, id)`, the leased ones by
/// lease end, and the settled ones (done, dead) by `(received, id)`, oldest first.
struct Rows {
    rows: BTreeMap<EventId, Row>,
    /// The id the next stored event gets (ids are never reused, even after a purge).
    next_id: EventId,
    keys: HashMap<(String, String), EventId>,
    waiting: BTreeSet<(SystemTime, EventId)>,
    leased: BTreeSet<(SystemTime, EventId)>,
    done: BTreeSet<(SystemTime, EventId)>,
    dead: BTreeSet<(SystemTime, EventId)>,
    /// Most handled events kept; the oldest beyond it are evicted.
    done_capacity: usize,
    /// Handled events evicted by the cap so far.
    evicted: u64,
    /// Effects "applied" (kept, not run): with their event, or `None` from `execute`; the
    /// latest [`MEMORY_EFFECTS_CAPACITY`].
    applied: std::collections::VecDeque<(Option<EventId>, Effects)>,
}

impl Rows {
    fn new(done_capacity: usize) -> Self {
        Self {
            rows: BTreeMap::new(),
            next_id: 1,
            keys: HashMap::new(),
            waiting: BTreeSet::new(),
            leased: BTreeSet::new(),
            done: BTreeSet::new(),
            dead: BTreeSet::new(),
            done_capacity,
            evicted: 0,
            applied: std::collections::VecDeque::new(),
        }
    }

    fn get_mut(&mut self, id: EventId) -> Option<&mut Row> {
        self.rows.get_mut(&id)
    }

    /// Settles a row as done or dead, then evicts the oldest handled events beyond the cap.
    fn settle(&mut self, id: EventId, status: Status) {
        let Some(row) = self.rows.get_mut(&id) else { return };
        row.event.status = status;
        row.lease_until = None;
        let key = (row.event.received_at, id);
        match status {
            Status::Done => {
                self.done.insert(key);
                while self.done.len() > self.done_capacity {
                    let Some((_, oldest)) = self.done.pop_first() else { break };
                    self.remove(oldest);
                    self.evicted += 1;
                    metrics::counter!("webhook_events_evicted_total").increment(1);
                }
            }
            Status::Dead => {
                self.dead.insert(key);
            }
            _ => {}
        }
    }

    /// Deletes a row (already out of its queue or settled set) and its key.
    fn remove(&mut self, id: EventId) {
        if let Some(row) = self.rows.remove(&id) {
            self.keys.remove(&(row.event.provider, row.event.delivery_id));
        }
    }

    fn keep_applied(&mut self, id: Option<EventId>, effects: &Effects) {
        if self.applied.len() == MEMORY_EFFECTS_CAPACITY {
            self.applied.pop_front();
        }
        self.applied.push_back((id, effects.clone()));
    }

    /// Takes a row out of whichever queue or settled set it is in.
    fn unqueue(&mut self, id: EventId) {
        if let Some(row) = self.rows.get(&id) {
            match row.event.status {
                Status::Pending | Status::Failed => {
                    self.waiting.remove(&(row.event.next_attempt_at, id));
                }
                Status::Processing => {
                    if let Some(until) = row.lease_until {
                        self.leased.remove(&(until, id));
                    }
                }
                Status::Done => {
                    self.done.remove(&(row.event.received_at, id));
                }
                Status::Dead => {
                    self.dead.remove(&(row.event.received_at, id));
                }
            }
        }
    }
}

/// An [`EventStore`] in memory: for tests, benchmarks and single-process development.
/// Nothing survives a restart.
///
/// Bounded: besides the retention [`purge`](EventStore::purge) that every store has, it
/// keeps at most [`DEFAULT_DONE_CAPACITY`](Self::DEFAULT_DONE_CAPACITY) handled events
/// (see [`with_done_capacity`](Self::with_done_capacity)), evicting the oldest first and
/// counting them ([`evicted`](Self::evicted), `webhook_events_evicted_total`). An evicted
/// event's `(provider, delivery id)` is forgotten with it: a redelivery after that is only
/// a duplicate if the dedup store in front still remembers it. Pending, leased, failed and
/// dead events are never evicted.
pub struct MemoryStore {
    rows: Mutex<Rows>,
    /// The audit log, oldest first, at most [`MEMORY_AUDIT_CAPACITY`] records.
    audit: Mutex<(i64, std::collections::VecDeque<(i64, AuditRecord)>)>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_done_capacity(Self::DEFAULT_DONE_CAPACITY)
    }
}

impl MemoryStore {
    /// How many handled events [`MemoryStore::new`] keeps at most.
    pub const DEFAULT_DONE_CAPACITY: usize = 100_000;

    /// An empty store that keeps at most [`DEFAULT_DONE_CAPACITY`](Self::DEFAULT_DONE_CAPACITY)
    /// handled events.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store that keeps at most `capacity` handled events (at least 1), evicting
    /// the oldest (by reception) beyond it.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::time::{Duration, SystemTime};
    /// use webhook_pipeline::{EventStore, MemoryStore, NewEvent};
    ///
    /// let store = MemoryStore::with_done_capacity(1);
    /// let now = SystemTime::now();
    /// let new = |id: &str| NewEvent {
    ///     provider: "github".into(), delivery_id: id.into(), event_type: None,
    ///     headers: vec![], body: "{}".into(), received_at: now,
    /// };
    /// store.insert(&[new("a"), new("b")]).await.unwrap();
    /// for e in store.lease("w", 2, Duration::from_secs(60), now).await.unwrap() {
    ///     store.complete(e.id, "w").await.unwrap();
    /// }
    /// assert_eq!(store.evicted(), 1); // "a" went to keep one handled event
    /// # });
    /// ```
    pub fn with_done_capacity(capacity: usize) -> Self {
        Self { rows: Mutex::new(Rows::new(capacity.max(1))), audit: Mutex::default() }
    }

    /// How many handled events the capacity has evicted so far.
    pub fn evicted(&self) -> u64 {
        self.rows().evicted
    }

    fn rows(&self) -> std::sync::MutexGuard<'_, Rows> {
        self.rows.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The [effects](super::effects) this store was given, oldest first (the latest 10 000):
    /// each with the event whose completion carried it, or `None` for [`EventStore::execute`]. A memory store
    /// cannot run SQL; it keeps the statements, so a test can see what a handler asked for
    /// and that a lost lease or a crash applied nothing.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use webhook_pipeline::{Effects, EventStore, MemoryStore};
    ///
    /// let store = MemoryStore::new();
    /// store.execute(&Effects::new().execute("CREATE TABLE t (x INTEGER)", [])).await.unwrap();
    /// assert_eq!(store.applied_effects()[0].1.statements()[0].sql(), "CREATE TABLE t (x INTEGER)");
    /// # });
    /// ```
    pub fn applied_effects(&self) -> Vec<(Option<EventId>, Effects)> {
        self.rows().applied.iter().cloned().collect()
    }

    fn audit_log(&self) -> std::sync::MutexGuard<'_, (i64, std::collections::VecDeque<(i64, AuditRecord)>)> {
        self.audit.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores the new `events` under one lock (the memory store's transaction), each of the
    /// first `leased` leased to `worker` until `until`.
    fn store_rows(&self, events: &[NewEvent], leased: usize, worker: &str, until: SystemTime) -> Vec<Inserted> {
        let mut rows = self.rows();
        let mut out = Vec::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            let key = (e.provider.clone(), e.delivery_id.clone());
            if rows.keys.contains_key(&key) {
                out.push(Inserted::Duplicate);
                continue;
            }
            let id = rows.next_id;
            rows.next_id += 1;
            rows.keys.insert(key, id);
            let lease = i < leased;
            if lease {
                rows.leased.insert((until, id));
            } else {
                rows.waiting.insert((e.received_at, id));
            }
            rows.rows.insert(
                id,
                Row {
                    event: Event {
                        id,
                        provider: e.provider.clone(),
                        delivery_id: e.delivery_id.clone(),
                        event_type: e.event_type.clone(),
                        headers: e.headers.clone(),
                        // A copy of its own: the request's `Bytes` may be a slice of the server's
                        // read buffer (hyper's is 8 KiB and more), which a kept slice pins whole.
                        body: bytes::Bytes::copy_from_slice(&e.body),
                        received_at: e.received_at,
                        status: if lease { Status::Processing } else { Status::Pending },
                        attempts: u32::from(lease),
                        last_error: None,
                        next_attempt_at: e.received_at,
                    },
                    lease_until: lease.then_some(until),
                    leased_by: lease.then(|| worker.to_owned()),
                    history: std::collections::VecDeque::new(),
                },
            );
            out.push(if lease { Inserted::Leased(id) } else { Inserted::New(id) });
        }
        out
    }

    /// Marks a leased event done; false if `worker` does not hold its lease.
    fn complete_row(rows: &mut Rows, id: EventId, worker: &str) -> bool {
        let held = rows
            .get_mut(id)
            .is_some_and(|r| r.event.status == Status::Processing && r.leased_by.as_deref() == Some(worker));
        if held {
            rows.unqueue(id);
            rows.settle(id, Status::Done);
        }
        held
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").field("events", &self.rows().rows.len()).finish()
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn insert(&self, events: &[NewEvent]) -> Result<Vec<Inserted>, StoreError> {
        Ok(self.store_rows(events, 0, "", SystemTime::UNIX_EPOCH))
    }

    async fn insert_leased(
        &self,
        events: &[NewEvent],
        leased: usize,
        worker: &str,
        until: SystemTime,
    ) -> Result<Vec<Inserted>, StoreError> {
        Ok(self.store_rows(events, leased, worker, until))
    }

    async fn lease(
        &self,
        worker: &str,
        max: usize,
        lease: Duration,
        now: SystemTime,
    ) -> Result<Vec<Event>, StoreError> {
        let mut rows = self.rows();
        // Due: waiting rows whose time has come, and leases that expired; oldest first.
        let mut due: Vec<(SystemTime, EventId)> =
            rows.waiting.range(..=(now, EventId::MAX)).take(max).copied().collect();
        let expired: Vec<EventId> =
            rows.leased.iter().take_while(|(t, _)| *t < now).map(|(_, id)| *id).take(max).collect();
        for id in expired {
            if let Some(row) = rows.get_mut(id) {
                due.push((row.event.next_attempt_at, id));
            }
        }
        due.sort_unstable();
        due.truncate(max);
        let mut out = Vec::with_capacity(due.len());
        for (_, id) in due {
            rows.unqueue(id);
            let until = now + lease;
            if let Some(r) = rows.get_mut(id) {
                r.event.status = Status::Processing;
                r.event.attempts += 1;
                r.lease_until = Some(until);
                r.leased_by = Some(worker.to_owned());
                out.push(r.event.clone());
            }
            rows.leased.insert((until, id));
        }
        Ok(out)
    }

    async fn complete(&self, id: EventId, worker: &str) -> Result<bool, StoreError> {
        Ok(Self::complete_row(&mut self.rows(), id, worker))
    }

    /// Under one lock, like a transaction.
    async fn complete_many(&self, ids: &[EventId], worker: &str) -> Result<u64, StoreError> {
        let mut rows = self.rows();
        Ok(ids.iter().map(|&id| u64::from(Self::complete_row(&mut rows, id, worker))).sum())
    }

    async fn complete_with(&self, done: &[(EventId, Effects)], worker: &str) -> Result<Vec<Completion>, StoreError> {
        let mut rows = self.rows();
        Ok(done
            .iter()
            .map(|(id, effects)| {
                if !Self::complete_row(&mut rows, *id, worker) {
                    return Completion::LeaseLost;
                }
                if !effects.is_empty() {
                    rows.keep_applied(Some(*id), effects);
                }
                Completion::Done
            })
            .collect())
    }

    async fn execute(&self, effects: &Effects) -> Result<(), StoreError> {
        if !effects.is_empty() {
            self.rows().keep_applied(None, effects);
        }
        Ok(())
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
        let mut rows = self.rows();
        let held = rows
            .get_mut(id)
            .is_some_and(|r| r.event.status == Status::Processing && r.leased_by.as_deref() == Some(worker));
        if !held {
            return Ok(false);
        }
        rows.unqueue(id);
        if let Some(r) = rows.get_mut(id) {
            let number = r.history.back().map_or(1, |a| a.number + 1);
            if r.history.len() >= MAX_ATTEMPTS_KEPT as usize {
                r.history.pop_front();
            }
            r.history.push_back(Attempt {
                event_id: id,
                number,
                worker: worker.to_owned(),
                started_at,
                finished_at: SystemTime::now(),
                outcome: if retry_at.is_some() { AttemptOutcome::Failed } else { AttemptOutcome::Dead },
                error: bounded_error(error).to_owned(),
            });
            r.event.last_error = Some(error.to_owned());
            r.lease_until = None;
            if let Some(t) = retry_at {
                r.event.status = Status::Failed;
                r.event.next_attempt_at = t;
            }
        }
        match retry_at {
            Some(t) => {
                rows.waiting.insert((t, id));
            }
            None => rows.settle(id, Status::Dead),
        }
        Ok(true)
    }

    async fn attempts(&self, id: EventId) -> Result<Vec<Attempt>, StoreError> {
        Ok(self.rows().rows.get(&id).map(|r| r.history.iter().cloned().collect()).unwrap_or_default())
    }

    /// Counted over the rows (at most the done capacity plus the backlog): no counters to
    /// keep in step.
    async fn status_counts(&self) -> Result<StatusCounts, StoreError> {
        let rows = self.rows();
        let mut counts = StatusCounts::default();
        for row in rows.rows.values() {
            let c = counts.get(row.event.status);
            counts.set(row.event.status, StatusCount::new(c.events + 1, c.bytes + row.event.body.len() as u64));
        }
        Ok(counts)
    }

    async fn get(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        Ok(self.rows().get_mut(id).map(|r| r.event.clone()))
    }

    async fn list(&self, filter: &Filter, limit: usize) -> Result<Vec<Event>, StoreError> {
        let rows = self.rows();
        let page = match filter.before {
            Some(before) => rows.rows.range(..before),
            None => rows.rows.range(..),
        };
        Ok(page
            .map(|(_, r)| r)
            .rev()
            .filter(|r| filter.matches(&r.event))
            .take(limit)
            .map(|r| r.event.clone())
            .collect())
    }

    async fn replay(&self, filter: &Filter, now: SystemTime) -> Result<u64, StoreError> {
        let mut rows = self.rows();
        let ids: Vec<EventId> = rows
            .rows
            .values()
            .filter(|r| filter.matches(&r.event) && r.event.status != Status::Processing)
            .map(|r| r.event.id)
            .collect();
        for &id in &ids {
            rows.unqueue(id);
            if let Some(r) = rows.get_mut(id) {
                r.event.status = Status::Pending;
                r.event.attempts = 0;
                r.event.next_attempt_at = now;
            }
            rows.waiting.insert((now, id));
        }
        Ok(ids.len() as u64)
    }

    async fn depth(&self) -> Result<u64, StoreError> {
        let rows = self.rows();
        Ok((rows.waiting.len() + rows.leased.len()) as u64)
    }

    async fn record_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let mut log = self.audit_log();
        for r in records {
            log.0 += 1;
            let id = log.0;
            if log.1.len() == MEMORY_AUDIT_CAPACITY {
                log.1.pop_front();
            }
            log.1.push_back((id, r.clone()));
        }
        Ok(())
    }

    async fn audit(&self, filter: &AuditFilter, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let found: Vec<(i64, AuditRecord)> =
            self.audit_log().1.iter().rev().filter(|(_, r)| filter.matches(r)).take(limit).cloned().collect();
        let rows = self.rows();
        Ok(found
            .into_iter()
            .map(|(id, record)| {
                let processing = match (&record.delivery_id, record.signature_verified) {
                    (Some(d), true) => rows
                        .keys
                        .get(&(record.provider.clone(), d.clone()))
                        .and_then(|id| rows.rows.get(id))
                        .map(|row| row.event.status),
                    _ => None,
                };
                AuditEntry { id, record, processing }
            })
            .collect())
    }

    async fn audit_counts(&self, since: SystemTime, bucket: Duration) -> Result<Vec<AuditCount>, StoreError> {
        let ms = bucket_ms(bucket);
        let mut counts: BTreeMap<(SystemTime, String, String), u64> = BTreeMap::new();
        for (_, r) in self.audit_log().1.iter().filter(|(_, r)| r.received_at >= since) {
            *counts.entry((bucket_start(r.received_at, ms), r.provider.clone(), r.outcome.clone())).or_default() += 1;
        }
        Ok(counts
            .into_iter()
            .map(|((bucket, provider, outcome), count)| AuditCount { bucket, provider, outcome, count })
            .collect())
    }

    async fn purge_audit(&self, before: SystemTime) -> Result<u64, StoreError> {
        let mut log = self.audit_log();
        let was = log.1.len();
        log.1.retain(|(_, r)| r.received_at >= before);
        Ok((was - log.1.len()) as u64)
    }

    async fn purge(&self, before: &PurgeBefore, limit: usize) -> Result<Purged, StoreError> {
        let mut rows = self.rows();
        let mut purged = Purged::default();
        let mut left = limit;
        for (status, cutoff) in [(Status::Done, before.done), (Status::Dead, before.dead)] {
            let Some(cutoff) = cutoff else { continue };
            let set = if status == Status::Done { &rows.done } else { &rows.dead };
            let ids: Vec<(SystemTime, EventId)> = set.range(..(cutoff, 0)).take(left).copied().collect();
            for key in &ids {
                if status == Status::Done {
                    rows.done.remove(key);
                } else {
                    rows.dead.remove(key);
                }
                rows.remove(key.1);
            }
            left -= ids.len();
            if status == Status::Done {
                purged.done = ids.len() as u64;
            } else {
                purged.dead = ids.len() as u64;
            }
        }
        Ok(purged)
    }

    async fn count_purgeable(&self, before: &PurgeBefore) -> Result<Purged, StoreError> {
        let rows = self.rows();
        let count = |set: &BTreeSet<(SystemTime, EventId)>, cutoff: Option<SystemTime>| {
            cutoff.map_or(0, |c| set.range(..(c, 0)).count() as u64)
        };
        Ok(Purged { done: count(&rows.done, before.done), dead: count(&rows.dead, before.dead) })
    }
}
