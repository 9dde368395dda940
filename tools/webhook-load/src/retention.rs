//! `webhook-load retention`: does the store stop growing under a steady stream of
//! deliveries? The receivers' pipeline runs in this process, fed through the core's
//! `Endpoint` (verify, dedup claim, group commit before the acknowledgement), handled by
//! its workers and purged by its retention; only HTTP is left out, which keeps nothing per
//! delivery. The retention and the dedup TTL are set short for the run (the receivers'
//! shortest is 7 days), so a run of minutes shows the steady state of days.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use webhook_core::dedup::MemoryDedup;
use webhook_core::receive::{Endpoint, Outcome};
use webhook_core::{providers, SignRequest, Verifier, WebhookRequest};
use webhook_pipeline::{
    Event, EventRouter, EventStore, MemoryStore, Pipeline, PurgeBefore, RetentionConfig, SqliteStore,
};

/// The settings of a run.
#[derive(clap::Parser)]
pub(crate) struct Args {
    /// `memory` or `sqlite`.
    #[arg(long, default_value = "memory")]
    store: String,
    /// Deliveries to push (an upper bound).
    #[arg(long, default_value_t = 1_000_000)]
    deliveries: u64,
    /// Handled events are purged this many seconds after they were received; the dedup TTL
    /// is the same.
    #[arg(long, default_value_t = 10)]
    retention_secs: u64,
    /// Deliveries pushed at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Deliveries per second, paced (0: as fast as they go). A steady state needs a rate
    /// the workers keep up with: above it, the queue (never purged) grows instead.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Wall-clock limit in seconds (the run stops at whichever bound comes first).
    #[arg(long, default_value_t = 900)]
    max_seconds: u64,
    /// Directory for the SQLite file.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
}

/// This process's resident set, in KiB (`VmRSS` in `/proc/self/status`).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The SQLite file with its WAL and shared-memory files, in bytes.
fn files_bytes(db: &std::path::Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", db.display())).ok())
        .map(|m| m.len())
        .sum()
}

/// One CSV line: seconds since the start, deliveries accepted, RSS, SQLite bytes, every
/// event in the store (the settled ones a purge of everything would delete, and the queue),
/// and the queue alone (pending, failed, processing: never purged).
async fn sample(store: &dyn EventStore, accepted: &AtomicU64, started: Instant, db: &std::path::Path) {
    let far = SystemTime::now() + Duration::from_secs(86_400);
    let settled = store.count_purgeable(&PurgeBefore::none().done(far).dead(far)).await.map_or(0, |p| p.total());
    let queued = store.depth().await.unwrap_or(0);
    let stored = settled + queued;
    println!(
        "{:.2},{},{},{},{stored},{queued}",
        started.elapsed().as_secs_f64(),
        accepted.load(Ordering::Relaxed),
        rss_kib(),
        files_bytes(db),
    );
}

pub(crate) async fn run(args: Args) -> ExitCode {
    let keep = Duration::from_secs(args.retention_secs.max(1));
    let db = args.dir.join(format!("retention-{}.db", std::process::id()));
    let store: Arc<dyn EventStore> = match args.store.as_str() {
        "memory" => Arc::new(MemoryStore::new()),
        "sqlite" => match SqliteStore::connect(&format!("sqlite://{}", db.display())).await {
            Ok(store) => Arc::new(store),
            Err(e) => {
                eprintln!("cannot open {}: {e}", db.display());
                return ExitCode::FAILURE;
            }
        },
        other => {
            eprintln!("--store {other}: memory or sqlite");
            return ExitCode::from(2);
        }
    };
    let retention = RetentionConfig::default().done(keep).dead(keep).dedup_ttl(keep).interval(Duration::from_secs(1));
    let pipeline = match Pipeline::builder(store.clone())
        .router(EventRouter::new().catch_all(|_: Event| async { Ok(()) }))
        .workers(4)
        .retention(retention)
    {
        Ok(builder) => builder.start(),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let verifier = Verifier::new(providers::GITHUB, "s3cret").expect("a shared secret");
    // The receivers' dedup store, with the run's TTL.
    let endpoint =
        pipeline.attach(Endpoint::new(verifier.clone()).with_dedup(Arc::new(MemoryDedup::new(1_000_000, keep))));

    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.max_seconds);
    let (next, accepted, refused) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (endpoint, verifier) = (endpoint.clone(), verifier.clone());
        let (next, accepted, refused, total) = (next.clone(), accepted.clone(), refused.clone(), args.deliveries);
        let rate = args.rate;
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total || Instant::now() >= deadline {
                    break;
                }
                if rate > 0 {
                    // Delivery n is due n / rate seconds after the start.
                    let due = started + Duration::from_secs_f64(n as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                let body = crate::push_body(n);
                let now = SystemTime::now();
                let signed = verifier
                    .sign(&SignRequest::new(&body, now).id(&format!("retention-{n}")).event_type("push"))
                    .expect("a shared secret signs");
                let mut headers = http::HeaderMap::new();
                for (name, value) in signed.headers() {
                    headers.insert(*name, value.parse().expect("a header value"));
                }
                match endpoint.receive(&WebhookRequest::new(&headers, body), now).await {
                    Outcome::Accepted(_) => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    other => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        eprintln!("delivery {n}: {} {}", other.status(), other.label());
                    }
                }
            }
        }));
    }
    println!("seconds,accepted,rss_kib,sqlite_bytes,events_stored,queue_depth");
    while !tasks.iter().all(|t| t.is_finished()) {
        sample(store.as_ref(), &accepted, started, &db).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    sample(store.as_ref(), &accepted, started, &db).await;
    pipeline.shutdown().await;
    let refused = refused.load(Ordering::Relaxed);
    eprintln!(
        "{} accepted, {refused} not accepted, in {:.1} s; store {}, retention {} s",
        accepted.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        args.store,
        keep.as_secs()
    );
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    if refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
