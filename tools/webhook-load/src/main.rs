//! `webhook-load`: drive a receiver with validly signed GitHub pushes (about 1.5 KB, a
//! unique delivery id each) and report requests/s, latency percentiles and stalls.
//!
//! Bounded in count and time, and loopback only:
//!
//! ```text
//! cargo run --release -p webhook-load -- run --url http://127.0.0.1:3000/webhooks/github \
//!     --secret s3cret --connections 32 --requests 200000 --max-seconds 30
//! cargo run --release -p webhook-load -- serve-plain --addr 127.0.0.1:3999
//! ```
//!
//! `serve-plain` is the fair ceiling: an axum route that receives the very same requests,
//! reads the body and answers 200 without checking anything.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool: its output is the point

mod prefill;
mod retention;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use webhook_core::{providers, SignRequest, Verifier};

#[derive(Parser)]
#[command(about = "Load generator for webhook receivers (loopback only, bounded)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send signed GitHub pushes and report throughput and latency.
    Run(RunArgs),
    /// Measure the disk's commit ceiling: append 4 KiB and `fdatasync`, again and again (what a
    /// SQLite WAL commit with `synchronous = FULL` costs at least).
    Fsync {
        /// Directory to write the scratch file in (the event store's disk).
        #[arg(long, default_value = ".")]
        dir: std::path::PathBuf,
        /// How many syncs at most.
        #[arg(long, default_value_t = 5_000)]
        count: u32,
        /// Wall-clock limit in seconds.
        #[arg(long, default_value_t = 10)]
        max_seconds: u64,
    },
    /// Push signed deliveries through the receivers' pipeline in this process (the core's
    /// `Endpoint` storing before it acknowledges, workers, the retention purger; no HTTP)
    /// with a short retention, and print a CSV sample every 250 ms: elapsed seconds,
    /// deliveries accepted, this process's RSS, the SQLite files' size, events in the store.
    /// Does either stop growing?
    Retention(retention::Args),
    /// Write handled events received days ago into a SQLite store, for a receiver to purge
    /// while it serves (`tools/bench-purge.sh`).
    Prefill(prefill::Args),
    /// Serve a plain axum route that reads the body and answers 200: the ceiling.
    ServePlain {
        /// Address to listen on (loopback).
        #[arg(long, default_value = "127.0.0.1:3999")]
        addr: SocketAddr,
    },
}

#[derive(Parser)]
struct RunArgs {
    /// Target URL (must be on `127.0.0.0/8` or `[::1]`).
    #[arg(long)]
    url: Uri,
    /// GitHub webhook secret the receiver is configured with.
    #[arg(long, default_value = "s3cret")]
    secret: String,
    /// Concurrent keep-alive connections, each sending requests one after another.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Total requests (an upper bound).
    #[arg(long, default_value_t = 100_000)]
    requests: u64,
    /// Wall-clock limit in seconds (the run stops at whichever bound comes first).
    #[arg(long, default_value_t = 30)]
    max_seconds: u64,
    /// Requests sent before measuring starts.
    #[arg(long, default_value_t = 2_000)]
    warmup: u64,
    /// A latency above this many milliseconds counts as a stall.
    #[arg(long, default_value_t = 20)]
    stall_ms: u64,
    /// Deliveries per second across all connections (unset: as fast as answers come). Paced,
    /// each request has a scheduled time, and its latency counts from then, so a receiver
    /// that falls behind shows it in the percentiles (no coordinated omission).
    #[arg(long)]
    rate: Option<f64>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Label for the report.
    #[arg(long, default_value = "target")]
    label: String,
}

/// A GitHub `push` body of about 1.5 KB; `n` makes each one unique.
pub(crate) fn push_body(n: u64) -> Vec<u8> {
    let filler = "x".repeat(1_100);
    format!(
        r#"{{"ref":"refs/heads/main","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","after":"{n:040x}","repository":{{"id":35129377,"full_name":"octo/hello","private":false}},"pusher":{{"name":"octocat"}},"head_commit":{{"id":"{n:040x}","message":"{filler}"}}}}"#
    )
    .into_bytes()
}

