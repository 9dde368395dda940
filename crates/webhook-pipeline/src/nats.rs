//! NATS JetStream as the durable queue: [`NatsSink`] publishes each verified delivery and
//! answers only once JetStream has acknowledged it; [`NatsConsumer`] runs an
//! [`EventRouter`] on the stream, with redelivery, backoff, a dead-letter stream and replay.
//!
//! ```text
//! receiver ── verify ── dedup.claim ── NatsSink ─▶ JetStream stream WEBHOOKS (file storage)
//!                                       │  subject webhooks.<provider>.<event type>
//!                                       │  Nats-Msg-Id <provider>:<delivery id> (duplicate window)
//!                                       └▶ 2xx only after the stream's publish ack
//! consumer ── pull (explicit ack) ─▶ EventRouter ─▶ ack | nak with backoff | dead ─▶ WEBHOOKS_DEAD
//! ```
//!
//! Several receivers can publish to one stream and several consumers share one durable
//! consumer: the broker is the queue. The message carries the raw verified body and the
//! delivery's metadata as headers (`Webhook-Provider`, `Webhook-Delivery-Id`,
//! `Webhook-Event-Type`, `Webhook-Timestamp`, `Webhook-Received-At`, `Webhook-Request-Id`,
//! and the provider's own id, type and timestamp headers), so consumers in any language can
//! read it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_nats::header::{HeaderName, HeaderValue};
use async_nats::jetstream::{self, consumer, stream, AckKind};
use async_nats::HeaderMap;
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use webhook_core::dedup::StoreError;
use webhook_core::sink::{Delivery, Sink, StoreFuture, Stored};

use crate::event::{from_ms, to_ms, Event, NewEvent, Status};
use crate::router::EventRouter;
use crate::worker::RetryPolicy;

/// Where and how deliveries are published. `NatsConfig::default()` names the stream
/// `WEBHOOKS` on subjects `webhooks.>`, dead letters in `WEBHOOKS_DEAD` on `webhooks-dead.>`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NatsConfig {
    /// The stream deliveries go to (created if missing, file storage).
    pub stream: String,
    /// The first subject token: deliveries are `<prefix>.<provider>.<event type>`.
    pub subject_prefix: String,
    /// The dead-letter stream (created by the consumer if missing).
    pub dead_stream: String,
    /// The dead letters' first subject token.
    pub dead_prefix: String,
    /// How long JetStream remembers a `Nats-Msg-Id` to drop copies (two receivers that
    /// accept the same delivery at once): 2 minutes by default.
    pub duplicate_window: Duration,
    /// How long a publish may wait for the stream's acknowledgement before the request is
    /// answered 503: 5 s by default.
    pub publish_timeout: Duration,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            stream: "WEBHOOKS".to_owned(),
            subject_prefix: "webhooks".to_owned(),
            dead_stream: "WEBHOOKS_DEAD".to_owned(),
            dead_prefix: "webhooks-dead".to_owned(),
            duplicate_window: Duration::from_secs(120),
            publish_timeout: Duration::from_secs(5),
        }
    }
}

impl NatsConfig {
    /// Uses stream `stream` on subjects `<prefix>.>`, and `<stream>_DEAD` on
    /// `<prefix>-dead.>` for dead letters.
    #[must_use]
    pub fn named(mut self, stream: &str, prefix: &str) -> Self {
        self.stream = stream.to_owned();
        self.subject_prefix = prefix.to_owned();
        self.dead_stream = format!("{stream}_DEAD");
        self.dead_prefix = format!("{prefix}-dead");
        self
    }

    /// The subject of a delivery: `<prefix>.<provider>.<event type>`, each token made
    /// valid (`.`, `*`, `>` and whitespace become `_`; `unknown` for no event type).
    ///
    /// ```
    /// use webhook_pipeline::NatsConfig;
    /// let c = NatsConfig::default();
    /// assert_eq!(c.subject("stripe", Some("invoice.paid")), "webhooks.stripe.invoice_paid");
    /// assert_eq!(c.subject("github", None), "webhooks.github.unknown");
    /// assert_eq!(c.subject("x", Some("a b>*")), "webhooks.x.a_b__");
    /// ```
    pub fn subject(&self, provider: &str, event_type: Option<&str>) -> String {
        format!("{}.{}.{}", self.subject_prefix, token(provider), event_type.map_or_else(|| "unknown".into(), token))
    }
}

