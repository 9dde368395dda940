//! Faults under load: what a receiver does when what it depends on fails while deliveries
//! keep coming, on real servers of the test's own (nothing shared is stopped).
//!
//! - PostgreSQL restarted under load (a private server, stopped with `pg_ctl -m immediate`:
//!   a crash, recovered from its WAL on the next start): no acknowledged delivery is lost,
//!   the receiver answers 503 while the server is down, and recovers by itself, without a
//!   restart, within 5 s of the server's return;
//! - Redis (the dedup store) killed with SIGKILL under load: never a false "duplicate",
//!   never an acknowledgement of a delivery the event store does not hold, and recovery by
//!   itself when Redis returns;
//! - SQLite on a full disk (a 16 MiB tmpfs the test mounts): 503 with a clear error,
//!   nothing acknowledged unstored, and normal service once space returns.
//!
//! Each test reads the service it stands for from the usual variable
//! (`WEBHOOK_TEST_DATABASE_URL`, `WEBHOOK_TEST_REDIS_URL`) through
//! [`webhook_tests::service_url`], so it fails under CI and is a counted skip elsewhere
//! when it is unset; it then needs the server's programs on this machine (PostgreSQL's
//! `initdb` and `pg_ctl`, `redis-server`) and, for the full disk, the right to mount a
//! tmpfs (root). Every load is bounded in count and time; no test asserts a speed.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test
#![allow(clippy::print_stdout, clippy::print_stderr)] // a test reports what it measured

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use webhook_pipeline::{EventStore, Filter, PostgresStore, SqliteStore};

mod support;
use support::*;

/// The tests here take turns: each loads a receiver on two cores.
async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}

