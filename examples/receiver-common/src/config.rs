//! The settings: every variable of the contract, read once at start. A setting that cannot
//! be read stops the receiver with a message naming the variable.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use webhook_core::ip::{IpAllowlist, TrustedProxies};
use webhook_core::limits::ConnectionLimits;
use webhook_core::receive::{Endpoint, DEFAULT_BODY_LIMIT, DEFAULT_DEDUP_TTL};
use webhook_core::{providers, Provider, SignRequest, Verifier};
use webhook_pipeline::{AuditConfig, CertificateFetcher, CertificateFetcherBuilder, RetentionConfig};

/// A webhook route: `POST /webhooks/{path}`, enabled by the secrets in `var` (or, for the
/// providers the receivers knew first, `legacy_var`).
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The last path segment: the provider's id.
    pub path: &'static str,
    /// Another last path segment served the same way (`standard` for `standard-webhooks`).
    pub alias: Option<&'static str>,
    /// The provider verified on it.
    pub provider: Provider,
    /// The environment variable holding its comma-separated secrets: `<ID>_WEBHOOK_SECRET`
    /// (upper case, `-` as `_`).
    pub var: &'static str,
    /// The name that variable had before the naming rule, still read when `var` is unset.
    pub legacy_var: Option<&'static str>,
    /// The environment variable holding the comma-separated ranges it accepts deliveries
    /// from (`<ID>_WEBHOOK_ALLOW_IPS`); unset, every address.
    pub allow_var: &'static str,
}

/// The variable names the first receivers used: `(provider id, secret variable, path
/// alias)`. They keep working.
const LEGACY: &[(&str, &str, Option<&str>)] = &[
    ("slack", "SLACK_SIGNING_SECRET", None),
    ("gitlab", "GITLAB_WEBHOOK_TOKEN", None),
    ("twilio", "TWILIO_AUTH_TOKEN", None),
    ("discord", "DISCORD_PUBLIC_KEY", None),
    ("standard-webhooks", "STANDARD_WEBHOOK_SECRET", Some("standard")),
];

/// `<PREFIX>_<suffix>` for a provider id: upper case, `-` as `_`.
fn var_name(id: &str, suffix: &str) -> String {
    format!("{}_{suffix}", id.to_ascii_uppercase().replace('-', "_"))
}

/// Every route the receivers serve: one per built-in provider (`Provider::all()`), so a
/// provider added to the core is a route here with nothing else to write.
pub fn routes() -> &'static [Route] {
    static ROUTES: OnceLock<Vec<Route>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        // Names made once for the life of the process (a few dozen short strings).
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        Provider::all()
            .iter()
            .map(|&provider| {
                let id = provider.name();
                let legacy = LEGACY.iter().find(|(p, ..)| *p == id);
                Route {
                    path: id,
                    alias: legacy.and_then(|(.., alias)| *alias),
                    provider,
                    var: leak(var_name(id, "WEBHOOK_SECRET")),
                    legacy_var: legacy.map(|(_, var, _)| *var),
                    allow_var: leak(var_name(legacy.and_then(|(.., a)| *a).unwrap_or(id), "WEBHOOK_ALLOW_IPS")),
                }
            })
            .collect()
    })
}

/// A route with its verifier, before the pipeline is started.
#[derive(Debug, Clone)]
pub struct Configured {
    /// The route.
    pub route: Route,
    /// Its verifier.
    pub verifier: Verifier,
    /// The addresses it accepts deliveries from (with the trusted proxies), if limited.
    pub allowlist: Option<IpAllowlist>,
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

