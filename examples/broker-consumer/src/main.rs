//! `WEBHOOK_SINK=nats://127.0.0.1:4222 cargo run -p broker-consumer`: handles the
//! deliveries the receivers publish to a broker (`WEBHOOK_SINK` on the receivers too).
//!
//! Run as many as you like, on as many machines: they share the work through one durable
//! consumer (NATS) or queue (RabbitMQ). A handler that fails is retried with backoff and,
//! after the last attempt, dead-lettered; a consumer that dies mid-handling leaves its
//! message to be delivered again. What it does with each event is
//! `receiver_common::handled::consumer_router`: it logs the event and confirms an Amazon SNS
//! subscription; put your handlers there.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `WEBHOOK_SINK` | `nats://…` (NATS JetStream) or `amqp://…` (RabbitMQ) | required |
//! | `WEBHOOK_SINK_NAME` | the stream (upper-cased) / subject prefix, or exchange / queue | `webhooks` |
//! | `WEBHOOK_CONSUMER` | the NATS durable consumer's name | `webhook-handlers` |
//! | `WEBHOOK_CERT_TIMEOUT_SECS`, `WEBHOOK_CERT_TTL_SECS`, `WEBHOOK_CERT_FAILURE_TTL_SECS`, `WEBHOOK_CERT_MAX_FETCHES` | as on the receivers; here `WEBHOOK_CERT_TIMEOUT_SECS` bounds each Amazon SNS subscription confirmation | as on the receivers |
//! | `WEBHOOK_METRICS_ADDR` | where `GET /metrics` (Prometheus) is served: the consumer's lag and its handlers' runs; `off` for none | `127.0.0.1:9464` |

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use metrics_exporter_prometheus::PrometheusHandle;
use receiver_common::conn;
use tokio::net::TcpListener;
use webhook_core::ip::TrustedProxies;
use webhook_core::limits::ConnectionLimits;
use webhook_pipeline::{
    NatsConfig, NatsConsumer, NatsConsumerConfig, RabbitConfig, RabbitConsumer, RabbitConsumerConfig,
};

/// Where `/metrics` is served: `WEBHOOK_METRICS_ADDR`, `None` for `off`.
fn metrics_addr() -> Result<Option<SocketAddr>, String> {
    match std::env::var("WEBHOOK_METRICS_ADDR") {
        Ok(v) if v.trim().eq_ignore_ascii_case("off") => Ok(None),
        Ok(v) if !v.trim().is_empty() => {
            v.trim().parse().map(Some).map_err(|e| format!("WEBHOOK_METRICS_ADDR={v} is not an address: {e}"))
        }
        _ => Ok(Some(SocketAddr::from(([127, 0, 0, 1], 9464)))),
    }
}

/// `GET /metrics` in the Prometheus text format; 404 for anything else. Served with the
/// receivers' connection limits (header and idle timeouts), at most 64 connections.
async fn serve_metrics(listener: TcpListener, metrics: PrometheusHandle) {
    let mut limits = ConnectionLimits::default();
    limits.max_connections = 64;
    let answer = move |req: Request<Incoming>, _peer: SocketAddr| {
        let metrics = metrics.clone();
        async move {
            let response = if req.method() == Method::GET && req.uri().path() == "/metrics" {
                Response::builder()
                    .header(header::CONTENT_TYPE, receiver_common::METRICS_CONTENT_TYPE)
                    .body(Full::new(Bytes::from(metrics.render())))
            } else {
                Response::builder()
                    .status(StatusCode::NOT_FOUND)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Full::new(Bytes::from_static(receiver_common::NOT_FOUND.as_bytes())))
            };
            Ok::<_, Infallible>(response.unwrap_or_else(|_| Response::new(Full::default())))
        }
    };
    conn::serve(listener, &limits, &TrustedProxies::none(), std::future::pending(), answer).await;
}

#[tokio::main]
async fn main() -> ExitCode {
    receiver_common::init_tracing();
    // The recorder before anything records: a metric recorded earlier is lost.
    let metrics = receiver_common::metrics();
    let Some(url) = std::env::var("WEBHOOK_SINK").ok().filter(|u| !u.trim().is_empty()) else {
        tracing::error!("WEBHOOK_SINK is unset: set it to nats://... or amqp://...");
        return ExitCode::from(2);
    };
    let addr = match metrics_addr() {
        Ok(addr) => addr,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(addr) = addr {
        let listener = match TcpListener::bind(addr).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::error!("WEBHOOK_METRICS_ADDR={addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let bound = listener.local_addr().map_or_else(|_| addr.to_string(), |a| a.to_string());
        tracing::info!(addr = %bound, "serving GET /metrics");
        tokio::spawn(serve_metrics(listener, metrics.clone()));
        // Histograms are summarised over a window: keep it current.
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                metrics.run_upkeep();
            }
        });
    }
    // The receivers' `WEBHOOK_CERT_*` limits apply to the SNS confirmations too.
    let certificates = match receiver_common::config::certificate_fetcher(&|k| std::env::var(k).ok()) {
        Ok(fetcher) => fetcher,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    let name = std::env::var("WEBHOOK_SINK_NAME").unwrap_or_else(|_| "webhooks".to_owned());
    let stopped = if url.starts_with("amqp") {
        let config = RabbitConsumerConfig::new(RabbitConfig::named(&name));
        match RabbitConsumer::start(&url, receiver_common::handled::consumer_router(certificates), config).await {
            Ok(consumer) => {
                tracing::info!(queue = %name, "consuming from RabbitMQ");
                receiver_common::shutdown_signal().await;
                consumer.shutdown().await;
                Ok(())
            }
            Err(e) => Err(e),
        }
    } else {
        let stream = name.to_ascii_uppercase().replace('-', "_");
        let durable = std::env::var("WEBHOOK_CONSUMER").unwrap_or_else(|_| "webhook-handlers".to_owned());
        let config = NatsConsumerConfig::new(NatsConfig::default().named(&stream, &name)).durable(&durable);
        match NatsConsumer::start(&url, receiver_common::handled::consumer_router(certificates), config).await {
            Ok(consumer) => {
                tracing::info!(%stream, "consuming from NATS JetStream");
                receiver_common::shutdown_signal().await;
                consumer.shutdown().await;
                Ok(())
            }
            Err(e) => Err(e),
        }
    };
    match stopped {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("WEBHOOK_SINK: {e}");
            ExitCode::FAILURE
        }
    }
}
