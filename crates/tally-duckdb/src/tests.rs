//! The backend conformance suite plus DuckDB-specific checks, on a real DuckDB
//! file in a temporary directory.

use crate::{DuckDb, DuckDbConfig};
use tally_core::EventStore;
use tally_query::conformance::event;
use tally_query::{EventsQuery, QueryEngine};

fn open(dir: &tempfile::TempDir) -> DuckDb {
    DuckDb::open(&DuckDbConfig::in_dir(dir.path())).unwrap()
}

fn fresh() -> (DuckDb, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (open(&dir), dir)
}

tally_query::conformance_suite!(fresh());

/// The same suite with every touched hour rolled up right after each insert, so
/// each trends series that can read rollups does: its hand-worked answers must
/// come out the same (rollup answers equal raw answers).
mod on_rollups {
    use super::*;

    fn fresh() -> (DuckDb, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let config = DuckDbConfig {
            compact_rollups_on_insert: true,
            ..DuckDbConfig::in_dir(dir.path())
        };
        (DuckDb::open(&config).unwrap(), dir)
    }

    tally_query::conformance_suite!(fresh());
}

#[tokio::test]
async fn duplicates_stay_duplicates_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let e = event(1, "signup", "u1", "2026-11-01T10:00:00Z");
    {
        let db = open(&dir);
        db.insert_batch(vec![e.clone()].into()).await.unwrap();
    }
    let db = open(&dir);
    assert_eq!(db.stored_events(), 1, "the index is rebuilt from the table");
    let out = db
        .insert_batch(vec![e.clone(), e.clone()].into())
        .await
        .unwrap();
    assert_eq!((out.inserted, out.duplicates), (0, 2));
    let q = EventsQuery::all(1, 10);
    assert_eq!(db.events(q).await.unwrap().results.len(), 1);
}

#[tokio::test]
async fn a_fingerprint_hit_alone_never_drops_an_event() {
    let (db, _dir) = fresh();
    let collided = event(1, "signup", "u1", "2026-11-01T10:00:00Z");
    let other = event(1, "signup", "u2", "2026-11-01T10:01:00Z");
    db.collide_fingerprint(&(collided.project_id, collided.uuid));
    let out = db
        .insert_batch(vec![collided.clone(), other, collided.clone()].into())
        .await
        .unwrap();
    assert_eq!(
        (out.inserted, out.duplicates),
        (2, 1),
        "the exact look-up finds the collided key not stored; its repeat is a duplicate"
    );
    let q = EventsQuery::all(1, 10);
    assert_eq!(db.events(q).await.unwrap().results.len(), 2);
}

/// DuckDB checkpoints once its WAL passes the configured threshold: with a tiny
/// one the inserts end up in the database file, with the default small inserts
/// stay in the WAL (each checkpoint recompresses what changed since the last, so
/// the default keeps them rare).
#[tokio::test]
async fn the_wal_is_checkpointed_at_the_configured_threshold() {
    let wal_bytes_after_inserts = async |threshold: &str| {
        let dir = tempfile::tempdir().unwrap();
        let db = DuckDb::open(&DuckDbConfig {
            checkpoint_threshold: Some(threshold.into()),
            ..DuckDbConfig::in_dir(dir.path())
        })
        .unwrap();
        for _ in 0..5 {
            let batch: Vec<_> = (0..200)
                .map(|i| event(1, "e", &format!("u{i}"), "2026-03-01T10:00:00Z"))
                .collect();
            db.insert_batch(batch.into()).await.unwrap();
        }
        // Measured with the store open: closing it checkpoints.
        let wal = std::fs::metadata(dir.path().join("events.duckdb.wal"));
        wal.map(|m| m.len()).unwrap_or(0)
    };
    let tiny = wal_bytes_after_inserts("1KB").await;
    let default = wal_bytes_after_inserts(crate::DEFAULT_CHECKPOINT_THRESHOLD).await;
    eprintln!("WAL bytes: {tiny} with 1KB, {default} with the default");
    assert!(tiny < 20_000, "{tiny}");
    assert!(default > 100_000, "{default}");
}

#[test]
fn migrations_are_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(&dir));
    let db = open(&dir);
    let rows: i64 = db
        .read(|c| {
            c.query_row("SELECT count(*) FROM tally_migrations", [], |r| r.get(0))
                .map_err(crate::store::internal)
        })
        .unwrap();
    assert_eq!(rows, crate::schema::latest_version());
}

/// Rollups: answers read from them equal the raw answers, they are really read,
/// and they stay exact when late events arrive, across restarts and deletions.
mod rollups {
    use super::*;
    use chrono::{DateTime, Duration, Utc};
    use serde_json::json;
    use tally_query::trends::{TrendsAnswer, TrendsRequest};

