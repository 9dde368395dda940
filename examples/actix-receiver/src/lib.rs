//! The actix-web receiver, top to bottom: read the settings, start the pipeline that
//! stores each verified delivery before its 200 and handles it in the background, give
//! each provider route its `Endpoint` (in the resource's `app_data`), route
//! `POST /webhooks/{provider}` to the `RawWebhook` extractor, and serve within the
//! connection limits until SIGTERM. The settings (the environment contract the three
//! receivers share) are in `receiver-common`.

use std::process::ExitCode;

use actix_web::dev::Server;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer};
use receiver_common::{log_accepted, Config, Enabled, Receiver, ACCEPTED, HEALTHY, METHOD_NOT_ALLOWED, NOT_FOUND};
use webhook_actix::RawWebhook;
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

fn json(status: StatusCode, body: &'static str) -> HttpResponse {
    HttpResponse::build(status).content_type("application/json").body(body)
}

async fn accept(hook: RawWebhook) -> HttpResponse {
    log_accepted(&hook.0);
    json(StatusCode::OK, ACCEPTED)
}

/// Every answer carries the request's id in `X-Request-Id`: the caller's when the core uses
/// it, else a new one, written into the request first so the logs and the audit record
/// carry the same.
fn request_id<S>(
    mut req: actix_web::dev::ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<actix_web::dev::ServiceResponse, actix_web::Error>>
where
    S: actix_web::dev::Service<
        actix_web::dev::ServiceRequest,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
{
    use actix_web::http::header::{HeaderName, HeaderValue};
    let name = HeaderName::from_static(receiver_common::REQUEST_ID);
    let (id, new) = receiver_common::request_id_from(req.headers().get(&name).map(HeaderValue::as_bytes));
    let id = HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("-"));
    if new {
        req.headers_mut().insert(name.clone(), id.clone());
    }
    let answer = srv.call(req);
    async move {
        let mut res = answer.await?;
        res.headers_mut().insert(name, id);
        Ok(res)
    }
}

/// Adds a started receiver's routes to an actix `ServiceConfig`.
pub fn configure(receiver: &Receiver) -> impl Fn(&mut web::ServiceConfig) + Clone {
    let enabled = receiver.routes.clone();
    let metrics = receiver.metrics.clone();
    let console = receiver.console.clone();
    move |cfg: &mut web::ServiceConfig| {
        if let Some(console) = &console {
            cfg.service(webhook_console::actix::scope(console.clone()));
        }
        cfg.route("/healthz", web::get().to(|| async { json(StatusCode::OK, HEALTHY) }));
        let metrics = metrics.clone();
        cfg.route(
            "/metrics",
            web::get().to(move || {
                let body = metrics.render();
                async move { HttpResponse::Ok().content_type(receiver_common::METRICS_CONTENT_TYPE).body(body) }
            }),
        );
        for e in &enabled {
            cfg.service(
                web::resource(e.url_paths())
                    .app_data(e.endpoint.clone())
                    .route(web::post().to(accept))
                    // The provider's endpoint check (X, Dropbox, Okta), else 405.
                    .route(web::get().to(webhook_actix::get_check))
                    .default_service(web::to(|| async { json(StatusCode::METHOD_NOT_ALLOWED, METHOD_NOT_ALLOWED) })),
            );
        }
        cfg.default_service(web::to(|| async { json(StatusCode::NOT_FOUND, NOT_FOUND) }));
    }
}

/// Counts a connection in `webhook_connections_open` while actix holds it.
struct OpenConnection;

impl OpenConnection {
    fn new() -> Self {
        metrics::gauge!("webhook_connections_open").increment(1.0);
        Self
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("webhook_connections_open").decrement(1.0);
    }
}

/// The server for a started receiver on `listener` (run it with `.await`), within the
/// receiver's [`ConnectionLimits`](webhook_core::limits::ConnectionLimits), applied with
/// actix's own settings: `client_request_timeout` (headers; actix answers 408 and closes),
/// `keep_alive` (idle), and `max_connections`, which actix counts per worker (the cap is
/// shared out, rounded up; past it, new connections wait in the backlog). The body timeout
/// is the extractor's.
pub fn server(listener: std::net::TcpListener, receiver: &Receiver, workers: usize) -> std::io::Result<Server> {
    let routes = configure(receiver);
    let limits = &receiver.config.limits;
    let workers = workers.max(1);
    Ok(HttpServer::new(move || App::new().wrap_fn(request_id).configure(routes.clone()))
        .workers(workers)
        .client_request_timeout(limits.header_timeout)
        .keep_alive(limits.idle_timeout)
        .client_disconnect_timeout(std::time::Duration::from_secs(1))
        .max_connections(limits.max_connections.div_ceil(workers))
        .on_connect(|_, extensions| {
            extensions.insert(OpenConnection::new());
        })
        .disable_signals()
        .listen(listener)?
        .run())
}

/// The whole binary: `main` is this (inside actix's runtime); the process-level tests run
/// it too.
pub async fn run() -> ExitCode {
    let config = match receiver_common::settings() {
        Ok(config) => config,
        Err(code) => return code,
    };
    let receiver = match start(config).await {
        Ok(receiver) => receiver,
        Err(e) => return receiver_common::cannot_start(&e),
    };
    let listener = match std::net::TcpListener::bind(receiver.config.addr) {
        Ok(listener) => listener,
        Err(e) => return receiver_common::cannot_start(&format!("cannot listen on {}: {e}", receiver.config.addr)),
    };
    receiver_common::announce(&receiver.config, "actix-receiver");
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let served = match server(listener, &receiver, workers) {
        Ok(server) => {
            // actix's own signal handling is off (`disable_signals`): this one stops the
            // server gracefully, then the workers settle their events.
            let handle = server.handle();
            actix_web::rt::spawn(async move {
                receiver_common::shutdown_signal().await;
                handle.stop(true).await;
            });
            server.await
        }
        Err(e) => Err(e),
    };
    receiver.finish(served).await
}
