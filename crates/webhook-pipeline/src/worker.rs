//! Background workers: take due events, run their handler, and settle them: done, retried
//! later with exponential backoff and jitter, or dead after the last attempt.
//!
//! Events reach a worker two ways. A fresh delivery is handed straight to the pool when
//! there is room: the group commit stores it already leased to the pool, in the
//! transaction that stores it, and passes it through a bounded channel (see
//! [`WorkerConfig::handoff`]); no lease query. Everything else (deliveries that found no
//! room, retries, replays, expired leases, events stored before a start) is leased from
//! the store in batches, as it always was. The done marks of handed-off events are
//! gathered from every worker and written in one statement per gathering.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use metrics::SharedString;
use rand::Rng;
use tokio::sync::mpsc::{self, PermitIterator};
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
    /// Retries come due in the store, so a worker busy with handed-off events still looks
    /// at least this often.
    pub idle_poll: Duration,
    /// Retries and the dead letter.
    pub retry: RetryPolicy,
    /// Fresh events that may wait in memory for a worker (0: none, every event is leased
    /// from the store). Within a [`Pipeline`](crate::Pipeline), the group commit reserves
    /// room in a channel of this size before each transaction, stores that many of its new
    /// events already leased to the workers (the lease counted as their first attempt) and
    /// hands them over after the commit: no lease query. The rest wait in the store for a
    /// lease. A handed-off event nobody runs (a crash) is leased again once its lease
    /// expires, like any other. Default 64: what 4 workers leasing 16 at a time would hold.
    pub handoff: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            workers: 4,
            batch: 16,
            lease: Duration::from_secs(60),
            idle_poll: Duration::from_millis(250),
            retry: RetryPolicy::default(),
            handoff: 64,
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

/// A fresh event the group commit stored already leased to the worker pool.
pub(crate) struct HandedOff {
    pub(crate) event: Event,
    /// When its lease ends: an event that waited past it is left to the lease loop.
    pub(crate) until: Instant,
}

/// The group commit's end of the handoff to a [`Workers`] pool.
#[derive(Debug, Clone)]
pub(crate) struct Handoff {
    tx: mpsc::Sender<HandedOff>,
    /// The lease holder of every handed-off event: the pool, not one worker.
    pool: Arc<str>,
    lease: Duration,
}

impl Handoff {
    /// Reserves room for up to `n` events (as much as is free now), before the transaction
    /// that leases them: an event is leased to the pool only when the channel can take it.
    pub(crate) fn reserve(&self, n: usize) -> Option<PermitIterator<'_, HandedOff>> {
        let n = n.min(self.tx.capacity());
        if n == 0 {
            return None;
        }
        self.tx.try_reserve_many(n).ok()
    }

    /// The name the handed-off events are leased to.
    pub(crate) fn pool(&self) -> &str {
        &self.pool
    }

    /// How long their lease lasts.
    pub(crate) fn lease(&self) -> Duration {
        self.lease
    }
}

/// The workers' end of the handoff, shared: an idle worker takes the next event.
type Taken = Arc<tokio::sync::Mutex<mpsc::Receiver<HandedOff>>>;

/// How long a stopping worker waits for events a commit in progress is about to hand over.
/// Any left after it are leased to the pool and come back when their lease expires.
const DRAIN_WAIT: Duration = Duration::from_secs(5);

/// A running pool of workers. Dropping it leaves them running; [`shutdown`](Self::shutdown)
/// stops them after their current events.
#[derive(Debug)]
pub struct Workers {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
    handoff: Option<Handoff>,
}

