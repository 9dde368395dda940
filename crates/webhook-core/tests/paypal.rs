//! PayPal: the suite makes its own RSA key and self-signed certificate, signs deliveries as
//! PayPal's self-verification describes (the string built here, independently of the
//! crate: `{transmission id}|{time}|{webhook id}|{crc32(body)}`), and checks every refusal.
//! <https://developer.paypal.com/api/rest/webhooks/rest/>

#![cfg(feature = "paypal")]
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, LazyLock};
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use webhook_core::{
    providers, ErrorKind, MemoryCertificates, SigningCertificate, Verifier, VerifyError, WebhookRequest,
};

const CERT_URL: &str = "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270";
const WEBHOOK_ID: &str = "1JE4291016473214C";
const BODY: &str = r#"{"id":"WH-2WR32451HC0233532-67976317FL4543714","event_version":"1.0","create_time":"2014-10-23T17:23:52Z","resource_type":"sale","event_type":"PAYMENT.SALE.COMPLETED","summary":"A successful sale payment was made for $ 0.48 USD","resource":{"id":"80021663DE681814L","state":"completed"}}"#;

mod common;
use common::certs::{pair, Pair};

static PAYPAL: LazyLock<Pair> = LazyLock::new(|| pair("messageverificationcerts.paypal.com"));
static OTHER: LazyLock<Pair> = LazyLock::new(|| pair("attacker.example"));

/// The headers PayPal sends for `body`, signed by `pair` for `webhook_id`.
fn delivery(pair: &Pair, webhook_id: &str, body: &str, cert_url: &str) -> Vec<(String, String)> {
    let (id, time) = ("b2384410-f8d2-11e3-bfe8-4bae1b0d7fb2", "2023-11-14T22:13:20Z");
    let data = format!("{id}|{time}|{webhook_id}|{}", crc32fast::hash(body.as_bytes()));
    let sig = SigningKey::<sha2::Sha256>::new(pair.key.clone()).sign(data.as_bytes()).to_vec();
    vec![
        ("PAYPAL-TRANSMISSION-ID".into(), id.into()),
        ("PAYPAL-TRANSMISSION-TIME".into(), time.into()),
        ("PAYPAL-TRANSMISSION-SIG".into(), base64::engine::general_purpose::STANDARD.encode(sig)),
        ("PAYPAL-CERT-URL".into(), cert_url.into()),
        ("PAYPAL-AUTH-ALGO".into(), "SHA256withRSA".into()),
    ]
}

fn store_with(url: &str, pem: &str) -> Arc<MemoryCertificates> {
    let store = Arc::new(MemoryCertificates::default());
    store.insert(url, SigningCertificate::from_pem(pem).unwrap());
    store
}

fn verifier(store: Arc<MemoryCertificates>) -> Verifier {
    Verifier::builder(providers::PAYPAL)
        .secret("another-webhook-id")
        .secret(WEBHOOK_ID)
        .certificates(store)
        .build()
        .unwrap()
}

fn run(v: &Verifier, headers: &[(String, String)], body: &str) -> Result<webhook_core::Verified, VerifyError> {
    v.verify(
        &WebhookRequest::new(&headers.to_vec(), body.as_bytes().to_vec()),
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )
}

fn set(headers: &mut [(String, String)], name: &str, value: &str) {
    headers.iter_mut().find(|(k, _)| k == name).unwrap().1 = value.to_owned();
}

#[test]
fn a_signed_delivery_verifies() {
    let v = verifier(store_with(CERT_URL, &PAYPAL.pem));
    let d = run(&v, &delivery(&PAYPAL, WEBHOOK_ID, BODY, CERT_URL), BODY).unwrap();
    assert_eq!(d.provider(), "paypal");
    assert_eq!(d.key_index(), 1, "the second webhook id matched");
    assert_eq!(d.id(), Some("WH-2WR32451HC0233532-67976317FL4543714"));
    assert_eq!(d.event_type(), Some("PAYMENT.SALE.COMPLETED"));
    assert_eq!(d.timestamp(), Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)));
    // A sandbox certificate host is a PayPal host too.
    let sandbox = "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-1";
    let v = verifier(store_with(sandbox, &PAYPAL.pem));
    run(&v, &delivery(&PAYPAL, WEBHOOK_ID, BODY, sandbox), BODY).unwrap();
}

