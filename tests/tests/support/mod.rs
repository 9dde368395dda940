//! What the process-level tests share (`durability.rs`, `faults.rs`, `brokers.rs`,
//! `certificates.rs`): unique names, a bounded wait, signed GitHub deliveries, an HTTP
//! client that never panics, receiver processes killed on drop, a PostgreSQL database per
//! test, a SQLite file per test, and the deletion of a test's NATS stream or RabbitMQ
//! exchange and queues.

#![allow(dead_code)] // each test binary uses part of it
#![allow(clippy::unwrap_used)] // test support: a failed unwrap is a failed test
#![allow(clippy::print_stdout, clippy::print_stderr)] // it reports what it cleans up

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use sqlx::Connection;
use tokio::net::TcpStream;
use webhook_core::{providers, SignRequest, Verifier};
use webhook_pipeline::{Event, EventStore, Filter};

pub(crate) const SECRET: &str = "durability-test-secret";
pub(crate) const ACCEPTED: &str = r#"{"status":"accepted"}"#;
pub(crate) const DUPLICATE: &str = r#"{"status":"duplicate"}"#;
pub(crate) const HOOK: &str = "/webhooks/github";

// ---------------------------------------------------------------------------------------
// Names, environment
// ---------------------------------------------------------------------------------------

/// A name no other test (in this process or another) uses: `[a-z0-9_]` only, so it is also
/// a valid unquoted PostgreSQL identifier.
pub(crate) fn unique(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{tag}_{}_{nanos:x}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Every test here takes this first, so the process tests run one at a time (the harness
/// runs tests in parallel threads; a panicking holder does not poison a tokio mutex).
pub(crate) async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}

/// Polls `check` every 50 ms until it answers `Ok`, for at most `within` (so a bounded
/// number of times), and returns its value; past `within`, fails the test naming `what`
/// and the last state `check` reported.
pub(crate) async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    const POLL: Duration = Duration::from_millis(50);
    let started = Instant::now();
    let mut last = String::new();
    for _ in 0..=within.as_millis() / POLL.as_millis() {
        match check().await {
            Ok(value) => return value,
            Err(state) => last = state,
        }
        if started.elapsed() > within {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("{what}: not within {within:?} (last: {last})");
}

pub(crate) fn signer() -> Verifier {
    Verifier::new(providers::GITHUB, SECRET).unwrap()
}

/// A signed GitHub `push` delivery, ready to send (and resend).
#[derive(Clone)]
pub(crate) struct Delivery {
    pub(crate) id: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
}

pub(crate) fn delivery(signer: &Verifier, id: &str) -> Delivery {
    let body = format!(r#"{{"zen":"durable","delivery":"{id}"}}"#);
    let signed = signer.sign(&SignRequest::new(body.as_bytes(), SystemTime::now()).id(id).event_type("push")).unwrap();
    Delivery {
        id: id.to_owned(),
        headers: signed.headers().iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        body: signed.body().clone(),
    }
}

// ---------------------------------------------------------------------------------------
// HTTP client (never panics: a refused connection is an answer in these tests)
// ---------------------------------------------------------------------------------------

/// Status, `Content-Type`, body.
pub(crate) type Reply = (u16, Option<String>, String);

pub(crate) async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    let (sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    Ok(sender)
}

pub(crate) async fn send_on(
    sender: &mut SendRequest<Full<Bytes>>,
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(String, String)],
    body: Bytes,
) -> Result<Reply, String> {
    let mut req = Request::builder().method(method).uri(path).header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let res = sender.send_request(req.body(Full::new(body)).unwrap()).await.map_err(|e| format!("request: {e}"))?;
    let status = res.status().as_u16();
    let content_type = res.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let bytes = res.into_body().collect().await.map_err(|e| format!("body: {e}"))?.to_bytes();
    Ok((status, content_type, String::from_utf8_lossy(&bytes).into_owned()))
}

/// One request on a new connection, within `timeout`.
pub(crate) async fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(String, String)],
    body: Bytes,
    timeout: Duration,
) -> Result<Reply, String> {
    let call = async {
        let mut sender = connect(addr).await?;
        send_on(&mut sender, addr, method, path, headers, body).await
    };
    tokio::time::timeout(timeout, call).await.map_err(|_| format!("no answer within {timeout:?}"))?
}

