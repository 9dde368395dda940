//! `webhook sign` for every provider in `Provider::all()`: what it prints verifies with
//! `webhook_core::Verifier::verify`, with the public key for Ed25519 and ECDSA providers;
//! a changed body, another key or another time does not.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use common::*;
use serde_json::Value;
use webhook_core::{providers, KeyFormat, Provider, Verifier, WebhookRequest};

const TS: u64 = 1_700_000_000;
const ID: &str = "msg_cli_1";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_WHSEC: &str = "whsec_c2VjcmV0LWtleS1udW1iZXItdHdv";

/// One JSON body every provider accepts: the ids and types each reads from the body, and
/// the signed body timestamps at [`TS`]: Linear's `webhookTimestamp` (milliseconds),
/// Klaviyo's `meta.timestamp` (RFC 3339).
fn body() -> Vec<u8> {
    format!(
        r#"{{"id":"evt_1","type":"ping","event_id":"ev_1","event_type":"form_response","object":"page","event":{{"id":"pd_1","event_type":"incident.triggered","type":"app_mention"}},"webhookTimestamp":{},"meta":{{"timestamp":"2023-11-14T22:13:20Z"}}}}"#,
        TS * 1000
    )
    .into_bytes()
}

/// A P-256 private key as openssl writes it (`openssl genpkey`): PKCS#8 PEM.
fn p256_pkcs8_pem(scalar: [u8; 32]) -> String {
    use p256::pkcs8::EncodePrivateKey;
    let der = p256::SecretKey::from_slice(&scalar).unwrap().to_pkcs8_der().unwrap();
    pem("PRIVATE KEY", der.as_bytes())
}

/// The same key as `openssl ecparam -genkey` writes it: SEC1 PEM.
fn p256_sec1_pem(scalar: [u8; 32]) -> String {
    let der = p256::SecretKey::from_slice(&scalar).unwrap().to_sec1_der().unwrap();
    pem("EC PRIVATE KEY", &der)
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// SendGrid's form of the public key: base64 DER SubjectPublicKeyInfo.
fn p256_public(scalar: [u8; 32]) -> String {
    use p256::pkcs8::EncodePublicKey;
    let der = p256::SecretKey::from_slice(&scalar).unwrap().public_key().to_public_key_der().unwrap();
    base64::engine::general_purpose::STANDARD.encode(der.as_bytes())
}

fn ed25519_public(seed: [u8; 32]) -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes()
}

/// The key `webhook sign` is given, the key the receiver verifies with (the public key for
/// asymmetric providers), and a different key the receiver might hold instead.
fn keys(p: Provider) -> (String, String, String) {
    match p.key_format() {
        KeyFormat::StandardWebhooks | KeyFormat::WhsecOrUtf8 => (WHSEC.into(), WHSEC.into(), OTHER_WHSEC.into()),
        KeyFormat::Ed25519Hex => (
            format!("seed:{}", hex::encode([7; 32])),
            hex::encode(ed25519_public([7; 32])),
            hex::encode(ed25519_public([8; 32])),
        ),
        KeyFormat::Ed25519Base64 => {
            let b64 = base64::engine::general_purpose::STANDARD;
            (
                format!("seed:{}", hex::encode([7; 32])),
                b64.encode(ed25519_public([7; 32])),
                b64.encode(ed25519_public([8; 32])),
            )
        }
        KeyFormat::Hex => (hex::encode([0x5a; 32]), hex::encode([0x5a; 32]), hex::encode([0x5b; 32])),
        KeyFormat::Base64 => {
            let b64 = base64::engine::general_purpose::STANDARD;
            (b64.encode([0x5a; 32]), b64.encode([0x5a; 32]), b64.encode([0x5b; 32]))
        }
        KeyFormat::P256Der => (p256_pkcs8_pem([0x24; 32]), p256_public([0x24; 32]), p256_public([0x25; 32])),
        _ => (format!("s3cret-for-{}", p.name()), format!("s3cret-for-{}", p.name()), "another-secret".into()),
    }
}

/// The URL signed for the providers that sign one.
fn url_for(p: Provider) -> Option<&'static str> {
    match p.name() {
        "twilio" => Some("https://example.com/hooks/twilio?account=1"),
        "square" => Some("https://example.com/hooks/square"),
        "hubspot" => Some("https://example.com/hooks/hubspot?portal=1"),
        "trello" => Some("https://example.com/hooks/trello"),
        "mandrill" => Some("https://example.com/hooks/mandrill"),
        "contentful" => Some("https://example.com/hooks/contentful?space=1"),
        _ => None,
    }
}

struct Delivery {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    url: Option<String>,
    out: Value,
}

