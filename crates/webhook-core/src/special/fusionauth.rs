//! FusionAuth signed webhooks: `X-FusionAuth-Signature-JWT` is a JWT signed with the
//! webhook's signing key whose claim `request_body_sha256` is the base64 SHA-256 of the
//! body. The token is checked with the `jsonwebtoken` crate, then the claim against the
//! body, compared in constant time.
//! <https://fusionauth.io/docs/extend/events-and-webhooks/signing>
//!
//! Every kind of signing key FusionAuth's Key Master makes for webhooks: HMAC (HS256,
//! HS384, HS512; the key used as its UTF-8 text), RSA (RS256, RS384, RS512) and EC (ES256,
//! ES384), the last two configured as the PEM public key. The algorithms a key accepts
//! follow from the key, never from the token: an `HS256` token is never checked against
//! an RSA key's bytes (algorithm confusion), and `alg: none` is refused. ES512 (P-521)
//! is not supported by `jsonwebtoken`: such tokens are refused as malformed. No time
//! claim is checked (the clock is a parameter of `verify`, and the crate would read its
//! own): deduplicate on the event id.

use std::time::SystemTime;

use base64::Engine as _;
use bytes::Bytes;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::ct_eq;
use crate::error::{ErrorKind, SignError, VerifyError};
use crate::headers::single;
use crate::scheme::Source;
use crate::secret::KeyKind;
use crate::verifier::{EventType, Keys, Request, SignRequest, Signed, Verified};

pub(crate) const HEADER: &str = "X-FusionAuth-Signature-JWT";

/// The algorithms each kind of key verifies: those FusionAuth signs webhooks with.
const ACCEPTED: &[(KeyKind, &[Algorithm])] = &[
    (KeyKind::Shared, &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]),
    (KeyKind::Rsa, &[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512]),
    (KeyKind::Ec, &[Algorithm::ES256, Algorithm::ES384]),
];

#[derive(Serialize, Deserialize)]
struct Claims {
    request_body_sha256: String,
}

pub(crate) fn verify(keys: &Keys, req: &Request<'_>, now: SystemTime) -> Result<Verified, VerifyError> {
    let token = single(req.headers, HEADER)?.ok_or_else(|| VerifyError::missing_header(HEADER))?;
    let token = std::str::from_utf8(token).map_err(|_| VerifyError::malformed_header(HEADER, "not UTF-8"))?;
    // `alg: none` (and any name `jsonwebtoken` does not know) fails here.
    let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::malformed_header(HEADER, "not a JWT"))?;
    if !ACCEPTED.iter().any(|(_, algs)| algs.contains(&header.alg)) {
        return Err(VerifyError::malformed_header(
            HEADER,
            "the token's algorithm is not one FusionAuth signs with (HS256/384/512, RS256/384/512, ES256/384)",
        ));
    }
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let body_hash = Sha256::digest(&req.body);
    let key_index = keys.find(now, |key| {
        // The key decides the algorithms: a token whose algorithm is not of the key's kind
        // never reaches the signature check with this key.
        let kind = key.kind();
        if !ACCEPTED.iter().any(|(k, algs)| *k == kind && algs.contains(&header.alg)) {
            return false;
        }
        let secret;
        let decoding = match (key.raw(), key.jwt_public()) {
            (Some(raw), _) => {
                secret = DecodingKey::from_secret(raw);
                &secret
            }
            (None, Some((public, _))) => public,
            (None, None) => return false,
        };
        let Ok(data) = jsonwebtoken::decode::<Claims>(token, decoding, &validation) else {
            return false;
        };
        base64::engine::general_purpose::STANDARD
            .decode(data.claims.request_body_sha256.as_bytes())
            .is_ok_and(|claimed| ct_eq(&claimed, &body_hash))
    })?;
    if !matches!(req.body.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{')) {
        return Err(VerifyError::new(ErrorKind::BodyNotJson, "body is not JSON"));
    }
    let id = match crate::json::extract(&req.body, &[&["event", "id"]]) {
        crate::json::Extracted::Json(mut v) => v.pop().flatten(),
        crate::json::Extracted::NotJson => return Err(VerifyError::new(ErrorKind::BodyNotJson, "body is not JSON")),
    };
    Ok(Verified {
        provider: "fusionauth",
        id,
        event_type: EventType::from_body(&[Source::Json(&["event", "type"])]),
        timestamp: None,
        body: req.body.clone(),
        key_index,
        event_id: None,
    })
}

