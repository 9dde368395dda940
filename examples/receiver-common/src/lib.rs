//! The contract the three example receivers (`axum-receiver`, `actix-receiver`,
//! `tower-receiver`) share, so one black-box suite drives them all:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `WEBHOOK_ADDR` | listen address | `127.0.0.1:3000` |
//! | `WEBHOOK_PUBLIC_URL` | `scheme://host:port` the providers post to (Twilio signs it) | `http://` + `WEBHOOK_ADDR` |
//! | `WEBHOOK_MAX_BODY_BYTES` | body limit | `1048576` |
//! | `DATABASE_URL` | the event store: `sqlite://…` (created if missing), `postgres://…`, or `memory:` (not durable: benchmarks and demos only) | `sqlite://webhooks.db` |
//! | `REDIS_URL` | a Redis dedup store in front of the event store | none (in-memory dedup; the store's unique key decides) |
//! | `WEBHOOK_WORKERS` | background workers handling stored events | `4` |
//! | `WEBHOOK_LEASE_SECS` | how long a worker holds an event before another may take it | `60` |
//! | one per route (see [`ROUTES`]) | comma-separated secrets; any of them verifies | route disabled |
//!
//! With no secret at all, the receiver generates a development secret for
//! `/webhooks/github` and prints a ready-to-paste signed `curl`.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::sync::Notify;
use webhook_core::dedup::{DedupStore, MemoryDedup};
use webhook_core::pipeline::{
    Event, EventStore, GroupCommit, GroupCommitConfig, MemoryStore, PostgresStore, RedisDedup, Router, Sink,
    SqliteStore, WorkerConfig, Workers,
};
use webhook_core::receive::{Endpoint, DEFAULT_BODY_LIMIT, DEFAULT_DEDUP_TTL};
use webhook_core::{providers, Provider, SignRequest, Verifier};

/// A webhook route: `POST /webhooks/{path}`, enabled by the secrets in `var`.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The last path segment.
    pub path: &'static str,
    /// The provider verified on it.
    pub provider: Provider,
    /// The environment variable holding its comma-separated secrets.
    pub var: &'static str,
}

/// Every route the receivers serve.
pub const ROUTES: &[Route] = &[
    Route { path: "github", provider: providers::GITHUB, var: "GITHUB_WEBHOOK_SECRET" },
    Route { path: "stripe", provider: providers::STRIPE, var: "STRIPE_WEBHOOK_SECRET" },
    Route { path: "slack", provider: providers::SLACK, var: "SLACK_SIGNING_SECRET" },
    Route { path: "standard", provider: providers::STANDARD_WEBHOOKS, var: "STANDARD_WEBHOOK_SECRET" },
    Route { path: "shopify", provider: providers::SHOPIFY, var: "SHOPIFY_WEBHOOK_SECRET" },
    Route { path: "gitlab", provider: providers::GITLAB, var: "GITLAB_WEBHOOK_TOKEN" },
    Route { path: "twilio", provider: providers::TWILIO, var: "TWILIO_AUTH_TOKEN" },
    Route { path: "discord", provider: providers::DISCORD, var: "DISCORD_PUBLIC_KEY" },
];

/// A route with its verifier, before the pipeline is started.
#[derive(Debug, Clone)]
pub struct Configured {
    /// The route.
    pub route: Route,
    /// Its verifier.
    pub verifier: Verifier,
}

/// A started route.
#[derive(Debug, Clone)]
pub struct Enabled {
    /// The route.
    pub route: Route,
    /// Its endpoint: verifier, shared dedup store, event store, body limit, public URL.
    pub endpoint: Endpoint,
}

impl Enabled {
    /// `/webhooks/{path}`.
    pub fn url_path(&self) -> String {
        format!("/webhooks/{}", self.route.path)
    }
}

/// A signed delivery to paste into a shell, made when no secret is configured.
#[derive(Debug, Clone)]
pub struct DevDelivery {
    /// The generated development secret (only ever a development value).
    pub secret: String,
    /// A `curl` command that posts a validly signed GitHub `ping`.
    pub curl: String,
}

