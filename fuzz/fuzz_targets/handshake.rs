//! Handshake detection after verification (`Verifier::handshake`): Slack's
//! `url_verification`, Discord's PINGs, Zoom's `endpoint.url_validation`, Twitch's
//! `webhook_callback_verification`; and Meta's subscription query (`meta_challenge`).
//!
//! Input: `[selector: u8] [flags: u8]` then
//! - Slack / Discord / Zoom / Twitch: the body. The harness has the core sign it, verifies
//!   it (it must verify, unless the provider needs JSON and it is not), then asks for the
//!   handshake. A reply is checked against the body read with `serde_json::Value` (the
//!   reply is right for what was sent), and a plain body (valid JSON, no repeated keys, no
//!   escapes) that is a handshake must get its reply. Flag bit 0: Twitch's message type is
//!   `webhook_callback_verification`.
//! - Meta: `<verify token>\n<query>`; the answer must be `hub.challenge` exactly when
//!   `hub.mode` is `subscribe` and `hub.verify_token` is the (non-empty) token.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use webhook_core::handshake::meta_challenge;
use webhook_core::{ErrorKind, SignRequest, WebhookRequest};
use webhook_core_fuzz::configs::{self, TEST_SECRET};
use webhook_core_fuzz::fixtures::now;
use webhook_core_fuzz::frame::Cursor;
use webhook_core_fuzz::oracle;

const MAX_CHALLENGE: usize = 1024;

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let selector = c.byte() % 5;
    let flags = c.byte();
    if selector == 4 {
        meta(&String::from_utf8_lossy(c.line()), &String::from_utf8_lossy(c.rest()));
        return;
    }
    let label = ["slack", "discord", "zoom", "twitch"][usize::from(selector)];
    let cfg = &configs::all()[usize::from(configs::selector(label))];
    let verifier = cfg.verifier(0);
    let body = c.rest();
    let signed = verifier.sign(&SignRequest::new(body, now()).id("hs-1")).unwrap();
    let message_type = if flags & 1 != 0 { "webhook_callback_verification" } else { "notification" };
    let mut headers: Vec<(&str, String)> = signed.headers().iter().map(|(k, v)| (*k, v.clone())).collect();
    if label == "twitch" {
        headers.push(("Twitch-Eventsub-Message-Type", message_type.to_owned()));
    }
    let req = WebhookRequest::new(&headers, Bytes::copy_from_slice(body));
    let verified = match verifier.verify(&req, now()) {
        Ok(v) => v,
        Err(e) => {
            assert!(e.kind() == ErrorKind::BodyNotJson && !oracle::is_json_body(body), "{label}: {e:?}");
            return;
        }
    };
    oracle::check_verified(cfg, 0, &req, now(), &verified);
    let reply = verifier.handshake(&req, &verified);
    // Read leniently: the core's serde_json skips unknown fields without checking their
    // UTF-8, so a reply to such a body is right as long as the fields it reads are.
    let lossy = String::from_utf8_lossy(body);
    let doc: Option<Value> = serde_json::from_str(&lossy).ok().or_else(|| read_fields(&lossy));
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let field = |name: &str| doc.as_ref().and_then(|d| d.get(name));

    // A reply is right for what was sent, and only a JSON object is read (serde's derived
    // structs also accept an array of the fields in order: `[""]` got Twitch's reply
    // before commit 4c57c3d, found by this target).
    if let Some(r) = &reply {
        let doc = doc.as_ref().filter(|d| d.is_object());
        let doc = doc.unwrap_or_else(|| panic!("{label}: a reply to a body that is not a JSON object"));
        match label {
            "slack" => {
                assert_eq!(text(doc.get("type")).as_deref(), Some("url_verification"), "slack: type");
                assert_eq!(
                    text(doc.get("challenge")).as_deref().map(str::as_bytes),
                    Some(&r.body[..]),
                    "slack: challenge"
                );
                assert_eq!(r.status.as_u16(), 200);
            }
            "discord" => match doc.get("type").and_then(Value::as_i64) {
                Some(1) => {
                    assert!(doc.get("event").is_none_or(Value::is_null), "discord: an event answered as a PING");
                    assert_eq!((r.status.as_u16(), &r.body[..]), (200, &br#"{"type":1}"#[..]));
                }
                Some(0) => assert_eq!((r.status.as_u16(), r.body.len()), (204, 0)),
                other => panic!("discord: a reply to type {other:?}"),
            },
            "zoom" => {
                assert_eq!(text(doc.get("event")).as_deref(), Some("endpoint.url_validation"));
                let payload = doc.get("payload").filter(|p| p.is_object());
                let plain = text(payload.and_then(|p| p.get("plainToken"))).expect("zoom: plainToken in an object");
                let got: Value = serde_json::from_slice(&r.body).unwrap();
                let mac = hex::encode(oracle::hmac_sha256(TEST_SECRET.as_bytes(), &[plain.as_bytes()]));
                assert_eq!(got, serde_json::json!({"plainToken": plain, "encryptedToken": mac}), "zoom: reply");
            }
            _ => {
                assert!(flags & 1 != 0, "twitch: a reply to a notification");
                assert_eq!(
                    text(doc.get("challenge")).as_deref().map(str::as_bytes),
                    Some(&r.body[..]),
                    "twitch: challenge"
                );
            }
        }
    }

    // A plain handshake gets its reply.
    let plain = !body.contains(&b'\\') && oracle::unique_json(body).is_some_and(|d| d.is_object());
    if plain {
        let short = |v: Option<String>| v.filter(|s| s.len() <= MAX_CHALLENGE);
        let should = match label {
            "slack" => {
                text(field("type")).as_deref() == Some("url_verification") && short(text(field("challenge"))).is_some()
            }
            "discord" => match field("type").and_then(Value::as_i64) {
                Some(1) => field("event").is_none_or(Value::is_null),
                Some(0) => true,
                _ => false,
            },
            "zoom" => {
                text(field("event")).as_deref() == Some("endpoint.url_validation")
                    && short(text(field("payload").and_then(|p| p.get("plainToken")))).is_some()
            }
            _ => flags & 1 != 0 && short(text(field("challenge"))).is_some(),
        };
        assert_eq!(reply.is_some(), should, "{label}: handshake for {:?}", String::from_utf8_lossy(body));
    }
});

