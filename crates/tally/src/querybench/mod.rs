//! `tally querybench`: the analytics queries that have a 10M-event target, each
//! timed hot beside hand-written DuckDB SQL for the same answer, in one process
//! on one store (the server must be stopped: DuckDB allows one process).
//!
//! Runs alternate (engine, hand-written, engine, …) so both see the same noise;
//! the first `warmup` of each are dropped. Each line says whether both gave the
//! same answer (a fingerprint: totals, counts of series or steps), so a fast
//! hand-written query that answers another question is seen at once. The engine
//! side includes what a request pays besides SQL (planning, the funnel walk,
//! assembling the answer), not HTTP.
//!
//! With `--clickhouse URL` the same events are timed on DuckDB and on
//! ClickHouse side by side, beside hand-written ClickHouse SQL (`clickhouse`).

mod clickhouse;

use crate::app;
use crate::config::Config;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::future::Future;
use std::time::Instant;
use tally_core::ProjectId;
use tally_duckdb::DuckDb;
use tally_query::funnel::FunnelRequest;
use tally_query::paths::PathsRequest;
use tally_query::retention::RetentionRequest;
use tally_query::trends::TrendsRequest;
use tally_query::types::TimeRange;
use tally_query::QueryEngine;

#[derive(clap::Args, Debug, Clone)]
pub struct QueryBenchArgs {
    /// Data directory with seeded events (env TALLY_DATA_DIR; default ./tally-data).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Project to query; default: the first project.
    #[arg(long)]
    pub project_id: Option<ProjectId>,
    /// The trends, funnel and paths ranges: this many days, ending now.
    #[arg(long, default_value_t = 30)]
    pub days: i64,
    /// Timed runs of each side, after the warm-ups.
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// Untimed runs first, to make the query hot.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Only the queries whose name contains this, or one of these
    /// comma-separated words (e.g. `funnel`, `paths,lifecycle`).
    #[arg(long)]
    pub only: Option<String>,
    /// Time the engine alone, without the hand-written SQL (to profile it).
    #[arg(long)]
    pub engine_only: bool,
    /// Also put every query kind to this ClickHouse database
    /// (`clickhouse://host:8123/db`), filled from the DuckDB events first
    /// when empty: both engines side by side, ClickHouse beside hand-written
    /// ClickHouse SQL.
    #[arg(long)]
    pub clickhouse: Option<String>,
}

impl QueryBenchArgs {
    /// Whether `--only` lets the query called `name` run.
    pub(crate) fn wants(&self, name: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.split(',').any(|o| name.contains(o.trim())))
    }
}

/// The events with the person each counts as, written out as a person writing
/// the query by hand would have to (merged persons followed, anonymous events
/// counted by their distinct id).
const EVENTS_WITH_PERSON: &str = "(SELECT e.*, coalesce(po.person_id, e.person_id, \
     -1 - (hash(e.distinct_id) >> 2)::BIGINT) AS person FROM events e \
     LEFT JOIN person_overrides po ON po.project_id = e.project_id \
     AND po.old_person_id = e.person_id)";

/// A point in time as DuckDB SQL text (numbers only: no request text is spliced).
fn at(t: DateTime<Utc>) -> String {
    format!("make_timestamp({})", t.timestamp_micros())
}

pub(crate) fn median_and_max(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (median, v[n - 1])
}

