//! GitHub's events, typed from real payloads: the examples GitHub's own SDK team publishes
//! (octokit/webhooks, `payload-examples/api.github.com`, MIT), copied into
//! `tests/fixtures/github/`.

use std::time::SystemTime;

use webhook_core::github::GithubEvent;
use webhook_core::{providers, FromWebhook, SignRequest, Verifier, WebhookRequest};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/github/{name}.json", env!("CARGO_MANIFEST_DIR"))).expect(name)
}

#[test]
fn ping() {
    let GithubEvent::Ping(e) = GithubEvent::parse("ping", &fixture("ping")).expect("ping") else { panic!() };
    assert_eq!((e.zen.as_str(), e.hook_id), ("Anything added dilutes everything else.", 109948940));
    assert_eq!(e.repository.expect("repository").full_name, "Octocoders/Hello-World");
}

#[test]
fn push_of_a_tag_and_of_a_new_branch() {
    let GithubEvent::Push(tag) = GithubEvent::parse("push", &fixture("push")).expect("push") else { panic!() };
    assert_eq!((tag.git_ref.as_str(), tag.commits.len(), tag.head_commit.is_none()), ("refs/tags/simple-tag", 0, true));
    assert_eq!(tag.repository.full_name, "Codertocat/Hello-World");

    let GithubEvent::Push(branch) = GithubEvent::parse("push", &fixture("push-commits")).expect("push") else {
        panic!()
    };
    assert_eq!(branch.git_ref, "refs/heads/master");
    assert!(branch.created);
    assert_eq!(branch.commits.len(), 1);
    let commit = &branch.commits[0];
    assert_eq!(commit.id, "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
    assert_eq!((commit.author.name.as_str(), commit.author.username.as_deref()), ("Codertocat", Some("Codertocat")));
    assert_eq!(branch.head_commit.as_ref().map(|c| c.id.as_str()), Some(commit.id.as_str()));
    assert_eq!(branch.pusher.name, "Codertocat");
}

#[test]
fn pull_request_opened() {
    let event = GithubEvent::parse("pull_request", &fixture("pull_request-opened")).expect("pull_request");
    assert_eq!(event.name(), "pull_request");
    let GithubEvent::PullRequest(e) = event else { panic!() };
    assert_eq!((e.action.as_str(), e.number), ("opened", 2));
    let pr = &e.pull_request;
    assert_eq!(pr.title, "Update the README with new information.");
    assert_eq!((pr.state.as_str(), pr.head.git_ref.as_str(), pr.base.git_ref.as_str()), ("open", "changes", "master"));
    assert_eq!((pr.user.login.as_str(), pr.merged, pr.draft), ("Codertocat", Some(false), false));
}

#[test]
fn issues_opened() {
    let GithubEvent::Issues(e) = GithubEvent::parse("issues", &fixture("issues-opened")).expect("issues") else {
        panic!()
    };
    assert_eq!((e.action.as_str(), e.issue.number), ("opened", 1));
    assert_eq!(e.issue.title, "Spelling error in the README file");
    assert_eq!(e.issue.labels.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["bug"]);
    assert_eq!(e.sender.map(|s| s.login).as_deref(), Some("Codertocat"));
}

#[test]
fn any_other_event_keeps_its_name_and_json() {
    let event = GithubEvent::parse("star", &fixture("star-created")).expect("star");
    let GithubEvent::Other { event, payload } = &event else { panic!("{event:?}") };
    assert_eq!((event.as_str(), payload["action"].as_str()), ("star", Some("created")));
}

#[test]
fn a_body_of_the_wrong_shape_for_its_event_is_an_error() {
    // A push body announced as a pull request, an issue without its number, not JSON.
    assert!(GithubEvent::parse("pull_request", &fixture("push")).is_err());
    assert!(GithubEvent::parse("issues", br#"{"action":"opened","issue":{"title":"x"}}"#).is_err());
    assert!(GithubEvent::parse("star", b"not json").is_err());
}

#[test]
fn a_verified_delivery_becomes_its_event_with_the_raw_bytes_kept() {
    let body = fixture("pull_request-opened");
    let verifier = Verifier::new(providers::GITHUB, "s3cret").expect("verifier");
    let signed =
        verifier.sign(&SignRequest::new(&body, SystemTime::now()).id("d-1").event_type("pull_request")).expect("sign");
    let delivery = verifier.verify(&WebhookRequest::new(&signed, body.clone()), SystemTime::now()).expect("verified");
    let event = GithubEvent::from_webhook(&delivery).expect("typed");
    assert!(matches!(event, GithubEvent::PullRequest(ref e) if e.number == 2));
    assert_eq!(delivery.body().as_ref(), body.as_slice(), "the raw bytes, byte for byte");
    // A plain serde type goes through the same trait.
    let value = serde_json::Value::from_webhook(&delivery).expect("json");
    assert_eq!(value["number"], 2);
}
