//! Retention: handled and dead events are deleted after a while, in small batches, so the
//! event store does not grow forever.
//!
//! An event's age is counted from when it was **received** (`received_at`): the schema keeps
//! no time of completion. Only `done` and `dead` events are ever deleted; pending, leased
//! (processing) and failed events never are, however old. A replayed event is pending
//! again, so it is kept.
//!
//! The store's unique `(provider, delivery id)` is the dedup of last resort: once a handled
//! event is deleted, a redelivery of it would be stored and handled again. So
//! [`RetentionConfig::validate`] refuses a handled-event retention shorter than the dedup
//! TTL in front of the store.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use webhook_core::dedup::StoreError;

use crate::store::EventStore;

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Which settled events a purge deletes: `done` events received before `done`, `dead`
/// events received before `dead`; `None` deletes none of that status.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use webhook_pipeline::PurgeBefore;
///
/// let now = SystemTime::now();
/// let before = PurgeBefore::none().done(now - Duration::from_secs(7 * 86_400));
/// assert!(before.dead.is_none());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PurgeBefore {
    /// Handled events received before this instant go.
    pub done: Option<SystemTime>,
    /// Dead events received before this instant go.
    pub dead: Option<SystemTime>,
}

impl PurgeBefore {
    /// Nothing to purge (add a cutoff with [`done`](Self::done) or [`dead`](Self::dead)).
    pub fn none() -> Self {
        Self::default()
    }

    /// Purges handled events received before `before`.
    #[must_use]
    pub fn done(mut self, before: SystemTime) -> Self {
        self.done = Some(before);
        self
    }

    /// Purges dead events received before `before`.
    #[must_use]
    pub fn dead(mut self, before: SystemTime) -> Self {
        self.dead = Some(before);
        self
    }
}

/// How many events a purge deleted (or, for a count, would delete), by status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Purged {
    /// Handled events.
    pub done: u64,
    /// Dead events.
    pub dead: u64,
}

impl Purged {
    /// Both counts together.
    pub fn total(&self) -> u64 {
        self.done + self.dead
    }
}

impl std::ops::Add for Purged {
    type Output = Purged;

    fn add(self, other: Purged) -> Purged {
        Purged { done: self.done + other.done, dead: self.dead + other.dead }
    }
}

/// How long settled events are kept, and how the background purger deletes them (see
/// [`PipelineBuilder::retention`](crate::PipelineBuilder::retention)).
///
/// ```
/// use std::time::Duration;
/// use webhook_pipeline::RetentionConfig;
///
/// let config = RetentionConfig::default().done(Duration::from_secs(14 * 86_400)).batch(200);
/// assert!(config.validate().is_ok());
/// // Shorter than the dedup TTL in front of the store (7 days by default): refused.
/// let short = RetentionConfig::default().done(Duration::from_secs(86_400));
/// assert!(short.validate().unwrap_err().to_string().contains("dedup TTL"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionConfig {
    /// How long handled (`done`) events are kept after they were received (default 7 days;
    /// never shorter than [`dedup_ttl`](Self::dedup_ttl)).
    pub done: Duration,
    /// How long dead events are kept after they were received (default 30 days), unless
    /// replayed.
    pub dead: Duration,
    /// Most events deleted per batch (default 100, at least 1): each batch is one short
    /// transaction (on SQLite, one job on the writer thread, so a request waits at most one
    /// batch for it).
    pub batch: usize,
    /// How often the purger runs (default 60 s); it also runs once at start.
    pub interval: Duration,
    /// The dedup TTL of the endpoints in front of the store (default
    /// [`DEFAULT_DEDUP_TTL`](webhook_core::receive::DEFAULT_DEDUP_TTL), 7 days):
    /// `done` may not be shorter.
    pub dedup_ttl: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            done: 7 * DAY,
            dead: 30 * DAY,
            batch: Self::DEFAULT_BATCH,
            interval: Duration::from_secs(60),
            dedup_ttl: webhook_core::receive::DEFAULT_DEDUP_TTL,
        }
    }
}

