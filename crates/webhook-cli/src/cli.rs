//! The command line, as clap sees it: every command, option and help text.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

/// `webhook`: sign and send test deliveries as any supported provider would, and inspect or
/// replay the events a receiver stored.
#[derive(Debug, Parser)]
#[command(
    name = "webhook",
    version,
    about = "Sign and send test webhook deliveries for every provider; inspect and replay the event store.",
    long_about = "Sign and send test webhook deliveries for every provider webhook-core verifies, and inspect \
                  or replay the events a receiver stored.\n\n\
                  Exit codes: 0 success; 1 the operation failed (non-2xx response, connection refused, store \
                  error, event not found); 2 bad arguments (unknown provider, bad secret, bad id, ...).\n\n\
                  Secrets are never printed. Prefer --secret-env VAR to --secret, which other users of the \
                  machine can see in the process list."
)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Sign a body as a provider would and print the headers to send with it.
    #[command(long_about = "Sign a body as PROVIDER would and print the headers to send with it, one \
                            `Name: value` line each (so `webhook sign ... | curl -H @- ...` works), or a JSON \
                            object with --json.\n\n\
                            The body is read from FILE, or from standard input when FILE is absent or `-`. \
                            Without --timestamp the current time is signed; without --id, providers that send a \
                            delivery id get `msg_` + 24 hex digits derived from the timestamp and the body (so \
                            the same call signs the same way twice).\n\n\
                            Mailgun carries its signature inside the body: the body to send is printed after \
                            the headers and a blank line (`body` in --json). Twilio and Square sign the URL: \
                            pass --url. For Twilio, a JSON body is signed as Twilio signs JSON, through \
                            `bodySHA256` added to the URL (the URL to post to is then printed on standard \
                            error, `url` in --json).")]
    Sign(SignArgs),
    /// Sign a body and POST it to a receiver (http:// or https://), printing the status and response.
    #[command(long_about = "Sign FILE (`-`: standard input) as PROVIDER would and POST it to URL, then print \
                            the HTTP status line and the response body (at most 1 MiB of it is read).\n\n\
                            An https:// URL is sent over TLS, the receiver's certificate checked against \
                            the public roots, or only the CAs of --cacert; --insecure checks none (a \
                            self-signed development certificate).\n\n\
                            Content-Type is application/json unless a --header sets it (for Twilio, a body \
                            that is not JSON defaults to application/x-www-form-urlencoded, and is signed as \
                            form parameters). A --header replaces a signed header of the same name, to test \
                            how a receiver rejects a bad one.\n\n\
                            Exits 0 on a 2xx response, 1 on any other status (redirects are not followed) or \
                            when the receiver cannot be reached.")]
    Send(SendArgs),
    /// Inspect and replay the events in a receiver's event store.
    Events(EventsArgs),
    /// Read the audit log a receiver keeps (WEBHOOK_AUDIT_DAYS): every request, accepted or refused.
    Audit(AuditArgs),
    /// List the provider names --provider accepts, with the secret each expects.
    Providers(ProvidersArgs),
}

/// How to sign: the provider, its key, and what the delivery says about itself.
#[derive(Debug, Args)]
pub(crate) struct SigningArgs {
    /// The provider to sign as, case-insensitive (`webhook providers` lists them).
    #[arg(long, short = 'p', value_name = "PROVIDER")]
    pub(crate) provider: String,

    #[command(flatten)]
    pub(crate) secret: SecretArgs,

    /// The delivery id to send (Mailgun: the token). Default: derived from the timestamp
    /// and the body.
    #[arg(long, value_name = "ID")]
    pub(crate) id: Option<String>,

    /// The signing time, in Unix seconds. Default: now.
    #[arg(long, value_name = "UNIX")]
    pub(crate) timestamp: Option<u64>,

    /// The event type, for providers that send it in a header (X-GitHub-Event,
    /// X-Shopify-Topic, ...); others read it from the body.
    #[arg(long = "event-type", value_name = "TYPE")]
    pub(crate) event_type: Option<String>,
}

/// Where the signing key comes from: exactly one of the two.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct SecretArgs {
    /// The signing secret or private key, in the provider's format (`webhook providers`
    /// shows it). Visible in the process list: prefer --secret-env.
    #[arg(long, value_name = "SECRET")]
    pub(crate) secret: Option<String>,

    /// Read the signing secret or private key from this environment variable.
    #[arg(long = "secret-env", value_name = "VAR")]
    pub(crate) secret_env: Option<String>,
}

/// `webhook sign`.
#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    #[command(flatten)]
    pub(crate) signing: SigningArgs,

    /// The URL the delivery is posted to (required by Twilio and Square, which sign it).
    #[arg(long, value_name = "URL")]
    pub(crate) url: Option<String>,

    /// Print a JSON object: provider, timestamp, headers, and url, body, public_key where
    /// they apply.
    #[arg(long)]
    pub(crate) json: bool,

    /// Print GitLab's X-Gitlab-Token (the secret itself: it is replaced by `[REDACTED]`
    /// unless this is given).
    #[arg(long = "show-token")]
    pub(crate) show_token: bool,

    /// The body to sign; standard input when absent or `-`.
    #[arg(value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
}

