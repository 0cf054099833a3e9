#!/usr/bin/env python3
"""SQL variants of the slow analytics queries, timed on a seeded events file.

The figures in docs/BENCHMARKS.md that compare ways of writing one query
(session 9: retention, funnel, paths) come from this script. It reads the file
DuckDB's Python package (the same DuckDB version Tally bundles) opens read-only,
so the server must be stopped:

    pip install duckdb==2.0.0
    tally seed --events 10000000 --days 30 --data-dir /tmp/qb/data
    python3 bench/duckdb_variants.py /tmp/qb/data/events.duckdb [variant ...]

Each variant runs `--runs` times (default 4, all printed: the first is cold);
variants of one query print the same answer when they answer the same question.
Ranges end at the newest event, as after `tally seed`. Project 1, bots left out.
"""

import argparse
import time

import duckdb

# The events with the person each counts as (as the engine's SQL reads them).
EWP = (
    "(SELECT e.*, coalesce(po.person_id, e.person_id, -1 - (hash(e.distinct_id) >> 2)::BIGINT)"
    " AS person FROM events e LEFT JOIN person_overrides po"
    " ON po.project_id = e.project_id AND po.old_person_id = e.person_id)"
)
STEPS = ["$pageview", "signup_started", "signup_completed", "purchase"]


def retention_variants():
    marked = (
        "SELECT ev.person, epoch_us(date_trunc('week', timestamp)) AS bucket, TRUE AS is_start,"
        f" TRUE AS is_return FROM {EWP} ev WHERE ev.project_id = 1 AND ev.timestamp >= $1"
        " AND ev.timestamp < $2 AND ev.is_bot IS NOT TRUE"
    )
    rest = (
        f", earlier AS (SELECT DISTINCT ev.person FROM {EWP} ev WHERE ev.project_id = 1"
        " AND ev.timestamp < $1 AND ev.is_bot IS NOT TRUE),"
        " cohorts AS (SELECT person, min(bucket) AS cohort FROM marked WHERE is_start"
        " AND person NOT IN (SELECT person FROM earlier) GROUP BY person),"
        " returns AS (SELECT DISTINCT person, bucket AS ret FROM marked WHERE is_return)"
        " SELECT sum(n) FROM (SELECT count(*) AS n FROM cohorts UNION ALL"
        " SELECT count(*) FROM cohorts c JOIN returns r ON r.person = c.person AND r.ret > c.cohort)"
    )
    return {
        "retention-per-event": f"WITH marked AS ({marked})" + rest,
        "retention-grouped": "WITH marked AS (SELECT person, bucket, bool_or(is_start) AS is_start,"
        f" bool_or(is_return) AS is_return FROM ({marked}) GROUP BY person, bucket)" + rest,
        "retention-hand": f"WITH act AS (SELECT DISTINCT person, date_trunc('week', timestamp) AS week"
        f" FROM {EWP} WHERE project_id = 1 AND timestamp < $2 AND is_bot IS NOT TRUE),"
        " cohort AS (SELECT person, min(week) AS first FROM act GROUP BY person)"
        " SELECT count(*) FROM act JOIN cohort USING (person) WHERE epoch_us(first) >= epoch_us($1)",
    }


def funnel_variants():
    bits = " | ".join(f"(CASE WHEN ev.event = '{s}' THEN {1 << k} ELSE 0 END)" for k, s in enumerate(STEPS))
    marked = (
        f"WITH marked AS (SELECT * FROM (SELECT ev.person, epoch_us(ev.timestamp) AS t_us, {bits} AS bits,"
        f" ev.uuid FROM {EWP} ev WHERE ev.project_id = 1 AND ev.timestamp >= $1"
        " AND ev.timestamp < $2 + INTERVAL 1 DAY AND ev.is_bot IS NOT TRUE) WHERE bits <> 0)"
    )

    def windowed(order):
        # The engine's loose-funnel stream: superseded first steps dropped, sorted for the walk.
        return (
            marked + " SELECT count(*), sum(bits) FROM (SELECT person, t_us, bits FROM (SELECT *,"
            " lead(bits) OVER w AS next_bits, lead(t_us) OVER w AS next_t FROM marked"
            f" WINDOW w AS (PARTITION BY person ORDER BY {order})) WHERE NOT coalesce(bits = 1"
            f" AND next_bits = 1 AND next_t < epoch_us($2), false) ORDER BY person, {order})"
        )

    return {
        "funnel-scan-only": marked + " SELECT count(*), sum(bits) FROM marked WHERE $2 IS NOT NULL",
        "funnel-stream-uuid-order": windowed("t_us, uuid"),
        "funnel-stream-step-order": windowed("t_us, bits"),
        "funnel-movers-only": marked + ", movers AS (SELECT DISTINCT person FROM marked WHERE bits > 1)"
        " SELECT count(*), sum(bits) FROM (SELECT *, lead(bits) OVER w AS next_bits, lead(t_us) OVER w"
        " AS next_t FROM marked WHERE person IN (SELECT person FROM movers) WINDOW w AS"
        " (PARTITION BY person ORDER BY t_us, uuid)) WHERE NOT coalesce(bits = 1 AND next_bits = 1"
        " AND next_t < epoch_us($2), false)",
        "funnel-asof": marked + ", later AS (SELECT * FROM marked WHERE bits > 1),"
        " firsts AS (SELECT * FROM marked WHERE bits & 1 <> 0 AND t_us < epoch_us($2)),"
        " starts AS (SELECT DISTINCT f.person, f.t_us, f.bits FROM later l ASOF JOIN firsts f"
        " ON f.person = l.person AND f.t_us <= l.t_us),"
        " lone AS (SELECT person, min(t_us) AS t_us FROM firsts GROUP BY person)"
        " SELECT count(*), sum(bits) FROM (SELECT * FROM (SELECT person, t_us, bits FROM later"
        " UNION ALL SELECT * FROM starts UNION ALL SELECT person, t_us, 1 FROM lone) ORDER BY person, t_us)",
    }