impl RetentionConfig {
    /// Events deleted per batch unless [`batch`](Self::batch) says otherwise: small enough
    /// that a request waiting behind one on SQLite's single writer barely notices it.
    pub const DEFAULT_BATCH: usize = 100;

    /// How long handled events are kept.
    #[must_use]
    pub fn done(mut self, keep: Duration) -> Self {
        self.done = keep;
        self
    }

    /// How long dead events are kept.
    #[must_use]
    pub fn dead(mut self, keep: Duration) -> Self {
        self.dead = keep;
        self
    }

    /// Most events deleted per batch (at least 1).
    #[must_use]
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// How often the purger runs.
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The dedup TTL of the endpoints in front of the store.
    #[must_use]
    pub fn dedup_ttl(mut self, ttl: Duration) -> Self {
        self.dedup_ttl = ttl;
        self
    }

    /// Checks the settings: `done` at least the dedup TTL (a redelivery inside the TTL must
    /// still find its event), a non-zero interval and batch.
    ///
    /// # Errors
    ///
    /// A [`RetentionError`] naming the setting.
    pub fn validate(&self) -> Result<(), RetentionError> {
        if self.done < self.dedup_ttl {
            return Err(RetentionError(format!(
                "the handled-event retention ({}) is shorter than the dedup TTL ({}): the event store's unique \
                 (provider, delivery id) is the dedup of last resort, so a redelivery inside the TTL would be \
                 handled twice; keep handled events at least as long as the TTL",
                human(self.done),
                human(self.dedup_ttl)
            )));
        }
        if self.interval.is_zero() {
            return Err(RetentionError("the retention interval must be longer than zero".to_owned()));
        }
        if self.batch == 0 {
            return Err(RetentionError("the retention batch must hold at least one event".to_owned()));
        }
        Ok(())
    }

    /// The cutoffs at `now`: handled events received before `now - done`, dead events
    /// before `now - dead`.
    pub fn cutoffs(&self, now: SystemTime) -> PurgeBefore {
        let minus =
            |keep| now.checked_sub(keep).filter(|t| *t >= SystemTime::UNIX_EPOCH).unwrap_or(SystemTime::UNIX_EPOCH);
        PurgeBefore { done: Some(minus(self.done)), dead: Some(minus(self.dead)) }
    }
}

/// A duration in days when it is whole days, else in seconds.
fn human(d: Duration) -> String {
    if d.as_secs() % DAY.as_secs() == 0 && d.subsec_nanos() == 0 {
        format!("{} days", d.as_secs() / DAY.as_secs())
    } else {
        format!("{} s", d.as_secs_f64())
    }
}

/// A [`RetentionConfig`] that cannot be used, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionError(String);

impl fmt::Display for RetentionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RetentionError {}

/// Purges with [`EventStore::purge`] in batches of `batch` until a batch comes back short,
/// and returns the total. Each batch is its own short transaction, so the store's writers
/// take turns with it; the cutoffs are fixed, so this ends.
///
/// Paced: after each full batch it pauses as long as the batch took, so a backlog of
/// purgeable events (a first start with a shorter retention, a store that ran without
/// one) takes at most half of the store's writer while deliveries keep arriving. Measured
/// on SQLite at 1 000 deliveries/s with 300 000 events to purge (docs/BENCHMARKS.md):
/// back-to-back batches of 500 raised the p99 from 4.5 ms to 36.6 ms.
///
/// # Errors
///
/// The store's, from the first batch that fails (earlier batches stay deleted).
pub async fn purge_all(store: &dyn EventStore, before: &PurgeBefore, batch: usize) -> Result<Purged, StoreError> {
    let batch = batch.max(1);
    let mut total = Purged::default();
    loop {
        let started = std::time::Instant::now();
        let purged = store.purge(before, batch).await?;
        total = total + purged;
        if purged.total() < batch as u64 {
            return Ok(total);
        }
        tokio::time::sleep(started.elapsed()).await;
    }
}

