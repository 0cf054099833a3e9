//! Person resolution: every event gets the person behind its distinct id, `$identify`
//! and aliases join distinct ids into one person, and `$set` / `$set_once` /
//! `$unset` maintain the person's properties.
//!
//! [`resolve`] is the whole algorithm; its state is behind [`PersonStore`] (DuckDB in
//! the embedded deployment, an in-memory map in the tests). Per batch it loads the
//! persons of every distinct id the batch names, works in memory in event-time
//! order, and saves the changes in one call. It is safe to run twice on the same
//! batch (a replay after a crash): links that exist are not made again, and
//! property writes are ordered by event time (see `tally_core::person`).
//!
//! Merge rules, where PostHog's behaviour is the model:
//! - `$identify` (properties `$anon_distinct_id`): if the identified id is new it
//!   joins the anonymous id's person; otherwise the anonymous person is merged into
//!   the identified one, unless the anonymous person is itself identified already
//!   (a shared device: a second user logging in must not absorb the first).
//!   Either way the person is identified from then on.
//! - `$create_alias` (property `alias`): the two ids' persons merge unless both are
//!   identified; `$merge_dangerously` merges even then.
//! - Ids that are clearly placeholders (`null`, `undefined`, `anonymous`, `0`, …)
//!   never cause a merge; each still is a person of its own.
//! - Events stamped earlier with a person that is merged later keep that id on
//!   disk; the store's override table maps it to the surviving person at query
//!   time, so earlier anonymous browsing counts for the person who logged in.

use serde_json::Value;
use tally_core::{
    Event, Person, PersonChanges, PersonId, PersonProperties, PersonStore, ProjectId,
    PropertyWrite, StoreError, WriteKind,
};

type Key = (ProjectId, String);

/// Distinct ids that SDKs send when they have no real id; never merged on.
const PLACEHOLDER_IDS: &[&str] = &[
    "",
    "0",
    "[object object]",
    "anonymous",
    "distinct_id",
    "distinctid",
    "email",
    "false",
    "guest",
    "id",
    "nan",
    "none",
    "not_authenticated",
    "null",
    "true",
    "undefined",
];

fn is_placeholder(id: &str) -> bool {
    let id = id.trim().trim_matches(|c| c == '"' || c == '\'');
    PLACEHOLDER_IDS.iter().any(|p| p.eq_ignore_ascii_case(id))
}

/// What an event asks of persons besides its own distinct id.
enum Link {
    Identify { anonymous: String },
    Alias { other: String, force: bool },
}

fn link_of(event: &Event) -> Option<Link> {
    let text = |key: &str| {
        event
            .properties
            .get_str(key)
            .filter(|s| !s.is_empty())
            .map(|s| s.into_owned())
    };
    match event.event.as_str() {
        "$identify" => text("$anon_distinct_id").map(|anonymous| Link::Identify { anonymous }),
        "$create_alias" => text("alias").map(|other| Link::Alias {
            other,
            force: false,
        }),
        "$merge_dangerously" => text("alias").map(|other| Link::Alias { other, force: true }),
        _ => None,
    }
}

