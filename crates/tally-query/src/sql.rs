//! The SQL builder every engine writes its dialect with: text plus the values
//! bound to its placeholders, in order. Only identifiers and keywords an engine
//! chooses (never request text) are written into the text; every value from a
//! request travels as a [`SqlParam`].
//!
//! The text itself is each engine's own (`tally-duckdb`'s `sql` module,
//! `tally-clickhouse`'s): this crate says what a query means, they say it in SQL.

use chrono::{DateTime, Utc};
use std::marker::PhantomData;

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlParam {
    Int(i64),
    Float(f64),
    Text(String),
    /// A UTC instant; engines bind it as microseconds since the epoch and
    /// rebuild it in SQL ([`Dialect::TIME_PLACEHOLDER`]).
    Time(DateTime<Utc>),
}

/// What differs between engines in how a value is bound.
pub trait Dialect {
    /// The SQL an instant's placeholder is written as: an expression of one `?`
    /// that turns microseconds since the epoch into the engine's time value.
    /// Instants travel as integers so no driver has to agree with chrono on
    /// time zones.
    const TIME_PLACEHOLDER: &'static str;
}

/// SQL text in dialect `D` and its parameters, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub struct Sql<D> {
    pub text: String,
    pub params: Vec<SqlParam>,
    dialect: PhantomData<D>,
}

impl<D> Default for Sql<D> {
    fn default() -> Self {
        Self {
            text: String::new(),
            params: Vec::new(),
            dialect: PhantomData,
        }
    }
}

impl<D: Dialect> Sql<D> {
    /// Appends SQL text this engine chose (never request text).
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `param`.
    pub fn bind(&mut self, param: SqlParam) -> &mut Self {
        self.text.push_str(match param {
            SqlParam::Time(_) => D::TIME_PLACEHOLDER,
            _ => "?",
        });
        self.params.push(param);
        self
    }

    /// `(?, ?, …)` binding each parameter, for `IN`; `(NULL)` for none, which
    /// matches nothing.
    pub fn bind_list(&mut self, params: impl IntoIterator<Item = SqlParam>) -> &mut Self {
        self.push("(");
        let mut any = false;
        for (i, p) in params.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(p);
            any = true;
        }
        if !any {
            self.push("NULL");
        }
        self.push(")")
    }
}
