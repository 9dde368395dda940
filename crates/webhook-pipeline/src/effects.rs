//! A handler's effects: SQL statements the event store runs in the same transaction that
//! marks the handler's event done.
//!
//! A worker that crashes between a handler's side effect and the mark that says the event
//! is done runs the handler again once the lease expires: at least once. When what the
//! handler does is a write to the database that holds the events, it can be made exactly
//! once instead: the handler returns the statements as [`Effects`]
//! ([`transactional`](super::router::transactional), or a [`typed`](super::router::typed)
//! handler returning `Ok(Effects)`), and the worker hands them to
//! [`EventStore::complete_with`](super::EventStore::complete_with), which runs them and the
//! done mark in one transaction, only while the worker still holds the lease. Either both
//! commit or neither does; a crash, a lost lease or a failing statement leaves no trace of
//! the effects, and the event is handled again from scratch.
//!
//! Statements use numbered placeholders, `$1`, `$2`, … (PostgreSQL's; SQLite binds them by
//! name), with one [`SqlValue`] per number. On PostgreSQL the values are typed (`bigint`,
//! `double precision`, `text`, `bytea`, `boolean`; [`SqlValue::Null`] takes the type of
//! where it goes): cast in the SQL where a column differs (`$3::jsonb`,
//! `$4::timestamptz`).
//!
//! ```
//! use webhook_pipeline::{Effects, SqlValue};
//!
//! let effects = Effects::new()
//!     .execute("INSERT INTO orders (id, amount) VALUES ($1, $2)", ["ord_1".into(), 1250i64.into()])
//!     .execute("UPDATE customers SET orders = orders + 1 WHERE id = $1", [SqlValue::from("cus_9")]);
//! assert_eq!(effects.len(), 2);
//! assert_eq!(effects.statements()[1].params(), &[SqlValue::Text("cus_9".to_owned())]);
//! ```

use std::fmt;

/// A value bound to a statement's placeholder.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SqlValue {
    /// SQL `NULL` (of no declared type: on PostgreSQL it takes the column's).
    Null,
    /// A 64-bit integer.
    Integer(i64),
    /// A 64-bit float.
    Real(f64),
    /// A boolean (SQLite stores 0 or 1).
    Bool(bool),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

macro_rules! from {
    ($($t:ty => $variant:ident($conv:expr)),* $(,)?) => {
        $(impl From<$t> for SqlValue {
            fn from(v: $t) -> Self {
                Self::$variant($conv(v))
            }
        })*
    };
}

from! {
    i64 => Integer(|v| v),
    i32 => Integer(i64::from),
    u32 => Integer(i64::from),
    f64 => Real(|v| v),
    bool => Bool(|v| v),
    String => Text(|v| v),
    &str => Text(str::to_owned),
    &String => Text(String::clone),
    Vec<u8> => Blob(|v| v),
    &[u8] => Blob(<[u8]>::to_vec),
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// One SQL statement and the values of its placeholders, `$1` first.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    sql: String,
    params: Vec<SqlValue>,
}

impl Statement {
    /// The SQL text.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The values, `$1` first.
    pub fn params(&self) -> &[SqlValue] {
        &self.params
    }
}

/// SQL statements to run, in order, in one transaction: with an event's done mark
/// ([`EventStore::complete_with`](super::EventStore::complete_with)) or on their own
/// ([`EventStore::execute`](super::EventStore::execute)). See the [module docs](self).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Effects {
    statements: Vec<Statement>,
}

impl Effects {
    /// No statements.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a statement with its values, `$1` first.
    #[must_use]
    pub fn execute(mut self, sql: impl Into<String>, params: impl IntoIterator<Item = SqlValue>) -> Self {
        self.push(sql, params);
        self
    }

    /// Adds a statement with its values, `$1` first.
    pub fn push(&mut self, sql: impl Into<String>, params: impl IntoIterator<Item = SqlValue>) {
        self.statements.push(Statement { sql: sql.into(), params: params.into_iter().collect() });
    }

    /// The statements, in the order they run.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// How many statements.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }
}

/// What became of one event given to
/// [`EventStore::complete_with`](super::EventStore::complete_with).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Completion {
    /// Its effects ran and it is marked done, in one commit.
    Done,
    /// The worker no longer held its lease (it expired and another worker may have taken
    /// the event): nothing ran.
    LeaseLost,
    /// A statement failed: nothing ran, the event is still leased to the worker, which
    /// records the failed attempt. The message names the statement and the database's
    /// error.
    Failed(String),
}

/// A failing statement's message: which one (1-based) and what the database said.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(super) fn statement_failed(n: usize, error: impl fmt::Display) -> String {
    format!("effect statement {n} failed: {error}")
}

/// Which value each placeholder of a statement takes: `names[i]` is the name of the
/// statement's placeholder `i + 1` as SQLite reports it (`$2`, `?2`), and the result is
/// the index into the values. Every value must be used and every placeholder numbered
/// within them.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(super) fn placeholder_values(names: &[Option<&str>], values: usize) -> Result<Vec<usize>, String> {
    let mut used = vec![false; values];
    let mut out = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let n = name
            .and_then(|s| s.strip_prefix('$').or_else(|| s.strip_prefix('?')))
            .and_then(|digits| digits.parse::<usize>().ok())
            .filter(|n| (1..=values).contains(n))
            .ok_or_else(|| match name {
                Some(name) => format!("placeholder {name} has no value ({values} given; use $1 to ${values})"),
                None => format!("placeholder {} is not numbered: write $1, $2, …", i + 1),
            })?;
        used[n - 1] = true;
        out.push(n - 1);
    }
    match used.iter().position(|u| !u) {
        Some(unused) => Err(format!("value ${} is not used by the statement", unused + 1)),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_convert_from_rust_types() {
        assert_eq!(SqlValue::from(7i32), SqlValue::Integer(7));
        assert_eq!(SqlValue::from(None::<i64>), SqlValue::Null);
        assert_eq!(SqlValue::from(Some("x")), SqlValue::Text("x".to_owned()));
        assert_eq!(SqlValue::from(&b"ab"[..]), SqlValue::Blob(b"ab".to_vec()));
        assert_eq!(SqlValue::from(true), SqlValue::Bool(true));
    }

    #[test]
    fn placeholders_map_to_values_by_number() {
        assert_eq!(placeholder_values(&[Some("$2"), Some("$1")], 2), Ok(vec![1, 0]));
        assert_eq!(placeholder_values(&[Some("?1")], 1), Ok(vec![0]));
        assert_eq!(placeholder_values(&[], 0), Ok(vec![]));
        let e = placeholder_values(&[Some("$3")], 2).unwrap_err();
        assert!(e.contains("$3 has no value"), "{e}");
        let e = placeholder_values(&[Some("$1")], 2).unwrap_err();
        assert!(e.contains("$2 is not used"), "{e}");
        let e = placeholder_values(&[None], 1).unwrap_err();
        assert!(e.contains("not numbered"), "{e}");
        let e = placeholder_values(&[Some(":name")], 1).unwrap_err();
        assert!(e.contains(":name has no value"), "{e}");
    }
}