/// A free port on 127.0.0.1 (free when asked; the servers below retry nothing, so a clash
/// fails the test loudly rather than quietly).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs `cmd`, failing the test with its output when it fails.
fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_root() -> bool {
    // `id -u` rather than libc: this test has no unsafe code.
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

// ---------------------------------------------------------------------------------------
// The load: clients sending fresh deliveries (and, if asked, copies of acknowledged ones)
// ---------------------------------------------------------------------------------------

/// One answer the load got.
#[derive(Debug, Clone)]
struct Answered {
    id: String,
    /// A copy of a delivery acknowledged before (its answer must be "duplicate" or 503).
    copy: bool,
    /// When the request was sent and answered, since the load began.
    sent: Duration,
    at: Duration,
    /// Status and body, or the transport error.
    reply: Result<(u16, String), String>,
}

impl Answered {
    fn status(&self) -> Option<u16> {
        self.reply.as_ref().ok().map(|r| r.0)
    }

    fn acked(&self) -> bool {
        self.status().is_some_and(|s| (200..300).contains(&s))
    }
}

/// `clients` tasks posting deliveries to `addr` until [`stop`](Self::stop) (or a bound of
/// deliveries); every tenth request of a client is a copy of a delivery acknowledged
/// earlier when `copies` is set.
struct Load {
    began: Instant,
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Answered>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    const MAX_PER_CLIENT: usize = 20_000;

    fn start(addr: SocketAddr, clients: usize, copies: bool) -> Load {
        let began = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let answers: Arc<Mutex<Vec<Answered>>> = Arc::default();
        let run = unique("fault");
        let tasks = (0..clients)
            .map(|c| {
                let (stop, answers, run, signer) = (stop.clone(), answers.clone(), run.clone(), signer());
                tokio::spawn(async move {
                    let mut acked: Vec<Delivery> = Vec::new();
                    for n in 0..Self::MAX_PER_CLIENT {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let copy = copies && n % 10 == 9 && !acked.is_empty();
                        let d = if copy {
                            acked[n % acked.len()].clone()
                        } else {
                            delivery(&signer, &format!("{run}-{c}-{n}"))
                        };
                        let sent = began.elapsed();
                        let reply =
                            post(addr, &d, Duration::from_secs(20)).await.map(|(status, _, body)| (status, body));
                        let answer = Answered { id: d.id.clone(), copy, sent, at: began.elapsed(), reply };
                        if answer.acked() && !copy {
                            acked.push(d);
                        }
                        let failed = answer.reply.is_err();
                        answers.lock().unwrap().push(answer);
                        if failed {
                            // The receiver itself never goes away in these tests: a
                            // transport error is a finding; pause instead of spinning.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                })
            })
            .collect();
        Load { began, stop, answers, tasks }
    }

    fn now(&self) -> Duration {
        self.began.elapsed()
    }

    fn snapshot(&self) -> Vec<Answered> {
        self.answers.lock().unwrap().clone()
    }

    /// Waits (bounded by `within`) until `check` holds for the answers so far.
    async fn until(&self, what: &str, within: Duration, check: impl Fn(&[Answered]) -> bool) {
        let answers = self.answers.clone();
        let check = &check;
        wait_for(what, within, move || {
            let answers = answers.clone();
            async move {
                let seen = answers.lock().unwrap().clone();
                if check(&seen) {
                    Ok(())
                } else {
                    Err(format!("{} answers, {} acknowledged", seen.len(), seen.iter().filter(|a| a.acked()).count()))
                }
            }
        })
        .await;
    }

    async fn stop(self) -> Vec<Answered> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.await.unwrap();
        }
        let mut answers = self.answers.lock().unwrap().clone();
        answers.sort_by_key(|a| a.sent);
        answers
    }
}

/// Fresh deliveries that were acknowledged.
fn acked_ids(answers: &[Answered]) -> HashSet<String> {
    answers.iter().filter(|a| a.acked() && !a.copy).map(|a| a.id.clone()).collect()
}

/// Counts by status (or "transport error"), for the test's report.
fn tally(answers: &[Answered]) -> String {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for a in answers {
        let key = match &a.reply {
            Ok((s, _)) => s.to_string(),
            Err(_) => "transport error".to_owned(),
        };
        *counts.entry(key).or_default() += 1;
    }
    format!("{counts:?}")
}

/// Fails the test naming the first few answers that break `rule`.
fn assert_all(answers: &[Answered], what: &str, rule: impl Fn(&Answered) -> bool) {
    let bad: Vec<_> = answers.iter().filter(|a| !rule(a)).take(5).collect();
    assert!(bad.is_empty(), "{what}: {} answers break it, e.g. {bad:#?}", answers.iter().filter(|a| !rule(a)).count());
}

/// A 503 answer with the receivers' JSON error body.
fn is_json_503(a: &Answered) -> bool {
    matches!(&a.reply, Ok((503, body)) if body.starts_with(r#"{"error":""#) && body.ends_with("\"}"))
}

/// The first fresh acknowledgement of a request sent after `t`: how long after `t` the
/// receiver was back.
fn back_after(answers: &[Answered], t: Duration) -> Option<Duration> {
    answers.iter().filter(|a| a.sent >= t && a.acked() && !a.copy).map(|a| a.at - t).min()
}

/// How long the refusals of requests sent between `from` and `to` took: fewest, median,
/// most.
fn refusal_times(answers: &[Answered], from: Duration, to: Duration) -> String {
    let mut took: Vec<Duration> =
        answers.iter().filter(|a| a.sent >= from && a.sent < to && !a.acked()).map(|a| a.at - a.sent).collect();
    took.sort();
    match (took.first(), took.get(took.len() / 2), took.last()) {
        (Some(min), Some(median), Some(max)) => {
            format!("{} refusals took {min:?} / {median:?} / {max:?} (fewest / median / most)", took.len())
        }
        _ => "no refusals".to_owned(),
    }
}

/// Every acknowledged fresh delivery is in `store`, once; and nothing else is (stored
/// events are acknowledged ones, or ones whose answer the load never saw).
async fn assert_stored(store: &dyn EventStore, answers: &[Answered], what: &str) -> usize {
    let events = store.list(&Filter::default().provider("github"), 1_000_000).await.unwrap();
    let mut seen = HashSet::new();
    let twice: Vec<_> = events.iter().filter(|e| !seen.insert(e.delivery_id.clone())).map(|e| e.id).collect();
    assert!(twice.is_empty(), "{what}: a delivery stored twice: {twice:?}");
    let missing: Vec<_> = acked_ids(answers).into_iter().filter(|id| !seen.contains(id)).take(5).collect();
    assert!(missing.is_empty(), "{what}: acknowledged but not stored, e.g. {missing:?}");
    events.len()
}

// ---------------------------------------------------------------------------------------
// PostgreSQL restarted under load
// ---------------------------------------------------------------------------------------

/// A PostgreSQL server of the test's own: `initdb` in a temporary directory (as the
/// `postgres` user when the test runs as root, since the server refuses to run as root),
/// listening on 127.0.0.1:`port` only. Stopped and removed on drop.
struct PrivatePostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    /// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb`.
    fn programs() -> Option<PathBuf> {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
            .filter(|(_, bin)| bin.join("initdb").exists())
            .collect();
        versions.sort();
        versions.pop().map(|(_, bin)| bin)
    }

    fn create() -> PrivatePostgres {
        let bin = Self::programs().expect(
            "PostgreSQL's server programs (initdb, pg_ctl) are not under /usr/lib/postgresql/*/bin: \
             install the postgresql package, or unset WEBHOOK_TEST_DATABASE_URL to skip",
        );
        let dir = std::env::temp_dir().join(unique("webhook_faults_pg"));
        std::fs::create_dir_all(&dir).unwrap();
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown").arg("postgres:postgres").arg(&dir), "chown the data directory");
        }
        let pg = PrivatePostgres { bin, dir, port: free_port(), as_postgres };
        let data = pg.data();
        run(
            pg.command("initdb").args(["-A", "trust", "-U", "postgres", "--no-instructions", "-D"]).arg(&data),
            "initdb",
        );
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }

    /// Starts the server and waits until it accepts connections (`pg_ctl -w`, 60 s).
    fn start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=on -c max_connections=40",
            self.port,
            self.dir.display()
        );
        run(
            self.command("pg_ctl")
                .args(["-w", "-t", "60", "-D"])
                .arg(self.data())
                .arg("-l")
                .arg(self.dir.join("server.log"))
                .args(["-o", &options, "start"])
                .stdout(Stdio::null()),
            "pg_ctl start",
        );
    }

    /// Stops the server the way a crash would: no shutdown checkpoint, every connection cut.
    fn crash(&self) {
        run(self.command("pg_ctl").args(["-w", "-m", "immediate", "-D"]).arg(self.data()).arg("stop"), "pg_ctl stop");
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl").args(["-m", "immediate", "-D"]).arg(self.data()).arg("stop").output();
        if std::thread::panicking() {
            eprintln!(
                "--- private PostgreSQL log ---\n{}",
                std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_loses_nothing_answers_503_and_recovers_by_itself() {
    let _turn = one_at_a_time().await;
    let test = "postgres_restarted_under_load_loses_nothing_answers_503_and_recovers_by_itself";
    if webhook_tests::service_url("WEBHOOK_TEST_DATABASE_URL", test).is_none() {
        return;
    }
    let pg = PrivatePostgres::create();
    pg.start();
    let vars =
        [("DATABASE_URL", pg.url()), ("WEBHOOK_WORKERS", "2".to_owned()), ("WEBHOOK_LEASE_SECS", "5".to_owned())];
    let receiver = Proc::start(Bin::Axum, &vars).await;
    let load = Load::start(receiver.addr, 4, false);
    load.until("200 deliveries acknowledged before the crash", Duration::from_secs(60), |a| acked_ids(a).len() >= 200)
        .await;

    let crashed = load.now();
    pg.crash();
    let down = load.now();
    // Down for a while: at least 3 s and 8 refusals of requests sent after the crash.
    load.until("503s while PostgreSQL is down", Duration::from_secs(60), |a| {
        a.iter().filter(|x| x.sent >= down && x.status() == Some(503)).count() >= 8
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(load.now() - down)).await;
    // The server accepts connections before `pg_ctl start` returns: the down window ends
    // when the start begins, the recovery is timed from its return.
    let starting = load.now();
    pg.start();
    let up = load.now();
    load.until("fresh deliveries acknowledged after PostgreSQL's return", Duration::from_secs(60), |a| {
        a.iter().filter(|x| x.sent >= up && x.acked()).count() >= 200
    })
    .await;
    let answers = load.stop().await;

    let recovered = back_after(&answers, up).unwrap();
    println!(
        "postgres restart: crash at {crashed:?}, back at {up:?} (down {:?}); first acknowledgement {recovered:?} after the \
         return; answers {}; {}",
        up - crashed,
        tally(&answers),
        refusal_times(&answers, down, up)
    );
    assert_all(&answers, "every answer is a 2xx, or a JSON 503 while the store is down", |a| {
        a.acked() || is_json_503(a)
    });
    assert_all(&answers, "nothing sent while PostgreSQL was down is acknowledged", |a| {
        !(a.sent >= down && a.at < starting && a.acked())
    });
    assert!(recovered <= Duration::from_secs(5), "recovered {recovered:?} after PostgreSQL's return (at most 5 s)");

    // Read back on the server: every acknowledged delivery is there, once; the queue drains.
    let store = PostgresStore::connect(&pg.url()).await.unwrap();
    let stored = assert_stored(&store, &answers, "postgres restart").await;
    let store_ref = &store;
    wait_for("the queue drains", Duration::from_secs(120), move || async move {
        match store_ref.depth().await.map_err(|e| e.to_string())? {
            0 => Ok(()),
            n => Err(format!("depth {n}")),
        }
    })
    .await;
    println!("postgres restart: {} acknowledged, {stored} stored, all handled", acked_ids(&answers).len());
    store.close().await;
    drop(receiver);
}

// ---------------------------------------------------------------------------------------
// Redis killed under load
// ---------------------------------------------------------------------------------------

/// A `redis-server` of the test's own on 127.0.0.1:`port`, keeping nothing on disk.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    fn start(port: u16) -> PrivateRedis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server: install it, or unset WEBHOOK_TEST_REDIS_URL to skip");
        let mut redis = PrivateRedis { port, child: Some(child) };
        redis.wait_up();
        redis
    }

    fn wait_up(&mut self) {
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("redis-server on port {} exited: {status}", self.port);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server did not listen on 127.0.0.1:{} within 5 s", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_under_load_never_a_false_duplicate_nor_an_unstored_ack() {
    let _turn = one_at_a_time().await;
    let test = "redis_killed_under_load_never_a_false_duplicate_nor_an_unstored_ack";
    if webhook_tests::service_url("WEBHOOK_TEST_REDIS_URL", test).is_none() {
        return;
    }
    let db = TempDb::new("faults_redis");
    let mut redis = PrivateRedis::start(free_port());
    let vars = [("DATABASE_URL", db.url()), ("REDIS_URL", redis.url()), ("WEBHOOK_WORKERS", "2".to_owned())];
    let receiver = Proc::start(Bin::Axum, &vars).await;
    let load = Load::start(receiver.addr, 4, true);
    load.until("200 deliveries acknowledged before the kill", Duration::from_secs(60), |a| acked_ids(a).len() >= 200)
        .await;

    let killed = load.now();
    redis.kill();
    let down = load.now();
    load.until("requests answered while Redis is down", Duration::from_secs(60), |a| {
        a.iter().filter(|x| x.sent >= down).count() >= 8
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(load.now() - down)).await;
    let port = redis.port;
    let redis = PrivateRedis::start(port);
    let up = load.now();
    load.until("fresh deliveries acknowledged after Redis's return", Duration::from_secs(60), |a| {
        a.iter().filter(|x| x.sent >= up && x.acked() && !x.copy).count() >= 200
    })
    .await;
    let answers = load.stop().await;

    let recovered = back_after(&answers, up).unwrap();
    let during: Vec<_> = answers.iter().filter(|a| a.sent >= down && a.at < up).cloned().collect();
    println!(
        "redis kill: killed at {killed:?}, back at {up:?}; first acknowledgement {recovered:?} after the return; \
         answers {} (while down: {}); {}",
        tally(&answers),
        tally(&during),
        refusal_times(&answers, down, up)
    );
    assert_all(&answers, "every answer is a 2xx or a JSON 503", |a| a.acked() || is_json_503(a));
    assert_all(&answers, "a fresh delivery is never answered \"duplicate\"", |a| {
        a.copy || !matches!(&a.reply, Ok((_, body)) if body == DUPLICATE)
    });
    assert_all(&answers, "a copy of an acknowledged delivery is never accepted again", |a| {
        !a.copy || !matches!(&a.reply, Ok((_, body)) if body == ACCEPTED)
    });
    assert!(recovered <= Duration::from_secs(5), "recovered {recovered:?} after Redis's return (at most 5 s)");
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    let stored = assert_stored(&store, &answers, "redis kill").await;
    println!("redis kill: {} acknowledged, {stored} stored", acked_ids(&answers).len());
    store.close().await;
    drop((receiver, redis));
}

// ---------------------------------------------------------------------------------------
// SQLite on a full disk
// ---------------------------------------------------------------------------------------

/// A tmpfs of `size` mounted on a fresh directory, unmounted and removed on drop.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(size: &str) -> Result<SmallDisk, String> {
        let dir = std::env::temp_dir().join(unique("webhook_faults_disk"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir(&dir);
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(SmallDisk { dir })
    }

    /// Writes `path` until the disk is full; returns the bytes written.
    fn fill(path: &Path) -> u64 {
        use std::io::Write;
        let mut file = std::fs::File::create(path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        // Bounded: a 16 MiB disk takes 256 chunks; 100 000 is far beyond any disk here.
        for _ in 0..100_000 {
            match file.write(&chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => written += n as u64,
            }
        }
        let _ = file.sync_all();
        written
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_on_a_full_disk_answers_503_and_recovers_when_space_returns() {
    let _turn = one_at_a_time().await;
    let disk = match SmallDisk::mount("16m") {
        Ok(d) => d,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("CI must be able to mount a tmpfs for the full-disk test (run as root): {e}")
        }
        Err(e) => {
            eprintln!(
                "SKIPPED sqlite_on_a_full_disk_answers_503_and_recovers_when_space_returns: cannot mount a tmpfs: {e}"
            );
            return;
        }
    };
    let db = disk.dir.join("events.db");
    let url = format!("sqlite://{}", db.display());
    let vars = [("DATABASE_URL", url.clone()), ("WEBHOOK_WORKERS", "1".to_owned())];
    let receiver = Proc::start(Bin::Axum, &vars).await;
    let load = Load::start(receiver.addr, 2, false);
    load.until("100 deliveries acknowledged before the disk fills", Duration::from_secs(60), |a| {
        acked_ids(a).len() >= 100
    })
    .await;

    let filler = disk.dir.join("filler");
    let filled = SmallDisk::fill(&filler);
    let full = load.now();
    load.until("503s on the full disk", Duration::from_secs(60), |a| {
        a.iter().filter(|x| x.sent >= full && x.status() == Some(503)).count() >= 20
    })
    .await;
    // Full for a while: at least 2 s.
    tokio::time::sleep(Duration::from_secs(2).saturating_sub(load.now() - full)).await;
    let refusal = load
        .snapshot()
        .into_iter()
        .find(|a| a.sent >= full && a.status() == Some(503))
        .map(|a| a.reply.unwrap().1)
        .unwrap();
    std::fs::remove_file(&filler).unwrap();
    let freed = load.now();
    load.until("fresh deliveries acknowledged after space returns", Duration::from_secs(60), |a| {
        a.iter().filter(|x| x.sent >= freed && x.acked()).count() >= 100
    })
    .await;
    let answers = load.stop().await;
    let recovered = back_after(&answers, freed).unwrap();
    let while_full: Vec<_> = answers.iter().filter(|a| a.sent >= full && a.at < freed).cloned().collect();
    println!(
        "full disk: filled with {filled} bytes at {full:?}, freed at {freed:?}; first acknowledgement {recovered:?} after; \
         answers {} (while full: {}); {}; the refusal: {refusal}",
        tally(&answers),
        tally(&while_full),
        refusal_times(&answers, full, freed)
    );
    assert_all(&answers, "every answer is a 2xx or a JSON 503", |a| a.acked() || is_json_503(a));
    // The answer to the internet stays generic (it says "retry later", not why); the
    // operator's log says why.
    let log = receiver.log_text();
    assert!(
        log.contains("database or disk is full"),
        "the receiver's log says the disk is full: {}",
        log.lines().rev().take(5).collect::<Vec<_>>().join("\n")
    );
    assert!(recovered <= Duration::from_secs(5), "recovered {recovered:?} after space returned (at most 5 s)");
    let store = SqliteStore::connect(&url).await.unwrap();
    let stored = assert_stored(&store, &answers, "full disk").await;
    println!("full disk: {} acknowledged, {stored} stored", acked_ids(&answers).len());
    store.close().await;
    drop(receiver);
}