    /// Every path the route is served on: `/webhooks/{path}`, and its alias if it has one.
    pub fn url_paths(&self) -> Vec<String> {
        std::iter::once(self.route.path).chain(self.route.alias).map(|p| format!("/webhooks/{p}")).collect()
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
    /// `WEBHOOK_HANDOFF`: fresh events that may wait to be handed straight to an idle
    /// worker (0: none; every event is leased by the workers' query).
    pub handoff: usize,
    /// How long a worker's lease on an event lasts.
    pub lease: Duration,
    /// The proxies whose forwarding headers name the client (`WEBHOOK_TRUSTED_PROXIES`).
    pub trusted_proxies: TrustedProxies,
    /// How long audit records are kept (`WEBHOOK_AUDIT_DAYS`); `None`: no audit log.
    pub audit_retention: Option<Duration>,
    /// How long handled events are kept after they were received
    /// (`WEBHOOK_RETENTION_DAYS`, default 7 days, never less than the dedup TTL).
    pub retention: Duration,
    /// How long dead events are kept after they were received
    /// (`WEBHOOK_DEAD_RETENTION_DAYS`, default 30 days).
    pub dead_retention: Duration,
    /// Whether the handler records each handled event in `handled_deliveries` (see [`crate::handled`])
    /// (`WEBHOOK_RECORD_HANDLED`).
    pub record_handled: bool,
    /// A broker to publish to instead of the event store (`WEBHOOK_SINK`: `nats://…` for
    /// NATS JetStream, `amqp://…` for RabbitMQ); its consumers handle the events.
    pub sink_url: Option<String>,
    /// The stream (NATS, upper-cased) or exchange and queue (RabbitMQ) name
    /// (`WEBHOOK_SINK_NAME`, default `webhooks`).
    pub sink_name: String,
    /// The RabbitMQ sink's channels in confirm mode (`WEBHOOK_SINK_CHANNELS`, 1-64; default
    /// 1: [`webhook_pipeline::RabbitConfig::channels`]).
    pub sink_channels: Option<usize>,
    /// Timeouts and the connection cap (`WEBHOOK_HEADER_TIMEOUT_SECS`,
    /// `WEBHOOK_BODY_TIMEOUT_SECS`, `WEBHOOK_IDLE_TIMEOUT_SECS`, `WEBHOOK_MAX_CONNECTIONS`).
    pub limits: ConnectionLimits,
    /// `WEBHOOK_ADMIN_TOKEN`: the web console at `/admin` (off when unset); its login
    /// cookie is `Secure` with `WEBHOOK_ADMIN_SECURE_COOKIE=1` (the default when
    /// `WEBHOOK_PUBLIC_URL` is `https://…`).
    pub console: Option<webhook_console::ConsoleConfig>,
    /// The signing-certificate fetcher of the routes verified with certificates (Amazon
    /// SNS, PayPal), when one is configured: their verifiers' certificate store, and the
    /// hook their endpoints await before verifying ([`Config::endpoint`]). It fetches only
    /// from the providers' documented hosts, over HTTPS checked against Mozilla's roots.
    pub certificates: Option<CertificateFetcher>,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Reads the configuration from `var` (a map in tests, the environment in a binary).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        Self::from_vars_with_fetcher(var, None)
    }