/// An HS256 token over the body's SHA-256, as FusionAuth sends it.
pub(crate) fn sign(keys: &Keys, req: &SignRequest<'_>) -> Result<Signed, SignError> {
    let raw = keys
        .signing(req.timestamp)
        .find_map(|k| k.raw())
        .ok_or_else(|| SignError::new("no HMAC signing key valid at that time (RSA and EC public keys only verify)"))?;
    let claims =
        Claims { request_body_sha256: base64::engine::general_purpose::STANDARD.encode(Sha256::digest(req.body)) };
    let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(raw))
        .map_err(|e| SignError::new(format!("cannot make the token: {e}")))?;
    Ok(Signed { headers: vec![(HEADER, token)], body: Bytes::copy_from_slice(req.body) })
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use base64::Engine as _;
    use hmac::Mac as _;

    use crate::{providers, ErrorKind, Verifier, WebhookRequest as Request};

    /// A token with this header and these claims, HMAC-SHA256-signed with `key`.
    fn token(header: &str, claims: &str, key: &[u8]) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let signing_input = format!("{}.{}", b64(header), b64(claims));
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        mac.update(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn the_claim_must_be_the_body_and_the_token_hmac() {
        let v = Verifier::new(providers::FUSIONAUTH, "k").unwrap();
        let body = br#"{"event":{"id":"e1","type":"user.create"}}"#;
        let hash = {
            use sha2::Digest;
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body))
        };
        let check = |t: &str| {
            let h = [("X-FusionAuth-Signature-JWT", t)];
            v.verify(&Request::new(&h, &body[..]), UNIX_EPOCH).map(|d| d.id().map(str::to_owned))
        };
        let good = token(r#"{"alg":"HS256","typ":"JWT"}"#, &format!(r#"{{"request_body_sha256":"{hash}"}}"#), b"k");
        assert_eq!(check(&good).unwrap().as_deref(), Some("e1"));
        // Another body's hash, no claim, another key, an RSA algorithm for an HMAC key:
        // mismatches.
        for t in [
            token(r#"{"alg":"HS256"}"#, r#"{"request_body_sha256":"AAAA"}"#, b"k"),
            token(r#"{"alg":"HS256"}"#, r#"{"sub":"x"}"#, b"k"),
            token(r#"{"alg":"HS256"}"#, &format!(r#"{{"request_body_sha256":"{hash}"}}"#), b"other"),
            token(r#"{"alg":"RS256"}"#, &format!(r#"{{"request_body_sha256":"{hash}"}}"#), b"k"),
        ] {
            assert_eq!(check(&t).unwrap_err().kind(), ErrorKind::SignatureMismatch, "{t}");
        }
        // `none`, an algorithm FusionAuth does not sign with, or not a JWT: malformed.
        for t in [
            token(r#"{"alg":"none"}"#, r#"{"request_body_sha256":"AAAA"}"#, b"k"),
            token(r#"{"alg":"PS256"}"#, r#"{"request_body_sha256":"AAAA"}"#, b"k"),
            token(r#"{"alg":"ES512"}"#, r#"{"request_body_sha256":"AAAA"}"#, b"k"),
            "not.a.jwt".to_owned(),
        ] {
            assert_eq!(check(&t).unwrap_err().kind(), ErrorKind::MalformedHeader, "{t}");
        }
    }
}
