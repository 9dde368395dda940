//! Amazon SNS: the suite makes its own RSA key and self-signed certificate, signs messages
//! as AWS documents (the string to sign built here independently of the crate), and checks
//! every refusal: tampered fields, another certificate, certificate URLs that are not SNS
//! HTTPS URLs, a certificate missing from the store, missing fields, unknown versions and
//! types, a topic the endpoint does not accept.
//! <https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html>

#![cfg(feature = "sns")]
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, LazyLock};
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::{json, Value};
use webhook_core::{providers, ErrorKind, MemoryCertificates, SigningCertificate, Verifier, WebhookRequest};

const CERT_URL: &str = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem";
const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:orders";

mod common;
use common::certs::{pair, Pair};

static AWS: LazyLock<Pair> = LazyLock::new(|| pair("sns.amazonaws.com"));
static OTHER: LazyLock<Pair> = LazyLock::new(|| pair("attacker.example"));

/// The string AWS signs: each present field's name and value on their own lines.
fn string_to_sign(msg: &Value) -> String {
    let fields: &[&str] = if msg["Type"] == "Notification" {
        &["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    } else {
        &["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    };
    fields.iter().filter_map(|f| msg.get(*f).and_then(Value::as_str).map(|v| format!("{f}\n{v}\n"))).collect()
}

fn signed(mut msg: Value, pair: &Pair, version: &str) -> Value {
    msg["SignatureVersion"] = version.into();
    let data = string_to_sign(&msg);
    let sig = if version == "1" {
        SigningKey::<sha1::Sha1>::new(pair.key.clone()).sign(data.as_bytes()).to_vec()
    } else {
        SigningKey::<sha2::Sha256>::new(pair.key.clone()).sign(data.as_bytes()).to_vec()
    };
    msg["Signature"] = base64::engine::general_purpose::STANDARD.encode(sig).into();
    msg
}

fn notification() -> Value {
    json!({
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Subject": "Order placed",
        "Message": "{\"order\":\"ord_1\",\"total\":\"9.99 €\"}",
        "Timestamp": "2023-11-14T22:13:20.000Z",
        "SigningCertURL": CERT_URL,
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x"
    })
}

fn confirmation() -> Value {
    json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736",
        "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe to the topic arn:aws:sns:eu-west-1:123456789012:orders.",
        "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-west-1:123456789012:orders&Token=2336412f",
        "Timestamp": "2023-11-14T22:13:20.000Z",
        "SigningCertURL": CERT_URL
    })
}

fn verifier(store: &Arc<MemoryCertificates>) -> Verifier {
    Verifier::builder(providers::AWS_SNS).secret(TOPIC).certificates(store.clone()).build().unwrap()
}

fn store_with(url: &str, pem: &str) -> Arc<MemoryCertificates> {
    let store = Arc::new(MemoryCertificates::default());
    store.insert(url, SigningCertificate::from_pem(pem).unwrap());
    store
}

fn run(v: &Verifier, msg: &Value) -> Result<webhook_core::Verified, webhook_core::VerifyError> {
    let headers: Vec<(String, String)> = vec![("x-amz-sns-message-type".into(), "Notification".into())];
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    v.verify(&WebhookRequest::new(&headers, serde_json::to_vec(msg).unwrap()), now)
}

#[test]
fn signed_messages_verify_in_both_versions() {
    let store = store_with(CERT_URL, &AWS.pem);
    let v = verifier(&store);
    for version in ["1", "2"] {
        let d = run(&v, &signed(notification(), &AWS, version)).unwrap();
        assert_eq!(d.provider(), "aws-sns");
        assert_eq!(d.id(), Some("22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"));
        assert_eq!(d.event_type(), Some("Notification"));
        assert_eq!(d.timestamp(), Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)));
        // Without a Subject, the field is left out of the string to sign.
        let mut no_subject = notification();
        no_subject.as_object_mut().unwrap().remove("Subject");
        run(&v, &signed(no_subject, &AWS, version)).unwrap();
        let d = run(&v, &signed(confirmation(), &AWS, version)).unwrap();
        assert_eq!(d.event_type(), Some("SubscriptionConfirmation"));
        assert_eq!(
            v.sns_subscribe_url(&d).as_deref(),
            Some("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-west-1:123456789012:orders&Token=2336412f")
        );
    }
}

#[test]
fn every_signed_field_counts() {
    let store = store_with(CERT_URL, &AWS.pem);
    let v = verifier(&store);
    let good = signed(notification(), &AWS, "2");
    for field in ["Message", "MessageId", "Subject", "Timestamp", "Type"] {
        let mut m = good.clone();
        m[field] = if field == "Type" { "UnsubscribeConfirmation".into() } else { "2023-11-14T22:13:21.000Z".into() };
        let err = run(&v, &m).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SignatureMismatch, "{field}: {err}");
    }
    let mut m = good.clone();
    m["TopicArn"] = "arn:aws:sns:eu-west-1:123456789012:other".into();
    assert_eq!(run(&v, &m).unwrap_err().kind(), ErrorKind::SignatureMismatch);
    // Unsigned fields (UnsubscribeURL) may change.
    let mut m = good;
    m["UnsubscribeURL"] = "https://sns.eu-west-1.amazonaws.com/?other".into();
    run(&v, &m).unwrap();
    // A version-1 signature labelled 2, and the reverse.
    let mut m = signed(notification(), &AWS, "1");
    m["SignatureVersion"] = "2".into();
    assert_eq!(run(&v, &m).unwrap_err().kind(), ErrorKind::SignatureMismatch);
}

