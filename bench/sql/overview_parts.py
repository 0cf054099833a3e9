"""Where the overview's time goes, timed on a seeded data dir (BENCHMARKS.md, session 11).

Usage: python3 bench/sql/overview_parts.py DATA_DIR/events.duckdb   (pip install duckdb==2.0.0; server stopped)
Times its event part over raw events and over rollup rows, its session part over raw
events and over a per-hour session-fragment table built here in memory (not in Tally).
"""
import duckdb, time, sys
db = sys.argv[1]
c = duckdb.connect(db, read_only=True)
c.execute("SET threads=2")
to = c.execute("SELECT max(timestamp) + INTERVAL 1 SECOND FROM events").fetchone()[0]
P = "coalesce(e.person_id, -1 - (hash(e.distinct_id) >> 2)::BIGINT)"
def t(name, sql, n=4):
    ts=[]
    for _ in range(n):
        a=time.time(); r=c.execute(sql).fetchall(); ts.append((time.time()-a)*1000)
    print(f"{name}: {[round(x) for x in ts]} ms  rows={len(r)} first={r[0] if r else None}")
frm = f"TIMESTAMP '{to}' - INTERVAL 30 DAY"
prev = f"TIMESTAMP '{to}' - INTERVAL 60 DAY"
ev = f"(SELECT e.*, coalesce(po.person_id, {P}) AS person FROM events e LEFT JOIN person_overrides po ON po.project_id=e.project_id AND po.old_person_id=e.person_id WHERE e.project_id=1 AND e.timestamp >= {prev} AND e.timestamp < TIMESTAMP '{to}' AND e.is_bot IS NOT TRUE)"
t("events part raw", f"SELECT count(*) FILTER (WHERE timestamp >= {frm}), count(DISTINCT person) FILTER (WHERE timestamp >= {frm}), count(*) FILTER (WHERE event='$pageview' AND timestamp >= {frm}), count(*) FILTER (WHERE timestamp < {frm}), count(DISTINCT person) FILTER (WHERE timestamp < {frm}) FROM {ev}")
t("sessions part raw", f"WITH s AS (SELECT min(timestamp) AS started, epoch_us(max(timestamp))-epoch_us(min(timestamp)) AS length, count(*) FILTER (WHERE event='$pageview') AS pv, count(*) FILTER (WHERE event NOT IN ('$pageview','$pageleave')) AS other FROM {ev} WHERE session_id IS NOT NULL GROUP BY session_id) SELECT count(*) FILTER (WHERE started >= {frm}), count(*) FILTER (WHERE pv=1 AND other=0 AND started >= {frm}), avg(length) FILTER (WHERE started >= {frm}), count(*) FILTER (WHERE started < {frm}) FROM s")
t("null session scan", f"SELECT count(*) FROM events WHERE project_id=1 AND session_id IS NULL AND timestamp >= {prev}")
# fragments per hour
c2 = duckdb.connect()
c2.execute("SET threads=2")
c2.execute(f"ATTACH '{db}' AS src (READ_ONLY)")
a=time.time()
c2.execute(f"CREATE TABLE frag AS SELECT project_id, date_trunc('hour', timestamp) AS hour, session_id, coalesce(is_bot,false) AS is_bot, min(timestamp) AS first_at, max(timestamp) AS last_at, count(*) FILTER (WHERE event='$pageview')::INT AS pageviews, count(*) FILTER (WHERE event NOT IN ('$pageview','$pageleave'))::INT AS other FROM src.events WHERE session_id IS NOT NULL GROUP BY ALL ORDER BY hour")
print("build frag", round((time.time()-a)*1000), "ms", c2.execute("SELECT count(*) FROM frag").fetchone())
c = c2
t("sessions part frag", f"WITH s AS (SELECT min(first_at) AS started, epoch_us(max(last_at))-epoch_us(min(first_at)) AS length, sum(pageviews) AS pv, sum(other) AS other FROM frag WHERE project_id=1 AND hour >= {prev} AND hour < TIMESTAMP '{to}' AND NOT is_bot GROUP BY session_id) SELECT count(*) FILTER (WHERE started >= {frm}), count(*) FILTER (WHERE pv=1 AND other=0 AND started >= {frm}), avg(length) FILTER (WHERE started >= {frm}), count(*) FILTER (WHERE started < {frm}) FROM s")
t("events part rollup", f"WITH r AS (SELECT r.hour, r.event, coalesce(po.person_id, r.person) AS person, r.events FROM src.rollup_hourly r LEFT JOIN src.person_overrides po ON po.project_id=1 AND po.old_person_id=r.person WHERE r.project_id=1 AND r.hour >= {prev} AND r.hour < TIMESTAMP '{to}' AND NOT r.is_bot) SELECT sum(events) FILTER (WHERE hour >= {frm}), count(DISTINCT person) FILTER (WHERE hour >= {frm}), sum(events) FILTER (WHERE event='$pageview' AND hour >= {frm}), sum(events) FILTER (WHERE hour < {frm}), count(DISTINCT person) FILTER (WHERE hour < {frm}) FROM r")
