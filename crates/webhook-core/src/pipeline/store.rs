//! The event store: where a verified delivery is written before it is acknowledged, and
//! where workers lease it from.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::event::{Event, EventId, Filter, Inserted, NewEvent, Status};
use crate::dedup::StoreError;

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
}

#[derive(Clone)]
struct Row {
    event: Event,
    lease_until: Option<SystemTime>,
    leased_by: Option<String>,
}

/// An [`EventStore`] in memory: for tests and single-process development. Nothing survives
/// a restart.
#[derive(Default)]
pub struct MemoryStore {
    rows: Mutex<Vec<Row>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn rows(&self) -> std::sync::MutexGuard<'_, Vec<Row>> {
        self.rows.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").field("events", &self.rows().len()).finish()
    }
}

fn due(row: &Row, now: SystemTime) -> bool {
    match row.event.status {
        Status::Pending | Status::Failed => row.event.next_attempt_at <= now,
        Status::Processing => row.lease_until.is_some_and(|t| t < now),
        Status::Done | Status::Dead => false,
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn insert(&self, events: &[NewEvent]) -> Result<Vec<Inserted>, StoreError> {
        let mut rows = self.rows();
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            if rows.iter().any(|r| r.event.provider == e.provider && r.event.delivery_id == e.delivery_id) {
                out.push(Inserted::Duplicate);
                continue;
            }
            let id = rows.len() as EventId + 1;
            rows.push(Row {
                event: Event {
                    id,
                    provider: e.provider.clone(),
                    delivery_id: e.delivery_id.clone(),
                    event_type: e.event_type.clone(),
                    headers: e.headers.clone(),
                    body: e.body.clone(),
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
        let mut due_rows: Vec<&mut Row> = rows.iter_mut().filter(|r| due(r, now)).collect();
        due_rows.sort_by_key(|r| (r.event.next_attempt_at, r.event.id));
        Ok(due_rows
            .into_iter()
            .take(max)
            .map(|r| {
                r.event.status = Status::Processing;
                r.event.attempts += 1;
                r.lease_until = Some(now + lease);
                r.leased_by = Some(worker.to_owned());
                r.event.clone()
            })
            .collect())
    }

    async fn complete(&self, id: EventId, worker: &str) -> Result<bool, StoreError> {
        let mut rows = self.rows();
        Ok(match rows.iter_mut().find(|r| r.event.id == id) {
            Some(r) if r.event.status == Status::Processing && r.leased_by.as_deref() == Some(worker) => {
                r.event.status = Status::Done;
                r.lease_until = None;
                true
            }
            _ => false,
        })
    }

    async fn fail(
        &self,
        id: EventId,
        worker: &str,
        error: &str,
        retry_at: Option<SystemTime>,
    ) -> Result<bool, StoreError> {
        let mut rows = self.rows();
        Ok(match rows.iter_mut().find(|r| r.event.id == id) {
            Some(r) if r.event.status == Status::Processing && r.leased_by.as_deref() == Some(worker) => {
                r.event.last_error = Some(error.to_owned());
                r.lease_until = None;
                match retry_at {
                    Some(t) => {
                        r.event.status = Status::Failed;
                        r.event.next_attempt_at = t;
                    }
                    None => r.event.status = Status::Dead,
                }
                true
            }
            _ => false,
        })
    }

    async fn get(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        Ok(self.rows().iter().find(|r| r.event.id == id).map(|r| r.event.clone()))
    }

    async fn list(&self, filter: &Filter, limit: usize) -> Result<Vec<Event>, StoreError> {
        Ok(self.rows().iter().rev().filter(|r| filter.matches(&r.event)).take(limit).map(|r| r.event.clone()).collect())
    }

    async fn replay(&self, filter: &Filter, now: SystemTime) -> Result<u64, StoreError> {
        let mut rows = self.rows();
        let mut n = 0;
        for r in rows.iter_mut().filter(|r| filter.matches(&r.event) && r.event.status != Status::Processing) {
            r.event.status = Status::Pending;
            r.event.attempts = 0;
            r.event.next_attempt_at = now;
            n += 1;
        }
        Ok(n)
    }

    async fn depth(&self) -> Result<u64, StoreError> {
        Ok(self
            .rows()
            .iter()
            .filter(|r| matches!(r.event.status, Status::Pending | Status::Failed | Status::Processing))
            .count() as u64)
    }
}
