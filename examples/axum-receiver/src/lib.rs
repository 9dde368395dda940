//! The axum receiver: every enabled route is `POST /webhooks/{provider}` handled by the
//! `RawWebhook` extractor, whose endpoint stores the delivery before the 200; see
//! `receiver-common` for the contract.

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use receiver_common::{log_accepted, Receiver, ACCEPTED, HEALTHY, METHOD_NOT_ALLOWED, NOT_FOUND};
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

/// Like [`serve`], until `stop` resolves; then no new connection is accepted and the
/// requests in flight are answered before this returns.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    receiver: &Receiver,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(receiver).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(stop)
        .await
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
