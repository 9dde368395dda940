//! `VerifiedWebhook<GithubEvent>` (feature `github`): the typed event from `X-GitHub-Event`
//! and the body, the raw bytes kept, on real payloads (octokit/webhooks' examples in
//! webhook-core's fixtures).

#![allow(clippy::unwrap_used)]

use std::time::SystemTime;

use axum::body::Body;
use axum::http::StatusCode;
use axum::middleware::from_fn;
use axum::routing::post;
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;
use webhook_axum::github::GithubEvent;
use webhook_axum::{providers, settle, Endpoint, VerifiedWebhook, Verifier};
use webhook_core::SignRequest;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../webhook-core/tests/fixtures/github/{name}.json", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

async fn on_github(hook: VerifiedWebhook<GithubEvent>) -> String {
    let bytes = hook.delivery.body().len();
    match hook.payload {
        GithubEvent::Push(p) => format!("push {} by {} ({bytes} bytes)", p.git_ref, p.pusher.name),
        GithubEvent::PullRequest(p) => format!("pull_request {} #{} ({bytes} bytes)", p.action, p.number),
        GithubEvent::Issues(i) => format!("issues {} {:?} ({bytes} bytes)", i.action, i.issue.title),
        GithubEvent::Ping(p) => format!("ping {} ({bytes} bytes)", p.hook_id),
        other => format!("other {} ({bytes} bytes)", other.name()),
    }
}

async fn send(app: &Router, v: &Verifier, event: &str, body: Vec<u8>, id: &str) -> (StatusCode, String) {
    let signed = v.sign(&SignRequest::new(&body, SystemTime::now()).id(id).event_type(event)).unwrap();
    let mut req = axum::http::Request::post("/gh");
    for (k, val) in signed.headers() {
        req = req.header(*k, val);
    }
    let res = app.clone().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let status = res.status();
    (status, String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap())
}

#[tokio::test]
async fn each_event_arrives_typed_with_its_raw_bytes() {
    let v = Verifier::new(providers::GITHUB, "s3cret").unwrap();
    let ep = Endpoint::new(v.clone()).with_body_limit(1 << 20);
    let app = Router::new().route("/gh", post(on_github).with_state(ep).layer(from_fn(settle)));
    let cases = [
        ("push", "push-commits", "push refs/heads/master by Codertocat"),
        ("pull_request", "pull_request-opened", "pull_request opened #2"),
        ("issues", "issues-opened", "issues opened \"Spelling error in the README file\""),
        ("ping", "ping", "ping 109948940"),
        ("star", "star-created", "other star"),
    ];
    for (i, (event, file, said)) in cases.into_iter().enumerate() {
        let body = fixture(file);
        let len = body.len();
        let (status, text) = send(&app, &v, event, body, &format!("d{i}")).await;
        assert_eq!((status, text), (StatusCode::OK, format!("{said} ({len} bytes)")));
    }
    // A body that is not the announced event is 400, and its id is freed for the retry.
    let (status, text) = send(&app, &v, "pull_request", fixture("push"), "bad").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let (status, _) = send(&app, &v, "push", fixture("push"), "bad").await;
    assert_eq!(status, StatusCode::OK, "the same id, now a good body, is handled");
}
