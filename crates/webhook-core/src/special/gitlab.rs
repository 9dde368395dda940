//! GitLab's classic `X-Gitlab-Token`: the secret itself, sent in plaintext.

use std::time::SystemTime;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::first_header_text;
use crate::engine::ct_eq;
use crate::error::{SignError, VerifyError};
use crate::headers::single;
use crate::verifier::{derived_id, EventType, Keys, Request, SignRequest, Signed, Verified};

const TOKEN: &str = "X-Gitlab-Token";
const IDS: &[&str] = &["Idempotency-Key", "X-Gitlab-Event-UUID"];
const EVENT: &str = "X-Gitlab-Event";

/// Compares SHA-256 digests of the sent and the configured token in constant time, so
/// neither the token's bytes nor its length leak through timing.
pub(crate) fn verify(keys: &Keys, req: &Request<'_>, now: SystemTime) -> Result<Verified, VerifyError> {
    let sent = single(req.headers, TOKEN)?.ok_or_else(|| VerifyError::missing_header(TOKEN))?;
    let sent = Sha256::digest(sent);
    let key_index = keys.find(now, |key| key.raw().is_some_and(|raw| ct_eq(&Sha256::digest(raw), &sent)))?;
    Ok(Verified {
        provider: "gitlab",
        id: first_header_text(req.headers, IDS)?,
        event_type: EventType::known(first_header_text(req.headers, &[EVENT])?),
        timestamp: None,
        body: req.body.clone(),
        key_index,
        event_id: None,
    })
}

pub(crate) fn sign(keys: &Keys, req: &SignRequest<'_>) -> Result<Signed, SignError> {
    let raw = keys
        .signing(req.timestamp)
        .find_map(|k| k.raw())
        .ok_or_else(|| SignError::new("no GitLab token valid at that time"))?;
    let token = std::str::from_utf8(raw).map_err(|_| SignError::new("the GitLab token is not UTF-8"))?;
    let id = req.id.map_or_else(|| derived_id("", req.body), str::to_owned);
    let mut headers = vec![(TOKEN, token.to_owned()), (IDS[0], id)];
    if let Some(t) = req.event_type {
        headers.push((EVENT, t.to_owned()));
    }
    Ok(Signed { headers, body: Bytes::copy_from_slice(req.body) })
}
