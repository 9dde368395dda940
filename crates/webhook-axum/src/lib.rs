#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::extract::connect_info::MockConnectInfo;
use axum::extract::{ConnectInfo, FromRef, FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

// The same core vocabulary from every adapter.
/// GitHub's events as types: `VerifiedWebhook<github::GithubEvent>` (feature `github`).
#[cfg(feature = "github")]
pub use webhook_core::github;
use webhook_core::receive::PendingClaim;
pub use webhook_core::receive::{Endpoint, Outcome};
use webhook_core::VerifyError;
pub use webhook_core::{providers, FromWebhook, Provider, Verified, Verifier};

/// A delivery that verified and was not seen before, with its body parsed as JSON into `T`.
///
/// The body is read as raw bytes within the endpoint's limit, verified, deduplicated, and
/// only then parsed. Anything else — a bad signature, a duplicate, a handshake, a body over
/// the limit — is answered by the [`WebhookRejection`] before the handler runs.
///
/// The [`Endpoint`] comes from the router state through [`FromRef`], so each route can have
/// its own (`post(handler).with_state(endpoint)`), or a state struct can carry one.
///
/// An endpoint with an allowlist ([`Endpoint::with_allowlist`]) is checked first, against
/// the peer address in [`ConnectInfo<SocketAddr>`]: serve the router with
/// `into_make_service_with_connect_info::<SocketAddr>()` (see the crate docs), or every
/// request is refused with 403 and a reason saying the peer address was not passed.
///
/// `T` is the shape of *every* delivery on the route: Stripe's event envelope, or
/// `serde_json::Value`. GitHub sends a different body per event (and `ping` when a hook
/// is created), so a GitHub route takes [`RawWebhook`] and parses by event type:
///
/// ```
/// use axum::{http::StatusCode, middleware::from_fn, routing::post, Router};
/// use serde::Deserialize;
/// use webhook_axum::{providers, settle, Endpoint, RawWebhook, VerifiedWebhook, Verifier};
///
/// #[derive(Deserialize)]
/// struct StripeEvent { id: String, r#type: String }
///
/// async fn on_stripe(hook: VerifiedWebhook<StripeEvent>) -> StatusCode {
///     tracing::info!(id = %hook.payload.id, kind = %hook.payload.r#type, "stripe event");
///     StatusCode::OK
/// }
///
/// #[derive(Deserialize)]
/// struct Push { r#ref: String }
///
/// async fn on_github(hook: RawWebhook) -> StatusCode {
///     match hook.0.event_type() {
///         Some("push") => match hook.0.json::<Push>() {
///             Ok(push) => tracing::info!(branch = %push.r#ref, "push"),
///             Err(_) => return StatusCode::BAD_REQUEST,
///         },
///         // `ping` and every other subscribed event: acknowledged.
///         _ => {}
///     }
///     StatusCode::OK
/// }
///
/// let stripe = Endpoint::new(Verifier::new(providers::STRIPE, "whsec_...").unwrap());
/// let github = Endpoint::new(Verifier::new(providers::GITHUB, "s3cret").unwrap());
/// let app: Router = Router::new()
///     .route("/webhooks/stripe", post(on_stripe).with_state(stripe))
///     .route("/webhooks/github", post(on_github).with_state(github))
///     // Settles each claim by the handler's answer: a failure frees the id for the retry.
///     .layer(from_fn(settle));
/// ```
#[derive(Debug)]
pub struct VerifiedWebhook<T = serde_json::Value> {
    /// The body, parsed.
    pub payload: T,
    /// Provider, delivery id, event type, signed timestamp and the raw body.
    pub delivery: Verified,
}

/// A delivery that verified and was not seen before, body left as raw bytes (form bodies
/// from Slack commands or Twilio, XML, anything).
///
/// A body that arrived in one piece is the server's own buffer, not a copy: to keep
/// deliveries long after their requests (in a queue of your own), keep
/// `Bytes::copy_from_slice(hook.0.body())`, so that each holds only its body. (The
/// `webhook-pipeline` stores keep copies of their own.)
#[derive(Debug)]
pub struct RawWebhook(pub Verified);

/// The early answer for a request that does not reach the handler: the core's
/// [`Outcome`] (rejection, duplicate, handshake, 408, 413, 503) as a response, with its status
/// and a JSON body `{"error": ...}` or `{"status": "duplicate"}`.
#[derive(Debug)]
pub struct WebhookRejection(pub Outcome);

impl WebhookRejection {
    /// The status this rejection answers with.
    pub fn status(&self) -> StatusCode {
        self.0.status()
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        outcome_response(&self.0)
    }
}

/// The core's answer for `outcome`, as an axum response.
pub fn outcome_response(outcome: &Outcome) -> Response {
    tracing::trace!(status = %outcome.status(), outcome = outcome.label(), "webhook answered early");
    let mut res = Response::new(Body::from(outcome.body()));
    *res.status_mut() = outcome.status();
    if let Some(ct) = outcome.content_type() {
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    res
}

/// A `GET` route for Meta's subscription check (`?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`):
/// 200 with the challenge when the token matches (compared in constant time by the core),
/// 403 `{"error": ...}` otherwise. Mount it on the same path as the `POST` handler.
///
/// ```
/// use axum::{middleware::from_fn, routing::post, Router};
/// use webhook_axum::{meta_subscription, settle, RawWebhook};
///
/// async fn events(_: RawWebhook) {}
/// let meta = webhook_core::Verifier::new(webhook_core::providers::META, "app-secret").unwrap();
/// let endpoint = webhook_axum::Endpoint::new(meta);
/// let app: Router = Router::new().route(
///     "/webhooks/meta",
///     meta_subscription("my-verify-token").merge(post(events).with_state(endpoint).layer(from_fn(settle))),
/// );
/// ```
pub fn meta_subscription<S: Clone + Send + Sync + 'static>(verify_token: &str) -> axum::routing::MethodRouter<S> {
    let token: std::sync::Arc<str> = verify_token.into();
    axum::routing::get(move |axum::extract::RawQuery(query): axum::extract::RawQuery| {
        let token = token.clone();
        async move {
            match webhook_core::handshake::meta_challenge(query.as_deref().unwrap_or(""), &token) {
                Some(challenge) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], challenge),
                None => (
                    StatusCode::FORBIDDEN,
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"error":"verify token does not match"}"#.to_owned(),
                ),
            }
        }
    })
}

