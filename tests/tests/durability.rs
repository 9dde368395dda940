//! Process-level durability tests: the real receiver binaries (`test-axum-receiver`,
//! `test-tower-receiver`) spawned as child processes on 127.0.0.1, driven over HTTP, with
//! the event store inspected directly afterwards.
//!
//! - exactly once: 64 concurrent copies of one delivery, split across two processes
//!   sharing one PostgreSQL database (with and without Redis dedup), give one stored event
//!   and one handler run, whose row in `handled_deliveries` is the only one;
//! - crash safety, on SQLite and on PostgreSQL: a receiver under load is killed with
//!   SIGKILL; after a restart every delivery that was acknowledged is stored and handled,
//!   and handled exactly once: the handler's row in `handled_deliveries` commits with the
//!   done mark, so each event has one row, from the run that committed, even the events a
//!   worker held at the kill;
//! - store down: a receiver whose PostgreSQL connection is cut answers 503 and
//!   acknowledges nothing it did not store;
//! - metrics: `GET /metrics` counts outcomes, handler runs, the queue depth and latency.
//!
//! PostgreSQL and Redis parts read `WEBHOOK_TEST_DATABASE_URL` and `WEBHOOK_TEST_REDIS_URL`
//! through [`webhook_tests::service_url`]: unset, they fail under CI and are reported as
//! skipped elsewhere. Every PostgreSQL test works in a database of its own, dropped at the
//! end.
//!
//! No test here waits a fixed time and then asserts: each wait is for a condition
//! ([`wait_for`], bounded in time and so in polls). And these tests spawn receivers and
//! load them, so they take turns ([`heavy`]): on two cores, several at once would each
//! measure the others.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test
#![allow(clippy::print_stdout, clippy::print_stderr)] // a test reports what it measured

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use sqlx::Connection;
use tokio::net::TcpStream;
use webhook_pipeline::testing::Forwarder;
use webhook_pipeline::{Event, EventStore, Filter, PostgresStore, SqliteStore, Status, WorkerConfig};

mod support;
use support::*;

// ---------------------------------------------------------------------------------------
// 1 and 2: exactly once across two processes
// ---------------------------------------------------------------------------------------