pub(crate) async fn post(addr: SocketAddr, d: &Delivery, timeout: Duration) -> Result<Reply, String> {
    request(addr, Method::POST, HOOK, &d.headers, d.body.clone(), timeout).await
}

pub(crate) async fn get(addr: SocketAddr, path: &str) -> Result<Reply, String> {
    request(addr, Method::GET, path, &[], Bytes::new(), Duration::from_secs(5)).await
}

/// The sum of the samples of `name` whose labels contain every one of `labels`
/// (`outcome="accepted"`), in Prometheus text.
pub(crate) fn metric_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, rest) = series.split_at(series.find('{').unwrap_or(series.len()));
            (n == name && labels.iter().all(|lab| rest.contains(lab))).then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

pub(crate) async fn scrape(addr: SocketAddr) -> String {
    let (status, _, body) = get(addr, "/metrics").await.unwrap();
    assert_eq!(status, 200, "GET /metrics on {addr}: {body}");
    body
}

pub(crate) async fn handler_runs_ok(addrs: &[SocketAddr]) -> f64 {
    let mut sum = 0.0;
    for addr in addrs {
        sum += metric_sum(&scrape(*addr).await, "webhook_handler_runs_total", &[r#"result="ok""#]);
    }
    sum
}

// ---------------------------------------------------------------------------------------
// Receiver processes
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
pub(crate) enum Bin {
    Axum,
    Actix,
    Tower,
}

impl Bin {
    pub(crate) fn path(self) -> &'static str {
        match self {
            Bin::Axum => env!("CARGO_BIN_EXE_test-axum-receiver"),
            Bin::Actix => env!("CARGO_BIN_EXE_test-actix-receiver"),
            Bin::Tower => env!("CARGO_BIN_EXE_test-tower-receiver"),
        }
    }
}

/// A receiver process, killed (SIGKILL) and reaped on drop. Its stderr goes to a log file,
/// printed if the test panics and removed otherwise.
pub(crate) struct Proc {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) name: String,
    pub(crate) log: PathBuf,
}

impl Proc {
    /// Spawns `bin` on a free loopback port with exactly `vars` (plus the address, the
    /// GitHub secret and `RUST_LOG=warn`) as its environment, and waits (bounded) until
    /// `GET /healthz` answers 200. A port taken between choosing and binding is retried.
    pub(crate) async fn start(bin: Bin, vars: &[(&str, String)]) -> Proc {
        let mut failures = Vec::new();
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let log = std::env::temp_dir().join(format!("webhook-durability-{}.log", unique("proc")));
            let mut cmd = Command::new(bin.path());
            cmd.env_clear()
                .env("WEBHOOK_ADDR", addr.to_string())
                .env("GITHUB_WEBHOOK_SECRET", SECRET)
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap());
            for (k, v) in vars {
                cmd.env(k, v);
            }
            let child = cmd.spawn().unwrap();
            let mut proc = Proc { child, addr, name: format!("{bin:?}@{addr}"), log };
            match proc.ready(Duration::from_secs(20)).await {
                Ok(()) => return proc,
                Err(e) => failures.push(e),
            }
        }
        panic!("{bin:?} did not become ready:\n{}", failures.join("\n"));
    }

    pub(crate) async fn ready(&mut self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        for _ in 0..2_000 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("{} exited with {status}: {}", self.name, self.log_text()));
            }
            if let Ok((200, _, _)) = get(self.addr, "/healthz").await {
                return Ok(());
            }
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err(format!("{}: GET /healthz not 200 within {within:?}: {}", self.name, self.log_text()))
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL (`Child::kill` on Unix), then reap.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let text = self.log_text();
            let tail: String =
                text.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
            eprintln!("--- {} stderr (last lines) ---\n{tail}", self.name);
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL: a database per test
// ---------------------------------------------------------------------------------------

