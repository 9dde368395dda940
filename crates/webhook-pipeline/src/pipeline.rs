//! [`Pipeline`]: an event store, its group commit, the workers and the audit log, started
//! together and stopped together.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use webhook_core::dedup::StoreError;
use webhook_core::receive::Endpoint;
use webhook_core::sink::{AuditSink, Sink};

use crate::audit::{AuditConfig, AuditLog};
use crate::batch::{GroupCommit, GroupCommitConfig};
use crate::history::report_counts;
use crate::retention::{Purger, RetentionConfig, RetentionError};
use crate::router::EventRouter;
use crate::store::EventStore;
use crate::worker::{RetryPolicy, WorkerConfig, Workers};

/// The durable pipeline, running: every delivery an attached [`Endpoint`] accepts is
/// committed to the event store before its 2xx, then run by a worker through the router's
/// handler, retried with backoff, dead-lettered after the last attempt.
///
/// A fresh delivery reaches a worker without a lease query when the workers have room
/// ([`WorkerConfig::handoff`]): the transaction that stores it also leases it to the
/// worker pool, and the event is handed over in memory after the commit. The others wait
/// in the store and are leased in batches; a handed-off event that is never settled (a
/// crash) is leased again when its lease expires. Done marks are written in batches: one
/// statement for the handed-off events every worker finished meanwhile.
///
/// ```
/// use std::sync::Arc;
/// use std::time::SystemTime;
/// use webhook_core::receive::{Endpoint, Outcome};
/// use webhook_core::{providers, SignRequest, Verifier, WebhookRequest};
/// use webhook_pipeline::{Event, EventRouter, MemoryStore, Pipeline};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let router = EventRouter::new().on(providers::GITHUB, "push", |event: Event| async move {
///     println!("push {}", event.delivery_id);
///     Ok(())
/// });
/// let pipeline = Pipeline::builder(Arc::new(MemoryStore::new())).router(router).workers(2).start();
/// let github = Verifier::new(providers::GITHUB, "s3cret").unwrap();
/// let endpoint = pipeline.attach(Endpoint::new(github.clone()));
///
/// let now = SystemTime::now();
/// let signed = github.sign(&SignRequest::new(b"{}", now).id("d-1").event_type("push")).unwrap();
/// let outcome = endpoint.receive(&WebhookRequest::new(&signed, &b"{}"[..]), now).await;
/// assert!(matches!(outcome, Outcome::Accepted(_))); // committed before this answer
/// pipeline.shutdown().await; // workers settle their events, the store closes
/// # }
/// ```
pub struct Pipeline {
    store: Arc<dyn EventStore>,
    sink: GroupCommit,
    workers: Workers,
    audit: Option<AuditLog>,
    purger: Option<Purger>,
    /// Stops the store gauges' task.
    gauges: Option<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("sink", &self.sink)
            .field("workers", &self.workers)
            .field("audit", &self.audit.is_some())
            .field("retention", &self.purger.is_some())
            .finish_non_exhaustive()
    }
}

/// Settings for a [`Pipeline`]; [`start`](Self::start) runs it.
#[must_use = "a builder does nothing until start()"]
pub struct PipelineBuilder {
    store: Arc<dyn EventStore>,
    router: EventRouter,
    workers: WorkerConfig,
    commit: GroupCommitConfig,
    writers: Option<usize>,
    audit: Option<AuditConfig>,
    retention: Option<RetentionConfig>,
    gauges: Option<Duration>,
}

impl std::fmt::Debug for PipelineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineBuilder")
            .field("router", &self.router)
            .field("workers", &self.workers)
            .field("commit", &self.commit)
            .field("audit", &self.audit)
            .field("retention", &self.retention)
            .field("store_gauges", &self.gauges)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// A pipeline on `store`, with no routes yet (every event is ignored: see
    /// [`EventRouter`]), 4 workers, a 60 s lease, the default [`RetryPolicy`], no audit log
    /// and no retention (every event is kept until [`PipelineBuilder::retention`] says
    /// otherwise); the store gauges every [`DEFAULT_GAUGE_INTERVAL`](Self::DEFAULT_GAUGE_INTERVAL).
    pub fn builder(store: Arc<dyn EventStore>) -> PipelineBuilder {
        PipelineBuilder {
            store,
            router: EventRouter::new(),
            workers: WorkerConfig::default(),
            commit: GroupCommitConfig::default(),
            writers: None,
            audit: None,
            retention: None,
            gauges: Some(Self::DEFAULT_GAUGE_INTERVAL),
        }
    }

    /// How often the store gauges (`webhook_store_events{status}`,
    /// `webhook_store_bytes{status}`) are read from [`EventStore::status_counts`] unless
    /// [`PipelineBuilder::store_gauges`] says otherwise.
    pub const DEFAULT_GAUGE_INTERVAL: Duration = Duration::from_secs(15);

    /// The sink that commits a delivery before its 2xx (a group commit: deliveries that
    /// arrive together share one transaction).
    pub fn sink(&self) -> Arc<dyn Sink> {
        Arc::new(self.sink.clone())
    }

    /// The audit log, when [`PipelineBuilder::audit`] asked for one.
    pub fn audit(&self) -> Option<Arc<dyn AuditSink>> {
        self.audit.clone().map(|log| Arc::new(log) as Arc<dyn AuditSink>)
    }

    /// `endpoint`, storing through this pipeline (and auditing into it, if it audits).
    pub fn attach(&self, endpoint: Endpoint) -> Endpoint {
        let endpoint = endpoint.with_sink(self.sink());
        match self.audit() {
            Some(audit) => endpoint.with_audit(audit),
            None => endpoint,
        }
    }

    /// The event store.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// Events waiting to be handled (pending, or failed and due again).
    ///
    /// # Errors
    ///
    /// The store's, when it cannot be read.
    pub async fn queue_depth(&self) -> Result<u64, StoreError> {
        self.store.depth().await
    }

    /// Deliveries waiting for their commit now.
    pub fn commits_waiting(&self) -> usize {
        self.sink.queued()
    }

    /// Stops the retention purger (after the batch it is deleting), stops the workers once
    /// their current events are settled, writes the audit records still queued, and closes
    /// the store (SQLite checkpoints its WAL into the file). Call it after the server has
    /// stopped accepting requests: a delivery arriving later would find the store closed
    /// and be answered 503.
    pub async fn shutdown(self) {
        if let Some((stop, task)) = self.gauges {
            let _ = stop.send(true);
            let _ = task.await;
        }
        if let Some(purger) = self.purger {
            purger.shutdown().await;
        }
        self.workers.shutdown().await;
        if let Some(audit) = &self.audit {
            audit.flush().await;
        }
        self.store.close().await;
    }
}

