//! What the targets assert beyond "no panic": invariants every verification result must
//! satisfy, and small reference implementations (written from docs/PROVIDERS.md and the providers' docs, not
//! copied from the core) that the core's answers are compared with.

use std::collections::HashSet;
use std::fmt;
use std::time::SystemTime;

use base64::Engine as _;
use hmac::Mac as _;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use webhook_core::{receive::dedup_key, ErrorKind, Verified, VerifyError, WebhookRequest};

use crate::configs::{self, Config};

/// The longest id or event type the core reads (its `MAX_FIELD`).
pub const MAX_FIELD: usize = 1024;

/// Standard base64, padding optional: the decoding the providers' documents describe.
pub const B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// HMAC-SHA256 of the concatenated `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// The difference between two times, either way.
pub fn distance(a: SystemTime, b: SystemTime) -> std::time::Duration {
    a.duration_since(b).or_else(|_| b.duration_since(a)).unwrap()
}

/// Panics if `text` contains a configured key (a message or a `Debug` output must never
/// repeat a secret).
pub fn assert_no_secret(what: &str, text: &str) {
    for secret in configs::secret_texts().filter(|s| s.len() >= 8) {
        assert!(!text.contains(secret), "{what} repeats a configured key: {text:?}");
    }
}

/// The invariants of every successful verification.
pub fn check_verified(cfg: &Config, variant: u8, req: &WebhookRequest<'_>, now: SystemTime, ok: &Verified) {
    let verifier = cfg.verifier(variant);
    assert_eq!(ok.body(), req.body(), "a verified body is the body received, byte for byte");
    assert_eq!(ok.provider(), cfg.name());
    assert!(ok.key_index() < cfg.keys.len(), "key index {} out of range", ok.key_index());
    assert!(
        cfg.key_valid_at(variant, ok.key_index(), now),
        "{}: verified with key {} which expired before now",
        cfg.label,
        ok.key_index()
    );
    if let (Some(t), Some(tol)) = (ok.timestamp(), verifier.tolerance()) {
        assert!(distance(t, now) <= tol, "{}: verified a timestamp outside the tolerance", cfg.label);
    }
    let event_type = ok.event_type().map(str::to_owned);
    // Mailgun's id and event come from its own envelope (`event-data`), unbounded.
    if cfg.name() != "mailgun" {
        assert!(ok.id().is_none_or(|id| id.len() <= MAX_FIELD), "{}: id longer than {MAX_FIELD}", cfg.label);
        assert!(event_type.as_deref().is_none_or(|t| t.len() <= MAX_FIELD), "{}: event type too long", cfg.label);
    }
    // Asking twice gives the same answer (the type is read lazily, once).
    assert_eq!(ok.event_type().map(str::to_owned), event_type);
    let key = dedup_key(ok);
    assert!(key.starts_with(cfg.name()));
    // `Debug` shows the body's length, never the body (the id and type are the sender's).
    let shown = format!("{ok:?}");
    assert!(shown.contains(&format!("body_len: {}", ok.body().len())), "{shown}");
    if let Some(reply) = verifier.handshake(req, ok) {
        assert!(
            matches!(cfg.name(), "slack" | "discord" | "zoom" | "twitch" | "front"),
            "{}: a handshake reply from a provider that has none",
            cfg.label
        );
        assert!(matches!(reply.status.as_u16(), 200 | 204));
    }
}

/// The invariants of every refusal. `signature` is the signature header's value, which a
/// message must not repeat.
pub fn check_error(cfg: &Config, e: &VerifyError, signature: Option<&[u8]>) {
    let status = e.status().as_u16();
    assert!(matches!(status, 400 | 401 | 500), "status {status}");
    assert_eq!(e.is_unauthorized(), status == 401);
    assert_eq!(e.is_malformed(), status == 400);
    if e.kind() == ErrorKind::Configuration {
        assert!(matches!(cfg.name(), "twilio" | "square"), "{}: configuration error {e}", cfg.label);
    }
    let msg = e.to_string();
    assert!(!msg.is_empty());
    assert_no_secret("an error message", &msg);
    if let Some(sig) = signature {
        assert_no_signature(&msg, sig);
    }
    let _ = format!("{e:?}");
}

/// Panics if `msg` repeats what looks like a signature from `header`: a run of 24 or more
/// hex/base64 characters (no message of the core has such a run of its own, so the
/// fuzzer cannot reach a false alarm by copying message words into the header).
pub fn assert_no_signature(msg: &str, header: &[u8]) {
    let sig_char = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    for run in header.split(|b| !sig_char(b)).filter(|r| r.len() >= 24) {
        let run = std::str::from_utf8(run).unwrap();
        assert!(!msg.contains(run), "the error message repeats the signature: {msg}");
    }
}

