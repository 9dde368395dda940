//! One call from an adapter: verify, answer a handshake, deduplicate, and say what to
//! answer. Adapters only translate an [`Outcome`] into their framework's response.
//!
//! ```
//! use std::time::SystemTime;
//! use webhook_core::receive::{Endpoint, Outcome};
//! use webhook_core::{providers, WebhookRequest, SignRequest, Verifier};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let github = Verifier::new(providers::GITHUB, "s3cret").unwrap();
//! let endpoint = Endpoint::new(github.clone());
//! let now = SystemTime::now();
//! let signed = github.sign(&SignRequest::new(b"{}", now).id("d-1").event_type("push")).unwrap();
//!
//! let first = endpoint.receive(&WebhookRequest::new(&signed, &b"{}"[..]), now).await;
//! assert!(matches!(first, Outcome::Accepted(_)));
//! assert_eq!(first.body().as_ref(), br#"{"status":"accepted"}"#);
//!
//! let again = endpoint.receive(&WebhookRequest::new(&signed, &b"{}"[..]), now).await;
//! assert_eq!((again.status().as_u16(), again.label()), (200, "duplicate"));
//! # });
//! ```

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::StatusCode;
use sha2::{Digest, Sha256};

use crate::dedup::{Claim, DedupStore, MemoryDedup, StoreError};
use crate::error::{ErrorKind, VerifyError};
use crate::handshake::Reply;
use crate::headers::Headers;
use crate::ip::{IpAllowlist, IpRefusal};
use crate::limits::ConnectionLimits;
use crate::prepare::{Prepare, PrepareError};
use crate::sink::{AuditRecord, AuditSink, Delivery, Sink, Stored};
use crate::throttle::Throttle;
use crate::verifier::{Request, Verified, Verify};

/// The body limit adapters apply when none is configured: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// What happened to a request, and so what to answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// Verified and new: 200 `{"status":"accepted"}` (or the application's own answer).
    Accepted(Verified),
    /// Verified, and this delivery id was already accepted: 200 `{"status":"duplicate"}`.
    Duplicate(Verified),
    /// Verified, but another request with the same delivery id is still being handled:
    /// 409, so the provider retries instead of being told it was accepted.
    InFlight(Verified),
    /// A provider's endpoint check, answered as it expects.
    Handshake(Reply),
    /// Refused: the error says why, and its status is the answer (400, 401).
    Rejected(VerifyError),
    /// The body is longer than the limit: 413.
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body did not arrive within the body timeout, or fell below the minimum rate
    /// ([`ConnectionLimits::body_deadline`]): 408. Nothing was verified, claimed or stored.
    TimedOut,
    /// The dedup store or the sink failed: 503 when it is
    /// [unavailable](StoreError::is_unavailable) (the provider retries and it recovers by
    /// itself), 500 when it is misconfigured or refused the data. Nothing is acknowledged.
    Unavailable(StoreError),
    /// The client's address is not in the endpoint's allowlist, or could not be
    /// determined: 403 `{"error":"forbidden","reason":"..."}`. See [`Endpoint::admit`].
    Forbidden(IpRefusal),
    /// The endpoint's [`Prepare`] hook could not get what verification needs (a signing
    /// certificate that cannot be fetched now): 503 `{"error": "<its message>"}`, so the
    /// provider retries. Nothing was verified, claimed or stored. (A hook that *refuses*
    /// the request is answered as [`Outcome::Rejected`].)
    NotPrepared(PrepareError),
}

impl Outcome {
    /// The HTTP status to answer with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Accepted(_) | Self::Duplicate(_) => StatusCode::OK,
            Self::InFlight(_) => StatusCode::CONFLICT,
            Self::Handshake(r) => r.status,
            Self::Rejected(e) => e.status(),
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TimedOut => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unavailable(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotPrepared(e) => e.status(),
        }
    }

    /// The `Content-Type` of [`body`](Self::body), if there is a body.
    pub fn content_type(&self) -> Option<&'static str> {
        match self {
            Self::Handshake(r) => r.content_type,
            _ => Some("application/json"),
        }
    }

    /// The body to answer with: `{"status": ...}` for acknowledgements,
    /// `{"error": "<what is wrong>"}` for refusals (`{"error": "forbidden", "reason": ...}`
    /// for a client outside the allowlist), the provider's expected body for a handshake.
    pub fn body(&self) -> Bytes {
        let error = |msg: &str| Bytes::from(serde_json::json!({ "error": msg }).to_string());
        match self {
            Self::Accepted(_) => Bytes::from_static(br#"{"status":"accepted"}"#),
            Self::Duplicate(_) => Bytes::from_static(br#"{"status":"duplicate"}"#),
            Self::InFlight(_) => error("this delivery is already being processed; retry later"),
            Self::Handshake(r) => r.body.clone(),
            Self::Rejected(e) => error(&e.to_string()),
            Self::TooLarge { limit } => error(&format!("body larger than the limit of {limit} bytes")),
            Self::TimedOut => error("the body was not received in time"),
            Self::Unavailable(e) if e.is_unavailable() => error("the webhook store is unavailable; retry later"),
            Self::Unavailable(_) => error("the webhook store failed; retry later"),
            Self::Forbidden(r) => {
                Bytes::from(serde_json::json!({ "error": "forbidden", "reason": r.to_string() }).to_string())
            }
            Self::NotPrepared(e) => error(&e.to_string()),
        }
    }

    /// A stable label for metrics and logs: `accepted`, `duplicate`, `in_flight`,
    /// `handshake`, `invalid_signature`, `malformed`, `stale`, `too_large`, `unavailable`,
    /// `store_error`, `misconfigured`, `forbidden`, `timeout`.
    pub fn label(&self) -> &'static str {
        LABELS[self.label_index()]
    }

    /// Where [`label`](Self::label) is in [`LABELS`]: the index of its metric key.
    fn label_index(&self) -> usize {
        match self {
            Self::Accepted(_) => 0,
            Self::Duplicate(_) => 1,
            Self::InFlight(_) => 2,
            Self::Handshake(_) => 3,
            Self::Rejected(e) if e.is_stale() => 4,
            Self::Rejected(e) if e.kind() == ErrorKind::Configuration => 5,
            Self::Rejected(e) if e.is_unauthorized() => 6,
            Self::Rejected(_) => 7,
            Self::TooLarge { .. } => 8,
            Self::TimedOut => 9,
            Self::Unavailable(e) if e.is_unavailable() => 10,
            Self::Unavailable(_) => 11,
            Self::Forbidden(_) => 12,
            Self::NotPrepared(_) => 10,
        }
    }

    /// The verified delivery, for the outcomes that have one.
    pub fn delivery(&self) -> Option<&Verified> {
        match self {
            Self::Accepted(v) | Self::Duplicate(v) | Self::InFlight(v) => Some(v),
            _ => None,
        }
    }
}

