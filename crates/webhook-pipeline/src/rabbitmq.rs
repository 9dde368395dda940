//! RabbitMQ as the durable queue: [`RabbitSink`] publishes each verified delivery as a
//! persistent message with publisher confirms and answers only once the broker confirmed
//! that a queue holds it; [`RabbitConsumer`] runs an [`EventRouter`] on that queue with
//! manual acks, delayed retries, a dead-letter queue and replay.
//!
//! ```text
//! receiver ── verify ── dedup.claim ── RabbitSink ─▶ topic exchange `webhooks`
//!                                         │  routing key <provider>.<event type>, mandatory
//!                                         │  message_id <provider>:<delivery id>, persistent
//!                                         └▶ 2xx only after the confirm (a returned message is a 503)
//!   `webhooks` queue (bound with `#`) ─▶ consumer ─▶ EventRouter ─▶ ack
//!                                                        │ failed: `webhooks.retry` (per-message TTL,
//!                                                        │         dead-lettered back to the exchange)
//!                                                        └ last attempt or permanent: `webhooks.dead`
//! ```
//!
//! RabbitMQ drops no duplicates itself: receivers that share a dedup store (Redis,
//! PostgreSQL) publish each delivery once; the `message_id` lets a consumer in another
//! language deduplicate too.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::RwLock;
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;
use webhook_core::dedup::StoreError;
use webhook_core::sink::{Delivery, Sink, StoreFuture, Stored};

use crate::event::{from_ms, to_ms, Event, NewEvent, Status};
use crate::router::EventRouter;
use crate::worker::RetryPolicy;

/// The exchange and queues. `RabbitConfig::default()`: exchange `webhooks`, queues
/// `webhooks`, `webhooks.retry` and `webhooks.dead`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RabbitConfig {
    /// The durable topic exchange deliveries are published to (declared if missing).
    pub exchange: String,
    /// The durable queue bound to the exchange with `#`, which the consumers read.
    pub queue: String,
    /// Where a failed event waits for its next attempt (a per-message TTL, then
    /// dead-lettered back to the exchange).
    pub retry_queue: String,
    /// Where dead events are kept until replayed.
    pub dead_queue: String,
    /// How long a publish may wait for the broker's confirm before the request is answered
    /// 503: 5 s by default. It bounds the whole publish, a reconnection included.
    pub publish_timeout: Duration,
    /// Channels the sink publishes on, each in confirm mode, over one connection, taken in
    /// turn: 1 by default. Every request waits for the confirm of its own message only,
    /// whichever the count. RabbitMQ runs each channel as one process: more channels let
    /// a broker with cores to spare route and confirm in parallel, but on a two-core host
    /// shared with the receiver they cost the broker more CPU per delivery (measured:
    /// docs/guides/brokers.md).
    pub channels: usize,
}

impl Default for RabbitConfig {
    fn default() -> Self {
        Self::named("webhooks")
    }
}

impl RabbitConfig {
    /// Exchange and queue `name`, with `name.retry` and `name.dead`.
    pub fn named(name: &str) -> Self {
        Self {
            exchange: name.to_owned(),
            queue: name.to_owned(),
            retry_queue: format!("{name}.retry"),
            dead_queue: format!("{name}.dead"),
            publish_timeout: Duration::from_secs(5),
            channels: 1,
        }
    }

    /// The sink publishes on `channels` channels (at least 1).
    #[must_use]
    pub fn channels(mut self, channels: usize) -> Self {
        self.channels = channels.max(1);
        self
    }

    /// The routing key of a delivery: `<provider>.<event type>`, each part without dots or
    /// wildcards (`unknown` for no event type).
    ///
    /// ```
    /// use webhook_pipeline::RabbitConfig;
    /// assert_eq!(RabbitConfig::default().routing_key("stripe", Some("invoice.paid")), "stripe.invoice_paid");
    /// assert_eq!(RabbitConfig::default().routing_key("github", None), "github.unknown");
    /// ```
    pub fn routing_key(&self, provider: &str, event_type: Option<&str>) -> String {
        let mut key = String::with_capacity(provider.len() + 1 + event_type.map_or(7, str::len));
        push_word(&mut key, provider);
        key.push('.');
        push_word(&mut key, event_type.unwrap_or(""));
        key
    }
}