impl Workers {
    /// Starts `config.workers` workers on the current tokio runtime. `wake` is notified by
    /// the group commit when new events are stored for a lease. A
    /// [`Pipeline`](crate::Pipeline) also hands its fresh events straight to them (see
    /// [`WorkerConfig::handoff`]); started alone, they lease every event.
    pub fn spawn(store: Arc<dyn EventStore>, router: EventRouter, config: WorkerConfig, wake: Arc<Notify>) -> Self {
        let (stop, stopped) = watch::channel(false);
        let prefix = format!("{}-{:08x}", std::process::id(), rand::thread_rng().gen::<u32>());
        let mut handles = Vec::with_capacity(config.workers.max(1) + 2);
        let (handoff, taken, done) = if config.handoff > 0 {
            let (tx, rx) = mpsc::channel(config.handoff);
            let pool: Arc<str> = Arc::from(format!("{prefix}-pool"));
            // As many done marks may wait as events may wait to be run.
            let (done, finished) = mpsc::channel(config.handoff);
            let completer = Settler::new(store.clone(), config.retry);
            handles.push(tokio::spawn(completer.complete_handed_off(pool.clone(), finished, config.handoff)));
            let taken: Taken = Arc::new(tokio::sync::Mutex::new(rx));
            (Some(Handoff { tx, pool, lease: config.lease }), Some(taken), Some(done))
        } else {
            (None, None, None)
        };
        for i in 0..config.workers.max(1) {
            let worker = Worker {
                name: format!("{prefix}-{i}"),
                settler: Settler::new(store.clone(), config.retry),
                router: router.clone(),
                config,
                pool: handoff.as_ref().map(|h| h.pool.clone()),
                taken: taken.clone(),
                done: done.clone(),
            };
            handles.push(tokio::spawn(worker.run(wake.clone(), stopped.clone())));
        }
        handles.push(tokio::spawn(report_depth(store, stopped)));
        // The completer (first in `handles`) stops once every worker has dropped its sender.
        handles.rotate_left(usize::from(handoff.is_some()));
        Self { stop, handles, handoff }
    }

    /// The group commit's end of the handoff; `None` when `config.handoff` is 0.
    pub(crate) fn handoff(&self) -> Option<Handoff> {
        self.handoff.clone()
    }

    /// Stops the workers once their current events are settled: those leased, and those
    /// already handed over (the pool takes no new ones from this call on).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        drop(self.handoff);
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

/// Most distinct (provider, event type) label sets kept; beyond, labels are made per run.
const MAX_LABEL_SETS: usize = 1024;

/// The metric label values of each provider and event type seen, made once: a run's labels
/// are then reference-counted copies, not new strings.
#[derive(Default)]
struct Labels {
    providers: HashMap<String, (SharedString, HashMap<String, SharedString>)>,
    sets: usize,
}

impl Labels {
    /// The `provider` and `event_type` label values (`-` without a type).
    fn get(&mut self, provider: &str, event_type: Option<&str>) -> (SharedString, SharedString) {
        let t = event_type.unwrap_or("-");
        if let Some((p, types)) = self.providers.get(provider) {
            if let Some(tv) = types.get(t) {
                return (p.clone(), tv.clone());
            }
        }
        let shared = |s: &str| SharedString::from_shared(Arc::<str>::from(s));
        if self.sets >= MAX_LABEL_SETS {
            return (shared(provider), shared(t));
        }
        self.sets += 1;
        let (p, types) =
            self.providers.entry(provider.to_owned()).or_insert_with(|| (shared(provider), HashMap::new()));
        let tv = types.entry(t.to_owned()).or_insert_with(|| shared(t)).clone();
        (p.clone(), tv)
    }
}

/// Runs handlers and settles attempts in the store (done, failed, dead), with their metrics.
struct Settler {
    store: Arc<dyn EventStore>,
    retry: RetryPolicy,
    labels: std::sync::Mutex<Labels>,
}

impl Settler {
    fn new(store: Arc<dyn EventStore>, retry: RetryPolicy) -> Self {
        Self { store, retry, labels: std::sync::Mutex::new(Labels::default()) }
    }

    fn labels(&self, event: &Event) -> (SharedString, SharedString) {
        self.labels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&event.provider, event.event_type.as_deref())
    }

