//! The SQLite migrations, run by the store's writer thread on its own connection before it
//! serves anything.
//!
//! Applied migrations are recorded in `_sqlx_migrations`, the table (and checksums: SHA-384
//! of the file) that earlier versions of this crate wrote through sqlx, so a database file
//! created by either is migrated by the other without a step of its own.

use std::time::Instant;

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha384};
use webhook_core::dedup::StoreError;

/// `(version, description, SQL)`, in order.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "events", include_str!("../migrations/sqlite/0001_events.sql")),
    (2, "dedup", include_str!("../migrations/sqlite/0002_dedup.sql")),
    (3, "lease indexes", include_str!("../migrations/sqlite/0003_lease_indexes.sql")),
    (4, "bodies", include_str!("../migrations/sqlite/0004_bodies.sql")),
    (5, "type index", include_str!("../migrations/sqlite/0005_type_index.sql")),
    (6, "audit", include_str!("../migrations/sqlite/0006_audit.sql")),
    (7, "received index", include_str!("../migrations/sqlite/0007_received_index.sql")),
    (8, "attempts and counts", include_str!("../migrations/sqlite/0008_attempts_counts.sql")),
    (9, "counts in the writer", include_str!("../migrations/sqlite/0009_counts_in_writer.sql")),
];

const TABLE: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
)";

fn failed(what: String) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| StoreError::misconfigured(format!("{what}: {e}"), Some(Box::new(e)))
}

/// Applies every migration not yet applied, each in its own transaction, and checks the
/// applied ones against the files: a changed or half-applied migration is an error that
/// names it, never silently skipped.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(TABLE).map_err(failed("creating _sqlx_migrations".into()))?;
    // As sqlx does: a database migrated by a newer version is not this version's to write
    // (its writer would not keep what the newer schema expects, such as the counts).
    let newest: Option<i64> = conn
        .query_row("SELECT MAX(version) FROM _sqlx_migrations", [], |r| r.get(0))
        .map_err(failed("reading the applied migrations".into()))?;
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if let Some(newest) = newest.filter(|n| *n > known) {
        return Err(StoreError::misconfigured(
            format!(
                "the database was migrated by a newer version of this library (migration {newest}; this version knows \
                 migrations up to {known}): run the newer version, or restore a backup"
            ),
            None,
        ));
    }
    for &(version, description, sql) in MIGRATIONS {
        let checksum = Sha384::digest(sql.as_bytes()).to_vec();
        let applied: Option<(bool, Vec<u8>)> = conn
            .query_row("SELECT success, checksum FROM _sqlx_migrations WHERE version = ?1", [version], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(failed(format!("reading migration {version}")))?;
        match applied {
            Some((true, found)) if found == checksum => continue,
            Some((true, _)) => {
                return Err(StoreError::misconfigured(
                    format!(
                        "migration {version} ({description}) was applied from a different file than this version's"
                    ),
                    None,
                ))
            }
            Some((false, _)) => {
                return Err(StoreError::misconfigured(
                    format!("migration {version} ({description}) failed part way before; repair the database"),
                    None,
                ))
            }
            None => {}
        }
        let started = Instant::now();
        let tx = conn.transaction().map_err(failed(format!("migration {version}")))?;
        tx.execute_batch(sql).map_err(failed(format!("migration {version} ({description})")))?;
        tx.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (?1, ?2, TRUE, ?3, ?4)",
            params![version, description, checksum, i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX)],
        )
        .map_err(failed(format!("recording migration {version}")))?;
        tx.commit().map_err(failed(format!("migration {version}")))?;
    }
    Ok(())
}