    /// A deterministic spread of events over 12 days around the 2026 spring
    /// clock change in Europe, of two projects: persons with and without ids
    /// (one merged into another), bots, `$browser` set or not, several names.
    fn dataset() -> Vec<tally_core::Event> {
        let start = conformance_at("2026-03-22T00:00:00Z");
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let names = ["$pageview", "$pageview", "$pageview", "signup", "purchase"];
        let browsers = [Some("Chrome"), Some("Firefox"), Some("Safari"), None];
        let mut events: Vec<tally_core::Event> = (0..3000)
            .map(|_| {
                let project = 1 + (next(10) == 0) as i64;
                let minutes = next(12 * 24 * 60) as i64;
                let ts = start + Duration::minutes(minutes) + Duration::seconds(next(60) as i64);
                let who = format!("u{}", next(40));
                let mut e = event(project, names[next(5) as usize], &who, &ts.to_rfc3339());
                // Half the persons carry ids (as after the persons stage): 1..=20.
                let n: i64 = who[1..].parse().unwrap();
                if n < 20 {
                    e.person_id = Some(n + 1);
                }
                e.is_bot = next(15) == 0;
                if let Some(b) = browsers[next(4) as usize] {
                    e.properties.insert("$browser".into(), json!(b));
                }
                // Two in three events carry a `$session_id`: 90-minute blocks
                // (sessions across hours), and for u7 two-day blocks (sessions
                // longer than the overview's lookback, across range ends).
                // Pageviews of five pages (and one without a path), for paths.
                if e.event == "$pageview" {
                    let pages = ["/", "/pricing", "/docs", "/signup", "/blog"];
                    let i = (minutes as usize / 7 + n as usize) % 6;
                    e.path = pages.get(i).map(|p| p.to_string());
                }
                e.session_id = match (next(3), n) {
                    (0, _) => None,
                    (_, 7) => Some(format!("{who}-{}", minutes / 2880)),
                    _ => Some(format!("{who}-{}", minutes / 90)),
                };
                e
            })
            .collect();
        // Ten newcomers of project 1, the i-th first seen on day 2 + i and
        // active for three days: first-time cohorts inside the ranges.
        for i in 0..10u64 {
            for _ in 0..20 {
                let minutes = ((2 + i) * 24 * 60 + next(3 * 24 * 60)) as i64;
                let ts = start + Duration::minutes(minutes);
                let name = names[next(5) as usize];
                events.push(event(1, name, &format!("n{i}"), &ts.to_rfc3339()));
            }
        }
        // Same-instant pageviews of one person: u0 and u1 (persons 1 and 2,
        // merged into one by `merge_two_into_one`) and twice u3, on different
        // pages, which paths and funnels take in one order raw or rolled up.
        for (i, (who, page)) in [
            ("u0", "/docs"),
            ("u1", "/blog"),
            ("u3", "/docs"),
            ("u3", "/"),
        ]
        .into_iter()
        .enumerate()
        {
            for day in 0..4 {
                let ts = start + Duration::days(3 + day) + Duration::minutes(30);
                let mut e = event(1, "$pageview", who, &ts.to_rfc3339());
                e.path = Some(page.to_string());
                e.person_id = Some(who[1..].parse::<i64>().unwrap() + 1);
                events.push(e);
                if i == 0 {
                    let later = ts + Duration::seconds(1);
                    events.push(event(1, "signup", who, &later.to_rfc3339()));
                }
            }
        }
        // Persons 31 and 32 (merged into 31 by `merge_two_into_one`): on day
        // 4 their events interleave in one hour, b and c at one instant. m2's
        // row, thinned for the funnel a → b as if it were a whole person,
        // would keep only the a after b. On day 5 the other way round: m1's
        // row (the key kept) would, thinned for p → q, lose the p before m2's q.
        for (day, who, name, minute) in [
            (4, "m2", "a_step", 20),
            (4, "m1", "b_step", 40),
            (4, "m2", "c_step", 40),
            (4, "m2", "a_step", 50),
            (5, "m1", "p_step", 20),
            (5, "m2", "q_step", 40),
            (5, "m1", "p_step", 50),
        ] {
            let ts = start + Duration::hours(day * 24 + 10) + Duration::minutes(minute);
            let mut e = event(1, name, who, &ts.to_rfc3339());
            e.person_id = Some(if who == "m1" { 31 } else { 32 });
            events.push(e);
        }
        // Eight persons each sending `x_view` and `x_done` at one instant.
        for i in 0..8 {
            let ts = start + Duration::hours(5 * 24 + 3) + Duration::minutes(i);
            for name in ["x_done", "x_view"] {
                events.push(event(1, name, &format!("t{i}"), &ts.to_rfc3339()));
            }
        }
        events
    }

    fn conformance_at(s: &str) -> DateTime<Utc> {
        tally_query::conformance::at(s)
    }

    /// Runs a statement on the writer's connection, as the store itself would.
    fn on_writer(db: &DuckDb, sql: &str) {
        db.inner
            .writer
            .lock()
            .unwrap()
            .conn
            .execute_batch(sql)
            .unwrap();
    }

    /// Person 2 merged into person 1, 32 into 31 (as `person_overrides`
    /// records a merge).
    fn merge_two_into_one(db: &DuckDb) {
        on_writer(
            db,
            "INSERT INTO person_overrides VALUES (1, 2, 1), (1, 32, 31)",
        );
    }

