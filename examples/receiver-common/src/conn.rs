//! The connection limits of the receivers that run their own accept loop (axum's and
//! tower's, both on hyper): the cap on concurrent connections, an accept loop that
//! survives `EMFILE`, and one watchdog per connection for the header and idle timeouts.
//!
//! hyper 1's own `header_read_timeout` also runs while a kept-alive connection waits for
//! its next request, so it cannot give idle connections a longer time than slow headers;
//! the watchdog tells the two apart by whether a byte of the next request has arrived.
//! (The actix receiver uses actix's own settings: `client_request_timeout`, `keep_alive`,
//! `max_connections`.)

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use webhook_core::ip::TrustedProxies;
use webhook_core::limits::ConnectionLimits;

/// How long a graceful stop waits for the connections in flight.
pub const DRAIN: Duration = Duration::from_secs(30);

/// The accept loop of the receivers on hyper (axum's and tower's): each connection is
/// served over HTTP/1.1 by `handle` (given the request and the connection's peer address,
/// which the routes' allowlists are checked against), within `limits`: at most
/// `max_connections` at once (more wait in the backlog), and closed when its headers take
/// longer than the header timeout or it sits idle longer than the idle timeout. The body
/// timeout is the extractor's.
///
/// When `stop` resolves, no new connection is accepted, idle connections are closed, and
/// the requests in flight are answered (for at most [`DRAIN`]) before this returns.
pub async fn serve<H, F, B>(
    listener: TcpListener,
    limits: &ConnectionLimits,
    trusted: &TrustedProxies,
    stop: impl Future<Output = ()>,
    handle: H,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connections = Connections::new(limits, trusted);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        // Accept errors pause the loop, never end it.
        let (stream, peer, slot) = tokio::select! {
            accepted = connections.accept(&listener) => accepted,
            () = &mut stop => break,
        };
        let activity = Activity::default();
        let (handle, busy) = (handle.clone(), activity.clone());
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let (answer, busy) = (handle(req, peer), busy.busy());
            async move {
                let res = answer.await;
                drop(busy);
                res
            }
        });
        // hyper's own header timer also runs between requests; the watchdog times both.
        let connection = http1::Builder::new()
            .header_read_timeout(None)
            .serve_connection(TokioIo::new(Tracked::new(stream, activity.clone())), service);
        let connection = graceful.watch(connection);
        let limits = limits.clone();
        tokio::spawn(async move {
            serve_watched(connection, &activity, &limits).await;
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after {} s; stopping anyway", DRAIN.as_secs());
    }
}

/// How long the accept loop pauses after an accept error that is about resources
/// (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`): the connections in flight finish and free
/// descriptors meanwhile.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The cap on concurrent connections (and, optionally, per client address), and the
/// accept loop that keeps it.
#[derive(Debug, Clone)]
pub struct Connections {
    permits: Arc<Semaphore>,
    per_client: Option<PerClient>,
}

/// Connections held per peer address (entries removed at zero: at most one per held
/// connection).
#[derive(Debug, Clone)]
struct PerClient {
    cap: usize,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
    exempt: TrustedProxies,
}

