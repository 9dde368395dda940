//! The audit log over real HTTP, against all three receivers (`WEBHOOK_AUDIT_DAYS`): every
//! request is recorded, accepted or refused (401, 403, 413, 503), with its reason, and read
//! back through the public API from the receiver's SQLite file; the answer's
//! `X-Request-Id`, the request's tracing span (captured in-process) and the record agree;
//! old records are purged and records the store refuses are counted as dropped.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::Method;
use webhook_core::{providers, SignRequest, Verifier};
use webhook_pipeline::{AuditEntry, AuditFilter, EventStore, SqliteStore, Status};

use webhook_tests::{send, temp_db, Answer, Payload, Receiver};

const SECRET: &str = "audit-secret";

async fn github(addr: SocketAddr, id: &str, secret: &str, extra: &[(&str, &str)]) -> Answer {
    let signer = Verifier::new(providers::GITHUB, secret).unwrap();
    let body = br#"{"action":"opened"}"#;
    let signed = signer.sign(&SignRequest::new(body, SystemTime::now()).id(id).event_type("issues")).unwrap();
    let mut headers: Vec<(String, String)> = signed.headers().iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    send(addr, Method::POST, "/webhooks/github", &headers, Payload::Sized(Bytes::from_static(body))).await
}

/// Everything the receivers in this test process trace (DEBUG and up, with a line when
/// each span closes, which carries all its fields), for the tests to read.
fn traced() -> &'static std::sync::Mutex<Vec<u8>> {
    static CAPTURED: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    CAPTURED.get_or_init(|| {
        struct Writer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Writer {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let captured = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_ansi(false)
            .with_writer(move || Writer(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber in this test process");
        captured
    })
}

/// The closing line of the `webhook` span of the request `request_id`, without quotes.
fn span_of(request_id: &str) -> String {
    let text = String::from_utf8_lossy(&traced().lock().unwrap()).replace('"', "");
    let needle = format!("request_id={request_id} ");
    let mut lines = text.lines().filter(|l| l.contains("webhook{") && l.contains(&needle) && l.contains("close"));
    match (lines.next(), lines.next()) {
        (Some(line), None) => line.to_owned(),
        other => panic!("not one closed span for request {request_id}: {other:?}"),
    }
}

/// Polls the audit log until it holds `n` records (the receiver writes them in the
/// background), for at most 10 s.
async fn records(store: &SqliteStore, n: usize) -> Vec<AuditEntry> {
    let mut last = Vec::new();
    for _ in 0..200 {
        last = store.audit(&AuditFilter::default(), 100).await.unwrap();
        if last.len() >= n {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the audit log holds {} records, expected {n}: {last:?}", last.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_audited_with_its_outcome_and_reason() {
    traced();
    for receiver in Receiver::ALL {
        let db = temp_db(receiver);
        let url = format!("sqlite://{}", db.display());
        let addr = receiver
            .start(&[("GITHUB_WEBHOOK_SECRET", SECRET), ("WEBHOOK_AUDIT_DAYS", "7"), ("DATABASE_URL", &url)])
            .await;
        let tag = format!("{receiver:?}").to_lowercase();
        let (good, forged) = (format!("{tag}-good"), format!("{tag}-forged"));

        let callers = format!("lb-req-42-{tag}");
        let ok = github(addr, &good, SECRET, &[("X-Request-Id", &callers)]).await;
        assert_eq!(ok.status, 200, "{receiver:?}: {ok:?}");
        let again = github(addr, &good, SECRET, &[]).await;
        assert_eq!((again.status, again.body.as_str()), (200, r#"{"status":"duplicate"}"#), "{receiver:?}");
        let bad = github(addr, &forged, "not-the-secret", &[]).await;
        assert_eq!(bad.status, 401, "{receiver:?}: {bad:?}");
        // Every answer says which request it was: the caller's id, or the one the receiver
        // gave it (and logged, and audited: checked below).
        assert_eq!(ok.request_id.as_deref(), Some(callers.as_str()), "{receiver:?}: the caller's id is echoed");
        let (again_id, bad_id) = (again.request_id.clone().unwrap(), bad.request_id.clone().unwrap());
        assert!(!again_id.is_empty() && again_id != bad_id, "{receiver:?}: {again_id} {bad_id}");

        let store = SqliteStore::connect(&url).await.unwrap();
        let log = records(&store, 3).await;
        assert_eq!(log.len(), 3, "{receiver:?}: one record per request: {log:?}");

        // The refused request: its reason, the id it claimed (unverified), no event.
        let refused = store.audit(&AuditFilter::default().verified(false), 10).await.unwrap();
        assert_eq!(refused.len(), 1, "{receiver:?}: {refused:?}");
        let r = &refused[0].record;
        assert_eq!(
            (r.provider.as_str(), r.outcome.as_str(), r.status, r.delivery_id.as_deref(), r.signature_verified),
            ("github", "invalid_signature", 401, Some(forged.as_str()), false),
            "{receiver:?}: {r:?}"
        );
        let reason = r.error.as_deref().unwrap();
        assert!(reason.contains("signature"), "{receiver:?}: the reason says what was wrong: {reason}");
        assert!(!reason.contains(SECRET) && !reason.contains("not-the-secret"), "{receiver:?}: no secret: {reason}");
        assert_eq!(refused[0].processing, None, "{receiver:?}: a refused request has no event");
        assert_eq!(r.client_ip.as_deref(), Some("127.0.0.1"), "{receiver:?}");
        assert_eq!(r.request_id, bad_id, "{receiver:?}: the audit record has the id the 401 carried");

        // The accepted one, with the caller's request id and its event's processing status;
        // the duplicate points at the same event.
        let accepted = store.audit(&AuditFilter::default().outcome("accepted"), 10).await.unwrap();
        assert_eq!(accepted.len(), 1, "{receiver:?}: {accepted:?}");
        let a = &accepted[0];
        assert_eq!(
            (a.record.request_id.as_str(), a.record.delivery_id.as_deref(), a.record.event_type.as_deref()),
            (callers.as_str(), Some(good.as_str()), Some("issues")),
            "{receiver:?}"
        );
        assert!(a.record.signature_verified && a.record.error.is_none(), "{receiver:?}: {a:?}");
        assert!(matches!(a.processing, Some(Status::Pending | Status::Processing | Status::Done)), "{receiver:?}");
        let dup = store.audit(&AuditFilter::default().outcome("duplicate"), 10).await.unwrap();
        assert_eq!(dup[0].record.delivery_id.as_deref(), Some(good.as_str()), "{receiver:?}");
        assert_eq!(dup[0].record.request_id, again_id, "{receiver:?}: a request without an id gets the echoed one");

        // The request's tracing span carries the same request id, with the same outcome,
        // delivery id and client as the answer and the record.
        for (rid, outcome, id) in
            [(&callers, "accepted", &good), (&again_id, "duplicate", &good), (&bad_id, "invalid_signature", &forged)]
        {
            let span = span_of(rid);
            for field in ["provider=github".to_owned(), format!("outcome={outcome}"), "client=127.0.0.1".to_owned()] {
                assert!(span.contains(&field), "{receiver:?}: no {field} in the span of {rid}: {span}");
            }
            // A refused request's span names no delivery: its claimed id was never verified.
            let delivery = format!("delivery_id={id} ");
            assert_eq!(span.contains(&delivery), outcome != "invalid_signature", "{receiver:?}, {rid}: {span}");
        }
        store.close().await;
    }
}

/// The request's audit record, once the receiver has written it (for at most 10 s).
async fn record_of(store: &SqliteStore, request_id: &str) -> AuditEntry {
    let mut last = Vec::new();
    for _ in 0..200 {
        last = store.audit(&AuditFilter::default().request_id(request_id), 10).await.unwrap();
        if let [entry] = last.as_slice() {
            return entry.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = store.audit(&AuditFilter::default(), 100).await.unwrap();
    panic!("no single audit record for request {request_id}: {last:?}; the log: {all:#?}");
}

/// The value of a counter in the process's `GET /metrics` (all receivers in this test
/// process share one recorder).
async fn counter(addr: SocketAddr, name: &str) -> f64 {
    let text = send(addr, Method::GET, "/metrics", &[], Payload::Sized(Bytes::new())).await.body;
    text.lines().filter_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok()).sum()
}

/// Runs `sql` on the receiver's SQLite file, beside its writer (waiting for its lock).
fn sqlite_exec(db: &std::path::Path, sql: &str) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn.execute_batch(sql).unwrap();
}

/// Refusals before the body (403 from the allowlist, 413 by `Content-Length` or while
/// streaming) and a store failure (503) are audited like any answer, with the status, the
/// reason and the request id the response carried; records past `WEBHOOK_AUDIT_DAYS` are
/// purged (the receiver purges at start, then hourly: a record 30 days old is gone, one 6
/// days old stays); and a record the store cannot take is counted in
/// `webhook_audit_dropped_total`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_store_failures_purge_and_drops_are_audited() {
    traced();
    const DAY: Duration = Duration::from_secs(24 * 3600);
    for receiver in Receiver::ALL {
        let db = temp_db(receiver);
        let url = format!("sqlite://{}", db.display());
        let tag = format!("{receiver:?}").to_lowercase();
        // Two records from earlier runs: one past the 7 days, one within them.
        let store = SqliteStore::connect(&url).await.unwrap();
        let now = SystemTime::now();
        let (old, recent) = (format!("{tag}-30-days-old"), format!("{tag}-6-days-old"));
        let earlier = [
            webhook_pipeline::AuditRecord::new(&old, "github", now - 30 * DAY),
            webhook_pipeline::AuditRecord::new(&recent, "github", now - 6 * DAY),
        ];
        store.record_audit(&earlier).await.unwrap();
        store.close().await;

        let addr = receiver
            .start(&[
                ("GITHUB_WEBHOOK_SECRET", SECRET),
                ("STRIPE_WEBHOOK_SECRET", "whsec_audit"),
                ("STRIPE_WEBHOOK_ALLOW_IPS", "192.0.2.0/24"),
                ("WEBHOOK_MAX_BODY_BYTES", "256"),
                ("WEBHOOK_AUDIT_DAYS", "7"),
                ("DATABASE_URL", &url),
            ])
            .await;
        let store = SqliteStore::connect(&url).await.unwrap();

        // 403: the client (127.0.0.1) is not in the stripe route's allowlist.
        let body = Payload::Sized(Bytes::from_static(b"{}"));
        let forbidden = send(addr, Method::POST, "/webhooks/stripe", &[], body).await;
        assert_eq!(forbidden.status, 403, "{receiver:?}: {forbidden:?}");
        let r = record_of(&store, forbidden.request_id.as_deref().unwrap()).await.record;
        assert_eq!(
            (r.provider.as_str(), r.outcome.as_str(), r.status, r.signature_verified, r.client_ip.as_deref()),
            ("stripe", "forbidden", 403, false, Some("127.0.0.1")),
            "{receiver:?}: {r:?}"
        );
        assert!(r.error.as_deref().is_some_and(|e| e.contains("127.0.0.1")), "{receiver:?}: the reason: {r:?}");

        // 413, from Content-Length and while streaming a chunked body.
        let big = Bytes::from(format!(r#"{{"action":"opened","pad":"{}"}}"#, "x".repeat(1000)));
        let signer = Verifier::new(providers::GITHUB, SECRET).unwrap();
        let payloads = [("sized", Payload::Sized(big.clone())), ("chunked", Payload::Chunked(big.clone(), 100))];
        for (seen_413, (how, payload)) in payloads.into_iter().enumerate() {
            let id = format!("{tag}-big-{how}");
            let signed = signer.sign(&SignRequest::new(&big, SystemTime::now()).id(&id).event_type("issues")).unwrap();
            let headers: Vec<(String, String)> =
                signed.headers().iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
            let answer = send(addr, Method::POST, "/webhooks/github", &headers, payload).await;
            assert_eq!(answer.status, 413, "{receiver:?} {how}: {answer:?}");
            let rid = answer.request_id.as_deref().unwrap();
            let mut found = Vec::new();
            for _ in 0..200 {
                found = store.audit(&AuditFilter::default().outcome("too_large"), 10).await.unwrap();
                if found.len() == seen_413 + 1 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let r = found[0].record.clone();
            assert_eq!(r.request_id, rid, "{receiver:?} {how}: the audit record has the answer's request id");
            assert_eq!(
                (r.provider.as_str(), r.outcome.as_str(), r.status, r.signature_verified),
                ("github", "too_large", 413, false),
                "{receiver:?} {how}: {r:?}"
            );
            assert!(r.error.is_some(), "{receiver:?} {how}: the reason: {r:?}");
        }

        // Purge: the receiver purged at start; the old record goes, the recent one stays.
        let mut left = Vec::new();
        for _ in 0..200 {
            left = store.audit(&AuditFilter::default().request_id(&old), 10).await.unwrap();
            if left.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(left.is_empty(), "{receiver:?}: a record 30 days old outlived WEBHOOK_AUDIT_DAYS=7: {left:?}");
        assert_eq!(record_of(&store, &recent).await.record.request_id, recent, "{receiver:?}: 6 days old is kept");

        // 503: the event store fails (a trigger on its events table names a missing table:
        // SQLITE_ERROR, an unavailable store), the audit table does not.
        sqlite_exec(
            &db,
            "CREATE TRIGGER test_store_down BEFORE INSERT ON webhook_events \
             BEGIN INSERT INTO test_no_such_table VALUES (1); END;",
        );
        let down = format!("{tag}-store-down");
        let unavailable = github(addr, &down, SECRET, &[]).await;
        assert_eq!(unavailable.status, 503, "{receiver:?}: {unavailable:?}");
        let r = record_of(&store, unavailable.request_id.as_deref().unwrap()).await.record;
        // The signature verified before the store failed: the record says so, with the
        // delivery's event type.
        assert_eq!(
            (r.outcome.as_str(), r.status, r.delivery_id.as_deref(), r.client_ip.as_deref()),
            ("unavailable", 503, Some(down.as_str()), Some("127.0.0.1")),
            "{receiver:?}: {r:?}"
        );
        assert_eq!((r.signature_verified, r.event_type.as_deref()), (true, Some("issues")), "{receiver:?}: {r:?}");
        assert!(r.error.as_deref().is_some_and(|e| e.contains("unavailable")), "{receiver:?}: {r:?}");

        // A record the store refuses is dropped and counted, never retried in the request.
        sqlite_exec(
            &db,
            "CREATE TRIGGER test_audit_down BEFORE INSERT ON webhook_audit \
             BEGIN INSERT INTO test_no_such_table VALUES (1); END;",
        );
        let dropped_before = counter(addr, "webhook_audit_dropped_total").await;
        let refused = github(addr, &format!("{tag}-unaudited"), "not-the-secret", &[]).await;
        assert_eq!(refused.status, 401, "{receiver:?}: the answer does not wait for the audit log");
        let mut dropped = dropped_before;
        for _ in 0..200 {
            dropped = counter(addr, "webhook_audit_dropped_total").await;
            if dropped > dropped_before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(dropped > dropped_before, "{receiver:?}: webhook_audit_dropped_total stayed at {dropped}");
        let unaudited = AuditFilter::default().request_id(refused.request_id.as_deref().unwrap());
        assert!(
            store.audit(&unaudited, 10).await.unwrap().is_empty(),
            "{receiver:?}: the dropped record was written after all"
        );
        store.close().await;
    }
}

/// A body found too large while streaming (no `Content-Length`) is refused 413 and audited
/// under the request id the receiver answered with (`Endpoint::over_limit` is given the
/// request's headers and peer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_413_is_audited_under_the_answers_request_id() {
    let mut mismatched = Vec::new();
    for receiver in Receiver::ALL {
        let db = temp_db(receiver);
        let url = format!("sqlite://{}", db.display());
        let vars = [("GITHUB_WEBHOOK_SECRET", SECRET), ("WEBHOOK_MAX_BODY_BYTES", "256"), ("WEBHOOK_AUDIT_DAYS", "7")];
        let addr = receiver.start(&[vars[0], vars[1], vars[2], ("DATABASE_URL", &url)]).await;
        let big = Bytes::from(vec![b'x'; 1000]);
        let answer = send(addr, Method::POST, "/webhooks/github", &[], Payload::Chunked(big, 100)).await;
        assert_eq!(answer.status, 413, "{receiver:?}: {answer:?}");
        let store = SqliteStore::connect(&url).await.unwrap();
        let log = records(&store, 1).await;
        if log[0].record.request_id != answer.request_id.clone().unwrap_or_default() {
            mismatched.push(format!("{receiver:?}: answered {:?}, audited {:?}", answer.request_id, log[0].record));
        }
        store.close().await;
    }
    assert!(mismatched.is_empty(), "{}", mismatched.join("\n"));
}
