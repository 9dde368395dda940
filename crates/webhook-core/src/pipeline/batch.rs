//! Group commit: deliveries that arrive together are written in one transaction (one fsync),
//! and each request is answered only after the transaction holding it has committed.
//!
//! A writer task takes the first waiting delivery, then every other one already queued (up
//! to a batch size), inserts them all in one transaction, and answers each request. While a
//! batch commits, the next one fills up by itself: under load the batches grow, idle they
//! are a single delivery, so there is no timer and no added latency.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot, Notify};

use super::event::{Inserted, NewEvent};
use super::store::EventStore;
use crate::dedup::StoreError;

/// Where an accepted delivery goes before it is acknowledged.
#[async_trait]
pub trait Sink: Send + Sync {
    /// Stores `event` durably (or finds it stored already). The caller acknowledges only
    /// after `Ok`.
    async fn accept(&self, event: NewEvent) -> Result<Inserted, StoreError>;
}

/// Group-commit settings.
#[derive(Debug, Clone, Copy)]
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

/// The group-commit [`Sink`] in front of an [`EventStore`]. Cheap to clone; the writers stop
/// when the last clone is dropped.
#[derive(Clone)]
pub struct GroupCommit {
    tx: mpsc::Sender<Job>,
    timeout: Duration,
}

impl GroupCommit {
    /// Starts the writers on the current tokio runtime. `stored` is notified after every
    /// commit that stored something new (the workers wait on it).
    pub fn spawn(store: Arc<dyn EventStore>, config: GroupCommitConfig, stored: Arc<Notify>) -> Self {
        let (tx, rx) = mpsc::channel::<Job>(config.queue.max(1));
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..config.writers.max(1) {
            tokio::spawn(writer(store.clone(), rx.clone(), config.max_batch.max(1), stored.clone()));
        }
        Self { tx, timeout: config.timeout }
    }
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").field("queued", &(self.tx.max_capacity() - self.tx.capacity())).finish()
    }
}

async fn writer(
    store: Arc<dyn EventStore>,
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>,
    max: usize,
    stored: Arc<Notify>,
) {
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
        metrics::histogram!("webhook_commit_batch_size").record(events.len() as f64);
        let started = std::time::Instant::now();
        let result = store.insert(&events).await;
        metrics::histogram!("webhook_commit_duration_seconds").record(started.elapsed().as_secs_f64());
        match result {
            Ok(results) => {
                if results.iter().any(|r| matches!(r, Inserted::New(_))) {
                    stored.notify_one();
                }
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, batch = events.len(), "group commit failed");
                let message = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(StoreError::new(message.clone(), None)));
                }
            }
        }
    }
}

#[async_trait]
impl Sink for GroupCommit {
    async fn accept(&self, event: NewEvent) -> Result<Inserted, StoreError> {
        let (reply, answer) = oneshot::channel();
        let wait = async {
            self.tx
                .send((event, reply))
                .await
                .map_err(|_| StoreError::new("the event store writer has stopped", None))?;
            answer.await.map_err(|_| StoreError::new("the event store writer has stopped", None))?
        };
        tokio::time::timeout(self.timeout, wait)
            .await
            .map_err(|_| StoreError::new(format!("no commit within {} s", self.timeout.as_secs()), None))?
    }
}

/// A store written one delivery per transaction, without batching.
#[async_trait]
impl Sink for Arc<dyn EventStore> {
    async fn accept(&self, event: NewEvent) -> Result<Inserted, StoreError> {
        let mut results = self.insert(std::slice::from_ref(&event)).await?;
        results.pop().ok_or_else(|| StoreError::new("the store answered nothing for one event", None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::store::MemoryStore;
    use crate::pipeline::testing::event;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::SystemTime;

    /// Counts transactions and holds each one for a moment, like an fsync.
    struct Slow {
        inner: MemoryStore,
        commits: AtomicUsize,
        fail: bool,
    }

    #[async_trait]
    impl EventStore for Slow {
        async fn insert(&self, events: &[NewEvent]) -> Result<Vec<Inserted>, StoreError> {
            tokio::time::sleep(Duration::from_millis(5)).await;
            self.commits.fetch_add(1, Ordering::SeqCst);
            if self.fail {
                return Err(StoreError::new("disk full", None));
            }
            self.inner.insert(events).await
        }
        async fn lease(
            &self,
            w: &str,
            m: usize,
            l: Duration,
            n: SystemTime,
        ) -> Result<Vec<super::super::Event>, StoreError> {
            self.inner.lease(w, m, l, n).await
        }
        async fn complete(&self, id: i64, w: &str) -> Result<bool, StoreError> {
            self.inner.complete(id, w).await
        }
        async fn fail(&self, id: i64, w: &str, e: &str, r: Option<SystemTime>) -> Result<bool, StoreError> {
            self.inner.fail(id, w, e, r).await
        }
        async fn get(&self, id: i64) -> Result<Option<super::super::Event>, StoreError> {
            self.inner.get(id).await
        }
        async fn list(&self, f: &super::super::Filter, l: usize) -> Result<Vec<super::super::Event>, StoreError> {
            self.inner.list(f, l).await
        }
        async fn replay(&self, f: &super::super::Filter, n: SystemTime) -> Result<u64, StoreError> {
            self.inner.replay(f, n).await
        }
        async fn depth(&self) -> Result<u64, StoreError> {
            self.inner.depth().await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_deliveries_share_transactions_and_each_waits_for_its_commit() {
        let store = Arc::new(Slow { inner: MemoryStore::new(), commits: AtomicUsize::new(0), fail: false });
        let sink = GroupCommit::spawn(store.clone(), GroupCommitConfig::default(), Arc::new(Notify::new()));
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let sink = sink.clone();
                // Every tenth delivery is a copy of the one before it.
                let id = if i % 10 == 9 { i - 1 } else { i };
                tokio::spawn(async move { sink.accept(event("github", &id.to_string(), "push")).await })
            })
            .collect();
        let mut new = 0;
        for t in tasks {
            // Answered only after the commit: the event is in the store by then.
            if let Inserted::New(id) = t.await.unwrap().unwrap() {
                assert!(store.inner.get(id).await.unwrap().is_some());
                new += 1;
            }
        }
        assert_eq!(new, 180);
        let commits = store.commits.load(Ordering::SeqCst);
        assert!(commits < 100, "{commits} transactions for 200 concurrent deliveries");
    }

    #[tokio::test]
    async fn a_failed_commit_fails_every_delivery_in_it() {
        let store = Arc::new(Slow { inner: MemoryStore::new(), commits: AtomicUsize::new(0), fail: true });
        let sink = GroupCommit::spawn(store.clone(), GroupCommitConfig::default(), Arc::new(Notify::new()));
        let err = sink.accept(event("github", "x", "push")).await.unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        assert_eq!(store.inner.depth().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_store_is_a_sink_without_batching() {
        let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
        assert!(matches!(store.accept(event("github", "one", "push")).await.unwrap(), Inserted::New(_)));
        assert_eq!(store.accept(event("github", "one", "push")).await.unwrap(), Inserted::Duplicate);
        assert_eq!(store.depth().await.unwrap(), 1);
    }
}
