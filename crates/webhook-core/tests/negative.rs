//! Negative tests for every provider: a valid delivery is signed first, then one thing is
//! broken, and the refusal must have the right kind and status, and a message that leaks
//! neither the secret nor the signature.
//!
//! Also: the tolerance window at its exact edges, key rotation and expiry, GitHub's legacy
//! SHA-1 header, Stripe's `v0` decoy, and JSON bodies for JSON providers.

// Helpers outside #[test] functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]
// The table covers every provider, those behind features included (the SHA-1 headers, the
// Ed25519 and P-256 keys).
#![cfg(all(feature = "sha1", feature = "ed25519", feature = "ecdsa"))]

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use webhook_core::{
    providers, ErrorKind, Provider, Secret, SignRequest, Signed, Verified, Verifier, VerifierBuilder, VerifyError,
    WebhookRequest,
};

/// The fixed clock every test starts from.
const T0: u64 = 1_700_000_000;
/// The URL signed by the providers that sign one.
const URL: &str = "https://example.com/hooks/in?tenant=7";

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// How a provider's signature header is laid out, as docs/PROVIDERS.md describes it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    /// `<prefix><signature>`.
    Prefix(&'static str),
    /// The signature alone.
    Bare,
    /// Items `label<assign>value` separated by `sep`; `ts` names the timestamp item.
    List { ts: Option<&'static str>, label: &'static str, sep: char, assign: char },
    /// The timestamp, then unlabelled signatures, separated by `sep` (Recurly).
    Leading { sep: char },
    /// A plaintext token (GitLab's classic hook).
    Token,
    /// No header: the signature is inside the body (Mailgun).
    InBody,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Enc {
    Hex,
    Base64,
    /// URL-safe base64 written unpadded (Sanity).
    Base64Url,
    Text,
}

/// What the tests need to know about one provider.
#[derive(Debug)]
struct Spec {
    name: &'static str,
    layout: Layout,
    enc: Enc,
    /// The timestamp header, where the timestamp is a header of its own.
    ts_header: Option<&'static str>,
    /// A signed header other than the timestamp: the delivery id where it is part of the
    /// signed message, Contentful's list of signed headers, Klaviyo's sending time.
    signed_id: Option<&'static str>,
    /// The body must be JSON.
    json: bool,
    /// The signed message includes the request URL.
    url: bool,
    /// The body is authenticated (not by credentials sent beside it: HTTP Basic, tokens).
    body_signed: bool,
    /// The signature header may repeat (one per key) and its prefix may be left out
    /// (Mollie).
    repeatable: bool,
    /// The crate can sign for it (not Amazon SNS, whose messages only AWS signs: see
    /// tests/sns.rs for its refusals).
    signable: bool,
}

const fn spec(name: &'static str, layout: Layout, enc: Enc, json: bool) -> Spec {
    Spec {
        name,
        layout,
        enc,
        ts_header: None,
        signed_id: None,
        json,
        url: false,
        body_signed: layout_signs_body(layout),
        repeatable: false,
        signable: true,
    }
}

/// A provider only its sender can sign for; its own test file covers it.
const fn verify_only(mut s: Spec) -> Spec {
    s.signable = false;
    s
}

const fn repeatable(mut s: Spec) -> Spec {
    s.repeatable = true;
    s
}

const fn layout_signs_body(layout: Layout) -> bool {
    !matches!(layout, Layout::Token)
}

/// HTTP Basic credentials: `Authorization: Basic base64(user:password)`, body unsigned.
const fn basic(name: &'static str) -> Spec {
    let mut s = spec(name, Layout::Prefix("Basic "), Enc::Base64, true);
    s.body_signed = false;
    s
}

const fn with_ts(mut s: Spec, ts: &'static str) -> Spec {
    s.ts_header = Some(ts);
    s
}

const fn with_id(mut s: Spec, id: &'static str) -> Spec {
    s.signed_id = Some(id);
    s
}

const fn with_url(mut s: Spec) -> Spec {
    s.url = true;
    s
}

const SW_LIST: Layout = Layout::List { ts: None, label: "v1", sep: ' ', assign: ',' };

static SPECS: &[Spec] = &[
    spec("github", Layout::Prefix("sha256="), Enc::Hex, false),
    spec("stripe", Layout::List { ts: Some("t"), label: "v1", sep: ',', assign: '=' }, Enc::Hex, true),
    with_ts(spec("slack", Layout::Prefix("v0="), Enc::Hex, false), "X-Slack-Request-Timestamp"),
    with_id(with_ts(spec("standard-webhooks", SW_LIST, Enc::Base64, true), "webhook-timestamp"), "webhook-id"),
    with_id(with_ts(spec("svix", SW_LIST, Enc::Base64, true), "svix-timestamp"), "svix-id"),
    with_id(with_ts(spec("clerk", SW_LIST, Enc::Base64, true), "svix-timestamp"), "svix-id"),
    with_id(with_ts(spec("resend", SW_LIST, Enc::Base64, true), "svix-timestamp"), "svix-id"),
    spec("shopify", Layout::Bare, Enc::Base64, false),
    spec("gitlab", Layout::Token, Enc::Text, false),
    with_id(with_ts(spec("gitlab-signing", SW_LIST, Enc::Base64, true), "webhook-timestamp"), "webhook-id"),
    with_url(spec("twilio", Layout::Bare, Enc::Base64, false)),
    with_ts(spec("discord", Layout::Bare, Enc::Hex, true), "X-Signature-Timestamp"),
    with_url(spec("square", Layout::Bare, Enc::Base64, true)),
    spec("paddle", Layout::List { ts: Some("ts"), label: "h1", sep: ';', assign: '=' }, Enc::Hex, true),
    with_ts(spec("zoom", Layout::Prefix("v0="), Enc::Hex, true), "x-zm-request-timestamp"),
    spec("linear", Layout::Bare, Enc::Hex, true),
    with_id(
        with_ts(spec("twitch", Layout::Prefix("sha256="), Enc::Hex, true), "Twitch-Eventsub-Message-Timestamp"),
        "Twitch-Eventsub-Message-Id",
    ),
    spec("mailgun", Layout::InBody, Enc::Hex, true),
    spec("intercom", Layout::Prefix("sha1="), Enc::Hex, true),
    spec("bitbucket", Layout::Prefix("sha256="), Enc::Hex, true),
    with_ts(spec("sendgrid", Layout::Bare, Enc::Base64, true), "X-Twilio-Email-Event-Webhook-Timestamp"),
    spec("meta", Layout::Prefix("sha256="), Enc::Hex, true),
    spec("typeform", Layout::Prefix("sha256="), Enc::Base64, true),
    spec("pagerduty", Layout::List { ts: None, label: "v1", sep: ',', assign: '=' }, Enc::Hex, true),
    spec("razorpay", Layout::Bare, Enc::Hex, true),
    spec("line", Layout::Bare, Enc::Base64, true),
    spec("coinbase-commerce", Layout::Bare, Enc::Hex, true),
    spec("gocardless", Layout::Bare, Enc::Hex, true),
    spec("mux", Layout::List { ts: Some("t"), label: "v1", sep: ',', assign: '=' }, Enc::Hex, true),
    spec("workos", Layout::List { ts: Some("t"), label: "v1", sep: ',', assign: '=' }, Enc::Hex, true),
    with_id(with_ts(spec("openai", SW_LIST, Enc::Base64, true), "webhook-timestamp"), "webhook-id"),
    with_id(with_ts(spec("replicate", SW_LIST, Enc::Base64, true), "webhook-timestamp"), "webhook-id"),
    with_ts(spec("telnyx", Layout::Bare, Enc::Base64, true), "telnyx-timestamp"),
    spec("elevenlabs", Layout::List { ts: Some("t"), label: "v0", sep: ',', assign: '=' }, Enc::Hex, true),
    with_url(with_ts(spec("hubspot", Layout::Bare, Enc::Base64, true), "X-HubSpot-Request-Timestamp")),
    with_ts(spec("webflow", Layout::Bare, Enc::Hex, true), "x-webflow-timestamp"),
    spec("paystack", Layout::Bare, Enc::Hex, true),
    spec("vercel", Layout::Bare, Enc::Hex, true),
    spec("sentry", Layout::Bare, Enc::Hex, true),
    spec("lemonsqueezy", Layout::Bare, Enc::Hex, true),
    spec("alchemy", Layout::Bare, Enc::Hex, true),
    spec("woocommerce", Layout::Bare, Enc::Base64, false),
    spec("segment", Layout::Bare, Enc::Hex, true),
    with_url(spec("trello", Layout::Bare, Enc::Base64, true)),
    spec("xero", Layout::Bare, Enc::Base64, true),
    spec("dropbox", Layout::Bare, Enc::Hex, true),
    spec("x", Layout::Prefix("sha256="), Enc::Base64, true),
    spec("calendly", Layout::List { ts: Some("t"), label: "v1", sep: ',', assign: '=' }, Enc::Hex, true),
    with_ts(spec("zendesk", Layout::Bare, Enc::Base64, false), "X-Zendesk-Webhook-Signature-Timestamp"),
    basic("postmark"),
    basic("chargebee"),
    basic("pipedrive"),
    spec("okta", Layout::Token, Enc::Text, false),
    spec("notion", Layout::Prefix("sha256="), Enc::Hex, true),
    spec("adyen", Layout::InBody, Enc::Base64, true),
    with_ts(spec("box", Layout::Bare, Enc::Base64, true), "box-delivery-timestamp"),
    spec("docusign", Layout::Bare, Enc::Base64, true),
    with_url(spec("mandrill", Layout::Bare, Enc::Base64, false)),
    with_ts(spec("front", Layout::Bare, Enc::Base64, true), "x-front-request-timestamp"),
    repeatable(spec("mollie", Layout::Prefix("sha256="), Enc::Hex, true)),
    spec("persona", Layout::List { ts: Some("t"), label: "v1", sep: ',', assign: '=' }, Enc::Hex, true),
    with_id(
        with_ts(with_url(spec("contentful", Layout::Bare, Enc::Hex, false)), "x-contentful-timestamp"),
        "x-contentful-signed-headers",
    ),
    with_id(spec("klaviyo", Layout::Bare, Enc::Hex, true), "Klaviyo-Timestamp"),
    spec("sanity", Layout::List { ts: Some("t"), label: "v1", sep: ',', assign: '=' }, Enc::Base64Url, true),
    spec("recurly", Layout::Leading { sep: ',' }, Enc::Hex, true),
    spec("easypost", Layout::Prefix("hmac-sha256-hex="), Enc::Hex, true),
    spec("gitea", Layout::Bare, Enc::Hex, true),
    with_ts(spec("customerio", Layout::Bare, Enc::Hex, true), "X-CIO-Timestamp"),
    spec("calcom", Layout::Bare, Enc::Hex, false),
    spec("pusher", Layout::Bare, Enc::Hex, true),
    spec("onfido", Layout::Bare, Enc::Hex, true),
    spec("stream-chat", Layout::Bare, Enc::Hex, true),
    with_ts(spec("frameio", Layout::Prefix("v0="), Enc::Hex, true), "X-Frameio-Request-Timestamp"),
    spec("airtable", Layout::Prefix("hmac-sha256="), Enc::Hex, true),
    spec("helpscout", Layout::Bare, Enc::Base64, true),
    spec("webex", Layout::Bare, Enc::Hex, true),
    verify_only(spec("aws-sns", Layout::InBody, Enc::Base64, true)),
    verify_only(spec("paypal", Layout::Bare, Enc::Base64, true)),
    spec("fusionauth", Layout::Bare, Enc::Text, true),
];

fn spec_of(p: Provider) -> &'static Spec {
    SPECS.iter().find(|s| s.name == p.name()).unwrap_or_else(|| panic!("no test spec for provider {}", p.name()))
}

/// The key number `n` of a provider, as text where the provider has a text form.
enum Key {
    Text(String),
    Made(Box<Secret>),
}

fn key(spec: &Spec, n: u8) -> Key {
    match spec.name {
        "discord" | "telnyx" => Key::Text(format!("seed:{}", hex::encode([n; 32]))),
        "adyen" => Key::Text(hex::encode_upper([n; 32])),
        "airtable" => Key::Text(base64::engine::general_purpose::STANDARD.encode([n; 32])),
        "sendgrid" => Key::Made(Box::new(Secret::p256_private(&[n; 32]).unwrap())),
        "standard-webhooks" | "svix" | "clerk" | "resend" | "openai" | "replicate" => {
            Key::Text(format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode([n; 24])))
        }
        name => Key::Text(format!("{name}-secret-number-{n}-do-not-leak")),
    }
}

