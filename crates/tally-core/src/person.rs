//! Persons: the people behind distinct ids, and the [`PersonStore`] seam the
//! processing stage keeps them behind.
//!
//! A person's properties are a last-writer-wins map ordered by *event* time, not
//! arrival order: every key remembers when and how it was written, so applying the
//! same updates in any order, or twice (a replay after a crash, a re-sent event),
//! gives the same properties. The rules, per key:
//! - a `$set` or `$unset` beats a `$set_once`, and among `$set`/`$unset` the later
//!   event wins (an `$unset` leaves a tombstone so an older `$set` arriving late
//!   cannot bring the value back);
//! - among `$set_once` values the earliest event wins;
//! - on equal times the larger value (by its JSON text) wins, so ties are decided
//!   the same way whatever the order.

use crate::error::StoreError;
use crate::event::ProjectId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Identifies a person within the whole store. Positive; allocated by the store.
pub type PersonId = i64;

/// How a property value was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteKind {
    Set,
    SetOnce,
    Unset,
}

/// One key of a person's properties with what decides conflicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyWrite {
    /// `None` for an unset (a tombstone).
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Event time, in milliseconds since the epoch.
    #[serde(rename = "t")]
    pub at_ms: i64,
    #[serde(rename = "k")]
    pub kind: WriteKind,
}

impl PropertyWrite {
    /// Whether `self` should replace `current` (see the module rules).
    fn beats(&self, current: &PropertyWrite) -> bool {
        use WriteKind::*;
        match (self.kind, current.kind) {
            (SetOnce, SetOnce) => match self.at_ms.cmp(&current.at_ms) {
                Ordering::Less => true,
                Ordering::Greater => false,
                Ordering::Equal => self.tie_breaks(current),
            },
            (SetOnce, _) => false,
            (_, SetOnce) => true,
            _ => match self.at_ms.cmp(&current.at_ms) {
                Ordering::Greater => true,
                Ordering::Less => false,
                Ordering::Equal => self.tie_breaks(current),
            },
        }
    }

    fn tie_breaks(&self, current: &PropertyWrite) -> bool {
        let text = |w: &PropertyWrite| w.value.as_ref().map(Value::to_string);
        text(self) > text(current)
    }
}

/// A person's properties with their write history (one entry per key).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PersonProperties(pub BTreeMap<String, PropertyWrite>);

impl PersonProperties {
    /// Applies one write; returns whether anything changed.
    pub fn apply(&mut self, key: &str, write: PropertyWrite) -> bool {
        match self.0.get_mut(key) {
            Some(current) if !write.beats(current) => false,
            Some(current) => {
                *current = write;
                true
            }
            None => {
                self.0.insert(key.to_owned(), write);
                true
            }
        }
    }

    /// Folds another person's properties in (when two persons merge).
    pub fn merge(&mut self, other: PersonProperties) {
        for (key, write) in other.0 {
            self.apply(&key, write);
        }
    }

    /// The current values: what queries see.
    pub fn values(&self) -> Map<String, Value> {
        self.0
            .iter()
            .filter_map(|(k, w)| match (&w.kind, &w.value) {
                (WriteKind::Unset, _) | (_, None) => None,
                (_, Some(v)) => Some((k.clone(), v.clone())),
            })
            .collect()
    }
}

/// A person as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub project_id: ProjectId,
    pub id: PersonId,
    /// Set once an `$identify` named one of its ids as the logged-in user; an
    /// identified person is never merged into another by `$identify`.
    pub is_identified: bool,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub properties: PersonProperties,
}

/// What a store knows about some distinct ids: their persons, and which person
/// each of them belongs to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersonSnapshot {
    pub distinct_ids: Vec<(ProjectId, String, PersonId)>,
    pub persons: Vec<Person>,
}

/// What one processed batch changes, applied by [`PersonStore::save_persons`] in
/// this order: merges, then distinct-id links, then person rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersonChanges {
    /// `(project, from, into)`: every distinct id of `from` now belongs to `into`,
    /// events stored with `from` count as `into`, and `from`'s row goes away.
    pub merges: Vec<(ProjectId, PersonId, PersonId)>,
    /// Distinct ids (new, or moved) and the person they belong to now.
    pub links: Vec<(ProjectId, String, PersonId)>,
    /// Persons created or changed (properties, first/last seen, identified).
    pub persons: Vec<Person>,
}

impl PersonChanges {
    pub fn is_empty(&self) -> bool {
        self.merges.is_empty() && self.links.is_empty() && self.persons.is_empty()
    }
}

/// Held while one person resolution runs (see
/// [`PersonStore::resolution_guard`]); dropping it lets the next one in.
pub trait ResolutionGuard {}
impl<T> ResolutionGuard for T {}

