//! The web console in each receiver (`WEBHOOK_ADMIN_TOKEN`), over real HTTP: off without
//! the token (404), 401 without credentials, a page with the bearer token after a delivery,
//! and the webhook routes unchanged beside it.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::time::SystemTime;

use bytes::Bytes;
use http::Method;
use webhook_core::{providers, SignRequest, Verifier};
use webhook_tests::{send, Payload, Receiver};

const TOKEN: &str = "receiver-admin-token-0123456789";

fn bearer() -> Vec<(String, String)> {
    vec![("Authorization".into(), format!("Bearer {TOKEN}"))]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_receiver_serves_the_console_only_with_the_token() {
    for receiver in Receiver::ALL {
        let off = receiver.start(&[("GITHUB_WEBHOOK_SECRET", "s3cret")]).await;
        let answer = send(off, Method::GET, "/admin/deliveries", &bearer(), Payload::Sized(Bytes::new())).await;
        assert_eq!(answer.status, 404, "{receiver:?}: no console without WEBHOOK_ADMIN_TOKEN");

        let addr = receiver.start(&[("GITHUB_WEBHOOK_SECRET", "s3cret"), ("WEBHOOK_ADMIN_TOKEN", TOKEN)]).await;
        for path in ["/admin", "/admin/deliveries", "/admin/dead"] {
            let answer = send(addr, Method::GET, path, &[], Payload::Sized(Bytes::new())).await;
            assert_eq!(answer.status, 401, "{receiver:?} {path}");
            assert!(answer.body.contains("Sign in"), "{receiver:?} {path}: the login form");
        }

        // A delivery, then the deliveries page shows it.
        let body: &[u8] = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
        let github = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let id = format!("console-{receiver:?}");
        let signed = github.sign(&SignRequest::new(body, SystemTime::now()).id(&id).event_type("ping")).unwrap();
        let headers: Vec<(String, String)> =
            signed.headers().iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        let sent =
            send(addr, Method::POST, "/webhooks/github", &headers, Payload::Sized(Bytes::from_static(body))).await;
        assert_eq!(sent.status, 200, "{receiver:?}: {}", sent.body);

        let page =
            send(addr, Method::GET, "/admin/deliveries?provider=github", &bearer(), Payload::Sized(Bytes::new())).await;
        assert_eq!(page.status, 200, "{receiver:?}");
        assert_eq!(page.content_type.as_deref(), Some("text/html; charset=utf-8"));
        assert!(page.body.contains(&id), "{receiver:?}: the delivery is listed");
    }
}

#[test]
fn a_short_token_or_a_broker_with_the_console_is_refused() {
    let vars = |v: &[(&str, &str)]| -> Result<receiver_common::Config, String> {
        let map: std::collections::HashMap<String, String> =
            v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        receiver_common::Config::from_vars(|k| map.get(k).cloned())
    };
    let short = vars(&[("GITHUB_WEBHOOK_SECRET", "s"), ("WEBHOOK_ADMIN_TOKEN", "short")]).unwrap_err();
    assert!(short.starts_with("WEBHOOK_ADMIN_TOKEN: "), "{short}");
    let broker = vars(&[
        ("GITHUB_WEBHOOK_SECRET", "s"),
        ("WEBHOOK_ADMIN_TOKEN", TOKEN),
        ("WEBHOOK_SINK", "nats://127.0.0.1:4222"),
    ])
    .unwrap_err();
    assert!(broker.contains("broker"), "{broker}");
}