/// 64 concurrent copies of one delivery, alternating between two processes (axum and
/// tower) on one fresh PostgreSQL database, optionally with Redis dedup in front.
async fn exactly_once_across_two_processes(pg: &str, redis: Option<&str>) {
    let started = Instant::now();
    let db = PgDb::create(pg, if redis.is_some() { "once_redis" } else { "once" }).await;
    let mut vars = vec![
        ("DATABASE_URL", db.url.clone()),
        ("WEBHOOK_WORKERS", "2".to_owned()),
        ("WEBHOOK_LEASE_SECS", "30".to_owned()),
    ];
    if let Some(redis) = redis {
        vars.push(("REDIS_URL", redis.to_owned()));
    }
    let a = Proc::start(Bin::Axum, &vars).await;
    let b = Proc::start(Bin::Tower, &vars).await;
    let d = delivery(&signer(), &unique("once"));

    // Every copy connects first, then all send together.
    const COPIES: usize = 64;
    let barrier = Arc::new(tokio::sync::Barrier::new(COPIES));
    let tasks: Vec<_> = (0..COPIES)
        .map(|i| {
            let addr = if i % 2 == 0 { a.addr } else { b.addr };
            let (d, barrier) = (d.clone(), barrier.clone());
            tokio::spawn(async move {
                let call = async {
                    let sender = connect(addr).await;
                    barrier.wait().await;
                    send_on(&mut sender?, addr, Method::POST, HOOK, &d.headers, d.body.clone()).await
                };
                (addr, tokio::time::timeout(Duration::from_secs(20), call).await)
            })
        })
        .collect();
    let (mut accepted, mut duplicate, mut in_flight, mut other) = (Vec::new(), 0, 0, Vec::new());
    for t in tasks {
        match t.await.unwrap() {
            (addr, Ok(Ok((200, _, body)))) if body == ACCEPTED => accepted.push(addr),
            (_, Ok(Ok((200, _, body)))) if body == DUPLICATE => duplicate += 1,
            (_, Ok(Ok((409, _, _)))) => in_flight += 1,
            (addr, answer) => other.push(format!("{addr}: {answer:?}")),
        }
    }
    println!(
        "exactly once{}: {COPIES} copies -> {} accepted, {duplicate} duplicate, {in_flight} in flight (409), {} other",
        if redis.is_some() { " (redis)" } else { "" },
        accepted.len(),
        other.len()
    );
    assert!(other.is_empty(), "unexpected answers:\n{}", other.join("\n"));
    assert_eq!(accepted.len(), 1, "accepted by {accepted:?}");

    // The event is handled once, by one of the two processes.
    let store = PostgresStore::connect(&db.url).await.unwrap();
    let (store_ref, id) = (&store, d.id.as_str());
    let rows = wait_for("the event is stored once and done", Duration::from_secs(30), move || async move {
        let rows = stored(store_ref, id).await;
        match rows.as_slice() {
            [e] if e.status == Status::Done => Ok(rows),
            _ => Err(format!("rows for {id}: {rows:?}")),
        }
    })
    .await;
    assert_eq!(rows.len(), 1, "rows for {}: {rows:?}", d.id);
    assert_eq!((rows[0].status, rows[0].attempts), (Status::Done, 1), "{:?}", rows[0]);
    assert_eq!(store.list(&Filter::default(), 100).await.unwrap().len(), 1, "only this delivery is stored");

    // The run is counted after the commit that marks it done: wait for the count. No second
    // run can follow: the event is done with one attempt, and a done event is never leased
    // again (the store conformance suite checks that), so the count read now is final.
    let addrs = [a.addr, b.addr];
    let addrs_ref = &addrs;
    let runs = wait_for("the handler run is counted", Duration::from_secs(30), move || async move {
        let runs = handler_runs_ok(addrs_ref).await;
        if runs >= 1.0 {
            Ok(runs)
        } else {
            Err(format!("{runs} runs"))
        }
    })
    .await;
    let mut requests = 0.0;
    for addr in addrs {
        requests += metric_sum(&scrape(addr).await, "webhook_requests_total", &[r#"outcome="accepted""#]);
    }
    println!(
        "exactly once{}: 1 row (done, attempts 1), handler runs (ok) over both processes = {runs}, \
         accepted counted = {requests}; {:?}",
        if redis.is_some() { " (redis)" } else { "" },
        started.elapsed()
    );
    assert_eq!(runs, 1.0, "webhook_handler_runs_total{{result=\"ok\"}} summed over both processes");
    // The handler's effect, committed with the done mark: one row.
    let handled: Vec<(String, i64)> =
        sqlx::query_as("SELECT delivery_id, attempt FROM handled_deliveries").fetch_all(store.pool()).await.unwrap();
    assert_eq!(handled, vec![(d.id.clone(), 1)], "rows in handled_deliveries");
    assert_eq!(requests, 1.0, "webhook_requests_total{{outcome=\"accepted\"}} summed over both processes");
    store.pool().close().await;
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_once_across_two_processes_sharing_postgres() {
    let _heavy = heavy().await;
    let test = "exactly_once_across_two_processes_sharing_postgres";
    let Some(pg) = webhook_tests::service_url("WEBHOOK_TEST_DATABASE_URL", test) else {
        return;
    };
    exactly_once_across_two_processes(&pg, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_once_across_two_processes_with_redis_dedup() {
    let _heavy = heavy().await;
    let test = "exactly_once_across_two_processes_with_redis_dedup";
    let Some(pg) = webhook_tests::service_url("WEBHOOK_TEST_DATABASE_URL", test) else {
        return;
    };
    let Some(redis) = webhook_tests::service_url("WEBHOOK_TEST_REDIS_URL", test) else {
        return;
    };
    exactly_once_across_two_processes(&pg, Some(&redis)).await;
}

// ---------------------------------------------------------------------------------------
// 3b: SIGTERM or SIGINT under load: a graceful stop
// ---------------------------------------------------------------------------------------

/// A POST sent slowly on a raw connection: its head asks `Expect: 100-continue`, and
/// [`start`](Self::start) returns only once the receiver answered `100 Continue` (it has
/// accepted the connection and is reading this request) and the first half of the chunked
/// body is sent. [`finish`](Self::finish) sends the rest and reads the answer.
struct SlowPost {
    stream: TcpStream,
    rest: Bytes,
}

impl SlowPost {
    async fn start(addr: SocketAddr, d: &Delivery) -> SlowPost {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut head = format!(
            "POST {HOOK} HTTP/1.1\r\nhost: {addr}\r\ntransfer-encoding: chunked\r\nexpect: 100-continue\r\n\
             connection: close\r\n"
        );
        for (k, v) in d.headers.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("content-length")) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut interim = Vec::new();
        let read = async {
            let mut byte = [0u8];
            while !interim.ends_with(b"\r\n\r\n") && interim.len() < 1024 {
                if stream.read(&mut byte).await.unwrap() == 0 {
                    break;
                }
                interim.push(byte[0]);
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read).await.expect("an answer to Expect: 100-continue");
        let interim = String::from_utf8_lossy(&interim);
        assert!(interim.starts_with("HTTP/1.1 100 "), "expected 100 Continue, got {interim:?}");
        let half = d.body.len() / 2;
        stream.write_all(&chunk(&d.body[..half])).await.unwrap();
        stream.flush().await.unwrap();
        SlowPost { stream, rest: d.body.slice(half..) }
    }

    /// Sends the rest of the body and reads the answer: status and body.
    async fn finish(mut self) -> Result<(u16, String), String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut end = chunk(&self.rest);
        end.extend_from_slice(b"0\r\n\r\n");
        self.stream.write_all(&end).await.map_err(|e| format!("sending the rest of the body: {e}"))?;
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), self.stream.read_to_end(&mut answer))
            .await
            .map_err(|_| "no answer within 30 s".to_owned())?
            .map_err(|e| format!("reading the answer: {e} (got {:?})", String::from_utf8_lossy(&answer)))?;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer.get(9..12).and_then(|s| s.parse().ok()).ok_or_else(|| format!("no answer: {answer:?}"))?;
        Ok((status, answer.split_once("\r\n\r\n").map_or(String::new(), |(_, body)| body.to_owned())))
    }
}

/// One chunk of a chunked body.
fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// A planned stop of each receiver under load, by SIGTERM and by SIGINT (Ctrl-C): it stops
/// taking connections, answers the requests in flight after their commits, lets the
/// workers settle the events they hold, and exits 0. Nothing is left leased, so nothing can
/// run twice on the restart; everything acknowledged is stored.
///
/// One request is provably in flight at the signal: the receiver answered its head with
/// `100 Continue` before the signal, and the rest of its body is sent only after the
/// receiver logged that it is stopping. It must be answered `200 accepted` and stored (the
/// load's own requests may meet a closed listener: those are not counted).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graceful_stop_under_load_answers_the_request_in_flight_and_leaves_nothing_leased() {
    const CLIENTS: usize = 16;
    const MAX_DELIVERIES: usize = 2_000;
    // The signal comes once this many deliveries were acknowledged, mid-load.
    const SIGNAL_AFTER_ACKS: usize = 50;
    let _heavy = heavy().await;
    let runs = [Bin::Axum, Bin::Actix, Bin::Tower].into_iter().flat_map(|bin| [(bin, "TERM"), (bin, "INT")]);
    for (bin, signal) in runs {
        let db = TempDb::new("graceful");
        let vars = [("DATABASE_URL", db.url()), ("WEBHOOK_WORKERS", "2".to_owned()), ("RUST_LOG", "info".to_owned())];
        let mut proc = Proc::start(bin, &vars).await;
        let (addr, run) = (proc.addr, unique("graceful"));
        let sent = Arc::new(AtomicUsize::new(0));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (sent, acked, run, signer) = (sent.clone(), acked.clone(), run.clone(), signer());
                tokio::spawn(async move {
                    loop {
                        let n = sent.fetch_add(1, Ordering::SeqCst);
                        if n >= MAX_DELIVERIES {
                            break;
                        }
                        let d = delivery(&signer, &format!("{run}-{n}"));
                        match post(addr, &d, Duration::from_secs(15)).await {
                            Ok((s, _, _)) if (200..300).contains(&s) => acked.lock().unwrap().push(d.id),
                            Ok((s, _, body)) => panic!("{bin:?}: {s} {body} during the stop"),
                            // Refused or reset once the listener is closed.
                            Err(_) => break,
                        }
                    }
                })
            })
            .collect();
        let in_flight = delivery(&signer(), &format!("{run}-in-flight"));
        let acked_ref = &acked;
        wait_for("deliveries acknowledged under load", Duration::from_secs(60), move || async move {
            match acked_ref.lock().unwrap().len() {
                n if n >= SIGNAL_AFTER_ACKS => Ok(()),
                n => Err(format!("{n} acknowledged")),
            }
        })
        .await;
        let slow = SlowPost::start(addr, &in_flight).await;
        let sent_signal = Command::new("kill").args([&format!("-{signal}"), &proc.child.id().to_string()]).status();
        assert!(sent_signal.unwrap().success(), "kill -{signal}");
        let stopped_at = Instant::now();
        let proc_ref = &proc;
        wait_for("the receiver logs that it is stopping", Duration::from_secs(30), move || async move {
            if proc_ref.log_text().contains("stopping") {
                Ok(())
            } else {
                Err(format!("{bin:?} has not logged \"stopping\" since SIG{signal}"))
            }
        })
        .await;
        // The signal has arrived; the request is still being sent. Its answer is required.
        let answer = slow.finish().await;
        assert!(
            matches!(&answer, Ok((200, body)) if body.contains(ACCEPTED)),
            "{bin:?}, SIG{signal}: the request in flight at the signal got {answer:?}"
        );
        let proc_ref = &mut proc;
        let status = wait_for("the receiver exits", Duration::from_secs(30), || {
            let exited = proc_ref.child.try_wait().unwrap();
            async move { exited.ok_or_else(|| format!("{bin:?} still running after SIG{signal}")) }
        })
        .await;
        let took = stopped_at.elapsed();
        for c in clients {
            c.await.unwrap();
        }
        assert!(status.success(), "{bin:?} exited with {status} after SIG{signal}: {}", proc.log_text());
        assert!(proc.log_text().contains("stopped"), "{bin:?}: {}", proc.log_text());
        // The store was closed: its WAL checkpointed into the file and removed.
        let mut wal = db.path.clone().into_os_string();
        wal.push("-wal");
        assert!(!std::path::Path::new(&wal).exists(), "{bin:?}: the store was not closed ({wal:?} is left)");

        let store = SqliteStore::connect(&db.url()).await.unwrap();
        let mut acked = acked.lock().unwrap().clone();
        assert!(acked.len() >= SIGNAL_AFTER_ACKS, "{bin:?}: {} acknowledged before the stop", acked.len());
        acked.push(in_flight.id.clone());
        let stored = store.list(&Filter::default(), 100_000).await.unwrap();
        let ids: std::collections::HashSet<&str> = stored.iter().map(|e| e.delivery_id.as_str()).collect();
        let missing: Vec<_> = acked.iter().filter(|id| !ids.contains(id.as_str())).collect();
        assert!(missing.is_empty(), "{bin:?}, SIG{signal}: acknowledged but not stored: {missing:?}");
        let leased: Vec<_> = stored.iter().filter(|e| e.status == Status::Processing).map(|e| e.id).collect();
        assert!(leased.is_empty(), "{bin:?}: events still leased after a graceful stop: {leased:?}");
        let done = stored.iter().filter(|e| e.status == Status::Done).count();
        assert!(stored.iter().filter(|e| e.status == Status::Done).all(|e| e.attempts == 1), "{bin:?}: a rerun");
        println!(
            "graceful stop, {bin:?}, SIG{signal}: {} acknowledged (the request in flight at the signal included), {} \
             stored ({done} done, {} pending), 0 leased; stopped in {took:?}",
            acked.len(),
            stored.len(),
            stored.len() - done
        );
        store.close().await;
        proc.kill();
    }
}

