//! Background workers: lease due events, run their handler, and settle them: done, retried
//! later with exponential backoff and jitter, or dead after the last attempt.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use super::effects::{Completion, Effects};
use super::event::Event;
use super::router::{Dispatch, EventRouter, UnknownEvents};
use super::store::EventStore;

/// When to try a failed event again, and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts before an event is dead (the first one included).
    pub max_attempts: u32,
    /// The delay after the first failure; it doubles after each further one.
    pub base: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 10 attempts, 1 s doubling to at most 1 h: about 4.5 hours in all.
    fn default() -> Self {
        Self { max_attempts: 10, base: Duration::from_secs(1), max_delay: Duration::from_secs(3600) }
    }
}

impl RetryPolicy {
    /// `max_attempts` in all (at least 1), the first delay `base`, doubling up to
    /// `max_delay`.
    pub fn new(max_attempts: u32, base: Duration, max_delay: Duration) -> Self {
        Self { max_attempts: max_attempts.max(1), base, max_delay }
    }

    /// The delay before the attempt after failed attempt number `attempt` (1-based):
    /// `base · 2^(attempt-1)`, capped, with "equal jitter" (a random point in its upper
    /// half) so that events failing together do not retry together.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_pipeline::RetryPolicy;
    /// let p = RetryPolicy::new(5, Duration::from_secs(2), Duration::from_secs(60));
    /// let d = p.delay(3); // 8 s before jitter
    /// assert!(d >= Duration::from_secs(4) && d <= Duration::from_secs(8));
    /// assert!(p.delay(30) <= Duration::from_secs(60));
    /// ```
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self.base.saturating_mul(1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX));
        let full = exp.min(self.max_delay);
        let half = full / 2;
        half + half.mul_f64(rand::thread_rng().gen_range(0.0..=1.0))
    }
}

/// Worker settings (see also [`PipelineBuilder`](crate::PipelineBuilder)).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct WorkerConfig {
    /// Worker tasks.
    pub workers: usize,
    /// Events a worker leases at a time.
    pub batch: usize,
    /// How long a lease lasts: a worker that dies holding events frees them after this.
    pub lease: Duration,
    /// How long an idle worker waits before looking again (new events wake it sooner).
    pub idle_poll: Duration,
    /// Retries and the dead letter.
    pub retry: RetryPolicy,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            workers: 4,
            batch: 16,
            lease: Duration::from_secs(60),
            idle_poll: Duration::from_millis(250),
            retry: RetryPolicy::default(),
        }
    }
}

/// What happened to one attempt, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    Done,
    Ignored,
    Retry,
    Dead,
    Lost,
}

impl Settled {
    fn label(self) -> &'static str {
        match self {
            Self::Done => "ok",
            Self::Ignored => "ignored",
            Self::Retry => "error",
            Self::Dead => "dead",
            Self::Lost => "lease_lost",
        }
    }
}

/// A running pool of workers. Dropping it leaves them running; [`shutdown`](Self::shutdown)
/// stops them after their current events.
#[derive(Debug)]
pub struct Workers {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `config.workers` workers on the current tokio runtime. `wake` is notified by
    /// the group commit when new events are stored.
    pub fn spawn(store: Arc<dyn EventStore>, router: EventRouter, config: WorkerConfig, wake: Arc<Notify>) -> Self {
        let (stop, stopped) = watch::channel(false);
        let prefix = format!("{}-{:08x}", std::process::id(), rand::thread_rng().gen::<u32>());
        let depth = tokio::spawn(report_depth(store.clone(), stopped.clone()));
        let handles = (0..config.workers.max(1))
            .map(|i| {
                let worker =
                    Worker { name: format!("{prefix}-{i}"), store: store.clone(), router: router.clone(), config };
                tokio::spawn(worker.run(wake.clone(), stopped.clone()))
            })
            .chain(std::iter::once(depth))
            .collect();
        Self { stop, handles }
    }

    /// Stops the workers once their current events are settled.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for h in self.handles {
            let _ = h.await;
        }
    }
}

