//! A signing scheme described as data: which header, how its value is laid out, what bytes
//! are signed with which algorithm, where the timestamp, delivery id and event type live.
//!
//! Most providers are one [`Scheme`] value (see [`providers`](crate::providers)); a scheme
//! for a sender this crate does not ship is a few lines:
//!
//! ```
//! use std::time::Duration;
//! use webhook_core::scheme::{Algorithm, Encoding, Part, Scheme, Source, Timestamp};
//! use webhook_core::{Provider, Verifier};
//!
//! // "X-Acme-Signature: t=<unix>,s=<hex HMAC-SHA256 of `{t}.{body}`>"
//! static ACME: Scheme = Scheme::new("acme", &["X-Acme-Signature"], Algorithm::HmacSha256, Encoding::Hex)
//!     .list(b',', b'=', &["s"])
//!     .signs(&[Part::Timestamp, Part::Literal(b"."), Part::Body])
//!     .timestamp(Timestamp::list_item("t"))
//!     .id(&[Source::Header("X-Acme-Delivery")])
//!     .tolerance(Duration::from_secs(300));
//!
//! let verifier = Verifier::new(Provider::custom(&ACME), "acme-secret").unwrap();
//! assert_eq!(verifier.provider().name(), "acme");
//! ```

use std::time::Duration;

use crate::secret::{KeyFormat, KeyKind};

/// The signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC with SHA-1 (GitHub's legacy header, Intercom, Twilio).
    HmacSha1,
    /// HMAC with SHA-256 (most providers).
    HmacSha256,
    /// HMAC with SHA-512.
    HmacSha512,
    /// Ed25519 (Discord, Standard Webhooks `v1a`).
    Ed25519,
    /// ECDSA over P-256 with SHA-256, DER-encoded signature (SendGrid).
    EcdsaP256Sha256,
}

impl Algorithm {
    /// The kind of key this algorithm needs.
    pub const fn key_kind(self) -> KeyKind {
        match self {
            Self::HmacSha1 | Self::HmacSha256 | Self::HmacSha512 => KeyKind::Shared,
            Self::Ed25519 => KeyKind::Ed25519,
            Self::EcdsaP256Sha256 => KeyKind::P256,
        }
    }

    /// Length in bytes of a well-formed signature, where it is fixed (not for DER ECDSA).
    pub const fn signature_len(self) -> Option<usize> {
        match self {
            Self::HmacSha1 => Some(20),
            Self::HmacSha256 => Some(32),
            Self::HmacSha512 | Self::Ed25519 => Some(64),
            Self::EcdsaP256Sha256 => None,
        }
    }
}

/// How the signature bytes are written in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encoding {
    /// Hexadecimal, either case.
    Hex,
    /// Standard base64, padding optional.
    Base64,
    /// URL-safe base64 (`-` and `_`), padding optional; written unpadded (Sanity).
    Base64Url,
}

/// How the signature header's value is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layout {
    /// One signature after a fixed prefix: `sha256=<hex>` (GitHub), `v0=<hex>` (Slack), or
    /// no prefix at all (Shopify, Linear).
    Single {
        /// Text before the encoded signature, possibly empty.
        prefix: &'static str,
    },
    /// A list of `label<assign>value` items separated by `separator`: Stripe's
    /// `t=…,v1=…,v1=…`, Paddle's `ts=…;h1=…`, Standard Webhooks' `v1,<b64> v1a,<b64>`.
    /// Items with an unknown label are ignored; any signature item may match.
    List {
        /// Between items (`,`, `;`, space).
        separator: u8,
        /// Between an item's label and value (`=` or `,`).
        assign: u8,
    },
    /// The timestamp, then one or more signatures, separated by `separator` and unlabelled:
    /// Recurly's `<unix ms>,<hex>[,<hex>…]` (a signature per key while a key is rotated).
    /// Any signature may match. Set with [`Scheme::leading_timestamp`].
    Leading {
        /// Between the items.
        separator: u8,
    },
}