/// Stamps `person_id` on every event and saves what changed. Returns the changes.
pub fn resolve(events: &mut [Event], store: &dyn PersonStore) -> Result<PersonChanges, StoreError> {
    if events.is_empty() {
        return Ok(PersonChanges::default());
    }
    let links: Vec<Option<Link>> = events.iter().map(link_of).collect();
    let mut keys: Vec<Key> = Vec::new();
    let mut seen: FastSet<(ProjectId, &str)> = FastSet::default();
    for (event, link) in events.iter().zip(&links) {
        let other = match link {
            Some(Link::Identify { anonymous }) => Some(anonymous.as_str()),
            Some(Link::Alias { other, .. }) => Some(other.as_str()),
            None => None,
        };
        for id in std::iter::once(event.distinct_id.as_str()).chain(other) {
            if seen.insert((event.project_id, id)) {
                keys.push((event.project_id, id.to_owned()));
            }
        }
    }
    drop(seen);
    // Until the changes are saved, no other resolver reads these persons.
    let _turn = store.resolution_guard()?;
    let snapshot = store.load_persons(&keys)?;
    let mut work = Working::default();
    for (project, id, person) in snapshot.distinct_ids {
        work.ids.insert((project, id), person);
    }
    for person in snapshot.persons {
        work.persons.insert(person.id, person);
    }
    let unknown = keys.iter().filter(|k| !work.ids.contains_key(*k)).count();
    if unknown > 0 {
        work.next_id = store.allocate_person_ids(unknown)?;
        work.remaining = unknown;
    }

    // Event-time order, so first/last seen and merges follow what happened.
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| (events[i].timestamp, i));
    for &i in &order {
        let event = &events[i];
        let project = event.project_id;
        let at = event.timestamp;
        match &links[i] {
            Some(Link::Identify { anonymous }) => {
                work.identify(project, &event.distinct_id, anonymous, at)
            }
            Some(Link::Alias { other, force }) => {
                work.alias(project, &event.distinct_id, other, *force, at)
            }
            None => {}
        }
        let person = work.person_of(project, &event.distinct_id, at);
        let writes = property_writes(event);
        let record = work.record(person, project, at);
        record.first_seen = record.first_seen.min(at);
        record.last_seen = record.last_seen.max(at);
        if event.event == "$identify" && !is_placeholder(&event.distinct_id) {
            record.is_identified = true;
        }
        for (key, write) in writes {
            record.properties.apply(&key, write);
        }
        work.changed_persons.insert(person);
        events[i].person_id = Some(person);
    }
    // Events stamped before a merge later in this batch get the survivor.
    for event in events.iter_mut() {
        if let Some(id) = event.person_id {
            event.person_id = Some(work.survivor(id));
        }
    }
    let changes = work.into_changes();
    store.save_persons(&changes)?;
    Ok(changes)
}

/// The `$set` / `$set_once` / `$unset` writes an event carries, stamped with its time.
fn property_writes(event: &Event) -> Vec<(String, PropertyWrite)> {
    let at_ms = event.timestamp.timestamp_millis();
    let mut writes = Vec::new();
    for (field, kind) in [("$set_once", WriteKind::SetOnce), ("$set", WriteKind::Set)] {
        if let Some(Value::Object(values)) = event.properties.get(field) {
            for (key, value) in values {
                writes.push((
                    key.clone(),
                    PropertyWrite {
                        value: Some(value.clone()),
                        at_ms,
                        kind,
                    },
                ));
            }
        }
    }
    let unset_keys: Vec<String> = match event.properties.get("$unset") {
        Some(Value::Array(keys)) => keys
            .iter()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect(),
        // Some SDKs send `{"key": null}`.
        Some(Value::Object(keys)) => keys.keys().cloned().collect(),
        _ => Vec::new(),
    };
    for key in unset_keys {
        writes.push((
            key,
            PropertyWrite {
                value: None,
                at_ms,
                kind: WriteKind::Unset,
            },
        ));
    }
    writes
}

/// Maps looked up once or more per event: foldhash, not std's SipHash (whose
/// hashing of the id strings was most of `resolve`'s own time in a profile), and
/// hashbrown's, which find a [`Key`] from an [`IdRef`] without copying the id.
type FastMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = hashbrown::HashSet<K, foldhash::fast::RandomState>;

/// A [`Key`] borrowed: hashes as the key does, so maps find ids without an allocation.
#[derive(Hash)]
struct IdRef<'a>(ProjectId, &'a str);

impl hashbrown::Equivalent<Key> for IdRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

#[derive(Default)]
struct Working {
    ids: FastMap<Key, PersonId>,
    persons: FastMap<PersonId, Person>,
    next_id: PersonId,
    remaining: usize,
    changed_ids: FastSet<Key>,
    changed_persons: FastSet<PersonId>,
    merges: Vec<(ProjectId, PersonId, PersonId)>,
    merged_into: FastMap<PersonId, PersonId>,
}

