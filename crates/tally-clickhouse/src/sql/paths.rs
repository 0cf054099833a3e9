//! ClickHouse's SQL for paths: the node and link rows `tally_query::paths::assemble`
//! shapes, as DuckDB's. Each person's items are a sorted array (time, then the
//! person key before merges, then uuid — DuckDB's order), runs of the same item
//! collapsed, cut to the steps around the anchor with `arraySlice` (no window
//! functions on ClickHouse 18.16, and no lambda there may read another
//! column: it would not see it).

use super::retention::append;
use super::scope::push_from;
use crate::client::Sql;
use tally_query::paths::{PathType, PathsQuery};
use tally_query::sql::SqlParam;

/// Rows: step, item, next item (NULL on node rows), persons: every node and
/// every link, in no order.
pub(crate) fn paths_sql(q: &PathsQuery) -> Sql {
    let steps = i64::try_from(q.steps).unwrap_or(i64::MAX);
    // Per person: the walked items `w` and the step of its first one.
    let mut walk = Sql::default();
    walk.push("(SELECT ");
    if q.backward {
        walk.push("toInt64(greatest(n0 - ")
            .bind(SqlParam::Int(steps))
            .push(", 1)) - n0 AS first_step, arraySlice(seq, greatest(n0 - ")
            .bind(SqlParam::Int(steps))
            .push(", 1), n0 - greatest(n0 - ")
            .bind(SqlParam::Int(steps))
            .push(", 1) + 1) AS w");
    } else {
        walk.push("toInt64(0) AS first_step, arraySlice(seq, n0, ")
            .bind(SqlParam::Int(steps + 1))
            .push(") AS w");
    }
    walk.push(" FROM (SELECT seq, ");
    match &q.anchor {
        Some(a) => {
            walk.push("toInt64(indexOf(seq, ")
                .bind(SqlParam::Text(a.clone()))
                .push("))");
        }
        None => {
            walk.push("toInt64(1)");
        }
    }
    walk.push(
        " AS n0 FROM (SELECT arrayFilter((x, i) -> i = 1 OR x != items[i - 1], items, \
         arrayEnumerate(items)) AS seq FROM (SELECT ev.person AS person, \
         arrayMap(t -> tupleElement(t, 4), arraySort(t -> (tupleElement(t, 1), tupleElement(t, 2), \
         tupleElement(t, 3)), groupArray((ev.timestamp, ifNull(ev.person_id, ev.person), \
         toFixedString(unhex(replaceAll(ev.uuid, '-', '')), 16), ",
    )
    .push(match q.path_type {
        PathType::Pages => "assumeNotNull(ev.path)",
        PathType::Events => "ev.event",
    })
    .push(")))) AS items");
    push_from(&mut walk, &q.scope());
    if q.path_type == PathType::Pages {
        walk.push(" AND ev.event = ")
            .bind(SqlParam::Text("$pageview".into()))
            .push(" AND isNotNull(ev.path)");
    }
    walk.push(" GROUP BY person))) WHERE n0 > 0)");

    // One pass over the walks gives both kinds of rows: each step's item
    // (`next` NULL) and each link; the heaviest links are kept by the caller
    // (`tally_query::paths::heaviest_links`). Two passes (a UNION ALL) held
    // both walks at once: 4 GB on 10M events (BENCHMARKS).
    let mut s = Sql::default();
    s.push(
        "SELECT toInt64(first_step + tupleElement(r, 1) - 1) AS step, w[tupleElement(r, 1)] AS item, \
         if(tupleElement(r, 2) = 1, CAST(w[tupleElement(r, 1) + 1] AS Nullable(String)), \
         CAST(NULL AS Nullable(String))) AS next, count() AS persons FROM ",
    );
    append(&mut s, &walk);
    s.push(
        " ARRAY JOIN arrayConcat(arrayMap(k -> (k, 0), arrayEnumerate(w)), \
         arrayMap(k -> (k, 1), arrayEnumerate(arrayPopBack(w)))) AS r GROUP BY step, item, next",
    );
    s
}