/// One piece of the signed message, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Part {
    /// The delivery id as sent (Standard Webhooks' `webhook-id`, Twitch's message id).
    Id,
    /// The timestamp exactly as sent.
    Timestamp,
    /// The raw body.
    Body,
    /// The URL the sender posted to (Square's notification URL).
    Url,
    /// Fixed bytes (`.`, `v0:`).
    Literal(&'static [u8]),
    /// The body read as a form (`application/x-www-form-urlencoded`): each parameter's
    /// decoded name then value, no separators, sorted by name then value (Mandrill).
    FormParams,
    /// The path and query of the URL the sender posted to, encoded as Contentful's
    /// toolkit does: `encodeURI(path + "?" + querystring.escape(query))` (JavaScript's
    /// functions; the query only up to a second `?`).
    EncodedPath,
    /// The headers this header names (a comma-separated list), each `name:value` with the
    /// name in lower case and the value trimmed, sorted by name and joined with `;`;
    /// named headers that are absent are left out (Contentful's
    /// `x-contentful-signed-headers`).
    SignedHeaders(&'static str),
    /// The value of this header exactly as sent (it must be there, once), signed as text
    /// and never parsed: Klaviyo's `Klaviyo-Timestamp`, the time the request was sent.
    /// The window is checked on the scheme's [`Timestamp`] instead. When signing, the
    /// header is written as the signing time in HTTP-date form (`Tue, 14 Apr 2026
    /// 03:50:12 GMT`).
    SentAt(&'static str),
}

/// Where a value is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// A request header (case-insensitive).
    Header(&'static str),
    /// A field of the JSON body, by path (`&["event", "id"]`). Strings, numbers and
    /// booleans are read as text.
    Json(&'static [&'static str]),
    /// A request header, unless its value is the second string, in which case the next
    /// source is tried. Twitch's `Twitch-Eventsub-Message-Type` is `notification` for an
    /// event (whose type is the subscription type) and `revocation` for a revocation, which
    /// must never be routed as the event it revoked.
    HeaderExcept(&'static str, &'static str),
}

impl Source {
    /// The header this source reads, if it reads one.
    pub const fn header_name(&self) -> Option<&'static str> {
        match self {
            Self::Header(h) | Self::HeaderExcept(h, _) => Some(h),
            Self::Json(_) => None,
        }
    }

    /// The JSON path this source reads, if it reads one.
    pub const fn json_path(&self) -> Option<&'static [&'static str]> {
        match self {
            Self::Json(p) => Some(p),
            Self::Header(_) | Self::HeaderExcept(..) => None,
        }
    }
}

/// An endpoint check a scheme answers (see [`Verifier::handshake`](crate::Verifier::handshake)).
/// It belongs to the scheme, never to a provider's name: a custom scheme named `slack`
/// answers no handshake unless it opts in with [`Scheme::handshake`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handshake {
    /// Slack's `{"type":"url_verification","challenge":c}`: answer `c` as text.
    SlackUrlVerification,
    /// Discord's interaction PING `{"type":1}` (answer `{"type":1}`) and webhook-event PING
    /// `{"type":0}` (answer 204).
    DiscordPing,
    /// Zoom's `endpoint.url_validation`: answer the plain token and its HMAC-SHA256.
    ZoomUrlValidation,
    /// Twitch's `webhook_callback_verification`: answer the challenge as text.
    TwitchChallenge,
    /// Front's application webhook validation: a signed delivery carrying
    /// `x-front-challenge`, answered 200 with the challenge as text.
    FrontChallenge,
    /// X's CRC check, an unsigned `GET ?crc_token=…`: answered by
    /// [`x_crc_response`](crate::handshake::x_crc_response) before any verification.
    XCrc,
    /// Dropbox's `GET ?challenge=…`: answered by
    /// [`dropbox_challenge`](crate::handshake::dropbox_challenge).
    DropboxChallenge,
    /// Okta's one-time verification, a `GET` with `x-okta-verification-challenge`:
    /// answered by [`okta_verification`](crate::handshake::okta_verification).
    OktaVerification,
}

impl Handshake {
    /// Whether the check is a `GET` the receiver answers before (and without) verifying a
    /// body; the others arrive as signed deliveries and are answered by
    /// [`Verifier::handshake`](crate::Verifier::handshake).
    pub const fn is_get(self) -> bool {
        matches!(self, Self::XCrc | Self::DropboxChallenge | Self::OktaVerification)
    }
}

/// How a timestamp is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeFormat {
    /// Decimal unix seconds.
    UnixSeconds,
    /// Decimal unix milliseconds (Linear's `webhookTimestamp`).
    UnixMillis,
    /// RFC 3339 in UTC with optional fraction (Twitch).
    Rfc3339,
}

/// Where the signed timestamp is, and how it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    pub(crate) source: TimestampSource,
    pub(crate) format: TimeFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimestampSource {
    Header(&'static [&'static str]),
    ListItem(&'static str),
    /// The first item of a [`Layout::Leading`] signature header.
    Leading,
    Json(&'static [&'static str]),
}

impl Timestamp {
    /// Unix seconds in a header; several names are aliases tried in order.
    pub const fn header(names: &'static [&'static str]) -> Self {
        Self { source: TimestampSource::Header(names), format: TimeFormat::UnixSeconds }
    }
    /// Unix seconds in an item of the signature list (Stripe's `t`, Paddle's `ts`).
    pub const fn list_item(label: &'static str) -> Self {
        Self { source: TimestampSource::ListItem(label), format: TimeFormat::UnixSeconds }
    }
    /// A field of the (signed) JSON body.
    pub const fn json(path: &'static [&'static str]) -> Self {
        Self { source: TimestampSource::Json(path), format: TimeFormat::UnixSeconds }
    }
    /// The same place, written in another format.
    pub const fn format(mut self, format: TimeFormat) -> Self {
        self.format = format;
        self
    }
}

