use std::net::{IpAddr, SocketAddr};

/// The connection's peer address, as a request extension: what a
/// [`WebhookLayer`](crate::WebhookLayer) checks an endpoint's allowlist against.
///
/// hyper does not record who is on the other end of a connection, so the accept loop
/// inserts it into every request it serves. Without it, an endpoint with an allowlist
/// refuses every request (403, with a reason saying the peer address was not passed).
/// Inside an axum router served with connect info, read axum's `ConnectInfo` instead:
/// [`WebhookLayer::with_peer_addr`](crate::WebhookLayer::with_peer_addr).
///
/// ```
/// use std::convert::Infallible;
/// use hyper_util::rt::TokioIo;
/// use webhook_tower::PeerAddr;
///
/// async fn accept_loop(listener: tokio::net::TcpListener) -> std::io::Result<()> {
///     loop {
///         let (stream, peer) = listener.accept().await?;
///         tokio::spawn(async move {
///             let svc = hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
///                 req.extensions_mut().insert(PeerAddr(peer));
///                 // ... then call the service wrapped in the WebhookLayer.
///                 async move { Ok::<_, Infallible>(http::Response::new(String::new())) }
///             });
///             let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
///         });
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

impl PeerAddr {
    /// The [`PeerAddr`] in `extensions`, as an address: the default way a
    /// [`WebhookLayer`](crate::WebhookLayer) finds the peer.
    pub fn from_extensions(extensions: &http::Extensions) -> Option<IpAddr> {
        extensions.get::<PeerAddr>().map(|PeerAddr(addr)| addr.ip())
    }
}