/// Whether a body can be JSON for the core (its first byte after white space opens an
/// object or an array) and is valid JSON (UTF-8 throughout, numbers in range).
pub fn is_json_body(body: &[u8]) -> bool {
    matches!(body.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{' | b'['))
        && serde_json::from_slice::<Value>(body).is_ok()
}

/// The body as a JSON value when it is valid JSON **and** no object in it repeats a key
/// (where the core's first-wins and `serde_json::Value`'s last-wins would differ).
pub fn unique_json(body: &[u8]) -> Option<Value> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let unique = UniqueKeys.deserialize(&mut de).ok()?;
    de.end().ok()?;
    if !unique {
        return None;
    }
    serde_json::from_slice(body).ok()
}

/// Walks a JSON document; `true` when no object repeats a key.
struct UniqueKeys;

impl<'de> DeserializeSeed<'de> for UniqueKeys {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut seen = HashSet::new();
        let mut unique = true;
        while let Some(k) = map.next_key::<String>()? {
            unique &= seen.insert(k);
            unique &= map.next_value_seed(UniqueKeys)?;
        }
        Ok(unique)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut unique = true;
        while let Some(u) = seq.next_element_seed(UniqueKeys)? {
            unique &= u;
        }
        Ok(unique)
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(true)
    }
}

/// The value at `path`, through objects only.
pub fn at_path<'v>(value: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, key| v.as_object()?.get(*key))
}

/// A JSON field as the core reports it: strings up to [`MAX_FIELD`] bytes as they are,
/// numbers and booleans written out, anything else absent.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => (s.len() <= MAX_FIELD).then(|| s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => u.to_string(),
            (None, Some(i), _) => i.to_string(),
            (None, None, Some(f)) => f.to_string(),
            _ => return None,
        }),
        _ => None,
    }
}

/// Where each provider reads its delivery id and event type from the JSON body, per
/// docs/PROVIDERS.md. `None` for the id: the provider sends it in a header (or has none).
pub fn json_fields(provider: &str) -> (Option<&'static [&'static str]>, &'static [&'static [&'static str]]) {
    match provider {
        "stripe" => (Some(&["id"]), &[&["type"]]),
        "slack" => (Some(&["event_id"]), &[&["event", "type"], &["type"]]),
        "standard-webhooks" | "svix" | "clerk" | "resend" => (None, &[&["type"]]),
        "gitlab-signing" => (None, &[&["object_kind"]]),
        "discord" => (Some(&["id"]), &[&["type"]]),
        "square" => (Some(&["event_id"]), &[&["type"]]),
        "paddle" => (Some(&["event_id"]), &[&["event_type"]]),
        "zoom" => (None, &[&["event"]]),
        "linear" => (None, &[&["type"]]),
        "intercom" => (Some(&["id"]), &[&["topic"]]),
        "meta" => (None, &[&["object"]]),
        "typeform" => (Some(&["event_id"]), &[&["event_type"]]),
        "pagerduty" => (Some(&["event", "id"]), &[&["event", "event_type"]]),
        _ => (None, &[]),
    }
}

/// Checks the id and event type the core read from a JSON body against `serde_json::Value`
/// (only for valid bodies without repeated keys), when no header supplied them.
pub fn check_json_fields(provider: &str, body: &[u8], ok: &Verified, type_from_header: bool) {
    let (id_path, type_paths) = json_fields(provider);
    if id_path.is_none() && (type_paths.is_empty() || type_from_header) {
        return;
    }
    let Some(doc) = unique_json(body) else {
        return;
    };
    if let Some(path) = id_path {
        let want = at_path(&doc, path).and_then(scalar_text);
        assert_eq!(ok.id(), want.as_deref(), "{provider}: id read from the JSON body");
    }
    if !type_from_header {
        let want = type_paths.iter().find_map(|p| at_path(&doc, p).and_then(scalar_text));
        assert_eq!(ok.event_type(), want.as_deref(), "{provider}: event type read from the JSON body");
    }
}

/// Is `t` a timestamp in unix seconds (or milliseconds) as the providers write it: 1 to 16
/// ASCII digits, nothing else?
pub fn unix_digits(t: &[u8]) -> Option<u64> {
    if t.is_empty() || t.len() > 16 || !t.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(t).ok()?.parse().ok()
}

