//! Property filters: `{"key", "operator", "value", "type"}` leaves combined in
//! `{"op": "and"|"or", "filters": [...]}` groups: what they mean and how they are
//! checked. Each engine writes them in its SQL with every name and value bound
//! as a parameter (a property name never reaches SQL text).
//!
//! Semantics where a choice was needed (PostHog's): `neq` and `not_contains` also
//! match events without the property; `contains` ignores case; `gt`/`lt` compare
//! numbers (a property that is not a number does not match); `is_set` means present
//! and not null.

use crate::error::QueryError;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

/// The longest property name accepted.
pub const MAX_KEY_LEN: usize = 400;
/// The most values an `in` filter takes, and the deepest nesting of groups.
pub const MAX_IN_VALUES: usize = 1000;
pub const MAX_DEPTH: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FilterOperator {
    Eq,
    Neq,
    Contains,
    NotContains,
    Regex,
    Gt,
    Lt,
    IsSet,
    IsNotSet,
    In,
}

/// Whose properties a filter (or breakdown) reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PropertySource {
    /// The event's own properties.
    #[default]
    Event,
    /// The properties of the person the event belongs to (as they are now).
    Person,
    /// Facts of the session the event belongs to ([`SESSION_PROPERTIES`]), as
    /// `/sessions` cuts sessions; a session still under way at the end of the
    /// range counts what happened up to then.
    Session,
}

/// The session properties filters and breakdowns may read: duration in whole
/// seconds, the path of its first and of its last pageview, its number of
/// pageviews.
pub const SESSION_PROPERTIES: [&str; 4] = [
    "$session_duration",
    "$entry_pathname",
    "$exit_pathname",
    "$session_pageviews",
];

