//! Writes the seed corpus: `fuzz/corpus/<target>/seed-*`, in each target's framing.
//!
//! ```text
//! cargo +nightly run --manifest-path fuzz/Cargo.toml --example seeds
//! ```
//!
//! Seeds are the repository's known-answer vectors (crates/webhook-core/tests/vectors) and
//! deliveries the core signs with the fuzz configurations' keys, so every target starts from
//! inputs that pass verification. Deterministic: running it again rewrites the same files.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::Value;
use webhook_core::{Provider, SignRequest};
use webhook_core_fuzz::configs::{
    self, DISCORD_PUBLIC, DISCORD_SEED, FUSIONAUTH_EC_PUBLIC, FUSIONAUTH_HMAC, FUSIONAUTH_RSA_PUBLIC, P256_SCALAR,
    SENDGRID_PUBLIC_A, WHPK, WHSEC_A, WHSK,
};
use webhook_core_fuzz::fixtures::{
    self, list_schemes, single_schemes, space_schemes, TsMode, BODY, NOW_SECS, TS_MODES,
};
use webhook_core_fuzz::frame::Delivery;

struct Corpus {
    root: PathBuf,
    total: usize,
}

impl Corpus {
    fn write(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.root.join(target);
        let name: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
        self.total += bytes.len();
    }
}

fn main() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.join("corpus");
    let targets = [
        "verify_any",
        "sign_roundtrip",
        "sig_list",
        "sig_standard",
        "sig_single",
        "timestamp",
        "keys",
        "twilio",
        "mailgun",
        "handshake",
        "forwarded",
    ];
    for t in targets {
        let dir = root.join(t);
        fs::create_dir_all(&dir).unwrap();
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            // `seed-found-*`: inputs a fuzzing run found and that are kept by hand.
            if name.starts_with("seed-") && !name.starts_with("seed-found-") {
                fs::remove_file(path).unwrap();
            }
        }
    }
    let mut corpus = Corpus { root, total: 0 };
    let vectors = manifest.join("../crates/webhook-core/tests/vectors");
    let rows = vector_rows(&vectors);

    verify_any(&mut corpus, &rows);
    certificate_signed(&mut corpus);
    sign_roundtrip(&mut corpus);
    signature_headers(&mut corpus, &rows);
    timestamps(&mut corpus);
    keys(&mut corpus);
    twilio(&mut corpus, &rows);
    mailgun(&mut corpus, &rows);
    handshake(&mut corpus);
    forwarded(&mut corpus);
    println!("wrote {} bytes of seeds under {}", corpus.total, corpus.root.display());
}

/// A known-answer row, read as tests/known_answers.rs reads it.
struct Row {
    name: String,
    provider: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    url: Option<String>,
    now: u64,
    no_tolerance: bool,
}

fn vector_rows(dir: &Path) -> Vec<Row> {
    let mut rows = Vec::new();
    for (file, section) in [
        ("known_answers.json", "official"),
        ("known_answers.json", "illustrative"),
        ("sdk_vectors.json", "sdk"),
        ("sdk_vectors.json", "documented"),
    ] {
        let doc: Value = serde_json::from_slice(&fs::read(dir.join(file)).unwrap()).unwrap();
        for (i, r) in doc[section].as_array().unwrap().iter().enumerate() {
            let body = if let Some(b) = r.get("body") {
                b.as_str().unwrap().as_bytes().to_vec()
            } else if let Some(b) = r.get("body_base64") {
                base64::engine::general_purpose::STANDARD.decode(b.as_str().unwrap()).unwrap()
            } else {
                let bytes = fs::read(dir.join(r["body_file"].as_str().unwrap())).unwrap();
                if r.get("body_strip").and_then(Value::as_bool) == Some(true) {
                    bytes.trim_ascii().to_vec()
                } else {
                    bytes
                }
            };
            let provider = r["provider"].as_str().unwrap().to_owned();
            rows.push(Row {
                name: format!("{section}-{provider}-{i}"),
                provider,
                headers: r["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| (h[0].as_str().unwrap().to_owned(), h[1].as_str().unwrap().to_owned()))
                    .collect(),
                body,
                url: r.get("url").and_then(Value::as_str).map(str::to_owned),
                now: r["now"].as_u64().unwrap(),
                no_tolerance: r.get("no_tolerance").and_then(Value::as_bool) == Some(true),
            });
        }
    }
    rows
}

/// A body for signing as `label`'s provider.
fn body_for(label: &str) -> &'static [u8] {
    match label {
        "twilio" | "twilio@url" => b"CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030",
        "mailgun" => br#"{"id":"ev-1","event":"delivered","recipient":"a@example.com"}"#,
        "adyen" => br#"{"live":"false","notificationItems":[{"NotificationRequestItem":{"pspReference":"7914073381342284","merchantAccountCode":"TestMerchant","merchantReference":"TestPayment-1407325143704","amount":{"value":1130,"currency":"EUR"},"eventCode":"AUTHORISATION","success":"true"}}]}"#,
        _ => BODY,
    }
}

