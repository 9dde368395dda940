//! What the SQLite and PostgreSQL event stores share: the event columns and the `WHERE`
//! clause of a [`Filter`]. The schema is in `migrations/{sqlite,postgres}`.

use super::audit::AuditFilter;
use super::event::{to_ms, Filter};

/// An event's own columns, in the order both stores read them; its headers and body live
/// in `webhook_bodies`, written once.
pub(super) const COLUMNS: &str =
    "id, provider, delivery_id, event_type, received_at, status, attempts, last_error, next_attempt_at";

/// A value bound to a filter's placeholder.
pub(super) enum FilterValue {
    Int(i64),
    Text(String),
    Bool(bool),
}

/// `WHERE` conditions for a filter, with placeholders numbered from `first` and written
/// `{mark}{n}` (`$1` for PostgreSQL, `?1` for SQLite), and the values to bind in order.
pub(super) fn filter_sql(filter: &Filter, mark: char, first: usize) -> (String, Vec<FilterValue>) {
    let mut conds = vec!["1 = 1".to_owned()];
    let mut values = Vec::new();
    let mut n = first;
    let mut push = |cond: &str, v: FilterValue| {
        conds.push(format!("{cond} {mark}{n}"));
        values.push(v);
        n += 1;
    };
    if let Some(id) = filter.id {
        push("id =", FilterValue::Int(id));
    }
    if let Some(p) = &filter.provider {
        push("provider =", FilterValue::Text(p.clone()));
    }
    if let Some(t) = &filter.event_type {
        push("event_type =", FilterValue::Text(t.clone()));
    }
    if let Some(s) = filter.status {
        push("status =", FilterValue::Text(s.as_str().to_owned()));
    }
    if let Some(d) = &filter.delivery_id {
        push("delivery_id =", FilterValue::Text(d.clone()));
    }
    if let Some(t) = filter.since {
        push("received_at >=", FilterValue::Int(to_ms(t)));
    }
    if let Some(t) = filter.until {
        push("received_at <", FilterValue::Int(to_ms(t)));
    }
    if let Some(id) = filter.before {
        push("id <", FilterValue::Int(id));
    }
    (conds.join(" AND "), values)
}

/// An audit record's columns (table `a`) and its event's status (table `e`), in the order
/// both stores read them.
pub(super) const AUDIT_COLUMNS: &str = "a.id, a.request_id, a.provider, a.delivery_id, a.event_type, a.received_at, \
    a.signature_verified, a.outcome, a.status, a.error, a.client_ip, e.status";

/// The audit query for a filter's conditions: each record with the status of the event it
/// delivered, joined only when the record's signature verified (an unverified claim of a
/// delivery id is not that delivery).
pub(super) fn audit_sql(filter: &AuditFilter, mark: char, limit: usize) -> (String, Vec<FilterValue>) {
    let mut conds = vec!["1 = 1".to_owned()];
    let mut values = Vec::new();
    let mut push = |cond: &str, v: FilterValue| {
        conds.push(format!("{cond} {mark}{}", values.len() + 1));
        values.push(v);
    };
    if let Some(p) = &filter.provider {
        push("a.provider =", FilterValue::Text(p.clone()));
    }
    if let Some(d) = &filter.delivery_id {
        push("a.delivery_id =", FilterValue::Text(d.clone()));
    }
    if let Some(r) = &filter.request_id {
        push("a.request_id =", FilterValue::Text(r.clone()));
    }
    if let Some(o) = &filter.outcome {
        push("a.outcome =", FilterValue::Text(o.clone()));
    }
    if let Some(v) = filter.verified {
        push("a.signature_verified =", FilterValue::Bool(v));
    }
    if let Some(t) = filter.since {
        push("a.received_at >=", FilterValue::Int(to_ms(t)));
    }
    let sql = format!(
        "SELECT {AUDIT_COLUMNS} FROM webhook_audit a LEFT JOIN webhook_events e \
         ON a.signature_verified AND e.provider = a.provider AND e.delivery_id = a.delivery_id \
         WHERE {} ORDER BY a.id DESC LIMIT {}",
        conds.join(" AND "),
        limit.min(100_000)
    );
    (sql, values)
}

/// The audit log's requests since `since` (unix ms), counted by bucket of `bucket` ms,
/// provider and outcome; its placeholders are `{mark}1` (the bucket) and `{mark}2`.
pub(super) fn audit_counts_sql(mark: char) -> String {
    format!(
        "SELECT (received_at / {mark}1) * {mark}1 AS bucket, provider, outcome, COUNT(*) FROM webhook_audit \
         WHERE received_at >= {mark}2 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    )
}

/// The stored form of an event's headers: a JSON array of `[name, value]` pairs.
pub(super) fn headers_json(headers: &[(String, String)]) -> String {
    serde_json::to_string(headers).unwrap_or_else(|_| "[]".to_owned())
}

/// Reads headers stored by [`headers_json`].
pub(super) fn headers_from_json(text: &str) -> Vec<(String, String)> {
    serde_json::from_str(text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[test]
    fn filters_number_their_placeholders_in_binding_order() {
        let filter = Filter::dead().provider("github").event_type("push");
        let (sql, values) = filter_sql(&filter, '?', 2);
        assert_eq!(sql, "1 = 1 AND provider = ?2 AND event_type = ?3 AND status = ?4");
        assert!(matches!(&values[..], [FilterValue::Text(p), FilterValue::Text(t), FilterValue::Text(s)]
            if p == "github" && t == "push" && s == Status::Dead.as_str()));
        assert_eq!(filter_sql(&Filter::id(7), '$', 1).0, "1 = 1 AND id = $1");
    }

    #[test]
    fn headers_survive_the_round_trip() {
        let headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        assert_eq!(headers_from_json(&headers_json(&headers)), headers);
        assert!(headers_from_json("not json").is_empty());
    }
}