/// Texts an error message must never contain for this key.
fn key_texts(spec: &Spec, n: u8) -> Vec<String> {
    let mut out = match key(spec, n) {
        Key::Text(t) => vec![t.clone(), t.trim_start_matches("whsec_").trim_start_matches("seed:").to_owned()],
        Key::Made(_) => vec![],
    };
    out.push(hex::encode([n; 32]));
    out
}

fn add_key(b: VerifierBuilder, spec: &Spec, n: u8, until: Option<SystemTime>) -> VerifierBuilder {
    match (key(spec, n), until) {
        (Key::Text(t), None) => b.secret(&t),
        (Key::Text(t), Some(u)) => b.secret_until(&t, u),
        (Key::Made(s), None) => b.key(*s),
        (Key::Made(s), Some(u)) => b.key(s.valid_until(u)),
    }
}

fn provider(spec: &Spec) -> Provider {
    Provider::from_name(spec.name).unwrap()
}

fn verifier(spec: &Spec, keys: &[(u8, Option<SystemTime>)]) -> Verifier {
    let mut b = Verifier::builder(provider(spec));
    for &(n, until) in keys {
        b = add_key(b, spec, n, until);
    }
    b.build().unwrap()
}

/// A body every provider accepts, signed at `ts` (Linear reads its timestamp from it).
fn body(spec: &Spec, ts: u64) -> Vec<u8> {
    match spec.name {
        "twilio" => format!("CallSid=CA1234567890ABCDE&Digits=1234&From=%2B14158675309&Sent={ts}").into_bytes(),
        // Klaviyo's window is its body's `meta.timestamp`.
        "klaviyo" => format!(
            r#"{{"data":[{{"topic":"event:klaviyo.received_email","external_id":"evt_neg_1"}}],"meta":{{"timestamp":"{}"}}}}"#,
            humantime::format_rfc3339_micros(at(ts))
        )
        .into_bytes(),
        _ => format!(
            r#"{{"id":"evt_neg_1","type":"test.event","event_id":"evt_neg_1","webhookTimestamp":{}}}"#,
            u128::from(ts) * 1000
        )
        .into_bytes(),
    }
}

fn sign(v: &Verifier, spec: &Spec, body: &[u8], ts: u64) -> Signed {
    let mut req = SignRequest::new(body, at(ts)).event_type("test.event");
    if spec.url {
        req = req.url(URL);
    }
    v.sign(&req).unwrap_or_else(|e| panic!("{}: sign failed: {e}", spec.name))
}

type Headers = Vec<(String, Vec<u8>)>;

fn headers_of(signed: &Signed) -> Headers {
    signed.headers().iter().map(|(k, v)| ((*k).to_owned(), v.clone().into_bytes())).collect()
}

fn verify(v: &Verifier, spec: &Spec, headers: &Headers, body: &[u8], now: u64) -> Result<Verified, VerifyError> {
    let mut req = WebhookRequest::new(headers, body.to_vec());
    if spec.url {
        req = req.with_url(URL);
    }
    v.verify(&req, at(now))
}

/// The status each kind must have, from the design's status table (not from the crate).
fn status_for(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::MissingHeader | ErrorKind::MalformedHeader | ErrorKind::MalformedBody | ErrorKind::BodyNotJson => {
            400
        }
        ErrorKind::Configuration => 500,
        _ => 401,
    }
}

/// Parts of a signed delivery that must never appear in an error message: each encoded
/// signature, the whole signature header, and the body.
fn secrets_of(spec: &Spec, signed: &Signed, key_numbers: &[u8]) -> Vec<String> {
    let mut out: Vec<String> = key_numbers.iter().flat_map(|n| key_texts(spec, *n)).collect();
    let mut scan = |value: &str| {
        out.push(value.to_owned());
        for token in value.split([',', ';', ' ', '=', '"', ':', '{', '}']) {
            if token.len() >= 16 {
                out.push(token.to_owned());
            }
        }
    };
    match provider(spec).signature_header() {
        Some(h) => scan(signed.header(h).unwrap()),
        None => scan(std::str::from_utf8(signed.body()).unwrap()),
    }
    out
}

/// Collects failures so that one run reports every provider that misbehaves.
#[derive(Default)]
struct Report {
    failures: Vec<String>,
    checked: usize,
}

impl Report {
    fn ok(&mut self, ctx: &str, res: Result<Verified, VerifyError>) -> Option<Verified> {
        self.checked += 1;
        match res {
            Ok(v) => Some(v),
            Err(e) => {
                self.failures.push(format!("{ctx}: expected ok, got {:?}: {e}", e.kind()));
                None
            }
        }
    }

    fn err(&mut self, ctx: &str, res: Result<Verified, VerifyError>, kind: ErrorKind, never: &[String]) {
        self.checked += 1;
        match res {
            Ok(_) => self.failures.push(format!("{ctx}: verified, expected {kind:?}")),
            Err(e) => {
                if e.kind() != kind {
                    self.failures.push(format!("{ctx}: expected {kind:?}, got {:?}: {e}", e.kind()));
                }
                if e.status().as_u16() != status_for(e.kind()) {
                    self.failures.push(format!("{ctx}: {:?} answered {}", e.kind(), e.status()));
                }
                self.no_leak(ctx, &e, never);
            }
        }
    }

    /// Some refusal, of any kind (used where several kinds are defensible).
    fn refused(&mut self, ctx: &str, res: Result<Verified, VerifyError>, never: &[String]) -> Option<VerifyError> {
        self.checked += 1;
        match res {
            Ok(_) => {
                self.failures.push(format!("{ctx}: verified, expected a refusal"));
                None
            }
            Err(e) => {
                if e.status().as_u16() != status_for(e.kind()) {
                    self.failures.push(format!("{ctx}: {:?} answered {}", e.kind(), e.status()));
                }
                self.no_leak(ctx, &e, never);
                Some(e)
            }
        }
    }

    fn no_leak(&mut self, ctx: &str, e: &VerifyError, never: &[String]) {
        let shown = format!("{e} {e:?}");
        for s in never.iter().filter(|s| s.len() >= 8) {
            if shown.contains(s.as_str()) {
                self.failures.push(format!("{ctx}: error message {shown:?} contains {s:?}"));
            }
        }
    }

    fn check(&mut self, ctx: &str, cond: bool, what: impl FnOnce() -> String) {
        self.checked += 1;
        if !cond {
            self.failures.push(format!("{ctx}: {}", what()));
        }
    }

    fn finish(self, min_checks: usize) {
        assert!(self.failures.is_empty(), "{} failures:\n{}", self.failures.len(), self.failures.join("\n"));
        assert!(self.checked >= min_checks, "only {} checks ran, expected at least {min_checks}", self.checked);
    }
}

/// `headers` with `name` set to `value` (see [`set`]).
fn with_header(headers: &Headers, name: &str, value: impl Into<Vec<u8>>) -> Headers {
    let mut h = headers.clone();
    set(&mut h, name, value);
    h
}

fn set(headers: &mut Headers, name: &str, value: impl Into<Vec<u8>>) {
    let value = value.into();
    let mut found = false;
    for (k, v) in headers.iter_mut() {
        if k.eq_ignore_ascii_case(name) {
            *v = value.clone();
            found = true;
        }
    }
    assert!(found, "no header {name} to replace");
}

fn remove(headers: &mut Headers, name: &str) {
    let before = headers.len();
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    assert!(headers.len() < before, "no header {name} to remove");
}

fn value(headers: &Headers, name: &str) -> String {
    let v = &headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).unwrap().1;
    String::from_utf8(v.clone()).unwrap()
}

/// The list items of a list-layout value, rewritten by `f` (`None` drops the item).
fn map_items(value: &str, sep: char, f: impl Fn(&str) -> Option<String>) -> String {
    value.split(sep).filter_map(f).collect::<Vec<_>>().join(&sep.to_string())
}

#[test]
fn every_provider_has_a_spec() {
    let names: BTreeSet<&str> = Provider::all().iter().map(Provider::name).collect();
    let specs: BTreeSet<&str> = SPECS.iter().map(|s| s.name).collect();
    assert_eq!(names, specs);
    for p in Provider::all() {
        let s = spec_of(*p);
        assert_eq!(p.signature_header().is_none(), s.layout == Layout::InBody, "{}", s.name);
    }
}

