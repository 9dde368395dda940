//! The axum receiver: every enabled route is `POST /webhooks/{provider}` handled by the
//! `RawWebhook` extractor, whose endpoint stores the delivery before the 200; see
//! `receiver-common` for the contract.

use axum::extract::ConnectInfo;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use receiver_common::conn::{serve_watched, Activity, Connections, Tracked};
use receiver_common::{log_accepted, Receiver, ACCEPTED, HEALTHY, METHOD_NOT_ALLOWED, NOT_FOUND};
use tower::ServiceExt;
use webhook_axum::RawWebhook;

fn json(status: StatusCode, body: &'static str) -> impl IntoResponse {
    (status, [(header::CONTENT_TYPE, "application/json")], body)
}

async fn accept(hook: RawWebhook) -> impl IntoResponse {
    log_accepted(&hook.0);
    json(StatusCode::OK, ACCEPTED)
}

/// The router for a started receiver: one route per enabled provider, each with its own
/// endpoint as state, plus `/healthz`, `/metrics`, JSON 404s and 405s.
pub fn app(receiver: &Receiver) -> Router {
    let metrics = receiver.metrics.clone();
    let mut router = Router::new().route("/healthz", get(|| async { json(StatusCode::OK, HEALTHY) })).route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move { ([(header::CONTENT_TYPE, receiver_common::METRICS_CONTENT_TYPE)], metrics.render()) }
        }),
    );
    for enabled in &receiver.enabled {
        // GET: the provider's endpoint check (X, Dropbox, Okta), else 405.
        let route = post(accept)
            .get(webhook_axum::get_check)
            .with_state(enabled.endpoint.clone())
            .fallback(|| async { json(StatusCode::METHOD_NOT_ALLOWED, METHOD_NOT_ALLOWED) });
        for path in enabled.url_paths() {
            router = router.route(&path, route.clone());
        }
    }
    router.fallback(|| async { json(StatusCode::NOT_FOUND, NOT_FOUND) }).layer(axum::middleware::from_fn(request_id))
}

/// Every answer carries the request's id in `X-Request-Id`: the caller's, or the one the
/// logs and the audit record were given.
async fn request_id(mut req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let id = receiver_common::ensure_request_id(req.headers_mut());
    let mut res = next.run(req).await;
    res.headers_mut().insert(receiver_common::REQUEST_ID, id);
    res
}

/// Serves `receiver` on `listener` until the process ends, with each connection's peer
/// address in the requests (`ConnectInfo<SocketAddr>`), which the routes' IP allowlists
/// (`<PROVIDER>_WEBHOOK_ALLOW_IPS`) are checked against.
pub async fn serve(listener: tokio::net::TcpListener, receiver: &Receiver) -> std::io::Result<()> {
    serve_until(listener, receiver, std::future::pending()).await
}

/// How long a graceful stop waits for the connections in flight.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(30);

/// Like [`serve`], until `stop` resolves; then no new connection is accepted, idle
/// connections are closed, and the requests in flight are answered (for at most 30 s)
/// before this returns.
///
/// `axum::serve` has no header or idle timeout, so the router is served by hyper directly,
/// within the receiver's [`ConnectionLimits`](webhook_core::limits::ConnectionLimits): at
/// most `WEBHOOK_MAX_CONNECTIONS` connections (more wait in the backlog), each closed when
/// its headers take longer than `WEBHOOK_HEADER_TIMEOUT_SECS` or it sits idle longer than
/// `WEBHOOK_IDLE_TIMEOUT_SECS` (see `receiver_common::conn`). The body timeout is the
/// extractor's.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    receiver: &Receiver,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = app(receiver);
    let limits = receiver.config.limits.clone();
    let connections = Connections::new(&limits, &receiver.config.trusted_proxies);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, peer, slot) = tokio::select! {
            accepted = connections.accept(&listener) => accepted,
            () = &mut stop => break,
        };
        let activity = Activity::default();
        let (router, busy) = (router.clone(), activity.clone());
        let svc = hyper::service::service_fn(move |mut req: axum::extract::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let (router, busy) = (router.clone(), busy.busy());
            async move {
                let res = router.oneshot(req).await;
                drop(busy);
                res
            }
        });
        // hyper's own header timer also runs between requests; the watchdog times both.
        let connection = http1::Builder::new()
            .header_read_timeout(None)
            .serve_connection(TokioIo::new(Tracked::new(stream, activity.clone())), svc);
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
    Ok(())
}

/// The whole binary: read the environment, start the pipeline, listen, serve. `main` is
/// this; the process-level tests run it too.
pub async fn run() -> std::process::ExitCode {
    let receiver = match receiver_common::startup().await {
        Ok(r) => r,
        Err(code) => return code,
    };
    let listener = match tokio::net::TcpListener::bind(receiver.config.addr).await {
        Ok(l) => l,
        Err(e) => return receiver_common::cannot_listen(&receiver.config, &e),
    };
    receiver_common::announce(&receiver.config, "axum-receiver");
    let served = serve_until(listener, &receiver, receiver_common::shutdown_signal()).await;
    receiver_common::finish(receiver, served).await
}
