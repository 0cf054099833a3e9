//! `tally querybench --clickhouse URL`: the same events in DuckDB and in
//! ClickHouse, every query kind timed on both engines side by side, and the
//! ClickHouse engine beside hand-written ClickHouse SQL for the same answer.
//!
//! The ClickHouse database is filled from the DuckDB store first (the same
//! events, uuids and all) when it holds none; a database holding another
//! number of events is refused rather than compared. Runs alternate (DuckDB,
//! ClickHouse, hand-written, …) so all see the same noise; each line says
//! whether all three gave the same answer (a fingerprint of it). The
//! hand-written SQL answers the general question (merged persons followed,
//! sessions cut by inactivity where there is no SDK id), not a shortcut the
//! seeded data would allow, in what ClickHouse 18.16 accepts.

use super::{median_and_max, QueryBenchArgs};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::future::Future;
use std::time::Instant;
use tally_clickhouse::{ClickHouse, ClickHouseConfig};
use tally_core::{EventStore, ProjectId};
use tally_duckdb::DuckDb;
use tally_query::types::{OverviewQuery, SessionSort, SessionsQuery, TimeRange};
use tally_query::QueryEngine;

/// Events per copied batch.
const COPY_BATCH: usize = 50_000;

/// The events with the person each counts as (merges followed, events without
/// a person by their distinct id's key), between two instants (µs), bots out:
/// how someone writing the query by hand would start.
fn events_with_person(project: ProjectId, from: i64, to: i64) -> String {
    format!(
        "(SELECT *, if(isNull(person_id), -1 - toInt64(intDiv(cityHash64(distinct_id), 4)), \
         if(merged != 0, merged, assumeNotNull(person_id))) AS person FROM events \
         ANY LEFT JOIN (SELECT toNullable(old_person_id) AS person_id, merged FROM \
         (SELECT old_person_id, argMax(person_id, version) AS merged FROM person_overrides \
         WHERE project_id = {project} GROUP BY old_person_id)) AS o USING (person_id) \
         WHERE project_id = {project} AND timestamp >= {from} AND timestamp < {to} AND is_bot = 0)"
    )
}

