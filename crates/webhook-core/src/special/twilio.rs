//! Twilio: base64 HMAC-SHA1 (key: the Auth Token) of the full URL followed by each form
//! parameter's name and value, sorted. JSON bodies are signed through a `bodySHA256` query
//! parameter instead. Because Twilio is inconsistent about ports, the URL is tried without
//! its port and with the scheme's default port, as Twilio's own SDKs do.

use std::borrow::Cow;
use std::time::SystemTime;

use base64::Engine as _;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::first_header_text;
use crate::engine::{ct_eq, Mac};
use crate::error::{ErrorKind, SignError, VerifyError};
use crate::headers::single;
use crate::scheme::Algorithm;
use crate::secret::B64;
use crate::verifier::{EventType, Keys, Request, SignRequest, Signed, Verified};

const SIGNATURE: &str = "X-Twilio-Signature";
const ID: &str = "I-Twilio-Idempotency-Token";

/// The sorted, de-duplicated `(name, value)` pairs of a form body.
fn params(body: &[u8]) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    let mut pairs: Vec<_> = form_urlencoded::parse(body).collect();
    pairs.sort();
    pairs.dedup();
    pairs
}

/// The `bodySHA256` query parameter, if the URL has one.
fn body_sha256(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1.split('#').next()?;
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "bodySHA256").map(|(_, v)| v.into_owned())
}

/// The URL without its port, and with the scheme's default port where it has none.
fn url_variants(url: &str) -> Option<[String; 2]> {
    url.parse::<http::Uri>().ok().filter(|u| u.scheme().is_some() && u.authority().is_some())?;
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(at) => authority.split_at(at + 1),
        None => ("", authority),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !hostport.ends_with(']') => {
            (h, Some(p))
        }
        _ => (hostport, None),
    };
    let default = if scheme.eq_ignore_ascii_case("https") { "443" } else { "80" };
    let without = format!("{scheme}://{userinfo}{host}{tail}");
    let with = format!("{scheme}://{userinfo}{host}:{}{tail}", port.unwrap_or(default));
    Some([without, with])
}

fn mac_of(mut mac: Mac, url: &str, params: &[(Cow<'_, str>, Cow<'_, str>)], out: &mut [u8; 64]) -> usize {
    mac.update(url.as_bytes());
    for (k, v) in params {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    mac.finish(out)
}

pub(crate) fn verify(
    keys: &Keys,
    configured: Option<&str>,
    req: &Request<'_>,
    now: SystemTime,
) -> Result<Verified, VerifyError> {
    let sent = single(req.headers, SIGNATURE)?.ok_or_else(|| VerifyError::missing_header(SIGNATURE))?;
    let mut sig = [0u8; 32];
    let sig_len = B64
        .decode_slice(sent, &mut sig)
        .map_err(|_| VerifyError::malformed_header(SIGNATURE, "signature is not base64"))?;
    let url = req.url.or(configured).ok_or_else(|| {
        VerifyError::new(ErrorKind::Configuration, "twilio signs the request URL, but no URL was given")
    })?;
    let variants = url_variants(url)
        .ok_or_else(|| VerifyError::new(ErrorKind::Configuration, "the request URL is not an absolute URL"))?;
    // A JSON body is signed through `bodySHA256` in the URL; a form body through its parameters.
    let params = match body_sha256(url) {
        Some(expected) => {
            let actual = hex::encode(Sha256::digest(&req.body));
            if !expected.eq_ignore_ascii_case(&actual) {
                return Err(VerifyError::new(ErrorKind::SignatureMismatch, "bodySHA256 does not match the body"));
            }
            Vec::new()
        }
        None => params(&req.body),
    };
    let key_index = keys.find(now, |key| {
        let Some(mac) = key.mac(Algorithm::HmacSha1) else {
            return false;
        };
        variants.iter().fold(false, |found, u| {
            let mut tag = [0u8; 64];
            let n = mac_of(mac.clone(), u, &params, &mut tag);
            found | ct_eq(&tag[..n], &sig[..sig_len])
        })
    })?;
    Ok(Verified {
        provider: "twilio",
        id: first_header_text(req.headers, &[ID])?,
        event_type: EventType::known(None),
        timestamp: None,
        body: req.body.clone(),
        key_index,
        event_id: None,
    })
}

pub(crate) fn sign(keys: &Keys, configured: Option<&str>, req: &SignRequest<'_>) -> Result<Signed, SignError> {
    let url =
        req.url.or(configured).ok_or_else(|| SignError::new("twilio signs the URL: give one with SignRequest::url"))?;
    let mac = keys
        .signing(req.timestamp)
        .find_map(|k| k.mac(Algorithm::HmacSha1))
        .ok_or_else(|| SignError::new("no Twilio auth token valid at that time"))?;
    let params = if body_sha256(url).is_some() { Vec::new() } else { params(req.body) };
    let mut tag = [0u8; 64];
    let n = mac_of(mac, url, &params, &mut tag);
    let mut headers = vec![(SIGNATURE, base64::engine::general_purpose::STANDARD.encode(&tag[..n]))];
    if let Some(id) = req.id {
        headers.push((ID, id.to_owned()));
    }
    Ok(Signed { headers, body: Bytes::copy_from_slice(req.body) })
}

/// `url` with `bodySHA256=<hex SHA-256 of body>` added to its query: the URL Twilio signs
/// (and posts to) for a JSON body.
///
/// ```
/// let url = webhook_core::twilio_json_url("https://example.com/hook?a=1", br#"{"x":1}"#);
/// assert!(url.starts_with("https://example.com/hook?a=1&bodySHA256="));
/// ```
pub fn json_url(url: &str, body: &[u8]) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}bodySHA256={}", hex::encode(Sha256::digest(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_variants() {
        let [a, b] = url_variants("https://user:pw@example.com:8443/p?q=1").unwrap();
        assert_eq!(a, "https://user:pw@example.com/p?q=1");
        assert_eq!(b, "https://user:pw@example.com:8443/p?q=1");
        let [a, b] = url_variants("http://example.com/p").unwrap();
        assert_eq!((a.as_str(), b.as_str()), ("http://example.com/p", "http://example.com:80/p"));
        let [_, b] = url_variants("https://[::1]/x").unwrap();
        assert_eq!(b, "https://[::1]:443/x");
        assert!(url_variants("/relative/path").is_none());
    }
}
