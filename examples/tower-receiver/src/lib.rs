//! The tower receiver: a bare hyper 1 server whose webhook routes are the
//! [`WebhookLayer`] around a service that only logs and acknowledges; see
//! `receiver-common` for the contract.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::PrometheusHandle;
use receiver_common::{log_accepted, Receiver, ACCEPTED, HEALTHY, METHOD_NOT_ALLOWED, NOT_FOUND};
use tower::util::BoxCloneSyncService;
use tower::{service_fn, Layer, ServiceExt};
use webhook_core::Verified;
use webhook_tower::{PeerAddr, WebhookBody, WebhookLayer};

type Body = BoxBody<Bytes, Infallible>;
type Service = BoxCloneSyncService<Request<Incoming>, Response<WebhookBody<Full<Bytes>>>, Infallible>;

/// A webhook route: the layered service for `POST`, the endpoint for `GET` checks.
#[derive(Clone)]
struct Route {
    service: Service,
    endpoint: webhook_core::receive::Endpoint,
}

fn json(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    res
}

/// The core's answer for `outcome`, as a response.
fn outcome_response(outcome: &webhook_core::receive::Outcome) -> Response<Body> {
    let mut res = Response::new(Full::new(outcome.body()).map_err(|never| match never {}).boxed());
    *res.status_mut() = outcome.status();
    if let Some(ct) = outcome.content_type() {
        res.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(ct));
    }
    res
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
}

impl Routes {
    /// The routes of a started receiver.
    pub fn new(receiver: &Receiver) -> Self {
        let webhooks = receiver
            .enabled
            .iter()
            .flat_map(|e| {
                let service = BoxCloneSyncService::new(WebhookLayer::new(e.endpoint.clone()).layer(service_fn(accept)));
                let route = Route { service, endpoint: e.endpoint.clone() };
                e.url_paths().into_iter().map(move |path| (path, route.clone()))
            })
            .collect();
        Self { webhooks: Arc::new(webhooks), metrics: receiver.metrics.clone() }
    }

    /// Answers one request, with its id in `X-Request-Id` (the caller's, or the one the logs
    /// and the audit record were given).
    pub async fn call(&self, mut req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        let id = receiver_common::ensure_request_id(req.headers_mut());
        let mut res = self.route(req).await?;
        res.headers_mut().insert(receiver_common::REQUEST_ID, id);
        Ok(res)
    }

    async fn route(&self, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        let path = req.uri().path();
        match self.webhooks.get(path) {
            Some(route) if req.method() == Method::POST => {
                let res = route.service.clone().oneshot(req).await?;
                Ok(res.map(BodyExt::boxed))
            }
            // The provider's endpoint check (X, Dropbox, Okta), after the allowlist.
            Some(route) if req.method() == Method::GET => {
                let peer = req.extensions().get::<PeerAddr>().map(|p| p.0.ip());
                let endpoint = &route.endpoint;
                let checked = endpoint.admit(peer, req.headers()).or_else(|| {
                    endpoint.answer_get(req.uri().query().unwrap_or(""), req.headers(), std::time::SystemTime::now())
                });
                Ok(match checked {
                    Some(outcome) => outcome_response(&outcome),
                    None => json(StatusCode::METHOD_NOT_ALLOWED, METHOD_NOT_ALLOWED).map(BodyExt::boxed),
                })
            }
            Some(_) => Ok(json(StatusCode::METHOD_NOT_ALLOWED, METHOD_NOT_ALLOWED).map(BodyExt::boxed)),
            None if path == "/metrics" && req.method() == Method::GET => {
                let mut res = Response::new(Full::new(Bytes::from(self.metrics.render())));
                res.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static(receiver_common::METRICS_CONTENT_TYPE),
                );
                Ok(res.map(BodyExt::boxed))
            }
            None if path == "/healthz" && req.method() == Method::GET => {
                Ok(json(StatusCode::OK, HEALTHY).map(BodyExt::boxed))
            }
            None => Ok(json(StatusCode::NOT_FOUND, NOT_FOUND).map(BodyExt::boxed)),
        }
    }
}

/// Serves `receiver` on `listener` until the process ends, one task per connection. Each
/// request carries its connection's [`PeerAddr`], which the routes' IP allowlists
/// (`<PROVIDER>_WEBHOOK_ALLOW_IPS`) are checked against.
pub async fn serve(listener: tokio::net::TcpListener, receiver: &Receiver) -> std::io::Result<()> {
    serve_until(listener, receiver, std::future::pending()).await
}

/// How long a graceful stop waits for the connections in flight.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(30);

/// Like [`serve`], until `stop` resolves; then no new connection is accepted, idle
/// connections are closed, and the requests in flight are answered (for at most 30 s)
/// before this returns.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    receiver: &Receiver,
    stop: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let routes = Routes::new(receiver);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut stop => break,
        };
        let routes = routes.clone();
        let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(PeerAddr(peer));
            let routes = routes.clone();
            async move { routes.call(req).await }
        });
        let connection = graceful.watch(http1::Builder::new().serve_connection(TokioIo::new(stream), svc));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
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
    receiver_common::announce(&receiver.config, "tower-receiver");
    let served = serve_until(listener, &receiver, receiver_common::shutdown_signal()).await;
    receiver_common::finish(receiver, served).await
}
