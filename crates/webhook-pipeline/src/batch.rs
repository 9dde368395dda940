//! Group commit: deliveries that arrive together are written in one transaction (one fsync),
//! and each request is answered only after the transaction holding it has committed.
//!
//! A writer task takes the first waiting delivery, then every other one already queued (up
//! to a batch size), inserts them all in one transaction, and answers each request. While a
//! batch commits, the next one fills up by itself: under load the batches grow, idle they
//! are a single delivery, so there is no timer and no added latency.
//!
//! In a [`Pipeline`](crate::Pipeline) the writer also hands fresh events to the workers:
//! before the transaction it reserves room in their channel, the store leases that many of
//! the batch's new events to the worker pool in the same transaction
//! ([`EventStore::insert_leased`]), and after the commit they go to the workers in memory.
//! Only a commit that stored events for a lease wakes a worker.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot, Notify};
use webhook_core::dedup::StoreError;
use webhook_core::sink::{Delivery, Sink, StoreFuture, Stored};

use super::event::{Event, Inserted, NewEvent, Status};
use super::store::EventStore;
use super::worker::{HandedOff, Handoff};

/// Group-commit settings.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct GroupCommitConfig {
    /// Most deliveries in one transaction.
    pub max_batch: usize,
    /// Writer tasks, each committing its own batches (1 for SQLite, which has one writer;
    /// a few for PostgreSQL).
    pub writers: usize,
    /// Deliveries that may wait for a writer; a full queue makes callers wait.
    pub queue: usize,
    /// How long a caller waits for its commit before answering "unavailable".
    pub timeout: Duration,
}

impl Default for GroupCommitConfig {
    fn default() -> Self {
        Self { max_batch: 512, writers: 1, queue: 16_384, timeout: Duration::from_secs(10) }
    }
}

type Job = (NewEvent, oneshot::Sender<Result<Inserted, StoreError>>);

/// The group-commit [`Sink`] in front of an [`EventStore`]: what
/// [`Pipeline`](crate::Pipeline) hands an endpoint. Cheap to clone; the writers stop when the
/// last clone is dropped.
#[derive(Clone)]
pub struct GroupCommit {
    tx: mpsc::Sender<Job>,
    timeout: Duration,
}

impl GroupCommit {
    /// Starts the writers on the current tokio runtime. `stored` is notified after every
    /// commit that stored something new (the workers wait on it).
    pub fn spawn(store: Arc<dyn EventStore>, config: GroupCommitConfig, stored: Arc<Notify>) -> Self {
        Self::spawn_handing_off(store, config, stored, None)
    }

    /// [`spawn`](Self::spawn), handing fresh events straight to a worker pool: each
    /// transaction stores as many of its new events leased to the pool as the pool has room
    /// for (reserved before it begins), and passes them over after the commit; only the
    /// events stored for a lease notify `stored`.
    pub(crate) fn spawn_handing_off(
        store: Arc<dyn EventStore>,
        config: GroupCommitConfig,
        stored: Arc<Notify>,
        handoff: Option<Handoff>,
    ) -> Self {
        let (tx, rx) = mpsc::channel::<Job>(config.queue.max(1));
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..config.writers.max(1) {
            let writer = Writer { store: store.clone(), stored: stored.clone(), handoff: handoff.clone() };
            tokio::spawn(writer.run(rx.clone(), config.max_batch.max(1)));
        }
        Self { tx, timeout: config.timeout }
    }

    /// Deliveries waiting for a writer now.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Stores `event` in the next transaction and waits for its commit: `Ok` only once it
    /// is durable (or was stored before).
    pub async fn accept(&self, event: NewEvent) -> Result<Inserted, StoreError> {
        let (reply, answer) = oneshot::channel();
        let wait = async {
            self.tx.send((event, reply)).await.map_err(|_| stopped())?;
            answer.await.map_err(|_| stopped())?
        };
        tokio::time::timeout(self.timeout, wait)
            .await
            .map_err(|_| StoreError::unavailable(format!("no commit within {} s", self.timeout.as_secs()), None))?
    }
}

fn stopped() -> StoreError {
    StoreError::unavailable("the event store writer has stopped", None)
}

impl Sink for GroupCommit {
    fn store(&self, delivery: Delivery<'_>) -> StoreFuture {
        let event = NewEvent::from_delivery(&delivery);
        let this = self.clone();
        Box::pin(async move {
            match this.accept(event).await? {
                Inserted::New(_) | Inserted::Leased(_) => Ok(Stored::New),
                Inserted::Duplicate => Ok(Stored::Existing),
            }
        })
    }
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").field("queued", &self.queued()).finish()
    }
}