/// A subject token: at most 128 bytes, no separators or wildcards.
fn token(text: &str) -> String {
    let t: String = text
        .chars()
        .take(128)
        .map(|c| if c == '.' || c == '*' || c == '>' || c.is_whitespace() || c.is_control() { '_' } else { c })
        .collect();
    if t.is_empty() {
        "unknown".to_owned()
    } else {
        t
    }
}

/// A NATS error as a [`StoreError`]: a bad URL or options are the configuration's fault,
/// everything else (refused, timed out, no responders, stream full) passes.
fn unavailable(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::unavailable(format!("nats: {what}: {e}"), None)
}

async fn connect_client(url: &str) -> Result<async_nats::Client, StoreError> {
    if !url.starts_with("nats://") && !url.starts_with("tls://") {
        return Err(StoreError::misconfigured(format!("`{url}` is not a nats:// URL"), None));
    }
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .name("webhook-pipeline")
        .connect(url)
        .await
        .map_err(|e| unavailable("connecting", e))
}

/// The stream `name` on `subjects`, created with file storage if missing.
async fn ensure_stream(
    js: &jetstream::Context,
    name: &str,
    subjects: String,
    duplicate_window: Duration,
) -> Result<(), StoreError> {
    js.get_or_create_stream(stream::Config {
        name: name.to_owned(),
        subjects: vec![subjects],
        storage: stream::StorageType::File,
        duplicate_window,
        ..Default::default()
    })
    .await
    .map(|_| ())
    .map_err(|e| unavailable(&format!("creating stream {name}"), e))
}

/// The metadata headers' names, parsed once.
const PROVIDER: HeaderName = HeaderName::from_static("Webhook-Provider");
const DELIVERY_ID: HeaderName = HeaderName::from_static("Webhook-Delivery-Id");
const EVENT_TYPE: HeaderName = HeaderName::from_static("Webhook-Event-Type");
const TIMESTAMP: HeaderName = HeaderName::from_static("Webhook-Timestamp");
const RECEIVED_AT: HeaderName = HeaderName::from_static("Webhook-Received-At");
const REQUEST_ID: HeaderName = HeaderName::from_static("Webhook-Request-Id");

/// The message headers for a delivery: the metadata, and the headers the event keeps.
fn headers_of(event: &NewEvent, id: String, request_id: Option<&str>, timestamp: Option<SystemTime>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(async_nats::header::NATS_MESSAGE_ID, id);
    h.insert(PROVIDER, event.provider.as_str());
    h.insert(DELIVERY_ID, event.delivery_id.as_str());
    if let Some(t) = &event.event_type {
        h.insert(EVENT_TYPE, t.as_str());
    }
    if let Some(ts) = timestamp {
        h.insert(TIMESTAMP, HeaderValue::from(to_ms(ts)));
    }
    h.insert(RECEIVED_AT, HeaderValue::from(to_ms(event.received_at)));
    if let Some(rid) = request_id {
        h.insert(REQUEST_ID, rid);
    }
    for (k, v) in &event.headers {
        h.insert(k.as_str(), v.as_str());
    }
    h
}

/// Publishes each verified delivery to a JetStream stream and acknowledges it only after
/// the stream's publish ack: a [`Sink`] beside the SQL event stores. Cheap to clone.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use webhook_core::receive::Endpoint;
/// use webhook_core::{providers, Verifier};
/// use webhook_pipeline::NatsSink;
///
/// let sink = NatsSink::connect("nats://127.0.0.1:4222").await?;
/// let endpoint = Endpoint::new(Verifier::new(providers::GITHUB, "s3cret")?).with_sink(Arc::new(sink));
/// # let _ = endpoint; Ok(()) }
/// ```
#[derive(Clone)]
pub struct NatsSink {
    js: jetstream::Context,
    config: Arc<NatsConfig>,
}

impl std::fmt::Debug for NatsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSink").field("config", &self.config).finish_non_exhaustive()
    }
}