/// The fields the checks read, each as a `Value`; every other field is skipped unparsed, as
/// the core's own structs skip it. `{"type":1,"x":7E777779770024}` is valid JSON that
/// `Value` refuses (the number is out of `f64`'s range) and the core reads as a PING.
#[derive(serde::Deserialize)]
struct Fields {
    #[serde(rename = "type")]
    kind: Option<Value>,
    challenge: Option<Value>,
    event: Option<Value>,
    payload: Option<Value>,
}

/// `body` read through [`Fields`] when it is a JSON object (a derived struct also takes an
/// array of its fields in order, which the core must not answer: kept out here).
fn read_fields(body: &str) -> Option<Value> {
    if !body.trim_start().starts_with('{') {
        return None;
    }
    let f: Fields = serde_json::from_str(body).ok()?;
    let mut map = serde_json::Map::new();
    for (name, value) in [("type", f.kind), ("challenge", f.challenge), ("event", f.event), ("payload", f.payload)] {
        if let Some(v) = value {
            map.insert(name.to_owned(), v);
        }
    }
    Some(Value::Object(map))
}

fn meta(token: &str, query: &str) {
    let (mut mode, mut sent, mut challenge) = (None, None, None);
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "hub.mode" => mode = Some(v),
            "hub.verify_token" => sent = Some(v),
            "hub.challenge" => challenge = Some(v),
            _ => {}
        }
    }
    let expected = (mode.as_deref() == Some("subscribe") && sent.as_deref() == Some(token) && !token.is_empty())
        .then_some(challenge)
        .flatten()
        .filter(|c| c.len() <= MAX_CHALLENGE)
        .map(|c| c.into_owned());
    assert_eq!(meta_challenge(query, token), expected, "meta: query {query:?}");
}