/// A `GET` handler for the provider checks some providers make on the webhook URL itself
/// (X's CRC `?crc_token=`, Dropbox's `?challenge=`, Okta's verification header): answered
/// as the provider expects, after the endpoint's allowlist; 405 for a provider that makes
/// no such check. Mount it beside the `POST` handler on the same route.
///
/// ```
/// use axum::{middleware::from_fn, routing::post, Router};
/// use webhook_axum::{get_check, providers, settle, Endpoint, RawWebhook, Verifier};
///
/// async fn on_dropbox(_: RawWebhook) {}
/// let dropbox = Endpoint::new(Verifier::new(providers::DROPBOX, "app-secret").unwrap());
/// let app: Router = Router::new()
///     .route("/webhooks/dropbox", post(on_dropbox).get(get_check).with_state(dropbox).layer(from_fn(settle)));
/// ```
pub async fn get_check(axum::extract::State(endpoint): axum::extract::State<Endpoint>, req: Request) -> Response {
    if let Some(forbidden) = endpoint.admit(peer_addr(&req), req.headers()) {
        return outcome_response(&forbidden);
    }
    let query = req.uri().query().unwrap_or("");
    match endpoint.answer_get(query, req.headers(), SystemTime::now()) {
        Some(outcome) => outcome_response(&outcome),
        None => (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"error":"method not allowed: webhooks are POSTed"}"#,
        )
            .into_response(),
    }
}

