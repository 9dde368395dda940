#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod dedup;
mod engine;
mod error;
mod form;
#[cfg(feature = "github")]
pub mod github;
pub mod handshake;
mod headers;
pub mod ip;
pub mod json;
pub mod limits;
pub mod payload;
pub mod prepare;
pub mod providers;
pub mod receive;
pub mod scheme;
mod secret;
pub mod sink;
mod special;
mod throttle;
mod time;
mod verifier;

pub use error::{ConfigError, ErrorKind, SignError, VerifyError};
pub use headers::{Headers, MAX_HEADER_VALUE};
pub use payload::FromWebhook;
pub use providers::Provider;
pub use secret::{KeyFormat, KeyKind, Secret};
#[cfg(feature = "certificates")]
pub use special::certs::{CertificateStore, MemoryCertificates, SigningCertificate};
#[cfg(feature = "twilio")]
pub use special::twilio::json_url as twilio_json_url;
pub use verifier::{Request as WebhookRequest, SignRequest, Signed, Verified, Verifier, VerifierBuilder, Verify};

/// The old name of [`WebhookRequest`], which read like `http::Request` in a file that has
/// both. Kept for one release.
#[deprecated(note = "renamed WebhookRequest")]
pub type Request<'a> = WebhookRequest<'a>;

/// Re-exported so adapters and users name the same `Bytes`.
pub use bytes::Bytes;
