//! `webhook events list | show | replay | purge`, against the event store a receiver writes, opened
//! from the same `DATABASE_URL` (`sqlite://path` or `postgres://…`) through the store's
//! public constructors and the [`EventStore`] trait only.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use webhook_pipeline::{purge_all, Event, EventStore, Filter, PostgresStore, PurgeBefore, SqliteStore, Status};

use crate::cli::{EventsArgs, EventsCommand, ListArgs, PurgeArgs, ReplayArgs, SettledArg, ShowArgs, StatusArg};
use crate::output::{self, Failure};

/// `webhook events ...`.
pub(crate) fn run(args: &EventsArgs) -> Result<ExitCode, Failure> {
    with_store(args.database_url.as_deref(), |store| async move {
        match &args.command {
            EventsCommand::List(a) => list(&*store, a).await,
            EventsCommand::Show(a) => show(&*store, a).await,
            EventsCommand::Replay(a) => replay(&*store, a).await,
            EventsCommand::Purge(a) => purge(&*store, a, SystemTime::now()).await,
        }
    })
}

/// Checks the URL, opens the store on a current-thread runtime, and runs `f` with it
/// (`events` and `audit` alike).
pub(crate) fn with_store<F, Fut>(url: Option<&str>, f: F) -> Result<ExitCode, Failure>
where
    F: FnOnce(Box<dyn EventStore>) -> Fut,
    Fut: std::future::Future<Output = Result<ExitCode, Failure>>,
{
    let Some(url) = url else {
        return Err(Failure::usage("no event store given: pass --database-url or set DATABASE_URL"));
    };
    check_database_url(url)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async { f(open(url).await?).await })
}

/// A usage error for a URL this command cannot use, before anything is opened.
fn check_database_url(url: &str) -> Result<(), Failure> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(());
    }
    let Some(path) = sqlite_path(url) else {
        return Err(Failure::usage(format!(
            "bad --database-url {}: expected sqlite://path or postgres://user@host/db",
            output::redact_url(url)
        )));
    };
    if path.is_empty() || path == ":memory:" || url.contains("mode=memory") {
        return Err(Failure::usage(
            "bad --database-url: an in-memory SQLite database holds no stored events; give the receiver's file",
        ));
    }
    Ok(())
}

/// The file of a `sqlite:` URL (`sqlite://webhooks.db`, `sqlite:///abs/path.db`,
/// `sqlite:webhooks.db?mode=rwc`), as sqlx reads it.
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    Some(rest.split_once('?').map_or(rest, |(path, _)| path))
}

/// Opens the store. A SQLite file that does not exist is an error, not a new empty store.
async fn open(url: &str) -> Result<Box<dyn EventStore>, Failure> {
    let shown = output::redact_url(url);
    if let Some(path) = sqlite_path(url) {
        if !Path::new(path).is_file() {
            return Err(Failure::runtime(format!(
                "no event store at {shown}: {path} does not exist (the receiver creates it on its first start)"
            )));
        }
        let store = SqliteStore::connect(url)
            .await
            .map_err(|e| Failure::runtime(format!("cannot open the event store at {shown}: {e}")))?;
        return Ok(Box::new(store));
    }
    let store = PostgresStore::connect(url)
        .await
        .map_err(|e| Failure::runtime(format!("cannot open the event store at {shown}: {e}")))?;
    Ok(Box::new(store))
}

fn status(arg: StatusArg) -> Status {
    match arg {
        StatusArg::Pending => Status::Pending,
        StatusArg::Processing => Status::Processing,
        StatusArg::Done => Status::Done,
        StatusArg::Failed => Status::Failed,
        StatusArg::Dead => Status::Dead,
    }
}

fn store_error(what: &str) -> impl Fn(webhook_core::dedup::StoreError) -> Failure + '_ {
    move |e| Failure::runtime(format!("{what}: {e}"))
}

/// What `list --json` gives for each event, and `show --json` starts from.
fn summary(e: &Event) -> serde_json::Value {
    serde_json::json!({
        "id": e.id,
        "provider": e.provider,
        "delivery_id": e.delivery_id,
        "event_type": e.event_type,
        "routing_key": e.routing_key(),
        "status": e.status.as_str(),
        "attempts": e.attempts,
        "received_at": output::time_millis(e.received_at),
        "next_attempt_at": output::time_millis(e.next_attempt_at),
        "last_error": e.last_error,
        "body_len": e.body.len(),
    })
}

