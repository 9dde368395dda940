//! Fetching the signing certificates Amazon SNS and PayPal deliveries name, so that
//! `webhook-core`'s synchronous verifier finds them in its
//! [`CertificateStore`] (feature `certificates`).
//!
//! [`CertificateFetcher`] is both the store the verifier reads and the fetcher the receiver
//! awaits before verifying:
//!
//! 1. [`CertificateFetcher::prepare`] asks the core which URL the delivery names
//!    ([`Provider::certificate_url`]): only an HTTPS URL on the provider's documented hosts
//!    (`sns.<region>.amazonaws.com[.cn]/….pem`; a `paypal.com` host), default port, no
//!    credentials. Any other URL is refused before a connection is opened (400).
//! 2. A certificate cached for that URL is used as it is (until its time to live runs out).
//! 3. Otherwise it is fetched: HTTPS only (the server's certificate checked against the
//!    configured roots, by default Mozilla's, `webpki-roots`), a `200` answer, the body read
//!    up to a size limit, the whole exchange within a time limit, and the body must be a PEM
//!    X.509 certificate with an RSA key. No redirect is followed. A failure is a 503: the
//!    delivery is authentic or not, the receiver cannot tell yet, and the provider retries.
//!    Concurrent deliveries naming the same URL share one fetch.
//! 4. The fetches are bounded, because the URL comes from a request nobody has verified yet:
//!    a failed fetch is remembered for [`DEFAULT_FAILURE_TTL`] (deliveries naming that URL
//!    meanwhile are 503 without a new connection), and at most [`DEFAULT_MAX_FETCHES`]
//!    downloads run at once (more are 503 at once), so a flood of unsigned requests naming
//!    made-up certificate paths on the provider's host costs neither a connection each nor
//!    a task waiting on each.
//! 5. The verifier then reads the certificate from the same value, synchronously.
//!
//! ```no_run
//! # async fn demo(headers: &[(&str, &str)], body: bytes::Bytes) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use webhook_core::{providers, Verifier, WebhookRequest};
//! use webhook_pipeline::CertificateFetcher;
//!
//! let fetcher = CertificateFetcher::new();
//! let verifier = Verifier::builder(providers::AWS_SNS)
//!     .secret("arn:aws:sns:eu-west-1:123456789012:orders")
//!     .certificates(Arc::new(fetcher.clone()))
//!     .build()?;
//! let req = WebhookRequest::new(&headers, body);
//! // Before verifying: a 400 or 503 answers the request when this fails.
//! fetcher.prepare(verifier.provider(), &req).await?;
//! let delivery = verifier.verify(&req, std::time::SystemTime::now())?;
//! # let _ = delivery; Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use webhook_core::prepare::{Prepare, PrepareError, PrepareFuture};
use webhook_core::{CertificateStore, Provider, SigningCertificate, WebhookRequest};

/// What a certificate answer may weigh: AWS's and PayPal's certificates are about 2 KiB.
pub const DEFAULT_MAX_SIZE: usize = 64 * 1024;
/// How long one fetch may take, connection and TLS handshake included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a fetched certificate is used before it is fetched again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);
/// How many certificates are kept; past it, the oldest is dropped (failed URLs are kept
/// within the same bound).
pub const DEFAULT_MAX_ENTRIES: usize = 64;
/// How long a failed fetch is remembered: a delivery naming that URL meanwhile is answered
/// 503 without a new connection.
pub const DEFAULT_FAILURE_TTL: Duration = Duration::from_secs(10);
/// How many downloads may run at once, whatever their URLs; one more is answered 503 at
/// once.
pub const DEFAULT_MAX_FETCHES: usize = 4;

/// Why a certificate could not be had. [`status`](Self::status) is the answer to give:
/// 400 when the delivery names a URL that is not the provider's (or none), 503 when the
/// provider's URL could not be fetched or did not hold a certificate.
#[derive(Debug)]
pub struct FetchError {
    kind: FetchErrorKind,
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FetchErrorKind {
    Refused,
    Unavailable,
}

impl FetchError {
    fn refused(e: &webhook_core::VerifyError) -> Self {
        Self { kind: FetchErrorKind::Refused, message: e.to_string() }
    }

    fn unavailable(message: impl Into<String>) -> Self {
        Self { kind: FetchErrorKind::Unavailable, message: message.into() }
    }

