//! Known-answer tests: every official vector the providers publish (each row names its source), plus the
//! self-generated illustrative ones, as data rows in `tests/vectors/known_answers.json`.
//!
//! One test runs every row and reports every failure at once, each with its row's source.

// Helpers outside #[test] functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]
// The rows cover every provider: the test needs all of them (`full`, the default features).
#![cfg(all(feature = "sha1", feature = "twilio", feature = "ed25519", feature = "ecdsa"))]
#![cfg(all(feature = "sns", feature = "paypal", feature = "jwt"))]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::Value;
use webhook_core::{Provider, Verifier, WebhookRequest};

/// Official rows per provider that must be present: every published vector (GitHub 5,
/// Stripe 1, Slack 1, Standard Webhooks 2 + the look-alike, Twilio 8, Square 2, Paddle 7,
/// PagerDuty 1, SendGrid 4, Twitch 1), the same Standard Webhooks vector under the `svix-*`
/// headers for Svix, Clerk and Resend, and two rows derived from official vectors (Stripe's
/// `v0` alone, Twilio's `bodySHA256` mismatch). Rows may be added; none may go missing.
const MIN_OFFICIAL: &[(&str, usize)] = &[
    ("github", 5),
    ("stripe", 2),
    ("slack", 1),
    ("standard-webhooks", 3),
    ("svix", 1),
    ("clerk", 1),
    ("resend", 1),
    ("twilio", 9),
    ("square", 2),
    ("paddle", 7),
    ("pagerduty", 1),
    ("sendgrid", 4),
    ("twitch", 1),
    ("adyen", 2),
    ("mollie", 4),
];

/// Illustrative rows per provider that must be present.
const MIN_ILLUSTRATIVE: &[(&str, usize)] = &[
    ("shopify", 1),
    ("zoom", 1),
    ("intercom", 1),
    ("bitbucket", 1),
    ("meta", 1),
    ("typeform", 1),
    ("linear", 2),
    ("mailgun", 2),
    ("gitlab", 1),
    ("twitch", 1),
    ("discord", 1),
    ("postmark", 2),
    ("chargebee", 1),
    ("pipedrive", 1),
    ("okta", 1),
];

/// Rows produced by the providers' own SDKs (`tests/vectors/sdk/generate.cjs`, run by hand,
/// never by CI; reproducible: a rerun writes the same file), per provider, that must be present
/// in `tests/vectors/sdk_vectors.json`.
const MIN_SDK: &[(&str, usize)] = &[
    ("razorpay", 1),
    ("line", 1),
    ("coinbase-commerce", 1),
    ("gocardless", 1),
    ("mux", 1),
    ("workos", 1),
    ("openai", 2),
    ("replicate", 1),
    ("telnyx", 1),
    ("elevenlabs", 1),
    ("hubspot", 1),
    ("webflow", 1),
    ("notion", 1),
    ("box", 2),
    ("contentful", 2),
    // One accepted, one signed with another secret.
    ("sanity", 2),
    // One accepted, one keyed with the secret not normalised.
    ("easypost", 2),
    // One accepted, one signed with another app's secret.
    ("pusher", 2),
    // One accepted, one signed with another webhook's token.
    ("onfido", 2),
    // One accepted, one signed with another app's secret.
    ("stream-chat", 2),
];

/// Rows computed once by the same script exactly as the provider's documentation (or server
/// source) describes, for providers with no SDK that verifies: self-generated, NOT official.
const MIN_DOCUMENTED: &[(&str, usize)] = &[
    ("paystack", 1),
    ("vercel", 1),
    ("sentry", 1),
    ("lemonsqueezy", 1),
    ("alchemy", 1),
    ("woocommerce", 2),
    ("segment", 1),
    ("trello", 1),
    ("xero", 1),
    ("dropbox", 1),
    ("x", 1),
    ("calendly", 1),
    ("zendesk", 1),
    ("docusign", 1),
    ("mandrill", 1),
    ("front", 1),
    ("persona", 2),
    ("klaviyo", 1),
    // One signature, and two during a rotation (the old key configured).
    ("recurly", 2),
    // Gitea's headers, Forgejo's two sets, Forgejo's names alone.
    ("gitea", 3),
    ("customerio", 1),
    // A booking (JSON) and a custom template sent as a form.
    ("calcom", 2),
    // A file.ready event, and a refusal: the same secret over `{ts}.{body}`.
    ("frameio", 2),
    // A ping, and a refusal: the MAC keyed with the base64 text itself, not its bytes.
    ("airtable", 2),
    // A convo.created, and a refusal: the hex digest instead of base64.
    ("helpscout", 2),
    // A message created, and a refusal: HMAC-SHA256 instead of SHA-1.
    ("webex", 2),
    // HS256/384/512, RS256/384/512 (SPKI and PKCS#1 PEM), ES256/384, and five refusals:
    // algorithm confusion, `none`, an RSA token against an EC key, another key, another body.
    ("fusionauth", 14),
];

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("vectors")
}

