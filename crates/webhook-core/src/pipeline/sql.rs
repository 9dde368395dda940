//! What the SQLite and PostgreSQL event stores share: the event columns and the `WHERE`
//! clause of a [`Filter`]. The schema is in `migrations/{sqlite,postgres}`.

use super::event::Filter;

/// An event's own columns, in the order both stores read them; its headers and body live
/// in `webhook_bodies`, written once.
pub(super) const COLUMNS: &str =
    "id, provider, delivery_id, event_type, received_at, status, attempts, last_error, next_attempt_at";

/// A value bound to a filter's placeholder.
pub(super) enum FilterValue {
    Int(i64),
    Text(String),
}

/// `WHERE` conditions for a filter, with placeholders numbered from `first` and written
/// `{mark}{n}` (`$1` for PostgreSQL, `?1` for SQLite), and the values to bind in order.
pub(super) fn filter_sql(filter: &Filter, mark: char, first: usize) -> (String, Vec<FilterValue>) {
    let mut conds = vec!["1 = 1".to_owned()];
    let mut values = Vec::new();
    let mut n = first;
    let mut push = |cond: &str, v: FilterValue| {
        conds.push(format!("{cond} = {mark}{n}"));
        values.push(v);
        n += 1;
    };
    if let Some(id) = filter.id {
        push("id", FilterValue::Int(id));
    }
    if let Some(p) = &filter.provider {
        push("provider", FilterValue::Text(p.clone()));
    }
    if let Some(t) = &filter.event_type {
        push("event_type", FilterValue::Text(t.clone()));
    }
    if let Some(s) = filter.status {
        push("status", FilterValue::Text(s.as_str().to_owned()));
    }
    (conds.join(" AND "), values)
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
    use crate::pipeline::Status;

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
