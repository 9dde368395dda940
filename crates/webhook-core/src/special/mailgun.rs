//! Mailgun: `signature.{timestamp,token,signature}` inside the body, HMAC-SHA256 of
//! `{timestamp}{token}`; for a subaccount's domain, `signature.parent-signature` is the
//! same HMAC under the primary account's key, and either one verifies.
//! <https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks>
//!
//! The event data is not covered by the signature: only TLS protects it. The delivery id
//! is therefore the signed `token`, as Mailgun advises ("cache the token, refuse a token
//! seen before"), and not `event-data.id`: anyone holding one signature block could send
//! it again inside the window with a fresh `event-data.id`, and deduplicating on that id
//! would accept every copy. The trade-off: two deliveries of one event (a retry) carry two
//! tokens, so they are two deliveries to the dedup store, as they are to Mailgun;
//! `event-data.id` stays available as [`Verified::event_id`] to recognise them.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::Deserialize;

use crate::engine::ct_eq;
use crate::error::{ErrorKind, SignError, VerifyError};
use crate::scheme::TimeFormat;
use crate::time;
use crate::verifier::{EventType, Keys, Request, SignRequest, Signed, Verified};

/// Longest token accepted (Mailgun's are 50 characters).
const MAX_TOKEN: usize = 256;

#[derive(Deserialize)]
struct Envelope<'a> {
    /// Read as an object afterwards (a derived struct would also take an array).
    #[serde(borrow)]
    signature: Option<&'a serde_json::value::RawValue>,
    /// Read leniently afterwards: event data of an unexpected shape must not hide the
    /// signature (which does not cover it).
    #[serde(rename = "event-data", borrow)]
    event_data: Option<&'a serde_json::value::RawValue>,
}

#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow, deserialize_with = "text")]
    timestamp: Cow<'a, str>,
    #[serde(borrow)]
    token: Cow<'a, str>,
    #[serde(borrow)]
    signature: Cow<'a, str>,
    /// Present for subaccounts: the same HMAC under the primary account's key.
    #[serde(rename = "parent-signature", borrow, default)]
    parent_signature: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct EventData {
    #[serde(default, deserialize_with = "string_or_nothing")]
    id: Option<String>,
    #[serde(default, deserialize_with = "string_or_nothing")]
    event: Option<String>,
}

impl EventData {
    /// The id and event name, where the event data has them as strings.
    fn read(raw: Option<&serde_json::value::RawValue>) -> (Option<String>, Option<String>) {
        raw.and_then(|r| crate::json::object::<Self>(r.get().as_bytes())).map_or((None, None), |d| (d.id, d.event))
    }
}

/// A string, or `None` for any other JSON value.
fn string_or_nothing<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}

/// A timestamp sent as a string or as a number.
fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Cow<'de, str>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either<'a> {
        #[serde(borrow)]
        Text(Cow<'a, str>),
        Number(u64),
    }
    Ok(match Either::deserialize(d)? {
        Either::Text(t) => t,
        Either::Number(n) => Cow::Owned(n.to_string()),
    })
}

fn malformed(what: &str) -> VerifyError {
    VerifyError::new(ErrorKind::MalformedBody, format!("body has no valid {what}"))
}

