//! `VerifiedWebhook<GithubEvent>` (feature `github`) in actix-web: the typed event from
//! `X-GitHub-Event` and the body, the raw bytes kept, on real payloads (octokit/webhooks'
//! examples in webhook-core's fixtures).

#![allow(clippy::unwrap_used)]

use std::time::SystemTime;

use actix_web::middleware::from_fn;
use actix_web::{test, web, App, HttpResponse};
use webhook_actix::github::GithubEvent;
use webhook_actix::{providers, settle, Endpoint, VerifiedWebhook, Verifier};
use webhook_core::SignRequest;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../webhook-core/tests/fixtures/github/{name}.json", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

async fn on_github(hook: VerifiedWebhook<GithubEvent>) -> HttpResponse {
    let bytes = hook.delivery.body().len();
    HttpResponse::Ok().body(match hook.payload {
        GithubEvent::PullRequest(p) => format!("pull_request {} #{} ({bytes} bytes)", p.action, p.number),
        GithubEvent::Issues(i) => format!("issues {} #{} ({bytes} bytes)", i.action, i.issue.number),
        other => format!("{} ({bytes} bytes)", other.name()),
    })
}

#[actix_rt::test]
async fn each_event_arrives_typed_with_its_raw_bytes() {
    let v = Verifier::new(providers::GITHUB, "s3cret").unwrap();
    let ep = Endpoint::new(v.clone()).with_body_limit(1 << 20);
    let app =
        test::init_service(App::new().app_data(ep).wrap(from_fn(settle)).route("/gh", web::post().to(on_github))).await;
    let cases = [
        ("pull_request", "pull_request-opened", "pull_request opened #2"),
        ("issues", "issues-opened", "issues opened #1"),
        ("push", "push-commits", "push"),
        ("star", "star-created", "star"),
    ];
    for (i, (event, file, said)) in cases.into_iter().enumerate() {
        let body = fixture(file);
        let len = body.len();
        let signed =
            v.sign(&SignRequest::new(&body, SystemTime::now()).id(&format!("d{i}")).event_type(event)).unwrap();
        let mut req = test::TestRequest::post().uri("/gh");
        for (k, val) in signed.headers() {
            req = req.insert_header((*k, val.as_str()));
        }
        let res = test::call_service(&app, req.set_payload(body).to_request()).await;
        assert_eq!(res.status(), 200, "{event}");
        assert_eq!(test::read_body(res).await, format!("{said} ({len} bytes)").as_bytes());
    }
}