fn verify_any(corpus: &mut Corpus, rows: &[Row]) {
    for row in rows {
        let headers: Vec<(&str, &[u8])> = row.headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect();
        let frame = Delivery::encode(
            configs::selector_for_provider(&row.provider),
            u8::from(row.no_tolerance),
            row.now,
            row.url.as_deref(),
            &headers,
            &row.body,
        );
        corpus.write("verify_any", &row.name, &frame);
    }
    // A delivery signed by the core for every configuration; and the rotation variant
    // after the old keys expired.
    for (variant, now) in [(0u8, NOW_SECS), (2, NOW_SECS)] {
        for cfg in configs::all() {
            let url = cfg.url.or(match cfg.name() {
                "twilio" => Some(configs::TWILIO_URL),
                "square" => Some(configs::SQUARE_URL),
                _ => None,
            });
            let mut req = SignRequest::new(body_for(cfg.label), UNIX_EPOCH + Duration::from_secs(now))
                .id("delivery-1")
                .event_type("ping");
            if let Some(u) = url {
                req = req.url(u);
            }
            let Ok(signed) = cfg.verifier(variant).sign(&req) else {
                continue; // public keys only
            };
            let headers: Vec<(&str, &[u8])> = signed.headers().iter().map(|(k, v)| (*k, v.as_bytes())).collect();
            let frame = Delivery::encode(configs::selector(cfg.label), variant, now, url, &headers, signed.body());
            corpus.write("verify_any", &format!("signed-{}-v{variant}", cfg.label), &frame);
        }
    }
}

/// The private key of `configs::TEST_CERT_PEM` (PKCS#8 DER, base64): made for the harness,
/// signs nothing but these seeds.
const TEST_CERT_KEY: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC+Sw8wsZxUOx9GGnR5fggOkM81ss+T5iniIZprLZj3F6yHcOK9JAAqZaXsgvzsn25tVnmOkkKyqkoF2h8eG5+rzPXdqPYklkd+xL+jDjOZsDxuF2FS8T2+kGcX3ulvGc8C2bkaizm88rVcaFRlPiewMHeiH7dz207RnJq3TUyVcqoY9SvaPb7Ml2MPtKFYhcmWoxUaCwEOZU74YTEmsyTGUB5I4HGATHxSEHxn/MbfrPYGKCwyjQQE8pbf/JJzxeS3H0QqjV5yyLPqFU/TYVT9KIUKOpST8l9yEKrJF+cle8EJcWUDak3ngA9flRlKpraRTjDxrG4kLm02DZRC6ZhPAgMBAAECggEABh0ayriYUWgFwIhkKnsWVBF4veddAbSMdigYcjGFD3s7dHS+5etq2JyHbUbzocBTxCOEqEQwepyRGSWzTyAZ2kb0mQa9Ub5E8cQmPAf6xjO7Fi9Ix6ISwYqZs4u+Fm8H1n0plCwStiVaiIfyc4ZAzRCMPL+l5I0CG3wijwtKSJkQ6Ho5WW8zG4aaaGsjhLzXI1Nx228e8IOsKD2asSsge3pJqWUnTTH/dUH9YXItHCajYNguMNr2s0rP1eWJ7AbeAeyuJCcILs4STo8yzCKm6d2SY1Dn5e7Ym6X5QDKfe1jLv4KqdctgB6m51UaERRGFCP2WiQBd3ioxhwRMsdI/4QKBgQD0WFcKRepQkp6+/VZgJO5upI7U/ifYCDjXbzjYb80XPObmKw7h4nTvdW6sUV46Eiq5BgZGChnyYTHmPC9DkPVsdlPZbbp0SmRwi97PnnnNYWy5PnSq17NGuERNuy3z5xVEAgOG6LHQPboUa2hjo1zyACLf0kk89FC9pYCdXkn1+QKBgQDHXrNA73JNA3uwRJi69jc2Lia/05M4oZBFxz9+/JnuJhsGOZNVdRot7aq0kjOf1olY62HAvyBPsm3ShBPLW96D4gLgu+y7B8bFvIpdAGS2vyZaZkvpf421Zlk8jqwW/iuyu0SPV/bsxaHPTihcYX9+t2Ds1uU1GBUOmoO0hWByhwKBgQDBZ5MtnH2FXSiuABR4cYMQrMwppyqegpOLYovaNVReymPxV6+l9/ua9patapJs4KhUX4JjuecjxO8cUBMRJhI80cQ42/OzzJaHxw6Lw+KhQDYwwlDSUX2jwoK+DCSpZAWfGQD1rgXg0JsTQpkUFOCi5Jy2ENrLlo66LeAJr/JW8QKBgBiu/t6BRtOGJOAz/fzX0wogOKfzV/zg8+3Pt2rPd3dmvF3O7xDbiLw6+rGUkFOvyh16NwYYI7X6T2KK+7Bn1WrapqSQX8TgN5nvt+m/zLhbfjIfDDMCmdblrxKyT1gha+ObD+f3ahjydxAlixW09IYJyjRIfuRN8P133+qPwNstAoGAfpGMgr4C0tWcQYnyeFM8GkbPwAJHsZs956Dpcr78QmkV74ro/yRj8+M2fHsumIrggGMiYTy6I7SDJEmJ9pQZTuTmuVQsLLM+uPQPud5c5s6L0Qe+2kzr3lZLDADZVzAl+qX6l9dGG00FTL9mJpD7yomWd6AtJRklTOMBr0nld0M=";