    /// [`from_vars`](Self::from_vars), with `fetcher` as the signing-certificate fetcher of
    /// the Amazon SNS and PayPal routes instead of the default one
    /// ([`CertificateFetcher::new`]: Mozilla's roots, the system resolver). For tests in
    /// the same process, which serve the certificates from a local HTTPS server
    /// (`CertificateFetcherBuilder::resolve` and `root_certificates`): no environment
    /// variable can change where certificates come from, and the provider's host rule
    /// applies to every fetcher.
    pub fn from_vars_with_fetcher(
        var: impl Fn(&str) -> Option<String>,
        fetcher: Option<CertificateFetcher>,
    ) -> Result<Self, String> {
        let addr_text = var("WEBHOOK_ADDR").unwrap_or_else(|| "127.0.0.1:3000".to_owned());
        let addr: SocketAddr =
            addr_text.parse().map_err(|_| format!("WEBHOOK_ADDR={addr_text} is not an address like 127.0.0.1:3000"))?;
        let public_url = var("WEBHOOK_PUBLIC_URL").unwrap_or_else(|| format!("http://{addr}"));
        let number = |name: &str, max: u64, what: &str| number(&var, name, max, what);
        let max_body = number("WEBHOOK_MAX_BODY_BYTES", 1 << 30, "bytes")?
            .map_or(DEFAULT_BODY_LIMIT, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let workers = number("WEBHOOK_WORKERS", 256, "workers")?.map_or(4, |n| usize::try_from(n).unwrap_or(256));
        // 0 is allowed here: no handoff.
        let handoff = match var("WEBHOOK_HANDOFF").filter(|v| !v.trim().is_empty()) {
            None => 64,
            Some(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= 65_536)
                .ok_or_else(|| format!("WEBHOOK_HANDOFF={v} is not a number of events from 0 to 65536"))?,
        };
        let lease = Duration::from_secs(number("WEBHOOK_LEASE_SECS", 86_400, "seconds")?.unwrap_or(60));
        let day = |n: u64| Duration::from_secs(86_400 * n);
        let audit_retention = number("WEBHOOK_AUDIT_DAYS", 3650, "days")?.map(day);
        let retention = day(number("WEBHOOK_RETENTION_DAYS", 3650, "days")?.unwrap_or(7));
        let dead_retention = day(number("WEBHOOK_DEAD_RETENTION_DAYS", 3650, "days")?.unwrap_or(30));
        retention_config(retention, dead_retention).validate().map_err(|e| format!("WEBHOOK_RETENTION_DAYS: {e}"))?;
        let record_handled = match var("WEBHOOK_RECORD_HANDLED").as_deref().map(str::trim) {
            None | Some("" | "1" | "true" | "on") => true,
            Some("0" | "false" | "off") => false,
            Some(v) => return Err(format!("WEBHOOK_RECORD_HANDLED={v} is not 1 or 0")),
        };
        let limits = connection_limits(&var)?;
        // Read whether or not a route needs it, so a typo fails now; built (TLS roots and
        // all) only for the first route that fetches certificates.
        let mut unbuilt = Some((fetcher, certificate_settings(&var)?));
        let database_url = var("DATABASE_URL").unwrap_or_else(|| "sqlite://webhooks.db".to_owned());
        if !["sqlite:", "postgres://", "postgresql://", "memory:"].iter().any(|p| database_url.starts_with(p)) {
            return Err("DATABASE_URL must start with sqlite:, postgres:// or memory:".to_owned());
        }
        // Behind HTTPS the login cookie must not travel over plain HTTP.
        let secure_cookie = match var("WEBHOOK_ADMIN_SECURE_COOKIE").as_deref().map(str::trim) {
            None | Some("") => public_url.starts_with("https://"),
            Some("1" | "true" | "on") => true,
            Some("0" | "false" | "off") => false,
            Some(v) => return Err(format!("WEBHOOK_ADMIN_SECURE_COOKIE={v} is not 1 or 0")),
        };
        let console = match var("WEBHOOK_ADMIN_TOKEN").filter(|t| !t.is_empty()) {
            Some(token) => Some(
                webhook_console::ConsoleConfig::new(token)
                    .map_err(|e| format!("WEBHOOK_ADMIN_TOKEN: {e}"))?
                    .secure_cookie(secure_cookie),
            ),
            None => None,
        };
        let redis_url = var("REDIS_URL").filter(|u| !u.trim().is_empty());
        let sink_url = var("WEBHOOK_SINK").filter(|u| !u.trim().is_empty());
        if let Some(url) = &sink_url {
            if !["nats://", "tls://", "amqp://", "amqps://"].iter().any(|p| url.starts_with(p)) {
                return Err("WEBHOOK_SINK must start with nats:// (NATS JetStream) or amqp:// (RabbitMQ)".to_owned());
            }
        }
        let sink_name = var("WEBHOOK_SINK_NAME").unwrap_or_else(|| "webhooks".to_owned());
        if sink_name.is_empty()
            || sink_name.len() > 64
            || !sink_name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(format!("WEBHOOK_SINK_NAME={sink_name} is not 1 to 64 letters, digits, `_` or `-`"));
        }
        let sink_channels = number("WEBHOOK_SINK_CHANNELS", 64, "channels")?.map(|n| usize::try_from(n).unwrap_or(64));
        let trusted_proxies = match var("WEBHOOK_TRUSTED_PROXIES") {
            Some(v) => TrustedProxies::parse_csv(&v).map_err(|e| format!("WEBHOOK_TRUSTED_PROXIES: {e}"))?,
            None => TrustedProxies::none(),
        };
        let allowlist = |route: &Route| -> Result<Option<IpAllowlist>, String> {
            let Some(ranges) = var(route.allow_var).filter(|s| !s.trim().is_empty()) else {
                return Ok(None);
            };
            let list = IpAllowlist::parse_csv(&ranges).map_err(|e| format!("{}: {e}", route.allow_var))?;
            if list.ranges().is_empty() {
                return Err(format!("{}: lists no address range (unset it to accept every address)", route.allow_var));
            }
            Ok(Some(list.with_trusted_proxies(trusted_proxies.clone())))
        };
        // Every route's ranges are read, enabled or not: a typo fails now, not on the day
        // the route is enabled.
        let allowlists = routes().iter().map(allowlist).collect::<Result<Vec<_>, String>>()?;
        let allowlist_of =
            |route: &Route| routes().iter().position(|r| r.path == route.path).and_then(|i| allowlists[i].clone());
        let mut configured = Vec::new();
        let mut certificates: Option<CertificateFetcher> = None;
        for route in routes() {
            let set = |name: &'static str| var(name).filter(|s| !s.trim().is_empty()).map(|v| (name, v));
            let Some((name, secrets)) = set(route.var).or_else(|| route.legacy_var.and_then(set)) else {
                continue;
            };
            let mut builder = Verifier::builder(route.provider).secrets_csv(&secrets);
            if route.provider.needs_certificates() {
                // One fetcher (one cache) for every such route: the verifier's store here,
                // the endpoint's hook in `endpoint`.
                if let Some((given, settings)) = unbuilt.take() {
                    certificates = Some(match given {
                        Some(fetcher) => fetcher,
                        None => build_fetcher(settings)?,
                    });
                }
                if let Some(fetcher) = &certificates {
                    builder = builder.certificates(Arc::new(fetcher.clone()));
                }
            }
            let verifier = builder.build().map_err(|e| format!("{name}: {e}"))?;
            configured.push(Configured { route: *route, verifier, allowlist: allowlist_of(route) });
        }
        let mut dev = None;
        if configured.is_empty() {
            let secret = random_hex(16).map_err(|e| format!("no randomness for a development secret: {e}"))?;
            let verifier = Verifier::new(providers::GITHUB, &secret).map_err(|e| e.to_string())?;
            dev = Some(dev_delivery(&verifier, &secret, &public_url)?);
            let github = routes()[0];
            configured.push(Configured { route: github, verifier, allowlist: allowlist_of(&github) });
        }
        if console.is_some() && sink_url.is_some() {
            return Err("WEBHOOK_ADMIN_TOKEN: the console reads the event store, and with WEBHOOK_SINK deliveries go to a broker instead".into());
        }
        Ok(Self {
            certificates,
            console,
            addr,
            public_url,
            max_body,
            configured,
            dev,
            database_url,
            redis_url,
            workers,
            handoff,
            lease,
            trusted_proxies,
            audit_retention,
            retention,
            dead_retention,
            record_handled,
            sink_url,
            sink_name,
            sink_channels,
            limits,
        })
    }

