//! `webhook-load prefill`: a SQLite event store holding `count` handled GitHub pushes
//! received `age_days` ago, as a receiver's store looks after days of traffic. Started on
//! it, a receiver whose retention is shorter than the age purges them while it serves:
//! what `tools/bench-purge.sh` measures.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use webhook_pipeline::{EventStore, NewEvent, SqliteStore};

/// The settings of a prefill.
#[derive(clap::Parser)]
pub(crate) struct Args {
    /// The SQLite store to fill (`sqlite:///path/events.db`; created if missing).
    #[arg(long)]
    db: String,
    /// Handled events to write.
    #[arg(long, default_value_t = 300_000)]
    count: u64,
    /// How long ago they were received, in days.
    #[arg(long, default_value_t = 8)]
    age_days: u64,
}

/// Events written per transaction.
const BATCH: u64 = 1_000;

pub(crate) async fn run(args: Args) -> ExitCode {
    let store = match SqliteStore::connect(&args.db).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("cannot open {}: {e}", args.db);
            return ExitCode::FAILURE;
        }
    };
    let received = SystemTime::now() - Duration::from_secs(args.age_days * 86_400);
    let started = Instant::now();
    let mut written = 0u64;
    while written < args.count {
        let n = BATCH.min(args.count - written);
        let events: Vec<NewEvent> = (written..written + n)
            .map(|i| NewEvent {
                provider: "github".into(),
                delivery_id: format!("prefill-{i}"),
                event_type: Some("push".into()),
                headers: vec![("x-github-event".into(), "push".into())],
                body: crate::push_body(i).into(),
                received_at: received,
            })
            .collect();
        let settled = async {
            store.insert(&events).await?;
            let leased = store.lease("prefill", n as usize, Duration::from_secs(60), SystemTime::now()).await?;
            let ids: Vec<_> = leased.iter().map(|e| e.id).collect();
            store.complete_many(&ids, "prefill").await
        };
        match settled.await {
            Ok(done) if done == n => written += n,
            Ok(done) => {
                eprintln!("{done} of {n} events marked done: is another process using {}?", args.db);
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("prefill: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    store.close().await;
    eprintln!(
        "{written} handled events received {} days ago written to {} in {:.1} s",
        args.age_days,
        args.db,
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
