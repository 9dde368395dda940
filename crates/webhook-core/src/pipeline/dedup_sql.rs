//! Dedup stores on SQLite and PostgreSQL.