/// Appends a routing-key word: at most 100 characters, no `.`, `*`, `#` or whitespace;
/// `unknown` for an empty text.
fn push_word(out: &mut String, text: &str) {
    let start = out.len();
    for c in text.chars().take(100) {
        out.push(if matches!(c, '.' | '*' | '#') || c.is_whitespace() || c.is_control() { '_' } else { c });
    }
    if out.len() == start {
        out.push_str("unknown");
    }
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::unavailable(format!("rabbitmq: {what}: {e}"), None)
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(value.as_bytes().to_vec().into())
}

fn header(props: &BasicProperties, name: &str) -> Option<String> {
    let value = props.headers().as_ref()?.inner().get(name)?.clone();
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        AMQPValue::LongLongInt(n) => Some(n.to_string()),
        AMQPValue::LongInt(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A connection and a channel in confirm mode, with the exchange and queues declared.
async fn open(url: &str, config: &RabbitConfig) -> Result<(Connection, Channel), StoreError> {
    if !url.starts_with("amqp://") && !url.starts_with("amqps://") {
        return Err(StoreError::misconfigured(format!("`{url}` is not an amqp:// URL"), None));
    }
    let connect = Connection::connect(url, ConnectionProperties::default());
    let conn = tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .map_err(|_| StoreError::unavailable("rabbitmq: connecting: no answer within 5 s", None))?
        .map_err(|e| unavailable("connecting", e))?;
    let channel = conn.create_channel().await.map_err(|e| unavailable("opening a channel", e))?;
    channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(|e| unavailable("confirm mode", e))?;
    let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    channel
        .exchange_declare(
            config.exchange.as_str().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() },
            FieldTable::default(),
        )
        .await
        .map_err(|e| unavailable("declaring the exchange", e))?;
    channel
        .queue_declare(config.queue.as_str().into(), durable, FieldTable::default())
        .await
        .map_err(|e| unavailable("declaring the queue", e))?;
    channel
        .queue_bind(
            config.queue.as_str().into(),
            config.exchange.as_str().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| unavailable("binding the queue", e))?;
    let mut retry_args = FieldTable::default();
    retry_args.insert("x-dead-letter-exchange".into(), text(&config.exchange));
    channel
        .queue_declare(config.retry_queue.as_str().into(), durable, retry_args)
        .await
        .map_err(|e| unavailable("declaring the retry queue", e))?;
    channel
        .queue_declare(config.dead_queue.as_str().into(), durable, FieldTable::default())
        .await
        .map_err(|e| unavailable("declaring the dead-letter queue", e))?;
    Ok((conn, channel))
}

/// Publishes `body` and waits for the broker's confirm; a message returned as unroutable
/// or nacked is an error: no queue holds it.
async fn publish(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
    within: Duration,
) -> Result<(), StoreError> {
    let confirmed = async {
        let confirm = channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() },
                body,
                properties,
            )
            .await
            .map_err(|e| unavailable("publishing", e))?;
        confirm.await.map_err(|e| unavailable("waiting for the confirm", e))
    };
    let confirmation = tokio::time::timeout(within, confirmed).await.map_err(|_| {
        StoreError::unavailable(format!("rabbitmq: no confirm within {} ms", within.as_millis()), None)
    })??;
    if !confirmation.is_ack() {
        return Err(StoreError::unavailable("rabbitmq: the broker refused the message (nack)", None));
    }
    if confirmation.take_message().is_some() {
        return Err(StoreError::unavailable(format!("rabbitmq: no queue is bound for `{routing_key}`"), None));
    }
    Ok(())
}

/// The message properties of a delivery: persistent, `message_id` `<provider>:<delivery
/// id>`, the metadata and the kept headers as AMQP headers.
fn properties_of(event: &NewEvent, request_id: Option<&str>, timestamp: Option<SystemTime>) -> BasicProperties {
    let mut h = FieldTable::default();
    h.insert("Webhook-Provider".into(), text(&event.provider));
    h.insert("Webhook-Delivery-Id".into(), text(&event.delivery_id));
    if let Some(t) = &event.event_type {
        h.insert("Webhook-Event-Type".into(), text(t));
    }
    if let Some(ts) = timestamp {
        h.insert("Webhook-Timestamp".into(), AMQPValue::LongLongInt(to_ms(ts)));
    }
    h.insert("Webhook-Received-At".into(), AMQPValue::LongLongInt(to_ms(event.received_at)));
    if let Some(rid) = request_id {
        h.insert("Webhook-Request-Id".into(), text(rid));
    }
    for (k, v) in &event.headers {
        h.insert(ShortString::from(k.as_str()), text(v));
    }
    BasicProperties::default()
        .with_message_id(format!("{}:{}", event.provider, event.delivery_id).into())
        .with_delivery_mode(2)
        .with_headers(h)
}

