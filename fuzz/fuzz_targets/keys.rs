//! Key text: every `KeyFormat` (UTF-8, Standard Webhooks `whsec_`/`whpk_`/`whsk_`,
//! `whsec_`-or-UTF-8, Ed25519 hex and `seed:`, P-256 DER base64 / PEM, NFKD-normalised
//! UTF-8, hex bytes, Ed25519 base64, a signed-token key as PEM or shared text), the `Secret`
//! constructors on raw bytes, `VerifierBuilder::secret` / `secrets_csv` / `url` for every
//! provider.
//!
//! Input: `[selector: u8] [provider: u8]` then the key text (or bytes).
//!
//! Asserts: a `Secret`'s `Debug` is exactly its kind, `[REDACTED]` and its expiry; its kind
//! and whether it can sign follow from the prefix; every `ConfigError` message is one of
//! the crate's fixed messages (so none can repeat the key); a verifier built from the text
//! signs (when its key can) a delivery that it then verifies; `secrets_csv` keeps one key
//! per non-empty item; `url` is accepted exactly when it parses as a URI.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use webhook_core::{
    providers, ConfigError, KeyFormat, KeyKind, Provider, Secret, SignRequest, Verifier, WebhookRequest,
};
use webhook_core_fuzz::configs::{DISCORD_PUBLIC, SENDGRID_PUBLIC_A, WHPK, WHSEC_A};
use webhook_core_fuzz::fixtures::{now, BODY};

/// Longer inputs are not read: every real key (a PEM P-256 key is about 180 bytes) and
/// every real rotation list is far shorter, and a list of thousands of keys only repeats
/// the same work (building and printing each key) at a thousand times the cost.
const MAX_INPUT: usize = 1024;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    let [selector, provider, rest @ ..] = data else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let text = &*text;
    let provider = Provider::all()[usize::from(*provider) % Provider::all().len()];
    match selector % 18 {
        0 => check_parsed(KeyFormat::Utf8, text),
        1 => check_parsed(KeyFormat::StandardWebhooks, text),
        2 => check_parsed(KeyFormat::WhsecOrUtf8, text),
        3 => check_parsed(KeyFormat::Ed25519Hex, text),
        4 => check_parsed(KeyFormat::P256Der, text),
        5 => check_secret(Secret::standard_webhooks(text), None),
        6 => check_secret(Secret::p256_public(text), Some((KeyKind::P256, false))),
        7 => check_secret(Secret::ed25519_public(rest), Some((KeyKind::Ed25519, false))),
        8 => check_secret(Secret::ed25519_seed(rest), Some((KeyKind::Ed25519, true))),
        9 => check_secret(Secret::p256_private(rest), Some((KeyKind::P256, true))),
        10 => builder(provider, text),
        11 => csv(provider, text),
        13 => check_parsed(KeyFormat::Nfkd, text),
        14 => check_parsed(KeyFormat::Hex, text),
        15 => check_parsed(KeyFormat::Ed25519Base64, text),
        16 => check_parsed(KeyFormat::JwtKey, text),
        17 => check_parsed(KeyFormat::Base64, text),
        _ => {
            let built = Verifier::builder(providers::SQUARE).secret("k").url(text).build();
            assert_eq!(built.is_ok(), text.parse::<http::Uri>().is_ok(), "url {text:?}: {built:?}");
            if let Err(e) = built {
                check_message(&e);
            }
        }
    }
});

