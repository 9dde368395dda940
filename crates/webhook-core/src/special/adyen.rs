//! Adyen standard (payment) webhooks: no signature header; each `NotificationRequestItem`
//! carries `additionalData.hmacSignature`, base64 HMAC-SHA256 of its fields
//! `pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success`
//! (an absent field is empty), keyed with the hex-decoded HMAC key. Every item must verify,
//! under one configured key. Read from Adyen's Node library, `Adyen/adyen-node-api-library`
//! `src/utils/hmacValidator.ts` (`getDataToSign`, `calculateHmacSignature`); see also
//! <https://docs.adyen.com/development-resources/webhooks/secure-webhooks/verify-hmac-signatures>.
//!
//! Only those eight fields are signed: the rest of an item (`eventDate`, `reason`, other
//! `additionalData`) and the envelope are protected by TLS alone.

use std::time::SystemTime;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::Value;

use crate::engine::ct_eq;
use crate::error::{ErrorKind, SignError, VerifyError};
use crate::scheme::Algorithm;
use crate::verifier::{EventType, Keys, Request, SignRequest, Signed, Verified};

/// Most items one delivery may carry (Adyen sends one; older integrations up to a few).
const MAX_ITEMS: usize = 64;

fn malformed(what: &str) -> VerifyError {
    VerifyError::new(ErrorKind::MalformedBody, format!("body has no valid {what}"))
}

/// A field as the signing string writes it: strings as they are, numbers in decimal,
/// anything absent or of another kind empty (JavaScript's `join` of `undefined`).
fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// The signed string of one `NotificationRequestItem`.
fn data_to_sign(item: &Value) -> String {
    let amount = item.get("amount");
    [
        text(item.get("pspReference")),
        text(item.get("originalReference")),
        text(item.get("merchantAccountCode")),
        text(item.get("merchantReference")),
        text(amount.and_then(|a| a.get("value"))),
        text(amount.and_then(|a| a.get("currency"))),
        text(item.get("eventCode")),
        text(item.get("success")),
    ]
    .join(":")
}

/// The items of an envelope, each a `NotificationRequestItem` object.
fn items(envelope: &Value) -> Result<Vec<&Value>, VerifyError> {
    let list = envelope
        .get("notificationItems")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("list of notification items"))?;
    if list.is_empty() || list.len() > MAX_ITEMS {
        return Err(malformed("list of notification items (1 to 64)"));
    }
    list.iter()
        .map(|entry| {
            entry
                .get("NotificationRequestItem")
                .filter(|i| i.is_object())
                .ok_or_else(|| malformed("notification item object"))
        })
        .collect()
}

pub(crate) fn verify(keys: &Keys, req: &Request<'_>, now: SystemTime) -> Result<Verified, VerifyError> {
    let envelope: Value = crate::json::object(&req.body).ok_or_else(|| malformed("JSON envelope"))?;
    let items = items(&envelope)?;
    let mut signed = Vec::with_capacity(items.len());
    for item in &items {
        let sig = item
            .get("additionalData")
            .and_then(|d| d.get("hmacSignature"))
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("additionalData.hmacSignature"))?;
        let mut bytes = [0u8; 32];
        let n = if sig.len() <= 48 { crate::secret::B64.decode_slice(sig, &mut bytes).ok() } else { None };
        let n = n.filter(|n| *n > 0).ok_or_else(|| malformed("additionalData.hmacSignature (base64)"))?;
        signed.push((data_to_sign(item), bytes, n));
    }
    let key_index = keys.find(now, |key| {
        key.mac(Algorithm::HmacSha256).is_some_and(|mac| {
            // Every item is checked, with no early exit; all must match.
            signed.iter().fold(true, |all, (data, sig, n)| {
                let mut m = mac.clone();
                m.update(data.as_bytes());
                let mut tag = [0u8; 64];
                let len = m.finish(&mut tag);
                all & ct_eq(&tag[..len], &sig[..*n])
            })
        })
    })?;
    // One item (what Adyen sends): its pspReference, eventCode and success identify the
    // notification, as Adyen's duplicate guidance says. Several: no single id.
    let (id, event_type) = match items.as_slice() {
        [one] => (
            Some(text(one.get("pspReference")))
                .filter(|p| !p.is_empty())
                .map(|psp| format!("{psp}:{}:{}", text(one.get("eventCode")), text(one.get("success")))),
            one.get("eventCode").and_then(Value::as_str).map(str::to_owned),
        ),
        _ => (None, items[0].get("eventCode").and_then(Value::as_str).map(str::to_owned)),
    };
    Ok(Verified {
        provider: "adyen",
        id,
        event_type: EventType::known(event_type),
        timestamp: None,
        body: req.body.clone(),
        key_index,
        event_id: None,
    })
}

/// Signs every item of an envelope (`{"notificationItems":[…]}`), or wraps a single
/// `NotificationRequestItem` object into one, writing each `additionalData.hmacSignature`.
pub(crate) fn sign(keys: &Keys, req: &SignRequest<'_>) -> Result<Signed, SignError> {
    let mut value: Value =
        serde_json::from_slice(req.body).map_err(|_| SignError::new("an Adyen notification must be JSON"))?;
    if !value.is_object() {
        return Err(SignError::new("an Adyen notification must be a JSON object"));
    }
    if value.get("notificationItems").is_none() {
        value = serde_json::json!({ "live": "false", "notificationItems": [{ "NotificationRequestItem": value }] });
    }
    let mac = keys
        .signing(req.timestamp)
        .find_map(|k| k.mac(Algorithm::HmacSha256))
        .ok_or_else(|| SignError::new("no Adyen HMAC key valid at that time"))?;
    let list = value
        .get_mut("notificationItems")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| SignError::new("notificationItems is not an array"))?;
    for entry in list {
        let item = entry
            .get_mut("NotificationRequestItem")
            .filter(|i| i.is_object())
            .ok_or_else(|| SignError::new("an item has no NotificationRequestItem object"))?;
        let mut m = mac.clone();
        m.update(data_to_sign(item).as_bytes());
        let mut tag = [0u8; 64];
        let len = m.finish(&mut tag);
        let sig = base64::engine::general_purpose::STANDARD.encode(&tag[..len]);
        let obj = item.as_object_mut().ok_or_else(|| SignError::new("not an object"))?;
        let extra = obj.entry("additionalData").or_insert_with(|| serde_json::json!({}));
        let extra = extra.as_object_mut().ok_or_else(|| SignError::new("additionalData is not an object"))?;
        extra.insert("hmacSignature".into(), Value::String(sig));
    }
    let body = serde_json::to_vec(&value).map_err(|e| SignError::new(e.to_string()))?;
    Ok(Signed { headers: vec![("Content-Type", "application/json".to_owned())], body: Bytes::from(body) })
}
