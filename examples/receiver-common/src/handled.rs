//! The example application's handler: it logs each handled event and records it in its
//! own table, `handled_deliveries`, through [`Effects`]: the row commits in the transaction
//! that marks the event done, so a crash at any moment leaves exactly one row per done
//! event and none for the others (the process tests count them).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use webhook_pipeline::{Effects, Event, EventStore, HandlerError};

use crate::Config;

/// The table: portable DDL (SQLite and PostgreSQL); on the memory store the statements
/// are kept, not run.
pub const HANDLED_TABLE: &str = "CREATE TABLE IF NOT EXISTS handled_deliveries (\
    event_id BIGINT NOT NULL, provider TEXT NOT NULL, delivery_id TEXT NOT NULL, event_type TEXT, \
    attempt BIGINT NOT NULL, handled_at BIGINT NOT NULL)";

/// The handler for every event: it logs the event and, unless `WEBHOOK_RECORD_HANDLED=0`,
/// returns the row to write (creating the table first).
pub async fn handler(
    config: &Config,
    store: &Arc<dyn EventStore>,
) -> Result<impl Fn(Event) -> std::future::Ready<Result<Effects, HandlerError>> + Send + Sync + 'static, String> {
    let record = config.record_handled;
    if record {
        create_table(store.as_ref()).await?;
    }
    Ok(move |event: Event| {
        log(&event);
        std::future::ready(Ok(if record { row(&event) } else { Effects::new() }))
    })
}

/// Logs a handled event: provider, event type, delivery id and attempt.
pub fn log(event: &Event) {
    tracing::info!(
        provider = %event.provider,
        event_type = event.event_type.as_deref().unwrap_or("-"),
        id = %event.delivery_id,
        attempt = event.attempts,
        "webhook handled"
    );
}

/// The row in `handled_deliveries` for `event`, committed with its done mark.
fn row(event: &Event) -> Effects {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    Effects::new().execute(
        "INSERT INTO handled_deliveries (event_id, provider, delivery_id, event_type, attempt, handled_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        [
            event.id.into(),
            event.provider.as_str().into(),
            event.delivery_id.as_str().into(),
            event.event_type.as_deref().into(),
            event.attempts.into(),
            i64::try_from(now.as_millis()).unwrap_or(i64::MAX).into(),
        ],
    )
}

/// Creates [`HANDLED_TABLE`] if missing. Receivers starting together on one PostgreSQL can
/// collide on `CREATE TABLE IF NOT EXISTS` (a unique violation in the catalog): try again.
async fn create_table(store: &dyn EventStore) -> Result<(), String> {
    let ddl = Effects::new().execute(HANDLED_TABLE, []);
    let mut tries = 0;
    loop {
        match store.execute(&ddl).await {
            Ok(()) => return Ok(()),
            Err(e) if tries < 3 => {
                tries += 1;
                tracing::debug!(error = %e, "creating handled_deliveries; trying again");
                tokio::time::sleep(Duration::from_millis(100 * tries)).await;
            }
            Err(e) => return Err(format!("creating handled_deliveries: {e}")),
        }
    }
}
