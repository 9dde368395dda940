//! Handshakes: the few deliveries a provider sends to check the endpoint, which must be
//! answered with a particular body instead of the usual acknowledgement. Each is answered
//! only **after** the request verified, and is neither deduplicated nor stored.

use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;

use crate::engine::ct_eq;
use crate::scheme::{Algorithm, Handshake};
use crate::verifier::{Request, Verified, Verifier};

/// The answer a provider expects to a handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status to answer with.
    pub status: StatusCode,
    /// The `Content-Type` of `body`, if there is a body.
    pub content_type: Option<&'static str>,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    fn json(value: &serde_json::Value) -> Self {
        Self { status: StatusCode::OK, content_type: Some("application/json"), body: Bytes::from(value.to_string()) }
    }

    fn text(text: &str) -> Self {
        Self {
            status: StatusCode::OK,
            content_type: Some("text/plain; charset=utf-8"),
            body: Bytes::copy_from_slice(text.as_bytes()),
        }
    }
}

/// The longest challenge echoed back (the providers' are tens of bytes).
const MAX_CHALLENGE: usize = 1024;

impl Verifier {
    /// The handshake answer for a verified delivery, if it is one. The scheme decides which
    /// check it answers ([`Scheme::handshake`](crate::scheme::Scheme::handshake)):
    ///
    /// | provider | delivery | answer |
    /// |---|---|---|
    /// | Slack | `{"type":"url_verification","challenge":c}` | 200, `c` as text |
    /// | Discord | interaction PING `{"type":1}` (no `event`) | 200 `{"type":1}` |
    /// | Discord | webhook-event PING `{"type":0}` | 204, no body |
    /// | Zoom | `{"event":"endpoint.url_validation","payload":{"plainToken":p}}` | 200 `{"plainToken":p,"encryptedToken":hex(HMAC-SHA256(secret, p))}` |
    /// | Twitch | `Twitch-Eventsub-Message-Type: webhook_callback_verification`, body `challenge` | 200, the challenge as text |
    /// | Front | `x-front-challenge: c` on the (signed) validation request | 200, `c` as text |
    ///
    /// Meta's subscription check is a `GET` with no signature: see [`meta_challenge`].
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use webhook_core::{providers, WebhookRequest, SignRequest, Verifier};
    ///
    /// let slack = Verifier::new(providers::SLACK, "8f742231b10e8888abcd99yyyzzz85a5").unwrap();
    /// let body = br#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    /// let now = SystemTime::now();
    /// let signed = slack.sign(&SignRequest::new(body, now)).unwrap();
    /// let req = WebhookRequest::new(&signed, &body[..]);
    /// let delivery = slack.verify(&req, now).unwrap();
    /// let reply = slack.handshake(&req, &delivery).unwrap();
    /// assert_eq!(reply.body, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
    /// ```
    pub fn handshake(&self, req: &Request<'_>, verified: &Verified) -> Option<Reply> {
        let body = verified.body();
        // Chosen by the scheme, never by a name: a custom scheme called "slack" answers no
        // Slack handshake unless it says so.
        match self.provider().handshake()? {
            Handshake::SlackUrlVerification => {
                #[derive(Deserialize)]
                struct Challenge<'a> {
                    #[serde(rename = "type")]
                    kind: Option<&'a str>,
                    challenge: Option<&'a str>,
                }
                let c: Challenge<'_> = crate::json::object(body)?;
                match (c.kind, c.challenge) {
                    (Some("url_verification"), Some(ch)) if ch.len() <= MAX_CHALLENGE => Some(Reply::text(ch)),
                    _ => None,
                }
            }
            Handshake::DiscordPing => {
                #[derive(Deserialize)]
                struct Ping {
                    #[serde(rename = "type")]
                    kind: Option<i64>,
                    event: Option<serde::de::IgnoredAny>,
                }
                let p: Ping = crate::json::object(body)?;
                match (p.kind, p.event) {
                    (Some(1), None) => Some(Reply::json(&serde_json::json!({ "type": 1 }))),
                    (Some(0), _) => {
                        Some(Reply { status: StatusCode::NO_CONTENT, content_type: None, body: Bytes::new() })
                    }
                    _ => None,
                }
            }
            Handshake::ZoomUrlValidation => {
                #[derive(Deserialize)]
                struct Validation<'a> {
                    event: Option<&'a str>,
                    #[serde(borrow)]
                    payload: Option<&'a serde_json::value::RawValue>,
                }
                #[derive(Deserialize)]
                struct Payload<'a> {
                    #[serde(rename = "plainToken")]
                    plain_token: Option<&'a str>,
                }
                let v: Validation<'_> = crate::json::object(body)?;
                let payload = v.payload.and_then(|p| crate::json::object::<Payload<'_>>(p.get().as_bytes()));
                let plain = match (v.event, payload.and_then(|p| p.plain_token)) {
                    (Some("endpoint.url_validation"), Some(t)) if t.len() <= MAX_CHALLENGE => t,
                    _ => return None,
                };
                let mut mac = self.key(verified.key_index())?.mac(Algorithm::HmacSha256)?;
                mac.update(plain.as_bytes());
                let mut tag = [0u8; 64];
                let n = mac.finish(&mut tag);
                Some(Reply::json(&serde_json::json!({
                    "plainToken": plain,
                    "encryptedToken": hex::encode(&tag[..n]),
                })))
            }
            Handshake::TwitchChallenge => {
                let mut kind = None;
                req.headers.for_each_value("Twitch-Eventsub-Message-Type", &mut |v| kind = Some(v));
                if kind != Some(&b"webhook_callback_verification"[..]) {
                    return None;
                }
                #[derive(Deserialize)]
                struct Challenge<'a> {
                    challenge: Option<&'a str>,
                }
                let c: Challenge<'_> = crate::json::object(body)?;
                c.challenge.filter(|ch| ch.len() <= MAX_CHALLENGE).map(Reply::text)
            }
            Handshake::FrontChallenge => {
                let mut challenge = None;
                req.headers.for_each_value("x-front-challenge", &mut |v| challenge = Some(v));
                let text = std::str::from_utf8(challenge?).ok()?;
                (!text.is_empty() && text.len() <= MAX_CHALLENGE).then(|| Reply::text(text))
            }
            // GET checks are answered by their own functions, never by a delivery.
            Handshake::XCrc | Handshake::DropboxChallenge | Handshake::OktaVerification => None,
        }
    }
}

