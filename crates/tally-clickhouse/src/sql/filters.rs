//! ClickHouse's SQL for property filters (`tally_query::filters` says what
//! they mean). A property is read from its row's parallel arrays
//! (`prop_keys`, `prop_values`, `prop_types`: `schema.rs`) with the name bound
//! as a value, so no name reaches SQL text; values are bound too. The events
//! relation is `ev`, the persons joined to it `pp`.

use super::push_property_of;
use crate::client::Sql;
use tally_query::filters::{FilterNode, FilterOperator, GroupOp, PropertyFilter, PropertySource};
use tally_query::sql::SqlParam;

/// A property as text (NULL when absent or JSON null); a session property
/// is a fact of the event's session (`super::sessions::push_fact`).
pub(crate) fn push_property(s: &mut Sql, key: &str, source: PropertySource) {
    let prefix = match source {
        PropertySource::Event => "ev.",
        PropertySource::Person => "pp.",
        PropertySource::Session => return super::sessions::push_fact(s, key),
    };
    push_property_of(s, prefix, SqlParam::Text(key.to_owned()));
}

/// Appends the condition (always parenthesised; an empty group is true).
pub(crate) fn push_filter(s: &mut Sql, node: &FilterNode) {
    match node {
        FilterNode::Group(g) if g.filters.is_empty() => {
            s.push("1");
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

/// One filter. NULL (absent) never matches `eq`, `contains`, `regex`, `gt`,
/// `lt` or `in`, and always matches `neq` and `not_contains`, as on DuckDB.
fn push_leaf(s: &mut Sql, f: &PropertyFilter) {
    use FilterOperator::*;
    let prop = |s: &mut Sql| push_property(s, &f.key, f.source);
    s.push("(");
    match f.operator {
        Eq => {
            s.push("ifNull(");
            prop(s);
            s.push(" = ")
                .bind(SqlParam::Text(f.text_value()))
                .push(", 0)");
        }
        Neq => {
            s.push("ifNull(");
            prop(s);
            s.push(" != ")
                .bind(SqlParam::Text(f.text_value()))
                .push(", 1)");
        }
        Contains | NotContains => {
            s.push(if f.operator == Contains {
                "ifNull("
            } else {
                "NOT ifNull("
            });
            s.push("positionCaseInsensitiveUTF8(");
            prop(s);
            s.push(", ")
                .bind(SqlParam::Text(f.text_value()))
                .push(") > 0, 0)");
        }
        Regex => {
            s.push("ifNull(match(");
            prop(s);
            s.push(", ")
                .bind(SqlParam::Text(f.text_value()))
                .push("), 0)");
        }
        Gt | Lt => {
            s.push("ifNull(toFloat64OrNull(");
            prop(s);
            s.push(if f.operator == Gt { ") > " } else { ") < " })
                .bind(SqlParam::Float(f.number_value()))
                .push(", 0)");
        }
        IsSet => {
            s.push("isNotNull(");
            prop(s);
            s.push(")");
        }
        IsNotSet => {
            s.push("isNull(");
            prop(s);
            s.push(")");
        }
        In => {
            s.push("ifNull(");
            prop(s);
            s.push(" IN ")
                .bind_list(f.text_values().into_iter().map(SqlParam::Text))
                .push(", 0)");
        }
    }
    s.push(")");
}