/// Checks a property name (and, for session properties, that it is one).
pub(crate) fn check_property(key: &str, source: PropertySource) -> Result<(), QueryError> {
    check_key(key)?;
    if source == PropertySource::Session && !SESSION_PROPERTIES.contains(&key) {
        return Err(QueryError::InvalidFilter(format!(
            "session properties are {}",
            SESSION_PROPERTIES.join(", ")
        )));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyFilter {
    pub key: String,
    pub operator: FilterOperator,
    /// A string, number or boolean; a list for `in`; absent for `is_set` /
    /// `is_not_set`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub value: Option<Value>,
    #[serde(default, rename = "type")]
    pub source: PropertySource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupOp {
    And,
    Or,
}

/// A group of filters (and nested groups) joined by AND or OR.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterGroup {
    pub op: GroupOp,
    #[schema(no_recursion)]
    pub filters: Vec<FilterNode>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum FilterNode {
    Group(FilterGroup),
    Filter(PropertyFilter),
}

pub(crate) fn check_key(key: &str) -> Result<(), QueryError> {
    if key.is_empty() || key.chars().count() > MAX_KEY_LEN {
        return Err(QueryError::InvalidFilter(format!(
            "a property name must have 1 to {MAX_KEY_LEN} characters"
        )));
    }
    Ok(())
}

/// A filter value as the text `json_extract_string` gives for it.
fn scalar_text(value: &Value) -> Result<String, QueryError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(QueryError::InvalidFilter(
            "a filter value must be a string, number or boolean".into(),
        )),
    }
}

impl FilterNode {
    /// Whether any leaf reads person properties (the SQL then joins persons).
    pub fn reads_persons(&self) -> bool {
        match self {
            Self::Filter(f) => f.source == PropertySource::Person,
            Self::Group(g) => g.filters.iter().any(FilterNode::reads_persons),
        }
    }

    /// Whether any leaf reads session properties (the events then come with
    /// their sessions' facts).
    pub fn reads_sessions(&self) -> bool {
        match self {
            Self::Filter(f) => f.source == PropertySource::Session,
            Self::Group(g) => g.filters.iter().any(FilterNode::reads_sessions),
        }
    }

    /// Whether every leaf reads person properties (queries over persons alone).
    pub fn reads_only_persons(&self) -> bool {
        match self {
            Self::Filter(f) => f.source == PropertySource::Person,
            Self::Group(g) => g.filters.iter().all(FilterNode::reads_only_persons),
        }
    }

    /// Checks names, values and shape before any SQL is written.
    pub fn validate(&self) -> Result<(), QueryError> {
        self.validate_at(0)
    }

    fn validate_at(&self, depth: usize) -> Result<(), QueryError> {
        match self {
            Self::Group(g) => {
                if depth >= MAX_DEPTH {
                    return Err(QueryError::InvalidFilter(format!(
                        "filter groups nest at most {MAX_DEPTH} deep"
                    )));
                }
                g.filters.iter().try_for_each(|f| f.validate_at(depth + 1))
            }
            Self::Filter(f) => f.validate(),
        }
    }
}

impl PropertyFilter {
    /// The value as the text a property is compared with (`eq`, `neq`,
    /// `contains`, `not_contains`, `regex`): a number or boolean as JSON writes
    /// it. Only for a validated filter of one of those operators.
    pub fn text_value(&self) -> String {
        scalar_text(self.value.as_ref().expect("validated")).expect("validated")
    }

    /// The number `gt` / `lt` compare with. Only for a validated filter.
    pub fn number_value(&self) -> f64 {
        number(self.value.as_ref()).expect("validated")
    }

    /// The values of an `in` filter as text. Only for a validated filter.
    pub fn text_values(&self) -> Vec<String> {
        self.value
            .as_ref()
            .and_then(Value::as_array)
            .expect("validated")
            .iter()
            .map(|v| scalar_text(v).expect("validated"))
            .collect()
    }

    fn validate(&self) -> Result<(), QueryError> {
        use FilterOperator::*;
        check_property(&self.key, self.source)?;
        let value = self.value.as_ref();
        match self.operator {
            IsSet | IsNotSet => Ok(()),
            Eq | Neq | Contains | NotContains => {
                scalar_text(value.ok_or_else(|| missing(self))?).map(|_| ())
            }
            Regex => {
                let pattern = value
                    .and_then(Value::as_str)
                    .ok_or_else(|| QueryError::InvalidFilter("`regex` takes a string".into()))?;
                regex::Regex::new(pattern).map(|_| ()).map_err(|e| {
                    QueryError::InvalidFilter(format!("not a regular expression: {e}"))
                })
            }
            Gt | Lt => number(value).map(|_| ()),
            In => {
                let list = value.and_then(Value::as_array).ok_or_else(|| {
                    QueryError::InvalidFilter("`in` takes a list of values".into())
                })?;
                if list.is_empty() || list.len() > MAX_IN_VALUES {
                    return Err(QueryError::InvalidFilter(format!(
                        "`in` takes 1 to {MAX_IN_VALUES} values"
                    )));
                }
                list.iter().try_for_each(|v| scalar_text(v).map(|_| ()))
            }
        }
    }
}

fn missing(f: &PropertyFilter) -> QueryError {
    QueryError::InvalidFilter(format!("`{:?}` on `{}` needs a value", f.operator, f.key))
}

fn number(value: Option<&Value>) -> Result<f64, QueryError> {
    match value {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
    .ok_or_else(|| QueryError::InvalidFilter("`gt` and `lt` take a number".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(v: Value) -> FilterNode {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn bad_filters_are_refused_with_the_reason() {
        let bad = [
            json!({"key": "", "operator": "eq", "value": "a"}),
            json!({"key": "k", "operator": "eq"}),
            json!({"key": "k", "operator": "eq", "value": {"a": 1}}),
            json!({"key": "k", "operator": "gt", "value": "many"}),
            json!({"key": "k", "operator": "regex", "value": "(unclosed"}),
            json!({"key": "k", "operator": "in", "value": []}),
            json!({"key": "k", "operator": "in", "value": "a"}),
        ];
        for f in bad {
            let err = node(f.clone()).validate().unwrap_err();
            assert_eq!(err.code(), "invalid_filter", "{f}");
        }
        let mut deep = json!({"key": "k", "operator": "is_set"});
        for _ in 0..=MAX_DEPTH {
            deep = json!({"op": "and", "filters": [deep]});
        }
        assert_eq!(node(deep).validate().unwrap_err().code(), "invalid_filter");
        assert!(serde_json::from_value::<FilterNode>(
            json!({"key": "k", "operator": "like", "value": "a"})
        )
        .is_err());
    }
}
