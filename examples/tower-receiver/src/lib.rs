//! The tower receiver, top to bottom: read the settings, start the pipeline that stores
//! each verified delivery before its 200 and handles it in the background, give each
//! provider route its `Endpoint`, put the [`WebhookLayer`] around a service that only logs
//! and acknowledges, route by path on a bare hyper 1 server, and serve within the
//! connection limits until SIGTERM. The settings (the environment contract the three
//! receivers share) are in `receiver-common`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use metrics_exporter_prometheus::PrometheusHandle;
use receiver_common::{log_accepted, Config, Enabled, Receiver, ACCEPTED, HEALTHY, METHOD_NOT_ALLOWED, NOT_FOUND};
use tower::util::BoxCloneSyncService;
use tower::{service_fn, Layer, ServiceExt};
use webhook_core::Verified;
use webhook_pipeline::{EventRouter, Pipeline};
use webhook_tower::{PeerAddr, WebhookBody, WebhookLayer};

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

type Body = BoxBody<Bytes, Infallible>;
type Service = BoxCloneSyncService<Request<Incoming>, Response<WebhookBody<Full<Bytes>>>, Infallible>;

/// A webhook route: the layered service for `POST`, the endpoint for `GET` checks.
#[derive(Clone)]
struct Route {
    service: Service,
    endpoint: webhook_core::receive::Endpoint,
}

fn response(status: StatusCode, content_type: Option<&'static str>, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body.into()));
    *res.status_mut() = status;
    if let Some(ct) = content_type {
        res.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(ct));
    }
    res
}

fn json(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    response(status, Some("application/json"), body)
}

/// The inner service: it runs only for verified, new deliveries.
async fn accept(req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    if let Some(delivery) = req.extensions().get::<Verified>() {
        log_accepted(delivery);
    }
    Ok(json(StatusCode::OK, ACCEPTED))
}

/// The receiver's routes: path → the layered service.
#[derive(Clone)]
pub struct Routes {
    webhooks: Arc<HashMap<String, Route>>,
    metrics: PrometheusHandle,
    /// The web console (`WEBHOOK_ADMIN_TOKEN`): its axum router, served as a tower service
    /// for `/admin` and everything under it.
    console: Option<axum::Router>,
}

impl Routes {
    /// The routes of a started receiver.
    pub fn new(receiver: &Receiver) -> Self {
        let webhooks = receiver
            .routes
            .iter()
            .flat_map(|e| {
                let service = BoxCloneSyncService::new(WebhookLayer::new(e.endpoint.clone()).layer(service_fn(accept)));
                let route = Route { service, endpoint: e.endpoint.clone() };
                e.url_paths().into_iter().map(move |path| (path, route.clone()))
            })
            .collect();
        let console = receiver.console.clone().map(webhook_console::axum::router);
        Self { webhooks: Arc::new(webhooks), metrics: receiver.metrics.clone(), console }
    }

    /// Answers one request, with its id in `X-Request-Id` (the caller's, or the one the logs
    /// and the audit record were given).
    pub async fn call(&self, mut req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        let id = receiver_common::ensure_request_id(req.headers_mut());
        let mut res = self.route(req).await?;
        res.headers_mut().insert(&receiver_common::REQUEST_ID_HEADER, id);
        Ok(res)
    }

    async fn route(&self, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        let path = req.uri().path();
        if let Some(console) = &self.console {
            if path == "/admin" || path.starts_with("/admin/") {
                return Ok(admin(console.clone(), req).await);
            }
        }
        let res = match (self.webhooks.get(path), req.method()) {
            (Some(route), &Method::POST) => return Ok(route.service.clone().oneshot(req).await?.map(BodyExt::boxed)),
            // The provider's endpoint check (X, Dropbox, Okta), after the allowlist.
            (Some(route), &Method::GET) => {
                let peer = req.extensions().get::<PeerAddr>().map(|p| p.0.ip());
                let endpoint = &route.endpoint;
                let checked = endpoint.admit(peer, req.headers()).or_else(|| {
                    endpoint.answer_get(req.uri().query().unwrap_or(""), req.headers(), std::time::SystemTime::now())
                });
                match checked {
                    Some(outcome) => response(outcome.status(), outcome.content_type(), outcome.body()),
                    None => json(StatusCode::METHOD_NOT_ALLOWED, METHOD_NOT_ALLOWED),
                }
            }
            (Some(_), _) => json(StatusCode::METHOD_NOT_ALLOWED, METHOD_NOT_ALLOWED),
            (None, &Method::GET) if path == "/metrics" => {
                response(StatusCode::OK, Some(receiver_common::METRICS_CONTENT_TYPE), self.metrics.render())
            }
            (None, &Method::GET) if path == "/healthz" => json(StatusCode::OK, HEALTHY),
            (None, _) => json(StatusCode::NOT_FOUND, NOT_FOUND),
        };
        Ok(res.map(BodyExt::boxed))
    }
}

/// The console's answer to `req` (its router as a tower service); its pages are whole in
/// memory already, so the body is collected into this server's body type.
async fn admin(console: axum::Router, req: Request<Incoming>) -> Response<Body> {
    let Ok(res) = console.oneshot(req.map(axum::body::Body::new)).await;
    let (parts, body) = res.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => Response::from_parts(parts, Full::new(bytes).boxed()),
        Err(_) => json(StatusCode::INTERNAL_SERVER_ERROR, r#"{"error":"console"}"#).map(BodyExt::boxed),
    }
}

/// Serves `receiver` on `listener` until `stop` resolves, then answers the requests in
/// flight (for at most 30 s): one task per connection, within the receiver's connection
/// limits (`receiver_common::conn::serve`). Each request carries its connection's
/// [`PeerAddr`], which the routes' IP allowlists are checked against.
pub async fn serve(listener: tokio::net::TcpListener, receiver: &Receiver, stop: impl Future<Output = ()>) {
    let routes = Routes::new(receiver);
    let config = &receiver.config;
    receiver_common::conn::serve(listener, &config.limits, &config.trusted_proxies, stop, move |mut req, peer| {
        req.extensions_mut().insert(PeerAddr(peer));
        let routes = routes.clone();
        async move { routes.call(req).await }
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
    receiver_common::announce(&receiver.config, "tower-receiver");
    serve(listener, &receiver, receiver_common::shutdown_signal()).await;
    receiver.finish(Ok(())).await
}