/// Amazon SNS messages (both signature versions, a notification and a subscription
/// confirmation) and a PayPal delivery, signed with the harness certificate's key as AWS
/// and PayPal document it: only they can sign, so the core cannot make these seeds.
fn certificate_signed(corpus: &mut Corpus) {
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::{SignatureEncoding, Signer};
    let der = base64::engine::general_purpose::STANDARD.decode(TEST_CERT_KEY).unwrap();
    let key = rsa::RsaPrivateKey::from_pkcs8_der(&der).unwrap();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let notification = serde_json::json!({
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": configs::SNS_TOPIC,
        "Subject": "Order placed",
        "Message": "{\"order\":\"ord_1\"}",
        "Timestamp": "2023-11-14T22:13:20.000Z",
        "SigningCertURL": configs::SNS_CERT_URL,
    });
    let confirmation = serde_json::json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92",
        "TopicArn": configs::SNS_TOPIC,
        "Message": "You have chosen to subscribe to the topic.",
        "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f",
        "Timestamp": "2023-11-14T22:13:20.000Z",
        "SigningCertURL": configs::SNS_CERT_URL,
    });
    for (name, mut msg) in [("notification", notification), ("confirmation", confirmation)] {
        for version in ["1", "2"] {
            // Each present field's name and value on their own lines, in AWS's order.
            let fields: &[&str] = if msg["Type"] == "Notification" {
                &["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
            } else {
                &["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
            };
            let data: String = fields
                .iter()
                .filter_map(|f| msg.get(*f).and_then(Value::as_str).map(|v| format!("{f}\n{v}\n")))
                .collect();
            let sig = if version == "1" {
                rsa::pkcs1v15::SigningKey::<sha1::Sha1>::new(key.clone()).sign(data.as_bytes()).to_vec()
            } else {
                rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone()).sign(data.as_bytes()).to_vec()
            };
            msg["SignatureVersion"] = version.into();
            msg["Signature"] = b64(&sig).into();
            let body = serde_json::to_vec(&msg).unwrap();
            check_verifies("aws-sns", &[], &body);
            let frame = Delivery::encode(configs::selector("aws-sns"), 0, NOW_SECS, None, &[], &body);
            corpus.write("verify_any", &format!("signed-aws-sns-{name}-v{version}"), &frame);
        }
    }
    let body = br#"{"id":"WH-2WR32451HC0233532-67976317FL4543714","event_type":"PAYMENT.SALE.COMPLETED","resource":{"id":"8PA41891EU6584915"}}"#;
    let (id, time) = ("69cd13f0-d67a-11e5-baa3-778b53f4ae55", "2023-11-14T22:13:20Z");
    let signed = format!("{id}|{time}|{}|{}", configs::PAYPAL_WEBHOOK_ID, crc32fast::hash(body));
    let sig = b64(&rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key).sign(signed.as_bytes()).to_vec());
    let headers: Vec<(&str, &[u8])> = vec![
        ("PAYPAL-TRANSMISSION-ID", id.as_bytes()),
        ("PAYPAL-TRANSMISSION-TIME", time.as_bytes()),
        ("PAYPAL-TRANSMISSION-SIG", sig.as_bytes()),
        ("PAYPAL-CERT-URL", configs::PAYPAL_CERT_URL.as_bytes()),
        ("PAYPAL-AUTH-ALGO", b"SHA256withRSA"),
    ];
    check_verifies("paypal", &headers, body);
    let frame = Delivery::encode(configs::selector("paypal"), 0, NOW_SECS, None, &headers, body);
    corpus.write("verify_any", "signed-paypal", &frame);
}

