//! The contract the three example receivers (`axum-receiver`, `actix-receiver`,
//! `tower-receiver`) share, so one black-box suite drives them all:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `WEBHOOK_ADDR` | listen address | `127.0.0.1:3000` |
//! | `WEBHOOK_PUBLIC_URL` | `scheme://host:port` the providers post to (Twilio signs it) | `http://` + `WEBHOOK_ADDR` |
//! | `WEBHOOK_MAX_BODY_BYTES` | body limit | `1048576` |
//! | one per route (see [`ROUTES`]) | comma-separated secrets; any of them verifies | route disabled |
//!
//! With no secret at all, the receiver generates a development secret for
//! `/webhooks/github` and prints a ready-to-paste signed `curl`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use webhook_core::dedup::MemoryDedup;
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
    Route {
        path: "github",
        provider: providers::GITHUB,
        var: "GITHUB_WEBHOOK_SECRET",
    },
    Route {
        path: "stripe",
        provider: providers::STRIPE,
        var: "STRIPE_WEBHOOK_SECRET",
    },
    Route {
        path: "slack",
        provider: providers::SLACK,
        var: "SLACK_SIGNING_SECRET",
    },
    Route {
        path: "standard",
        provider: providers::STANDARD_WEBHOOKS,
        var: "STANDARD_WEBHOOK_SECRET",
    },
    Route {
        path: "shopify",
        provider: providers::SHOPIFY,
        var: "SHOPIFY_WEBHOOK_SECRET",
    },
    Route {
        path: "gitlab",
        provider: providers::GITLAB,
        var: "GITLAB_WEBHOOK_TOKEN",
    },
    Route {
        path: "twilio",
        provider: providers::TWILIO,
        var: "TWILIO_AUTH_TOKEN",
    },
    Route {
        path: "discord",
        provider: providers::DISCORD,
        var: "DISCORD_PUBLIC_KEY",
    },
];

/// A configured route.
#[derive(Debug, Clone)]
pub struct Enabled {
    /// The route.
    pub route: Route,
    /// Its endpoint: verifier, shared dedup store, body limit, public URL.
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
    pub enabled: Vec<Enabled>,
    /// Set when no secret was configured.
    pub dev: Option<DevDelivery>,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Reads the configuration from `var` (a map in tests, the environment in a binary).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let addr_text = var("WEBHOOK_ADDR").unwrap_or_else(|| "127.0.0.1:3000".to_owned());
        let addr: SocketAddr = addr_text.parse().map_err(|_| {
            format!("WEBHOOK_ADDR={addr_text} is not an address like 127.0.0.1:3000")
        })?;
        let public_url = var("WEBHOOK_PUBLIC_URL").unwrap_or_else(|| format!("http://{addr}"));
        let max_body = match var("WEBHOOK_MAX_BODY_BYTES") {
            Some(v) => v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                format!("WEBHOOK_MAX_BODY_BYTES={v} is not a positive number of bytes")
            })?,
            None => DEFAULT_BODY_LIMIT,
        };
        let dedup = Arc::new(MemoryDedup::new(1_000_000, DEFAULT_DEDUP_TTL));
        let endpoint = |verifier: Verifier| {
            Endpoint::new(verifier)
                .with_dedup(dedup.clone())
                .with_body_limit(max_body)
                .with_public_url(&public_url)
        };
        let mut enabled = Vec::new();
        for route in ROUTES {
            let Some(secrets) = var(route.var).filter(|s| !s.trim().is_empty()) else {
                continue;
            };
            let verifier = Verifier::builder(route.provider)
                .secrets_csv(&secrets)
                .build()
                .map_err(|e| format!("{}: {e}", route.var))?;
            enabled.push(Enabled {
                route: *route,
                endpoint: endpoint(verifier),
            });
        }
        let mut dev = None;
        if enabled.is_empty() {
            let secret = random_hex(16)
                .map_err(|e| format!("no randomness for a development secret: {e}"))?;
            let verifier = Verifier::new(providers::GITHUB, &secret).map_err(|e| e.to_string())?;
            dev = Some(dev_delivery(&verifier, &secret, &public_url)?);
            enabled.push(Enabled {
                route: ROUTES[0],
                endpoint: endpoint(verifier),
            });
        }
        Ok(Self {
            addr,
            public_url,
            max_body,
            enabled,
            dev,
        })
    }

    /// What to tell the person who started the receiver: the routes, the variables that
    /// enable the others, and the development `curl` when there is one.
    pub fn banner(&self, server: &str) -> String {
        let mut out = format!("{server} listening on http://{}\n", self.addr);
        for e in &self.enabled {
            out.push_str(&format!(
                "  POST {}  ({})\n",
                e.url_path(),
                e.route.provider.name()
            ));
        }
        let off: Vec<_> = ROUTES
            .iter()
            .filter(|r| !self.enabled.iter().any(|e| e.route.path == r.path))
            .collect();
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

fn random_hex(bytes: usize) -> Result<String, getrandom::Error> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf)?;
    Ok(hex::encode(buf))
}

