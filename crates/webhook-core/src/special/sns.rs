//! Amazon SNS HTTP(S) deliveries: the JSON body carries its own signature, an RSA
//! PKCS#1 v1.5 signature (SHA-1 for `SignatureVersion` 1, SHA-256 for 2) over the message's
//! fields, made with the key of the X.509 certificate at `SigningCertURL`. As AWS's
//! `sns-validator` and `aws-js-sns-message-validator` do: the certificate URL must be an
//! HTTPS URL on `sns.<region>.amazonaws.com` (or `.amazonaws.com.cn`), and the string to
//! sign is each present field's name and value, one per line, in the order AWS lists them.
//! <https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html>
//!
//! The core stays pure: the certificate comes from a [`CertificateStore`] the application
//! fills (fetching the URL over HTTPS is I/O, outside the core). The configured secrets are
//! the topic ARNs this endpoint accepts: a valid signature only proves that *some* SNS topic
//! sent the message, and anyone can subscribe an endpoint to a topic of their own.

use std::time::SystemTime;

use base64::Engine as _;
use serde_json::Value;

use crate::engine::ct_eq;
use crate::error::{ErrorKind, SignError, VerifyError};
use crate::scheme::TimeFormat;
use crate::special::certs::CertificateStore;
use crate::verifier::{EventType, Keys, Request, SignRequest, Signed, Verified};

/// Whether `url` is an HTTPS URL on an Amazon SNS host: `sns.<region>.amazonaws.com` or
/// `sns.<region>.amazonaws.com.cn`, default port, a `.pem` path for certificates.
pub(crate) fn is_sns_url(url: &str, pem: bool) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    let Some(authority) = uri.authority() else {
        return false;
    };
    let host = authority.host();
    let region = host
        .strip_prefix("sns.")
        .and_then(|h| h.strip_suffix(".amazonaws.com").or_else(|| h.strip_suffix(".amazonaws.com.cn")));
    let region_ok = region
        .is_some_and(|r| r.len() >= 3 && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
    uri.scheme_str() == Some("https")
        && region_ok
        && authority.port().is_none()
        && !authority.as_str().contains('@')
        && (!pem || uri.path().ends_with(".pem"))
}

fn malformed(what: &str) -> VerifyError {
    VerifyError::new(ErrorKind::MalformedBody, format!("body has no valid {what}"))
}

/// The fields AWS signs, in order, for each message type.
fn signed_fields(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "Notification" => Some(&["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]),
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => {
            Some(&["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"])
        }
        _ => None,
    }
}

/// `name\nvalue\n` for each field present, as AWS builds the string to sign.
fn string_to_sign(msg: &serde_json::Map<String, Value>, fields: &[&str]) -> String {
    let mut out = String::new();
    for f in fields {
        if let Some(Value::String(v)) = msg.get(*f) {
            out.push_str(f);
            out.push('\n');
            out.push_str(v);
            out.push('\n');
        }
    }
    out
}

fn text<'a>(msg: &'a serde_json::Map<String, Value>, field: &str) -> Result<&'a str, VerifyError> {
    msg.get(field).and_then(Value::as_str).ok_or_else(|| malformed(field))
}

pub(crate) fn verify(
    keys: &Keys,
    store: Option<&dyn CertificateStore>,
    req: &Request<'_>,
    now: SystemTime,
) -> Result<Verified, VerifyError> {
    let msg: serde_json::Map<String, Value> = crate::json::object(&req.body).ok_or_else(|| malformed("SNS message"))?;
    let kind = text(&msg, "Type")?;
    let fields = signed_fields(kind).ok_or_else(|| malformed("Type"))?;
    for required in ["Message", "MessageId", "Timestamp", "TopicArn", "Signature", "SigningCertURL"] {
        text(&msg, required)?;
    }
    let cert_url = text(&msg, "SigningCertURL")?;
    if !is_sns_url(cert_url, true) {
        return Err(VerifyError::new(
            ErrorKind::MalformedBody,
            "SigningCertURL is not an https://sns.<region>.amazonaws.com/….pem URL",
        ));
    }
    let signature = text(&msg, "Signature")?;
    if signature.len() > 2048 {
        return Err(malformed("Signature"));
    }
    let signature = base64::engine::general_purpose::STANDARD.decode(signature).map_err(|_| malformed("Signature"))?;
    let store = store.ok_or_else(|| {
        VerifyError::new(ErrorKind::Configuration, "aws-sns needs a certificate store (VerifierBuilder::certificates)")
    })?;
    let cert = store.certificate(cert_url).ok_or_else(|| {
        VerifyError::new(ErrorKind::UnknownKey, "the signing certificate is not in the certificate store")
    })?;
    let signed = string_to_sign(&msg, fields);
    let scheme_ok = match text(&msg, "SignatureVersion")? {
        "1" => {
            use sha1::Digest;
            let digest = sha1::Sha1::digest(signed.as_bytes());
            cert.key().verify(rsa::Pkcs1v15Sign::new::<sha1::Sha1>(), &digest, &signature).is_ok()
        }
        "2" => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(signed.as_bytes());
            cert.key().verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest, &signature).is_ok()
        }
        _ => return Err(malformed("SignatureVersion (1 or 2)")),
    };
    if !scheme_ok {
        return Err(VerifyError::mismatch());
    }
    // Authentic SNS: now, is it one of our topics?
    let topic = text(&msg, "TopicArn")?;
    let key_index = keys.find(now, |key| key.raw().is_some_and(|raw| ct_eq(raw, topic.as_bytes()))).map_err(|e| {
        if e.kind() == ErrorKind::SignatureMismatch {
            VerifyError::new(
                ErrorKind::SignatureMismatch,
                "the message comes from a topic this endpoint does not accept",
            )
        } else {
            e
        }
    })?;
    let timestamp = crate::time::parse(text(&msg, "Timestamp")?.as_bytes(), TimeFormat::Rfc3339)
        .ok_or_else(|| malformed("Timestamp"))?;
    Ok(Verified {
        provider: "aws-sns",
        id: Some(text(&msg, "MessageId")?.to_owned()),
        event_type: EventType::known(Some(kind.to_owned())),
        timestamp: Some(timestamp),
        body: req.body.clone(),
        key_index,
        event_id: None,
    })
}

pub(crate) fn sign(_keys: &Keys, _req: &SignRequest<'_>) -> Result<Signed, SignError> {
    Err(SignError::new(
        "aws-sns messages are signed by AWS with the private key of its certificate: this crate verifies them, it cannot sign them",
    ))
}

/// The URL to `GET` to confirm a verified `SubscriptionConfirmation`, if `verified` is one
/// and its `SubscribeURL` is an HTTPS URL on an Amazon SNS host.
pub(crate) fn subscribe_url(verified: &Verified) -> Option<String> {
    if verified.event_type() != Some("SubscriptionConfirmation") {
        return None;
    }
    subscribe_url_of(verified.body())
}

/// The same from a message body alone: its `Type` is `SubscriptionConfirmation` and its
/// `SubscribeURL` an HTTPS URL on an Amazon SNS host.
pub(crate) fn subscribe_url_of(body: &[u8]) -> Option<String> {
    let msg: serde_json::Map<String, Value> = crate::json::object(body)?;
    if msg.get("Type")?.as_str()? != "SubscriptionConfirmation" {
        return None;
    }
    let url = msg.get("SubscribeURL")?.as_str()?;
    is_sns_url(url, false).then(|| url.to_owned())
}