/// Panics unless the configuration labelled `label` verifies this delivery at `NOW_SECS`.
fn check_verifies(label: &str, headers: &[(&str, &[u8])], body: &[u8]) {
    let cfg = &configs::all()[usize::from(configs::selector(label))];
    let headers = headers.to_vec();
    let req = webhook_core::WebhookRequest::new(&headers, body.to_vec());
    if let Err(e) = cfg.verifier(0).verify(&req, UNIX_EPOCH + Duration::from_secs(NOW_SECS)) {
        panic!("the {label} seed does not verify: {e}");
    }
}

fn sign_roundtrip(corpus: &mut Corpus) {
    for cfg in configs::all() {
        let url = cfg.url.unwrap_or(match cfg.name() {
            "twilio" => configs::TWILIO_URL,
            "square" => configs::SQUARE_URL,
            _ => "https://example.com/hook",
        });
        let mut frame = vec![configs::weighted_selector(cfg.label), 0];
        frame.extend_from_slice(&NOW_SECS.to_le_bytes());
        frame.extend_from_slice(&123_456_789u32.to_le_bytes());
        frame.push(0b0111); // id, event type, URL
        frame.extend_from_slice(&7u16.to_le_bytes());
        frame.push(0x20);
        frame.extend_from_slice(format!("delivery-1\nping\n{url}\n").as_bytes());
        frame.extend_from_slice(body_for(cfg.label));
        corpus.write("sign_roundtrip", cfg.label, &frame);
    }
    // Twilio's JSON form (`bodySHA256` in the URL).
    let mut frame = vec![configs::weighted_selector("twilio"), 0];
    frame.extend_from_slice(&NOW_SECS.to_le_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0, 0b1101, 3, 0, 1]);
    frame.extend_from_slice(format!("delivery-1\n\n{}\n{{\"a\":1}}", configs::TWILIO_URL).as_bytes());
    corpus.write("sign_roundtrip", "twilio-json", &frame);
}

fn signature_headers(corpus: &mut Corpus, rows: &[Row]) {
    let now = NOW_SECS.to_string();
    for (i, s) in list_schemes().iter().enumerate() {
        let sel = u8::try_from(i).unwrap();
        let valid = s.valid_header(&now);
        corpus.write("sig_list", &format!("{}-valid", s.name), &[&[sel], valid.as_bytes()].concat());
        // A rotation: unknown versions and a second signature around the valid one.
        let (sep, assign) = (char::from(s.separator), char::from(s.assign));
        let label = std::str::from_utf8(s.sig_label).unwrap();
        let extra = format!("{valid}{sep} v0{assign}{}{sep}{label}{assign}{}", "ab".repeat(32), "cd".repeat(32));
        corpus.write("sig_list", &format!("{}-rotation", s.name), &[&[sel], extra.as_bytes()].concat());
        for row in rows.iter().filter(|r| r.provider == s.name) {
            if let Some((_, v)) = row.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(s.header)) {
                corpus.write("sig_list", &row.name, &[&[sel], v.as_bytes()].concat());
            }
        }
    }
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    for (i, s) in space_schemes().iter().enumerate() {
        let sel = u8::try_from(i).unwrap();
        let mut value = format!("v1,{}", b64(&s.v1));
        corpus.write("sig_standard", &format!("{}-v1", s.name), &[&[sel], value.as_bytes()].concat());
        if let Some(v1a) = &s.v1a {
            value = format!("v1,{} v1a,{} v2,AAAA", b64(&[0u8; 32]), b64(v1a));
            corpus.write("sig_standard", &format!("{}-v1a", s.name), &[&[sel], value.as_bytes()].concat());
        }
    }
    for (i, s) in single_schemes().iter().enumerate() {
        let sel = u8::try_from(i).unwrap();
        corpus.write("sig_single", s.label, &[&[sel], s.valid.as_bytes()].concat());
    }
}

