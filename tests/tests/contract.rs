//! One scenario table, run over real HTTP on 127.0.0.1 against all three receivers,
//! every delivery signed with the core's own signing helpers.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::Method;
use webhook_core::{providers, Secret, SignRequest, Verifier};

use webhook_tests::{send, Answer, Payload, Receiver};

const LIMIT: usize = 4096;
/// Seconds beyond Stripe's 300 s tolerance for the stale and future scenarios. The sender's
/// and the receiver's clocks are read at different moments and timestamps are whole
/// seconds, so a live-clock test keeps clear of the boundary; the exact ±(limit + 1 s)
/// edges are tested with a fixed clock in webhook-core.
const LIVE_CLOCK_MARGIN: u64 = 310;
const DISCORD_SEED: [u8; 32] = [7; 32];
const STANDARD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The public half of the Discord test key, as the hex the receiver is configured with.
fn discord_public_hex() -> String {
    hex::encode(ed25519_dalek::SigningKey::from_bytes(&DISCORD_SEED).verifying_key().as_bytes())
}

fn env() -> Vec<(&'static str, String)> {
    vec![
        ("GITHUB_WEBHOOK_SECRET", "new-secret,old-secret".into()),
        ("STRIPE_WEBHOOK_SECRET", "whsec_stripe_test".into()),
        ("SLACK_SIGNING_SECRET", "slack-signing-secret".into()),
        ("STANDARD_WEBHOOK_SECRET", STANDARD.into()),
        ("SHOPIFY_WEBHOOK_SECRET", "shopify-secret".into()),
        ("GITLAB_WEBHOOK_TOKEN", "gitlab-token".into()),
        ("TWILIO_AUTH_TOKEN", "12345".into()),
        ("DISCORD_PUBLIC_KEY", discord_public_hex()),
        // Providers enabled by the naming rule, <ID>_WEBHOOK_SECRET.
        ("X_WEBHOOK_SECRET", "x-consumer-secret".into()),
        ("DROPBOX_WEBHOOK_SECRET", "dropbox-app-secret".into()),
        ("OKTA_WEBHOOK_SECRET", "okta-secret".into()),
        ("PAYSTACK_WEBHOOK_SECRET", "sk_test_paystack".into()),
        ("WEBHOOK_MAX_BODY_BYTES", LIMIT.to_string()),
    ]
}

/// Senders: the same secrets, used to sign.
struct Senders {
    github: Verifier,
    github_old: Verifier,
    github_wrong: Verifier,
    stripe: Verifier,
    slack: Verifier,
    standard: Verifier,
    shopify: Verifier,
    gitlab: Verifier,
    twilio: Verifier,
    discord: Verifier,
    paystack: Verifier,
}

impl Senders {
    fn new() -> Self {
        let v = |p, s: &str| Verifier::new(p, s).unwrap();
        Self {
            github: v(providers::GITHUB, "new-secret"),
            github_old: v(providers::GITHUB, "old-secret"),
            github_wrong: v(providers::GITHUB, "not-the-secret"),
            stripe: v(providers::STRIPE, "whsec_stripe_test"),
            slack: v(providers::SLACK, "slack-signing-secret"),
            standard: v(providers::STANDARD_WEBHOOKS, STANDARD),
            shopify: v(providers::SHOPIFY, "shopify-secret"),
            gitlab: v(providers::GITLAB, "gitlab-token"),
            twilio: v(providers::TWILIO, "12345"),
            paystack: v(providers::PAYSTACK, "sk_test_paystack"),
            discord: Verifier::builder(providers::DISCORD)
                .key(Secret::ed25519_seed(&DISCORD_SEED).unwrap())
                .build()
                .unwrap(),
        }
    }
}

/// A request to send.
struct Call {
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    payload: Payload,
}

fn post(path: &str, signer: &Verifier, req: SignRequest<'_>) -> Call {
    let signed = signer.sign(&req).unwrap();
    Call {
        method: Method::POST,
        path: path.to_owned(),
        headers: signed.headers().iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        payload: Payload::Sized(signed.body().clone()),
    }
}

impl Call {
    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
    fn without(mut self, name: &str) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self
    }
    fn body(mut self, body: &'static [u8]) -> Self {
        self.payload = Payload::Sized(Bytes::from_static(body));
        self
    }
    fn chunked(mut self) -> Self {
        if let Payload::Sized(b) = self.payload {
            self.payload = Payload::Chunked(b, 512);
        }
        self
    }
    async fn send(self, addr: SocketAddr) -> Answer {
        send(addr, self.method, &self.path, &self.headers, self.payload).await
    }
}

