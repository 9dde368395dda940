//! Signed timestamps: unix seconds in a header (Slack, Standard Webhooks, Zoom), in a list
//! item (Stripe's `t=`, Paddle's `ts=`), RFC 3339 (Twitch) and milliseconds in the JSON body
//! (Linear), with the tolerance window.
//!
//! Input: `[mode selector: u8]` then the raw timestamp bytes. The harness signs the request
//! itself over those exact bytes (HMAC per docs/PROVIDERS.md), so the signature always
//! matches and the timestamp alone decides. Expected answers come from a reference reading:
//! 1 to 16 ASCII digits (else malformed), then within the tolerance of the fixed clock
//! (else too old / in the future); for Twitch a strict RFC 3339 parser; for Linear the JSON
//! value read with `serde_json::Value`.

#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use webhook_core::{ErrorKind, WebhookRequest, MAX_HEADER_VALUE};
use webhook_core_fuzz::fixtures::{now, pick, ts_request, ts_verifier, TsMode, TS_MODES};
use webhook_core_fuzz::oracle::{self, distance};

#[derive(Debug, PartialEq)]
enum Expect {
    Ok(SystemTime),
    Err(ErrorKind),
    AnyErr,
    /// No reference answer: only the general invariants.
    Unknown,
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, raw)) = pick(TS_MODES, data) else {
        return;
    };
    let (headers, body) = ts_request(mode, raw);
    let verifier = ts_verifier(mode);
    let req = WebhookRequest::new(&headers, body);
    let result = verifier.verify(&req, now());
    let tolerance = verifier.tolerance().unwrap();
    let window = |t: SystemTime| match now().duration_since(t) {
        Ok(age) if age > tolerance => Expect::Err(ErrorKind::TimestampTooOld),
        Err(ahead) if ahead.duration() > tolerance => Expect::Err(ErrorKind::TimestampInFuture),
        _ => Expect::Ok(t),
    };
    let header_len = headers.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    let expected = match mode {
        TsMode::Slack | TsMode::StandardWebhooks | TsMode::Zoom => {
            if raw.len() > MAX_HEADER_VALUE {
                Expect::Err(ErrorKind::MalformedHeader)
            } else {
                match oracle::unix_digits(raw) {
                    Some(secs) => window(UNIX_EPOCH + Duration::from_secs(secs)),
                    None => Expect::Err(ErrorKind::MalformedHeader),
                }
            }
        }
        TsMode::Stripe | TsMode::Paddle => {
            let separator = if mode == TsMode::Stripe { b',' } else { b';' };
            if header_len > MAX_HEADER_VALUE
                || raw.contains(&separator)
                || raw.last().is_some_and(u8::is_ascii_whitespace)
            {
                // The list is then read differently from how the harness signed it.
                Expect::AnyErr
            } else {
                match oracle::unix_digits(raw) {
                    Some(secs) => window(UNIX_EPOCH + Duration::from_secs(secs)),
                    None => Expect::Err(ErrorKind::MalformedHeader),
                }
            }
        }
        TsMode::Twitch => match oracle::strict_rfc3339(raw) {
            Some(t) => window(t),
            None if raw.is_empty() || raw.len() > MAX_HEADER_VALUE => Expect::Err(ErrorKind::MalformedHeader),
            None => Expect::Unknown,
        },
        TsMode::Linear => match serde_json::from_slice::<Value>(raw) {
            Ok(v) => match oracle::scalar_text(&v).and_then(|t| oracle::unix_digits(t.as_bytes())) {
                Some(ms) => window(UNIX_EPOCH + Duration::from_millis(ms)),
                None => Expect::Err(ErrorKind::MalformedBody),
            },
            Err(_) => Expect::Unknown,
        },
    };
    match (&expected, &result) {
        (Expect::Ok(t), Ok(ok)) => assert_eq!(ok.timestamp(), Some(*t), "{mode:?}: timestamp read"),
        (Expect::Err(kind), Err(e)) => assert_eq!(e.kind(), *kind, "{mode:?}: {e}"),
        (Expect::AnyErr, Err(_)) => {}
        (Expect::Unknown, Ok(ok)) => {
            let t = ok.timestamp().expect("a verified timestamp");
            assert!(distance(t, now()) <= tolerance, "{mode:?}: verified outside the tolerance");
            if mode == TsMode::Twitch {
                assert!(raw.ends_with(b"Z") || raw.ends_with(b"z"), "Twitch: a non-UTC timestamp verified");
            }
        }
        (Expect::Unknown, Err(e)) => assert!(
            matches!(
                e.kind(),
                ErrorKind::MalformedHeader
                    | ErrorKind::MalformedBody
                    | ErrorKind::TimestampTooOld
                    | ErrorKind::TimestampInFuture
                    | ErrorKind::BodyNotJson
            ),
            "{mode:?}: {e:?}"
        ),
        _ => panic!("{mode:?}: raw {:?}: expected {expected:?}, got {result:?}", String::from_utf8_lossy(raw)),
    }
    if let Err(e) = &result {
        oracle::check_error_basic(e, b"");
    }
});