impl NatsSink {
    /// Connects with [`NatsConfig::default`].
    ///
    /// # Errors
    ///
    /// A URL that is not `nats://` (misconfigured), or a server that cannot be reached or
    /// refuses to create the stream (unavailable).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, NatsConfig::default()).await
    }

    /// Connects, and creates the stream if it is missing. The client reconnects by itself
    /// after a lost connection; publishes meanwhile are answered 503.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_with(url: &str, config: NatsConfig) -> Result<Self, StoreError> {
        let js = jetstream::new(connect_client(url).await?);
        let subjects = format!("{}.>", config.subject_prefix);
        ensure_stream(&js, &config.stream, subjects, config.duplicate_window).await?;
        Ok(Self { js, config: Arc::new(config) })
    }

    /// Publishes `event` and waits for the stream's ack: `Stored::Existing` when
    /// JetStream dropped it as a duplicate of a message with the same `Nats-Msg-Id`.
    async fn publish(&self, event: NewEvent, headers: HeaderMap) -> Result<Stored, StoreError> {
        let started = std::time::Instant::now();
        let subject = self.config.subject(&event.provider, event.event_type.as_deref());
        let publish = async {
            let ack = self
                .js
                .publish_with_headers(subject, headers, event.body.clone())
                .await
                .map_err(|e| unavailable("publishing", e))?;
            ack.await.map_err(|e| unavailable("waiting for the stream's ack", e))
        };
        let result = match tokio::time::timeout(self.config.publish_timeout, publish).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::unavailable(
                format!("nats: no publish ack within {} ms", self.config.publish_timeout.as_millis()),
                None,
            )),
        };
        metrics::histogram!("webhook_publish_duration_seconds", "sink" => "nats")
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(ack) => Ok(if ack.duplicate { Stored::Existing } else { Stored::New }),
            Err(e) => {
                metrics::counter!("webhook_publish_failures_total", "sink" => "nats").increment(1);
                Err(e)
            }
        }
    }
}

impl Sink for NatsSink {
    fn store(&self, delivery: Delivery<'_>) -> StoreFuture {
        let event = NewEvent::from_delivery(&delivery);
        let mut request_id = None;
        delivery.headers().for_each_value("x-request-id", &mut |v| {
            if request_id.is_none() {
                request_id = std::str::from_utf8(v).ok().filter(|id| id.len() <= 128);
            }
        });
        let id = format!("{}:{}", event.provider, event.delivery_id);
        let headers = headers_of(&event, id, request_id, delivery.verified().timestamp());
        let this = self.clone();
        Box::pin(async move { this.publish(event, headers).await })
    }
}

/// How a [`NatsConsumer`] consumes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NatsConsumerConfig {
    /// The streams and subjects (shared with the sink).
    pub nats: NatsConfig,
    /// The durable consumer's name: consumers of one name share the work.
    pub durable: String,
    /// How long a message may be handled before JetStream delivers it again (the lease).
    pub ack_wait: Duration,
    /// Retries and the dead letter: an event is dead after `max_attempts` deliveries, or at
    /// once for a permanent error.
    pub retry: RetryPolicy,
}

impl Default for NatsConsumerConfig {
    fn default() -> Self {
        Self {
            nats: NatsConfig::default(),
            durable: "webhook-handlers".to_owned(),
            ack_wait: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }
}

impl NatsConsumerConfig {
    /// Consumes the streams of `nats`, otherwise the defaults.
    pub fn new(nats: NatsConfig) -> Self {
        Self { nats, ..Self::default() }
    }

    /// The durable consumer's name (consumers of one name share the work).
    #[must_use]
    pub fn durable(mut self, name: &str) -> Self {
        self.durable = name.to_owned();
        self
    }

    /// How long a message may be handled before it is delivered again.
    #[must_use]
    pub fn ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait;
        self
    }

    /// Retries and the dead letter.
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}

/// Runs an [`EventRouter`] on the stream a [`NatsSink`] publishes to: a durable pull
/// consumer with explicit acks. A handled event is acked; a failed one is redelivered
/// after the retry policy's backoff (`NAK` with a delay), and after the last attempt, or a
/// permanent error, published to the dead-letter stream and then terminated there, so it
/// is never lost. [`NatsConsumer::replay_dead`] brings dead letters back.
///
/// Handlers here run outside a SQL store: a handler that returns [`Effects`](crate::Effects)
/// is dead-lettered with a reason (effects commit only with a SQL event store).
pub struct NatsConsumer {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for NatsConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsConsumer").finish_non_exhaustive()
    }
}

