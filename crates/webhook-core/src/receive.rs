//! One call from an adapter: verify, answer a handshake, deduplicate, and say what to
//! answer. Adapters only translate an [`Outcome`] into their framework's response.
//!
//! ```
//! use std::time::SystemTime;
//! use webhook_core::receive::{Endpoint, Outcome};
//! use webhook_core::{providers, Request, SignRequest, Verifier};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let github = Verifier::new(providers::GITHUB, "s3cret").unwrap();
//! let endpoint = Endpoint::new(github.clone());
//! let now = SystemTime::now();
//! let signed = github.sign(&SignRequest::new(b"{}", now).id("d-1").event_type("push")).unwrap();
//!
//! let first = endpoint.receive(&Request::new(&signed, &b"{}"[..]), now).await;
//! assert!(matches!(first, Outcome::Accepted(_)));
//! assert_eq!(first.body().as_ref(), br#"{"status":"accepted"}"#);
//!
//! let again = endpoint.receive(&Request::new(&signed, &b"{}"[..]), now).await;
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
    /// The dedup (or event) store could not be reached: 503, so the provider retries.
    Unavailable(StoreError),
    /// The client's address is not in the endpoint's allowlist, or could not be
    /// determined: 403 `{"error":"forbidden","reason":"..."}`. See [`Endpoint::admit`].
    Forbidden(IpRefusal),
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
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
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
            Self::Unavailable(_) => error("the webhook store is unavailable; retry later"),
            Self::Forbidden(r) => {
                Bytes::from(serde_json::json!({ "error": "forbidden", "reason": r.to_string() }).to_string())
            }
        }
    }

    /// A stable label for metrics and logs: `accepted`, `duplicate`, `in_flight`,
    /// `handshake`, `invalid_signature`, `malformed`, `stale`, `too_large`, `unavailable`,
    /// `misconfigured`, `forbidden`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Accepted(_) => "accepted",
            Self::Duplicate(_) => "duplicate",
            Self::InFlight(_) => "in_flight",
            Self::Handshake(_) => "handshake",
            Self::Rejected(e) if e.is_stale() => "stale",
            Self::Rejected(e) if e.kind() == ErrorKind::Configuration => "misconfigured",
            Self::Rejected(e) if e.is_unauthorized() => "invalid_signature",
            Self::Rejected(_) => "malformed",
            Self::TooLarge { .. } => "too_large",
            Self::Unavailable(_) => "unavailable",
            Self::Forbidden(_) => "forbidden",
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

/// A webhook route's configuration: the verifier, the dedup store, the body limit and the
/// public URL (for providers that sign it). Cheap to clone.
#[derive(Clone)]
pub struct Endpoint {
    verifier: Arc<dyn Verify>,
    dedup: Arc<dyn DedupStore>,
    body_limit: usize,
    public_url: Option<Arc<str>>,
    allowlist: Option<IpAllowlist>,
    #[cfg(feature = "pipeline")]
    sink: Option<Arc<dyn crate::pipeline::Sink>>,
}

impl Endpoint {
    /// An endpoint with its own in-memory dedup store (100 000 ids, 7 days) and a 1 MiB
    /// body limit.
    pub fn new(verifier: impl Verify + 'static) -> Self {
        Self {
            verifier: Arc::new(verifier),
            dedup: Arc::new(MemoryDedup::new(100_000, MemoryDedup::DEFAULT_TTL)),
            body_limit: DEFAULT_BODY_LIMIT,
            public_url: None,
            allowlist: None,
            #[cfg(feature = "pipeline")]
            sink: None,
        }
    }

    /// Stores every new delivery in `sink` (a [`GroupCommit`](crate::pipeline::GroupCommit)
    /// in front of an event store) before acknowledging it: the 200 goes out only after the
    /// commit, and a store that cannot be reached is answered with 503 so the provider
    /// retries. The store's unique `(provider, delivery id)` is the last word on duplicates.
    #[cfg(feature = "pipeline")]
    #[must_use]
    pub fn with_sink(mut self, sink: Arc<dyn crate::pipeline::Sink>) -> Self {
        self.sink = Some(sink);
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
        self.public_url.as_ref().map(|base| format!("{base}{path_and_query}"))
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
            Some(n) if n > self.body_limit as u64 => Some(self.over_limit()),
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
        self.log(&outcome, None);
        Some(outcome)
    }

    /// The answer for a body found longer than the limit while reading it (413), counted
    /// like every other outcome.
    pub fn over_limit(&self) -> Outcome {
        let outcome = Outcome::TooLarge { limit: self.body_limit };
        self.log(&outcome, None);
        outcome
    }