/// `webhook send`.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    #[command(flatten)]
    pub(crate) signing: SigningArgs,

    /// Where to POST: an http:// or https:// URL. HTTPS checks the receiver's certificate
    /// against the public (webpki) roots, or `--cacert`.
    #[arg(long, value_name = "URL")]
    pub(crate) url: String,

    /// Trust only the CA certificates in this PEM file for https:// (a private CA, a
    /// development certificate made with mkcert).
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub(crate) cacert: Option<PathBuf>,

    /// Do not check the receiver's certificate at all (a self-signed development
    /// certificate). The connection is still encrypted, but anyone in between could read
    /// and change it: never for a real receiver.
    #[arg(long)]
    pub(crate) insecure: bool,

    /// An extra request header, `Name: value`; repeat for several. Replaces a signed
    /// header of the same name.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub(crate) headers: Vec<String>,

    /// Give up after this many seconds (connecting, sending and reading the response).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub(crate) timeout: u64,

    /// Print a JSON object: url, status, ok, headers, body, body_encoding, truncated.
    #[arg(long)]
    pub(crate) json: bool,

    /// The body to sign and send; `-` for standard input.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
}

/// `webhook events`.
#[derive(Debug, Args)]
pub(crate) struct EventsArgs {
    /// The event store: `sqlite://path` (the file must exist) or `postgres://user@host/db`,
    /// as the receivers' DATABASE_URL.
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true, global = true, value_name = "URL")]
    pub(crate) database_url: Option<String>,

    /// What to do with the store.
    #[command(subcommand)]
    pub(crate) command: EventsCommand,
}

/// `webhook audit ...`.
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// The event store holding the audit log, as for `events`.
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true, global = true, value_name = "URL")]
    pub(crate) database_url: Option<String>,

    /// What to read.
    #[command(subcommand)]
    pub(crate) command: AuditCommand,
}

/// The `audit` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// List audit records, newest first, each with the processing status of its event.
    List(AuditListArgs),
}

/// `webhook audit list`.
#[derive(Debug, Args)]
pub(crate) struct AuditListArgs {
    /// Only this provider's requests.
    #[arg(long, value_name = "PROVIDER")]
    pub(crate) provider: Option<String>,

    /// Only requests for this delivery id (verified, or as claimed by a refused request).
    #[arg(long, value_name = "ID")]
    pub(crate) delivery: Option<String>,

    /// Only the request with this request id.
    #[arg(long, value_name = "ID")]
    pub(crate) request: Option<String>,

    /// Only requests with this outcome (accepted, duplicate, invalid_signature, stale,
    /// malformed, too_large, forbidden, unavailable, ...).
    #[arg(long, value_name = "OUTCOME")]
    pub(crate) outcome: Option<String>,

    /// Only requests whose signature did not verify.
    #[arg(long, conflicts_with = "verified")]
    pub(crate) refused: bool,

    /// Only requests whose signature verified.
    #[arg(long)]
    pub(crate) verified: bool,

    /// At most this many records.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub(crate) limit: usize,

    /// Print a JSON array of records.
    #[arg(long)]
    pub(crate) json: bool,
}

/// The `events` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum EventsCommand {
    /// List events, newest first.
    List(ListArgs),
    /// Show one event: its metadata, the headers kept with it, and its body.
    Show(ShowArgs),
    /// Put events back in the queue: one by id, or a provider's dead events.
    #[command(long_about = "Put events back in the queue (pending, due now, attempts reset): one event \
                            by ID whatever its status, or every dead event of a provider (--provider P \
                            [--type T] --dead). An event a worker is processing is left to it.")]
    Replay(ReplayArgs),
}

/// `webhook events list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only this provider's events.
    #[arg(long, value_name = "PROVIDER")]
    pub(crate) provider: Option<String>,

    /// Only events of this type.
    #[arg(long = "type", value_name = "TYPE")]
    pub(crate) event_type: Option<String>,

    /// Only events with this status.
    #[arg(long, value_enum, value_name = "STATUS")]
    pub(crate) status: Option<StatusArg>,

    /// At most this many events.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub(crate) limit: usize,

    /// Print a JSON array of event summaries.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `webhook events show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The event's id in the store.
    #[arg(value_name = "ID")]
    pub(crate) id: i64,

    /// Print a JSON object with the event, its headers and its body.
    #[arg(long, conflicts_with = "raw")]
    pub(crate) json: bool,

    /// Print only the body, byte for byte (to pipe into jq, say).
    #[arg(long)]
    pub(crate) raw: bool,
}

/// `webhook events replay`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["id", "dead"])))]
pub(crate) struct ReplayArgs {
    /// The event to replay.
    #[arg(value_name = "ID")]
    pub(crate) id: Option<i64>,

    /// Replay this provider's dead events (with --dead).
    #[arg(long, value_name = "PROVIDER", requires = "dead")]
    pub(crate) provider: Option<String>,

    /// Only dead events of this type (with --dead).
    #[arg(long = "type", value_name = "TYPE", requires = "dead")]
    pub(crate) event_type: Option<String>,

    /// Replay the dead events of --provider.
    #[arg(long, requires = "provider")]
    pub(crate) dead: bool,

    /// Print a JSON object: {"replayed": N}.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `webhook providers`.
#[derive(Debug, Args)]
pub(crate) struct ProvidersArgs {
    /// Print a JSON array of {"name", "secret"}.
    #[arg(long)]
    pub(crate) json: bool,
}

/// An event status, as `--status` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StatusArg {
    /// Stored, waiting for a worker.
    Pending,
    /// Leased by a worker.
    Processing,
    /// Handled.
    Done,
    /// Failed; waiting for its next attempt.
    Failed,
    /// Every attempt failed.
    Dead,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