/// The connection's peer address: the [`ConnectInfo<SocketAddr>`] that
/// `into_make_service_with_connect_info::<SocketAddr>()` (or `MockConnectInfo` in tests)
/// puts in the request extensions.
fn peer_addr(req: &Request) -> Option<std::net::IpAddr> {
    let extensions = req.extensions();
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .or_else(|| extensions.get::<MockConnectInfo<SocketAddr>>().map(|MockConnectInfo(addr)| addr.ip()))
}

/// Where the [`settle`] middleware receives the claim of the delivery the extractor
/// accepted.
#[derive(Clone, Default)]
struct ClaimSlot(Arc<Mutex<Option<PendingClaim>>>);

/// Middleware that settles each delivery's dedup claim by the handler's answer: a 2xx
/// marks the delivery id done (a redelivery is answered "duplicate"); any other status, a
/// handler that panics or a request dropped midway releases it, so the provider's retry is
/// accepted and handled. [`VerifiedWebhook`] and [`RawWebhook`] on an endpoint without a
/// sink require it, and answer 500 naming it when it is missing.
///
/// ```
/// use axum::{middleware::from_fn, routing::post, Router};
/// use webhook_axum::{providers, settle, Endpoint, RawWebhook, Verifier};
///
/// async fn on_github(hook: RawWebhook) -> &'static str {
///     // ... work that may fail: a 500 here frees the id for GitHub's retry.
///     let _ = hook.0.event_type();
///     "ok"
/// }
/// let github = Endpoint::new(Verifier::new(providers::GITHUB, "s3cret").unwrap());
/// let app: Router = Router::new().route("/webhooks/github", post(on_github).with_state(github).layer(from_fn(settle)));
/// ```
///
/// With the durable pipeline (an endpoint with a sink) the delivery is stored before the
/// handler runs and is handled by the pipeline's workers: its claim is settled at once and
/// this middleware has nothing to do.
pub async fn settle(mut req: Request, next: axum::middleware::Next) -> Response {
    let slot = ClaimSlot::default();
    req.extensions_mut().insert(slot.clone());
    // A panic below unwinds through here: the slot's claim is dropped unsettled and
    // released.
    let res = next.run(req).await;
    let claim = slot.0.lock().ok().and_then(|mut c| c.take());
    if let Some(claim) = claim {
        claim.settle(res.status().is_success()).await;
    }
    res
}

/// Releases a claim dropped unsettled, on the current tokio runtime.
fn spawn(release: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(release);
    }
}

/// Checks the endpoint's allowlist (403 before reading anything), reads the body within
/// the limit (413 from `Content-Length` before reading a byte, and again while reading when
/// there is none), then lets the core decide. An accepted delivery's claim goes to the
/// [`settle`] middleware (or, with a sink, is settled at once: the delivery is stored).
async fn receive(req: Request, endpoint: &Endpoint) -> Result<Verified, WebhookRejection> {
    let slot = req.extensions().get::<ClaimSlot>().cloned();
    if slot.is_none() && !endpoint.has_sink() {
        tracing::error!(
            "webhook route without the settle middleware: add .layer(axum::middleware::from_fn(webhook_axum::settle)) \
             to the route, so that a failing handler does not turn the provider's retry into \"duplicate\""
        );
        return Err(WebhookRejection(Outcome::Rejected(VerifyError::configuration(
            "webhook route misconfigured: it lacks webhook_axum::settle",
        ))));
    }
    let peer = peer_addr(&req);
    if let Some(forbidden) = endpoint.admit(peer, req.headers()) {
        if peer.is_none() {
            tracing::warn!(
                "webhook allowlist: no ConnectInfo<SocketAddr> in the request; serve the router with \
                 into_make_service_with_connect_info::<SocketAddr>()"
            );
        }
        return Err(WebhookRejection(forbidden));
    }
    if let Some(too_large) = endpoint.too_large(req.headers()) {
        return Err(WebhookRejection(too_large));
    }
    let url = endpoint.url_for(req.uri().path_and_query().map_or("/", |p| p.as_str()));
    let (parts, body) = req.into_parts();
    let bytes = read_body(body, endpoint, &parts.headers, peer).await?;
    let mut request = webhook_core::WebhookRequest::new(&parts.headers, bytes);
    if let Some(url) = url.as_deref() {
        request = request.with_url(url);
    }
    if let Some(peer) = peer {
        request = request.with_peer(peer);
    }
    let claim = endpoint.claim_pending(&request, SystemTime::now(), spawn).await.map_err(WebhookRejection)?;
    let delivery = claim.delivery().clone();
    let unheld = match slot {
        Some(slot) if !endpoint.has_sink() => hold(&slot, claim).map(|claim| (claim, false)),
        // Stored already: the pipeline handles it whatever the handler answers.
        _ => Some((claim, true)),
    };
    if let Some((claim, handled)) = unheld {
        claim.settle(handled).await;
    }
    Ok(delivery)
}

