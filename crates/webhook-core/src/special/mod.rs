//! The providers that are not a signature header over the body: Twilio signs the URL and
//! form parameters, Mailgun puts its signature in the body, GitLab's classic hook sends a
//! plaintext token, and the providers that send credentials (HTTP Basic or a fixed header)
//! instead of a signature.

use crate::engine::header_text;
use crate::error::VerifyError;
use crate::headers::{single, Headers};

pub(crate) mod adyen;
#[cfg(feature = "certificates")]
pub(crate) mod certs;
pub(crate) mod credentials;
#[cfg(feature = "jwt")]
pub(crate) mod fusionauth;
pub(crate) mod gitlab;
pub(crate) mod mailgun;
#[cfg(feature = "paypal")]
pub(crate) mod paypal;
#[cfg(feature = "sns")]
pub(crate) mod sns;
#[cfg(feature = "twilio")]
pub(crate) mod twilio;

/// The text of the first of `names` present (an id or event type header).
fn first_header_text(headers: &dyn Headers, names: &[&str]) -> Result<Option<String>, VerifyError> {
    for name in names {
        if let Some(v) = single(headers, name)? {
            return header_text(name, v).map(Some);
        }
    }
    Ok(None)
}
