//! Criterion benchmark: `Verifier::verify` of a 1 MiB delivery for every built-in HMAC
//! provider described by a scheme (every row whose algorithm is HMAC-SHA1, -SHA256 or
//! -SHA512), next to the bare HMAC of the same algorithm over the same body bytes: a plain
//! `Hmac<Sha1 | Sha256 | Sha512>` keyed once and cloned per iteration, checked with
//! `verify_slice`. The target is every provider within 5% of its bare HMAC.
//!
//! Each provider gets a JSON body of exactly 1 MiB whose head holds the fields that row
//! reads (every JSON path of its delivery id and event type, from
//! [`Scheme::id_sources`](webhook_core::scheme::Scheme::id_sources) and
//! [`event_type_sources`](webhook_core::scheme::Scheme::event_type_sources), and the two body
//! timestamps, Linear's `webhookTimestamp` and Klaviyo's `meta.timestamp`), then the padding,
//! as a real delivery puts its envelope before the payload; Mandrill, which signs form
//! parameters, gets a 1 MiB form (`mandrill_events=<JSON>`). Each delivery is signed once, outside the timed loop, at a
//! fixed `now`, with the URL for the providers that sign one, and verified at that `now`.
//!
//! Run with `cargo bench -p webhook-core --bench hmac_providers`; docs/BENCHMARKS.md has the
//! table. With `WEBHOOK_BENCH_REPEAT=<case>:<n>` the binary times nothing and runs one case
//! `n` times, for tools/hmac-instructions.sh to count its instructions under callgrind
//! (which the machine's load does not move).

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, Mac};
use webhook_core::scheme::{Algorithm, Scheme, Source};
use webhook_core::{Bytes, KeyFormat, Provider, SignRequest, Signed, Verifier, WebhookRequest};

const MIB: usize = 1024 * 1024;
const URL: &str = "https://example.com/webhooks/hook?tenant=7";
const SECRET: &str = "bench-secret-0123456789abcdef";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// A JSON body of exactly `size` bytes: the fields at `paths` (each set to a short
/// string) and both body timestamps first, then filler.
fn json_body(size: usize, paths: &[&[&str]]) -> Vec<u8> {
    let mut head = serde_json::json!({
        "webhookTimestamp": 1_700_000_000_000u64,
        "meta": {"timestamp": "2023-11-14T22:13:20.000000+00:00"},
    });
    for path in paths {
        let (last, parents) = path.split_last().expect("a non-empty path");
        let mut node = &mut head;
        for key in parents {
            node = node.as_object_mut().expect("an object").entry(*key).or_insert_with(|| serde_json::json!({}));
        }
        node.as_object_mut().expect("an object").insert((*last).to_owned(), "bench-1".into());
    }
    let head = serde_json::to_string(&head).expect("JSON");
    let head = format!("{},\"pad\":\"", &head[..head.len() - 1]);
    let tail = r#""}"#;
    let filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ";
    let pad: String = filler.chars().cycle().take(size - head.len() - tail.len()).collect();
    let body = format!("{head}{pad}{tail}");
    assert_eq!(body.len(), size);
    body.into_bytes()
}

/// Every JSON path `scheme` reads a delivery id or an event type from.
fn json_paths(scheme: &Scheme) -> Vec<&'static [&'static str]> {
    scheme.id_sources().iter().chain(scheme.event_type_sources()).filter_map(Source::json_path).collect()
}

/// Mandrill's form body of exactly `size` bytes.
fn form_body(size: usize) -> Vec<u8> {
    let head = "mandrill_events=%5B%7B%22event%22%3A%22send%22%2C%22pad%22%3A%22";
    let tail = "%22%7D%5D";
    let pad: String = "Lorem+ipsum+dolor+sit+amet+".chars().cycle().take(size - head.len() - tail.len()).collect();
    let body = format!("{head}{pad}{tail}");
    assert_eq!(body.len(), size);
    body.into_bytes()
}

struct Case {
    provider: Provider,
    verifier: Verifier,
    headers: Signed,
    body: Bytes,
    url: Option<&'static str>,
}

impl Case {
    fn request(&self) -> WebhookRequest<'_> {
        let req = WebhookRequest::new(&self.headers, self.body.clone());
        match self.url {
            Some(u) => req.with_url(u),
            None => req,
        }
    }
}

fn case(provider: Provider) -> Case {
    let scheme = provider.scheme().expect("a scheme");
    let key = match provider.key_format() {
        KeyFormat::StandardWebhooks => WHSEC,
        KeyFormat::Hex => "0123456789abcdef0123456789abcdef",
        _ => SECRET,
    };
    let verifier = Verifier::new(provider, key).expect("verifier");
    let body = if provider.name() == "mandrill" { form_body(MIB) } else { json_body(MIB, &json_paths(scheme)) };
    let url = scheme.signs_url().then_some(URL);
    let mut sign = SignRequest::new(&body, now()).id("delivery-1").event_type("bench.event");
    if let Some(u) = url {
        sign = sign.url(u);
    }
    let headers = verifier.sign(&sign).expect("sign");
    let case = Case { provider, verifier, headers, body: Bytes::from(body), url };
    case.verifier.verify(&case.request(), now()).unwrap_or_else(|e| panic!("{}: {e}", provider.name()));
    case
}