impl Working {
    fn person_of(
        &mut self,
        project: ProjectId,
        id: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> PersonId {
        if let Some(&person) = self.ids.get(&IdRef(project, id)) {
            return person;
        }
        let person = self.new_person(project, at);
        self.link(project, id, person);
        person
    }

    fn new_person(&mut self, project: ProjectId, at: chrono::DateTime<chrono::Utc>) -> PersonId {
        // Allocated for every unknown distinct id up front, and each one creates
        // at most one person, so this never runs out.
        assert!(self.remaining > 0, "more new persons than unknown ids");
        let id = self.next_id;
        self.next_id += 1;
        self.remaining -= 1;
        self.persons.insert(id, blank_person(project, id, at));
        self.changed_persons.insert(id);
        id
    }

    fn link(&mut self, project: ProjectId, id: &str, person: PersonId) {
        let key = (project, id.to_owned());
        self.ids.insert(key.clone(), person);
        self.changed_ids.insert(key);
    }

    fn known(&self, project: ProjectId, id: &str) -> Option<PersonId> {
        self.ids.get(&IdRef(project, id)).copied()
    }

    /// The person's row; recreated if the store lost it (it should not).
    fn record(
        &mut self,
        person: PersonId,
        project: ProjectId,
        at: chrono::DateTime<chrono::Utc>,
    ) -> &mut Person {
        self.persons
            .entry(person)
            .or_insert_with(|| blank_person(project, person, at))
    }

    fn is_identified(&self, person: PersonId) -> bool {
        self.persons.get(&person).is_some_and(|p| p.is_identified)
    }

    fn identify(
        &mut self,
        project: ProjectId,
        user: &str,
        anonymous: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        if user == anonymous || is_placeholder(user) || is_placeholder(anonymous) {
            return;
        }
        match (self.known(project, user), self.known(project, anonymous)) {
            (None, None) => {
                let person = self.person_of(project, anonymous, at);
                self.link(project, user, person);
            }
            (None, Some(anon)) if !self.is_identified(anon) => self.link(project, user, anon),
            (None, Some(_)) => {
                self.person_of(project, user, at);
            }
            (Some(known), None) => self.link(project, anonymous, known),
            (Some(known), Some(anon)) => {
                if known != anon && !self.is_identified(anon) {
                    self.merge(project, anon, known);
                }
            }
        }
    }

    fn alias(
        &mut self,
        project: ProjectId,
        id: &str,
        other: &str,
        force: bool,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        if id == other || is_placeholder(id) || is_placeholder(other) {
            return;
        }
        match (self.known(project, id), self.known(project, other)) {
            (None, None) => {
                let person = self.person_of(project, other, at);
                self.link(project, id, person);
            }
            (None, Some(person)) => self.link(project, id, person),
            (Some(person), None) => self.link(project, other, person),
            (Some(a), Some(b)) => {
                let both_identified = self.is_identified(a) && self.is_identified(b);
                if a != b && (force || !both_identified) {
                    self.merge(project, b, a);
                }
            }
        }
    }

    /// `from` joins `into`: its ids, properties and time span.
    fn merge(&mut self, project: ProjectId, from: PersonId, into: PersonId) {
        let gone = self.persons.remove(&from);
        self.changed_persons.remove(&from);
        if let Some(gone) = gone {
            let at = gone.first_seen;
            let survivor = self.record(into, project, at);
            survivor.first_seen = survivor.first_seen.min(gone.first_seen);
            survivor.last_seen = survivor.last_seen.max(gone.last_seen);
            survivor.is_identified |= gone.is_identified;
            survivor.properties.merge(gone.properties);
        }
        self.changed_persons.insert(into);
        let moved: Vec<Key> = self
            .ids
            .iter()
            .filter(|(_, &p)| p == from)
            .map(|(k, _)| k.clone())
            .collect();
        for key in moved {
            self.ids.insert(key.clone(), into);
            self.changed_ids.insert(key);
        }
        self.merges.push((project, from, into));
        self.merged_into.insert(from, into);
    }

    fn survivor(&self, mut person: PersonId) -> PersonId {
        while let Some(&next) = self.merged_into.get(&person) {
            person = next;
        }
        person
    }

    fn into_changes(mut self) -> PersonChanges {
        let mut links: Vec<(ProjectId, String, PersonId)> = self
            .changed_ids
            .drain()
            .map(|key| {
                let person = self.ids[&key];
                (key.0, key.1, person)
            })
            .collect();
        links.sort();
        let mut persons: Vec<Person> = self
            .changed_persons
            .iter()
            .filter_map(|id| self.persons.remove(id))
            .collect();
        persons.sort_by_key(|p| p.id);
        PersonChanges {
            merges: self.merges,
            links,
            persons,
        }
    }
}

fn blank_person(project: ProjectId, id: PersonId, at: chrono::DateTime<chrono::Utc>) -> Person {
    Person {
        project_id: project,
        id,
        is_identified: false,
        first_seen: at,
        last_seen: at,
        properties: PersonProperties::default(),
    }
}

#[cfg(test)]
pub(crate) mod memory {
    //! An in-memory [`PersonStore`] for unit tests, applying changes the way the
    //! DuckDB store does (merges, then links, then rows).