#[test]
fn signature_header_mutations() {
    let mut r = Report::default();
    for p in Provider::all() {
        let spec = spec_of(*p);
        if !spec.signable {
            continue;
        }
        let Some(sig_name) = p.signature_header() else {
            continue;
        };
        let v = verifier(spec, &[(1, None)]);
        let body = body(spec, T0);
        let signed = sign(&v, spec, &body, T0);
        let good = headers_of(&signed);
        let never = secrets_of(spec, &signed, &[1]);
        let sig = value(&good, sig_name);
        let n = spec.name;
        let ctx = |what: &str| format!("{n}: {what}");

        r.ok(&ctx("the valid delivery"), verify(&v, spec, &good, &body, T0));

        // Header names are case-insensitive.
        let mut h = good.clone();
        for (k, _) in h.iter_mut() {
            *k = k.to_ascii_uppercase();
        }
        r.ok(&ctx("upper-case header names"), verify(&v, spec, &h, &body, T0));

        // The same delivery through http::HeaderMap.
        let mut map = http::HeaderMap::new();
        for (k, val) in &good {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(val).unwrap(),
            );
        }
        let mut req = WebhookRequest::new(&map, body.clone());
        if spec.url {
            req = req.with_url(URL);
        }
        r.ok(&ctx("through http::HeaderMap"), v.verify(&req, at(T0)));

        let mut h = good.clone();
        remove(&mut h, sig_name);
        r.err(&ctx("signature header missing"), verify(&v, spec, &h, &body, T0), ErrorKind::MissingHeader, &never);

        let h = with_header(&good, sig_name, "");
        r.err(&ctx("signature header empty"), verify(&v, spec, &h, &body, T0), ErrorKind::MalformedHeader, &never);

        let mut h = good.clone();
        h.push((sig_name.to_owned(), sig.clone().into_bytes()));
        let mut h2 = good.clone();
        h2.push((sig_name.to_ascii_lowercase(), b"sha256=0000".to_vec()));
        if spec.repeatable {
            // One value per key: the good one among them verifies; only bad ones do not.
            r.ok(&ctx("signature header repeated"), verify(&v, spec, &h, &body, T0));
            r.ok(&ctx("signature header repeated with another value"), verify(&v, spec, &h2, &body, T0));
            let mut h3 = good.clone();
            set(&mut h3, sig_name, "sha256=0000");
            h3.push((sig_name.to_owned(), b"sha256=1111".to_vec()));
            r.err(
                &ctx("only wrong repeated values"),
                verify(&v, spec, &h3, &body, T0),
                ErrorKind::SignatureMismatch,
                &never,
            );
        } else {
            r.err(
                &ctx("signature header repeated"),
                verify(&v, spec, &h, &body, T0),
                ErrorKind::MalformedHeader,
                &never,
            );
            r.err(
                &ctx("signature header repeated with another value"),
                verify(&v, spec, &h2, &body, T0),
                ErrorKind::MalformedHeader,
                &never,
            );
        }

        // Truncated: whole characters of the encoding dropped, so what is left still decodes.
        let cut = match spec.enc {
            Enc::Hex => 2,
            Enc::Base64 => 4,
            // 43 characters for 32 bytes: 40 left are 30 whole bytes.
            Enc::Base64Url => 3,
            Enc::Text => 3,
        };
        let h = with_header(&good, sig_name, &sig[..sig.len() - cut]);
        r.err(&ctx("signature truncated"), verify(&v, spec, &h, &body, T0), ErrorKind::SignatureMismatch, &never);

        // One character short of a whole byte: a hex signature of odd length is unreadable.
        if spec.enc == Enc::Hex {
            let h = with_header(&good, sig_name, &sig[..sig.len() - 1]);
            r.err(
                &ctx("hex signature of odd length"),
                verify(&v, spec, &h, &body, T0),
                ErrorKind::MalformedHeader,
                &never,
            );
        }

        // The right signature, for another body (GitLab's plaintext token signs no body).
        let other = sign(&v, spec, &self::body(spec, T0 + 1), T0);
        let mut h = with_header(&good, sig_name, other.header(sig_name).unwrap());
        if let Some(ts) = spec.ts_header {
            set(&mut h, ts, value(&good, ts));
        }
        if !spec.body_signed {
            r.ok(&ctx("the token does not depend on the body"), verify(&v, spec, &h, &body, T0));
        } else {
            r.err(
                &ctx("a signature of another body"),
                verify(&v, spec, &h, &body, T0),
                ErrorKind::SignatureMismatch,
                &never,
            );
        }

        // The right layout, signed by another key.
        let stranger = verifier(spec, &[(9, None)]);
        let foreign = headers_of(&sign(&stranger, spec, &body, T0));
        r.err(
            &ctx("signed with an unknown key"),
            verify(&v, spec, &foreign, &body, T0),
            ErrorKind::SignatureMismatch,
            &never,
        );

        let garbage = "not a signature!";
        let h = with_header(&good, sig_name, garbage);
        let kind = if spec.layout == Layout::Token { ErrorKind::SignatureMismatch } else { ErrorKind::MalformedHeader };
        r.err(&ctx("garbage signature"), verify(&v, spec, &h, &body, T0), kind, &never);

        let h = with_header(&good, sig_name, vec![0xff, 0xfe, b'=', 0x80]);
        r.err(&ctx("non-UTF-8 signature"), verify(&v, spec, &h, &body, T0), kind, &never);

        match spec.layout {
            Layout::Prefix(prefix) => {
                let encoded = &sig[prefix.len()..];
                for wrong in ["sha512=", "v2=", "SHA256=", ""] {
                    if wrong == prefix {
                        continue;
                    }
                    if wrong.is_empty() && spec.repeatable {
                        let h = with_header(&good, sig_name, encoded);
                        r.ok(&ctx("no prefix (optional)"), verify(&v, spec, &h, &body, T0));
                        continue;
                    }
                    let h = with_header(&good, sig_name, format!("{wrong}{encoded}"));
                    r.err(
                        &ctx(&format!("prefix {wrong:?} instead of {prefix:?}")),
                        verify(&v, spec, &h, &body, T0),
                        ErrorKind::MalformedHeader,
                        &never,
                    );
                }
                let h = with_header(&good, sig_name, prefix);
                r.err(
                    &ctx("prefix with no signature"),
                    verify(&v, spec, &h, &body, T0),
                    ErrorKind::MalformedHeader,
                    &never,
                );
            }
            Layout::Bare => {
                for wrong in ["sha256=", "v1,", "v1="] {
                    let h = with_header(&good, sig_name, format!("{wrong}{sig}"));
                    r.err(
                        &ctx(&format!("unexpected prefix {wrong:?}")),
                        verify(&v, spec, &h, &body, T0),
                        ErrorKind::MalformedHeader,
                        &never,
                    );
                }
            }
            Layout::List { ts, label, sep, assign } => {
                let sig_item = format!("{label}{assign}");
                let relabel = |new_label: &str| {
                    map_items(&sig, sep, |item| {
                        Some(match item.strip_prefix(&sig_item) {
                            Some(rest) => format!("{new_label}{assign}{rest}"),
                            None => item.to_owned(),
                        })
                    })
                };
                // (`v1a` is a known label in Standard Webhooks: see `standard_webhooks_versions`.)
                for wrong in ["v2", "v0", "h2", "V1", "v11"] {
                    if wrong == label {
                        continue;
                    }
                    let h = with_header(&good, sig_name, relabel(wrong));
                    r.err(
                        &ctx(&format!("version label {wrong:?} instead of {label:?}")),
                        verify(&v, spec, &h, &body, T0),
                        ErrorKind::MalformedHeader,
                        &never,
                    );
                }
                // `v1,` with nothing after it: the Standard Webhooks bug that once verified.
                let empty = map_items(&sig, sep, |item| {
                    Some(if item.starts_with(&sig_item) { sig_item.clone() } else { item.to_owned() })
                });
                let h = with_header(&good, sig_name, empty.clone());
                r.err(
                    &ctx(&format!("empty signature item ({empty:?})")),
                    verify(&v, spec, &h, &body, T0),
                    ErrorKind::MalformedHeader,
                    &never,
                );
                // A wrong signature beside the right one still verifies (rotation); two
                // wrong ones do not.
                let h = with_header(&good, sig_name, format!("{sig}{sep}{label}{assign}{}", &sig[sig.len() - 8..]));
                r.ok(&ctx("an extra wrong signature item is ignored"), verify(&v, spec, &h, &body, T0));
                if let Some(ts) = ts {
                    let ts_item = format!("{ts}{assign}");
                    let no_ts = map_items(&sig, sep, |item| (!item.starts_with(&ts_item)).then(|| item.to_owned()));
                    let h = with_header(&good, sig_name, no_ts);
                    r.err(
                        &ctx("no timestamp item"),
                        verify(&v, spec, &h, &body, T0),
                        ErrorKind::MalformedHeader,
                        &never,
                    );
                    let twice = format!("{ts_item}{T0}{sep}{sig}");
                    let h = with_header(&good, sig_name, twice);
                    r.err(
                        &ctx("two timestamp items"),
                        verify(&v, spec, &h, &body, T0),
                        ErrorKind::MalformedHeader,
                        &never,
                    );
                    let bad_ts = map_items(&sig, sep, |item| {
                        Some(if item.starts_with(&ts_item) { format!("{ts_item}soon") } else { item.to_owned() })
                    });
                    let h = with_header(&good, sig_name, bad_ts);
                    r.err(
                        &ctx("timestamp item not a number"),
                        verify(&v, spec, &h, &body, T0),
                        ErrorKind::MalformedHeader,
                        &never,
                    );
                }
            }
            Layout::Leading { sep } => {
                let (ts, hmac) = sig.split_once(sep).unwrap();
                for (what, wrong) in [
                    ("no signature after the timestamp", ts.to_owned()),
                    ("an empty signature item", format!("{ts}{sep}")),
                    ("no timestamp", format!("{sep}{hmac}")),
                    ("the signature alone", hmac.to_owned()),
                    ("timestamp not a number", format!("soon{sep}{hmac}")),
                    ("signature before the timestamp", format!("{hmac}{sep}{ts}")),
                    ("labelled items", format!("t={ts}{sep}v1={hmac}")),
                ] {
                    let h = with_header(&good, sig_name, wrong);
                    r.err(&ctx(what), verify(&v, spec, &h, &body, T0), ErrorKind::MalformedHeader, &never);
                }
                // A wrong signature beside the right one still verifies (rotation), in
                // either order; two wrong ones do not.
                let wrong = "ab".repeat(32);
                for value in [format!("{sig}{sep}{wrong}"), format!("{ts}{sep}{wrong}{sep}{hmac}")] {
                    let h = with_header(&good, sig_name, value);
                    r.ok(&ctx("an extra wrong signature is ignored"), verify(&v, spec, &h, &body, T0));
                }
                let h = with_header(&good, sig_name, format!("{ts}{sep}{wrong}{sep}{}", "cd".repeat(32)));
                r.err(
                    &ctx("two wrong signatures"),
                    verify(&v, spec, &h, &body, T0),
                    ErrorKind::SignatureMismatch,
                    &never,
                );
                // The timestamp is signed: another one with the same signature does not verify.
                let h = with_header(&good, sig_name, format!("{}{sep}{hmac}", T0 * 1000 + 1));
                r.err(&ctx("another timestamp"), verify(&v, spec, &h, &body, T0), ErrorKind::SignatureMismatch, &never);
            }
            Layout::Token => {
                let h = with_header(&good, sig_name, format!("{sig}x"));
                r.err(
                    &ctx("token with an extra byte"),
                    verify(&v, spec, &h, &body, T0),
                    ErrorKind::SignatureMismatch,
                    &never,
                );
            }
            Layout::InBody => unreachable!(),
        }
    }
    r.finish(300);
}

#[test]
fn other_required_headers() {
    let mut r = Report::default();
    for p in Provider::all() {
        let spec = spec_of(*p);
        if !spec.signable {
            continue;
        }
        let v = verifier(spec, &[(1, None)]);
        let body = body(spec, T0);
        let signed = sign(&v, spec, &body, T0);
        let good = headers_of(&signed);
        let never = secrets_of(spec, &signed, &[1]);
        let n = spec.name;
        let ctx = |what: &str| format!("{n}: {what}");

        if let Some(ts) = spec.ts_header {
            let mut h = good.clone();
            remove(&mut h, ts);
            r.err(&ctx("timestamp header missing"), verify(&v, spec, &h, &body, T0), ErrorKind::MissingHeader, &never);

            let h = with_header(&good, ts, "");
            r.err(&ctx("timestamp header empty"), verify(&v, spec, &h, &body, T0), ErrorKind::MalformedHeader, &never);

            let mut h = good.clone();
            h.push((ts.to_owned(), value(&good, ts).into_bytes()));
            r.err(
                &ctx("timestamp header repeated"),
                verify(&v, spec, &h, &body, T0),
                ErrorKind::MalformedHeader,
                &never,
            );

            for bad in ["yesterday", "-5", "1e9", " 1700000000", "99999999999999999999"] {
                let h = with_header(&good, ts, bad);
                r.err(
                    &ctx(&format!("timestamp {bad:?}")),
                    verify(&v, spec, &h, &body, T0),
                    ErrorKind::MalformedHeader,
                    &never,
                );
            }

            // A valid timestamp that was not the one signed.
            let mut h = good.clone();
            let shifted = headers_of(&sign(&v, spec, &body, T0 + 1));
            set(&mut h, ts, value(&shifted, ts));
            r.err(&ctx("another timestamp"), verify(&v, spec, &h, &body, T0), ErrorKind::SignatureMismatch, &never);
        }

        if let Some(id) = spec.signed_id {
            let mut h = good.clone();
            remove(&mut h, id);
            r.err(&ctx("signed id header missing"), verify(&v, spec, &h, &body, T0), ErrorKind::MissingHeader, &never);

            let h = with_header(&good, id, "");
            r.err(&ctx("signed id header empty"), verify(&v, spec, &h, &body, T0), ErrorKind::MalformedHeader, &never);

            let mut h = good.clone();
            h.push((id.to_owned(), b"msg_other".to_vec()));
            r.err(
                &ctx("signed id header repeated"),
                verify(&v, spec, &h, &body, T0),
                ErrorKind::MalformedHeader,
                &never,
            );

            let h = with_header(&good, id, "msg_other");
            r.err(&ctx("another id"), verify(&v, spec, &h, &body, T0), ErrorKind::SignatureMismatch, &never);
        }

        if spec.url {
            let req = WebhookRequest::new(&good, body.clone());
            r.err(&ctx("no URL"), v.verify(&req, at(T0)), ErrorKind::Configuration, &never);
            let req = WebhookRequest::new(&good, body.clone()).with_url("https://example.com/hooks/other?tenant=7");
            r.err(&ctx("another URL"), v.verify(&req, at(T0)), ErrorKind::SignatureMismatch, &never);
        }

        // Unsigned headers the provider sends (id, event type) are optional.
        let sig_name = p.signature_header();
        let required: Vec<&str> = sig_name.into_iter().chain(spec.ts_header).chain(spec.signed_id).collect();
        let optional: Vec<String> = good
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !required.iter().any(|r| r.eq_ignore_ascii_case(k)) && k != "Content-Type")
            .collect();
        if !optional.is_empty() {
            let mut h = good.clone();
            for name in &optional {
                remove(&mut h, name);
            }
            r.ok(&ctx(&format!("without the optional headers {optional:?}")), verify(&v, spec, &h, &body, T0));
        }
    }
    r.finish(80);
}