impl NatsConsumer {
    /// Connects, makes sure both streams and the durable consumer exist, and starts
    /// consuming on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// As [`NatsSink::connect`].
    pub async fn start(url: &str, router: EventRouter, config: NatsConsumerConfig) -> Result<Self, StoreError> {
        let js = jetstream::new(connect_client(url).await?);
        let n = &config.nats;
        ensure_stream(&js, &n.stream, format!("{}.>", n.subject_prefix), n.duplicate_window).await?;
        ensure_stream(&js, &n.dead_stream, format!("{}.>", n.dead_prefix), n.duplicate_window).await?;
        let stream = js.get_stream(&n.stream).await.map_err(|e| unavailable("reading the stream", e))?;
        let consumer = stream
            .get_or_create_consumer(
                &config.durable,
                consumer::pull::Config {
                    durable_name: Some(config.durable.clone()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: config.ack_wait,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| unavailable("creating the consumer", e))?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(consume(js, consumer, router, config, stopped));
        Ok(Self { stop, task })
    }

    /// Stops after the message in hand is settled.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Publishes the dead letters of `provider` (every provider when `None`) back to the
    /// stream, to be handled again, and removes them from the dead-letter stream. Returns
    /// how many. Each replay gets a `Nats-Msg-Id` of its own, so the duplicate window does
    /// not drop it.
    ///
    /// # Errors
    ///
    /// The server cannot be reached, or a republish was not acknowledged (the dead letter
    /// is then kept).
    pub async fn replay_dead(url: &str, config: &NatsConfig, provider: Option<&str>) -> Result<u64, StoreError> {
        let js = jetstream::new(connect_client(url).await?);
        let filter = format!("{}.{}.>", config.dead_prefix, provider.map_or_else(|| "*".to_owned(), token));
        let dead = js.get_stream(&config.dead_stream).await.map_err(|e| unavailable("reading the dead letters", e))?;
        let reader = dead
            .create_consumer(consumer::pull::Config {
                filter_subject: filter,
                ack_policy: consumer::AckPolicy::Explicit,
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable("reading the dead letters", e))?;
        let mut replayed = 0;
        loop {
            let mut batch = reader
                .fetch()
                .max_messages(256)
                .expires(Duration::from_millis(500))
                .messages()
                .await
                .map_err(|e| unavailable("reading the dead letters", e))?;
            let mut got = 0;
            while let Some(message) = batch.next().await {
                let message = message.map_err(|e| unavailable("reading the dead letters", e))?;
                got += 1;
                let info = message.info().map_err(|e| unavailable("reading a dead letter", e))?;
                let sequence = info.stream_sequence;
                let mut headers = message.headers.clone().unwrap_or_default();
                let provider = header(&headers, "Webhook-Provider").unwrap_or_default();
                let event_type = header(&headers, "Webhook-Event-Type");
                let id = header(&headers, "Webhook-Delivery-Id").unwrap_or_default();
                headers
                    .insert(async_nats::header::NATS_MESSAGE_ID, format!("{provider}:{id}:replay:{sequence}").as_str());
                let subject = config.subject(&provider, event_type.as_deref());
                js.publish_with_headers(subject, headers, message.payload.clone())
                    .await
                    .map_err(|e| unavailable("replaying", e))?
                    .await
                    .map_err(|e| unavailable("replaying", e))?;
                dead.delete_message(sequence).await.map_err(|e| unavailable("removing a replayed dead letter", e))?;
                replayed += 1;
            }
            if got == 0 {
                return Ok(replayed);
            }
        }
    }
}

#[cfg(any(test, feature = "testing"))]
#[async_trait::async_trait]
impl crate::testing::BrokerConsumer for NatsConsumer {
    async fn shutdown(self: Box<Self>) {
        NatsConsumer::shutdown(*self).await;
    }

    fn kill(self: Box<Self>) {
        self.task.abort();
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|v| v.as_str().to_owned())
}

/// The stored-event view of a message, for the router and its handlers.
fn event_of(message: &jetstream::Message, sequence: u64, attempts: u32) -> Event {
    let headers = message.headers.clone().unwrap_or_default();
    let kept: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| {
            let k: &str = k.as_ref();
            !k.eq_ignore_ascii_case("Nats-Msg-Id") && !k.starts_with("Webhook-")
        })
        .filter_map(|(k, v)| v.first().map(|v| (k.to_string(), v.as_str().to_owned())))
        .collect();
    let received = header(&headers, "Webhook-Received-At").and_then(|t| t.parse::<i64>().ok());
    Event {
        id: i64::try_from(sequence).unwrap_or(i64::MAX),
        provider: header(&headers, "Webhook-Provider").unwrap_or_default(),
        delivery_id: header(&headers, "Webhook-Delivery-Id").unwrap_or_default(),
        event_type: header(&headers, "Webhook-Event-Type"),
        headers: kept,
        body: message.payload.clone(),
        received_at: received.map_or(SystemTime::UNIX_EPOCH, from_ms),
        status: Status::Processing,
        attempts,
        last_error: None,
        next_attempt_at: SystemTime::now(),
    }
}

async fn consume(
    js: jetstream::Context,
    consumer: consumer::Consumer<consumer::pull::Config>,
    router: EventRouter,
    config: NatsConsumerConfig,
    mut stopped: watch::Receiver<bool>,
) {
    let mut messages = match consumer.messages().await {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "nats consumer: cannot start pulling");
            return;
        }
    };
    loop {
        let next = tokio::select! {
            next = messages.next() => next,
            _ = stopped.changed() => return,
        };
        let message = match next {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                // Reconnects are the client's; a pull error is logged and the loop goes on.
                tracing::warn!(error = %e, "nats consumer: pull failed");
                continue;
            }
            None => return,
        };
        settle(&js, &router, &config, message).await;
    }
}