/// Every [`Outcome::label`], in the order of `Outcome::label_index`.
const LABELS: [&str; 13] = [
    "accepted",
    "duplicate",
    "in_flight",
    "handshake",
    "stale",
    "misconfigured",
    "invalid_signature",
    "malformed",
    "too_large",
    "timeout",
    "unavailable",
    "store_error",
    "forbidden",
];

/// The keys of an endpoint's request metrics, built once with the endpoint: with a
/// provider that is not a literal, `metrics::counter!` builds its label set (a vector, a
/// hash of every label) on each request, and the Prometheus recorder copies it into an
/// `Arc` to look the metric up. A retained key's labels are that `Arc` already.
struct RequestMetrics {
    /// `webhook_requests_total{provider, outcome}`, one key per label of [`LABELS`].
    requests: [metrics::Key; LABELS.len()],
    /// `webhook_request_duration_seconds{provider}`.
    duration: metrics::Key,
}

impl RequestMetrics {
    fn new(provider: &'static str) -> Self {
        use metrics::{Key, Label};
        Self {
            requests: LABELS.map(|outcome| {
                let labels = vec![Label::new("provider", provider), Label::new("outcome", outcome)];
                Key::from_parts("webhook_requests_total", labels).to_retained()
            }),
            duration: Key::from_parts("webhook_request_duration_seconds", vec![Label::new("provider", provider)])
                .to_retained(),
        }
    }

    /// Counts `outcome` and, for a request that was timed, its duration, with the recorder
    /// in force now (as the macros do: a recorder installed later, or a thread's local one,
    /// sees every request after it).
    fn record(&self, outcome: &Outcome, started: Option<std::time::Instant>) {
        static METADATA: metrics::Metadata<'static> =
            metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));
        metrics::with_recorder(|recorder| {
            recorder.register_counter(&self.requests[outcome.label_index()], &METADATA).increment(1);
            if let Some(started) = started {
                recorder.register_histogram(&self.duration, &METADATA).record(started.elapsed().as_secs_f64());
            }
        });
    }
}

/// A webhook route's configuration: the verifier, the dedup store, the body limit and the
/// public URL (for providers that sign it). Cheap to clone.
#[derive(Clone)]
pub struct Endpoint {
    verifier: Arc<dyn Verify>,
    dedup: Arc<dyn DedupStore>,
    body_limit: usize,
    public_url: Option<Arc<str>>,
    allowlist: Option<IpAllowlist>,
    sink: Option<Arc<dyn Sink>>,
    prepare: Option<Arc<dyn Prepare>>,
    audit: Option<Arc<dyn AuditSink>>,
    limits: Arc<ConnectionLimits>,
    metrics: Arc<RequestMetrics>,
    /// The warnings a failing store or certificate server repeats with every request,
    /// logged at most once a second each.
    warnings: Arc<(Throttle, Throttle)>,
}

impl Endpoint {
    /// An endpoint with its own in-memory dedup store (100 000 ids, 7 days) and a 1 MiB
    /// body limit.
    pub fn new(verifier: impl Verify + 'static) -> Self {
        let metrics = Arc::new(RequestMetrics::new(verifier.provider().name()));
        Self {
            metrics,
            verifier: Arc::new(verifier),
            dedup: Arc::new(MemoryDedup::new(100_000, MemoryDedup::DEFAULT_TTL)),
            body_limit: DEFAULT_BODY_LIMIT,
            public_url: None,
            allowlist: None,
            sink: None,
            prepare: None,
            audit: None,
            limits: Arc::default(),
            warnings: Arc::new((Throttle::new(), Throttle::new())),
        }
    }

    /// Reads bodies within `limits`' body timeout and minimum rate (408 past them); the
    /// other limits are for the server. Without it, [`ConnectionLimits::default`].
    #[must_use]
    pub fn with_limits(mut self, limits: ConnectionLimits) -> Self {
        self.limits = Arc::new(limits);
        self
    }

    /// The limits adapters read the body within.
    pub fn limits(&self) -> &ConnectionLimits {
        &self.limits
    }

    /// The answer for a body that missed its deadline while being read (408), counted
    /// like every other outcome and in `webhook_timeouts_total{kind="body"}`.
    ///
    /// ```
    /// use webhook_core::receive::Endpoint;
    /// use webhook_core::{providers, Verifier};
    ///
    /// let endpoint = Endpoint::new(Verifier::new(providers::GITHUB, "s3cret").unwrap());
    /// let headers: [(&str, &str); 0] = [];
    /// let answer = endpoint.body_timed_out(&headers, None);
    /// assert_eq!((answer.status().as_u16(), answer.label()), (408, "timeout"));
    /// assert_eq!(answer.body().as_ref(), br#"{"error":"the body was not received in time"}"#);
    /// ```
    pub fn body_timed_out(&self, headers: &dyn Headers, peer: Option<IpAddr>) -> Outcome {
        metrics::counter!("webhook_timeouts_total", "kind" => "body").increment(1);
        let outcome = Outcome::TimedOut;
        let (span, rid) = self.span(headers);
        let _entered = span.enter();
        self.log(&outcome, None, (&span, rid.as_deref()), Some(headers), peer, None);
        outcome
    }