/// Publishes each verified delivery to a RabbitMQ topic exchange with publisher confirms,
/// and acknowledges it only once the broker confirmed a queue holds it: a [`Sink`] beside
/// the SQL event stores. After a lost connection the next publish reconnects; publishes
/// meanwhile are answered 503. Cheap to clone.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use webhook_core::receive::Endpoint;
/// use webhook_core::{providers, Verifier};
/// use webhook_pipeline::RabbitSink;
///
/// let sink = RabbitSink::connect("amqp://guest:guest@127.0.0.1:5672/%2f").await?;
/// let endpoint = Endpoint::new(Verifier::new(providers::STRIPE, "whsec_...")?).with_sink(Arc::new(sink));
/// # let _ = endpoint; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RabbitSink {
    url: Arc<str>,
    config: Arc<RabbitConfig>,
    /// The open connection and its channels; `None` once a publish failed, until the next
    /// one reconnects. Read on every publish, written only to (re)connect.
    current: Arc<RwLock<Option<Arc<Pool>>>>,
    /// One reconnection at a time.
    reconnecting: Arc<Mutex<()>>,
}

/// A connection and its channels in confirm mode, used in turn.
struct Pool {
    conn: Connection,
    channels: Vec<Channel>,
    next: AtomicUsize,
}

impl Pool {
    /// The connection and `config.channels` channels in confirm mode, the exchange and
    /// queues declared.
    async fn open(url: &str, config: &RabbitConfig) -> Result<Self, StoreError> {
        let (conn, first) = open(url, config).await?;
        let mut channels = Vec::with_capacity(config.channels.max(1));
        channels.push(first);
        while channels.len() < config.channels {
            let channel = conn.create_channel().await.map_err(|e| unavailable("opening a channel", e))?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(|e| unavailable("confirm mode", e))?;
            channels.push(channel);
        }
        Ok(Self { conn, channels, next: AtomicUsize::new(0) })
    }

    /// The next open channel in turn; `None` when the connection or every channel is
    /// closed.
    fn channel(&self) -> Option<&Channel> {
        if !self.conn.status().connected() {
            return None;
        }
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        (0..self.channels.len())
            .map(|i| &self.channels[first.wrapping_add(i) % self.channels.len()])
            .find(|c| c.status().connected())
    }
}

impl std::fmt::Debug for RabbitSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitSink").field("config", &self.config).finish_non_exhaustive()
    }
}

impl RabbitSink {
    /// Connects with [`RabbitConfig::default`].
    ///
    /// # Errors
    ///
    /// A URL that is not `amqp://` (misconfigured), or a broker that cannot be reached or
    /// refuses the declarations (unavailable).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, RabbitConfig::default()).await
    }

    /// Connects, opens [`RabbitConfig::channels`] channels in confirm mode, and declares
    /// the exchange and the queues if they are missing.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_with(url: &str, config: RabbitConfig) -> Result<Self, StoreError> {
        let pool = Pool::open(url, &config).await?;
        Ok(Self {
            url: url.into(),
            config: Arc::new(config),
            current: Arc::new(RwLock::new(Some(Arc::new(pool)))),
            reconnecting: Arc::new(Mutex::new(())),
        })
    }

    fn current(&self) -> Option<Arc<Pool>> {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The pool and one of its channels, reconnecting first when the connection was lost
    /// or a publish failed.
    async fn channel(&self) -> Result<(Arc<Pool>, Channel), StoreError> {
        let usable = |pool: Option<Arc<Pool>>| {
            pool.and_then(|pool| {
                let channel = pool.channel()?.clone();
                Some((pool, channel))
            })
        };
        if let Some(found) = usable(self.current()) {
            return Ok(found);
        }
        let _one = self.reconnecting.lock().await;
        // Another publish may have reconnected while this one waited.
        if let Some(found) = usable(self.current()) {
            return Ok(found);
        }
        let pool = Arc::new(Pool::open(&self.url, &self.config).await?);
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(pool.clone());
        tracing::info!("rabbitmq: reconnected");
        usable(Some(pool)).ok_or_else(|| StoreError::unavailable("rabbitmq: the new connection closed at once", None))
    }

    /// After a failed publish on `pool`: the next publish opens a fresh connection (and
    /// declares the exchange and queues again), unless another one already did.
    fn forget(&self, pool: &Arc<Pool>) {
        let mut current = self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, pool)) {
            *current = None;
        }
    }

    /// Publishes on one of the channels and waits for that message's confirm, all within
    /// the publish timeout (a reconnection included).
    async fn publish(&self, key: &str, body: &[u8], properties: BasicProperties) -> Result<(), StoreError> {
        let within = self.config.publish_timeout;
        let mut used = None;
        let attempt = async {
            let (pool, channel) = self.channel().await?;
            used = Some(pool);
            publish(&channel, &self.config.exchange, key, body, properties, within).await
        };
        let result = tokio::time::timeout(within, attempt).await.unwrap_or_else(|_| {
            Err(StoreError::unavailable(format!("rabbitmq: no confirm within {} ms", within.as_millis()), None))
        });
        if result.is_err() {
            if let Some(pool) = &used {
                self.forget(pool);
            }
        }
        result
    }
}