/// `webhook sign --json` for `p`, the body on standard input, the secret through
/// `--secret-env`.
fn sign_json(p: Provider, secret: &str, body: &[u8], extra: &[&str]) -> Delivery {
    let mut cmd = webhook();
    cmd.args(["sign", "--provider", p.name(), "--secret-env", "CLI_TEST_SECRET", "--json"])
        .args(["--timestamp", &TS.to_string(), "--id", ID, "--event-type", "ping"])
        .args(extra)
        .env("CLI_TEST_SECRET", secret);
    if let Some(url) = url_for(p) {
        cmd.args(["--url", url]);
    }
    if p == providers::GITLAB || p.signature_header() == Some("Authorization") {
        cmd.arg("--show-token");
    }
    let out = run_with_stdin(cmd, body);
    assert_exit(&out, 0);
    let v = json(&out);
    assert_eq!(v["provider"], p.name());
    assert_eq!(v["timestamp"], TS);
    let headers: Vec<(String, String)> = v["headers"]
        .as_object()
        .unwrap_or_else(|| panic!("{}: no headers object in {v}", p.name()))
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    assert!(!headers.is_empty(), "{}: no headers", p.name());
    let body = match v.get("body") {
        Some(b) => b.as_str().unwrap().as_bytes().to_vec(),
        None => body.to_vec(),
    };
    let url = v.get("url").map(|u| u.as_str().unwrap().to_owned());
    // Asked with --show-token, the token providers print their secret; no other does.
    if p != providers::GITLAB && p.signature_header() != Some("Authorization") {
        let printed = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!printed.contains(secret.trim()), "{}: the secret was printed", p.name());
    }
    Delivery { headers, body, url, out: v }
}

fn verify(
    p: Provider,
    key: &str,
    d: &Delivery,
    body: &[u8],
    now: SystemTime,
) -> Result<webhook_core::Verified, String> {
    let verifier = Verifier::new(p, key).map_err(|e| format!("verifier: {e}"))?;
    let mut req = WebhookRequest::new(&d.headers, body.to_vec());
    if let Some(url) = &d.url {
        req = req.with_url(url);
    }
    verifier.verify(&req, now).map_err(|e| e.to_string())
}

