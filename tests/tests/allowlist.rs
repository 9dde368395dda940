//! IP allowlists over real HTTP against all three receivers: `<PROVIDER>_WEBHOOK_ALLOW_IPS`
//! and `WEBHOOK_TRUSTED_PROXIES`, with the peer always 127.0.0.1 (the forwarding headers
//! name other addresses; nothing is ever sent anywhere but loopback).

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::time::SystemTime;

use bytes::Bytes;
use http::Method;
use webhook_core::{providers, SignRequest, Verifier};

use webhook_tests::{send, Answer, Payload, Receiver};

const LIMIT: usize = 4096;
const ACCEPTED: &str = r#"{"status":"accepted"}"#;

fn forbidden(reason: &str) -> String {
    format!(r#"{{"error":"forbidden","reason":"{reason}"}}"#)
}

/// A signed delivery to one route, plus extra headers.
struct Call {
    path: &'static str,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl Call {
    fn github(tag: &str, extra: &[(&str, &str)]) -> Self {
        let signer = Verifier::new(providers::GITHUB, "gh-secret").unwrap();
        let req = SignRequest::new(br#"{"zen":"allowlist"}"#, SystemTime::now()).event_type("push").id(tag);
        Self::signed("/webhooks/github", &signer, &req, extra)
    }

    fn stripe(tag: &str, extra: &[(&str, &str)]) -> Self {
        let signer = Verifier::new(providers::STRIPE, "whsec_allowlist").unwrap();
        let body = format!(r#"{{"id":"evt_{tag}","type":"invoice.paid"}}"#);
        Self::signed("/webhooks/stripe", &signer, &SignRequest::new(body.as_bytes(), SystemTime::now()), extra)
    }

    fn signed(path: &'static str, signer: &Verifier, req: &SignRequest<'_>, extra: &[(&str, &str)]) -> Self {
        let signed = signer.sign(req).unwrap();
        let mut headers: Vec<(String, String)> =
            signed.headers().iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Self { path, headers, body: signed.body().clone() }
    }

    fn body(mut self, body: Vec<u8>) -> Self {
        self.body = Bytes::from(body);
        self
    }

    async fn send(self, addr: SocketAddr) -> Answer {
        send(addr, Method::POST, self.path, &self.headers, Payload::Sized(self.body)).await
    }
}

/// The sum of `webhook_requests_total` samples with these labels.
async fn requests_total(addr: SocketAddr, provider: &str, outcome: &str) -> f64 {
    let answer = send(addr, Method::GET, "/metrics", &[], Payload::Sized(Bytes::new())).await;
    assert_eq!(answer.status, 200, "GET /metrics: {answer:?}");
    let (p, o) = (format!(r#"provider="{provider}""#), format!(r#"outcome="{outcome}""#));
    answer
        .body
        .lines()
        .filter(|l| l.starts_with("webhook_requests_total{") && l.contains(&p) && l.contains(&o))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

fn env(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, String)> {
    let mut vars = vec![
        ("GITHUB_WEBHOOK_SECRET", "gh-secret".to_owned()),
        ("STRIPE_WEBHOOK_SECRET", "whsec_allowlist".to_owned()),
        ("WEBHOOK_MAX_BODY_BYTES", LIMIT.to_string()),
    ];
    vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    vars
}

async fn start(receiver: Receiver, vars: &[(&'static str, String)]) -> SocketAddr {
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    receiver.start(&vars).await
}

/// Runs `rows` against `addr`; returns the failures and how many GitHub rows expected 403.
async fn run(receiver: Receiver, addr: SocketAddr, rows: Vec<(&str, Call, u16, String)>) -> (Vec<String>, f64) {
    let mut failures = Vec::new();
    let mut refused = 0.0;
    for (name, call, status, body) in rows {
        refused += f64::from(u8::from(status == 403 && call.path == "/webhooks/github"));
        let answer = call.send(addr).await;
        if (answer.status, answer.body.as_str()) != (status, body.as_str())
            || answer.content_type.as_deref() != Some("application/json")
        {
            failures.push(format!(
                "{receiver:?} {name}: got {} {:?} ({:?})",
                answer.status, answer.body, answer.content_type
            ));
        }
    }
    (failures, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowlists_and_trusted_proxies_on_every_receiver() {
    let mut failures = Vec::new();
    for receiver in Receiver::ALL {
        let tag = |n: &str| format!("{receiver:?}-{n}");

        // The peer, 127.0.0.1, is not a trusted proxy: only its own address counts.
        let direct = start(
            receiver,
            &env(&[
                ("GITHUB_WEBHOOK_ALLOW_IPS", "10.0.0.0/8"),
                ("STRIPE_WEBHOOK_ALLOW_IPS", "127.0.0.0/8"),
                ("WEBHOOK_TRUSTED_PROXIES", "192.0.2.0/24"),
            ]),
        )
        .await;
        let before = requests_total(direct, "github", "forbidden").await;
        let outside = forbidden("client address 127.0.0.1 is not in the allowlist");
        let (mut f, refused) = run(
            receiver,
            direct,
            vec![
                ("peer outside the allowlist", Call::github(&tag("d1"), &[]), 403, outside.clone()),
                (
                    "forged X-Forwarded-For from an untrusted peer is ignored",
                    Call::github(&tag("d2"), &[("X-Forwarded-For", "10.1.2.3")]),
                    403,
                    outside.clone(),
                ),
                (
                    "forged Forwarded from an untrusted peer is ignored",
                    Call::github(&tag("d3"), &[("Forwarded", "for=10.1.2.3")]),
                    403,
                    outside.clone(),
                ),
                (
                    "refused before the body is read (403, not 413)",
                    Call::github(&tag("d4"), &[]).body(vec![b' '; LIMIT + 1]),
                    403,
                    outside.clone(),
                ),
                ("peer inside the allowlist", Call::stripe(&tag("d5"), &[]), 200, ACCEPTED.into()),
                (
                    "peer inside, forged header ignored",
                    Call::stripe(&tag("d6"), &[("X-Forwarded-For", "192.0.2.50")]),
                    200,
                    ACCEPTED.into(),
                ),
            ],
        )
        .await;
        failures.append(&mut f);
        let counted = requests_total(direct, "github", "forbidden").await - before;
        if counted != refused {
            failures.push(format!("{receiver:?}: {counted} forbidden counted in /metrics, expected {refused}"));
        }

        // The peer, 127.0.0.1, is our proxy: the forwarding headers name the client.
        let proxied = start(
            receiver,
            &env(&[
                ("GITHUB_WEBHOOK_ALLOW_IPS", "10.0.0.0/8, 2001:db8::/32"),
                ("WEBHOOK_TRUSTED_PROXIES", "127.0.0.1/32"),
            ]),
        )
        .await;
        let before = requests_total(proxied, "github", "forbidden").await;
        let (mut f, refused) = run(
            receiver,
            proxied,
            vec![
                (
                    "X-Forwarded-For via a trusted proxy",
                    Call::github(&tag("p1"), &[("X-Forwarded-For", "10.1.2.3")]),
                    200,
                    ACCEPTED.into(),
                ),
                (
                    "X-Forwarded-For walked from the right past trusted proxies",
                    Call::github(&tag("p2"), &[("X-Forwarded-For", "192.0.2.99, 10.1.2.3, 127.0.0.1")]),
                    200,
                    ACCEPTED.into(),
                ),
                (
                    "X-Forwarded-For on two lines",
                    Call::github(&tag("p3"), &[("X-Forwarded-For", "192.0.2.99"), ("X-Forwarded-For", "10.1.2.3")]),
                    200,
                    ACCEPTED.into(),
                ),
                (
                    "Forwarded via a trusted proxy",
                    Call::github(&tag("p4"), &[("Forwarded", "for=10.1.2.3;proto=https")]),
                    200,
                    ACCEPTED.into(),
                ),
                (
                    "Forwarded with a quoted IPv6 address and port",
                    Call::github(&tag("p5"), &[("Forwarded", r#"for="[2001:db8::1]:4711""#)]),
                    200,
                    ACCEPTED.into(),
                ),
                (
                    "forwarded client outside the allowlist",
                    Call::github(&tag("p6"), &[("X-Forwarded-For", "192.0.2.1")]),
                    403,
                    forbidden("client address 192.0.2.1 is not in the allowlist"),
                ),
                (
                    "no forwarding header: the proxy itself is the client",
                    Call::github(&tag("p7"), &[]),
                    403,
                    forbidden("client address 127.0.0.1 is not in the allowlist"),
                ),
                (
                    "malformed entry from the trusted proxy fails closed",
                    Call::github(&tag("p8"), &[("X-Forwarded-For", "10.1.2.3, bogus")]),
                    403,
                    forbidden("X-Forwarded-For entry 1 from the right, written by a trusted proxy, is not an address"),
                ),
                (
                    "Forwarded for=unknown fails closed",
                    Call::github(&tag("p9"), &[("Forwarded", "for=unknown")]),
                    403,
                    forbidden("Forwarded entry 1 from the right hides the client address"),
                ),
                (
                    "the two headers disagree",
                    Call::github(&tag("p10"), &[("X-Forwarded-For", "10.1.2.3"), ("Forwarded", "for=10.1.2.4")]),
                    403,
                    forbidden("X-Forwarded-For and Forwarded name different clients"),
                ),
                (
                    "a route without an allowlist admits everyone",
                    Call::stripe(&tag("p11"), &[("X-Forwarded-For", "bogus")]),
                    200,
                    ACCEPTED.into(),
                ),
            ],
        )
        .await;
        failures.append(&mut f);
        let counted = requests_total(proxied, "github", "forbidden").await - before;
        if counted != refused {
            failures.push(format!("{receiver:?}: {counted} forbidden counted in /metrics, expected {refused}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_bad_range_stops_startup_naming_the_variable() {
    let vars = |k: &str, v: &str| {
        let map: std::collections::HashMap<String, String> =
            [(k.to_owned(), v.to_owned()), ("GITHUB_WEBHOOK_SECRET".to_owned(), "s".to_owned())].into();
        receiver_common::Config::from_vars(move |name| map.get(name).cloned()).unwrap_err()
    };
    let err = vars("GITHUB_WEBHOOK_ALLOW_IPS", "10.0.0.0/8, 10.0.0.300");
    assert!(err.starts_with("GITHUB_WEBHOOK_ALLOW_IPS: `10.0.0.300` is not an IP address"), "{err}");
    let err = vars("WEBHOOK_TRUSTED_PROXIES", "proxy.internal");
    assert!(err.starts_with("WEBHOOK_TRUSTED_PROXIES: `proxy.internal`"), "{err}");
}
