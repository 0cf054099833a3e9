//! DuckDB's SQL for the persons list.

use super::filters::push_filter;
use super::Sql;
use tally_query::persons::{PersonOrder, PersonsQuery};
use tally_query::sql::SqlParam;

/// Rows (one more than the limit when there is a next page): id, identified,
/// first seen µs, last seen µs, properties JSON, distinct ids JSON array, events.
pub fn persons_sql(q: &PersonsQuery) -> Sql {
    let order = match q.order_by {
        PersonOrder::LastSeen => "last_seen DESC, id DESC",
        PersonOrder::FirstSeen => "first_seen DESC, id DESC",
    };
    let mut s = Sql::default();
    s.push(
        "WITH page AS (SELECT pp.id, pp.is_identified, pp.first_seen, pp.last_seen, pp.properties \
         FROM persons pp WHERE pp.project_id = ",
    )
    .bind(SqlParam::Int(q.project_id));
    if let Some(text) = &q.search {
        // Property names and values as text (not the JSON document, whose
        // escaping would hide quotes); each value is read through a JSON Pointer
        // built in SQL from its stored key.
        s.push(" AND (len(list_filter(json_keys(pp.properties), lambda k: contains(lower(k), lower(")
            .bind(SqlParam::Text(text.clone()))
            .push(")) OR contains(lower(coalesce(json_extract_string(pp.properties, '/' || \
                   replace(replace(k, '~', '~0'), '/', '~1')), '')), lower(")
            .bind(SqlParam::Text(text.clone()))
            .push(")))) > 0 OR EXISTS (SELECT 1 FROM person_distinct_ids d WHERE d.project_id = pp.project_id \
                   AND d.person_id = pp.id AND contains(lower(d.distinct_id), lower(")
            .bind(SqlParam::Text(text.clone()))
            .push("))))");
    }
    if let Some(f) = &q.filters {
        s.push(" AND ");
        push_filter(&mut s, f);
    }
    s.push(" ORDER BY pp.")
        .push(order)
        .push(" LIMIT ")
        .bind(SqlParam::Int(q.limit as i64 + 1))
        .push(" OFFSET ")
        .bind(SqlParam::Int(i64::try_from(q.offset).unwrap_or(i64::MAX)))
        // The page's events: those stored under one of its ids or under an id
        // merged into one (found by the stored id, which the scan can filter
        // on, rather than by the person each event counts as: that is computed
        // for every event of the project first).
        .push(
            "), counts AS (SELECT coalesce(po.person_id, e.person_id) AS person, count(*) AS n \
             FROM events e LEFT JOIN person_overrides po ON po.project_id = e.project_id \
             AND po.old_person_id = e.person_id WHERE e.project_id = ",
        )
        .bind(SqlParam::Int(q.project_id))
        .push(
            " AND e.person_id IN (SELECT id FROM page UNION ALL SELECT m.old_person_id \
             FROM person_overrides m WHERE m.project_id = ",
        )
        .bind(SqlParam::Int(q.project_id))
        .push(
            " AND m.person_id IN (SELECT id FROM page)) GROUP BY 1) \
             SELECT page.id, page.is_identified, epoch_us(page.first_seen), epoch_us(page.last_seen), \
             page.properties::VARCHAR, (SELECT to_json(list(o.distinct_id ORDER BY o.distinct_id))::VARCHAR \
             FROM person_distinct_ids o WHERE o.project_id = ",
        )
        .bind(SqlParam::Int(q.project_id))
        .push(
            " AND o.person_id = page.id), coalesce(counts.n, 0) FROM page \
             LEFT JOIN counts ON counts.person = page.id ORDER BY page.",
        )
        .push(order);
    s
}
