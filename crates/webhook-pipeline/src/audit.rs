//! The audit log: one record per request a route answered, accepted or refused, kept in the
//! event store beside the events, queried through [`EventStore::audit`], and purged after a
//! retention period.
//!
//! Recording never slows an acknowledgement down: [`AuditLog::record`] hands the record to
//! a background task (a bounded queue; a record that finds it full is dropped and counted in
//! `webhook_audit_dropped_total`), which writes them in batches. The audit log is a record
//! of what happened, not part of the delivery guarantee: an accepted delivery is durable
//! because its event was committed before the 2xx, whatever became of its audit record.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::SystemTime;
//! use webhook_pipeline::{AuditConfig, AuditFilter, AuditLog, AuditRecord, EventStore, MemoryStore};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(MemoryStore::new());
//! let audit = AuditLog::spawn(store.clone(), AuditConfig::default());
//! audit.record(AuditRecord {
//!     outcome: "invalid_signature".into(),
//!     status: 401,
//!     error: Some("no signature matched".into()),
//!     ..AuditRecord::new("req-1", "github", SystemTime::now())
//! });
//! audit.flush().await;
//! let refused = store.audit(&AuditFilter::default().verified(false), 10).await?;
//! assert_eq!(refused[0].record.error.as_deref(), Some("no signature matched"));
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};

pub use webhook_core::sink::AuditRecord;
use webhook_core::sink::AuditSink;

use super::event::Status;
use super::store::EventStore;

/// An audit record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Its id in the store (increasing in the order records were written).
    pub id: i64,
    /// The record.
    pub record: AuditRecord,
    /// The processing status, now, of the stored event this request delivered (accepted or
    /// duplicate deliveries), if there is one.
    pub processing: Option<Status>,
}

/// How many requests the audit log holds for one time bucket, provider and outcome: a row
/// of [`EventStore::audit_counts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCount {
    /// The bucket's start: a multiple of the bucket's length since the epoch.
    pub bucket: SystemTime,
    /// The route's provider.
    pub provider: String,
    /// The outcome (`accepted`, `invalid_signature`, ...).
    pub outcome: String,
    /// How many requests.
    pub count: u64,
}

/// The bucket (as unix ms, a multiple of `bucket_ms`) that `t` falls in.
pub(crate) fn bucket_start(t: SystemTime, bucket_ms: u64) -> SystemTime {
    let ms = t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms / bucket_ms * bucket_ms)
}

/// A bucket's length in milliseconds, at least one.
pub(crate) fn bucket_ms(bucket: Duration) -> u64 {
    u64::try_from(bucket.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Which audit records to read; every field set must match. Records come newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditFilter {
    /// Only this provider's.
    pub provider: Option<String>,
    /// Only this delivery id's.
    pub delivery_id: Option<String>,
    /// Only this request's.
    pub request_id: Option<String>,
    /// Only this outcome's (`invalid_signature`, ...).
    pub outcome: Option<String>,
    /// Only verified (`true`) or only refused-before-verification (`false`) requests.
    pub verified: Option<bool>,
    /// Only requests received at or after this time.
    pub since: Option<SystemTime>,
}

impl AuditFilter {
    /// Only `provider`'s records.
    #[must_use]
    pub fn provider(mut self, provider: &str) -> Self {
        self.provider = Some(provider.to_owned());
        self
    }

    /// Only the records of delivery `id`.
    #[must_use]
    pub fn delivery_id(mut self, id: &str) -> Self {
        self.delivery_id = Some(id.to_owned());
        self
    }

    /// Only the record of request `id`.
    #[must_use]
    pub fn request_id(mut self, id: &str) -> Self {
        self.request_id = Some(id.to_owned());
        self
    }

    /// Only records with this outcome.
    #[must_use]
    pub fn outcome(mut self, outcome: &str) -> Self {
        self.outcome = Some(outcome.to_owned());
        self
    }

    /// Only records whose signature verified (`true`) or did not (`false`).
    #[must_use]
    pub fn verified(mut self, verified: bool) -> Self {
        self.verified = Some(verified);
        self
    }

    /// Only records received at or after `since`.
    #[must_use]
    pub fn since(mut self, since: SystemTime) -> Self {
        self.since = Some(since);
        self
    }

    /// Whether `record` passes.
    pub fn matches(&self, record: &AuditRecord) -> bool {
        self.provider.as_ref().is_none_or(|p| *p == record.provider)
            && self.delivery_id.as_ref().is_none_or(|d| record.delivery_id.as_ref() == Some(d))
            && self.request_id.as_ref().is_none_or(|r| *r == record.request_id)
            && self.outcome.as_ref().is_none_or(|o| *o == record.outcome)
            && self.verified.is_none_or(|v| v == record.signature_verified)
            && self.since.is_none_or(|s| record.received_at >= s)
    }
}

/// Audit log settings: `AuditConfig::default().retention(..)`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AuditConfig {
    /// How long records are kept (30 days by default).
    pub retention: Duration,
    /// How often records past their retention are deleted (hourly by default).
    pub purge_every: Duration,
    /// Records that may wait to be written; more are dropped and counted.
    pub queue: usize,
    /// Most records written in one batch.
    pub max_batch: usize,
}

impl AuditConfig {
    /// Keeps records for `retention`.
    #[must_use]
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(30 * 24 * 3600),
            purge_every: Duration::from_secs(3600),
            queue: 65_536,
            max_batch: 1024,
        }
    }
}