/// Reads the body within the endpoint's size limit (413) and its body timeout and minimum
/// rate (`Endpoint::with_limits`; 408 when the next chunk is late). A body that arrives in
/// one frame (a small one, usually) is kept as the server handed it, without a copy; one in
/// several frames is gathered into a buffer of its own.
async fn read_body(
    mut body: Body,
    endpoint: &Endpoint,
    headers: &axum::http::HeaderMap,
    peer: Option<std::net::IpAddr>,
) -> Result<Bytes, WebhookRejection> {
    use http_body_util::BodyExt;
    let (limit, started) = (endpoint.body_limit(), std::time::Instant::now());
    let mut read = Read::Nothing;
    loop {
        let deadline = endpoint.limits().body_deadline(started, read.len() as u64);
        let frame = match tokio::time::timeout_at(deadline.into(), body.frame()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(None) => return Ok(read.into_bytes()),
            // The client stopped sending mid-body: nothing was verified.
            Ok(Some(Err(_))) => return Err(WebhookRejection(endpoint.over_limit(headers, peer))),
            Err(_) => return Err(WebhookRejection(endpoint.body_timed_out(headers, peer))),
        };
        if let Ok(data) = frame.into_data() {
            if read.len() + data.len() > limit {
                return Err(WebhookRejection(endpoint.over_limit(headers, peer)));
            }
            read.push(data);
        }
    }
}

/// The body read so far.
enum Read {
    Nothing,
    /// One frame, as the server handed it.
    One(Bytes),
    /// Several frames, copied into one buffer.
    Gathered(Vec<u8>),
}

impl Read {
    fn len(&self) -> usize {
        match self {
            Self::Nothing => 0,
            Self::One(b) => b.len(),
            Self::Gathered(v) => v.len(),
        }
    }

    fn push(&mut self, data: Bytes) {
        *self = match std::mem::replace(self, Self::Nothing) {
            Self::Nothing => Self::One(data),
            Self::One(first) => {
                let mut all = Vec::with_capacity(first.len() + data.len());
                all.extend_from_slice(&first);
                all.extend_from_slice(&data);
                Self::Gathered(all)
            }
            Self::Gathered(mut all) => {
                all.extend_from_slice(&data);
                Self::Gathered(all)
            }
        };
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Self::Nothing => Bytes::new(),
            Self::One(b) => b,
            Self::Gathered(v) => Bytes::from(v),
        }
    }
}

/// Puts `claim` in the middleware's slot; gives it back if the slot is unusable.
fn hold(slot: &ClaimSlot, claim: PendingClaim) -> Option<PendingClaim> {
    match slot.0.lock() {
        Ok(mut held) => {
            *held = Some(claim);
            None
        }
        Err(_) => Some(claim),
    }
}