impl Sink for RabbitSink {
    fn store(&self, delivery: Delivery<'_>) -> StoreFuture {
        let event = NewEvent::from_delivery(&delivery);
        let mut request_id = None;
        delivery.headers().for_each_value("x-request-id", &mut |v| {
            if request_id.is_none() {
                request_id = std::str::from_utf8(v).ok().filter(|id| id.len() <= 128);
            }
        });
        let properties = properties_of(&event, request_id, delivery.verified().timestamp());
        let key = self.config.routing_key(&event.provider, event.event_type.as_deref());
        let this = self.clone();
        Box::pin(async move {
            let started = std::time::Instant::now();
            let result = this.publish(&key, &event.body, properties).await;
            metrics::histogram!("webhook_publish_duration_seconds", "sink" => "rabbitmq")
                .record(started.elapsed().as_secs_f64());
            if result.is_err() {
                metrics::counter!("webhook_publish_failures_total", "sink" => "rabbitmq").increment(1);
            }
            result.map(|()| Stored::New)
        })
    }
}

/// How a [`RabbitConsumer`] consumes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RabbitConsumerConfig {
    /// The exchange and queues (shared with the sink).
    pub rabbit: RabbitConfig,
    /// Messages a consumer holds unacknowledged at once.
    pub prefetch: u16,
    /// Retries and the dead letter: an event is dead after `max_attempts` runs, or at once
    /// for a permanent error.
    pub retry: RetryPolicy,
}

impl Default for RabbitConsumerConfig {
    fn default() -> Self {
        Self { rabbit: RabbitConfig::default(), prefetch: 16, retry: RetryPolicy::default() }
    }
}

impl RabbitConsumerConfig {
    /// Consumes the queues of `rabbit`, otherwise the defaults.
    pub fn new(rabbit: RabbitConfig) -> Self {
        Self { rabbit, ..Self::default() }
    }

    /// Messages a consumer holds unacknowledged at once (at least 1).
    #[must_use]
    pub fn prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = prefetch.max(1);
        self
    }

    /// Retries and the dead letter.
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}

/// Runs an [`EventRouter`] on the queue a [`RabbitSink`] fills, with manual acks. A handled
/// event is acked; a failed one is put in the retry queue with the policy's backoff as its
/// TTL (it comes back through the exchange), and after the last attempt, or a permanent
/// error, in the dead-letter queue; the original is acked only after that publish was
/// confirmed, so nothing is lost. A consumer that dies mid-handling leaves its messages
/// unacknowledged: RabbitMQ delivers them again. [`RabbitConsumer::replay_dead`] brings
/// dead letters back.
pub struct RabbitConsumer {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    lag: JoinHandle<()>,
}

impl std::fmt::Debug for RabbitConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitConsumer").finish_non_exhaustive()
    }
}

