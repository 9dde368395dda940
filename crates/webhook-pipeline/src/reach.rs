//! Failing fast while a server is down.
//!
//! A connection pool whose server refuses connections keeps retrying until its acquire
//! timeout (5 s for `PostgresStore`), and a Redis connection that is reconnecting keeps a
//! command until its response timeout (3 s for `RedisDedup`): every request would wait that
//! long before its 503. A [`Reach`] remembers what a probe found instead:
//!
//! - an operation whose wait (for a pooled connection; for a Redis command's answer) lasts
//!   over [`PROBE_AFTER`] starts a probe (one at a time: a plain connection to the server,
//!   at most [`PROBE_TIMEOUT`]);
//! - a probe that is refused, reset, or told the server is starting up or shutting down
//!   marks the server down: the operations waiting give up at once, and every operation
//!   after them is answered "unavailable" without touching the pool;
//! - while the server is down, one probe runs every [`PROBE_INTERVAL`], in the background,
//!   and the first that connects lets operations through again.
//!
//! A probe that connects while operations are still waiting means the pool is busy, not
//! the server gone: they keep waiting, up to the pool's own timeout, and no probe starts
//! again within [`PROBE_INTERVAL`]. A probe that gets no answer within [`PROBE_TIMEOUT`]
//! proves nothing either way and changes nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::watch;

use crate::StoreError;

/// How long an operation waits for its connection before a probe checks the server.
pub(crate) const PROBE_AFTER: Duration = Duration::from_millis(25);

/// Between two probes of a server known down, and the least time between two probes of a
/// server found up.
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_millis(250);

/// How long a probe waits for the server.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Probed {
    /// It connected.
    Up,
    /// The server refused or dropped the connection, or said it cannot take one now; the
    /// text says how.
    Down(String),
    /// Anything else (no answer in time, an authentication error, too many connections):
    /// nothing learned about reachability.
    Unknown,
}

/// A probe: one connection attempt, dropped as soon as it is made.
pub(crate) type Probe = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Probed> + Send>> + Send + Sync>;

/// What a store knows about its server's reachability (see the module docs).
pub(crate) struct Reach {
    /// The server's name in the logs ("PostgreSQL").
    server: &'static str,
    /// `Some(why)` while the server is known down.
    down: watch::Sender<Option<Arc<str>>>,
    /// A probe is running, or one found the server up less than [`PROBE_INTERVAL`] ago.
    probing: AtomicBool,
    /// The store was closed: no probe starts any more.
    closed: AtomicBool,
    probe: Probe,
}

impl std::fmt::Debug for Reach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reach")
            .field("server", &self.server)
            .field("down", &*self.down.borrow())
            .finish_non_exhaustive()
    }
}

impl Reach {
    /// `server` (its name in the logs), believed up until `probe` finds otherwise.
    pub(crate) fn new(server: &'static str, probe: Probe) -> Arc<Self> {
        Arc::new(Self {
            server,
            down: watch::Sender::new(None),
            probing: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            probe,
        })
    }

    /// Why the server is down, while it is known to be.
    pub(crate) fn down(&self) -> Option<Arc<str>> {
        self.down.borrow().clone()
    }

    /// Waits for `connect` (a pool's acquire, a Redis command) unless the server is known down; if it has
    /// not finished within [`PROBE_AFTER`], probes the server and gives up as soon as the
    /// server is found down. `Err` says why it is down.
    pub(crate) async fn guard<T>(self: &Arc<Self>, connect: impl Future<Output = T>) -> Result<T, Arc<str>> {
        if let Some(why) = self.down() {
            return Err(why);
        }
        let mut down = self.down.subscribe();
        let mut connect = std::pin::pin!(connect);
        if let Ok(done) = tokio::time::timeout(PROBE_AFTER, connect.as_mut()).await {
            return Ok(done);
        }
        self.probe_soon();
        tokio::select! {
            biased;
            done = connect => Ok(done),
            why = down.wait_for(Option::is_some) => match why {
                Ok(why) => Err(why.clone().unwrap_or_else(|| Arc::from("unreachable"))),
                // The sender lives in `self`, borrowed here: never closed while this runs.
                Err(_) => Err(Arc::from("unreachable")),
            },
        }
    }

    /// [`guard`](Self::guard) for an operation that fails with `E`: its error goes through
    /// `failed`, and a refusal because the server is down becomes an
    /// [unavailable](StoreError::is_unavailable) error, "`what`: `server` is down: why".
    pub(crate) async fn run<T, E>(
        self: &Arc<Self>,
        what: &str,
        operation: impl Future<Output = Result<T, E>>,
        failed: impl FnOnce(E) -> StoreError,
    ) -> Result<T, StoreError> {
        match self.guard(operation).await {
            Ok(done) => done.map_err(failed),
            Err(why) => Err(StoreError::unavailable(format!("{what}: {} is down: {why}", self.server), None)),
        }
    }

