#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::SystemTime;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::guard::{Guard, GuardContext};
use actix_web::http::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;

// The same core vocabulary from every adapter.
/// GitHub's events as types: `VerifiedWebhook<github::GithubEvent>` (feature `github`).
#[cfg(feature = "github")]
pub use webhook_core::github;
use webhook_core::receive::PendingClaim;
pub use webhook_core::receive::{Endpoint, Outcome};
pub use webhook_core::{providers, FromWebhook, Provider, Verified, Verifier};
use webhook_core::{Headers, VerifyError};

/// actix-web's header map (on `http` 0.2) read through the core's [`Headers`] trait,
/// without copying.
#[derive(Clone, Copy)]
pub struct ActixHeaders<'a>(pub &'a HeaderMap);

impl Headers for ActixHeaders<'_> {
    fn for_each_value<'a>(&'a self, name: &str, f: &mut dyn FnMut(&'a [u8])) {
        for value in self.0.get_all(name) {
            f(value.as_bytes());
        }
    }
}

/// A delivery that verified and was not seen before, with its body parsed as JSON into `T`.
///
/// An endpoint with an allowlist ([`Endpoint::with_allowlist`]) is checked first, against
/// [`HttpRequest::peer_addr`] (and, from trusted proxies, the forwarding headers), before the
/// payload is read: other clients get 403 `{"error":"forbidden","reason":...}`.
#[derive(Debug)]
pub struct VerifiedWebhook<T = serde_json::Value> {
    /// The body, parsed.
    pub payload: T,
    /// Provider, delivery id, event type, signed timestamp and the raw body.
    pub delivery: Verified,
}

/// A delivery that verified and was not seen before, body left as raw bytes.
#[derive(Debug)]
pub struct RawWebhook(pub Verified);

/// The early answer for a request that does not reach the handler: the core's
/// [`Outcome`] with its status and body.
pub struct WebhookError(pub Outcome);

impl fmt::Debug for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WebhookError").field(&self.0.label()).finish()
    }
}

impl fmt::Display for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0.body()))
    }
}

impl ResponseError for WebhookError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status().as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        outcome_response(&self.0)
    }
}

/// The core's answer for `outcome`, as an actix-web response.
pub fn outcome_response(outcome: &Outcome) -> HttpResponse {
    let status = StatusCode::from_u16(outcome.status().as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = HttpResponse::build(status);
    if let Some(ct) = outcome.content_type() {
        res.insert_header((CONTENT_TYPE, HeaderValue::from_static(ct)));
    }
    res.body(outcome.body())
}

fn endpoint(req: &HttpRequest) -> Option<Endpoint> {
    req.app_data::<Endpoint>().cloned().or_else(|| req.app_data::<web::Data<Endpoint>>().map(|d| d.get_ref().clone()))
}

/// Where the [`settle`] middleware receives the claim of the delivery the extractor
/// accepted.
#[derive(Clone, Default)]
struct ClaimSlot(Rc<RefCell<Option<PendingClaim>>>);

/// Middleware that settles each delivery's dedup claim by the handler's answer: a 2xx
/// marks the delivery id done (a redelivery is answered "duplicate"); any other status, an
/// error, a handler that panics or a request dropped midway releases it, so the provider's
/// retry is accepted and handled. [`VerifiedWebhook`] and [`RawWebhook`] on an endpoint
/// without a sink require it, and answer 500 naming it when it is missing.
///
/// ```
/// use actix_web::{middleware::from_fn, web, App, HttpResponse};
/// use webhook_actix::{providers, settle, Endpoint, RawWebhook, Verifier};
///
/// async fn on_github(hook: RawWebhook) -> HttpResponse {
///     // ... work that may fail: a 500 here frees the id for GitHub's retry.
///     let _ = hook.0.event_type();
///     HttpResponse::Ok().finish()
/// }
/// let github = Endpoint::new(Verifier::new(providers::GITHUB, "s3cret").unwrap());
/// let _app = App::new()
///     .app_data(github)
///     .wrap(from_fn(settle))
///     .route("/webhooks/github", web::post().to(on_github));
/// ```
///
/// With the durable pipeline (an endpoint with a sink) the delivery is stored before the
/// handler runs and is handled by the pipeline's workers: its claim is settled at once and
/// this middleware has nothing to do.
pub async fn settle<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let slot = ClaimSlot::default();
    req.extensions_mut().insert(slot.clone());
    // A panic below unwinds through here: the slot's claim is dropped unsettled and
    // released.
    let res = next.call(req).await;
    let claim = slot.0.borrow_mut().take();
    if let Some(claim) = claim {
        claim.settle(matches!(&res, Ok(r) if r.status().is_success())).await;
    }
    res
}

