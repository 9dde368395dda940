#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod body;
mod layer;
mod peer;
mod service;

pub use body::WebhookBody;
pub use layer::{PeerAddrFn, VerifiedBody, WebhookLayer};
pub use peer::PeerAddr;
pub use service::{ResponseFuture, WebhookService};
// The same core vocabulary from every adapter.
pub use webhook_core::receive::{Endpoint, Outcome};
pub use webhook_core::{providers, Provider, Verified, Verifier};

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::SystemTime;

    use bytes::Bytes;
    use http::{Request, Response, StatusCode};
    use http_body_util::{BodyExt, Full};
    use tower::{service_fn, Layer, ServiceExt};
    use webhook_core::receive::Endpoint;
    use webhook_core::{providers, SignRequest, Verified, Verifier};

    use super::WebhookLayer;

    fn request(v: &Verifier, body: &'static [u8], id: &str) -> Request<Full<Bytes>> {
        let signed = v.sign(&SignRequest::new(body, SystemTime::now()).id(id).event_type("push")).unwrap();
        let mut req = Request::post("/hook").header("content-length", body.len());
        for (k, val) in signed.headers() {
            req = req.header(*k, val);
        }
        req.body(Full::new(Bytes::from_static(body))).unwrap()
    }

    #[tokio::test]
    async fn only_verified_new_deliveries_reach_the_inner_service() {
        let v = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        // The inner service fails the first time it sees a delivery, then succeeds.
        let inner = {
            let calls = Arc::clone(&calls);
            service_fn(move |req: Request<Full<Bytes>>| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    let delivery = req.extensions().get::<Verified>().cloned().unwrap();
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    assert_eq!(body, delivery.body());
                    let status = if n == 0 { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
                    let mut res = Response::new(Full::new(Bytes::from(delivery.id().unwrap().to_owned())));
                    *res.status_mut() = status;
                    Ok::<_, Infallible>(res)
                }
            })
        };
        let svc = WebhookLayer::new(Endpoint::new(v.clone()).with_body_limit(64)).layer(inner);
        let send = |req| {
            let svc = svc.clone();
            async move {
                let res = svc.oneshot(req).await.unwrap();
                let status = res.status();
                (status, res.into_body().collect().await.unwrap().to_bytes())
            }
        };
        // A failed handling releases the id: the provider's retry is handled.
        assert_eq!(send(request(&v, b"{}", "d1")).await.0, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(send(request(&v, b"{}", "d1")).await, (StatusCode::OK, Bytes::from("d1")));
        // Handled once: now a duplicate, answered by the layer.
        let dup = send(request(&v, b"{}", "d1")).await;
        assert_eq!(dup, (StatusCode::OK, Bytes::from(r#"{"status":"duplicate"}"#)));
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        let mut tampered = request(&v, b"{}", "d2");
        *tampered.body_mut() = Full::new(Bytes::from_static(b"[]"));
        assert_eq!(send(tampered).await.0, StatusCode::UNAUTHORIZED);
        let big = request(&v, &[b' '; 65], "d3");
        assert_eq!(send(big).await.0, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_inner_service_that_panics_frees_the_id_for_the_retry() {
        let v = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let inner = {
            let calls = Arc::clone(&calls);
            service_fn(move |_: Request<Full<Bytes>>| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    assert!(n > 0, "the inner service panicked");
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"handled"))))
                }
            })
        };
        let svc = WebhookLayer::new(Endpoint::new(v.clone())).layer(inner);
        let panicked = tokio::spawn(svc.clone().oneshot(request(&v, b"{}", "x1"))).await;
        assert!(panicked.is_err());
        // The release runs in the background: wait for it (bounded), never for a time.
        let mut status = StatusCode::CONFLICT;
        for _ in 0..1000 {
            status = svc.clone().oneshot(request(&v, b"{}", "x1")).await.unwrap().status();
            if status != StatusCode::CONFLICT {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(status, StatusCode::OK);
        assert_eq!(calls.load(Ordering::SeqCst), 2, "the retry was handled");
    }

    #[tokio::test]
    async fn the_allowlist_is_checked_before_the_body_is_read() {
        use super::PeerAddr;
        use webhook_core::ip::{IpAllowlist, TrustedProxies};

        let v = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let inner = {
            let calls = Arc::clone(&calls);
            service_fn(move |_: Request<Full<Bytes>>| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"handled")))) }
            })
        };
        let allowlist = IpAllowlist::parse_csv("10.0.0.0/8, 2001:db8::/32")
            .unwrap()
            .with_trusted_proxies(TrustedProxies::parse_csv("192.0.2.1").unwrap());
        let endpoint = Endpoint::new(v.clone()).with_allowlist(allowlist).with_body_limit(64);
        let svc = WebhookLayer::new(endpoint).layer(inner);
        let send = |mut req: Request<Full<Bytes>>, peer: Option<&str>| {
            let svc = svc.clone();
            if let Some(peer) = peer {
                req.extensions_mut().insert(PeerAddr(peer.parse().unwrap()));
            }
            async move {
                let res = svc.oneshot(req).await.unwrap();
                let status = res.status();
                (status, res.into_body().collect().await.unwrap().to_bytes())
            }
        };
        assert_eq!(
            send(request(&v, b"{}", "p1"), Some("10.0.0.1:4711")).await,
            (StatusCode::OK, Bytes::from("handled"))
        );
        assert_eq!(send(request(&v, b"{}", "p2"), Some("[::ffff:10.0.0.1]:1")).await.0, StatusCode::OK);
        assert_eq!(send(request(&v, b"{}", "p3"), Some("[2001:db8::9]:1")).await.0, StatusCode::OK);
        let refused = send(request(&v, b"{}", "p4"), Some("127.0.0.1:4711")).await;
        assert_eq!(
            refused,
            (
                StatusCode::FORBIDDEN,
                Bytes::from(r#"{"error":"forbidden","reason":"client address 127.0.0.1 is not in the allowlist"}"#)
            )
        );
        // 403 before 413: the body of a refused client is never looked at.
        assert_eq!(send(request(&v, &[b' '; 65], "p5"), Some("127.0.0.1:1")).await.0, StatusCode::FORBIDDEN);
        let mut proxied = request(&v, b"{}", "p6");
        proxied.headers_mut().insert("x-forwarded-for", "10.1.2.3".parse().unwrap());
        assert_eq!(send(proxied, Some("192.0.2.1:80")).await.0, StatusCode::OK);
        let mut forged = request(&v, b"{}", "p7");
        forged.headers_mut().insert("x-forwarded-for", "10.1.2.3".parse().unwrap());
        assert_eq!(send(forged, Some("192.0.2.2:80")).await.0, StatusCode::FORBIDDEN);
        let (status, body) = send(request(&v, b"{}", "p8"), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(String::from_utf8_lossy(&body).contains("did not pass the connection's peer address"));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn inside_axum_the_peer_can_come_from_connect_info() {
        use axum::extract::ConnectInfo;
        use axum::routing::post;
        use axum::Router;
        use std::net::SocketAddr;
        use webhook_core::ip::IpAllowlist;

        let v = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let endpoint = Endpoint::new(v.clone()).with_allowlist(IpAllowlist::parse_csv("127.0.0.0/8").unwrap());
        let layer = WebhookLayer::new(endpoint)
            .with_body::<axum::body::Body>()
            .with_peer_addr(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()));
        let app = Router::new().route("/hook", post(|| async { "ok" })).route_layer(layer);
        let send = |peer: &str, id: &str| {
            let mut req = request(&v, b"{}", id).map(axum::body::Body::new);
            req.extensions_mut().insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
            app.clone().oneshot(req)
        };
        assert_eq!(send("127.0.0.1:1", "c1").await.unwrap().status(), StatusCode::OK);
        assert_eq!(send("192.0.2.1:1", "c2").await.unwrap().status(), StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn works_as_a_layer_inside_an_axum_router() {
        use axum::routing::post;
        use axum::{Extension, Router};

        async fn handler(Extension(delivery): Extension<Verified>, body: Bytes) -> String {
            format!("{}:{}", delivery.id().unwrap_or("-"), body.len())
        }

        let v = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let layer = WebhookLayer::new(Endpoint::new(v.clone())).with_body::<axum::body::Body>();
        let app = Router::new().route("/hook", post(handler)).route_layer(layer);

        let send = |req: Request<Full<Bytes>>| {
            let app = app.clone();
            async move {
                let res = app.oneshot(req.map(axum::body::Body::new)).await.unwrap();
                let status = res.status();
                (status, res.into_body().collect().await.unwrap().to_bytes())
            }
        };
        assert_eq!(send(request(&v, b"{\"a\":1}", "ax1")).await, (StatusCode::OK, Bytes::from("ax1:7")));
        assert_eq!(send(request(&v, b"{\"a\":1}", "ax1")).await.1, Bytes::from(r#"{"status":"duplicate"}"#));
        let mut forged = request(&v, b"{}", "ax2");
        *forged.body_mut() = Full::new(Bytes::from_static(b"{ }"));
        assert_eq!(send(forged).await.0, StatusCode::UNAUTHORIZED);
    }
}
