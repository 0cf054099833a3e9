//! The conformance suite every event backend must pass, written once against the
//! traits. A storage crate runs it with [`conformance_suite!`], giving an
//! expression that opens a fresh, empty backend (and anything that must live as
//! long as it, such as a temporary directory).

use crate::*;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::json;
use tally_core::{Event, EventStore, Properties};
use uuid::Uuid;

/// A backend under test: it stores events and persons, and it answers.
pub trait Backend: EventStore + QueryEngine + tally_core::PersonStore {}
impl<T: EventStore + QueryEngine + tally_core::PersonStore> Backend for T {}

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub fn event(project: i64, name: &str, who: &str, ts: &str) -> Event {
    let mut e = Event::new(project, Uuid::new_v4(), name, who, at(ts));
    e.url = Some("https://x.io/a".into());
    e.path = Some("/a".into());
    e.properties.insert("plan".into(), json!("pro"));
    e
}

fn range(a: &str, b: &str) -> TimeRange {
    TimeRange {
        from: at(a),
        to: at(b),
    }
}

fn all_events(project_id: i64, limit: usize) -> EventsQuery {
    EventsQuery::all(project_id, limit)
}

/// `conformance_checks!([m] tokens…)` calls `m!(tokens… check, check, …)`
/// with the name of every check of the suite: one list for
/// [`conformance_suite!`] and for whatever else runs the checks one by one
/// (ClickHouse's replay on a newer engine).
#[macro_export]
macro_rules! conformance_checks {
    ([$($m:tt)*] $($pre:tt)*) => {
        $($m)*!($($pre)* duplicates_are_stored_once,
            duplicates_count_once_in_the_overview,
            events_pages_are_newest_first_without_skips,
            events_filters_apply,
            offset_pages_and_counts_agree,
            bots_are_left_out_unless_asked,
            sessions_are_cut_by_inactivity_or_sdk_id,
            definitions_count_stored_events_once,
            timeseries_zero_fills_in_the_requested_zone,
            top_events_and_overview_count_per_project_and_range,
            overview_counts_pageviews_sessions_bounces_and_lengths,
            overview_counts_sessions_by_session_id,
            trends_answer_series_math_breakdowns_filters_compare_and_cumulative,
            top_tables_count_visitors_pageviews_and_events,
            entry_and_exit_pages_are_per_session,
            dashboard_filters_narrow_tables_cards_and_charts,
            funnels_count_persons_per_step_loose_and_strict,
            funnels_break_down_by_the_starting_events_property,
            funnels_take_events_of_one_instant_in_step_order,
            bare_dates_are_days_of_the_querys_zone,
            session_property_filters_narrow_every_kind,
            retention_counts_cohorts_first_time_and_recurring,
            stickiness_and_lifecycle_follow_persons_across_days,
            paths_follow_pages_from_a_start_or_to_an_end,
            persons_list_search_and_timeline_across_ids,
            realtime_counts_the_last_minutes,
            sessions_sort_and_show_one_timeline,
            trends_count_unique_sessions,
            deleting_a_project_removes_its_events_persons_and_definitions);
    };
}

/// Runs every check of the suite as its own `#[tokio::test]`.
#[macro_export]
macro_rules! conformance_suite {
    ($open:expr) => {
        $crate::conformance_checks!([$crate::conformance_suite] @tests $open;);
    };
    (@tests $open:expr; $($name:ident),+) => {
        $(
            #[tokio::test]
            async fn $name() {
                let (backend, _keep) = $open;
                $crate::conformance::$name(&backend).await;
            }
        )+
    };
}

pub async fn duplicates_are_stored_once(db: &impl Backend) {
    let e = event(1, "signup", "u1", "2026-11-01T10:00:00Z");
    let out = db
        .insert_batch(vec![e.clone(), e.clone()].into())
        .await
        .unwrap();
    assert_eq!(
        (out.inserted, out.duplicates),
        (1, 1),
        "a repeat within one batch"
    );
    let out = db.insert_batch(vec![e.clone()].into()).await.unwrap();
    assert_eq!(
        (out.inserted, out.duplicates),
        (0, 1),
        "a repeat in a later batch"
    );
    // The same uuid in another project is another event.
    let mut other = e.clone();
    other.project_id = 2;
    assert_eq!(
        db.insert_batch(vec![other].into()).await.unwrap().inserted,
        1
    );
    let page = db.events(all_events(1, 10)).await.unwrap();
    assert_eq!(page.results.len(), 1);
    assert_eq!(page.results[0].uuid, e.uuid);
    assert_eq!(page.results[0].properties.get("plan"), Some(&json!("pro")));
    assert_eq!(db.count_events(all_events(1, 10)).await.unwrap(), 1);
}

/// A re-sent event counts once in the dashboard's cards too (each query kind's
/// own checks store some events twice as well).
pub async fn duplicates_count_once_in_the_overview(db: &impl Backend) {
    let e = event(1, "signup", "u1", "2026-11-01T10:00:00Z");
    db.insert_batch(vec![e.clone(), e.clone()].into())
        .await
        .unwrap();
    db.insert_batch(vec![e.clone()].into()).await.unwrap();
    let o = db
        .overview(OverviewQuery {
            project_id: 1,
            range: range("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
            include_bots: false,
            filters: Default::default(),
        })
        .await
        .unwrap();
    assert_eq!(o.current.events, 1);
}

pub async fn events_pages_are_newest_first_without_skips(db: &impl Backend) {
    let mut batch = Vec::new();
    for i in 0..25 {
        // Pairs share a timestamp so the uuid tiebreak is exercised.
        let mut e = event(1, "view", &format!("u{i}"), "2026-11-01T00:00:00Z");
        e.timestamp += Duration::minutes(i / 2);
        batch.push(e);
    }
    batch.push(event(2, "view", "other-project", "2026-11-01T00:00:00Z"));
    db.insert_batch(batch.clone().into()).await.unwrap();
    let mut seen = Vec::new();
    let mut q = all_events(1, 10);
    loop {
        let page = db.events(q.clone()).await.unwrap();
        seen.extend(page.results.iter().map(|r| (r.timestamp, r.uuid)));
        match page.next {
            Some(n) => q.cursor = Some(Cursor::decode(&n).unwrap()),
            None => break,
        }
    }
    let mut expected: Vec<_> = batch[..25].iter().map(|e| (e.timestamp, e.uuid)).collect();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, expected);
}

pub async fn events_filters_apply(db: &impl Backend) {
    db.insert_batch(
        vec![
            event(1, "a", "u1", "2026-11-01T00:00:00Z"),
            event(1, "b", "u1", "2026-11-02T00:00:00Z"),
            event(1, "a", "u2", "2026-11-03T00:00:00Z"),
        ]
        .into(),
    )
    .await
    .unwrap();
    let count = |q: EventsQuery| async move { db.events(q).await.unwrap().results.len() };
    let base = all_events(1, 100);
    assert_eq!(
        count(EventsQuery {
            event: Some("a".into()),
            ..base.clone()
        })
        .await,
        2
    );
    assert_eq!(
        count(EventsQuery {
            event: Some("a".into()),
            distinct_id: Some("u1".into()),
            ..base.clone()
        })
        .await,
        1
    );
    assert_eq!(
        count(EventsQuery {
            after: Some(at("2026-11-02T00:00:00Z")),
            ..base.clone()
        })
        .await,
        2
    );
    assert_eq!(
        count(EventsQuery {
            before: Some(at("2026-11-02T00:00:00Z")),
            ..base.clone()
        })
        .await,
        1
    );
    assert_eq!(
        count(EventsQuery {
            project_id: 3,
            ..base
        })
        .await,
        0
    );
}

pub async fn offset_pages_and_counts_agree(db: &impl Backend) {
    let mut batch: Vec<Event> = (0..7)
        .map(|i| event(1, "a", "u1", &format!("2026-11-0{}T00:00:00Z", i + 1)))
        .collect();
    batch.push(event(1, "b", "u2", "2026-11-09T00:00:00Z"));
    batch.push(event(2, "a", "u1", "2026-11-09T00:00:00Z"));
    db.insert_batch(batch.into()).await.unwrap();
    let only_a = EventsQuery {
        event: Some("a".into()),
        ..all_events(1, 3)
    };
    assert_eq!(db.count_events(only_a.clone()).await.unwrap(), 7);
    assert_eq!(db.count_events(all_events(1, 1)).await.unwrap(), 8);
    assert_eq!(db.count_events(all_events(3, 1)).await.unwrap(), 0);
    let day = |q: EventsQuery| async move {
        let page = db.events(q).await.unwrap();
        let days: Vec<u32> = page
            .results
            .iter()
            .map(|e| chrono::Datelike::day(&e.timestamp))
            .collect();
        (days, page.next.is_some())
    };
    // Seven "a" events, newest first, three per page: 7 6 5 | 4 3 2 | 1.
    assert_eq!(day(only_a.clone()).await, (vec![7, 6, 5], true));
    let page = |offset| EventsQuery {
        offset,
        ..only_a.clone()
    };
    assert_eq!(day(page(3)).await, (vec![4, 3, 2], true));
    assert_eq!(day(page(6)).await, (vec![1], false));
    assert_eq!(day(page(9)).await, (vec![], false));
}

pub async fn bots_are_left_out_unless_asked(db: &impl Backend) {
    let mut crawler = event(1, "$pageview", "bot1", "2026-11-02T10:00:00Z");
    crawler.is_bot = true;
    crawler.browser = Some("Googlebot".into());
    crawler.device = Some("bot".into());
    db.insert_batch(
        vec![
            event(1, "$pageview", "u1", "2026-11-02T09:00:00Z"),
            event(1, "$pageview", "u2", "2026-11-02T11:00:00Z"),
            crawler.clone(),
        ]
        .into(),
    )
    .await
    .unwrap();
    let r = range("2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z");
    for include_bots in [false, true] {
        let (events, users) = if include_bots { (3, 3) } else { (2, 2) };
        let o = db
            .overview(OverviewQuery {
                project_id: 1,
                range: r,
                include_bots,
                filters: Default::default(),
            })
            .await
            .unwrap();
        assert_eq!((o.current.events, o.current.unique_users), (events, users));
        let top = db
            .top_events(TopEventsQuery {
                project_id: 1,
                range: r,
                limit: 10,
                include_bots,
            })
            .await
            .unwrap();
        assert_eq!(top.results[0].count, events);
        let mut q = TimeseriesQuery::new(1, None, Interval::Day, r, Tz::UTC, Math::Total).unwrap();
        q.include_bots = include_bots;
        let ts = db.timeseries(q).await.unwrap();
        assert_eq!(ts.results[0].value, events);
    }
    // The event list shows every event, with what the processing stage found.
    let page = db.events(all_events(1, 10)).await.unwrap();
    assert_eq!(page.results.len(), 3);
    let stored = page
        .results
        .iter()
        .find(|e| e.uuid == crawler.uuid)
        .unwrap();
    assert!(stored.is_bot);
    assert_eq!(stored.browser.as_deref(), Some("Googlebot"));
    assert_eq!(stored.device.as_deref(), Some("bot"));
    assert!(page
        .results
        .iter()
        .filter(|e| e.uuid != crawler.uuid)
        .all(|e| !e.is_bot));
}