    /// The endpoint for `route`, with the settings every route shares: its verifier and
    /// allowlist, the body limit, the timeouts, the public URL (which Twilio signs), and for
    /// Amazon SNS and PayPal the certificate fetcher as its prepare hook.
    /// Dedup and where verified deliveries go are added by the receiver.
    pub fn endpoint(&self, route: &Configured) -> Endpoint {
        let mut endpoint = Endpoint::new(route.verifier.clone())
            .with_body_limit(self.max_body)
            .with_limits(self.limits.clone())
            .with_public_url(&self.public_url);
        if let Some(fetcher) = self.certificates.as_ref().filter(|_| route.route.provider.needs_certificates()) {
            // Amazon SNS, PayPal: the certificate the delivery names is fetched (or found
            // cached) before verifying; 400 for a URL that is not the provider's, 503 when
            // it cannot be fetched.
            endpoint = endpoint.with_prepare(Arc::new(fetcher.clone()));
        }
        match &route.allowlist {
            Some(list) => endpoint.with_allowlist(list.clone()),
            None => endpoint,
        }
    }

    /// How long handled and dead events are kept (`WEBHOOK_RETENTION_DAYS`,
    /// `WEBHOOK_DEAD_RETENTION_DAYS`), checked against the endpoints' dedup TTL.
    pub fn retention(&self) -> RetentionConfig {
        retention_config(self.retention, self.dead_retention)
    }

    /// The audit log's settings, when `WEBHOOK_AUDIT_DAYS` asks for one.
    pub fn audit(&self) -> Option<AuditConfig> {
        self.audit_retention.map(|days| AuditConfig::default().retention(days))
    }