    /// Runs one event's handler. A success is returned with its effects, to be marked done
    /// with others; a failure is recorded at once. `owner` holds the event's lease.
    async fn process(&self, router: &EventRouter, event: Event, owner: &str) -> Option<Finished> {
        let started = Instant::now();
        // `dispatch` runs the handler and turns a panic into a retryable failure.
        let dispatched = router.dispatch(&event).await;
        // The handler's own time: not its batch's, nor the bookkeeping after it.
        let took = started.elapsed();
        if let Dispatch::Unknown(_) = dispatched {
            // No route for this type: an alert on this counter catches a provider sending
            // events nobody handles (a new type, a subscription left on).
            let (provider, event_type) = self.labels(&event);
            metrics::counter!("webhook_unknown_events_total", "provider" => provider, "event_type" => event_type)
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
                let settled = self.fail(&event, &error, permanent, took, owner).await;
                self.record(&event, settled, took, owner);
                None
            }
        }
    }

    /// Records a failed attempt (its handler ran for `took`): retried after a backoff while
    /// attempts remain, else dead.
    async fn fail(&self, event: &Event, error: &str, permanent: bool, took: Duration, owner: &str) -> Settled {
        let last = permanent || event.attempts >= self.retry.max_attempts;
        let retry_at = (!last).then(|| SystemTime::now() + self.retry.delay(event.attempts));
        tracing::warn!(
            id = event.id, provider = %event.provider, event_type = ?event.event_type,
            attempt = event.attempts, dead = last, error = %error, "webhook handler failed"
        );
        let started = SystemTime::now().checked_sub(took).unwrap_or(SystemTime::UNIX_EPOCH);
        match self.store.fail_attempt(event.id, owner, error, retry_at, started).await {
            Ok(true) if last => Settled::Dead,
            Ok(true) => Settled::Retry,
            Ok(false) => Settled::Lost,
            Err(e) => {
                tracing::warn!(id = event.id, error = %e, "cannot record a failed attempt; the lease will expire");
                Settled::Lost
            }
        }
    }

    /// Marks handled events done (emptying `done`): those without effects in one
    /// statement, those with effects in one `complete_with` (each atomic with its effects).
    async fn settle_done(&self, done: &mut Vec<Finished>, owner: &str) {
        if done.iter().all(|f| f.effects.is_empty()) {
            return self.complete_plain(done, owner).await;
        }
        let (with_effects, mut plain): (Vec<_>, Vec<_>) = done.drain(..).partition(|f| !f.effects.is_empty());
        self.complete_plain(&mut plain, owner).await;
        let (batch, finished): (Vec<_>, Vec<_>) =
            with_effects.into_iter().map(|f| ((f.event.id, f.effects), (f.event, f.settled, f.took))).unzip();
        let completions = match self.store.complete_with(&batch, owner).await {
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
                Completion::Failed(error) => self.fail(&event, &error, false, took, owner).await,
                _ => Settled::Lost,
            };
            self.record(&event, settled, took, owner);
        }
    }

    /// Marks events without effects done in one statement (emptying `plain`).
    async fn complete_plain(&self, plain: &mut Vec<Finished>, owner: &str) {
        if plain.is_empty() {
            return;
        }
        let ids: Vec<_> = plain.iter().map(|f| f.event.id).collect();
        let held = match self.store.complete_many(&ids, owner).await {
            Ok(n) => n as usize == ids.len(),
            Err(e) => {
                tracing::warn!(events = ids.len(), error = %e, "cannot mark events done; their leases will expire");
                false
            }
        };
        for f in plain.drain(..) {
            self.record(&f.event, if held { f.settled } else { Settled::Lost }, f.took, owner);
        }
    }

    fn record(&self, event: &Event, settled: Settled, took: Duration, owner: &str) {
        let (provider, event_type) = self.labels(event);
        metrics::counter!("webhook_handler_runs_total", "provider" => provider.clone(), "event_type" => event_type, "result" => settled.label())
            .increment(1);
        metrics::histogram!("webhook_handling_duration_seconds", "provider" => provider).record(took.as_secs_f64());
        if settled == Settled::Lost {
            tracing::warn!(id = event.id, worker = %owner, "the lease expired before the event was settled");
        }
    }

    /// The completer: marks the handed-off events every worker ran done, taking whatever
    /// is waiting (up to `max`, no timer: like the group commit) into one statement.
    async fn complete_handed_off(self, pool: Arc<str>, mut finished: mpsc::Receiver<Finished>, max: usize) {
        let mut done = Vec::with_capacity(max);
        while finished.recv_many(&mut done, max).await > 0 {
            metrics::histogram!("webhook_completion_batch_size").record(done.len() as f64);
            self.settle_done(&mut done, &pool).await;
        }
    }
}

struct Worker {
    name: String,
    settler: Settler,
    router: EventRouter,
    config: WorkerConfig,
    /// The pool's lease-holder name, and the handoff's two ends (none without a handoff).
    pool: Option<Arc<str>>,
    taken: Option<Taken>,
    done: Option<mpsc::Sender<Finished>>,
}