pub async fn sessions_are_cut_by_inactivity_or_sdk_id(db: &impl Backend) {
    let ev = |name: &str, who: &str, ts: &str, path: &str| {
        let mut e = event(1, name, who, ts);
        e.path = Some(path.into());
        e
    };
    let mut a2_first = ev("$pageview", "a", "2026-11-02T09:00:00Z", "/home");
    a2_first.referrer = Some("https://www.google.com/".into());
    a2_first.device = Some("desktop".into());
    a2_first
        .properties
        .insert("$channel_type".into(), json!("search"));
    a2_first.properties.insert("utm_source".into(), json!("g"));
    let sdk = |ts: &str, path: &str| {
        let mut e = ev("$pageview", "b", ts, path);
        e.session_id = Some("sdk-1".into());
        e
    };
    let mut crawler = ev("$pageview", "crawler", "2026-11-02T13:00:00Z", "/");
    crawler.is_bot = true;
    db.insert_batch(
        vec![
            // a: a session that began before the range and continues into it.
            ev("$pageview", "a", "2026-11-01T23:50:00Z", "/home"),
            ev("$pageview", "a", "2026-11-02T00:10:00Z", "/pricing"),
            // a: 8h50 later, a new session of three events.
            a2_first,
            ev("signup", "a", "2026-11-02T09:10:00Z", "/home"),
            ev("$pageview", "a", "2026-11-02T09:25:00Z", "/signup/done"),
            // a: 65 minutes later, one pageview and a pageleave: a bounce.
            ev("$pageview", "a", "2026-11-02T10:30:00Z", "/blog"),
            ev("$pageleave", "a", "2026-11-02T10:30:05Z", "/blog"),
            // b: the SDK's session id holds two pageviews two hours apart together.
            sdk("2026-11-02T12:00:00Z", "/x"),
            sdk("2026-11-02T14:00:00Z", "/y"),
            crawler,
            event(2, "$pageview", "other-project", "2026-11-02T12:00:00Z"),
        ]
        .into(),
    )
    .await
    .unwrap();
    let q = SessionsQuery {
        project_id: 1,
        range: range("2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"),
        inactivity: Duration::minutes(30),
        limit: 10,
        offset: 0,
        include_bots: false,
        sort: SessionSort::Start,
        descending: true,
    };
    let page = db.sessions(q.clone()).await.unwrap();
    let ids: Vec<&str> = page.results.iter().map(|s| s.id.as_str()).collect();
    let a2 = format!("a@{}", at("2026-11-02T09:00:00Z").timestamp_micros());
    let a3 = format!("a@{}", at("2026-11-02T10:30:00Z").timestamp_micros());
    assert_eq!(ids, vec!["sdk-1", a3.as_str(), a2.as_str()]);

    let [b, bounce, visit] = &page.results[..] else {
        panic!("three sessions")
    };
    assert_eq!(b.distinct_id, "b");
    assert_eq!((b.events, b.pageviews, b.duration_secs), (2, 2, 7200.0));
    assert_eq!(b.entry_path.as_deref(), Some("/x"));
    assert_eq!(b.exit_path.as_deref(), Some("/y"));
    assert!(!b.bounce);

    assert_eq!(
        (bounce.events, bounce.pageviews, bounce.duration_secs),
        (2, 1, 5.0)
    );
    assert!(bounce.bounce, "one pageview and a pageleave");

    assert_eq!(visit.start, at("2026-11-02T09:00:00Z"));
    assert_eq!(visit.end, at("2026-11-02T09:25:00Z"));
    assert_eq!(
        (visit.events, visit.pageviews, visit.duration_secs),
        (3, 2, 1500.0)
    );
    assert_eq!(visit.entry_path.as_deref(), Some("/home"));
    assert_eq!(visit.exit_path.as_deref(), Some("/signup/done"));
    assert!(!visit.bounce);
    assert_eq!(visit.referrer.as_deref(), Some("https://www.google.com/"));
    assert_eq!(visit.channel.as_deref(), Some("search"));
    assert_eq!(visit.utm_source.as_deref(), Some("g"));
    assert_eq!(visit.device.as_deref(), Some("desktop"));

    // Pages, and bots on request.
    let ids = |q: SessionsQuery| async move {
        db.sessions(q)
            .await
            .unwrap()
            .results
            .into_iter()
            .map(|s| s.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(SessionsQuery {
            limit: 2,
            offset: 2,
            ..q.clone()
        })
        .await,
        vec![a2.clone()]
    );
    assert_eq!(
        ids(SessionsQuery {
            include_bots: true,
            ..q.clone()
        })
        .await
        .len(),
        4
    );
    // A 12-minute limit cuts a's 09:00 visit in two (at its 15-minute gap) and
    // makes 00:10 a session of its own (20 minutes after 23:50): 3 + 2 = 5.
    assert_eq!(
        ids(SessionsQuery {
            inactivity: Duration::minutes(12),
            ..q
        })
        .await
        .len(),
        5
    );
}

pub async fn definitions_count_stored_events_once(db: &impl Backend) {
    let with = |name: &str, ts: &str, props: serde_json::Value| {
        let mut e = Event::new(1, Uuid::new_v4(), name, "u", at(ts));
        e.properties = Properties::from_map(props.as_object().unwrap());
        e
    };
    let first = with(
        "signup",
        "2026-11-01T10:00:00Z",
        json!({"plan": "pro", "n": 3, "at": "2026-11-01T09:00:00Z", "tags": ["a"]}),
    );
    let second = with(
        "signup",
        "2026-11-03T10:00:00Z",
        json!({"plan": "free", "n": "three"}),
    );
    let third = with(
        "pageview",
        "2026-11-02T10:00:00Z",
        json!({"flag": null, "ok": true}),
    );
    let mut other_project = first.clone();
    other_project.project_id = 2;
    other_project.uuid = Uuid::new_v4();
    db.insert_batch(vec![first.clone(), second].into())
        .await
        .unwrap();
    // A re-sent event is stored once and counted once.
    db.insert_batch(vec![third, first, other_project].into())
        .await
        .unwrap();

    let list = |kind: DefinitionKind, search: Option<String>| async move {
        db.definitions(DefinitionsQuery {
            project_id: 1,
            kind,
            search,
            limit: 100,
        })
        .await
        .unwrap()
        .results
    };
    let events = list(DefinitionKind::Event, None).await;
    let summary: Vec<(&str, u64)> = events.iter().map(|d| (d.name.as_str(), d.count)).collect();
    assert_eq!(summary, vec![("signup", 2), ("pageview", 1)]);
    assert_eq!(events[0].first_seen, at("2026-11-01T10:00:00Z"));
    assert_eq!(events[0].last_seen, at("2026-11-03T10:00:00Z"));
    assert_eq!(events[0].property_type, None);

    let props = list(DefinitionKind::Property, None).await;
    let typed: Vec<(&str, Option<&str>, u64)> = props
        .iter()
        .map(|d| (d.name.as_str(), d.property_type.as_deref(), d.count))
        .collect();
    // Most used first, then by name; a property's type is the first non-null one.
    assert_eq!(
        typed,
        vec![
            ("n", Some("Numeric"), 2),
            ("plan", Some("String"), 2),
            ("at", Some("DateTime"), 1),
            ("flag", None, 1),
            ("ok", Some("Boolean"), 1),
            ("tags", Some("Array"), 1),
        ]
    );
    let found = list(DefinitionKind::Property, Some("PL".into())).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "plan");
}

pub async fn timeseries_zero_fills_in_the_requested_zone(db: &impl Backend) {
    db.insert_batch(
        vec![
            // 23:30 UTC on Oct 24 is already Oct 25 in Berlin (UTC+2).
            event(1, "view", "u1", "2026-10-24T23:30:00Z"),
            event(1, "view", "u1", "2026-10-25T12:00:00Z"),
            event(1, "view", "u2", "2026-10-25T13:00:00Z"),
            // 23:30 UTC on Oct 26 is Oct 27 00:30 in Berlin (UTC+1 after the change).
            event(1, "view", "u3", "2026-10-26T23:30:00Z"),
            event(1, "other", "u4", "2026-10-25T13:00:00Z"),
            event(2, "view", "u9", "2026-10-25T13:00:00Z"),
        ]
        .into(),
    )
    .await
    .unwrap();
    let r = range("2026-10-23T22:00:00Z", "2026-10-27T23:00:00Z");
    let q = TimeseriesQuery::new(
        1,
        Some("view".into()),
        Interval::Day,
        r,
        Tz::Europe__Berlin,
        Math::Total,
    )
    .unwrap();
    let got: Vec<(String, u64)> = db
        .timeseries(q)
        .await
        .unwrap()
        .results
        .into_iter()
        .map(|p| (p.bucket, p.value))
        .collect();
    assert_eq!(
        got,
        [
            ("2026-10-24T00:00:00+02:00".to_owned(), 0),
            ("2026-10-25T00:00:00+02:00".to_owned(), 3),
            ("2026-10-26T00:00:00+01:00".to_owned(), 0),
            ("2026-10-27T00:00:00+01:00".to_owned(), 1),
        ]
    );
    let q = TimeseriesQuery::new(
        1,
        Some("view".into()),
        Interval::Day,
        r,
        Tz::Europe__Berlin,
        Math::UniqueUsers,
    )
    .unwrap();
    let uniques: Vec<u64> = db
        .timeseries(q)
        .await
        .unwrap()
        .results
        .iter()
        .map(|p| p.value)
        .collect();
    assert_eq!(uniques, [0, 2, 0, 1]);
    let q = TimeseriesQuery::new(1, None, Interval::Day, r, Tz::UTC, Math::Total).unwrap();
    let utc: Vec<u64> = db
        .timeseries(q)
        .await
        .unwrap()
        .results
        .iter()
        .map(|p| p.value)
        .collect();
    assert_eq!(utc, [0, 1, 3, 1, 0], "all events, UTC days");
}

pub async fn top_events_and_overview_count_per_project_and_range(db: &impl Backend) {
    db.insert_batch(
        vec![
            event(1, "a", "u1", "2026-11-02T00:00:00Z"),
            event(1, "a", "u2", "2026-11-02T01:00:00Z"),
            event(1, "a", "u2", "2026-11-02T02:00:00Z"),
            event(1, "b", "u3", "2026-11-02T03:00:00Z"),
            event(1, "c", "u4", "2026-11-01T03:00:00Z"),
            event(2, "z", "u5", "2026-11-02T03:00:00Z"),
        ]
        .into(),
    )
    .await
    .unwrap();
    let r = range("2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z");
    let top = db
        .top_events(TopEventsQuery {
            project_id: 1,
            range: r,
            limit: 10,
            include_bots: false,
        })
        .await
        .unwrap();
    assert_eq!(
        top.results,
        vec![
            TopEvent {
                event: "a".into(),
                count: 3,
                unique_users: 2
            },
            TopEvent {
                event: "b".into(),
                count: 1,
                unique_users: 1
            },
        ]
    );
    let o = db
        .overview(OverviewQuery {
            project_id: 1,
            range: r,
            include_bots: false,
            filters: Default::default(),
        })
        .await
        .unwrap();
    // u2's two events are an hour apart: two sessions. No pageviews, so no
    // bounce rate; one-event sessions last 0 s.
    assert_eq!(
        o.current,
        OverviewStats {
            events: 4,
            unique_users: 3,
            pageviews: 0,
            sessions: 4,
            bounce_rate: None,
            avg_session_secs: Some(0.0),
        }
    );
    assert_eq!(
        o.previous,
        OverviewStats {
            events: 1,
            unique_users: 1,
            pageviews: 0,
            sessions: 1,
            bounce_rate: None,
            avg_session_secs: Some(0.0),
        }
    );
    assert_eq!(
        o.previous_range,
        range("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z")
    );
}

/// The dashboard's cards: pageviews, sessions (by start), bounces among the
/// sessions with a pageview, and mean session length, for both ranges.
pub async fn overview_counts_pageviews_sessions_bounces_and_lengths(db: &impl Backend) {
    let mut events = vec![
        // Current range (Nov 2). u1: three pageviews over 10 minutes.
        event(1, "$pageview", "u1", "2026-11-02T10:00:00Z"),
        event(1, "$pageview", "u1", "2026-11-02T10:04:00Z"),
        event(1, "$pageview", "u1", "2026-11-02T10:10:00Z"),
        // u2: one pageview then leaves: a bounce.
        event(1, "$pageview", "u2", "2026-11-02T11:00:00Z"),
        // u3: a pageview and a click 2 minutes later: not a bounce.
        event(1, "$pageview", "u3", "2026-11-02T12:00:00Z"),
        event(1, "click", "u3", "2026-11-02T12:02:00Z"),
        // u4: a server event, no pageview: a session, but not one a bounce
        // rate is about.
        event(1, "invoice_paid", "u4", "2026-11-02T13:00:00Z"),
        // A session that began before the range (23:50 the day before) and
        // goes on into it belongs to the previous range.
        event(1, "$pageview", "u5", "2026-11-01T23:50:00Z"),
        event(1, "$pageview", "u5", "2026-11-02T00:05:00Z"),
        // Previous range (Nov 1): one bounce.
        event(1, "$pageview", "u6", "2026-11-01T09:00:00Z"),
        // Another project.
        event(2, "$pageview", "u7", "2026-11-02T10:00:00Z"),
    ];
    let mut bot = event(1, "$pageview", "crawler", "2026-11-02T10:00:00Z");
    bot.is_bot = true;
    events.push(bot);
    db.insert_batch(events.into()).await.unwrap();
    let o = db
        .overview(OverviewQuery {
            project_id: 1,
            range: range("2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"),
            include_bots: false,
            filters: Default::default(),
        })
        .await
        .unwrap();
    assert_eq!(
        o.current,
        OverviewStats {
            events: 8,
            unique_users: 5,
            pageviews: 6,
            sessions: 4,
            bounce_rate: Some(1.0 / 3.0),
            // (600 + 0 + 120 + 0) / 4
            avg_session_secs: Some(180.0),
        }
    );
    assert_eq!(
        o.previous,
        OverviewStats {
            events: 2,
            unique_users: 2,
            pageviews: 2,
            sessions: 2,
            // u6 bounced; u5 did not (two pageviews).
            bounce_rate: Some(0.5),
            // (0 + 900) / 2
            avg_session_secs: Some(450.0),
        }
    );
}