/// Times `engine` (async, giving its answer's fingerprint) against the
/// hand-written `sql` (whose rows `hand` turns into the same fingerprint) and
/// prints one line.
async fn compare<F, Fut>(
    args: &QueryBenchArgs,
    db: &DuckDb,
    name: &str,
    engine: F,
    sql: Option<String>,
    hand: impl Fn(&[Vec<f64>]) -> Vec<f64>,
) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<Vec<f64>>>,
{
    if !args.wants(name) {
        return Ok(());
    }
    let (mut engine_ms, mut hand_ms) = (Vec::new(), Vec::new());
    let (mut engine_answer, mut hand_answer) = (Vec::new(), Vec::new());
    for run in 0..args.warmup + args.runs {
        let started = Instant::now();
        engine_answer = engine().await?;
        let took = started.elapsed().as_secs_f64() * 1000.0;
        if run >= args.warmup {
            engine_ms.push(took);
        }
        if let Some(sql) = sql.as_ref().filter(|_| !args.engine_only) {
            let db = db.clone();
            let sql = sql.clone();
            let started = Instant::now();
            let rows = tokio::task::spawn_blocking(move || db.read_numbers(&sql)).await??;
            let took = started.elapsed().as_secs_f64() * 1000.0;
            hand_answer = hand(&rows);
            if run >= args.warmup {
                hand_ms.push(took);
            }
        }
    }
    let (e_med, e_max) = median_and_max(engine_ms);
    if args.engine_only {
        println!("{name:44} engine {e_med:9.1} ms (max {e_max:9.1})   answer {engine_answer:?}");
        return Ok(());
    }
    if sql.is_none() {
        println!(
            "{name:44} engine {e_med:9.1} ms (max {e_max:9.1})   no hand-written counterpart   answer {engine_answer:?}"
        );
        return Ok(());
    }
    let (h_med, h_max) = median_and_max(hand_ms);
    let same = if engine_answer == hand_answer {
        "same answer".to_owned()
    } else {
        format!("ANSWERS DIFFER: hand-written {hand_answer:?}")
    };
    println!(
        "{name:44} engine {e_med:9.1} ms (max {e_max:9.1})   hand-written {h_med:9.1} ms (max {h_max:9.1})   ratio {:.2}   {same}   answer {engine_answer:?}",
        e_med / h_med
    );
    Ok(())
}