/// Frees a delivery's id after the extractor refused it (its payload did not parse): the
/// claim the [`settle`] middleware holds is released now, so a redelivery is not answered
/// "duplicate".
async fn refuse(req_slot: Option<ClaimSlot>, endpoint: &Endpoint, delivery: &Verified) {
    let held = req_slot.and_then(|slot| slot.0.lock().ok().and_then(|mut c| c.take()));
    match held {
        Some(claim) => claim.settle(false).await,
        None => {
            let _ = endpoint.settle(delivery, false).await;
        }
    }
}

impl<S, T> FromRequest<S> for VerifiedWebhook<T>
where
    Endpoint: FromRef<S>,
    S: Send + Sync,
    T: FromWebhook,
{
    type Rejection = WebhookRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let endpoint = Endpoint::from_ref(state);
        let slot = req.extensions().get::<ClaimSlot>().cloned();
        let delivery = receive(req, &endpoint).await?;
        let error = match T::from_webhook(&delivery) {
            Ok(payload) => return Ok(Self { payload, delivery }),
            Err(e) => VerifyError::payload(e),
        };
        // Not handled: free the id, so a redelivery is not answered "duplicate".
        refuse(slot, &endpoint, &delivery).await;
        Err(WebhookRejection(Outcome::Rejected(error)))
    }
}