// ---------------------------------------------------------------------------------------
// 3: SIGKILL under load
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct Load {
    /// Ids answered with a 2xx.
    acked: Vec<String>,
    /// Non-2xx answers.
    refused: Vec<String>,
    /// Transport errors before the kill.
    early_errors: Vec<String>,
    /// Transport errors after the kill (expected).
    late_errors: usize,
}

/// The event store a SIGKILL test runs on: a SQLite file, or a PostgreSQL database of its
/// own (dropped with it).
enum CrashStore {
    Sqlite(TempDb),
    Postgres(PgDb),
}

impl CrashStore {
    fn name(&self) -> &'static str {
        match self {
            CrashStore::Sqlite(_) => "sqlite",
            CrashStore::Postgres(_) => "postgres",
        }
    }

    /// The receivers' `DATABASE_URL`.
    fn url(&self) -> String {
        match self {
            CrashStore::Sqlite(db) => db.url(),
            CrashStore::Postgres(db) => db.url.clone(),
        }
    }

    /// The store, opened by the test to read what the receivers left.
    async fn open(&self) -> Box<dyn EventStore> {
        match self {
            CrashStore::Sqlite(db) => Box::new(SqliteStore::connect(&db.url()).await.unwrap()),
            CrashStore::Postgres(db) => Box::new(PostgresStore::connect(&db.url).await.unwrap()),
        }
    }

    /// Every row of the handler's `handled_deliveries`: (event id, attempt).
    async fn handled(&self) -> Vec<(i64, i64)> {
        const ROWS: &str = "SELECT event_id, attempt FROM handled_deliveries";
        match self {
            CrashStore::Sqlite(db) => {
                let conn = rusqlite::Connection::open(&db.path).unwrap();
                let mut query = conn.prepare(ROWS).unwrap();
                let rows = query.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))).unwrap();
                rows.map(Result::unwrap).collect()
            }
            CrashStore::Postgres(db) => {
                let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
                let rows = sqlx::query_as(ROWS).fetch_all(&mut conn).await.unwrap();
                let _ = conn.close().await;
                rows
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_loses_no_acknowledged_delivery() {
    let _heavy = heavy().await;
    sigkill_under_load(CrashStore::Sqlite(TempDb::new("crash"))).await;
}

/// The same on PostgreSQL: the handler's row and the done mark commit in one PostgreSQL
/// transaction, in a database of the test's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_loses_no_acknowledged_delivery_on_postgres() {
    let _heavy = heavy().await;
    let test = "sigkill_under_load_loses_no_acknowledged_delivery_on_postgres";
    let Some(pg) = webhook_tests::service_url("WEBHOOK_TEST_DATABASE_URL", test) else {
        return;
    };
    sigkill_under_load(CrashStore::Postgres(PgDb::create(&pg, "crash").await)).await;
}