    /// The delivery names no certificate URL, or one that is not the provider's: nothing
    /// was fetched (400).
    pub fn is_refused(&self) -> bool {
        self.kind == FetchErrorKind::Refused
    }

    /// The provider's URL could not be fetched in time, answered another status, was too
    /// large, or held no RSA certificate (503: the sender retries).
    pub fn is_unavailable(&self) -> bool {
        self.kind == FetchErrorKind::Unavailable
    }

    /// The HTTP status to answer the delivery with: 400 or 503.
    pub fn status(&self) -> http::StatusCode {
        match self.kind {
            FetchErrorKind::Refused => http::StatusCode::BAD_REQUEST,
            FetchErrorKind::Unavailable => http::StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FetchError {}

/// Settings of a [`CertificateFetcher`]; [`build`](Self::build) makes it.
#[must_use]
pub struct CertificateFetcherBuilder {
    roots: Option<rustls::RootCertStore>,
    timeout: Duration,
    max_size: usize,
    ttl: Duration,
    max_entries: usize,
    failure_ttl: Duration,
    max_fetches: usize,
    pinned: HashMap<String, SocketAddr>,
}

impl fmt::Debug for CertificateFetcherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateFetcherBuilder")
            .field("custom_roots", &self.roots.as_ref().map(rustls::RootCertStore::len))
            .field("timeout", &self.timeout)
            .field("max_size", &self.max_size)
            .field("ttl", &self.ttl)
            .field("max_entries", &self.max_entries)
            .field("failure_ttl", &self.failure_ttl)
            .field("max_fetches", &self.max_fetches)
            .field("pinned", &self.pinned)
            .finish()
    }
}

impl CertificateFetcherBuilder {
    /// The certificate authorities the certificate hosts' TLS certificates must chain to,
    /// instead of Mozilla's (`webpki-roots`).
    pub fn root_certificates(mut self, roots: rustls::RootCertStore) -> Self {
        self.roots = Some(roots);
        self
    }

    /// How long one fetch may take (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest certificate answer read (default [`DEFAULT_MAX_SIZE`]).
    pub fn max_size(mut self, bytes: usize) -> Self {
        self.max_size = bytes;
        self
    }

    /// How long a certificate is used before it is fetched again (default
    /// [`DEFAULT_TTL`]).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How many certificates are kept (default [`DEFAULT_MAX_ENTRIES`]).
    pub fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = n;
        self
    }

    /// How long a failed fetch is remembered, its URL answered 503 without a new
    /// connection (default [`DEFAULT_FAILURE_TTL`]; zero remembers nothing).
    pub fn failure_ttl(mut self, ttl: Duration) -> Self {
        self.failure_ttl = ttl;
        self
    }

    /// How many downloads may run at once (default [`DEFAULT_MAX_FETCHES`], at least 1).
    pub fn max_fetches(mut self, n: usize) -> Self {
        self.max_fetches = n.max(1);
        self
    }

    /// Connects to `addr` for `host` instead of resolving it (a test server, or an egress
    /// proxy of your own). The URL rule and the TLS check of `host`'s name are unchanged.
    pub fn resolve(mut self, host: impl Into<String>, addr: SocketAddr) -> Self {
        self.pinned.insert(host.into().to_ascii_lowercase(), addr);
        self
    }