enum Message {
    Record(AuditRecord),
    Flush(oneshot::Sender<()>),
}

/// Writes audit records to an [`EventStore`] in the background, and purges the ones past
/// their retention. Cheap to clone; the tasks stop when the last clone is dropped.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Message>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").field("queued", &(self.tx.max_capacity() - self.tx.capacity())).finish()
    }
}

impl AuditLog {
    /// Starts the writer and the purge on the current tokio runtime.
    pub fn spawn(store: Arc<dyn EventStore>, config: AuditConfig) -> Self {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        tokio::spawn(writer(store.clone(), rx, config.max_batch.max(1)));
        let weak = tx.downgrade();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(config.purge_every.max(Duration::from_secs(1)));
            loop {
                every.tick().await;
                if weak.upgrade().is_none() {
                    return;
                }
                let before = SystemTime::now().checked_sub(config.retention).unwrap_or(SystemTime::UNIX_EPOCH);
                match store.purge_audit(before).await {
                    Ok(n) => metrics::counter!("webhook_audit_purged_total").increment(n),
                    Err(e) => tracing::warn!(error = %e, "purging the audit log failed"),
                }
            }
        });
        Self { tx }
    }

    /// Queues `record` for writing; never waits. A full queue drops it (counted in
    /// `webhook_audit_dropped_total`).
    pub fn record(&self, record: AuditRecord) {
        if self.tx.try_send(Message::Record(record)).is_err() {
            metrics::counter!("webhook_audit_dropped_total").increment(1);
        }
    }

    /// Waits until every record queued before this call has been written (or failed).
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

impl AuditSink for AuditLog {
    fn record(&self, record: AuditRecord) {
        AuditLog::record(self, record);
    }
}

