//! The verifier: a provider, its keys and a tolerance; `verify` in, `Verified` out.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use zeroize::Zeroizing;

use crate::engine::{self, Mac};
use crate::error::{ConfigError, ErrorKind, SignError, VerifyError};
use crate::headers::Headers;
use crate::json;
use crate::providers::{Kind, Provider};
use crate::scheme::{Algorithm, Scheme, Source};
use crate::secret::{KeyKind, Material, Secret};
use crate::special;

/// What an adapter hands the core: the request headers, the raw body, and the URL the
/// sender posted to (for providers that sign it: Twilio, Square).
///
/// ```
/// use webhook_core::WebhookRequest;
/// let headers = http::HeaderMap::new();
/// let req = WebhookRequest::new(&headers, &b"{}"[..]).with_url("https://example.com/hook?x=1");
/// assert_eq!(req.body().as_ref(), b"{}");
/// ```
pub struct Request<'a> {
    pub(crate) headers: &'a (dyn Headers + Sync),
    pub(crate) body: Bytes,
    pub(crate) url: Option<&'a str>,
    pub(crate) peer: Option<std::net::IpAddr>,
}

impl<'a> Request<'a> {
    /// A request with these headers and this raw body. Passing [`Bytes`] (what every
    /// framework reads into) moves no body bytes: the verified delivery shares them.
    pub fn new(headers: &'a (dyn Headers + Sync), body: impl Into<Bytes>) -> Self {
        Self { headers, body: body.into(), url: None, peer: None }
    }

    /// The full URL the sender requested: scheme, host, optional port, path and query.
    #[must_use]
    pub fn with_url(mut self, url: &'a str) -> Self {
        self.url = Some(url);
        self
    }

    /// The connection's peer address (adapters set it): the audit log and the request's
    /// tracing span record the client address derived from it. Verification never uses it.
    #[must_use]
    pub fn with_peer(mut self, peer: std::net::IpAddr) -> Self {
        self.peer = Some(peer);
        self
    }

    /// The raw body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The headers.
    pub fn headers(&self) -> &(dyn Headers + Sync) {
        self.headers
    }

    /// The connection's peer address, if the adapter passed it.
    pub fn peer(&self) -> Option<std::net::IpAddr> {
        self.peer
    }
}

/// An authenticated delivery: who sent it, its delivery id and event type where the
/// provider gives them, the signed timestamp, and the body exactly as received.
#[derive(Clone, PartialEq, Eq)]
pub struct Verified {
    pub(crate) provider: &'static str,
    pub(crate) id: Option<String>,
    pub(crate) event_type: EventType,
    pub(crate) timestamp: Option<SystemTime>,
    pub(crate) body: Bytes,
    pub(crate) key_index: usize,
    pub(crate) event_id: Option<String>,
}

impl Verified {
    /// The provider's name (`github`, `stripe`, ...).
    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// The delivery id to deduplicate on (`X-GitHub-Delivery`, Stripe's `evt_…`,
    /// `webhook-id`, ...), when the provider sends one.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The event type (`push`, `payment_intent.succeeded`, ...), when the provider sends one.
    ///
    /// A type sent in a header was read during verification; one inside the JSON body is
    /// read on the first call (the walk stops at the field) and kept.
    pub fn event_type(&self) -> Option<&str> {
        self.event_type.get(&self.body)
    }

    /// An id the provider gives the event beside the delivery id, which the signature does
    /// **not** cover (Mailgun's `event-data.id`): metadata to log or look up, never a key to
    /// deduplicate on, since anyone holding one signed delivery can send it again with
    /// another. [`id`](Self::id) is the key to deduplicate on.
    pub fn event_id(&self) -> Option<&str> {
        self.event_id.as_deref()
    }

    /// The signed timestamp, for providers that sign one.
    pub fn timestamp(&self) -> Option<SystemTime> {
        self.timestamp
    }

    /// The body, byte for byte as received.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body, owned.
    pub fn into_body(self) -> Bytes {
        self.body
    }

    /// Which configured key matched (0 is the first), to watch a rotation complete.
    pub fn key_index(&self) -> usize {
        self.key_index
    }

    /// The body parsed as JSON into `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("provider", &self.provider)
            .field("id", &self.id)
            .field("event_id", &self.event_id)
            .field("event_type", &self.event_type())
            .field("timestamp", &self.timestamp)
            .field("body_len", &self.body.len())
            .field("key_index", &self.key_index)
            .finish()
    }
}