/// What the body must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyFormat {
    /// Anything: JSON fields are read when the body is JSON and skipped otherwise.
    Any,
    /// JSON: a body that cannot be JSON (its first byte after white space opens neither an
    /// object nor an array), or whose delivery id cannot be read, is refused with
    /// [`ErrorKind::BodyNotJson`](crate::ErrorKind::BodyNotJson), after the signature is
    /// checked so only an authentic sender learns it. The core reads no further than the
    /// fields it needs: parsing the whole body is the application's (the typed extractors
    /// answer 400 when it fails), and nothing is parsed twice.
    Json,
}

/// A signing scheme as data. Build one with [`Scheme::new`] and the `const` methods that
/// follow; every built-in HMAC, Ed25519 and ECDSA provider is one of these.
#[derive(Debug, Clone, Copy)]
pub struct Scheme {
    pub(crate) name: &'static str,
    pub(crate) header: &'static [&'static str],
    pub(crate) algorithm: Algorithm,
    pub(crate) encoding: Encoding,
    pub(crate) layout: Layout,
    pub(crate) labels: &'static [&'static str],
    pub(crate) asymmetric: Option<(Algorithm, &'static str)>,
    pub(crate) message: &'static [Part],
    pub(crate) timestamp: Option<Timestamp>,
    pub(crate) id: &'static [Source],
    pub(crate) event_type: &'static [Source],
    pub(crate) tolerance: Option<Duration>,
    pub(crate) key_format: KeyFormat,
    pub(crate) body: BodyFormat,
    pub(crate) handshake: Option<Handshake>,
    pub(crate) reference: &'static str,
    pub(crate) every_header: bool,
    pub(crate) repeated_header: bool,
    pub(crate) prefix_optional: bool,
    pub(crate) group_separator: Option<u8>,
}

