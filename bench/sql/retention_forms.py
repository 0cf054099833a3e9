"""Retention SQL forms timed on a seeded data dir (BENCHMARKS.md, session 11).

Usage: python3 bench/sql/retention_forms.py DATA_DIR/events.duckdb   (pip install duckdb==2.0.0; server stopped)
Times the engine's rollup retention SQL (8 weeks, any event, first-time cohorts) in the
shape of its first commit and the variants tried, beside hand-written SQL over rollups.
"""
import duckdb, time, sys, datetime
c = duckdb.connect(sys.argv[1], read_only=True)
c.execute("SET threads=2")
now = c.execute("SELECT max(timestamp) FROM events").fetchone()[0]
monday = (now - datetime.timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
to = monday + datetime.timedelta(days=7); frm = to - datetime.timedelta(days=56)
# The rolled-up stretch as the engine sees a freshly compacted seed: first to last rolled-up hour.
last_hour = c.execute("SELECT max(hour) + INTERVAL 1 HOUR FROM rollup_hourly").fetchone()[0]
first_hour = c.execute("SELECT min(hour) FROM rollup_hourly").fetchone()[0]
T = lambda d: f"TIMESTAMP '{d}'"
KEY = "coalesce(e.person_id, -1 - (hash(e.distinct_id) >> 2)::BIGINT)"
def t(name, sql, n=5):
    ts=[]; r=None
    for _ in range(n):
        a=time.time(); r=c.execute(sql).fetchall(); ts.append((time.time()-a)*1000)
    tot = sum(x[-1] for x in r)
    print(f"{name}: {sorted(round(x) for x in ts)} ms sum={tot} rows={len(r)}")
src = f"""src AS (SELECT r.hour AS timestamp, r.event, r.person, r.events AS n FROM rollup_hourly r WHERE r.project_id=1 AND (r.hour >= {T(first_hour)} AND r.hour < {T(last_hour)}) AND NOT r.is_bot
  UNION ALL SELECT e.timestamp, e.event, {KEY}, 1 FROM events e WHERE e.project_id=1 AND ((e.timestamp >= {T(frm)} AND e.timestamp < {T(first_hour)}) OR (e.timestamp >= {T(last_hour)} AND e.timestamp < {T(to)})) AND e.is_bot IS NOT TRUE)"""
before = f"""src_before AS (SELECT r.hour AS timestamp, r.event, r.person, r.events AS n FROM rollup_hourly r WHERE r.project_id=1 AND false AND NOT r.is_bot
  UNION ALL SELECT e.timestamp, e.event, {KEY}, 1 FROM events e WHERE e.project_id=1 AND (e.timestamp >= TIMESTAMP '0001-01-01' AND e.timestamp < {T(frm)}) AND e.is_bot IS NOT TRUE)"""
merge = lambda a: f"LEFT JOIN person_overrides po ON po.project_id=1 AND po.old_person_id={a}.person"
marked = f"marked AS (SELECT person, bucket, bool_or(is_start) AS is_start, bool_or(is_return) AS is_return FROM (SELECT coalesce(po.person_id, ev.person) AS person, epoch_us(date_trunc('week', timestamp)) AS bucket, (TRUE) AS is_start, (TRUE) AS is_return FROM src ev {merge('ev')}) GROUP BY person, bucket)"
earlier = f"earlier AS (SELECT DISTINCT coalesce(po.person_id, ev.person) AS person FROM src_before ev {merge('ev')})"
tail = """, cohorts AS (SELECT person, min(bucket) AS cohort FROM marked WHERE is_start AND person NOT IN (SELECT person FROM earlier) GROUP BY person),
 returns AS (SELECT DISTINCT person, bucket AS ret FROM marked WHERE is_return)
 SELECT cohort, NULL::BIGINT, count(*) FROM cohorts GROUP BY cohort UNION ALL SELECT c.cohort, r.ret, count(*) FROM cohorts c JOIN returns r ON r.person = c.person AND r.ret > c.cohort GROUP BY c.cohort, r.ret"""
engine = f"WITH {src}, {marked}, {before}, {earlier} {tail}"
t("engine shape", engine)
hand = f"""WITH act AS (SELECT DISTINCT coalesce(po.person_id, r.person) AS person, date_trunc('week', hour) AS week FROM rollup_hourly r {merge('r')} WHERE r.project_id = 1 AND r.hour < {T(to)} AND NOT r.is_bot),
 cohort AS (SELECT person, min(week) AS first FROM act GROUP BY person) SELECT count(*) FROM act JOIN cohort USING (person) WHERE first >= {T(frm)}"""
t("hand", hand)
# variants
t("marked only", f"WITH {src}, {marked} SELECT count(*) FROM marked")
t("distinct only", f"WITH {src} SELECT count(*) FROM (SELECT DISTINCT coalesce(po.person_id, ev.person) AS person, epoch_us(date_trunc('week', timestamp)) AS bucket FROM src ev {merge('ev')})")
t("distinct ts only", f"WITH {src} SELECT count(*) FROM (SELECT DISTINCT coalesce(po.person_id, ev.person) AS person, date_trunc('week', timestamp) AS bucket FROM src ev {merge('ev')})")
tail2 = """, cohorts AS (SELECT person, min(bucket) AS cohort FROM marked WHERE is_start GROUP BY person HAVING person NOT IN (SELECT person FROM earlier)),
 returns AS (SELECT person, bucket AS ret FROM marked WHERE is_return)
 SELECT cohort, NULL::BIGINT, count(*) FROM cohorts GROUP BY cohort UNION ALL SELECT c.cohort, r.ret, count(*) FROM cohorts c JOIN returns r ON r.person = c.person AND r.ret > c.cohort GROUP BY c.cohort, r.ret"""
t("engine, no distinct in returns, having", f"WITH {src}, {marked}, {before}, {earlier} {tail2}")
marked_ts = marked.replace("epoch_us(date_trunc('week', timestamp))", "date_trunc('week', timestamp)")
t("engine, bucket as timestamp", f"WITH {src}, {marked_ts}, {before}, {earlier} {tail}")
tail3 = """, cohorts AS (SELECT person, min(bucket) AS cohort FROM marked WHERE is_start AND person NOT IN (SELECT person FROM earlier) GROUP BY person)
 SELECT c.cohort, CASE WHEN m.bucket > c.cohort THEN m.bucket END AS ret, count(*) FROM cohorts c JOIN marked m ON m.person = c.person AND (m.bucket = c.cohort OR (m.bucket > c.cohort AND m.is_return)) GROUP BY ALL"""
t("one join", f"WITH {src}, {marked}, {before}, {earlier} {tail3}")
tail4 = """, cohorts AS (SELECT person, min(bucket) AS cohort FROM marked WHERE is_start GROUP BY person)
 SELECT c.cohort, CASE WHEN m.bucket > c.cohort THEN m.bucket END AS ret, count(*) FROM cohorts c JOIN marked m ON m.person = c.person AND (m.bucket = c.cohort OR (m.bucket > c.cohort AND m.is_return)) WHERE c.person NOT IN (SELECT person FROM earlier) GROUP BY ALL"""
t("one join, anti late", f"WITH {src}, {marked}, {before}, {earlier} {tail4}")
tail5 = """, cohorts AS (SELECT person, min(bucket) AS cohort FROM marked WHERE is_start GROUP BY person)
 SELECT c.cohort, CASE WHEN m.bucket > c.cohort THEN m.bucket END AS ret, count(*) FROM cohorts c JOIN marked m ON m.person = c.person AND (m.bucket = c.cohort OR (m.bucket > c.cohort AND m.is_return)) GROUP BY ALL"""
t("one join, no earlier", f"WITH {src}, {marked} {tail5}")
print("---")
mm = marked.replace("marked AS (", "marked AS MATERIALIZED (")
mn = marked.replace("marked AS (", "marked AS NOT MATERIALIZED (")
t("engine materialized", f"WITH {src}, {mm}, {before}, {earlier} {tail}")
t("engine not materialized", f"WITH {src}, {mn}, {before}, {earlier} {tail}")
t("engine materialized tail2", f"WITH {src}, {mm}, {before}, {earlier} {tail2}")
t("engine shape again", engine)
t("engine no earlier", f"WITH {src}, {marked} " + tail.replace(" AND person NOT IN (SELECT person FROM earlier)", ""))
print("---")
handg = hand.replace("SELECT count(*) FROM act JOIN cohort USING (person) WHERE first >=", "SELECT first, week, count(*) FROM act JOIN cohort USING (person) WHERE first >=") + " GROUP BY ALL"
t("hand grouped", handg)
tail6 = """, cohorts AS (SELECT person, min(bucket) AS cohort FROM marked WHERE is_start AND person NOT IN (SELECT person FROM earlier) GROUP BY person)
 SELECT c.cohort, CASE WHEN m.bucket > c.cohort THEN m.bucket END AS ret, count(*) FROM cohorts c JOIN marked m ON m.person = c.person WHERE m.bucket = c.cohort OR (m.bucket > c.cohort AND m.is_return) GROUP BY ALL"""
t("one join where", f"WITH {src}, {marked}, {before}, {earlier} {tail6}")
