//! The axum receiver, top to bottom: read the settings, start the pipeline that stores each
//! verified delivery before its 200 and handles it in the background, give each provider
//! route its `Endpoint`, route `POST /webhooks/{provider}` to the `RawWebhook` extractor,
//! and serve within the connection limits until SIGTERM. The settings (the environment
//! contract the three receivers share) are in `receiver-common`.

use std::future::Future;
use std::process::ExitCode;

use axum::extract::ConnectInfo;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use receiver_common::{Config, Enabled, Receiver, ACCEPTED, HEALTHY, METHOD_NOT_ALLOWED, NOT_FOUND};
use tower::ServiceExt;
use webhook_axum::RawWebhook;
use webhook_pipeline::{EventRouter, Pipeline};

/// Starts where deliveries go and gives every configured route its endpoint: the part to
/// copy into your own service.
pub async fn start(config: Config) -> Result<Receiver, String> {
    // The metrics recorder first: the pipeline records from its start.
    let metrics = receiver_common::metrics();
    // Each delivery id is claimed for the dedup TTL (in memory, or Redis with `REDIS_URL`).
    let dedup = receiver_common::open::dedup(&config).await?;
    // `WEBHOOK_SINK`: publish to NATS JetStream or RabbitMQ; the broker's consumers handle.
    let broker = receiver_common::open::broker(&config).await?;
    // Otherwise: store in the event store and handle with this process's workers.
    let pipeline = match &broker {
        Some(_) => None,
        None => {
            let store = receiver_common::open::event_store(&config).await?;
            let handler = receiver_common::handled::handler(&config, &store).await?;
            let builder = Pipeline::builder(store)
                .router(EventRouter::new().catch_all(handler))
                .workers(config.workers)
                .handoff(config.handoff)
                .lease(config.lease)
                .retention(config.retention())
                .map_err(|e| format!("WEBHOOK_RETENTION_DAYS: {e}"))?;
            Some(match config.audit() {
                Some(audit) => builder.audit(audit).start(),
                None => builder.start(),
            })
        }
    };
    let routes = config
        .configured
        .iter()
        .map(|route| {
            let endpoint = config.endpoint(route).with_dedup(dedup.clone());
            let endpoint = match (&pipeline, &broker) {
                (Some(pipeline), _) => pipeline.attach(endpoint),
                (None, Some(broker)) => endpoint.with_sink(broker.clone()),
                (None, None) => endpoint,
            };
            Enabled { route: route.route, endpoint }
        })
        .collect();
    // `WEBHOOK_ADMIN_TOKEN`: the web console at /admin over the event store.
    let console = receiver_common::console(&config, pipeline.as_ref());
    Ok(Receiver::new(config, metrics, routes, pipeline).with_console(console))
}

fn json(status: StatusCode, body: &'static str) -> impl IntoResponse {
    (status, [(header::CONTENT_TYPE, "application/json")], body)
}

/// The webhook handler: it runs only for a verified, new delivery, already stored.
async fn accept(hook: RawWebhook) -> impl IntoResponse {
    receiver_common::log_accepted(&hook.0);
    json(StatusCode::OK, ACCEPTED)
}

/// The router for a started receiver: one route per enabled provider, each with its own
/// endpoint as state, plus `/healthz`, `/metrics`, JSON 404s and 405s.
pub fn app(receiver: &Receiver) -> Router {
    let metrics = receiver.metrics.clone();
    let mut router = Router::new().route("/healthz", get(|| async { json(StatusCode::OK, HEALTHY) })).route(
        "/metrics",
        get(move || {
            std::future::ready(([(header::CONTENT_TYPE, receiver_common::METRICS_CONTENT_TYPE)], metrics.render()))
        }),
    );
    for enabled in &receiver.routes {
        // GET: the provider's endpoint check (X, Dropbox, Okta), else 405.
        let route = post(accept)
            .get(webhook_axum::get_check)
            .with_state(enabled.endpoint.clone())
            .fallback(|| async { json(StatusCode::METHOD_NOT_ALLOWED, METHOD_NOT_ALLOWED) });
        for path in enabled.url_paths() {
            router = router.route(&path, route.clone());
        }
    }
    if let Some(console) = &receiver.console {
        router = router.merge(webhook_console::axum::router(console.clone()));
    }
    router.fallback(|| async { json(StatusCode::NOT_FOUND, NOT_FOUND) }).layer(axum::middleware::from_fn(request_id))
}

/// Every answer carries the request's id in `X-Request-Id`: the caller's, or the one the
/// logs and the audit record were given.
async fn request_id(mut req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let id = receiver_common::ensure_request_id(req.headers_mut());
    let mut res = next.run(req).await;
    res.headers_mut().insert(&receiver_common::REQUEST_ID_HEADER, id);
    res
}

/// Serves `receiver` on `listener` until `stop` resolves, then answers the requests in
/// flight (for at most 30 s). `axum::serve` has no header or idle timeout, so the router is
/// served by hyper directly, within the receiver's connection limits
/// (`receiver_common::conn::serve`), with each connection's peer address in the requests
/// (`ConnectInfo<SocketAddr>`) for the routes' IP allowlists.
pub async fn serve(listener: tokio::net::TcpListener, receiver: &Receiver, stop: impl Future<Output = ()>) {
    let router = app(receiver);
    let config = &receiver.config;
    receiver_common::conn::serve(listener, &config.limits, &config.trusted_proxies, stop, move |mut req, peer| {
        req.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(req.map(axum::body::Body::new))
    })
    .await;
}

/// The whole binary: `main` is this; the process-level tests run it too.
pub async fn run() -> ExitCode {
    let config = match receiver_common::settings() {
        Ok(config) => config,
        Err(code) => return code,
    };
    let receiver = match start(config).await {
        Ok(receiver) => receiver,
        Err(e) => return receiver_common::cannot_start(&e),
    };
    let listener = match tokio::net::TcpListener::bind(receiver.config.addr).await {
        Ok(listener) => listener,
        Err(e) => return receiver_common::cannot_start(&format!("cannot listen on {}: {e}", receiver.config.addr)),
    };
    receiver_common::announce(&receiver.config, "axum-receiver");
    serve(listener, &receiver, receiver_common::shutdown_signal()).await;
    receiver.finish(Ok(())).await
}
