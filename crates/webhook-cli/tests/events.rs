//! `webhook events list | show | replay` against a SQLite store in a temporary file, and
//! against PostgreSQL (in a schema of its own) when `WEBHOOK_TEST_DATABASE_URL` is set.
//! The test fills the store through webhook-core's public API, then reads what the
//! command did back through the same API.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Output;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use common::*;
use webhook_pipeline::testing::service_url;
use webhook_pipeline::{EventId, EventStore, Inserted, NewEvent, PostgresStore, SqliteStore, Status};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other test, here or in another process, uses.
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{prefix}_{}_{}_{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A SQLite file in the temporary directory, removed with its WAL files when dropped.
struct TempDb(std::path::PathBuf);

impl TempDb {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!("{}.db", unique("webhook_cli"))))
    }
    fn url(&self) -> String {
        format!("sqlite://{}", self.0.display())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

const NOT_UTF8: &[u8] = &[0xff, 0xfe, 0x00, 0x01];
const GITHUB_BODY: &str = r#"{"zen":"Half measures are as bad as nothing at all."}"#;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn event(provider: &str, id: &str, event_type: &str, body: &[u8], secs: u64) -> NewEvent {
    NewEvent {
        provider: provider.to_owned(),
        delivery_id: id.to_owned(),
        event_type: Some(event_type.to_owned()),
        headers: vec![("Content-Type".into(), "application/json".into()), ("X-GitHub-Event".into(), event_type.into())],
        body: Bytes::copy_from_slice(body),
        received_at: at(secs),
    }
}

/// Three events: `done` (github push), `dead` (github issues, after a failure with no
/// retry), `pending` (stripe, a body that is not UTF-8).
struct Filled {
    done: EventId,
    dead: EventId,
    pending: EventId,
}

async fn fill(store: &dyn EventStore) -> Filled {
    let inserted = store
        .insert(&[
            event("github", "d-1", "push", GITHUB_BODY.as_bytes(), 0),
            event("github", "d-2", "issues", b"{}", 1),
            event("stripe", "evt_3", "invoice.paid", NOT_UTF8, 2),
        ])
        .await
        .unwrap();
    let ids: Vec<EventId> = inserted
        .iter()
        .map(|i| match i {
            Inserted::New(id) => *id,
            other => panic!("not stored: {other:?}"),
        })
        .collect();
    // The two oldest are leased; one is handled, the other fails for good.
    let leased = store.lease("test-worker", 2, Duration::from_secs(600), at(10)).await.unwrap();
    assert_eq!(leased.iter().map(|e| e.id).collect::<Vec<_>>(), &ids[..2]);
    assert!(store.complete(ids[0], "test-worker").await.unwrap());
    assert!(store.fail(ids[1], "test-worker", "handler exploded", None).await.unwrap());
    Filled { done: ids[0], dead: ids[1], pending: ids[2] }
}

/// `webhook events <args> --database-url <url>`, off the runtime.
async fn events(url: &str, list: &[&str]) -> Output {
    let mut args: Vec<String> = vec!["events".into(), "--database-url".into(), url.into()];
    args.extend(list.iter().map(|s| (*s).to_owned()));
    tokio::task::spawn_blocking(move || webhook().args(&args).output().unwrap()).await.unwrap()
}