    /// Starts a probe unless one is running or found the server up a moment ago.
    fn probe_soon(self: &Arc<Self>) {
        if self.closed.load(Ordering::Acquire) || self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        tokio::spawn(Self::probing(Arc::downgrade(self)));
    }

    /// Probes until the server is not known down, then holds off the next probe for
    /// [`PROBE_INTERVAL`]. Ends early when the store is dropped or closed.
    async fn probing(reach: Weak<Self>) {
        loop {
            let Some(this) = reach.upgrade() else { return };
            if this.closed.load(Ordering::Acquire) {
                this.probing.store(false, Ordering::Release);
                return;
            }
            let probed = tokio::time::timeout(PROBE_TIMEOUT, (this.probe)()).await.unwrap_or(Probed::Unknown);
            let was_down = this.down().is_some();
            match probed {
                Probed::Up => {
                    if was_down {
                        tracing::info!(server = this.server, "the server is reachable again");
                    }
                    this.down.send_replace(None);
                }
                Probed::Down(why) => {
                    if !was_down {
                        tracing::warn!(
                            server = this.server,
                            error = %why,
                            "the server is unreachable: answering unavailable at once until a probe connects"
                        );
                    }
                    this.down.send_replace(Some(why.into()));
                }
                Probed::Unknown => {}
            }
            let down = this.down().is_some();
            drop(this);
            tokio::time::sleep(PROBE_INTERVAL).await;
            if !down {
                if let Some(this) = reach.upgrade() {
                    this.probing.store(false, Ordering::Release);
                }
                return;
            }
        }
    }

    /// No probe starts from now on (the store is closing).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))] // `DedupStore` has no close
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A probe that answers what the test last set, counting its calls.
    fn scripted() -> (Arc<Reach>, Arc<Mutex<Probed>>, Arc<std::sync::atomic::AtomicUsize>) {
        let answer = Arc::new(Mutex::new(Probed::Up));
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (a, c) = (answer.clone(), calls.clone());
        let reach = Reach::new(
            "test",
            Box::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
                let probed = a.lock().map(|p| p.clone()).unwrap_or(Probed::Unknown);
                Box::pin(async move { probed })
            }),
        );
        (reach, answer, calls)
    }

    #[tokio::test(start_paused = true)]
    async fn a_quick_connection_never_probes() {
        let (reach, _, calls) = scripted();
        assert_eq!(reach.guard(async { 7 }).await, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_pool_keeps_waiting_when_the_probe_connects() {
        let (reach, _, calls) = scripted();
        let slow = async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            7
        };
        assert_eq!(reach.guard(slow).await, Ok(7), "the server is up: the wait is the pool's");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one probe");
        assert!(reach.down().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_probe_fails_the_waiters_and_the_next_operations_at_once() {
        let (reach, answer, calls) = scripted();
        *answer.lock().unwrap() = Probed::Down("connection refused".into());
        let started = tokio::time::Instant::now();
        let never = std::future::pending::<()>();
        assert_eq!(reach.guard(never).await, Err(Arc::from("connection refused")));
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        // Known down: answered before the connection is even tried.
        let at = tokio::time::Instant::now();
        assert!(reach.guard(async { panic!("the pool was tried while the server is down") }).await.is_err());
        assert_eq!(at.elapsed(), Duration::ZERO);
        // Background probes keep trying, one per interval, and the first that connects
        // lets operations through.
        tokio::time::sleep(PROBE_INTERVAL * 4).await;
        let probes = calls.load(Ordering::SeqCst);
        assert!((4..=6).contains(&probes), "{probes} probes in four intervals");
        *answer.lock().unwrap() = Probed::Up;
        tokio::time::sleep(PROBE_INTERVAL * 2).await;
        assert!(reach.down().is_none(), "a probe connected");
        assert_eq!(reach.guard(async { 7 }).await, Ok(7));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unanswered_probe_changes_nothing() {
        let (reach, answer, _) = scripted();
        *answer.lock().unwrap() = Probed::Unknown;
        let slow = async {
            tokio::time::sleep(Duration::from_secs(4)).await;
            7
        };
        assert_eq!(reach.guard(slow).await, Ok(7));
        assert!(reach.down().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_store_starts_no_probe() {
        let (reach, answer, calls) = scripted();
        *answer.lock().unwrap() = Probed::Down("connection refused".into());
        reach.close();
        let slow = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            7
        };
        assert_eq!(reach.guard(slow).await, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }
}