def paths_variants():
    items = (
        "WITH items AS (SELECT ev.person, ev.timestamp AS ts, ev.uuid, ev.path AS item"
        f" FROM {EWP} ev WHERE ev.project_id = 1 AND ev.timestamp >= $1 AND ev.timestamp < $2"
        " AND ev.is_bot IS NOT TRUE AND ev.event = '$pageview' AND ev.path IS NOT NULL)"
    )
    links = (
        " SELECT count(*), sum(persons) FROM (SELECT a.step, a.item, b.item, count(*) AS persons"
        " FROM walk a JOIN walk b ON b.person = a.person AND b.step = a.step + 1"
        " GROUP BY a.step, a.item, b.item ORDER BY persons DESC, a.step, a.item, b.item LIMIT 50)"
    )
    engine = (
        items + ", runs AS (SELECT *, lag(item) OVER (PARTITION BY person ORDER BY ts, uuid) AS prev"
        " FROM items), seq AS (SELECT person, item, row_number() OVER (PARTITION BY person"
        " ORDER BY ts, uuid) AS n FROM runs WHERE prev IS DISTINCT FROM item),"
        " anchor AS (SELECT person, min(n) AS n0 FROM seq WHERE item = '/' GROUP BY person),"
        " walk AS (SELECT s.person, s.n - a.n0 AS step, s.item FROM seq s JOIN anchor a"
        " ON a.person = s.person WHERE s.n - a.n0 BETWEEN 0 AND 3)" + links
    )
    return {
        "paths-engine": engine,
        "paths-materialized": engine.replace("seq AS (", "seq AS MATERIALIZED (").replace(
            "walk AS (", "walk AS MATERIALIZED ("
        ),
        "paths-from-first-anchor": items
        + ", firsts AS (SELECT person, min((ts, uuid)) AS k0 FROM items WHERE item = '/' GROUP BY person),"
        " after AS (SELECT i.* FROM items i JOIN firsts f ON f.person = i.person WHERE (i.ts, i.uuid) >= f.k0),"
        " runs AS (SELECT *, lag(item) OVER (PARTITION BY person ORDER BY ts, uuid) AS prev FROM after),"
        " walk AS MATERIALIZED (SELECT person, item, row_number() OVER (PARTITION BY person"
        " ORDER BY ts, uuid) - 1 AS step FROM runs WHERE prev IS DISTINCT FROM item QUALIFY step <= 3)"
        + links,
        "paths-lists": "WITH seqs AS (SELECT person, list(path ORDER BY timestamp, uuid) AS l"
        f" FROM {EWP} WHERE project_id = 1 AND timestamp >= $1 AND timestamp < $2 AND is_bot IS NOT TRUE"
        " AND event = '$pageview' AND path IS NOT NULL GROUP BY person),"
        " runs AS (SELECT person, list_filter(l, lambda x, i: i = 1 OR x <> l[i - 1]) AS r FROM seqs),"
        " anchored AS (SELECT person, r[list_position(r, '/'):list_position(r, '/') + 3] AS w"
        " FROM runs WHERE list_position(r, '/') > 0),"
        " pairs AS (SELECT i - 1 AS step, w[i] AS a, w[i + 1] AS b FROM anchored, range(1, len(w)) t(i))"
        " SELECT count(*), sum(c) FROM (SELECT step, a, b, count(*) AS c FROM pairs GROUP BY ALL"
        " ORDER BY c DESC, step, a, b LIMIT 50)",
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database")
    parser.add_argument("variants", nargs="*", help="names (or prefixes) to run; default all")
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()
    con = duckdb.connect(args.database, read_only=True)
    newest = con.execute("SELECT max(timestamp) FROM events").fetchone()[0]
    # 30 days for funnels and paths; the 8 weeks ending with the newest event's for retention.
    thirty = con.execute("SELECT $1::TIMESTAMP - INTERVAL 30 DAY, $1::TIMESTAMP + INTERVAL 1 SECOND", [newest]).fetchone()
    weeks = con.execute(
        "SELECT date_trunc('week', $1::TIMESTAMP) - INTERVAL 7 WEEK, date_trunc('week', $1::TIMESTAMP) + INTERVAL 1 WEEK",
        [newest],
    ).fetchone()
    cases = [(name, sql, weeks) for name, sql in retention_variants().items()]
    cases += [(name, sql, thirty) for name, sql in {**funnel_variants(), **paths_variants()}.items()]
    print(f"DuckDB {duckdb.__version__}; newest event {newest}; {args.runs} runs each (ms)")
    for name, sql, (start, end) in cases:
        if args.variants and not any(name.startswith(v) for v in args.variants):
            continue
        took = []
        for _ in range(args.runs):
            started = time.time()
            answer = con.execute(sql, [start, end]).fetchall()
            took.append(round((time.time() - started) * 1000))
        print(f"{name:28} {took}  answer {answer}")


if __name__ == "__main__":
    main()