/// The same cards for sessions an SDK names (`$session_id`): a session is its
/// events inside the two ranges and the lookback before them, so one going on
/// past the range's end counts what happened before it, and one begun more
/// than the lookback (24 h) before the previous range starts where the
/// lookback does.
pub async fn overview_counts_sessions_by_session_id(db: &impl Backend) {
    let with_id = |name: &str, who: &str, at: &str, sid: &str| {
        let mut e = event(1, name, who, at);
        e.session_id = Some(sid.into());
        e
    };
    let mut events = vec![
        // Current range (Nov 2): u1 10 minutes, u2 a bounce, u3 not (a click),
        // u4 a server event only.
        with_id("$pageview", "u1", "2026-11-02T10:00:00Z", "s1"),
        with_id("$pageview", "u1", "2026-11-02T10:04:00Z", "s1"),
        with_id("$pageview", "u1", "2026-11-02T10:10:00Z", "s1"),
        with_id("$pageview", "u2", "2026-11-02T11:00:00Z", "s2"),
        with_id("$pageview", "u3", "2026-11-02T12:00:00Z", "s3"),
        with_id("click", "u3", "2026-11-02T12:02:00Z", "s3"),
        with_id("invoice_paid", "u4", "2026-11-02T13:00:00Z", "s4"),
        // u8 goes on after the range: inside it, one pageview (a bounce, 0 s).
        with_id("$pageview", "u8", "2026-11-02T23:50:00Z", "s8"),
        with_id("$pageview", "u8", "2026-11-03T00:10:00Z", "s8"),
        // Previous range (Nov 1): u5 across midnight (900 s), u6 a bounce.
        with_id("$pageview", "u5", "2026-11-01T23:50:00Z", "s5"),
        with_id("$pageview", "u5", "2026-11-02T00:05:00Z", "s5"),
        with_id("$pageview", "u6", "2026-11-01T09:00:00Z", "s6"),
        // u9 began 26 hours before the previous range: from the lookback's
        // start (Oct 31 00:00) it is one pageview on Nov 1.
        with_id("$pageview", "u9", "2026-10-30T22:00:00Z", "s9"),
        with_id("$pageview", "u9", "2026-11-01T10:00:00Z", "s9"),
    ];
    // A bot's event in u2's session changes nothing.
    let mut bot = with_id("$pageview", "u2", "2026-11-02T11:01:00Z", "s2");
    bot.is_bot = true;
    events.push(bot);
    db.insert_batch(events.into()).await.unwrap();
    let o = db
        .overview(OverviewQuery {
            project_id: 1,
            range: range("2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"),
            include_bots: false,
            filters: Default::default(),
        })
        .await
        .unwrap();
    assert_eq!(
        o.current,
        OverviewStats {
            events: 9,
            unique_users: 6,
            pageviews: 7,
            sessions: 5,
            // u2 and u8 among u1, u2, u3, u8.
            bounce_rate: Some(0.5),
            // (600 + 0 + 120 + 0 + 0) / 5
            avg_session_secs: Some(144.0),
        }
    );
    assert_eq!(
        o.previous,
        OverviewStats {
            events: 3,
            unique_users: 3,
            pageviews: 3,
            sessions: 3,
            // u6 and u9; u5 had two pageviews.
            bounce_rate: Some(2.0 / 3.0),
            // (900 + 0 + 0) / 3
            avg_session_secs: Some(300.0),
        }
    );
}

/// Trends on a dataset small enough to count by hand. Persons: alice (plan pro),
/// bob (plan free), carol (no plan).
pub async fn trends_answer_series_math_breakdowns_filters_compare_and_cumulative(
    db: &impl Backend,
) {
    use crate::trends::TrendsRequest;
    use tally_core::{Person, PersonChanges, PersonProperties, PropertyWrite, WriteKind};
    let first = db.allocate_person_ids(3).unwrap();
    let (alice, bob, carol) = (first, first + 1, first + 2);
    let person = |id: i64, plan: Option<&str>| {
        let mut properties = PersonProperties::default();
        if let Some(plan) = plan {
            properties.apply(
                "plan",
                PropertyWrite {
                    value: Some(json!(plan)),
                    at_ms: 0,
                    kind: WriteKind::Set,
                },
            );
        }
        Person {
            project_id: 1,
            id,
            is_identified: true,
            first_seen: at("2026-10-31T00:00:00Z"),
            last_seen: at("2026-11-03T00:00:00Z"),
            properties,
        }
    };
    db.save_persons(&PersonChanges {
        merges: vec![],
        links: vec![
            (1, "alice".into(), alice),
            (1, "bob".into(), bob),
            (1, "carol".into(), carol),
        ],
        persons: vec![
            person(alice, Some("pro")),
            person(bob, Some("free")),
            person(carol, None),
        ],
    })
    .unwrap();
    let ev = |name: &str, who: &str, person: i64, ts: &str, props: serde_json::Value| {
        let mut e = Event::new(1, Uuid::new_v4(), name, who, at(ts));
        e.person_id = Some(person);
        e.properties = Properties::from_map(props.as_object().unwrap());
        e
    };
    let mut bot = ev(
        "$pageview",
        "crawler",
        99,
        "2026-11-01T08:00:00Z",
        json!({"$browser": "Googlebot"}),
    );
    bot.is_bot = true;
    let mut elsewhere = ev(
        "$pageview",
        "alice",
        alice,
        "2026-11-01T08:00:00Z",
        json!({}),
    );
    elsewhere.project_id = 2;
    db.insert_batch(
        vec![
            ev(
                "$pageview",
                "alice",
                alice,
                "2026-10-31T23:00:00Z",
                json!({"$browser": "Chrome"}),
            ),
            ev(
                "$pageview",
                "alice",
                alice,
                "2026-11-01T10:00:00Z",
                json!({"$browser": "Chrome", "amount": 10}),
            ),
            ev(
                "$pageview",
                "alice",
                alice,
                "2026-11-01T11:00:00Z",
                json!({"$browser": "Chrome"}),
            ),
            ev(
                "$pageview",
                "bob",
                bob,
                "2026-11-01T12:00:00Z",
                json!({"$browser": "Firefox"}),
            ),
            ev(
                "purchase",
                "bob",
                bob,
                "2026-11-01T13:00:00Z",
                json!({"amount": 30}),
            ),
            ev(
                "$pageview",
                "carol",
                carol,
                "2026-11-02T09:00:00Z",
                json!({"$browser": "Safari"}),
            ),
            ev(
                "purchase",
                "alice",
                alice,
                "2026-11-02T10:00:00Z",
                json!({"amount": 50}),
            ),
            ev(
                "purchase",
                "alice",
                alice,
                "2026-11-02T11:00:00Z",
                json!({"amount": "70"}),
            ),
            bot,
            elsewhere,
        ]
        .into(),
    )
    .await
    .unwrap();
    let now = at("2026-11-10T00:00:00Z");
    let run = |body: serde_json::Value| async move {
        let request: TrendsRequest = serde_json::from_value(body).unwrap();
        db.trends(request.resolve(1, now).unwrap()).await.unwrap()
    };
    let values = |s: &crate::trends::TrendSeries| -> Vec<Option<f64>> {
        s.points.iter().map(|p| p.value).collect()
    };
    let days = json!({"date_from": "2026-11-01", "date_to": "2026-11-04"});
    let with = |extra: serde_json::Value| {
        let mut body = days.clone();
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let pageviews = |filters: serde_json::Value| {
        with(json!({"series": [{"event": "$pageview", "filters": filters}]}))
    };

    // Several series, each with its math; 11-03 is empty and zero-filled.
    let a = run(with(json!({"series": [
        {"event": "$pageview"},
        {"event": "$pageview", "math": "unique_persons"},
        {"event": "purchase", "math": "sum", "math_property": "amount"},
        {"event": "purchase", "math": "avg", "math_property": "amount"},
        {"event": "purchase", "math": "per_person_avg"},
    ]})))
    .await;
    let got: Vec<Vec<Option<f64>>> = a.results.iter().map(values).collect();
    assert_eq!(
        got,
        vec![
            vec![Some(3.0), Some(1.0), Some(0.0)],
            vec![Some(2.0), Some(1.0), Some(0.0)],
            vec![Some(30.0), Some(120.0), Some(0.0)],
            vec![Some(30.0), Some(60.0), None],
            vec![Some(1.0), Some(2.0), Some(0.0)],
        ]
    );
    assert_eq!(a.results[0].points[0].bucket, "2026-11-01T00:00:00+00:00");
    assert_eq!(a.range.from, at("2026-11-01T00:00:00Z"));

    // The spread of a property over any event (amounts 10 and 30 on 11-01,
    // 50 and "70" on 11-02): percentiles interpolate between the two nearest
    // values; one value is its own percentile.
    let spread = run(with(json!({"series": [
        {"math": "min", "math_property": "amount"},
        {"math": "max", "math_property": "amount"},
        {"math": "p50", "math_property": "amount"},
        {"math": "p90", "math_property": "amount"},
        {"math": "p99", "math_property": "amount"},
        {"event": "purchase", "math": "p90", "math_property": "amount"},
    ]})))
    .await;
    let rounded = |s: &crate::trends::TrendSeries| -> Vec<Option<f64>> {
        values(s)
            .into_iter()
            .map(|v| v.map(|x| (x * 1e6).round() / 1e6))
            .collect()
    };
    let got: Vec<Vec<Option<f64>>> = spread.results.iter().map(rounded).collect();
    assert_eq!(
        got,
        vec![
            vec![Some(10.0), Some(50.0), None],
            vec![Some(30.0), Some(70.0), None],
            vec![Some(20.0), Some(60.0), None],
            vec![Some(28.0), Some(68.0), None],
            vec![Some(29.8), Some(69.8), None],
            vec![Some(30.0), Some(68.0), None],
        ]
    );

    // Breakdown by an event property, top 1 + other.
    let b = run(with(json!({"series": [{"event": "$pageview"}],
        "breakdown": {"property": "$browser", "limit": 1}})))
    .await;
    type Line = (Option<Option<String>>, bool, Vec<Option<f64>>);
    let lines: Vec<Line> = b
        .results
        .iter()
        .map(|s| (s.breakdown_value.clone(), s.is_other, values(s)))
        .collect();
    assert_eq!(
        lines,
        vec![
            (
                Some(Some("Chrome".into())),
                false,
                vec![Some(2.0), Some(0.0), Some(0.0)]
            ),
            (Some(None), true, vec![Some(1.0), Some(1.0), Some(0.0)]),
        ]
    );

    // Breakdown by a person property: pro 2, free 1, none (carol) 1.
    let e = run(with(json!({"series": [{"event": "$pageview"}],
        "breakdown": {"property": "plan", "type": "person"}})))
    .await;
    let mut by_plan: Vec<(Option<String>, Vec<Option<f64>>)> = e
        .results
        .iter()
        .map(|s| (s.breakdown_value.clone().unwrap(), values(s)))
        .collect();
    by_plan.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        by_plan,
        vec![
            (None, vec![Some(0.0), Some(1.0), Some(0.0)]),
            (Some("free".into()), vec![Some(1.0), Some(0.0), Some(0.0)]),
            (Some("pro".into()), vec![Some(2.0), Some(0.0), Some(0.0)]),
        ]
    );

    // Filters: each operator, event and person properties, AND/OR groups.
    let cases = [
        (
            json!({"key": "plan", "operator": "eq", "value": "pro", "type": "person"}),
            [2.0, 0.0, 0.0],
        ),
        (
            json!({"key": "$browser", "operator": "neq", "value": "Chrome"}),
            [1.0, 1.0, 0.0],
        ),
        (
            json!({"key": "$browser", "operator": "contains", "value": "FIRE"}),
            [1.0, 0.0, 0.0],
        ),
        (
            json!({"key": "$browser", "operator": "not_contains", "value": "fire"}),
            [2.0, 1.0, 0.0],
        ),
        (
            json!({"key": "$browser", "operator": "regex", "value": "^(Saf|Fir)"}),
            [1.0, 1.0, 0.0],
        ),
        (
            json!({"key": "$browser", "operator": "in", "value": ["Chrome", "Safari"]}),
            [2.0, 1.0, 0.0],
        ),
        (
            json!({"key": "amount", "operator": "is_set"}),
            [1.0, 0.0, 0.0],
        ),
        (
            json!({"key": "amount", "operator": "is_not_set"}),
            [2.0, 1.0, 0.0],
        ),
        (
            json!({"key": "plan", "operator": "is_not_set", "type": "person"}),
            [0.0, 1.0, 0.0],
        ),
        (
            json!({"op": "or", "filters": [
            {"key": "$browser", "operator": "eq", "value": "Safari"},
            {"key": "plan", "operator": "eq", "value": "free", "type": "person"}]}),
            [1.0, 1.0, 0.0],
        ),
        (
            json!({"op": "and", "filters": [
            {"key": "$browser", "operator": "eq", "value": "Chrome"},
            {"key": "amount", "operator": "lt", "value": 11}]}),
            [1.0, 0.0, 0.0],
        ),
    ];
    for (filter, expected) in cases {
        let t = run(pageviews(filter.clone())).await;
        let expected: Vec<Option<f64>> = expected.iter().copied().map(Some).collect();
        assert_eq!(values(&t.results[0]), expected, "{filter}");
    }
    let gt = run(with(json!({"series": [{"event": "purchase",
        "filters": {"key": "amount", "operator": "gt", "value": 40}}]})))
    .await;
    assert_eq!(
        values(&gt.results[0]),
        vec![Some(0.0), Some(2.0), Some(0.0)]
    );

    // Compare with the 3 days before, cumulative, bots on request.
    let c = run(with(
        json!({"series": [{"event": "$pageview"}], "compare": true, "cumulative": true}),
    ))
    .await;
    assert_eq!(values(&c.results[0]), vec![Some(3.0), Some(4.0), Some(4.0)]);
    let previous = c.previous.unwrap();
    assert_eq!(previous.range.from, at("2026-10-29T00:00:00Z"));
    assert_eq!(
        values(&previous.results[0]),
        vec![Some(0.0), Some(0.0), Some(1.0)]
    );
    let bots = run(with(
        json!({"series": [{"event": "$pageview"}], "include_bots": true}),
    ))
    .await;
    assert_eq!(values(&bots.results[0])[0], Some(4.0));

    // Minutes, in a zone: 10:00–10:03 UTC is 11:00–11:03 in Berlin.
    let m = run(
        json!({"series": [{"event": "$pageview"}], "interval": "minute",
        "date_from": "2026-11-01T10:00:00Z", "date_to": "2026-11-01T10:03:00Z",
        "tz": "Europe/Berlin"}),
    )
    .await;
    assert_eq!(values(&m.results[0]), vec![Some(1.0), Some(0.0), Some(0.0)]);
    assert_eq!(m.results[0].points[0].bucket, "2026-11-01T11:00:00+01:00");

    // An empty range answers zeros, not an error.
    let empty = run(json!({"series": [{"event": "nothing"}],
        "date_from": "2026-11-05", "date_to": "2026-11-07"}))
    .await;
    assert_eq!(values(&empty.results[0]), vec![Some(0.0), Some(0.0)]);
}

