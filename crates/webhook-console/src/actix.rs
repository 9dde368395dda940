//! The console as an actix-web service: `App::new().service(scope(console))`. It forwards
//! the method, path, query, headers and body (read within the console's limit, 413 past
//! it) to [`Console::handle`].

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, Scope};

use crate::{Console, ConsoleRequest};

/// A scope serving `console` at its base path (`/admin` and everything under it).
///
/// ```
/// use std::sync::Arc;
/// use actix_web::App;
/// use webhook_console::{Console, ConsoleConfig};
/// use webhook_pipeline::MemoryStore;
///
/// let console = Console::new(Arc::new(MemoryStore::new()), ConsoleConfig::new("a-long-random-admin-token")?);
/// let app = App::new().service(webhook_console::actix::scope(console));
/// # let _ = app;
/// # Ok::<(), webhook_console::ConfigError>(())
/// ```
pub fn scope(console: Console) -> Scope {
    let limit = console.config().max_body();
    web::scope(console.config().base())
        .app_data(web::PayloadConfig::new(limit))
        .app_data(web::Data::new(console))
        .default_service(web::to(handle))
}

async fn handle(req: HttpRequest, body: web::Bytes, console: web::Data<Console>) -> HttpResponse {
    let query = req.uri().query();
    let mut request = ConsoleRequest::new(req.method().as_str(), req.path(), query);
    for (name, value) in req.headers() {
        request = request.header(name.as_str(), value.as_bytes());
    }
    let answer = console.handle(request.body(body)).await;
    let mut response =
        HttpResponse::build(StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    for (name, value) in answer.headers {
        response.append_header((name, value));
    }
    response.body(answer.body)
}