fn dev_delivery(
    verifier: &Verifier,
    secret: &str,
    public_url: &str,
) -> Result<DevDelivery, String> {
    let body = r#"{"zen":"Design for failure.","hook_id":1,"hook":{"type":"Repository","events":["push"]}}"#;
    let id = format!("dev-{}", random_hex(8).map_err(|e| e.to_string())?);
    let signed = verifier
        .sign(
            &SignRequest::new(body.as_bytes(), SystemTime::now())
                .id(&id)
                .event_type("ping"),
        )
        .map_err(|e| e.to_string())?;
    let mut curl =
        format!("curl -i {public_url}/webhooks/github \\\n  -H 'Content-Type: application/json'");
    for (k, v) in signed.headers() {
        curl.push_str(&format!(" \\\n  -H '{k}: {v}'"));
    }
    curl.push_str(&format!(" \\\n  --data-binary '{body}'"));
    Ok(DevDelivery {
        secret: secret.to_owned(),
        curl,
    })
}

/// What every receiver's `main` does first: start logging and read the configuration. A
/// bad setting is logged and becomes exit code 2.
pub fn startup() -> Result<Config, std::process::ExitCode> {
    init_tracing();
    Config::from_env().map_err(|e| {
        tracing::error!("{e}");
        std::process::ExitCode::from(2)
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
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
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
/// The body of `GET /healthz`.
pub const HEALTHY: &str = r#"{"status":"ok"}"#;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_and_dev_mode() {
        let c = config(&[]).unwrap();
        assert_eq!(c.addr.to_string(), "127.0.0.1:3000");
        assert_eq!(
            (c.public_url.as_str(), c.max_body),
            ("http://127.0.0.1:3000", 1_048_576)
        );
        assert_eq!(c.enabled.len(), 1);
        let dev = c.dev.as_ref().unwrap();
        assert!(
            dev.curl.contains("X-Hub-Signature-256: sha256="),
            "{}",
            dev.curl
        );
        let banner = c.banner("axum-receiver");
        assert!(banner.contains("STRIPE_WEBHOOK_SECRET") && banner.contains(&dev.curl));
    }

    #[test]
    fn routes_from_secrets_and_clear_errors() {
        let c = config(&[
            ("GITHUB_WEBHOOK_SECRET", "a, b"),
            ("WEBHOOK_ADDR", "127.0.0.1:0"),
        ])
        .unwrap();
        assert!(c.dev.is_none());
        assert_eq!(
            c.enabled.iter().map(|e| e.url_path()).collect::<Vec<_>>(),
            ["/webhooks/github"]
        );
        assert!(config(&[("WEBHOOK_ADDR", "localhost")])
            .unwrap_err()
            .contains("WEBHOOK_ADDR"));
        assert!(config(&[("WEBHOOK_MAX_BODY_BYTES", "0")])
            .unwrap_err()
            .contains("WEBHOOK_MAX_BODY_BYTES"));
        let bad = config(&[("STANDARD_WEBHOOK_SECRET", "whsec_!!")]).unwrap_err();
        assert!(
            bad.starts_with("STANDARD_WEBHOOK_SECRET: ") && !bad.contains("!!"),
            "{bad}"
        );
    }
}