/// Why an event found no handler, with the keys the router tried, so the dead letter says
/// which pattern to register.
fn no_route(event: &Event) -> String {
    match (event.routing_key(), event.event_type.as_deref()) {
        (Some(key), Some(t)) if key != t => format!(
            "no handler for {} `{key}`: tried `{key}`, `{t}`, prefix patterns (`{t}.*`), `*` and the catch-all",
            event.provider
        ),
        (Some(key), _) => {
            format!("no handler for {} `{key}`: tried `{key}`, prefix patterns, `*` and the catch-all", event.provider)
        }
        (None, _) => format!("no handler for {} (no event type): tried `*` and the catch-all", event.provider),
    }
}

/// Sets `webhook_queue_depth` every second, whatever the workers are busy with.
async fn report_depth(store: Arc<dyn EventStore>, mut stopped: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*stopped.borrow() {
        tokio::select! {
            _ = every.tick() => {}
            _ = stopped.changed() => continue,
        }
        if let Ok(depth) = store.depth().await {
            metrics::gauge!("webhook_queue_depth").set(depth as f64);
        }
    }
}

/// A handled event waiting for its done mark.
struct Finished {
    event: Event,
    settled: Settled,
    took: Duration,
    effects: Effects,
}

struct Worker {
    name: String,
    store: Arc<dyn EventStore>,
    router: EventRouter,
    config: WorkerConfig,
}