/// `events list`.
async fn list(store: &dyn EventStore, args: &ListArgs) -> Result<ExitCode, Failure> {
    let filter = Filter {
        provider: args.provider.clone(),
        event_type: args.event_type.clone(),
        status: args.status.map(status),
        ..Filter::default()
    };
    let events = store.list(&filter, args.limit).await.map_err(store_error("listing events"))?;
    if args.json {
        output::print_json(&serde_json::Value::Array(events.iter().map(summary).collect()))?;
        return Ok(ExitCode::SUCCESS);
    }
    if events.is_empty() {
        eprintln!("no events match");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                output::cell(&e.provider, 24),
                output::cell(e.routing_key().as_deref().unwrap_or("-"), 32),
                e.status.to_string(),
                e.attempts.to_string(),
                output::time_seconds(e.received_at),
                output::cell(&e.delivery_id, 40),
                output::cell(e.last_error.as_deref().unwrap_or(""), 60),
            ]
        })
        .collect();
    let header = ["ID", "PROVIDER", "ROUTING KEY", "STATUS", "ATTEMPTS", "RECEIVED", "DELIVERY", "LAST ERROR"];
    output::write_stdout(output::table(&header, &rows).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// `events show`.
async fn show(store: &dyn EventStore, args: &ShowArgs) -> Result<ExitCode, Failure> {
    let Some(e) = store.get(args.id).await.map_err(store_error("reading the event"))? else {
        return Err(Failure::runtime(format!("no event with id {}", args.id)));
    };
    if args.raw {
        output::write_stdout(&e.body)?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.json {
        let mut out = summary(&e);
        let mut headers = serde_json::Map::new();
        for (k, v) in &e.headers {
            match headers.get_mut(k) {
                Some(serde_json::Value::String(s)) => {
                    s.push_str(", ");
                    s.push_str(v);
                }
                _ => {
                    headers.insert(k.clone(), v.as_str().into());
                }
            }
        }
        let (encoding, text) = output::body_json(&e.body);
        out["headers"] = headers.into();
        out["body"] = text.into();
        out["body_encoding"] = encoding.into();
        output::print_json(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = String::new();
    let mut field = |name: &str, value: &str| text.push_str(&format!("{name:<14}{}\n", output::cell(value, 1000)));
    field("id", &e.id.to_string());
    field("provider", &e.provider);
    field("delivery id", &e.delivery_id);
    field("event type", e.event_type.as_deref().unwrap_or("-"));
    field("routing key", e.routing_key().as_deref().unwrap_or("-"));
    field("status", e.status.as_str());
    field("attempts", &e.attempts.to_string());
    field("received at", &output::time_millis(e.received_at));
    field("next attempt", &output::time_millis(e.next_attempt_at));
    field("last error", e.last_error.as_deref().unwrap_or("-"));
    text.push_str("\nheaders:\n");
    if e.headers.is_empty() {
        text.push_str("  (none kept)\n");
    }
    for (k, v) in &e.headers {
        text.push_str(&format!("  {}: {}\n", output::cell(k, 200), output::cell(v, 2000)));
    }
    match std::str::from_utf8(&e.body) {
        Ok(body) => {
            text.push_str(&format!("\nbody ({} bytes, UTF-8):\n", e.body.len()));
            text.push_str(&output::printable(body));
            if !body.ends_with('\n') {
                text.push('\n');
            }
        }
        Err(_) => {
            text.push_str(&format!("\nbody ({} bytes, not UTF-8; shown as base64):\n", e.body.len()));
            text.push_str(&output::body_json(&e.body).1);
            text.push('\n');
        }
    }
    output::write_stdout(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// `events replay`.
async fn replay(store: &dyn EventStore, args: &ReplayArgs) -> Result<ExitCode, Failure> {
    let now = SystemTime::now();
    let replayed = match (args.id, &args.provider) {
        (Some(id), _) => {
            let Some(event) = store.get(id).await.map_err(store_error("reading the event"))? else {
                return Err(Failure::runtime(format!("no event with id {id}")));
            };
            let n = store.replay(&Filter::id(id), now).await.map_err(store_error("replaying the event"))?;
            if n == 0 && event.status == Status::Processing {
                return Err(Failure::runtime(format!(
                    "event {id} is being processed by a worker; not replayed (try again once its lease ends)"
                )));
            }
            n
        }
        (None, Some(provider)) => {
            let mut filter = Filter::dead().provider(provider);
            if let Some(t) = &args.event_type {
                filter = filter.event_type(t);
            }
            store.replay(&filter, now).await.map_err(store_error("replaying events"))?
        }
        (None, None) => return Err(Failure::usage("events replay: give an ID, or --provider P --dead")),
    };
    if args.json {
        output::print_json(&serde_json::json!({ "replayed": replayed }))?;
    } else {
        let plural = if replayed == 1 { "" } else { "s" };
        output::write_stdout(format!("replayed {replayed} event{plural}\n").as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Events deleted per batch (one short transaction each): the receivers' purger's.
const PURGE_BATCH: usize = webhook_pipeline::RetentionConfig::DEFAULT_BATCH;

/// `--before`: an RFC 3339 time, or an age counted back from `now`.
fn purge_cutoff(text: &str, now: SystemTime) -> Result<SystemTime, Failure> {
    let text = text.trim();
    let before = match humantime::parse_rfc3339_weak(text) {
        Ok(t) => t,
        Err(_) => {
            let age = humantime::parse_duration(text).map_err(|_| {
                Failure::usage(format!(
                    "--before {text}: expected an RFC 3339 time (2024-05-01T00:00:00Z) or an age (7d, 36h)"
                ))
            })?;
            now.checked_sub(age).ok_or_else(|| Failure::usage(format!("--before {text}: before the epoch")))?
        }
    };
    if before > now {
        return Err(Failure::usage(format!("--before {text}: that is in the future")));
    }
    Ok(before)
}

/// `events purge`.
async fn purge(store: &dyn EventStore, args: &PurgeArgs, now: SystemTime) -> Result<ExitCode, Failure> {
    let before = purge_cutoff(&args.before, now)?;
    let cutoffs = match args.status {
        None => PurgeBefore::none().done(before).dead(before),
        Some(SettledArg::Done) => PurgeBefore::none().done(before),
        Some(SettledArg::Dead) => PurgeBefore::none().dead(before),
    };
    let ttl = webhook_core::receive::DEFAULT_DEDUP_TTL;
    if cutoffs.done.is_some() && now.duration_since(before).unwrap_or(Duration::ZERO) < ttl {
        eprintln!(
            "warning: handled events younger than the {}-day dedup TTL: a redelivery of one deleted now would \
             be handled again",
            ttl.as_secs() / 86_400
        );
    }
    let counts = if args.dry_run {
        store.count_purgeable(&cutoffs).await.map_err(store_error("counting events to purge"))?
    } else {
        purge_all(store, &cutoffs, PURGE_BATCH).await.map_err(store_error("purging events"))?
    };
    if args.json {
        output::print_json(&serde_json::json!({
            "dry_run": args.dry_run,
            "before": output::time_millis(before),
            "done": counts.done,
            "dead": counts.dead,
        }))?;
    } else {
        let total = counts.total();
        let (verb, plural) = (if args.dry_run { "would purge" } else { "purged" }, if total == 1 { "" } else { "s" });
        let line = format!(
            "{verb} {total} event{plural} received before {} ({} done, {} dead)\n",
            output::time_seconds(before),
            counts.done,
            counts.dead
        );
        output::write_stdout(line.as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_cutoffs_are_times_or_ages() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(purge_cutoff("7d", now).unwrap(), now - Duration::from_secs(7 * 86_400));
        assert_eq!(purge_cutoff(" 36h ", now).unwrap(), now - Duration::from_secs(36 * 3600));
        let t = purge_cutoff("2023-11-01T00:00:00Z", now).unwrap();
        assert_eq!(t, SystemTime::UNIX_EPOCH + Duration::from_secs(1_698_796_800));
        for bad in ["yesterday", "", "2030-01-01T00:00:00Z", "-7d"] {
            assert!(matches!(purge_cutoff(bad, now), Err(Failure::Usage(_))), "{bad:?}");
        }
    }

    #[test]
    fn database_urls_are_checked_before_opening() {
        assert_eq!(sqlite_path("sqlite://webhooks.db"), Some("webhooks.db"));
        assert_eq!(sqlite_path("sqlite:///var/lib/w.db?mode=rwc"), Some("/var/lib/w.db"));
        assert_eq!(sqlite_path("sqlite:w.db"), Some("w.db"));
        assert_eq!(sqlite_path("postgres://x"), None);
        assert!(check_database_url("postgres://postgres@127.0.0.1/test").is_ok());
        assert!(check_database_url("sqlite://w.db").is_ok());
        for bad in ["mysql://x", "sqlite::memory:", "sqlite://", "memory:", "w.db"] {
            assert!(matches!(check_database_url(bad), Err(Failure::Usage(_))), "{bad:?}");
        }
    }
}