fn timestamps(corpus: &mut Corpus) {
    for (i, mode) in TS_MODES.iter().enumerate() {
        let sel = u8::try_from(i).unwrap();
        let tol = fixtures::ts_verifier(*mode).tolerance().unwrap().as_secs();
        let values: Vec<String> = match mode {
            TsMode::Twitch => vec![
                "2023-11-14T22:13:20Z".into(),
                "2023-11-14T22:13:20.123456789Z".into(),
                "2023-11-14T22:03:20Z".into(),
                "2024-02-29T00:00:00.5Z".into(),
            ],
            TsMode::Linear => vec![
                format!("{NOW_SECS}000"),
                format!("\"{NOW_SECS}123\""),
                format!("{}", (NOW_SECS - tol) * 1000),
                "1.7e12".into(),
            ],
            _ => vec![NOW_SECS.to_string(), (NOW_SECS - tol).to_string(), (NOW_SECS + tol + 1).to_string()],
        };
        for (j, v) in values.iter().enumerate() {
            corpus.write("timestamp", &format!("{mode:?}-{j}"), &[&[sel], v.as_bytes()].concat());
        }
    }
}

fn keys(corpus: &mut Corpus) {
    let provider = |name: &str| u8::try_from(Provider::all().iter().position(|p| p.name() == name).unwrap()).unwrap();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
        &SENDGRID_PUBLIC_A[..64],
        &SENDGRID_PUBLIC_A[64..]
    );
    let text_seeds: Vec<(&str, u8, u8, String)> = vec![
        ("utf8", 0, 0, "It's a Secret to Everybody".into()),
        ("sw-whsec", 1, 0, WHSEC_A.into()),
        ("sw-whpk", 1, 0, WHPK.into()),
        ("sw-whsk", 1, 0, format!(" {WHSK} ")),
        ("whsec-or-utf8", 2, 0, WHSEC_A.into()),
        ("ed25519-seed", 3, 0, DISCORD_SEED.into()),
        ("ed25519-public", 3, 0, DISCORD_PUBLIC.into()),
        ("p256-der", 4, 0, SENDGRID_PUBLIC_A.into()),
        ("p256-pem", 4, 0, pem.clone()),
        ("secret-sw", 5, 0, WHSEC_A.into()),
        ("secret-p256", 6, 0, pem),
        ("builder-github", 10, provider("github"), "s3cret".into()),
        ("builder-sw-whsk", 10, provider("standard-webhooks"), WHSK.into()),
        ("builder-discord", 10, provider("discord"), DISCORD_SEED.into()),
        ("builder-sendgrid", 10, provider("sendgrid"), SENDGRID_PUBLIC_A.into()),
        ("builder-gitlab-signing", 10, provider("gitlab-signing"), WHSEC_A.into()),
        ("csv-stripe", 11, provider("stripe"), "whsec_new, whsec_old,,".into()),
        ("csv-sw", 11, provider("standard-webhooks"), format!("{WHSEC_A},{WHPK}")),
        ("url", 12, 0, "https://example.com:8443/hook?a=1".into()),
        ("nfkd", 13, 0, "\u{2168}-secret".into()),
        ("hex", 14, 0, "00ff10".into()),
        (
            "ed25519-base64",
            15,
            0,
            base64::engine::general_purpose::STANDARD.encode(hex::decode(DISCORD_PUBLIC).unwrap()),
        ),
        ("jwt-rsa-pem", 16, 0, FUSIONAUTH_RSA_PUBLIC.into()),
        ("jwt-ec-pem", 16, 0, FUSIONAUTH_EC_PUBLIC.into()),
        ("jwt-shared", 16, 0, FUSIONAUTH_HMAC.into()),
        ("base64", 17, 0, "YWlydGFibGUtbWFjLXNlY3JldA==".into()),
        ("builder-fusionauth-rsa", 10, provider("fusionauth"), FUSIONAUTH_RSA_PUBLIC.into()),
        ("csv-fusionauth", 11, provider("fusionauth"), format!("{FUSIONAUTH_HMAC},{FUSIONAUTH_EC_PUBLIC}")),
    ];
    for (name, sel, p, text) in text_seeds {
        corpus.write("keys", name, &[&[sel, p], text.as_bytes()].concat());
    }
    let public = hex::decode(DISCORD_PUBLIC).unwrap();
    let seed = hex::decode(&DISCORD_SEED[5..]).unwrap();
    let scalar = hex::decode(P256_SCALAR).unwrap();
    corpus.write("keys", "bytes-ed25519-public", &[&[7, 0], &public[..]].concat());
    corpus.write("keys", "bytes-ed25519-seed", &[&[8, 0], &seed[..]].concat());
    corpus.write("keys", "bytes-p256-scalar", &[&[9, 0], &scalar[..]].concat());
}