/// Handles one message and settles it: ack, nak with a delay, or dead letter then term.
async fn settle(
    js: &jetstream::Context,
    router: &EventRouter,
    config: &NatsConsumerConfig,
    message: jetstream::Message,
) {
    let Ok(info) = message.info() else {
        tracing::warn!("nats consumer: a message without JetStream metadata; terminated");
        let _ = message.ack_with(AckKind::Term).await;
        return;
    };
    let (sequence, delivered, pending) = (info.stream_sequence, info.delivered, info.pending);
    metrics::gauge!("webhook_consumer_lag", "sink" => "nats").set(pending as f64);
    let attempts = u32::try_from(delivered).unwrap_or(u32::MAX);
    let event = event_of(&message, sequence, attempts);
    let started = std::time::Instant::now();
    let outcome = router.dispatch(&event).await.on_a_broker();
    let label = match &outcome {
        Ok(()) => "ok",
        Err((_, permanent)) if *permanent || attempts >= config.retry.max_attempts => "dead",
        Err(_) => "error",
    };
    crate::router::record_run(&event, label, started.elapsed());
    let result = match outcome {
        Ok(()) => message.ack().await,
        Err((error, permanent)) if permanent || attempts >= config.retry.max_attempts => {
            match dead_letter(js, &config.nats, &message, &event, &error).await {
                Ok(()) => message.ack_with(AckKind::Term).await,
                Err(e) => {
                    // Not held by the dead-letter stream: leave it to be delivered again.
                    tracing::warn!(error = %e, "nats consumer: dead letter not stored; redelivering");
                    message.ack_with(AckKind::Nak(Some(config.retry.delay(attempts)))).await
                }
            }
        }
        Err((error, _)) => {
            tracing::debug!(provider = %event.provider, id = %event.delivery_id, attempts, %error, "handler failed");
            message.ack_with(AckKind::Nak(Some(config.retry.delay(attempts)))).await
        }
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "nats consumer: settling a message failed; it will be delivered again");
    }
}