impl RabbitConsumer {
    /// Connects, declares the exchange and queues, and starts consuming on the current
    /// tokio runtime.
    ///
    /// # Errors
    ///
    /// As [`RabbitSink::connect`].
    pub async fn start(url: &str, router: EventRouter, config: RabbitConsumerConfig) -> Result<Self, StoreError> {
        let (conn, channel) = open(url, &config.rabbit).await?;
        channel
            .basic_qos(config.prefetch.max(1), BasicQosOptions::default())
            .await
            .map_err(|e| unavailable("qos", e))?;
        let consumer = channel
            .basic_consume(
                config.rabbit.queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| unavailable("consuming", e))?;
        let probe = conn.create_channel().await.map_err(|e| unavailable("opening a channel", e))?;
        let (stop, mut stopped) = watch::channel(false);
        let lag = tokio::spawn(report_lag(probe, config.rabbit.queue.clone(), stopped.clone()));
        let task = tokio::spawn(async move {
            let _conn = conn;
            let mut consumer = consumer;
            loop {
                let next = tokio::select! {
                    next = consumer.next() => next,
                    _ = stopped.changed() => return,
                };
                match next {
                    Some(Ok(delivery)) => settle(&channel, &router, &config, delivery).await,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "rabbitmq consumer: the consumer failed");
                        return;
                    }
                    None => return,
                }
            }
        });
        Ok(Self { stop, task, lag })
    }

    /// Stops after the message in hand is settled.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let _ = self.lag.await;
    }

    /// Publishes the dead letters of `provider` (every provider when `None`) back to the
    /// exchange with their attempts reset, and removes them from the dead-letter queue.
    /// Returns how many. Dead letters of other providers stay where they are.
    ///
    /// # Errors
    ///
    /// The broker cannot be reached or did not confirm a republish (that dead letter is
    /// then kept).
    pub async fn replay_dead(url: &str, config: &RabbitConfig, provider: Option<&str>) -> Result<u64, StoreError> {
        let (_conn, channel) = open(url, config).await?;
        let mut replayed = 0;
        let mut kept = Vec::new();
        while let Some(message) = channel
            .basic_get(config.dead_queue.as_str().into(), BasicGetOptions::default())
            .await
            .map_err(|e| unavailable("reading the dead letters", e))?
        {
            let delivery = &message.delivery;
            let props = &delivery.properties;
            let owner = header(props, "Webhook-Provider").unwrap_or_default();
            if provider.is_some_and(|p| !p.eq_ignore_ascii_case(&owner)) {
                kept.push(delivery.delivery_tag);
                continue;
            }
            let key = config.routing_key(&owner, header(props, "Webhook-Event-Type").as_deref());
            let mut headers = props.headers().clone().unwrap_or_default();
            headers.insert("Webhook-Attempts".into(), AMQPValue::LongLongInt(0));
            let properties = props.clone().with_headers(headers);
            publish(&channel, &config.exchange, &key, &delivery.data, properties, config.publish_timeout).await?;
            delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .map_err(|e| unavailable("removing a dead letter", e))?;
            replayed += 1;
        }
        // The others go back to the dead-letter queue.
        for tag in kept {
            let _ = channel.basic_nack(tag, BasicNackOptions { requeue: true, ..BasicNackOptions::default() }).await;
        }
        Ok(replayed)
    }
}

#[cfg(any(test, feature = "testing"))]
#[async_trait::async_trait]
impl crate::testing::BrokerConsumer for RabbitConsumer {
    async fn shutdown(self: Box<Self>) {
        RabbitConsumer::shutdown(*self).await;
    }

    fn kill(self: Box<Self>) {
        self.lag.abort();
        self.task.abort();
    }
}

/// How often a consumer reads how many messages wait in its queue.
const LAG_EVERY: Duration = Duration::from_secs(1);

/// Sets `webhook_consumer_lag{sink="rabbitmq"}` every [`LAG_EVERY`] to the messages ready
/// in `queue` (waiting for a consumer: not those delivered and not yet acknowledged), read
/// with a passive declare on a channel of its own, until the consumer stops or the channel
/// fails (its connection gone: the consumer has stopped too).
async fn report_lag(channel: Channel, queue: String, mut stopped: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(LAG_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stopped.changed() => return,
        }
        match channel.queue_declare(queue.as_str().into(), passive, FieldTable::default()).await {
            Ok(q) => metrics::gauge!("webhook_consumer_lag", "sink" => "rabbitmq").set(f64::from(q.message_count())),
            Err(e) => {
                tracing::warn!(error = %e, "rabbitmq consumer: cannot read the queue's depth; lag no longer reported");
                return;
            }
        }
    }
}

