//! Standard Webhooks' space-separated signature list, `v1,<base64> v1a,<base64>`, for
//! Standard Webhooks, Svix, Clerk, Resend (HMAC `v1` and Ed25519 `v1a`) and GitLab's
//! signing token (`v1` only).
//!
//! Input: `[scheme selector: u8]` then the signature header's value; id, timestamp and
//! body are the official Standard Webhooks vector's. The core's answer is compared with a
//! reference reading: items split on spaces and trimmed, label before the first comma,
//! unknown labels ignored, at most 16 readable signatures, a `v1` matching the HMAC (computed
//! by the harness) or a `v1a` equal to the Ed25519 signature accepts.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use webhook_core::{WebhookRequest, MAX_HEADER_VALUE};
use webhook_core_fuzz::fixtures::{pick, space_schemes, SpaceScheme, SW_BODY, SW_ID, SW_TS};
use webhook_core_fuzz::{frame, oracle, RawHeaders};

fuzz_target!(|data: &[u8]| {
    let Some((s, value)) = pick(space_schemes(), data) else {
        return;
    };
    let ts = SW_TS.to_string();
    let headers = RawHeaders(vec![
        (s.id_header.as_bytes(), SW_ID.as_bytes()),
        (s.ts_header.as_bytes(), ts.as_bytes()),
        (s.header.as_bytes(), value),
    ]);
    let req = WebhookRequest::new(&headers, Bytes::from_static(SW_BODY));
    let result = s.verifier.verify(&req, frame::clock(SW_TS));
    let expected = expect(s, value);
    oracle::check_signature_answer(s.name, value, &result, expected);
});

fn expect(s: &SpaceScheme, value: &[u8]) -> bool {
    if value.is_empty() || value.len() > MAX_HEADER_VALUE {
        return false;
    }
    let mut readable = 0;
    let mut matched = false;
    for item in value.split(|&b| b == b' ') {
        let item = item.trim_ascii();
        let Some(at) = item.iter().position(|&b| b == b',') else {
            continue;
        };
        let (label, text) = (&item[..at], &item[at + 1..]);
        let want: &[u8] = match label {
            b"v1" => &s.v1,
            b"v1a" if s.asymmetric => s.v1a.as_deref().unwrap(),
            _ => continue,
        };
        if let Some(sig) = oracle::base64_signature(text) {
            readable += 1;
            if readable > 16 {
                return false;
            }
            matched |= sig == want;
        }
    }
    matched
}
