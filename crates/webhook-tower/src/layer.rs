use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;

use bytes::Bytes;
use http_body_util::Full;
use tower::Layer;
use webhook_core::receive::Endpoint;

use crate::peer::PeerAddr;
use crate::service::WebhookService;

/// A body type the inner service can receive the verified delivery as: any type built
/// from the [`Bytes`] the layer read and verified (`Full<Bytes>`, the default;
/// `axum::body::Body` inside axum).
///
/// The layer reads the whole body before anything reaches the inner service, so it cannot
/// pass on the connection's own body type: a hyper service written for
/// `Request<hyper::body::Incoming>` is refused, with this trait named in the error.
/// Write it for `Request<Full<Bytes>>` instead (the bytes are already in memory):
///
/// ```compile_fail
/// # use std::convert::Infallible;
/// # use http::{Request, Response};
/// # use http_body_util::Full;
/// # use bytes::Bytes;
/// # use tower::{service_fn, Layer, Service};
/// # use webhook_tower::{providers, Endpoint, Verifier, WebhookLayer};
/// fn assert_service<S: Service<Request<Full<Bytes>>>>(_: &S) {}
/// let endpoint = Endpoint::new(Verifier::new(providers::GITHUB, "s3cret").unwrap());
/// // Written for the connection's body: it cannot receive the buffered, verified one.
/// let for_incoming =
///     service_fn(|_: Request<hyper::body::Incoming>| async { Ok::<_, Infallible>(Response::new(Full::<Bytes>::default())) });
/// let svc = WebhookLayer::new(endpoint).layer(for_incoming);
/// assert_service(&svc);
/// ```
///
/// The same service written for `Full<Bytes>` is wrapped, and serves with hyper:
///
/// ```
/// # use std::convert::Infallible;
/// # use http::{Request, Response};
/// # use http_body_util::Full;
/// # use bytes::Bytes;
/// # use tower::{service_fn, Layer, Service};
/// # use webhook_tower::{providers, Endpoint, Verifier, WebhookLayer};
/// fn assert_service<S: Service<Request<Full<Bytes>>>>(_: &S) {}
/// let endpoint = Endpoint::new(Verifier::new(providers::GITHUB, "s3cret").unwrap());
/// let for_bytes =
///     service_fn(|_: Request<Full<Bytes>>| async { Ok::<_, Infallible>(Response::new(Full::<Bytes>::default())) });
/// let svc = WebhookLayer::new(endpoint).layer(for_bytes);
/// assert_service(&svc);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot carry the verified body to the service inside `WebhookLayer`",
    label = "the layer hands its inner service `Request<{Self}>`, built from the bytes it read and verified",
    note = "write the inner service for `http::Request<http_body_util::Full<bytes::Bytes>>` (the default) or pick \
            the body with `WebhookLayer::with_body::<B>()` (`axum::body::Body` in axum): hyper's `Incoming` cannot be \
            rebuilt from bytes"
)]
pub trait VerifiedBody: From<Bytes> + Send + 'static {}

impl<B: From<Bytes> + Send + 'static> VerifiedBody for B {}

/// How a [`WebhookLayer`] finds the connection's peer address in the request extensions.
pub type PeerAddrFn = fn(&http::Extensions) -> Option<IpAddr>;

/// Wraps a service so that only verified, new deliveries reach it.
///
/// `B` is the body type the inner service receives, built from the bytes read: see
/// [`VerifiedBody`].
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
    pub fn with_body<B2: VerifiedBody>(self) -> WebhookLayer<B2> {
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
