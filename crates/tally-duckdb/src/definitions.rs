//! Event and property definitions: per project, each event name and each
//! top-level property key seen, with its type, first and last seen time and how
//! many stored events had it. The writer folds every stored batch into the
//! `definitions` table in the same transaction, so counts match stored events
//! exactly (duplicates that are skipped are not counted).
//!
//! A property's type is the first one seen that is not null: `String`,
//! `Numeric`, `Boolean`, `DateTime` (RFC 3339 text), `Object` or `Array`.

use crate::store::internal;
use chrono::{DateTime, Utc};
use foldhash::fast::RandomState as FoldHash;
use serde_json::Value;
use std::collections::HashMap;
use tally_core::{Event, ProjectId, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Event,
    Property,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Property => "property",
        }
    }
}

struct Seen {
    property_type: Option<&'static str>,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    count: i64,
}

/// The type name of a property value; `None` for null.
pub fn type_of(value: &Value) -> Option<&'static str> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(_) => "Boolean",
        Value::Number(_) => "Numeric",
        Value::String(s) if DateTime::parse_from_rfc3339(s).is_ok() => "DateTime",
        Value::String(_) => "String",
        Value::Array(_) => "Array",
        Value::Object(_) => "Object",
    })
}

/// The definitions of a batch of stored events, gathered event by event and then
/// folded into the table in one statement.
#[derive(Default)]
pub struct Definitions<'a> {
    seen: HashMap<(ProjectId, Kind, &'a str), Seen, FoldHash>,
}

impl<'a> Definitions<'a> {
    /// Counts `e`'s name and property keys. Runs for every property of every
    /// stored event: a fast hash, and a value's type worked out only while its
    /// name has none yet. The store calls it in the same pass that writes the
    /// event's columns, while the event is in the CPU's cache.
    pub fn add(&mut self, e: &'a Event) {
        let names = std::iter::once((Kind::Event, e.event.as_str(), None)).chain(
            e.properties
                .iter()
                .map(|(k, v)| (Kind::Property, k.as_str(), Some(v))),
        );
        for (kind, name, value) in names {
            let entry = self.seen.entry((e.project_id, kind, name)).or_insert(Seen {
                property_type: None,
                first: e.timestamp,
                last: e.timestamp,
                count: 0,
            });
            if entry.property_type.is_none() {
                entry.property_type = value.and_then(type_of);
            }
            entry.first = entry.first.min(e.timestamp);
            entry.last = entry.last.max(e.timestamp);
            entry.count += 1;
        }
    }

    /// What was added, no longer borrowing the events: one row per name.
    pub fn into_rows(self) -> DefinitionRows {
        DefinitionRows(
            self.seen
                .into_iter()
                .map(|((project_id, kind, name), seen)| (project_id, kind, name.to_owned(), seen))
                .collect(),
        )
    }
}

/// A batch's definitions, ready to be folded into the table.
pub struct DefinitionRows(Vec<(ProjectId, Kind, String, Seen)>);

impl DefinitionRows {
    /// These rows and `later`'s (from events stored after these) as one set:
    /// counts add up, times widen, and a type already known is kept.
    pub fn then(self, later: DefinitionRows) -> DefinitionRows {
        let mut rows: HashMap<(ProjectId, Kind, String), Seen, FoldHash> = self
            .0
            .into_iter()
            .map(|(project_id, kind, name, seen)| ((project_id, kind, name), seen))
            .collect();
        for (project_id, kind, name, seen) in later.0 {
            match rows.entry((project_id, kind, name)) {
                std::collections::hash_map::Entry::Occupied(mut known) => {
                    let known = known.get_mut();
                    known.property_type = known.property_type.or(seen.property_type);
                    known.first = known.first.min(seen.first);
                    known.last = known.last.max(seen.last);
                    known.count += seen.count;
                }
                std::collections::hash_map::Entry::Vacant(new) => {
                    new.insert(seen);
                }
            }
        }
        DefinitionRows(
            rows.into_iter()
                .map(|((project_id, kind, name), seen)| (project_id, kind, name, seen))
                .collect(),
        )
    }

    /// Folds these rows into the definitions table on `tx`.
    pub fn write(self, tx: &duckdb::Transaction<'_>) -> Result<(), StoreError> {
        write(tx, self.0)
    }
}

fn write(
    tx: &duckdb::Transaction<'_>,
    seen: Vec<(ProjectId, Kind, String, Seen)>,
) -> Result<(), StoreError> {
    if seen.is_empty() {
        return Ok(());
    }
    // One statement for the whole batch: DuckDB's per-statement cost for an
    // upsert is milliseconds, so one per name would dominate small inserts.
    let mut sql = String::from("INSERT INTO definitions VALUES ");
    let mut params: Vec<duckdb::types::Value> = Vec::with_capacity(seen.len() * 7);
    for (i, (project_id, kind, name, s)) in seen.into_iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str("(?, ?, ?, ?, make_timestamp(?), make_timestamp(?), ?)");
        params.extend([
            duckdb::types::Value::BigInt(project_id),
            duckdb::types::Value::Text(kind.as_str().to_owned()),
            duckdb::types::Value::Text(name),
            s.property_type.map_or(duckdb::types::Value::Null, |t| {
                duckdb::types::Value::Text(t.to_owned())
            }),
            duckdb::types::Value::BigInt(s.first.timestamp_micros()),
            duckdb::types::Value::BigInt(s.last.timestamp_micros()),
            duckdb::types::Value::BigInt(s.count),
        ]);
    }
    sql.push_str(
        " ON CONFLICT (project_id, kind, name) DO UPDATE SET \
         property_type = coalesce(definitions.property_type, excluded.property_type), \
         first_seen = least(definitions.first_seen, excluded.first_seen), \
         last_seen = greatest(definitions.last_seen, excluded.last_seen), \
         count = definitions.count + excluded.count",
    );
    tx.execute(&sql, duckdb::params_from_iter(params))
        .map_err(internal)?;
    Ok(())
}