pub(crate) fn verify(
    keys: &Keys,
    tolerance: Option<Duration>,
    req: &Request<'_>,
    now: SystemTime,
) -> Result<Verified, VerifyError> {
    // JSON (current webhooks) or a form (legacy webhooks, same field names at top level).
    let (timestamp, token, signature, parent, event_id, event_type) =
        match crate::json::object::<Envelope<'_>>(&req.body) {
            Some(env) => {
                let f: Fields<'_> = env
                    .signature
                    .and_then(|raw| crate::json::object(raw.get().as_bytes()))
                    .ok_or_else(|| malformed("signature object"))?;
                let (id, event) = EventData::read(env.event_data);
                (f.timestamp, f.token, f.signature, f.parent_signature, id, event)
            }
            None => {
                let mut fields = [None, None, None, None, None];
                for (k, v) in form_urlencoded::parse(&req.body) {
                    let slot = match k.as_ref() {
                        "timestamp" => 0,
                        "token" => 1,
                        "signature" => 2,
                        "event" => 3,
                        "parent-signature" => 4,
                        _ => continue,
                    };
                    fields[slot].get_or_insert(v);
                }
                let [ts, token, sig, event, parent] = fields;
                let ts = ts.ok_or_else(|| malformed("signature.timestamp"))?;
                let token = token.ok_or_else(|| malformed("signature.token"))?;
                let sig = sig.ok_or_else(|| malformed("signature.signature"))?;
                (ts, token, sig, parent, None, event.map(Cow::into_owned))
            }
        };
    if token.is_empty() || token.len() > MAX_TOKEN {
        return Err(malformed("signature.token"));
    }
    let signed_at =
        time::parse(timestamp.as_bytes(), TimeFormat::UnixSeconds).ok_or_else(|| malformed("signature.timestamp"))?;
    let mut sent = [0u8; 32];
    hex::decode_to_slice(signature.as_bytes(), &mut sent)
        .map_err(|_| malformed("signature.signature (64 hex digits)"))?;
    let parent = match parent {
        None => None,
        Some(text) => {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(text.as_bytes(), &mut bytes)
                .map_err(|_| malformed("signature.parent-signature (64 hex digits)"))?;
            Some(bytes)
        }
    };
    let key_index = keys.find(now, |key| {
        key.mac(crate::scheme::Algorithm::HmacSha256).is_some_and(|mut mac| {
            mac.update(timestamp.as_bytes());
            mac.update(token.as_bytes());
            let mut tag = [0u8; 64];
            let n = mac.finish(&mut tag);
            // Both compared, no early exit.
            ct_eq(&tag[..n], &sent) | parent.is_some_and(|p| ct_eq(&tag[..n], &p))
        })
    })?;
    if let Some(tol) = tolerance {
        time::check(signed_at, now, tol)?;
    }
    Ok(Verified {
        provider: "mailgun",
        // The signed token, never the unsigned event-data.id (see the module docs).
        id: Some(token.into_owned()),
        event_type: EventType::known(event_type),
        timestamp: Some(signed_at),
        body: req.body.clone(),
        key_index,
        event_id,
    })
}

/// Wraps the event data in `req.body` into the envelope Mailgun sends.
pub(crate) fn sign(keys: &Keys, req: &SignRequest<'_>) -> Result<Signed, SignError> {
    let event: &serde_json::value::RawValue =
        serde_json::from_slice(req.body).map_err(|_| SignError::new("Mailgun event data must be JSON"))?;
    let key = keys
        .signing(req.timestamp)
        .find_map(|k| k.mac(crate::scheme::Algorithm::HmacSha256))
        .ok_or_else(|| SignError::new("no Mailgun signing key valid at that time"))?;
    let timestamp = time::format(req.timestamp, TimeFormat::UnixSeconds)
        .ok_or_else(|| SignError::new("the timestamp cannot be written in Unix seconds"))?;
    let token = match req.id {
        Some(t) => t.to_owned(),
        None => {
            use sha2::Digest;
            let digest = sha2::Sha256::new().chain_update(&timestamp).chain_update(req.body).finalize();
            hex::encode(digest)[..50].to_owned()
        }
    };
    let mut mac = key;
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    let mut tag = [0u8; 64];
    let n = mac.finish(&mut tag);
    // A struct, not `json!`: the event data goes out byte for byte as given.
    #[derive(serde::Serialize)]
    struct Out<'a> {
        signature: Sig<'a>,
        #[serde(rename = "event-data")]
        event_data: &'a serde_json::value::RawValue,
    }
    #[derive(serde::Serialize)]
    struct Sig<'a> {
        timestamp: &'a str,
        token: &'a str,
        signature: String,
    }
    let envelope = Out {
        signature: Sig { timestamp: &timestamp, token: &token, signature: hex::encode(&tag[..n]) },
        event_data: event,
    };
    let body = serde_json::to_vec(&envelope).map_err(|e| SignError::new(e.to_string()))?;
    Ok(Signed { headers: vec![("Content-Type", "application/json".to_owned())], body: Bytes::from(body) })
}