impl Scheme {
    /// A scheme named `name` whose signature is in `header` (aliases tried in order),
    /// computed with `algorithm` over the raw body and written with `encoding`, with no
    /// prefix, no timestamp, no id, keys used as UTF-8.
    pub const fn new(
        name: &'static str,
        header: &'static [&'static str],
        algorithm: Algorithm,
        encoding: Encoding,
    ) -> Self {
        Self {
            name,
            header,
            algorithm,
            encoding,
            layout: Layout::Single { prefix: "" },
            labels: &[],
            asymmetric: None,
            message: &[Part::Body],
            timestamp: None,
            id: &[],
            event_type: &[],
            tolerance: None,
            key_format: KeyFormat::Utf8,
            body: BodyFormat::Any,
            handshake: None,
            reference: "",
            every_header: false,
            repeated_header: false,
            prefix_optional: false,
            group_separator: None,
        }
    }

    /// The list header holds several complete lists separated by `separator`, one per key
    /// (Persona's `t=…,v1=… t=…,v1=…` during a rotation): each is read as a list, their
    /// signatures are all candidates, and their timestamps must agree.
    pub const fn list_groups(mut self, separator: u8) -> Self {
        self.group_separator = Some(separator);
        self
    }

    /// The signature follows `prefix` when the sender writes one, and may also come bare
    /// (Mollie's library strips `sha256=` when present). Signing writes the prefix.
    pub const fn optional_prefix(mut self, prefix: &'static str) -> Self {
        self.layout = Layout::Single { prefix };
        self.prefix_optional = true;
        self
    }

    /// The signature header may appear several times, one signature per key (Mollie sends
    /// `X-Mollie-Signature` twice while a secret is rotated): every value is a candidate.
    /// Without this, a repeated signature header is refused as malformed.
    pub const fn repeated_header(mut self) -> Self {
        self.repeated_header = true;
        self
    }

    /// Every name given for the signature header is a header of its own, each carrying the
    /// signature made with one key (Box's `box-signature-primary` and `-secondary`,
    /// DocuSign's `X-DocuSign-Signature-1`, `-2`, ...): the signatures of all that are present
    /// are candidates, and a delivery verifies when one of them matches a configured key.
    /// Without this, the names are aliases and the first present is read.
    pub const fn every_header(mut self) -> Self {
        self.every_header = true;
        self
    }

    /// The signature follows a fixed prefix (`sha256=`).
    pub const fn prefix(mut self, prefix: &'static str) -> Self {
        self.layout = Layout::Single { prefix };
        self
    }

    /// The header is the signed timestamp, written in `format`, followed by the signatures,
    /// every item separated by `separator` (Recurly's `<unix ms>,<hex>[,<hex>…]`); see
    /// [`Layout::Leading`].
    pub const fn leading_timestamp(mut self, separator: u8, format: TimeFormat) -> Self {
        self.layout = Layout::Leading { separator };
        self.timestamp = Some(Timestamp { source: TimestampSource::Leading, format });
        self
    }

    /// The header is a list of items; items labelled with one of `labels` are signatures.
    pub const fn list(mut self, separator: u8, assign: u8, labels: &'static [&'static str]) -> Self {
        self.layout = Layout::List { separator, assign };
        self.labels = labels;
        self
    }

    /// List items labelled `label` are `algorithm` signatures, checked with asymmetric keys
    /// (Standard Webhooks' `v1a` Ed25519 beside `v1` HMAC).
    pub const fn asymmetric(mut self, algorithm: Algorithm, label: &'static str) -> Self {
        self.asymmetric = Some((algorithm, label));
        self
    }

    /// The signed message, piece by piece.
    pub const fn signs(mut self, parts: &'static [Part]) -> Self {
        self.message = parts;
        self
    }

    /// Where the signed timestamp is.
    pub const fn timestamp(mut self, timestamp: Timestamp) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Where the delivery id (the deduplication key) is; the first source present wins.
    pub const fn id(mut self, sources: &'static [Source]) -> Self {
        self.id = sources;
        self
    }

    /// Where the event type is. A header source that is present wins and is read during
    /// verification; otherwise the JSON sources are tried in order, on the first call to
    /// [`Verified::event_type`](crate::Verified::event_type): routing needs the type, the
    /// acknowledgement does not.
    pub const fn event_type(mut self, sources: &'static [Source]) -> Self {
        self.event_type = sources;
        self
    }

    /// The default tolerance for the signed timestamp, checked in both directions.
    pub const fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = Some(tolerance);
        self
    }

    /// How configured key text becomes a key.
    pub const fn key_format(mut self, format: KeyFormat) -> Self {
        self.key_format = format;
        self
    }

    /// What the body must be.
    pub const fn body(mut self, body: BodyFormat) -> Self {
        self.body = body;
        self
    }

    /// The endpoint check this scheme answers after verification.
    pub const fn handshake(mut self, handshake: Handshake) -> Self {
        self.handshake = Some(handshake);
        self
    }

    /// Where the scheme was read from: the provider's SDK file (`owner/repo path`) or
    /// documentation URL. Shown in the provider reference (docs/PROVIDERS.md).
    pub const fn source(mut self, reference: &'static str) -> Self {
        self.reference = reference;
        self
    }

    /// Whether the signed message includes the URL the delivery is sent to (Square,
    /// HubSpot, Trello): such a verifier needs the URL configured or passed with the request.
    pub fn signs_url(&self) -> bool {
        self.message.contains(&Part::Url) || self.message.contains(&Part::EncodedPath)
    }

    /// The endpoint check this scheme answers, if any.
    pub const fn handshake_kind(&self) -> Option<Handshake> {
        self.handshake
    }

    /// Where the scheme was read from (empty for a scheme that names none).
    pub const fn reference(&self) -> &'static str {
        self.reference
    }

    /// The scheme's name (`github`, `stripe`, ...).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The signature header (its first alias).
    pub const fn signature_header(&self) -> &'static str {
        self.header[0]
    }

    /// The algorithm used with shared keys (or the only algorithm).
    pub const fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The default tolerance, if the scheme signs a timestamp.
    pub const fn default_tolerance(&self) -> Option<Duration> {
        self.tolerance
    }

    /// Where the delivery id is read, in order (empty when the scheme has none: the
    /// pipeline then keys deliveries by the body's hash).
    ///
    /// ```
    /// use webhook_core::{providers, scheme::Source};
    /// let github = providers::GITHUB.scheme().unwrap();
    /// assert_eq!(github.id_sources(), &[Source::Header("X-GitHub-Delivery")]);
    /// ```
    pub const fn id_sources(&self) -> &'static [Source] {
        self.id
    }

    /// Where the event type is read, in order (see [`event_type`](Self::event_type)).
    ///
    /// ```
    /// use webhook_core::{providers, scheme::Source};
    /// let stripe = providers::STRIPE.scheme().unwrap();
    /// assert_eq!(stripe.event_type_sources(), &[Source::Json(&["type"])]);
    /// ```
    pub const fn event_type_sources(&self) -> &'static [Source] {
        self.event_type
    }

    /// The algorithm and list label used with a key of `kind`, if this scheme accepts it.
    pub(crate) fn variant_for(&self, kind: KeyKind) -> Option<(Algorithm, Option<&'static str>)> {
        if self.algorithm.key_kind() == kind {
            return Some((self.algorithm, None));
        }
        match self.asymmetric {
            Some((alg, label)) if alg.key_kind() == kind => Some((alg, Some(label))),
            _ => None,
        }
    }
}