/// Copies the project's events from DuckDB into ClickHouse when ClickHouse
/// holds none of them.
async fn fill(duck: &DuckDb, ch: &ClickHouse, project: ProjectId) -> anyhow::Result<()> {
    let stored = duck.stored_events() as f64;
    let there = ch
        .read_numbers(&format!(
            "SELECT count() FROM events WHERE project_id = {project}"
        ))
        .await?;
    let there = there
        .first()
        .and_then(|r| r.first())
        .copied()
        .unwrap_or(0.0);
    if there == stored {
        println!("ClickHouse holds the same {stored} events");
        return Ok(());
    }
    anyhow::ensure!(
        there == 0.0,
        "the ClickHouse database holds {there} events of project {project}, DuckDB {stored}: \
         give querybench an empty database to fill"
    );
    let started = Instant::now();
    let mut last = None;
    let mut copied = 0;
    loop {
        let batch = {
            let duck = duck.clone();
            tokio::task::spawn_blocking(move || {
                duck.events_in_order(project, last.as_ref(), COPY_BATCH)
            })
            .await??
        };
        let Some(tail) = batch.last().cloned() else {
            break;
        };
        copied += batch.len();
        ch.insert_batch(std::sync::Arc::new(batch)).await?;
        last = Some(tail);
    }
    println!(
        "copied {copied} events into ClickHouse in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One line: DuckDB's engine, ClickHouse's engine and the hand-written
/// ClickHouse SQL (whose rows `hand` turns into the same fingerprint).
#[allow(clippy::too_many_arguments)]
async fn side_by_side<D, DF, C, CF>(
    args: &QueryBenchArgs,
    ch: &ClickHouse,
    name: &str,
    duck: D,
    click: C,
    sql: Option<String>,
    hand: impl Fn(&[Vec<f64>]) -> Vec<f64>,
) -> anyhow::Result<()>
where
    D: Fn() -> DF,
    DF: Future<Output = anyhow::Result<Vec<f64>>>,
    C: Fn() -> CF,
    CF: Future<Output = anyhow::Result<Vec<f64>>>,
{
    if !args.wants(name) {
        return Ok(());
    }
    match measure(args, ch, duck, click, sql, hand).await {
        Ok(line) => println!("{name:38} {line}"),
        // One query failing (a server's memory limit, say) is a result too.
        Err(err) => println!("{name:38} FAILED: {err:#}"),
    }
    Ok(())
}

/// The timings and answers of [`side_by_side`], as its line.
async fn measure<D, DF, C, CF>(
    args: &QueryBenchArgs,
    ch: &ClickHouse,
    duck: D,
    click: C,
    sql: Option<String>,
    hand: impl Fn(&[Vec<f64>]) -> Vec<f64>,
) -> anyhow::Result<String>
where
    D: Fn() -> DF,
    DF: Future<Output = anyhow::Result<Vec<f64>>>,
    C: Fn() -> CF,
    CF: Future<Output = anyhow::Result<Vec<f64>>>,
{
    let (mut duck_ms, mut ch_ms, mut hand_ms) = (Vec::new(), Vec::new(), Vec::new());
    let (mut duck_answer, mut ch_answer, mut hand_answer) = (Vec::new(), Vec::new(), None);
    let timed = |ms: &mut Vec<f64>, run: usize, started: Instant| {
        if run >= args.warmup {
            ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    };
    for run in 0..args.warmup + args.runs {
        let started = Instant::now();
        duck_answer = duck().await?;
        timed(&mut duck_ms, run, started);
        let started = Instant::now();
        ch_answer = click().await?;
        timed(&mut ch_ms, run, started);
        if let Some(sql) = &sql {
            let started = Instant::now();
            let rows = ch.read_numbers(sql).await?;
            timed(&mut hand_ms, run, started);
            hand_answer = Some(hand(&rows));
        }
    }
    let (d, _) = median_and_max(duck_ms);
    let (c, c_max) = median_and_max(ch_ms);
    let hand_part = match hand_answer.as_ref() {
        Some(_) => {
            let (h, _) = median_and_max(hand_ms);
            format!("hand-written {h:9.1} ms (ratio {:5.2})", c / h)
        }
        None => format!("{:37}", "no hand-written counterpart"),
    };
    let same = match &hand_answer {
        _ if duck_answer != ch_answer => format!("ENGINES DIFFER: ClickHouse {ch_answer:?}"),
        Some(h) if *h != ch_answer => format!("HAND-WRITTEN DIFFERS: {h:?}"),
        _ => "same answer".to_owned(),
    };
    Ok(format!(
        "DuckDB {d:8.1} ms   ClickHouse {c:8.1} ms (max {c_max:8.1})   {hand_part}   {same}   {duck_answer:?}"
    ))
}

/// Rounds a fingerprint's values to 6 digits after the point: the engines
/// and the hand-written SQL add fractions in different orders.
fn rounded(v: Vec<f64>) -> Vec<f64> {
    v.into_iter().map(|x| (x * 1e6).round() / 1e6).collect()
}

/// Runs every query kind on both engines (and hand-written ClickHouse SQL).
pub(super) async fn run(
    args: &QueryBenchArgs,
    url: &str,
    duck: &DuckDb,
    project: ProjectId,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let ch = ClickHouse::open(&ClickHouseConfig::from_url(url)?).await?;
    fill(duck, &ch, project).await?;
    let from = (now - chrono::Duration::days(args.days)).to_rfc3339();
    let to = now.to_rfc3339();
    let range = TimeRange {
        from: now - chrono::Duration::days(args.days),
        to: now,
    };
    let (f, t) = (range.from.timestamp_micros(), range.to.timestamp_micros());
    let ev = events_with_person(project, f, t);
    let sum = |rows: &[Vec<f64>], column: usize| rows.iter().map(|r| r[column]).sum::<f64>();

    // The dashboard's cards.
    let overview = OverviewQuery {
        project_id: project,
        range,
        include_bots: false,
        filters: Default::default(),
    };
    let cards = |o: tally_query::types::Overview| {
        let c = o.current;
        rounded(vec![
            c.events as f64,
            c.unique_users as f64,
            c.pageviews as f64,
            c.sessions as f64,
            c.bounce_rate.unwrap_or(f64::NAN),
        ])
    };
    side_by_side(
        args,
        &ch,
        "overview: cards",
        || {
            let q = overview.clone();
            async move { Ok(cards(duck.overview(q).await?)) }
        },
        || {
            let q = overview.clone();
            let ch = ch.clone();
            async move { Ok(cards(ch.overview(q).await?)) }
        },
        Some(format!(
            // Sessions: the SDK's id, else a person's run of events without
            // 30-minute gaps, over the range plus a day before it.
            "SELECT (SELECT count() FROM {ev}), (SELECT uniqExact(person) FROM {ev}), \
             (SELECT countIf(event = '$pageview') FROM {ev}), count(), \
             countIf(pageviews = 1 AND other = 0) / countIf(pageviews > 0) FROM \
             (SELECT min(timestamp) AS started, countIf(event = '$pageview') AS pageviews, \
             countIf(event NOT IN ('$pageview', '$pageleave')) AS other FROM \
             (SELECT timestamp, event, if(isNull(session_id), concat(toString(person), '#', \
             toString(cut)), assumeNotNull(session_id)) AS sk FROM {wide} AS w ANY LEFT JOIN \
             (SELECT person, t AS timestamp, starts[k] AS cut FROM (SELECT person, ts, \
             arrayCumSum(arrayMap((x, i) -> toUInt64(i = 1 OR x - ts[i - 1] > 1800000000), ts, \
             arrayEnumerate(ts))) AS ks, arrayFilter((x, i) -> i = 1 OR x - ts[i - 1] > 1800000000, \
             ts, arrayEnumerate(ts)) AS starts FROM (SELECT person, arraySort(groupArray(timestamp)) \
             AS ts FROM {wide} WHERE isNull(session_id) GROUP BY person)) ARRAY JOIN ts AS t, ks AS k) \
             AS c USING (person, timestamp)) GROUP BY sk) WHERE started >= {f}",
            wide = events_with_person(project, f - 86_400_000_000, t),
        )),
        |rows| rounded(rows.first().cloned().unwrap_or_default()),
    )
    .await?;

    // The sessions list's first page, newest first.
    let sessions = SessionsQuery {
        project_id: project,
        range,
        inactivity: chrono::Duration::minutes(30),
        limit: 50,
        offset: 0,
        include_bots: false,
        sort: SessionSort::Start,
        descending: true,
    };
    let page = |p: tally_query::types::SessionsPage| {
        vec![
            p.results.len() as f64,
            p.results.iter().map(|s| s.events as f64).sum(),
        ]
    };
    side_by_side(
        args,
        &ch,
        "sessions: newest 50",
        || {
            let q = sessions.clone();
            async move { Ok(page(duck.sessions(q).await?)) }
        },
        || {
            let q = sessions.clone();
            let ch = ch.clone();
            async move { Ok(page(ch.sessions(q).await?)) }
        },
        None,
        |_| Vec::new(),
    )
    .await?;

    // The pages table.
    let top = tally_query::top::TopQuery {
        project_id: project,
        dimension: tally_query::top::Dimension::Page,
        range,
        limit: 20,
        include_bots: false,
        filters: Default::default(),
    };
    let rows = |a: tally_query::top::TopAnswer| {
        vec![
            a.results.len() as f64,
            a.results.iter().map(|r| r.visitors as f64).sum(),
            a.results.iter().map(|r| r.pageviews as f64).sum(),
        ]
    };
    side_by_side(
        args,
        &ch,
        "top: pages",
        || {
            let q = top.clone();
            async move { Ok(rows(duck.top(q).await?)) }
        },
        || {
            let q = top.clone();
            let ch = ch.clone();
            async move { Ok(rows(ch.top(q).await?)) }
        },
        Some(format!(
            "SELECT count(), sum(v), sum(n) FROM (SELECT path, uniqExact(person) AS v, count() AS n \
             FROM {ev} WHERE event = '$pageview' GROUP BY path ORDER BY v DESC, n DESC, path LIMIT 20)"
        )),
        |rows| rows.first().cloned().unwrap_or_default(),
    )
    .await?;

    // Trends: daily unique persons of pageviews, and pageviews by browser.
    let trend_total = |a: tally_query::trends::TrendsAnswer| {
        vec![
            a.results.len() as f64,
            a.results
                .iter()
                .flat_map(|s| &s.points)
                .filter_map(|p| p.value)
                .sum::<f64>(),
        ]
    };
    for (name, request, sql) in [
        (
            "trends: daily unique persons",
            json!({"date_from": from, "date_to": to, "interval": "day",
                   "series": [{"event": "$pageview", "math": "unique_persons"}]}),
            format!(
                "SELECT 1, sum(n) FROM (SELECT intDiv(timestamp, 86400000000) AS day, \
                 uniqExact(person) AS n FROM {ev} WHERE event = '$pageview' GROUP BY day)"
            ),
        ),
        (
            "trends: daily pageviews by $browser",
            json!({"date_from": from, "date_to": to, "interval": "day",
                   "series": [{"event": "$pageview"}],
                   "breakdown": {"property": "$browser", "limit": 10}}),
            format!(
                "SELECT uniqExact(b), count() FROM (SELECT if(prop_types[indexOf(prop_keys, '$browser')] = '', \
                 NULL, prop_values[indexOf(prop_keys, '$browser')]) AS b FROM {ev} WHERE event = '$pageview')"
            ),
        ),
    ] {
        let q = serde_json::from_value::<tally_query::trends::TrendsRequest>(request)?
            .resolve(project, now)?;
        side_by_side(
            args,
            &ch,
            name,
            || {
                let q = q.clone();
                async move { Ok(trend_total(duck.trends(q).await?)) }
            },
            || {
                let q = q.clone();
                let ch = ch.clone();
                async move { Ok(trend_total(ch.trends(q).await?)) }
            },
            Some(sql),
            |rows| {
                // Lines: one, or the values (up to 10) plus "other" when more.
                let r = rows.first().cloned().unwrap_or_default();
                let lines = if r[0] > 10.0 { 11.0 } else { r[0] };
                vec![lines, r[1]]
            },
        )
        .await?;
    }

    // A 4-step loose funnel, one-day window: windowFunnel by hand.
    let window = 86_400i64;
    let request = json!({"date_from": from, "date_to": to, "conversion_window_secs": window,
        "steps": [{"event": "$pageview"}, {"event": "signup_started"},
                  {"event": "signup_completed"}, {"event": "purchase"}]});
    let funnel = serde_json::from_value::<tally_query::funnel::FunnelRequest>(request)?
        .resolve(project, now)?;
    let steps = |a: tally_query::funnel::FunnelAnswer| {
        a.steps.iter().map(|s| s.count as f64).collect::<Vec<_>>()
    };
    let fr = funnel.range;
    side_by_side(
        args,
        &ch,
        "funnel: 4 steps, 1-day window",
        || {
            let q = funnel.clone();
            async move { Ok(steps(duck.funnel(q).await?)) }
        },
        || {
            let q = funnel.clone();
            let ch = ch.clone();
            async move { Ok(steps(ch.funnel(q).await?)) }
        },
        Some(format!(
            // 18.16's windowFunnel takes UInt32 times: milliseconds since the
            // range's start (31 days fit).
            "SELECT countIf(level >= 1), countIf(level >= 2), countIf(level >= 3), countIf(level >= 4) \
             FROM (SELECT person, windowFunnel({w})(toUInt32(intDiv(timestamp - {from}, 1000)), \
             event = '$pageview' AND timestamp < {to}, event = 'signup_started', \
             event = 'signup_completed', event = 'purchase') AS level FROM {fev} GROUP BY person)",
            w = window * 1_000,
            from = fr.from.timestamp_micros(),
            to = fr.to.timestamp_micros(),
            fev = events_with_person(
                project,
                fr.from.timestamp_micros(),
                (fr.to + chrono::Duration::seconds(window)).timestamp_micros()
            ),
        )),
        |rows| rows.first().cloned().unwrap_or_default(),
    )
    .await?;

    // Weekly retention of any event, 8 weeks, first-time cohorts.
    let request = json!({"period": "week", "periods": 8, "date_to": to});
    let retention = serde_json::from_value::<tally_query::retention::RetentionRequest>(request)?
        .resolve(project, now)?;
    let cells = |a: tally_query::retention::RetentionAnswer| {
        vec![a
            .cohorts
            .iter()
            .flat_map(|c| &c.values)
            .map(|v| v.count as f64)
            .sum::<f64>()]
    };
    let rr = retention.range;
    // Weeks from Monday, as the engine's buckets: days since the epoch (a
    // Thursday) shifted by 3.
    let week = "(intDiv(timestamp, 86400000000) - (intDiv(timestamp, 86400000000) + 3) % 7)";
    side_by_side(
        args,
        &ch,
        "retention: 8 weeks, any event",
        || {
            let q = retention.clone();
            async move { Ok(cells(duck.retention(q).await?)) }
        },
        || {
            let q = retention.clone();
            let ch = ch.clone();
            async move { Ok(cells(ch.retention(q).await?)) }
        },
        Some(format!(
            "SELECT count() FROM (SELECT person, groupUniqArray({week}) AS weeks, min({week}) AS first \
             FROM {all} GROUP BY person) ARRAY JOIN weeks AS w WHERE first >= {start_week}",
            all = events_with_person(project, 0, rr.to.timestamp_micros()),
            start_week = rr.from.timestamp_micros() / 86_400_000_000,
        )),
        |rows| vec![sum(rows, 0)],
    )
    .await?;

    // Paths: three pages on from the home page.
    let request = json!({"date_from": from, "date_to": to, "start_point": "/", "steps": 3});
    let paths = serde_json::from_value::<tally_query::paths::PathsRequest>(request)?
        .resolve(project, now)?;
    let links = |a: tally_query::paths::PathsAnswer| {
        vec![
            a.links.len() as f64,
            a.links.iter().map(|l| l.persons as f64).sum(),
        ]
    };
    side_by_side(
        args,
        &ch,
        "paths: 3 steps from /",
        || {
            let q = paths.clone();
            async move { Ok(links(duck.paths(q).await?)) }
        },
        || {
            let q = paths.clone();
            let ch = ch.clone();
            async move { Ok(links(ch.paths(q).await?)) }
        },
        Some(format!(
            "SELECT count(), sum(n) FROM (SELECT k, w[k] AS a, w[k + 1] AS b, count() AS n FROM \
             (SELECT arraySlice(seq, indexOf(seq, '/'), 4) AS w FROM (SELECT arrayFilter((x, i) -> \
             i = 1 OR x != items[i - 1], items, arrayEnumerate(items)) AS seq FROM (SELECT \
             arrayMap(t -> tupleElement(t, 4), arraySort(t -> (tupleElement(t, 1), tupleElement(t, 2), \
             tupleElement(t, 3)), groupArray((timestamp, ifNull(person_id, person), uuid, \
             assumeNotNull(path))))) AS items FROM {ev} WHERE event = '$pageview' AND isNotNull(path) \
             GROUP BY person)) WHERE has(seq, '/')) ARRAY JOIN arrayEnumerate(arrayPopBack(w)) AS k \
             GROUP BY k, a, b ORDER BY n DESC, k, a, b LIMIT 50)"
        )),
        |rows| rows.first().cloned().unwrap_or_default(),
    )
    .await?;

    // Stickiness and lifecycle of pageviews, daily.
    let request: tally_query::activity::ActivityRequest = serde_json::from_value(
        json!({"date_from": from, "date_to": to, "event": {"event": "$pageview"}}),
    )?;
    let activity = request.resolve(project, now)?;
    let sticky = |a: tally_query::activity::StickinessAnswer| {
        vec![
            a.results.iter().map(|r| r.persons as f64).sum(),
            a.results
                .iter()
                .map(|r| (r.intervals as u64 * r.persons) as f64)
                .sum(),
        ]
    };
    side_by_side(
        args,
        &ch,
        "stickiness: daily pageviews",
        || {
            let q = activity.clone();
            async move { Ok(sticky(duck.stickiness(q).await?)) }
        },
        || {
            let q = activity.clone();
            let ch = ch.clone();
            async move { Ok(sticky(ch.stickiness(q).await?)) }
        },
        Some(format!(
            "SELECT sum(p), sum(days * p) FROM (SELECT days, count() AS p FROM (SELECT person, \
             uniqExact(intDiv(timestamp, 86400000000)) AS days FROM {ev} WHERE event = '$pageview' \
             GROUP BY person) GROUP BY days)"
        )),
        |rows| rows.first().cloned().unwrap_or_default(),
    )
    .await?;
    let statuses = |a: tally_query::activity::LifecycleAnswer| {
        let sum = |f: fn(&tally_query::activity::LifecycleBucket) -> u64| {
            a.results.iter().map(f).sum::<u64>() as f64
        };
        vec![
            sum(|b| b.new),
            sum(|b| b.returning),
            sum(|b| b.resurrecting),
            sum(|b| b.dormant),
        ]
    };
    side_by_side(
        args,
        &ch,
        "lifecycle: daily pageviews",
        || {
            let q = activity.clone();
            async move { Ok(statuses(duck.lifecycle(q).await?)) }
        },
        || {
            let q = activity.clone();
            let ch = ch.clone();
            async move { Ok(statuses(ch.lifecycle(q).await?)) }
        },
        None,
        |_| Vec::new(),
    )
    .await?;
    Ok(())
}