/// The bare HMAC of `algorithm` over `body`, keyed once, cloned per call and checked with
/// `verify_slice`: its name and one iteration.
fn bare(algorithm: Algorithm, body: &[u8]) -> (&'static str, Box<dyn Fn() -> bool + '_>) {
    fn run<M: Mac + Clone + hmac::digest::KeyInit + 'static>(body: &[u8]) -> Box<dyn Fn() -> bool + '_> {
        let keyed = <M as Mac>::new_from_slice(SECRET.as_bytes()).expect("any key length");
        let tag = keyed.clone().chain_update(body).finalize().into_bytes();
        Box::new(move || {
            let mut mac = keyed.clone();
            mac.update(black_box(body));
            mac.verify_slice(black_box(&tag)).is_ok()
        })
    }
    match algorithm {
        #[cfg(feature = "sha1")]
        Algorithm::HmacSha1 => ("bare-hmac-sha1", run::<Hmac<sha1::Sha1>>(body)),
        Algorithm::HmacSha256 => ("bare-hmac-sha256", run::<Hmac<sha2::Sha256>>(body)),
        Algorithm::HmacSha512 => ("bare-hmac-sha512", run::<Hmac<sha2::Sha512>>(body)),
        _ => unreachable!("HMAC algorithms only"),
    }
}

#[cfg(feature = "sha1")]
const BARE: &[Algorithm] = &[Algorithm::HmacSha1, Algorithm::HmacSha256, Algorithm::HmacSha512];
#[cfg(not(feature = "sha1"))]
const BARE: &[Algorithm] = &[Algorithm::HmacSha256, Algorithm::HmacSha512];

/// The providers this benchmark covers: every row whose algorithm is an HMAC.
fn hmac_rows() -> impl Iterator<Item = Provider> {
    Provider::all().iter().copied().filter(|p| {
        p.scheme().is_some_and(|s| {
            matches!(s.algorithm(), Algorithm::HmacSha1 | Algorithm::HmacSha256 | Algorithm::HmacSha512)
        })
    })
}

fn hmac_providers(c: &mut Criterion) {
    let mut group = c.benchmark_group("hmac-1MiB");
    group.throughput(Throughput::Bytes(MIB as u64));
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(30);
    let body = json_body(MIB, &[]);
    for &algorithm in BARE {
        let (name, once) = bare(algorithm, &body);
        group.bench_function(BenchmarkId::from_parameter(name), |b| b.iter(&once));
    }
    for provider in hmac_rows() {
        let case = case(provider);
        let req = case.request();
        group.bench_function(BenchmarkId::from_parameter(case.provider.name()), |b| {
            b.iter(|| case.verifier.verify(black_box(&req), black_box(now())))
        });
    }
    group.finish();
}

/// `WEBHOOK_BENCH_REPEAT=<name>:<n>`: instead of timing, runs `n` iterations of one case
/// (a provider's name or `bare-hmac-sha1|256|512`), for an instruction counter
/// (tools/hmac-instructions.sh runs it under callgrind); `list` prints every case's name and
/// algorithm.
fn repeat(spec: &str) {
    let body = json_body(MIB, &[]);
    if spec == "list" {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for &algorithm in BARE {
            writeln!(out, "{} {algorithm:?}", bare(algorithm, &body).0).expect("stdout");
        }
        for p in hmac_rows() {
            writeln!(out, "{} {:?}", p.name(), p.scheme().expect("a scheme").algorithm()).expect("stdout");
        }
        return;
    }
    let (name, n) = spec.rsplit_once(':').expect("WEBHOOK_BENCH_REPEAT=<name>:<count>");
    let n: usize = n.parse().expect("a count");
    if let Some((_, once)) = BARE.iter().map(|&a| bare(a, &body)).find(|(bare, _)| *bare == name) {
        (0..n).for_each(|_| assert!(once()));
        return;
    }
    let provider = hmac_rows().find(|p| p.name() == name).unwrap_or_else(|| panic!("no HMAC provider {name}"));
    let case = case(provider);
    let req = case.request();
    (0..n).for_each(|_| assert!(case.verifier.verify(black_box(&req), black_box(now())).is_ok()));
}

/// The group, in a private module: `criterion_group!` writes an undocumented `pub fn`.
mod groups {
    use super::hmac_providers;
    criterion::criterion_group!(benches, hmac_providers);
}
fn main() {
    match std::env::var("WEBHOOK_BENCH_REPEAT") {
        Ok(spec) => repeat(&spec),
        Err(_) => {
            groups::benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