/// The header each provider sends its delivery id in, when it signs with
/// `SignRequest::id` (docs/PROVIDERS.md).
pub fn id_header(provider: &str) -> Option<&'static str> {
    Some(match provider {
        "github" => "X-GitHub-Delivery",
        "standard-webhooks" | "gitlab-signing" => "webhook-id",
        "svix" | "clerk" | "resend" => "svix-id",
        "shopify" => "X-Shopify-Webhook-Id",
        "linear" => "Linear-Delivery",
        "twitch" => "Twitch-Eventsub-Message-Id",
        "bitbucket" => "X-Request-UUID",
        "gitlab" => "Idempotency-Key",
        "twilio" => "I-Twilio-Idempotency-Token",
        _ => return None,
    })
}

/// Twilio's `bodySHA256` query parameter, if the URL has one (Twilio's documented way of
/// signing a JSON body).
pub fn twilio_body_sha256(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1.split('#').next()?;
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "bodySHA256").map(|(_, v)| v.into_owned())
}

/// What Twilio's HMAC covers after the URL for a form body: every `(name, value)` pair,
/// decoded, sorted, duplicates dropped, names and values concatenated.
pub fn twilio_form_message(body: &[u8]) -> Vec<u8> {
    let mut pairs: Vec<_> = form_urlencoded::parse(body).collect();
    pairs.sort();
    pairs.dedup();
    pairs.iter().flat_map(|(k, v)| [k.as_bytes(), v.as_bytes()].concat()).collect()
}

/// An absolute URL (scheme and authority), as Twilio's verification needs.
pub fn is_absolute_url(url: &str) -> bool {
    url.parse::<http::Uri>().is_ok_and(|u| u.scheme().is_some() && u.authority().is_some())
}

/// The invariants of a refusal from a verifier that is not one of [`configs::all`].
pub fn check_error_basic(e: &VerifyError, signature: &[u8]) {
    let status = e.status().as_u16();
    assert!(matches!(status, 400 | 401), "status {status} for {e:?}");
    let msg = e.to_string();
    assert!(!msg.is_empty());
    assert_no_secret("an error message", &msg);
    assert_no_signature(&msg, signature);
}

/// A signature parser's answer against the reference reading's: `expected` is whether the
/// reference accepts `value`, the header the fuzz input set; a refusal must pass
/// [`check_error_basic`].
pub fn check_signature_answer<T: fmt::Debug>(
    scheme: &str,
    value: &[u8],
    result: &Result<T, VerifyError>,
    expected: bool,
) {
    assert_eq!(result.is_ok(), expected, "{scheme}: header {:?} gave {result:?}", String::from_utf8_lossy(value));
    if let Err(e) = result {
        check_error_basic(e, value);
    }
}

/// A hex signature as the providers write it (the core reads at most 72 bytes: a DER
/// ECDSA signature's limit).
pub fn hex_signature(text: &[u8]) -> Option<Vec<u8>> {
    if text.is_empty() || !text.len().is_multiple_of(2) || text.len() / 2 > 72 {
        return None;
    }
    hex::decode(text).ok()
}

/// A base64 signature as the providers write it, at most 72 bytes decoded.
pub fn base64_signature(text: &[u8]) -> Option<Vec<u8>> {
    if text.is_empty() || text.len() > 72 / 3 * 4 + 4 {
        return None;
    }
    let mut buf = [0u8; 72];
    let n = B64.decode_slice(text, &mut buf).ok()?;
    Some(buf[..n].to_vec())
}

/// The strict RFC 3339 form Twitch sends, `YYYY-MM-DDTHH:MM:SS[.fffffffff]Z` (1970 to
/// 9999, no leap second), as a time; `None` for anything else.
pub fn strict_rfc3339(raw: &[u8]) -> Option<SystemTime> {
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let s = raw.get(r)?;
        s.iter().all(u8::is_ascii_digit).then(|| s.iter().fold(0, |a, d| a * 10 + u64::from(d - b'0')))
    };
    if raw.len() < 20 || raw.last() != Some(&b'Z') {
        return None;
    }
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| raw[i] != c) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let frac = &raw[19..raw.len() - 1];
    let nanos = match frac {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) => {
            digits.iter().fold(0u64, |a, d| a * 10 + u64::from(d - b'0')) * 10u64.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    if day == 0 || day > month_days[(month - 1) as usize] {
        return None;
    }
    // Days since 1970-01-01, counted year by year (at most 8030 years: cheap enough).
    let days: u64 =
        (1970..year).map(|y| if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 { 366 } else { 365 }).sum::<u64>()
            + month_days[..(month - 1) as usize].iter().sum::<u64>()
            + day
            - 1;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos as u32))
}