    fn requests() -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let ranges = [
            ("2026-03-22T05:17:00Z", "2026-04-02T20:45:30Z"),
            ("2026-03-28T00:00:00Z", "2026-03-31T00:00:00Z"),
            ("2026-03-29T00:30:00Z", "2026-03-29T03:30:00Z"),
        ];
        for (from, to) in ranges {
            for tz in ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"] {
                for interval in ["hour", "day", "week", "month"] {
                    for breakdown in [json!(null), json!({"property": "$browser", "limit": 2})] {
                        out.push(json!({
                            "series": [
                                {"event": "$pageview", "math": "total"},
                                {"math": "unique_persons"},
                                {"event": "$pageview", "math": "per_person_avg"},
                            ],
                            "date_from": from, "date_to": to, "tz": tz,
                            "interval": interval, "breakdown": breakdown,
                            "compare": true,
                        }));
                    }
                }
            }
        }
        out.push(json!({
            "series": [{"math": "total"}, {"event": "signup", "math": "unique_persons"}],
            "date_from": "2026-03-22T00:00:00Z", "date_to": "2026-04-03T00:00:00Z",
            "include_bots": true,
        }));
        out
    }

    /// The answers to `requests` (every `step`-th of them) for a project.
    async fn answers(db: &DuckDb, project: i64, step: usize) -> Vec<TrendsAnswer> {
        let now = conformance_at("2026-04-10T00:00:00Z");
        let mut out = Vec::new();
        for r in requests().into_iter().step_by(step) {
            let q = serde_json::from_value::<TrendsRequest>(r)
                .unwrap()
                .resolve(project, now)
                .unwrap();
            out.push(db.trends(q).await.unwrap());
        }
        out
    }

    /// Each project's hours that hold events.
    const HOURS_WITH_EVENTS: &str =
        "SELECT count(DISTINCT (project_id, date_trunc('hour', timestamp))) FROM events";

    fn count(db: &DuckDb, sql: &str) -> i64 {
        db.read(|c| {
            c.query_row(sql, [], |r| r.get(0))
                .map_err(crate::store::internal)
        })
        .unwrap()
    }

    #[tokio::test]
    async fn rollup_answers_equal_raw_answers_and_are_read() {
        let (db, _dir) = fresh();
        db.insert_batch(dataset().into()).await.unwrap();
        merge_two_into_one(&db);
        let with_events = count(&db, HOURS_WITH_EVENTS);
        assert!(with_events > 200, "{with_events} hours");
        assert_eq!(count(&db, "SELECT count(*) FROM rollup_dirty"), with_events);
        // Project 2 (a tenth of the events) checks isolation on a sample.
        db.set_reads_rollups(false);
        let raw = [answers(&db, 1, 1).await, answers(&db, 2, 7).await];
        db.set_reads_rollups(true);
        let hours = db.compact_rollups(None).unwrap();
        assert_eq!(hours as i64, with_events);
        assert_eq!(count(&db, "SELECT count(*) FROM rollup_dirty"), 0);
        let rolled = [answers(&db, 1, 1).await, answers(&db, 2, 7).await];
        for (p, (raw, rolled)) in raw.iter().zip(&rolled).enumerate() {
            let step = [1, 7][p];
            for (i, (a, b)) in raw.iter().zip(rolled).enumerate() {
                // Not assert_eq: the answers are thousands of points long.
                let request = &requests()[i * step];
                assert!(
                    a == b,
                    "project {} request {} differs: {request}",
                    p + 1,
                    i * step
                );
            }
        }
        // The answers above came from the rollup rows: change those and the
        // answers change (the raw events are untouched).
        on_writer(&db, "UPDATE rollup_hourly SET events = events * 1000");
        let skewed = answers(&db, 1, requests().len()).await;
        assert!(
            skewed[0] != raw[0][0],
            "a total over covered hours reads rollups"
        );
    }

    /// `/timeseries` and `/top-events` of every range, zone, interval and math,
    /// and overviews, as JSON (what the API answers).
    async fn dashboard_answers(db: &DuckDb, project: i64) -> Vec<serde_json::Value> {
        use tally_query::{Interval, Math, TimeRange, TimeseriesQuery, TopEventsQuery};
        let mut out = Vec::new();
        for (from, to) in [
            ("2026-03-22T05:17:00Z", "2026-04-02T20:45:30Z"),
            ("2026-03-29T00:30:00Z", "2026-03-29T03:30:00Z"),
        ] {
            let range = TimeRange {
                from: conformance_at(from),
                to: conformance_at(to),
            };
            for include_bots in [false, true] {
                let q = TopEventsQuery {
                    project_id: project,
                    range,
                    limit: 3,
                    include_bots,
                };
                out.push(serde_json::to_value(db.top_events(q).await.unwrap()).unwrap());
            }
            for tz in ["UTC", "Europe/Berlin", "Asia/Kolkata"] {
                let tz = tally_query::parse_tz(Some(tz)).unwrap();
                for interval in [Interval::Hour, Interval::Day] {
                    for math in [Math::Total, Math::UniqueUsers] {
                        for event in [None, Some("signup".to_owned())] {
                            let q = TimeseriesQuery::new(project, event, interval, range, tz, math)
                                .unwrap();
                            out.push(
                                serde_json::to_value(db.timeseries(q).await.unwrap()).unwrap(),
                            );
                        }
                    }
                }
            }
        }
        // Session lists: every sort, both directions, a second page, bots in
        // and out.
        for (from, to) in [
            ("2026-03-28T10:30:00Z", "2026-04-02T10:30:00Z"),
            ("2026-03-30T00:00:00Z", "2026-03-31T00:00:00Z"),
        ] {
            for include_bots in [false, true] {
                for sort in ["start", "duration", "events", "pageviews"] {
                    for (descending, offset) in [(true, 0), (false, 0), (true, 20)] {
                        let q = tally_query::SessionsQuery {
                            project_id: project,
                            range: TimeRange {
                                from: conformance_at(from),
                                to: conformance_at(to),
                            },
                            inactivity: chrono::Duration::minutes(30),
                            limit: 20,
                            offset,
                            include_bots,
                            sort: sort.parse().unwrap(),
                            descending,
                        };
                        out.push(serde_json::to_value(db.sessions(q).await.unwrap()).unwrap());
                    }
                }
            }
        }
        // Overviews last: a range starting mid-hour (the hour across the seam
        // of the two ranges is read raw) and one of whole days.
        for (from, to) in [
            ("2026-03-28T10:30:00Z", "2026-04-02T10:30:00Z"),
            ("2026-03-28T00:00:00Z", "2026-04-03T00:00:00Z"),
        ] {
            for include_bots in [false, true] {
                let q = tally_query::OverviewQuery {
                    project_id: project,
                    range: TimeRange {
                        from: conformance_at(from),
                        to: conformance_at(to),
                    },
                    include_bots,
                    filters: Default::default(),
                };
                out.push(serde_json::to_value(db.overview(q).await.unwrap()).unwrap());
            }
        }
        out
    }

    #[tokio::test]
    async fn dashboard_timeseries_top_events_and_overview_on_rollups_equal_raw() {
        let (db, _dir, raw) =
            rolled_up_equals_raw("dashboard", async |db| dashboard_answers(db, 1).await).await;
        // They were read from the rollups: skew those and the answers change.
        on_writer(&db, "UPDATE rollup_hourly SET events = events * 1000");
        let skewed = dashboard_answers(&db, 1).await;
        assert!(skewed[0] != raw[0], "top events read rollups");
        assert!(skewed[2] != raw[2], "a timeseries reads rollups");
        assert!(
            skewed.last() != raw.last(),
            "the overview's event cards read rollups"
        );
        // Without bots, its session cards read `rollup_sessions`; with bots, events.
        on_writer(&db, "UPDATE rollup_sessions SET pageviews = pageviews + 1");
        let skewed = dashboard_answers(&db, 1).await;
        let bounces = |a: &serde_json::Value| a["current"]["bounce_rate"].clone();
        let n = raw.len();
        assert_ne!(bounces(&skewed[n - 2]), bounces(&raw[n - 2]));
        assert_eq!(bounces(&skewed[n - 1]), bounces(&raw[n - 1]));
        // So do the session lists without bots (the first 12 lists of the
        // first range), and not with bots (the next 12).
        on_writer(&db, "UPDATE rollup_sessions SET entry_path = '/skewed'");
        let skewed = dashboard_answers(&db, 1).await;
        let first_list = raw.len() - 4 - 48;
        let entries = |a: &serde_json::Value| a["results"].to_string().contains("/skewed");
        assert!(entries(&skewed[first_list]), "session lists read rollups");
        assert!(!entries(&skewed[first_list + 12]), "not with bots");
        assert!(!entries(&raw[first_list]));
        // The raw reference reads no rollup: skewed rows leave it as it was.
        let reference = raw_answers(&db, async |db| dashboard_answers(db, 1).await).await;
        assert!(reference == raw, "the reference reads events only");
    }

    /// An event stored late in a session whose row is already written counts
    /// in the session cards at once, and the same after compaction.
    #[tokio::test]
    async fn a_late_event_in_a_rolled_up_session_counts_at_once() {
        let (db, _dir) = fresh();
        db.insert_batch(dataset().into()).await.unwrap();
        db.compact_rollups(None).unwrap();
        let overview = async || {
            let q = tally_query::OverviewQuery {
                project_id: 1,
                range: tally_query::TimeRange {
                    from: conformance_at("2026-03-28T00:00:00Z"),
                    to: conformance_at("2026-04-03T00:00:00Z"),
                },
                include_bots: false,
                filters: Default::default(),
            };
            db.overview(q).await.unwrap().current
        };
        let before = overview().await;
        // A session of 30 March gets a pageview 10 hours after it began: it
        // now lasts ~10 hours, so the mean length grows.
        let (sid, started): (String, i64) = db
            .read(|c| {
                c.query_row(
                    "SELECT session_id, epoch_us(started) FROM rollup_sessions WHERE project_id = 1 \
                     AND started >= TIMESTAMP '2026-03-30 00:00:00' ORDER BY started LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(crate::store::internal)
            })
            .unwrap();
        let at = DateTime::from_timestamp_micros(started).unwrap() + Duration::hours(10);
        let who = sid.split('-').next().unwrap();
        let mut late = event(1, "$pageview", who, &at.to_rfc3339());
        late.session_id = Some(sid);
        db.insert_batch(vec![late].into()).await.unwrap();
        let after = overview().await;
        assert_eq!(after.sessions, before.sessions);
        assert!(
            after.avg_session_secs.unwrap() > before.avg_session_secs.unwrap(),
            "{after:?} vs {before:?}"
        );
        db.compact_rollups(None).unwrap();
        assert_eq!(overview().await, after);
    }

    /// `answers` of a store from events only (no rollup read at all), the
    /// raw reference.
    async fn raw_answers<T>(db: &DuckDb, answers: impl AsyncFn(&DuckDb) -> Vec<T>) -> Vec<T> {
        db.set_reads_rollups(false);
        let raw = answers(db).await;
        db.set_reads_rollups(true);
        raw
    }

    /// A store holding the dataset (person 2 merged into person 1) and
    /// `answers` of it three times: from events only (the raw reference), as
    /// queries answer before compaction (hours without events count as rolled
    /// up, so some rollup SQL runs already) and with every hour rolled up: they
    /// must be equal (a difference is reported by its index). Returns the store
    /// and the raw answers.
    async fn rolled_up_equals_raw<T: PartialEq>(
        what: &str,
        answers: impl AsyncFn(&DuckDb) -> Vec<T>,
    ) -> (DuckDb, tempfile::TempDir, Vec<T>) {
        let (db, dir) = fresh();
        db.insert_batch(dataset().into()).await.unwrap();
        merge_two_into_one(&db);
        let raw = raw_answers(&db, &answers).await;
        let dirty = answers(&db).await;
        db.compact_rollups(None).unwrap();
        let rolled = answers(&db).await;
        for (when, answers) in [("before compaction", dirty), ("rolled up", rolled)] {
            assert_eq!(raw.len(), answers.len());
            for (i, (a, b)) in raw.iter().zip(&answers).enumerate() {
                // Not assert_eq: some answers are thousands of points long.
                assert!(a == b, "{what} answer {i} differs {when}");
            }
        }
        (db, dir, raw)
    }

    /// Retention requests over the dataset: day and week periods ending inside
    /// it (so first-time cohorts look at the days before), zones with and
    /// without a clock change and a half-hour zone (read raw), both cohort
    /// kinds, start and return events named or any, bots in and out.
    fn retention_requests() -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let events = [
            (json!({}), json!({})),
            (json!({"event": "$pageview"}), json!({"event": "signup"})),
            (json!({"event": "signup"}), json!({})),
        ];
        for (period, periods, date_to) in [
            ("day", 5, "2026-03-31T12:00:00Z"),
            ("week", 2, "2026-04-02T00:00:00Z"),
        ] {
            for tz in ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"] {
                for cohort in ["first_time", "recurring"] {
                    for (start, ret) in &events {
                        out.push(json!({
                            "start_event": start, "return_event": ret,
                            "period": period, "periods": periods, "date_to": date_to,
                            "tz": tz, "cohort": cohort,
                        }));
                    }
                }
            }
        }
        out.push(json!({
            "start_event": {"event": "signup"}, "return_event": {"event": "purchase"},
            "periods": 6, "date_to": "2026-04-01T00:00:00Z", "include_bots": true,
        }));
        out
    }

    async fn retention_answers(
        db: &DuckDb,
        requests: &[serde_json::Value],
    ) -> Vec<tally_query::retention::RetentionAnswer> {
        let now = conformance_at("2026-04-10T00:00:00Z");
        let mut out = Vec::new();
        for r in requests {
            let q = serde_json::from_value::<tally_query::retention::RetentionRequest>(r.clone())
                .unwrap()
                .resolve(1, now)
                .unwrap();
            out.push(db.retention(q).await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn retention_on_rollups_equals_raw_and_reads_them() {
        let requests = retention_requests();
        let (db, _dir, raw) = rolled_up_equals_raw("retention", async |db| {
            retention_answers(db, &requests).await
        })
        .await;
        assert!(
            raw[0].cohorts.iter().any(|c| c.size > 0),
            "newcomers make first-time cohorts: {}",
            requests[0]
        );
        // Without the rollup rows of `signup` (its hours still listed as
        // covered), cohorts of signups read from rollups are empty.
        on_writer(&db, "DELETE FROM rollup_hourly WHERE event = 'signup'");
        let recurring_signups = &requests[5];
        assert_eq!(recurring_signups["cohort"], "recurring");
        let skewed = retention_answers(&db, std::slice::from_ref(recurring_signups)).await;
        assert_ne!(skewed[0], raw[5], "{recurring_signups}");
        assert!(
            skewed[0].cohorts.iter().all(|c| c.size == 0),
            "every hour of the range is covered"
        );
    }

    /// Stickiness and lifecycle answers (as JSON) over ragged and whole ranges,
    /// hour/day/week intervals, 4 zones (Asia/Kolkata reads raw), an event or any.
    async fn activity_answers(db: &DuckDb) -> Vec<serde_json::Value> {
        use tally_query::activity::ActivityRequest;
        let now = conformance_at("2026-04-10T00:00:00Z");
        let mut out = Vec::new();
        for (from, to, interval) in [
            ("2026-03-25T05:17:00Z", "2026-04-02T20:45:30Z", "day"),
            ("2026-03-26T00:00:00Z", "2026-04-03T00:00:00Z", "week"),
            ("2026-03-29T00:30:00Z", "2026-03-29T09:30:00Z", "hour"),
        ] {
            for tz in ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"] {
                for event in [json!({}), json!({"event": "signup"})] {
                    let request = json!({"event": event, "date_from": from, "date_to": to,
                        "interval": interval, "tz": tz});
                    let q = || {
                        serde_json::from_value::<ActivityRequest>(request.clone())
                            .unwrap()
                            .resolve(1, now)
                            .unwrap()
                    };
                    out.push(serde_json::to_value(db.stickiness(q()).await.unwrap()).unwrap());
                    out.push(serde_json::to_value(db.lifecycle(q()).await.unwrap()).unwrap());
                }
            }
        }
        out
    }

    #[tokio::test]
    async fn stickiness_and_lifecycle_on_rollups_equal_raw_and_read_them() {
        let (db, _dir, raw) = rolled_up_equals_raw("activity", activity_answers).await;
        // Person keys changed in the rollup rows: the persons they count change.
        on_writer(&db, "UPDATE rollup_hourly SET person = person + 1000003");
        let skewed = activity_answers(&db).await;
        assert!(skewed[0] != raw[0], "stickiness reads rollups");
        assert!(skewed[1] != raw[1], "lifecycle reads rollups");
    }

    /// First-time cohorts on rollups still see a late event before the range:
    /// its hour is not covered and is read from the events.
    #[tokio::test]
    async fn a_late_start_before_the_range_keeps_a_person_out_of_first_time_cohorts() {
        let (db, _dir) = fresh();
        db.insert_batch(dataset().into()).await.unwrap();
        db.compact_rollups(None).unwrap();
        let request = [json!({
            "start_event": {"event": "signup"}, "period": "day", "periods": 5,
            "date_to": "2026-04-01T12:00:00Z",
        })];
        let before = retention_answers(&db, &request).await.remove(0);
        assert_eq!(before.cohorts[2].start, "2026-03-30T00:00:00+00:00");
        let late = vec![
            event(1, "signup", "returning", "2026-03-23T10:20:00Z"),
            event(1, "signup", "returning", "2026-03-30T10:00:00Z"),
            event(1, "signup", "new", "2026-03-30T11:00:00Z"),
        ];
        db.insert_batch(late.into()).await.unwrap();
        let after = retention_answers(&db, &request).await.remove(0);
        assert_eq!(
            after.cohorts[2].size,
            before.cohorts[2].size + 1,
            "only `new` joins the cohort of 30 March"
        );
        db.compact_rollups(None).unwrap();
        assert_eq!(retention_answers(&db, &request).await.remove(0), after);
    }

    /// A daily total of `$pageview` in UTC over the dataset's 12 days.
    async fn daily_pageviews(db: &DuckDb) -> Vec<f64> {
        let q = serde_json::from_value::<TrendsRequest>(json!({
            "series": [{"event": "$pageview"}],
            "date_from": "2026-03-22T00:00:00Z", "date_to": "2026-04-03T00:00:00Z",
        }))
        .unwrap()
        .resolve(1, conformance_at("2026-04-10T00:00:00Z"))
        .unwrap();
        let a = db.trends(q).await.unwrap();
        a.results[0]
            .points
            .iter()
            .map(|p| p.value.unwrap())
            .collect()
    }

    #[tokio::test]
    async fn a_late_event_counts_at_once_and_its_hour_is_rolled_up_again() {
        let (db, _dir) = fresh();
        db.insert_batch(dataset().into()).await.unwrap();
        db.compact_rollups(None).unwrap();
        let before = daily_pageviews(&db).await;
        let late = event(1, "$pageview", "late", "2026-03-25T10:20:00Z");
        db.insert_batch(vec![late.clone()].into()).await.unwrap();
        let late_hour_dirty = "SELECT count(*) FROM rollup_dirty WHERE project_id = 1 \
                               AND hour = TIMESTAMP '2026-03-25 10:00:00'";
        assert_eq!(count(&db, late_hour_dirty), 1, "the hour is listed dirty");
        let mut expected = before.clone();
        expected[3] += 1.0;
        assert_eq!(daily_pageviews(&db).await, expected);
        // Sent again: a duplicate, stored once, counted once.
        db.insert_batch(vec![late].into()).await.unwrap();
        assert_eq!(db.compact_rollups(None).unwrap(), 1, "only the late hour");
        assert_eq!(count(&db, late_hour_dirty), 0);
        assert_eq!(daily_pageviews(&db).await, expected);
    }

    /// A sparse project (events in one hour a day, as a small site at night
    /// has none) still reads rollups over a long range: hours without events
    /// are not dirty, so the range is one stretch, not forty.
    #[tokio::test]
    async fn a_sparse_project_reads_rollups_across_its_empty_hours() {
        let (db, _dir) = fresh();
        let start = conformance_at("2026-02-01T10:00:00Z");
        let events: Vec<_> = (0..40)
            .flat_map(|day| {
                (0..3).map(move |i| {
                    let at = start + Duration::days(day) + Duration::minutes(10 * i);
                    event(1, "$pageview", &format!("u{}", day % 7), &at.to_rfc3339())
                })
            })
            .collect();
        db.insert_batch(events.into()).await.unwrap();
        let daily = || async {
            let q = serde_json::from_value::<TrendsRequest>(json!({
                "series": [{"event": "$pageview"}, {"math": "unique_persons"}],
                "date_from": "2026-02-01T00:00:00Z", "date_to": "2026-03-13T00:00:00Z",
            }))
            .unwrap()
            .resolve(1, conformance_at("2026-04-10T00:00:00Z"))
            .unwrap();
            db.trends(q).await.unwrap()
        };
        // Forty dirty hours, each a stretch of its own: read from events.
        let raw = daily().await;
        assert_eq!(raw.results[0].points[0].value, Some(3.0));
        assert_eq!(db.compact_rollups(None).unwrap(), 40);
        assert_eq!(daily().await, raw, "rollup answers equal raw answers");
        on_writer(&db, "UPDATE rollup_hourly SET events = events * 1000");
        let skewed = daily().await;
        assert_eq!(
            skewed.results[0].points[0].value,
            Some(3000.0),
            "the forty days were read from rollups"
        );
    }

    /// Funnel and paths answers (as JSON) of one project: loose and strict
    /// funnels with repeated steps and windows of an hour to two weeks, persons
    /// lists, and (read raw) a filter, a breakdown and bots; paths of pages and
    /// events from the start, from and to points, long and short, over ragged
    /// and whole ranges.
    /// `raw`: from the raw SQL (`funnel_sql`, `paths_sql`) whatever the
    /// rollups hold, else as the API answers.
    async fn walk_answers(db: &DuckDb, project: i64, raw: bool) -> Vec<serde_json::Value> {
        use tally_query::funnel::FunnelRequest;
        use tally_query::paths::PathsRequest;
        let now = conformance_at("2026-04-10T00:00:00Z");
        let mut out = Vec::new();
        let ranges = [
            ("2026-03-22T05:17:00Z", "2026-04-02T20:45:30Z"),
            ("2026-03-25T00:00:00Z", "2026-03-29T00:00:00Z"),
            ("2026-03-29T00:30:00Z", "2026-03-29T03:30:00Z"),
        ];
        let funnels = [
            json!({"steps": [{"event": "$pageview"}, {"event": "signup"}, {"event": "purchase"}]}),
            json!({"steps": [{"event": "$pageview"}, {"event": "$pageview"}, {"event": "signup"}],
                   "conversion_window_secs": 3600}),
            json!({"steps": [{"event": "signup"}, {"event": "purchase"}], "order": "strict",
                   "conversion_window_secs": 86400}),
            json!({"steps": [{"event": "$pageview"}, {"event": "signup"}], "order": "strict"}),
            json!({"steps": [{"event": "$pageview"}, {"event": "signup"}],
                   "persons": {"step": 1, "status": "dropped", "limit": 5}}),
            json!({"steps": [{"event": "$pageview"}, {"event": "purchase"}],
                   "persons": {"step": 1, "status": "reached"}}),
            json!({"steps": [{"event": "$pageview"}, {"event": "never_sent"}]}),
            json!({"steps": [{"event": "$pageview"}, {"event": "signup"}], "include_bots": true}),
            json!({"steps": [{"event": "$pageview"}, {"event": "signup"}],
                   "breakdown": {"property": "$browser"}}),
            json!({"steps": [{"event": "$pageview", "filters": {"key": "$browser", "operator": "eq", "value": "Chrome"}},
                   {"event": "signup"}]}),
            json!({"steps": [{"event": "a_step"}, {"event": "b_step"}, {"event": "c_step"}]}),
            json!({"steps": [{"event": "x_view"}, {"event": "x_done"}]}),
            json!({"steps": [{"event": "a_step"}, {"event": "b_step"}]}),
            json!({"steps": [{"event": "p_step"}, {"event": "q_step"}]}),
        ];
        let paths = [
            json!({}),
            json!({"start_point": "/pricing"}),
            json!({"end_point": "/signup", "steps": 2}),
            json!({"start_point": "/docs", "steps": 5, "limit": 3}),
            json!({"path_type": "events", "start_point": "signup"}),
            json!({"path_type": "events", "steps": 1}),
            json!({"start_point": "/nowhere"}),
            json!({"include_bots": true}),
            json!({"path_type": "events", "start_point": "a_step"}),
        ];
        for (from, to) in ranges {
            for f in &funnels {
                let mut r = f.clone();
                r["date_from"] = json!(from);
                r["date_to"] = json!(to);
                let q = serde_json::from_value::<FunnelRequest>(r)
                    .unwrap()
                    .resolve(project, now)
                    .unwrap();
                let answer = if raw {
                    crate::query::funnel_raw(db, &q).unwrap()
                } else {
                    db.funnel(q).await.unwrap()
                };
                out.push(serde_json::to_value(answer).unwrap());
            }
            for p in &paths {
                let mut r = p.clone();
                r["date_from"] = json!(from);
                r["date_to"] = json!(to);
                let q = serde_json::from_value::<PathsRequest>(r)
                    .unwrap()
                    .resolve(project, now)
                    .unwrap();
                let answer = if raw {
                    crate::query::paths_raw(db, &q).unwrap()
                } else {
                    db.paths(q).await.unwrap()
                };
                out.push(serde_json::to_value(answer).unwrap());
            }
        }
        out
    }

    /// The raw SQL's answers and the API's, before compaction (empty hours
    /// count as rolled up: timelines of no rows plus raw events), after it, and
    /// with half the hours compacted.
    #[tokio::test]
    async fn funnels_and_paths_on_timelines_equal_raw_and_read_them() {
        timelines_equal_raw(crate::DEFAULT_TIMELINE_CACHE_BYTES).await;
    }

    /// The same, with no rows kept in memory: the rows streamed from DuckDB.
    #[tokio::test]
    async fn funnels_and_paths_on_streamed_timelines_equal_raw() {
        timelines_equal_raw(0).await;
    }

    async fn timelines_equal_raw(timeline_cache_bytes: usize) {
        let dir = tempfile::tempdir().unwrap();
        let db = DuckDb::open(&DuckDbConfig {
            timeline_cache_bytes,
            ..DuckDbConfig::in_dir(dir.path())
        })
        .unwrap();
        db.insert_batch(dataset().into()).await.unwrap();
        merge_two_into_one(&db);
        let both = async |db: &DuckDb, raw: bool| {
            let mut out = walk_answers(db, 1, raw).await;
            out.extend(walk_answers(db, 2, raw).await);
            out
        };
        let raw = both(&db, true).await;
        let same = |what: &str, answers: &[serde_json::Value]| {
            assert_eq!(answers.len(), raw.len());
            for (i, (a, b)) in raw.iter().zip(answers).enumerate() {
                assert!(a == b, "answer {i} differs {what}: {a} != {b}");
            }
        };
        same("before compaction", &both(&db, false).await);
        db.compact_rollups(Some(conformance_at("2026-03-27T13:00:00Z")))
            .unwrap();
        assert!(count(&db, "SELECT count(*) FROM rollup_dirty") > 100);
        assert!(count(&db, "SELECT count(*) FROM rollup_timeline") > 100);
        assert_eq!(both(&db, true).await, raw);
        same("half rolled up", &both(&db, false).await);
        db.compact_rollups(None).unwrap();
        same("rolled up", &both(&db, false).await);
        same("rolled up, asked again", &both(&db, false).await);
        // The answers are not empty: persons convert and paths have links.
        let steps = |a: &serde_json::Value| -> Vec<i64> {
            a["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["count"].as_i64().unwrap())
                .collect()
        };
        assert!(steps(&raw[0]).iter().all(|&c| c > 0), "{}", raw[0]);
        assert!(
            raw[15]["links"].as_array().unwrap().len() > 3,
            "{}",
            raw[15]
        );
        // Hand-worked: the merged person does a, b, c, a in that order (b and
        // c at one instant, b stored for the lower person key), so gets through
        // a → b → c and a → b; the eight persons each convert at the instant
        // they start.
        assert_eq!(steps(&raw[10]), [1, 1, 1]);
        assert_eq!(steps(&raw[11]), [8, 8]);
        assert_eq!(steps(&raw[12]), [1, 1]);
        // And the merged person does p, q, p: through p → q.
        assert_eq!(steps(&raw[13]), [1, 1]);
        let links: Vec<(&str, &str)> = raw[22]["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["source"].as_str().unwrap(), l["target"].as_str().unwrap()))
            .collect();
        assert_eq!(
            links,
            [
                ("0:a_step", "1:b_step"),
                ("1:b_step", "2:c_step"),
                ("2:c_step", "3:a_step")
            ]
        );
    }

    #[tokio::test]
    async fn funnels_and_paths_read_timelines_and_see_late_events_at_once() {
        let (db, _dir) = fresh();
        db.insert_batch(dataset().into()).await.unwrap();
        merge_two_into_one(&db);
        db.compact_rollups(None).unwrap();
        let funnel = |steps: serde_json::Value| {
            serde_json::from_value::<tally_query::funnel::FunnelRequest>(json!({
                "steps": steps, "date_from": "2026-03-22T00:00:00Z",
                "date_to": "2026-04-03T00:00:00Z",
            }))
            .unwrap()
            .resolve(1, conformance_at("2026-04-10T00:00:00Z"))
            .unwrap()
        };
        let count_at = |a: &tally_query::funnel::FunnelAnswer, k: usize| a.steps[k].count;
        let steps = json!([{"event": "$pageview"}, {"event": "late_step"}]);
        let before = db.funnel(funnel(steps.clone())).await.unwrap();
        assert_eq!(count_at(&before, 1), 0);
        // A step event never seen before, in an hour rolled up long ago: its
        // hour is read from events until compacted, its name numbered by then.
        let mut late = event(1, "late_step", "u0", "2026-03-26T10:20:00Z");
        late.person_id = Some(1);
        db.insert_batch(vec![late].into()).await.unwrap();
        let now = db.funnel(funnel(steps.clone())).await.unwrap();
        assert_eq!(count_at(&now, 1), 1, "counted at once");
        assert_eq!(db.compact_rollups(None).unwrap(), 1);
        assert_eq!(db.funnel(funnel(steps)).await.unwrap(), now);
        // The answers come from the timeline rows: drop person 5's and the
        // funnel loses them (their events are untouched).
        let all = json!([{"event": "$pageview"}, {"event": "signup"}]);
        let whole = db.funnel(funnel(all.clone())).await.unwrap();
        on_writer(&db, "DELETE FROM rollup_timeline WHERE person = 5");
        // Until the hours' stamps change, from the copies kept in memory:
        assert_eq!(db.funnel(funnel(all.clone())).await.unwrap(), whole);
        // a new stamp (what compaction writes with an hour's new rows) has
        // the rows read again.
        on_writer(
            &db,
            "UPDATE rollup_stamps SET stamp = nextval('rollup_stamp_seq')",
        );
        let without = db.funnel(funnel(all)).await.unwrap();
        assert_eq!(count_at(&without, 0) + 1, count_at(&whole, 0));
    }

    /// Hostile event names and page paths (quotes, `;`, comments, unicode) are
    /// only data on the timeline path too: numbered, bound, walked, answered.
    #[tokio::test]
    async fn hostile_names_walk_timelines_as_data() {
        let (db, _dir) = fresh();
        let name = "x'); DROP TABLE events; -- \u{1F600}\"é";
        let page = "/a'/*b*/;--\u{0}ü";
        let mut events = Vec::new();
        for (who, minute) in [("h1", 0), ("h2", 10)] {
            let ts = |m: i64| format!("2026-03-25T10:{:02}:00Z", minute + m);
            let mut view = event(1, "$pageview", who, &ts(0));
            view.path = Some(page.to_string());
            events.push(view);
            events.push(event(1, name, who, &ts(1)));
        }
        db.insert_batch(events.into()).await.unwrap();
        db.compact_rollups(None).unwrap();
        assert!(count(&db, "SELECT count(*) FROM rollup_timeline") >= 2);
        let now = conformance_at("2026-04-10T00:00:00Z");
        let range = json!({"date_from": "2026-03-25T00:00:00Z", "date_to": "2026-03-26T00:00:00Z"});
        let mut funnel = json!({"steps": [{"event": "$pageview"}, {"event": name}]});
        funnel["date_from"] = range["date_from"].clone();
        funnel["date_to"] = range["date_to"].clone();
        let q = serde_json::from_value::<tally_query::funnel::FunnelRequest>(funnel)
            .unwrap()
            .resolve(1, now)
            .unwrap();
        let answer = db.funnel(q).await.unwrap();
        assert_eq!(
            answer.steps.iter().map(|s| s.count).collect::<Vec<_>>(),
            [2, 2]
        );
        let mut paths = json!({"path_type": "events", "start_point": "$pageview"});
        paths["date_from"] = range["date_from"].clone();
        paths["date_to"] = range["date_to"].clone();
        let q = serde_json::from_value::<tally_query::paths::PathsRequest>(paths)
            .unwrap()
            .resolve(1, now)
            .unwrap();
        let answer = db.paths(q).await.unwrap();
        assert_eq!(answer.links.len(), 1);
        assert_eq!(answer.links[0].target, format!("1:{name}"));
        assert_eq!(answer.links[0].persons, 2);
        let mut pages = json!({"start_point": page});
        pages["date_from"] = range["date_from"].clone();
        pages["date_to"] = range["date_to"].clone();
        let q = serde_json::from_value::<tally_query::paths::PathsRequest>(pages)
            .unwrap()
            .resolve(1, now)
            .unwrap();
        let answer = db.paths(q).await.unwrap();
        assert_eq!(answer.nodes[0].name, page);
        assert_eq!(answer.nodes[0].persons, 2);
        assert_eq!(
            count(&db, "SELECT count(*) FROM events"),
            4,
            "the table is still there"
        );
    }

    /// A store from before `rollup_sessions` opens with every hour holding
    /// events dirty, and its first compaction writes every session's row and
    /// every person timeline.
    #[tokio::test]
    async fn upgrading_rolls_every_hour_up_again_with_its_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let with_events;
        {
            let db = open(&dir);
            db.insert_batch(dataset().into()).await.unwrap();
            db.compact_rollups(None).unwrap();
            with_events = count(&db, HOURS_WITH_EVENTS);
            // Back to schema 6.
            on_writer(
                &db,
                "DROP TABLE rollup_sessions; DROP TABLE rollup_timeline; DROP TABLE rollup_names; \
                 DROP TABLE rollup_stamps; DROP SEQUENCE rollup_stamp_seq; \
                 DELETE FROM tally_migrations WHERE version >= 7;",
            );
        }
        let db = open(&dir);
        assert_eq!(count(&db, "SELECT count(*) FROM rollup_dirty"), with_events);
        assert_eq!(db.compact_rollups(None).unwrap() as i64, with_events);
        assert_eq!(
            count(&db, "SELECT count(*) FROM rollup_sessions"),
            count(
                &db,
                "SELECT count(DISTINCT (project_id, session_id)) FROM events WHERE NOT is_bot AND session_id IS NOT NULL"
            )
        );
        // And every person-hour's timeline, holding every non-bot event.
        assert_eq!(
            count(&db, "SELECT count(*) FROM rollup_timeline"),
            count(
                &db,
                "SELECT count(DISTINCT (project_id, coalesce(person_id, -1 - (hash(distinct_id) >> 2)::BIGINT), \
                 date_trunc('hour', timestamp))) FROM events WHERE NOT is_bot"
            )
        );
        assert_eq!(
            count(
                &db,
                "SELECT coalesce(sum(len(event)), 0) FROM rollup_timeline"
            ),
            count(&db, "SELECT count(*) FROM events WHERE NOT is_bot")
        );
        // Each hour rewritten got a stamp of its own.
        assert_eq!(
            count(&db, "SELECT count(DISTINCT stamp) FROM rollup_stamps"),
            with_events
        );
    }

    /// A store from before `rollup_stamps` gives every hour with timeline rows
    /// a stamp on opening, and funnels read its rows (into memory) as before.
    #[tokio::test]
    async fn upgrading_stamps_the_hours_with_timelines() {
        let dir = tempfile::tempdir().unwrap();
        let (hours, answer);
        {
            let db = open(&dir);
            db.insert_batch(dataset().into()).await.unwrap();
            db.compact_rollups(None).unwrap();
            hours = count(
                &db,
                "SELECT count(DISTINCT (project_id, hour)) FROM rollup_timeline",
            );
            answer = walk_answers(&db, 1, true).await;
            on_writer(
                &db,
                "DROP TABLE rollup_stamps; DROP SEQUENCE rollup_stamp_seq; \
                 DELETE FROM tally_migrations WHERE version >= 10;",
            );
        }
        let db = open(&dir);
        assert!(hours > 10);
        assert_eq!(
            count(&db, "SELECT count(DISTINCT stamp) FROM rollup_stamps"),
            hours
        );
        assert_eq!(
            count(&db, "SELECT count(*) FROM rollup_stamps s JOIN rollup_timeline t USING (project_id, hour)"),
            count(&db, "SELECT count(*) FROM rollup_timeline")
        );
        assert_eq!(count(&db, "SELECT count(*) FROM rollup_dirty"), 0);
        assert_eq!(walk_answers(&db, 1, false).await, answer);
    }

    #[tokio::test]
    async fn hours_still_open_wait_and_reopening_finds_what_is_left() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = open(&dir);
            db.insert_batch(dataset().into()).await.unwrap();
            let sealed = conformance_at("2026-03-30T00:00:00Z");
            let early = db.compact_rollups(Some(sealed)).unwrap();
            let dirty_after_seal = count(
                &db,
                "SELECT count(*) FROM rollup_dirty WHERE hour >= TIMESTAMP '2026-03-30 00:00:00'",
            );
            let event_hours_after_seal = count(
                &db,
                &format!("{HOURS_WITH_EVENTS} WHERE timestamp >= TIMESTAMP '2026-03-30 00:00:00'"),
            );
            assert_eq!(
                dirty_after_seal, event_hours_after_seal,
                "every hour ending after the seal is still dirty"
            );
            assert_eq!(
                count(&db, "SELECT count(*) FROM rollup_dirty"),
                event_hours_after_seal,
                "and no other"
            );
            assert!(early > 0);
        }
        let db = open(&dir);
        let rest = db.compact_rollups(None).unwrap();
        assert!(rest > 0, "the hours left are found again on opening");
        assert_eq!(db.compact_rollups(None).unwrap(), 0);
        let db = {
            drop(db);
            open(&dir)
        };
        assert_eq!(
            db.compact_rollups(None).unwrap(),
            0,
            "and nothing after that"
        );
        assert_eq!(count(&db, "SELECT count(*) FROM rollup_dirty"), 0);
        assert_eq!(
            count(
                &db,
                "SELECT count(DISTINCT (project_id, hour)) FROM rollup_hourly"
            ),
            count(&db, HOURS_WITH_EVENTS)
        );
        let total = count(&db, "SELECT count(*) FROM events");
        assert_eq!(
            count(&db, "SELECT sum(events)::BIGINT FROM rollup_hourly"),
            total
        );
    }

    #[tokio::test]
    async fn deleting_a_project_deletes_its_rollups() {
        let (db, _dir) = fresh();
        db.insert_batch(dataset().into()).await.unwrap();
        db.compact_rollups(None).unwrap();
        // A dirty hour in each project.
        let late = [1, 2].map(|p| event(p, "$pageview", "late", "2026-03-25T10:20:00Z"));
        db.insert_batch(late.to_vec().into()).await.unwrap();
        db.delete_project(1).await.unwrap();
        let rows = |table: &str, project: i64| {
            count(
                &db,
                &format!("SELECT count(*) FROM {table} WHERE project_id = {project}"),
            )
        };
        assert_eq!(rows("rollup_hourly", 1), 0);
        assert_eq!(rows("rollup_dirty", 1), 0);
        assert!(rows("rollup_hourly", 2) > 0, "other projects keep theirs");
        assert_eq!(rows("rollup_dirty", 2), 1);
        assert_eq!(daily_pageviews(&db).await.iter().sum::<f64>(), 0.0);
        // The writer forgot project 1's dirty hour: compaction finds project 2's only.
        assert_eq!(db.compact_rollups(None).unwrap(), 1);
    }
}