fn text<'a>(row: &'a Value, field: &str) -> Result<&'a str, String> {
    row.get(field).and_then(Value::as_str).ok_or_else(|| format!("field {field:?} missing or not a string"))
}

fn body_of(row: &Value) -> Result<Vec<u8>, String> {
    let given = ["body", "body_file", "body_base64"].iter().filter(|f| row.get(**f).is_some()).count();
    if given != 1 {
        return Err(format!("exactly one of body, body_file, body_base64 is needed, found {given}"));
    }
    if let Some(b) = row.get("body") {
        return b.as_str().map(|s| s.as_bytes().to_vec()).ok_or_else(|| "body is not a string".to_owned());
    }
    if let Some(b) = row.get("body_base64") {
        let s = b.as_str().ok_or("body_base64 is not a string")?;
        return base64::engine::general_purpose::STANDARD.decode(s).map_err(|e| format!("body_base64: {e}"));
    }
    let file = text(row, "body_file")?;
    let bytes = std::fs::read(vectors_dir().join(file)).map_err(|e| format!("cannot read {file}: {e}"))?;
    if row.get("body_strip").and_then(Value::as_bool) == Some(true) {
        // Python's str.strip(): whitespace off both ends.
        return Ok(bytes.trim_ascii().to_vec());
    }
    Ok(bytes)
}

/// `Ok(None)`: the field is absent (no expectation); `Ok(Some(None))`: it must be absent.
fn expected_text(row: &Value, field: &str) -> Result<Option<Option<String>>, String> {
    match row.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(other) => Err(format!("{field} must be a string or null, not {other}")),
    }
}

/// Runs one row; `Err` describes what went wrong.
fn run(row: &Value) -> Result<(), String> {
    let provider_name = text(row, "provider")?;
    let provider = Provider::from_name(provider_name).ok_or_else(|| format!("unknown provider {provider_name:?}"))?;
    let keys = row.get("keys").and_then(Value::as_array).ok_or("keys missing")?;
    if keys.is_empty() {
        return Err("keys is empty".to_owned());
    }
    let mut builder = Verifier::builder(provider);
    for key in keys {
        builder = builder.secret(key.as_str().ok_or("a key is not a string")?);
    }
    if row.get("no_tolerance").and_then(Value::as_bool) == Some(true) {
        builder = builder.no_tolerance();
    }
    let verifier = builder.build().map_err(|e| format!("verifier does not build: {e}"))?;

    let mut headers: Vec<(String, String)> = Vec::new();
    for pair in row.get("headers").and_then(Value::as_array).ok_or("headers missing")? {
        match pair.as_array().map(Vec::as_slice) {
            Some([Value::String(k), Value::String(v)]) => headers.push((k.clone(), v.clone())),
            _ => return Err(format!("header {pair} is not a [name, value] pair")),
        }
    }
    let body = body_of(row)?;
    let now = UNIX_EPOCH + Duration::from_secs(row.get("now").and_then(Value::as_u64).ok_or("now missing")?);
    let expect = text(row, "expect")?;
    text(row, "source")?;

    let mut req = WebhookRequest::new(&headers, body.clone());
    if let Some(url) = row.get("url") {
        req = req.with_url(url.as_str().ok_or("url is not a string")?);
    }
    match (verifier.verify(&req, now), expect) {
        (Ok(v), "ok") => {
            let mut problems = Vec::new();
            if v.provider() != provider.name() {
                problems.push(format!("provider {} instead of {}", v.provider(), provider.name()));
            }
            if v.body().as_ref() != body.as_slice() {
                problems.push("the verified body differs from the body sent".to_owned());
            }
            if let Some(want) = expected_text(row, "expect_id")? {
                if v.id() != want.as_deref() {
                    problems.push(format!("id {:?} instead of {want:?}", v.id()));
                }
            }
            if let Some(want) = expected_text(row, "expect_event_id")? {
                if v.event_id() != want.as_deref() {
                    problems.push(format!("event id {:?} instead of {want:?}", v.event_id()));
                }
            }
            if let Some(want) = expected_text(row, "expect_event_type")? {
                if v.event_type() != want.as_deref() {
                    problems.push(format!("event type {:?} instead of {want:?}", v.event_type()));
                }
            }
            if let Some(want) = row.get("expect_key_index") {
                if want.as_u64() != Some(v.key_index() as u64) {
                    problems.push(format!("key index {} instead of {want}", v.key_index()));
                }
            }
            if problems.is_empty() {
                Ok(())
            } else {
                Err(problems.join("; "))
            }
        }
        (Ok(_), want) => Err(format!("verified, but {want} was expected")),
        (Err(e), "ok") => Err(format!("refused ({}: {e}), but it should verify", e.kind().as_str())),
        (Err(e), want) if e.kind().as_str() == want => {
            if e.status() != e.kind().status() {
                return Err(format!("status {} does not match kind {}", e.status(), want));
            }
            Ok(())
        }
        (Err(e), want) => Err(format!("refused with {} ({e}), but {want} was expected", e.kind().as_str())),
    }
}

