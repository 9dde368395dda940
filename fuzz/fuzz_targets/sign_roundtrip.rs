//! `Verifier::sign` → `Verifier::verify` for every provider, on arbitrary bodies, ids,
//! event types, URLs and timestamps; then a tampered copy must fail.
//!
//! Input:
//!
//! ```text
//! [config: u8, see configs::pick_weighted] [variant: u8] [timestamp: u64 LE seconds] [nanos: u32 LE] [flags: u8]
//! [tamper position: u16 LE] [tamper mask: u8]
//! <id>\n <event type>\n <url>\n <body…>
//! ```
//!
//! flags: bit 0 send the id, bit 1 the event type, bit 2 the URL, bit 3 Twilio's JSON form
//! (`bodySHA256` added to the URL with `twilio_json_url`).
//!
//! Asserts: a signed delivery verifies at its own timestamp (or fails only for the reasons
//! listed in `roundtrip_error_allowed`); the verified id, event type and timestamp are the
//! ones sent (JSON fields are compared with `serde_json::Value`); changing one body byte,
//! one signature byte, the Mailgun token or the GitLab token makes it fail (Twilio's form
//! signing is checked against its own definition instead: equal sorted parameters verify).

#![no_main]

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use serde_json::Value;
use webhook_core::{ErrorKind, SignRequest, Signed, VerifyError, WebhookRequest};
use webhook_core_fuzz::configs::{self, Config};
use webhook_core_fuzz::frame::{Cursor, CLOCK_MASK};
use webhook_core_fuzz::oracle::{self, is_json_body, MAX_FIELD};

/// Seconds from the epoch to 10000-01-01T00:00:00Z, the first instant RFC 3339 cannot
/// express: signing for Twitch from then on is an error (it panicked before commit b1c43bc,
/// found by this target).
const RFC3339_END_SECS: u64 = 253_402_300_800;

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let cfg = configs::pick_weighted(c.byte());
    let variant = c.byte();
    let secs = c.u64() & CLOCK_MASK;
    let nanos = (u32::from(c.u16()) | u32::from(c.u16()) << 16) % 1_000_000_000;
    let flags = c.byte();
    let pos = usize::from(c.u16());
    let mask = match c.byte() {
        0 => 1,
        m => m,
    };
    let id = String::from_utf8_lossy(c.line());
    let event_type = String::from_utf8_lossy(c.line());
    let url = String::from_utf8_lossy(c.line());
    let body = c.rest();

    let at = UNIX_EPOCH + Duration::new(secs, nanos);
    let id = (flags & 1 != 0).then_some(&*id);
    let event_type = (flags & 2 != 0).then_some(&*event_type);
    let url: Option<Cow<'_, str>> = match (flags & 4 != 0, flags & 8 != 0) {
        (true, true) => Some(Cow::Owned(webhook_core::twilio_json_url(&url, body))),
        (true, false) => Some(url),
        (false, _) => None,
    };
    let url = url.as_deref();
    roundtrip(cfg, variant, at, id, event_type, url, body, pos, mask);
});