/// A dashboard table of project 1 over `range`, under the dashboard filter
/// `filters` (JSON, as the `filter` parameter).
async fn top_rows(
    db: &impl Backend,
    dimension: crate::top::Dimension,
    range: TimeRange,
    filters: &str,
) -> Vec<crate::top::TopRow> {
    db.top(crate::top::TopQuery {
        project_id: 1,
        dimension,
        range,
        limit: 10,
        include_bots: false,
        filters: crate::top::DimensionFilters::parse(filters).unwrap(),
    })
    .await
    .unwrap()
    .results
}

/// The dashboard's click-to-filter: a table row's value narrows every other
/// table, the cards and the chart to the events with it.
pub async fn dashboard_filters_narrow_tables_cards_and_charts(db: &impl Backend) {
    use crate::top::{Dimension, DimensionFilters, TopRow};
    let view = |who: &str, path: &str, browser: &str, country: Option<&str>, ts: &str| {
        let mut e = event(1, "$pageview", who, ts);
        e.path = Some(path.into());
        e.browser = Some(browser.into());
        e.country = country.map(Into::into);
        e
    };
    db.insert_batch(
        vec![
            view("u1", "/home", "Chrome", Some("DE"), "2026-11-02T10:00:00Z"),
            view(
                "u1",
                "/pricing",
                "Chrome",
                Some("DE"),
                "2026-11-02T10:01:00Z",
            ),
            view("u2", "/home", "Firefox", Some("US"), "2026-11-02T11:00:00Z"),
            view("u3", "/home", "Chrome", None, "2026-11-02T12:00:00Z"),
        ]
        .into(),
    )
    .await
    .unwrap();
    let r = range("2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z");
    let filter = |json: &str| DimensionFilters::parse(json).unwrap();
    let top = |dimension: Dimension, filters: &'static str| top_rows(db, dimension, r, filters);
    let row = |value: &str, visitors: u64, pageviews: u64| TopRow {
        value: Some(value.into()),
        visitors,
        pageviews,
        events: pageviews,
        sessions: None,
    };
    assert_eq!(
        top(Dimension::Page, r#"{"browser": "Chrome"}"#).await,
        vec![row("/home", 2, 2), row("/pricing", 1, 1)]
    );
    // `null`: events without a country (u3).
    assert_eq!(
        top(Dimension::Browser, r#"{"country": null}"#).await,
        vec![row("Chrome", 1, 1)]
    );
    // Two dimensions at once must both hold.
    assert_eq!(
        top(
            Dimension::Country,
            r#"{"browser": "Chrome", "page": "/pricing"}"#
        )
        .await,
        vec![row("DE", 1, 1)]
    );
    let o = db
        .overview(OverviewQuery {
            project_id: 1,
            range: r,
            include_bots: false,
            filters: filter(r#"{"browser": "Firefox"}"#),
        })
        .await
        .unwrap();
    assert_eq!(
        (
            o.current.events,
            o.current.unique_users,
            o.current.pageviews
        ),
        (1, 1, 1)
    );
    assert_eq!((o.current.sessions, o.current.bounce_rate), (1, Some(1.0)));
    let mut q = TimeseriesQuery::new(1, None, Interval::Day, r, Tz::UTC, Math::Total).unwrap();
    q.filters = filter(r#"{"browser": "Chrome"}"#);
    let points = db.timeseries(q).await.unwrap().results;
    assert_eq!(points.iter().map(|p| p.value).sum::<u64>(), 3);

    for bad in [
        r#"{"entry_page": 5}"#,
        r#"{"browser": 5}"#,
        r#"{"nope": "x"}"#,
        r#"["browser"]"#,
    ] {
        assert!(DimensionFilters::parse(bad).is_err(), "{bad}");
    }
}

/// Entry and exit pages: the first and last pageview of each session that
/// starts in the range; rows count visitors, the sessions' pageviews and
/// events, and the sessions. As dashboard filters they keep the events of the
/// sessions entered or left there.
pub async fn entry_and_exit_pages_are_per_session(db: &impl Backend) {
    use crate::top::{Dimension, DimensionFilters, TopRow};
    let pageview = |who: &str, path: &str, ts: &str| {
        let mut e = event(1, "$pageview", who, ts);
        e.path = Some(path.into());
        e
    };
    db.insert_batch(
        vec![
            // u1: /home → /pricing → (a click) → /signup.
            pageview("u1", "/home", "2026-11-02T10:00:00Z"),
            pageview("u1", "/pricing", "2026-11-02T10:05:00Z"),
            event(1, "click", "u1", "2026-11-02T10:06:00Z"),
            pageview("u1", "/signup", "2026-11-02T10:10:00Z"),
            // u2: a one-page visit, and two hours later another: /blog → /home.
            pageview("u2", "/home", "2026-11-02T11:00:00Z"),
            pageview("u2", "/blog", "2026-11-02T13:00:00Z"),
            pageview("u2", "/home", "2026-11-02T13:03:00Z"),
            // u3: no pageview, no entry page.
            event(1, "invoice_paid", "u3", "2026-11-02T12:00:00Z"),
            // u4: a session that began before the range is not counted.
            pageview("u4", "/old", "2026-11-01T23:55:00Z"),
            pageview("u4", "/home", "2026-11-02T00:05:00Z"),
            // Another project.
            {
                let mut e = pageview("u1", "/home", "2026-11-02T10:00:00Z");
                e.project_id = 2;
                e
            },
        ]
        .into(),
    )
    .await
    .unwrap();
    let r = range("2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z");
    let filtered =
        |dimension: Dimension, filters: &'static str| top_rows(db, dimension, r, filters);
    let top = |dimension: Dimension| filtered(dimension, "{}");
    let row = |value: &str, visitors: u64, pageviews: u64, events: u64, sessions: u64| TopRow {
        value: Some(value.into()),
        visitors,
        pageviews,
        events,
        sessions: Some(sessions),
    };
    assert_eq!(
        top(Dimension::EntryPage).await,
        vec![row("/home", 2, 4, 5, 2), row("/blog", 1, 2, 2, 1)]
    );
    // One visitor each: u2's two sessions put /home first.
    assert_eq!(
        top(Dimension::ExitPage).await,
        vec![row("/home", 1, 3, 3, 2), row("/signup", 1, 3, 4, 1)]
    );

    // Filtered to the sessions entered on /home: u1's visit and u2's first
    // (u4's began on /old, before the range).
    let page = |value: &str, visitors: u64| TopRow {
        value: Some(value.into()),
        visitors,
        pageviews: visitors,
        events: visitors,
        sessions: None,
    };
    assert_eq!(
        filtered(Dimension::Page, r#"{"entry_page": "/home"}"#).await,
        vec![page("/home", 2), page("/pricing", 1), page("/signup", 1)]
    );
    assert_eq!(
        filtered(Dimension::ExitPage, r#"{"entry_page": "/home"}"#).await,
        vec![row("/home", 1, 1, 1, 1), row("/signup", 1, 3, 4, 1)]
    );
    let overview = |filters: &str| {
        let filters = DimensionFilters::parse(filters).unwrap();
        async move {
            db.overview(OverviewQuery {
                project_id: 1,
                range: r,
                include_bots: false,
                filters,
            })
            .await
            .unwrap()
            .current
        }
    };
    let o = overview(r#"{"entry_page": "/home"}"#).await;
    assert_eq!(
        (o.events, o.unique_users, o.pageviews, o.sessions),
        (5, 2, 4, 2)
    );
    assert_eq!(o.bounce_rate, Some(0.5), "u2's one-page visit bounced");
    // `null`: sessions without a pageview (u3's).
    let o = overview(r#"{"entry_page": null}"#).await;
    assert_eq!((o.events, o.pageviews, o.sessions), (1, 0, 1));

    // Left from /home: u2's two visits and u4's, whose /home view is in the
    // range while its start (on /old) is not — its one event counts in the
    // chart, its session not among the entry pages.
    let mut q = TimeseriesQuery::new(1, None, Interval::Day, r, Tz::UTC, Math::Total).unwrap();
    q.filters = DimensionFilters::parse(r#"{"exit_page": "/home"}"#).unwrap();
    let points = db.timeseries(q).await.unwrap().results;
    assert_eq!(points.iter().map(|p| p.value).sum::<u64>(), 4);
    assert_eq!(
        filtered(Dimension::EntryPage, r#"{"exit_page": "/home"}"#).await,
        vec![row("/blog", 1, 2, 2, 1), row("/home", 1, 1, 1, 1)]
    );

    // Under an event filter the tables show the sessions' own entry and exit
    // pages, counting the matching events: u1's visit saw /pricing, came in on
    // /home and left from /signup.
    assert_eq!(
        filtered(Dimension::EntryPage, r#"{"page": "/pricing"}"#).await,
        vec![row("/home", 1, 1, 1, 1)]
    );
    assert_eq!(
        filtered(Dimension::ExitPage, r#"{"page": "/pricing"}"#).await,
        vec![row("/signup", 1, 1, 1, 1)]
    );
    // The visit with a click, though the click is no pageview.
    assert_eq!(
        filtered(Dimension::EntryPage, r#"{"event": "click"}"#).await,
        vec![row("/home", 1, 0, 1, 1)]
    );
}

/// The dashboard's tables on a hand-counted dataset: alice is one person on two
/// devices (ids `alice` and `alice-phone`), bob another.
pub async fn top_tables_count_visitors_pageviews_and_events(db: &impl Backend) {
    use crate::top::{Dimension, TopQuery, TopRow};
    let ev =
        |name: &str, who: &str, person: i64, path: Option<&str>, browser: &str, country: &str| {
            let mut e = Event::new(1, Uuid::new_v4(), name, who, at("2026-11-02T10:00:00Z"));
            e.person_id = Some(person);
            e.path = path.map(Into::into);
            e.browser = Some(browser.into());
            e.country = Some(country.into());
            e
        };
    let mut first = ev("$pageview", "alice", 1, Some("/home"), "Chrome", "DE");
    first
        .properties
        .insert("$channel_type".into(), json!("search"));
    let mut direct = ev("$pageview", "bob", 2, Some("/home"), "Firefox", "US");
    direct
        .properties
        .insert("$channel_type".into(), json!("direct"));
    let mut bot = ev("$pageview", "crawler", 3, Some("/home"), "Googlebot", "US");
    bot.is_bot = true;
    let mut elsewhere = ev("$pageview", "x", 4, Some("/home"), "Chrome", "FR");
    elsewhere.project_id = 2;
    let mut late = ev("$pageview", "bob", 2, Some("/late"), "Firefox", "US");
    late.timestamp = at("2026-11-05T10:00:00Z");
    db.insert_batch(
        vec![
            first,
            ev("$pageview", "alice", 1, Some("/pricing"), "Chrome", "DE"),
            ev("$pageview", "alice-phone", 1, Some("/home"), "Safari", "DE"),
            direct,
            ev("signup", "bob", 2, None, "Firefox", "US"),
            bot,
            elsewhere,
            late,
        ]
        .into(),
    )
    .await
    .unwrap();
    let top = |dimension: Dimension, limit: usize| async move {
        db.top(TopQuery {
            project_id: 1,
            dimension,
            range: range("2026-11-01T00:00:00Z", "2026-11-04T00:00:00Z"),
            limit,
            include_bots: false,
            filters: Default::default(),
        })
        .await
        .unwrap()
        .results
    };
    let row = |value: Option<&str>, visitors: u64, pageviews: u64, events: u64| TopRow {
        value: value.map(Into::into),
        visitors,
        pageviews,
        events,
        sessions: None,
    };
    assert_eq!(
        top(Dimension::Page, 10).await,
        vec![row(Some("/home"), 2, 3, 3), row(Some("/pricing"), 1, 1, 1)]
    );
    assert_eq!(
        top(Dimension::Page, 1).await,
        vec![row(Some("/home"), 2, 3, 3)]
    );
    assert_eq!(
        top(Dimension::Browser, 10).await,
        vec![
            row(Some("Chrome"), 1, 2, 2),
            row(Some("Firefox"), 1, 1, 2),
            row(Some("Safari"), 1, 1, 1),
        ]
    );
    assert_eq!(
        top(Dimension::Country, 10).await,
        vec![row(Some("DE"), 1, 3, 3), row(Some("US"), 1, 1, 2)]
    );
    assert_eq!(
        top(Dimension::Channel, 10).await,
        vec![
            row(None, 2, 2, 3),
            row(Some("direct"), 1, 1, 1),
            row(Some("search"), 1, 1, 1),
        ]
    );
    assert_eq!(
        top(Dimension::Event, 10).await,
        vec![
            row(Some("$pageview"), 2, 4, 4),
            row(Some("signup"), 1, 0, 1)
        ]
    );
}

/// A 3-step funnel ($pageview → signup → purchase, 1-day window) over persons whose
/// paths were chosen to hit each rule; the counts and times are worked out below.
pub async fn funnels_count_persons_per_step_loose_and_strict(db: &impl Backend) {
    use crate::funnel::FunnelRequest;
    let ev = |name: &str, who: &str, person: i64, ts: &str| {
        let mut e = Event::new(1, Uuid::new_v4(), name, who, at(ts));
        e.person_id = Some(person);
        e
    };
    let mut bot = vec![
        ev("$pageview", "bot", 90, "2026-11-01T10:00:00Z"),
        ev("signup", "bot", 90, "2026-11-01T10:01:00Z"),
        ev("purchase", "bot", 90, "2026-11-01T10:02:00Z"),
    ];
    for e in &mut bot {
        e.is_bot = true;
    }
    let mut events = vec![
        // P1: all three, 300 s then 900 s.
        ev("$pageview", "p1", 1, "2026-11-01T10:00:00Z"),
        ev("signup", "p1", 1, "2026-11-01T10:05:00Z"),
        ev("purchase", "p1", 1, "2026-11-01T10:20:00Z"),
        // P2: two steps, 3600 s.
        ev("$pageview", "p2", 2, "2026-11-01T10:00:00Z"),
        ev("signup", "p2", 2, "2026-11-01T11:00:00Z"),
        // P3: the first step only.
        ev("$pageview", "p3", 3, "2026-11-01T10:00:00Z"),
        // P4: signed up before viewing: the first step only.
        ev("signup", "p4", 4, "2026-11-01T09:00:00Z"),
        ev("$pageview", "p4", 4, "2026-11-01T10:00:00Z"),
        // P5: day 1 view, signup two days later (window passed); a day-3 view
        // starts again and the signup an hour later counts: two steps, 3600 s.
        ev("$pageview", "p5", 5, "2026-11-01T10:00:00Z"),
        ev("$pageview", "p5", 5, "2026-11-03T09:00:00Z"),
        ev("signup", "p5", 5, "2026-11-03T10:00:00Z"),
        // P6: purchase before signup: two steps loose (1200 s); strict breaks at
        // the purchase: one step.
        ev("$pageview", "p6", 6, "2026-11-01T10:00:00Z"),
        ev("purchase", "p6", 6, "2026-11-01T10:10:00Z"),
        ev("signup", "p6", 6, "2026-11-01T10:20:00Z"),
        // P7: one person on two ids: all three, 1800 s and 1800 s.
        ev("$pageview", "p7-anon", 7, "2026-11-01T10:00:00Z"),
        ev("signup", "p7-user", 7, "2026-11-01T10:30:00Z"),
        ev("purchase", "p7-user", 7, "2026-11-01T11:00:00Z"),
        // P8: started before the range: not in the funnel.
        ev("$pageview", "p8", 8, "2026-10-31T23:00:00Z"),
        ev("signup", "p8", 8, "2026-11-01T00:30:00Z"),
        // P9 repeats a step twice, P10 once (for the repeated-step funnel).
        ev("view", "p9", 9, "2026-11-01T10:00:00Z"),
        ev("view", "p9", 9, "2026-11-01T10:01:00Z"),
        ev("view", "p10", 10, "2026-11-01T10:00:00Z"),
    ];
    events.extend(bot);
    db.insert_batch(events.into()).await.unwrap();
    let run = |body: serde_json::Value| async move {
        let request: FunnelRequest = serde_json::from_value(body).unwrap();
        db.funnel(request.resolve(1, at("2026-11-10T00:00:00Z")).unwrap())
            .await
            .unwrap()
    };
    let three = |order: &str| {
        json!({"date_from": "2026-11-01", "date_to": "2026-11-04",
            "conversion_window_secs": 86400, "order": order,
            "steps": [{"event": "$pageview"}, {"event": "signup"}, {"event": "purchase"}]})
    };
    let loose = run(three("loose")).await;
    let counts: Vec<u64> = loose.steps.iter().map(|s| s.count).collect();
    assert_eq!(counts, vec![7, 5, 2]);
    let conv: Vec<Option<f64>> = loose
        .steps
        .iter()
        .map(|s| s.conversion_from_previous)
        .collect();
    assert_eq!(conv, vec![Some(1.0), Some(5.0 / 7.0), Some(2.0 / 5.0)]);
    assert_eq!(loose.steps[2].conversion_from_first, Some(2.0 / 7.0));
    // Step 2 times: 300, 3600, 3600, 1200, 1800 → mean 2100, median 1800.
    assert_eq!(loose.steps[1].avg_secs_from_previous, Some(2100.0));
    assert_eq!(loose.steps[1].median_secs_from_previous, Some(1800.0));
    // Step 3: 900 and 1800.
    assert_eq!(loose.steps[2].avg_secs_from_previous, Some(1350.0));
    assert_eq!(loose.steps[2].median_secs_from_previous, Some(1350.0));
    assert_eq!(loose.steps[0].avg_secs_from_previous, None);
    // Whole conversions: P1 1200 s, P7 3600 s.
    assert_eq!(loose.avg_secs_to_convert, Some(2400.0));
    assert_eq!(loose.median_secs_to_convert, Some(2400.0));

    let strict = run(three("strict")).await;
    let counts: Vec<u64> = strict.steps.iter().map(|s| s.count).collect();
    assert_eq!(counts, vec![7, 4, 2]);

    // A repeated step needs the event twice.
    let repeated = run(json!({"date_from": "2026-11-01", "date_to": "2026-11-04",
        "steps": [{"event": "view"}, {"event": "view"}]}))
    .await;
    let counts: Vec<u64> = repeated.steps.iter().map(|s| s.count).collect();
    assert_eq!(counts, vec![2, 1]);

    // A window of exactly P1's 20 minutes still converts it (the edge counts);
    // one second less does not.
    let window = |secs: i64| {
        let mut body = three("loose");
        body["conversion_window_secs"] = json!(secs);
        body
    };
    let edge = run(window(1200)).await;
    assert_eq!(edge.steps[2].count, 1);
    let short = run(window(1199)).await;
    assert_eq!(short.steps[2].count, 0);

    // Bots on request; an empty range is zeros, not an error.
    let mut with_bots = three("loose");
    with_bots["include_bots"] = json!(true);
    assert_eq!(run(with_bots).await.steps[2].count, 3);
    let empty = run(json!({"date_from": "2026-12-01", "date_to": "2026-12-02",
        "steps": [{"event": "$pageview"}, {"event": "signup"}]}))
    .await;
    assert_eq!(empty.steps[0].count, 0);
    assert_eq!(empty.steps[1].conversion_from_first, None);

    // The persons behind the counts: saved as the pipeline would.
    let persons: Vec<tally_core::Person> = (1..=10)
        .map(|id| tally_core::Person {
            project_id: 1,
            id,
            is_identified: false,
            first_seen: at("2026-11-01T00:00:00Z"),
            last_seen: at("2026-11-01T00:00:00Z"),
            properties: Default::default(),
        })
        .collect();
    db.save_persons(&tally_core::PersonChanges {
        merges: vec![],
        links: (1..=10).map(|id| (1, format!("p{id}"), id)).collect(),
        persons,
    })
    .unwrap();
    let listed = |persons: serde_json::Value| {
        let mut body = three("loose");
        body["persons"] = persons;
        async move {
            let list = run(body).await.persons.unwrap();
            let ids: Vec<i64> = list.results.iter().map(|p| p.id).collect();
            (ids, list.next_offset)
        }
    };
    // Dropped before signup: P3 and P4 (furthest step: the first).
    assert_eq!(listed(json!({"step": 1})).await, (vec![3, 4], None));
    // Reached purchase: P1, P7; a page of one, then the next.
    assert_eq!(
        listed(json!({"step": 2, "status": "reached", "limit": 1})).await,
        (vec![1], Some(1))
    );
    assert_eq!(
        listed(json!({"step": 2, "status": "reached", "limit": 1, "offset": 1})).await,
        (vec![7], None)
    );
    // Dropped at purchase: P2, P5, P6.
    assert_eq!(listed(json!({"step": 2})).await, (vec![2, 5, 6], None));
}

/// Steps at the same instant (SDKs batch with millisecond clocks, imports with
/// second ones) convert in step order, whatever order their ids or arrival
/// would give them.
pub async fn funnels_take_events_of_one_instant_in_step_order(db: &impl Backend) {
    use crate::funnel::FunnelRequest;
    // Ids in reverse step order, so an id tiebreak would put the later step first.
    let ev = |name: &str, person: i64, id: u128, ts: &str| {
        let mut e = Event::new(1, Uuid::from_u128(id), name, format!("p{person}"), at(ts));
        e.person_id = Some(person);
        e
    };
    db.insert_batch(
        vec![
            // P1: a and b at one instant, nothing more.
            ev("a", 1, 20, "2026-11-01T10:00:00Z"),
            ev("b", 1, 10, "2026-11-01T10:00:00Z"),
            // P2: a, b and c at one instant.
            ev("a", 2, 23, "2026-11-01T11:00:00Z"),
            ev("b", 2, 22, "2026-11-01T11:00:00Z"),
            ev("c", 2, 21, "2026-11-01T11:00:00Z"),
            // P3: a, then b and c together a minute later.
            ev("a", 3, 30, "2026-11-01T12:00:00Z"),
            ev("c", 3, 31, "2026-11-01T12:01:00Z"),
            ev("b", 3, 32, "2026-11-01T12:01:00Z"),
        ]
        .into(),
    )
    .await
    .unwrap();
    let now = at("2026-11-10T00:00:00Z");
    for order in ["loose", "strict"] {
        let request: FunnelRequest = serde_json::from_value(json!({
            "date_from": "2026-11-01", "date_to": "2026-11-02", "order": order,
            "steps": [{"event": "a"}, {"event": "b"}, {"event": "c"}]}))
        .unwrap();
        let answer = db.funnel(request.resolve(1, now).unwrap()).await.unwrap();
        let counts: Vec<u64> = answer.steps.iter().map(|s| s.count).collect();
        assert_eq!(counts, [3, 3, 2], "{order}");
        assert_eq!(
            answer.steps[1].median_secs_from_previous,
            Some(0.0),
            "{order}: P1 and P2 took no time, P3 a minute"
        );
    }
}

pub async fn funnels_break_down_by_the_starting_events_property(db: &impl Backend) {
    use crate::funnel::FunnelRequest;
    let ev = |name: &str, person: i64, ts: &str, source: Option<&str>| {
        let mut e = person_event(name, &format!("p{person}"), person, ts);
        if let Some(source) = source {
            e.properties.insert("source".into(), json!(source));
        }
        e
    };
    let events = vec![
        // P1: ads, converts in 600 s.
        ev("$pageview", 1, "2026-11-01T10:00:00Z", Some("ads")),
        ev(
            "signup",
            1,
            "2026-11-01T10:10:00Z",
            Some("later steps do not count"),
        ),
        // P2: ads, the first step only.
        ev("$pageview", 2, "2026-11-01T10:00:00Z", Some("ads")),
        // P3: mail, converts in 1800 s.
        ev("$pageview", 3, "2026-11-01T10:00:00Z", Some("mail")),
        ev("signup", 3, "2026-11-01T10:30:00Z", Some("ads")),
        // P4: a mail view, then an ads view that starts the attempt which
        // converts (the latest start is kept): ads, 1800 s.
        ev("$pageview", 4, "2026-11-01T10:00:00Z", Some("mail")),
        ev("$pageview", 4, "2026-11-01T11:00:00Z", Some("ads")),
        ev("signup", 4, "2026-11-01T11:30:00Z", None),
        // P5: no source, converts in 300 s.
        ev("$pageview", 5, "2026-11-01T10:00:00Z", None),
        ev("signup", 5, "2026-11-01T10:05:00Z", None),
        // P6, P7: social and tv, the first step only.
        ev("$pageview", 6, "2026-11-01T10:00:00Z", Some("social")),
        ev("$pageview", 7, "2026-11-01T10:00:00Z", Some("tv")),
    ];
    db.insert_batch(events.into()).await.unwrap();
    let run = |breakdown: serde_json::Value| async move {
        let request: FunnelRequest = serde_json::from_value(json!({
            "date_from": "2026-11-01", "date_to": "2026-11-02",
            "steps": [{"event": "$pageview"}, {"event": "signup"}],
            "breakdown": breakdown}))
        .unwrap();
        db.funnel(request.resolve(1, at("2026-11-10T00:00:00Z")).unwrap())
            .await
            .unwrap()
    };
    let lines = |answer: &crate::funnel::FunnelAnswer| -> Vec<(Option<String>, bool, Vec<u64>)> {
        answer
            .breakdown
            .as_ref()
            .expect("a breakdown answer")
            .iter()
            .map(|b| {
                (
                    b.value.clone(),
                    b.is_other,
                    b.steps.iter().map(|s| s.count).collect(),
                )
            })
            .collect()
    };
    let some = |v: &str| Some(v.to_owned());

    let all = run(json!({"property": "source"})).await;
    let totals: Vec<u64> = all.steps.iter().map(|s| s.count).collect();
    assert_eq!(totals, [7, 4], "the funnel as a whole is unchanged");
    // Most persons first; ties by value; persons without a source last.
    assert_eq!(
        lines(&all),
        [
            (some("ads"), false, vec![3, 2]),
            (some("mail"), false, vec![1, 1]),
            (some("social"), false, vec![1, 0]),
            (some("tv"), false, vec![1, 0]),
            (None, false, vec![1, 1]),
        ]
    );
    let ads = &all.breakdown.as_ref().unwrap()[0];
    assert_eq!(ads.steps[1].conversion_from_first, Some(2.0 / 3.0));
    // P1 600 s, P4 1800 s.
    assert_eq!(ads.median_secs_to_convert, Some(1200.0));
    assert_eq!(ads.steps[1].avg_secs_from_previous, Some(1200.0));

    // The top two values, the rest as one "other" line.
    let top = run(json!({"property": "source", "limit": 2})).await;
    assert_eq!(
        lines(&top),
        [
            (some("ads"), false, vec![3, 2]),
            (some("mail"), false, vec![1, 1]),
            (None, true, vec![3, 1]),
        ]
    );
    let other = &top.breakdown.as_ref().unwrap()[2];
    assert_eq!(other.median_secs_to_convert, Some(300.0), "P5's conversion");

    // Without a breakdown there is none in the answer.
    let request: FunnelRequest = serde_json::from_value(json!({
        "date_from": "2026-11-01", "date_to": "2026-11-02",
        "steps": [{"event": "$pageview"}, {"event": "signup"}]}))
    .unwrap();
    let plain = db
        .funnel(request.resolve(1, at("2026-11-10T00:00:00Z")).unwrap())
        .await
        .unwrap();
    assert!(plain.breakdown.is_none());
    for bad in [
        json!({"property": "source", "limit": 0}),
        json!({"property": ""}),
    ] {
        let request: FunnelRequest = serde_json::from_value(json!({
            "steps": [{"event": "a"}, {"event": "b"}], "breakdown": bad}))
        .unwrap();
        assert!(
            request.resolve(1, at("2026-11-10T00:00:00Z")).is_err(),
            "{bad}"
        );
    }
}

pub async fn session_property_filters_narrow_every_kind(db: &impl Backend) {
    use crate::activity::ActivityRequest;
    use crate::funnel::FunnelRequest;
    use crate::trends::TrendsRequest;
    let ev = |name: &str, person: i64, ts: &str, path: Option<&str>| {
        let mut e = person_event(name, &format!("p{person}"), person, ts);
        e.path = path.map(str::to_owned);
        e
    };
    let events = vec![
        // P1: one session of 600 s, two pageviews, entered on /home.
        ev("$pageview", 1, "2026-11-01T10:00:00Z", Some("/home")),
        ev("$pageview", 1, "2026-11-01T10:05:00Z", Some("/pricing")),
        ev("signup", 1, "2026-11-01T10:10:00Z", None),
        // P2: 60 s, one pageview, entered on /blog.
        ev("$pageview", 2, "2026-11-01T10:00:00Z", Some("/blog")),
        ev("signup", 2, "2026-11-01T10:01:00Z", None),
        // P3: a single pageview of /home (0 s); an hour later a new session
        // entered on /blog (the 30-minute gap cuts it).
        ev("$pageview", 3, "2026-11-01T10:00:00Z", Some("/home")),
        ev("$pageview", 3, "2026-11-01T11:00:00Z", Some("/blog")),
    ];
    db.insert_batch(events.into()).await.unwrap();
    let now = at("2026-11-10T00:00:00Z");
    let trend_total = |series: serde_json::Value| async move {
        let request: TrendsRequest = serde_json::from_value(json!({
            "date_from": "2026-11-01", "date_to": "2026-11-02", "series": [series]}))
        .unwrap();
        let answer = db.trends(request.resolve(1, now).unwrap()).await.unwrap();
        answer.results[0]
            .points
            .iter()
            .filter_map(|p| p.value)
            .sum::<f64>()
    };
    let session = |key: &str, operator: &str, value: serde_json::Value| json!({"key": key, "operator": operator, "value": value, "type": "session"});
    // Signups in sessions longer than five minutes: P1's.
    assert_eq!(
        trend_total(
            json!({"event": "signup", "filters": session("$session_duration", "gt", json!(300))})
        )
        .await,
        1.0
    );
    // Pageviews of sessions entered on /home: P1's two, P3's first.
    assert_eq!(
        trend_total(json!({"event": "$pageview", "filters": session("$entry_pathname", "eq", json!("/home"))})).await,
        3.0
    );
    // Any event of sessions left from /blog: P2's two, P3's later one; the
    // signup of the session left from /pricing (P1's).
    assert_eq!(
        trend_total(json!({"filters": session("$exit_pathname", "eq", json!("/blog"))})).await,
        3.0
    );
    assert_eq!(
        trend_total(
            json!({"event": "signup", "filters": session("$exit_pathname", "eq", json!("/pricing"))})
        )
        .await,
        1.0
    );
    // Any event of sessions with more than one pageview: P1's three.
    assert_eq!(
        trend_total(json!({"filters": session("$session_pageviews", "gt", json!(1))})).await,
        3.0
    );
    assert_eq!(
        trend_total(
            json!({"event": "$pageview", "filters": session("$session_duration", "eq", json!(600))})
        )
        .await,
        2.0,
        "whole seconds compare as text too"
    );

    // A funnel of sessions entered on /blog: P2 converts, P3 (its later
    // session) does not.
    let funnel = |entry: &str| {
        let request: FunnelRequest = serde_json::from_value(json!({
            "date_from": "2026-11-01", "date_to": "2026-11-02",
            "steps": [{"event": "$pageview"}, {"event": "signup"}],
            "filters": session("$entry_pathname", "eq", json!(entry))}))
        .unwrap();
        async move {
            let answer = db.funnel(request.resolve(1, now).unwrap()).await.unwrap();
            answer.steps.iter().map(|s| s.count).collect::<Vec<u64>>()
        }
    };
    assert_eq!(funnel("/blog").await, [2, 1]);
    assert_eq!(funnel("/home").await, [2, 1]);

    // Stickiness (the shared scope of retention, paths and lifecycle): persons
    // with a pageview in a session entered on /blog.
    let request: ActivityRequest = serde_json::from_value(json!({
        "date_from": "2026-11-01", "date_to": "2026-11-02",
        "event": {"event": "$pageview", "filters": session("$entry_pathname", "eq", json!("/blog"))}}))
    .unwrap();
    let sticky = db
        .stickiness(request.resolve(1, now).unwrap())
        .await
        .unwrap();
    assert_eq!(sticky.results[0].persons, 2, "P2 and P3");

    // Only the session properties there are.
    let request: TrendsRequest = serde_json::from_value(json!({
        "series": [{"event": "a", "filters": session("$session_mood", "eq", json!("happy"))}]}))
    .unwrap();
    assert!(matches!(
        request.resolve(1, now),
        Err(crate::QueryError::InvalidFilter(_))
    ));
}

/// An event of `person` (stored with that person id) at `ts`.
fn person_event(name: &str, who: &str, person: i64, ts: &str) -> Event {
    let mut e = Event::new(1, Uuid::new_v4(), name, who, at(ts));
    e.person_id = Some(person);
    e
}

fn bot_event(name: &str, ts: &str) -> Event {
    let mut e = person_event(name, "crawler", 99, ts);
    e.is_bot = true;
    e
}

pub async fn retention_counts_cohorts_first_time_and_recurring(db: &impl Backend) {
    use crate::retention::RetentionRequest;
    let ev = person_event;
    let events = vec![
        // A: cohort Nov 1, back Nov 2 and Nov 4.
        ev("signup", "a", 1, "2026-11-01T10:00:00Z"),
        ev("login", "a", 1, "2026-11-02T12:00:00Z"),
        ev("login", "a", 1, "2026-11-04T12:00:00Z"),
        // B: cohort Nov 1 late evening (UTC), back 40 minutes later — Nov 2 in
        // UTC, still Nov 1 in New York.
        ev("signup", "b", 2, "2026-11-01T23:30:00Z"),
        ev("login", "b", 2, "2026-11-02T00:10:00Z"),
        // C: cohort Nov 2; a login the same day is period 0, not a return.
        ev("signup", "c", 3, "2026-11-02T12:00:00Z"),
        ev("login", "c", 3, "2026-11-02T13:00:00Z"),
        ev("login", "c", 3, "2026-11-03T12:00:00Z"),
        // D: first signed up before the range: no first-time cohort; recurring
        // cohort Nov 3, back Nov 4.
        ev("signup", "d", 4, "2026-10-30T12:00:00Z"),
        ev("signup", "d", 4, "2026-11-03T12:00:00Z"),
        ev("login", "d", 4, "2026-11-04T12:00:00Z"),
        // E: signs up twice (two recurring cohorts), back Nov 4.
        ev("signup", "e", 5, "2026-11-01T12:00:00Z"),
        ev("signup", "e", 5, "2026-11-03T12:00:00Z"),
        ev("login", "e", 5, "2026-11-04T12:00:00Z"),
        bot_event("signup", "2026-11-01T12:00:00Z"),
        bot_event("login", "2026-11-02T12:00:00Z"),
    ];
    db.insert_batch(events.into()).await.unwrap();
    let run = |cohort: &str, tz: &str| {
        let body = json!({"start_event": {"event": "signup"}, "return_event": {"event": "login"},
            "period": "day", "periods": 4, "date_to": "2026-11-04T12:00:00Z",
            "cohort": cohort, "tz": tz});
        async move {
            let request: RetentionRequest = serde_json::from_value(body).unwrap();
            db.retention(request.resolve(1, at("2026-11-20T00:00:00Z")).unwrap())
                .await
                .unwrap()
        }
    };
    let table = |a: &crate::retention::RetentionAnswer| -> Vec<Vec<u64>> {
        a.cohorts
            .iter()
            .map(|c| c.values.iter().map(|v| v.count).collect())
            .collect()
    };
    let first = run("first_time", "UTC").await;
    assert_eq!(
        first.range,
        range("2026-11-01T00:00:00Z", "2026-11-05T00:00:00Z")
    );
    assert_eq!(
        table(&first),
        vec![vec![3, 2, 0, 2], vec![1, 1, 0], vec![0, 0], vec![0]]
    );
    assert_eq!(first.cohorts[0].size, 3);
    assert_eq!(first.cohorts[0].start, "2026-11-01T00:00:00+00:00");
    let pct: Vec<Option<f64>> = first.cohorts[0]
        .values
        .iter()
        .map(|v| v.percentage)
        .collect();
    assert_eq!(
        pct,
        vec![Some(100.0), Some(200.0 / 3.0), Some(0.0), Some(200.0 / 3.0)]
    );
    assert_eq!(first.cohorts[2].values[0].percentage, None, "empty cohort");

    // One person in two cohorts (E), and D counted from its second signup.
    let recurring = run("recurring", "UTC").await;
    assert_eq!(
        table(&recurring),
        vec![vec![3, 2, 0, 2], vec![1, 1, 0], vec![2, 2], vec![0]]
    );

    // New York days (the DST change is on Nov 1): B's login is the same day.
    let ny = run("first_time", "America/New_York").await;
    assert_eq!(
        table(&ny),
        vec![vec![3, 1, 0, 2], vec![1, 1, 0], vec![0, 0], vec![0]]
    );
    assert_eq!(ny.cohorts[0].start, "2026-11-01T00:00:00-04:00");
    assert_eq!(ny.cohorts[1].start, "2026-11-02T00:00:00-05:00");

    // Any event starts and returns, by week.
    let request: RetentionRequest = serde_json::from_value(json!({
        "period": "week", "periods": 1, "date_to": "2026-11-04T12:00:00Z"}))
    .unwrap();
    let any = db
        .retention(request.resolve(1, at("2026-11-20T00:00:00Z")).unwrap())
        .await
        .unwrap();
    // The week of Monday Nov 2 (Nov 1 is a Sunday). First seen that week: C
    // only; A, B and E were seen on Nov 1, D in October.
    assert_eq!(
        any.range,
        range("2026-11-02T00:00:00Z", "2026-11-09T00:00:00Z")
    );
    assert_eq!(table(&any), vec![vec![1]]);
}

pub async fn stickiness_and_lifecycle_follow_persons_across_days(db: &impl Backend) {
    use crate::activity::ActivityRequest;
    let ev = |who: &str, person: i64, ts: &str| person_event("use", who, person, ts);
    let events = vec![
        ev("p1", 1, "2026-11-02T10:00:00Z"),
        ev("p1", 1, "2026-11-03T10:00:00Z"),
        ev("p1", 1, "2026-11-04T10:00:00Z"),
        ev("p2", 2, "2026-11-02T10:00:00Z"),
        ev("p2", 2, "2026-11-04T10:00:00Z"),
        ev("p2", 2, "2026-11-04T11:00:00Z"),
        ev("p3", 3, "2026-11-03T10:00:00Z"),
        ev("p4", 4, "2026-10-20T10:00:00Z"),
        ev("p4", 4, "2026-11-04T10:00:00Z"),
        ev("p5", 5, "2026-11-01T10:00:00Z"),
        ev("p6", 6, "2026-11-01T10:00:00Z"),
        ev("p6", 6, "2026-11-02T10:00:00Z"),
        person_event("other", "p7", 7, "2026-11-03T10:00:00Z"),
        bot_event("use", "2026-11-02T10:00:00Z"),
    ];
    db.insert_batch(events.into()).await.unwrap();
    let request = || -> ActivityRequest {
        serde_json::from_value(json!({"event": {"event": "use"},
            "date_from": "2026-11-02", "date_to": "2026-11-05"}))
        .unwrap()
    };
    let now = at("2026-11-20T00:00:00Z");
    let sticky = db
        .stickiness(request().resolve(1, now).unwrap())
        .await
        .unwrap();
    // One day: p3, p4, p6; two: p2; three: p1.
    let per: Vec<(usize, u64)> = sticky
        .results
        .iter()
        .map(|v| (v.intervals, v.persons))
        .collect();
    assert_eq!(per, vec![(1, 3), (2, 1), (3, 1)]);

    let life = db
        .lifecycle(request().resolve(1, now).unwrap())
        .await
        .unwrap();
    let rows: Vec<(u64, u64, u64, u64)> = life
        .results
        .iter()
        .map(|b| (b.new, b.returning, b.resurrecting, b.dormant))
        .collect();
    assert_eq!(
        rows,
        vec![
            // Nov 2: p1, p2 new; p6 returning; p5 dormant.
            (2, 1, 0, 1),
            // Nov 3: p3 new; p1 returning; p2 and p6 dormant.
            (1, 1, 0, 2),
            // Nov 4: p1 returning; p2 and p4 resurrecting; p3 dormant.
            (0, 1, 2, 1),
        ]
    );
    assert_eq!(life.results[0].bucket, "2026-11-02T00:00:00+00:00");
    // A range starting mid-day still counts whole days.
    let mut midday = request();
    midday.date_from = Some("2026-11-02T15:00:00Z".into());
    let sticky = db
        .stickiness(midday.resolve(1, now).unwrap())
        .await
        .unwrap();
    assert_eq!(sticky.range.from, at("2026-11-02T00:00:00Z"));
    assert_eq!(sticky.results.len(), 3);
}

/// `"2026-11-01"` to `"2026-11-03"` in Berlin (UTC+1 in November) is
/// 2026-10-31T23:00Z to 2026-11-02T23:00Z: a funnel, paths and a trends series
/// asked in that zone count the persons whose events fall in those local days,
/// not in the UTC days.
pub async fn bare_dates_are_days_of_the_querys_zone(db: &impl Backend) {
    use crate::funnel::FunnelRequest;
    use crate::paths::PathsRequest;
    use crate::trends::TrendsRequest;
    let page = |who: &str, person: i64, ts: &str, path: &str| {
        let mut e = person_event("$pageview", who, person, ts);
        e.path = Some(path.into());
        e
    };
    db.insert_batch(
        vec![
            // Nov 1, 00:30 in Berlin: inside the local days, before the UTC ones.
            page("early", 1, "2026-10-31T23:30:00Z", "/a"),
            person_event("signup", "early", 1, "2026-10-31T23:40:00Z"),
            page("early", 1, "2026-10-31T23:45:00Z", "/b"),
            // Nov 2, 12:00: inside both.
            page("mid", 2, "2026-11-02T12:00:00Z", "/a"),
            // Nov 3, 00:30 in Berlin: inside the UTC days, after the local ones.
            page("late", 3, "2026-11-02T23:30:00Z", "/a"),
        ]
        .into(),
    )
    .await
    .unwrap();
    let now = at("2026-11-20T00:00:00Z");
    // Berlin: early and mid, early converting and going on to /b; UTC: mid
    // and late, neither going further.
    for (tz, from, funnel_counts, path_links, per_day) in [
        (
            "Europe/Berlin",
            "2026-10-31T23:00:00Z",
            [2u64, 1],
            1usize,
            [1.0, 1.0],
        ),
        ("UTC", "2026-11-01T00:00:00Z", [2, 0], 0, [0.0, 2.0]),
    ] {
        let range = json!({"date_from": "2026-11-01", "date_to": "2026-11-03", "tz": tz});
        let mut funnel = json!({"steps": [{"event": "$pageview"}, {"event": "signup"}],
                                "conversion_window_secs": 3600});
        let mut paths = json!({"start_point": "/a"});
        let mut trends = json!({"series": [{"event": "$pageview", "math": "unique_persons"}],
                                "interval": "day"});
        for body in [&mut funnel, &mut paths, &mut trends] {
            for (k, v) in range.as_object().unwrap() {
                body[k] = v.clone();
            }
        }
        let f: FunnelRequest = serde_json::from_value(funnel).unwrap();
        let f = db.funnel(f.resolve(1, now).unwrap()).await.unwrap();
        assert_eq!((f.tz.as_str(), f.range.from), (tz, at(from)));
        assert_eq!(f.range.to - f.range.from, chrono::Duration::days(2));
        let counts: Vec<u64> = f.steps.iter().map(|s| s.count).collect();
        assert_eq!(counts, funnel_counts, "{tz}");
        let p: PathsRequest = serde_json::from_value(paths).unwrap();
        let p = db.paths(p.resolve(1, now).unwrap()).await.unwrap();
        assert_eq!(p.tz, tz);
        assert_eq!(p.nodes[0].persons, 2, "{tz}");
        assert_eq!(p.links.len(), path_links, "{tz}");
        let t: TrendsRequest = serde_json::from_value(trends).unwrap();
        let t = db.trends(t.resolve(1, now).unwrap()).await.unwrap();
        let values: Vec<Option<f64>> = t.results[0].points.iter().map(|p| p.value).collect();
        assert_eq!(values, per_day.map(Some), "{tz}");
    }
}

pub async fn paths_follow_pages_from_a_start_or_to_an_end(db: &impl Backend) {
    use crate::paths::PathsRequest;
    let page = |who: &str, person: i64, ts: &str, path: &str| {
        let mut e = person_event("$pageview", who, person, ts);
        e.path = Some(path.into());
        e
    };
    let events = vec![
        page("p1", 1, "2026-11-02T10:00:00Z", "/"),
        page("p1", 1, "2026-11-02T10:01:00Z", "/pricing"),
        person_event("click", "p1", 1, "2026-11-02T10:01:30Z"),
        // A reload is not a step.
        page("p1", 1, "2026-11-02T10:02:00Z", "/pricing"),
        page("p1", 1, "2026-11-02T10:03:00Z", "/signup"),
        page("p1", 1, "2026-11-02T10:04:00Z", "/done"),
        page("p2", 2, "2026-11-02T10:00:00Z", "/"),
        page("p2", 2, "2026-11-02T10:01:00Z", "/pricing"),
        page("p2", 2, "2026-11-02T10:02:00Z", "/docs"),
        page("p3", 3, "2026-11-02T10:00:00Z", "/docs"),
        page("p3", 3, "2026-11-02T10:01:00Z", "/"),
        page("p3", 3, "2026-11-02T10:02:00Z", "/pricing"),
        page("p3", 3, "2026-11-02T10:03:00Z", "/signup"),
        page("p4", 4, "2026-11-02T10:00:00Z", "/blog"),
    ];
    db.insert_batch(events.into()).await.unwrap();
    let run = |body: serde_json::Value| async move {
        let mut body = body;
        body["date_from"] = json!("2026-11-01");
        body["date_to"] = json!("2026-11-05");
        let request: PathsRequest = serde_json::from_value(body).unwrap();
        db.paths(request.resolve(1, at("2026-11-20T00:00:00Z")).unwrap())
            .await
            .unwrap()
    };
    let shape = |a: &crate::paths::PathsAnswer| {
        let nodes: Vec<(String, u64)> = a.nodes.iter().map(|n| (n.id.clone(), n.persons)).collect();
        let links: Vec<(String, String, u64)> = a
            .links
            .iter()
            .map(|l| (l.source.clone(), l.target.clone(), l.persons))
            .collect();
        (nodes, links)
    };
    let s = |x: &str| x.to_owned();
    let forward = run(json!({"start_point": "/", "steps": 2})).await;
    assert_eq!(
        shape(&forward),
        (
            vec![
                (s("0:/"), 3),
                (s("1:/pricing"), 3),
                (s("2:/signup"), 2),
                (s("2:/docs"), 1)
            ],
            vec![
                (s("0:/"), s("1:/pricing"), 3),
                (s("1:/pricing"), s("2:/signup"), 2),
                (s("1:/pricing"), s("2:/docs"), 1)
            ]
        )
    );
    let backward = run(json!({"end_point": "/signup", "steps": 2})).await;
    assert_eq!(
        shape(&backward).1,
        vec![
            (s("-2:/"), s("-1:/pricing"), 2),
            (s("-1:/pricing"), s("0:/signup"), 2)
        ]
    );
    // The heaviest link only, with the nodes it joins.
    let top = run(json!({"start_point": "/", "steps": 2, "limit": 1})).await;
    assert_eq!(
        shape(&top),
        (
            vec![(s("0:/"), 3), (s("1:/pricing"), 3)],
            vec![(s("0:/"), s("1:/pricing"), 3)]
        )
    );
    // Events: p1's pageview, click, pageview… ; from each person's first event.
    let events = run(json!({"path_type": "events", "start_point": "click", "steps": 1})).await;
    assert_eq!(shape(&events).1, vec![(s("0:click"), s("1:$pageview"), 1)]);
    // A start point nobody reached: nothing.
    let none = run(json!({"start_point": "/nowhere"})).await;
    assert!(none.nodes.is_empty() && none.links.is_empty());
}

pub async fn persons_list_search_and_timeline_across_ids(db: &impl Backend) {
    use crate::persons::PersonsRequest;
    use tally_core::{Person, PersonChanges, PersonProperties, PropertyWrite, WriteKind};
    let person = |id: i64, last: &str, props: serde_json::Value| {
        let mut properties = PersonProperties::default();
        for (k, v) in props.as_object().unwrap() {
            properties.apply(
                k,
                PropertyWrite {
                    value: Some(v.clone()),
                    at_ms: 0,
                    kind: WriteKind::Set,
                },
            );
        }
        Person {
            project_id: 1,
            id,
            is_identified: id == 7,
            first_seen: at("2026-11-01T00:00:00Z"),
            last_seen: at(last),
            properties,
        }
    };
    // Person 8 (id "old") was merged into 7, which has "anon" and "ann@x.io".
    db.save_persons(&PersonChanges {
        merges: vec![],
        links: vec![
            (1, "old".into(), 8),
            (1, "anon".into(), 7),
            (1, "ann@x.io".into(), 7),
            (1, "bob".into(), 9),
        ],
        persons: vec![
            person(
                7,
                "2026-11-03T00:00:00Z",
                json!({"plan": "pro", "name": "Ann"}),
            ),
            person(8, "2026-11-01T00:00:00Z", json!({})),
            person(
                9,
                "2026-11-02T00:00:00Z",
                json!({"plan": "free", "name": "Bob \"the\"; DROP"}),
            ),
        ],
    })
    .unwrap();
    db.save_persons(&PersonChanges {
        merges: vec![(1, 8, 7)],
        links: vec![(1, "old".into(), 7)],
        persons: vec![],
    })
    .unwrap();
    db.insert_batch(
        vec![
            person_event("a", "old", 8, "2026-11-01T10:00:00Z"),
            person_event("b", "anon", 7, "2026-11-02T10:00:00Z"),
            person_event("c", "ann@x.io", 7, "2026-11-03T10:00:00Z"),
            person_event("d", "bob", 9, "2026-11-02T10:00:00Z"),
        ]
        .into(),
    )
    .await
    .unwrap();
    let list = |body: serde_json::Value| async move {
        let request: PersonsRequest = serde_json::from_value(body).unwrap();
        db.persons(request.resolve(1).unwrap()).await.unwrap()
    };
    let all = list(json!({})).await;
    let rows: Vec<(i64, Vec<String>, u64)> = all
        .results
        .iter()
        .map(|p| (p.person.id, p.person.distinct_ids.clone(), p.events))
        .collect();
    assert_eq!(
        rows,
        vec![
            (7, vec!["ann@x.io".into(), "anon".into(), "old".into()], 3),
            (9, vec!["bob".into()], 1)
        ]
    );
    assert_eq!(all.next_offset, None);
    assert_eq!(
        all.results[0].person.properties.get("plan"),
        Some(&json!("pro"))
    );
    // Pages.
    let first = list(json!({"limit": 1})).await;
    assert_eq!(first.results[0].person.id, 7);
    assert_eq!(first.next_offset, Some(1));
    let second = list(json!({"limit": 1, "offset": 1})).await;
    assert_eq!(second.results[0].person.id, 9);
    assert_eq!(second.next_offset, None);
    // Search: by any id, by a property value; hostile text is just text.
    let ids =
        |p: crate::persons::PersonsPage| p.results.iter().map(|r| r.person.id).collect::<Vec<_>>();
    assert_eq!(ids(list(json!({"search": "OLD"})).await), vec![7]);
    assert_eq!(ids(list(json!({"search": "\"THE\"; drop"})).await), vec![9]);
    assert_eq!(
        ids(list(json!({"search": "fre"})).await),
        vec![9],
        "a value"
    );
    assert_eq!(
        ids(list(json!({"search": "NAM"})).await),
        vec![7, 9],
        "a name"
    );
    assert_eq!(
        ids(list(json!({"search": "x'); --"})).await),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(list(
            json!({"filters": {"key": "plan", "operator": "eq", "value": "free", "type": "person"}})
        )
        .await),
        vec![9]
    );
    assert_eq!(
        ids(list(json!({"order_by": "first_seen"})).await),
        vec![9, 7],
        "equal first_seen: higher id first"
    );

    // One person's timeline under every id, through the merge.
    let timeline = db
        .events(EventsQuery {
            person: Some("anon".into()),
            ..all_events(1, 10)
        })
        .await
        .unwrap();
    let names: Vec<&str> = timeline.results.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, vec!["c", "b", "a"]);
    let unknown = db
        .events(EventsQuery {
            person: Some("nobody".into()),
            ..all_events(1, 10)
        })
        .await
        .unwrap();
    assert!(unknown.results.is_empty());
}

pub async fn realtime_counts_the_last_minutes(db: &impl Backend) {
    use crate::realtime::RealtimeQuery;
    let events = vec![
        person_event("$pageview", "p1", 1, "2026-11-10T11:58:00Z"),
        person_event("$pageview", "p1", 1, "2026-11-10T11:59:10Z"),
        person_event("$pageview", "p2", 2, "2026-11-10T11:40:00Z"),
        person_event("$pageview", "p3", 3, "2026-11-10T11:20:00Z"),
        bot_event("$pageview", "2026-11-10T11:59:00Z"),
    ];
    db.insert_batch(events.into()).await.unwrap();
    let now = at("2026-11-10T12:00:30Z");
    let a = db
        .realtime(RealtimeQuery { project_id: 1, now })
        .await
        .unwrap();
    assert_eq!(
        (a.active_persons_5m, a.active_persons_30m, a.events_30m),
        (1, 2, 3)
    );
    assert_eq!(a.per_minute.len(), 30);
    assert_eq!(a.per_minute[0].minute, at("2026-11-10T11:31:00Z"));
    assert_eq!(a.per_minute[29].minute, at("2026-11-10T12:00:00Z"));
    let nonzero: Vec<(DateTime<Utc>, u64)> = a
        .per_minute
        .iter()
        .filter(|m| m.events > 0)
        .map(|m| (m.minute, m.events))
        .collect();
    assert_eq!(
        nonzero,
        vec![
            (at("2026-11-10T11:40:00Z"), 1),
            (at("2026-11-10T11:58:00Z"), 1),
            (at("2026-11-10T11:59:00Z"), 1)
        ]
    );
}

pub async fn sessions_sort_and_show_one_timeline(db: &impl Backend) {
    use crate::sessions::SessionEventsQuery;
    let with_session = |name: &str, ts: &str, sid: &str| {
        let mut e = person_event(name, "s-user", 2, ts);
        e.session_id = Some(sid.into());
        e
    };
    let events = vec![
        // Derived for "a": 10:00, 10:10, 10:40 (gaps ≤ 30 min), then 11:30.
        person_event("$pageview", "a", 1, "2026-11-02T10:00:00Z"),
        person_event("click", "a", 1, "2026-11-02T10:10:00Z"),
        person_event("$pageview", "a", 1, "2026-11-02T10:40:00Z"),
        person_event("$pageview", "a", 1, "2026-11-02T11:30:00Z"),
        // An SDK session with an `@` in its id: 2 events over 5 minutes.
        with_session("$pageview", "2026-11-02T09:00:00Z", "sdk@1"),
        with_session("$pageview", "2026-11-02T09:05:00Z", "sdk@1"),
    ];
    db.insert_batch(events.into()).await.unwrap();
    let list = |sort: SessionSort, descending: bool| async move {
        let q = SessionsQuery {
            project_id: 1,
            range: range("2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"),
            inactivity: Duration::minutes(30),
            limit: 10,
            offset: 0,
            include_bots: false,
            sort,
            descending,
        };
        db.sessions(q)
            .await
            .unwrap()
            .results
            .into_iter()
            .map(|s| (s.id, s.events))
            .collect::<Vec<_>>()
    };
    let first = format!("a@{}", at("2026-11-02T10:00:00Z").timestamp_micros());
    let later = format!("a@{}", at("2026-11-02T11:30:00Z").timestamp_micros());
    // Newest first by default; by events, most first; by duration, shortest first.
    assert_eq!(
        list(SessionSort::Start, true).await,
        vec![(later.clone(), 1), (first.clone(), 3), ("sdk@1".into(), 2)]
    );
    assert_eq!(
        list(SessionSort::Events, true).await,
        vec![(first.clone(), 3), ("sdk@1".into(), 2), (later.clone(), 1)]
    );
    assert_eq!(
        list(SessionSort::Duration, false).await,
        vec![(later.clone(), 1), ("sdk@1".into(), 2), (first.clone(), 3)]
    );
    let timeline = |id: String| async move {
        db.session_events(SessionEventsQuery {
            project_id: 1,
            id,
            inactivity: Duration::minutes(30),
        })
        .await
        .unwrap()
        .map(|t| t.events.iter().map(|e| e.timestamp).collect::<Vec<_>>())
    };
    assert_eq!(
        timeline(first).await,
        Some(vec![
            at("2026-11-02T10:00:00Z"),
            at("2026-11-02T10:10:00Z"),
            at("2026-11-02T10:40:00Z")
        ])
    );
    assert_eq!(
        timeline("sdk@1".into()).await,
        Some(vec![at("2026-11-02T09:00:00Z"), at("2026-11-02T09:05:00Z")])
    );
    // Not a session start, and an id nobody has.
    let mid = format!("a@{}", at("2026-11-02T10:10:00Z").timestamp_micros());
    assert_eq!(timeline(mid).await, None);
    assert_eq!(timeline("nope".into()).await, None);
}

pub async fn trends_count_unique_sessions(db: &impl Backend) {
    use crate::trends::TrendsRequest;
    let sdk = |name: &str, ts: &str, sid: &str| {
        let mut e = person_event(name, "u2", 2, ts);
        e.session_id = Some(sid.into());
        e
    };
    let events = vec![
        // u1 without SDK ids: a session under way before the range (A), one of
        // two pageviews 20 minutes apart (B), one after a 40-minute gap (C), one
        // the next day (D).
        person_event("$pageview", "u1", 1, "2026-10-31T23:50:00Z"),
        person_event("$pageview", "u1", 1, "2026-11-01T00:10:00Z"),
        person_event("$pageview", "u1", 1, "2026-11-01T10:00:00Z"),
        person_event("$pageview", "u1", 1, "2026-11-01T10:20:00Z"),
        person_event("$pageview", "u1", 1, "2026-11-01T11:00:00Z"),
        person_event("$pageview", "u1", 1, "2026-11-02T09:00:00Z"),
        // u2 with SDK session ids.
        sdk("$pageview", "2026-11-01T12:00:00Z", "s-a"),
        sdk("click", "2026-11-01T12:05:00Z", "s-a"),
        sdk("$pageview", "2026-11-02T08:00:00Z", "s-b"),
        // u3: one session across midnight counts on both days.
        person_event("$pageview", "u3", 3, "2026-11-01T23:50:00Z"),
        person_event("$pageview", "u3", 3, "2026-11-02T00:10:00Z"),
        bot_event("$pageview", "2026-11-01T12:00:00Z"),
    ];
    db.insert_batch(events.into()).await.unwrap();
    let request: TrendsRequest = serde_json::from_value(json!({
        "date_from": "2026-11-01", "date_to": "2026-11-04",
        "series": [{"event": "$pageview", "math": "unique_sessions"},
                   {"event": "click", "math": "unique_sessions"},
                   {"math": "unique_sessions"}]}))
    .unwrap();
    let a = db
        .trends(request.resolve(1, at("2026-11-10T00:00:00Z")).unwrap())
        .await
        .unwrap();
    let got: Vec<Vec<Option<f64>>> = a
        .results
        .iter()
        .map(|s| s.points.iter().map(|p| p.value).collect())
        .collect();
    assert_eq!(
        got,
        vec![
            // Nov 1: A, B, C, s-a, u3's; Nov 2: D, s-b, u3's.
            vec![Some(5.0), Some(3.0), Some(0.0)],
            vec![Some(1.0), Some(0.0), Some(0.0)],
            vec![Some(5.0), Some(3.0), Some(0.0)],
        ]
    );
}

pub async fn deleting_a_project_removes_its_events_persons_and_definitions(db: &impl Backend) {
    use crate::persons::PersonsRequest;
    use tally_core::{Person, PersonChanges, PersonProperties};
    let person = |project_id: i64, id: i64| Person {
        project_id,
        id,
        is_identified: false,
        first_seen: at("2026-11-01T00:00:00Z"),
        last_seen: at("2026-11-01T00:00:00Z"),
        properties: PersonProperties::default(),
    };
    db.save_persons(&PersonChanges {
        merges: vec![],
        links: vec![(1, "ann".into(), 7), (2, "bob".into(), 8)],
        persons: vec![person(1, 7), person(2, 8)],
    })
    .unwrap();
    let gone = person_event("signup", "ann", 7, "2026-11-01T10:00:00Z");
    let mut kept = event(2, "signup", "bob", "2026-11-01T10:00:00Z");
    kept.person_id = Some(8);
    db.insert_batch(
        vec![
            gone.clone(),
            person_event("pay", "ann", 7, "2026-11-01T11:00:00Z"),
            kept.clone(),
        ]
        .into(),
    )
    .await
    .unwrap();

    assert_eq!(db.delete_project(1).await.unwrap(), 2);
    assert!(db
        .events(EventsQuery::all(1, 10))
        .await
        .unwrap()
        .results
        .is_empty());
    let others = db.events(EventsQuery::all(2, 10)).await.unwrap().results;
    assert_eq!(others.len(), 1, "another project keeps its events");
    let definitions = |project_id| async move {
        db.definitions(DefinitionsQuery {
            project_id,
            kind: DefinitionKind::Event,
            search: None,
            limit: 10,
        })
        .await
        .unwrap()
        .results
        .len()
    };
    assert_eq!(definitions(1).await, 0);
    assert_eq!(definitions(2).await, 1);
    let persons = |project_id| async move {
        let request: PersonsRequest = serde_json::from_value(json!({})).unwrap();
        db.persons(request.resolve(project_id).unwrap())
            .await
            .unwrap()
            .results
            .len()
    };
    assert_eq!(persons(1).await, 0);
    assert_eq!(persons(2).await, 1);
    // A deleted event is not remembered as stored: the same uuid stores again.
    let again = db.insert_batch(vec![gone].into()).await.unwrap();
    assert_eq!((again.inserted, again.duplicates), (1, 0));
    assert_eq!(db.delete_project(3).await.unwrap(), 0, "nothing to delete");
}