/// The file a `sqlite:` URL names: `sqlite://webhooks.db` and `sqlite:webhooks.db` are
/// relative, `sqlite:///var/lib/webhooks.db` absolute. A query (`?mode=rwc`) may follow;
/// the file is always created if missing.
pub(crate) fn path_of(url: &str) -> Result<&str, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::misconfigured(format!("`{url}` is not a sqlite: URL"), None))?;
    let path = rest.split_once('?').map_or(rest, |(path, _)| path);
    if path.is_empty() {
        return Err(StoreError::misconfigured(format!("`{url}` names no file"), None));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_files() {
        assert_eq!(path_of("sqlite://webhooks.db").unwrap(), "webhooks.db");
        assert_eq!(path_of("sqlite:webhooks.db?mode=rwc").unwrap(), "webhooks.db");
        assert_eq!(path_of("sqlite:///var/lib/w.db").unwrap(), "/var/lib/w.db");
        assert!(path_of("sqlite://").unwrap_err().is_misconfigured());
        assert!(path_of("postgres://x").unwrap_err().is_misconfigured());
    }

    #[test]
    fn migrations_apply_once_and_a_changed_one_is_named() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM _sqlx_migrations", [], |r| r.get(0)).unwrap();
        assert_eq!(n, MIGRATIONS.len() as i64);
        conn.execute("UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 3", []).unwrap();
        let e = migrate(&mut conn).unwrap_err();
        assert!(e.is_misconfigured() && e.to_string().contains("migration 3 (lease indexes)"), "{e}");
        conn.execute("UPDATE _sqlx_migrations SET success = FALSE WHERE version = 3", []).unwrap();
        assert!(migrate(&mut conn).unwrap_err().to_string().contains("failed part way"));
        conn.execute(
            "UPDATE _sqlx_migrations SET success = TRUE, checksum = ?1 WHERE version = 3",
            [Sha384::digest(MIGRATIONS[2].2.as_bytes()).to_vec()],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let next = MIGRATIONS.len() as i64 + 1;
        conn.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (?1, 'from the future', TRUE, x'00', 0)",
            [next],
        )
        .unwrap();
        let e = migrate(&mut conn).unwrap_err();
        assert!(e.is_misconfigured() && e.to_string().contains(&format!("migration {next}")), "{e}");
    }

    #[test]
    fn a_database_from_before_the_counters_gets_them_counted() {
        let conn = Connection::open_in_memory().unwrap();
        // The schema as migration 7 left it, with events in three statuses.
        for &(_, _, sql) in &MIGRATIONS[..7] {
            conn.execute_batch(sql).unwrap();
        }
        for (id, status, body) in [(1, "done", "abc"), (2, "done", "de"), (3, "dead", "f"), (4, "pending", "")] {
            conn.execute(
                "INSERT INTO webhook_events (id, provider, delivery_id, received_at, status, next_attempt_at) \
                 VALUES (?1, 'p', ?1, 0, ?2, 0)",
                params![id, status],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO webhook_bodies (id, headers, body) VALUES (?1, '[]', ?2)",
                params![id, body.as_bytes()],
            )
            .unwrap();
        }
        conn.execute_batch(MIGRATIONS[7].2).unwrap();
        let mut stmt = conn.prepare("SELECT status, events, bytes FROM webhook_event_counts ORDER BY status").unwrap();
        let counts: Vec<(String, i64, i64)> =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
        let want = [("dead", 1, 1), ("done", 2, 5), ("failed", 0, 0), ("pending", 1, 0), ("processing", 0, 0)];
        assert_eq!(counts, want.map(|(s, e, b)| (s.to_owned(), e, b)));

        // Migration 9 keeps those counts, gives each event its body length and drops the
        // triggers: the store's writer counts from then on.
        conn.execute_batch(MIGRATIONS[8].2).unwrap();
        let mut stmt = conn.prepare("SELECT id, body_bytes FROM webhook_events ORDER BY id").unwrap();
        let lengths: Vec<(i64, i64)> =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
        assert_eq!(lengths, [(1, 3), (2, 2), (3, 1), (4, 0)]);
        let triggers: i64 =
            conn.query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'", [], |r| r.get(0)).unwrap();
        assert_eq!(triggers, 0);
        conn.execute("UPDATE webhook_events SET status = 'done' WHERE id = 4", []).unwrap();
        let mut stmt = conn.prepare("SELECT status, events, bytes FROM webhook_event_counts ORDER BY status").unwrap();
        let after: Vec<(String, i64, i64)> =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
        assert_eq!(after, counts, "no trigger counts any more, and the counts were carried over");
    }
}
