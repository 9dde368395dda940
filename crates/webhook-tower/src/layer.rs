use std::fmt;
use std::marker::PhantomData;

use bytes::Bytes;
use http_body_util::Full;
use tower::Layer;
use webhook_core::receive::Endpoint;

use crate::service::WebhookService;

/// Wraps a service so that only verified, new deliveries reach it.
///
/// `B` is the body type the inner service receives (built from the bytes read).
pub struct WebhookLayer<B = Full<Bytes>> {
    endpoint: Endpoint,
    _body: PhantomData<fn() -> B>,
}

impl WebhookLayer {
    /// A layer for `endpoint`, passing the body on as `Full<Bytes>`.
    pub fn new(endpoint: Endpoint) -> Self {
        Self { endpoint, _body: PhantomData }
    }
}

impl<B> WebhookLayer<B> {
    /// Passes the body on as `B2` instead (`axum::body::Body` inside an axum router).
    pub fn with_body<B2: From<Bytes>>(self) -> WebhookLayer<B2> {
        WebhookLayer { endpoint: self.endpoint, _body: PhantomData }
    }
}

impl<B> Clone for WebhookLayer<B> {
    fn clone(&self) -> Self {
        Self { endpoint: self.endpoint.clone(), _body: PhantomData }
    }
}

impl<B> fmt::Debug for WebhookLayer<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookLayer").field("endpoint", &self.endpoint).finish()
    }
}

impl<S, B> Layer<S> for WebhookLayer<B> {
    type Service = WebhookService<S, B>;

    fn layer(&self, inner: S) -> Self::Service {
        WebhookService::new(inner, self.endpoint.clone())
    }
}