#[tokio::test]
async fn a_prepared_batch_is_stored_as_is_only_when_every_event_is_new() {
    use tally_query::{DefinitionKind, DefinitionsQuery};
    let (db, _dir) = fresh();
    let signups = async |db: &DuckDb| {
        let q = DefinitionsQuery {
            project_id: 1,
            kind: DefinitionKind::Event,
            search: Some("signup".into()),
            limit: 10,
        };
        db.definitions(q).await.unwrap().results[0].count
    };
    let first: Vec<_> = (0..3)
        .map(|i| event(1, "signup", &format!("u{i}"), "2026-11-01T10:00:00Z"))
        .collect();
    let prepared = db.prepare(&first);
    assert!(prepared.is_some(), "DuckDB encodes ahead");
    let out = db
        .insert_prepared(first.clone().into(), prepared)
        .await
        .unwrap();
    assert_eq!((out.inserted, out.duplicates), (3, 0));
    assert_eq!(db.stored_events(), 3);
    assert_eq!(signups(&db).await, 3);

    // Prepared with an event already stored: that one must not be stored again,
    // nor counted again in the definitions.
    let mut second = vec![first[0].clone()];
    second.push(event(1, "signup", "u9", "2026-11-01T11:00:00Z"));
    let prepared = db.prepare(&second);
    let out = db.insert_prepared(second.into(), prepared).await.unwrap();
    assert_eq!((out.inserted, out.duplicates), (1, 1));
    assert_eq!(db.stored_events(), 4);
    assert_eq!(signups(&db).await, 4);
    let q = EventsQuery::all(1, 10);
    assert_eq!(db.events(q).await.unwrap().results.len(), 4);
}

