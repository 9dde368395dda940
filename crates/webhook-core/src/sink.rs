//! The two hooks the request path offers whatever keeps deliveries: a [`Sink`] that holds
//! a verified delivery durably before it is acknowledged, and an [`AuditSink`] that
//! records every answer.
//!
//! The core knows no store: an [`Endpoint`](crate::receive::Endpoint) given a sink
//! ([`with_sink`](crate::receive::Endpoint::with_sink)) calls it for each new delivery,
//! after verification and the dedup claim, and answers 2xx only once the sink said the
//! delivery is held. The `webhook-pipeline` crate's event stores (SQLite, PostgreSQL) and
//! broker sinks implement it; so can anything of yours.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::time::SystemTime;
//! use webhook_core::dedup::StoreError;
//! use webhook_core::receive::{Endpoint, Outcome};
//! use webhook_core::sink::{Delivery, Sink, StoreFuture, Stored};
//! use webhook_core::{providers, SignRequest, Verifier, WebhookRequest};
//!
//! /// Keeps (provider, delivery id, body) in a vector: a sink for tests.
//! #[derive(Default)]
//! struct Kept(Arc<Mutex<Vec<(String, String, Vec<u8>)>>>);
//!
//! impl Sink for Kept {
//!     fn store(&self, delivery: Delivery<'_>) -> StoreFuture {
//!         // Take what is kept now (the request is borrowed), then return the future.
//!         let row = (
//!             delivery.verified().provider().to_owned(),
//!             delivery.delivery_id(),
//!             delivery.verified().body().to_vec(),
//!         );
//!         let kept = self.0.clone();
//!         Box::pin(async move {
//!             let mut rows = kept.lock().map_err(|_| StoreError::unavailable("poisoned", None))?;
//!             if rows.iter().any(|r| (&r.0, &r.1) == (&row.0, &row.1)) {
//!                 return Ok(Stored::Existing);
//!             }
//!             rows.push(row);
//!             Ok(Stored::New)
//!         })
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let github = Verifier::new(providers::GITHUB, "s3cret").unwrap();
//! let kept = Kept::default();
//! let rows = kept.0.clone();
//! let endpoint = Endpoint::new(github.clone()).with_sink(Arc::new(kept));
//! let now = SystemTime::now();
//! let body = br#"{"zen":"hi"}"#;
//! let signed = github.sign(&SignRequest::new(body, now).id("d-1").event_type("push")).unwrap();
//! let outcome = endpoint.receive(&WebhookRequest::new(&signed, &body[..]), now).await;
//! assert!(matches!(outcome, Outcome::Accepted(_)));
//! assert_eq!(rows.lock().unwrap()[0].1, "d-1");
//! # });
//! ```

use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use crate::dedup::StoreError;
use crate::headers::Headers;
use crate::verifier::Verified;

/// What became of a delivery handed to a [`Sink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stored {
    /// Held durably now, for the first time: the endpoint answers `accepted`.
    New,
    /// Held already (the same provider and delivery id, stored before the dedup store
    /// forgot it): the endpoint answers `duplicate`.
    Existing,
}

/// The future a [`Sink`] returns: owned, so nothing of the request is borrowed while it
/// waits for the store.
pub type StoreFuture = Pin<Box<dyn Future<Output = Result<Stored, StoreError>> + Send + 'static>>;

/// A verified delivery on its way into a [`Sink`], with what the sink may want to keep.
#[derive(Clone, Copy)]
pub struct Delivery<'a> {
    verified: &'a Verified,
    headers: &'a dyn Headers,
    received_at: SystemTime,
}

impl<'a> Delivery<'a> {
    /// A delivery: the verified request, its headers and when it was received.
    pub fn new(verified: &'a Verified, headers: &'a dyn Headers, received_at: SystemTime) -> Self {
        Self { verified, headers, received_at }
    }

    /// The verified delivery: provider, delivery id, event type, timestamp, body.
    pub fn verified(&self) -> &'a Verified {
        self.verified
    }

    /// The request's headers (a sink keeps the ones it needs; never the signature).
    pub fn headers(&self) -> &'a dyn Headers {
        self.headers
    }

    /// When the request was received (the `now` the endpoint verified it at).
    pub fn received_at(&self) -> SystemTime {
        self.received_at
    }

    /// The id the delivery is stored and deduplicated under within its provider: the
    /// provider's delivery id, or `sha256:<hex of the body>` for providers that send none
    /// (see [`dedup_key`](crate::receive::dedup_key)).
    pub fn delivery_id(&self) -> String {
        crate::receive::delivery_id(self.verified)
    }
}

impl std::fmt::Debug for Delivery<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("verified", &self.verified)
            .field("received_at", &self.received_at)
            .finish_non_exhaustive()
    }
}

/// Where a verified delivery is held before the acknowledgement: an event store, a
/// broker, anything durable.
///
/// `store` takes what it keeps from the borrowed [`Delivery`] at once, and returns a
/// future that resolves when the delivery is held durably (`Ok`) or cannot be
/// (`Err`: an [unavailable](StoreError::is_unavailable) store is answered 503 and the
/// dedup claim released, so the provider's retry is accepted).
pub trait Sink: Send + Sync {
    /// Holds `delivery` durably, or finds it held already.
    fn store(&self, delivery: Delivery<'_>) -> StoreFuture;
}

impl<S: Sink + ?Sized> Sink for std::sync::Arc<S> {
    fn store(&self, delivery: Delivery<'_>) -> StoreFuture {
        (**self).store(delivery)
    }
}

/// Where an endpoint records every answer, accepted or refused. `record` must not wait:
/// an audit log queues the record and writes it in the background, and is never part of
/// the delivery guarantee.
pub trait AuditSink: Send + Sync {
    /// Takes one record.
    fn record(&self, record: AuditRecord);
}

impl<S: AuditSink + ?Sized> AuditSink for std::sync::Arc<S> {
    fn record(&self, record: AuditRecord) {
        (**self).record(record);
    }
}

/// What an audit log keeps of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// The request's id: the caller's `X-Request-Id` when it sent a usable one, otherwise
    /// one made up for it. Answered in the response's `X-Request-Id`.
    pub request_id: String,
    /// The route's provider.
    pub provider: String,
    /// The delivery id: the verified one (the event store's key) when the signature
    /// verified; otherwise the id the request claimed, unverified, if it carried one.
    pub delivery_id: Option<String>,
    /// The event type, when the signature verified and the provider names one.
    pub event_type: Option<String>,
    /// When the request was received.
    pub received_at: SystemTime,
    /// Whether the signature verified.
    pub signature_verified: bool,
    /// The outcome, as counted in `webhook_requests_total` (`accepted`, `duplicate`,
    /// `invalid_signature`, `stale`, `malformed`, `too_large`, `forbidden`, `unavailable`,
    /// `store_error`, `handshake`, `in_flight`).
    pub outcome: String,
    /// The HTTP status answered.
    pub status: u16,
    /// Why the request was refused or failed, if it was: never a secret or a signature.
    pub error: Option<String>,
    /// The client's address, as the route saw it (after trusted proxies), if known.
    pub client_ip: Option<String>,
}

impl AuditRecord {
    /// A record with its identity filled in and everything else empty (`outcome` and
    /// `status` included: set them).
    pub fn new(request_id: &str, provider: &str, received_at: SystemTime) -> Self {
        Self {
            request_id: request_id.to_owned(),
            provider: provider.to_owned(),
            delivery_id: None,
            event_type: None,
            received_at,
            signature_verified: false,
            outcome: String::new(),
            status: 0,
            error: None,
            client_ip: None,
        }
    }
}
