//! What the three example receivers (`axum-receiver`, `actix-receiver`, `tower-receiver`)
//! share, so one black-box suite drives them all. Each receiver wires its own pipeline and
//! routes; this crate holds only what is the same for all three:
//!
//! - [`config`]: the settings, read from the environment;
//! - [`open`]: the stores and the broker those settings name;
//! - [`handled`]: the example application's handler;
//! - [`conn`]: the connection limits and the accept loop of the receivers on hyper;
//! - here: the running [`Receiver`], the request id, metrics, logging and the stop signal.
//!
//! The settings:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `WEBHOOK_ADDR` | listen address | `127.0.0.1:3000` |
//! | `WEBHOOK_PUBLIC_URL` | `scheme://host:port` the providers post to (Twilio signs it) | `http://` + `WEBHOOK_ADDR` |
//! | `WEBHOOK_MAX_BODY_BYTES` | body limit (at most 1 GiB) | `1048576` |
//! | `DATABASE_URL` | the event store: `sqlite://…` (created if missing), `postgres://…`, or `memory:` (not durable: benchmarks and demos only) | `sqlite://webhooks.db` |
//! | `REDIS_URL` | a Redis dedup store in front of the event store | none (in-memory dedup; the store's unique key decides) |
//! | `WEBHOOK_SINK` | publish each delivery to a broker instead of storing it: `nats://…` (NATS JetStream) or `amqp://…` (RabbitMQ); the 2xx goes out after the broker's ack, and its consumers (`broker-consumer`) handle the events | none: the event store and this process's workers |
//! | `WEBHOOK_SINK_NAME` | the NATS stream (upper-cased) and subject prefix, or the RabbitMQ exchange and queue | `webhooks` |
//! | `WEBHOOK_SINK_CHANNELS` | the RabbitMQ sink's channels in confirm mode, used in turn (1-64) | `1` |
//! | `WEBHOOK_WORKERS` | background workers handling stored events | `4` |
//! | `WEBHOOK_HANDOFF` | fresh events that may wait to be handed straight to an idle worker, leased in the transaction that stores them (`0`: every event is found by the workers' lease query) | `64` |
//! | `WEBHOOK_LEASE_SECS` | how long a worker holds an event before another may take it | `60` |
//! | `WEBHOOK_RETENTION_DAYS` | handled events (and their bodies) are deleted this many days after they were received; at least the 7-day dedup TTL | `7` |
//! | `WEBHOOK_DEAD_RETENTION_DAYS` | dead events not replayed are deleted this many days after they were received | `30` |
//! | `WEBHOOK_AUDIT_DAYS` | keep an audit log of every request (accepted or refused) in the event store for this many days | no audit log |
//! | `WEBHOOK_RECORD_HANDLED` | `1`: the handler writes a row per handled event to `handled_deliveries`, in the transaction that marks the event done (exactly once, see [`handled`]); `0`: it only logs | `1` |
//! | `<ID>_WEBHOOK_SECRET`, one per provider (see [`config::routes`]; `SLACK_SIGNING_SECRET`, `GITLAB_WEBHOOK_TOKEN`, `TWILIO_AUTH_TOKEN`, `DISCORD_PUBLIC_KEY`, `STANDARD_WEBHOOK_SECRET` also read) | comma-separated secrets; any of them verifies | route disabled |
//! | `AWS_SNS_WEBHOOK_SECRET` | the Amazon SNS topic ARNs the `/webhooks/aws-sns` route accepts (a valid signature only proves that *some* topic sent the message); the signing certificate each message names is fetched over HTTPS from `sns.<region>.amazonaws.com` only (Mozilla's roots, 64 KiB, 5 s, no redirect, cached 24 h) before it is verified: 400 for another URL, 503 while it cannot be fetched. A `SubscriptionConfirmation` is stored, answered 200, and confirmed by the worker that handles it (a `GET` of its `SubscribeURL`, an SNS host only, retried until it succeeds) | route disabled |
//! | `PAYPAL_WEBHOOK_SECRET` | the PayPal webhook ids the `/webhooks/paypal` route accepts; the certificate `PAYPAL-CERT-URL` names is fetched the same way, from `*.paypal.com` only | route disabled |
//! | `<ID>_WEBHOOK_ALLOW_IPS`, one per route ([`Route::allow_var`](config::Route::allow_var)) | comma-separated CIDR ranges or addresses the route accepts deliveries from; others get 403 `forbidden` | every address |
//! | `WEBHOOK_TRUSTED_PROXIES` | comma-separated CIDR ranges of your proxies, whose `X-Forwarded-For` / `Forwarded` name the client for the allowlists | none: the peer address is the client |
//! | `WEBHOOK_HEADER_TIMEOUT_SECS` | a request's headers must arrive within this (1-3600); else the connection is closed | `10` |
//! | `WEBHOOK_BODY_TIMEOUT_SECS` | its body must arrive within this (1-3600), and at 1 KiB/s or more after 2 s; else 408 | `30` |
//! | `WEBHOOK_IDLE_TIMEOUT_SECS` | a kept-alive connection with no request is closed after this (1-86400) | `60` |
//! | `WEBHOOK_MAX_CONNECTIONS` | connections served at once (1-1000000); more wait in the listen backlog | 3/4 of the soft descriptor limit |
//! | `WEBHOOK_MAX_CONNECTIONS_PER_CLIENT` | connections one peer address may hold (1-1000000; not the trusted proxies); more are closed at once (axum and tower receivers) | no cap |
//!
//! With no secret at all, the receiver generates a development secret for
//! `/webhooks/github` and prints a ready-to-paste signed `curl`.
//!
//! A range that cannot be read stops the receiver at startup with a message naming the
//! variable. How the client address is found, and when it is refused, is documented in
//! `webhook_core::ip`.