/// The receiver's whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub addr: SocketAddr,
    /// The public base URL.
    pub public_url: String,
    /// The body limit in bytes.
    pub max_body: usize,
    /// The routes that have secrets.
    pub configured: Vec<Configured>,
    /// Set when no secret was configured.
    pub dev: Option<DevDelivery>,
    /// The event store's URL.
    pub database_url: String,
    /// The Redis dedup store's URL, if any.
    pub redis_url: Option<String>,
    /// Background workers.
    pub workers: usize,
    /// How long a worker's lease on an event lasts.
    pub lease: Duration,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Reads the configuration from `var` (a map in tests, the environment in a binary).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let addr_text = var("WEBHOOK_ADDR").unwrap_or_else(|| "127.0.0.1:3000".to_owned());
        let addr: SocketAddr =
            addr_text.parse().map_err(|_| format!("WEBHOOK_ADDR={addr_text} is not an address like 127.0.0.1:3000"))?;
        let public_url = var("WEBHOOK_PUBLIC_URL").unwrap_or_else(|| format!("http://{addr}"));
        let max_body = match var("WEBHOOK_MAX_BODY_BYTES") {
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("WEBHOOK_MAX_BODY_BYTES={v} is not a positive number of bytes"))?,
            None => DEFAULT_BODY_LIMIT,
        };
        let workers = match var("WEBHOOK_WORKERS") {
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=256).contains(n))
                .ok_or_else(|| format!("WEBHOOK_WORKERS={v} is not a number of workers from 1 to 256"))?,
            None => 4,
        };
        let lease = match var("WEBHOOK_LEASE_SECS") {
            Some(v) => Duration::from_secs(
                v.parse::<u64>()
                    .ok()
                    .filter(|n| (1..=86_400).contains(n))
                    .ok_or_else(|| format!("WEBHOOK_LEASE_SECS={v} is not a number of seconds from 1 to 86400"))?,
            ),
            None => Duration::from_secs(60),
        };
        let database_url = var("DATABASE_URL").unwrap_or_else(|| "sqlite://webhooks.db".to_owned());
        if !["sqlite:", "postgres://", "postgresql://", "memory:"].iter().any(|p| database_url.starts_with(p)) {
            return Err("DATABASE_URL must start with sqlite:, postgres:// or memory:".to_owned());
        }
        let redis_url = var("REDIS_URL").filter(|u| !u.trim().is_empty());
        let mut configured = Vec::new();
        for route in ROUTES {
            let Some(secrets) = var(route.var).filter(|s| !s.trim().is_empty()) else {
                continue;
            };
            let verifier = Verifier::builder(route.provider)
                .secrets_csv(&secrets)
                .build()
                .map_err(|e| format!("{}: {e}", route.var))?;
            configured.push(Configured { route: *route, verifier });
        }
        let mut dev = None;
        if configured.is_empty() {
            let secret = random_hex(16).map_err(|e| format!("no randomness for a development secret: {e}"))?;
            let verifier = Verifier::new(providers::GITHUB, &secret).map_err(|e| e.to_string())?;
            dev = Some(dev_delivery(&verifier, &secret, &public_url)?);
            configured.push(Configured { route: ROUTES[0], verifier });
        }
        Ok(Self { addr, public_url, max_body, configured, dev, database_url, redis_url, workers, lease })
    }

    /// What to tell the person who started the receiver: the routes, the variables that
    /// enable the others, and the development `curl` when there is one.
    pub fn banner(&self, server: &str) -> String {
        let mut out = format!("{server} listening on http://{}\n", self.addr);
        for c in &self.configured {
            out.push_str(&format!("  POST /webhooks/{}  ({})\n", c.route.path, c.route.provider.name()));
        }
        out.push_str(&format!("  event store {}", redact(&self.database_url)));
        if let Some(redis) = &self.redis_url {
            out.push_str(&format!(", dedup on {}", redact(redis)));
        }
        out.push_str(&format!(", {} workers; GET /metrics, GET /healthz\n", self.workers));
        let off: Vec<_> = ROUTES.iter().filter(|r| !self.configured.iter().any(|c| c.route.path == r.path)).collect();
        if !off.is_empty() {
            out.push_str("  set these to enable more routes (comma-separated secrets rotate):\n");
            for r in off {
                out.push_str(&format!("    {:<24} -> POST /webhooks/{}\n", r.var, r.path));
            }
        }
        if let Some(dev) = &self.dev {
            out.push_str(&format!(
                "\nNo secret configured: /webhooks/github uses the development secret {}\nTry it:\n\n{}\n",
                dev.secret, dev.curl
            ));
        }
        out
    }
}

