//! The console as an axum [`Router`]: merge it into an app (`app.merge(router(console))`).
//! It serves the console's base path and everything under it; the rest of the app is
//! untouched. It also is a tower `Service`, for a server built on tower alone.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

use crate::{Console, ConsoleRequest, ConsoleResponse};

/// A router serving `console` at its base path (`/admin` and `/admin/...`), for any state
/// type the app's router has.
///
/// ```
/// use std::sync::Arc;
/// use axum::{routing::get, Router};
/// use webhook_console::{Console, ConsoleConfig};
/// use webhook_pipeline::MemoryStore;
///
/// let console = Console::new(Arc::new(MemoryStore::new()), ConsoleConfig::new("a-long-random-admin-token")?);
/// let app: Router = Router::new()
///     .route("/health", get(|| async { "ok" }))
///     .merge(webhook_console::axum::router(console));
/// # Ok::<(), webhook_console::ConfigError>(())
/// ```
pub fn router<S: Clone + Send + Sync + 'static>(console: Console) -> Router<S> {
    let base = console.config().base().to_owned();
    Router::new()
        .route(&base, any(handle))
        .route(&format!("{base}/"), any(handle))
        .route(&format!("{base}/{{*rest}}"), any(handle))
        .with_state(console)
}

async fn handle(State(console): State<Console>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    // Read within the limit; a body past it is 413 before the console sees the request.
    let Ok(body) = axum::body::to_bytes(body, console.config().max_body()).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response();
    };
    let mut request = ConsoleRequest::new(parts.method.as_str(), parts.uri.path(), parts.uri.query());
    for (name, value) in &parts.headers {
        request = request.header(name.as_str(), value.as_bytes());
    }
    into_response(console.handle(request.body(body)).await)
}

fn into_response(answer: ConsoleResponse) -> Response {
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in answer.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(name, value);
        }
    }
    response
}