impl Verifier {
    /// For an Amazon SNS verifier and a verified `SubscriptionConfirmation`, the
    /// `SubscribeURL` to `GET` to confirm the subscription (an HTTPS URL on an Amazon SNS
    /// host; anything else is `None`). The core does no I/O: the receiver fetches it.
    #[cfg(feature = "sns")]
    pub fn sns_subscribe_url(&self, verified: &Verified) -> Option<String> {
        // The verifier's own kind decides, never the delivery's provider name.
        matches!(self.provider().kind, crate::providers::Kind::Sns)
            .then(|| crate::special::sns::subscribe_url(verified))
            .flatten()
    }
}

/// The `SubscribeURL` to `GET` to confirm an Amazon SNS `SubscriptionConfirmation`, from
/// the body of a delivery that **was verified** as one (a stored event an `aws-sns` route
/// accepted): `None` unless its `Type` is `SubscriptionConfirmation` and the URL is an
/// HTTPS URL on an Amazon SNS host (`sns.<region>.amazonaws.com[.cn]`, default port, no
/// credentials). It checks no signature: use
/// [`Verifier::sns_subscribe_url`](crate::Verifier::sns_subscribe_url) while you still hold
/// the verified delivery.
///
/// ```
/// use webhook_core::handshake::sns_subscribe_url;
/// let body = br#"{"Type":"SubscriptionConfirmation","SubscribeURL":"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f"}"#;
/// assert_eq!(
///     sns_subscribe_url(body).as_deref(),
///     Some("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f")
/// );
/// let elsewhere = br#"{"Type":"SubscriptionConfirmation","SubscribeURL":"https://evil.example/?Action=ConfirmSubscription"}"#;
/// assert_eq!(sns_subscribe_url(elsewhere), None);
/// assert_eq!(sns_subscribe_url(br#"{"Type":"Notification"}"#), None);
/// ```
#[cfg(feature = "sns")]
pub fn sns_subscribe_url(body: &[u8]) -> Option<String> {
    crate::special::sns::subscribe_url_of(body)
}