impl Connections {
    /// A cap of `limits.max_connections`, and of `limits.max_connections_per_client` per
    /// peer address except the `trusted` proxies' (their clients are known only from the
    /// headers, after the connection is accepted).
    pub fn new(limits: &ConnectionLimits, trusted: &TrustedProxies) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limits.max_connections.clamp(1, Semaphore::MAX_PERMITS))),
            per_client: limits.max_connections_per_client.map(|cap| PerClient {
                cap,
                held: Arc::default(),
                exempt: trusted.clone(),
            }),
        }
    }

    /// Waits for a free slot under the cap (meanwhile new connections wait in the listen
    /// backlog, and the ones in flight keep being served), then accepts one connection.
    /// Accept errors never end the loop: a lack of descriptors or memory pauses it for
    /// [`ACCEPT_BACKOFF`], an aborted handshake is skipped. A connection from an address
    /// already at its per-client cap is closed at once and counted in
    /// `webhook_connections_refused_total{reason="per_client"}`.
    pub async fn accept(&self, listener: &TcpListener) -> (TcpStream, SocketAddr, Slot) {
        // The semaphore is never closed; if it were, serving without the cap beats
        // stopping.
        let permit = self.permits.clone().acquire_owned().await.ok();
        loop {
            let (stream, peer) = accept_one(listener).await;
            match self.admit(peer.ip()) {
                Some(client) => return (stream, peer, Slot::new(permit, client)),
                None => {
                    metrics::counter!("webhook_connections_refused_total", "reason" => "per_client").increment(1);
                    tracing::debug!(%peer, "connection closed: the client is at its connection cap");
                    drop(stream);
                }
            }
        }
    }

    /// `None` when `ip` is at its cap; else its share to hold (`Some(None)`: not counted).
    fn admit(&self, ip: IpAddr) -> Option<Option<ClientShare>> {
        let Some(per) = self.per_client.as_ref().filter(|p| !p.exempt.contains(ip)) else {
            return Some(None);
        };
        let mut held = per.held.lock().unwrap_or_else(PoisonError::into_inner);
        let n = held.entry(ip).or_insert(0);
        if *n >= per.cap {
            return None;
        }
        *n += 1;
        Some(Some(ClientShare { ip, held: per.held.clone() }))
    }

    /// Connections the address holds now (0 when there is no per-client cap).
    pub fn held_by(&self, ip: IpAddr) -> usize {
        self.per_client
            .as_ref()
            .and_then(|p| p.held.lock().unwrap_or_else(PoisonError::into_inner).get(&ip).copied())
            .unwrap_or(0)
    }

    /// Connections that could be accepted now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

async fn accept_one(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) if is_resource_error(&e) => {
                metrics::counter!("webhook_accept_errors_total", "kind" => "resources").increment(1);
                tracing::warn!(error = %e, "cannot accept a connection; pausing {} ms", ACCEPT_BACKOFF.as_millis());
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
            Err(e) => {
                metrics::counter!("webhook_accept_errors_total", "kind" => "connection").increment(1);
                tracing::debug!(error = %e, "a connection failed while being accepted");
                // One failed handshake; a pause this short keeps an error that repeats from
                // spinning the loop.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

/// Out of descriptors (`EMFILE` 24, `ENFILE` 23) or memory (`ENOBUFS` 105, `ENOMEM` 12).
fn is_resource_error(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24 | 105 | 12)) || e.kind() == std::io::ErrorKind::OutOfMemory
}

/// A connection's place under the cap, counted in `webhook_connections_open`; freed when
/// dropped.
#[derive(Debug)]
pub struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
    _client: Option<ClientShare>,
}

impl Slot {
    fn new(permit: Option<OwnedSemaphorePermit>, client: Option<ClientShare>) -> Self {
        metrics::gauge!("webhook_connections_open").increment(1.0);
        Self { _permit: permit, _client: client }
    }
}

/// One connection of a capped client address; given back when dropped.
#[derive(Debug)]
struct ClientShare {
    ip: IpAddr,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for ClientShare {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        metrics::gauge!("webhook_connections_open").decrement(1.0);
    }
}

/// Where a connection stands, for the watchdog.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Reading a request's headers since then (from the accept, or from the first byte
    /// after the previous response).
    Head(Instant),
    /// Requests being answered: the body timeout is the adapter's, the rest the handler's.
    Busy(usize),
    /// Kept alive, with no byte of a next request, since then.
    Idle(Instant),
}

/// A connection's activity: its bytes (through [`Tracked`]) and its requests (through
/// [`Activity::busy`]).
#[derive(Debug, Clone)]
pub struct Activity(Arc<Mutex<Phase>>);

impl Default for Activity {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(Phase::Head(Instant::now()))))
    }
}

