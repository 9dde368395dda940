//! The dedup claim seen from outside, one table run on each adapter (axum, actix-web,
//! tower), each served over real HTTP on 127.0.0.1 by the adapter crate itself, with a
//! handler the test holds: every run reports that it started, then waits for a permit the
//! test gives. Nothing waits for a time: the test waits for the handler's report, and a
//! request that should already have its answer gets 30 s before the test fails.
//!
//! - in flight: a copy sent while the first copy's handler provably runs is answered 409
//!   and runs nothing; released, the first copy gets the handler's 200; a third copy is 200
//!   `duplicate`;
//! - without a sink, a handler's non-2xx frees the id: the retry runs the handler again;
//! - with the durable pipeline (a [`MemoryStore`] pipeline attached to the endpoint), the
//!   delivery is stored before the handler runs and its id is done at once: a copy sent
//!   while the handler runs, and the retry after its non-2xx, are 200 `duplicate`; the
//!   event is stored once and handled once by the pipeline's worker.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::Method;
use tokio::sync::{mpsc, Semaphore};
use webhook_core::receive::Endpoint;
use webhook_core::{providers, SignRequest, Verified, Verifier};
use webhook_pipeline::{Event, EventRouter, EventStore, Filter, MemoryStore, Pipeline, Status};
use webhook_tests::{send, Answer, Payload};

const SECRET: &str = "in-flight-secret";
const DUPLICATE: &str = r#"{"status":"duplicate"}"#;
const IN_FLIGHT: &str = r#"{"error":"this delivery is already being processed; retry later"}"#;
/// How long a request whose answer is due may take before the test fails.
const DUE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
enum Adapter {
    Axum,
    Actix,
    Tower,
}

const ADAPTERS: [Adapter; 3] = [Adapter::Axum, Adapter::Actix, Adapter::Tower];

/// The application's handler, held by the test.
#[derive(Clone)]
struct Handler {
    /// Each run sends its delivery id here as soon as it starts.
    started: mpsc::UnboundedSender<String>,
    /// Each run takes one permit before it answers.
    permits: Arc<Semaphore>,
    /// The status each run answers, in order; 200 once they run out.
    statuses: Arc<Mutex<VecDeque<u16>>>,
    runs: Arc<AtomicUsize>,
}

/// The test's side of a [`Handler`].
struct Control {
    started: mpsc::UnboundedReceiver<String>,
    permits: Arc<Semaphore>,
    runs: Arc<AtomicUsize>,
}

impl Control {
    /// Waits until a run of the handler has started, and returns its delivery id.
    async fn started(&mut self) -> String {
        let started = tokio::time::timeout(DUE, self.started.recv()).await;
        started.expect("the handler did not start within 30 s").expect("the server is gone")
    }

    /// Lets `n` runs answer.
    fn release(&self, n: usize) {
        self.permits.add_permits(n);
    }

    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }
}

fn handler(statuses: &[u16]) -> (Handler, Control) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (permits, runs) = (Arc::new(Semaphore::new(0)), Arc::new(AtomicUsize::new(0)));
    let handler = Handler {
        started: tx,
        permits: permits.clone(),
        statuses: Arc::new(Mutex::new(statuses.iter().copied().collect())),
        runs: runs.clone(),
    };
    (handler, Control { started: rx, permits, runs })
}

impl Handler {
    /// One run: reports, waits for its permit, answers the next status and the id.
    async fn run(&self, delivery: &Verified) -> (u16, String) {
        let id = delivery.id().unwrap_or("-").to_owned();
        self.runs.fetch_add(1, Ordering::SeqCst);
        let _ = self.started.send(id.clone());
        self.permits.acquire().await.unwrap().forget();
        let status = self.statuses.lock().unwrap().pop_front().unwrap_or(200);
        (status, format!("handled {id}"))
    }
}

/// A server of one adapter with the webhook route `POST /hook`.
struct Server {
    addr: SocketAddr,
    stop: Stop,
}

enum Stop {
    Task(tokio::task::JoinHandle<()>),
    Actix(actix_web::dev::ServerHandle),
}

impl Server {
    async fn start(adapter: Adapter, endpoint: Endpoint, handler: Handler) -> Server {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = match adapter {
            Adapter::Axum => Stop::Task(serve_axum(listener, endpoint, handler)),
            Adapter::Actix => Stop::Actix(serve_actix(listener, endpoint, handler)),
            Adapter::Tower => Stop::Task(serve_tower(listener, endpoint, handler)),
        };
        Server { addr, stop }
    }

