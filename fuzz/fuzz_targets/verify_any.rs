//! `Verifier::verify` for any provider on arbitrary headers, body, URL and clock.
//!
//! Input: the delivery framing of `webhook_core_fuzz::frame::Delivery` (a configuration
//! selector, a variant, a clock, then `url\nName: value\n…\n\nbody`). Seeds are the
//! repository's known-answer vectors and deliveries signed by the core, so mutations start
//! from requests that verify. Asserts the invariants of `oracle::check_verified` /
//! `oracle::check_error` on every result.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use webhook_core::WebhookRequest;
use webhook_core_fuzz::{configs, frame::Delivery, oracle, RawHeaders};

fuzz_target!(|data: &[u8]| {
    let d = Delivery::parse(data);
    let cfg = configs::pick(d.config);
    let verifier = cfg.verifier(d.variant);
    let headers = RawHeaders(d.headers);
    let mut req = WebhookRequest::new(&headers, Bytes::copy_from_slice(d.body));
    if let Some(url) = d.url {
        req = req.with_url(url);
    }
    match verifier.verify(&req, d.now) {
        Ok(ok) => oracle::check_verified(cfg, d.variant, &req, d.now, &ok),
        Err(e) => {
            let sig_header = cfg.provider.signature_header();
            let sig = headers.0.iter().find(|(k, _)| sig_header.is_some_and(|h| k.eq_ignore_ascii_case(h.as_bytes())));
            oracle::check_error(cfg, &e, sig.map(|(_, v)| *v));
        }
    }
});
