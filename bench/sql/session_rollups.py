"""The overview's parts on session rollups, and why funnels cannot use hourly rollups,
timed on a seeded data dir (BENCHMARKS.md, session 12).

Usage: python3 bench/sql/session_rollups.py DATA_DIR/events.duckdb   (pip install duckdb==2.0.0;
server stopped; the data dir must be at schema 8, i.e. opened once by this build and compacted)

Times, for the 30 days before the last event and the 30 before those:
- the event cards over rollup rows with each range picked by FILTER (as before) and by WHERE;
- the session cards over `rollup_sessions`: every row anti-joined against the redone
  sessions (as first built), split at `redo_from`, and split with `kept` NOT MATERIALIZED,
  with no dirty hour and with the last five hours taken as dirty;
- for a 4-step funnel ($pageview first), how many later-step events share their hour with a
  pageview of the same person, and the semi-join that would fetch those pageviews.
"""
import duckdb, sys, time

c = duckdb.connect(sys.argv[1], read_only=True)
c.execute("SET threads=2")
last = c.execute("SELECT date_trunc('hour', max(timestamp)) + INTERVAL 1 HOUR FROM events").fetchone()[0]
T = lambda d: f"TIMESTAMP '{d}'"
TO = T(last)
F = f"({TO} - INTERVAL 30 DAY)"
P = f"({TO} - INTERVAL 60 DAY)"
CUT = f"({P} - INTERVAL 1 DAY)"


def timed(name, sql, n=5):
    ts, r = [], None
    for _ in range(n):
        t = time.time()
        r = c.execute(sql).fetchall()
        ts.append(round((time.time() - t) * 1000))
    print(f"{name}: {ts} ms -> {r[:2]}")


cards = f"""cards AS (SELECT u.timestamp, u.event, coalesce(po.person_id, u.person) AS person, u.n FROM
  (SELECT r.hour AS timestamp, r.event, r.person, r.events AS n FROM rollup_hourly r
   WHERE r.project_id = 1 AND r.hour >= {P} AND r.hour < {TO} AND NOT r.is_bot) u
  LEFT JOIN person_overrides po ON po.project_id = 1 AND po.old_person_id = u.person)"""


def card(cond, by_where):
    if by_where:
        return f"(SELECT coalesce(sum(n), 0), count(DISTINCT person), coalesce(sum(n) FILTER (WHERE event = '$pageview'), 0) FROM cards WHERE {cond})"
    return f"(SELECT coalesce(sum(n) FILTER (WHERE {cond}), 0), count(DISTINCT person) FILTER (WHERE {cond}), coalesce(sum(n) FILTER (WHERE event = '$pageview' AND {cond}), 0) FROM cards)"


cur, prev = f"timestamp >= {F}", f"timestamp >= {P} AND timestamp < {F}"
for by_where in (False, True):
    timed(f"event cards, ranges by {'WHERE' if by_where else 'FILTER'}",
          f"WITH {cards} SELECT * FROM {card(cur, by_where)} ec, {card(prev, by_where)} ep")


def sessions(dirty_from, form):
    mat = "NOT MATERIALIZED " if form == "split, not materialized" else ""
    head = f"""touched AS (SELECT session_id, min(timestamp) AS first FROM events WHERE project_id = 1
  AND timestamp >= {dirty_from} AND timestamp < {TO} AND is_bot IS NOT TRUE AND session_id IS NOT NULL GROUP BY session_id),
kept AS {mat}(SELECT * FROM rollup_sessions WHERE project_id = 1 AND started < {TO} AND ended >= {CUT}),
redo AS (SELECT session_id FROM touched UNION SELECT session_id FROM kept WHERE ended >= {TO} OR started < {CUT}),
redo_from AS (SELECT greatest({CUT}, coalesce(least((SELECT min(started) FROM kept WHERE session_id IN (SELECT session_id FROM redo)),
  (SELECT min(first) FROM touched)), {TO})) AS t)"""
    row = "started, epoch_us(ended) - epoch_us(started) AS length, pageviews, other"
    if form == "anti-join every row":
        rows = f"SELECT {row} FROM kept WHERE session_id NOT IN (SELECT session_id FROM redo)"
    else:
        rows = (f"SELECT {row} FROM kept WHERE started >= {CUT} AND started < (SELECT t FROM redo_from) UNION ALL "
                f"SELECT {row} FROM kept WHERE started >= (SELECT t FROM redo_from) AND session_id NOT IN (SELECT session_id FROM redo)")
    raw = f"""SELECT min(timestamp), epoch_us(max(timestamp)) - epoch_us(min(timestamp)), count(*) FILTER (WHERE event = '$pageview'),
  count(*) FILTER (WHERE event NOT IN ('$pageview', '$pageleave')) FROM events WHERE project_id = 1
  AND timestamp >= (SELECT t FROM redo_from) AND timestamp < {TO} AND is_bot IS NOT TRUE
  AND session_id IN (SELECT session_id FROM redo) GROUP BY session_id"""
    return (f"WITH {head}, sessions AS ({rows} UNION ALL {raw}) SELECT count(*), count(*) FILTER (WHERE pageviews > 0), "
            f"count(*) FILTER (WHERE pageviews = 1 AND other = 0), avg(length) FROM sessions WHERE started >= {F}")


for form in ("anti-join every row", "split at redo_from", "split, not materialized"):
    timed(f"session cards, {form}, no dirty hour", sessions(TO, form))
timed("session cards, split, not materialized, last 5 hours dirty",
      sessions(f"({TO} - INTERVAL 5 HOUR)", "split, not materialized"))

key = "coalesce(e.person_id, -1 - (hash(e.distinct_id) >> 2)::BIGINT)"
later = f"""later AS (SELECT {key} AS person, e.timestamp AS t FROM events e WHERE e.project_id = 1
  AND e.event IN ('signup_started', 'signup_completed', 'purchase') AND e.timestamp >= {F} AND e.timestamp < {TO} AND e.is_bot IS NOT TRUE)"""
pv = f"""pv AS (SELECT {key} AS person, date_trunc('hour', e.timestamp) AS hour, min(e.timestamp) AS f, max(e.timestamp) AS l
  FROM events e WHERE e.project_id = 1 AND e.event = '$pageview' AND e.timestamp >= {F} AND e.timestamp < {TO} AND e.is_bot IS NOT TRUE GROUP BY ALL)"""
timed("funnel: later-step events / with a pageview in their hour / between its first and last",
      f"""WITH {later}, {pv} SELECT count(*), count(p.person), count(*) FILTER (WHERE p.f <= l.t AND p.l > l.t)
  FROM later l LEFT JOIN pv p ON p.person = l.person AND p.hour = date_trunc('hour', l.t)""", n=1)
timed("funnel: the pageviews of those person-hours (semi-join)",
      f"""WITH {later}, {pv}, amb AS (SELECT DISTINCT l.person, p.hour FROM later l JOIN pv p ON p.person = l.person
  AND p.hour = date_trunc('hour', l.t) WHERE p.f <= l.t AND p.l > l.t)
  SELECT count(*) FROM events e SEMI JOIN amb a ON a.person = {key} AND a.hour = date_trunc('hour', e.timestamp)
  WHERE e.project_id = 1 AND e.event = '$pageview' AND e.timestamp >= {F} AND e.timestamp < {TO}""", n=3)
