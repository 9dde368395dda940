//! What a verified delivery's body becomes in a handler: [`FromWebhook`] builds a value
//! from the whole [`Verified`] delivery (its event type as well as its body), so a typed
//! event can be chosen by a header, as GitHub's is by `X-GitHub-Event`.
//!
//! Every `serde::de::DeserializeOwned` type is one already (the body parsed as JSON):
//! `VerifiedWebhook<stripe::Event>`, `VerifiedWebhook<MyStruct>` and
//! `VerifiedWebhook<serde_json::Value>` all work as they are. A type whose parsing needs
//! more than the body implements the trait itself.
//!
//! ```
//! use webhook_core::{FromWebhook, Verified};
//!
//! /// An event type and the body's length: anything a delivery can tell.
//! struct Summary { event: String, bytes: usize }
//!
//! impl FromWebhook for Summary {
//!     type Error = std::convert::Infallible;
//!     fn from_webhook(delivery: &Verified) -> Result<Self, Self::Error> {
//!         Ok(Self { event: delivery.event_type().unwrap_or("").to_owned(), bytes: delivery.body().len() })
//!     }
//! }
//! ```

use serde::de::DeserializeOwned;

use crate::Verified;

/// A value built from a verified delivery; the adapters' `VerifiedWebhook<T>` extractors
/// build their `T` with it, and refuse the request (400, and its id freed for the
/// provider's retry) when it fails.
pub trait FromWebhook: Sized {
    /// Why the delivery is not a `Self`: shown in the 400's reason.
    type Error: std::fmt::Display;

    /// Builds the value from `delivery` (its raw body stays in `delivery`).
    fn from_webhook(delivery: &Verified) -> Result<Self, Self::Error>;
}

impl<T: DeserializeOwned> FromWebhook for T {
    type Error = serde_json::Error;

    fn from_webhook(delivery: &Verified) -> Result<Self, Self::Error> {
        delivery.json()
    }
}
