//! The receivers publishing to a broker (`WEBHOOK_SINK`) instead of the event store: every
//! acknowledged delivery is in the broker exactly once, on all three receivers, for NATS
//! JetStream and RabbitMQ; with the broker stopped under them (a NATS server or a RabbitMQ
//! node of the test's own) they answer 503 and acknowledge nothing it does not hold, and
//! they recover by themselves when it returns; a receiver killed with SIGKILL under load
//! leaves every delivery it acknowledged in the broker. (A publish the client had
//! buffered may still reach the stream after its request was refused: the provider's retry
//! of it is then a duplicate there, dropped by its `Nats-Msg-Id`; never a loss, never a
//! second copy.)

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use http::Method;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use webhook_core::{providers, SignRequest, Verifier};
use webhook_tests::{send, service_url, Answer, Payload, Receiver};

mod support;
use support::{delete_nats, delete_rabbit, unique};

const SECRET: &str = "broker-secret";

async fn deliver(addr: SocketAddr, id: &str) -> Answer {
    let github = Verifier::new(providers::GITHUB, SECRET).unwrap();
    let body = format!(r#"{{"zen":"{id}"}}"#);
    let signed = github.sign(&SignRequest::new(body.as_bytes(), SystemTime::now()).id(id).event_type("push")).unwrap();
    let headers: Vec<(String, String)> = signed.headers().iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    send(addr, Method::POST, "/webhooks/github", &headers, Payload::Sized(body.into())).await
}

/// The delivery ids in NATS stream `stream`, in order.
async fn nats_ids(url: &str, stream: &str) -> Vec<String> {
    use async_nats::jetstream::{self, consumer};
    use futures_util::StreamExt;
    let js = jetstream::new(async_nats::connect(url).await.unwrap());
    let stream = js.get_stream(stream).await.unwrap();
    let reader = stream
        .create_consumer(consumer::pull::Config { ack_policy: consumer::AckPolicy::None, ..Default::default() })
        .await
        .unwrap();
    let mut batch = reader.fetch().max_messages(10_000).expires(Duration::from_millis(500)).messages().await.unwrap();
    let mut ids = Vec::new();
    while let Some(m) = batch.next().await {
        let m = m.unwrap();
        ids.push(m.headers.as_ref().and_then(|h| h.get("Webhook-Delivery-Id")).unwrap().as_str().to_owned());
    }
    ids
}

async fn rabbit_count(url: &str, queue: &str) -> u32 {
    let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(queue.into(), passive, FieldTable::default()).await.unwrap().message_count()
}

/// The delivery ids in RabbitMQ queue `queue` (taken from it).
async fn rabbit_ids(url: &str, queue: &str) -> Vec<String> {
    use lapin::options::BasicGetOptions;
    let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    let mut ids = Vec::new();
    // Bounded: the tests publish fewer than 100 000.
    for _ in 0..100_000 {
        let Some(message) = channel.basic_get(queue.into(), BasicGetOptions { no_ack: true }).await.unwrap() else {
            return ids;
        };
        let headers = message.delivery.properties.headers().clone().unwrap_or_default();
        match headers.inner().get("Webhook-Delivery-Id") {
            Some(lapin::types::AMQPValue::LongString(id)) => {
                ids.push(String::from_utf8_lossy(id.as_bytes()).into_owned())
            }
            other => panic!("a message without its delivery id: {other:?}"),
        }
    }
    panic!("more than 100 000 messages in {queue}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_receiver_puts_each_acknowledged_delivery_in_the_broker_once() {
    let nats =
        service_url("WEBHOOK_TEST_NATS_URL", "every_receiver_puts_each_acknowledged_delivery_in_the_broker_once");
    let amqp =
        service_url("WEBHOOK_TEST_AMQP_URL", "every_receiver_puts_each_acknowledged_delivery_in_the_broker_once");
    let (Some(nats), Some(amqp)) = (nats, amqp) else {
        return;
    };
    for receiver in Receiver::ALL {
        for url in [&nats, &amqp] {
            let name = unique("wb");
            let vars = [
                ("GITHUB_WEBHOOK_SECRET", SECRET),
                ("WEBHOOK_SINK", url.as_str()),
                ("WEBHOOK_SINK_NAME", name.as_str()),
            ];
            let addr = receiver.start(&vars).await;
            let ids = ["a", "b", "c"].map(|i| format!("{receiver:?}-{i}"));
            for id in &ids {
                let first = deliver(addr, id).await;
                assert_eq!(
                    (first.status, first.body.as_str()),
                    (200, r#"{"status":"accepted"}"#),
                    "{receiver:?} {url}"
                );
                let again = deliver(addr, id).await;
                assert_eq!(again.body, r#"{"status":"duplicate"}"#, "{receiver:?} {url}");
            }
            if url.starts_with("nats") {
                let stream = name.to_ascii_uppercase().replace('-', "_");
                assert_eq!(nats_ids(url, &stream).await, ids, "{receiver:?}: each once, in order");
                delete_nats(url, &stream).await;
            } else {
                assert_eq!(rabbit_count(url, &name).await, 3, "{receiver:?}: each once");
                delete_rabbit(url, &name).await;
            }
        }
    }
}

/// Sends delivery `id` again every 500 ms, as a provider retries, until it is accepted:
/// answered 503 meanwhile, nothing else. Bounded: 30 s after `broker`'s return.
async fn retried_until_accepted(addr: SocketAddr, id: &str, broker: &str) {
    for _ in 0..60 {
        let answer = deliver(addr, id).await;
        if answer.status == 200 {
            return;
        }
        assert_eq!(answer.status, 503, "{answer:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the receiver did not recover within 30 s of {broker}'s return");
}

/// A NATS server of this test's own, on a free port with its own storage, so that it can
/// be stopped without touching the machine's.
struct OwnNats {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl OwnNats {
    fn start(port: u16, dir: &std::path::Path) -> Child {
        Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server on the PATH (Debian's nats-server package)")
    }

    async fn new() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(unique("webhook-nats"));
        std::fs::create_dir_all(&dir).unwrap();
        let own = Self { child: Self::start(port, &dir), port, dir };
        own.wait_up().await;
        own
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    async fn wait_up(&self) {
        for _ in 0..500 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("nats-server did not listen on {}", self.port);
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn restart(&mut self) {
        self.child = Self::start(self.port, &self.dir);
        self.wait_up().await;
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nats_down_nothing_is_acknowledged_and_service_returns_with_it() {
    if service_url("WEBHOOK_TEST_NATS_URL", "with_nats_down_nothing_is_acknowledged_and_service_returns_with_it")
        .is_none()
    {
        return;
    }
    let mut nats = OwnNats::new().await;
    let url = nats.url();
    let vars = [("GITHUB_WEBHOOK_SECRET", SECRET), ("WEBHOOK_SINK", url.as_str()), ("WEBHOOK_SINK_NAME", "webhooks")];
    let addr = Receiver::Axum.start(&vars).await;
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let id = format!("up-{i}");
        assert_eq!(deliver(addr, &id).await.status, 200);
        acknowledged.push(id);
    }
    nats.stop();
    // Down: 503 (the publish is not confirmed within its bound), never a 2xx.
    for i in 0..3 {
        let answer = deliver(addr, &format!("down-{i}")).await;
        assert_eq!(answer.status, 503, "{answer:?}");
        assert!(answer.body.contains("unavailable"), "{answer:?}");
    }
    nats.restart().await;
    // Back: the receiver reconnects by itself (no restart); each retry of a refused
    // delivery is accepted once the broker confirms it.
    retried_until_accepted(addr, "down-0", "NATS").await;
    acknowledged.push("down-0".to_owned());
    // The providers retry the others: answered 200 (a copy that reached the stream while
    // its request was being refused is a duplicate there, dropped by Nats-Msg-Id).
    for id in ["down-1", "down-2"] {
        let answer = deliver(addr, id).await;
        assert_eq!(answer.status, 200, "{id}: {answer:?}");
        acknowledged.push(id.to_owned());
    }
    // Every acknowledged delivery is in the stream exactly once (file storage survived the
    // stop), and nothing else is.
    let mut ids = nats_ids(&url, "WEBHOOKS").await;
    ids.sort();
    acknowledged.sort();
    assert_eq!(ids, acknowledged);
}

/// Starts the axum receiver binary publishing to `sink` (`WEBHOOK_SINK_NAME=name`), loads
/// it from 8 clients with deliveries of unique ids, and kills it with SIGKILL once 200 are
/// acknowledged. Returns the acknowledged ids. Every answer before the kill must be a 200.
async fn acknowledged_before_sigkill(sink: &str, name: &str) -> Vec<String> {
    const CLIENTS: usize = 8;
    const MAX: usize = 2_000;
    const KILL_AFTER_ACKS: usize = 200;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut child = Command::new(env!("CARGO_BIN_EXE_test-axum-receiver"))
        .env_clear()
        .env("WEBHOOK_ADDR", addr.to_string())
        .env("GITHUB_WEBHOOK_SECRET", SECRET)
        .env("WEBHOOK_SINK", sink)
        .env("WEBHOOK_SINK_NAME", name)
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..1_000 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(up, "the receiver did not start");
    let (sent, killed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
    let acked = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let refused = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (sent, acked, killed, name) = (sent.clone(), acked.clone(), killed.clone(), name.to_owned());
            let refused = refused.clone();
            tokio::spawn(async move {
                loop {
                    let n = sent.fetch_add(1, Ordering::SeqCst);
                    if n >= MAX || killed.load(Ordering::SeqCst) {
                        return;
                    }
                    let id = format!("{name}-{n}");
                    // After the kill the harness's client fails on the reset connection
                    // (a panic of this task, expected then and only then).
                    let answer = deliver(addr, &id).await;
                    match answer.status {
                        200 => acked.lock().unwrap().push(id),
                        _ if killed.load(Ordering::SeqCst) => return,
                        other => {
                            refused.lock().unwrap().push(format!("{other} before the kill: {answer:?}"));
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    for _ in 0..3_000 {
        if acked.lock().unwrap().len() >= KILL_AFTER_ACKS || sent.load(Ordering::SeqCst) >= MAX {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    killed.store(true, Ordering::SeqCst);
    child.kill().unwrap();
    child.wait().unwrap();
    for c in clients {
        // A client that met the reset connection after the kill panicked in the harness.
        if let Err(e) = c.await {
            assert!(e.is_panic(), "{e}");
        }
    }
    assert!(refused.lock().unwrap().is_empty(), "{:?}", refused.lock().unwrap());
    let acknowledged = acked.lock().unwrap().clone();
    assert!(acknowledged.len() >= KILL_AFTER_ACKS, "only {} acknowledged before the kill", acknowledged.len());
    acknowledged
}

/// Every acknowledged delivery is in the broker, and none is there twice (each id was sent
/// once; what the broker holds beyond the acknowledged ones was in flight when the answer
/// was lost, or refused while the broker was failing, and never sent again).
fn assert_each_acknowledged_once(acknowledged: &[String], in_broker: &[String], broker: &str) {
    let once: std::collections::HashSet<&String> = in_broker.iter().collect();
    assert_eq!(once.len(), in_broker.len(), "a delivery twice in {broker}");
    let missing: Vec<&String> = acknowledged.iter().filter(|id| !once.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged deliveries missing from {broker}: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_leaves_every_acknowledged_delivery_in_nats() {
    let Some(url) =
        service_url("WEBHOOK_TEST_NATS_URL", "sigkill_under_load_leaves_every_acknowledged_delivery_in_nats")
    else {
        return;
    };
    let name = unique("kill");
    let acknowledged = acknowledged_before_sigkill(&url, &name).await;
    let stream = name.to_ascii_uppercase().replace('-', "_");
    let in_stream = nats_ids(&url, &stream).await;
    assert_each_acknowledged_once(&acknowledged, &in_stream, "the stream");
    println!("nats sigkill: {} acknowledged, {} in the stream", acknowledged.len(), in_stream.len());
    delete_nats(&url, &stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_leaves_every_acknowledged_delivery_in_rabbitmq() {
    let Some(url) =
        service_url("WEBHOOK_TEST_AMQP_URL", "sigkill_under_load_leaves_every_acknowledged_delivery_in_rabbitmq")
    else {
        return;
    };
    let name = unique("kill");
    let acknowledged = acknowledged_before_sigkill(&url, &name).await;
    let in_queue = rabbit_ids(&url, &name).await;
    assert_each_acknowledged_once(&acknowledged, &in_queue, "the queue");
    println!("rabbitmq sigkill: {} acknowledged, {} in the queue", acknowledged.len(), in_queue.len());
    delete_rabbit(&url, &name).await;
}

/// A RabbitMQ node of this test's own (Debian's `rabbitmq-server`, run directly, not
/// through the wrapper that switches to the `rabbitmq` user): its own node name, free AMQP
/// and distribution ports, its database, logs and Erlang cookie in a temporary directory,
/// no plugins. It can be killed and started again without touching the machine's node.
struct OwnRabbit {
    child: Child,
    node: String,
    port: u16,
    dist_port: u16,
    dir: std::path::PathBuf,
}

impl OwnRabbit {
    /// How long a boot may take: 15-30 s on two cores shared with builds.
    const BOOT: Duration = Duration::from_secs(180);

    fn server() -> String {
        std::env::var("WEBHOOK_TEST_RABBITMQ_SERVER").unwrap_or_else(|_| "/usr/lib/rabbitmq/bin/rabbitmq-server".into())
    }

    /// Starts the node `node` (AMQP on `port`, Erlang distribution on `dist_port`) on the
    /// files in `base`.
    fn spawn(node: &str, port: u16, dist_port: u16, base: &std::path::Path) -> Child {
        use std::os::unix::process::CommandExt;
        let dir = |sub: &str| base.join(sub).display().to_string();
        Command::new(Self::server())
            .current_dir(base)
            .env("HOME", dir("home"))
            .env("RABBITMQ_CONF_ENV_FILE", "/dev/null")
            .env("RABBITMQ_CONFIG_FILE", dir("rabbitmq"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", dir("advanced.config"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir("enabled_plugins"))
            .env("RABBITMQ_NODENAME", node)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", port.to_string())
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", dir("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir("log"))
            .env("RABBITMQ_PID_FILE", dir("pid"))
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env("ERL_FLAGS", "-kernel inet_dist_use_interface {127,0,0,1}")
            // A process group of its own: the kill reaches the Erlang VM and its helpers.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} (Debian's rabbitmq-server package): {e}", Self::server()))
    }

    async fn new() -> Self {
        // Two free ports, held at once so that they differ.
        let (a, b) =
            (std::net::TcpListener::bind("127.0.0.1:0").unwrap(), std::net::TcpListener::bind("127.0.0.1:0").unwrap());
        let (port, dist_port) = (a.local_addr().unwrap().port(), b.local_addr().unwrap().port());
        drop((a, b));
        let dir = std::env::temp_dir().join(unique("webhook-rabbit"));
        std::fs::create_dir_all(dir.join("home")).unwrap();
        let node = format!("{}@localhost", unique("webhooktest"));
        let child = Self::spawn(&node, port, dist_port, &dir);
        let own = Self { child, node, port, dist_port, dir };
        own.wait_up().await;
        own
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// Until a connection opens (the AMQP listener starts once the node has booted).
    async fn wait_up(&self) {
        let (started, url) = (std::time::Instant::now(), self.url());
        while started.elapsed() < Self::BOOT {
            let connect = lapin::Connection::connect(&url, lapin::ConnectionProperties::default());
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(5), connect).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "the RabbitMQ node {} did not accept a connection within {:?} (logs in {})",
            self.node,
            Self::BOOT,
            self.dir.display()
        );
    }

    /// SIGKILL to the node's process group: the broker dies as in a crash.
    fn kill(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }

    async fn restart(&mut self) {
        self.child = Self::spawn(&self.node, self.port, self.dist_port, &self.dir);
        self.wait_up().await;
    }
}

impl Drop for OwnRabbit {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_rabbitmq_killed_under_load_nothing_unconfirmed_is_acknowledged_and_service_returns() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    const CLIENTS: usize = 4;
    let test = "with_rabbitmq_killed_under_load_nothing_unconfirmed_is_acknowledged_and_service_returns";
    if service_url("WEBHOOK_TEST_AMQP_URL", test).is_none() {
        return;
    }
    let mut rabbit = OwnRabbit::new().await;
    let url = rabbit.url();
    let vars = [("GITHUB_WEBHOOK_SECRET", SECRET), ("WEBHOOK_SINK", url.as_str()), ("WEBHOOK_SINK_NAME", "webhooks")];
    let addr = Receiver::Axum.start(&vars).await;
    // Load from 4 clients, each delivery a new id, until told to stop; a refused one is not
    // sent again (the provider's retry would be a new request; see below).
    let (sent, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
    let answers = Arc::new(Mutex::new(Vec::<(String, u16)>::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (sent, stop, answers) = (sent.clone(), stop.clone(), answers.clone());
            tokio::spawn(async move {
                // Bounded: at most 100 000 requests in all.
                while !stop.load(Ordering::SeqCst) && sent.load(Ordering::SeqCst) < 100_000 {
                    let id = format!("load-{}", sent.fetch_add(1, Ordering::SeqCst));
                    let answer = deliver(addr, &id).await;
                    answers.lock().unwrap().push((id, answer.status));
                    if answer.status != 200 {
                        // As a provider backs off.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            })
        })
        .collect();
    let acked = |answers: &Mutex<Vec<(String, u16)>>| answers.lock().unwrap().iter().filter(|(_, s)| *s == 200).count();
    let mut waited = 0;
    while acked(&answers) < 100 && waited < 3_000 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    assert!(acked(&answers) >= 100, "the receiver acknowledged {} deliveries in 30 s", acked(&answers));
    rabbit.kill();
    // Down: answered 503, never a 2xx (a publish confirmed just before the kill may still
    // be answered 200 after it: that delivery is on the broker's disk, checked below).
    for i in 0..3 {
        let answer = deliver(addr, &format!("down-{i}")).await;
        assert_eq!(answer.status, 503, "{answer:?}");
        assert!(answer.body.contains("unavailable"), "{answer:?}");
    }
    let answered_before_return = answers.lock().unwrap().len();
    rabbit.restart().await;
    // Back: the same receiver (no restart) acknowledges again once it has reconnected.
    retried_until_accepted(addr, "down-0", "RabbitMQ").await;
    let before = acked(&answers);
    for _ in 0..3_000 {
        if acked(&answers) >= before + 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    let answers = answers.lock().unwrap().clone();
    assert!(acked_after(&answers, answered_before_return) > 0, "the load was not acknowledged again after the return");
    let odd: Vec<&(String, u16)> = answers.iter().filter(|(_, s)| *s != 200 && *s != 503).collect();
    assert!(odd.is_empty(), "answers other than 200 and 503: {:?}", &odd[..odd.len().min(5)]);
    let refused = answers.iter().filter(|(_, s)| *s == 503).count();
    assert!(refused > 0, "no load request met the broker down");
    let mut acknowledged: Vec<String> = answers.iter().filter(|(_, s)| *s == 200).map(|(id, _)| id.clone()).collect();
    acknowledged.push("down-0".to_owned());
    // Every acknowledged delivery survived the broker's crash (persistent messages in a
    // durable queue, confirmed only once on disk), none is there twice.
    let in_queue = rabbit_ids(&url, "webhooks").await;
    assert_each_acknowledged_once(&acknowledged, &in_queue, "the queue");
    let sent_ids: std::collections::HashSet<&String> = answers.iter().map(|(id, _)| id).collect();
    assert!(
        in_queue.iter().all(|id| sent_ids.contains(id) || id.starts_with("down-")),
        "the queue holds a delivery nobody sent"
    );
    println!(
        "rabbitmq killed: {} acknowledged, {refused} refused, {} in the queue",
        acknowledged.len(),
        in_queue.len()
    );
}

/// The acknowledgements among `answers` after the first `from`.
fn acked_after(answers: &[(String, u16)], from: usize) -> usize {
    answers[from.min(answers.len())..].iter().filter(|(_, s)| *s == 200).count()
}
