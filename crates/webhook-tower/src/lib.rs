#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod body;
mod layer;
mod service;

pub use body::WebhookBody;
pub use layer::WebhookLayer;
pub use service::{ResponseFuture, WebhookService};

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