async fn scenario(url: &str, store: &dyn EventStore) {
    let f = fill(store).await;

    // list --json: every event, newest first, with its status.
    let out = events(url, &["list", "--json"]).await;
    assert_exit(&out, 0);
    let v = json(&out);
    let rows = v.as_array().unwrap();
    let seen: Vec<(i64, &str)> =
        rows.iter().map(|r| (r["id"].as_i64().unwrap(), r["status"].as_str().unwrap())).collect();
    assert_eq!(seen, vec![(f.pending, "pending"), (f.dead, "dead"), (f.done, "done")]);
    assert_eq!(rows[1]["last_error"], "handler exploded");
    assert_eq!(rows[1]["provider"], "github");
    assert_eq!(rows[1]["delivery_id"], "d-2");
    assert_eq!(rows[1]["event_type"], "issues");
    assert_eq!(rows[2]["received_at"], "2023-11-14T22:13:20.000Z");

    // Filters and the limit.
    let ids = |out: &Output| -> Vec<i64> {
        assert_exit(out, 0);
        json(out).as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect()
    };
    assert_eq!(ids(&events(url, &["list", "--status", "dead", "--json"]).await), vec![f.dead]);
    assert_eq!(ids(&events(url, &["list", "--provider", "github", "--json"]).await), vec![f.dead, f.done]);
    assert_eq!(ids(&events(url, &["list", "--type", "push", "--json"]).await), vec![f.done]);
    assert_eq!(ids(&events(url, &["list", "--limit", "1", "--json"]).await), vec![f.pending]);
    assert!(ids(&events(url, &["list", "--provider", "nobody", "--json"]).await).is_empty());

    // The human table.
    let out = events(url, &["list", "--provider", "github"]).await;
    assert_exit(&out, 0);
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("ID") && lines[0].contains("STATUS") && lines[0].contains("LAST ERROR"), "{table}");
    assert!(lines[1].starts_with(&f.dead.to_string()) && lines[1].contains("dead"), "{table}");
    assert!(lines[1].contains("handler exploded") && lines[1].contains("2023-11-14T22:13:21Z"), "{table}");

    // show: metadata, the headers kept, the body as text.
    let out = events(url, &["show", &f.done.to_string(), "--json"]).await;
    assert_exit(&out, 0);
    let v = json(&out);
    assert_eq!((v["id"].as_i64(), v["status"].as_str()), (Some(f.done), Some("done")));
    assert_eq!(v["headers"]["X-GitHub-Event"], "push");
    assert_eq!((v["body"].as_str(), v["body_encoding"].as_str()), (Some(GITHUB_BODY), Some("utf-8")));
    let out = events(url, &["show", &f.done.to_string()]).await;
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("\nheaders:\n  Content-Type: application/json\n  X-GitHub-Event: push\n"), "{text}");
    assert!(text.ends_with(&format!("UTF-8):\n{GITHUB_BODY}\n")), "{text}");
    // A body that is not UTF-8: base64.
    let out = events(url, &["show", &f.pending.to_string(), "--json"]).await;
    let v = json(&out);
    assert_eq!(v["body_encoding"], "base64");
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(v["body"].as_str().unwrap()).unwrap(), NOT_UTF8);
    let out = events(url, &["show", &f.pending.to_string()]).await;
    assert!(stdout(&out).contains("(4 bytes, not UTF-8; shown as base64):\n//4AAQ==\n"), "{}", stdout(&out));
    // --raw: the body byte for byte.
    let out = events(url, &["show", &f.pending.to_string(), "--raw"]).await;
    assert_exit(&out, 0);
    assert_eq!(out.stdout, NOT_UTF8);
    // An id that is not there.
    let out = events(url, &["show", "987654321"]).await;
    assert_exit(&out, 1);
    assert_eq!(stderr(&out), "error: no event with id 987654321\n");

    // replay --dead: the dead github event is pending again with its attempts reset.
    assert_eq!(store.get(f.dead).await.unwrap().unwrap().attempts, 1);
    let out = events(url, &["replay", "--provider", "stripe", "--dead", "--json"]).await;
    assert_eq!(json(&out), serde_json::json!({ "replayed": 0 }));
    let out = events(url, &["replay", "--provider", "github", "--type", "issues", "--dead", "--json"]).await;
    assert_exit(&out, 0);
    assert_eq!(json(&out), serde_json::json!({ "replayed": 1 }));
    let dead = store.get(f.dead).await.unwrap().unwrap();
    assert_eq!((dead.status, dead.attempts), (Status::Pending, 0));

    // replay ID: a done event goes back in the queue too.
    let out = events(url, &["replay", &f.done.to_string()]).await;
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "replayed 1 event\n");
    assert_eq!(store.get(f.done).await.unwrap().unwrap().status, Status::Pending);
    let out = events(url, &["replay", "987654321"]).await;
    assert_exit(&out, 1);
    assert_eq!(stderr(&out), "error: no event with id 987654321\n");

    // An event a worker holds is left to it, and the command says so.
    let leased = store.lease("busy-worker", 10, Duration::from_secs(600), SystemTime::now()).await.unwrap();
    let held = leased.first().expect("something to lease").id;
    let out = events(url, &["replay", &held.to_string()]).await;
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("is being processed by a worker"), "{}", stderr(&out));
    assert_eq!(store.get(held).await.unwrap().unwrap().status, Status::Processing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_against_sqlite() {
    let db = TempDb::new();
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    scenario(&db.url(), &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_against_postgres() {
    let Some(base) = service_url("WEBHOOK_TEST_DATABASE_URL", "events_against_postgres") else {
        return;
    };
    // A schema of its own: parallel tests sharing the database never see these events.
    let schema = unique("webhook_cli_test");
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin).await.unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options[search_path]={schema}");
    let store = PostgresStore::connect(&url).await.unwrap();
    scenario(&url, &store).await;
    store.pool().close().await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&admin).await.unwrap();
    admin.close().await;
}

/// `events purge`: settled events received before the cutoff go (a dry run only counts),
/// by status when asked; pending, processing and failed events never do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_deletes_settled_events_before_a_time_and_nothing_else() {
    let db = TempDb::new();
    let url = db.url();
    let store = SqliteStore::connect(&url).await.unwrap();
    let f = fill(&store).await; // done, dead and pending, received in November 2023
                                // A handled event received now; the old pending one is leased with it and fails, to
                                // be retried in a year.
    let now = SystemTime::now();
    let recent = match store
        .insert(&[NewEvent { received_at: now, ..event("github", "d-now", "push", b"{}", 0) }])
        .await
        .unwrap()[..]
    {
        [Inserted::New(id)] => id,
        ref other => panic!("{other:?}"),
    };
    let leased = store.lease("w", 10, Duration::from_secs(600), now).await.unwrap();
    assert_eq!(leased.iter().map(|e| e.id).collect::<Vec<_>>(), vec![f.pending, recent]);
    assert!(store.complete(recent, "w").await.unwrap());
    let next_year = now + Duration::from_secs(365 * 86_400);
    assert!(store.fail(f.pending, "w", "later", Some(next_year)).await.unwrap());
    let status = |id| {
        let store = &store;
        async move { store.get(id).await.unwrap().map(|e| e.status) }
    };

    // A dry run counts and deletes nothing.
    let out = events(&url, &["purge", "--before", "7d", "--dry-run", "--json"]).await;
    assert_exit(&out, 0);
    let v = json(&out);
    assert_eq!((v["dry_run"].as_bool(), v["done"].as_u64(), v["dead"].as_u64()), (Some(true), Some(1), Some(1)));
    let out = events(&url, &["purge", "--before", "7d", "--dry-run"]).await;
    assert!(stdout(&out).starts_with("would purge 2 events received before "), "{}", stdout(&out));
    assert_eq!(status(f.done).await, Some(Status::Done));
    assert_eq!(status(f.dead).await, Some(Status::Dead));

    // Only dead events.
    let out = events(&url, &["purge", "--before", "7d", "--status", "dead"]).await;
    assert_exit(&out, 0);
    assert!(
        stdout(&out).starts_with("purged 1 event received before ") && stdout(&out).ends_with("(0 done, 1 dead)\n")
    );
    assert_eq!((status(f.dead).await, status(f.done).await), (None, Some(Status::Done)));

    // Before a time: the done event received at 22:13:20 goes; the failed one, as old, stays.
    let out = events(&url, &["purge", "--before", "2023-11-14T22:13:30Z", "--json"]).await;
    assert_exit(&out, 0);
    let v = json(&out);
    assert_eq!((v["dry_run"].as_bool(), v["done"].as_u64(), v["dead"].as_u64()), (Some(false), Some(1), Some(0)));
    assert_eq!(v["before"], "2023-11-14T22:13:30.000Z");
    assert_eq!(status(f.done).await, None);
    assert_eq!(status(f.pending).await, Some(Status::Failed));

    // Younger than the dedup TTL: a warning; the event received now is not before an hour ago.
    let out = events(&url, &["purge", "--before", "1h"]).await;
    assert_exit(&out, 0);
    assert!(stderr(&out).starts_with("warning: handled events younger than the 7-day dedup TTL"), "{}", stderr(&out));
    assert_eq!(status(recent).await, Some(Status::Done));

    // Pending or failed cannot be asked for; a cutoff that is not a time or an age, or in
    // the future, is refused.
    for args in [
        &["purge", "--before", "7d", "--status", "pending"][..],
        &["purge", "--before", "7d", "--status", "failed"],
        &["purge", "--before", "soon"],
        &["purge", "--before", "2999-01-01T00:00:00Z"],
        &["purge"],
    ] {
        assert_exit(&events(&url, args).await, 2);
    }
    let left = store.list(&webhook_pipeline::Filter::default(), 10).await.unwrap();
    assert_eq!(
        left.iter().map(|e| (e.id, e.status)).collect::<Vec<_>>(),
        vec![(recent, Status::Done), (f.pending, Status::Failed)]
    );
    store.close().await;
}