fn is_loopback(uri: &Uri) -> bool {
    match uri.host() {
        Some("localhost") => true,
        Some(h) => h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

struct Totals {
    sent: AtomicU64,
    non_2xx: AtomicU64,
    errors: AtomicU64,
}

async fn worker(
    args: Arc<RunArgs>,
    verifier: Arc<Verifier>,
    totals: Arc<Totals>,
    (started, deadline): (Instant, Instant),
    measure_from: u64,
    worker_id: u64,
) -> Histogram<u64> {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
    let authority = args.url.authority().map(|a| a.to_string()).unwrap_or_default();
    let host = args.url.host().unwrap_or("127.0.0.1").trim_matches(['[', ']']).to_owned();
    let port = args.url.port_u16().unwrap_or(80);
    let path = args.url.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let mut sender = None;
    loop {
        let n = totals.sent.fetch_add(1, Ordering::Relaxed);
        if n >= args.requests + args.warmup || Instant::now() >= deadline {
            return hist;
        }
        if sender.is_none() {
            let Ok(stream) = tokio::net::TcpStream::connect((host.as_str(), port)).await else {
                totals.errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
                Ok((s, conn)) => {
                    tokio::spawn(conn);
                    sender = Some(s);
                }
                Err(_) => {
                    totals.errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
        }
        let body = push_body(n);
        let id = format!("load-{worker_id}-{n}");
        let signed = verifier
            .sign(&SignRequest::new(&body, SystemTime::now()).id(&id).event_type("push"))
            .expect("a shared secret signs");
        let mut req =
            Request::post(path.as_str()).header("host", authority.as_str()).header("content-type", "application/json");
        for (k, v) in signed.headers() {
            req = req.header(*k, v.as_str());
        }
        let req = req.body(Full::new(Bytes::from(body))).expect("request");
        let Some(s) = sender.as_mut() else { continue };
        // Paced: request `n` is due at `n / rate` seconds into the run.
        let due = args.rate.map(|rate| started + Duration::from_secs_f64(n as f64 / rate));
        if let Some(due) = due {
            if due >= deadline {
                return hist;
            }
            tokio::time::sleep_until(due.into()).await;
        }
        let sent = Instant::now();
        let from = due.unwrap_or(sent);
        let result = async {
            s.ready().await?;
            let res = s.send_request(req).await?;
            let status = res.status();
            res.into_body().collect().await?;
            Ok::<_, hyper::Error>(status)
        }
        .await;
        let micros = u64::try_from(from.elapsed().as_micros()).unwrap_or(u64::MAX);
        match result {
            Ok(status) => {
                if !status.is_success() {
                    totals.non_2xx.fetch_add(1, Ordering::Relaxed);
                }
                if n >= measure_from {
                    let _ = hist.record(micros.max(1));
                }
            }
            Err(_) => {
                totals.errors.fetch_add(1, Ordering::Relaxed);
                sender = None;
            }
        }
    }
}

async fn run(args: RunArgs) -> ExitCode {
    if !is_loopback(&args.url) {
        eprintln!("webhook-load: refusing {}: only loopback targets (127.0.0.0/8, [::1], localhost)", args.url);
        return ExitCode::from(2);
    }
    if args.connections == 0
        || args.requests == 0
        || args.max_seconds == 0
        || args.rate.is_some_and(|r| r.is_nan() || r <= 0.0)
    {
        eprintln!("webhook-load: --connections, --requests, --max-seconds and --rate must be positive");
        return ExitCode::from(2);
    }
    let verifier = match Verifier::new(providers::GITHUB, &args.secret) {
        Ok(v) => Arc::new(v),
        Err(e) => {
            eprintln!("webhook-load: --secret: {e}");
            return ExitCode::from(2);
        }
    };
    let args = Arc::new(args);
    let totals = Arc::new(Totals { sent: AtomicU64::new(0), non_2xx: AtomicU64::new(0), errors: AtomicU64::new(0) });
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..args.connections as u64)
        .map(|w| {
            tokio::spawn(worker(args.clone(), verifier.clone(), totals.clone(), (started, deadline), args.warmup, w))
        })
        .collect();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
    for w in workers {
        if let Ok(h) = w.await {
            let _ = hist.add(h);
        }
    }
    let elapsed = started.elapsed();
    let measured = hist.len();
    // Throughput over the measured requests only: the warm-up share of the time is removed
    // in proportion, which is close enough for a closed-loop run of many requests.
    let total = totals.sent.load(Ordering::Relaxed).min(args.requests + args.warmup);
    let share = if total == 0 { 0.0 } else { measured as f64 / total as f64 };
    let rps =
        if elapsed.as_secs_f64() == 0.0 { 0.0 } else { measured as f64 / (elapsed.as_secs_f64() * share.max(1e-9)) };
    let q = |p: f64| hist.value_at_quantile(p) as f64 / 1000.0;
    let stalls = hist.count_between(args.stall_ms * 1000, u64::MAX);
    let (non_2xx, errors) = (totals.non_2xx.load(Ordering::Relaxed), totals.errors.load(Ordering::Relaxed));
    if args.json {
        let report = serde_json::json!({
            "label": args.label, "url": args.url.to_string(), "connections": args.connections,
            "requests": measured, "seconds": elapsed.as_secs_f64(), "rps": rps,
            "p50_ms": q(0.5), "p90_ms": q(0.9), "p99_ms": q(0.99), "max_ms": hist.max() as f64 / 1000.0,
            "stalls": stalls, "stall_ms": args.stall_ms, "non_2xx": non_2xx, "errors": errors,
        });
        println!("{report}");
    } else {
        println!(
            "{:<16} {:>9.0} req/s  p50 {:>6.2} ms  p90 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  stalls>{}ms {:>4}  non-2xx {}  errors {}  ({} measured in {:.1} s)",
            args.label,
            rps,
            q(0.5),
            q(0.9),
            q(0.99),
            hist.max() as f64 / 1000.0,
            args.stall_ms,
            stalls,
            non_2xx,
            errors,
            measured,
            elapsed.as_secs_f64()
        );
    }
    if errors > 0 || non_2xx > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn fsync(dir: &std::path::Path, count: u32, max_seconds: u64) -> ExitCode {
    use std::io::Write;
    let path = dir.join(format!(".webhook-load-fsync-{}", std::process::id()));
    let mut file = match std::fs::OpenOptions::new().create(true).append(true).open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("webhook-load: cannot create {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
    let block = [0u8; 4096];
    let started = Instant::now();
    let deadline = started + Duration::from_secs(max_seconds);
    let mut done = 0u32;
    let mut failed = None;
    while done < count && Instant::now() < deadline {
        let t = Instant::now();
        if let Err(e) = file.write_all(&block).and_then(|()| file.sync_data()) {
            failed = Some(e);
            break;
        }
        let _ = hist.record(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX).max(1));
        done += 1;
    }
    drop(file);
    let _ = std::fs::remove_file(&path);
    if let Some(e) = failed {
        eprintln!("webhook-load: write/fdatasync failed: {e}");
        return ExitCode::FAILURE;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "fsync {:>9.0} /s  p50 {:.3} ms  p99 {:.3} ms  ({done} x 4 KiB append + fdatasync in {secs:.1} s, {})",
        f64::from(done) / secs,
        hist.value_at_quantile(0.5) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        dir.display()
    );
    ExitCode::SUCCESS
}

async fn serve_plain(addr: SocketAddr) -> ExitCode {
    if !addr.ip().is_loopback() {
        eprintln!("webhook-load: serve-plain listens on loopback only");
        return ExitCode::from(2);
    }
    let app = axum::Router::new().fallback(axum::routing::post(|body: axum::body::Bytes| async move {
        // Read the body and answer; check nothing.
        std::hint::black_box(body.len());
        r#"{"status":"accepted"}"#
    }));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("webhook-load: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("plain ceiling listening on http://{addr}");
    match axum::serve(listener, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(args) => run(args).await,
        Command::Fsync { dir, count, max_seconds } => fsync(&dir, count, max_seconds),
        Command::ServePlain { addr } => serve_plain(addr).await,
        Command::Retention(args) => retention::run(args).await,
        Command::Prefill(args) => prefill::run(args).await,
    }
}