impl PipelineBuilder {
    /// The handlers, by provider and event type.
    pub fn router(mut self, router: EventRouter) -> Self {
        self.router = router;
        self
    }

    /// How many workers handle events at once (at least 1; default 4).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers.workers = workers.max(1);
        self
    }

    /// How many freshly stored events may wait to be handed straight to an idle worker,
    /// leased in the transaction that stores them (default 64; 0: every event is found by
    /// the workers' lease query). See [`WorkerConfig::handoff`].
    pub fn handoff(mut self, events: usize) -> Self {
        self.workers.handoff = events;
        self
    }

    /// How long a worker holds an event before another may take it (default 60 s): longer
    /// than the slowest handler, short enough that a crashed worker's events resume soon.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.workers.lease = lease;
        self
    }

    /// When a failed event is tried again, and when it is dead.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.workers.retry = retry;
        self
    }

    /// Every worker setting at once.
    pub fn worker_config(mut self, config: WorkerConfig) -> Self {
        self.workers = config;
        self
    }

    /// Every group-commit setting at once (the writer count included, unless
    /// [`commit_writers`](Self::commit_writers) says otherwise).
    pub fn commit_config(mut self, config: GroupCommitConfig) -> Self {
        self.commit = config;
        self.writers = Some(config.writers);
        self
    }

    /// Group-commit writers (default: what the store suits, see
    /// [`EventStore::commit_writers`]).
    pub fn commit_writers(mut self, writers: usize) -> Self {
        self.writers = Some(writers.max(1));
        self
    }

    /// Keeps an audit log of every request the attached endpoints answer, in the store.
    pub fn audit(mut self, config: AuditConfig) -> Self {
        self.audit = Some(config);
        self
    }

    /// Deletes settled events in the background once they are older than `config` keeps
    /// them (handled: 7 days, dead: 30 days by default), in batches, now and every
    /// `config.interval`, on the pipeline's runtime; [`Pipeline::shutdown`] stops it. Counts
    /// what it deletes in `webhook_events_purged_total{status}`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use webhook_pipeline::{MemoryStore, Pipeline, RetentionConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), webhook_pipeline::RetentionError> {
    /// let retention = RetentionConfig::default().dead(Duration::from_secs(90 * 86_400));
    /// let pipeline = Pipeline::builder(Arc::new(MemoryStore::new())).retention(retention)?.start();
    /// pipeline.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A configuration that [`RetentionConfig::validate`] refuses: a handled-event retention
    /// shorter than the dedup TTL, say.
    pub fn retention(mut self, config: RetentionConfig) -> Result<Self, RetentionError> {
        config.validate()?;
        self.retention = Some(config);
        Ok(self)
    }

    /// Sets `webhook_store_events{status}` and `webhook_store_bytes{status}` (events and
    /// body bytes by status, from [`EventStore::status_counts`]) every `interval` (at least
    /// 100 ms; 15 s unless told), or never with `None`. A store that cannot count (the
    /// default of the trait) stops the task after its first answer.
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use webhook_pipeline::{MemoryStore, Pipeline};
    ///
    /// let builder = Pipeline::builder(Arc::new(MemoryStore::new())).store_gauges(Some(Duration::from_secs(60)));
    /// ```
    pub fn store_gauges(mut self, interval: Option<Duration>) -> Self {
        self.gauges = interval;
        self
    }

    /// Starts the group commit, the workers (the audit log and the retention purger) on
    /// the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn start(self) -> Pipeline {
        let stored = Arc::new(Notify::new());
        let mut commit = self.commit;
        commit.writers = self.writers.unwrap_or_else(|| self.store.commit_writers());
        let workers = Workers::spawn(self.store.clone(), self.router, self.workers, stored.clone());
        let sink = GroupCommit::spawn_handing_off(self.store.clone(), commit, stored, workers.handoff());
        let audit = self.audit.map(|config| AuditLog::spawn(self.store.clone(), config));
        let purger = self.retention.map(|config| Purger::spawn(self.store.clone(), config));
        let gauges = self.gauges.map(|interval| {
            let (stop, stopped) = watch::channel(false);
            (stop, tokio::spawn(report_counts(self.store.clone(), interval, stopped)))
        });
        Pipeline { store: self.store, sink, workers, audit, purger, gauges }
    }
}
