//! What the store can tell about its events beyond the events themselves: the history of
//! each event's failed attempts, and how many events (and body bytes) each status holds.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::event::{EventId, Status};
use super::store::EventStore;

/// Most attempts kept per event: the oldest go first beyond this, so an event that fails
/// forever (and is replayed again and again) cannot grow its history without bound.
pub const MAX_ATTEMPTS_KEPT: u32 = 50;

/// Most bytes of an attempt's error text kept; a longer one is cut on a character boundary.
pub const MAX_ATTEMPT_ERROR: usize = 2048;

/// How one recorded handler run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// It failed and another attempt was scheduled.
    Failed,
    /// It failed and was the last: the event is dead.
    Dead,
}

impl AttemptOutcome {
    /// The stored name: `failed` or `dead`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Dead => "dead",
        }
    }

    /// The outcome a stored name stands for.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "failed" => Some(Self::Failed),
            "dead" => Some(Self::Dead),
            _ => None,
        }
    }
}

/// One failed handler run of an event, as [`EventStore::attempts`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attempt {
    /// The event it belongs to.
    pub event_id: EventId,
    /// Its place in the event's history, from 1. It keeps counting across
    /// [replays](EventStore::replay) (which reset [`Event::attempts`](crate::Event::attempts)),
    /// so a replayed event shows its earlier attempts before the new ones.
    pub number: u32,
    /// The worker that ran it.
    pub worker: String,
    /// When the handler started (the time it was recorded, when the caller did not say).
    pub started_at: SystemTime,
    /// When the failure was recorded.
    pub finished_at: SystemTime,
    /// Retried or dead.
    pub outcome: AttemptOutcome,
    /// The handler's error, at most [`MAX_ATTEMPT_ERROR`] bytes.
    pub error: String,
}

impl Attempt {
    /// How long the run took (zero if the clock went back).
    pub fn duration(&self) -> Duration {
        self.finished_at.duration_since(self.started_at).unwrap_or_default()
    }
}

/// `error` cut to at most [`MAX_ATTEMPT_ERROR`] bytes, on a character boundary.
pub(crate) fn bounded_error(error: &str) -> &str {
    if error.len() <= MAX_ATTEMPT_ERROR {
        return error;
    }
    let mut end = MAX_ATTEMPT_ERROR;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    &error[..end]
}

/// How many events a status holds and the bytes of their bodies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatusCount {
    /// Events.
    pub events: u64,
    /// The sum of their body lengths, in bytes.
    pub bytes: u64,
}

impl StatusCount {
    /// A count of `events` holding `bytes` of bodies.
    pub fn new(events: u64, bytes: u64) -> Self {
        Self { events, bytes }
    }
}

/// Events and body bytes by status, as [`EventStore::status_counts`] returns them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    counts: [StatusCount; 5],
}

impl StatusCounts {
    /// Every status, in the order [`iter`](Self::iter) gives them.
    pub const STATUSES: [Status; 5] = [Status::Pending, Status::Failed, Status::Processing, Status::Done, Status::Dead];

    /// Where `status` sits in [`STATUSES`](Self::STATUSES).
    pub(crate) fn index(status: Status) -> usize {
        match status {
            Status::Pending => 0,
            Status::Failed => 1,
            Status::Processing => 2,
            Status::Done => 3,
            Status::Dead => 4,
        }
    }

    /// The count of one status.
    pub fn get(&self, status: Status) -> StatusCount {
        self.counts[Self::index(status)]
    }

    /// Sets the count of one status.
    pub fn set(&mut self, status: Status, count: StatusCount) {
        self.counts[Self::index(status)] = count;
    }

    /// Each status with its count: pending, failed, processing, done, dead.
    pub fn iter(&self) -> impl Iterator<Item = (Status, StatusCount)> + '_ {
        Self::STATUSES.into_iter().map(|s| (s, self.get(s)))
    }

    /// All events, whatever their status.
    pub fn total(&self) -> StatusCount {
        self.counts.iter().fold(StatusCount::default(), |a, c| StatusCount::new(a.events + c.events, a.bytes + c.bytes))
    }
}

