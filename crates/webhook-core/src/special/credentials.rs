//! Providers that authenticate with credentials they send rather than a signature over the
//! body: HTTP Basic (`Authorization: Basic base64(user:password)`: Postmark, Chargebee,
//! Pipedrive) or a fixed header value (Okta's event hooks). The body is not authenticated
//! by these; TLS protects it.
//!
//! The configured secret is the credential (`user:password` for Basic). SHA-256 digests of
//! the sent and the configured credential are compared in constant time, so neither the
//! bytes nor the length leak through timing.

use std::time::SystemTime;

use base64::Engine as _;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::engine::{ct_eq, header_text};
use crate::error::{ErrorKind, SignError, VerifyError};
use crate::headers::single;
use crate::json::{extract, Extracted};
use crate::scheme::Source;
use crate::verifier::{EventType, Keys, Request, SignRequest, Signed, Verified};

/// Longest decoded credential accepted.
const MAX_CREDENTIAL: usize = 1024;

/// How a provider sends its credentials, as data.
#[derive(Debug)]
pub(crate) struct Credentials {
    pub(crate) name: &'static str,
    /// The header carrying them.
    pub(crate) header: &'static str,
    /// `Basic base64(user:password)`; otherwise the header's value is the secret itself.
    pub(crate) basic: bool,
    pub(crate) id: &'static [Source],
    pub(crate) event_type: &'static [Source],
    /// The body must be JSON (checked after the credentials).
    pub(crate) json: bool,
    pub(crate) handshake: Option<crate::scheme::Handshake>,
    pub(crate) reference: &'static str,
}

fn decode_basic(name: &str, value: &[u8]) -> Result<Vec<u8>, VerifyError> {
    let encoded = value
        .strip_prefix(b"Basic ")
        .ok_or_else(|| VerifyError::malformed_header(name, "expected \"Basic \" credentials"))?;
    if encoded.is_empty() || encoded.len() > MAX_CREDENTIAL / 3 * 4 + 4 {
        return Err(VerifyError::malformed_header(name, "credentials missing or too long"));
    }
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| VerifyError::malformed_header(name, "credentials are not base64"))
}

pub(crate) fn verify(
    c: &Credentials,
    keys: &Keys,
    req: &Request<'_>,
    now: SystemTime,
) -> Result<Verified, VerifyError> {
    let value = single(req.headers, c.header)?.ok_or_else(|| VerifyError::missing_header(c.header))?;
    let sent = if c.basic {
        decode_basic(c.header, value)?
    } else {
        if value.is_empty() {
            return Err(VerifyError::malformed_header(c.header, "empty"));
        }
        value.to_vec()
    };
    let sent = Sha256::digest(&sent);
    let key_index = keys.find(now, |key| key.raw().is_some_and(|raw| ct_eq(&Sha256::digest(raw), &sent)))?;

    let body_is_json = matches!(req.body.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{' | b'['));
    if c.json && !body_is_json {
        return Err(VerifyError::new(ErrorKind::BodyNotJson, "body is not JSON"));
    }
    let mut id = None;
    for source in c.id {
        id = match source {
            Source::Json(path) => match extract(&req.body, &[path]) {
                Extracted::Json(mut v) => v.pop().flatten(),
                Extracted::NotJson if c.json => {
                    return Err(VerifyError::new(ErrorKind::BodyNotJson, "body is not JSON"))
                }
                Extracted::NotJson => None,
            },
            other => match other.header_name() {
                Some(h) => single(req.headers, h)?.map(|v| header_text(h, v)).transpose()?,
                None => None,
            },
        };
        if id.is_some() {
            break;
        }
    }
    let header_type = c
        .event_type
        .iter()
        .filter_map(Source::header_name)
        .find_map(|h| single(req.headers, h).ok().flatten().map(|v| (h, v)));
    let event_type = match header_type {
        Some((h, v)) => EventType::known(Some(header_text(h, v)?)),
        None => EventType::from_body(c.event_type),
    };
    Ok(Verified {
        provider: c.name,
        id,
        event_type,
        timestamp: None,
        body: req.body.clone(),
        key_index,
        event_id: None,
    })
}

pub(crate) fn sign(c: &Credentials, keys: &Keys, req: &SignRequest<'_>) -> Result<Signed, SignError> {
    let raw = keys
        .signing(req.timestamp)
        .find_map(|k| k.raw())
        .ok_or_else(|| SignError::new(format!("no {} credentials valid at that time", c.name)))?;
    let value = if c.basic {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
    } else {
        std::str::from_utf8(raw).map_err(|_| SignError::new("the credential is not UTF-8"))?.to_owned()
    };
    let mut headers = vec![(c.header, value)];
    if let (Some(h), Some(t)) = (c.event_type.iter().find_map(Source::header_name), req.event_type) {
        headers.push((h, t.to_owned()));
    }
    Ok(Signed { headers, body: Bytes::copy_from_slice(req.body) })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use crate::{providers, ErrorKind, SignRequest, Verifier, WebhookRequest as Request};

    #[test]
    fn basic_credentials_are_exact() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let v = Verifier::new(providers::POSTMARK, "Aladdin:open sesame").unwrap();
        let body = br#"{"RecordType":"Open"}"#;
        let signed = v.sign(&SignRequest::new(body, now)).unwrap();
        assert_eq!(signed.header("Authorization"), Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="));
        let check = |value: &str| {
            let h = [("Authorization", value)];
            v.verify(&Request::new(&h, &body[..]), now).map(|d| d.event_type().map(str::to_owned))
        };
        assert_eq!(check("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap().as_deref(), Some("Open"));
        // Unpadded base64 is not the encoding Basic uses; a lower-case scheme or a Bearer
        // token is not Basic; the password alone is not the credential.
        for (value, kind) in [
            ("basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", ErrorKind::MalformedHeader),
            ("Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==", ErrorKind::MalformedHeader),
            ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ", ErrorKind::MalformedHeader),
            ("Basic ", ErrorKind::MalformedHeader),
            ("Basic b3BlbiBzZXNhbWU=", ErrorKind::SignatureMismatch),
            ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZSA=", ErrorKind::SignatureMismatch),
        ] {
            assert_eq!(check(value).unwrap_err().kind(), kind, "{value}");
        }
        let huge = format!("Basic {}", "QUFB".repeat(400));
        assert_eq!(check(&huge).unwrap_err().kind(), ErrorKind::MalformedHeader);
    }

    #[test]
    fn okta_answers_its_verification_by_its_scheme() {
        assert_eq!(providers::OKTA.handshake(), Some(crate::scheme::Handshake::OktaVerification));
        assert!(providers::OKTA.handshake().unwrap().is_get());
        assert_eq!(providers::POSTMARK.handshake(), None);
        let reply = crate::handshake::okta_verification("X1y2Z3").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(v, serde_json::json!({"verification": "X1y2Z3"}));
        assert!(crate::handshake::okta_verification("").is_none());
        assert!(crate::handshake::okta_verification(&"a".repeat(2000)).is_none());
    }
}
