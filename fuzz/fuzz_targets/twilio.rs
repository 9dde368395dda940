//! Twilio: the base64 `X-Twilio-Signature`, the request URL (its port variants and its
//! `bodySHA256` parameter) and the form body's parameters.
//!
//! Input: `[flags: u8] [tamper position: u16 LE] [tamper mask: u8]`, then
//! `<url>\n<X-Twilio-Signature value>\n<body…>`.
//!
//! 1. The request as given is verified (every parser sees fuzz data) under the general
//!    invariants.
//! 2. The harness has the core sign `(url, body)` (flag bit 0: in the JSON form, with
//!    `twilio_json_url`) and verifies it: accepted exactly when the URL is absolute; with
//!    the scheme's default port written out (or left out) it still verifies, as Twilio's
//!    own SDKs allow; a changed body byte verifies exactly when the decoded, sorted form
//!    parameters are unchanged (always fails in the JSON form).

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use webhook_core::{ErrorKind, SignRequest, WebhookRequest};
use webhook_core_fuzz::configs;
use webhook_core_fuzz::fixtures::now;
use webhook_core_fuzz::frame::Cursor;
use webhook_core_fuzz::{oracle, RawHeaders};

/// Longer inputs are not read: Twilio's form bodies are a few hundred bytes, and one of
/// thousands of parameters only repeats the sorting (five times per input here) at a
/// hundred times the cost.
const MAX_INPUT: usize = 1024;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    let mut c = Cursor::new(data);
    let flags = c.byte();
    let pos = usize::from(c.u16());
    let mask = c.byte().max(1);
    let url = String::from_utf8_lossy(c.line()).into_owned();
    let sig = c.line();
    let body = c.rest();
    let cfg = &configs::all()[usize::from(configs::selector("twilio"))];
    let verifier = cfg.verifier(0);

    // 1. As given.
    let headers = RawHeaders(vec![(&b"X-Twilio-Signature"[..], sig)]);
    let req = WebhookRequest::new(&headers, Bytes::copy_from_slice(body)).with_url(&url);
    match verifier.verify(&req, now()) {
        Ok(ok) => oracle::check_verified(cfg, 0, &req, now(), &ok),
        Err(e) => oracle::check_error(cfg, &e, Some(sig)),
    }

    // 2. Signed by the core.
    let url = if flags & 1 != 0 { webhook_core::twilio_json_url(&url, body) } else { url };
    let signed = verifier.sign(&SignRequest::new(body, now()).url(&url)).unwrap();
    let headers: Vec<(&str, String)> = signed.headers().iter().map(|(k, v)| (*k, v.clone())).collect();
    let verify = |url: &str, body: &[u8]| {
        let req = WebhookRequest::new(&headers, Bytes::copy_from_slice(body)).with_url(url);
        let result = verifier.verify(&req, now());
        match &result {
            Ok(ok) => oracle::check_verified(cfg, 0, &req, now(), ok),
            Err(e) => oracle::check_error(cfg, e, None),
        }
        result
    };
    let result = verify(&url, body);
    let json_form = oracle::twilio_body_sha256(&url);
    if !oracle::is_absolute_url(&url) {
        assert_eq!(result.map_err(|e| e.kind()).err(), Some(ErrorKind::Configuration), "url {url:?}");
        return;
    }
    if let Some(h) = &json_form {
        use sha2::Digest;
        if !h.eq_ignore_ascii_case(&hex::encode(sha2::Sha256::digest(body))) {
            assert!(result.is_err(), "a wrong bodySHA256 verified");
            return;
        }
    }
    assert!(result.is_ok(), "signed by the core, url {url:?}: {result:?}");

    for other in port_variants(&url) {
        assert!(verify(&other, body).is_ok(), "signed for {url:?}, refused for {other:?}");
    }

    let mut tampered = body.to_vec();
    match tampered.len() {
        0 => tampered.push(mask),
        n => tampered[pos % n] ^= mask,
    }
    let same = json_form.is_none() && oracle::twilio_form_message(&tampered) == oracle::twilio_form_message(body);
    let result = verify(&url, &tampered);
    assert_eq!(result.is_ok(), same, "a changed body: parameters unchanged={same}, got {result:?}");
});

/// For `scheme://host/…` (a plain host name, no user info): the same URL with the scheme's
/// default port written out; for `scheme://host:<default port>/…`, without it.
fn port_variants(url: &str) -> Vec<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Vec::new();
    };
    let default = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return Vec::new(),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let plain = |h: &str| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    match authority.split_once(':') {
        None if plain(authority) => vec![format!("{scheme}://{authority}:{default}{tail}")],
        Some((host, port)) if plain(host) && port == default => vec![format!("{scheme}://{host}{tail}")],
        _ => Vec::new(),
    }
}