fn twilio(corpus: &mut Corpus, rows: &[Row]) {
    for row in rows.iter().filter(|r| r.provider == "twilio") {
        let sig = row.headers.iter().find(|(k, _)| k == "X-Twilio-Signature").map(|(_, v)| v.as_str()).unwrap();
        let frame =
            [&[0u8, 5, 0, 0x20][..], row.url.as_deref().unwrap().as_bytes(), b"\n", sig.as_bytes(), b"\n", &row.body]
                .concat();
        corpus.write("twilio", &row.name, &frame);
    }
    let frame = [&[1u8, 2, 0, 1][..], b"https://example.com/hook\n\n", br#"{"a":1}"#].concat();
    corpus.write("twilio", "json-form", &frame);
}

fn mailgun(corpus: &mut Corpus, rows: &[Row]) {
    for row in rows.iter().filter(|r| r.provider == "mailgun") {
        corpus.write("mailgun", &row.name, &[&[0u8][..], &row.body].concat());
    }
    let fields = format!("{NOW_SECS}\n{}\nev-1\n", "a3b1".repeat(12) + "ff");
    corpus.write("mailgun", "json", &[&[1u8][..], fields.as_bytes()].concat());
    corpus.write("mailgun", "json-number", &[&[0x81u8][..], fields.as_bytes()].concat());
    corpus.write("mailgun", "form", &[&[2u8][..], fields.as_bytes()].concat());
}

fn handshake(corpus: &mut Corpus) {
    let seeds: &[(&str, u8, u8, &[u8])] = &[
        ("slack", 0, 0, br#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#),
        ("slack-event", 0, 0, br#"{"type":"event_callback","event":{"type":"app_mention"}}"#),
        ("discord-ping", 1, 0, br#"{"type":1,"id":"1","token":"t","version":1}"#),
        ("discord-event-ping", 1, 0, br#"{"version":1,"application_id":"1","type":0}"#),
        ("discord-event", 1, 0, br#"{"version":1,"type":1,"event":{"type":"APPLICATION_AUTHORIZED"}}"#),
        ("zoom", 2, 0, br#"{"event":"endpoint.url_validation","payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"}}"#),
        ("twitch", 3, 1, br#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"type":"channel.follow"}}"#),
        ("meta", 4, 0, b"s3cret\nhub.mode=subscribe&hub.verify_token=s3cret&hub.challenge=1158201444"),
    ];
    for (name, sel, flags, body) in seeds {
        corpus.write("handshake", name, &[&[*sel, *flags][..], body].concat());
    }
}

fn forwarded(corpus: &mut Corpus) {
    // [peer selector, max hops, flags] then header lines; peers 0..=3 are trusted proxies.
    let seeds: &[(&str, [u8; 3], &str)] = &[
        ("xff-chain", [0, 0, 0], "X-Forwarded-For: 198.51.100.1, 203.0.113.5, 10.0.0.7\n"),
        ("rfc7239-v6-port", [0, 0, 0], "Forwarded: for=\"[2001:db8::1]:4711\";proto=https\n"),
        ("both-agree", [1, 5, 1], "X-Forwarded-For: 192.0.2.7\nForwarded: for=192.0.2.7;proto=http\n"),
        ("hidden", [2, 0, 0], "Forwarded: for=_hidden, for=\"[2001:db8:1::1]:_p1\";by=unknown\n"),
        ("untrusted-peer", [4, 0, 0], "X-Forwarded-For: 10.9.9.9\n"),
        ("lines-all-trusted", [3, 3, 1], "X-Forwarded-For: 10.0.0.5, 10.0.0.6\nX-Forwarded-For: 127.0.0.1\n"),
        ("quoted-escapes", [0, 0, 0], "Forwarded: For=\"192.0.2.60:4711\" ; Proto=https;x=\"a\\\"b,c\", for=unknown\n"),
        ("mapped", [1, 0, 0], "X-Forwarded-For: ::ffff:192.0.2.9\n"),
    ];
    for (name, prefix, headers) in seeds {
        corpus.write("forwarded", name, &[&prefix[..], headers.as_bytes()].concat());
    }
}