impl Activity {
    fn update(&self, f: impl FnOnce(&mut Phase)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Marks a request as being answered until the guard is dropped (hold it in the
    /// service's future).
    pub fn busy(&self) -> Busy {
        self.update(|p| {
            *p = match *p {
                Phase::Busy(n) => Phase::Busy(n + 1),
                _ => Phase::Busy(1),
            }
        });
        Busy(self.clone())
    }

    fn read_some(&self) {
        self.update(|p| {
            if let Phase::Idle(_) = p {
                *p = Phase::Head(Instant::now());
            }
        });
    }

    /// Resolves with the kind of timeout (`header` or `idle`) once the connection has
    /// spent longer than `limits` allow reading headers or sitting idle.
    pub async fn expired(&self, limits: &ConnectionLimits) -> &'static str {
        let recheck = limits.header_timeout.min(limits.idle_timeout).max(Duration::from_millis(50));
        loop {
            let phase = *self.0.lock().unwrap_or_else(PoisonError::into_inner);
            let (deadline, kind) = match phase {
                Phase::Head(since) => (since + limits.header_timeout, Some("header")),
                Phase::Idle(since) => (since + limits.idle_timeout, Some("idle")),
                Phase::Busy(_) => (Instant::now() + recheck, None),
            };
            if let Some(kind) = kind {
                if Instant::now() >= deadline {
                    return kind;
                }
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// A request being answered: see [`Activity::busy`].
#[derive(Debug)]
pub struct Busy(Activity);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.update(|p| {
            *p = match *p {
                Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
                _ => Phase::Idle(Instant::now()),
            }
        });
    }
}

/// Serves `connection` until it ends, or until its [`Activity`] outlasts the header or
/// idle timeout: then it is dropped (the socket closes), counted in
/// `webhook_timeouts_total{kind}`.
pub async fn serve_watched<E: std::fmt::Display>(
    connection: impl std::future::Future<Output = Result<(), E>>,
    activity: &Activity,
    limits: &ConnectionLimits,
) {
    tokio::select! {
        ended = connection => {
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        kind = activity.expired(limits) => {
            metrics::counter!("webhook_timeouts_total", "kind" => kind).increment(1);
            tracing::debug!(kind, "connection closed: timeout");
        }
    }
}

/// A stream whose reads tell its [`Activity`] that a request is arriving.
#[derive(Debug)]
pub struct Tracked<IO> {
    io: IO,
    activity: Activity,
}

impl<IO> Tracked<IO> {
    /// Wraps `io`.
    pub fn new(io: IO, activity: Activity) -> Self {
        Self { io, activity }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Tracked<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read_some();
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Tracked<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_tells_slow_headers_from_idle_connections() {
        let limits =
            ConnectionLimits::default().header_timeout(Duration::from_secs(2)).idle_timeout(Duration::from_secs(5));
        let activity = Activity::default();
        let t = tokio::time::Instant::now();
        assert_eq!(activity.expired(&limits).await, "header");
        assert!(t.elapsed() >= Duration::from_secs(2) && t.elapsed() < Duration::from_secs(3));

        // A request answered, then nothing: idle.
        drop(activity.busy());
        let t = tokio::time::Instant::now();
        assert_eq!(activity.expired(&limits).await, "idle");
        assert!(t.elapsed() >= Duration::from_secs(5) && t.elapsed() < Duration::from_secs(6));

        // A request in flight is never timed out by the watchdog.
        let busy = activity.busy();
        let waited = tokio::time::timeout(Duration::from_secs(30), activity.expired(&limits)).await;
        assert!(waited.is_err());
        drop(busy);
        // A byte of the next request: the header timeout runs from it.
        activity.read_some();
        let t = tokio::time::Instant::now();
        assert_eq!(activity.expired(&limits).await, "header");
        assert!(t.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn a_client_at_its_cap_is_refused_and_gets_its_place_back_when_a_connection_ends() {
        let limits = ConnectionLimits::default().max_connections(10).max_connections_per_client(Some(2));
        let trusted = TrustedProxies::parse_csv("10.0.0.0/8").unwrap();
        let c = Connections::new(&limits, &trusted);
        let (client, other, proxy) =
            ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap(), "10.1.1.1".parse().unwrap());
        let (a, b) = (c.admit(client).unwrap(), c.admit(client).unwrap());
        assert!(c.admit(client).is_none(), "the third connection is refused");
        assert!(c.admit(other).is_some_and(|s| s.is_some()), "another client is not");
        let proxied: Vec<_> = (0..5).map(|_| c.admit(proxy).unwrap()).collect();
        assert!(proxied.iter().all(Option::is_none), "a trusted proxy is not capped");
        assert_eq!(c.held_by(client), 2);
        drop(a);
        assert_eq!(c.held_by(client), 1);
        assert!(c.admit(client).is_some());
        drop(b);
        // No cap configured: nothing is counted.
        let open = Connections::new(&ConnectionLimits::default(), &TrustedProxies::none());
        assert!(open.admit(client).is_some_and(|s| s.is_none()));
    }

    #[test]
    fn resource_errors_are_told_apart() {
        assert!(is_resource_error(&std::io::Error::from_raw_os_error(24)));
        assert!(!is_resource_error(&std::io::Error::from(std::io::ErrorKind::ConnectionAborted)));
    }
}