pub mod config;
pub mod conn;
pub mod handled;
pub mod open;

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use webhook_core::receive::{callers_request_id, new_request_id};
use webhook_pipeline::Pipeline;

pub use config::{routes, Config, Configured, Enabled, Route};

/// A started receiver: its routes with their endpoints, the metrics, and the pipeline (when
/// deliveries go to the event store rather than a broker) to stop once the server has.
pub struct Receiver {
    /// The configuration it was started with.
    pub config: Config,
    /// The routes, ready to serve.
    pub routes: Vec<Enabled>,
    /// Renders `GET /metrics`.
    pub metrics: PrometheusHandle,
    /// The web console at `/admin`, when `WEBHOOK_ADMIN_TOKEN` is set ([`console`]).
    pub console: Option<webhook_console::Console>,
    pipeline: Option<Pipeline>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").field("routes", &self.routes).field("pipeline", &self.pipeline).finish()
    }
}

impl Receiver {
    /// A receiver serving `routes`, whose deliveries go to `pipeline` (or to a broker, when
    /// `None`), with `/metrics` rendered by `metrics` (from [`metrics()`]), whose histograms
    /// it keeps current. Must run inside a tokio runtime.
    pub fn new(config: Config, metrics: PrometheusHandle, routes: Vec<Enabled>, pipeline: Option<Pipeline>) -> Self {
        let upkeep = metrics.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                upkeep.run_upkeep();
            }
        });
        Self { config, routes, metrics, console: None, pipeline }
    }

    /// Serves `console` at `/admin` beside the webhook routes.
    #[must_use]
    pub fn with_console(mut self, console: Option<webhook_console::Console>) -> Self {
        self.console = console;
        self
    }

    /// Stops the workers after their current events, writes the audit records still
    /// queued, and closes the event store (SQLite checkpoints its WAL into the file). Call
    /// it once the server has stopped: requests still arriving would find the store closed.
    pub async fn shutdown(self) {
        if let Some(pipeline) = self.pipeline {
            pipeline.shutdown().await;
        }
    }

    /// After the server has stopped: [`shutdown`](Self::shutdown), then the exit code for
    /// how the server ended.
    pub async fn finish(self, served: std::io::Result<()>) -> std::process::ExitCode {
        self.shutdown().await;
        tracing::info!("stopped");
        match served {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("server error: {e}");
                std::process::ExitCode::FAILURE
            }
        }
    }
}

/// The process-wide Prometheus recorder, installed on the first call (several receivers in
/// one test process share it). Call it before starting anything that records metrics: a
/// metric recorded before the recorder is installed is lost.
pub fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), &buckets)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("webhook_commit_batch_size".into()),
                        &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
                    )
                });
            let recorder = match builder {
                Ok(b) => b.build_recorder(),
                Err(_) => PrometheusBuilder::new().build_recorder(),
            };
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics shows only this one's");
            }
            handle
        })
        .clone()
}