/// Sets `webhook_store_events{status}` and `webhook_store_bytes{status}` from
/// [`EventStore::status_counts`] every `interval`, until `stopped` turns true.
pub(crate) async fn report_counts(store: Arc<dyn EventStore>, interval: Duration, mut stopped: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(interval.max(Duration::from_millis(100)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*stopped.borrow() {
        tokio::select! {
            _ = every.tick() => {}
            _ = stopped.changed() => continue,
        }
        match store.status_counts().await {
            Ok(counts) => {
                for (status, count) in counts.iter() {
                    metrics::gauge!("webhook_store_events", "status" => status.as_str()).set(count.events as f64);
                    metrics::gauge!("webhook_store_bytes", "status" => status.as_str()).set(count.bytes as f64);
                }
            }
            Err(e) if e.is_misconfigured() => {
                tracing::debug!(error = %e, "this store does not count events by status; no store gauges");
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot count the stored events by status"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_error_is_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_ATTEMPT_ERROR);
        let cut = bounded_error(&long);
        assert!(cut.len() <= MAX_ATTEMPT_ERROR && cut.len() > MAX_ATTEMPT_ERROR - 2, "{}", cut.len());
        assert!(long.starts_with(cut));
        assert_eq!(bounded_error("short"), "short");
    }

    #[test]
    fn the_pipeline_exports_events_and_bytes_by_status_until_shutdown() {
        use crate::testing::event;
        use crate::{MemoryStore, Pipeline};
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let body = event("github", "a", "push").body.len() * 2;
        // With no routes the worker marks both events done (ignored).
        let want = [
            "webhook_store_events{status=\"done\"} 2".to_owned(),
            format!("webhook_store_bytes{{status=\"done\"}} {body}"),
            "webhook_store_events{status=\"pending\"} 0".to_owned(),
            "webhook_store_bytes{status=\"dead\"} 0".to_owned(),
        ];
        metrics::with_local_recorder(&recorder, || {
            // A current-thread runtime: the gauges' task runs on this thread, under this recorder.
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let store = Arc::new(MemoryStore::new());
                store.insert(&[event("github", "a", "push"), event("github", "b", "push")]).await.unwrap();
                let pipeline = Pipeline::builder(store).store_gauges(Some(Duration::from_millis(100))).start();
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while !want.iter().all(|w| handle.render().contains(w.as_str())) {
                    assert!(std::time::Instant::now() < deadline, "no gauges within 10 s:\n{}", handle.render());
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                pipeline.shutdown().await;
            });
        });
    }

    /// The workers record each failed run with the time its handler started: a handler
    /// that sleeps 50 ms before failing shows runs of at least 50 ms.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_workers_record_each_failed_run_with_its_start() {
        use crate::testing::event;
        use crate::{Event, EventRouter, HandlerError, MemoryStore, Pipeline, RetryPolicy, Status};
        let store = Arc::new(MemoryStore::new());
        let router = EventRouter::new().catch_all(|event: Event| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err::<(), _>(HandlerError::retry(format!("run {} failed", event.attempts)))
        });
        let retry = RetryPolicy::new(2, Duration::from_millis(10), Duration::from_millis(20));
        let pipeline = Pipeline::builder(store.clone()).router(router).retry(retry).start();
        let inserted = store.insert(&[event("github", "d1", "push")]).await.unwrap();
        let crate::Inserted::New(id) = inserted[0] else { panic!("{inserted:?}") };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while store.get(id).await.unwrap().map(|e| e.status) != Some(Status::Dead) {
            assert!(std::time::Instant::now() < deadline, "not dead within 10 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        pipeline.shutdown().await;
        let attempts = store.attempts(id).await.unwrap();
        let seen: Vec<(u32, AttemptOutcome, &str)> =
            attempts.iter().map(|a| (a.number, a.outcome, a.error.as_str())).collect();
        assert_eq!(seen, [(1, AttemptOutcome::Failed, "run 1 failed"), (2, AttemptOutcome::Dead, "run 2 failed")]);
        for a in &attempts {
            assert!(a.duration() >= Duration::from_millis(50), "the run's start, not the store's: {a:?}");
            assert!(!a.worker.is_empty());
        }
    }
}
