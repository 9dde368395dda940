//! The example application's handler: it logs each handled event and records it in its
//! own table, `handled_deliveries`, through [`Effects`]: the row commits in the transaction
//! that marks the event done, so a crash at any moment leaves exactly one row per done
//! event and none for the others (the process tests count them).
//!
//! An Amazon SNS `SubscriptionConfirmation` is confirmed here, from the stored event:
//! [`confirm_sns`] `GET`s its `SubscribeURL` (an SNS host only) before the row is written,
//! and a confirmation that fails is retried like any failed handling.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use webhook_core::providers;
use webhook_pipeline::{CertificateFetcher, Effects, Event, EventRouter, EventStore, HandlerError};

use crate::Config;

/// The table: portable DDL (SQLite and PostgreSQL); on the memory store the statements
/// are kept, not run.
pub const HANDLED_TABLE: &str = "CREATE TABLE IF NOT EXISTS handled_deliveries (\
    event_id BIGINT NOT NULL, provider TEXT NOT NULL, delivery_id TEXT NOT NULL, event_type TEXT, \
    attempt BIGINT NOT NULL, handled_at BIGINT NOT NULL)";

/// What [`handler`] returns for each event.
pub type Handled = Pin<Box<dyn Future<Output = Result<Effects, HandlerError>> + Send>>;

/// The handler for every event: it logs the event, confirms an Amazon SNS subscription
/// ([`confirm_sns`], with the configured certificate fetcher's client) and, unless
/// `WEBHOOK_RECORD_HANDLED=0`, returns the row to write (creating the table first).
pub async fn handler(
    config: &Config,
    store: &Arc<dyn EventStore>,
) -> Result<impl Fn(Event) -> Handled + Send + Sync + 'static, String> {
    let record = config.record_handled;
    if record {
        create_table(store.as_ref()).await?;
    }
    let fetcher = config.certificates.clone();
    Ok(move |event: Event| -> Handled {
        log(&event);
        let fetcher = fetcher.clone();
        Box::pin(async move {
            if let Some(fetcher) = &fetcher {
                confirm_sns(fetcher, &event).await?;
            }
            Ok(if record { row(&event) } else { Effects::new() })
        })
    })
}

/// For an `aws-sns` `SubscriptionConfirmation` event: `GET`s its `SubscribeURL` (an HTTPS
/// URL on an Amazon SNS host, else a permanent failure: nothing is sent), as Amazon's
/// documentation asks, so the topic starts delivering. A confirmation that cannot be sent
/// now is a retryable failure: the pipeline tries again with backoff. Every other event:
/// nothing.
pub async fn confirm_sns(fetcher: &CertificateFetcher, event: &Event) -> Result<(), HandlerError> {
    if event.provider != providers::AWS_SNS.name() || event.event_type.as_deref() != Some("SubscriptionConfirmation") {
        return Ok(());
    }
    match fetcher.confirm_subscription(&event.body).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_refused() => Err(HandlerError::permanent(format!("SNS subscription not confirmed: {e}"))),
        Err(e) => Err(HandlerError::retry(format!("SNS subscription not confirmed yet: {e}"))),
    }
}

/// The broker consumer's application (`examples/broker-consumer`): log every event, and
/// confirm an Amazon SNS subscription ([`confirm_sns`]) as the receivers' own workers do.
/// An application writes its handlers by provider and event type with
/// `EventRouter::on(providers::GITHUB, "push", ...)`.
pub fn consumer_router(certificates: CertificateFetcher) -> EventRouter {
    EventRouter::new().catch_all(move |event: Event| {
        let certificates = certificates.clone();
        async move {
            log(&event);
            confirm_sns(&certificates, &event).await
        }
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