    async fn post(&self, d: &Delivery) -> Answer {
        let call = send(self.addr, Method::POST, "/hook", &d.headers, Payload::Sized(d.body.clone()));
        tokio::time::timeout(DUE, call).await.unwrap_or_else(|_| panic!("{}: no answer within 30 s", d.id))
    }

    async fn stop(self) {
        match self.stop {
            Stop::Task(task) => {
                task.abort();
                let _ = task.await;
            }
            Stop::Actix(handle) => handle.stop(false).await,
        }
    }
}

fn serve_axum(listener: std::net::TcpListener, endpoint: Endpoint, handler: Handler) -> tokio::task::JoinHandle<()> {
    use axum::http::StatusCode;
    use axum::middleware::from_fn;
    use axum::routing::post;
    use webhook_axum::{settle, RawWebhook};

    let route = post(move |hook: RawWebhook| async move {
        let (status, body) = handler.run(&hook.0).await;
        (StatusCode::from_u16(status).unwrap(), body)
    });
    let app = axum::Router::new().route("/hook", route.with_state(endpoint).layer(from_fn(settle)));
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() })
}

/// In actix's own runtime on a thread of its own, as actix serves.
fn serve_actix(listener: std::net::TcpListener, endpoint: Endpoint, handler: Handler) -> actix_web::dev::ServerHandle {
    use actix_web::http::StatusCode;
    use actix_web::middleware::from_fn;
    use actix_web::{web, App, HttpResponse, HttpServer};
    use webhook_actix::{settle, RawWebhook};

    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let app = move || {
                let handler = handler.clone();
                App::new().app_data(endpoint.clone()).wrap(from_fn(settle)).route(
                    "/hook",
                    web::post().to(move |hook: RawWebhook| {
                        let handler = handler.clone();
                        async move {
                            let (status, body) = handler.run(&hook.0).await;
                            HttpResponse::build(StatusCode::from_u16(status).unwrap()).body(body)
                        }
                    }),
                )
            };
            let server = HttpServer::new(app).workers(1).listen(listener).unwrap().run();
            handle_tx.send(server.handle()).unwrap();
            server.await.unwrap();
        });
    });
    handle_rx.recv_timeout(DUE).expect("the actix server started")
}

/// A hyper server, a connection per task, with the layer around a `service_fn`.
fn serve_tower(listener: std::net::TcpListener, endpoint: Endpoint, handler: Handler) -> tokio::task::JoinHandle<()> {
    use http_body_util::Full;
    use hyper_util::rt::TokioIo;
    use tower::{service_fn, Layer, ServiceExt};
    use webhook_tower::WebhookLayer;

    let inner = service_fn(move |req: http::Request<Full<Bytes>>| {
        let handler = handler.clone();
        async move {
            let delivery = req.extensions().get::<Verified>().cloned().unwrap();
            let (status, body) = handler.run(&delivery).await;
            Ok::<_, Infallible>(http::Response::builder().status(status).body(Full::new(Bytes::from(body))).unwrap())
        }
    });
    let svc = WebhookLayer::new(endpoint).layer(inner);
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    tokio::spawn(async move {
        // Bounded: a test opens a handful of connections.
        for _ in 0..1_000 {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let svc = svc.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| svc.clone().oneshot(req));
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    })
}