pub async fn run(config: &Config, args: &QueryBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    let stores = app::open_stores(config).await?;
    let project = match args.project_id {
        Some(p) => p,
        None => app::bootstrap(stores.meta.as_ref(), &config.data_dir)
            .await?
            .map(|b| b.project_id)
            .ok_or_else(|| {
                anyhow::anyhow!("no project in this data dir: run `tally seed` first")
            })?,
    };
    let db = stores.events;
    // What a server does in the background (and `tally seed` at its end).
    let rolled = Instant::now();
    let hours = tokio::task::spawn_blocking({
        let db = db.clone();
        move || db.compact_rollups(None)
    })
    .await??;
    println!(
        "rolled up {hours} hours not rolled up yet in {:.1} s",
        rolled.elapsed().as_secs_f64()
    );
    let now = Utc::now();
    if let Some(url) = &args.clickhouse {
        return clickhouse::run(args, url, &db, project, now).await;
    }
    let from = (now - chrono::Duration::days(args.days)).to_rfc3339();
    let to = now.to_rfc3339();
    println!(
        "{} events; project {project}; {} days to {to}; {} runs after {} warm-ups",
        db.stored_events(),
        args.days,
        args.runs,
        args.warmup
    );
    let range_sql =
        |r: TimeRange| format!("timestamp >= {} AND timestamp < {}", at(r.from), at(r.to));
    let sum = |rows: &[Vec<f64>], column: usize| rows.iter().map(|r| r[column]).sum::<f64>();

    // Trends: daily unique persons of pageviews.
    let request = json!({"date_from": from, "date_to": to, "interval": "day",
        "series": [{"event": "$pageview", "math": "unique_persons"}]});
    let trends = |request: serde_json::Value| {
        let db = db.clone();
        async move {
            let q = serde_json::from_value::<TrendsRequest>(request)?.resolve(project, now)?;
            Ok::<_, anyhow::Error>(db.trends(q).await?)
        }
    };
    let range = trends(request.clone()).await?.range;
    let total = |a: &tally_query::trends::TrendsAnswer| {
        a.results
            .iter()
            .flat_map(|s| &s.points)
            .filter_map(|p| p.value)
            .sum::<f64>()
    };
    compare(
        args,
        &db,
        "trends: daily unique persons",
        || {
            let answer = trends(request.clone());
            async move { Ok(vec![total(&answer.await?)]) }
        },
        Some(format!(
            "SELECT date_trunc('day', timestamp) AS day, count(DISTINCT person) FROM {EVENTS_WITH_PERSON} \
             WHERE project_id = {project} AND event = '$pageview' AND {} AND is_bot IS NOT TRUE GROUP BY day",
            range_sql(range)
        )),
        |rows| vec![sum(rows, 1)],
    )
    .await?;

    // A breakdown's fingerprint: how many lines, and their sum; the hand-written
    // rows are (day, hash of the line's value, count).
    let lines_and_total = |request: serde_json::Value| {
        let answer = trends(request);
        async move {
            let a = answer.await?;
            Ok(vec![a.results.len() as f64, total(&a)])
        }
    };
    let distinct_lines_and_sum = |rows: &[Vec<f64>]| {
        let lines: std::collections::HashSet<u64> = rows.iter().map(|r| r[1].to_bits()).collect();
        vec![lines.len() as f64, sum(rows, 2)]
    };

    // Trends: daily pageviews by browser, the top 10 and the rest.
    let request = json!({"date_from": from, "date_to": to, "interval": "day",
        "series": [{"event": "$pageview"}], "breakdown": {"property": "$browser", "limit": 10}});
    compare(
        args,
        &db,
        "trends: daily pageviews by $browser",
        || lines_and_total(request.clone()),
        Some(format!(
            "WITH t AS (SELECT date_trunc('day', timestamp) AS day, \
             json_extract_string(properties, '$.\"$browser\"') AS b FROM events \
             WHERE project_id = {project} AND event = '$pageview' AND {} AND is_bot IS NOT TRUE), \
             top AS (SELECT b FROM t GROUP BY b ORDER BY count(*) DESC LIMIT 10) \
             SELECT day, hash(CASE WHEN b IN (SELECT b FROM top) THEN b ELSE '~other' END), count(*) \
             FROM t GROUP BY ALL",
            range_sql(range)
        )),
        distinct_lines_and_sum,
    )
    .await?;

    // The same two trends over whole UTC days (the last `days` before today),
    // beside hand-written SQL that reads the rollups as well: every hour of such
    // a range is rolled up, so both read rollup rows only.
    let today = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let (day_from, day_to) = (
        (today - chrono::Duration::days(args.days)).to_rfc3339(),
        today.to_rfc3339(),
    );
    let whole_days = TimeRange {
        from: today - chrono::Duration::days(args.days),
        to: today,
    };
    let hours_sql = format!(
        "project_id = {project} AND event = '$pageview' AND NOT is_bot AND hour >= {} AND hour < {}",
        at(whole_days.from),
        at(whole_days.to)
    );
    let request = json!({"date_from": day_from, "date_to": day_to, "interval": "day",
        "series": [{"event": "$pageview", "math": "unique_persons"}]});
    compare(
        args,
        &db,
        "trends: daily unique persons, whole days (rollups)",
        || {
            let answer = trends(request.clone());
            async move { Ok(vec![total(&answer.await?)]) }
        },
        Some(format!(
            "SELECT date_trunc('day', hour) AS day, count(DISTINCT coalesce(po.person_id, r.person)) \
             FROM rollup_hourly r LEFT JOIN person_overrides po ON po.project_id = r.project_id \
             AND po.old_person_id = r.person WHERE r.{hours_sql} GROUP BY day"
        )),
        |rows| vec![sum(rows, 1)],
    )
    .await?;
    let request = json!({"date_from": day_from, "date_to": day_to, "interval": "day",
        "series": [{"event": "$pageview"}], "breakdown": {"property": "$browser", "limit": 10}});
    compare(
        args,
        &db,
        "trends: daily pageviews by $browser, whole days (rollups)",
        || lines_and_total(request.clone()),
        Some(format!(
            "WITH t AS (SELECT date_trunc('day', hour) AS day, browser AS b, events FROM rollup_hourly \
             WHERE {hours_sql}), \
             top AS (SELECT b FROM t GROUP BY b ORDER BY sum(events) DESC LIMIT 10) \
             SELECT day, hash(CASE WHEN b IN (SELECT b FROM top) THEN b ELSE '~other' END), sum(events) \
             FROM t GROUP BY ALL"
        )),
        distinct_lines_and_sum,
    )
    .await?;

    // A 4-step loose funnel, one-day window, over the range.
    let window = 86_400i64;
    let request = json!({"date_from": from, "date_to": to, "conversion_window_secs": window,
        "steps": [{"event": "$pageview"}, {"event": "signup_started"},
                  {"event": "signup_completed"}, {"event": "purchase"}]});
    let funnel = || {
        let db = db.clone();
        let request = request.clone();
        async move {
            let q = serde_json::from_value::<FunnelRequest>(request)?.resolve(project, now)?;
            Ok::<_, anyhow::Error>(db.funnel(q).await?)
        }
    };
    let range = funnel().await?.range;
    let w = window * 1_000_000;
    // Each level keeps, per event, the latest attempt start that reached the
    // step before it within the window (the most window left): three window
    // passes over the person-ordered events, those of one instant in step order.
    let funnel_sql = format!(
        "WITH ev AS (SELECT person, epoch_us(timestamp) AS t, CASE event WHEN '$pageview' THEN 1 \
         WHEN 'signup_started' THEN 2 WHEN 'signup_completed' THEN 3 ELSE 4 END AS step \
         FROM {EVENTS_WITH_PERSON} WHERE project_id = {project} AND is_bot IS NOT TRUE \
         AND event IN ('$pageview', 'signup_started', 'signup_completed', 'purchase') \
         AND timestamp >= {from} AND timestamp < {to_w} AND (event <> '$pageview' OR timestamp < {to})), \
         l1 AS (SELECT *, max(t) FILTER (WHERE step = 1) OVER w AS s FROM ev \
           WINDOW w AS (PARTITION BY person ORDER BY t, step ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)), \
         l2 AS (SELECT *, max(s) FILTER (WHERE step = 2 AND t - s <= {w}) OVER w AS s2 FROM l1 \
           WINDOW w AS (PARTITION BY person ORDER BY t, step ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)), \
         l3 AS (SELECT *, max(s2) FILTER (WHERE step = 3 AND t - s2 <= {w}) OVER w AS s3 FROM l2 \
           WINDOW w AS (PARTITION BY person ORDER BY t, step ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) \
         SELECT count(DISTINCT person) FILTER (WHERE step = 1), \
           count(DISTINCT person) FILTER (WHERE step = 2 AND t - s <= {w}), \
           count(DISTINCT person) FILTER (WHERE step = 3 AND t - s2 <= {w}), \
           count(DISTINCT person) FILTER (WHERE step = 4 AND t - s3 <= {w}) FROM l3",
        from = at(range.from),
        to = at(range.to),
        to_w = at(range.to + chrono::Duration::seconds(window)),
    );
    compare(
        args,
        &db,
        "funnel: 4 steps, 1-day window",
        || {
            let answer = funnel();
            async move { Ok(answer.await?.steps.iter().map(|s| s.count as f64).collect()) }
        },
        Some(funnel_sql),
        |rows| rows.first().cloned().unwrap_or_default(),
    )
    .await?;

    // Weekly retention of any event, 8 weeks: first-time cohorts.
    let request = json!({"period": "week", "periods": 8, "date_to": to});
    let retention = || {
        let db = db.clone();
        let request = request.clone();
        async move {
            let q = serde_json::from_value::<RetentionRequest>(request)?.resolve(project, now)?;
            Ok::<_, anyhow::Error>(db.retention(q).await?)
        }
    };
    let range = retention().await?.range;
    // The hand-written triangle from `act` (person, week: the weeks each person
    // was active in, up to the range's end): cohort by first week, cells grouped.
    let triangle = |act: String| {
        format!(
            "WITH act AS ({act}), cohort AS (SELECT person, min(week) AS first FROM act GROUP BY person) \
             SELECT first, week, count(*) FROM act JOIN cohort USING (person) WHERE first >= {} \
             GROUP BY ALL",
            at(range.from)
        )
    };
    compare(
        args,
        &db,
        "retention: 8 weeks, any event",
        || {
            let answer = retention();
            async move { Ok(vec![retention_cells(&answer.await?)]) }
        },
        Some(triangle(format!(
            "SELECT DISTINCT person, date_trunc('week', timestamp) AS week \
             FROM {EVENTS_WITH_PERSON} WHERE project_id = {project} AND timestamp < {} \
             AND is_bot IS NOT TRUE",
            at(range.to)
        ))),
        |rows| vec![sum(rows, 2)],
    )
    .await?;

    // The same retention beside hand-written SQL that reads the rollups as
    // well (the engine reads them for every rolled-up hour).
    compare(
        args,
        &db,
        "retention: 8 weeks, any event (rollups)",
        || {
            let answer = retention();
            async move { Ok(vec![retention_cells(&answer.await?)]) }
        },
        Some(triangle(format!(
            "SELECT DISTINCT coalesce(po.person_id, r.person) AS person, \
             date_trunc('week', hour) AS week FROM rollup_hourly r LEFT JOIN person_overrides po \
             ON po.project_id = r.project_id AND po.old_person_id = r.person \
             WHERE r.project_id = {project} AND r.hour < {} AND NOT r.is_bot",
            at(range.to)
        ))),
        |rows| vec![sum(rows, 2)],
    )
    .await?;

    // Paths: three pages on from the home page.
    let request = json!({"date_from": from, "date_to": to, "start_point": "/", "steps": 3});
    let range = {
        let q = serde_json::from_value::<PathsRequest>(request.clone())?.resolve(project, now)?;
        q.range
    };
    // Two window passes over the range's pageviews: repeats collapsed, then the
    // three items after each one; each person's first `/` keeps its three links.
    // The top 50 by `QUALIFY`: `count(*)` over a subquery ending in
    // `ORDER BY … LIMIT 50` counted every group here (DuckDB 2.0.0, this plan).
    let paths_sql = format!(
        "WITH items AS (SELECT person, timestamp AS ts, \
         coalesce(person_id, -1 - (hash(distinct_id) >> 2)::BIGINT) AS pkey, uuid, path AS item \
         FROM {EVENTS_WITH_PERSON} WHERE project_id = {project} AND is_bot IS NOT TRUE \
         AND event = '$pageview' AND path IS NOT NULL AND timestamp >= {from} AND timestamp < {to}), \
         runs AS (SELECT * FROM (SELECT *, lag(item) OVER w AS prev FROM items \
           WINDOW w AS (PARTITION BY person ORDER BY ts, pkey, uuid)) WHERE prev IS DISTINCT FROM item), \
         seq AS (SELECT person, ts, pkey, uuid, item, lead(item, 1) OVER w AS i1, \
           lead(item, 2) OVER w AS i2, lead(item, 3) OVER w AS i3 FROM runs \
           WINDOW w AS (PARTITION BY person ORDER BY ts, pkey, uuid)), \
         first AS (SELECT * FROM seq WHERE item = '/' \
           QUALIFY row_number() OVER (PARTITION BY person ORDER BY ts, pkey, uuid) = 1), \
         links AS (SELECT 0 AS step, item AS a, i1 AS b FROM first WHERE i1 IS NOT NULL \
           UNION ALL SELECT 1, i1, i2 FROM first WHERE i2 IS NOT NULL \
           UNION ALL SELECT 2, i2, i3 FROM first WHERE i3 IS NOT NULL), \
         top AS (SELECT step, a, b, count(*) AS persons FROM links GROUP BY step, a, b \
           QUALIFY row_number() OVER (ORDER BY persons DESC, step, a, b) <= 50) \
         SELECT count(*), sum(persons) FROM top",
        from = at(range.from),
        to = at(range.to),
    );
    compare(
        args,
        &db,
        "paths: 3 steps from /",
        || {
            let db = db.clone();
            let request = request.clone();
            async move {
                let q = serde_json::from_value::<PathsRequest>(request)?.resolve(project, now)?;
                let a = db.paths(q).await?;
                Ok(vec![
                    a.links.len() as f64,
                    a.links.iter().map(|l| l.persons as f64).sum(),
                ])
            }
        },
        Some(paths_sql),
        |rows| rows.first().cloned().unwrap_or_default(),
    )
    .await?;
    Ok(())
}

/// A retention answer's fingerprint: the sum of its cells (cohort sizes and
/// returns), what the hand-written SQL counts.
fn retention_cells(a: &tally_query::retention::RetentionAnswer) -> f64 {
    a.cohorts
        .iter()
        .flat_map(|c| &c.values)
        .map(|v| v.count as f64)
        .sum()
}