#[test]
fn every_provider_signs_what_its_verifier_accepts() {
    let at = UNIX_EPOCH + Duration::from_secs(TS);
    let mut failures = Vec::new();
    let mut with_id = 0;
    for &p in Provider::all() {
        if p == providers::AWS_SNS || p == providers::PAYPAL {
            continue; // only AWS and PayPal sign: see aws_sns_cannot_be_signed
        }
        let (sign_key, verify_key, other_key) = keys(p);
        // Mailgun's event data has a string `event` (webhook-core cannot read an envelope
        // whose `event-data.event` is an object, as PagerDuty's part of the shared body is).
        let body = if p == providers::MAILGUN { br#"{"id":"evt_1","event":"delivered"}"#.to_vec() } else { body() };
        let d = sign_json(p, &sign_key, &body, &[]);
        let name = p.name();

        match verify(p, &verify_key, &d, &d.body, at) {
            Ok(delivery) => {
                assert_eq!(delivery.provider(), name);
                // Where the id or the type travels in a header, it is the one given.
                if d.headers.iter().any(|(_, v)| v == ID) {
                    with_id += 1;
                    assert_eq!(delivery.id(), Some(ID), "{name}: id");
                }
                if d.headers.iter().any(|(_, v)| v == "ping") {
                    assert_eq!(delivery.event_type(), Some("ping"), "{name}: event type");
                }
            }
            Err(e) => failures.push(format!("{name}: does not verify: {e}\n{}", d.out)),
        }
        // Mailgun signs only its timestamp and token; GitLab's token and the credentials
        // providers (HTTP Basic, Okta's Authorization) sign nothing.
        if !["mailgun", "gitlab", "postmark", "chargebee", "pipedrive", "okta"].contains(&name) {
            let mut tampered = d.body.clone();
            let last = tampered.len() - 2;
            tampered[last] ^= 1;
            if verify(p, &verify_key, &d, &tampered, at).is_ok() {
                failures.push(format!("{name}: a changed body still verifies"));
            }
        }
        if verify(p, &other_key, &d, &d.body, at).is_ok() {
            failures.push(format!("{name}: another key verifies"));
        }
        if p.default_tolerance().is_some()
            && verify(p, &verify_key, &d, &d.body, at + Duration::from_secs(86_400)).is_ok()
        {
            failures.push(format!("{name}: --timestamp was not the signed time"));
        }
        if let Some(public) = d.out.get("public_key") {
            assert_eq!(public.as_str(), Some(verify_key.as_str()), "{name}: printed public key");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // GitHub, the Standard Webhooks family, Shopify, GitLab, Twilio, Linear, Twitch, ...
    assert!(with_id >= 10, "--id reached only {with_id} providers' id headers");
}

#[test]
fn asymmetric_keys_in_every_accepted_form() {
    let at = UNIX_EPOCH + Duration::from_secs(TS);
    let scalar = [0x31; 32];
    let public = p256_public(scalar);
    for key in [p256_pkcs8_pem(scalar), p256_sec1_pem(scalar), format!("p256:{}", hex::encode(scalar))] {
        let d = sign_json(providers::SENDGRID, &key, &body(), &[]);
        assert_eq!(d.out["public_key"], public.as_str());
        verify(providers::SENDGRID, &public, &d, &d.body, at).unwrap();
    }
    // Standard Webhooks' Ed25519 keys: whsk_ signs v1a, whpk_ verifies.
    let b64 = base64::engine::general_purpose::STANDARD;
    let whsk = format!("whsk_{}", b64.encode([9; 32]));
    let whpk = format!("whpk_{}", b64.encode(ed25519_public([9; 32])));
    let d = sign_json(providers::STANDARD_WEBHOOKS, &whsk, &body(), &[]);
    assert_eq!(d.out["public_key"], whpk.as_str());
    assert!(d.headers.iter().any(|(k, v)| k == "webhook-signature" && v.starts_with("v1a,")), "{:?}", d.headers);
    verify(providers::STANDARD_WEBHOOKS, &whpk, &d, &d.body, at).unwrap();
}

#[test]
fn public_keys_cannot_sign() {
    let cases = [
        ("discord", hex::encode(ed25519_public([7; 32]))),
        ("sendgrid", p256_public([0x24; 32])),
        (
            "standard-webhooks",
            format!("whpk_{}", base64::engine::general_purpose::STANDARD.encode(ed25519_public([9; 32]))),
        ),
    ];
    for (name, key) in cases {
        let out = run(&["sign", "-p", name, "--secret", &key, "--timestamp", "1"]);
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(err.starts_with(&format!("error: bad secret for {name}")), "{err}");
        assert!(err.contains("public key") || err.contains("private key"), "{err}");
        assert!(!err.contains(&key), "the key was printed: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn twilio_signs_json_through_the_url_and_forms_through_their_parameters() {
    let at = UNIX_EPOCH + Duration::from_secs(TS);
    let (key, ..) = keys(providers::TWILIO);
    let d = sign_json(providers::TWILIO, &key, &body(), &[]);
    let url = d.url.clone().unwrap();
    assert!(url.starts_with("https://example.com/hooks/twilio?account=1&bodySHA256="), "{url}");
    verify(providers::TWILIO, &key, &d, &d.body, at).unwrap();

    let form = b"From=%2B15005550006&Body=hello&To=%2B15005550001";
    let d = sign_json(providers::TWILIO, &key, form, &[]);
    assert_eq!(d.url.as_deref(), url_for(providers::TWILIO));
    verify(providers::TWILIO, &key, &d, form, at).unwrap();
    let verified = verify(providers::TWILIO, &key, &d, b"From=%2B15005550006&Body=hellO&To=%2B15005550001", at);
    assert!(verified.is_err(), "a changed form parameter still verifies");
}

#[test]
fn providers_that_sign_the_url_require_it() {
    for name in ["twilio", "square"] {
        let out = run_with_stdin(
            {
                let mut c = webhook();
                c.args(["sign", "-p", name, "--secret", "s3cret"]);
                c
            },
            b"{}",
        );
        assert_exit(&out, 2);
        assert_eq!(stderr(&out), format!("error: {name} signs the URL the delivery is posted to: pass --url\n"));
    }
}

#[test]
fn human_output_is_header_lines_that_verify() {
    let body = br#"{"zen":"Keep it logically awesome."}"#;
    let dir = std::env::temp_dir().join(format!("webhook-cli-sign-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("body.json");
    std::fs::write(&file, body).unwrap();
    let out = run(&[
        "sign",
        "--provider",
        "GitHub",
        "--secret",
        "It's a Secret to Everybody",
        "--event-type",
        "push",
        file.to_str().unwrap(),
    ]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_exit(&out, 0);
    let headers: Vec<(String, String)> = stdout(&out)
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(": ").unwrap_or_else(|| panic!("not a header line: {l:?}"));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    assert_eq!(headers[0].0, "X-Hub-Signature-256");
    let verifier = Verifier::new(providers::GITHUB, "It's a Secret to Everybody").unwrap();
    let delivery = verifier.verify(&WebhookRequest::new(&headers, &body[..]), SystemTime::now()).unwrap();
    assert_eq!(delivery.event_type(), Some("push"));
    // No --id: derived from the timestamp and the body.
    assert!(delivery.id().unwrap().starts_with("msg_"), "{:?}", delivery.id());
}

#[test]
fn the_default_timestamp_is_now() {
    let secret = "whsec_test_secret";
    let body = br#"{"id":"evt_now","type":"invoice.paid"}"#;
    let mut cmd = webhook();
    cmd.args(["sign", "-p", "stripe", "--secret", secret, "--json"]);
    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let v = json(&run_with_stdin(cmd, body));
    let ts = v["timestamp"].as_u64().unwrap();
    assert!(ts >= before && ts <= before + 60, "timestamp {ts}, started at {before}");
    let headers: Vec<(String, String)> =
        v["headers"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())).collect();
    let delivery = Verifier::new(providers::STRIPE, secret)
        .unwrap()
        .verify(&WebhookRequest::new(&headers, &body[..]), SystemTime::now())
        .unwrap();
    assert_eq!(delivery.id(), Some("evt_now"));
}

#[test]
fn mailgun_prints_the_body_to_send_after_the_headers() {
    let mut cmd = webhook();
    cmd.args(["sign", "-p", "mailgun", "--secret", "key-mailgun", "--timestamp", &TS.to_string()]);
    let out = run_with_stdin(cmd, br#"{"id":"ev1","event":"delivered"}"#);
    assert_exit(&out, 0);
    let text = stdout(&out);
    let (head, sent) = text.split_once("\n\n").unwrap_or_else(|| panic!("no blank line before the body: {text}"));
    assert_eq!(head, "Content-Type: application/json");
    let headers = [("Content-Type", "application/json")];
    let delivery = Verifier::new(providers::MAILGUN, "key-mailgun")
        .unwrap()
        .verify(
            &WebhookRequest::new(&headers, sent.trim_end().as_bytes().to_vec()),
            UNIX_EPOCH + Duration::from_secs(TS),
        )
        .unwrap();
    // The delivery id is the signed token (never the unsigned event-data.id).
    let token = delivery.id().unwrap().to_owned();
    assert!(sent.contains(&format!(r#""token":"{token}""#)), "{sent}");
    assert_eq!((delivery.event_id(), delivery.event_type()), (Some("ev1"), Some("delivered")));
}

#[test]
fn gitlab_token_is_redacted_unless_asked_for() {
    let token = "glpat-plaintext-token";
    let out = run_with_stdin(
        {
            let mut c = webhook();
            c.args(["sign", "-p", "gitlab", "--secret", token]);
            c
        },
        b"{}",
    );
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("X-Gitlab-Token: [REDACTED]"), "{}", stdout(&out));
    assert!(stderr(&out).contains("--show-token"), "{}", stderr(&out));
    assert!(!format!("{}{}", stdout(&out), stderr(&out)).contains(token));

    let mut c = webhook();
    c.args(["sign", "-p", "gitlab", "--secret", token, "--show-token"]);
    let out = run_with_stdin(c, b"{}");
    assert_exit(&out, 0);
    assert!(stdout(&out).contains(&format!("X-Gitlab-Token: {token}")), "{}", stdout(&out));
}

#[test]
fn basic_credentials_are_redacted_unless_asked_for() {
    let secret = "Aladdin:open sesame";
    let encoded = "QWxhZGRpbjpvcGVuIHNlc2FtZQ==";
    let mut c = webhook();
    c.args(["sign", "-p", "postmark", "--secret", secret]);
    let out = run_with_stdin(c, b"{}");
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("Authorization: [REDACTED]"), "{}", stdout(&out));
    assert!(!format!("{}{}", stdout(&out), stderr(&out)).contains(encoded));
    let mut c = webhook();
    c.args(["sign", "-p", "postmark", "--secret", secret, "--show-token"]);
    let out = run_with_stdin(c, b"{}");
    assert_exit(&out, 0);
    assert!(stdout(&out).contains(&format!("Authorization: Basic {encoded}")), "{}", stdout(&out));
}

#[test]
fn aws_sns_cannot_be_signed() {
    let mut c = webhook();
    c.args(["sign", "-p", "aws-sns", "--secret", "arn:aws:sns:eu-west-1:123456789012:orders"]);
    let out = run_with_stdin(c, b"{}");
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.starts_with("error: cannot sign as aws-sns"), "{err}");
    assert!(!err.contains("arn:aws:sns"), "the secret was printed: {err}");
}

#[test]
fn unreadable_body_file_is_an_error() {
    let out = run(&["sign", "-p", "github", "--secret", "x", "/nonexistent/body.json"]);
    assert_exit(&out, 1);
    assert!(stderr(&out).starts_with("error: cannot read the body from /nonexistent/body.json"), "{}", stderr(&out));
}
