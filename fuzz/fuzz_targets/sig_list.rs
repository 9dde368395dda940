//! The `label=value` signature lists: Stripe's `t=…,v1=…`, Paddle's `ts=…;h1=…`,
//! PagerDuty's `v1=…,v1=…`.
//!
//! Input: `[scheme selector: u8]` then the signature header's value. The body and clock are
//! fixed and valid, so the header is the only thing that decides. The core's answer is
//! compared with a reference reading of the list written from docs/PROVIDERS.md: items
//! split on the separator and trimmed, unknown labels ignored, one timestamp at most, at
//! most 16 readable signatures, any signature may match (HMAC computed by the harness over
//! the raw timestamp text), the timestamp within the tolerance.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use webhook_core::{WebhookRequest, MAX_HEADER_VALUE};
use webhook_core_fuzz::fixtures::{list_schemes, now, pick, ListScheme, BODY, NOW_SECS};
use webhook_core_fuzz::{oracle, RawHeaders};

fuzz_target!(|data: &[u8]| {
    let Some((s, value)) = pick(list_schemes(), data) else {
        return;
    };
    let headers = RawHeaders(vec![(s.header.as_bytes(), value)]);
    let req = WebhookRequest::new(&headers, Bytes::from_static(BODY));
    let result = s.verifier.verify(&req, now());
    let expected = expect(s, value);
    oracle::check_signature_answer(s.name, value, &result, expected);
});

/// Whether the reference reading of `value` accepts the delivery.
fn expect(s: &ListScheme, value: &[u8]) -> bool {
    if value.is_empty() || value.len() > MAX_HEADER_VALUE {
        return false;
    }
    let mut ts: Option<&[u8]> = None;
    let mut sigs = Vec::new();
    for item in value.split(|&b| b == s.separator) {
        let item = item.trim_ascii();
        let Some(at) = item.iter().position(|&b| b == s.assign) else {
            continue;
        };
        let (label, text) = (&item[..at], &item[at + 1..]);
        if Some(label) == s.ts_label {
            if ts.replace(text).is_some() {
                return false; // two timestamps: ambiguous
            }
        } else if label == s.sig_label {
            if let Some(sig) = oracle::hex_signature(text) {
                sigs.push(sig);
                if sigs.len() > 16 {
                    return false;
                }
            }
        }
    }
    if sigs.is_empty() {
        return false;
    }
    let mac = match s.ts_label {
        Some(_) => {
            let Some(t) = ts else {
                return false;
            };
            let Some(secs) = oracle::unix_digits(t) else {
                return false;
            };
            let tolerance = s.verifier.tolerance().unwrap().as_secs();
            if secs.abs_diff(NOW_SECS) > tolerance {
                return false;
            }
            s.mac(t)
        }
        None => s.mac(b""),
    };
    sigs.iter().any(|sig| sig[..] == mac[..])
}
