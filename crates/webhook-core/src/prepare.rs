//! The hook that runs before verification: a [`Prepare`] fetches what the verifier will
//! need and cannot fetch itself (the core does no I/O), such as the signing certificate an
//! Amazon SNS or PayPal delivery names.
//!
//! An [`Endpoint`](crate::receive::Endpoint) given one
//! ([`with_prepare`](crate::receive::Endpoint::with_prepare)) awaits it for every request
//! after the body limit and before verification. When it fails, the request is answered
//! from its [`PrepareError`] and nothing is verified, claimed or stored:
//! [refused](PrepareError::refused) is the request's fault (400, as any other
//! [`VerifyError`]), [unavailable](PrepareError::unavailable) is this side's (503: the
//! provider retries). The `webhook-pipeline` crate's `CertificateFetcher` (feature
//! `certificates`) implements it; so can anything of yours.
//!
//! ```
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::sync::Arc;
//! use std::time::SystemTime;
//! use webhook_core::prepare::{Prepare, PrepareError, PrepareFuture};
//! use webhook_core::receive::Endpoint;
//! use webhook_core::{providers, Provider, SignRequest, Verifier, WebhookRequest};
//!
//! /// Answers 503 while `down` is set: a stand-in for a fetch that cannot reach its host.
//! struct Gate(Arc<AtomicBool>);
//!
//! impl Prepare for Gate {
//!     fn prepare(&self, _provider: Provider, _req: &WebhookRequest<'_>) -> PrepareFuture {
//!         // Read what is needed from the borrowed request now, then return the future.
//!         let down = self.0.load(Ordering::SeqCst);
//!         Box::pin(async move {
//!             if down {
//!                 return Err(PrepareError::unavailable("the key server is unreachable; retry later"));
//!             }
//!             Ok(())
//!         })
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let github = Verifier::new(providers::GITHUB, "s3cret").unwrap();
//! let down = Arc::new(AtomicBool::new(true));
//! let endpoint = Endpoint::new(github.clone()).with_prepare(Arc::new(Gate(down.clone())));
//! let now = SystemTime::now();
//! let signed = github.sign(&SignRequest::new(b"{}", now).id("d-1").event_type("push")).unwrap();
//! let req = WebhookRequest::new(&signed, &b"{}"[..]);
//!
//! let refused = endpoint.receive(&req, now).await;
//! assert_eq!((refused.status().as_u16(), refused.label()), (503, "unavailable"));
//! assert_eq!(refused.body().as_ref(), br#"{"error":"the key server is unreachable; retry later"}"#);
//! // Nothing was claimed: once the hook succeeds, the same delivery is new.
//! down.store(false, Ordering::SeqCst);
//! assert_eq!(endpoint.receive(&req, now).await.label(), "accepted");
//! # });
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::error::VerifyError;
use crate::providers::Provider;
use crate::verifier::Request;

/// The future a [`Prepare`] returns: owned, so nothing of the request is borrowed while
/// it waits.
pub type PrepareFuture = Pin<Box<dyn Future<Output = Result<(), PrepareError>> + Send + 'static>>;

/// What an endpoint awaits before verifying a request: fetch (and cache) what the
/// provider's verifier reads synchronously.
///
/// `prepare` reads what it needs from the borrowed request at once and returns a future
/// that resolves when the verifier can run (`Ok`, also for providers it has nothing to do
/// for), or with the answer to give instead (`Err`).
pub trait Prepare: Send + Sync {
    /// Gets ready to verify `req` for `provider`.
    fn prepare(&self, provider: Provider, req: &Request<'_>) -> PrepareFuture;
}

impl<P: Prepare + ?Sized> Prepare for std::sync::Arc<P> {
    fn prepare(&self, provider: Provider, req: &Request<'_>) -> PrepareFuture {
        (**self).prepare(provider, req)
    }
}

/// Why a [`Prepare`] could not get a request ready: [refused](Self::refused) (the
/// request names something it must not, 400) or [unavailable](Self::unavailable) (what it
/// names cannot be had now, 503).
#[derive(Debug, Clone)]
pub struct PrepareError {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Refused(VerifyError),
    Unavailable(String),
}

impl PrepareError {
    /// The request is at fault (a certificate URL that is not the provider's, none at
    /// all): answered like the [`VerifyError`] it carries (400), and nothing was fetched.
    pub fn refused(error: VerifyError) -> Self {
        Self { kind: Kind::Refused(error) }
    }

    /// What the request needs cannot be had now (a host that cannot be reached, an answer
    /// that is not what was expected): 503 with `{"error": message}`, so the provider
    /// retries. `message` is sent to the caller: keep it short and free of secrets, and
    /// log the detail yourself.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self { kind: Kind::Unavailable(message.into()) }
    }

    /// Whether the request was refused (400).
    pub fn is_refused(&self) -> bool {
        matches!(self.kind, Kind::Refused(_))
    }

    /// Whether what the request needs could not be had (503).
    pub fn is_unavailable(&self) -> bool {
        matches!(self.kind, Kind::Unavailable(_))
    }

    /// The refusal, for a [refused](Self::refused) error.
    pub fn verify_error(&self) -> Option<&VerifyError> {
        match &self.kind {
            Kind::Refused(e) => Some(e),
            Kind::Unavailable(_) => None,
        }
    }

    /// The HTTP status to answer with: the refusal's (400), or 503.
    pub fn status(&self) -> http::StatusCode {
        match &self.kind {
            Kind::Refused(e) => e.status(),
            Kind::Unavailable(_) => http::StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl fmt::Display for PrepareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Refused(e) => e.fmt(f),
            Kind::Unavailable(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for PrepareError {}
