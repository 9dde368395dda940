use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;

use bytes::Bytes;
use http_body_util::Full;
use tower::Layer;
use webhook_core::receive::Endpoint;

use crate::peer::PeerAddr;
use crate::service::WebhookService;

/// How a [`WebhookLayer`] finds the connection's peer address in the request extensions.
pub type PeerAddrFn = fn(&http::Extensions) -> Option<IpAddr>;

/// Wraps a service so that only verified, new deliveries reach it.
///
/// `B` is the body type the inner service receives (built from the bytes read).
///
/// An endpoint with an allowlist
/// ([`Endpoint::with_allowlist`](webhook_core::receive::Endpoint::with_allowlist)) is
/// checked first, before the body is read, against the peer address in the [`PeerAddr`]
/// extension (or wherever [`with_peer_addr`](Self::with_peer_addr) says).
pub struct WebhookLayer<B = Full<Bytes>> {
    endpoint: Endpoint,
    peer: PeerAddrFn,
    _body: PhantomData<fn() -> B>,
}

impl WebhookLayer {
    /// A layer for `endpoint`, passing the body on as `Full<Bytes>`.
    pub fn new(endpoint: Endpoint) -> Self {
        Self { endpoint, peer: PeerAddr::from_extensions, _body: PhantomData }
    }
}

impl<B> WebhookLayer<B> {
    /// Passes the body on as `B2` instead (`axum::body::Body` inside an axum router).
    pub fn with_body<B2: From<Bytes>>(self) -> WebhookLayer<B2> {
        WebhookLayer { endpoint: self.endpoint, peer: self.peer, _body: PhantomData }
    }

    /// Reads the peer address for the allowlist with `peer` instead of from [`PeerAddr`]:
    /// inside an axum router served with `into_make_service_with_connect_info`, axum's
    /// `ConnectInfo`.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use axum::extract::ConnectInfo;
    /// use webhook_core::ip::IpAllowlist;
    /// use webhook_core::{providers, receive::Endpoint, Verifier};
    /// use webhook_tower::WebhookLayer;
    ///
    /// let endpoint = Endpoint::new(Verifier::new(providers::GITHUB, "s3cret").unwrap())
    ///     .with_allowlist(IpAllowlist::parse_csv("192.0.2.0/24").unwrap());
    /// let layer = WebhookLayer::new(endpoint)
    ///     .with_body::<axum::body::Body>()
    ///     .with_peer_addr(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()));
    /// ```
    pub fn with_peer_addr(mut self, peer: PeerAddrFn) -> Self {
        self.peer = peer;
        self
    }
}

impl<B> Clone for WebhookLayer<B> {
    fn clone(&self) -> Self {
        Self { endpoint: self.endpoint.clone(), peer: self.peer, _body: PhantomData }
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
        WebhookService::new(inner, self.endpoint.clone(), self.peer)
    }
}