/// X's answer to `crc_token=abc123` with the consumer secret `x-consumer-secret`: base64 of
/// HMAC-SHA256, computed independently (Python's hmac module) to check the receivers.
const X_CRC_ANSWER: &str = r#"{"response_token":"sha256=vgdjqzj/MKMsZfYtNrEX1dQfoAwEhHS1eoqM3+p4BbA="}"#;

fn get(path: &str, headers: &[(&str, &str)]) -> Call {
    Call {
        method: Method::GET,
        path: path.to_owned(),
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        payload: Payload::Sized(Bytes::new()),
    }
}

/// What the answer must be.
enum Expect {
    /// This status and exactly this body.
    Exactly(u16, &'static str),
    /// This status and a body containing this text.
    Contains(u16, &'static str),
}

fn check(receiver: Receiver, name: &str, answer: &Answer, expect: &Expect) -> Option<String> {
    let ok = match expect {
        Expect::Exactly(s, b) => answer.status == *s && answer.body == *b,
        Expect::Contains(s, b) => answer.status == *s && answer.body.contains(b),
    };
    let json = answer.status == 204
        || answer
            .content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/json") || c.starts_with("text/plain"));
    match (ok, json) {
        (true, true) => None,
        (true, false) => Some(format!("{receiver:?} {name}: content-type {:?}", answer.content_type)),
        (false, _) => Some(format!("{receiver:?} {name}: got {} {:?}", answer.status, answer.body)),
    }
}

/// The scenario table. Ids are prefixed with the receiver's name, so every receiver sees
/// fresh deliveries.
fn scenarios(s: &Senders, tag: &str, now: SystemTime) -> Vec<(String, Call, Expect)> {
    use Expect::*;
    let id = |n: &str| format!("{tag}-{n}");
    let gh_by = |signer: &Verifier, n: &str| {
        let id = id(n);
        post("/webhooks/github", signer, SignRequest::new(br#"{"zen":"hi"}"#, now).event_type("push").id(&id))
    };
    let gh = |n: &str| gh_by(&s.github, n);
    let stripe_body = format!(r#"{{"id":"evt_{tag}","type":"invoice.paid"}}"#);
    let stripe = |at: SystemTime| post("/webhooks/stripe", &s.stripe, SignRequest::new(stripe_body.as_bytes(), at));
    let whole = format!(r#"{{"id":"evt_{tag}_nj","type":"invoice.paid","data":{{}}}}"#);
    let truncated = &whole[..whole.len() - 11];
    let std_id = id("std");
    let standard =
        || post("/webhooks/standard", &s.standard, SignRequest::new(br#"{"type":"user.created"}"#, now).id(&std_id));
    let (shop_id, gl_id) = (id("shop"), id("gl"));
    vec![
        ("valid delivery".into(), gh("valid"), Exactly(200, r#"{"status":"accepted"}"#)),
        ("duplicate".into(), gh("valid"), Exactly(200, r#"{"status":"duplicate"}"#)),
        (
            "tampered body".into(),
            gh("tampered").body(br#"{"zen":"ho"}"#),
            Exactly(401, r#"{"error":"signature mismatch"}"#),
        ),
        ("wrong secret".into(), gh_by(&s.github_wrong, "wrong"), Exactly(401, r#"{"error":"signature mismatch"}"#)),
        ("rotation: old secret".into(), gh_by(&s.github_old, "old"), Exactly(200, r#"{"status":"accepted"}"#)),
        (
            "missing signature".into(),
            gh("missing").without("X-Hub-Signature-256"),
            Exactly(400, r#"{"error":"missing header X-Hub-Signature-256"}"#),
        ),
        (
            "garbled signature".into(),
            gh("garbled").header("X-Hub-Signature-256", "sha256=zz"),
            Exactly(400, r#"{"error":"malformed header X-Hub-Signature-256: signature is not hex"}"#),
        ),
        ("stripe valid".into(), stripe(now), Exactly(200, r#"{"status":"accepted"}"#)),
        (
            "stale timestamp".into(),
            stripe(now - Duration::from_secs(LIVE_CLOCK_MARGIN)),
            Contains(401, "outside tolerance of 300 s"),
        ),
        (
            "future timestamp".into(),
            stripe(now + Duration::from_secs(LIVE_CLOCK_MARGIN)),
            Contains(401, "in the future, outside tolerance of 300 s"),
        ),
        (
            "not JSON for a JSON provider".into(),
            post("/webhooks/stripe", &s.stripe, SignRequest::new(b"id=evt_1&type=x", now)),
            Exactly(400, r#"{"error":"body is not JSON"}"#),
        ),
        (
            // Verifying reads the body only up to Stripe's `id` and `type`; with the pipeline
            // the whole body must parse before it is stored and acknowledged.
            "signed body that is JSON only as far as verifying reads it".into(),
            post("/webhooks/stripe", &s.stripe, SignRequest::new(truncated.as_bytes(), now)),
            Exactly(400, r#"{"error":"body is not valid JSON"}"#),
        ),
        (
            "the same id in a whole body: nothing was claimed".into(),
            post("/webhooks/stripe", &s.stripe, SignRequest::new(whole.as_bytes(), now)),
            Exactly(200, r#"{"status":"accepted"}"#),
        ),
        (
            "missing timestamp".into(),
            post("/webhooks/slack", &s.slack, SignRequest::new(b"token=x&command=%2Fhi", now))
                .without("X-Slack-Request-Timestamp"),
            Exactly(400, r#"{"error":"missing header X-Slack-Request-Timestamp"}"#),
        ),
        (
            "slack url_verification".into(),
            post(
                "/webhooks/slack",
                &s.slack,
                SignRequest::new(br#"{"token":"t","challenge":"c-123","type":"url_verification"}"#, now),
            ),
            Exactly(200, "c-123"),
        ),
        ("standard webhooks".into(), standard(), Exactly(200, r#"{"status":"accepted"}"#)),
        (
            "standard webhooks `v1,` (empty signature)".into(),
            standard().header("webhook-signature", "v1,"),
            Contains(400, "no readable v1 signature"),
        ),
        (
            "shopify".into(),
            post(
                "/webhooks/shopify",
                &s.shopify,
                SignRequest::new(br#"{"id":1}"#, now).id(&shop_id).event_type("orders/create"),
            ),
            Exactly(200, r#"{"status":"accepted"}"#),
        ),
        (
            "gitlab token".into(),
            post(
                "/webhooks/gitlab",
                &s.gitlab,
                SignRequest::new(br#"{"object_kind":"push"}"#, now).id(&gl_id).event_type("Push Hook"),
            ),
            Exactly(200, r#"{"status":"accepted"}"#),
        ),
        (
            "gitlab wrong token".into(),
            post("/webhooks/gitlab", &s.gitlab, SignRequest::new(b"{}", now)).header("X-Gitlab-Token", "guess"),
            Exactly(401, r#"{"error":"signature mismatch"}"#),
        ),
        (
            "discord PING".into(),
            post(
                "/webhooks/discord",
                &s.discord,
                SignRequest::new(br#"{"type":1,"id":"1","token":"t","version":1}"#, now),
            ),
            Exactly(200, r#"{"type":1}"#),
        ),
        (
            "413 with Content-Length".into(),
            post("/webhooks/github", &s.github, SignRequest::new(&[b' '; LIMIT + 1], now).id("big")),
            Contains(413, "body larger than the limit of 4096 bytes"),
        ),
        (
            "413 chunked, no Content-Length".into(),
            post("/webhooks/github", &s.github, SignRequest::new(&[b' '; LIMIT + 1], now).id("big2")).chunked(),
            Contains(413, "body larger than the limit of 4096 bytes"),
        ),
        ("chunked within the limit".into(), gh("chunked").chunked(), Exactly(200, r#"{"status":"accepted"}"#)),
        (
            "a provider enabled by the naming rule (PAYSTACK_WEBHOOK_SECRET)".into(),
            post(
                "/webhooks/paystack",
                &s.paystack,
                SignRequest::new(format!(r#"{{"event":"charge.success","data":{{"id":"{tag}"}}}}"#).as_bytes(), now),
            ),
            Exactly(200, r#"{"status":"accepted"}"#),
        ),
        (
            "standard webhooks under its id too".into(),
            post(
                "/webhooks/standard-webhooks",
                &s.standard,
                SignRequest::new(br#"{"type":"user.created"}"#, now).id(&id("std2")),
            ),
            Exactly(200, r#"{"status":"accepted"}"#),
        ),
        ("X's CRC check (GET)".into(), get("/webhooks/x?crc_token=abc123", &[]), Exactly(200, X_CRC_ANSWER)),
        ("X's CRC check without a token".into(), get("/webhooks/x?other=1", &[]), Contains(400, "crc_token")),
        ("Dropbox's challenge (GET)".into(), get("/webhooks/dropbox?challenge=c-42", &[]), Exactly(200, "c-42")),
        (
            "Okta's one-time verification (GET with the hook's credentials)".into(),
            get("/webhooks/okta", &[("Authorization", "okta-secret"), ("x-okta-verification-challenge", "V1")]),
            Exactly(200, r#"{"verification":"V1"}"#),
        ),
        (
            "Okta's verification with a wrong credential".into(),
            get("/webhooks/okta", &[("Authorization", "guess"), ("x-okta-verification-challenge", "V1")]),
            Exactly(401, r#"{"error":"signature mismatch"}"#),
        ),
        (
            "404".into(),
            Call {
                method: Method::POST,
                path: "/webhooks/nope".into(),
                headers: vec![],
                payload: Payload::Sized(Bytes::new()),
            },
            Exactly(404, r#"{"error":"no such route"}"#),
        ),
        (
            "405".into(),
            Call {
                method: Method::GET,
                path: "/webhooks/github".into(),
                headers: vec![],
                payload: Payload::Sized(Bytes::new()),
            },
            Contains(405, "method not allowed"),
        ),
        (
            "healthz".into(),
            Call {
                method: Method::GET,
                path: "/healthz".into(),
                headers: vec![],
                payload: Payload::Sized(Bytes::new()),
            },
            Exactly(200, r#"{"status":"ok"}"#),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_receiver_keeps_the_same_contract() {
    let env = env();
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let senders = Senders::new();
    let mut failures = Vec::new();
    let mut ran = 0;
    for receiver in Receiver::ALL {
        let addr = receiver.start(&vars).await;
        let tag = format!("{receiver:?}");
        // Each scenario is signed at the moment it is sent (the table is made anew, cheap):
        // the stale and future cases never drift toward the tolerance on a slow machine.
        let count = scenarios(&senders, &tag, SystemTime::now()).len();
        for i in 0..count {
            let (name, call, expect) = scenarios(&senders, &tag, SystemTime::now()).swap_remove(i);
            let answer = call.send(addr).await;
            failures.extend(check(receiver, &name, &answer, &expect));
            ran += 1;
        }
        let now = SystemTime::now();
        // Twilio signs the public URL, which defaults to http:// + WEBHOOK_ADDR.
        let url = format!("http://{addr}/webhooks/twilio?From=%2B1");
        let form = b"CallSid=CA1&Digits=1234&To=%2B18005551212";
        let call =
            post("/webhooks/twilio?From=%2B1", &senders.twilio, SignRequest::new(form, now).url(&url).id("tw-1"));
        failures.extend(check(
            receiver,
            "twilio",
            &call.send(addr).await,
            &Expect::Exactly(200, r#"{"status":"accepted"}"#),
        ));
        let forged = post("/webhooks/twilio?From=%2B1", &senders.twilio, SignRequest::new(form, now).url(&url))
            .body(b"CallSid=CA2");
        failures.extend(check(
            receiver,
            "twilio forged",
            &forged.send(addr).await,
            &Expect::Exactly(401, r#"{"error":"signature mismatch"}"#),
        ));
        ran += 2;
    }
    assert!(ran >= 3 * 36, "only {ran} scenarios ran");
    assert!(failures.is_empty(), "{} of {ran} failed:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_copies_are_accepted_exactly_once() {
    let env = env();
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let senders = Senders::new();
    for receiver in Receiver::ALL {
        let addr = receiver.start(&vars).await;
        let req = SignRequest::new(br#"{"zen":"once"}"#, SystemTime::now()).id("same-delivery").event_type("push");
        let signed = senders.github.sign(&req).unwrap();
        let headers: Vec<(String, String)> = signed.headers().iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let headers = headers.clone();
                let body = signed.body().clone();
                tokio::spawn(async move {
                    send(addr, Method::POST, "/webhooks/github", &headers, Payload::Sized(body)).await
                })
            })
            .collect();
        let mut accepted = 0;
        for t in tasks {
            let a = t.await.unwrap();
            match (a.status, a.body.as_str()) {
                (200, r#"{"status":"accepted"}"#) => accepted += 1,
                (200, r#"{"status":"duplicate"}"#) | (409, _) => {}
                other => panic!("{receiver:?}: unexpected answer {other:?}"),
            }
        }
        assert_eq!(accepted, 1, "{receiver:?}");
    }
}