/// A URL with any password replaced, for printing.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A receiver whose pipeline is running: its routes, with endpoints that store before they
/// acknowledge, the workers handling stored events, and the metrics.
pub struct Receiver {
    /// The configuration it was started with.
    pub config: Config,
    /// The routes, ready to serve.
    pub enabled: Vec<Enabled>,
    /// The event store.
    pub store: Arc<dyn EventStore>,
    /// Which event store `DATABASE_URL` opened: `memory`, `sqlite` or `postgres`.
    pub store_kind: &'static str,
    /// Renders `GET /metrics`.
    pub metrics: PrometheusHandle,
    workers: Workers,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").field("enabled", &self.enabled).field("workers", &self.workers).finish()
    }
}

/// The process-wide Prometheus recorder (installed once; several receivers in one test
/// process share it).
fn metrics_handle() -> PrometheusHandle {
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

/// Opens the event store and the dedup store, starts the group commit, the workers and the
/// metrics upkeep, and builds every route's endpoint. Must run inside a tokio runtime.
pub async fn start(config: Config) -> Result<Receiver, String> {
    let metrics = metrics_handle();
    let (store, writers, store_kind): (Arc<dyn EventStore>, usize, _) = if config.database_url.starts_with("memory:") {
        tracing::warn!("DATABASE_URL=memory: nothing survives a restart (benchmarks and demos only)");
        (Arc::new(MemoryStore::new()), 1, "memory")
    } else if config.database_url.starts_with("sqlite:") {
        let store = SqliteStore::connect(&config.database_url).await.map_err(|e| format!("DATABASE_URL: {e}"))?;
        (Arc::new(store), 1, "sqlite")
    } else {
        let store = PostgresStore::connect(&config.database_url).await.map_err(|e| format!("DATABASE_URL: {e}"))?;
        (Arc::new(store), 4, "postgres")
    };
    let dedup: Arc<dyn DedupStore> = match &config.redis_url {
        Some(url) => {
            Arc::new(RedisDedup::connect(url, DEFAULT_DEDUP_TTL).await.map_err(|e| format!("REDIS_URL: {e}"))?)
        }
        None => Arc::new(MemoryDedup::new(1_000_000, DEFAULT_DEDUP_TTL)),
    };
    let stored = Arc::new(Notify::new());
    let commit = GroupCommitConfig { writers, ..GroupCommitConfig::default() };
    let sink: Arc<dyn Sink> = Arc::new(GroupCommit::spawn(store.clone(), commit, stored.clone()));
    let router = Router::new().catch_all(|event: Event| async move {
        tracing::info!(
            provider = %event.provider,
            event_type = event.event_type.as_deref().unwrap_or("-"),
            id = %event.delivery_id,
            attempt = event.attempts,
            "webhook handled"
        );
        Ok(())
    });
    let worker_config = WorkerConfig { workers: config.workers, lease: config.lease, ..WorkerConfig::default() };
    let workers = Workers::spawn(store.clone(), router, worker_config, stored);
    let upkeep = metrics.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    let enabled = config
        .configured
        .iter()
        .map(|c| Enabled {
            route: c.route,
            endpoint: Endpoint::new(c.verifier.clone())
                .with_dedup(dedup.clone())
                .with_sink(sink.clone())
                .with_body_limit(config.max_body)
                .with_public_url(&config.public_url),
        })
        .collect();
    Ok(Receiver { config, enabled, store, store_kind, metrics, workers })
}

impl Receiver {
    /// Stops the workers after their current events.
    pub async fn shutdown(self) {
        self.workers.shutdown().await;
    }
}

fn random_hex(bytes: usize) -> Result<String, getrandom::Error> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf)?;
    Ok(hex::encode(buf))
}

fn dev_delivery(verifier: &Verifier, secret: &str, public_url: &str) -> Result<DevDelivery, String> {
    let body = r#"{"zen":"Design for failure.","hook_id":1,"hook":{"type":"Repository","events":["push"]}}"#;
    let id = format!("dev-{}", random_hex(8).map_err(|e| e.to_string())?);
    let signed = verifier
        .sign(&SignRequest::new(body.as_bytes(), SystemTime::now()).id(&id).event_type("ping"))
        .map_err(|e| e.to_string())?;
    let mut curl = format!("curl -i {public_url}/webhooks/github \\\n  -H 'Content-Type: application/json'");
    for (k, v) in signed.headers() {
        curl.push_str(&format!(" \\\n  -H '{k}: {v}'"));
    }
    curl.push_str(&format!(" \\\n  --data-binary '{body}'"));
    Ok(DevDelivery { secret: secret.to_owned(), curl })
}

