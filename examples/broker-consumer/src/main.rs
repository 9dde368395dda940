//! `WEBHOOK_SINK=nats://127.0.0.1:4222 cargo run -p broker-consumer`: handles the
//! deliveries the receivers publish to a broker (`WEBHOOK_SINK` on the receivers too).
//!
//! Run as many as you like, on as many machines: they share the work through one durable
//! consumer (NATS) or queue (RabbitMQ). A handler that fails is retried with backoff and,
//! after the last attempt, dead-lettered; a consumer that dies mid-handling leaves its
//! message to be delivered again.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `WEBHOOK_SINK` | `nats://…` (NATS JetStream) or `amqp://…` (RabbitMQ) | required |
//! | `WEBHOOK_SINK_NAME` | the stream (upper-cased) / subject prefix, or exchange / queue | `webhooks` |
//! | `WEBHOOK_CONSUMER` | the NATS durable consumer's name | `webhook-handlers` |

use std::process::ExitCode;

use webhook_pipeline::{
    CertificateFetcher, Event, EventRouter, NatsConfig, NatsConsumer, NatsConsumerConfig, RabbitConfig, RabbitConsumer,
    RabbitConsumerConfig,
};

/// The application: here, log every event, and confirm an Amazon SNS subscription (its
/// `SubscribeURL`, an SNS host only) as the receivers' own workers do. Write handlers by
/// provider and event type with `EventRouter::on(providers::GITHUB, "push", ...)`.
fn handlers() -> EventRouter {
    let certificates = CertificateFetcher::new();
    EventRouter::new().catch_all(move |event: Event| {
        let certificates = certificates.clone();
        async move {
            receiver_common::handled::log(&event);
            receiver_common::handled::confirm_sns(&certificates, &event).await
        }
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    receiver_common::init_tracing();
    let Some(url) = std::env::var("WEBHOOK_SINK").ok().filter(|u| !u.trim().is_empty()) else {
        tracing::error!("WEBHOOK_SINK is unset: set it to nats://... or amqp://...");
        return ExitCode::from(2);
    };
    let name = std::env::var("WEBHOOK_SINK_NAME").unwrap_or_else(|_| "webhooks".to_owned());
    let stopped = if url.starts_with("amqp") {
        let config = RabbitConsumerConfig::new(RabbitConfig::named(&name));
        match RabbitConsumer::start(&url, handlers(), config).await {
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
        match NatsConsumer::start(&url, handlers(), config).await {
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
