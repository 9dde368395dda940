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