/// A receiver under load on `db` is killed with SIGKILL once enough deliveries were
/// acknowledged, then restarted on the same store: every acknowledged delivery is stored,
/// the queue drains, and each event has exactly one `handled_deliveries` row, from the run
/// that marked it done.
async fn sigkill_under_load(db: CrashStore) {
    const WORKERS: usize = 2;
    const CLIENTS: usize = 16;
    const MAX_DELIVERIES: usize = 3_000;
    // The kill comes once this many deliveries were acknowledged (not after a time: on a
    // slow machine half a second may acknowledge nothing), mid-load.
    const KILL_AFTER_ACKS: usize = 300;
    let began = Instant::now();
    let backend = db.name();
    let vars =
        [("DATABASE_URL", db.url()), ("WEBHOOK_WORKERS", WORKERS.to_string()), ("WEBHOOK_LEASE_SECS", "2".to_owned())];
    let mut first = Proc::start(Bin::Axum, &vars).await;
    let (addr, run) = (first.addr, unique("crash"));
    let sent = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    // Deliveries acknowledged so far, and clients that stopped (all of them: no more acks).
    let (acks, ended) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (sent, killed, run, signer) = (sent.clone(), killed.clone(), run.clone(), signer());
            let (acks, ended) = (acks.clone(), ended.clone());
            tokio::spawn(async move {
                let mut load = Load::default();
                for _ in 0..MAX_DELIVERIES {
                    let n = sent.fetch_add(1, Ordering::SeqCst);
                    if n >= MAX_DELIVERIES || killed.load(Ordering::SeqCst) {
                        break;
                    }
                    let d = delivery(&signer, &format!("{run}-{n}"));
                    match post(addr, &d, Duration::from_secs(15)).await {
                        Ok((s, _, _)) if (200..300).contains(&s) => {
                            load.acked.push(d.id);
                            acks.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok((s, _, body)) => load.refused.push(format!("{s} {body}")),
                        // The kill: connections are reset or refused from here on.
                        Err(_) if killed.load(Ordering::SeqCst) => {
                            load.late_errors += 1;
                            break;
                        }
                        Err(e) => {
                            load.early_errors.push(e);
                            break;
                        }
                    }
                }
                ended.fetch_add(1, Ordering::SeqCst);
                load
            })
        })
        .collect();
    let load_started = Instant::now();
    let (acks_ref, ended_ref) = (&acks, &ended);
    wait_for("deliveries acknowledged under load", Duration::from_secs(60), move || async move {
        let (acked, ended) = (acks_ref.load(Ordering::SeqCst), ended_ref.load(Ordering::SeqCst));
        // Every client stopped early: kill anyway, the assertions below say why.
        if acked >= KILL_AFTER_ACKS || ended == CLIENTS {
            Ok(())
        } else {
            Err(format!("{acked} acknowledged"))
        }
    })
    .await;
    let kill_after = load_started.elapsed();
    let sent_at_kill = sent.load(Ordering::SeqCst).min(MAX_DELIVERIES);
    killed.store(true, Ordering::SeqCst);
    first.kill();
    let mut load = Load::default();
    for c in clients {
        let l = c.await.unwrap();
        load.acked.extend(l.acked);
        load.refused.extend(l.refused);
        load.early_errors.extend(l.early_errors);
        load.late_errors += l.late_errors;
    }
    println!(
        "crash ({backend}): {} deliveries started before the SIGKILL, {kill_after:?} into the load (at {KILL_AFTER_ACKS} acks), \
         {} acknowledged (2xx), {} refused, {} transport errors before the kill, {} after",
        sent_at_kill,
        load.acked.len(),
        load.refused.len(),
        load.early_errors.len(),
        load.late_errors
    );
    assert!(
        load.acked.len() >= KILL_AFTER_ACKS,
        "{backend}: {} acknowledged before the kill: too few to prove anything",
        load.acked.len()
    );
    assert!(load.refused.is_empty(), "non-2xx answers under load: {:?}", &load.refused[..load.refused.len().min(5)]);
    assert!(load.early_errors.is_empty(), "transport errors before the kill: {:?}", load.early_errors);

    // Restart on the same file; the queue must drain (events held at the kill are taken
    // again once their 2 s lease expires). The bound is generous: it catches a queue that
    // never drains, not a slow machine.
    let second = Proc::start(Bin::Axum, &vars).await;
    let store = db.open().await;
    let drain_started = Instant::now();
    let store_ref = &*store;
    let depth = wait_for("the queue drains after the restart", Duration::from_secs(120), move || async move {
        match store_ref.depth().await.map_err(|e| e.to_string())? {
            0 => Ok(0),
            depth => Err(format!("queue depth {depth}")),
        }
    })
    .await;
    let drained_in = drain_started.elapsed();
    let events = store.list(&Filter::default(), 100_000).await.unwrap();
    let by_id: HashMap<&str, &Event> = events.iter().map(|e| (e.delivery_id.as_str(), e)).collect();
    let missing: Vec<&String> = load.acked.iter().filter(|id| !by_id.contains_key(id.as_str())).collect();
    let not_done: Vec<&Event> = events.iter().filter(|e| e.status != Status::Done).collect();
    let mut attempts: HashMap<u32, usize> = HashMap::new();
    for e in &events {
        *attempts.entry(e.attempts).or_default() += 1;
    }
    let rerun = events.iter().filter(|e| e.attempts > 1).count();
    let runs_after_restart = handler_runs_ok(&[second.addr]).await;
    let mut histogram: Vec<_> = attempts.into_iter().collect();
    histogram.sort_unstable();
    println!(
        "crash ({backend}): {} stored ({} more than acknowledged: stored, answer lost in the kill); queue depth {depth} after \
         {drained_in:?}; attempts histogram {histogram:?}; {rerun} events taken again (leased at the kill, run \
         or not: their effects count below); {runs_after_restart} handler runs after the restart; {:?}",
        events.len(),
        events.len().saturating_sub(load.acked.len()),
        began.elapsed()
    );
    assert!(
        missing.is_empty(),
        "{backend}: {} acknowledged deliveries are not stored, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let statuses: Vec<_> = not_done.iter().take(5).map(|e| (e.id, e.status, e.attempts)).collect();
    assert!(
        depth == 0 && not_done.is_empty(),
        "{backend}: queue not drained {drained_in:?} after the restart (WEBHOOK_LEASE_SECS=2): depth {depth}, {} events not \
         done, e.g. (id, status, attempts) {statuses:?}",
        not_done.len()
    );
    // Leased at the kill: a batch (leased, or its share of the handed-off events) in each
    // worker's hands, the handoff channel's events (leased with their insert, not yet run)
    // and as many handed-off events run and waiting for their done mark.
    let config = WorkerConfig::default();
    let bound = WORKERS * config.batch + 2 * config.handoff;
    assert!(
        rerun <= bound,
        "{backend}: {rerun} events were taken more than once; at most {bound} can be held at the kill"
    );

    // Handled exactly once, counted: the handler's row in `handled_deliveries` commits with
    // the done mark, so every done event has exactly one row, from the run that committed
    // (its attempt number), even the events a worker held at the kill and ran again.
    let mut rows: HashMap<i64, Vec<i64>> = HashMap::new();
    for (id, attempt) in db.handled().await {
        rows.entry(id).or_default().push(attempt);
    }
    let total: usize = rows.values().map(Vec::len).sum();
    let wrong: Vec<_> = events
        .iter()
        .filter(|e| rows.get(&e.id).map(Vec::as_slice) != Some(&[i64::from(e.attempts)][..]))
        .take(5)
        .map(|e| (e.id, e.attempts, rows.get(&e.id)))
        .collect();
    println!(
        "crash ({backend}): handled_deliveries has {total} rows for {} events ({} of them run more than once)",
        events.len(),
        rerun
    );
    assert!(
        wrong.is_empty() && total == events.len(),
        "{backend}: not exactly one row per event from its committed run: {total} rows for {} events; e.g. (id, attempts, rows' \
         attempts) {wrong:?}",
        events.len()
    );
    store.close().await;
    drop(second);
}

