//! The receivers publishing to a broker (`WEBHOOK_SINK`) instead of the event store: every
//! acknowledged delivery is in the broker exactly once, on all three receivers, for NATS
//! JetStream and RabbitMQ; with NATS stopped under them they answer 503 and acknowledge
//! nothing, and they recover by themselves when it returns. (A publish the client had
//! buffered may still reach the stream after its request was refused: the provider's retry
//! of it is then a duplicate there, dropped by its `Nats-Msg-Id`; never a loss, never a
//! second copy.)

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use http::Method;
use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use webhook_core::{providers, SignRequest, Verifier};
use webhook_tests::{send, service_url, Answer, Payload, Receiver};

const SECRET: &str = "broker-secret";

/// A name no other test run uses, valid as a NATS stream and a RabbitMQ queue.
fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}

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

async fn delete_nats(url: &str, name: &str) {
    if let Ok(client) = async_nats::connect(url).await {
        let js = async_nats::jetstream::new(client);
        let _ = js.delete_stream(name).await;
    }
}

async fn rabbit_count(url: &str, queue: &str) -> u32 {
    let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(queue.into(), passive, FieldTable::default()).await.unwrap().message_count()
}

async fn delete_rabbit(url: &str, name: &str) {
    if let Ok(conn) = lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await {
        if let Ok(channel) = conn.create_channel().await {
            for q in [name.to_owned(), format!("{name}.retry"), format!("{name}.dead")] {
                let _ = channel.queue_delete(q.as_str().into(), QueueDeleteOptions::default()).await;
            }
            let _ = channel.exchange_delete(name.into(), Default::default()).await;
        }
    }
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
    // delivery is accepted once the broker confirms it. Bounded: 30 s.
    let mut recovered = false;
    for _ in 0..60 {
        let answer = deliver(addr, "down-0").await;
        if answer.status == 200 {
            acknowledged.push("down-0".to_owned());
            recovered = true;
            break;
        }
        assert_eq!(answer.status, 503, "{answer:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(recovered, "the receiver did not recover within 30 s of NATS's return");
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
