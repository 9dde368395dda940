//! Errors: why a delivery was refused, and the one HTTP status that says so.

use std::borrow::Cow;
use std::fmt;

use http::StatusCode;

/// What went wrong, in a form a program can branch on.
///
/// Every kind maps to exactly one HTTP status ([`ErrorKind::status`]); the table is the
/// single place in the workspace where that decision is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A header the scheme needs is absent (signature, id or timestamp). 400.
    MissingHeader,
    /// A header is present but cannot be read: empty, repeated, too long, wrong prefix,
    /// no signature of the expected version, bad hex/base64, a timestamp that is not a
    /// number. 400.
    MalformedHeader,
    /// A value the scheme reads from the body is absent or unreadable (Mailgun's
    /// `signature` object, Linear's `webhookTimestamp`, Twilio's `bodySHA256`). 400.
    MalformedBody,
    /// The body must be JSON for this provider and it is not. 400.
    BodyNotJson,
    /// No configured key produced the signature. 401.
    SignatureMismatch,
    /// The signature was made with a key that has expired (a finished rotation). 401.
    ExpiredKey,
    /// The verifier holds no key that is valid now. 401.
    UnknownKey,
    /// The signed timestamp is older than the tolerance allows. 401.
    TimestampTooOld,
    /// The signed timestamp is further in the future than the tolerance allows. 401.
    TimestampInFuture,
    /// The verifier cannot run because of how the server configured it (a provider that
    /// signs the URL, but no URL was given). 500: this is never the sender's fault.
    Configuration,
}

impl ErrorKind {
    /// The HTTP status for this kind: 400 for what the sender formatted wrongly, 401 for
    /// what failed authentication, 500 only for server misconfiguration.
    pub fn status(self) -> StatusCode {
        match self {
            Self::MissingHeader | Self::MalformedHeader | Self::MalformedBody | Self::BodyNotJson => {
                StatusCode::BAD_REQUEST
            }
            Self::SignatureMismatch
            | Self::ExpiredKey
            | Self::UnknownKey
            | Self::TimestampTooOld
            | Self::TimestampInFuture => StatusCode::UNAUTHORIZED,
            Self::Configuration => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable snake_case label, for metrics and logs (`invalid_signature`, `stale`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingHeader => "missing_header",
            Self::MalformedHeader => "malformed_header",
            Self::MalformedBody => "malformed_body",
            Self::BodyNotJson => "body_not_json",
            Self::SignatureMismatch => "signature_mismatch",
            Self::ExpiredKey => "expired_key",
            Self::UnknownKey => "unknown_key",
            Self::TimestampTooOld => "timestamp_too_old",
            Self::TimestampInFuture => "timestamp_in_future",
            Self::Configuration => "configuration",
        }
    }
}

/// Why a delivery was refused.
///
/// The message ([`Display`](fmt::Display)) says precisely what is wrong and is safe to
/// return to the sender: it never contains a secret, a whole signature or the body.
///
/// ```
/// use webhook_core::{providers, WebhookRequest, Verifier, ErrorKind};
/// use std::time::SystemTime;
///
/// let verifier = Verifier::new(providers::GITHUB, "It's a Secret to Everybody").unwrap();
/// let headers: &[(&str, &str)] = &[];
/// let err = verifier
///     .verify(&WebhookRequest::new(&headers, &b"Hello, World!"[..]), SystemTime::now())
///     .unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::MissingHeader);
/// assert_eq!(err.status(), 400);
/// assert_eq!(err.to_string(), "missing header X-Hub-Signature-256");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyError {
    kind: ErrorKind,
    message: Cow<'static, str>,
}

impl VerifyError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self { kind, message: message.into() }
    }

    pub(crate) fn missing_header(name: &str) -> Self {
        Self::new(ErrorKind::MissingHeader, format!("missing header {name}"))
    }

    pub(crate) fn malformed_header(name: &str, what: impl fmt::Display) -> Self {
        Self::new(ErrorKind::MalformedHeader, format!("malformed header {name}: {what}"))
    }

    pub(crate) fn malformed_query(name: &str, what: impl fmt::Display) -> Self {
        Self::new(ErrorKind::MalformedHeader, format!("malformed query parameter {name}: {what}"))
    }

    pub(crate) fn mismatch() -> Self {
        Self::new(ErrorKind::SignatureMismatch, "signature mismatch")
    }

    /// The server is not configured for this request (no endpoint for the route, no URL for
    /// a provider that signs it): [`ErrorKind::Configuration`], 500.
    pub fn configuration(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Configuration, detail)
    }

    /// A verified body that does not deserialize into the type the application asked for:
    /// [`ErrorKind::BodyNotJson`], 400. Adapters use it for their typed extractors.
    pub fn payload(detail: impl fmt::Display) -> Self {
        Self::new(ErrorKind::BodyNotJson, format!("body is not the expected JSON: {detail}"))
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The HTTP status to answer with; see [`ErrorKind::status`].
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// True for failures of authentication (401): mismatch, expired or unknown key,
    /// timestamp outside the tolerance.
    pub fn is_unauthorized(&self) -> bool {
        self.status() == StatusCode::UNAUTHORIZED
    }

    /// True for requests the sender formatted wrongly (400).
    pub fn is_malformed(&self) -> bool {
        self.status() == StatusCode::BAD_REQUEST
    }

    /// True when the signed timestamp lies outside the tolerance, either way.
    pub fn is_stale(&self) -> bool {
        matches!(self.kind, ErrorKind::TimestampTooOld | ErrorKind::TimestampInFuture)
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyError").field("kind", &self.kind).field("message", &self.message).finish()
    }
}

impl std::error::Error for VerifyError {}

/// A key or a verifier could not be built from what was configured.
///
/// The message names the problem (`"whsec_ secret is not valid base64"`) and never
/// repeats the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    message: Cow<'static, str>,
}

impl ConfigError {
    pub(crate) fn new(message: impl Into<Cow<'static, str>>) -> Self {
        Self { message: message.into() }
    }
}

/// A delivery could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SignError {
    message: Cow<'static, str>,
}

impl SignError {
    pub(crate) fn new(message: impl Into<Cow<'static, str>>) -> Self {
        Self { message: message.into() }
    }
}