/// What every receiver's `main` does first: start logging, read the configuration (a bad
/// setting is logged and becomes exit code 2) and start the pipeline (a store that cannot
/// be opened is logged and becomes exit code 1).
pub async fn startup() -> Result<Receiver, std::process::ExitCode> {
    init_tracing();
    let config = Config::from_env().map_err(|e| {
        tracing::error!("{e}");
        std::process::ExitCode::from(2)
    })?;
    start(config).await.map_err(|e| {
        tracing::error!("{e}");
        std::process::ExitCode::FAILURE
    })
}

/// Logs that the address could not be bound; the exit code to return.
pub fn cannot_listen(config: &Config, error: &std::io::Error) -> std::process::ExitCode {
    tracing::error!("cannot listen on {}: {error}", config.addr);
    std::process::ExitCode::FAILURE
}

/// Prints the banner ([`Config::banner`]) for the person who started `server`.
#[allow(clippy::print_stderr)] // the banner and its curl are meant to be read and pasted
pub fn announce(config: &Config, server: &str) {
    eprintln!("{}", config.banner(server));
}

/// The exit code for how the server ended.
pub fn exit(result: std::io::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("server error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_and_dev_mode() {
        let c = config(&[]).unwrap();
        assert_eq!(c.addr.to_string(), "127.0.0.1:3000");
        assert_eq!((c.public_url.as_str(), c.max_body), ("http://127.0.0.1:3000", 1_048_576));
        assert_eq!(c.configured.len(), 1);
        assert_eq!((c.database_url.as_str(), c.redis_url.as_deref(), c.workers), ("sqlite://webhooks.db", None, 4));
        let dev = c.dev.as_ref().unwrap();
        assert!(dev.curl.contains("X-Hub-Signature-256: sha256="), "{}", dev.curl);
        let banner = c.banner("axum-receiver");
        assert!(banner.contains("STRIPE_WEBHOOK_SECRET") && banner.contains(&dev.curl));
    }

    #[test]
    fn routes_from_secrets_and_clear_errors() {
        let c = config(&[("GITHUB_WEBHOOK_SECRET", "a, b"), ("WEBHOOK_ADDR", "127.0.0.1:0")]).unwrap();
        assert!(c.dev.is_none());
        assert_eq!(c.configured.iter().map(|c| c.route.path).collect::<Vec<_>>(), ["github"]);
        assert!(config(&[("WEBHOOK_ADDR", "localhost")]).unwrap_err().contains("WEBHOOK_ADDR"));
        assert!(config(&[("WEBHOOK_MAX_BODY_BYTES", "0")]).unwrap_err().contains("WEBHOOK_MAX_BODY_BYTES"));
        assert!(config(&[("DATABASE_URL", "mysql://x")]).unwrap_err().contains("DATABASE_URL"));
        assert!(config(&[("WEBHOOK_WORKERS", "0")]).unwrap_err().contains("WEBHOOK_WORKERS"));
        assert_eq!(redact("postgres://app:hunter2@db:5432/x"), "postgres://app:***@db:5432/x");
        let bad = config(&[("STANDARD_WEBHOOK_SECRET", "whsec_!!")]).unwrap_err();
        assert!(bad.starts_with("STANDARD_WEBHOOK_SECRET: ") && !bad.contains("!!"), "{bad}");
    }

    #[tokio::test]
    async fn database_url_picks_the_store_and_settings_reach_the_workers() {
        let db = std::env::temp_dir().join(format!("receiver-common-{}.db", std::process::id()));
        let sqlite = format!("sqlite://{}", db.display());
        for (url, kind) in [("memory:", "memory"), (sqlite.as_str(), "sqlite")] {
            let c = config(&[("DATABASE_URL", url), ("WEBHOOK_LEASE_SECS", "7"), ("WEBHOOK_WORKERS", "1")]).unwrap();
            assert_eq!(c.lease, Duration::from_secs(7));
            let r = start(c).await.unwrap();
            assert_eq!(r.store_kind, kind, "{url}");
            r.shutdown().await;
        }
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
    }
}