impl Worker {
    async fn run(self, wake: Arc<Notify>, mut stopped: watch::Receiver<bool>) {
        while !*stopped.borrow() {
            let events =
                match self.store.lease(&self.name, self.config.batch, self.config.lease, SystemTime::now()).await {
                    Ok(events) => events,
                    Err(e) => {
                        tracing::warn!(worker = %self.name, error = %e, "cannot lease events");
                        Vec::new()
                    }
                };
            if events.is_empty() {
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep(self.config.idle_poll) => {}
                    _ = stopped.changed() => {}
                }
                continue;
            }
            // Handlers run one after another; the events they handled are marked done in
            // one statement at the end of the batch.
            let mut done = Vec::with_capacity(events.len());
            for event in events {
                if let Some(finished) = self.process(event).await {
                    done.push(finished);
                }
            }
            self.settle_done(done).await;
        }
    }

    /// Runs one event's handler. A success is returned with its effects, to be marked done
    /// with its batch; a failure is recorded at once.
    async fn process(&self, event: Event) -> Option<Finished> {
        let started = Instant::now();
        // `dispatch` runs the handler and turns a panic into a retryable failure.
        let dispatched = self.router.dispatch(&event).await;
        // The handler's own time: not its batch's, nor the bookkeeping after it.
        let took = started.elapsed();
        if let Dispatch::Unknown(_) = dispatched {
            // No route for this type: an alert on this counter catches a provider sending
            // events nobody handles (a new type, a subscription left on).
            metrics::counter!(
                "webhook_unknown_events_total",
                "provider" => event.provider.clone(),
                "event_type" => event.event_type.clone().unwrap_or_else(|| "-".to_owned())
            )
            .increment(1);
        }
        let result = match dispatched {
            Dispatch::Handled(effects) => Ok((Settled::Done, effects)),
            Dispatch::Unknown(UnknownEvents::Ignore) => Ok((Settled::Ignored, Effects::new())),
            Dispatch::Failed(e) => Err((e.to_string(), e.is_permanent())),
            Dispatch::Unknown(UnknownEvents::DeadLetter) => Err((no_route(&event), true)),
            Dispatch::Unknown(_) => Err((no_route(&event), false)),
        };
        match result {
            Ok((settled, effects)) => Some(Finished { event, settled, took, effects }),
            Err((error, permanent)) => {
                let settled = self.fail(&event, &error, permanent, took).await;
                self.record(&event, settled, took);
                None
            }
        }
    }

    /// Records a failed attempt (its handler ran for `took`): retried after a backoff while
    /// attempts remain, else dead.
    async fn fail(&self, event: &Event, error: &str, permanent: bool, took: Duration) -> Settled {
        let last = permanent || event.attempts >= self.config.retry.max_attempts;
        let retry_at = (!last).then(|| SystemTime::now() + self.config.retry.delay(event.attempts));
        tracing::warn!(
            id = event.id, provider = %event.provider, event_type = ?event.event_type,
            attempt = event.attempts, dead = last, error = %error, "webhook handler failed"
        );
        let started = SystemTime::now().checked_sub(took).unwrap_or(SystemTime::UNIX_EPOCH);
        match self.store.fail_attempt(event.id, &self.name, error, retry_at, started).await {
            Ok(true) if last => Settled::Dead,
            Ok(true) => Settled::Retry,
            Ok(false) => Settled::Lost,
            Err(e) => {
                tracing::warn!(id = event.id, error = %e, "cannot record a failed attempt; the lease will expire");
                Settled::Lost
            }
        }
    }

    /// Marks a batch's handled events done: those without effects in one statement, those
    /// with effects each in its own transaction with them.
    async fn settle_done(&self, done: Vec<Finished>) {
        let (with_effects, plain): (Vec<_>, Vec<_>) = done.into_iter().partition(|f| !f.effects.is_empty());
        if !plain.is_empty() {
            let ids: Vec<_> = plain.iter().map(|f| f.event.id).collect();
            let held = match self.store.complete_many(&ids, &self.name).await {
                Ok(n) => n as usize == ids.len(),
                Err(e) => {
                    tracing::warn!(events = ids.len(), error = %e, "cannot mark events done; their leases will expire");
                    false
                }
            };
            for f in plain {
                self.record(&f.event, if held { f.settled } else { Settled::Lost }, f.took);
            }
        }
        if with_effects.is_empty() {
            return;
        }
        let (batch, finished): (Vec<_>, Vec<_>) =
            with_effects.into_iter().map(|f| ((f.event.id, f.effects), (f.event, f.settled, f.took))).unzip();
        let completions = match self.store.complete_with(&batch, &self.name).await {
            Ok(c) if c.len() == finished.len() => c,
            Ok(c) => {
                tracing::error!(
                    events = finished.len(),
                    answers = c.len(),
                    "the store answered for the wrong number of events"
                );
                vec![Completion::LeaseLost; finished.len()]
            }
            Err(e) => {
                tracing::warn!(events = finished.len(), error = %e, "cannot apply effects and mark events done; their leases will expire");
                vec![Completion::LeaseLost; finished.len()]
            }
        };
        for ((event, settled, took), completion) in finished.into_iter().zip(completions) {
            let settled = match completion {
                Completion::Done => settled,
                Completion::Failed(error) => self.fail(&event, &error, false, took).await,
                _ => Settled::Lost,
            };
            self.record(&event, settled, took);
        }
    }

    fn record(&self, event: &Event, settled: Settled, took: Duration) {
        let provider = event.provider.clone();
        let event_type = event.event_type.clone().unwrap_or_else(|| "-".to_owned());
        metrics::counter!("webhook_handler_runs_total", "provider" => provider.clone(), "event_type" => event_type, "result" => settled.label())
            .increment(1);
        metrics::histogram!("webhook_handling_duration_seconds", "provider" => provider).record(took.as_secs_f64());
        if settled == Settled::Lost {
            tracing::warn!(id = event.id, worker = %self.name, "the lease expired before the event was settled");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::handler_fn;
    use crate::router::HandlerError;
    use crate::testing::event;
    use crate::{Effects, Filter, GroupCommit, GroupCommitConfig, MemoryStore, Status};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Mutex;
    use webhook_core::providers;
    use webhook_core::sink::Sink;

    fn fast(max_attempts: u32) -> WorkerConfig {
        WorkerConfig {
            workers: 2,
            batch: 4,
            lease: Duration::from_secs(5),
            idle_poll: Duration::from_millis(10),
            retry: RetryPolicy { max_attempts, base: Duration::from_millis(40), max_delay: Duration::from_secs(1) },
        }
    }

    /// Polls `check` every 10 ms for at most 5 s.
    async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
        for _ in 0..500 {
            if check() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for: {what}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_handler_that_fails_twice_runs_three_times_with_backoff_between() {
        let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
        let runs = Arc::new(Mutex::new(Vec::<Instant>::new()));
        let router = EventRouter::new().on(providers::GITHUB, "push", {
            let runs = runs.clone();
            move |_event: Event| {
                let runs = runs.clone();
                async move {
                    let n = {
                        let mut r = runs.lock().unwrap();
                        r.push(Instant::now());
                        r.len()
                    };
                    if n <= 2 {
                        Err(HandlerError::retry(format!("attempt {n} failed")))
                    } else {
                        Ok(())
                    }
                }
            }
        });
        store.insert(&[event("github", "d1", "push")]).await.unwrap();
        let workers = Workers::spawn(store.clone(), router, fast(5), Arc::new(Notify::new()));
        let id = store.list(&Filter::default(), 1).await.unwrap()[0].id;
        eventually("done", || runs.lock().unwrap().len() >= 3).await;
        eventually("marked done", || {
            futures_util::FutureExt::now_or_never(store.get(id))
                .and_then(|r| r.unwrap())
                .is_some_and(|e| e.status == Status::Done)
        })
        .await;
        workers.shutdown().await;
        let runs: Vec<Instant> = runs.lock().unwrap().clone();
        assert_eq!(runs.len(), 3, "exactly three runs");
        // Equal jitter: each delay is at least half of 40 ms, then 80 ms.
        assert!(runs[1] - runs[0] >= Duration::from_millis(20), "{:?}", runs[1] - runs[0]);
        assert!(runs[2] - runs[1] >= Duration::from_millis(40), "{:?}", runs[2] - runs[1]);
        let e = store.get(id).await.unwrap().unwrap();
        assert_eq!((e.attempts, e.last_error.as_deref()), (3, Some("attempt 2 failed")));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_always_failing_handler_ends_dead_and_can_be_replayed() {
        let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
        let runs = Arc::new(AtomicU32::new(0));
        let fixed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let router = EventRouter::new().catch_all({
            let (runs, fixed) = (runs.clone(), fixed.clone());
            move |_event: Event| {
                let (runs, fixed) = (runs.clone(), fixed.clone());
                async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    if fixed.load(Ordering::SeqCst) {
                        Ok(())
                    } else {
                        Err(HandlerError::retry("downstream is down"))
                    }
                }
            }
        });
        store.insert(&[event("stripe", "evt_1", "invoice.paid")]).await.unwrap();
        let workers = Workers::spawn(store.clone(), router, fast(3), Arc::new(Notify::new()));
        let dead = || futures_util::FutureExt::now_or_never(store.list(&Filter::dead(), 10)).map(|r| r.unwrap().len());
        eventually("dead", || dead() == Some(1)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3, "max_attempts runs, then the dead letter");
        // The handler is fixed: replay every dead Stripe event.
        fixed.store(true, Ordering::SeqCst);
        let replayed = store.replay(&Filter::dead().provider("stripe"), SystemTime::now()).await.unwrap();
        assert_eq!(replayed, 1);
        eventually("handled after replay", || runs.load(Ordering::SeqCst) == 4).await;
        eventually("done", || dead() == Some(0)).await;
        workers.shutdown().await;
    }

    #[test]
    fn unknown_event_types_are_counted_by_provider_and_type() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            // A current-thread runtime: every task runs on this thread, under this recorder.
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
                let router = EventRouter::new().on(providers::GITHUB, "push", |_event: Event| async { Ok(()) });
                store
                    .insert(&[
                        event("github", "d1", "issues"),
                        event("github", "d2", "push"),
                        event("github", "d3", "issues"),
                    ])
                    .await
                    .unwrap();
                let workers = Workers::spawn(store.clone(), router, fast(1), Arc::new(Notify::new()));
                let done = || {
                    futures_util::FutureExt::now_or_never(store.list(&Filter::default(), 10))
                        .is_some_and(|r| r.unwrap().iter().all(|e| e.status == Status::Done))
                };
                eventually("all settled", done).await;
                workers.shutdown().await;
            });
        });
        let text = handle.render();
        assert!(text.contains(r#"webhook_unknown_events_total{provider="github",event_type="issues"} 2"#), "{text}");
        assert!(!text.contains(r#"webhook_unknown_events_total{provider="github",event_type="push"}"#), "{text}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_handler_is_a_failure_and_the_worker_lives_on() {
        let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
        let handled = Arc::new(AtomicU32::new(0));
        let router = EventRouter::new()
            .on(providers::GITHUB, "boom", |_event: Event| async move {
                if true {
                    panic!("handler bug");
                }
                Ok(())
            })
            .on(providers::GITHUB, "push", {
                let handled = handled.clone();
                move |_event: Event| {
                    let handled = handled.clone();
                    async move {
                        handled.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    }
                }
            });
        let mut config = fast(1);
        config.workers = 1;
        let workers = Workers::spawn(store.clone(), router, config, Arc::new(Notify::new()));
        store.insert(&[event("github", "p1", "boom")]).await.unwrap();
        store.insert(&[event("github", "p2", "push")]).await.unwrap();
        eventually("the next event is handled", || handled.load(Ordering::SeqCst) == 1).await;
        let dead = store.list(&Filter::dead(), 10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert!(dead[0].last_error.as_deref().unwrap_or("").contains("handler bug"), "{:?}", dead[0].last_error);
        workers.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_crashed_workers_lease_expires_and_another_takes_the_event() {
        let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
        store.insert(&[event("github", "c1", "push")]).await.unwrap();
        // A worker that leased the event and died.
        let taken = store.lease("crashed", 1, Duration::from_millis(200), SystemTime::now()).await.unwrap();
        assert_eq!(taken.len(), 1);
        let handled = Arc::new(AtomicU32::new(0));
        let router = EventRouter::new().catch_all({
            let handled = handled.clone();
            move |_event: Event| {
                let handled = handled.clone();
                async move {
                    handled.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            }
        });
        let workers = Workers::spawn(store.clone(), router, fast(3), Arc::new(Notify::new()));
        eventually("taken over after the lease", || handled.load(Ordering::SeqCst) == 1).await;
        workers.shutdown().await;
        let e = store.get(taken[0].id).await.unwrap().unwrap();
        assert_eq!((e.status, e.attempts), (Status::Done, 2));
    }

    #[tokio::test]
    async fn a_dead_letter_for_no_route_names_the_key_to_register() {
        let store = Arc::new(MemoryStore::new());
        let mut opened = event("github", "nr1", "issues");
        opened.body = bytes::Bytes::from_static(br#"{"action":"opened","issue":{}}"#);
        store.insert(&[opened, event("github", "nr2", "push")]).await.unwrap();
        let router = EventRouter::new().unknown(UnknownEvents::DeadLetter);
        let workers = Workers::spawn(store.clone(), router, fast(3), Arc::new(Notify::new()));
        let events = settled(store.as_ref()).await;
        workers.shutdown().await;
        let reason = |id: &str| {
            let e = events.iter().find(|e| e.delivery_id == id).unwrap();
            assert_eq!(e.status, Status::Dead);
            e.last_error.clone().unwrap()
        };
        assert_eq!(
            reason("nr1"),
            "no handler for github `issues.opened`: tried `issues.opened`, `issues`, prefix patterns (`issues.*`), `*` and the catch-all"
        );
        assert_eq!(reason("nr2"), "no handler for github `push`: tried `push`, prefix patterns, `*` and the catch-all");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sixty_four_copies_are_stored_once_and_handled_once() {
        use webhook_core::receive::Endpoint;
        use webhook_core::{SignRequest, Verifier, WebhookRequest};

        let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
        let stored = Arc::new(Notify::new());
        let sink: Arc<dyn Sink> =
            Arc::new(GroupCommit::spawn(store.clone(), GroupCommitConfig::default(), stored.clone()));
        let github = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let endpoint = Endpoint::new(github.clone()).with_sink(sink);
        let runs = Arc::new(AtomicU32::new(0));
        let router = EventRouter::new().on(providers::GITHUB, "push", {
            let runs = runs.clone();
            move |_event: Event| {
                let runs = runs.clone();
                async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            }
        });
        let workers = Workers::spawn(store.clone(), router, fast(3), stored);
        let now = SystemTime::now();
        let signed = github.sign(&SignRequest::new(b"{}", now).id("same").event_type("push")).unwrap();
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (endpoint, signed) = (endpoint.clone(), signed.clone());
                tokio::spawn(async move {
                    let outcome = endpoint.receive(&WebhookRequest::new(&signed, signed.body().clone()), now).await;
                    outcome.label()
                })
            })
            .collect();
        let mut accepted = 0;
        for t in tasks {
            match t.await.unwrap() {
                "accepted" => accepted += 1,
                "duplicate" | "in_flight" => {}
                other => panic!("unexpected outcome {other}"),
            }
        }
        assert_eq!(accepted, 1);
        eventually("handled", || runs.load(Ordering::SeqCst) >= 1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        workers.shutdown().await;
        assert_eq!(store.list(&Filter::default(), 100).await.unwrap().len(), 1, "one stored event");
        assert_eq!(runs.load(Ordering::SeqCst), 1, "one handler run");
    }

    /// Waits (at most 5 s) until every event is done or dead.
    async fn settled(store: &dyn EventStore) -> Vec<Event> {
        for _ in 0..500 {
            let events = store.list(&Filter::default(), 100).await.unwrap();
            if events.iter().all(|e| matches!(e.status, Status::Done | Status::Dead)) {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("events not settled in 5 s: {:?}", store.list(&Filter::default(), 100).await);
    }

    /// Records `(delivery id, attempt)` in `handled`.
    #[cfg(feature = "sqlite")]
    fn recorder() -> EventRouter {
        EventRouter::new().on_any(
            providers::GITHUB,
            handler_fn(|event: Event| async move {
                Ok(Effects::new().execute(
                    "INSERT INTO handled (delivery_id, attempt) VALUES ($1, $2)",
                    [event.delivery_id.clone().into(), event.attempts.into()],
                ))
            }),
        )
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_effect_rolls_back_and_the_event_is_retried_until_its_effects_commit() {
        let db = crate::testing::TempDb::new();
        let store = Arc::new(crate::SqliteStore::connect(&db.url()).await.unwrap());
        // The CHECK refuses attempts 1 and 2: their effects fail and leave nothing.
        let ddl = "CREATE TABLE handled (delivery_id TEXT NOT NULL, attempt INTEGER NOT NULL CHECK (attempt >= 3))";
        store.execute(&Effects::new().execute(ddl, [])).await.unwrap();
        store.insert(&[event("github", "d1", "push"), event("github", "d2", "push")]).await.unwrap();
        let workers = Workers::spawn(store.clone(), recorder(), fast(5), Arc::new(Notify::new()));
        let events = settled(store.as_ref()).await;
        workers.shutdown().await;
        for e in &events {
            assert_eq!((e.status, e.attempts), (Status::Done, 3), "{e:?}");
            let error = e.last_error.as_deref().unwrap_or_default();
            assert!(error.starts_with("effect statement 1 failed: CHECK constraint failed"), "{error}");
        }
        let conn = rusqlite::Connection::open(&db.path).unwrap();
        let rows: Vec<(String, i64)> = conn
            .prepare("SELECT delivery_id, attempt FROM handled ORDER BY delivery_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            rows,
            vec![("d1".to_owned(), 3), ("d2".to_owned(), 3)],
            "one row per event, from the run that committed"
        );
        store.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_whose_lease_expired_applies_nothing() {
        // The first run of each event outlives its lease (a stalled worker): another worker
        // takes the event and commits; the stalled run's effects are never applied.
        let store = Arc::new(MemoryStore::new());
        let router = EventRouter::new().on_any(
            providers::GITHUB,
            handler_fn(|event: Event| async move {
                if event.attempts == 1 {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                }
                Ok(Effects::new().execute(
                    "INSERT INTO handled VALUES ($1, $2)",
                    [event.delivery_id.clone().into(), event.attempts.into()],
                ))
            }),
        );
        store.insert(&[event("github", "d1", "push")]).await.unwrap();
        let config = WorkerConfig { lease: Duration::from_millis(100), ..fast(5) };
        let workers = Workers::spawn(store.clone(), router, config, Arc::new(Notify::new()));
        let events = settled(store.as_ref()).await;
        // Let the stalled run finish and try to complete.
        tokio::time::sleep(Duration::from_millis(500)).await;
        workers.shutdown().await;
        // Done by a later run (the second, unless a slow machine let that lease lapse too),
        // whose effects are the only ones applied; the stalled first run's never are.
        let final_attempt = events[0].attempts;
        assert!(events[0].status == Status::Done && final_attempt >= 2, "{:?}", events[0]);
        let applied = store.applied_effects();
        assert_eq!(applied.len(), 1, "{applied:?}");
        assert_eq!(applied[0].1.statements()[0].params()[1], final_attempt.into(), "the committing run's effects");
    }
}
