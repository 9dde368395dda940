//! Criterion benchmarks for `Verifier::verify`.
//!
//! Each size group (1 KiB, 64 KiB, 1 MiB) verifies a realistic JSON body for GitHub,
//! Stripe, Standard Webhooks and Discord, next to a "bare" ceiling: a plain
//! `Hmac<Sha256>` over the same body bytes, its key state prepared once and cloned per
//! iteration (as the verifier does), checked with `verify_slice`. Every body is signed
//! once, outside the timed loop, at a fixed `now`, and verified at that same `now`.
//!
//! `stripe+event_type` also reads the event type, which `verify` leaves for the first call
//! to `Verified::event_type` (Stripe sends `type` last). A last group times the rejection
//! of a tampered GitHub 1 KiB delivery.
//!
//! Run with `cargo bench -p webhook-core --bench verify`.

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use webhook_core::{providers, Bytes, ErrorKind, Provider, SignRequest, Signed, Verifier, WebhookRequest};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const SIZES: [(usize, &str); 3] = [(KIB, "1KiB"), (64 * KIB, "64KiB"), (MIB, "1MiB")];

const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const STRIPE_SECRET: &str = "whsec_test_5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH";
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// RFC 8032 test 1 secret key (seed).
#[cfg(feature = "ed25519")]
const DISCORD_SEED: [u8; 32] = [
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5,
    0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0x70, 0x03, 0x1c, 0xae, 0x7f, 0x60,
];

/// The fixed clock: every body is signed and verified at this instant.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// Filler text for padding string fields (JSON-safe, no escapes).
const LOREM: &str = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor \
                     incididunt ut labore et dolore magna aliqua. ";

fn lorem(len: usize) -> String {
    LOREM.chars().cycle().take(len).collect()
}

/// `head` + as many `item(i)` as fit, comma-separated + `tail`, where `tail` holds one
/// `{PAD}` that is replaced by filler text so the body is exactly `size` bytes. The result
/// is checked to be valid JSON.
fn sized_json(size: usize, head: &str, item: impl Fn(usize) -> String, tail: &str) -> Vec<u8> {
    let fixed = head.len() + tail.len() - "{PAD}".len();
    assert!(fixed <= size, "head and tail alone exceed {size} bytes");
    let mut items = String::new();
    for i in 0.. {
        let next = item(i);
        let sep = usize::from(!items.is_empty());
        if fixed + items.len() + sep + next.len() > size {
            break;
        }
        if sep == 1 {
            items.push(',');
        }
        items.push_str(&next);
    }
    let pad = lorem(size - fixed - items.len());
    let body = format!("{head}{items}{}", tail.replacen("{PAD}", &pad, 1));
    assert_eq!(body.len(), size);
    serde_json::from_str::<serde_json::Value>(&body).expect("generated body is JSON");
    body.into_bytes()
}

/// A GitHub `push` event: id and type travel in headers, the body is not read.
fn github_body(size: usize) -> Vec<u8> {
    let head = r#"{"ref":"refs/heads/main","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","after":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c","repository":{"id":186853002,"node_id":"MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=","name":"hello-world","full_name":"octocat/hello-world","private":false,"default_branch":"main"},"pusher":{"name":"octocat","email":"octocat@github.com"},"commits":["#;
    let item = |i: usize| {
        format!(
            r#"{{"id":"{i:040x}","tree_id":"f9d2a07e9488b91af2641b26b9407fe22a451433","distinct":true,"message":"Update README.md (change {i})","timestamp":"2023-11-14T22:13:20Z","author":{{"name":"Mona Octocat","email":"octocat@github.com","username":"octocat"}},"added":[],"removed":[],"modified":["README.md"]}}"#
        )
    };
    let tail = r#"],"head_commit":{"id":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c","message":"{PAD}"},"sender":{"login":"octocat","id":583231,"type":"User"}}"#;
    sized_json(size, head, item, tail)
}