/// Releases a claim dropped unsettled, on the current tokio runtime (actix-web's).
fn spawn(release: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(release);
    }
}

async fn receive(req: HttpRequest, mut payload: Payload) -> Result<Verified, WebhookError> {
    let Some(endpoint) = endpoint(&req) else {
        tracing::error!(path = req.path(), "no webhook Endpoint in app_data for this route");
        return Err(WebhookError(Outcome::Rejected(VerifyError::configuration(
            "no webhook endpoint is configured for this route",
        ))));
    };
    let slot = req.extensions().get::<ClaimSlot>().cloned();
    if slot.is_none() && !endpoint.has_sink() {
        tracing::error!(
            path = req.path(),
            "webhook route without the settle middleware: add .wrap(actix_web::middleware::from_fn(webhook_actix::settle)), \
             so that a failing handler does not turn the provider's retry into \"duplicate\""
        );
        return Err(WebhookError(Outcome::Rejected(VerifyError::configuration(
            "webhook route misconfigured: it lacks webhook_actix::settle",
        ))));
    }
    // The allowlist first: a refused client gets a 403 before a byte of the body is read.
    let peer = req.peer_addr().map(|addr| addr.ip());
    if let Some(forbidden) = endpoint.admit(peer, &ActixHeaders(req.headers())) {
        return Err(WebhookError(forbidden));
    }
    if let Some(too_large) = endpoint.too_large(&ActixHeaders(req.headers())) {
        return Err(WebhookError(too_large));
    }
    let limit = endpoint.body_limit();
    let mut body = BytesMut::new();
    // The body timeout and minimum rate (`Endpoint::with_limits`): 408 when the next chunk
    // is late, before anything is verified or claimed.
    let started = std::time::Instant::now();
    loop {
        let deadline = endpoint.limits().body_deadline(started, body.len() as u64);
        let chunk = match tokio::time::timeout_at(deadline.into(), payload.next()).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(_) => return Err(WebhookError(endpoint.body_timed_out(&ActixHeaders(req.headers()), peer))),
        };
        let chunk = chunk.map_err(|_| WebhookError(endpoint.over_limit(&ActixHeaders(req.headers()), peer)))?;
        if body.len() + chunk.len() > limit {
            return Err(WebhookError(endpoint.over_limit(&ActixHeaders(req.headers()), peer)));
        }
        body.extend_from_slice(&chunk);
    }
    let url = endpoint.url_for(req.uri().path_and_query().map_or("/", |p| p.as_str()));
    let headers = ActixHeaders(req.headers());
    let mut request = webhook_core::WebhookRequest::new(&headers, Bytes::from(body));
    if let Some(url) = url.as_deref() {
        request = request.with_url(url);
    }
    if let Some(peer) = peer {
        request = request.with_peer(peer);
    }
    let claim = endpoint.claim_pending(&request, SystemTime::now(), spawn).await.map_err(WebhookError)?;
    let delivery = claim.delivery().clone();
    match slot {
        Some(slot) if !endpoint.has_sink() => *slot.0.borrow_mut() = Some(claim),
        // Stored already: the pipeline handles it whatever the handler answers.
        _ => claim.settle(true).await,
    }
    Ok(delivery)
}

impl<T: FromWebhook + 'static> FromRequest for VerifiedWebhook<T> {
    type Error = WebhookError;
    type Future = LocalBoxFuture<'static, Result<Self, WebhookError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (req, payload) = (req.clone(), payload.take());
        Box::pin(async move {
            let delivery = receive(req.clone(), payload).await?;
            match T::from_webhook(&delivery) {
                Ok(payload) => Ok(Self { payload, delivery }),
                Err(e) => {
                    // Not handled: free the id, so a redelivery is not answered "duplicate".
                    let held = req.extensions().get::<ClaimSlot>().and_then(|slot| slot.0.borrow_mut().take());
                    match (held, endpoint(&req)) {
                        (Some(claim), _) => claim.settle(false).await,
                        (None, Some(endpoint)) => {
                            let _ = endpoint.settle(&delivery, false).await;
                        }
                        (None, None) => {}
                    }
                    Err(WebhookError(Outcome::Rejected(VerifyError::payload(e))))
                }
            }
        })
    }
}

impl FromRequest for RawWebhook {
    type Error = WebhookError;
    type Future = LocalBoxFuture<'static, Result<Self, WebhookError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (req, payload) = (req.clone(), payload.take());
        Box::pin(async move { receive(req, payload).await.map(Self) })
    }
}

