use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::Buf;
use http::{header, HeaderValue, Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use tower::Service;
use webhook_core::receive::{Endpoint, Outcome};

use crate::body::WebhookBody;
use crate::layer::{PeerAddrFn, VerifiedBody};

/// The service made by [`WebhookLayer`](crate::WebhookLayer).
pub struct WebhookService<S, B> {
    inner: S,
    endpoint: Endpoint,
    peer: PeerAddrFn,
    _body: PhantomData<fn() -> B>,
}

impl<S, B> WebhookService<S, B> {
    pub(crate) fn new(inner: S, endpoint: Endpoint, peer: PeerAddrFn) -> Self {
        Self { inner, endpoint, peer, _body: PhantomData }
    }
}

impl<S: Clone, B> Clone for WebhookService<S, B> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), self.endpoint.clone(), self.peer)
    }
}

impl<S: fmt::Debug, B> fmt::Debug for WebhookService<S, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookService").field("inner", &self.inner).field("endpoint", &self.endpoint).finish()
    }
}

/// Releases a claim dropped unsettled on the current tokio runtime (without one, the
/// claim's lease frees the id).
fn spawn(release: Pin<Box<dyn Future<Output = ()> + Send + 'static>>) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(release);
    }
}

fn early<B>(outcome: &Outcome) -> Response<WebhookBody<B>> {
    let mut res = Response::new(WebhookBody::early(outcome.body()));
    *res.status_mut() = outcome.status();
    if let Some(ct) = outcome.content_type() {
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    res
}

/// Reads the body within the endpoint's size limit (413; also when the client stops
/// sending) and its body timeout and minimum rate (`Endpoint::with_limits`; 408 when the
/// next frame is late). Nothing is verified either way.
async fn read_body<B>(
    body: B,
    endpoint: &Endpoint,
    headers: &http::HeaderMap,
    peer: Option<std::net::IpAddr>,
) -> Result<bytes::Bytes, Outcome>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let started = std::time::Instant::now();
    let mut body = std::pin::pin!(Limited::new(body, endpoint.body_limit()));
    let mut bytes = Vec::new();
    loop {
        let deadline = endpoint.limits().body_deadline(started, bytes.len() as u64);
        match tokio::time::timeout_at(deadline.into(), body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    bytes.extend_from_slice(data.chunk());
                }
            }
            Ok(None) => return Ok(bytes::Bytes::from(bytes)),
            Ok(Some(Err(_))) => return Err(endpoint.over_limit(headers, peer)),
            Err(_) => return Err(endpoint.body_timed_out(headers, peer)),
        }
    }
}

/// The future of a [`WebhookService`]: it must read the body and await the dedup store
/// before it can call the inner service, so it is boxed (one allocation per request,
/// next to buffering the whole body).
pub type ResponseFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, B, ReqBody, ResBody> Service<Request<ReqBody>> for WebhookService<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    B: VerifiedBody,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: Send + 'static,
{
    type Response = Response<WebhookBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<Self::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // The clone that was driven to readiness is the one to call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let endpoint = self.endpoint.clone();
        let peer = (self.peer)(req.extensions());
        if let Some(forbidden) = endpoint.admit(peer, req.headers()) {
            if peer.is_none() {
                tracing::warn!(
                    "webhook allowlist: no peer address in the request extensions; insert \
                     webhook_tower::PeerAddr in the accept loop (or see WebhookLayer::with_peer_addr)"
                );
            }
            return Box::pin(std::future::ready(Ok(early(&forbidden))));
        }
        if let Some(too_large) = endpoint.too_large(req.headers()) {
            return Box::pin(std::future::ready(Ok(early(&too_large))));
        }
        Box::pin(async move {
            let url = endpoint.url_for(req.uri().path_and_query().map_or("/", |p| p.as_str()));
            let (mut parts, body) = req.into_parts();
            let bytes = match read_body(body, &endpoint, &parts.headers, peer).await {
                Ok(bytes) => bytes,
                Err(outcome) => return Ok(early(&outcome)),
            };
            let claimed = {
                let mut request = webhook_core::WebhookRequest::new(&parts.headers, bytes.clone());
                if let Some(url) = url.as_deref() {
                    request = request.with_url(url);
                }
                if let Some(peer) = peer {
                    request = request.with_peer(peer);
                }
                endpoint.claim_pending(&request, SystemTime::now(), spawn).await
            };
            let claim = match claimed {
                Ok(claim) => claim,
                Err(other) => return Ok(early(&other)),
            };
            parts.extensions.insert(claim.delivery().clone());
            // With a sink (the durable pipeline) the delivery is stored already and the
            // pipeline's workers handle it whatever the inner service answers: its claim is
            // completed now, as the axum and actix extractors do, so a copy or a retry is a
            // duplicate. Without one, the inner service is the handling: a panic or a
            // dropped future drops the claim unsettled (released, so the provider's retry
            // is processed), and its answer settles it.
            let claim = if endpoint.has_sink() {
                claim.settle(true).await;
                None
            } else {
                Some(claim)
            };
            let result = inner.call(Request::from_parts(parts, B::from(bytes))).await;
            if let Some(claim) = claim {
                claim.settle(matches!(&result, Ok(res) if res.status().is_success())).await;
            }
            result.map(|res| res.map(WebhookBody::service))
        })
    }
}
