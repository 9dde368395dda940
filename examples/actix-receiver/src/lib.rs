//! The actix-web receiver: every enabled route is `POST /webhooks/{provider}` handled by
//! the `RawWebhook` extractor, its `Endpoint` (which stores before the 200) in the
//! resource's `app_data`; see `receiver-common` for the contract.

use actix_web::dev::Server;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer};
use receiver_common::{log_accepted, Receiver, ACCEPTED, HEALTHY, METHOD_NOT_ALLOWED, NOT_FOUND};
use webhook_actix::RawWebhook;

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
    let enabled = receiver.enabled.clone();
    let metrics = receiver.metrics.clone();
    move |cfg: &mut web::ServiceConfig| {
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

/// The server for a started receiver on `listener` (run it with `.await`).
pub fn server(listener: std::net::TcpListener, receiver: &Receiver, workers: usize) -> std::io::Result<Server> {
    let routes = configure(receiver);
    Ok(HttpServer::new(move || App::new().wrap_fn(request_id).configure(routes.clone()))
        .workers(workers)
        .disable_signals()
        .listen(listener)?
        .run())
}

/// The whole binary: read the environment, start the pipeline, listen, serve. `main` is
/// this (inside actix's runtime); the process-level tests run it too.
pub async fn run() -> std::process::ExitCode {
    let receiver = match receiver_common::startup().await {
        Ok(r) => r,
        Err(code) => return code,
    };
    let listener = match std::net::TcpListener::bind(receiver.config.addr) {
        Ok(l) => l,
        Err(e) => return receiver_common::cannot_listen(&receiver.config, &e),
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
    receiver_common::finish(receiver, served).await
}