// ---------------------------------------------------------------------------------------
// 4: the store goes down
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_down_answers_503_and_acknowledges_nothing_unstored() {
    let _heavy = heavy().await;
    let test = "store_down_answers_503_and_acknowledges_nothing_unstored";
    let Some(pg) = webhook_tests::service_url("WEBHOOK_TEST_DATABASE_URL", test) else {
        return;
    };
    let began = Instant::now();
    let db = PgDb::create(&pg, "down").await;
    let upstream: SocketAddr = tokio::net::lookup_host(pg_hostport(&pg)).await.unwrap().next().unwrap();
    assert!(upstream.ip().is_loopback(), "the test targets 127.0.0.1 only, not {upstream}");
    let mut forwarder = Forwarder::start(upstream, 0).await;
    let vars = [
        ("DATABASE_URL", db.url_via(&forwarder.hostport())),
        ("WEBHOOK_WORKERS", "1".to_owned()),
        ("WEBHOOK_LEASE_SECS", "5".to_owned()),
    ];
    let receiver = Proc::start(Bin::Axum, &vars).await;
    let signer = signer();
    let timeout = Duration::from_secs(30);

    let before = delivery(&signer, &unique("up"));
    let answer = post(receiver.addr, &before, timeout).await.unwrap();
    assert_eq!((answer.0, answer.2.as_str()), (200, ACCEPTED), "with the store up");

    // Cut the store off: no new connection, and the pooled ones are closed.
    forwarder.stop().await;
    let down: Vec<Delivery> = (0..3).map(|_| delivery(&signer, &unique("down"))).collect();
    let cut = Instant::now();
    let answers = futures_util::future::join_all(down.iter().map(|d| post(receiver.addr, d, timeout))).await;
    let waited = cut.elapsed();
    for (d, answer) in down.iter().zip(&answers) {
        let (status, content_type, body) = answer.as_ref().unwrap_or_else(|e| panic!("{}: no answer: {e}", d.id));
        assert_eq!(*status, 503, "{} with the store down: {body}", d.id);
        assert!(
            content_type.as_deref().is_some_and(|c| c.starts_with("application/json"))
                && body.starts_with(r#"{"error":""#)
                && body.ends_with("\"}"),
            "{}: a JSON {{\"error\": ...}} body, got {content_type:?} {body}",
            d.id
        );
    }
    println!(
        "store down: {} deliveries answered 503 within {waited:?}: {}",
        down.len(),
        answers[0].as_ref().unwrap().2
    );

    // Nothing answered 503 was stored (checked on the server directly, not through the
    // forwarder).
    let direct = PostgresStore::connect(&db.url).await.unwrap();
    assert_eq!(stored(&direct, &before.id).await.len(), 1, "the delivery acknowledged before the outage");
    for d in &down {
        assert!(stored(&direct, &d.id).await.is_empty(), "{} was answered 503 but is stored", d.id);
    }

    // The store comes back: the provider's retries are accepted (new, not duplicates).
    let port = forwarder.port();
    let _forwarder = Forwarder::start(upstream, port).await;
    let mut tries = Vec::new();
    for d in &down {
        let mut last = Err("not sent".to_owned());
        for attempt in 1..=20 {
            last = post(receiver.addr, d, timeout).await;
            if matches!(&last, Ok((s, _, _)) if *s != 503) || cut.elapsed() > Duration::from_secs(60) {
                tries.push(attempt);
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let (status, _, body) = last.unwrap();
        assert_eq!((status, body.as_str()), (200, ACCEPTED), "{} retried after the store came back", d.id);
    }
    for d in down.iter().chain([&before]) {
        assert_eq!(stored(&direct, &d.id).await.len(), 1, "{} acknowledged, so stored once", d.id);
    }
    println!(
        "store down: retries accepted after {tries:?} attempts each; all 4 acknowledged deliveries stored; {:?}",
        began.elapsed()
    );
    direct.pool().close().await;
    drop(receiver);
}

// ---------------------------------------------------------------------------------------
// 5: metrics
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_outcomes_runs_depth_and_latency() {
    let _heavy = heavy().await;
    let db = TempDb::new("metrics");
    let vars = [("DATABASE_URL", db.url()), ("WEBHOOK_WORKERS", "1".to_owned())];
    let receiver = Proc::start(Bin::Axum, &vars).await;
    let signer = signer();
    let d = delivery(&signer, &unique("metrics"));
    let timeout = Duration::from_secs(15);
    let first = post(receiver.addr, &d, timeout).await.unwrap();
    let again = post(receiver.addr, &d, timeout).await.unwrap();
    let tampered =
        Delivery { body: Bytes::from_static(br#"{"zen":"tampered"}"#), ..delivery(&signer, &unique("tampered")) };
    let refused = post(receiver.addr, &tampered, timeout).await.unwrap();
    assert_eq!((first.0, first.2.as_str()), (200, ACCEPTED));
    assert_eq!((again.0, again.2.as_str()), (200, DUPLICATE));
    assert_eq!((refused.0, refused.2.as_str()), (401, r#"{"error":"signature mismatch"}"#));

    let addr = receiver.addr;
    let text = wait_for("the handler run is counted", Duration::from_secs(30), move || async move {
        let text = scrape(addr).await;
        match metric_sum(&text, "webhook_handler_runs_total", &[r#"result="ok""#]) {
            runs if runs >= 1.0 => Ok(text),
            runs => Err(format!("{runs} runs")),
        }
    })
    .await;
    let gh = r#"provider="github""#;
    let count = |name: &str, labels: &[&str]| metric_sum(&text, name, labels);
    let mut missing = Vec::new();
    for (what, value, want) in [
        ("requests accepted", count("webhook_requests_total", &[gh, r#"outcome="accepted""#]), 1.0),
        ("requests duplicate", count("webhook_requests_total", &[gh, r#"outcome="duplicate""#]), 1.0),
        ("requests invalid_signature", count("webhook_requests_total", &[gh, r#"outcome="invalid_signature""#]), 1.0),
        ("handler runs ok", count("webhook_handler_runs_total", &[gh, r#"result="ok""#]), 1.0),
        ("request duration count", count("webhook_request_duration_seconds_count", &[gh]), 3.0),
    ] {
        if value != want {
            missing.push(format!("{what}: {value}, expected {want}"));
        }
    }
    for needle in [
        "\nwebhook_queue_depth ",
        "# TYPE webhook_request_duration_seconds histogram",
        "webhook_request_duration_seconds_bucket{",
        r#"le="+Inf""#,
    ] {
        if !text.contains(needle) {
            missing.push(format!("no {needle:?}"));
        }
    }
    println!("metrics: {} lines; webhook_queue_depth = {}", text.lines().count(), count("webhook_queue_depth", &[]));
    assert!(missing.is_empty(), "{}\n--- /metrics ---\n{text}", missing.join("\n"));
    drop(receiver);
}