/// `url` with its path replaced by `/{db}` and, if given, its host and port by `hostport`.
pub(crate) fn pg_url_with(url: &str, hostport: Option<&str>, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("WEBHOOK_TEST_DATABASE_URL is a postgres:// URL");
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = match (hostport, authority.rsplit_once('@')) {
        (Some(hp), Some((user, _))) => format!("{user}@{hp}"),
        (Some(hp), None) => hp.to_owned(),
        (None, _) => authority.to_owned(),
    };
    match query {
        Some(q) => format!("{scheme}://{authority}/{db}?{q}"),
        None => format!("{scheme}://{authority}/{db}"),
    }
}

/// The `host:port` of a PostgreSQL URL (port 5432 when none is given).
pub(crate) fn pg_hostport(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    }
}

/// A fresh database, dropped (`WITH (FORCE)`) when this guard is, also on failure.
pub(crate) struct PgDb {
    pub(crate) admin_url: String,
    pub(crate) name: String,
    /// The database's URL, on the server of the test URL.
    pub(crate) url: String,
}

impl PgDb {
    pub(crate) async fn create(admin_url: &str, tag: &str) -> PgDb {
        let name = format!("webhook_durability_{}", unique(tag));
        let mut conn = sqlx::PgConnection::connect(admin_url).await.unwrap();
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).await.unwrap();
        let _ = conn.close().await;
        let url = pg_url_with(admin_url, None, &name);
        PgDb { admin_url: admin_url.to_owned(), name, url }
    }

    /// The database's URL through `hostport` (a forwarder) instead of the server.
    pub(crate) fn url_via(&self, hostport: &str) -> String {
        pg_url_with(&self.admin_url, Some(hostport), &self.name)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime: drop the database from a thread of its own.
        let dropped = std::thread::spawn(move || -> Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            rt.block_on(async {
                let drop = async {
                    let mut conn = sqlx::PgConnection::connect(&admin).await?;
                    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut conn)
                        .await?;
                    conn.close().await
                };
                match tokio::time::timeout(Duration::from_secs(20), drop).await {
                    Ok(r) => r.map_err(|e| e.to_string()),
                    Err(_) => Err("timed out".to_owned()),
                }
            })
        })
        .join();
        if let Ok(Err(e)) | Err(e) = dropped.map_err(|_| "panicked".to_owned()) {
            eprintln!("durability: could not drop database {}: {e}", self.name);
        }
    }
}

/// The stored events with this provider and delivery id.
pub(crate) async fn stored(store: &dyn EventStore, delivery_id: &str) -> Vec<Event> {
    let all = store.list(&Filter::default().provider("github"), 100_000).await.unwrap();
    all.into_iter().filter(|e| e.delivery_id == delivery_id).collect()
}

/// A SQLite database file and its WAL companions, removed on drop.
pub(crate) struct TempDb {
    pub(crate) path: PathBuf,
}

impl TempDb {
    pub(crate) fn new(tag: &str) -> Self {
        Self { path: std::env::temp_dir().join(format!("webhook-durability-{}.db", unique(tag))) }
    }

    pub(crate) fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Brokers

/// Deletes NATS stream `name`, if it is there.
pub(crate) async fn delete_nats(url: &str, name: &str) {
    if let Ok(client) = async_nats::connect(url).await {
        let js = async_nats::jetstream::new(client);
        let _ = js.delete_stream(name).await;
    }
}

/// Deletes RabbitMQ exchange `name` and its queues (`name`, `.retry`, `.dead`), if there.
pub(crate) async fn delete_rabbit(url: &str, name: &str) {
    if let Ok(conn) = lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await {
        if let Ok(channel) = conn.create_channel().await {
            for q in [name.to_owned(), format!("{name}.retry"), format!("{name}.dead")] {
                let _ = channel.queue_delete(q.as_str().into(), lapin::options::QueueDeleteOptions::default()).await;
            }
            let _ = channel.exchange_delete(name.into(), Default::default()).await;
        }
    }
}
