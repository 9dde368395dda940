//! The web console in each receiver (`WEBHOOK_ADMIN_TOKEN`), over real HTTP: off without
//! the token (404), 401 without credentials, a page with the bearer token after a delivery,
//! and the webhook routes unchanged beside it; the login cookie `Secure` as configured.

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

/// The login's `Set-Cookie` on `addr`.
async fn login_cookie(addr: std::net::SocketAddr) -> String {
    let form = vec![("Content-Type".to_owned(), "application/x-www-form-urlencoded".to_owned())];
    let body = Bytes::from(format!("token={TOKEN}"));
    let answer = send(addr, Method::POST, "/admin/login", &form, Payload::Sized(body)).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    answer.set_cookie.expect("a session cookie")
}

/// `WEBHOOK_ADMIN_SECURE_COOKIE=1` marks the login cookie `Secure`; unset, it follows
/// `WEBHOOK_PUBLIC_URL` (`https://` is Secure); `0` turns it off even then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_receiver_marks_the_login_cookie_secure_when_told() {
    let base = [("GITHUB_WEBHOOK_SECRET", "s3cret"), ("WEBHOOK_ADMIN_TOKEN", TOKEN)];
    let with = |extra: &[(&'static str, &'static str)]| base.iter().chain(extra).copied().collect::<Vec<_>>();
    for receiver in Receiver::ALL {
        for (extra, secure) in [
            (&[][..], false),
            (&[("WEBHOOK_ADMIN_SECURE_COOKIE", "1")][..], true),
            (&[("WEBHOOK_PUBLIC_URL", "https://hooks.example.com")][..], true),
            (&[("WEBHOOK_PUBLIC_URL", "https://hooks.example.com"), ("WEBHOOK_ADMIN_SECURE_COOKIE", "0")][..], false),
        ] {
            let cookie = login_cookie(receiver.start(&with(extra)).await).await;
            assert!(cookie.starts_with("webhook_console=") && cookie.contains("HttpOnly"), "{receiver:?}: {cookie}");
            assert_eq!(cookie.contains("; Secure"), secure, "{receiver:?} {extra:?}: {cookie}");
        }
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
    let flag = vars(&[("WEBHOOK_ADMIN_TOKEN", TOKEN), ("WEBHOOK_ADMIN_SECURE_COOKIE", "yes")]).unwrap_err();
    assert!(flag.contains("WEBHOOK_ADMIN_SECURE_COOKIE=yes is not 1 or 0"), "{flag}");
}
