//! PayPal webhooks: `PAYPAL-TRANSMISSION-SIG` is a base64 RSA signature (`PAYPAL-AUTH-ALGO`
//! `SHA256withRSA`) over `{transmission id}|{transmission time}|{webhook id}|{CRC32 of the
//! body, unsigned decimal}`, made with the key of the certificate at `PAYPAL-CERT-URL`, as
//! PayPal's self-verification describes (and its SDKs compute:
//! `paypal/PayPal-node-SDK` `lib/notification/webhook_event.js`).
//! <https://developer.paypal.com/api/rest/webhooks/rest/#link-selfverificationmethod>
//!
//! The configured secrets are the webhook ids (each is part of the signed string); the
//! certificate comes from the [`CertificateStore`] the application fills, and its URL must
//! be an HTTPS URL on a `paypal.com` host.

use std::time::SystemTime;

use base64::Engine as _;

use crate::engine::header_text;
use crate::error::{ErrorKind, SignError, VerifyError};
use crate::headers::single;
use crate::scheme::TimeFormat;
use crate::special::certs::CertificateStore;
use crate::verifier::{EventType, Keys, Request, SignRequest, Signed, Verified};

const ID: &str = "PAYPAL-TRANSMISSION-ID";
const TIME: &str = "PAYPAL-TRANSMISSION-TIME";
const SIG: &str = "PAYPAL-TRANSMISSION-SIG";
const CERT: &str = "PAYPAL-CERT-URL";
const ALGO: &str = "PAYPAL-AUTH-ALGO";

/// Whether `url` is an HTTPS URL on a PayPal host (`api.paypal.com`,
/// `api-m.sandbox.paypal.com`, ...), default port, no credentials.
pub(crate) fn is_paypal_url(url: &str) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    let Some(authority) = uri.authority() else {
        return false;
    };
    uri.scheme_str() == Some("https")
        && authority.port().is_none()
        && !authority.as_str().contains('@')
        && authority.host().strip_suffix(".paypal.com").is_some_and(|sub| {
            !sub.is_empty()
                && sub.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        })
}

fn required<'a>(req: &'a Request<'_>, name: &'static str) -> Result<&'a str, VerifyError> {
    let v = single(req.headers, name)?.ok_or_else(|| VerifyError::missing_header(name))?;
    std::str::from_utf8(v).map_err(|_| VerifyError::malformed_header(name, "not UTF-8"))
}

pub(crate) fn verify(
    keys: &Keys,
    store: Option<&dyn CertificateStore>,
    req: &Request<'_>,
    now: SystemTime,
) -> Result<Verified, VerifyError> {
    let transmission = required(req, ID)?;
    let time = required(req, TIME)?;
    let sig = required(req, SIG)?;
    let cert_url = required(req, CERT)?;
    let algo = required(req, ALGO)?;
    if algo != "SHA256withRSA" {
        return Err(VerifyError::malformed_header(ALGO, "only SHA256withRSA is accepted"));
    }
    if !is_paypal_url(cert_url) {
        return Err(VerifyError::malformed_header(CERT, "not an https://….paypal.com URL"));
    }
    let signed_at = crate::time::parse(time.as_bytes(), TimeFormat::Rfc3339)
        .ok_or_else(|| VerifyError::malformed_header(TIME, "not RFC 3339"))?;
    if sig.len() > 2048 {
        return Err(VerifyError::malformed_header(SIG, "too long"));
    }
    let signature = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .map_err(|_| VerifyError::malformed_header(SIG, "signature is not base64"))?;
    let store = store.ok_or_else(|| {
        VerifyError::new(ErrorKind::Configuration, "paypal needs a certificate store (VerifierBuilder::certificates)")
    })?;
    let cert = store.certificate(cert_url).ok_or_else(|| {
        VerifyError::new(ErrorKind::UnknownKey, "the signing certificate is not in the certificate store")
    })?;
    let crc = crc32fast::hash(&req.body);
    let key_index = keys.find(now, |key| {
        let Some(webhook_id) = key.raw() else {
            return false;
        };
        use sha2::Digest;
        let mut digest = sha2::Sha256::new();
        digest.update(transmission.as_bytes());
        digest.update(b"|");
        digest.update(time.as_bytes());
        digest.update(b"|");
        digest.update(webhook_id);
        digest.update(b"|");
        digest.update(crc.to_string().as_bytes());
        cert.key().verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest.finalize(), &signature).is_ok()
    })?;
    if !matches!(req.body.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{')) {
        return Err(VerifyError::new(ErrorKind::BodyNotJson, "body is not JSON"));
    }
    let id = match crate::json::extract(&req.body, &[&["id"]]) {
        crate::json::Extracted::Json(mut v) => v.pop().flatten(),
        crate::json::Extracted::NotJson => return Err(VerifyError::new(ErrorKind::BodyNotJson, "body is not JSON")),
    };
    // The transmission id, when the event has none.
    let id = match id {
        Some(id) => Some(id),
        None => Some(header_text(ID, transmission.as_bytes())?),
    };
    Ok(Verified {
        provider: "paypal",
        id,
        event_type: EventType::from_body(&[crate::scheme::Source::Json(&["event_type"])]),
        timestamp: Some(signed_at),
        body: req.body.clone(),
        key_index,
        event_id: None,
    })
}

pub(crate) fn sign(_keys: &Keys, _req: &SignRequest<'_>) -> Result<Signed, SignError> {
    Err(SignError::new(
        "paypal deliveries are signed by PayPal with the private key of its certificate: this crate verifies them, it cannot sign them",
    ))
}