#[test]
fn mailgun_body_signature() {
    let spec = spec_of(providers::MAILGUN);
    let v = verifier(spec, &[(1, None)]);
    let signed = sign(&v, spec, br#"{"id":"evt_mg","event":"delivered"}"#, T0);
    let never = secrets_of(spec, &signed, &[1]);
    let envelope: serde_json::Value = serde_json::from_slice(signed.body()).unwrap();
    let mut r = Report::default();
    let run = |env: &serde_json::Value| {
        let body = serde_json::to_vec(env).unwrap();
        let headers: Headers = vec![];
        verify(&v, spec, &headers, &body, T0)
    };
    let token = envelope["signature"]["token"].as_str().unwrap().to_owned();
    let d = r.ok("mailgun: as signed", run(&envelope)).unwrap();
    // The delivery id is the signed token; the unsigned event-data.id is metadata.
    assert_eq!((d.id(), d.event_id(), d.event_type()), (Some(token.as_str()), Some("evt_mg"), Some("delivered")));

    let mut e = envelope.clone();
    e.as_object_mut().unwrap().remove("signature");
    r.err("mailgun: no signature object", run(&e), ErrorKind::MalformedBody, &never);
    for field in ["timestamp", "token", "signature"] {
        let mut e = envelope.clone();
        e["signature"].as_object_mut().unwrap().remove(field);
        r.err(&format!("mailgun: no signature.{field}"), run(&e), ErrorKind::MalformedBody, &never);
    }
    let sig = envelope["signature"]["signature"].as_str().unwrap().to_owned();
    for (what, bad) in [("empty", String::new()), ("truncated", sig[..62].to_owned()), ("not hex", "zz".repeat(32))] {
        let mut e = envelope.clone();
        e["signature"]["signature"] = bad.into();
        r.err(&format!("mailgun: signature {what}"), run(&e), ErrorKind::MalformedBody, &never);
    }
    let mut e = envelope.clone();
    e["signature"]["signature"] = "00".repeat(32).into();
    r.err("mailgun: wrong signature", run(&e), ErrorKind::SignatureMismatch, &never);
    let mut e = envelope.clone();
    e["signature"]["token"] = "b".repeat(50).into();
    r.err("mailgun: another token", run(&e), ErrorKind::SignatureMismatch, &never);
    let mut e = envelope.clone();
    e["signature"]["token"] = "".into();
    r.err("mailgun: empty token", run(&e), ErrorKind::MalformedBody, &never);
    let mut e = envelope.clone();
    e["signature"]["timestamp"] = "soon".into();
    r.err("mailgun: timestamp not a number", run(&e), ErrorKind::MalformedBody, &never);
    let mut e = envelope.clone();
    e["signature"]["timestamp"] = (T0 + 1).to_string().into();
    r.err("mailgun: another timestamp", run(&e), ErrorKind::SignatureMismatch, &never);
    // The event data is not signed (docs/PROVIDERS.md, Mailgun): changing it still verifies.
    let mut e = envelope.clone();
    e["event-data"]["event"] = "opened".into();
    let d = r.ok("mailgun: event data changed", run(&e)).unwrap();
    assert_eq!(d.event_type(), Some("opened"));
    // Event data of an unexpected shape does not hide the signature: the delivery verifies,
    // deduplicated on its token, with no event type.
    for (what, data) in [
        ("id and event not strings", serde_json::json!({"id": 7, "event": {"name": "delivered"}})),
        ("not an object", serde_json::json!("delivered")),
    ] {
        let mut e = envelope.clone();
        e["event-data"] = data;
        let d = r.ok(&format!("mailgun: event data {what}"), run(&e)).unwrap();
        assert_eq!((d.id(), d.event_id(), d.event_type()), (Some(token.as_str()), None, None));
    }
    // An array is not an envelope (serde's derived structs would read one field by field).
    let as_array = serde_json::json!([envelope["signature"].clone(), envelope["event-data"].clone()]);
    r.err("mailgun: envelope as an array", run(&as_array), ErrorKind::MalformedBody, &never);
    let mut e = envelope.clone();
    e["signature"] = serde_json::json!([
        envelope["signature"]["timestamp"].clone(),
        envelope["signature"]["token"].clone(),
        envelope["signature"]["signature"].clone()
    ]);
    r.err("mailgun: signature fields as an array", run(&e), ErrorKind::MalformedBody, &never);
    // Signing keeps the event data byte for byte (keys in the order given).
    let given = br#"{"z":1,"id":"evt_order","a":[2, 1]}"#;
    let signed_again = sign(&v, spec, given, T0);
    let text = std::str::from_utf8(signed_again.body()).unwrap();
    assert!(text.contains(r#""event-data":{"z":1,"id":"evt_order","a":[2, 1]}"#), "{text}");
    let headers: Headers = vec![];
    r.err(
        "mailgun: body neither JSON nor form",
        verify(&v, spec, &headers, b"\x00\x01 not a body", T0),
        ErrorKind::MalformedBody,
        &never,
    );
    r.finish(19);
}

/// Adyen signs eight fields of each notification item: each of them changed is refused,
/// anything else changed is not (TLS protects it), and every item must verify.
#[test]
fn adyen_items() {
    let spec = spec_of(providers::ADYEN);
    let v = verifier(spec, &[(1, None)]);
    let item = serde_json::json!({
        "pspReference": "7914073381342284", "originalReference": "", "merchantAccountCode": "TestMerchant",
        "merchantReference": "order-1", "amount": {"currency": "EUR", "value": 1130}, "eventCode": "AUTHORISATION",
        "success": "true", "eventDate": "2024-01-01T00:00:00+01:00", "reason": "1234:7777:12/2026",
        "additionalData": {"authCode": "1234"}
    });
    let signed = sign(&v, spec, &serde_json::to_vec(&item).unwrap(), T0);
    let never = secrets_of(spec, &signed, &[1]);
    let envelope: serde_json::Value = serde_json::from_slice(signed.body()).unwrap();
    let run = |env: &serde_json::Value| verify(&v, spec, &vec![], &serde_json::to_vec(env).unwrap(), T0);
    let mut r = Report::default();
    let d = r.ok("adyen: as signed", run(&envelope)).unwrap();
    assert_eq!((d.id(), d.event_type()), (Some("7914073381342284:AUTHORISATION:true"), Some("AUTHORISATION")));
    let at = |e: &mut serde_json::Value| e["notificationItems"][0]["NotificationRequestItem"].clone();
    for (field, value) in [
        ("pspReference", serde_json::json!("7914073381342285")),
        ("originalReference", serde_json::json!("x")),
        ("merchantAccountCode", serde_json::json!("Other")),
        ("merchantReference", serde_json::json!("order-2")),
        ("eventCode", serde_json::json!("CAPTURE")),
        ("success", serde_json::json!("false")),
    ] {
        let mut e = envelope.clone();
        e["notificationItems"][0]["NotificationRequestItem"][field] = value;
        r.err(&format!("adyen: {field} changed"), run(&e), ErrorKind::SignatureMismatch, &never);
    }
    for (field, value) in [("value", serde_json::json!(1131)), ("currency", serde_json::json!("USD"))] {
        let mut e = envelope.clone();
        e["notificationItems"][0]["NotificationRequestItem"]["amount"][field] = value;
        r.err(&format!("adyen: amount.{field} changed"), run(&e), ErrorKind::SignatureMismatch, &never);
    }
    let mut e = envelope.clone();
    e["notificationItems"][0]["NotificationRequestItem"]["reason"] = "changed".into();
    r.ok("adyen: an unsigned field changed", run(&e));
    let mut e = envelope.clone();
    e["notificationItems"][0]["NotificationRequestItem"]["additionalData"]
        .as_object_mut()
        .unwrap()
        .remove("hmacSignature");
    r.err("adyen: no hmacSignature", run(&e), ErrorKind::MalformedBody, &never);
    for bad in ["", "not base64!", &"A".repeat(200)] {
        let mut e = envelope.clone();
        e["notificationItems"][0]["NotificationRequestItem"]["additionalData"]["hmacSignature"] = bad.into();
        r.err(&format!("adyen: hmacSignature {bad:.10?}"), run(&e), ErrorKind::MalformedBody, &never);
    }
    // Two items: both must verify.
    let mut e = envelope.clone();
    let mut forged = at(&mut e);
    forged["pspReference"] = "9999".into();
    e["notificationItems"].as_array_mut().unwrap().push(serde_json::json!({ "NotificationRequestItem": forged }));
    r.err("adyen: a second, forged item", run(&e), ErrorKind::SignatureMismatch, &never);
    let mut e = envelope.clone();
    let again = at(&mut e);
    e["notificationItems"].as_array_mut().unwrap().push(serde_json::json!({ "NotificationRequestItem": again }));
    let d = r.ok("adyen: two signed items", run(&e)).unwrap();
    assert_eq!(d.id(), None, "several items have no single id");
    for (what, env) in [
        ("no items", serde_json::json!({"live": "false", "notificationItems": []})),
        ("items not an array", serde_json::json!({"notificationItems": {}})),
        ("item without NotificationRequestItem", serde_json::json!({"notificationItems": [{"x": 1}]})),
        ("an array", serde_json::json!([envelope])),
    ] {
        r.err(&format!("adyen: {what}"), run(&env), ErrorKind::MalformedBody, &never);
    }
    let stranger = sign(&verifier(spec, &[(9, None)]), spec, &serde_json::to_vec(&item).unwrap(), T0);
    r.err("adyen: another key", verify(&v, spec, &vec![], stranger.body(), T0), ErrorKind::SignatureMismatch, &never);
    r.finish(20);
}

/// Mailgun's replay hole: one real signature block resent inside the window with a fresh,
/// unsigned `event-data.id`. Every copy verifies (the event data is not signed), but every
/// copy has the delivery id of the first, so the dedup store answers it as a duplicate.
#[test]
fn mailgun_replay_with_a_new_event_id_is_a_duplicate() {
    use webhook_core::dedup::{Claim, MemoryDedup};
    let spec = spec_of(providers::MAILGUN);
    let v = verifier(spec, &[(1, None)]);
    let signed = sign(&v, spec, br#"{"id":"evt_original","event":"delivered"}"#, T0);
    let dedup = MemoryDedup::new(1024, Duration::from_secs(3600));
    let start = std::time::Instant::now();
    let key = |d: &Verified| format!("{}:{}", d.provider(), d.id().unwrap());

    let first = verify(&v, spec, &vec![], signed.body(), T0).unwrap();
    assert_eq!(dedup.claim_now(&key(&first), start), Claim::New);
    dedup.complete_now(&key(&first), start);

    let mut replay: serde_json::Value = serde_json::from_slice(signed.body()).unwrap();
    for (n, forged) in ["evt_forged_1", "evt_forged_2"].into_iter().enumerate() {
        replay["event-data"]["id"] = forged.into();
        replay["event-data"]["event"] = "failed".into();
        let body = serde_json::to_vec(&replay).unwrap();
        let again = verify(&v, spec, &vec![], &body, T0 + 60).unwrap();
        assert_eq!(again.event_id(), Some(forged));
        assert_eq!(again.id(), first.id(), "copy {n} must carry the first delivery's id");
        assert_eq!(dedup.claim_now(&key(&again), start), Claim::Duplicate, "copy {n}");
    }
}

/// A subaccount's delivery carries `parent-signature`, the same HMAC under the primary
/// account's key: a receiver configured with either key verifies it.
#[test]
fn mailgun_parent_signature() {
    use hmac::Mac as _;
    let hmac = |key: &str, ts: &str, token: &str| {
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
        m.update(ts.as_bytes());
        m.update(token.as_bytes());
        hex::encode(m.finalize().into_bytes())
    };
    let (sub, parent, token, ts) = ("subaccount-key", "primary-key", "t".repeat(50), T0.to_string());
    let envelope = |sig: String, parent_sig: Option<String>| {
        let mut s = serde_json::json!({"timestamp": ts, "token": token, "signature": sig});
        if let Some(p) = parent_sig {
            s["parent-signature"] = p.into();
        }
        serde_json::to_vec(&serde_json::json!({"signature": s, "event-data": {"id": "e", "event": "delivered"}}))
            .unwrap()
    };
    let body = envelope(hmac(sub, &ts, &token), Some(hmac(parent, &ts, &token)));
    let no_headers: Vec<(String, Vec<u8>)> = vec![];
    let check = |key: &str, body: &[u8]| {
        Verifier::new(providers::MAILGUN, key).unwrap().verify(&WebhookRequest::new(&no_headers, body.to_vec()), at(T0))
    };
    let never = vec![sub.to_owned(), parent.to_owned(), hmac(sub, &ts, &token), hmac(parent, &ts, &token)];
    let mut r = Report::default();
    r.ok("mailgun: subaccount key", check(sub, &body));
    r.ok("mailgun: primary key via parent-signature", check(parent, &body));
    r.err("mailgun: another key", check("stranger", &body), ErrorKind::SignatureMismatch, &never);
    let forged_parent = envelope(hmac(sub, &ts, &token), Some(hmac("stranger", &ts, &token)));
    r.err("mailgun: forged parent-signature", check(parent, &forged_parent), ErrorKind::SignatureMismatch, &never);
    let bad_parent = envelope(hmac(sub, &ts, &token), Some(String::new()));
    r.err("mailgun: empty parent-signature", check(sub, &bad_parent), ErrorKind::MalformedBody, &never);
    let form = format!(
        "timestamp={ts}&token={token}&signature={}&parent-signature={}&event=delivered",
        hmac(sub, &ts, &token),
        hmac(parent, &ts, &token)
    );
    r.ok("mailgun: form with parent-signature", check(parent, form.as_bytes()));
    r.finish(6);
}

#[test]
fn tolerance_edges_for_every_provider_with_a_window() {
    let with_window: BTreeSet<&str> =
        Provider::all().iter().filter(|p| p.default_tolerance().is_some()).map(Provider::name).collect();
    let expected: BTreeSet<&str> = [
        "stripe",
        "slack",
        "standard-webhooks",
        "svix",
        "clerk",
        "resend",
        "gitlab-signing",
        "discord",
        "paddle",
        "zoom",
        "linear",
        "twitch",
        "sendgrid",
        "mailgun",
        "mux",
        "workos",
        "openai",
        "replicate",
        "telnyx",
        "elevenlabs",
        "hubspot",
        "webflow",
        "calendly",
        "zendesk",
        "box",
        "front",
        "persona",
        "contentful",
        "klaviyo",
        "sanity",
        "recurly",
        "customerio",
        "frameio",
    ]
    .into_iter()
    .collect();
    assert_eq!(with_window, expected, "providers that sign a timestamp and have a default window");

    let mut r = Report::default();
    for p in Provider::all() {
        let Some(limit) = p.default_tolerance() else {
            continue;
        };
        let spec = spec_of(*p);
        let limit = limit.as_secs();
        let v = verifier(spec, &[(1, None)]);
        let body = body(spec, T0);
        let signed = sign(&v, spec, &body, T0);
        let never = secrets_of(spec, &signed, &[1]);
        let (h, b) = (headers_of(&signed), signed.body().to_vec());
        let n = spec.name;
        r.ok(&format!("{n}: exactly {limit} s old"), verify(&v, spec, &h, &b, T0 + limit));
        r.ok(&format!("{n}: exactly {limit} s ahead"), verify(&v, spec, &h, &b, T0 - limit));
        r.err(
            &format!("{n}: {} s old", limit + 1),
            verify(&v, spec, &h, &b, T0 + limit + 1),
            ErrorKind::TimestampTooOld,
            &never,
        );
        r.err(
            &format!("{n}: {} s ahead", limit + 1),
            verify(&v, spec, &h, &b, T0 - limit - 1),
            ErrorKind::TimestampInFuture,
            &never,
        );
        // A tighter window set by the user, and none at all.
        let tight = Verifier::builder(*p);
        let tight = add_key(tight, spec, 1, None).tolerance(Duration::from_secs(5)).build().unwrap();
        r.ok(&format!("{n}: 5 s window, 5 s old"), verify(&tight, spec, &h, &b, T0 + 5));
        r.err(
            &format!("{n}: 5 s window, 6 s old"),
            verify(&tight, spec, &h, &b, T0 + 6),
            ErrorKind::TimestampTooOld,
            &never,
        );
        let open = add_key(Verifier::builder(*p), spec, 1, None).no_tolerance().build().unwrap();
        r.ok(&format!("{n}: no window, a year old"), verify(&open, spec, &h, &b, T0 + 365 * 86_400));
        r.ok(&format!("{n}: no window, a day ahead"), verify(&open, spec, &h, &b, T0 - 86_400));
        // The window is checked only after the signature: a stale forgery is a mismatch.
        let forged = sign(&verifier(spec, &[(9, None)]), spec, &body, T0);
        r.err(
            &format!("{n}: stale and forged"),
            verify(&v, spec, &headers_of(&forged), forged.body(), T0 + limit + 1),
            ErrorKind::SignatureMismatch,
            &never,
        );
    }
    r.finish(14 * 8);
}

#[test]
fn providers_without_a_window_accept_old_deliveries() {
    let mut r = Report::default();
    for p in Provider::all().iter().filter(|p| p.default_tolerance().is_none()) {
        let spec = spec_of(*p);
        if !spec.signable {
            continue;
        }
        let v = verifier(spec, &[(1, None)]);
        let body = body(spec, T0);
        let signed = sign(&v, spec, &body, T0);
        let h = headers_of(&signed);
        r.ok(&format!("{}: ten years later", spec.name), verify(&v, spec, &h, signed.body(), T0 + 10 * 365 * 86_400));
    }
    r.finish(8);
}

#[test]
fn rotation_expiry_and_unknown_keys() {
    let mut r = Report::default();
    let expiry = T0 + 1000;
    for p in Provider::all() {
        let spec = spec_of(*p);
        let n = spec.name;
        // New key 2; old key 1 valid until `expiry` (inclusive).
        if !spec.signable {
            continue;
        }
        let v = verifier(spec, &[(2, None), (1, Some(at(expiry)))]);
        let old_signer = verifier(spec, &[(1, None)]);
        let new_signer = verifier(spec, &[(2, None)]);
        let run = |verifier: &Verifier, signer: &Verifier, ts: u64| {
            let body = body(spec, ts);
            let s = sign(signer, spec, &body, ts);
            let never = secrets_of(spec, &s, &[1, 2]);
            (verify(verifier, spec, &headers_of(&s), s.body(), ts), never)
        };

        let (res, _) = run(&v, &old_signer, expiry);
        if let Some(d) = r.ok(&format!("{n}: old key at its expiry"), res) {
            r.check(n, d.key_index() == 1, || format!("old key matched as index {}", d.key_index()));
        }
        let (res, never) = run(&v, &old_signer, expiry + 1);
        r.err(&format!("{n}: old key a second after expiry"), res, ErrorKind::ExpiredKey, &never);
        for ts in [expiry, expiry + 1, expiry + 86_400] {
            let (res, _) = run(&v, &new_signer, ts);
            if let Some(d) = r.ok(&format!("{n}: new key at {ts}"), res) {
                r.check(n, d.key_index() == 0, || format!("new key matched as index {}", d.key_index()));
            }
        }
        // The verifier signs with every key valid at the time: both during the rotation,
        // only the new one after; either way its own deliveries verify.
        for ts in [expiry, expiry + 1] {
            let body = body(spec, ts);
            let s = sign(&v, spec, &body, ts);
            r.ok(&format!("{n}: own signature at {ts}"), verify(&v, spec, &headers_of(&s), s.body(), ts));
        }
        if let Layout::List { label, sep, assign, .. } = spec.layout {
            let during = sign(&v, spec, &body(spec, expiry), expiry);
            let after = sign(&v, spec, &body(spec, expiry + 1), expiry + 1);
            let count = |s: &Signed| {
                let sig_item = format!("{label}{assign}");
                s.header(p.signature_header().unwrap()).unwrap().split(sep).filter(|i| i.starts_with(&sig_item)).count()
            };
            r.check(n, count(&during) == 2, || format!("{} signatures during the rotation", count(&during)));
            r.check(n, count(&after) == 1, || format!("{} signatures after the rotation", count(&after)));
        }
        if let Layout::Leading { sep } = spec.layout {
            let during = sign(&v, spec, &body(spec, expiry), expiry);
            let after = sign(&v, spec, &body(spec, expiry + 1), expiry + 1);
            // Items after the leading timestamp.
            let count = |s: &Signed| s.header(p.signature_header().unwrap()).unwrap().split(sep).count() - 1;
            r.check(n, count(&during) == 2, || format!("{} signatures during the rotation", count(&during)));
            r.check(n, count(&after) == 1, || format!("{} signatures after the rotation", count(&after)));
        }

        // Every key expired.
        let all_expired = verifier(spec, &[(1, Some(at(expiry)))]);
        let (res, never) = run(&all_expired, &new_signer, expiry + 1);
        r.err(&format!("{n}: all keys expired, unknown signer"), res, ErrorKind::UnknownKey, &never);
        let (res, never) = run(&all_expired, &old_signer, expiry + 1);
        r.err(&format!("{n}: all keys expired, signed by the expired key"), res, ErrorKind::ExpiredKey, &never);
        let (res, _) = run(&all_expired, &old_signer, expiry);
        r.ok(&format!("{n}: the only key, at its expiry"), res);
    }
    r.finish(24 * 9);
}

#[test]
fn github_legacy_sha1_only_when_enabled() {
    let secret = "It's a Secret to Everybody";
    let body = b"Hello, World!";
    let sha1 = Verifier::new(providers::GITHUB_SHA1, secret).unwrap().sign(&SignRequest::new(body, at(T0))).unwrap();
    let sha256 = Verifier::new(providers::GITHUB, secret).unwrap().sign(&SignRequest::new(body, at(T0))).unwrap();
    let legacy_value = sha1.header("X-Hub-Signature").unwrap().to_owned();
    assert!(legacy_value.starts_with("sha1=") && legacy_value.len() == 45, "{legacy_value}");
    let only_legacy = [("X-Hub-Signature", legacy_value.as_str())];
    let never = vec![secret.to_owned(), legacy_value.clone(), legacy_value[5..].to_owned()];
    let mut r = Report::default();

    let plain = Verifier::new(providers::GITHUB, secret).unwrap();
    r.err(
        "github without legacy: sha1 header only",
        plain.verify(&WebhookRequest::new(&only_legacy, &body[..]), at(T0)),
        ErrorKind::MissingHeader,
        &never,
    );

    let legacy = Verifier::builder(providers::GITHUB).secret(secret).legacy(providers::GITHUB_SHA1).build().unwrap();
    r.ok("github with legacy: sha1 header only", legacy.verify(&WebhookRequest::new(&only_legacy, &body[..]), at(T0)));
    let mut tampered = legacy_value.clone();
    tampered.replace_range(5..7, if &legacy_value[5..7] == "00" { "11" } else { "00" });
    r.err(
        "github with legacy: wrong sha1",
        legacy.verify(&WebhookRequest::new(&[("X-Hub-Signature", tampered.as_str())], &body[..]), at(T0)),
        ErrorKind::SignatureMismatch,
        &never,
    );
    // When the SHA-256 header is present it decides: a valid SHA-1 cannot rescue a bad one.
    let main = sha256.header("X-Hub-Signature-256").unwrap();
    let both = [("X-Hub-Signature-256", main), ("X-Hub-Signature", legacy_value.as_str())];
    r.ok("github with legacy: both headers", legacy.verify(&WebhookRequest::new(&both, &body[..]), at(T0)));
    let bad_main = format!("sha256={}", "0".repeat(64));
    let bad_both = [("X-Hub-Signature-256", bad_main.as_str()), ("X-Hub-Signature", legacy_value.as_str())];
    r.err(
        "github with legacy: bad sha256 beside a good sha1",
        legacy.verify(&WebhookRequest::new(&bad_both, &body[..]), at(T0)),
        ErrorKind::SignatureMismatch,
        &never,
    );
    r.finish(5);

    // A legacy scheme of another sender is a configuration error.
    assert!(Verifier::builder(providers::STRIPE).secret("s").legacy(providers::GITHUB_SHA1).build().is_err());
    assert!(Verifier::builder(providers::GITHUB).secret("s").legacy(providers::META_SHA1).build().is_err());
    let meta = Verifier::builder(providers::META).secret("s").legacy(providers::META_SHA1).build().unwrap();
    let meta_sha1 = Verifier::new(providers::META_SHA1, "s").unwrap().sign(&SignRequest::new(b"{}", at(T0))).unwrap();
    assert!(meta.verify(&WebhookRequest::new(&meta_sha1, &b"{}"[..]), at(T0)).is_ok());
    assert!(Verifier::new(providers::META, "s")
        .unwrap()
        .verify(&WebhookRequest::new(&meta_sha1, &b"{}"[..]), at(T0))
        .is_err());
}

#[test]
fn stripe_v0_is_never_accepted() {
    let secret = "whsec_test_secret";
    let v = Verifier::new(providers::STRIPE, secret).unwrap();
    let body = br#"{"id":"evt_1","type":"charge.succeeded"}"#;
    let signed = v.sign(&SignRequest::new(body, at(T0))).unwrap();
    let header = signed.header("Stripe-Signature").unwrap();
    let hmac = header.split(",v1=").nth(1).unwrap();
    let never = vec![secret.to_owned(), hmac.to_owned(), header.to_owned()];
    let mut r = Report::default();
    let run = |value: String| {
        let h = [("Stripe-Signature", value)];
        v.verify(&WebhookRequest::new(&h, &body[..]), at(T0))
    };
    r.ok("stripe: v1", run(format!("t={T0},v1={hmac}")));
    // The correct HMAC, labelled v0, is still not a v1 signature.
    r.err("stripe: the right HMAC as v0 only", run(format!("t={T0},v0={hmac}")), ErrorKind::MalformedHeader, &never);
    r.err(
        "stripe: right v0 beside a wrong v1",
        run(format!("t={T0},v1={},v0={hmac}", "0".repeat(64))),
        ErrorKind::SignatureMismatch,
        &never,
    );
    r.ok("stripe: v0 decoy beside the right v1", run(format!("t={T0},v0={},v1={hmac}", "1".repeat(64))));
    r.ok("stripe: upper-case hex", run(format!("t={T0},v1={}", hmac.to_ascii_uppercase())));
    r.finish(5);
}

/// Sanity, on the delivery `@sanity/webhook@4.0.4` signed in sdk_vectors.json: the signature
/// is URL-safe base64 of HMAC-SHA256 over `{t}.{body}`, `t` in milliseconds.
#[test]
fn sanity_url_safe_signature_and_millisecond_timestamp() {
    let secret = "sanity-webhook-secret-for-tests";
    let body = r#"{"_id":"a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d","_type":"post","_rev":"rev1","title":"Zoë ✓","slug":{"current":"hello-world"}}"#;
    let (t, sig) = ("1796301296000", "kSmBlMSerA189WQ2FSmPMtDa1FgBnh_QOmz2W-q9HOo");
    let now = 1_796_301_296;
    let v = Verifier::new(providers::SANITY, secret).unwrap();
    let never = vec![secret.to_owned(), sig.to_owned()];
    let run = |v: &Verifier, value: String, body: &str, now: u64| {
        let h = [("sanity-webhook-signature", value)];
        v.verify(&WebhookRequest::new(&h, body.as_bytes().to_vec()), at(now))
    };
    let mut r = Report::default();
    r.ok("sanity: as the toolkit writes it", run(&v, format!("t={t},v1={sig}"), body, now));
    r.ok("sanity: a space after the comma", run(&v, format!("t={t}, v1={sig}"), body, now));
    r.ok("sanity: the signature padded", run(&v, format!("t={t},v1={sig}="), body, now));
    // The same bytes in the standard alphabet are not what Sanity writes.
    let standard = sig.replace('-', "+").replace('_', "/");
    r.err(
        "sanity: standard base64 alphabet",
        run(&v, format!("t={t},v1={standard}"), body, now),
        ErrorKind::MalformedHeader,
        &never,
    );
    r.err("sanity: no v1", run(&v, format!("t={t}"), body, now), ErrorKind::MalformedHeader, &never);
    r.err("sanity: no t", run(&v, format!("v1={sig}"), body, now), ErrorKind::MalformedHeader, &never);
    r.err("sanity: t not a number", run(&v, format!("t=soon,v1={sig}"), body, now), ErrorKind::MalformedHeader, &never);
    // `t` is milliseconds: the same instant in seconds is another signed message.
    r.err(
        "sanity: t in seconds",
        run(&v, format!("t={now},v1={sig}"), body, now),
        ErrorKind::SignatureMismatch,
        &never,
    );
    r.err(
        "sanity: tampered body",
        run(&v, format!("t={t},v1={sig}"), &body.replace("rev1", "rev2"), now),
        ErrorKind::SignatureMismatch,
        &never,
    );
    let other = Verifier::new(providers::SANITY, "another-secret").unwrap();
    r.err(
        "sanity: another secret",
        run(&other, format!("t={t},v1={sig}"), body, now),
        ErrorKind::SignatureMismatch,
        &never,
    );
    // Five minutes either side, this crate's window (the toolkit checks none).
    r.ok("sanity: 300 s old", run(&v, format!("t={t},v1={sig}"), body, now + 300));
    r.err("sanity: 301 s old", run(&v, format!("t={t},v1={sig}"), body, now + 301), ErrorKind::TimestampTooOld, &never);
    r.err(
        "sanity: 301 s ahead",
        run(&v, format!("t={t},v1={sig}"), body, now - 301),
        ErrorKind::TimestampInFuture,
        &never,
    );
    let open = Verifier::builder(providers::SANITY).secret(secret).no_tolerance().build().unwrap();
    r.ok("sanity: no window, a day old", run(&open, format!("t={t},v1={sig}"), body, now + 86_400));
    r.finish(14);
}

/// EasyPost, on the delivery `@easypost/api@8.9.0` accepted in sdk_vectors.json: the secret
/// is NFKD-normalised before it keys the HMAC, so its composed and decomposed spellings are
/// the same key.
#[test]
fn easypost_secret_is_nfkd_normalised() {
    let body = r#"{"id":"evt_3b2f1c0d9e8a4f7b","object":"Event","mode":"test","description":"tracker.updated","created_at":"2026-12-03T12:34:56Z","result":{"id":"trk_5e6f7a8b9c0d","object":"Tracker","tracking_code":"EZ1000000001","status":"in_transit","weight":136.0}}"#;
    let sig = "hmac-sha256-hex=4a510ad78af438247db07c5de839e8e8023ff8702b8360af64ae4779f3318fb3";
    let composed = "s\u{e9}cret-\u{fb01}le-\u{ff45}\u{ff41}\u{ff53}\u{ff59}\u{ff50}\u{ff4f}\u{ff53}\u{ff54}";
    let decomposed = "se\u{301}cret-file-easypost";
    let never = vec![composed.to_owned(), decomposed.to_owned(), sig.to_owned()];
    let run = |secret: &str, value: &str, body: &str| {
        let v = Verifier::new(providers::EASYPOST, secret).unwrap();
        let h = [("X-Hmac-Signature", value.to_owned())];
        v.verify(&WebhookRequest::new(&h, body.as_bytes().to_vec()), at(T0))
    };
    let mut r = Report::default();
    let ok = r.ok("easypost: the secret as EasyPost shows it", run(composed, sig, body));
    r.check("easypost", ok.as_ref().and_then(Verified::id) == Some("evt_3b2f1c0d9e8a4f7b"), || "id".to_owned());
    r.ok("easypost: the same secret already decomposed", run(decomposed, sig, body));
    r.err("easypost: another secret", run("secret-file-easypost", sig, body), ErrorKind::SignatureMismatch, &never);
    // The raw body is verified: the integer weight EasyPost's Node library would rewrite is
    // another body.
    r.err(
        "easypost: weight re-serialised as an integer",
        run(composed, sig, &body.replace("136.0", "136")),
        ErrorKind::SignatureMismatch,
        &never,
    );
    let bare = sig.trim_start_matches("hmac-sha256-hex=");
    r.err("easypost: no prefix", run(composed, bare, body), ErrorKind::MalformedHeader, &never);
    r.err(
        "easypost: another prefix",
        run(composed, &format!("hmac-sha512-hex={bare}"), body),
        ErrorKind::MalformedHeader,
        &never,
    );
    r.finish(7);
}

#[test]
fn json_providers_refuse_a_body_that_is_not_json() {
    let mut r = Report::default();
    let not_json = b"this is not { json".to_vec();
    for p in Provider::all() {
        let spec = spec_of(*p);
        if !spec.signable {
            continue;
        }
        if spec.layout == Layout::InBody {
            continue; // the body is the signed envelope itself: see mailgun_body_signature, adyen_items
        }
        let v = verifier(spec, &[(1, None)]);
        let signed = sign(&v, spec, &not_json, T0);
        let never = secrets_of(spec, &signed, &[1]);
        let res = verify(&v, spec, &headers_of(&signed), &not_json, T0);
        if spec.json {
            r.err(&format!("{}: signed non-JSON body", spec.name), res, ErrorKind::BodyNotJson, &never);
            // Only an authentic sender learns that: a forged one is a mismatch.
            let forged = sign(&verifier(spec, &[(9, None)]), spec, &not_json, T0);
            r.err(
                &format!("{}: forged non-JSON body", spec.name),
                verify(&v, spec, &headers_of(&forged), &not_json, T0),
                ErrorKind::SignatureMismatch,
                &never,
            );
        } else {
            r.ok(&format!("{}: non-JSON body", spec.name), res);
        }
    }
    r.finish(24);
}

#[test]
fn verified_fields() {
    let spec = spec_of(providers::STANDARD_WEBHOOKS);
    let v = verifier(spec, &[(1, None)]);
    let body = br#"{"type":"invoice.paid","data":{}}"#;
    let s = v.sign(&SignRequest::new(body, at(T0)).id("msg_fixed_1")).unwrap();
    let d = v.verify(&WebhookRequest::new(&s, &body[..]), at(T0)).unwrap();
    assert_eq!(d.provider(), "standard-webhooks");
    assert_eq!(d.id(), Some("msg_fixed_1"));
    assert_eq!(d.event_type(), Some("invoice.paid"));
    assert_eq!(d.timestamp(), Some(at(T0)));
    assert_eq!(d.body().as_ref(), body);
    assert_eq!(d.key_index(), 0);

    let gh = Verifier::new(providers::GITHUB, "s").unwrap();
    let s = gh
        .sign(&SignRequest::new(b"{}", at(T0)).id("72d3162e-cc78-11e3-81ab-4c9367dc0958").event_type("push"))
        .unwrap();
    let d = gh.verify(&WebhookRequest::new(&s, &b"{}"[..]), at(T0)).unwrap();
    assert_eq!(
        (d.id(), d.event_type(), d.timestamp()),
        (Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"), Some("push"), None)
    );
}

#[test]
fn standard_webhooks_versions() {
    // Shared (`v1`) and Ed25519 (`v1a`) keys side by side; each signature is checked only
    // with the keys of its own version.
    let hmac_key = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let ed = Secret::ed25519_seed(&[3u8; 32]).unwrap();
    let both = Verifier::builder(providers::STANDARD_WEBHOOKS).secret(hmac_key).key(ed.clone()).build().unwrap();
    let only_hmac = Verifier::new(providers::STANDARD_WEBHOOKS, hmac_key).unwrap();
    let only_ed = Verifier::builder(providers::STANDARD_WEBHOOKS).key(ed).build().unwrap();
    let body = br#"{"type":"a.b"}"#;
    let signed = both.sign(&SignRequest::new(body, at(T0)).id("msg_1")).unwrap();
    let value = signed.header("webhook-signature").unwrap().to_owned();
    let items: Vec<&str> = value.split(' ').collect();
    assert_eq!(items.len(), 2, "{value}");
    assert!(items[0].starts_with("v1,") && items[1].starts_with("v1a,"), "{value}");
    let never = vec![hmac_key.to_owned(), value.clone(), items[0][3..].to_owned(), items[1][4..].to_owned()];
    let with_sig = |sig: &str| {
        let mut h = headers_of(&signed);
        set(&mut h, "webhook-signature", sig);
        h
    };
    let mut r = Report::default();
    for (name, v) in [("both", &both), ("hmac", &only_hmac), ("ed25519", &only_ed)] {
        r.ok(&format!("{name}: both signatures"), v.verify(&WebhookRequest::new(&signed, &body[..]), at(T0)));
    }
    let v1_only = with_sig(items[0]);
    let v1a_only = with_sig(items[1]);
    r.ok("hmac key, v1 only", only_hmac.verify(&WebhookRequest::new(&v1_only, &body[..]), at(T0)));
    r.ok("ed25519 key, v1a only", only_ed.verify(&WebhookRequest::new(&v1a_only, &body[..]), at(T0)));
    r.err(
        "hmac key, v1a only",
        only_hmac.verify(&WebhookRequest::new(&v1a_only, &body[..]), at(T0)),
        ErrorKind::SignatureMismatch,
        &never,
    );
    r.err(
        "ed25519 key, v1 only",
        only_ed.verify(&WebhookRequest::new(&v1_only, &body[..]), at(T0)),
        ErrorKind::SignatureMismatch,
        &never,
    );
    // The HMAC bytes relabelled v1a (and the reverse) are not accepted.
    let swapped = format!("v1a,{} v1,{}", &items[0][3..], &items[1][4..]);
    let swapped = with_sig(&swapped);
    for (name, v) in [("both", &both), ("hmac", &only_hmac), ("ed25519", &only_ed)] {
        r.refused(
            &format!("{name}: labels swapped"),
            v.verify(&WebhookRequest::new(&swapped, &body[..]), at(T0)),
            &never,
        );
    }
    let empty = with_sig("v1, v1a,");
    r.err(
        "both: v1, and v1a, empty",
        both.verify(&WebhookRequest::new(&empty, &body[..]), at(T0)),
        ErrorKind::MalformedHeader,
        &never,
    );
    // svix-* headers are accepted too, webhook-* first.
    let svix: Headers = headers_of(&signed).into_iter().map(|(k, v)| (k.replace("webhook-", "svix-"), v)).collect();
    r.ok("svix-* headers", both.verify(&WebhookRequest::new(&svix, &body[..]), at(T0)));
    r.finish(12);
}

#[test]
fn oversized_and_overfull_headers() {
    let mut r = Report::default();
    for p in Provider::all() {
        let spec = spec_of(*p);
        if !spec.signable {
            continue;
        }
        let Some(sig_name) = p.signature_header() else {
            continue;
        };
        let v = verifier(spec, &[(1, None)]);
        let body = body(spec, T0);
        let signed = sign(&v, spec, &body, T0);
        let never = secrets_of(spec, &signed, &[1]);
        let good = headers_of(&signed);
        let sig = value(&good, sig_name);
        // Longer than MAX_HEADER_VALUE: refused before it is parsed.
        let mut h = good.clone();
        let padding = " ".repeat(webhook_core::MAX_HEADER_VALUE);
        set(&mut h, sig_name, format!("{sig}{padding}"));
        r.err(
            &format!("{}: signature header over {} bytes", spec.name, webhook_core::MAX_HEADER_VALUE),
            verify(&v, spec, &h, &body, T0),
            ErrorKind::MalformedHeader,
            &never,
        );
        // More signatures than any rotation needs.
        let extra = match spec.layout {
            Layout::List { label, sep, assign, .. } => Some((
                sep,
                format!("{label}{assign}{}", if spec.enc == Enc::Hex { "ab".repeat(32) } else { "q".repeat(44) }),
            )),
            Layout::Leading { sep } => Some((sep, "ab".repeat(32))),
            _ => None,
        };
        if let Some((sep, extra)) = extra {
            let value = (0..16).fold(sig.clone(), |value, _| format!("{value}{sep}{extra}"));
            let h = with_header(&good, sig_name, value);
            r.err(
                &format!("{}: 17 signatures", spec.name),
                verify(&v, spec, &h, &body, T0),
                ErrorKind::MalformedHeader,
                &never,
            );
        }
    }
    r.finish(23 + 8);
}

/// Gitea and Forgejo: the `X-Forgejo-*` names are read when the Gitea ones are absent; when
/// both are present the Gitea header decides (a good Forgejo value cannot rescue a bad one);
/// the empty header a server with no secret sends, and the form content type (the JSON is
/// signed, `payload=<form-encoded JSON>` is sent), are refused.
#[test]
fn gitea_and_forgejo_headers() {
    let secret = "gitea-secret-do-not-leak";
    let v = Verifier::new(providers::GITEA, secret).unwrap();
    let body = br#"{"ref":"refs/heads/main","after":"b2f0c8a1"}"#;
    let signed = v.sign(&SignRequest::new(body, at(T0)).id("d-1").event_type("push")).unwrap();
    let sig = signed.header("X-Gitea-Signature").unwrap().to_owned();
    assert_eq!(sig.len(), 64, "{sig}");
    let never = vec![secret.to_owned(), sig.clone()];
    let mut r = Report::default();
    let run = |h: &[(&str, &str)], b: &[u8]| v.verify(&WebhookRequest::new(&h.to_vec(), b.to_vec()), at(T0 + 86_400));

    let forgejo = [("X-Forgejo-Signature", sig.as_str()), ("X-Forgejo-Delivery", "d-1"), ("X-Forgejo-Event", "push")];
    if let Some(d) = r.ok("forgejo names alone", run(&forgejo, body)) {
        r.check("forgejo names alone: id", d.id() == Some("d-1"), || format!("id {:?}", d.id()));
        r.check("forgejo names alone: type", d.event_type() == Some("push"), || format!("type {:?}", d.event_type()));
    }
    let zeros = "0".repeat(64);
    r.err(
        "a wrong X-Gitea-Signature beside a good X-Forgejo-Signature",
        run(&[("X-Gitea-Signature", zeros.as_str()), ("X-Forgejo-Signature", sig.as_str())], body),
        ErrorKind::SignatureMismatch,
        &never,
    );
    r.err(
        "empty signature (no secret set)",
        run(&[("X-Gitea-Signature", "")], body),
        ErrorKind::MalformedHeader,
        &never,
    );
    r.err(
        "GitHub's sha256= prefix is not Gitea's",
        run(&[("X-Gitea-Signature", format!("sha256={sig}").as_str())], body),
        ErrorKind::MalformedHeader,
        &never,
    );
    r.err("no signature header", run(&[("X-Gitea-Delivery", "d-1")], body), ErrorKind::MissingHeader, &never);
    let form = format!("payload={}", url_encode(std::str::from_utf8(body).unwrap()));
    r.refused(
        "form content type: the JSON was signed, a form was sent",
        run(&[("X-Gitea-Signature", sig.as_str())], form.as_bytes()),
        &never,
    );
    r.finish(7);
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Customer.io signs `v0:{timestamp}:{body}`: the same HMAC over `{timestamp}.{body}` or over
/// the body alone is refused, and a timestamp that is not unix seconds is malformed.
#[test]
fn customerio_signed_string() {
    let secret = "customerio-secret-do-not-leak";
    let v = Verifier::new(providers::CUSTOMERIO, secret).unwrap();
    let body = br#"{"event_id":"01E2EMRMM6TZ12TF9WGZN0WJQT","metric":"opened","object_type":"email"}"#;
    let mac = |msg: &[u8]| {
        use hmac::Mac as _;
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        m.update(msg);
        hex::encode(m.finalize().into_bytes())
    };
    let ts = T0.to_string();
    let good = mac(&[format!("v0:{ts}:").as_bytes(), body].concat());
    let dotted = mac(&[format!("{ts}.").as_bytes(), body].concat());
    let bare = mac(body);
    let never = vec![secret.to_owned(), good.clone()];
    let run = |sig: &str, ts: &str| {
        let h = vec![("X-CIO-Signature", sig.to_owned()), ("X-CIO-Timestamp", ts.to_owned())];
        v.verify(&WebhookRequest::new(&h, body.to_vec()), at(T0))
    };
    let mut r = Report::default();
    if let Some(d) = r.ok("v0:{ts}:{body}", run(&good, &ts)) {
        r.check("id", d.id() == Some("01E2EMRMM6TZ12TF9WGZN0WJQT"), || format!("id {:?}", d.id()));
        r.check("type", d.event_type() == Some("opened"), || format!("type {:?}", d.event_type()));
    }
    r.err("{ts}.{body}", run(&dotted, &ts), ErrorKind::SignatureMismatch, &never);
    r.err("the body alone", run(&bare, &ts), ErrorKind::SignatureMismatch, &never);
    r.err("an RFC 3339 timestamp", run(&good, "2023-11-14T22:13:20Z"), ErrorKind::MalformedHeader, &never);
    r.finish(6);
}

/// Cal.com sends `no-secret-provided` for a webhook with no secret: malformed, never a
/// delivery; GitHub's `sha256=` prefix is not Cal.com's; the signature covers the body only.
#[test]
fn calcom_signature_values() {
    let secret = "calcom-secret-do-not-leak";
    let v = Verifier::new(providers::CALCOM, secret).unwrap();
    let body = br#"{"triggerEvent":"BOOKING_CANCELLED","createdAt":"2026-12-03T10:00:00.000Z","payload":{}}"#;
    let signed = v.sign(&SignRequest::new(body, at(T0))).unwrap();
    let sig = signed.header("X-Cal-Signature-256").unwrap().to_owned();
    let never = vec![secret.to_owned(), sig.clone()];
    let run = |value: &str, b: &[u8]| {
        let h = vec![("X-Cal-Signature-256", value.to_owned())];
        v.verify(&WebhookRequest::new(&h, b.to_vec()), at(T0 + 86_400))
    };
    let mut r = Report::default();
    if let Some(d) = r.ok("signed body", run(&sig, body)) {
        r.check("type", d.event_type() == Some("BOOKING_CANCELLED"), || format!("type {:?}", d.event_type()));
        r.check("no id", d.id().is_none(), || format!("id {:?}", d.id()));
    }
    r.err("no-secret-provided", run("no-secret-provided", body), ErrorKind::MalformedHeader, &never);
    r.err("sha256= prefix", run(&format!("sha256={sig}"), body), ErrorKind::MalformedHeader, &never);
    r.err("another body", run(&sig, &body[..body.len() - 1]), ErrorKind::SignatureMismatch, &never);
    r.finish(6);
}

/// Pusher, on a delivery signed as `npm pusher@5.3.4` signs it: the signature covers the
/// body only (the app key beside it is not signed, and is not read here), the body must be
/// JSON as the library requires, and `time_ms` is not a window. A delivery carries an
/// `events` array: no id or type.
#[test]
fn pusher_body_and_key() {
    let secret = "pusher-secret-do-not-leak";
    let v = Verifier::new(providers::PUSHER, secret).unwrap();
    let body = br#"{"time_ms":1700000000000,"events":[{"name":"channel_vacated","channel":"presence-room-7"}]}"#;
    let sig = v.sign(&SignRequest::new(body, at(T0))).unwrap().header("X-Pusher-Signature").unwrap().to_owned();
    let never = vec![secret.to_owned(), sig.clone()];
    let run = |key: &str, value: &str, b: &[u8], now: u64| {
        let h = vec![("X-Pusher-Key", key.to_owned()), ("X-Pusher-Signature", value.to_owned())];
        v.verify(&WebhookRequest::new(&h, b.to_vec()), at(now))
    };
    let mut r = Report::default();
    if let Some(d) = r.ok("signed body", run("a1b2c3d4e5f6a7b8c9d0", &sig, body, T0)) {
        r.check("no id", d.id().is_none(), || format!("id {:?}", d.id()));
        r.check("no type", d.event_type().is_none(), || format!("type {:?}", d.event_type()));
    }
    r.ok("a day after time_ms (no window)", run("a1b2c3d4e5f6a7b8c9d0", &sig, body, T0 + 86_400));
    r.ok("another app key beside the same secret's signature", run("another-app-key", &sig, body, T0));
    let form = b"time_ms=1700000000000&events=%5B%5D";
    let form_sig = v.sign(&SignRequest::new(form, at(T0))).unwrap().header("X-Pusher-Signature").unwrap().to_owned();
    r.err("a signed form body", run("a1b2c3d4e5f6a7b8c9d0", &form_sig, form, T0), ErrorKind::BodyNotJson, &never);
    r.err(
        "sha256= prefix",
        run("a1b2c3d4e5f6a7b8c9d0", &format!("sha256={sig}"), body, T0),
        ErrorKind::MalformedHeader,
        &never,
    );
    r.err(
        "another body",
        run("a1b2c3d4e5f6a7b8c9d0", &sig, &body[..body.len() - 1], T0),
        ErrorKind::SignatureMismatch,
        &never,
    );
    let h = vec![("X-Pusher-Key", "a1b2c3d4e5f6a7b8c9d0".to_owned())];
    r.err(
        "the key without a signature",
        v.verify(&WebhookRequest::new(&h, body.to_vec()), at(T0)),
        ErrorKind::MissingHeader,
        &never,
    );
    r.finish(9);
}

/// Onfido, on a delivery signed as `npm @onfido/api@6.2.0` checks it: the type is the
/// nested `payload.action`, the resource's `object.id` is not a delivery id, the SHA-1
/// `X-Signature` of the legacy webhooks is not read, and only the body is signed.
#[test]
fn onfido_action_and_headers() {
    let token = "onfido-token-do-not-leak";
    let v = Verifier::new(providers::ONFIDO, token).unwrap();
    let body = br#"{"payload":{"resource_type":"report","action":"report.completed","object":{"id":"6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b","status":"complete","href":"https://api.eu.onfido.com/v3.6/reports/6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"}}}"#;
    let sig = v.sign(&SignRequest::new(body, at(T0))).unwrap().header("X-SHA2-Signature").unwrap().to_owned();
    let never = vec![token.to_owned(), sig.clone()];
    let run =
        |h: Vec<(&'static str, String)>, b: &[u8]| v.verify(&WebhookRequest::new(&h, b.to_vec()), at(T0 + 86_400));
    let mut r = Report::default();
    if let Some(d) = r.ok("signed body", run(vec![("X-SHA2-Signature", sig.clone())], body)) {
        r.check("type", d.event_type() == Some("report.completed"), || format!("type {:?}", d.event_type()));
        r.check("no id", d.id().is_none(), || format!("id {:?}", d.id()));
    }
    r.ok(
        "upper-case hex, which the SDK's Buffer.from(…, 'hex') reads",
        run(vec![("X-SHA2-Signature", sig.to_uppercase())], body),
    );
    r.err(
        "the SHA-2 signature under the legacy X-Signature",
        run(vec![("X-Signature", sig.clone())], body),
        ErrorKind::MissingHeader,
        &never,
    );
    r.err(
        "sha256= prefix",
        run(vec![("X-SHA2-Signature", format!("sha256={sig}"))], body),
        ErrorKind::MalformedHeader,
        &never,
    );
    let other: Vec<u8> = body.iter().map(|&b| if b == b'6' { b'7' } else { b }).collect();
    r.err("another resource id", run(vec![("X-SHA2-Signature", sig)], &other), ErrorKind::SignatureMismatch, &never);
    r.finish(7);
}

/// Stream Chat: the delivery id is `X-Webhook-Id`, the same on a retry (whose
/// `X-Webhook-Attempt` grows and is not signed); `X-Api-Key` is not read; the type is
/// the body's `type`; only the body is signed.
#[test]
fn stream_chat_id_and_retries() {
    let secret = "stream-secret-do-not-leak";
    let v = Verifier::new(providers::STREAM_CHAT, secret).unwrap();
    let body = br#"{"type":"reaction.new","cid":"messaging:general","reaction":{"type":"like","user_id":"zoe"}}"#;
    let sig = v.sign(&SignRequest::new(body, at(T0))).unwrap().header("X-Signature").unwrap().to_owned();
    let never = vec![secret.to_owned(), sig.clone()];
    let id = "123e4567-e89b-12d3-a456-426614174000";
    let run = |attempt: &str, api_key: &str, value: &str, b: &[u8]| {
        let h = vec![
            ("X-Webhook-Id", id.to_owned()),
            ("X-Webhook-Attempt", attempt.to_owned()),
            ("X-Api-Key", api_key.to_owned()),
            ("X-Signature", value.to_owned()),
        ];
        v.verify(&WebhookRequest::new(&h, b.to_vec()), at(T0 + 86_400))
    };
    let mut r = Report::default();
    for attempt in ["1", "3"] {
        if let Some(d) = r.ok(&format!("attempt {attempt}"), run(attempt, "app-key", &sig, body)) {
            r.check("id", d.id() == Some(id), || format!("id {:?}", d.id()));
            r.check("type", d.event_type() == Some("reaction.new"), || format!("type {:?}", d.event_type()));
        }
    }
    r.ok("another X-Api-Key", run("1", "another-app-key", &sig, body));
    let no_id = vec![("X-Signature", sig.clone())];
    if let Some(d) = r.ok("no X-Webhook-Id", v.verify(&WebhookRequest::new(&no_id, body.to_vec()), at(T0))) {
        r.check("no id", d.id().is_none(), || format!("id {:?}", d.id()));
    }
    r.err("sha256= prefix", run("1", "app-key", &format!("sha256={sig}"), body), ErrorKind::MalformedHeader, &never);
    r.err("another body", run("1", "app-key", &sig, &body[..body.len() - 1]), ErrorKind::SignatureMismatch, &never);
    r.finish(11);
}

/// Frame.io: the signed string is `v0:{timestamp}:{body}` (not Stripe's `{ts}.{body}`),
/// the timestamp is unix seconds within 5 minutes either side, the `v0=` prefix is
/// required, and no delivery id is read (`resource.id` names the file).
#[test]
fn frameio_signed_string_and_window() {
    let secret = "frameio-secret-do-not-leak";
    let v = Verifier::new(providers::FRAMEIO, secret).unwrap();
    let body = br#"{"resource":{"id":"d3075547-4e64-45f0-ad12-d075660eddd2","type":"file"},"type":"file.ready"}"#;
    // `v0=` and the hex HMAC of `{signed}{body}`, as Frame.io's guide computes it.
    let mac = |signed: String| {
        use hmac::Mac as _;
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        m.update(signed.as_bytes());
        m.update(body);
        format!("v0={}", hex::encode(m.finalize().into_bytes()))
    };
    let ts = T0.to_string();
    let good = mac(format!("v0:{ts}:"));
    let signed = v.sign(&SignRequest::new(body, at(T0))).unwrap();
    let never = vec![secret.to_owned(), good.clone()];
    let run = |sig: &str, ts: &str, now: u64| {
        let h = vec![("X-Frameio-Signature", sig.to_owned()), ("X-Frameio-Request-Timestamp", ts.to_owned())];
        v.verify(&WebhookRequest::new(&h, body.to_vec()), at(now))
    };
    let mut r = Report::default();
    r.check("the crate signs as the docs compute", signed.header("X-Frameio-Signature") == Some(good.as_str()), || {
        format!("{:?}", signed.header("X-Frameio-Signature"))
    });
    if let Some(d) = r.ok("v0:{ts}:{body}", run(&good, &ts, T0)) {
        r.check("type", d.event_type() == Some("file.ready"), || format!("type {:?}", d.event_type()));
        r.check("no id", d.id().is_none(), || format!("id {:?}", d.id()));
    }
    r.ok("299 s later", run(&good, &ts, T0 + 299));
    r.err("301 s later", run(&good, &ts, T0 + 301), ErrorKind::TimestampTooOld, &never);
    r.err("301 s early", run(&good, &ts, T0 - 301), ErrorKind::TimestampInFuture, &never);
    let dotted = mac(format!("{ts}."));
    r.err("{ts}.{body}", run(&dotted, &ts, T0), ErrorKind::SignatureMismatch, &never);
    r.err("no v0= prefix", run(good.trim_start_matches("v0="), &ts, T0), ErrorKind::MalformedHeader, &never);
    // A timestamp in milliseconds, signed as such: authentic, but read as seconds it is
    // far in the future.
    let ms = format!("{ts}000");
    let ms_sig = mac(format!("v0:{ms}:"));
    r.err("milliseconds", run(&ms_sig, &ms, T0), ErrorKind::TimestampInFuture, &never);
    r.finish(10);
}

/// Airtable: the key is `macSecretBase64` decoded (the base64 text itself is another key,
/// and text that is not base64 is refused when the verifier is built), `hmac-sha256=` is
/// required, and a ping carries no delivery id, type or window.
#[test]
fn airtable_base64_key_and_prefix() {
    let raw = *b"airtable-mac-secret-do-not-leak!";
    let secret = base64::engine::general_purpose::STANDARD.encode(raw);
    let v = Verifier::new(providers::AIRTABLE, &secret).unwrap();
    let body = br#"{"base":{"id":"appA1b2C3d4E5f6G7"},"webhook":{"id":"achH8i9J0k1L2m3N4"},"timestamp":"2023-11-14T22:13:20.000Z"}"#;
    let mac = |key: &[u8]| {
        use hmac::Mac as _;
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        m.update(body);
        format!("hmac-sha256={}", hex::encode(m.finalize().into_bytes()))
    };
    let good = mac(&raw);
    let never = vec![secret.clone(), good.clone()];
    let run = |value: &str, now: u64| {
        let h = vec![("X-Airtable-Content-MAC", value.to_owned())];
        v.verify(&WebhookRequest::new(&h, body.to_vec()), at(now))
    };
    let mut r = Report::default();
    let signed = v.sign(&SignRequest::new(body, at(T0))).unwrap();
    r.check(
        "the crate signs as the docs compute",
        signed.header("X-Airtable-Content-MAC") == Some(good.as_str()),
        || format!("{:?}", signed.header("X-Airtable-Content-MAC")),
    );
    if let Some(d) = r.ok("keyed with the decoded secret", run(&good, T0)) {
        r.check("no id", d.id().is_none(), || format!("id {:?}", d.id()));
        r.check("no type", d.event_type().is_none(), || format!("type {:?}", d.event_type()));
    }
    r.ok("a retry a day later", run(&good, T0 + 86_400));
    r.err("keyed with the base64 text", run(&mac(secret.as_bytes()), T0), ErrorKind::SignatureMismatch, &never);
    r.err("no prefix", run(good.trim_start_matches("hmac-sha256="), T0), ErrorKind::MalformedHeader, &never);
    r.err("sha256= prefix", run(&good.replace("hmac-sha256=", "sha256="), T0), ErrorKind::MalformedHeader, &never);
    let not_base64 = Verifier::new(providers::AIRTABLE, "not base64!");
    r.check("text that is not base64 is refused", not_base64.is_err(), || "built".to_owned());
    if let Err(e) = not_base64 {
        r.check("the refusal does not repeat the key", !e.to_string().contains("not base64!"), || e.to_string());
    }
    r.finish(10);
}

/// Help Scout, on a delivery signed as helpscout/helpscout-api-php's `IncomingWebhook`
/// computes it: the base64 HMAC-SHA1 of the body (not its hex form, not SHA-256, no
/// `sha1=` prefix), the type from `X-HelpScout-Event`, no id, and no window.
#[test]
fn helpscout_sha1_base64_and_event() {
    use hmac::Mac as _;
    let secret = "helpscout-secret-do-not-leak";
    let v = Verifier::new(providers::HELPSCOUT, secret).unwrap();
    let body = br#"{"id":2391938111,"number":349,"type":"email","status":"active","subject":"Zo\u00eb"}"#;
    let mut m = hmac::Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(body);
    let raw = m.finalize().into_bytes();
    let good = base64::engine::general_purpose::STANDARD.encode(raw);
    let mut m256 = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m256.update(body);
    let sha256 = base64::engine::general_purpose::STANDARD.encode(m256.finalize().into_bytes());
    let never = vec![secret.to_owned(), good.clone()];
    let run = |value: &str, b: &[u8], now: u64| {
        let h = vec![("X-HelpScout-Event", "convo.created".to_owned()), ("X-HelpScout-Signature", value.to_owned())];
        v.verify(&WebhookRequest::new(&h, b.to_vec()), at(now))
    };
    let mut r = Report::default();
    let signed = v.sign(&SignRequest::new(body, at(T0))).unwrap();
    r.check(
        "the crate signs as IncomingWebhook computes",
        signed.header("X-HelpScout-Signature") == Some(good.as_str()),
        || format!("{:?}", signed.header("X-HelpScout-Signature")),
    );
    if let Some(d) = r.ok("base64 HMAC-SHA1 of the body", run(&good, body, T0)) {
        r.check("no id", d.id().is_none(), || format!("id {:?}", d.id()));
        r.check("type from X-HelpScout-Event", d.event_type() == Some("convo.created"), || {
            format!("type {:?}", d.event_type())
        });
    }
    r.ok("a day later (no window)", run(&good, body, T0 + 86_400));
    r.err("the hex digest", run(&hex::encode(raw), body, T0), ErrorKind::SignatureMismatch, &never);
    r.err("HMAC-SHA256 instead of SHA-1", run(&sha256, body, T0), ErrorKind::SignatureMismatch, &never);
    r.err("sha1= prefix", run(&format!("sha1={good}"), body, T0), ErrorKind::MalformedHeader, &never);
    r.err("another body", run(&good, &body[..body.len() - 1], T0), ErrorKind::SignatureMismatch, &never);
    let h = vec![("X-Hub-Signature", format!("sha1={}", hex::encode(raw)))];
    r.err(
        "GitHub's header instead",
        v.verify(&WebhookRequest::new(&h, body.to_vec()), at(T0)),
        ErrorKind::MissingHeader,
        &never,
    );
    r.finish(10);
}

/// Webex, on a delivery signed as npm webex-node-bot-framework@2.3.14 lib/webhook.js
/// computes it: the hex HMAC-SHA1 of the bytes received (the same JSON re-indented is
/// another message, though it parses to the same object), not SHA-256, not base64, no
/// `sha1=` prefix; the body's `id` names the webhook and is not a delivery id; no window.
#[test]
fn webex_sha1_hex_over_the_bytes() {
    use hmac::Mac as _;
    let secret = "webex-secret-do-not-leak";
    let v = Verifier::new(providers::WEBEX, secret).unwrap();
    let body = br#"{"id":"Y2lzY29zcGFyazovL3VzL1dFQkhPT0s","resource":"messages","event":"created","data":{"id":"Y2lzY29zcGFyazovL3VzL01FU1NBR0U"}}"#;
    let pretty = serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(body).unwrap()).unwrap();
    let sha1 = |b: &[u8]| {
        let mut m = hmac::Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
        m.update(b);
        m.finalize().into_bytes().to_vec()
    };
    let raw = sha1(body);
    let good = hex::encode(&raw);
    let mut m256 = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m256.update(body);
    let sha256 = hex::encode(m256.finalize().into_bytes());
    let never = vec![secret.to_owned(), good.clone()];
    let run = |value: &str, b: &[u8], now: u64| {
        let h = vec![("X-Spark-Signature", value.to_owned())];
        v.verify(&WebhookRequest::new(&h, b.to_vec()), at(now))
    };
    let mut r = Report::default();
    let signed = v.sign(&SignRequest::new(body, at(T0))).unwrap();
    r.check(
        "the crate signs as lib/webhook.js computes",
        signed.header("X-Spark-Signature") == Some(good.as_str()),
        || format!("{:?}", signed.header("X-Spark-Signature")),
    );
    if let Some(d) = r.ok("hex HMAC-SHA1 of the body", run(&good, body, T0)) {
        r.check("the webhook's id is not a delivery id", d.id().is_none(), || format!("id {:?}", d.id()));
        r.check("no type", d.event_type().is_none(), || format!("type {:?}", d.event_type()));
    }
    r.ok("a day later (no window)", run(&good, body, T0 + 86_400));
    r.err("the same JSON re-indented", run(&good, &pretty, T0), ErrorKind::SignatureMismatch, &never);
    r.ok("the re-indented bytes with their own signature", run(&hex::encode(sha1(&pretty)), &pretty, T0));
    r.err("HMAC-SHA256 instead of SHA-1", run(&sha256, body, T0), ErrorKind::SignatureMismatch, &never);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
    r.err("base64 instead of hex", run(&b64, body, T0), ErrorKind::MalformedHeader, &never);
    r.err("sha1= prefix", run(&format!("sha1={good}"), body, T0), ErrorKind::MalformedHeader, &never);
    r.err("another body", run(&good, &body[..body.len() - 1], T0), ErrorKind::SignatureMismatch, &never);
    r.finish(11);
}
