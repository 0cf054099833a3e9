"""Reading person timelines for funnels and paths, timed on a seeded data dir
(BENCHMARKS.md, session 13).

Usage: python3 bench/sql/timelines.py DATA_DIR/events.duckdb
(pip install duckdb==2.0.0 pyarrow; server stopped; the data dir at schema 9, i.e.
opened once by this build and compacted, so `rollup_timeline` holds every hour)

Times, for the 30 days (plus the funnel's one-day window) before the last event:
- reading the hour rows as Arrow batches (times and event lists; times and page lists),
  and the same with the person merges joined, as the engine reads them;
- the same rows sorted by person in SQL (the alternative to sorting row handles in Rust);
- dropping superseded first steps inside the lists with a lambda (the alternative to the
  walk dropping them);
- rows per person and day (built here in a temporary table), read and sorted;
- for scale, the raw marked events of the funnel fetched unsorted.
"""
import datetime
import sys
import time

import duckdb

c = duckdb.connect(sys.argv[1], read_only=True)
c.execute("SET threads=2")
last = c.execute("SELECT max(timestamp) FROM events").fetchone()[0]
to = last.replace(minute=0, second=0, microsecond=0) + datetime.timedelta(hours=1)
fr = to - datetime.timedelta(days=30)
WINDOW = " AND r.hour < $2::TIMESTAMP + INTERVAL 1 DAY"


def run(name, sql, n=4):
    times = []
    rows = 0
    for _ in range(n):
        t = time.time()
        rows = 0
        for batch in c.execute(sql, [fr, to]).to_arrow_reader(100000):
            rows += batch.num_rows
        times.append(round((time.time() - t) * 1000))
    print(f"{name}: {times} ms, {rows} rows", flush=True)


rows = "FROM rollup_timeline r WHERE r.project_id = 1 AND r.hour >= $1" + WINDOW
run("hour rows, times + events", f"SELECT r.person, epoch_us(r.hour), r.micros, r.event {rows}")
run("hour rows, times + pages", f"SELECT r.person, epoch_us(r.hour), r.micros, r.page {rows}")
run(
    "hour rows, times + events, merges joined",
    "SELECT coalesce(po.person_id, r.person), r.person, epoch_us(r.hour), r.micros, r.event "
    "FROM rollup_timeline r LEFT JOIN person_overrides po ON po.project_id = r.project_id "
    "AND po.old_person_id = r.person WHERE r.project_id = 1 AND r.hour >= $1" + WINDOW,
)
run(
    "hour rows sorted by person in SQL",
    f"SELECT r.person, epoch_us(r.hour), r.micros, r.event {rows} ORDER BY r.person, r.hour",
)
pageview = c.execute(
    "SELECT id FROM rollup_names WHERE project_id = 1 AND name = '$pageview'"
).fetchone()[0]
run(
    "superseded pageviews dropped in the lists",
    f"SELECT r.person, epoch_us(r.hour), list_filter(list_zip(r.micros, r.event), "
    f"lambda x, i: NOT (x[2] = {pageview} AND coalesce(r.event[i + 1] = {pageview}, false))) {rows}",
)
c.execute(
    "CREATE TEMP TABLE day_rows AS SELECT project_id, person, date_trunc('day', hour) AS day, "
    "flatten(list(list_transform(micros, lambda m: epoch_us(hour) + m) ORDER BY hour)) AS t, "
    "flatten(list(event ORDER BY hour)) AS event FROM rollup_timeline GROUP BY ALL"
)
days = "FROM day_rows r WHERE r.project_id = 1 AND r.day >= $1 AND r.day < $2::TIMESTAMP + INTERVAL 1 DAY"
run("day rows", f"SELECT r.person, r.t, r.event {days}")
run("day rows sorted by person in SQL", f"SELECT r.person, r.t, r.event {days} ORDER BY r.person, r.day")
steps = ["$pageview", "signup_started", "signup_completed", "purchase"]
bits = " | ".join(f"(CASE WHEN e.event = '{s}' THEN {1 << k} ELSE 0 END)" for k, s in enumerate(steps))
run(
    "raw marked events, unsorted",
    f"SELECT * FROM (SELECT coalesce(po.person_id, e.person_id, -1 - (hash(e.distinct_id) >> 2)::BIGINT) "
    f"AS person, epoch_us(e.timestamp) AS t_us, {bits} AS bits FROM events e LEFT JOIN person_overrides po "
    "ON po.project_id = e.project_id AND po.old_person_id = e.person_id WHERE e.project_id = 1 "
    "AND e.timestamp >= $1 AND e.timestamp < $2::TIMESTAMP + INTERVAL 1 DAY AND e.is_bot IS NOT TRUE) "
    "WHERE bits <> 0",
)