/// Where persons live. Blocking (the processing stage runs on the blocking pool).
/// Saving must be atomic, and applying the same changes twice must be harmless:
/// a batch is processed again after a crash.
pub trait PersonStore: Send + Sync + 'static {
    /// Keeps every other resolution against this store waiting until the
    /// returned guard is dropped. Resolution reads persons, decides and writes:
    /// two resolvers deciding at once about the same ids (two Kafka workers, a
    /// merge whose two ids are on partitions of different workers) could each
    /// make a person for the same id, and the later save would win. Held from
    /// before [`Self::load_persons`] until after [`Self::save_persons`].
    fn resolution_guard(&self) -> Result<Box<dyn ResolutionGuard + '_>, StoreError>;
    /// The persons of these distinct ids (ids nobody has are left out).
    fn load_persons(&self, keys: &[(ProjectId, String)]) -> Result<PersonSnapshot, StoreError>;
    /// Reserves `count` new person ids and returns the first; the rest follow it.
    /// Ids are never handed out twice, even across restarts.
    fn allocate_person_ids(&self, count: usize) -> Result<PersonId, StoreError>;
    fn save_persons(&self, changes: &PersonChanges) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn w(kind: WriteKind, value: Option<Value>, at_ms: i64) -> PropertyWrite {
        PropertyWrite { value, at_ms, kind }
    }

    /// Every order of the same writes ends in the same properties.
    fn every_order_gives(writes: &[PropertyWrite], expected: Option<Value>) {
        let n = writes.len();
        let mut order: Vec<usize> = (0..n).collect();
        // Heap's algorithm, iteratively.
        let mut c = vec![0; n];
        let check = |order: &[usize]| {
            let mut p = PersonProperties::default();
            for &i in order {
                p.apply("plan", writes[i].clone());
            }
            assert_eq!(p.values().get("plan").cloned(), expected, "order {order:?}");
        };
        check(&order);
        let mut i = 0;
        while i < n {
            if c[i] < i {
                if i % 2 == 0 {
                    order.swap(0, i);
                } else {
                    order.swap(c[i], i);
                }
                check(&order);
                c[i] += 1;
                i = 0;
            } else {
                c[i] = 0;
                i += 1;
            }
        }
    }

    #[test]
    fn the_latest_set_wins_in_any_order() {
        use WriteKind::*;
        every_order_gives(
            &[
                w(Set, Some(json!("free")), 10),
                w(Set, Some(json!("pro")), 30),
                w(Set, Some(json!("team")), 20),
            ],
            Some(json!("pro")),
        );
    }

    #[test]
    fn set_once_keeps_the_earliest_and_yields_to_set() {
        use WriteKind::*;
        every_order_gives(
            &[
                w(SetOnce, Some(json!("ad")), 20),
                w(SetOnce, Some(json!("seo")), 10),
            ],
            Some(json!("seo")),
        );
        every_order_gives(
            &[
                w(SetOnce, Some(json!("seo")), 10),
                w(Set, Some(json!("direct")), 5),
            ],
            Some(json!("direct")),
        );
    }

    #[test]
    fn an_unset_is_not_undone_by_an_older_set_arriving_late() {
        use WriteKind::*;
        every_order_gives(
            &[
                w(Set, Some(json!("pro")), 10),
                w(Unset, None, 20),
                w(SetOnce, Some(json!("x")), 30),
            ],
            None,
        );
        every_order_gives(
            &[w(Unset, None, 20), w(Set, Some(json!("back")), 25)],
            Some(json!("back")),
        );
    }

    #[test]
    fn equal_times_are_decided_by_value_not_order() {
        use WriteKind::*;
        every_order_gives(
            &[
                w(Set, Some(json!("a")), 10),
                w(Set, Some(json!("b")), 10),
                w(Set, Some(json!(1)), 10),
            ],
            // JSON texts `"a"`, `"b"`, `1`: '1' sorts after '"'.
            Some(json!(1)),
        );
    }

    #[test]
    fn merging_equals_applying_both() {
        use WriteKind::*;
        let mut a = PersonProperties::default();
        a.apply("plan", w(Set, Some(json!("pro")), 10));
        a.apply("source", w(SetOnce, Some(json!("ad")), 5));
        let mut b = PersonProperties::default();
        b.apply("plan", w(Set, Some(json!("free")), 5));
        b.apply("source", w(SetOnce, Some(json!("seo")), 1));
        b.apply("email", w(Set, Some(json!("x@y")), 2));
        let mut ab = a.clone();
        ab.merge(b.clone());
        let mut ba = b;
        ba.merge(a);
        assert_eq!(ab, ba);
        assert_eq!(
            serde_json::Value::Object(ab.values()),
            json!({"plan": "pro", "source": "seo", "email": "x@y"})
        );
    }

    #[test]
    fn write_history_round_trips_through_json() {
        let mut p = PersonProperties::default();
        p.apply("a", w(WriteKind::Set, Some(json!({"x": [1]})), 7));
        p.apply("b", w(WriteKind::Unset, None, 8));
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(
            text,
            r#"{"a":{"v":{"x":[1]},"t":7,"k":"set"},"b":{"t":8,"k":"unset"}}"#
        );
        assert_eq!(serde_json::from_str::<PersonProperties>(&text).unwrap(), p);
    }
}
