//! Merge scenarios, each worked out by hand: who is the same person, and what
//! their properties and first/last seen are.

use super::memory::MemoryPersons;
use super::*;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use uuid::Uuid;

const P: ProjectId = 1;

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 10, minute, 0).unwrap()
}

fn event(name: &str, distinct_id: &str, minute: u32, props: Value) -> Event {
    let mut e = Event::new(P, Uuid::new_v4(), name, distinct_id, at(minute));
    if let Value::Object(map) = props {
        e.properties = map.into();
    }
    e
}

fn pageview(distinct_id: &str, minute: u32) -> Event {
    event("$pageview", distinct_id, minute, json!({}))
}

fn identify(user: &str, anonymous: &str, minute: u32) -> Event {
    event(
        "$identify",
        user,
        minute,
        json!({"$anon_distinct_id": anonymous}),
    )
}

/// Resolves each batch in turn; returns every event as stored.
fn run(store: &MemoryPersons, batches: Vec<Vec<Event>>) -> Vec<Event> {
    let mut stored = Vec::new();
    for mut batch in batches {
        resolve(&mut batch, store).unwrap();
        stored.extend(batch);
    }
    stored
}

/// The persons the stored events count as now (through merges).
fn counted(store: &MemoryPersons, events: &[Event]) -> Vec<PersonId> {
    events
        .iter()
        .map(|e| store.counted_as(e.person_id.expect("every event gets a person")))
        .collect()
}

fn live_persons(store: &MemoryPersons) -> usize {
    store.state.lock().unwrap().persons.len()
}

#[test]
fn anonymous_browsing_then_login_then_another_device_is_one_person() {
    let store = MemoryPersons::default();
    let events = run(
        &store,
        vec![
            // Browses anonymously on a laptop.
            vec![pageview("anon-laptop", 0), pageview("anon-laptop", 1)],
            // Logs in: the laptop's anonymous id is identified as the user.
            vec![identify("user-1", "anon-laptop", 2), pageview("user-1", 3)],
            // Later, a phone: a new anonymous id browses first…
            vec![pageview("anon-phone", 10)],
            // …then logs in as the same user.
            vec![identify("user-1", "anon-phone", 11), pageview("user-1", 12)],
        ],
    );
    let persons = counted(&store, &events);
    assert!(
        persons.iter().all(|&p| p == persons[0]),
        "all of it is one person: {persons:?}"
    );
    assert_eq!(live_persons(&store), 1);
    let person = store.person_of(P, "anon-phone").unwrap();
    assert_eq!(person.id, persons[0]);
    assert!(person.is_identified);
    assert_eq!((person.first_seen, person.last_seen), (at(0), at(12)));
    // The identified id joined the laptop's person, so the laptop's events needed
    // no merge; the phone's person was merged, and its pageview (stored before the
    // merge) counts through the override.
    assert_eq!(events[0].person_id, events[2].person_id);
    assert_ne!(events[4].person_id, events[0].person_id);
    assert_eq!(store.counted_as(events[4].person_id.unwrap()), persons[0]);
}

#[test]
fn a_second_user_on_a_shared_device_stays_a_separate_person() {
    let store = MemoryPersons::default();
    let events = run(
        &store,
        vec![
            vec![pageview("anon", 0), identify("alice", "anon", 1)],
            vec![identify("bob", "anon", 5), pageview("bob", 6)],
        ],
    );
    let persons = counted(&store, &events);
    assert_eq!(persons[0], persons[1], "alice took over the anonymous id");
    assert_ne!(persons[2], persons[0], "bob is not alice");
    assert_eq!(persons[2], persons[3]);
    assert_eq!(live_persons(&store), 2);
    assert_eq!(store.person_of(P, "anon").unwrap().id, persons[0]);
}

#[test]
fn identify_within_one_batch_stamps_the_survivor_on_every_event() {
    let store = MemoryPersons::default();
    // Both ids are new and the merge happens mid-batch (order by event time, not
    // by position in the batch).
    let mut batch = vec![
        pageview("user-9", 5),
        pageview("anon-9", 1),
        identify("user-9", "anon-9", 3),
    ];
    resolve(&mut batch, &store).unwrap();
    let first = batch[0].person_id;
    assert!(batch.iter().all(|e| e.person_id == first));
    assert_eq!(live_persons(&store), 1);
}