/// A signed GitHub `push`, ready to send (and resend).
#[derive(Clone)]
struct Delivery {
    id: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

fn verifier() -> Verifier {
    Verifier::new(providers::GITHUB, SECRET).unwrap()
}

fn delivery(id: &str) -> Delivery {
    let body = format!(r#"{{"zen":"in flight","delivery":"{id}"}}"#);
    let signed = verifier().sign(&SignRequest::new(body.as_bytes(), SystemTime::now()).id(id).event_type("push"));
    let signed = signed.unwrap();
    Delivery {
        id: id.to_owned(),
        headers: signed.headers().iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
        body: signed.body().clone(),
    }
}

fn status_body(a: &Answer) -> (u16, &str) {
    (a.status, a.body.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_a_delivery_whose_handler_runs_is_409_then_a_duplicate() {
    for adapter in ADAPTERS {
        let (handler, mut control) = handler(&[]);
        let server = Server::start(adapter, Endpoint::new(verifier()), handler).await;
        let d = delivery(&format!("in-flight-{adapter:?}"));

        let first = tokio::spawn({
            let (addr, d) = (server.addr, d.clone());
            async move { send(addr, Method::POST, "/hook", &d.headers, Payload::Sized(d.body)).await }
        });
        // The first copy's handler runs, and cannot answer before the test lets it.
        assert_eq!(control.started().await, d.id, "{adapter:?}");
        let second = server.post(&d).await;
        assert_eq!(status_body(&second), (409, IN_FLIGHT), "{adapter:?}: a copy while the first is handled");
        assert_eq!(second.content_type.as_deref(), Some("application/json"), "{adapter:?}");
        assert_eq!(control.runs(), 1, "{adapter:?}: the copy ran nothing");

        control.release(1);
        let first = tokio::time::timeout(DUE, first).await.expect("the first copy's answer").unwrap();
        assert_eq!(status_body(&first), (200, format!("handled {}", d.id).as_str()), "{adapter:?}: the first copy");
        let third = server.post(&d).await;
        assert_eq!(status_body(&third), (200, DUPLICATE), "{adapter:?}: a copy after the first was handled");
        assert_eq!(control.runs(), 1, "{adapter:?}: handled once");
        assert!(control.started.try_recv().is_err(), "{adapter:?}: no other run started");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_sink_a_handlers_failure_frees_the_id_for_the_retry() {
    for adapter in ADAPTERS {
        let (handler, control) = handler(&[500]);
        control.release(10);
        let server = Server::start(adapter, Endpoint::new(verifier()), handler).await;
        let d = delivery(&format!("retried-{adapter:?}"));
        let handled = format!("handled {}", d.id);
        assert_eq!(status_body(&server.post(&d).await), (500, handled.as_str()), "{adapter:?}: the handler failed");
        assert_eq!(status_body(&server.post(&d).await), (200, handled.as_str()), "{adapter:?}: the retry is handled");
        assert_eq!(status_body(&server.post(&d).await), (200, DUPLICATE), "{adapter:?}: then it is a duplicate");
        assert_eq!(control.runs(), 2, "{adapter:?}: the failed run and the retry");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_pipeline_a_stored_delivery_is_a_duplicate_whatever_the_handler_answers() {
    for adapter in ADAPTERS {
        let worker_runs = Arc::new(AtomicUsize::new(0));
        let router = EventRouter::new().on(providers::GITHUB, "push", {
            let worker_runs = worker_runs.clone();
            move |_: Event| {
                worker_runs.fetch_add(1, Ordering::SeqCst);
                async { Ok(()) }
            }
        });
        let store = Arc::new(MemoryStore::new());
        let pipeline = Pipeline::builder(store.clone()).router(router).workers(1).start();
        let endpoint = pipeline.attach(Endpoint::new(verifier()));
        let (handler, mut control) = handler(&[500]);
        let server = Server::start(adapter, endpoint, handler).await;
        let d = delivery(&format!("stored-{adapter:?}"));

        let first = tokio::spawn({
            let (addr, d) = (server.addr, d.clone());
            async move { send(addr, Method::POST, "/hook", &d.headers, Payload::Sized(d.body)).await }
        });
        assert_eq!(control.started().await, d.id, "{adapter:?}");
        // The handler runs: the delivery is stored already, so a copy is a duplicate.
        let stored = store.list(&Filter::default(), 10).await.unwrap();
        assert_eq!(stored.iter().map(|e| e.delivery_id.as_str()).collect::<Vec<_>>(), [d.id.as_str()], "{adapter:?}");
        let copy = server.post(&d).await;
        assert_eq!(status_body(&copy), (200, DUPLICATE), "{adapter:?}: a copy of a stored delivery");

        control.release(10);
        let first = tokio::time::timeout(DUE, first).await.expect("the first copy's answer").unwrap();
        let handled = format!("handled {}", d.id);
        assert_eq!(status_body(&first), (500, handled.as_str()), "{adapter:?}: the handler's answer is passed on");
        let retry = server.post(&d).await;
        assert_eq!(status_body(&retry), (200, DUPLICATE), "{adapter:?}: the retry of a stored delivery");
        assert_eq!(control.runs(), 1, "{adapter:?}: the handler ran for the first copy only");

        // Stored once, handled once by the pipeline's worker: wait for it, bounded.
        let (started, mut done, mut last) = (Instant::now(), None, Vec::new());
        for _ in 0..1_500 {
            last = store.list(&Filter::default(), 10).await.unwrap();
            if let [e] = last.as_slice() {
                if e.status == Status::Done {
                    done = Some(e.clone());
                    break;
                }
            }
            if started.elapsed() > DUE {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let event = done.unwrap_or_else(|| panic!("{adapter:?}: not handled within 30 s: {last:?}"));
        assert_eq!((event.delivery_id.as_str(), event.attempts), (d.id.as_str(), 1), "{adapter:?}");
        server.stop().await;
        pipeline.shutdown().await;
        assert_eq!(worker_runs.load(Ordering::SeqCst), 1, "{adapter:?}: the pipeline handled it once");
    }
}
