//! The audit log over real HTTP, against all three receivers (`WEBHOOK_AUDIT_DAYS`): every
//! request is recorded, accepted or refused, with its reason, and read back through the
//! public API from the receiver's SQLite file.

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
    for receiver in Receiver::ALL {
        let db = temp_db(receiver);
        let url = format!("sqlite://{}", db.display());
        let addr = receiver
            .start(&[("GITHUB_WEBHOOK_SECRET", SECRET), ("WEBHOOK_AUDIT_DAYS", "7"), ("DATABASE_URL", &url)])
            .await;
        let tag = format!("{receiver:?}").to_lowercase();
        let (good, forged) = (format!("{tag}-good"), format!("{tag}-forged"));

        let ok = github(addr, &good, SECRET, &[("X-Request-Id", "lb-req-42")]).await;
        assert_eq!(ok.status, 200, "{receiver:?}: {ok:?}");
        let again = github(addr, &good, SECRET, &[]).await;
        assert_eq!((again.status, again.body.as_str()), (200, r#"{"status":"duplicate"}"#), "{receiver:?}");
        let bad = github(addr, &forged, "not-the-secret", &[]).await;
        assert_eq!(bad.status, 401, "{receiver:?}: {bad:?}");
        // Every answer says which request it was: the caller's id, or the one the receiver
        // gave it (and logged, and audited: checked below).
        assert_eq!(ok.request_id.as_deref(), Some("lb-req-42"), "{receiver:?}: the caller's id is echoed");
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
            ("lb-req-42", Some(good.as_str()), Some("issues")),
            "{receiver:?}"
        );
        assert!(a.record.signature_verified && a.record.error.is_none(), "{receiver:?}: {a:?}");
        assert!(matches!(a.processing, Some(Status::Pending | Status::Processing | Status::Done)), "{receiver:?}");
        let dup = store.audit(&AuditFilter::default().outcome("duplicate"), 10).await.unwrap();
        assert_eq!(dup[0].record.delivery_id.as_deref(), Some(good.as_str()), "{receiver:?}");
        assert_eq!(dup[0].record.request_id, again_id, "{receiver:?}: a request without an id gets the echoed one");
        store.close().await;
    }
}