    /// Verifies, answers handshakes, and deduplicates: the whole decision for one request.
    ///
    /// A new delivery is claimed and immediately marked done, so the answer is the
    /// acknowledgement. (With the durable pipeline the delivery is stored first.)
    pub async fn receive(&self, req: &Request<'_>, now: SystemTime) -> Outcome {
        let started = std::time::Instant::now();
        let outcome = self.decide(req, now, true).await;
        self.log(&outcome, Some(started));
        outcome
    }

    /// Like [`receive`](Self::receive), but an [`Outcome::Accepted`] delivery is only
    /// *claimed*: the caller handles it and then must call [`settle`](Self::settle), so
    /// that a failed handling frees the id for the provider's retry. The tower layer uses
    /// this around the inner service.
    pub async fn claim(&self, req: &Request<'_>, now: SystemTime) -> Outcome {
        let started = std::time::Instant::now();
        let outcome = self.decide(req, now, false).await;
        self.log(&outcome, Some(started));
        outcome
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

    fn log(&self, outcome: &Outcome, started: Option<std::time::Instant>) {
        let provider = self.verifier.provider().name();
        metrics::counter!("webhook_requests_total", "provider" => provider, "outcome" => outcome.label()).increment(1);
        if let Some(started) = started {
            metrics::histogram!("webhook_request_duration_seconds", "provider" => provider)
                .record(started.elapsed().as_secs_f64());
        }
        match outcome {
            Outcome::Rejected(e) => {
                tracing::debug!(provider, kind = e.kind().as_str(), reason = %e, "webhook rejected");
            }
            Outcome::Unavailable(e) => {
                tracing::warn!(provider, error = %e, "dedup store unavailable")
            }
            Outcome::Forbidden(r) => {
                tracing::debug!(provider, peer = ?r.peer(), client = ?r.client(), reason = %r, "webhook forbidden");
            }
            _ => {}
        }
    }

    async fn decide(&self, req: &Request<'_>, now: SystemTime, complete: bool) -> Outcome {
        if req.body().len() > self.body_limit {
            return Outcome::TooLarge { limit: self.body_limit };
        }
        let verified = match self.verifier.verify(req, now) {
            Ok(v) => v,
            Err(e) => return Outcome::Rejected(e),
        };
        if let Some(reply) = self.verifier.handshake(req, &verified) {
            return Outcome::Handshake(reply);
        }
        let key = dedup_key(&verified);
        match self.dedup.claim(&key).await {
            Ok(Claim::New) => {}
            Ok(Claim::Duplicate) => return Outcome::Duplicate(verified),
            Ok(Claim::InFlight) => return Outcome::InFlight(verified),
            Err(e) => return Outcome::Unavailable(e),
        }
        #[cfg(feature = "pipeline")]
        if let Some(sink) = &self.sink {
            use crate::pipeline::{Inserted, NewEvent};
            match sink.accept(NewEvent::from_verified(&verified, req.headers, now)).await {
                Ok(Inserted::New(_)) => {}
                // Stored before (the dedup store forgot it): answered as a duplicate.
                Ok(_) => {
                    let _ = self.dedup.complete(&key).await;
                    return Outcome::Duplicate(verified);
                }
                Err(e) => {
                    let _ = self.dedup.release(&key).await;
                    return Outcome::Unavailable(e);
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
                Outcome::Unavailable(e)
            }
        }
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("provider", &self.verifier.provider())
            .field("body_limit", &self.body_limit)
            .field("public_url", &self.public_url)
            .field("allowlist", &self.allowlist)
            .finish()
    }
}

/// The key a delivery is deduplicated on: `provider:id`, or, for providers that send no
/// delivery id (Zoom, Meta, SendGrid), `provider:sha256:<hex of the body>`: a retry
/// resends the same body.
pub fn dedup_key(verified: &Verified) -> String {
    match verified.id() {
        Some(id) => format!("{}:{id}", verified.provider()),
        None => format!("{}:sha256:{}", verified.provider(), hex::encode(Sha256::digest(verified.body()))),
    }
}

/// How long providers keep redelivering (Stripe: 3 days, Standard Webhooks: about 3 days;
/// GitHub's manual redelivery: 3 days): the default dedup TTL covers them all.
pub const DEFAULT_DEDUP_TTL: Duration = MemoryDedup::DEFAULT_TTL;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{providers, SignRequest, Verifier};

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
    fn dedup_key_falls_back_to_the_body_hash() {
        let v = Verifier::new(providers::ZOOM, "z").unwrap();
        let now = SystemTime::now();
        let body = br#"{"event":"meeting.started"}"#;
        let signed = v.sign(&SignRequest::new(body, now)).unwrap();
        let d = v.verify(&Request::new(&signed, &body[..]), now).unwrap();
        assert_eq!(dedup_key(&d), format!("zoom:sha256:{}", hex::encode(Sha256::digest(body))));
    }
}