    use super::*;
    use std::collections::{HashMap, HashSet};
    use std::sync::Mutex;
    use tally_core::PersonSnapshot;

    #[derive(Default)]
    pub struct MemoryPersons {
        pub state: Mutex<State>,
    }

    #[derive(Default, Clone)]
    pub struct State {
        pub ids: HashMap<Key, PersonId>,
        pub persons: HashMap<PersonId, Person>,
        pub overrides: HashMap<PersonId, PersonId>,
        pub next: PersonId,
        pub fail_saves: bool,
    }

    impl MemoryPersons {
        /// The person an event stamped `stamped` counts as now.
        pub fn counted_as(&self, stamped: PersonId) -> PersonId {
            let s = self.state.lock().unwrap();
            s.overrides.get(&stamped).copied().unwrap_or(stamped)
        }

        pub fn person_of(&self, project: ProjectId, id: &str) -> Option<Person> {
            let s = self.state.lock().unwrap();
            let person = s.ids.get(&(project, id.to_owned()))?;
            s.persons.get(person).cloned()
        }
    }

    impl PersonStore for MemoryPersons {
        fn resolution_guard(
            &self,
        ) -> Result<Box<dyn tally_core::ResolutionGuard + '_>, StoreError> {
            Ok(Box::new(()))
        }

        fn load_persons(&self, keys: &[Key]) -> Result<PersonSnapshot, StoreError> {
            let s = self.state.lock().unwrap();
            let mut snapshot = PersonSnapshot::default();
            let mut wanted = HashSet::new();
            for key in keys {
                if let Some(&person) = s.ids.get(key) {
                    snapshot.distinct_ids.push((key.0, key.1.clone(), person));
                    wanted.insert(person);
                }
            }
            snapshot.persons = wanted
                .into_iter()
                .filter_map(|p| s.persons.get(&p).cloned())
                .collect();
            Ok(snapshot)
        }

        fn allocate_person_ids(&self, count: usize) -> Result<PersonId, StoreError> {
            let mut s = self.state.lock().unwrap();
            let first = s.next + 1;
            s.next += count as PersonId;
            Ok(first)
        }

        fn save_persons(&self, changes: &PersonChanges) -> Result<(), StoreError> {
            let mut s = self.state.lock().unwrap();
            if s.fail_saves {
                return Err(StoreError::Unavailable("saves switched off".into()));
            }
            for &(_, from, into) in &changes.merges {
                for person in s.ids.values_mut() {
                    if *person == from {
                        *person = into;
                    }
                }
                for target in s.overrides.values_mut() {
                    if *target == from {
                        *target = into;
                    }
                }
                s.overrides.insert(from, into);
                s.persons.remove(&from);
            }
            for (project, id, person) in &changes.links {
                s.ids.insert((*project, id.clone()), *person);
            }
            for person in &changes.persons {
                s.persons.insert(person.id, person.clone());
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