/// The stored-event view of a message, for the router and its handlers.
fn event_of(delivery: &lapin::message::Delivery, attempts: u32) -> Event {
    let props = &delivery.properties;
    let kept = props
        .headers()
        .as_ref()
        .map(|h| {
            h.inner()
                .iter()
                .filter(|(k, _)| !k.as_str().starts_with("Webhook-") && !k.as_str().starts_with("x-"))
                .filter_map(|(k, v)| match v {
                    AMQPValue::LongString(s) => {
                        Some((k.as_str().to_owned(), String::from_utf8_lossy(s.as_bytes()).into_owned()))
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let received = header(props, "Webhook-Received-At").and_then(|t| t.parse::<i64>().ok());
    Event {
        id: i64::try_from(delivery.delivery_tag).unwrap_or(i64::MAX),
        provider: header(props, "Webhook-Provider").unwrap_or_default(),
        delivery_id: header(props, "Webhook-Delivery-Id").unwrap_or_default(),
        event_type: header(props, "Webhook-Event-Type"),
        headers: kept,
        body: bytes::Bytes::copy_from_slice(&delivery.data),
        received_at: received.map_or(SystemTime::UNIX_EPOCH, from_ms),
        status: Status::Processing,
        attempts,
        last_error: None,
        next_attempt_at: SystemTime::now(),
    }
}

/// Handles one message and settles it: ack, retry queue, or dead-letter queue (the
/// original acked only after the republish was confirmed; otherwise it is requeued).
async fn settle(
    channel: &Channel,
    router: &EventRouter,
    config: &RabbitConsumerConfig,
    delivery: lapin::message::Delivery,
) {
    let before = header(&delivery.properties, "Webhook-Attempts").and_then(|n| n.parse::<u32>().ok()).unwrap_or(0);
    let attempts = before.saturating_add(1);
    let event = event_of(&delivery, attempts);
    let started = std::time::Instant::now();
    let outcome = router.dispatch(&event).await.on_a_broker();
    let label = match &outcome {
        Ok(()) => "ok",
        Err((_, permanent)) if *permanent || attempts >= config.retry.max_attempts => "dead",
        Err(_) => "error",
    };
    crate::router::record_run(&event, label, started.elapsed());
    let moved = match outcome {
        Ok(()) => Ok(()),
        Err((error, permanent)) => {
            let mut headers = delivery.properties.headers().clone().unwrap_or_default();
            headers.insert("Webhook-Attempts".into(), AMQPValue::LongLongInt(i64::from(attempts)));
            headers.insert("Webhook-Error".into(), text(&error.chars().take(1024).collect::<String>()));
            let properties = delivery.properties.clone().with_headers(headers);
            let rabbit = &config.rabbit;
            if permanent || attempts >= config.retry.max_attempts {
                tracing::warn!(provider = %event.provider, id = %event.delivery_id, %error, "event dead-lettered");
                publish(channel, "", &rabbit.dead_queue, &delivery.data, properties, rabbit.publish_timeout).await
            } else {
                let delay = config.retry.delay(attempts).as_millis().max(1).to_string();
                let properties = properties.with_expiration(delay.into());
                publish(channel, "", &rabbit.retry_queue, &delivery.data, properties, rabbit.publish_timeout).await
            }
        }
    };
    let settled = match moved {
        Ok(()) => delivery.acker.ack(BasicAckOptions::default()).await,
        Err(e) => {
            tracing::warn!(error = %e, "rabbitmq consumer: could not move a failed event; requeued");
            delivery.acker.nack(BasicNackOptions { requeue: true, ..BasicNackOptions::default() }).await
        }
    };
    if let Err(e) = settled {
        tracing::warn!(error = %e, "rabbitmq consumer: settling a message failed; it will be delivered again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::HandlerError;
    use crate::testing::{
        broker_consumer_retries_dead_letters_and_replays, broker_consumer_survives_a_crash, eventually,
        publish_accepted, BrokerConsumer, BrokerFixture,
    };
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    use webhook_core::receive::Endpoint;
    use webhook_core::{providers, SignRequest, Verifier, WebhookRequest};

    /// The broker to test against (`WEBHOOK_TEST_AMQP_URL`): a test without one fails
    /// under CI and reports its skip elsewhere ([`service_url`](crate::testing::service_url)).
    fn amqp(test: &str) -> Option<String> {
        crate::testing::service_url("WEBHOOK_TEST_AMQP_URL", test)
    }

    /// An exchange and queues of their own per test.
    fn config() -> RabbitConfig {
        RabbitConfig::named(&crate::testing::unique("wt"))
    }

    async fn remove(url: &str, config: &RabbitConfig) {
        if let Ok((_conn, channel)) = open(url, config).await {
            for q in [&config.queue, &config.retry_queue, &config.dead_queue] {
                let _ = channel.queue_delete(q.as_str().into(), QueueDeleteOptions::default()).await;
            }
            let _ = channel.exchange_delete(config.exchange.as_str().into(), ExchangeDeleteOptions::default()).await;
        }
    }

    async fn count(url: &str, config: &RabbitConfig, queue: &str) -> u32 {
        let (_conn, channel) = open(url, config).await.unwrap();
        let q = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() },
                FieldTable::default(),
            )
            .await
            .unwrap();
        q.message_count()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_acknowledged_delivery_is_in_the_queue_once_persistent_with_its_metadata() {
        let Some(url) = amqp("an_acknowledged_delivery_is_in_the_queue_once_persistent_with_its_metadata") else {
            return;
        };
        let config = config();
        let sink = RabbitSink::connect_with(&url, config.clone()).await.expect("RabbitMQ on 127.0.0.1:5672");
        let stripe = Verifier::new(providers::STRIPE, "whsec_x").unwrap();
        let endpoint = Endpoint::new(stripe.clone()).with_sink(Arc::new(sink));
        let now = SystemTime::now();
        let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
        let signed = stripe.sign(&SignRequest::new(body, now)).unwrap();
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
        assert_eq!(count(&url, &config, &config.queue).await, 1, "exactly once in the queue");
        let (_conn, channel) = open(&url, &config).await.unwrap();
        let got = channel.basic_get(config.queue.as_str().into(), BasicGetOptions::default()).await.unwrap().unwrap();
        let d = &got.delivery;
        assert_eq!(d.routing_key.as_str(), "stripe.invoice_paid");
        assert_eq!(d.data, body);
        assert_eq!(d.properties.message_id().as_ref().map(ShortString::as_str), Some("stripe:evt_1"));
        assert_eq!(*d.properties.delivery_mode(), Some(2), "persistent");
        assert_eq!(header(&d.properties, "Webhook-Provider").as_deref(), Some("stripe"));
        assert_eq!(header(&d.properties, "Webhook-Event-Type").as_deref(), Some("invoice.paid"));
        assert_eq!(header(&d.properties, "Webhook-Received-At"), Some(to_ms(now).to_string()));
        assert!(header(&d.properties, "Stripe-Signature").is_none(), "the signature is never forwarded");
        remove(&url, &config).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_publishes_go_out_on_every_channel_each_confirmed_and_a_lost_connection_reopens() {
        let Some(url) =
            amqp("concurrent_publishes_go_out_on_every_channel_each_confirmed_and_a_lost_connection_reopens")
        else {
            return;
        };
        let config = config().channels(3);
        let sink = Arc::new(RabbitSink::connect_with(&url, config.clone()).await.unwrap());
        let ids: Vec<String> = (0..60).map(|i| format!("pool-{i}")).collect();
        let tasks: Vec<_> = ids
            .chunks(6)
            .map(|chunk| {
                let deliveries: Vec<String> = chunk.to_vec();
                let sink: Arc<dyn Sink> = sink.clone();
                tokio::spawn(async move {
                    let pairs: Vec<(&str, &str)> = deliveries.iter().map(|id| (id.as_str(), "push")).collect();
                    crate::testing::publish_accepted(sink, &pairs).await;
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(count(&url, &config, &config.queue).await, 60, "each confirmed delivery in the queue once");
        let pool = sink.current().expect("open");
        assert_eq!(pool.channels.len(), 3);
        assert!(pool.channels.iter().all(|c| c.status().connected() && c.status().confirm()));
        assert_eq!(pool.next.load(Ordering::Relaxed), 60, "one channel taken per publish");
        // The connection closed under the sink: the next publish opens a new one itself.
        pool.conn.close(200, "test".into()).await.unwrap();
        drop(pool);
        crate::testing::publish_accepted(sink.clone(), &[("pool-after", "push")]).await;
        assert_eq!(count(&url, &config, &config.queue).await, 61);
        assert!(sink.current().is_some_and(|p| p.conn.status().connected()));
        remove(&url, &config).await;
    }

    #[tokio::test]
    async fn an_unreachable_broker_is_unavailable_and_a_bad_url_misconfigured() {
        let e = RabbitSink::connect("amqp://guest:guest@127.0.0.1:1/%2f").await.unwrap_err();
        assert!(e.is_unavailable(), "{e}");
        let e = RabbitSink::connect("http://127.0.0.1:5672").await.unwrap_err();
        assert!(e.is_misconfigured(), "{e}");
    }

    #[tokio::test]
    async fn an_unroutable_publish_is_answered_503_and_the_retry_accepted_once_a_queue_holds_it() {
        let Some(url) = amqp("an_unroutable_publish_is_answered_503_and_the_retry_accepted_once_a_queue_holds_it")
        else {
            return;
        };
        let config = config();
        let sink = RabbitSink::connect_with(&url, config.clone()).await.unwrap();
        // The queue gone: the broker returns the message (mandatory), nothing holds it.
        {
            let (_conn, channel) = open(&url, &config).await.unwrap();
            channel.queue_delete(config.queue.as_str().into(), QueueDeleteOptions::default()).await.unwrap();
        }
        let github = Verifier::new(providers::GITHUB, "s3cret").unwrap();
        let endpoint = Endpoint::new(github.clone()).with_sink(Arc::new(sink));
        let now = SystemTime::now();
        let signed = github.sign(&SignRequest::new(b"{}", now).id("d-503").event_type("push")).unwrap();
        let down = endpoint.receive(&WebhookRequest::new(&signed, &b"{}"[..]), now).await;
        assert_eq!((down.status().as_u16(), down.label()), (503, "unavailable"));
        // The next publish reconnects and declares the queue again: the retry is accepted.
        let retry = endpoint.receive(&WebhookRequest::new(&signed, &b"{}"[..]), now).await;
        assert_eq!(retry.label(), "accepted");
        assert_eq!(count(&url, &config, &config.queue).await, 1);
        remove(&url, &config).await;
    }

    /// The conformance suite's view of RabbitMQ: an exchange and queues of their own.
    struct Fixture {
        url: String,
        config: RabbitConfig,
    }

    #[async_trait::async_trait]
    impl BrokerFixture for Fixture {
        async fn sink(&self) -> Arc<dyn Sink> {
            Arc::new(RabbitSink::connect_with(&self.url, self.config.clone()).await.expect("RabbitMQ"))
        }

        /// RabbitMQ delivers a dead consumer's messages again as soon as its connection
        /// drops: no wait to set.
        async fn start(&self, router: EventRouter, retry: RetryPolicy, _: Duration) -> Box<dyn BrokerConsumer> {
            let config = RabbitConsumerConfig::new(self.config.clone()).retry(retry);
            Box::new(RabbitConsumer::start(&self.url, router, config).await.expect("a consumer"))
        }

        async fn replay_dead(&self, provider: Option<&str>) -> u64 {
            RabbitConsumer::replay_dead(&self.url, &self.config, provider).await.expect("replay")
        }

        async fn dead_letters(&self) -> u64 {
            u64::from(count(&self.url, &self.config, &self.config.dead_queue).await)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_event_held_by_a_consumer_that_dies_is_delivered_again_and_handled() {
        let Some(url) = amqp("an_event_held_by_a_consumer_that_dies_is_delivered_again_and_handled") else {
            return;
        };
        let fixture = Fixture { url, config: config() };
        broker_consumer_survives_a_crash(&fixture).await;
        remove(&fixture.url, &fixture.config).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_consumer_handles_retries_dead_letters_and_replays() {
        let Some(url) = amqp("the_consumer_handles_retries_dead_letters_and_replays") else {
            return;
        };
        let fixture = Fixture { url, config: config() };
        broker_consumer_retries_dead_letters_and_replays(&fixture).await;
        remove(&fixture.url, &fixture.config).await;
    }

    /// The lag gauge, read from a Prometheus recorder local to this thread (the test runs
    /// on a current-thread runtime, so every task records under it).
    #[test]
    fn the_consumer_reports_the_messages_waiting_in_its_queue() {
        let Some(url) = amqp("the_consumer_reports_the_messages_waiting_in_its_queue") else {
            return;
        };
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let lag = |n: u32| format!("webhook_consumer_lag{{sink=\"rabbitmq\"}} {n}\n");
        metrics::with_local_recorder(&recorder, || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let config = config();
                let sink = Arc::new(RabbitSink::connect_with(&url, config.clone()).await.unwrap());
                let ids: Vec<String> = (0..5).map(|i| format!("lag-{i}")).collect();
                let deliveries: Vec<(&str, &str)> = ids.iter().map(|id| (id.as_str(), "push")).collect();
                publish_accepted(sink, &deliveries).await;
                // Each handler waits for a permit: the consumer holds one message (prefetch
                // 1) and four wait in the queue.
                let permits = Arc::new(tokio::sync::Semaphore::new(0));
                let router = {
                    let permits = permits.clone();
                    EventRouter::new().on(providers::GITHUB, "push", move |_event: Event| {
                        let permits = permits.clone();
                        async move {
                            permits.acquire().await.expect("open").forget();
                            Ok::<(), HandlerError>(())
                        }
                    })
                };
                let consumer =
                    RabbitConsumer::start(&url, router, RabbitConsumerConfig::new(config.clone()).prefetch(1))
                        .await
                        .unwrap();
                eventually("four messages waiting", || handle.render().contains(&lag(4))).await;
                permits.add_permits(5);
                eventually("none waiting", || handle.render().contains(&lag(0))).await;
                consumer.shutdown().await;
                remove(&url, &config).await;
            });
        });
    }
}