impl<S> FromRequest<S> for RawWebhook
where
    Endpoint: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = WebhookRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let endpoint = Endpoint::from_ref(state);
        receive(req, &endpoint).await.map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::middleware::from_fn;
    use axum::routing::post;
    use axum::Router;
    use http_body_util::BodyExt;
    use std::time::SystemTime;
    use tower::ServiceExt;
    use webhook_core::{providers, SignRequest, Verifier};

    async fn handler(hook: VerifiedWebhook) -> String {
        format!("{}:{}", hook.delivery.event_type().unwrap_or("-"), hook.payload["n"])
    }

    fn app(limit: usize) -> (Router, Verifier) {
        let v = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let ep = Endpoint::new(v.clone()).with_body_limit(limit);
        (Router::new().route("/gh", post(handler).with_state(ep).layer(from_fn(settle))), v)
    }

    async fn send(app: &Router, req: axum::http::Request<Body>) -> (StatusCode, String) {
        let res = app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    fn signed_request(v: &Verifier, body: &'static [u8], id: &str) -> axum::http::Request<Body> {
        let signed = v.sign(&SignRequest::new(body, SystemTime::now()).id(id).event_type("push")).unwrap();
        let mut req = axum::http::Request::post("/gh");
        for (k, val) in signed.headers() {
            req = req.header(*k, val);
        }
        req.body(Body::from(body)).unwrap()
    }

    #[tokio::test]
    async fn accepted_duplicate_tampered() {
        let (app, v) = app(1024);
        assert_eq!(send(&app, signed_request(&v, br#"{"n":7}"#, "a")).await, (StatusCode::OK, "push:7".into()));
        assert_eq!(
            send(&app, signed_request(&v, br#"{"n":7}"#, "a")).await,
            (StatusCode::OK, r#"{"status":"duplicate"}"#.into())
        );
        let mut tampered = signed_request(&v, br#"{"n":7}"#, "b");
        *tampered.body_mut() = Body::from(r#"{"n":8}"#);
        assert_eq!(send(&app, tampered).await, (StatusCode::UNAUTHORIZED, r#"{"error":"signature mismatch"}"#.into()));
    }

    #[tokio::test]
    async fn limit_with_and_without_content_length() {
        let (app, v) = app(8);
        // With Content-Length: refused from the header, before a byte of the body is read
        // (this body would fail the request if it were polled).
        let mut req = signed_request(&v, br#"{"n":123456}"#, "c");
        req.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("12"));
        *req.body_mut() = Body::from_stream(futures_util::stream::once(async {
            Err::<axum::body::Bytes, _>(std::io::Error::other("the body was read"))
        }));
        let (status, body) = send(&app, req).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert_eq!(body, r#"{"error":"body larger than the limit of 8 bytes"}"#);
        // A streamed body with no Content-Length is cut at the limit.
        let mut req = signed_request(&v, br#"{"n":123456}"#, "d");
        req.headers_mut().remove(header::CONTENT_LENGTH);
        let stream = futures_stream(br#"{"n":123456}"#);
        *req.body_mut() = stream;
        assert_eq!(send(&app, req).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    }

    fn futures_stream(bytes: &'static [u8]) -> Body {
        let chunks: Vec<Result<axum::body::Bytes, std::io::Error>> =
            bytes.chunks(3).map(|c| Ok(axum::body::Bytes::from_static(c))).collect();
        Body::from_stream(futures_util::stream::iter(chunks))
    }

    #[tokio::test]
    async fn payload_of_the_wrong_shape_is_400() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Push {
            r#ref: String,
        }
        async fn typed(_: VerifiedWebhook<Push>) -> &'static str {
            "ok"
        }
        let v = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let app = Router::new().route("/gh", post(typed).with_state(Endpoint::new(v.clone())).layer(from_fn(settle)));
        let (status, body) = send(&app, signed_request(&v, br#"{"n":1}"#, "e")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("body is not the expected JSON: missing field `ref`"), "{body}");
        // The id was not kept as handled: the redelivery gets the same 400, not "duplicate".
        assert_eq!(send(&app, signed_request(&v, br#"{"n":1}"#, "e")).await.0, StatusCode::BAD_REQUEST);
    }

    /// A route whose handler answers by the body: `{"do":"fail"}` is a 500, `{"do":"panic"}`
    /// panics, anything else a 200. Every run is counted.
    fn flaky_app() -> (Router, Verifier, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let v = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let handler = move |hook: VerifiedWebhook| async move {
            counted.fetch_add(1, Ordering::SeqCst);
            match hook.payload["do"].as_str() {
                Some("fail") => StatusCode::INTERNAL_SERVER_ERROR,
                Some("panic") => panic!("the handler panicked"),
                _ => StatusCode::OK,
            }
        };
        let route = post(handler).with_state(Endpoint::new(v.clone())).layer(from_fn(settle));
        (Router::new().route("/gh", route), v, runs)
    }

    #[tokio::test]
    async fn a_failing_handler_frees_the_id_for_the_retry_and_a_succeeding_one_keeps_it() {
        use std::sync::atomic::Ordering;
        let (app, v, runs) = flaky_app();
        assert_eq!(
            send(&app, signed_request(&v, br#"{"do":"fail"}"#, "f1")).await.0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        // The provider's retry is handled again, not answered "duplicate".
        assert_eq!(
            send(&app, signed_request(&v, br#"{"do":"fail"}"#, "f1")).await.0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(send(&app, signed_request(&v, br#"{"do":"ok"}"#, "f1")).await.0, StatusCode::OK);
        assert_eq!(
            send(&app, signed_request(&v, br#"{"do":"ok"}"#, "f1")).await,
            (StatusCode::OK, r#"{"status":"duplicate"}"#.into())
        );
        assert_eq!(runs.load(Ordering::SeqCst), 3, "the duplicate ran nothing");
    }

    #[tokio::test]
    async fn a_panicking_handler_frees_the_id_for_the_retry() {
        use std::sync::atomic::Ordering;
        let (app, v, runs) = flaky_app();
        let panicked = tokio::spawn(app.clone().oneshot(signed_request(&v, br#"{"do":"panic"}"#, "p1"))).await;
        assert!(panicked.is_err(), "the handler panicked");
        // The release runs in the background: wait for it (bounded), never for a time.
        let mut answer = (StatusCode::CONFLICT, String::new());
        for _ in 0..1000 {
            answer = send(&app, signed_request(&v, br#"{"do":"ok"}"#, "p1")).await;
            if answer.0 != StatusCode::CONFLICT {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(answer.0, StatusCode::OK, "{answer:?}");
        assert_eq!(runs.load(Ordering::SeqCst), 2, "the retry was handled");
    }

    #[tokio::test]
    async fn without_the_settle_middleware_the_route_says_what_is_missing_and_claims_nothing() {
        let v = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let endpoint = Endpoint::new(v.clone());
        let bare = Router::new().route("/gh", post(handler).with_state(endpoint.clone()));
        let (status, body) = send(&bare, signed_request(&v, br#"{"n":1}"#, "m1")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("lacks webhook_axum::settle"), "{body}");
        // Nothing was claimed: the same delivery through a proper route is new.
        let fixed = Router::new().route("/gh", post(handler).with_state(endpoint).layer(from_fn(settle)));
        assert_eq!(send(&fixed, signed_request(&v, br#"{"n":1}"#, "m1")).await, (StatusCode::OK, "push:1".into()));
    }

    #[tokio::test]
    async fn the_allowlist_is_checked_on_the_connect_info_peer() {
        use webhook_core::ip::{IpAllowlist, TrustedProxies};

        let v = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let allowlist = IpAllowlist::parse_csv("10.0.0.0/8")
            .unwrap()
            .with_trusted_proxies(TrustedProxies::parse_csv("192.0.2.1").unwrap());
        let router = Router::new().route(
            "/gh",
            post(handler).with_state(Endpoint::new(v.clone()).with_allowlist(allowlist)).layer(from_fn(settle)),
        );
        let from = |peer: &str| router.clone().layer(MockConnectInfo(SocketAddr::new(peer.parse().unwrap(), 4711)));

        assert_eq!(
            send(&from("10.9.8.7"), signed_request(&v, br#"{"n":1}"#, "ip1")).await,
            (StatusCode::OK, "push:1".into())
        );
        let (status, body) = send(&from("127.0.0.1"), signed_request(&v, br#"{"n":1}"#, "ip2")).await;
        assert_eq!(
            (status, body.as_str()),
            (
                StatusCode::FORBIDDEN,
                r#"{"error":"forbidden","reason":"client address 127.0.0.1 is not in the allowlist"}"#
            )
        );
        // Refused before the body is read: even a body over the limit is a 403, not a 413.
        let mut big = signed_request(&v, br#"{"n":1}"#, "ip3");
        big.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("999999999"));
        assert_eq!(send(&from("127.0.0.1"), big).await.0, StatusCode::FORBIDDEN);
        // Through the trusted proxy, the forwarded client decides.
        let mut proxied = signed_request(&v, br#"{"n":2}"#, "ip4");
        proxied.headers_mut().insert("x-forwarded-for", HeaderValue::from_static("10.1.2.3"));
        assert_eq!(send(&from("192.0.2.1"), proxied).await, (StatusCode::OK, "push:2".into()));
        // Without ConnectInfo (served without connect info): 403 with the reason, not a 500.
        let (status, body) = send(&router, signed_request(&v, br#"{"n":3}"#, "ip5")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains("did not pass the connection's peer address"), "{body}");
    }

    #[tokio::test]
    async fn meta_subscription_echoes_the_challenge_only_for_the_right_token() {
        let app: Router = Router::new().route("/meta", meta_subscription("tok"));
        let get = |q: &str| axum::http::Request::get(format!("/meta?{q}")).body(Body::empty()).unwrap();
        let ok = send(&app, get("hub.mode=subscribe&hub.verify_token=tok&hub.challenge=1158201444")).await;
        assert_eq!(ok, (StatusCode::OK, "1158201444".into()));
        let bad = send(&app, get("hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1")).await;
        assert_eq!(bad.0, StatusCode::FORBIDDEN);
    }
}
