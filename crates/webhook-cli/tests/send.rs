//! `webhook send` against a real receiver: an axum app verifying with `webhook-axum` on
//! 127.0.0.1, started by the test.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::process::Output;

use axum::routing::post;
use axum::{Json, Router};
use common::*;
use serde_json::{json, Value};
use webhook_axum::{Endpoint, RawWebhook, VerifiedWebhook};
use webhook_core::{providers, Verifier};

const GITHUB_SECRET: &str = "github-s3cret";
const TWILIO_TOKEN: &str = "twilio-auth-token";

async fn github(hook: VerifiedWebhook<Value>) -> Json<Value> {
    Json(json!({
        "status": "accepted",
        "id": hook.delivery.id(),
        "type": hook.delivery.event_type(),
        "zen": hook.payload["zen"],
    }))
}

async fn twilio(RawWebhook(delivery): RawWebhook) -> Json<Value> {
    Json(json!({ "status": "accepted", "body": String::from_utf8_lossy(delivery.body()) }))
}

/// The receiver: `/github` and `/twilio` verify; `/big` answers 2 MiB.
async fn receiver() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let github_endpoint = Endpoint::new(Verifier::new(providers::GITHUB, GITHUB_SECRET).unwrap());
    let twilio_endpoint = Endpoint::new(Verifier::new(providers::TWILIO, TWILIO_TOKEN).unwrap())
        .with_public_url(&format!("http://{addr}"));
    let app = Router::new()
        .route(
            "/github",
            post(github).with_state(github_endpoint).layer(axum::middleware::from_fn(webhook_axum::settle)),
        )
        .route(
            "/twilio",
            post(twilio).with_state(twilio_endpoint).layer(axum::middleware::from_fn(webhook_axum::settle)),
        )
        .route("/big", post(|| async { vec![b'x'; 2 * 1024 * 1024] }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Runs `webhook send ...` off the runtime, the body in a temporary file.
async fn send(args: Vec<String>, body: &'static [u8]) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut cmd = webhook();
        cmd.arg("send").args(&args).arg("-");
        run_with_stdin(cmd, body)
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_reports_the_receivers_answer_and_its_exit_code_follows_it() {
    let addr = receiver().await;
    let url = format!("http://{addr}/github");
    let body: &[u8] = br#"{"zen":"Design for failure."}"#;

    // The right secret: 200, the receiver saw the id and type given.
    let out = send(
        args(&["-p", "github", "--secret", GITHUB_SECRET, "--url", &url, "--id", "d-1", "--event-type", "push"]),
        body,
    )
    .await;
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(text.starts_with("HTTP 200 OK\n"), "{text}");
    let answer: Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
    assert_eq!(answer, json!({"status": "accepted", "id": "d-1", "type": "push", "zen": "Design for failure."}));
    assert!(!text.contains(GITHUB_SECRET) && !stderr(&out).contains(GITHUB_SECRET));

    // A wrong secret: the receiver's 401 is printed and the exit code is 1.
    let out = send(args(&["-p", "github", "--secret", "wrong", "--url", &url, "--id", "d-2"]), body).await;
    assert_exit(&out, 1);
    assert!(stdout(&out).starts_with("HTTP 401 Unauthorized\n"), "{}", stdout(&out));

    // --json, with the secret from the environment.
    let out = tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            let mut cmd = webhook();
            cmd.args([
                "send",
                "-p",
                "github",
                "--secret-env",
                "GH_SECRET",
                "--url",
                &url,
                "--json",
                "--id",
                "d-3",
                "-",
            ]);
            cmd.env("GH_SECRET", GITHUB_SECRET);
            run_with_stdin(cmd, body)
        }
    })
    .await
    .unwrap();
    assert_exit(&out, 0);
    let v = json(&out);
    assert_eq!(
        (v["status"].as_u64(), v["ok"].as_bool(), v["truncated"].as_bool()),
        (Some(200), Some(true), Some(false))
    );
    assert_eq!(v["url"], url.as_str());
    assert_eq!(v["headers"]["content-type"], "application/json");
    assert_eq!(v["body_encoding"], "utf-8");
    let answer: Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
    assert_eq!(answer["id"], "d-3");

    // The same delivery again: the receiver deduplicates it, still a 2xx.
    let out =
        send(args(&["-p", "github", "--secret", GITHUB_SECRET, "--url", &url, "--id", "d-3", "--json"]), body).await;
    assert_exit(&out, 0);
    assert_eq!(json(&out)["body"], r#"{"status":"duplicate"}"#);

    // A --header replaces the signed header of the same name: the receiver refuses it.
    let out = send(
        args(&[
            "-p",
            "github",
            "--secret",
            GITHUB_SECRET,
            "--url",
            &url,
            "--id",
            "d-4",
            "-H",
            "X-Hub-Signature-256: sha256=0000000000000000000000000000000000000000000000000000000000000000",
            "--json",
        ]),
        body,
    )
    .await;
    assert_exit(&out, 1);
    let v = json(&out);
    assert_eq!((v["status"].as_u64(), v["ok"].as_bool()), (Some(401), Some(false)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_json_and_form_bodies_verify_at_the_receiver() {
    let addr = receiver().await;
    let url = format!("http://{addr}/twilio?account=AC1");

    let out =
        send(args(&["-p", "twilio", "--secret", TWILIO_TOKEN, "--url", &url, "--json"]), br#"{"CallSid":"CA1"}"#).await;
    assert_exit(&out, 0);
    let v = json(&out);
    assert!(v["url"].as_str().unwrap().starts_with(&format!("{url}&bodySHA256=")), "{v}");

    // A form body gets the form content type, and is signed through its parameters.
    let out =
        send(args(&["-p", "twilio", "--secret", TWILIO_TOKEN, "--url", &url]), b"CallSid=CA2&From=%2B15005550006")
            .await;
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("CallSid=CA2"), "{}", stdout(&out));

    let out = send(args(&["-p", "twilio", "--secret", "not-the-token", "--url", &url]), b"CallSid=CA3").await;
    assert_exit(&out, 1);
    assert!(stdout(&out).starts_with("HTTP 401"), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_response_body_read_is_bounded() {
    let addr = receiver().await;
    let out =
        send(args(&["-p", "github", "--secret", "x", "--url", &format!("http://{addr}/big"), "--json"]), b"{}").await;
    assert_exit(&out, 0);
    let v = json(&out);
    assert_eq!(v["truncated"], true);
    assert_eq!(v["body"].as_str().unwrap().len(), 1024 * 1024);
    assert!(stderr(&out).contains("only the first 1048576 bytes"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_receiver_is_a_clear_error() {
    // A port that was just free: nothing listens on it.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{addr}/github");
    let out = send(args(&["-p", "github", "--secret", "x", "--url", &url]), b"{}").await;
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.starts_with(&format!("error: cannot connect to {url}")), "{err}");
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

/// A certificate authority and a certificate it issued for 127.0.0.1 and localhost, made
/// for the test: `(CA certificate PEM, server certificate DER, server key DER)`.
fn test_ca() -> (String, Vec<u8>, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let mut ca_params = CertificateParams::new(Vec::default()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = server_params.signed_by(&server_key, &issuer).unwrap();
    (ca.pem(), server.der().to_vec(), server_key.serialize_der())
}

/// The same receiver behind TLS with the test CA's certificate, on 127.0.0.1.
async fn https_receiver(cert: Vec<u8>, key: Vec<u8>) -> SocketAddr {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio_rustls::rustls::ServerConfig;
    use tower::ServiceExt as _;
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(cert)], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let github_endpoint = Endpoint::new(Verifier::new(providers::GITHUB, GITHUB_SECRET).unwrap());
    let app = Router::new().route(
        "/github",
        post(github).with_state(github_endpoint).layer(axum::middleware::from_fn(webhook_axum::settle)),
    );
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to serve.
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    app.clone().oneshot(req.map(axum::body::Body::new))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_over_https_checks_the_certificate_unless_told_it_is_a_development_one() {
    let (ca_pem, cert, key) = test_ca();
    let addr = https_receiver(cert, key).await;
    let url = format!("https://{addr}/github");
    let dir = std::env::temp_dir().join(format!("webhook-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let body: &[u8] = br#"{"zen":"over TLS"}"#;
    let base = |id: &str| {
        args(&["-p", "github", "--secret", GITHUB_SECRET, "--url", &url, "--id", id, "--event-type", "push"])
    };

    // The receiver's CA trusted: 200, verified at the receiver.
    let mut trusted = base("tls-1");
    trusted.extend(args(&["--cacert", ca_file.to_str().unwrap(), "--json"]));
    let out = send(trusted, body).await;
    assert_exit(&out, 0);
    let answered = json(&out);
    assert_eq!(answered["status"], 200, "{answered}");
    assert!(answered["body"].as_str().unwrap().contains(r#""id":"tls-1""#), "{answered}");

    // The public roots do not know the test CA: refused before anything is sent.
    let out = send(base("tls-2"), body).await;
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("certificate"), "{}", stderr(&out));

    // --insecure: sent, with a warning that says what it means.
    let mut insecure = base("tls-3");
    insecure.push("--insecure".to_owned());
    let out = send(insecure, body).await;
    assert_exit(&out, 0);
    assert!(stdout(&out).contains(r#""id":"tls-3""#), "{}", stdout(&out));
    assert!(stderr(&out).contains("--insecure: the receiver's certificate is not checked"), "{}", stderr(&out));

    // A file without a certificate is a usage error (exit 2), named.
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let mut bad = base("tls-4");
    bad.extend(args(&["--cacert", empty.to_str().unwrap()]));
    let out = send(bad, body).await;
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("--cacert"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}
