//! The harness for the cross-adapter suite: start any of the three receivers on a free
//! loopback port with a given environment, and talk HTTP/1.1 to it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use receiver_common::Config;

/// Which receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receiver {
    /// `examples/axum-receiver`.
    Axum,
    /// `examples/actix-receiver`.
    Actix,
    /// `examples/tower-receiver`.
    Tower,
}

impl Receiver {
    /// All three.
    pub const ALL: [Receiver; 3] = [Receiver::Axum, Receiver::Actix, Receiver::Tower];

    /// Starts this receiver on `127.0.0.1:<free port>` with `vars` as its environment and
    /// returns its address once it accepts connections. It runs until the test process
    /// ends. Unless `vars` names a `DATABASE_URL`, the event store is a fresh SQLite file in
    /// the temporary directory.
    pub async fn start(self, vars: &[(&str, &str)]) -> SocketAddr {
        self.start_with_certificates(vars, None).await
    }

    /// [`start`](Self::start), with `fetcher` as the signing-certificate fetcher of the
    /// Amazon SNS and PayPal routes (`Config::from_vars_with_fetcher`): one pinned to a
    /// local HTTPS server. The receiver is started in this process; no environment
    /// variable could do this.
    pub async fn start_with_certificates(
        self,
        vars: &[(&str, &str)],
        fetcher: Option<webhook_pipeline::CertificateFetcher>,
    ) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let mut map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        map.insert("WEBHOOK_ADDR".into(), addr.to_string());
        map.entry("DATABASE_URL".into()).or_insert_with(|| format!("sqlite://{}", temp_db(self).display()));
        let config =
            Config::from_vars_with_fetcher(|k| map.get(k).cloned(), fetcher).expect("valid test configuration");
        match self {
            Receiver::Axum | Receiver::Tower => {
                listener.set_nonblocking(true).expect("non-blocking");
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let forever = std::future::pending();
                if self == Receiver::Axum {
                    let receiver = axum_receiver::start(config).await.expect("start the pipeline");
                    tokio::spawn(async move { axum_receiver::serve(listener, &receiver, forever).await });
                } else {
                    let receiver = tower_receiver::start(config).await.expect("start the pipeline");
                    tokio::spawn(async move { tower_receiver::serve(listener, &receiver, forever).await });
                }
            }
            Receiver::Actix => {
                // Like the binary: the pipeline and the server in actix's own runtime.
                std::thread::spawn(move || {
                    actix_rt::System::new().block_on(async move {
                        let receiver = actix_receiver::start(config).await.expect("start the pipeline");
                        let server = actix_receiver::server(listener, &receiver, 2).expect("actix server");
                        server.await.expect("receiver stopped");
                    })
                });
            }
        }
        for _ in 0..500 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return addr;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("{self:?} did not start listening on {addr}");
    }
}

/// A database file no other test uses (left in the temporary directory for inspection).
pub fn temp_db(receiver: Receiver) -> std::path::PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("webhook-tests-{receiver:?}-{}-{n}.db", std::process::id()))
}

/// The URL of the service a test needs, or `None` when it is unset and the test should
/// return: the pipeline's own helper (a failure under CI, a counted skip elsewhere).
pub use webhook_pipeline::testing::service_url;

/// A body to send: sized (with `Content-Length`) or chunked (without).
pub enum Payload {
    /// Sent with `Content-Length`.
    Sized(Bytes),
    /// Sent with `Transfer-Encoding: chunked`, in chunks of this many bytes.
    Chunked(Bytes, usize),
}

/// An answer: status, `Content-Type`, body, and the headers some tests read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body as text.
    pub body: String,
    /// The `X-Request-Id` the receiver answered with, if any.
    pub request_id: Option<String>,
    /// The `Set-Cookie` the receiver answered with, if any.
    pub set_cookie: Option<String>,
}

/// Sends one request on a new connection.
pub async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(String, String)],
    payload: Payload,
) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    let body: BoxBody<Bytes, Infallible> = match payload {
        Payload::Sized(b) => Full::new(b).boxed(),
        Payload::Chunked(b, n) => {
            let frames: Vec<Result<Frame<Bytes>, Infallible>> =
                b.chunks(n.max(1)).map(|c| Ok(Frame::data(Bytes::copy_from_slice(c)))).collect();
            StreamBody::new(futures_util::stream::iter(frames)).boxed()
        }
    };
    let mut req = Request::builder().method(method).uri(path).header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let res = sender.send_request(req.body(body).expect("request")).await.expect("response");
    let status = res.status().as_u16();
    let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (content_type, request_id, set_cookie) = (header("content-type"), header("x-request-id"), header("set-cookie"));
    let bytes = res.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    Answer { status, content_type, body: String::from_utf8_lossy(&bytes).into_owned(), request_id, set_cookie }
}

/// The workspace README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct WorkspaceReadme;

/// The framework guides in `docs/guides/`: their Rust examples are compiled (and run, unless
/// marked `no_run`) as this crate's doc tests, so a guide cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../docs/guides/axum.md")]
pub struct AxumGuide;

/// `docs/guides/actix-web.md`: its examples compile, and run unless marked `no_run`.
#[cfg(doctest)]
#[doc = include_str!("../../docs/guides/actix-web.md")]
pub struct ActixWebGuide;

/// `docs/guides/tower.md`: its examples compile, and run unless marked `no_run`.
#[cfg(doctest)]
#[doc = include_str!("../../docs/guides/tower.md")]
pub struct TowerGuide;

/// `docs/guides/scaling.md`: its example compiles.
#[cfg(doctest)]
#[doc = include_str!("../../docs/guides/scaling.md")]
pub struct ScalingGuide;