async fn writer(store: Arc<dyn EventStore>, mut rx: mpsc::Receiver<Message>, max: usize) {
    let mut batch = Vec::with_capacity(max);
    let mut flushes = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Record(r) => batch.push(r),
                Message::Flush(done) => flushes.push(done),
            }
            if batch.len() < max {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            if let Err(e) = store.record_audit(&batch).await {
                metrics::counter!("webhook_audit_dropped_total").increment(batch.len() as u64);
                tracing::warn!(error = %e, records = batch.len(), "writing the audit log failed");
            }
            batch.clear();
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testing::{at, event};
    use crate::Inserted;

    /// A retention longer than the records' age (`at` is in 2023): the purge the log runs
    /// at its start must not race the writer for them.
    fn keep_all() -> AuditConfig {
        AuditConfig::default().retention(Duration::from_secs(100 * 365 * 86_400))
    }

    fn record(request: &str, provider: &str, secs: u64) -> AuditRecord {
        AuditRecord::new(request, provider, at(secs))
    }

    /// What every store's audit log must do.
    pub(crate) async fn audit_conformance(store: &dyn EventStore) {
        let stored = store.insert(&[event("github", "d1", "push")]).await.expect("insert");
        assert!(matches!(stored[..], [Inserted::New(_)]));
        let records = [
            AuditRecord {
                delivery_id: Some("d1".into()),
                event_type: Some("push".into()),
                signature_verified: true,
                outcome: "accepted".into(),
                status: 200,
                client_ip: Some("192.0.2.7".into()),
                ..record("r1", "github", 10)
            },
            AuditRecord {
                delivery_id: Some("d1".into()),
                outcome: "invalid_signature".into(),
                status: 401,
                error: Some("no signature matched".into()),
                ..record("r2", "github", 20)
            },
            AuditRecord { outcome: "malformed".into(), status: 400, ..record("r3", "stripe", 30) },
        ];
        store.record_audit(&records).await.expect("record");

        let all = store.audit(&AuditFilter::default(), 10).await.expect("audit");
        assert_eq!(all.iter().map(|e| e.record.request_id.as_str()).collect::<Vec<_>>(), ["r3", "r2", "r1"]);
        assert_eq!(all[2].record, records[0], "a record comes back field for field");
        assert!(all[0].id > all[1].id && all[1].id > all[2].id);
        // The accepted request shows its event's processing status; a refused copy claiming
        // the same id does not (its claim was never verified).
        assert_eq!((all[2].processing, all[1].processing, all[0].processing), (Some(Status::Pending), None, None));

        let refused = store.audit(&AuditFilter::default().verified(false).provider("github"), 10).await.expect("audit");
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].record.error.as_deref(), Some("no signature matched"));
        let one = AuditFilter::default().delivery_id("d1").outcome("accepted").request_id("r1");
        assert_eq!(store.audit(&one, 10).await.expect("audit").len(), 1);
        assert_eq!(store.audit(&AuditFilter::default().since(at(20)), 10).await.expect("audit").len(), 2);
        assert_eq!(store.audit(&AuditFilter::default(), 1).await.expect("audit")[0].record.request_id, "r3");

        // Retention: everything received before the cut goes.
        assert_eq!(store.purge_audit(at(25)).await.expect("purge"), 2);
        let left = store.audit(&AuditFilter::default(), 10).await.expect("audit");
        assert_eq!(left.iter().map(|e| e.record.request_id.as_str()).collect::<Vec<_>>(), ["r3"]);
    }

    #[tokio::test]
    async fn memory_store_keeps_an_audit_log() {
        audit_conformance(&crate::MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn the_log_writes_in_the_background_and_flush_waits_for_it() {
        let store = Arc::new(crate::MemoryStore::new());
        let log = AuditLog::spawn(store.clone(), keep_all());
        for i in 0..100 {
            log.record(record(&format!("r{i}"), "github", i));
        }
        log.flush().await;
        assert_eq!(store.audit(&AuditFilter::default(), 1000).await.unwrap().len(), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn records_past_their_retention_are_purged() {
        let store = Arc::new(crate::MemoryStore::new());
        let config = AuditConfig {
            retention: Duration::from_secs(60),
            purge_every: Duration::from_secs(10),
            ..AuditConfig::default()
        };
        let log = AuditLog::spawn(store.clone(), config);
        let now = SystemTime::now();
        log.record(AuditRecord::new("old", "github", now - Duration::from_secs(3600)));
        log.record(AuditRecord::new("new", "github", now));
        log.flush().await;
        tokio::time::sleep(Duration::from_secs(11)).await;
        let left = store.audit(&AuditFilter::default(), 10).await.unwrap();
        assert_eq!(left.iter().map(|e| e.record.request_id.as_str()).collect::<Vec<_>>(), ["new"]);
    }

    #[tokio::test]
    async fn a_full_queue_drops_records_instead_of_waiting() {
        let store = Arc::new(crate::MemoryStore::new());
        let log = AuditLog::spawn(store.clone(), AuditConfig { queue: 1, ..keep_all() });
        // The writer task has not run yet (current-thread runtime): one fits, the rest drop.
        for i in 0..10 {
            log.record(record(&format!("r{i}"), "github", i));
        }
        log.flush().await;
        assert_eq!(store.audit(&AuditFilter::default(), 100).await.unwrap().len(), 1);
    }
}
