//! `webhook audit list`: the audit log a receiver keeps in its event store
//! (`WEBHOOK_AUDIT_DAYS`), read through [`EventStore::audit`].

use std::process::ExitCode;

use webhook_pipeline::{AuditEntry, AuditFilter, EventStore};

use crate::cli::{AuditArgs, AuditCommand, AuditListArgs};
use crate::events::with_store;
use crate::output::{self, Failure};

/// `webhook audit ...`.
pub(crate) fn run(args: &AuditArgs) -> Result<ExitCode, Failure> {
    with_store(args.database_url.as_deref(), |store| async move {
        match &args.command {
            AuditCommand::List(a) => list(&*store, a).await,
        }
    })
}

fn record_json(e: &AuditEntry) -> serde_json::Value {
    let r = &e.record;
    serde_json::json!({
        "id": e.id,
        "request_id": r.request_id,
        "provider": r.provider,
        "delivery_id": r.delivery_id,
        "event_type": r.event_type,
        "received_at": output::time_millis(r.received_at),
        "signature_verified": r.signature_verified,
        "outcome": r.outcome,
        "status": r.status,
        "error": r.error,
        "client_ip": r.client_ip,
        "processing": e.processing.map(|s| s.as_str()),
    })
}

async fn list(store: &dyn EventStore, args: &AuditListArgs) -> Result<ExitCode, Failure> {
    let mut filter = AuditFilter::default();
    filter.provider.clone_from(&args.provider);
    filter.delivery_id.clone_from(&args.delivery);
    filter.request_id.clone_from(&args.request);
    filter.outcome.clone_from(&args.outcome);
    filter.verified = match (args.refused, args.verified) {
        (true, _) => Some(false),
        (_, true) => Some(true),
        _ => None,
    };
    let entries =
        store.audit(&filter, args.limit).await.map_err(|e| Failure::runtime(format!("reading the audit log: {e}")))?;
    if args.json {
        output::print_json(&serde_json::Value::Array(entries.iter().map(record_json).collect()))?;
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        eprintln!("no audit records match (is WEBHOOK_AUDIT_DAYS set on the receiver?)");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let r = &e.record;
            vec![
                output::time_seconds(r.received_at),
                output::cell(&r.provider, 16),
                r.status.to_string(),
                output::cell(&r.outcome, 18),
                if r.signature_verified { "yes" } else { "no" }.to_owned(),
                output::cell(r.delivery_id.as_deref().unwrap_or("-"), 40),
                output::cell(r.event_type.as_deref().unwrap_or("-"), 24),
                e.processing.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                output::cell(r.client_ip.as_deref().unwrap_or("-"), 40),
                output::cell(&r.request_id, 40),
                output::cell(r.error.as_deref().unwrap_or(""), 60),
            ]
        })
        .collect();
    let header = [
        "RECEIVED", "PROVIDER", "STATUS", "OUTCOME", "VERIFIED", "DELIVERY", "TYPE", "EVENT", "CLIENT", "REQUEST",
        "ERROR",
    ];
    output::write_stdout(output::table(&header, &rows).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