#[tokio::test]
async fn a_batch_prepared_in_parallel_chunks_is_stored_and_counted_whole() {
    use tally_query::{DefinitionKind, DefinitionsQuery};
    let (db, _dir) = fresh();
    let n = 3 * tally_core::parallel::MIN_PARALLEL + 5;
    let events: Vec<_> = (0..n)
        .map(|i| {
            let mut e = event(1, "view", &format!("u{}", i % 50), "2026-11-01T10:00:00Z");
            e.timestamp += chrono::Duration::seconds(i as i64);
            // Only the last chunk's events carry `late`, typed there.
            if i >= n - 10 {
                e.properties.insert("late".into(), serde_json::json!(1.5));
            }
            e
        })
        .collect();
    let prepared = db.prepare(&events);
    let out = db.insert_prepared(events.into(), prepared).await.unwrap();
    assert_eq!(out.inserted, n);
    let rows: i64 = db
        .read(|c| {
            c.query_row("SELECT count(*) FROM events", [], |r| r.get(0))
                .map_err(crate::store::internal)
        })
        .unwrap();
    assert_eq!(rows, n as i64);
    let definition = async |kind, name: &str| {
        let q = DefinitionsQuery {
            project_id: 1,
            kind,
            search: Some(name.into()),
            limit: 10,
        };
        db.definitions(q)
            .await
            .unwrap()
            .results
            .into_iter()
            .find(|d| d.name == name)
            .unwrap()
    };
    let view = definition(DefinitionKind::Event, "view").await;
    assert_eq!(view.count, n as u64);
    assert_eq!(
        (view.last_seen - view.first_seen).num_seconds(),
        n as i64 - 1,
        "first and last seen span every chunk"
    );
    let late = definition(DefinitionKind::Property, "late").await;
    assert_eq!(
        (late.count, late.property_type.as_deref()),
        (10, Some("Numeric"))
    );
}