/// The background purger a [`Pipeline`](crate::Pipeline) runs with a retention.
pub(crate) struct Purger {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Purger {
    /// Starts purging `store` now and every `config.interval` on the current runtime.
    pub(crate) fn spawn(store: Arc<dyn EventStore>, config: RetentionConfig) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let cutoffs = config.cutoffs(SystemTime::now());
                match purge_all(&*store, &cutoffs, config.batch).await {
                    Ok(purged) => {
                        // Like every counter here, a series appears at its first event.
                        for (status, n) in [("done", purged.done), ("dead", purged.dead)] {
                            if n > 0 {
                                metrics::counter!("webhook_events_purged_total", "status" => status).increment(n);
                            }
                        }
                        if purged.total() > 0 {
                            tracing::debug!(done = purged.done, dead = purged.dead, "purged settled events");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "purging settled events failed; trying again later"),
                }
                tokio::select! {
                    _ = stopped.changed() => return,
                    () = tokio::time::sleep(config.interval) => {}
                }
            }
        });
        Self { stop, task }
    }

    /// Stops the purger after the batch it is running, if any.
    pub(crate) async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retention_shorter_than_the_dedup_ttl_is_refused() {
        let config = RetentionConfig::default();
        assert_eq!((config.done, config.dead, config.batch), (7 * DAY, 30 * DAY, 100));
        assert!(config.validate().is_ok());
        let e = config.done(6 * DAY).validate().unwrap_err();
        assert!(e.to_string().contains("(6 days) is shorter than the dedup TTL (7 days)"), "{e}");
        // A shorter dedup TTL allows a shorter retention.
        assert!(config.done(DAY).dedup_ttl(DAY).validate().is_ok());
        assert!(config.interval(Duration::ZERO).validate().is_err());
        assert_eq!(config.batch(0).batch, 1);
    }

    #[test]
    fn the_purger_counts_what_it_deletes_by_status_and_stops() {
        use crate::testing::{at, event};
        use crate::{Filter, MemoryStore};
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            // A current-thread runtime: the purger runs on this thread, under this recorder.
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let store = Arc::new(MemoryStore::new());
                // Received in 2023: past both retentions against the real clock.
                let new = ["a", "b", "c", "d"].map(|id| event("github", id, "push"));
                store.insert(&new).await.unwrap();
                let leased = store.lease("w", 4, Duration::from_secs(60), at(1)).await.unwrap();
                for e in &leased[..3] {
                    assert!(store.complete(e.id, "w").await.unwrap());
                }
                assert!(store.fail(leased[3].id, "w", "boom", None).await.unwrap());
                let purger = Purger::spawn(store.clone(), RetentionConfig::default().batch(2));
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while !store.list(&Filter::default(), 10).await.unwrap().is_empty() {
                    assert!(std::time::Instant::now() < deadline, "not purged within 10 s");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                purger.shutdown().await;
            });
        });
        let text = handle.render();
        assert!(text.contains(r#"webhook_events_purged_total{status="done"} 3"#), "{text}");
        assert!(text.contains(r#"webhook_events_purged_total{status="dead"} 1"#), "{text}");
    }

    #[test]
    fn cutoffs_count_back_from_now() {
        let now = SystemTime::UNIX_EPOCH + 40 * DAY;
        let c = RetentionConfig::default().cutoffs(now);
        assert_eq!(c.done, Some(SystemTime::UNIX_EPOCH + 33 * DAY));
        assert_eq!(c.dead, Some(SystemTime::UNIX_EPOCH + 10 * DAY));
        // Before the epoch: clamped, nothing is older.
        let c = RetentionConfig::default().cutoffs(SystemTime::UNIX_EPOCH + DAY);
        assert_eq!(c.dead, Some(SystemTime::UNIX_EPOCH));
    }
}