    /// What to tell the person who started the receiver: the routes, the variables that
    /// enable the others, and the development `curl` when there is one.
    pub fn banner(&self, server: &str) -> String {
        let mut out = format!("{server} listening on http://{}\n", self.addr);
        for c in &self.configured {
            out.push_str(&format!("  POST /webhooks/{}  ({}", c.route.path, c.route.provider.name()));
            if let Some(list) = &c.allowlist {
                out.push_str(&format!("; allowlist of {} ranges", list.ranges().len()));
            }
            out.push_str(")\n");
        }
        match &self.sink_url {
            Some(sink) => out.push_str(&format!("  publishing to {} ({})", redact(sink), self.sink_name)),
            None => out.push_str(&format!("  event store {}", redact(&self.database_url))),
        }
        if let Some(redis) = &self.redis_url {
            out.push_str(&format!(", dedup on {}", redact(redis)));
        }
        if self.sink_url.is_none() {
            out.push_str(&format!(", {} workers", self.workers));
        }
        out.push_str("; GET /metrics, GET /healthz\n");
        let l = &self.limits;
        out.push_str(&format!(
            "  timeouts: headers {} s, body {} s, idle {} s; at most {} connections\n",
            l.header_timeout.as_secs(),
            l.body_timeout.as_secs(),
            l.idle_timeout.as_secs(),
            l.max_connections
        ));
        if self.certificates.is_some() {
            out.push_str(
                "  signing certificates (aws-sns, paypal): fetched over HTTPS from the providers' own hosts only, \
                 cached 24 h; SNS subscriptions confirmed by the workers\n",
            );
        }
        if let Some(retention) = self.audit_retention {
            out.push_str(&format!(
                "  audit log: every request, kept {} days (webhook audit list --database-url ...)\n",
                retention.as_secs() / 86_400
            ));
        }
        if !self.trusted_proxies.is_empty() {
            let ranges: Vec<_> = self.trusted_proxies.ranges().iter().map(|r| r.to_string()).collect();
            out.push_str(&format!("  trusted proxies (for the allowlists): {}\n", ranges.join(", ")));
        }
        let off = routes().len() - self.configured.len();
        if off > 0 {
            out.push_str(&format!(
                "  {off} more providers: set <ID>_WEBHOOK_SECRET to enable POST /webhooks/<id> (comma-separated \
                 secrets rotate), e.g. STRIPE_WEBHOOK_SECRET -> /webhooks/stripe; `webhook providers` lists them\n"
            ));
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

/// `name` as a whole number from 1 to `max` (blank is unset), or an error naming the
/// variable, its value and what it counts.
fn number(var: &impl Fn(&str) -> Option<String>, name: &str, max: u64, what: &str) -> Result<Option<u64>, String> {
    match var(name).filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .map(Some)
            .ok_or_else(|| format!("{name}={v} is not a number of {what} from 1 to {max}")),
    }
}

/// The `WEBHOOK_*_TIMEOUT_SECS` and `WEBHOOK_MAX_CONNECTIONS` settings over the defaults.
fn connection_limits(var: &impl Fn(&str) -> Option<String>) -> Result<ConnectionLimits, String> {
    let number = |name: &str, max: u64, what: &str| number(var, name, max, what);
    let mut limits = ConnectionLimits::default();
    if let Some(s) = number("WEBHOOK_HEADER_TIMEOUT_SECS", 3600, "seconds")? {
        limits = limits.header_timeout(Duration::from_secs(s));
    }
    if let Some(s) = number("WEBHOOK_BODY_TIMEOUT_SECS", 3600, "seconds")? {
        limits = limits.body_timeout(Duration::from_secs(s));
    }
    if let Some(s) = number("WEBHOOK_IDLE_TIMEOUT_SECS", 86_400, "seconds")? {
        limits = limits.idle_timeout(Duration::from_secs(s));
    }
    if let Some(n) = number("WEBHOOK_MAX_CONNECTIONS", 1_000_000, "connections")? {
        limits = limits.max_connections(usize::try_from(n).unwrap_or(usize::MAX));
    }
    if let Some(n) = number("WEBHOOK_MAX_CONNECTIONS_PER_CLIENT", 1_000_000, "connections")? {
        limits = limits.max_connections_per_client(Some(usize::try_from(n).unwrap_or(usize::MAX)));
    }
    Ok(limits)
}

/// The signing-certificate fetcher of the Amazon SNS and PayPal routes (and of the broker
/// consumer's SNS confirmations), with `WEBHOOK_CERT_TIMEOUT_SECS`, `WEBHOOK_CERT_TTL_SECS`,
/// `WEBHOOK_CERT_FAILURE_TTL_SECS` and `WEBHOOK_CERT_MAX_FETCHES` over the defaults of
/// `webhook_pipeline::certificates`. Where certificates come from is not configurable: the
/// providers' own hosts, over HTTPS, checked against Mozilla's roots.
///
/// # Errors
///
/// A value that is not a number in its range, naming the variable.
pub fn certificate_fetcher(var: &impl Fn(&str) -> Option<String>) -> Result<CertificateFetcher, String> {
    build_fetcher(certificate_settings(var)?)
}

/// The settings [`certificate_fetcher`] builds from, read and checked without building the
/// fetcher (its TLS client and roots).
///
/// # Errors
///
/// A value that is not a number in its range, naming the variable.
pub fn certificate_settings(var: &impl Fn(&str) -> Option<String>) -> Result<CertificateFetcherBuilder, String> {
    let number = |name: &str, max: u64, what: &str| number(var, name, max, what);
    let mut builder = CertificateFetcher::builder();
    if let Some(s) = number("WEBHOOK_CERT_TIMEOUT_SECS", 60, "seconds")? {
        builder = builder.timeout(Duration::from_secs(s));
    }
    if let Some(s) = number("WEBHOOK_CERT_TTL_SECS", 30 * 86_400, "seconds")? {
        builder = builder.ttl(Duration::from_secs(s));
    }
    if let Some(s) = number("WEBHOOK_CERT_FAILURE_TTL_SECS", 3600, "seconds")? {
        builder = builder.failure_ttl(Duration::from_secs(s));
    }
    if let Some(n) = number("WEBHOOK_CERT_MAX_FETCHES", 64, "downloads")? {
        builder = builder.max_fetches(usize::try_from(n).unwrap_or(64));
    }
    Ok(builder)
}

fn build_fetcher(settings: CertificateFetcherBuilder) -> Result<CertificateFetcher, String> {
    settings.build().map_err(|e| format!("the certificate fetcher: {e}"))
}

/// A URL with any password replaced, for printing.
pub(crate) fn redact(url: &str) -> String {
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

/// The retention the receiver runs: handled and dead events kept as configured, checked
/// against the dedup TTL its endpoints use.
fn retention_config(done: Duration, dead: Duration) -> RetentionConfig {
    RetentionConfig::default().done(done).dead(dead).dedup_ttl(DEFAULT_DEDUP_TTL)
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
        assert!(banner.contains(&format!("{} more providers", routes().len() - 1)), "{banner}");
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
        assert_eq!(config(&[]).unwrap().handoff, 64);
        assert_eq!(config(&[("WEBHOOK_HANDOFF", "0")]).unwrap().handoff, 0);
        assert!(config(&[("WEBHOOK_HANDOFF", "65537")]).unwrap_err().contains("WEBHOOK_HANDOFF=65537"));
        assert_eq!(config(&[]).unwrap().sink_channels, None);
        assert_eq!(config(&[("WEBHOOK_SINK_CHANNELS", "3")]).unwrap().sink_channels, Some(3));
        assert!(config(&[("WEBHOOK_SINK_CHANNELS", "0")]).unwrap_err().contains("WEBHOOK_SINK_CHANNELS"));
        assert!(config(&[("WEBHOOK_SINK_CHANNELS", "65")]).unwrap_err().contains("WEBHOOK_SINK_CHANNELS"));
        assert!(config(&[]).unwrap().record_handled);
        assert!(!config(&[("WEBHOOK_RECORD_HANDLED", "0")]).unwrap().record_handled);
        assert!(config(&[("WEBHOOK_RECORD_HANDLED", "yes")]).unwrap_err().contains("WEBHOOK_RECORD_HANDLED=yes"));
        assert_eq!(redact("postgres://app:hunter2@db:5432/x"), "postgres://app:***@db:5432/x");
        let bad = config(&[("STANDARD_WEBHOOK_SECRET", "whsec_!!")]).unwrap_err();
        assert!(bad.starts_with("STANDARD_WEBHOOK_SECRET: ") && !bad.contains("!!"), "{bad}");
    }

    #[test]
    fn timeouts_and_the_connection_cap_from_the_environment() {
        let d = config(&[]).unwrap().limits;
        assert_eq!(d, ConnectionLimits::default());
        assert_eq!((d.header_timeout.as_secs(), d.body_timeout.as_secs(), d.idle_timeout.as_secs()), (10, 30, 60));
        let c = config(&[
            ("WEBHOOK_HEADER_TIMEOUT_SECS", "1"),
            ("WEBHOOK_BODY_TIMEOUT_SECS", " 2 "),
            ("WEBHOOK_IDLE_TIMEOUT_SECS", "3"),
            ("WEBHOOK_MAX_CONNECTIONS", "50"),
            ("WEBHOOK_MAX_CONNECTIONS_PER_CLIENT", "5"),
        ])
        .unwrap();
        let l = &c.limits;
        assert_eq!(
            (l.header_timeout.as_secs(), l.body_timeout.as_secs(), l.idle_timeout.as_secs(), l.max_connections),
            (1, 2, 3, 50)
        );
        assert_eq!((d.max_connections_per_client, l.max_connections_per_client), (None, Some(5)));
        assert!(c.banner("x").contains("timeouts: headers 1 s, body 2 s, idle 3 s; at most 50 connections\n"));
        for (name, bad) in [
            ("WEBHOOK_HEADER_TIMEOUT_SECS", "0"),
            ("WEBHOOK_HEADER_TIMEOUT_SECS", "3601"),
            ("WEBHOOK_BODY_TIMEOUT_SECS", "1.5"),
            ("WEBHOOK_IDLE_TIMEOUT_SECS", "-1"),
            ("WEBHOOK_MAX_CONNECTIONS", "0"),
            ("WEBHOOK_MAX_CONNECTIONS", "lots"),
            ("WEBHOOK_MAX_CONNECTIONS_PER_CLIENT", "0"),
        ] {
            let err = config(&[(name, bad)]).unwrap_err();
            assert!(err.starts_with(&format!("{name}={bad} is not a number of ")), "{err}");
        }
    }

    #[test]
    fn allowlists_and_trusted_proxies_from_the_environment() {
        let c = config(&[
            ("GITHUB_WEBHOOK_SECRET", "s"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_x"),
            ("GITHUB_WEBHOOK_ALLOW_IPS", "192.0.2.0/24, 2001:db8::/32"),
            ("WEBHOOK_TRUSTED_PROXIES", "10.0.0.0/8"),
        ])
        .unwrap();
        let github = c.configured.iter().find(|c| c.route.path == "github").unwrap();
        let list = github.allowlist.as_ref().unwrap();
        assert_eq!(list.ranges().len(), 2);
        assert_eq!(list.trusted_proxies().ranges().len(), 1);
        assert!(list.check(Some("10.0.0.1".parse().unwrap()), &[("X-Forwarded-For", "192.0.2.9")]).is_ok());
        assert!(c.configured.iter().find(|c| c.route.path == "stripe").unwrap().allowlist.is_none());
        let banner = c.banner("x");
        assert!(banner.contains("POST /webhooks/github  (github; allowlist of 2 ranges)\n"), "{banner}");
        assert!(banner.contains("POST /webhooks/stripe  (stripe)\n"), "{banner}");
        assert!(banner.contains("trusted proxies (for the allowlists): 10.0.0.0/8\n"), "{banner}");
        // Blank is unset; the dev route gets its allowlist too.
        let dev = config(&[("GITHUB_WEBHOOK_ALLOW_IPS", "127.0.0.1"), ("STRIPE_WEBHOOK_ALLOW_IPS", " ")]).unwrap();
        assert!(dev.configured[0].allowlist.is_some());
        assert!(dev.trusted_proxies.is_empty());

        let err = config(&[("GITHUB_WEBHOOK_ALLOW_IPS", "192.0.2.0/24, 10.0.0.0/33")]).unwrap_err();
        assert!(err.starts_with("GITHUB_WEBHOOK_ALLOW_IPS: `10.0.0.0/33` is not"), "{err}");
        let err = config(&[("DISCORD_WEBHOOK_ALLOW_IPS", "nope")]).unwrap_err();
        assert!(err.starts_with("DISCORD_WEBHOOK_ALLOW_IPS: "), "a disabled route's ranges are checked too: {err}");
        let err = config(&[("GITHUB_WEBHOOK_ALLOW_IPS", ",")]).unwrap_err();
        assert!(err.contains("lists no address range"), "{err}");
        let err = config(&[("WEBHOOK_TRUSTED_PROXIES", "10.0.0.0/8 192.0.2.1")]).unwrap_err();
        assert!(err.starts_with("WEBHOOK_TRUSTED_PROXIES: "), "{err}");
        for r in routes() {
            let named = r.alias.unwrap_or(r.path).to_uppercase().replace('-', "_");
            assert_eq!(r.allow_var, format!("{named}_WEBHOOK_ALLOW_IPS"));
        }
    }

    #[test]
    fn every_provider_is_a_route_named_by_one_rule_and_the_old_names_still_work() {
        assert_eq!(routes().len(), Provider::all().len());
        for r in routes() {
            assert_eq!(r.path, r.provider.name());
            assert_eq!(r.var, format!("{}_WEBHOOK_SECRET", r.path.to_uppercase().replace('-', "_")));
        }
        let stripe = routes().iter().find(|r| r.path == "stripe").unwrap();
        assert_eq!((stripe.var, stripe.legacy_var, stripe.alias), ("STRIPE_WEBHOOK_SECRET", None, None));
        let coinbase = routes().iter().find(|r| r.path == "coinbase-commerce").unwrap();
        assert_eq!(coinbase.var, "COINBASE_COMMERCE_WEBHOOK_SECRET");
        // Every provider can be enabled by the rule; the legacy names too.
        let c = config(&[("COINBASE_COMMERCE_WEBHOOK_SECRET", "s"), ("SLACK_SIGNING_SECRET", "t")]).unwrap();
        let paths: Vec<_> = c.configured.iter().map(|c| c.route.path).collect();
        assert_eq!(paths, ["slack", "coinbase-commerce"]);
        let c = config(&[("STANDARD_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]).unwrap();
        let standard = &c.configured[0];
        assert_eq!(standard.route.path, "standard-webhooks");
        let enabled = Enabled { route: standard.route, endpoint: Endpoint::new(standard.verifier.clone()) };
        assert_eq!(enabled.url_paths(), ["/webhooks/standard-webhooks", "/webhooks/standard"]);
        // Providers verified with certificates share one fetcher, their endpoints' hook.
        assert!(config(&[("GITHUB_WEBHOOK_SECRET", "s")]).unwrap().certificates.is_none());
        let c = config(&[("AWS_SNS_WEBHOOK_SECRET", "arn:aws:sns:us-east-1:1:t"), ("PAYPAL_WEBHOOK_SECRET", "WH-1")])
            .unwrap();
        assert!(c.certificates.is_some());
        for route in &c.configured {
            assert!(c.endpoint(route).has_prepare(), "{}", route.route.path);
        }
        let c =
            config(&[("AWS_SNS_WEBHOOK_SECRET", "arn:aws:sns:us-east-1:1:t"), ("GITHUB_WEBHOOK_SECRET", "s")]).unwrap();
        let github = c.configured.iter().find(|r| r.route.path == "github").unwrap();
        assert!(!c.endpoint(github).has_prepare(), "other routes have no hook");
        // A bad secret names the variable that was read.
        let err = config(&[("DISCORD_PUBLIC_KEY", "zz")]).unwrap_err();
        assert!(err.starts_with("DISCORD_PUBLIC_KEY: "), "{err}");
        let err = config(&[("DISCORD_WEBHOOK_SECRET", "zz"), ("DISCORD_PUBLIC_KEY", "ignored")]).unwrap_err();
        assert!(err.starts_with("DISCORD_WEBHOOK_SECRET: "), "the new name wins: {err}");
    }

    #[test]
    fn certificate_fetcher_limits_from_the_environment() {
        let sns = ("AWS_SNS_WEBHOOK_SECRET", "arn:aws:sns:us-east-1:1:t");
        let default = format!("{:?}", config(&[sns]).unwrap().certificates.unwrap());
        assert!(default.contains("timeout: 5s") && default.contains("ttl: 86400s"), "{default}");
        assert!(default.contains("failure_ttl: 10s") && default.contains("max_fetches: 4"), "{default}");
        let c = config(&[
            sns,
            ("WEBHOOK_CERT_TIMEOUT_SECS", "2"),
            ("WEBHOOK_CERT_TTL_SECS", "3600"),
            ("WEBHOOK_CERT_FAILURE_TTL_SECS", "30"),
            ("WEBHOOK_CERT_MAX_FETCHES", "8"),
        ])
        .unwrap();
        let set = format!("{:?}", c.certificates.unwrap());
        assert!(set.contains("timeout: 2s") && set.contains(" ttl: 3600s"), "{set}");
        assert!(set.contains("failure_ttl: 30s") && set.contains("max_fetches: 8"), "{set}");
        // Read even with no route that fetches certificates, so a typo fails at startup.
        for (name, value) in [
            ("WEBHOOK_CERT_TIMEOUT_SECS", "0"),
            ("WEBHOOK_CERT_TIMEOUT_SECS", "61"),
            ("WEBHOOK_CERT_TTL_SECS", "1h"),
            ("WEBHOOK_CERT_FAILURE_TTL_SECS", "-1"),
            ("WEBHOOK_CERT_MAX_FETCHES", "65"),
        ] {
            let err = config(&[(name, value)]).unwrap_err();
            assert!(err.starts_with(&format!("{name}={value} is not a number of ")), "{err}");
        }
    }

    #[test]
    fn retention_days_from_the_environment() {
        let c = config(&[]).unwrap();
        assert_eq!(
            (c.retention, c.dead_retention),
            (Duration::from_secs(7 * 86_400), Duration::from_secs(30 * 86_400))
        );
        let c = config(&[("WEBHOOK_RETENTION_DAYS", "14"), ("WEBHOOK_DEAD_RETENTION_DAYS", " 90 ")]).unwrap();
        assert_eq!(
            (c.retention, c.dead_retention),
            (Duration::from_secs(14 * 86_400), Duration::from_secs(90 * 86_400))
        );
        // Blank is unset.
        assert_eq!(config(&[("WEBHOOK_RETENTION_DAYS", "")]).unwrap().retention, Duration::from_secs(7 * 86_400));
        for bad in ["0", "-1", "7d", "3651", "x"] {
            let err = config(&[("WEBHOOK_RETENTION_DAYS", bad)]).unwrap_err();
            assert_eq!(err, format!("WEBHOOK_RETENTION_DAYS={bad} is not a number of days from 1 to 3650"));
            let err = config(&[("WEBHOOK_DEAD_RETENTION_DAYS", bad)]).unwrap_err();
            assert_eq!(err, format!("WEBHOOK_DEAD_RETENTION_DAYS={bad} is not a number of days from 1 to 3650"));
        }
        // Shorter than the dedup TTL: refused, with the reason.
        let err = config(&[("WEBHOOK_RETENTION_DAYS", "3")]).unwrap_err();
        assert!(
            err.starts_with(
                "WEBHOOK_RETENTION_DAYS: the handled-event retention (3 days) is shorter than the dedup TTL (7 days)"
            ),
            "{err}"
        );
    }
}