    /// Stores every new delivery in `sink` (an event store of the `webhook-pipeline`
    /// crate, a broker, a [`Sink`] of your own) before acknowledging it: the 200 goes out
    /// only after the sink holds it, and a store that cannot be reached is answered with 503
    /// so the provider retries. The store's unique `(provider, delivery id)` is the last
    /// word on duplicates.
    ///
    /// With a sink, a body that must be JSON (the provider's bodies are) and is not is
    /// refused with 400 before anything is claimed or stored: what is acknowledged can be
    /// handled.
    #[must_use]
    pub fn with_sink(mut self, sink: Arc<dyn Sink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Awaits `prepare` before verifying each request, after the body limit: it fetches
    /// what the verifier reads and cannot fetch itself (the signing certificate an Amazon
    /// SNS or PayPal delivery names: the `webhook-pipeline` crate's `CertificateFetcher`,
    /// which is also the verifier's certificate store). A refusal is answered 400 and an
    /// unavailable fetch 503 ([`Outcome::NotPrepared`]), before anything is verified,
    /// claimed or stored. See [`crate::prepare`] for an example.
    #[must_use]
    pub fn with_prepare(mut self, prepare: Arc<dyn Prepare>) -> Self {
        self.prepare = Some(prepare);
        self
    }

    /// Whether a [`Prepare`] hook runs before verification.
    pub fn has_prepare(&self) -> bool {
        self.prepare.is_some()
    }

    /// Records every request this endpoint answers, accepted or refused, in `audit`
    /// (the `webhook-pipeline` crate's `AuditLog`, or an [`AuditSink`] of your own):
    /// provider, delivery id, event type, time, whether the signature verified, request
    /// id, outcome, status, error and client address. Recording never delays the answer.
    #[must_use]
    pub fn with_audit(mut self, audit: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// Uses `store` for deduplication (share one store across endpoints if you like: keys
    /// are prefixed with the provider's name).
    #[must_use]
    pub fn with_dedup(mut self, store: Arc<dyn DedupStore>) -> Self {
        self.dedup = store;
        self
    }

    /// Refuses bodies longer than `limit` bytes with 413.
    #[must_use]
    pub fn with_body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }

    /// The public `scheme://host[:port]` the provider posts to, as the provider sees it
    /// (Twilio signs the full URL). Without one, adapters pass no URL.
    #[must_use]
    pub fn with_public_url(mut self, base: &str) -> Self {
        self.public_url = Some(Arc::from(base.trim_end_matches('/')));
        self
    }

    /// Accepts deliveries only from clients in `allowlist` (which also names the trusted
    /// proxies whose forwarding headers are believed): see [`admit`](Self::admit). Without
    /// one, every address is admitted and nothing is computed.
    #[must_use]
    pub fn with_allowlist(mut self, allowlist: IpAllowlist) -> Self {
        self.allowlist = Some(allowlist);
        self
    }

    /// The allowlist, if one is configured.
    pub fn allowlist(&self) -> Option<&IpAllowlist> {
        self.allowlist.as_ref()
    }

    /// Whether deliveries are stored in a [`Sink`] before they are acknowledged.
    pub fn has_sink(&self) -> bool {
        self.sink.is_some()
    }

    /// The body limit in bytes.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// The verifier.
    pub fn verifier(&self) -> &dyn Verify {
        &*self.verifier
    }

    /// The full URL for a request path and query (`/hooks/twilio?x=1`), if a public URL
    /// is configured.
    pub fn url_for(&self, path_and_query: &str) -> Option<String> {
        self.public_url.as_ref().map(|base| [&**base, path_and_query].concat())
    }

    /// A request whose `Content-Length` already exceeds the limit: adapters call this with
    /// the request headers before reading a byte. (A missing or unreadable length is left
    /// to the limit applied while reading.)
    pub fn too_large(&self, headers: &dyn Headers) -> Option<Outcome> {
        let mut length = None;
        headers.for_each_value("content-length", &mut |v| {
            length = std::str::from_utf8(v).ok().and_then(|t| t.trim().parse::<u64>().ok());
        });
        match length {
            Some(n) if n > self.body_limit as u64 => {
                let outcome = Outcome::TooLarge { limit: self.body_limit };
                let (span, rid) = self.span(headers);
                let _entered = span.enter();
                self.log(&outcome, None, (&span, rid.as_deref()), Some(headers), None, None);
                Some(outcome)
            }
            _ => None,
        }
    }

    /// Whether the client may post here: adapters call this first, with the connection's
    /// peer address and the request headers, before reading a byte of the body.
    ///
    /// `None` admits the request (always, when no allowlist is configured). Otherwise the
    /// answer is [`Outcome::Forbidden`] (403), already counted as `forbidden` and logged at
    /// debug with the peer, the client and the reason. A `peer` of `None` (the server did
    /// not pass the connection's address) is refused when an allowlist is configured: an
    /// allowlist that cannot see the client must not admit everyone.
    ///
    /// ```
    /// use webhook_core::ip::IpAllowlist;
    /// use webhook_core::receive::Endpoint;
    /// use webhook_core::{providers, Verifier};
    ///
    /// let github = Verifier::new(providers::GITHUB, "s3cret").unwrap();
    /// let endpoint = Endpoint::new(github).with_allowlist(IpAllowlist::parse_csv("192.0.2.0/24").unwrap());
    /// let headers: [(&str, &str); 0] = [];
    /// assert!(endpoint.admit(Some("192.0.2.7".parse().unwrap()), &headers).is_none());
    /// let refused = endpoint.admit(Some("127.0.0.1".parse().unwrap()), &headers).unwrap();
    /// assert_eq!((refused.status().as_u16(), refused.label()), (403, "forbidden"));
    /// assert_eq!(
    ///     refused.body().as_ref(),
    ///     br#"{"error":"forbidden","reason":"client address 127.0.0.1 is not in the allowlist"}"#
    /// );
    /// ```
    pub fn admit(&self, peer: Option<IpAddr>, headers: &dyn Headers) -> Option<Outcome> {
        let refusal = self.allowlist.as_ref()?.check(peer, headers).err()?;
        let outcome = Outcome::Forbidden(refusal);
        let (span, rid) = self.span(headers);
        let _entered = span.enter();
        self.log(&outcome, None, (&span, rid.as_deref()), Some(headers), peer, None);
        Some(outcome)
    }

    /// The answer to the provider's `GET` endpoint check on this route (X's CRC, Dropbox's
    /// challenge, Okta's one-time verification), from the query string and headers, counted,
    /// logged and audited like every answer; `None` when the provider makes no such check
    /// (the adapter answers 405). Adapters call [`admit`](Self::admit) first.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use webhook_core::receive::Endpoint;
    /// use webhook_core::{providers, Verifier};
    ///
    /// let dropbox = Endpoint::new(Verifier::new(providers::DROPBOX, "app-secret").unwrap());
    /// let none: [(&str, &str); 0] = [];
    /// let answer = dropbox.answer_get("challenge=abc", &none, SystemTime::now()).unwrap();
    /// assert_eq!((answer.status().as_u16(), answer.body().as_ref()), (200, &b"abc"[..]));
    /// let github = Endpoint::new(Verifier::new(providers::GITHUB, "s").unwrap());
    /// assert!(github.answer_get("challenge=abc", &none, SystemTime::now()).is_none());
    /// ```
    pub fn answer_get(&self, query: &str, headers: &(dyn Headers + Sync), now: SystemTime) -> Option<Outcome> {
        let started = std::time::Instant::now();
        let outcome = match self.verifier.answer_get(query, headers, now)? {
            Ok(reply) => Outcome::Handshake(reply),
            Err(e) => Outcome::Rejected(e),
        };
        let (span, rid) = self.span(headers);
        let _entered = span.enter();
        self.log(&outcome, Some((started, now)), (&span, rid.as_deref()), Some(headers), None, None);
        Some(outcome)
    }

    /// The answer for a body found longer than the limit while reading it (413), counted,
    /// logged and audited like every other outcome, under the request's id and client
    /// (`headers` and the connection's `peer`).
    pub fn over_limit(&self, headers: &dyn Headers, peer: Option<IpAddr>) -> Outcome {
        let outcome = Outcome::TooLarge { limit: self.body_limit };
        let (span, rid) = self.span(headers);
        let _entered = span.enter();
        self.log(&outcome, None, (&span, rid.as_deref()), Some(headers), peer, None);
        outcome
    }

    /// Verifies, answers handshakes, and deduplicates: the whole decision for one request.
    ///
    /// A new delivery is claimed and immediately marked done, so the answer is the
    /// acknowledgement. (With the durable pipeline the delivery is stored first.)
    ///
    /// Each call runs in a `webhook` tracing span carrying the provider, the request id,
    /// the delivery id, the event type, the client address and the outcome.
    pub async fn receive(&self, req: &Request<'_>, now: SystemTime) -> Outcome {
        self.answer(req, now, true).await
    }

    /// Like [`receive`](Self::receive), but an [`Outcome::Accepted`] delivery is only
    /// *claimed*: the caller handles it and then must call [`settle`](Self::settle), so
    /// that a failed handling frees the id for the provider's retry. The tower layer uses
    /// this around the inner service.
    pub async fn claim(&self, req: &Request<'_>, now: SystemTime) -> Outcome {
        self.answer(req, now, false).await
    }

    async fn answer(&self, req: &Request<'_>, now: SystemTime, complete: bool) -> Outcome {
        use tracing::Instrument;
        let started = std::time::Instant::now();
        let (span, rid) = self.span(req.headers);
        let mut seen = None;
        let outcome = self.decide(req, now, complete, &mut seen).instrument(span.clone()).await;
        let _entered = span.enter();
        self.log(&outcome, Some((started, now)), (&span, rid.as_deref()), Some(req.headers), req.peer, seen.as_ref());
        outcome
    }

    /// The request's span, and its request id (the caller's `X-Request-Id` when usable)
    /// when a subscriber or the audit log will see it.
    fn span(&self, headers: &dyn Headers) -> (tracing::Span, Option<String>) {
        let span = tracing::info_span!(
            "webhook",
            provider = self.verifier.provider().name(),
            request_id = tracing::field::Empty,
            delivery_id = tracing::field::Empty,
            event_type = tracing::field::Empty,
            client = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        let audited = self.audit.is_some();
        let rid = (audited || !span.is_disabled()).then(|| request_id(headers));
        if let Some(rid) = &rid {
            span.record("request_id", rid.as_str());
        }
        (span, rid)
    }

    /// Ends a claim: `handled` marks the id done (later copies are duplicates), otherwise
    /// the id is released so the provider's retry is accepted.
    pub async fn settle(&self, delivery: &Verified, handled: bool) -> Result<(), StoreError> {
        let key = dedup_key(delivery);
        if handled {
            self.dedup.complete(&key).await
        } else {
            self.dedup.release(&key).await
        }
    }

    /// Like [`claim`](Self::claim), with the claim of an accepted delivery held by a
    /// [`PendingClaim`] that settles it by the handling's result, and releases it when
    /// dropped unsettled (a handler that panicked, a request the client abandoned), so
    /// the provider's retry is never answered "duplicate" for an event nobody handled.
    /// `spawn` runs the release of a dropped claim in the background (an adapter passes
    /// its runtime's spawn: `|f| { tokio::spawn(f); }`).
    pub async fn claim_pending(
        &self,
        req: &Request<'_>,
        now: SystemTime,
        spawn: Spawn,
    ) -> Result<PendingClaim, Outcome> {
        match self.claim(req, now).await {
            Outcome::Accepted(delivery) => Ok(PendingClaim { endpoint: self.clone(), delivery, spawn: Some(spawn) }),
            other => Err(other),
        }
    }

    /// Counts, logs, traces and audits one answer.
    fn log(
        &self,
        outcome: &Outcome,
        started: Option<(std::time::Instant, SystemTime)>,
        (span, rid): (&tracing::Span, Option<&str>),
        headers: Option<&dyn Headers>,
        peer: Option<IpAddr>,
        verified: Option<&Verified>,
    ) {
        let provider = self.verifier.provider().name();
        // The delivery, when the signature verified: the outcome's, or (a store that failed
        // after verifying, a body refused after verifying) the one `decide` saw.
        let delivery = outcome.delivery().or(verified);
        let _ = rid; // Only the audit log uses it beyond the span.
        let client = match (&self.allowlist, peer, headers) {
            (Some(list), Some(p), Some(h)) => list.trusted_proxies().client_addr(p, h).ok(),
            _ => peer,
        };
        if !span.is_disabled() {
            span.record("outcome", outcome.label());
            if let Some(d) = delivery {
                span.record("delivery_id", delivery_id(d).as_str());
                if let Some(t) = d.event_type() {
                    span.record("event_type", t);
                }
            }
            if let Some(c) = client {
                span.record("client", tracing::field::display(c));
            }
        }
        if let Some(audit) = &self.audit {
            let received_at = started.map_or_else(SystemTime::now, |(_, at)| at);
            let rid = rid.map_or_else(new_request_id, str::to_owned);
            audit.record(self.audit_record(outcome, delivery, rid, received_at, headers, client));
        }
        self.metrics.record(outcome, started.map(|(started, _)| started));
        match outcome {
            Outcome::Rejected(e) => {
                tracing::debug!(provider, kind = e.kind().as_str(), reason = %e, "webhook rejected");
            }
            // Once a second at most: a store that is down fails every request. `left_out`
            // counts the same warnings not logged since the last line.
            Outcome::Unavailable(e) => {
                if let Some(left_out) = self.warnings.0.allow() {
                    tracing::warn!(provider, error = %e, left_out, "store unavailable");
                }
            }
            Outcome::NotPrepared(e) => {
                if let Some(left_out) = self.warnings.1.allow() {
                    tracing::warn!(provider, error = %e, left_out, "could not prepare the verification");
                }
            }
            Outcome::Forbidden(r) => {
                tracing::debug!(provider, peer = ?r.peer(), client = ?r.client(), reason = %r, "webhook forbidden");
            }
            _ => {}
        }
    }

    fn audit_record(
        &self,
        outcome: &Outcome,
        verified: Option<&Verified>,
        request_id: String,
        received_at: SystemTime,
        headers: Option<&dyn Headers>,
        client: Option<IpAddr>,
    ) -> AuditRecord {
        let provider = self.verifier.provider();
        let (delivery, event_type) = match verified {
            Some(d) => (Some(delivery_id(d)), d.event_type().map(str::to_owned)),
            // Unverified: the id the request claims, if it names one, bounded.
            None => (
                headers
                    .zip(provider.id_header())
                    .and_then(|(h, name)| header_text(h, name))
                    .map(|v| v.chars().take(MAX_CLAIMED_ID).collect()),
                None,
            ),
        };
        let error = match outcome {
            Outcome::Rejected(e) => Some(e.to_string()),
            Outcome::Unavailable(e) => Some(e.to_string()),
            Outcome::NotPrepared(e) => Some(e.to_string()),
            Outcome::Forbidden(r) => Some(r.to_string()),
            Outcome::TooLarge { .. } | Outcome::InFlight(_) | Outcome::TimedOut => {
                Some(String::from_utf8_lossy(&outcome.body()).into_owned())
            }
            _ => None,
        };
        AuditRecord {
            delivery_id: delivery,
            event_type,
            signature_verified: verified.is_some() || matches!(outcome, Outcome::Handshake(_)),
            outcome: outcome.label().to_owned(),
            status: outcome.status().as_u16(),
            error,
            client_ip: client.map(|c| c.to_string()),
            ..AuditRecord::new(&request_id, provider.name(), received_at)
        }
    }

    /// The answer; when its signature verified and the outcome does not carry the delivery
    /// (503, a body refused, a handshake), `seen` gets it, for the log and the audit record.
    async fn decide(&self, req: &Request<'_>, now: SystemTime, complete: bool, seen: &mut Option<Verified>) -> Outcome {
        if req.body().len() > self.body_limit {
            return Outcome::TooLarge { limit: self.body_limit };
        }
        if let Some(prepare) = &self.prepare {
            // What the verifier reads and cannot fetch (a signing certificate): before
            // verifying, and before anything is claimed.
            if let Err(e) = prepare.prepare(self.verifier.provider(), req).await {
                return match e.verify_error() {
                    Some(refusal) => Outcome::Rejected(refusal.clone()),
                    None => Outcome::NotPrepared(e),
                };
            }
        }
        let verified = match self.verifier.verify(req, now) {
            Ok(v) => v,
            Err(e) => return Outcome::Rejected(e),
        };
        // An outcome that does not carry the delivery hands it to `seen` (moved: no copy).
        let unseen = |seen: &mut Option<Verified>, verified, outcome| {
            *seen = Some(verified);
            outcome
        };
        if let Some(reply) = self.verifier.handshake(req, &verified) {
            return unseen(seen, verified, Outcome::Handshake(reply));
        }
        if self.sink.is_some() && self.verifier.provider().body_is_json() && !crate::json::is_json(verified.body()) {
            // Checked in full only when the delivery is to be stored: what is acknowledged
            // must be something a handler can read. Nothing is claimed yet.
            let refused = Outcome::Rejected(VerifyError::new(ErrorKind::BodyNotJson, "body is not valid JSON"));
            return unseen(seen, verified, refused);
        }
        let key = dedup_key(&verified);
        match self.dedup.claim(&key).await {
            Ok(Claim::New) => {}
            Ok(Claim::Duplicate) => return Outcome::Duplicate(verified),
            Ok(Claim::InFlight) => return Outcome::InFlight(verified),
            Err(e) => return unseen(seen, verified, Outcome::Unavailable(e)),
        }
        if let Some(sink) = &self.sink {
            match sink.store(Delivery::new(&verified, req.headers, now)).await {
                Ok(Stored::New) => {}
                // Stored before (the dedup store forgot it): answered as a duplicate.
                Ok(_) => {
                    let _ = self.dedup.complete(&key).await;
                    return Outcome::Duplicate(verified);
                }
                Err(e) => {
                    let _ = self.dedup.release(&key).await;
                    return unseen(seen, verified, Outcome::Unavailable(e));
                }
            }
        }
        if !complete {
            return Outcome::Accepted(verified);
        }
        match self.dedup.complete(&key).await {
            Ok(()) => Outcome::Accepted(verified),
            Err(e) => {
                // Best effort: a failed release only delays the retry by the lease.
                let _ = self.dedup.release(&key).await;
                unseen(seen, verified, Outcome::Unavailable(e))
            }
        }
    }
}

/// Runs a future in the background: how a [`PendingClaim`] dropped unsettled releases
/// its id without the core knowing a runtime.
pub type Spawn = fn(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>);

/// An accepted delivery whose dedup claim is still open: from
/// [`Endpoint::claim_pending`]. [`settle`](Self::settle) it with whether it was handled;
/// dropped without that, it releases the id (through the [`Spawn`] it was given), so the
/// provider's retry is processed.
pub struct PendingClaim {
    endpoint: Endpoint,
    delivery: Verified,
    spawn: Option<Spawn>,
}

impl PendingClaim {
    /// The delivery.
    pub fn delivery(&self) -> &Verified {
        &self.delivery
    }

    /// Completes the claim when `handled` (later copies are duplicates), releases it
    /// otherwise (the retry is accepted). A store that cannot be reached is logged: the
    /// claim's lease frees the id in time.
    pub async fn settle(mut self, handled: bool) {
        self.spawn = None;
        if let Err(e) = self.endpoint.settle(&self.delivery, handled).await {
            tracing::warn!(error = %e, handled, "could not settle the dedup claim; its lease will free it");
        }
    }
}

impl Drop for PendingClaim {
    fn drop(&mut self) {
        if let Some(spawn) = self.spawn.take() {
            let (endpoint, delivery) = (self.endpoint.clone(), self.delivery.clone());
            tracing::debug!(id = delivery.id().unwrap_or("-"), "claim dropped unsettled: released");
            spawn(Box::pin(async move {
                let _ = endpoint.settle(&delivery, false).await;
            }));
        }
    }
}

impl std::fmt::Debug for PendingClaim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingClaim")
            .field("delivery", &self.delivery)
            .field("settled", &self.spawn.is_none())
            .finish()
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("provider", &self.verifier.provider())
            .field("body_limit", &self.body_limit)
            .field("public_url", &self.public_url)
            .field("allowlist", &self.allowlist)
            .field("prepare", &self.prepare.is_some())
            .finish()
    }
}