#[test]
fn tampering_and_strangers_are_refused() {
    let v = verifier(store_with(CERT_URL, &PAYPAL.pem));
    let good = delivery(&PAYPAL, WEBHOOK_ID, BODY, CERT_URL);
    let kind = |h: &[(String, String)], body: &str| run(&v, h, body).unwrap_err().kind();
    assert_eq!(kind(&good, &BODY.replace("0.48", "0.49")), ErrorKind::SignatureMismatch);
    assert_eq!(kind(&delivery(&PAYPAL, "not-our-webhook", BODY, CERT_URL), BODY), ErrorKind::SignatureMismatch);
    assert_eq!(kind(&delivery(&OTHER, WEBHOOK_ID, BODY, CERT_URL), BODY), ErrorKind::SignatureMismatch);
    for (name, value) in [
        ("PAYPAL-TRANSMISSION-ID", "b2384410-f8d2-11e3-bfe8-4bae1b0d7fb3"),
        ("PAYPAL-TRANSMISSION-TIME", "2023-11-14T22:13:21Z"),
    ] {
        let mut h = good.clone();
        set(&mut h, name, value);
        assert_eq!(kind(&h, BODY), ErrorKind::SignatureMismatch, "{name}");
    }
    // Not in the store; no store.
    let empty = verifier(Arc::new(MemoryCertificates::default()));
    assert_eq!(run(&empty, &good, BODY).unwrap_err().kind(), ErrorKind::UnknownKey);
    let no_store = Verifier::new(providers::PAYPAL, WEBHOOK_ID).unwrap();
    assert_eq!(run(&no_store, &good, BODY).unwrap_err().kind(), ErrorKind::Configuration);
}

#[test]
fn headers_are_checked_before_any_certificate() {
    let v = verifier(store_with(CERT_URL, &PAYPAL.pem));
    let good = delivery(&PAYPAL, WEBHOOK_ID, BODY, CERT_URL);
    for name in [
        "PAYPAL-TRANSMISSION-ID",
        "PAYPAL-TRANSMISSION-TIME",
        "PAYPAL-TRANSMISSION-SIG",
        "PAYPAL-CERT-URL",
        "PAYPAL-AUTH-ALGO",
    ] {
        let h: Vec<_> = good.iter().filter(|(k, _)| k != name).cloned().collect();
        assert_eq!(run(&v, &h, BODY).unwrap_err().kind(), ErrorKind::MissingHeader, "{name}");
        let mut h = good.clone();
        set(&mut h, name, "");
        assert_eq!(run(&v, &h, BODY).unwrap_err().kind(), ErrorKind::MalformedHeader, "{name} empty");
    }
    for (name, value) in [
        ("PAYPAL-AUTH-ALGO", "SHA1withRSA"),
        ("PAYPAL-TRANSMISSION-SIG", "not base64!"),
        ("PAYPAL-TRANSMISSION-TIME", "yesterday"),
        ("PAYPAL-CERT-URL", "http://api.paypal.com/v1/notifications/certs/CERT-1"),
        ("PAYPAL-CERT-URL", "https://api.paypal.com.evil.example/certs/CERT-1"),
        ("PAYPAL-CERT-URL", "https://evil.example/api.paypal.com/CERT-1"),
        ("PAYPAL-CERT-URL", "https://api.paypal.com:8443/certs/CERT-1"),
        ("PAYPAL-CERT-URL", "https://user@api.paypal.com/certs/CERT-1"),
        ("PAYPAL-CERT-URL", "https://paypal.com/certs/CERT-1"),
    ] {
        let mut h = good.clone();
        set(&mut h, name, value);
        assert_eq!(run(&v, &h, BODY).unwrap_err().kind(), ErrorKind::MalformedHeader, "{name}: {value}");
    }
    // A signed body that is not JSON is refused after the signature.
    let h = delivery(&PAYPAL, WEBHOOK_ID, "not json", CERT_URL);
    assert_eq!(run(&v, &h, "not json").unwrap_err().kind(), ErrorKind::BodyNotJson);
    // PayPal signs; the crate does not.
    assert!(v.sign(&webhook_core::SignRequest::new(b"{}", UNIX_EPOCH)).is_err());
}