/// `KeyFormat::parse`: the kind and signing ability follow from the format and prefix.
fn check_parsed(format: KeyFormat, text: &str) {
    let pem = text.trim_start().starts_with("-----BEGIN");
    let want = match format {
        KeyFormat::Utf8 | KeyFormat::Nfkd | KeyFormat::Hex | KeyFormat::Base64 => Some((KeyKind::Shared, true)),
        KeyFormat::StandardWebhooks => Some(standard_webhooks_kind(text)),
        KeyFormat::WhsecOrUtf8 if text.starts_with("whsec_") => Some(standard_webhooks_kind(text)),
        KeyFormat::WhsecOrUtf8 => Some((KeyKind::Shared, true)),
        KeyFormat::Ed25519Hex | KeyFormat::Ed25519Base64 => Some((KeyKind::Ed25519, text.starts_with("seed:"))),
        KeyFormat::P256Der => Some((KeyKind::P256, false)),
        // RSA or EC, told by the key itself; either only verifies.
        KeyFormat::JwtKey if pem => None,
        KeyFormat::JwtKey => Some((KeyKind::Shared, true)),
        other => panic!("{other:?}: a key format this target does not know yet"),
    };
    let parsed = format.parse(text);
    if matches!(format, KeyFormat::Utf8 | KeyFormat::Nfkd)
        || (format == KeyFormat::WhsecOrUtf8 && !text.starts_with("whsec_"))
        || (format == KeyFormat::JwtKey && !pem)
    {
        assert_eq!(parsed.is_ok(), !text.is_empty(), "{format:?} {text:?}");
    }
    if let (KeyFormat::JwtKey, Ok(key)) = (format, &parsed) {
        if pem {
            assert!(matches!(key.kind(), KeyKind::Rsa | KeyKind::Ec) && !key.can_sign(), "{key:?}");
        }
    }
    check_secret(parsed, want);
}

fn standard_webhooks_kind(text: &str) -> (KeyKind, bool) {
    let t = text.trim();
    if t.starts_with("whpk_") {
        (KeyKind::Ed25519, false)
    } else if t.starts_with("whsk_") {
        (KeyKind::Ed25519, true)
    } else {
        (KeyKind::Shared, true)
    }
}

fn check_secret(parsed: Result<Secret, ConfigError>, want: Option<(KeyKind, bool)>) {
    match parsed {
        Ok(s) => {
            let shown = format!("{s:?}");
            assert_eq!(
                shown,
                format!("Secret {{ kind: {:?}, key: [REDACTED], not_after: {:?} }}", s.kind(), s.not_after())
            );
            if let Some(want) = want {
                assert_eq!((s.kind(), s.can_sign()), want);
            }
            let until = s.clone().valid_until(now());
            assert!(until.is_valid_at(now()) && !until.is_valid_at(now() + std::time::Duration::from_secs(1)));
        }
        Err(e) => check_message(&e),
    }
}

/// Every message a key or a builder setting can be refused with. Closed: a message outside
/// it is either new (add it here) or repeats what was configured.
fn check_message(e: &ConfigError) {
    let msg = e.to_string();
    let fixed = [
        "the secret is empty",
        "whsec_ secret is not valid base64",
        "whsec_ secret is empty",
        "whpk_ public key is not valid base64",
        "whpk_ public key must decode to 32 bytes",
        "whsk_ private key is not valid base64",
        "whsk_ private key must decode to 32 bytes",
        "an Ed25519 public key is 32 bytes",
        "not a valid Ed25519 public key",
        "an Ed25519 seed is 32 bytes",
        "Ed25519 key is not valid hex",
        "Ed25519 key is not valid base64",
        "the key is empty",
        "the key is not valid hex",
        "the key is not valid base64",
        "P-256 public key is not valid base64",
        "not a DER SubjectPublicKeyInfo for a P-256 key",
        "not a valid P-256 private scalar",
        "the configured URL is not a valid URL",
        "not a PEM RSA or EC public key (PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)",
    ];
    let known = fixed.contains(&msg.as_str())
        || Provider::all().iter().any(|p| {
            msg == format!("no key configured for {}", p.name())
                || [KeyKind::Shared, KeyKind::Ed25519, KeyKind::P256, KeyKind::Rsa, KeyKind::Ec]
                    .iter()
                    .any(|k| msg == format!("{} does not accept {k:?} keys", p.name()))
        });
    assert!(known, "unexpected configuration message: {msg:?}");
}