/// The request's id, written into `headers` when the caller sent none the core would use
/// (see [`webhook_core::receive::callers_request_id`]): the id the request's logs and
/// audit record carry, for the receiver to echo in its response's `X-Request-Id`. Behind a
/// proxy that sets one, that id goes all the way through.
pub fn ensure_request_id(headers: &mut http::HeaderMap) -> http::HeaderValue {
    let (id, new) = request_id_from(headers.get(&REQUEST_ID_HEADER).map(http::HeaderValue::as_bytes));
    // The id's own buffer becomes the value (checked, not copied).
    let value = http::HeaderValue::try_from(id).unwrap_or(http::HeaderValue::from_static("-"));
    if new {
        headers.insert(&REQUEST_ID_HEADER, value.clone());
    }
    value
}

/// [`ensure_request_id`] for header maps of another type (actix-web's): the request id
/// for the caller's `X-Request-Id` value, and whether it is new (then write it into the
/// request before the endpoint sees it).
pub fn request_id_from(callers: Option<&[u8]>) -> (String, bool) {
    match callers.and_then(|v| callers_request_id(&[(REQUEST_ID, v)])) {
        Some(id) => (id, false),
        None => (new_request_id(), true),
    }
}

/// The request id header, on requests and responses.
pub const REQUEST_ID: &str = "x-request-id";

/// [`REQUEST_ID`] as a header name, made once: a header map given the name as a `&str`
/// parses and checks it again on every call (a scan of the standard header names each
/// time, for an insert).
pub static REQUEST_ID_HEADER: http::HeaderName = http::HeaderName::from_static(REQUEST_ID);

/// Reads the settings from the environment, after starting logging; a setting that cannot
/// be read is logged, naming its variable, and becomes exit code 2.
pub fn settings() -> Result<Config, std::process::ExitCode> {
    init_tracing();
    Config::from_env().map_err(|e| {
        tracing::error!("{e}");
        std::process::ExitCode::from(2)
    })
}

/// Logs why the receiver could not start (a store that cannot be opened, an address that
/// cannot be bound); the exit code to return.
pub fn cannot_start(error: &dyn std::fmt::Display) -> std::process::ExitCode {
    tracing::error!("{error}");
    std::process::ExitCode::FAILURE
}

/// Prints the banner ([`Config::banner`]) for the person who started `server`.
#[allow(clippy::print_stderr)] // the banner and its curl are meant to be read and pasted
pub fn announce(config: &Config, server: &str) {
    eprintln!("{}", config.banner(server));
}

/// Resolves on SIGTERM or Ctrl-C: the servers then stop accepting connections, finish the
/// requests in flight (each waits for its commit), and [`Receiver::finish`] lets the workers settle
/// their current events, so a planned stop leaves no event leased and nothing runs twice.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C still stops the receiver");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("stopping: finishing the requests in flight and the workers' current events");
}

/// Starts logging to stderr, `info` unless `RUST_LOG` says otherwise.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// Logs an accepted delivery: provider, event type and id.
pub fn log_accepted(delivery: &webhook_core::Verified) {
    tracing::info!(
        provider = delivery.provider(),
        event_type = delivery.event_type().unwrap_or("-"),
        id = delivery.id().unwrap_or("-"),
        "webhook accepted"
    );
}

/// The body of an accepted delivery's answer.
pub const ACCEPTED: &str = r#"{"status":"accepted"}"#;
/// The body for an unknown path.
pub const NOT_FOUND: &str = r#"{"error":"no such route"}"#;
/// The body for a method other than POST on a webhook path.
pub const METHOD_NOT_ALLOWED: &str = r#"{"error":"method not allowed: webhooks are POSTed"}"#;
/// The `Content-Type` of `GET /metrics` (Prometheus text format).
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The body of `GET /healthz`.
pub const HEALTHY: &str = r#"{"status":"ok"}"#;

/// The web console over the pipeline's event store when `WEBHOOK_ADMIN_TOKEN` is set
/// ([`Config::console`]); `None` when it is not, or when deliveries go to a broker (a
/// configuration [`Config::from_vars`] refuses with the token).
pub fn console(config: &Config, pipeline: Option<&Pipeline>) -> Option<webhook_console::Console> {
    Some(webhook_console::Console::new(pipeline?.store().clone(), config.console.clone()?))
}
