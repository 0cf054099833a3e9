//! DuckDB's SQL for property filters (`tally_query::filters` says what they
//! mean): JSON stored as DuckDB `JSON`, read with `json_extract_string`.
//!
//! A property name never reaches SQL text: it becomes a JSON Pointer (`/name`,
//! with `~` and `/` escaped as RFC 6901 says) bound as the path argument of
//! `json_extract_string`, so quotes, `;`, comments or any unicode in a name are
//! just characters of a key. Values are bound too. The SQL expects the events
//! relation aliased `ev` and the event's person (if any) joined as `pp`.

use super::Sql;
use tally_query::filters::{FilterNode, FilterOperator, GroupOp, PropertyFilter, PropertySource};
use tally_query::sql::SqlParam;

/// A property name as the bound JSON Pointer that reads it.
pub(crate) fn pointer(key: &str) -> String {
    format!("/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// The SQL reading a property as text (NULL when absent or JSON null).
pub(crate) fn push_property(s: &mut Sql, key: &str, source: PropertySource) {
    let json = match source {
        PropertySource::Event => "json_extract_string(ev.properties, ",
        PropertySource::Person => "json_extract_string(pp.properties, ",
        // Columns of the sessions source (`sql::push_events_with_sessions`);
        // the name was checked against SESSION_PROPERTIES.
        PropertySource::Session => {
            s.push(match key {
                "$session_duration" => "CAST(ev.s_duration AS VARCHAR)",
                "$entry_pathname" => "ev.s_entry_pathname",
                "$exit_pathname" => "ev.s_exit_pathname",
                "$session_pageviews" => "CAST(ev.s_pageviews AS VARCHAR)",
                _ => "NULL::VARCHAR",
            });
            return;
        }
    };
    s.push(json).bind(SqlParam::Text(pointer(key))).push(")");
}

/// Appends the condition (always parenthesised; an empty group is TRUE).
pub(crate) fn push_filter(s: &mut Sql, node: &FilterNode) {
    match node {
        FilterNode::Group(g) if g.filters.is_empty() => {
            s.push("TRUE");
        }
        FilterNode::Group(g) => {
            s.push("(");
            for (i, f) in g.filters.iter().enumerate() {
                if i > 0 {
                    s.push(match g.op {
                        GroupOp::And => " AND ",
                        GroupOp::Or => " OR ",
                    });
                }
                push_filter(s, f);
            }
            s.push(")");
        }
        FilterNode::Filter(f) => push_leaf(s, f),
    }
}

fn push_leaf(s: &mut Sql, f: &PropertyFilter) {
    use FilterOperator::*;
    let text = || f.text_value();
    let prop = |s: &mut Sql| push_property(s, &f.key, f.source);
    s.push("(");
    match f.operator {
        Eq => {
            prop(s);
            s.push(" = ").bind(SqlParam::Text(text()));
        }
        Neq => {
            prop(s);
            s.push(" IS DISTINCT FROM ").bind(SqlParam::Text(text()));
        }
        Contains => {
            s.push("contains(lower(");
            prop(s);
            s.push("), lower(").bind(SqlParam::Text(text())).push("))");
        }
        NotContains => {
            s.push("coalesce(NOT contains(lower(");
            prop(s);
            s.push("), lower(")
                .bind(SqlParam::Text(text()))
                .push(")), TRUE)");
        }
        Regex => {
            s.push("regexp_matches(");
            prop(s);
            s.push(", ").bind(SqlParam::Text(text())).push(")");
        }
        Gt | Lt => {
            s.push("TRY_CAST(");
            prop(s);
            s.push(if f.operator == Gt {
                " AS DOUBLE) > "
            } else {
                " AS DOUBLE) < "
            })
            .bind(SqlParam::Float(f.number_value()));
        }
        IsSet => {
            prop(s);
            s.push(" IS NOT NULL");
        }
        IsNotSet => {
            prop(s);
            s.push(" IS NULL");
        }
        In => {
            prop(s);
            s.push(" IN (");
            for (i, v) in f.text_values().into_iter().enumerate() {
                if i > 0 {
                    s.push(", ");
                }
                s.bind(SqlParam::Text(v));
            }
            s.push(")");
        }
    }
    s.push(")");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn node(v: Value) -> FilterNode {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn names_become_escaped_pointers() {
        assert_eq!(pointer("plan"), "/plan");
        assert_eq!(pointer("a/b~c"), "/a~1b~0c");
        assert_eq!(pointer("$current_url"), "/$current_url");
    }

    #[test]
    fn hostile_names_and_values_only_ever_become_parameters() {
        let evil = "x'); DROP TABLE events; --\"/*ü*/";
        let operators = [
            ("eq", json!(evil)),
            ("neq", json!(evil)),
            ("contains", json!(evil)),
            ("not_contains", json!(evil)),
            ("regex", json!("^x'.*;--$")),
            ("gt", json!(1)),
            ("lt", json!("2.5")),
            ("is_set", Value::Null),
            ("is_not_set", Value::Null),
            ("in", json!([evil, 1, true])),
        ];
        for (op, value) in operators {
            for source in ["event", "person"] {
                let mut f = json!({"key": evil, "operator": op, "type": source});
                if !value.is_null() {
                    f["value"] = value.clone();
                }
                let n = node(json!({"op": "or", "filters": [f, {"op": "and", "filters": []}]}));
                n.validate().unwrap();
                let mut s = Sql::default();
                push_filter(&mut s, &n);
                assert!(!s.text.contains("DROP"), "{op}: {}", s.text);
                assert!(!s.text.contains(evil), "{op}: {}", s.text);
                assert_eq!(s.text.matches('?').count(), s.params.len(), "{op}");
                assert!(s.params.contains(&SqlParam::Text(pointer(evil))), "{op}");
            }
        }
    }

    #[test]
    fn groups_join_with_their_operator() {
        let n = node(json!({"op": "or", "filters": [
            {"key": "a", "operator": "is_set"},
            {"op": "and", "filters": [
                {"key": "b", "operator": "eq", "value": 1},
                {"key": "c", "operator": "is_not_set", "type": "person"}]}]}));
        let mut s = Sql::default();
        push_filter(&mut s, &n);
        assert_eq!(
            s.text,
            "((json_extract_string(ev.properties, ?) IS NOT NULL) OR \
             ((json_extract_string(ev.properties, ?) = ?) AND \
             (json_extract_string(pp.properties, ?) IS NULL)))"
        );
        assert!(n.reads_persons());
    }
}
