//! Mailgun's signature inside the body: the JSON envelope
//! `{"signature":{"timestamp","token","signature"},"event-data":{…}}` and the legacy form
//! body with the same fields at the top level.
//!
//! Input: `[mode: u8]`, then
//! - mode 0 (raw): the body itself, verified as is (every parser before the HMAC check);
//! - mode 1 (JSON) / 2 (form): `timestamp\ntoken\nevent id\n` lines; the harness builds the
//!   envelope and signs `{timestamp}{token}` itself, so the signature always matches and the
//!   fields alone decide. Expected: accepted exactly when the token is 1 to 256 bytes, the
//!   timestamp is 1 to 16 digits and within 5 minutes of the clock, and the delivery id is
//!   the event's id (JSON) or the token.
//!
//! Bit 7 of the mode byte sends a JSON timestamp as a number when it is one.

#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use webhook_core::{ErrorKind, WebhookRequest};
use webhook_core_fuzz::configs::{self, TEST_SECRET};
use webhook_core_fuzz::fixtures::{now, NOW_SECS};
use webhook_core_fuzz::frame::Cursor;
use webhook_core_fuzz::{oracle, RawHeaders};

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let mode = c.byte();
    let cfg = &configs::all()[usize::from(configs::selector("mailgun"))];
    let verifier = cfg.verifier(0);
    let headers = RawHeaders::default();
    if mode.is_multiple_of(3) {
        let req = WebhookRequest::new(&headers, Bytes::copy_from_slice(c.rest()));
        match verifier.verify(&req, now()) {
            Ok(ok) => oracle::check_verified(cfg, 0, &req, now(), &ok),
            Err(e) => oracle::check_error(cfg, &e, None),
        }
        return;
    }
    let ts = String::from_utf8_lossy(c.line()).into_owned();
    let token = String::from_utf8_lossy(c.line()).into_owned();
    let event_id = String::from_utf8_lossy(c.line()).into_owned();
    let sig = hex::encode(oracle::hmac_sha256(TEST_SECRET.as_bytes(), &[ts.as_bytes(), token.as_bytes()]));
    let json = mode % 3 == 1;
    let body = if json {
        // A canonical unsigned integer may be sent as a JSON number.
        let ts_value = match ts.parse::<u64>() {
            Ok(n) if mode & 0x80 != 0 && n.to_string() == ts => serde_json::json!(n),
            _ => serde_json::json!(ts),
        };
        serde_json::to_vec(&serde_json::json!({
            "signature": {"timestamp": ts_value, "token": token, "signature": sig},
            "event-data": {"id": event_id, "event": "delivered"},
        }))
        .unwrap()
    } else {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("timestamp", &ts)
            .append_pair("token", &token)
            .append_pair("signature", &sig)
            .append_pair("event", "delivered")
            .finish()
            .into_bytes()
    };
    let req = WebhookRequest::new(&headers, body);
    let result = verifier.verify(&req, now());
    let tolerance = verifier.tolerance().unwrap().as_secs();
    let expected = if token.is_empty() || token.len() > 256 {
        Err(ErrorKind::MalformedBody)
    } else {
        match oracle::unix_digits(ts.as_bytes()) {
            None => Err(ErrorKind::MalformedBody),
            Some(s) if s + tolerance < NOW_SECS => Err(ErrorKind::TimestampTooOld),
            Some(s) if s > NOW_SECS + tolerance => Err(ErrorKind::TimestampInFuture),
            Some(s) => Ok(s),
        }
    };
    match (&expected, &result) {
        (Ok(s), Ok(ok)) => {
            oracle::check_verified(cfg, 0, &req, now(), ok);
            assert_eq!(ok.timestamp(), Some(UNIX_EPOCH + Duration::from_secs(*s)));
            // The signed token is the delivery id (the replay guard); the event's own id is
            // kept beside it.
            assert_eq!(ok.id(), Some(token.as_str()), "mailgun: delivery id");
            if json {
                assert_eq!(ok.event_id(), Some(event_id.as_str()), "mailgun: event id");
            }
            assert_eq!(ok.event_type(), Some("delivered"));
        }
        (Err(kind), Err(e)) => {
            assert_eq!(e.kind(), *kind, "mailgun: {e}");
            oracle::check_error(cfg, e, None);
        }
        _ => panic!("mailgun: ts {ts:?} token {token:?} json={json}: expected {expected:?}, got {result:?}"),
    }
});