/// A Stripe event: `"id"` first and `"type"` last, as Stripe sends them, so finding
/// `type` means reading the whole body.
fn stripe_body(size: usize) -> Vec<u8> {
    let head = r#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","api_version":"2023-10-16","created":1700000000,"data":{"object":{"id":"in_1NG8Dt2eZvKYlo2C9fQ6bWl4","object":"invoice","amount_due":2000,"currency":"usd","customer":"cus_NffrFeUfNV2Hib","lines":{"object":"list","data":["#;
    let item = |i: usize| {
        format!(
            r#"{{"id":"il_1NG8Dt2eZvKYlo2C{i:08}","object":"line_item","amount":1000,"currency":"usd","description":"1 × Pro plan (at $10.00 / month)","period":{{"end":1702592000,"start":1700000000}},"price":{{"id":"price_1NG8Dr2eZvKYlo2C","unit_amount":1000}},"quantity":1,"type":"subscription"}}"#
        )
    };
    let tail = r#"],"has_more":false},"description":"{PAD}","status":"paid"}},"livemode":false,"pending_webhooks":1,"request":{"id":"req_c4Vb8fgo2Wy0XN","idempotency_key":"8a6f2c1e-9d4b-4a8e-b4f3-6c2d1e0f9a7b"},"type":"invoice.payment_succeeded"}"#;
    sized_json(size, head, item, tail)
}

/// A Standard Webhooks event: `"type"` first, as in the spec's examples.
fn standard_body(size: usize) -> Vec<u8> {
    let head = r#"{"type":"user.created","timestamp":"2023-11-14T22:13:20.344522Z","data":{"id":"1f81eb52-5198-4599-803e-771906343485","email":"alice@example.com","name":"Alice","sessions":["#;
    let item = |i: usize| {
        format!(
            r#"{{"id":"sess_{i:024x}","created_at":"2023-11-14T22:13:20Z","ip":"192.0.2.{}","user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/119.0","active":true}}"#,
            i % 256
        )
    };
    let tail = r#"],"bio":"{PAD}"}}"#;
    sized_json(size, head, item, tail)
}

/// A Discord interaction. Discord sends its keys in alphabetical order, so the bulk
/// (`data.resolved`) comes before `"id"`, and `"type"` is near the end.
#[cfg(feature = "ed25519")]
fn discord_body(size: usize) -> Vec<u8> {
    let head = r#"{"app_permissions":"562949953421311","application_id":"1161354436871794710","channel_id":"1161354437434646548","data":{"id":"1161356237271072858","name":"summarize","resolved":{"messages":["#;
    let item = |i: usize| {
        format!(
            r#"{{"id":"{}","channel_id":"1161354437434646548","author":{{"id":"80351110224678912","username":"nelly"}},"content":"Message {i} in the thread being summarized","timestamp":"2023-11-14T22:13:20.000000+00:00","type":0}}"#,
            1_161_356_237_271_072_858_u64 + i as u64
        )
    };
    let tail = r#"]},"type":3},"guild_id":"1161354437434646547","id":"1174107640237826108","locale":"en-US","token":"{PAD}","type":2,"version":1}"#;
    sized_json(size, head, item, tail)
}

/// One provider's case: the verifier, the signed headers and the body, signed at `now()`.
struct Case {
    name: &'static str,
    verifier: Verifier,
    headers: Signed,
    body: Bytes,
}

impl Case {
    fn new(name: &'static str, verifier: Verifier, body: Vec<u8>, id: &str, event_type: &str) -> Self {
        let headers = verifier.sign(&SignRequest::new(&body, now()).id(id).event_type(event_type)).expect("sign");
        let case = Self { name, verifier, headers, body: Bytes::from(body) };
        // Check, once, that the timed call succeeds and reads what it should.
        let verified = case.verifier.verify(&case.request(), now()).expect("verify");
        assert_eq!(verified.event_type(), Some(event_type), "{name}");
        case
    }

    fn request(&self) -> WebhookRequest<'_> {
        WebhookRequest::new(&self.headers, self.body.clone())
    }
}

fn hmac_verifier(provider: Provider, secret: &str) -> Verifier {
    Verifier::new(provider, secret).expect("verifier")
}