fn count_by_provider(rows: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for row in rows {
        let name = row.get("provider").and_then(Value::as_str).unwrap_or("?").to_owned();
        *counts.entry(name).or_insert(0) += 1;
    }
    counts
}

#[test]
fn every_known_answer_row() {
    let path = vectors_dir().join("known_answers.json");
    let raw = std::fs::read_to_string(&path).unwrap();
    let doc: Value = serde_json::from_str(&raw).unwrap();
    let section = |name: &str| doc.get(name).and_then(Value::as_array).cloned().unwrap_or_default();
    let official = section("official");
    let illustrative = section("illustrative");
    let sdk_raw = std::fs::read_to_string(vectors_dir().join("sdk_vectors.json")).unwrap();
    let sdk_doc: Value = serde_json::from_str(&sdk_raw).unwrap();
    let sdk = sdk_doc.get("sdk").and_then(Value::as_array).cloned().unwrap_or_default();
    let documented = sdk_doc.get("documented").and_then(Value::as_array).cloned().unwrap_or_default();

    // An emptied or thinned-out file must not pass.
    let mut failures = Vec::new();
    for (rows, minimums, label) in [
        (&official, MIN_OFFICIAL, "official"),
        (&illustrative, MIN_ILLUSTRATIVE, "illustrative"),
        (&sdk, MIN_SDK, "sdk"),
        (&documented, MIN_DOCUMENTED, "documented"),
    ] {
        let counts = count_by_provider(rows);
        for (provider, min) in minimums {
            let have = counts.get(*provider).copied().unwrap_or(0);
            if have < *min {
                failures.push(format!("{label}: {have} {provider} rows, at least {min} expected"));
            }
        }
    }
    let min_official: usize = MIN_OFFICIAL.iter().map(|(_, n)| n).sum();
    assert!(official.len() >= min_official, "only {} official rows", official.len());
    let min_illustrative: usize = MIN_ILLUSTRATIVE.iter().map(|(_, n)| n).sum();
    assert!(illustrative.len() >= min_illustrative, "only {} illustrative rows", illustrative.len());

    let mut ran = 0;
    for (label, rows) in
        [("official", &official), ("illustrative", &illustrative), ("sdk", &sdk), ("documented", &documented)]
    {
        for (i, row) in rows.iter().enumerate() {
            ran += 1;
            if let Err(why) = run(row) {
                let name = row.get("name").and_then(Value::as_str).unwrap_or("?");
                let source = row.get("source").and_then(Value::as_str).unwrap_or("no source");
                failures.push(format!("{label}[{i}] {name}: {why}\n    source: {source}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {ran} known-answer checks failed:\n{}", failures.len(), failures.join("\n"));
}
