//! The event store: where a verified delivery is written before it is acknowledged, and
//! where workers lease it from.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::audit::{AuditEntry, AuditFilter, AuditRecord};
use super::effects::{Completion, Effects};
use super::event::{Event, EventId, Filter, Inserted, NewEvent, Status};
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

    /// Runs each event's [effects](super::effects) and marks it done, one transaction per
    /// event: the statements and the done mark commit together, and only while `worker`
    /// still holds the event's lease. Returns one [`Completion`] per event, in order; an
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

    /// Deletes the audit records received before `before`; returns how many.
    async fn purge_audit(&self, before: SystemTime) -> Result<u64, StoreError> {
        let _ = before;
        Err(no_audit())
    }
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
}

/// The rows, indexed so that no operation scans them all: by id (their position), by
/// `(provider, delivery_id)`, and the waiting ones by `(next attempt, id)`.
#[derive(Default)]
struct Rows {
    rows: Vec<Row>,
    keys: HashMap<(String, String), EventId>,
    waiting: BTreeSet<(SystemTime, EventId)>,
    leased: BTreeSet<(SystemTime, EventId)>,
    /// Effects "applied" (kept, not run): with their event, or `None` from `execute`; the
    /// latest [`MEMORY_EFFECTS_CAPACITY`].
    applied: std::collections::VecDeque<(Option<EventId>, Effects)>,
}

impl Rows {
    fn get_mut(&mut self, id: EventId) -> Option<&mut Row> {
        usize::try_from(id).ok().and_then(|i| i.checked_sub(1)).and_then(|i| self.rows.get_mut(i))
    }

    fn keep_applied(&mut self, id: Option<EventId>, effects: &Effects) {
        if self.applied.len() == MEMORY_EFFECTS_CAPACITY {
            self.applied.pop_front();
        }
        self.applied.push_back((id, effects.clone()));
    }

    /// Takes a row out of whichever queue it is in.
    fn unqueue(&mut self, id: EventId) {
        if let Some(row) = usize::try_from(id).ok().and_then(|i| i.checked_sub(1)).and_then(|i| self.rows.get(i)) {
            match row.event.status {
                Status::Pending | Status::Failed => {
                    self.waiting.remove(&(row.event.next_attempt_at, id));
                }
                Status::Processing => {
                    if let Some(until) = row.lease_until {
                        self.leased.remove(&(until, id));
                    }
                }
                Status::Done | Status::Dead => {}
            }
        }
    }
}

/// An [`EventStore`] in memory: for tests, benchmarks and single-process development.
/// Nothing survives a restart.
#[derive(Default)]
pub struct MemoryStore {
    rows: Mutex<Rows>,
    /// The audit log, oldest first, at most [`MEMORY_AUDIT_CAPACITY`] records.
    audit: Mutex<(i64, std::collections::VecDeque<(i64, AuditRecord)>)>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
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

    /// Marks a leased event done; false if `worker` does not hold its lease.
    fn complete_row(rows: &mut Rows, id: EventId, worker: &str) -> bool {
        let held = rows
            .get_mut(id)
            .is_some_and(|r| r.event.status == Status::Processing && r.leased_by.as_deref() == Some(worker));
        if held {
            rows.unqueue(id);
            if let Some(r) = rows.get_mut(id) {
                r.event.status = Status::Done;
                r.lease_until = None;
            }
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
        let mut rows = self.rows();
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            let key = (e.provider.clone(), e.delivery_id.clone());
            if rows.keys.contains_key(&key) {
                out.push(Inserted::Duplicate);
                continue;
            }
            let id = rows.rows.len() as EventId + 1;
            rows.keys.insert(key, id);
            rows.waiting.insert((e.received_at, id));
            rows.rows.push(Row {
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
                    status: Status::Pending,
                    attempts: 0,
                    last_error: None,
                    next_attempt_at: e.received_at,
                },
                lease_until: None,
                leased_by: None,
            });
            out.push(Inserted::New(id));
        }
        Ok(out)
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
        let mut rows = self.rows();
        let held = rows
            .get_mut(id)
            .is_some_and(|r| r.event.status == Status::Processing && r.leased_by.as_deref() == Some(worker));
        if !held {
            return Ok(false);
        }
        rows.unqueue(id);
        let mut requeue = None;
        if let Some(r) = rows.get_mut(id) {
            r.event.last_error = Some(error.to_owned());
            r.lease_until = None;
            match retry_at {
                Some(t) => {
                    r.event.status = Status::Failed;
                    r.event.next_attempt_at = t;
                    requeue = Some(t);
                }
                None => r.event.status = Status::Dead,
            }
        }
        if let Some(t) = requeue {
            rows.waiting.insert((t, id));
        }
        Ok(true)
    }

    async fn get(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        Ok(self.rows().get_mut(id).map(|r| r.event.clone()))
    }

    async fn list(&self, filter: &Filter, limit: usize) -> Result<Vec<Event>, StoreError> {
        Ok(self
            .rows()
            .rows
            .iter()
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
            .iter()
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
                        .and_then(|&id| usize::try_from(id - 1).ok())
                        .and_then(|i| rows.rows.get(i))
                        .map(|row| row.event.status),
                    _ => None,
                };
                AuditEntry { id, record, processing }
            })
            .collect())
    }

    async fn purge_audit(&self, before: SystemTime) -> Result<u64, StoreError> {
        let mut log = self.audit_log();
        let was = log.1.len();
        log.1.retain(|(_, r)| r.received_at >= before);
        Ok((was - log.1.len()) as u64)
    }
}