/// An event type: read already, or to be read from the JSON body on first use.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct EventType {
    value: OnceLock<Option<String>>,
    sources: &'static [Source],
}

impl EventType {
    pub(crate) fn known(value: Option<String>) -> Self {
        Self { value: OnceLock::from(value), sources: &[] }
    }

    /// The first of `sources` that is a JSON field present in the body, read when asked.
    pub(crate) fn from_body(sources: &'static [Source]) -> Self {
        Self { value: OnceLock::new(), sources }
    }

    fn get(&self, body: &[u8]) -> Option<&str> {
        self.value
            .get_or_init(|| {
                let paths: Vec<&[&str]> = self.sources.iter().filter_map(Source::json_path).collect();
                if paths.is_empty() {
                    return None;
                }
                match json::extract(body, &paths) {
                    json::Extracted::Json(values) => values.into_iter().flatten().next(),
                    json::Extracted::NotJson => None,
                }
            })
            .as_deref()
    }
}

/// Anything that decides whether a request is authentic. Object-safe, so adapters can hold
/// an `Arc<dyn Verify>`; [`Verifier`] is the implementation for every built-in provider.
pub trait Verify: Send + Sync {
    /// The provider this verifier is for.
    fn provider(&self) -> Provider;

    /// Verifies `req` at `now`. Pure: no I/O, no clock of its own.
    fn verify(&self, req: &Request<'_>, now: SystemTime) -> Result<Verified, VerifyError>;

    /// The answer to a provider's endpoint check, if `verified` is one (see
    /// [`Verifier::handshake`]). None by default.
    fn handshake(&self, req: &Request<'_>, verified: &Verified) -> Option<crate::handshake::Reply> {
        let _ = (req, verified);
        None
    }

    /// The answer to a provider's `GET` endpoint check (X's CRC, Dropbox's challenge,
    /// Okta's verification; see [`Handshake::is_get`](crate::scheme::Handshake::is_get)),
    /// from the request's query string and headers: `None` when this provider makes no such
    /// check (answer 405), `Err` when the check is malformed or, for Okta, its credentials
    /// fail. None by default.
    fn answer_get(
        &self,
        query: &str,
        headers: &(dyn Headers + Sync),
        now: SystemTime,
    ) -> Option<Result<crate::handshake::Reply, VerifyError>> {
        let _ = (query, headers, now);
        None
    }
}

impl<T: Verify + ?Sized> Verify for Arc<T> {
    fn provider(&self) -> Provider {
        (**self).provider()
    }
    fn verify(&self, req: &Request<'_>, now: SystemTime) -> Result<Verified, VerifyError> {
        (**self).verify(req, now)
    }
    fn handshake(&self, req: &Request<'_>, verified: &Verified) -> Option<crate::handshake::Reply> {
        (**self).handshake(req, verified)
    }
    fn answer_get(
        &self,
        query: &str,
        headers: &(dyn Headers + Sync),
        now: SystemTime,
    ) -> Option<Result<crate::handshake::Reply, VerifyError>> {
        (**self).answer_get(query, headers, now)
    }
}

impl<T: Verify + ?Sized> Verify for &T {
    fn provider(&self) -> Provider {
        (**self).provider()
    }
    fn verify(&self, req: &Request<'_>, now: SystemTime) -> Result<Verified, VerifyError> {
        (**self).verify(req, now)
    }
    fn handshake(&self, req: &Request<'_>, verified: &Verified) -> Option<crate::handshake::Reply> {
        (**self).handshake(req, verified)
    }
    fn answer_get(
        &self,
        query: &str,
        headers: &(dyn Headers + Sync),
        now: SystemTime,
    ) -> Option<Result<crate::handshake::Reply, VerifyError>> {
        (**self).answer_get(query, headers, now)
    }
}

/// A key made ready for its algorithms: HMAC states already keyed, public keys parsed.
#[derive(Clone)]
pub(crate) enum Prepared {
    Hmac {
        raw: Zeroizing<Vec<u8>>,
        macs: Vec<(Algorithm, Mac)>,
    },
    #[cfg(feature = "ed25519")]
    Ed25519(ed25519_dalek::VerifyingKey, Option<Box<ed25519_dalek::SigningKey>>),
    #[cfg(feature = "ecdsa")]
    P256(p256::ecdsa::VerifyingKey, Option<Box<p256::ecdsa::SigningKey>>),
    /// A public key for signed tokens, and its kind.
    #[cfg(feature = "jwt")]
    JwtPublic(std::sync::Arc<jsonwebtoken::DecodingKey>, KeyKind),
}

impl Prepared {
    fn new(secret: &Secret, algorithms: &[Algorithm]) -> Self {
        match &secret.material {
            Material::Shared(raw) => Self::Hmac {
                raw: raw.clone(),
                macs: algorithms.iter().filter_map(|&a| Mac::new(a, raw).map(|m| (a, m))).collect(),
            },
            #[cfg(feature = "ed25519")]
            Material::Ed25519Public(vk) => Self::Ed25519(*vk, None),
            #[cfg(feature = "ed25519")]
            Material::Ed25519Private(sk) => Self::Ed25519(sk.verifying_key(), Some(Box::new(sk.clone()))),
            #[cfg(feature = "ecdsa")]
            Material::P256Public(vk) => Self::P256(*vk, None),
            #[cfg(feature = "ecdsa")]
            Material::P256Private(sk) => Self::P256(*sk.verifying_key(), Some(Box::new(sk.clone()))),
            #[cfg(feature = "jwt")]
            Material::JwtPublic(key, kind) => Self::JwtPublic(key.clone(), *kind),
        }
    }