impl Worker {
    async fn run(self, wake: Arc<Notify>, mut stopped: watch::Receiver<bool>) {
        // Look in the store at once: events may wait from before this start.
        let mut look = true;
        let mut next_poll = tokio::time::Instant::now() + self.config.idle_poll;
        let mut taken = self.taken.clone();
        let mut handed = Vec::with_capacity(self.config.batch.max(1));
        while !*stopped.borrow() {
            if look {
                let events = self.lease().await;
                // A full batch: more may be due now.
                look = events.len() >= self.config.batch.max(1);
                if !events.is_empty() {
                    self.run_batch(events).await;
                    continue;
                }
            }
            tokio::select! {
                open = self.next_handed_off(taken.as_ref(), &mut handed) => {
                    if open {
                        self.run_handed_off(taken.as_ref(), &mut handed).await;
                    } else {
                        // Closed: the pool is stopping.
                        taken = None;
                    }
                }
                () = wake.notified() => look = true,
                // Retries come due in the store: look at least this often, busy or not.
                () = tokio::time::sleep_until(next_poll) => {
                    look = true;
                    next_poll = tokio::time::Instant::now() + self.config.idle_poll;
                }
                _ = stopped.changed() => {}
            }
        }
        if let Some(taken) = &self.taken {
            self.drain(taken).await;
        }
    }