/// One writer task: what it commits to, whom it wakes, and where it hands fresh events.
struct Writer {
    store: Arc<dyn EventStore>,
    stored: Arc<Notify>,
    handoff: Option<Handoff>,
}

impl Writer {
    async fn run(self, rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>, max: usize) {
        let mut jobs: Vec<Job> = Vec::with_capacity(max);
        loop {
            {
                // One writer at a time fills its batch; the others commit meanwhile.
                let mut rx = rx.lock().await;
                match rx.recv().await {
                    Some(job) => jobs.push(job),
                    None => return,
                }
                while jobs.len() < max {
                    match rx.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
            }
            let (events, replies): (Vec<NewEvent>, Vec<_>) = jobs.drain(..).unzip();
            self.commit(events, replies).await;
        }
    }

    /// Stores one batch in one transaction, answers each caller after the commit, then
    /// hands the events stored leased to the workers.
    async fn commit(&self, events: Vec<NewEvent>, replies: Vec<oneshot::Sender<Result<Inserted, StoreError>>>) {
        metrics::histogram!("webhook_commit_batch_size").record(events.len() as f64);
        // Room is reserved before the transaction: an event is leased to the pool only if
        // a worker is sure to be handed it.
        let mut permits = self.handoff.as_ref().and_then(|h| h.reserve(events.len()).map(|p| (h, p)));
        let started = std::time::Instant::now();
        let (result, until) = match &permits {
            Some((handoff, permits)) => {
                let until = Instant::now() + handoff.lease();
                let leased = permits.len();
                let until_at = SystemTime::now() + handoff.lease();
                (self.store.insert_leased(&events, leased, handoff.pool(), until_at).await, until)
            }
            None => (self.store.insert(&events).await, Instant::now()),
        };
        metrics::histogram!("webhook_commit_duration_seconds").record(started.elapsed().as_secs_f64());
        let results = match result {
            Ok(results) => results,
            Err(e) => {
                // Each delivery's endpoint warns (once a second at most): a store that is
                // down fails every batch, and a warning per batch would flood the log.
                tracing::debug!(error = %e, batch = events.len(), "group commit failed");
                for reply in replies {
                    let _ = reply.send(Err(e.detached()));
                }
                return;
            }
        };
        if results.iter().any(|r| matches!(r, Inserted::New(_))) {
            self.stored.notify_one();
        }
        for ((event, result), reply) in events.into_iter().zip(results).zip(replies) {
            let _ = reply.send(Ok(result));
            if let (Inserted::Leased(id), Some((_, permits))) = (result, permits.as_mut()) {
                if let Some(permit) = permits.next() {
                    permit.send(HandedOff { event: leased(event, id), until });
                }
            }
        }
    }
}

/// A new event as the store keeps it once leased with its insert: processing, its first
/// attempt counted (the body is the delivery's own, not a copy).
fn leased(event: NewEvent, id: i64) -> Event {
    Event {
        id,
        provider: event.provider,
        delivery_id: event.delivery_id,
        event_type: event.event_type,
        headers: event.headers,
        body: event.body,
        received_at: event.received_at,
        status: Status::Processing,
        attempts: 1,
        last_error: None,
        next_attempt_at: event.received_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use crate::testing::event;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::SystemTime;
    use tokio::sync::Semaphore;

    /// Counts transactions; each insert waits for a permit (so a test decides when a
    /// commit ends), and fails when `fail` is set. `held` counts the deliveries of the
    /// transactions that have begun.
    struct Gated {
        inner: MemoryStore,
        held: AtomicUsize,
        commits: AtomicUsize,
        gate: Semaphore,
        fail: bool,
    }

    impl Gated {
        fn new(fail: bool) -> Arc<Self> {
            Arc::new(Self {
                inner: MemoryStore::new(),
                held: AtomicUsize::new(0),
                commits: AtomicUsize::new(0),
                gate: Semaphore::new(0),
                fail,
            })
        }
    }

    #[async_trait]
    impl EventStore for Gated {
        async fn insert(&self, events: &[NewEvent]) -> Result<Vec<Inserted>, StoreError> {
            self.held.fetch_add(events.len(), Ordering::SeqCst);
            self.gate.acquire().await.expect("gate").forget();
            self.commits.fetch_add(1, Ordering::SeqCst);
            if self.fail {
                return Err(StoreError::unavailable("disk full", None));
            }
            self.inner.insert(events).await
        }
        async fn lease(&self, w: &str, m: usize, l: Duration, n: SystemTime) -> Result<Vec<crate::Event>, StoreError> {
            self.inner.lease(w, m, l, n).await
        }
        async fn complete(&self, id: i64, w: &str) -> Result<bool, StoreError> {
            self.inner.complete(id, w).await
        }
        async fn fail(&self, id: i64, w: &str, e: &str, r: Option<SystemTime>) -> Result<bool, StoreError> {
            self.inner.fail(id, w, e, r).await
        }
        async fn get(&self, id: i64) -> Result<Option<crate::Event>, StoreError> {
            self.inner.get(id).await
        }
        async fn list(&self, f: &crate::Filter, l: usize) -> Result<Vec<crate::Event>, StoreError> {
            self.inner.list(f, l).await
        }
        async fn replay(&self, f: &crate::Filter, n: SystemTime) -> Result<u64, StoreError> {
            self.inner.replay(f, n).await
        }
        async fn depth(&self) -> Result<u64, StoreError> {
            self.inner.depth().await
        }
    }

    /// Waits (bounded) until all 200 deliveries are either in the first transaction (held
    /// open by the gate: the writer may have taken one or a few that arrived together) or
    /// queued behind it.
    async fn queued(sink: &GroupCommit, store: &Gated) {
        for _ in 0..10_000 {
            let held = store.held.load(Ordering::SeqCst);
            if held > 0 && held + sink.queued() == 200 {
                return;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("{} held and {} queued of 200 deliveries", store.held.load(Ordering::SeqCst), sink.queued());
    }

    /// 200 deliveries (every tenth a copy of the one before), the first commit held open.
    fn deliver(sink: &GroupCommit) -> Vec<tokio::task::JoinHandle<Result<Inserted, StoreError>>> {
        (0..200)
            .map(|i| {
                let sink = sink.clone();
                let id = if i % 10 == 9 { i - 1 } else { i };
                tokio::spawn(async move { sink.accept(event("github", &id.to_string(), "push")).await })
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deliveries_that_wait_together_share_one_transaction_and_each_waits_for_its_commit() {
        let store = Gated::new(false);
        let sink = GroupCommit::spawn(store.clone(), GroupCommitConfig::default(), Arc::new(Notify::new()));
        let tasks = deliver(&sink);
        // The writer holds the first deliveries in a commit that cannot end; the others queue.
        queued(&sink, &store).await;
        for t in &tasks {
            assert!(!t.is_finished(), "answered before its commit");
        }
        store.gate.add_permits(2);
        let mut new = 0;
        for t in tasks {
            // Answered only after the commit: the event is in the store by then.
            if let Inserted::New(id) = t.await.unwrap().unwrap() {
                assert!(store.inner.get(id).await.unwrap().is_some());
                new += 1;
            }
        }
        assert_eq!(new, 180);
        assert_eq!(store.commits.load(Ordering::SeqCst), 2, "the first transaction, then all that waited");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_commit_fails_every_delivery_in_it() {
        let store = Gated::new(true);
        let sink = GroupCommit::spawn(store.clone(), GroupCommitConfig::default(), Arc::new(Notify::new()));
        let tasks = deliver(&sink);
        queued(&sink, &store).await;
        store.gate.add_permits(2);
        for t in tasks {
            let err = t.await.unwrap().unwrap_err();
            assert!(err.is_unavailable() && err.to_string().contains("disk full"), "{err}");
        }
        assert_eq!(store.commits.load(Ordering::SeqCst), 2);
        assert_eq!(store.inner.depth().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn the_sink_answers_new_and_existing() {
        use webhook_core::{providers, SignRequest, Verifier, WebhookRequest};
        let store = Arc::new(MemoryStore::new());
        let sink = GroupCommit::spawn(store.clone(), GroupCommitConfig::default(), Arc::new(Notify::new()));
        let github = Verifier::new(providers::GITHUB, "s").unwrap();
        let now = SystemTime::now();
        let signed = github.sign(&SignRequest::new(b"{}", now).id("d-9").event_type("push")).unwrap();
        let verified = github.verify(&WebhookRequest::new(&signed, &b"{}"[..]), now).unwrap();
        let delivery = || Delivery::new(&verified, &signed, now);
        assert_eq!(sink.store(delivery()).await.unwrap(), Stored::New);
        assert_eq!(sink.store(delivery()).await.unwrap(), Stored::Existing);
        let kept = store.list(&crate::Filter::default(), 10).await.unwrap();
        assert_eq!((kept.len(), kept[0].delivery_id.as_str()), (1, "d-9"));
    }
}