    pub(crate) fn kind(&self) -> KeyKind {
        match self {
            Self::Hmac { .. } => KeyKind::Shared,
            #[cfg(feature = "ed25519")]
            Self::Ed25519(..) => KeyKind::Ed25519,
            #[cfg(feature = "ecdsa")]
            Self::P256(..) => KeyKind::P256,
            #[cfg(feature = "jwt")]
            Self::JwtPublic(_, kind) => *kind,
        }
    }

    /// The public key for signed tokens, and its kind.
    #[cfg(feature = "jwt")]
    pub(crate) fn jwt_public(&self) -> Option<(&jsonwebtoken::DecodingKey, KeyKind)> {
        match self {
            Self::JwtPublic(key, kind) => Some((key, *kind)),
            _ => None,
        }
    }

    /// The keyed HMAC state for `algorithm`, ready to be fed.
    pub(crate) fn mac(&self, algorithm: Algorithm) -> Option<Mac> {
        match self {
            Self::Hmac { macs, .. } => macs.iter().find(|(a, _)| *a == algorithm).map(|(_, m)| m.clone()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// The shared key's bytes.
    pub(crate) fn raw(&self) -> Option<&[u8]> {
        match self {
            Self::Hmac { raw, .. } => Some(raw),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

/// The configured keys, each with its expiry, in the order given.
#[derive(Clone)]
pub(crate) struct Keys {
    items: Vec<(Secret, Prepared)>,
}

impl Keys {
    /// The index of the first key valid at `now` for which `check` holds. When none does,
    /// an expired key that would have matched is named ([`ErrorKind::ExpiredKey`]), and a
    /// verifier whose keys have all expired says so ([`ErrorKind::UnknownKey`]).
    pub(crate) fn find(&self, now: SystemTime, mut check: impl FnMut(&Prepared) -> bool) -> Result<usize, VerifyError> {
        let mut any_valid = false;
        for (i, (secret, key)) in self.items.iter().enumerate() {
            if secret.is_valid_at(now) {
                any_valid = true;
                if check(key) {
                    return Ok(i);
                }
            }
        }
        for (secret, key) in self.items.iter().filter(|(s, _)| !s.is_valid_at(now)) {
            if check(key) {
                let ago = secret.not_after().and_then(|t| now.duration_since(t).ok()).unwrap_or_default();
                return Err(VerifyError::new(
                    ErrorKind::ExpiredKey,
                    format!("signed with a key that expired {} s ago", ago.as_secs()),
                ));
            }
        }
        if !any_valid {
            return Err(VerifyError::new(ErrorKind::UnknownKey, "no configured key is valid now"));
        }
        Err(VerifyError::mismatch())
    }

    /// The keys valid at `at` that can sign.
    pub(crate) fn signing(&self, at: SystemTime) -> impl Iterator<Item = &Prepared> {
        self.items.iter().filter(move |(s, _)| s.is_valid_at(at) && s.can_sign()).map(|(_, k)| k)
    }
}

/// Verifies deliveries from one provider with one or more keys. Cheap to share behind an
/// `Arc`; `verify` takes `&self`.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use webhook_core::{providers, WebhookRequest, SignRequest, Verifier};
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let verifier = Verifier::builder(providers::STRIPE)
///     .secret("whsec_new")
///     .secret_until("whsec_old", now + Duration::from_secs(3600)) // rotation in progress
///     .build()
///     .unwrap();
///
/// let body = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;
/// let signed = verifier.sign(&SignRequest::new(body, now)).unwrap();
/// let delivery = verifier.verify(&WebhookRequest::new(&signed, &body[..]), now).unwrap();
/// assert_eq!(delivery.id(), Some("evt_1"));
/// assert_eq!(delivery.event_type(), Some("payment_intent.succeeded"));
/// ```
#[derive(Clone)]
pub struct Verifier {
    provider: Provider,
    legacy: Option<&'static Scheme>,
    keys: Keys,
    tolerance: Option<Duration>,
    url: Option<String>,
    #[cfg(feature = "certificates")]
    certificates: Option<Arc<dyn crate::CertificateStore>>,
}

impl Verifier {
    /// A verifier with one key, read in the provider's key format, and the provider's
    /// default tolerance.
    pub fn new(provider: Provider, secret: &str) -> Result<Self, ConfigError> {
        Self::builder(provider).secret(secret).build()
    }

    /// Starts a verifier for `provider`.
    pub fn builder(provider: Provider) -> VerifierBuilder {
        VerifierBuilder {
            provider,
            legacy: None,
            keys: Vec::new(),
            error: None,
            tolerance: provider.default_tolerance(),
            url: None,
            #[cfg(feature = "certificates")]
            certificates: None,
        }
    }

    /// The provider.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The prepared key at `index` (the one a delivery's `key_index` names).
    pub(crate) fn key(&self, index: usize) -> Option<&Prepared> {
        self.keys.items.get(index).map(|(_, k)| k)
    }

    /// The tolerance in force for signed timestamps (`None`: not checked).
    pub fn tolerance(&self) -> Option<Duration> {
        self.tolerance
    }

    /// Verifies `req` at `now`: headers and raw body in, a [`Verified`] delivery or a
    /// precise [`VerifyError`] out. Synchronous and pure.
    pub fn verify(&self, req: &Request<'_>, now: SystemTime) -> Result<Verified, VerifyError> {
        match self.provider.kind {
            Kind::Scheme(scheme) => {
                let scheme = match self.legacy {
                    Some(old) if !present(req.headers, scheme.header) && present(req.headers, old.header) => old,
                    _ => scheme,
                };
                engine::verify(scheme, &self.keys, self.tolerance, self.url.as_deref(), req, now)
            }
            #[cfg(feature = "twilio")]
            Kind::Twilio => special::twilio::verify(&self.keys, self.url.as_deref(), req, now),
            Kind::Mailgun => special::mailgun::verify(&self.keys, self.tolerance, req, now),
            Kind::GitLabToken => special::gitlab::verify(&self.keys, req, now),
            Kind::Credentials(c) => special::credentials::verify(c, &self.keys, req, now),
            Kind::Adyen => special::adyen::verify(&self.keys, req, now),
            #[cfg(feature = "sns")]
            Kind::Sns => special::sns::verify(&self.keys, self.certificates.as_deref(), req, now),
            #[cfg(feature = "paypal")]
            Kind::PayPal => special::paypal::verify(&self.keys, self.certificates.as_deref(), req, now),
            #[cfg(feature = "jwt")]
            Kind::FusionAuth => special::fusionauth::verify(&self.keys, req, now),
        }
    }

    /// Produces the headers a provider would send with `req.body`, signed with every key
    /// valid at the request's timestamp that can sign (so a rotation shows as several
    /// signatures where the scheme allows a list). Sign → verify round-trips for every
    /// provider; use it to test receivers.
    pub fn sign(&self, req: &SignRequest<'_>) -> Result<Signed, SignError> {
        match self.provider.kind {
            Kind::Scheme(scheme) => engine::sign(scheme, &self.keys, self.url.as_deref(), req),
            #[cfg(feature = "twilio")]
            Kind::Twilio => special::twilio::sign(&self.keys, self.url.as_deref(), req),
            Kind::Mailgun => special::mailgun::sign(&self.keys, req),
            Kind::GitLabToken => special::gitlab::sign(&self.keys, req),
            Kind::Credentials(c) => special::credentials::sign(c, &self.keys, req),
            Kind::Adyen => special::adyen::sign(&self.keys, req),
            #[cfg(feature = "sns")]
            Kind::Sns => special::sns::sign(&self.keys, req),
            #[cfg(feature = "paypal")]
            Kind::PayPal => special::paypal::sign(&self.keys, req),
            #[cfg(feature = "jwt")]
            Kind::FusionAuth => special::fusionauth::sign(&self.keys, req),
        }
    }
}

fn present(headers: &dyn Headers, names: &[&str]) -> bool {
    names.iter().any(|n| {
        let mut seen = false;
        headers.for_each_value(n, &mut |_| seen = true);
        seen
    })
}

impl Verify for Verifier {
    fn provider(&self) -> Provider {
        self.provider
    }
    fn verify(&self, req: &Request<'_>, now: SystemTime) -> Result<Verified, VerifyError> {
        Verifier::verify(self, req, now)
    }
    fn handshake(&self, req: &Request<'_>, verified: &Verified) -> Option<crate::handshake::Reply> {
        Verifier::handshake(self, req, verified)
    }
    fn answer_get(
        &self,
        query: &str,
        headers: &(dyn Headers + Sync),
        now: SystemTime,
    ) -> Option<Result<crate::handshake::Reply, VerifyError>> {
        crate::handshake::answer_get(self, query, headers, now)
    }
}

impl Verifier {
    /// The first shared key valid at `now` (X's CRC is an HMAC of the consumer secret).
    pub(crate) fn shared_key(&self, now: SystemTime) -> Option<&[u8]> {
        self.keys.signing(now).find_map(Prepared::raw)
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("provider", &self.provider)
            .field("keys", &self.keys.items.iter().map(|(s, _)| s).collect::<Vec<_>>())
            .field("tolerance", &self.tolerance)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Verifier`]; every setting is checked in [`build`](Self::build).
#[must_use = "a builder does nothing until `build` is called"]
pub struct VerifierBuilder {
    provider: Provider,
    legacy: Option<Provider>,
    keys: Vec<Secret>,
    error: Option<ConfigError>,
    tolerance: Option<Duration>,
    url: Option<String>,
    #[cfg(feature = "certificates")]
    certificates: Option<Arc<dyn crate::CertificateStore>>,
}

impl VerifierBuilder {
    /// Adds a key, read in the provider's [`KeyFormat`](crate::KeyFormat). Several keys may
    /// be added; any of them verifies.
    pub fn secret(self, text: &str) -> Self {
        let parsed = self.provider.key_format().parse(text);
        self.push(parsed)
    }

    /// Adds a key that stops verifying after `until` (the end of a planned rotation).
    pub fn secret_until(self, text: &str, until: SystemTime) -> Self {
        let parsed = self.provider.key_format().parse(text).map(|s| s.valid_until(until));
        self.push(parsed)
    }

    /// Adds every key in a comma-separated list (`"new,old"`), as environment variables
    /// carry them. Spaces around each key are trimmed.
    pub fn secrets_csv(mut self, list: &str) -> Self {
        for text in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            self = self.secret(text);
        }
        self
    }

    /// Adds a key built directly.
    pub fn key(self, secret: Secret) -> Self {
        self.push(Ok(secret))
    }

    fn push(mut self, secret: Result<Secret, ConfigError>) -> Self {
        match secret {
            Ok(s) => self.keys.push(s),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// Refuses signed timestamps further than `tolerance` from now, either way.
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = Some(tolerance);
        self
    }

    /// Does not check signed timestamps at all (replays are then stopped by deduplication
    /// alone).
    pub fn no_tolerance(mut self) -> Self {
        self.tolerance = None;
        self
    }

    /// The URL the provider signs, when it is fixed by configuration (Square's notification
    /// URL, Twilio's webhook URL). Otherwise the request's URL is used.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Where the verifier finds the signing certificates a provider's deliveries name
    /// (Amazon SNS's `SigningCertURL`, PayPal's `PAYPAL-CERT-URL`).
    #[cfg(feature = "certificates")]
    pub fn certificates(mut self, store: Arc<dyn crate::CertificateStore>) -> Self {
        self.certificates = Some(store);
        self
    }

    /// Also accepts deliveries signed under an older scheme of the same sender when the
    /// main signature header is absent: [`GITHUB_SHA1`](crate::providers::GITHUB_SHA1) for
    /// GitHub, [`META_SHA1`](crate::providers::META_SHA1) for Meta.
    pub fn legacy(mut self, legacy: Provider) -> Self {
        self.legacy = Some(legacy);
        self
    }

    /// Checks the settings and builds the verifier.
    pub fn build(self) -> Result<Verifier, ConfigError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.keys.is_empty() {
            return Err(ConfigError::new(format!("no key configured for {}", self.provider.name())));
        }
        let legacy = match self.legacy {
            None => None,
            Some(p) => match (p.scheme(), self.provider.scheme()) {
                (Some(old), Some(main)) if old.name == main.name => Some(old),
                _ => {
                    return Err(ConfigError::new(format!(
                        "{} cannot be a legacy scheme of {}",
                        p.name(),
                        self.provider.name()
                    )))
                }
            },
        };
        let mut algorithms: Vec<Algorithm> = match self.provider.kind {
            Kind::Scheme(s) => vec![s.algorithm],
            #[cfg(feature = "twilio")]
            Kind::Twilio => vec![Algorithm::HmacSha1],
            Kind::Mailgun | Kind::Adyen => vec![Algorithm::HmacSha256],
            Kind::GitLabToken | Kind::Credentials(_) => vec![],
            #[cfg(feature = "sns")]
            Kind::Sns => vec![],
            #[cfg(feature = "paypal")]
            Kind::PayPal => vec![],
            #[cfg(feature = "jwt")]
            Kind::FusionAuth => vec![],
        };
        algorithms.extend(legacy.map(|s| s.algorithm));
        for key in &self.keys {
            let accepted = match self.provider.kind {
                Kind::Scheme(s) => s.variant_for(key.kind()).is_some(),
                #[cfg(feature = "jwt")]
                Kind::FusionAuth => matches!(key.kind(), KeyKind::Shared | KeyKind::Rsa | KeyKind::Ec),
                _ => key.kind() == KeyKind::Shared,
            };
            if !accepted {
                return Err(ConfigError::new(format!(
                    "{} does not accept {:?} keys",
                    self.provider.name(),
                    key.kind()
                )));
            }
        }
        if let Some(url) = &self.url {
            url.parse::<http::Uri>().map_err(|_| ConfigError::new("the configured URL is not a valid URL"))?;
        }
        let items = self.keys.into_iter().map(|s| {
            let prepared = Prepared::new(&s, &algorithms);
            (s, prepared)
        });
        Ok(Verifier {
            provider: self.provider,
            legacy,
            keys: Keys { items: items.collect() },
            tolerance: self.tolerance,
            url: self.url,
            #[cfg(feature = "certificates")]
            certificates: self.certificates,
        })
    }
}

/// What to sign: a body, at a time, with the id, event type and URL the provider would
/// send where it sends them.
#[derive(Debug, Clone, Copy)]
pub struct SignRequest<'a> {
    pub(crate) body: &'a [u8],
    pub(crate) timestamp: SystemTime,
    pub(crate) id: Option<&'a str>,
    pub(crate) event_type: Option<&'a str>,
    pub(crate) url: Option<&'a str>,
}

impl<'a> SignRequest<'a> {
    /// Sign `body` as of `timestamp`.
    pub fn new(body: &'a [u8], timestamp: SystemTime) -> Self {
        Self { body, timestamp, id: None, event_type: None, url: None }
    }

    /// The delivery id to send (and sign, where the scheme signs it). Without one, schemes
    /// that need an id get `msg_` + 24 hex digits of SHA-256 over the timestamp and body:
    /// deterministic, so the same call signs the same way twice.
    #[must_use]
    pub fn id(mut self, id: &'a str) -> Self {
        self.id = Some(id);
        self
    }

    /// The event type to send, for providers that carry it in a header (GitHub's
    /// `X-GitHub-Event`, Shopify's `X-Shopify-Topic`, ...).
    #[must_use]
    pub fn event_type(mut self, event_type: &'a str) -> Self {
        self.event_type = Some(event_type);
        self
    }

    /// The URL the delivery is sent to (Twilio and Square sign it).
    #[must_use]
    pub fn url(mut self, url: &'a str) -> Self {
        self.url = Some(url);
        self
    }
}

/// A signed delivery: the headers to send and the body (the one given, except for Mailgun,
/// whose signature travels inside the body).
///
/// It implements [`Headers`], so it can be verified directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Bytes,
}

impl Signed {
    /// The headers, in the order a provider would send them.
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// The value of header `name`, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body to send.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

impl Headers for Signed {
    fn for_each_value<'a>(&'a self, name: &str, f: &mut dyn FnMut(&'a [u8])) {
        self.headers.as_slice().for_each_value(name, f)
    }
}

/// `msg_` + 24 hex digits of SHA-256(timestamp || body).
pub(crate) fn derived_id(timestamp: &str, body: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::new().chain_update(timestamp).chain_update(body).finalize();
    format!("msg_{}", hex::encode(&digest[..12]))
}