#[test]
fn alias_joins_two_unidentified_ids_but_not_two_identified_users() {
    let store = MemoryPersons::default();
    let alias = |id: &str, other: &str, minute| {
        event("$create_alias", id, minute, json!({ "alias": other }))
    };
    let events = run(
        &store,
        vec![
            vec![pageview("cookie-a", 0), pageview("device-b", 1)],
            vec![alias("cookie-a", "device-b", 2)],
            vec![identify("carol", "x1", 3), identify("dave", "x2", 4)],
            vec![alias("carol", "dave", 5)],
        ],
    );
    let persons = counted(&store, &events);
    assert_eq!(persons[0], persons[1], "aliased");
    assert_ne!(
        persons[3], persons[4],
        "two identified users are not aliased"
    );
    let forced = run(
        &store,
        vec![vec![event(
            "$merge_dangerously",
            "carol",
            6,
            json!({"alias": "dave"}),
        )]],
    );
    assert_eq!(
        store.counted_as(events[3].person_id.unwrap()),
        store.counted_as(events[4].person_id.unwrap()),
    );
    assert_eq!(forced[0].person_id, Some(persons[3]));
}

#[test]
fn placeholder_ids_never_merge_people() {
    let store = MemoryPersons::default();
    let events = run(
        &store,
        vec![
            vec![pageview("undefined", 0), pageview("erin", 1)],
            vec![
                identify("erin", "undefined", 2),
                identify("frank", "null", 3),
            ],
            vec![identify("gina", "Undefined", 4)],
        ],
    );
    let persons = counted(&store, &events);
    assert_ne!(persons[0], persons[1]);
    assert_eq!(persons[1], persons[2]);
    assert_ne!(persons[0], persons[4]);
    // undefined, erin, frank, gina — and "null"/"Undefined" were never given
    // persons of their own by a link.
    assert_eq!(live_persons(&store), 4);
}

#[test]
fn set_set_once_and_unset_follow_event_time_across_batches_and_merges() {
    let store = MemoryPersons::default();
    let set = |id: &str, minute, props: Value| event("$set", id, minute, props);
    run(
        &store,
        vec![
            vec![
                set(
                    "anon",
                    10,
                    json!({"$set": {"plan": "trial"}, "$set_once": {"source": "ad"}}),
                ),
                set("user", 5, json!({"$set": {"plan": "free", "email": "u@x"}})),
            ],
            // A late event: older than what is stored, so its $set loses, but its
            // $set_once is the earliest and wins.
            vec![set(
                "anon",
                2,
                json!({"$set": {"plan": "old"}, "$set_once": {"source": "seo"}}),
            )],
            vec![identify("user", "anon", 20)],
            vec![set("user", 30, json!({"$unset": ["email"]}))],
            vec![set("user", 25, json!({"$set": {"email": "late@x"}}))],
        ],
    );
    let person = store.person_of(P, "user").unwrap();
    assert_eq!(
        Value::Object(person.properties.values()),
        json!({"plan": "trial", "source": "seo"})
    );
    assert_eq!((person.first_seen, person.last_seen), (at(2), at(30)));
}

#[test]
fn resolving_the_same_batch_again_changes_nothing() {
    let store = MemoryPersons::default();
    let batch = vec![
        pageview("anon", 0),
        identify("user", "anon", 1),
        event("$set", "user", 2, json!({"$set": {"plan": "pro"}})),
        pageview("other", 3),
    ];
    let mut first = batch.clone();
    resolve(&mut first, &store).unwrap();
    let before = store.state.lock().unwrap().clone();
    let mut replay = batch;
    resolve(&mut replay, &store).unwrap();
    let after = store.state.lock().unwrap().clone();
    assert_eq!(after.ids, before.ids);
    assert_eq!(after.persons, before.persons);
    assert_eq!(after.overrides, before.overrides);
    let ids = |b: &[Event]| b.iter().map(|e| e.person_id).collect::<Vec<_>>();
    assert_eq!(ids(&first), ids(&replay));
}

#[test]
fn a_failed_save_is_an_error_and_leaves_the_store_as_it_was() {
    let store = MemoryPersons::default();
    store.state.lock().unwrap().fail_saves = true;
    let mut batch = vec![pageview("a", 0)];
    assert!(resolve(&mut batch, &store).is_err());
    assert!(store.state.lock().unwrap().ids.is_empty());
    store.state.lock().unwrap().fail_saves = false;
    resolve(&mut batch, &store).unwrap();
    assert_eq!(live_persons(&store), 1);
}

#[test]
fn projects_never_share_persons() {
    let store = MemoryPersons::default();
    let mut batch = vec![pageview("same-id", 0), pageview("same-id", 1)];
    batch[1].project_id = 2;
    resolve(&mut batch, &store).unwrap();
    assert_ne!(batch[0].person_id, batch[1].person_id);
}