#[allow(clippy::too_many_arguments)]
fn roundtrip(
    cfg: &Config,
    variant: u8,
    at: SystemTime,
    id: Option<&str>,
    event_type: Option<&str>,
    url: Option<&str>,
    body: &[u8],
    pos: usize,
    mask: u8,
) {
    let verifier = cfg.verifier(variant);
    let name = cfg.name();
    let mut sreq = SignRequest::new(body, at);
    if let Some(id) = id {
        sreq = sreq.id(id);
    }
    if let Some(t) = event_type {
        sreq = sreq.event_type(t);
    }
    if let Some(u) = url {
        sreq = sreq.url(u);
    }
    let signed = match verifier.sign(&sreq) {
        Ok(s) => s,
        Err(e) => {
            let allowed = cfg.signers_at(variant, at) == 0
                || (matches!(name, "twilio" | "square") && url.is_none() && cfg.url.is_none())
                || (matches!(name, "twitch" | "zendesk" | "box" | "klaviyo")
                    && at >= UNIX_EPOCH + Duration::from_secs(RFC3339_END_SECS))
                || (name == "mailgun" && serde_json::from_slice::<Value>(body).is_err())
                // Adyen signs the items of a notification object (a bare object is wrapped).
                || (name == "adyen"
                    && serde_json::from_slice::<Value>(body)
                        .map_or(true, |v| !v.is_object() || v.get("notificationItems").is_some()));
            assert!(allowed, "{}: sign failed: {e}", cfg.label);
            return;
        }
    };
    let verify = |headers: &(dyn webhook_core::Headers + Sync), body: Bytes| {
        let mut req = WebhookRequest::new(headers, body);
        if let Some(u) = url {
            req = req.with_url(u);
        }
        let result = verifier.verify(&req, at);
        if let Ok(ok) = &result {
            oracle::check_verified(cfg, variant, &req, at, ok);
        }
        result
    };

    let ok = match verify(&signed, signed.body().clone()) {
        Ok(ok) => ok,
        Err(e) => {
            assert!(
                roundtrip_error_allowed(cfg, &e, &signed, body, id, event_type, url),
                "{}: a signed delivery did not verify: {e:?}\nheaders: {:?}",
                cfg.label,
                signed.headers()
            );
            return;
        }
    };

    // What was sent is what was read.
    let event_header = cfg.provider.event_header();
    let type_from_header = event_type.is_some() && event_header.is_some_and(|h| signed.header(h).is_some());
    if type_from_header {
        assert_eq!(ok.event_type(), event_type, "{}: event type", cfg.label);
    }
    if let (Some(id), Some(_)) = (id, oracle::id_header(name)) {
        assert_eq!(ok.id(), Some(id), "{}: delivery id", cfg.label);
    }
    // Linear's and Klaviyo's timestamps are the body's, not the signing time.
    if !matches!(name, "linear" | "klaviyo") {
        if let Some(t) = ok.timestamp() {
            let behind =
                at.duration_since(t).unwrap_or_else(|_| panic!("{}: timestamp after the signing time", cfg.label));
            assert!(behind < Duration::from_secs(1), "{}: timestamp {behind:?} before the signing time", cfg.label);
        }
    }
    oracle::check_json_fields(name, body, &ok, type_from_header);

    // Tampering: one body byte.
    let headers: Vec<(&str, Vec<u8>)> = signed.headers().iter().map(|(k, v)| (*k, v.clone().into_bytes())).collect();
    let mut tampered = signed.body().to_vec();
    match tampered.len() {
        0 => tampered.push(mask),
        n => tampered[pos % n] ^= mask,
    }
    match name {
        // The token or the credentials are compared, the body is not signed.
        "gitlab" | "postmark" | "chargebee" | "pipedrive" | "okta" => {}
        // Eight fields of each notification item are signed, not the body's bytes
        // (tests/negative.rs changes each field).
        "adyen" => {}
        // Only `signature.{timestamp,token}` is signed.
        "mailgun" => {
            // The event data goes out byte for byte and may hold numbers serde_json's
            // `Value` refuses (`2E2222`): it is kept raw, only the signature object is edited.
            let mut envelope: BTreeMap<String, Box<RawValue>> = serde_json::from_slice(signed.body()).unwrap();
            let mut signature: Value = serde_json::from_str(envelope["signature"].get()).unwrap();
            let token = signature["token"].as_str().unwrap().to_owned() + "x";
            signature["token"] = Value::String(token);
            envelope.insert("signature".to_owned(), RawValue::from_string(signature.to_string()).unwrap());
            let changed = Bytes::from(serde_json::to_vec(&envelope).unwrap());
            assert!(verify(&headers, changed).is_err(), "mailgun: a changed token verified");
        }
        "twilio" if url.and_then(oracle::twilio_body_sha256).is_none() => {
            // Form signing covers the decoded, sorted, de-duplicated parameters, not the
            // bytes: a change verifies exactly when those are unchanged.
            let same = oracle::twilio_form_message(&tampered) == oracle::twilio_form_message(signed.body());
            let result = verify(&headers, Bytes::from(tampered));
            assert_eq!(result.is_ok(), same, "twilio: form parameters changed={} but verify={result:?}", !same);
        }
        "mandrill" => {
            // Mandrill signs the URL and the sorted form parameters, as Twilio does: a byte
            // change that leaves the decoded parameters as they were verifies by design.
            if oracle::twilio_form_message(&tampered) != oracle::twilio_form_message(signed.body()) {
                let result = verify(&headers, Bytes::from(tampered));
                assert!(result.is_err(), "mandrill: changed form parameters verified");
            }
        }
        _ => {
            let result = verify(&headers, Bytes::from(tampered));
            assert!(result.is_err(), "{}: a body with one byte changed verified", cfg.label);
        }
    }

    // Tampering: one byte of the only signature (or of GitLab's token). HMAC schemes only:
    // verifying a changed Ed25519 / P-256 signature costs a millisecond in this build, and
    // sig_single covers those signature parsers.
    let asymmetric = cfg.keys.iter().any(|k| k.asymmetric());
    if cfg.signers_at(variant, at) == 1 && !asymmetric {
        if let Some(sig_header) = cfg.provider.signature_header() {
            let mut headers = headers;
            if let Some((_, value)) = headers.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(sig_header)) {
                let n = value.len();
                value[pos % n] ^= 1;
                let result = verify(&headers, signed.body().clone());
                assert!(result.is_err(), "{}: a signature with one byte changed verified", cfg.label);
            }
        }
    }
}

/// The reasons a delivery the core signed may still be refused at its own timestamp.
fn roundtrip_error_allowed(
    cfg: &Config,
    e: &VerifyError,
    signed: &Signed,
    body: &[u8],
    id: Option<&str>,
    event_type: Option<&str>,
    url: Option<&str>,
) -> bool {
    let name = cfg.name();
    let unreadable = |v: &str| v.is_empty() || v.len() > MAX_FIELD;
    let sent = |v: &str| signed.headers().iter().any(|(_, h)| h == v);
    match e.kind() {
        // An empty or over-long id or event type cannot be sent as a header.
        ErrorKind::MalformedHeader => {
            id.is_some_and(|i| unreadable(i) && sent(i)) || event_type.is_some_and(|t| unreadable(t) && sent(t))
        }
        ErrorKind::BodyNotJson => !is_json_body(body),
        // Linear's and Klaviyo's timestamps are in the body (`webhookTimestamp`,
        // `meta.timestamp`); Mailgun's token is the id.
        ErrorKind::MalformedBody => {
            matches!(name, "linear" | "klaviyo")
                || (name == "mailgun" && id.is_some_and(|t| t.is_empty() || t.len() > 256))
        }
        ErrorKind::TimestampTooOld | ErrorKind::TimestampInFuture => matches!(name, "linear" | "klaviyo"),
        ErrorKind::Configuration => name == "twilio" && url.is_some_and(|u| !oracle::is_absolute_url(u)),
        ErrorKind::SignatureMismatch => {
            // Twilio's `bodySHA256` must be the body's hash.
            name == "twilio"
                && url.and_then(oracle::twilio_body_sha256).is_some_and(|h| {
                    use sha2::Digest;
                    !h.eq_ignore_ascii_case(&hex::encode(sha2::Sha256::digest(body)))
                })
        }
        _ => false,
    }
}
