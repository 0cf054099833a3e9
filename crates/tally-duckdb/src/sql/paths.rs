//! DuckDB's SQL for paths: the rows `tally_query::paths::assemble` shapes.

use super::scope::push_from;
use super::{Sql, STORED_PERSON_KEY_EV};
use tally_query::paths::{PathType, PathsQuery};
use tally_query::sql::SqlParam;

/// Rows: step, item, next item (NULL on node rows), persons. Node rows come
/// first (every node), then the `limit` heaviest links.
pub fn paths_sql(q: &PathsQuery) -> Sql {
    let mut s = Sql::default();
    // Same-instant items of one person are taken by person key before merges,
    // then uuid: the order person timelines keep (`crate::timeline`).
    s.push("WITH items AS (SELECT ev.person, ev.timestamp AS ts, ")
        .push(STORED_PERSON_KEY_EV)
        .push(" AS pkey, ev.uuid, ")
        .push(match q.path_type {
            PathType::Pages => "ev.path",
            PathType::Events => "ev.event",
        })
        .push(" AS item");
    push_from(&mut s, &q.scope());
    if q.path_type == PathType::Pages {
        s.push(" AND ev.event = ")
            .bind(SqlParam::Text("$pageview".into()))
            .push(" AND ev.path IS NOT NULL");
    }
    s.push(
        "), runs AS (SELECT *, lag(item) OVER (PARTITION BY person ORDER BY ts, pkey, uuid) AS prev \
         FROM items), seq AS (SELECT person, item, \
         row_number() OVER (PARTITION BY person ORDER BY ts, pkey, uuid) AS n FROM runs \
         WHERE prev IS DISTINCT FROM item), anchor AS (SELECT person, min(n) AS n0 FROM seq",
    );
    if let Some(a) = &q.anchor {
        s.push(" WHERE item = ").bind(SqlParam::Text(a.clone()));
    }
    let steps = i64::try_from(q.steps).unwrap_or(i64::MAX);
    let (lo, hi) = if q.backward { (-steps, 0) } else { (0, steps) };
    s.push(
        " GROUP BY person), walk AS (SELECT s.person, s.n - a.n0 AS step, s.item FROM seq s \
         JOIN anchor a ON a.person = s.person WHERE s.n - a.n0 BETWEEN ",
    )
    .bind(SqlParam::Int(lo))
    .push(" AND ")
    .bind(SqlParam::Int(hi))
    .push(
        ") SELECT step, item, NULL::VARCHAR, count(*) FROM walk GROUP BY step, item \
         UNION ALL (SELECT a.step, a.item, b.item, count(*) AS persons FROM walk a JOIN walk b \
         ON b.person = a.person AND b.step = a.step + 1 GROUP BY a.step, a.item, b.item \
         ORDER BY persons DESC, a.step, a.item, b.item LIMIT ",
    )
    .bind(SqlParam::Int(i64::try_from(q.limit).unwrap_or(i64::MAX)))
    .push(")");
    s
}