fn cases(size: usize) -> Vec<Case> {
    #[allow(unused_mut)] // without the ed25519 feature nothing is added below
    let mut cases = vec![
        Case::new(
            "github",
            hmac_verifier(providers::GITHUB, GITHUB_SECRET),
            github_body(size),
            "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            "push",
        ),
        Case::new(
            "stripe",
            hmac_verifier(providers::STRIPE, STRIPE_SECRET),
            stripe_body(size),
            "evt_1NG8Du2eZvKYlo2CUI79vXWy",
            "invoice.payment_succeeded",
        ),
        Case::new(
            "standard-webhooks",
            hmac_verifier(providers::STANDARD_WEBHOOKS, STANDARD_SECRET),
            standard_body(size),
            "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
            "user.created",
        ),
    ];
    // Ed25519 (Discord), with the feature that verifies it.
    #[cfg(feature = "ed25519")]
    {
        let discord_key = webhook_core::Secret::ed25519_seed(&DISCORD_SEED).expect("seed");
        let discord = Verifier::builder(providers::DISCORD).key(discord_key).build().expect("discord verifier");
        cases.push(Case::new("discord", discord, discord_body(size), "1174107640237826108", "2"));
    }
    cases
}

fn verify_by_size(c: &mut Criterion) {
    for (size, label) in SIZES {
        let mut group = c.benchmark_group(format!("verify/{label}"));
        group.throughput(Throughput::Bytes(size as u64));
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(3));
        if size >= MIB {
            group.sample_size(30);
        }

        let cases = cases(size);
        for case in &cases {
            let req = case.request();
            group.bench_function(BenchmarkId::from_parameter(case.name), |b| {
                b.iter(|| case.verifier.verify(black_box(&req), black_box(now())))
            });
        }

        // The event type is read lazily (routing needs it, the acknowledgement does not):
        // time verify + event_type() too, so the cost a router pays stays visible. Stripe
        // puts `type` last, so this walks its whole body.
        for case in cases.iter().filter(|c| c.name == "stripe") {
            let req = case.request();
            group.bench_function(BenchmarkId::from_parameter("stripe+event_type"), |b| {
                b.iter(|| {
                    let v = case.verifier.verify(black_box(&req), black_box(now()));
                    v.map(|d| d.event_type().map(str::len))
                })
            });
        }

        // The ceiling: HMAC-SHA256 over the same bytes (the GitHub body), keyed once.
        let body = &cases[0].body;
        let keyed = Hmac::<Sha256>::new_from_slice(GITHUB_SECRET.as_bytes()).expect("any key length");
        let tag = keyed.clone().chain_update(body).finalize().into_bytes();
        group.bench_function(BenchmarkId::from_parameter("bare-hmac-sha256"), |b| {
            b.iter(|| {
                let mut mac = keyed.clone();
                mac.update(black_box(body));
                mac.verify_slice(black_box(&tag))
            })
        });
        group.finish();
    }
}

fn rejected(c: &mut Criterion) {
    let verifier = hmac_verifier(providers::GITHUB, GITHUB_SECRET);
    let body = github_body(KIB);
    let headers = verifier
        .sign(&SignRequest::new(&body, now()).id("72d3162e-cc78-11e3-81ab-4c9367dc0958").event_type("push"))
        .expect("sign");
    // One byte changed in the body, the signature left as it was.
    let mut tampered = body;
    tampered[KIB / 2] ^= 0x01;
    let tampered = Bytes::from(tampered);
    let req = WebhookRequest::new(&headers, tampered);
    let err = verifier.verify(&req, now()).expect_err("tampered body must be rejected");
    assert_eq!(err.kind(), ErrorKind::SignatureMismatch);

    let mut group = c.benchmark_group("rejected/1KiB");
    group.throughput(Throughput::Bytes(KIB as u64));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function(BenchmarkId::from_parameter("github-tampered-body"), |b| {
        b.iter(|| verifier.verify(black_box(&req), black_box(now())))
    });
    group.finish();
}

/// The groups, in a private module: `criterion_group!` writes an undocumented `pub fn`.
mod groups {
    use super::{rejected, verify_by_size};
    criterion::criterion_group!(benches, verify_by_size, rejected);
}
criterion_main!(groups::benches);
