//! The consumer binary serves `GET /metrics`: against the real NATS and RabbitMQ
//! (`WEBHOOK_TEST_NATS_URL`, `WEBHOOK_TEST_AMQP_URL`), five deliveries published before it
//! starts are handled, and a scrape shows its lag gauge and its handlers' runs.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use webhook_pipeline::testing::{publish_accepted, service_url, unique};
use webhook_pipeline::{NatsConfig, NatsSink, RabbitConfig, RabbitSink};

/// The consumer binary on `sink` / `name`, serving its metrics on `addr`; killed when dropped.
struct Consumer(Child);

impl Consumer {
    fn start(sink: &str, name: &str, addr: &str) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_broker-consumer"))
            .env_clear()
            .env("WEBHOOK_SINK", sink)
            .env("WEBHOOK_SINK_NAME", name)
            .env("WEBHOOK_METRICS_ADDR", addr)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Self(child)
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// `GET path` over HTTP/1.1: the status code and the body (`None` while nothing listens).
async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await.ok()?.ok()?;
    let answer = String::from_utf8(answer).ok()?;
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

/// Scrapes until every one of `wanted` is a line of the page (at most 30 s); the last page.
async fn scrape_until(addr: SocketAddr, wanted: &[String]) -> String {
    let mut page = String::new();
    for _ in 0..300 {
        if let Some((200, body)) = get(addr, "/metrics").await {
            page = body;
            if wanted.iter().all(|w| page.lines().any(|l| l == w)) {
                return page;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not all of {wanted:?} within 30 s; last page:\n{page}");
}

/// Five GitHub pushes published before the consumer starts; the scrape shows them handled
/// and the lag at zero, and any other path is a 404.
async fn scrape_after_handling(sink_url: &str, name: &str, label: &str) {
    let ids: Vec<String> = (0..5).map(|i| format!("{name}-{i}")).collect();
    let deliveries: Vec<(&str, &str)> = ids.iter().map(|id| (id.as_str(), "push")).collect();
    let sink: Arc<dyn webhook_core::sink::Sink> = if label == "rabbitmq" {
        Arc::new(RabbitSink::connect_with(sink_url, RabbitConfig::named(name)).await.unwrap())
    } else {
        let stream = name.to_ascii_uppercase();
        Arc::new(NatsSink::connect_with(sink_url, NatsConfig::default().named(&stream, name)).await.unwrap())
    };
    publish_accepted(sink, &deliveries).await;
    let addr = free_addr();
    let _consumer = Consumer::start(sink_url, name, &addr.to_string());
    let page = scrape_until(
        addr,
        &[
            format!("webhook_consumer_lag{{sink=\"{label}\"}} 0"),
            "webhook_handler_runs_total{provider=\"github\",event_type=\"push\",result=\"ok\"} 5".to_owned(),
        ],
    )
    .await;
    assert!(page.contains("webhook_handling_duration_seconds_count{provider=\"github\"} 5"), "{page}");
    assert!(!page.contains("result=\"error\""), "{page}");
    assert_eq!(get(addr, "/nothing").await.map(|(status, _)| status), Some(404));
    assert_eq!(get(addr, "/metricsx").await.map(|(status, _)| status), Some(404));
}

#[tokio::test]
async fn the_nats_consumer_serves_its_lag_and_handler_runs_on_metrics() {
    let Some(url) =
        service_url("WEBHOOK_TEST_NATS_URL", "the_nats_consumer_serves_its_lag_and_handler_runs_on_metrics")
    else {
        return;
    };
    let name = unique("mc");
    scrape_after_handling(&url, &name, "nats").await;
    let js = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
    for stream in [name.to_ascii_uppercase(), format!("{}_DEAD", name.to_ascii_uppercase())] {
        let _ = js.delete_stream(&stream).await;
    }
}

#[tokio::test]
async fn the_rabbitmq_consumer_serves_its_lag_and_handler_runs_on_metrics() {
    let Some(url) =
        service_url("WEBHOOK_TEST_AMQP_URL", "the_rabbitmq_consumer_serves_its_lag_and_handler_runs_on_metrics")
    else {
        return;
    };
    let name = unique("mc");
    scrape_after_handling(&url, &name, "rabbitmq").await;
    let conn = lapin::Connection::connect(&url, lapin::ConnectionProperties::default()).await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    for q in [name.clone(), format!("{name}.retry"), format!("{name}.dead")] {
        let _ = channel.queue_delete(q.as_str().into(), Default::default()).await;
    }
    let _ = channel.exchange_delete(name.as_str().into(), Default::default()).await;
}

/// An address that cannot be read stops the consumer with exit code 2, naming the variable.
#[test]
fn a_bad_metrics_address_is_refused_at_startup() {
    let out = Command::new(env!("CARGO_BIN_EXE_broker-consumer"))
        .env_clear()
        .env("WEBHOOK_SINK", "nats://127.0.0.1:1")
        .env("WEBHOOK_METRICS_ADDR", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WEBHOOK_METRICS_ADDR"), "{out:?}");
}