/// The key a delivery is deduplicated on: `provider:id`, or, for providers that send no
/// delivery id (Zoom, Meta, SendGrid), `provider:sha256:<hex of the body>`: a retry
/// resends the same body.
pub fn dedup_key(verified: &Verified) -> String {
    match verified.id() {
        // Joined, not `format!`ted: this runs twice per delivery.
        Some(id) => [verified.provider(), ":", id].concat(),
        None => format!("{}:sha256:{}", verified.provider(), hex::encode(Sha256::digest(verified.body()))),
    }
}

/// The delivery id a verified delivery is stored under (its [`dedup_key`] without the
/// provider): what the audit log records and the event store's `delivery_id`.
pub(crate) fn delivery_id(verified: &Verified) -> String {
    match verified.id() {
        Some(id) => id.to_owned(),
        None => format!("sha256:{}", hex::encode(Sha256::digest(verified.body()))),
    }
}

/// The longest claimed (unverified) delivery id an audit record keeps.
const MAX_CLAIMED_ID: usize = 200;

/// The longest `X-Request-Id` taken from a request; longer or odd ones are replaced.
const MAX_REQUEST_ID: usize = 128;

/// The request id: the caller's `X-Request-Id` (a load balancer's, say) when it is short
/// and printable, otherwise a new one.
fn request_id(headers: &dyn Headers) -> String {
    callers_request_id(headers).unwrap_or_else(new_request_id)
}

