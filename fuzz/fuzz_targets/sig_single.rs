//! Single-signature headers: a fixed prefix and one hex or base64 signature. GitHub
//! (`sha256=`, and the legacy `sha1=`), Slack and Zoom (`v0=`), Shopify, Linear, Twitch,
//! Intercom, Bitbucket, Meta (and legacy), Typeform (base64 behind `sha256=`), Square,
//! Discord (hex Ed25519) and SendGrid (base64 DER ECDSA: the DER parser sees every input).
//!
//! Input: `[scheme selector: u8]` then the signature header's value; the other headers,
//! the body and the clock are those of a delivery the core signed. Accepted exactly when
//! the value is the prefix followed by the valid signature in any spelling the encoding
//! allows (hex in either case, base64 with or without padding).

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use webhook_core::{WebhookRequest, MAX_HEADER_VALUE};
use webhook_core_fuzz::fixtures::{now, pick, single_schemes, Encoding, BODY};
use webhook_core_fuzz::{oracle, RawHeaders};

fuzz_target!(|data: &[u8]| {
    let Some((s, value)) = pick(single_schemes(), data) else {
        return;
    };
    let mut pairs: Vec<(&[u8], &[u8])> = s.others.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())).collect();
    pairs.push((s.header.as_bytes(), value));
    let headers = RawHeaders(pairs);
    let mut req = WebhookRequest::new(&headers, Bytes::from_static(BODY));
    if let Some(url) = s.url {
        req = req.with_url(url);
    }
    let result = s.verifier.verify(&req, now());
    let expected = !value.is_empty()
        && value.len() <= MAX_HEADER_VALUE
        && value.strip_prefix(s.prefix.as_bytes()).is_some_and(|rest| {
            let decoded = match s.encoding {
                Encoding::Hex => oracle::hex_signature(rest),
                Encoding::Base64 => oracle::base64_signature(rest),
            };
            decoded.as_deref() == Some(&s.expected[..])
        });
    oracle::check_signature_answer(s.label, value, &result, expected);
});