/// Meta's subscription check: `GET ?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C`.
/// Returns `C` (answer 200 with it as the body) when the mode is `subscribe` and `T` equals
/// `verify_token` (compared in constant time); `None` means answer 403.
///
/// ```
/// use webhook_core::handshake::meta_challenge;
/// let q = "hub.mode=subscribe&hub.verify_token=s3cret&hub.challenge=1158201444";
/// assert_eq!(meta_challenge(q, "s3cret").as_deref(), Some("1158201444"));
/// assert_eq!(meta_challenge(q, "other"), None);
/// ```
pub fn meta_challenge(query: &str, verify_token: &str) -> Option<String> {
    let (mut mode, mut token, mut challenge) = (None, None, None);
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "hub.mode" => mode = Some(v),
            "hub.verify_token" => token = Some(v),
            "hub.challenge" => challenge = Some(v),
            _ => {}
        }
    }
    let token_ok = {
        use sha2::{Digest, Sha256};
        let sent = Sha256::digest(token?.as_bytes());
        ct_eq(&sent, &Sha256::digest(verify_token.as_bytes()))
    };
    (mode.as_deref() == Some("subscribe") && token_ok && !verify_token.is_empty())
        .then_some(challenge?)
        .filter(|c| c.len() <= MAX_CHALLENGE)
        .map(|c| c.into_owned())
}

/// X's (Twitter's) challenge-response check: `GET ?crc_token=T` is answered 200 with
/// `{"response_token":"sha256=<base64 HMAC-SHA256(consumer secret, T)>"}` (this reply).
/// `None` (answer 400) when the query has no usable `crc_token`. Each configured consumer
/// secret is a key: pass the one in use.
/// <https://docs.x.com/x-api/webhooks/introduction>
///
/// ```
/// use webhook_core::handshake::x_crc_response;
/// let reply = x_crc_response("crc_token=abc123", "consumer-secret").unwrap();
/// assert_eq!(reply.content_type, Some("application/json"));
/// assert!(x_crc_response("other=1", "consumer-secret").is_none());
/// ```
pub fn x_crc_response(query: &str, consumer_secret: &str) -> Option<Reply> {
    use hmac::Mac as _;
    let token = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "crc_token").map(|(_, v)| v)?;
    if token.is_empty() || token.len() > MAX_CHALLENGE || consumer_secret.is_empty() {
        return None;
    }
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(consumer_secret.as_bytes()).ok()?;
    mac.update(token.as_bytes());
    let tag = mac.finalize().into_bytes();
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(tag);
    Some(Reply::json(&serde_json::json!({ "response_token": format!("sha256={encoded}") })))
}

/// Okta's one-time event hook verification: a `GET` whose `x-okta-verification-challenge`
/// header value `V` is answered 200 with `{"verification":"V"}` (this reply). Check the
/// request's `Authorization` with [`Verifier::verify`] first: the `GET` carries the same
/// credentials as the events. `None` (answer 400) for a missing or oversized value.
/// <https://developer.okta.com/docs/concepts/event-hooks/>
///
/// ```
/// use webhook_core::handshake::okta_verification;
/// let reply = okta_verification("X1y2Z3").unwrap();
/// assert_eq!(reply.body, r#"{"verification":"X1y2Z3"}"#);
/// ```
pub fn okta_verification(challenge: &str) -> Option<Reply> {
    (!challenge.is_empty() && challenge.len() <= MAX_CHALLENGE)
        .then(|| Reply::json(&serde_json::json!({ "verification": challenge })))
}