    async fn lease(&self) -> Vec<Event> {
        let (batch, lease) = (self.config.batch, self.config.lease);
        match self.settler.store.lease(&self.name, batch, lease, SystemTime::now()).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(worker = %self.name, error = %e, "cannot lease events");
                Vec::new()
            }
        }
    }

    /// Runs a leased batch: handlers one after another, then the done marks in one
    /// statement.
    async fn run_batch(&self, events: Vec<Event>) {
        let mut done = Vec::with_capacity(events.len());
        for event in events {
            if let Some(finished) = self.settler.process(&self.router, event, &self.name).await {
                done.push(finished);
            }
        }
        self.settler.settle_done(&mut done, &self.name).await;
    }

    /// Waits for the next handed-off event, then takes this worker's share of those
    /// waiting behind it (an even split between the workers, at most a batch), into
    /// `handed`. Never returns without a handoff; false once the channel is closed and empty.
    async fn next_handed_off(&self, taken: Option<&Taken>, handed: &mut Vec<HandedOff>) -> bool {
        let Some(taken) = taken else { return std::future::pending().await };
        let mut rx = taken.lock().await;
        let Some(first) = rx.recv().await else { return false };
        handed.push(first);
        let share = (rx.len() / self.config.workers.max(1)).min(self.config.batch.saturating_sub(1));
        for _ in 0..share {
            match rx.try_recv() {
                Ok(next) => handed.push(next),
                Err(_) => break,
            }
        }
        true
    }

    /// Runs handed-off events (emptying `handed`). Their done marks go to the completer,
    /// with the other workers'; those with effects are written here, each atomic with its
    /// effects, in one call for the lot: while more events wait in the channel (and
    /// fewer than a batch are held), the worker takes the next one, one at a time, before
    /// writing them, as a leased batch would be.
    async fn run_handed_off(&self, taken: Option<&Taken>, handed: &mut Vec<HandedOff>) {
        let Some(pool) = self.pool.as_deref() else {
            handed.clear();
            return;
        };
        let mut here = Vec::new();
        loop {
            for handed in handed.drain(..) {
                if Instant::now() >= handed.until {
                    // It waited past its lease: the lease loop takes it again (a new
                    // attempt); running it here too could run it twice at once.
                    continue;
                }
                let Some(finished) = self.settler.process(&self.router, handed.event, pool).await else { continue };
                match &self.done {
                    Some(done) if finished.effects.is_empty() => {
                        if let Err(mpsc::error::SendError(finished)) = done.send(finished).await {
                            here.push(finished);
                        }
                    }
                    _ => here.push(finished),
                }
            }
            if here.is_empty() || here.len() >= self.config.batch {
                break;
            }
            match taken.map(|t| t.try_lock().map(|mut rx| rx.try_recv())) {
                Some(Ok(Ok(next))) => handed.push(next),
                _ => break,
            }
        }
        self.settler.settle_done(&mut here, pool).await;
    }

    /// On stop: runs what was handed over and not yet taken, refusing any more. Waits
    /// (at most [`DRAIN_WAIT`]) for a commit in progress that reserved room to hand over.
    async fn drain(&self, taken: &Taken) {
        let deadline = tokio::time::Instant::now() + DRAIN_WAIT;
        let mut handed = Vec::new();
        loop {
            taken.lock().await.close();
            match tokio::time::timeout_at(deadline, self.next_handed_off(Some(taken), &mut handed)).await {
                Ok(true) => self.run_handed_off(Some(taken), &mut handed).await,
                _ => return,
            }
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
            handoff: 8,
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

    /// Whether event `id` is done, now (for a store whose `get` answers without waiting,
    /// as the memory store's does).
    fn is_done(store: &dyn EventStore, id: crate::EventId) -> bool {
        futures_util::FutureExt::now_or_never(store.get(id))
            .and_then(|r| r.unwrap())
            .is_some_and(|e| e.status == Status::Done)
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
        eventually("marked done", || is_done(store.as_ref(), id)).await;
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

    /// A memory store that counts leases and records the size of each `complete_many`; the
    /// first `complete_many` waits for a permit of `gate` when `gated`.
    struct Counting {
        inner: MemoryStore,
        leases: AtomicU32,
        completes: Mutex<Vec<usize>>,
        gated: bool,
        gate: tokio::sync::Semaphore,
    }

    impl Counting {
        fn new(gated: bool) -> Arc<Self> {
            Arc::new(Self {
                inner: MemoryStore::new(),
                leases: AtomicU32::new(0),
                completes: Mutex::new(Vec::new()),
                gated,
                gate: tokio::sync::Semaphore::new(0),
            })
        }

        fn leases(&self) -> u32 {
            self.leases.load(Ordering::SeqCst)
        }

        fn completes(&self) -> Vec<usize> {
            self.completes.lock().unwrap().clone()
        }

        /// Whether every event is done, now.
        fn all_done(&self, n: usize) -> bool {
            futures_util::FutureExt::now_or_never(self.inner.list(&Filter::default().status(Status::Done), 1000))
                .is_some_and(|r| r.unwrap().len() == n)
        }
    }

    #[async_trait::async_trait]
    impl EventStore for Counting {
        async fn insert(&self, events: &[crate::NewEvent]) -> Result<Vec<crate::Inserted>, crate::StoreError> {
            self.inner.insert(events).await
        }
        async fn insert_leased(
            &self,
            events: &[crate::NewEvent],
            leased: usize,
            worker: &str,
            until: SystemTime,
        ) -> Result<Vec<crate::Inserted>, crate::StoreError> {
            self.inner.insert_leased(events, leased, worker, until).await
        }
        async fn lease(&self, w: &str, m: usize, l: Duration, n: SystemTime) -> Result<Vec<Event>, crate::StoreError> {
            self.leases.fetch_add(1, Ordering::SeqCst);
            self.inner.lease(w, m, l, n).await
        }
        async fn complete(&self, id: i64, w: &str) -> Result<bool, crate::StoreError> {
            Ok(self.complete_many(&[id], w).await? == 1)
        }
        async fn complete_many(&self, ids: &[i64], w: &str) -> Result<u64, crate::StoreError> {
            let first = {
                let mut calls = self.completes.lock().unwrap();
                calls.push(ids.len());
                calls.len() == 1
            };
            if first && self.gated {
                self.gate.acquire().await.expect("gate").forget();
            }
            self.inner.complete_many(ids, w).await
        }
        async fn fail(&self, id: i64, w: &str, e: &str, r: Option<SystemTime>) -> Result<bool, crate::StoreError> {
            self.inner.fail(id, w, e, r).await
        }
        async fn fail_attempt(
            &self,
            id: i64,
            w: &str,
            e: &str,
            r: Option<SystemTime>,
            s: SystemTime,
        ) -> Result<bool, crate::StoreError> {
            self.inner.fail_attempt(id, w, e, r, s).await
        }
        async fn attempts(&self, id: i64) -> Result<Vec<crate::Attempt>, crate::StoreError> {
            self.inner.attempts(id).await
        }
        async fn get(&self, id: i64) -> Result<Option<Event>, crate::StoreError> {
            self.inner.get(id).await
        }
        async fn list(&self, f: &Filter, l: usize) -> Result<Vec<Event>, crate::StoreError> {
            self.inner.list(f, l).await
        }
        async fn replay(&self, f: &Filter, n: SystemTime) -> Result<u64, crate::StoreError> {
            self.inner.replay(f, n).await
        }
        async fn depth(&self) -> Result<u64, crate::StoreError> {
            self.inner.depth().await
        }
    }

    /// The workers and the group commit handing fresh events to them, as a pipeline wires them.
    fn handing_off(store: Arc<dyn EventStore>, router: EventRouter, config: WorkerConfig) -> (GroupCommit, Workers) {
        let stored = Arc::new(Notify::new());
        let workers = Workers::spawn(store.clone(), router, config, stored.clone());
        let sink = GroupCommit::spawn_handing_off(store, GroupCommitConfig::default(), stored, workers.handoff());
        (sink, workers)
    }

    /// A router whose every run counts in `runs`.
    fn counted(runs: &Arc<AtomicU32>) -> EventRouter {
        let runs = runs.clone();
        EventRouter::new().catch_all(move |_event: Event| {
            let runs = runs.clone();
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fresh_delivery_goes_straight_to_an_idle_worker_without_a_lease_query() {
        let store = Counting::new(false);
        let runs = Arc::new(AtomicU32::new(0));
        // No polling: a lease would only follow a wake.
        let config = WorkerConfig { idle_poll: Duration::from_secs(3600), ..fast(3) };
        let (sink, workers) = handing_off(store.clone(), counted(&runs), config);
        eventually("each worker looked in the store once, at its start", || store.leases() == 2).await;
        for i in 0..20 {
            // Each delivery finds the workers idle: the one before it is handled.
            let stored = sink.accept(event("github", &format!("h{i}"), "push")).await.unwrap();
            assert!(matches!(stored, crate::Inserted::Leased(_)), "{stored:?}");
            eventually("handled", || runs.load(Ordering::SeqCst) == i + 1).await;
        }
        eventually("done", || store.all_done(20)).await;
        assert_eq!(store.leases(), 2, "a handed-off event needs no lease query");
        let completes = store.completes();
        assert_eq!(completes.iter().sum::<usize>(), 20, "{completes:?}");
        eprintln!("20 handed-off deliveries: 0 lease queries, {} done statements", completes.len());
        workers.shutdown().await;
        assert_eq!(runs.load(Ordering::SeqCst), 20, "each ran once");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deliveries_beyond_the_handoffs_room_wait_in_the_store_for_a_lease() {
        let store = Counting::new(false);
        let (entered, gate) = (Arc::new(AtomicU32::new(0)), Arc::new(tokio::sync::Semaphore::new(0)));
        let router = EventRouter::new().catch_all({
            let (entered, gate) = (entered.clone(), gate.clone());
            move |_event: Event| {
                let (entered, gate) = (entered.clone(), gate.clone());
                async move {
                    entered.fetch_add(1, Ordering::SeqCst);
                    gate.acquire().await.expect("gate").forget();
                    Ok(())
                }
            }
        });
        let config = WorkerConfig { workers: 1, handoff: 2, idle_poll: Duration::from_secs(3600), ..fast(3) };
        let (sink, workers) = handing_off(store.clone(), router, config);
        eventually("the worker looked once", || store.leases() == 1).await;
        let accept = |id: &'static str| sink.accept(event("github", id, "push"));
        // The only worker takes the first and holds it; two more fill the channel.
        assert!(matches!(accept("f1").await.unwrap(), crate::Inserted::Leased(_)));
        eventually("the worker runs the first", || entered.load(Ordering::SeqCst) == 1).await;
        assert!(matches!(accept("f2").await.unwrap(), crate::Inserted::Leased(_)));
        assert!(matches!(accept("f3").await.unwrap(), crate::Inserted::Leased(_)));
        // No room left: stored pending, for a lease.
        for id in ["f4", "f5"] {
            let stored = accept(id).await.unwrap();
            let crate::Inserted::New(id) = stored else { panic!("{stored:?}") };
            assert_eq!(store.get(id).await.unwrap().unwrap().status, Status::Pending);
        }
        gate.add_permits(5);
        eventually("all done", || store.all_done(5)).await;
        assert!(store.leases() > 1, "the pending ones were leased");
        workers.shutdown().await;
        assert_eq!(entered.load(Ordering::SeqCst), 5, "each ran once");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_handed_off_event_whose_handler_fails_is_retried_through_the_store() {
        let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
        let router = EventRouter::new().catch_all(|event: Event| async move {
            if event.attempts == 1 {
                Err(HandlerError::retry("first attempt fails"))
            } else {
                Ok(())
            }
        });
        let (sink, workers) = handing_off(store.clone(), router, fast(3));
        let pool = workers.handoff().unwrap().pool().to_owned();
        let stored = sink.accept(event("github", "r1", "push")).await.unwrap();
        let crate::Inserted::Leased(id) = stored else { panic!("{stored:?}") };
        eventually("done", || is_done(store.as_ref(), id)).await;
        workers.shutdown().await;
        assert_eq!(store.get(id).await.unwrap().unwrap().attempts, 2);
        let attempts = store.attempts(id).await.unwrap();
        assert_eq!(attempts.len(), 1, "{attempts:?}");
        assert_eq!((attempts[0].worker.as_str(), attempts[0].error.as_str()), (pool.as_str(), "first attempt fails"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_handed_off_event_no_worker_runs_is_leased_again_after_its_lease() {
        let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
        // A pool that crashed after the commit: nothing ever reads its channel.
        let (tx, _never_read) = tokio::sync::mpsc::channel(4);
        let crashed = Handoff { tx, pool: Arc::from("crashed-pool"), lease: Duration::from_millis(300) };
        let sink = GroupCommit::spawn_handing_off(
            store.clone(),
            GroupCommitConfig::default(),
            Arc::new(Notify::new()),
            Some(crashed),
        );
        let stored = sink.accept(event("github", "c1", "push")).await.unwrap();
        let crate::Inserted::Leased(id) = stored else { panic!("{stored:?}") };
        let leased = store.get(id).await.unwrap().unwrap();
        assert_eq!((leased.status, leased.attempts), (Status::Processing, 1));
        // The workers of another process (or of this one, restarted).
        let runs = Arc::new(AtomicU32::new(0));
        let workers = Workers::spawn(store.clone(), counted(&runs), fast(3), Arc::new(Notify::new()));
        eventually("taken over after the lease", || runs.load(Ordering::SeqCst) == 1).await;
        eventually("done", || is_done(store.as_ref(), id)).await;
        workers.shutdown().await;
        assert_eq!(store.get(id).await.unwrap().unwrap().attempts, 2);
        assert!(!store.complete(id, "crashed-pool").await.unwrap(), "the crashed pool lost its lease");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_done_marks_of_several_workers_go_in_one_statement() {
        const N: usize = 3;
        let store = Counting::new(true);
        // Each run waits for the others: N workers hold one event each.
        let (barrier, returned) = (Arc::new(tokio::sync::Barrier::new(N)), Arc::new(AtomicU32::new(0)));
        let router = EventRouter::new().catch_all({
            let (barrier, returned) = (barrier.clone(), returned.clone());
            move |_event: Event| {
                let (barrier, returned) = (barrier.clone(), returned.clone());
                async move {
                    barrier.wait().await;
                    returned.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            }
        });
        let config = WorkerConfig { workers: N, idle_poll: Duration::from_secs(3600), ..fast(3) };
        let (sink, workers) = handing_off(store.clone(), router, config);
        for i in 0..N {
            let stored = sink.accept(event("github", &format!("m{i}"), "push")).await.unwrap();
            assert!(matches!(stored, crate::Inserted::Leased(_)), "{stored:?}");
        }
        // The first done mark is held in its statement while the other workers finish.
        eventually("every handler returned", || returned.load(Ordering::SeqCst) == N as u32).await;
        eventually("the first done statement began", || !store.completes().is_empty()).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        store.gate.add_permits(1);
        eventually("done", || store.all_done(N)).await;
        workers.shutdown().await;
        let completes = store.completes();
        assert_eq!(completes.iter().sum::<usize>(), N, "{completes:?}");
        assert!(completes.len() <= 2 && completes.iter().max() >= Some(&(N - 1)), "{completes:?}");
    }
}