/// The caller's `X-Request-Id` (a load balancer's, a proxy's, your middleware's) when the
/// core uses it: 1 to 128 printable ASCII characters, no spaces. The request's tracing span
/// and audit record carry this id; without one they carry a [new](new_request_id) one.
///
/// A server that echoes request ids sets the header on the request first, when this is
/// `None`, so that the id in its response is the one in the logs:
///
/// ```
/// use webhook_core::receive::{callers_request_id, new_request_id};
///
/// let mut headers = http::HeaderMap::new();
/// if callers_request_id(&headers).is_none() {
///     headers.insert("x-request-id", new_request_id().parse().unwrap());
/// }
/// let id = callers_request_id(&headers).unwrap(); // what the logs and the audit say
/// # assert!(!id.is_empty());
/// headers.insert("x-request-id", "lb 42".parse().unwrap());
/// assert_eq!(callers_request_id(&headers), None, "a space: not used");
/// ```
pub fn callers_request_id(headers: &dyn Headers) -> Option<String> {
    header_text(headers, "x-request-id")
        .filter(|id| !id.is_empty() && id.len() <= MAX_REQUEST_ID && id.bytes().all(|b| b.is_ascii_graphic()))
}

/// A header's first value, if it is UTF-8.
fn header_text(headers: &dyn Headers, name: &str) -> Option<String> {
    let mut found = None;
    headers.for_each_value(name, &mut |v| {
        if found.is_none() {
            found = std::str::from_utf8(v).ok().map(str::to_owned);
        }
    });
    found
}

