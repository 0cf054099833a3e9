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
use std::borrow::Cow;
use std::collections::HashMap;
use tally_core::properties::type_of;
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

/// A name as counted: its project, kind and text (borrowed from the event unless
/// its key had escapes).
type NameKey<'a> = (ProjectId, Kind, Cow<'a, str>);

/// The definitions of a batch of stored events, gathered event by event and then
/// folded into the table in one statement.
#[derive(Default)]
pub struct Definitions<'a> {
    /// Where each name's row is in `rows`.
    slots: HashMap<NameKey<'a>, usize, FoldHash>,
    rows: Vec<(NameKey<'a>, Seen)>,
    /// The last event's project and names (its event name first, then its
    /// property keys in order) with their rows: events in a batch mostly repeat
    /// the names of the one before, which are then found by comparing names in
    /// place rather than hashing each (this loop ran for every property of every
    /// stored event, and its hashing was the largest part of encoding a batch).
    last_project: ProjectId,
    last: Vec<(Cow<'a, str>, usize)>,
    current: Vec<(Cow<'a, str>, usize)>,
}

impl<'a> Definitions<'a> {
    /// Counts `e`'s name and property keys. A value's type is worked out only
    /// while its name has none yet. The store calls it in the same pass that
    /// writes the event's columns, while the event is in the CPU's cache.
    pub fn add(&mut self, e: &'a Event) {
        let names = std::iter::once((Kind::Event, Cow::Borrowed(e.event.as_str()), None)).chain(
            e.properties
                .iter()
                .map(|(k, v)| (Kind::Property, k, Some(v))),
        );
        let same_project = self.last_project == e.project_id && !self.last.is_empty();
        self.current.clear();
        for (position, (kind, name, value)) in names.enumerate() {
            // Position 0 is always the event name, so a match in place is of the
            // same kind as well as the same project and name.
            let slot = match self.last.get(position) {
                Some((last_name, slot)) if same_project && *last_name == name => *slot,
                _ => self.slot(e, kind, name.clone()),
            };
            self.current.push((name, slot));
            let entry = &mut self.rows[slot].1;
            if entry.property_type.is_none() {
                entry.property_type = value.and_then(type_of);
            }
            entry.first = entry.first.min(e.timestamp);
            entry.last = entry.last.max(e.timestamp);
            entry.count += 1;
        }
        std::mem::swap(&mut self.last, &mut self.current);
        self.last_project = e.project_id;
    }

    fn slot(&mut self, e: &Event, kind: Kind, name: Cow<'a, str>) -> usize {
        let key = (e.project_id, kind, name);
        *self.slots.entry(key.clone()).or_insert_with(|| {
            self.rows.push((
                key,
                Seen {
                    property_type: None,
                    first: e.timestamp,
                    last: e.timestamp,
                    count: 0,
                },
            ));
            self.rows.len() - 1
        })
    }

    /// What was added, no longer borrowing the events: one row per name.
    pub fn into_rows(self) -> DefinitionRows {
        DefinitionRows(
            self.rows
                .into_iter()
                .map(|((project_id, kind, name), seen)| (project_id, kind, name.into_owned(), seen))
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

#[cfg(test)]
mod gather_tests {
    use super::*;

    fn event(project: ProjectId, name: &str, keys: &[&str], minute: u32) -> Event {
        let at = DateTime::parse_from_rfc3339(&format!("2026-11-01T10:{minute:02}:00Z"))
            .unwrap()
            .with_timezone(&Utc);
        let mut e = Event::new(project, uuid::Uuid::new_v4(), name, "u", at);
        for k in keys {
            e.properties.insert((*k).into(), serde_json::Value::from(1));
        }
        e
    }

    #[test]
    fn names_repeated_shifted_or_in_another_project_are_each_counted_once_per_event() {
        let events = [
            event(1, "view", &["a", "b"], 1),
            event(1, "view", &["a", "b"], 2),
            // Same names in place, another project: rows of their own.
            event(2, "view", &["a", "b"], 3),
            // Back in project 1; `c` where `b` was.
            event(1, "view", &["a", "c"], 4),
            // `b` where `a` was, and an event named like a property.
            event(1, "b", &["b"], 5),
            event(1, "view", &[], 0),
        ];
        let mut gathered = Definitions::default();
        for e in &events {
            gathered.add(e);
        }
        let mut rows: Vec<(ProjectId, &str, String, i64, u32, u32)> = gathered
            .into_rows()
            .0
            .into_iter()
            .map(|(p, kind, name, seen)| {
                use chrono::Timelike;
                (
                    p,
                    kind.as_str(),
                    name,
                    seen.count,
                    seen.first.minute(),
                    seen.last.minute(),
                )
            })
            .collect();
        rows.sort();
        let row = |p, kind, name: &str, count, first, last| {
            (p, kind, name.to_owned(), count, first, last)
        };
        assert_eq!(
            rows,
            [
                row(1, "event", "b", 1, 5, 5),
                row(1, "event", "view", 4, 0, 4),
                row(1, "property", "a", 3, 1, 4),
                row(1, "property", "b", 3, 1, 5),
                row(1, "property", "c", 1, 4, 4),
                row(2, "event", "view", 1, 3, 3),
                row(2, "property", "a", 1, 3, 3),
                row(2, "property", "b", 1, 3, 3),
            ]
        );
    }
}