    /// The fetcher. Fails only when the TLS settings cannot be made.
    pub fn build(self) -> Result<CertificateFetcher, FetchError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = self.roots.unwrap_or_else(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            roots
        });
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| FetchError::unavailable(format!("TLS settings: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new_with_resolver(PinnedResolver { pinned: Arc::new(self.pinned) });
        http.enforce_http(false);
        http.set_connect_timeout(Some(self.timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build(connector);
        Ok(CertificateFetcher {
            inner: Arc::new(Inner {
                client,
                timeout: self.timeout,
                max_size: self.max_size,
                ttl: self.ttl,
                max_entries: self.max_entries.max(1),
                failure_ttl: self.failure_ttl,
                max_fetches: self.max_fetches,
                fetches: tokio::sync::Semaphore::new(self.max_fetches),
                cache: RwLock::new(HashMap::new()),
                failed: Mutex::new(HashMap::new()),
                in_flight: Mutex::new(HashMap::new()),
            }),
        })
    }
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector<PinnedResolver>>, Empty<Bytes>>;

struct Inner {
    client: HttpsClient,
    timeout: Duration,
    max_size: usize,
    ttl: Duration,
    max_entries: usize,
    failure_ttl: Duration,
    max_fetches: usize,
    /// One permit per download running.
    fetches: tokio::sync::Semaphore,
    cache: RwLock<HashMap<String, (SigningCertificate, Instant)>>,
    /// URLs whose last fetch failed: the error, and when.
    failed: Mutex<HashMap<String, (String, Instant)>>,
    /// One fetch per URL at a time: later callers wait for the first one's answer.
    in_flight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The certificate store of the providers verified with certificates (Amazon SNS, PayPal),
/// filled over HTTPS from the URLs deliveries name, within the rules in the
/// [module documentation](self). Cheap to clone: clones share the cache.
#[derive(Clone)]
pub struct CertificateFetcher {
    inner: Arc<Inner>,
}

impl fmt::Debug for CertificateFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self.inner.cache.read().map_or(0, |c| c.len());
        f.debug_struct("CertificateFetcher")
            .field("cached", &cached)
            .field("timeout", &self.inner.timeout)
            .field("max_size", &self.inner.max_size)
            .field("ttl", &self.inner.ttl)
            .field("failure_ttl", &self.inner.failure_ttl)
            .field("max_fetches", &self.inner.max_fetches)
            .finish()
    }
}

impl Default for CertificateFetcher {
    fn default() -> Self {
        Self::new()
    }
}

impl CertificateFetcher {
    /// A fetcher with the default limits and Mozilla's roots.
    ///
    /// # Panics
    ///
    /// Never with the default settings (the TLS settings are fixed); use
    /// [`builder`](Self::builder) to handle errors of custom ones.
    pub fn new() -> Self {
        #[allow(clippy::expect_used)]
        Self::builder().build().expect("the default TLS settings are valid")
    }

    /// Settings, starting from the defaults.
    pub fn builder() -> CertificateFetcherBuilder {
        CertificateFetcherBuilder {
            roots: None,
            timeout: DEFAULT_TIMEOUT,
            max_size: DEFAULT_MAX_SIZE,
            ttl: DEFAULT_TTL,
            max_entries: DEFAULT_MAX_ENTRIES,
            failure_ttl: DEFAULT_FAILURE_TTL,
            max_fetches: DEFAULT_MAX_FETCHES,
            pinned: HashMap::new(),
        }
    }

    /// Makes sure the certificate `req` names is in the store before `provider`'s verifier
    /// reads it: nothing to do for providers without certificates; a 400 error for a URL
    /// that is not the provider's (nothing is fetched); a 503 error when the provider's URL
    /// cannot be fetched within the limits.
    pub async fn prepare(&self, provider: Provider, req: &WebhookRequest<'_>) -> Result<(), FetchError> {
        let Some(url) = provider.certificate_url(req).map_err(|e| FetchError::refused(&e))? else {
            return Ok(());
        };
        self.fetch(&url).await.map(|_| ())
    }

    /// The certificate at `url`, from the cache or fetched. `url` must already have passed
    /// the provider's rule ([`Provider::certificate_url`]); [`prepare`](Self::prepare) is
    /// the entry point that checks it.
    async fn fetch(&self, url: &str) -> Result<SigningCertificate, FetchError> {
        if let Some(cert) = self.cached(url) {
            return Ok(cert);
        }
        let gate = {
            let mut in_flight = self.inner.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            in_flight.entry(url.to_owned()).or_default().clone()
        };
        let result = {
            let _one_at_a_time = gate.lock().await;
            match self.cached(url) {
                Some(cert) => Ok(cert),
                None => self.fetch_bounded(url).await,
            }
        };
        {
            let mut in_flight = self.inner.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            // Drop the gate once nobody else holds it.
            if in_flight.get(url).is_some_and(|g| Arc::strong_count(g) <= 2) {
                in_flight.remove(url);
            }
        }
        result
    }

    /// Confirms an Amazon SNS subscription: for the body of a verified `aws-sns`
    /// `SubscriptionConfirmation` (a stored event), `GET`s its `SubscribeURL`
    /// ([`webhook_core::handshake::sns_subscribe_url`]: an HTTPS URL on an SNS host) with
    /// this fetcher's client, within its time limit, no redirect followed, and expects
    /// `200`. `Ok(false)`: the body is no subscription confirmation, nothing was sent.
    /// An error is [unavailable](FetchError::is_unavailable) (retry later), or
    /// [refused](FetchError::is_refused) when the confirmation names a URL that is not
    /// SNS's (nothing was sent).
    pub async fn confirm_subscription(&self, body: &[u8]) -> Result<bool, FetchError> {
        if webhook_core::json::top_level_field(body, "Type").as_deref() != Some("SubscriptionConfirmation") {
            return Ok(false);
        }
        let Some(url) = webhook_core::handshake::sns_subscribe_url(body) else {
            return Err(FetchError {
                kind: FetchErrorKind::Refused,
                message: "the SubscribeURL is not an https://sns.<region>.amazonaws.com URL".to_owned(),
            });
        };
        let host = host_of(&url);
        let status = self.get(&url, &format!("confirming on {host}")).await?.0;
        if status != http::StatusCode::OK {
            return Err(FetchError::unavailable(format!("confirming on {host}: status {status}")));
        }
        tracing::info!(host, "Amazon SNS subscription confirmed");
        Ok(true)
    }

    /// A download within the bounds: not again while an earlier failure of `url` is
    /// remembered, not beyond [`max_fetches`](CertificateFetcherBuilder::max_fetches) at
    /// once; a failure is remembered.
    async fn fetch_bounded(&self, url: &str) -> Result<SigningCertificate, FetchError> {
        let failed = || self.inner.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((error, at)) = failed().get(url).filter(|(_, at)| at.elapsed() < self.inner.failure_ttl) {
            return Err(FetchError::unavailable(format!(
                "{error} (failed {:.1} s ago; not fetched again within {:?} of a failure)",
                at.elapsed().as_secs_f64(),
                self.inner.failure_ttl
            )));
        }
        let Ok(_download) = self.inner.fetches.try_acquire() else {
            return Err(FetchError::unavailable(format!(
                "not fetching {url}: {} certificate downloads are running already",
                self.inner.max_fetches
            )));
        };
        let result = self.download(url).await;
        let mut failed = failed();
        match &result {
            Ok(_) => {
                failed.remove(url);
            }
            Err(e) if !self.inner.failure_ttl.is_zero() => {
                failed.retain(|_, (_, at)| at.elapsed() < self.inner.failure_ttl);
                evict_oldest(&mut failed, self.inner.max_entries, |(_, at)| *at);
                failed.insert(url.to_owned(), (e.to_string(), Instant::now()));
            }
            Err(_) => {}
        }
        result
    }

    fn cached(&self, url: &str) -> Option<SigningCertificate> {
        let cache = self.inner.cache.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(url).filter(|(_, at)| at.elapsed() < self.inner.ttl).map(|(c, _)| c.clone())
    }

    /// `GET url` with this fetcher's client, no redirect followed: the status and the body,
    /// read to the end within the size and time limits (errors say `doing`: what it was for).
    async fn get(&self, url: &str, doing: &str) -> Result<(http::StatusCode, Vec<u8>), FetchError> {
        let uri: http::Uri =
            url.parse().map_err(|_| FetchError::unavailable(format!("{doing}: the URL does not parse")))?;
        let max = self.inner.max_size;
        let exchange = async {
            let response = self
                .inner
                .client
                .get(uri)
                .await
                .map_err(|e| FetchError::unavailable(format!("{doing}: {}", causes(&e))))?;
            let status = response.status();
            let mut body = response.into_body();
            let mut bytes = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| FetchError::unavailable(format!("{doing}: {}", causes(&e))))?;
                if let Ok(data) = frame.into_data() {
                    if bytes.len() + data.len() > max {
                        return Err(FetchError::unavailable(format!("{doing}: the answer is larger than {max} bytes")));
                    }
                    bytes.extend_from_slice(&data);
                }
            }
            Ok((status, bytes))
        };
        tokio::time::timeout(self.inner.timeout, exchange)
            .await
            .map_err(|_| FetchError::unavailable(format!("{doing} took longer than {:?}", self.inner.timeout)))?
    }

    async fn download(&self, url: &str) -> Result<SigningCertificate, FetchError> {
        let (status, bytes) = self.get(url, &format!("fetching {url}")).await?;
        if status != http::StatusCode::OK {
            return Err(FetchError::unavailable(format!("fetching {url}: status {status}")));
        }
        let pem = std::str::from_utf8(&bytes).map_err(|_| FetchError::unavailable(format!("{url} is not PEM text")))?;
        let cert = SigningCertificate::from_pem(pem)
            .map_err(|e| FetchError::unavailable(format!("{url} holds no usable certificate: {e}")))?;
        let mut cache = self.inner.cache.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.retain(|_, (_, at)| at.elapsed() < self.inner.ttl);
        evict_oldest(&mut cache, self.inner.max_entries, |(_, at)| *at);
        cache.insert(url.to_owned(), (cert.clone(), Instant::now()));
        tracing::debug!(url, "signing certificate fetched");
        Ok(cert)
    }
}

impl CertificateStore for CertificateFetcher {
    fn certificate(&self, url: &str) -> Option<SigningCertificate> {
        self.cached(url)
    }
}

/// The fetcher as an endpoint's hook ([`Endpoint::with_prepare`]): the endpoint awaits
/// [`CertificateFetcher::prepare`] before verifying, and answers its errors (400 for a URL
/// that is not the provider's, 503 when the certificate cannot be fetched; the detail is
/// logged, the answer says what to do).
///
/// ```no_run
/// use std::sync::Arc;
/// use webhook_core::receive::Endpoint;
/// use webhook_core::{providers, Verifier};
/// use webhook_pipeline::CertificateFetcher;
///
/// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let fetcher = CertificateFetcher::new();
/// let verifier = Verifier::builder(providers::PAYPAL)
///     .secret("WH-1234567890")
///     .certificates(Arc::new(fetcher.clone()))
///     .build()?;
/// // The same fetcher is the verifier's store and the endpoint's hook.
/// let endpoint = Endpoint::new(verifier).with_prepare(Arc::new(fetcher));
/// # let _ = endpoint; Ok(()) }
/// ```
///
/// [`Endpoint::with_prepare`]: webhook_core::receive::Endpoint::with_prepare
impl Prepare for CertificateFetcher {
    fn prepare(&self, provider: Provider, req: &WebhookRequest<'_>) -> PrepareFuture {
        let url = match provider.certificate_url(req) {
            Ok(Some(url)) => url,
            Ok(None) => return Box::pin(std::future::ready(Ok(()))),
            Err(e) => return Box::pin(std::future::ready(Err(PrepareError::refused(e)))),
        };
        let fetcher = self.clone();
        Box::pin(async move {
            fetcher.fetch(&url).await.map(|_| ()).map_err(|e| {
                tracing::warn!(provider = provider.name(), error = %e, "signing certificate unavailable");
                PrepareError::unavailable(format!(
                    "the signing certificate could not be fetched from {}; retry later",
                    host_of(&url)
                ))
            })
        })
    }
}

/// Drops the oldest entries of `map` (by `at`) until one more fits within `max`.
fn evict_oldest<V>(map: &mut HashMap<String, V>, max: usize, at: impl Fn(&V) -> Instant) {
    while map.len() >= max {
        let Some(oldest) = map.iter().min_by_key(|(_, v)| at(v)).map(|(k, _)| k.clone()) else {
            break;
        };
        map.remove(&oldest);
    }
}

/// The host of a URL that already passed the provider's rule, for messages.
fn host_of(url: &str) -> String {
    url.parse::<http::Uri>().ok().and_then(|u| u.host().map(str::to_owned)).unwrap_or_default()
}

/// An error and its causes, `outer: inner: root`.
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// The system resolver, except for the hosts pinned with
/// [`CertificateFetcherBuilder::resolve`].
#[derive(Clone)]
struct PinnedResolver {
    pinned: Arc<HashMap<String, SocketAddr>>,
}

impl tower_service::Service<Name> for PinnedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        if let Some(addr) = self.pinned.get(&name.as_str().to_ascii_lowercase()) {
            let addr = *addr;
            return Box::pin(async move { Ok(vec![addr].into_iter()) });
        }
        let mut gai = GaiResolver::new();
        Box::pin(async move {
            let addrs = tower_service::Service::call(&mut gai, name).await?;
            Ok(addrs.collect::<Vec<_>>().into_iter())
        })
    }
}