/// A request id unique in this process and across restarts: the time and a counter.
/// A new request id: the time in microseconds and a process-wide counter, in hex
/// (`18a2b3c4d5e6f-2a`): unique within the process, ordered, cheap.
pub fn new_request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let micros = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_micros());
    // Written digit by digit: `format!("{micros:x}-{n:x}")` costs several times as much,
    // for every request that comes without an id.
    let mut id = String::with_capacity(40);
    push_hex(&mut id, micros);
    id.push('-');
    push_hex(&mut id, u128::from(NEXT.fetch_add(1, Ordering::Relaxed)));
    id
}

/// Appends `n` in lowercase hex, without leading zeros (`0` for zero), as `{:x}` does.
fn push_hex(out: &mut String, n: u128) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digits = (128 - n.leading_zeros()).div_ceil(4).max(1);
    for i in (0..digits).rev() {
        out.push(char::from(DIGITS[((n >> (4 * i)) & 0xf) as usize]));
    }
}

/// How long providers keep redelivering (Stripe: 3 days, Standard Webhooks: about 3 days;
/// GitHub's manual redelivery: 3 days): the default dedup TTL covers them all.
pub const DEFAULT_DEDUP_TTL: Duration = MemoryDedup::DEFAULT_TTL;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{providers, SignRequest, Verifier};

    /// Everything a DEBUG-level fmt subscriber writes while `f` runs, span closes included.
    fn traced(f: impl FnOnce()) -> String {
        use std::sync::Mutex;
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let out = sink.0.lock().unwrap().clone();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn each_request_has_a_span_with_its_delivery_and_outcome_and_rejections_name_no_secret() {
        let secret = "s3cret-never-logged";
        let github = Verifier::new(providers::GITHUB, secret).unwrap();
        let endpoint = Endpoint::new(github.clone());
        let now = SystemTime::now();
        let body = br#"{"zen":"trace"}"#;
        let signed = github.sign(&SignRequest::new(body, now).id("d-traced").event_type("push")).unwrap();
        let mut forged: Vec<(String, String)> =
            signed.headers().iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        let signature = "sha256=".to_owned() + &"ab".repeat(32);
        forged.retain(|(k, _)| !k.eq_ignore_ascii_case("x-hub-signature-256"));
        forged.push(("X-Hub-Signature-256".into(), signature.clone()));
        forged.push(("X-Request-Id".into(), "req-from-the-lb".into()));
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let out = traced(|| {
            rt.block_on(async {
                let ok =
                    endpoint.receive(&Request::new(&signed, &body[..]).with_peer([192, 0, 2, 7].into()), now).await;
                assert_eq!(ok.label(), "accepted");
                let bad = endpoint.receive(&Request::new(&forged, &body[..]), now).await;
                assert_eq!(bad.label(), "invalid_signature");
            });
        });
        let lines: Vec<&str> = out.lines().collect();
        let accepted = lines.iter().find(|l| l.contains(r#"outcome="accepted""#)).unwrap_or_else(|| panic!("{out}"));
        for field in [
            r#"provider="github""#,
            r#"delivery_id="d-traced""#,
            r#"event_type="push""#,
            "client=192.0.2.7",
            "request_id=",
        ] {
            assert!(accepted.contains(field), "{field} missing from the span: {accepted}");
        }
        let rejected = lines.iter().find(|l| l.contains("webhook rejected")).unwrap_or_else(|| panic!("{out}"));
        assert!(rejected.contains("DEBUG") && rejected.contains("reason="), "{rejected}");
        assert!(
            rejected.contains(r#"request_id="req-from-the-lb""#),
            "the rejection is logged inside its span: {rejected}"
        );
        assert!(!out.contains(secret), "the secret is never logged: {out}");
        assert!(!out.contains(&signature[7..]), "the signature is never logged: {out}");
    }

    struct Down;

    #[async_trait::async_trait]
    impl DedupStore for Down {
        async fn claim(&self, _: &str) -> Result<Claim, StoreError> {
            Err(StoreError::new("connection refused", None))
        }
        async fn complete(&self, _: &str) -> Result<(), StoreError> {
            Ok(())
        }
        async fn release(&self, _: &str) -> Result<(), StoreError> {
            Ok(())
        }
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn outcomes_and_their_answers() {
        let v = Verifier::new(providers::STRIPE, "whsec_x").unwrap();
        let now = SystemTime::now();
        let body = br#"{"id":"evt_9","type":"a.b"}"#;
        let signed = v.sign(&SignRequest::new(body, now)).unwrap();
        run(async {
            let ep = Endpoint::new(v.clone()).with_body_limit(body.len());
            assert_eq!(ep.receive(&Request::new(&signed, &body[..]), now).await.label(), "accepted");
            assert_eq!(ep.receive(&Request::new(&signed, &body[..]), now).await.label(), "duplicate");

            let tampered = ep.receive(&Request::new(&signed, &br#"{"id":"evt_9","type":"a.c"}"#[..]), now).await;
            assert_eq!((tampered.status(), tampered.label()), (StatusCode::UNAUTHORIZED, "invalid_signature"));
            assert_eq!(tampered.body().as_ref(), br#"{"error":"signature mismatch"}"#);

            let stale = ep.receive(&Request::new(&signed, &body[..]), now + Duration::from_secs(301)).await;
            assert_eq!(stale.label(), "stale");

            let big = [&body[..], b" "].concat();
            assert_eq!(ep.receive(&Request::new(&signed, big), now).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
            let length = |n: usize| vec![("Content-Length", n.to_string())];
            assert!(ep.too_large(&length(body.len() + 1)).is_some());
            assert!(ep.too_large(&length(body.len())).is_none());
            assert!(ep.too_large(&vec![("Content-Length", "many")]).is_none());

            let down = Endpoint::new(v.clone()).with_dedup(Arc::new(Down));
            let o = down.receive(&Request::new(&signed, &body[..]), now).await;
            assert_eq!((o.status(), o.label()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"));
        });
    }

    /// A sink that fails with `error` while `down` is set, and otherwise keeps ids.
    struct Flaky {
        down: std::sync::atomic::AtomicBool,
        misconfigured: bool,
        kept: std::sync::Mutex<Vec<String>>,
    }

    impl Sink for Flaky {
        fn store(&self, delivery: Delivery<'_>) -> crate::sink::StoreFuture {
            let result = if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                Err(if self.misconfigured {
                    StoreError::misconfigured("no such table", None)
                } else {
                    StoreError::unavailable("connection refused", None)
                })
            } else {
                self.kept.lock().unwrap().push(delivery.delivery_id());
                Ok(Stored::New)
            };
            Box::pin(async move { result })
        }
    }

    fn flaky(misconfigured: bool) -> Arc<Flaky> {
        Arc::new(Flaky { down: true.into(), misconfigured, kept: Default::default() })
    }

    #[test]
    fn a_sink_that_is_down_is_answered_503_and_the_claim_is_released_for_the_retry() {
        let v = Verifier::new(providers::GITHUB, "s").unwrap();
        let now = SystemTime::now();
        let signed = v.sign(&SignRequest::new(b"{}", now).id("d-503").event_type("push")).unwrap();
        let sink = flaky(false);
        let ep = Endpoint::new(v.clone()).with_sink(sink.clone());
        run(async {
            let down = ep.receive(&Request::new(&signed, &b"{}"[..]), now).await;
            assert_eq!((down.status(), down.label()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"));
            assert!(sink.kept.lock().unwrap().is_empty());
            // The provider's retry, once the store is back: accepted, not "duplicate".
            sink.down.store(false, std::sync::atomic::Ordering::SeqCst);
            let retry = ep.receive(&Request::new(&signed, &b"{}"[..]), now).await;
            assert_eq!(retry.label(), "accepted");
            assert_eq!(*sink.kept.lock().unwrap(), ["d-503"]);
            assert_eq!(ep.receive(&Request::new(&signed, &b"{}"[..]), now).await.label(), "duplicate");
        });
        // A store that is misconfigured is not "unavailable": 500, and it says so.
        let broken = Endpoint::new(v).with_sink(flaky(true));
        let o = run(broken.receive(&Request::new(&signed, &b"{}"[..]), now));
        assert_eq!((o.status(), o.label()), (StatusCode::INTERNAL_SERVER_ERROR, "store_error"));
        assert_eq!(o.body().as_ref(), br#"{"error":"the webhook store failed; retry later"}"#);
    }

    #[test]
    fn with_a_sink_a_body_that_is_json_only_as_far_as_verifying_reads_is_refused_before_the_claim() {
        let v = Verifier::new(providers::STRIPE, "whsec_x").unwrap();
        let now = SystemTime::now();
        let whole = br#"{"id":"evt_1","type":"a.b","data":{}}"#;
        let cut = &whole[..whole.len() - 8];
        let sign = |body: &[u8]| v.sign(&SignRequest::new(body, now)).unwrap();
        let (signed_cut, signed_whole) = (sign(cut), sign(whole));
        // Without a sink, verification alone decides (it reads up to `id` and `type`).
        let plain = Endpoint::new(v.clone());
        assert_eq!(run(plain.receive(&Request::new(&signed_cut, cut), now)).label(), "accepted");
        let sink = flaky(false);
        sink.down.store(false, std::sync::atomic::Ordering::SeqCst);
        let ep = Endpoint::new(v).with_sink(sink.clone());
        run(async {
            let refused = ep.receive(&Request::new(&signed_cut, cut), now).await;
            assert_eq!((refused.status(), refused.label()), (StatusCode::BAD_REQUEST, "malformed"));
            assert_eq!(refused.body().as_ref(), br#"{"error":"body is not valid JSON"}"#);
            assert!(sink.kept.lock().unwrap().is_empty(), "nothing stored");
            // The same id, whole: nothing was claimed, so it is new.
            assert_eq!(ep.receive(&Request::new(&signed_whole, &whole[..]), now).await.label(), "accepted");
        });
    }

    /// A prepare hook that counts its calls and answers as `answer` says: 0 ready,
    /// 1 refused, 2 unavailable.
    struct Counted {
        calls: std::sync::atomic::AtomicUsize,
        answer: std::sync::atomic::AtomicUsize,
    }

    impl crate::prepare::Prepare for Counted {
        fn prepare(&self, provider: crate::Provider, _: &Request<'_>) -> crate::prepare::PrepareFuture {
            use crate::prepare::PrepareError;
            use std::sync::atomic::Ordering::SeqCst;
            self.calls.fetch_add(1, SeqCst);
            assert_eq!(provider.name(), "github");
            let result = match self.answer.load(SeqCst) {
                0 => Ok(()),
                1 => Err(PrepareError::refused(VerifyError::new(ErrorKind::MalformedBody, "not our URL"))),
                _ => Err(PrepareError::unavailable("the key host is down; retry later")),
            };
            Box::pin(async move { result })
        }
    }

    #[test]
    fn the_prepare_hook_runs_after_the_body_limit_and_before_anything_is_claimed() {
        use std::sync::atomic::Ordering::SeqCst;
        let v = Verifier::new(providers::GITHUB, "s").unwrap();
        let now = SystemTime::now();
        let body = br#"{"zen":"prepare"}"#;
        let signed = v.sign(&SignRequest::new(body, now).id("d-prep").event_type("push")).unwrap();
        let hook = Arc::new(Counted { calls: 0.into(), answer: 1.into() });
        let sink = flaky(false);
        sink.down.store(false, SeqCst);
        let ep = Endpoint::new(v).with_body_limit(body.len()).with_prepare(hook.clone()).with_sink(sink.clone());
        assert!(ep.has_prepare());
        run(async {
            let big = [&body[..], b" "].concat();
            assert_eq!(ep.receive(&Request::new(&signed, big), now).await.label(), "too_large");
            assert_eq!(hook.calls.load(SeqCst), 0, "the body limit first");

            let refused = ep.receive(&Request::new(&signed, &body[..]), now).await;
            assert_eq!((refused.status(), refused.label()), (StatusCode::BAD_REQUEST, "malformed"));
            assert_eq!(refused.body().as_ref(), br#"{"error":"not our URL"}"#);

            hook.answer.store(2, SeqCst);
            let down = ep.receive(&Request::new(&signed, &body[..]), now).await;
            assert_eq!((down.status(), down.label()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"));
            assert_eq!(down.body().as_ref(), br#"{"error":"the key host is down; retry later"}"#);
            assert!(matches!(down, Outcome::NotPrepared(ref e) if e.is_unavailable()));
            assert!(sink.kept.lock().unwrap().is_empty(), "nothing stored");

            // Nothing was claimed: the retry is new.
            hook.answer.store(0, SeqCst);
            assert_eq!(ep.receive(&Request::new(&signed, &body[..]), now).await.label(), "accepted");
            assert_eq!(hook.calls.load(SeqCst), 3);
            assert_eq!(*sink.kept.lock().unwrap(), ["d-prep"]);
        });
    }

    #[test]
    fn admit_checks_the_allowlist_only_when_there_is_one() {
        let v = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let none: [(&str, &str); 0] = [];
        assert!(Endpoint::new(v.clone()).admit(None, &none).is_none(), "no allowlist: everyone, even unseen");
        let list = crate::ip::IpAllowlist::parse_csv("10.0.0.0/8").unwrap();
        let ep = Endpoint::new(v).with_allowlist(list);
        assert!(ep.admit(Some("10.1.2.3".parse().unwrap()), &none).is_none());
        let unseen = ep.admit(None, &none).unwrap();
        assert_eq!(
            (unseen.status(), unseen.label(), unseen.content_type()),
            (StatusCode::FORBIDDEN, "forbidden", Some("application/json"))
        );
        let body: serde_json::Value = serde_json::from_slice(&unseen.body()).unwrap();
        assert_eq!(body["error"], "forbidden");
        assert!(body["reason"].as_str().unwrap().contains("peer address"), "{body}");
        assert!(unseen.delivery().is_none());
    }

    #[test]
    fn get_checks_are_answered_by_the_scheme_and_okta_checks_its_credentials_first() {
        use hmac::Mac as _;
        let now = SystemTime::now();
        let none: [(&str, &str); 0] = [];
        // X: the CRC token's HMAC-SHA256 with the consumer secret, base64.
        let x = Endpoint::new(Verifier::new(providers::X, "consumer-secret").unwrap());
        let crc = x.answer_get("crc_token=abc123", &none, now).unwrap();
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(b"consumer-secret").unwrap();
        mac.update(b"abc123");
        use base64::Engine as _;
        let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(crc.label(), "handshake");
        assert_eq!(crc.body(), Bytes::from(format!(r#"{{"response_token":"sha256={expected}"}}"#)));
        let missing = x.answer_get("other=1", &none, now).unwrap();
        assert_eq!((missing.status(), missing.label()), (StatusCode::BAD_REQUEST, "malformed"));
        // Okta: the GET carries the hook's Authorization; a wrong one is refused.
        let okta = Endpoint::new(Verifier::new(providers::OKTA, "okta-secret").unwrap());
        let ok = okta
            .answer_get("", &[("Authorization", "okta-secret"), ("x-okta-verification-challenge", "V1")], now)
            .unwrap();
        assert_eq!((ok.status(), ok.body()), (StatusCode::OK, Bytes::from_static(br#"{"verification":"V1"}"#)));
        let forged =
            okta.answer_get("", &[("Authorization", "guess"), ("x-okta-verification-challenge", "V1")], now).unwrap();
        assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
        let bare = okta.answer_get("", &[("Authorization", "okta-secret")], now).unwrap();
        assert_eq!(bare.status(), StatusCode::BAD_REQUEST);
        // A provider with no GET check: none (405 from the adapter).
        assert!(Endpoint::new(Verifier::new(providers::STRIPE, "whsec_x").unwrap())
            .answer_get("", &none, now)
            .is_none());
    }

    #[test]
    fn dedup_key_falls_back_to_the_body_hash() {
        let v = Verifier::new(providers::ZOOM, "z").unwrap();
        let now = SystemTime::now();
        let body = br#"{"event":"meeting.started"}"#;
        let signed = v.sign(&SignRequest::new(body, now)).unwrap();
        let d = v.verify(&Request::new(&signed, &body[..]), now).unwrap();
        assert_eq!(dedup_key(&d), format!("zoom:sha256:{}", hex::encode(Sha256::digest(body))));
    }

    #[test]
    fn request_ids_are_hex_time_and_counter_like_format() {
        for n in [0u128, 1, 9, 10, 15, 16, 255, 256, 0x0001_8a2b_3c4d_5e6f, u128::from(u64::MAX), u128::MAX] {
            let mut out = String::new();
            push_hex(&mut out, n);
            assert_eq!(out, format!("{n:x}"));
        }
        let (a, b) = (new_request_id(), new_request_id());
        assert_ne!(a, b);
        for id in [a, b] {
            let (micros, n) = id.split_once('-').unwrap_or_else(|| panic!("{id}"));
            assert!(u128::from_str_radix(micros, 16).is_ok() && u64::from_str_radix(n, 16).is_ok(), "{id}");
        }
    }

    #[test]
    fn requests_are_counted_by_provider_and_outcome_with_their_duration() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let github = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let endpoint = Endpoint::new(github.clone());
        let now = SystemTime::now();
        let body = br#"{"zen":"counted"}"#;
        let signed = github.sign(&SignRequest::new(body, now).id("d-counted").event_type("push")).unwrap();
        metrics::with_local_recorder(&recorder, || {
            run(async {
                for _ in 0..2 {
                    endpoint.receive(&Request::new(&signed, &body[..]), now).await;
                }
                endpoint.receive(&Request::new(&signed, &b"{}"[..]), now).await;
            });
        });
        let text = handle.render();
        for (outcome, n) in [("accepted", 1), ("duplicate", 1), ("invalid_signature", 1)] {
            let series = format!(r#"webhook_requests_total{{provider="github",outcome="{outcome}"}} {n}"#);
            assert!(text.lines().any(|l| l == series), "{series} missing from:\n{text}");
        }
        assert!(text.lines().any(|l| l == r#"webhook_request_duration_seconds_count{provider="github"} 3"#), "{text}");
    }

    #[test]
    fn every_outcome_label_has_its_metric_key() {
        let keys = RequestMetrics::new("github");
        for (i, label) in LABELS.iter().enumerate() {
            let labels: Vec<_> = keys.requests[i].labels().map(|l| (l.key(), l.value())).collect();
            assert_eq!(labels, [("provider", "github"), ("outcome", *label)]);
        }
        let outcomes = [
            Outcome::TooLarge { limit: 1 },
            Outcome::TimedOut,
            Outcome::Unavailable(StoreError::new("refused", None)),
            Outcome::Unavailable(StoreError::unavailable("down", None)),
            Outcome::Rejected(VerifyError::new(ErrorKind::BodyNotJson, "not json")),
        ];
        for outcome in outcomes {
            assert_eq!(LABELS[outcome.label_index()], outcome.label());
        }
    }
}