#[test]
fn certificates_come_from_the_store_and_from_sns_only() {
    let good = signed(notification(), &AWS, "2");
    // Signed by another key, whose certificate is (wrongly) stored under the SNS URL.
    let v = verifier(&store_with(CERT_URL, &OTHER.pem));
    assert_eq!(run(&v, &good).unwrap_err().kind(), ErrorKind::SignatureMismatch);
    // Not in the store.
    let v = verifier(&Arc::new(MemoryCertificates::default()));
    assert_eq!(run(&v, &good).unwrap_err().kind(), ErrorKind::UnknownKey);
    // No store.
    let v = Verifier::new(providers::AWS_SNS, TOPIC).unwrap();
    assert_eq!(run(&v, &good).unwrap_err().kind(), ErrorKind::Configuration);
    // Certificate URLs that are not an SNS host over HTTPS, even when the store has them.
    for url in [
        "http://sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem",
        "https://evil.example/sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com:8443/cert.pem",
        "https://user@sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com/cert.txt",
        "https://s3.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.amazonaws.com/cert.pem",
        "not a url",
    ] {
        let v = verifier(&store_with(url, &OTHER.pem));
        let mut m = notification();
        m["SigningCertURL"] = url.into();
        let m = signed(m, &OTHER, "2");
        assert_eq!(run(&v, &m).unwrap_err().kind(), ErrorKind::MalformedBody, "{url}");
    }
    // The China partition's hosts are SNS hosts too.
    let cn = "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem";
    let mut m = notification();
    m["SigningCertURL"] = cn.into();
    run(&verifier(&store_with(cn, &AWS.pem)), &signed(m, &AWS, "2")).unwrap();
}

#[test]
fn malformed_messages_are_refused_before_any_certificate() {
    let store = store_with(CERT_URL, &AWS.pem);
    let v = verifier(&store);
    let good = signed(notification(), &AWS, "2");
    for field in
        ["Type", "MessageId", "TopicArn", "Message", "Timestamp", "Signature", "SigningCertURL", "SignatureVersion"]
    {
        let mut m = good.clone();
        m.as_object_mut().unwrap().remove(field);
        assert_eq!(run(&v, &m).unwrap_err().kind(), ErrorKind::MalformedBody, "without {field}");
    }
    for (field, value) in [
        ("Signature", json!("")),
        ("Signature", json!("not base64!")),
        ("Signature", json!("A".repeat(5000))),
        ("SignatureVersion", json!("3")),
        ("Type", json!("Other")),
        ("Message", json!(7)),
    ] {
        let mut m = good.clone();
        m[field] = value;
        let err = run(&v, &m).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::MalformedBody | ErrorKind::SignatureMismatch), "{field}: {err}");
        assert_eq!(err.status().as_u16() / 100, 4);
    }
    for body in [&b"[1]"[..], b"not json", b"{}"] {
        let headers: Vec<(String, String)> = vec![];
        let err = v.verify(&WebhookRequest::new(&headers, body.to_vec()), UNIX_EPOCH).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MalformedBody);
    }
}

#[test]
fn the_subscribe_url_is_only_for_confirmations_from_sns() {
    let store = store_with(CERT_URL, &AWS.pem);
    let v = verifier(&store);
    let d = run(&v, &signed(notification(), &AWS, "2")).unwrap();
    assert_eq!(v.sns_subscribe_url(&d), None);
    let mut m = confirmation();
    m["SubscribeURL"] = "https://evil.example/?Action=ConfirmSubscription".into();
    let d = run(&v, &signed(m, &AWS, "2")).unwrap();
    assert_eq!(v.sns_subscribe_url(&d), None);
    // Another verifier kind never answers it, even for an SNS delivery.
    let d = run(&v, &signed(confirmation(), &AWS, "2")).unwrap();
    assert!(v.sns_subscribe_url(&d).is_some());
    assert_eq!(Verifier::new(providers::GITHUB, "s").unwrap().sns_subscribe_url(&d), None);
    // A custom scheme that calls itself aws-sns is not Amazon SNS.
    static FAKE: webhook_core::scheme::Scheme = webhook_core::scheme::Scheme::new(
        "aws-sns",
        &["X-Fake"],
        webhook_core::scheme::Algorithm::HmacSha256,
        webhook_core::scheme::Encoding::Hex,
    );
    assert_ne!(webhook_core::Provider::custom(&FAKE), providers::AWS_SNS);
    assert_eq!(Verifier::new(webhook_core::Provider::custom(&FAKE), "s").unwrap().sns_subscribe_url(&d), None);
    // Signing is AWS's: the crate refuses to.
    let err = v.sign(&webhook_core::SignRequest::new(b"{}", UNIX_EPOCH)).unwrap_err();
    assert!(err.to_string().contains("cannot sign"), "{err}");
    // The store refuses what is not a certificate.
    assert!(SigningCertificate::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").is_err());
    assert!(SigningCertificate::from_der(b"\x30\x00").is_err());
}