async fn dead_letter(
    js: &jetstream::Context,
    config: &NatsConfig,
    message: &jetstream::Message,
    event: &Event,
    error: &str,
) -> Result<(), StoreError> {
    let mut headers = message.headers.clone().unwrap_or_default();
    headers.insert("Webhook-Error", error.chars().take(1024).collect::<String>().as_str());
    headers.insert("Webhook-Attempts", event.attempts.to_string().as_str());
    let msg_id = format!("{}:{}:dead:{}", event.provider, event.delivery_id, event.id);
    headers.insert(async_nats::header::NATS_MESSAGE_ID, msg_id.as_str());
    let subject = format!(
        "{}.{}.{}",
        config.dead_prefix,
        token(&event.provider),
        event.event_type.as_deref().map_or_else(|| "unknown".to_owned(), token)
    );
    js.publish_with_headers(subject, headers, message.payload.clone())
        .await
        .map_err(|e| unavailable("dead-lettering", e))?
        .await
        .map_err(|e| unavailable("dead-lettering", e))?;
    tracing::warn!(provider = %event.provider, id = %event.delivery_id, %error, "event dead-lettered");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        broker_consumer_retries_dead_letters_and_replays, broker_consumer_survives_a_crash, BrokerConsumer,
        BrokerFixture,
    };
    use webhook_core::receive::{Endpoint, Outcome};
    use webhook_core::{providers, SignRequest, Verifier, WebhookRequest};

    /// The NATS server to test against (`WEBHOOK_TEST_NATS_URL`): a test without one fails
    /// under CI and reports its skip elsewhere ([`service_url`](crate::testing::service_url)).
    fn nats(test: &str) -> Option<String> {
        crate::testing::service_url("WEBHOOK_TEST_NATS_URL", test)
    }

    /// A stream of its own per test, removed at the end.
    fn config() -> NatsConfig {
        let name = crate::testing::unique("T").replace(['-', '.'], "_").to_ascii_uppercase();
        NatsConfig::default().named(&name, &name.to_ascii_lowercase())
    }

    async fn remove(url: &str, config: &NatsConfig) {
        if let Ok(client) = connect_client(url).await {
            let js = jetstream::new(client);
            let _ = js.delete_stream(&config.stream).await;
            let _ = js.delete_stream(&config.dead_stream).await;
        }
    }

    async fn messages(url: &str, config: &NatsConfig) -> Vec<jetstream::Message> {
        let js = jetstream::new(connect_client(url).await.unwrap());
        let stream = js.get_stream(&config.stream).await.unwrap();
        let reader = stream
            .create_consumer(consumer::pull::Config { ack_policy: consumer::AckPolicy::None, ..Default::default() })
            .await
            .unwrap();
        let mut out = Vec::new();
        let mut batch = reader.fetch().max_messages(1000).expires(Duration::from_millis(500)).messages().await.unwrap();
        while let Some(m) = batch.next().await {
            out.push(m.unwrap());
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_acknowledged_delivery_is_in_the_stream_once_with_its_metadata_even_from_64_copies() {
        let Some(url) = nats("an_acknowledged_delivery_is_in_the_stream_once_with_its_metadata_even_from_64_copies")
        else {
            return;
        };
        let config = config();
        let sink = NatsSink::connect_with(&url, config.clone()).await.expect("NATS with JetStream on 127.0.0.1:4222");
        let github = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let endpoint = Endpoint::new(github.clone()).with_sink(Arc::new(sink));
        let now = SystemTime::now();
        let body = br#"{"zen":"nats"}"#;
        let signed = github.sign(&SignRequest::new(body, now).id("d-1").event_type("push")).unwrap();
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (endpoint, signed) = (endpoint.clone(), signed.clone());
                tokio::spawn(async move {
                    endpoint.receive(&WebhookRequest::new(&signed, &body[..]), now).await.label().to_owned()
                })
            })
            .collect();
        let mut accepted = 0;
        for t in tasks {
            match t.await.unwrap().as_str() {
                "accepted" => accepted += 1,
                "duplicate" | "in_flight" => {}
                other => panic!("unexpected answer {other}"),
            }
        }
        assert_eq!(accepted, 1);
        // A second receiver (its own dedup, its own connection) accepting the same delivery:
        // JetStream's duplicate window drops the copy and it is answered "duplicate".
        let other = Endpoint::new(github.clone())
            .with_sink(Arc::new(NatsSink::connect_with(&url, config.clone()).await.unwrap()));
        let again = other.receive(&WebhookRequest::new(&signed, &body[..]), now).await;
        assert_eq!(again.label(), "duplicate");
        let got = messages(&url, &config).await;
        assert_eq!(got.len(), 1, "exactly once in the stream");
        let m = &got[0];
        assert_eq!(m.subject.as_str(), format!("{}.github.push", config.subject_prefix));
        assert_eq!(m.payload.as_ref(), body);
        let h = m.headers.clone().unwrap();
        assert_eq!(h.get(async_nats::header::NATS_MESSAGE_ID).map(|v| v.as_str()), Some("github:d-1"));
        assert_eq!(header(&h, "Webhook-Provider").as_deref(), Some("github"));
        assert_eq!(header(&h, "Webhook-Delivery-Id").as_deref(), Some("d-1"));
        assert_eq!(header(&h, "Webhook-Event-Type").as_deref(), Some("push"));
        assert_eq!(header(&h, "Webhook-Received-At"), Some(to_ms(now).to_string()));
        assert_eq!(header(&h, "X-GitHub-Event").as_deref(), Some("push"));
        assert!(header(&h, "X-Hub-Signature-256").is_none(), "the signature is never forwarded");
        remove(&url, &config).await;
    }

    #[tokio::test]
    async fn an_unreachable_broker_is_unavailable_and_a_bad_url_misconfigured() {
        let e = NatsSink::connect("nats://127.0.0.1:1").await.unwrap_err();
        assert!(e.is_unavailable(), "{e}");
        let e = NatsSink::connect("http://127.0.0.1:4222").await.unwrap_err();
        assert!(e.is_misconfigured(), "{e}");
    }

    #[tokio::test]
    async fn a_publish_that_is_not_acknowledged_is_answered_503_and_the_claim_released() {
        let Some(url) = nats("a_publish_that_is_not_acknowledged_is_answered_503_and_the_claim_released") else {
            return;
        };
        // A sink whose stream was deleted under it: JetStream has no responder for the
        // subject, the publish fails, nothing is acknowledged.
        let config = config();
        let sink = NatsSink::connect_with(&url, config.clone()).await.unwrap();
        remove(&url, &config).await;
        let github = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let endpoint = Endpoint::new(github.clone()).with_sink(Arc::new(sink.clone()));
        let now = SystemTime::now();
        let signed = github.sign(&SignRequest::new(b"{}", now).id("d-503").event_type("push")).unwrap();
        let down = endpoint.receive(&WebhookRequest::new(&signed, &b"{}"[..]), now).await;
        assert_eq!((down.status().as_u16(), down.label()), (503, "unavailable"));
        // The stream back: the provider's retry is accepted (the claim was released).
        let js = jetstream::new(connect_client(&url).await.unwrap());
        ensure_stream(&js, &config.stream, format!("{}.>", config.subject_prefix), config.duplicate_window)
            .await
            .unwrap();
        let retry = endpoint.receive(&WebhookRequest::new(&signed, &b"{}"[..]), now).await;
        assert!(matches!(retry, Outcome::Accepted(_)), "{}", retry.label());
        remove(&url, &config).await;
    }

    /// The conformance suite's view of NATS: a stream of its own, one durable consumer.
    struct Fixture {
        url: String,
        config: NatsConfig,
    }

    #[async_trait::async_trait]
    impl BrokerFixture for Fixture {
        async fn sink(&self) -> Arc<dyn Sink> {
            Arc::new(NatsSink::connect_with(&self.url, self.config.clone()).await.expect("NATS with JetStream"))
        }

        async fn start(
            &self,
            router: EventRouter,
            retry: RetryPolicy,
            redeliver_after: Duration,
        ) -> Box<dyn BrokerConsumer> {
            let config = NatsConsumerConfig::new(self.config.clone())
                .durable("conformance")
                .ack_wait(redeliver_after)
                .retry(retry);
            Box::new(NatsConsumer::start(&self.url, router, config).await.expect("a consumer"))
        }

        async fn replay_dead(&self, provider: Option<&str>) -> u64 {
            NatsConsumer::replay_dead(&self.url, &self.config, provider).await.expect("replay")
        }

        async fn dead_letters(&self) -> u64 {
            let js = jetstream::new(connect_client(&self.url).await.expect("NATS"));
            let mut dead = js.get_stream(&self.config.dead_stream).await.expect("the dead-letter stream");
            dead.info().await.expect("its state").state.messages
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_event_held_by_a_consumer_that_dies_is_delivered_again_and_handled() {
        let Some(url) = nats("an_event_held_by_a_consumer_that_dies_is_delivered_again_and_handled") else {
            return;
        };
        let fixture = Fixture { url, config: config() };
        let event = broker_consumer_survives_a_crash(&fixture).await;
        assert_eq!(event.attempts, 2, "JetStream counts the delivery to the consumer that died");
        remove(&fixture.url, &fixture.config).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_consumer_handles_retries_dead_letters_and_replays() {
        let Some(url) = nats("the_consumer_handles_retries_dead_letters_and_replays") else {
            return;
        };
        let fixture = Fixture { url, config: config() };
        broker_consumer_retries_dead_letters_and_replays(&fixture).await;
        remove(&fixture.url, &fixture.config).await;
    }
}