#[test]
fn a_missing_sqlite_file_is_an_error_and_is_not_created() {
    let db = TempDb::new();
    for cmd in [&["list"][..], &["show", "1"], &["replay", "1"], &["purge", "--before", "7d"]] {
        let out = webhook().args(["events", "--database-url", &db.url()]).args(cmd).output().unwrap();
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(err.starts_with("error: no event store at sqlite://") && err.contains("does not exist"), "{err}");
        assert!(!db.0.exists(), "{cmd:?} created {}", db.0.display());
    }
}

#[test]
fn the_database_url_comes_from_the_environment_too() {
    let db = TempDb::new();
    let out = webhook().args(["events", "list"]).env("DATABASE_URL", db.url()).output().unwrap();
    assert_exit(&out, 1);
    assert!(stderr(&out).contains(&db.0.display().to_string()), "{}", stderr(&out));

    let out = webhook().args(["events", "list"]).output().unwrap();
    assert_exit(&out, 2);
    assert_eq!(stderr(&out), "error: no event store given: pass --database-url or set DATABASE_URL\n");

    let out = webhook().args(["events", "list"]).env("DATABASE_URL", "mysql://root:hunter2@db/x").output().unwrap();
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("mysql://root:***@db/x") && !stderr(&out).contains("hunter2"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_list_reads_the_audit_log_with_its_filters() {
    use webhook_pipeline::AuditRecord;
    let db = TempDb::new();
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    store.insert(&[event("github", "d-ok", "push", b"{}", 1)]).await.unwrap();
    store
        .record_audit(&[
            AuditRecord {
                delivery_id: Some("d-ok".into()),
                event_type: Some("push".into()),
                signature_verified: true,
                outcome: "accepted".into(),
                status: 200,
                client_ip: Some("192.0.2.7".into()),
                ..AuditRecord::new("req-1", "github", at(1))
            },
            AuditRecord {
                delivery_id: Some("d-forged".into()),
                outcome: "invalid_signature".into(),
                status: 401,
                error: Some("signature mismatch".into()),
                ..AuditRecord::new("req-2", "github", at(2))
            },
        ])
        .await
        .unwrap();
    let audit = |args: &[&str]| {
        let mut all: Vec<String> = vec!["audit".into(), "--database-url".into(), db.url(), "list".into()];
        all.extend(args.iter().map(|s| (*s).to_owned()));
        webhook().args(&all).output().unwrap()
    };
    let refused = tokio::task::block_in_place(|| audit(&["--refused", "--json"]));
    assert_exit(&refused, 0);
    let rows = json(&refused);
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["request_id"], "req-2");
    assert_eq!(rows[0]["error"], "signature mismatch");
    assert_eq!(rows[0]["signature_verified"], false);
    assert_eq!(rows[0]["processing"], serde_json::Value::Null);
    let accepted = json(&tokio::task::block_in_place(|| audit(&["--outcome", "accepted", "--json"])));
    assert_eq!(
        (accepted[0]["delivery_id"].as_str(), accepted[0]["processing"].as_str()),
        (Some("d-ok"), Some("pending"))
    );
    let table = tokio::task::block_in_place(|| audit(&[]));
    assert_exit(&table, 0);
    let text = stdout(&table);
    assert!(text.contains("invalid_signature") && text.contains("req-1") && text.contains("192.0.2.7"), "{text}");
    store.close().await;
}