/// Dropbox's endpoint check: `GET ?challenge=C` is answered 200 with `C` as the body, as
/// `text/plain` (this reply); the adapter should also send `X-Content-Type-Options: nosniff`,
/// as Dropbox asks, since the body echoes the query. `None` (answer 400) without a usable
/// `challenge`. <https://www.dropbox.com/developers/reference/webhooks>
///
/// ```
/// use webhook_core::handshake::dropbox_challenge;
/// assert_eq!(dropbox_challenge("challenge=xyz").unwrap().body, "xyz");
/// assert!(dropbox_challenge("").is_none());
/// ```
pub fn dropbox_challenge(query: &str) -> Option<Reply> {
    let challenge = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "challenge").map(|(_, v)| v)?;
    (!challenge.is_empty() && challenge.len() <= MAX_CHALLENGE).then(|| Reply {
        status: StatusCode::OK,
        content_type: Some("text/plain"),
        body: Bytes::copy_from_slice(challenge.as_bytes()),
    })
}

/// [`Verify::answer_get`](crate::Verify::answer_get) for the built-in providers, chosen by
/// the scheme's [`Handshake`](crate::scheme::Handshake).
pub(crate) fn answer_get(
    verifier: &crate::Verifier,
    query: &str,
    headers: &(dyn crate::Headers + Sync),
    now: std::time::SystemTime,
) -> Option<Result<Reply, crate::VerifyError>> {
    use crate::scheme::Handshake;
    use crate::VerifyError;
    let malformed = |what: &'static str| Err(VerifyError::configuration(what));
    let answer = match verifier.provider().handshake()? {
        Handshake::XCrc => {
            let secret = verifier.shared_key(now).and_then(|k| std::str::from_utf8(k).ok());
            match secret {
                None => malformed("no consumer secret is valid now for X's CRC check"),
                Some(secret) => x_crc_response(query, secret)
                    .ok_or_else(|| VerifyError::malformed_query("crc_token", "missing, empty or too long")),
            }
        }
        Handshake::DropboxChallenge => dropbox_challenge(query)
            .ok_or_else(|| VerifyError::malformed_query("challenge", "missing, empty or too long")),
        Handshake::OktaVerification => {
            // The GET carries the same credentials as the events: checked first.
            if let Err(e) = verifier.verify(&crate::WebhookRequest::new(headers, bytes::Bytes::new()), now) {
                return Some(Err(e));
            }
            let mut challenge: Option<String> = None;
            headers.for_each_value("x-okta-verification-challenge", &mut |v| {
                if challenge.is_none() {
                    challenge = std::str::from_utf8(v).ok().map(str::to_owned);
                }
            });
            match challenge {
                None => Err(VerifyError::missing_header("x-okta-verification-challenge")),
                Some(c) => okta_verification(&c)
                    .ok_or_else(|| VerifyError::malformed_header("x-okta-verification-challenge", "empty or too long")),
            }
        }
        _ => return None,
    };
    Some(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{providers, SignRequest};
    use std::time::SystemTime;

    fn answer(v: &Verifier, body: &[u8], extra: &[(&'static str, &str)]) -> Option<Reply> {
        let now = SystemTime::now();
        let mut signed = v.sign(&SignRequest::new(body, now).id("e76c6bd4")).unwrap();
        signed.headers.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        let req = Request::new(&signed, Bytes::copy_from_slice(body));
        let delivery = v.verify(&req, now).unwrap();
        v.handshake(&req, &delivery)
    }

    #[test]
    fn zoom_url_validation_uses_the_verifying_secret() {
        // Self-generated (not official) vector, computed once with python3 hmac/hashlib.
        let zoom = Verifier::builder(providers::ZOOM).secret("other").secret("test_secret_do_not_use").build().unwrap();
        let now = SystemTime::now();
        let body = br#"{"event":"endpoint.url_validation","payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"}}"#;
        // Sign with the second key only.
        let second = Verifier::new(providers::ZOOM, "test_secret_do_not_use").unwrap();
        let signed = second.sign(&SignRequest::new(body, now)).unwrap();
        let req = Request::new(&signed, &body[..]);
        let delivery = zoom.verify(&req, now).unwrap();
        assert_eq!(delivery.key_index(), 1);
        let reply = zoom.handshake(&req, &delivery).unwrap();
        let got: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(
            got,
            serde_json::json!({"plainToken":"qgg8vlvZRS6UYooatFL8Aw","encryptedToken":"51420675a844fb2704848c0645a778e485eefa14735d2dc7bc31a15896656c9e"})
        );
        assert!(answer(&zoom, br#"{"event":"meeting.started","payload":{}}"#, &[]).is_none());
    }

    #[cfg(feature = "ed25519")]
    #[test]
    fn discord_pings() {
        let key = crate::Secret::ed25519_seed(&[7u8; 32]).unwrap();
        let discord = Verifier::builder(providers::DISCORD).key(key).build().unwrap();
        let pong = answer(&discord, br#"{"type":1,"id":"1","token":"t","version":1}"#, &[]).unwrap();
        assert_eq!((pong.status, pong.body.as_ref()), (StatusCode::OK, &br#"{"type":1}"#[..]));
        let event_ping = answer(&discord, br#"{"version":1,"application_id":"1","type":0}"#, &[]).unwrap();
        assert_eq!((event_ping.status, event_ping.body.len()), (StatusCode::NO_CONTENT, 0));
        // A webhook EVENT is type 1 with an `event`: not a ping.
        assert!(answer(&discord, br#"{"version":1,"type":1,"event":{"type":"APPLICATION_AUTHORIZED"}}"#, &[]).is_none());
        assert!(answer(&discord, br#"{"type":2,"id":"1"}"#, &[]).is_none());
    }

    #[test]
    fn twitch_challenge_only_for_verification_messages() {
        let twitch = Verifier::new(providers::TWITCH, "secretabcd").unwrap();
        let body = br#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"type":"channel.follow"}}"#;
        let verification = [("Twitch-Eventsub-Message-Type", "webhook_callback_verification")];
        let reply = answer(&twitch, body, &verification).unwrap();
        assert_eq!(reply.body, "pogchamp-kappa-360noscope-vohiyo");
        assert_eq!(reply.content_type, Some("text/plain; charset=utf-8"));
        assert!(answer(&twitch, body, &[("Twitch-Eventsub-Message-Type", "notification")]).is_none());
    }

    #[test]
    fn arrays_are_never_handshakes() {
        // Found by the handshake fuzz target: serde's derived structs also read an array of
        // their fields in order, so `["t"]` was answered as Twitch's challenge "t".
        let twitch = Verifier::new(providers::TWITCH, "secretabcd").unwrap();
        let verification = [("Twitch-Eventsub-Message-Type", "webhook_callback_verification")];
        assert!(answer(&twitch, br#"["t"]"#, &verification).is_none());
        assert!(answer(&twitch, br#" {"challenge":"t"}"#, &verification).is_some(), "whitespace before an object");
        let slack = Verifier::new(providers::SLACK, "s").unwrap();
        assert!(answer(&slack, br#"["url_verification","c"]"#, &[]).is_none());
        #[cfg(feature = "ed25519")]
        {
            let key = crate::Secret::ed25519_seed(&[7u8; 32]).unwrap();
            let discord = Verifier::builder(providers::DISCORD).key(key).build().unwrap();
            assert!(answer(&discord, b"[1]", &[]).is_none());
        }
        let zoom = Verifier::new(providers::ZOOM, "z").unwrap();
        assert!(answer(&zoom, br#"{"event":"endpoint.url_validation","payload":["tok"]}"#, &[]).is_none());
        assert!(answer(&zoom, br#"{"event":"endpoint.url_validation","payload":{"plainToken":"tok"}}"#, &[]).is_some());
    }

    #[test]
    fn x_crc_and_dropbox_challenges() {
        use base64::Engine as _;
        use hmac::Mac as _;
        // The response token is what X's CRC documentation computes: base64 HMAC-SHA256
        // of the token under the consumer secret, prefixed `sha256=`.
        let reply = x_crc_response("crc_token=Zm9vYmFy&nonce=1", "consumer-secret").unwrap();
        let got: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"consumer-secret").unwrap();
        mac.update(b"Zm9vYmFy");
        let want = format!("sha256={}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()));
        assert_eq!(got, serde_json::json!({ "response_token": want }));
        assert_eq!(reply.status, StatusCode::OK);
        // Another secret answers another token.
        assert_ne!(x_crc_response("crc_token=Zm9vYmFy", "other").unwrap().body, reply.body);
        for bad in ["", "crc_token=", "token=x", &format!("crc_token={}", "a".repeat(MAX_CHALLENGE + 1))] {
            assert!(x_crc_response(bad, "consumer-secret").is_none(), "{bad}");
        }
        assert!(x_crc_response("crc_token=x", "").is_none());
        let d = dropbox_challenge("challenge=a%20b&x=1").unwrap();
        assert_eq!((d.status, d.content_type, d.body.as_ref()), (StatusCode::OK, Some("text/plain"), &b"a b"[..]));
        assert!(dropbox_challenge("challenge=").is_none());
        assert!(dropbox_challenge(&format!("challenge={}", "a".repeat(MAX_CHALLENGE + 1))).is_none());
    }

    #[test]
    fn front_echoes_its_challenge_only_when_sent_one() {
        let front = Verifier::new(providers::FRONT, "app-secret").unwrap();
        let sync = br#"{"type":"sync","authorization":{"id":"cmp_abc"}}"#;
        let reply = answer(&front, sync, &[("x-front-challenge", "r4nd0m")]).unwrap();
        assert_eq!((reply.status, reply.body.as_ref()), (StatusCode::OK, &b"r4nd0m"[..]));
        assert!(answer(&front, sync, &[]).is_none());
        assert!(answer(&front, sync, &[("x-front-challenge", "")]).is_none());
    }

    #[test]
    fn handshakes_follow_the_scheme_not_the_name() {
        // A custom scheme named like a built-in one answers no handshake of its own...
        static NOT_SLACK: crate::scheme::Scheme = crate::scheme::Scheme::new(
            "slack",
            &["X-Slack-Signature"],
            Algorithm::HmacSha256,
            crate::scheme::Encoding::Hex,
        );
        let impostor = Verifier::new(crate::Provider::custom(&NOT_SLACK), "s").unwrap();
        let challenge = br#"{"type":"url_verification","challenge":"c"}"#;
        assert!(answer(&impostor, challenge, &[]).is_none());
        // ...and one that opts in answers it whatever its name.
        static OPTED_IN: crate::scheme::Scheme = crate::scheme::Scheme::new(
            "acme",
            &["X-Acme-Signature"],
            Algorithm::HmacSha256,
            crate::scheme::Encoding::Hex,
        )
        .handshake(Handshake::SlackUrlVerification);
        let acme = Verifier::new(crate::Provider::custom(&OPTED_IN), "s").unwrap();
        assert_eq!(answer(&acme, challenge, &[]).unwrap().body, "c");
        assert_eq!(answer(&Verifier::new(providers::SLACK, "s").unwrap(), challenge, &[]).unwrap().body, "c");
    }

    #[test]
    fn slack_events_are_not_handshakes_and_meta_needs_subscribe() {
        let slack = Verifier::new(providers::SLACK, "s").unwrap();
        assert!(answer(&slack, br#"{"type":"event_callback","event":{"type":"message"}}"#, &[]).is_none());
        assert!(answer(&slack, b"command=%2Fx&text=hi", &[]).is_none());
        assert_eq!(meta_challenge("hub.mode=unsubscribe&hub.verify_token=t&hub.challenge=1", "t"), None);
        assert_eq!(meta_challenge("hub.mode=subscribe&hub.challenge=1", "t"), None);
        assert_eq!(meta_challenge("hub.mode=subscribe&hub.verify_token=&hub.challenge=1", ""), None);
    }
}