/// `VerifierBuilder::secret` for any provider: a verifier that builds signs and verifies.
fn builder(provider: Provider, text: &str) {
    let built = Verifier::builder(provider).secret(text).build();
    let verifier = match built {
        Ok(v) => v,
        Err(e) => return check_message(&e),
    };
    assert_no_text(provider, &format!("{verifier:?}"), [text.trim()]);
    let url = "https://example.com/hook?a=1";
    // Mailgun signs an envelope around event data of its own shape.
    let body: &[u8] = if provider.name() == "mailgun" { br#"{"id":"ev-1","event":"delivered"}"# } else { BODY };
    let signed = match verifier.sign(&SignRequest::new(body, now()).url(url).id("key-1")) {
        Ok(s) => s,
        Err(e) => {
            // Amazon SNS and PayPal sign with their certificates' private keys: verify only.
            let key = provider.key_format().parse(text).unwrap();
            assert!(
                !key.can_sign() || provider.needs_certificates(),
                "{}: a key that can sign did not: {e}",
                provider.name()
            );
            return;
        }
    };
    let req = WebhookRequest::new(&signed, signed.body().clone()).with_url(url);
    if let Err(e) = verifier.verify(&req, now()) {
        // GitLab's token and the HTTP Basic / plain credentials (Postmark, Chargebee,
        // Pipedrive, Okta) travel as a header, which the core reads only up to a bound.
        let too_long = (provider.name() == "gitlab" && text.len() > webhook_core::MAX_HEADER_VALUE)
            || (e.kind() == webhook_core::ErrorKind::MalformedHeader && e.to_string().contains("too long"));
        assert!(too_long, "{}: signed with a key from {text:?}, not verified: {e:?}", provider.name());
    }
}

/// `secrets_csv`: one key per non-empty trimmed item.
fn csv(provider: Provider, text: &str) {
    let items: Vec<&str> = text.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
    match Verifier::builder(provider).secrets_csv(text).build() {
        Ok(v) => {
            let shown = format!("{v:?}");
            assert_eq!(shown.matches("Secret {").count(), items.len(), "{text:?}");
            assert_no_text(provider, &shown, items);
        }
        Err(e) => check_message(&e),
    }
}

/// A verifier's `Debug` shows no key text. A key that is a substring of the `Debug` of a
/// verifier built from an unrelated key (`REDACTED`, `Secret {`, the provider's name) is no
/// leak.
fn assert_no_text<'t>(provider: Provider, shown: &str, keys: impl IntoIterator<Item = &'t str>) {
    static TEMPLATES: OnceLock<Vec<String>> = OnceLock::new();
    let templates = TEMPLATES.get_or_init(|| {
        Provider::all()
            .iter()
            .map(|p| {
                // Standard Webhooks verifiers may mix kinds: show both.
                let keys: &[&str] = match p.key_format() {
                    KeyFormat::StandardWebhooks => &[WHSEC_A, WHPK],
                    KeyFormat::Ed25519Hex => &[DISCORD_PUBLIC],
                    KeyFormat::P256Der => &[SENDGRID_PUBLIC_A],
                    // Keys given as encoded bytes: the byte `k`, so that these providers have
                    // a template like the others.
                    KeyFormat::Hex => &["6b"],
                    KeyFormat::Base64 => &["aw=="],
                    _ => &["k"],
                };
                let b = keys.iter().fold(Verifier::builder(*p), |b, k| b.secret(k));
                // A provider whose key format refuses these texts (hex, base64 Ed25519 keys,
                // credentials) has no template: nothing of a key may show then.
                b.build().map(|v| format!("{v:?}")).unwrap_or_default()
            })
            .collect()
    });
    let template = &templates[Provider::all().iter().position(|p| *p == provider).unwrap()];
    for key in keys.into_iter().filter(|k| k.len() >= 4 && !template.contains(*k)) {
        assert!(!shown.contains(key), "Debug shows key text {key:?}: {shown}");
    }
}