/// A `GET` handler for the provider checks some providers make on the webhook URL itself
/// (X's CRC `?crc_token=`, Dropbox's `?challenge=`, Okta's verification header): answered
/// as the provider expects, after the endpoint's allowlist; 405 for a provider that makes
/// no such check; 500 when no [`Endpoint`] is in `app_data`.
///
/// ```
/// use actix_web::{web, App};
/// use webhook_actix::{get_check, providers, Endpoint, Verifier};
/// let dropbox = Endpoint::new(Verifier::new(providers::DROPBOX, "app-secret").unwrap());
/// let _app = App::new().service(web::resource("/webhooks/dropbox").app_data(dropbox).route(web::get().to(get_check)));
/// ```
pub async fn get_check(req: HttpRequest) -> HttpResponse {
    let Some(endpoint) = endpoint(&req) else {
        return outcome_response(&Outcome::Rejected(VerifyError::configuration(
            "no webhook endpoint is configured for this route",
        )));
    };
    let peer = req.peer_addr().map(|addr| addr.ip());
    if let Some(forbidden) = endpoint.admit(peer, &ActixHeaders(req.headers())) {
        return outcome_response(&forbidden);
    }
    match endpoint.answer_get(req.query_string(), &ActixHeaders(req.headers()), SystemTime::now()) {
        Some(outcome) => outcome_response(&outcome),
        None => HttpResponse::MethodNotAllowed()
            .content_type("application/json")
            .body(r#"{"error":"method not allowed: webhooks are POSTed"}"#),
    }
}

/// A `GET` route for Meta's subscription check: 200 with `hub.challenge` when
/// `hub.verify_token` matches (compared in constant time by the core), 403 otherwise.
///
/// ```
/// use actix_web::{web, App};
/// let _app = App::new().service(
///     web::resource("/webhooks/meta").route(webhook_actix::meta_subscription("my-verify-token")),
/// );
/// ```
pub fn meta_subscription(verify_token: &str) -> actix_web::Route {
    let token: std::sync::Arc<str> = verify_token.into();
    web::get().to(move |req: HttpRequest| {
        let token = token.clone();
        async move {
            match webhook_core::handshake::meta_challenge(req.query_string(), &token) {
                Some(challenge) => HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(challenge),
                None => HttpResponse::Forbidden()
                    .content_type("application/json")
                    .body(r#"{"error":"verify token does not match"}"#),
            }
        }
    })
}

/// A guard that routes on the value of an event header. It reads only the request head:
/// it routes, it never verifies.
#[derive(Debug, Clone)]
pub struct EventGuard {
    header: &'static str,
    value: String,
}

impl EventGuard {
    /// Matches requests whose `header` equals `value` (ASCII case-insensitively).
    pub fn new(header: &'static str, value: impl Into<String>) -> Self {
        Self { header, value: value.into() }
    }
}

impl Guard for EventGuard {
    fn check(&self, ctx: &GuardContext<'_>) -> bool {
        ctx.head().headers().get(self.header).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(self.value.as_bytes()))
    }
}

/// A guard for `provider`'s event `value` (`event(GITHUB, "push")`), for providers that name
/// the event in a header. `None` for those that name it only in the body (Stripe, Slack):
/// route those inside the handler, on [`Verified::event_type`].
pub fn event(provider: Provider, value: &str) -> Option<EventGuard> {
    provider.event_header().map(|h| EventGuard::new(h, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::middleware::from_fn;
    use actix_web::{test as atest, App};
    use webhook_core::{providers, SignRequest, Verifier};

    async fn push(hook: VerifiedWebhook) -> HttpResponse {
        HttpResponse::Ok().body(format!("push {}", hook.payload["n"]))
    }
    async fn other(hook: RawWebhook) -> HttpResponse {
        HttpResponse::Ok().body(format!("other {}", hook.0.event_type().unwrap_or("-")))
    }

    fn signed(v: &Verifier, body: &'static [u8], id: &str, event: &str) -> atest::TestRequest {
        let s = v.sign(&SignRequest::new(body, SystemTime::now()).id(id).event_type(event)).unwrap();
        let mut req = atest::TestRequest::post().uri("/gh").set_payload(body);
        for (k, val) in s.headers() {
            req = req.insert_header((*k, val.as_str()));
        }
        req
    }

    #[actix_rt::test]
    async fn guards_route_and_the_extractor_verifies() {
        let v = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let app = atest::init_service(
            App::new().app_data(Endpoint::new(v.clone()).with_body_limit(32)).wrap(from_fn(settle)).service(
                web::resource("/gh")
                    .route(web::post().guard(event(providers::GITHUB, "push").unwrap()).to(push))
                    .route(web::post().to(other)),
            ),
        )
        .await;
        let call = |req: atest::TestRequest| {
            let app = &app;
            async move {
                let res = atest::call_service(app, req.to_request()).await;
                let status = res.status().as_u16();
                (status, String::from_utf8(atest::read_body(res).await.to_vec()).unwrap())
            }
        };
        assert_eq!(call(signed(&v, br#"{"n":1}"#, "a", "push")).await, (200, "push 1".into()));
        assert_eq!(call(signed(&v, br#"{"n":1}"#, "b", "issues")).await, (200, "other issues".into()));
        assert_eq!(call(signed(&v, br#"{"n":1}"#, "a", "push")).await, (200, r#"{"status":"duplicate"}"#.into()));
        // A forged push is routed by the guard but refused by the extractor.
        let forged = signed(&v, br#"{"n":1}"#, "c", "push").set_payload(&br#"{"n":2}"#[..]);
        assert_eq!(call(forged).await, (401, r#"{"error":"signature mismatch"}"#.into()));
        let big = signed(&v, &[b' '; 40], "d", "push");
        assert_eq!(call(big).await.0, 413);
    }

    #[actix_rt::test]
    async fn a_payload_of_the_wrong_shape_is_400_and_its_redelivery_too() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Push {
            r#ref: String,
        }
        async fn typed(_: VerifiedWebhook<Push>) -> HttpResponse {
            HttpResponse::Ok().finish()
        }
        let v = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let app = atest::init_service(
            App::new().app_data(Endpoint::new(v.clone())).wrap(from_fn(settle)).route("/gh", web::post().to(typed)),
        )
        .await;
        for attempt in 0..2 {
            let res = atest::call_service(&app, signed(&v, br#"{"n":1}"#, "e", "push").to_request()).await;
            let status = res.status().as_u16();
            let body = String::from_utf8(atest::read_body(res).await.to_vec()).unwrap();
            // The id is not kept as handled: a redelivery is parsed again, not "duplicate".
            assert_eq!(status, 400, "attempt {attempt}: {body}");
            assert!(body.contains("missing field `ref`"), "attempt {attempt}: {body}");
        }
    }

    #[actix_rt::test]
    async fn the_allowlist_is_checked_on_the_peer_address() {
        use webhook_core::ip::{IpAllowlist, TrustedProxies};

        let v = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let allowlist = IpAllowlist::parse_csv("10.0.0.0/8")
            .unwrap()
            .with_trusted_proxies(TrustedProxies::parse_csv("192.0.2.1").unwrap());
        let endpoint = Endpoint::new(v.clone()).with_allowlist(allowlist).with_body_limit(32);
        let app = atest::init_service(
            App::new().app_data(endpoint).wrap(from_fn(settle)).route("/gh", web::post().to(other)),
        )
        .await;
        let call = |req: atest::TestRequest| {
            let app = &app;
            async move {
                let res = atest::call_service(app, req.to_request()).await;
                let status = res.status().as_u16();
                (status, String::from_utf8(atest::read_body(res).await.to_vec()).unwrap())
            }
        };
        let from = |peer: &str, id: &str| {
            signed(&v, br#"{"n":1}"#, id, "push").peer_addr(format!("{peer}:4711").parse().unwrap())
        };
        assert_eq!(call(from("10.9.8.7", "a")).await, (200, "other push".into()));
        assert_eq!(
            call(from("127.0.0.1", "b")).await,
            (403, r#"{"error":"forbidden","reason":"client address 127.0.0.1 is not in the allowlist"}"#.into())
        );
        // Refused before the payload is read: a body over the limit is still a 403.
        assert_eq!(call(signed(&v, &[b' '; 40], "c", "push").peer_addr("127.0.0.1:1".parse().unwrap())).await.0, 403);
        let proxied = from("192.0.2.1", "d").insert_header(("Forwarded", "for=10.1.2.3;proto=https"));
        assert_eq!(call(proxied).await, (200, "other push".into()));
        let forged = from("127.0.0.1", "e").insert_header(("X-Forwarded-For", "10.1.2.3"));
        assert_eq!(call(forged).await.0, 403, "an untrusted peer's header changes nothing");
        // No peer address: refused with the reason.
        let (status, body) = call(signed(&v, br#"{"n":1}"#, "f", "push")).await;
        assert_eq!(status, 403);
        assert!(body.contains("did not pass the connection's peer address"), "{body}");
    }

    /// A handler that answers by the body: `{"do":"fail"}` is a 500, `{"do":"panic"}`
    /// panics, anything else a 200. Every run is counted.
    async fn flaky(hook: VerifiedWebhook, runs: web::Data<std::sync::atomic::AtomicUsize>) -> HttpResponse {
        runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match hook.payload["do"].as_str() {
            Some("fail") => HttpResponse::InternalServerError().finish(),
            Some("panic") => panic!("the handler panicked"),
            _ => HttpResponse::Ok().body("handled"),
        }
    }

    #[actix_rt::test]
    async fn a_failing_or_panicking_handler_frees_the_id_for_the_retry_and_a_succeeding_one_keeps_it() {
        use futures_util::FutureExt;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let v = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let runs = web::Data::new(AtomicUsize::new(0));
        let app = atest::init_service(
            App::new()
                .app_data(Endpoint::new(v.clone()))
                .app_data(runs.clone())
                .wrap(from_fn(settle))
                .route("/gh", web::post().to(flaky)),
        )
        .await;
        let status = |body: &'static [u8], id: &'static str| {
            let app = &app;
            let v = &v;
            async move { atest::call_service(app, signed(v, body, id, "push").to_request()).await.status().as_u16() }
        };
        assert_eq!(status(br#"{"do":"fail"}"#, "f1").await, 500);
        assert_eq!(status(br#"{"do":"fail"}"#, "f1").await, 500, "the retry is handled, not a duplicate");
        assert_eq!(status(br#"{"do":"ok"}"#, "f1").await, 200);
        let duplicate = atest::call_service(&app, signed(&v, br#"{"do":"ok"}"#, "f1", "push").to_request()).await;
        assert_eq!(atest::read_body(duplicate).await, r#"{"status":"duplicate"}"#);
        assert_eq!(runs.load(Ordering::SeqCst), 3, "the duplicate ran nothing");

        let panicked = std::panic::AssertUnwindSafe(status(br#"{"do":"panic"}"#, "p1")).catch_unwind().await;
        assert!(panicked.is_err(), "the handler panicked");
        // The release runs in the background: wait for it (bounded), never for a time.
        let mut answer = 409;
        for _ in 0..1000 {
            answer = status(br#"{"do":"ok"}"#, "p1").await;
            if answer != 409 {
                break;
            }
            actix_rt::task::yield_now().await;
        }
        assert_eq!(answer, 200);
        assert_eq!(runs.load(Ordering::SeqCst), 5, "the retry after the panic was handled");
    }

    #[actix_rt::test]
    async fn without_the_settle_middleware_the_route_says_what_is_missing_and_claims_nothing() {
        let v = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let endpoint = Endpoint::new(v.clone());
        let bare = atest::init_service(App::new().app_data(endpoint.clone()).route("/gh", web::post().to(push))).await;
        let res = atest::call_service(&bare, signed(&v, br#"{"n":1}"#, "m1", "push").to_request()).await;
        assert_eq!(res.status().as_u16(), 500);
        let body = atest::read_body(res).await;
        assert!(String::from_utf8_lossy(&body).contains("lacks webhook_actix::settle"), "{body:?}");
        let fixed =
            atest::init_service(App::new().app_data(endpoint).wrap(from_fn(settle)).route("/gh", web::post().to(push)))
                .await;
        let res = atest::call_service(&fixed, signed(&v, br#"{"n":1}"#, "m1", "push").to_request()).await;
        assert_eq!(atest::read_body(res).await, "push 1", "nothing was claimed by the refused request");
    }

    #[actix_rt::test]
    async fn a_route_without_an_endpoint_is_a_server_error() {
        let app = atest::init_service(App::new().route("/gh", web::post().to(other))).await;
        let res = atest::call_service(&app, atest::TestRequest::post().uri("/gh").to_request()).await;
        assert_eq!(res.status().as_u16(), 500);
    }

    #[test]
    fn event_guards_exist_only_for_header_events() {
        assert!(event(providers::GITHUB, "push").is_some());
        assert!(event(providers::SHOPIFY, "orders/create").is_some());
        assert!(event(providers::STRIPE, "invoice.paid").is_none());
    }

    #[actix_rt::test]
    async fn meta_subscription_echoes_the_challenge_only_for_the_right_token() {
        let app = atest::init_service(App::new().service(web::resource("/meta").route(meta_subscription("tok")))).await;
        let get = |q: &str| atest::TestRequest::get().uri(&format!("/meta?{q}")).to_request();
        let res = atest::call_service(&app, get("hub.mode=subscribe&hub.verify_token=tok&hub.challenge=42")).await;
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(atest::read_body(res).await, "42");
        let res = atest::call_service(&app, get("hub.mode=subscribe&hub.verify_token=x&hub.challenge=42")).await;
        assert_eq!(res.status().as_u16(), 403);
    }
}
