//! ClickHouse's SQL for the queries `tally_query` defines, valid on 18.16 and
//! current releases, with every value bound through the client: only
//! identifiers and keywords this module chooses reach the SQL text. Mirrors
//! `tally-duckdb`'s `sql` module, one kind at a time.

use crate::client::Sql;
use tally_query::sql::SqlParam;
use tally_query::types::EventsQuery;

/// The columns of an event page row, in [`crate::query::EventRow`]'s order.
pub(crate) const EVENT_COLUMNS: &str = "SELECT uuid, event, distinct_id, timestamp, received_at, \
     url, path, referrer, session_id, properties, browser, os, device, is_bot";

/// An event page: newest first, timestamp ties by uuid, one row past the limit
/// (it tells whether there is a next page).
pub(crate) fn events_page(q: &EventsQuery) -> Sql {
    let mut s = Sql::default();
    s.push(EVENT_COLUMNS)
        .push(" FROM events WHERE project_id = ")
        .bind(SqlParam::Int(q.project_id));
    event_filters(&mut s, q);
    if let Some(c) = q.cursor {
        s.push(" AND (timestamp < ")
            .bind(SqlParam::Time(c.timestamp))
            .push(" OR (timestamp = ")
            .bind(SqlParam::Time(c.timestamp))
            .push(" AND uuid < ")
            .bind(SqlParam::Text(c.uuid.to_string()))
            .push("))");
    }
    s.push(" ORDER BY timestamp DESC, uuid DESC LIMIT ")
        .bind(SqlParam::Int(q.limit as i64 + 1));
    if q.offset > 0 {
        s.push(" OFFSET ")
            .bind(SqlParam::Int(i64::try_from(q.offset).unwrap_or(i64::MAX)));
    }
    s
}

/// One row, one column: how many events match the query's filters.
pub(crate) fn events_count(q: &EventsQuery) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT count() FROM events WHERE project_id = ")
        .bind(SqlParam::Int(q.project_id));
    event_filters(&mut s, q);
    s
}

fn event_filters(s: &mut Sql, q: &EventsQuery) {
    if let Some(event) = &q.event {
        s.push(" AND event = ").bind(SqlParam::Text(event.clone()));
    }
    if let Some(d) = &q.distinct_id {
        s.push(" AND distinct_id = ")
            .bind(SqlParam::Text(d.clone()));
    }
    if let Some(d) = &q.person {
        // The person's own events, those stored with any person merged into
        // it, and those stored without a person under this very id.
        s.push(" AND (distinct_id = ")
            .bind(SqlParam::Text(d.clone()))
            .push(
                " OR person_id IN (SELECT old_person_id FROM (SELECT old_person_id, \
                   argMax(person_id, version) AS now FROM person_overrides WHERE project_id = ",
            )
            .bind(SqlParam::Int(q.project_id))
            .push(" GROUP BY old_person_id) WHERE now = ");
        person_of(s, q.project_id, d);
        s.push(") OR person_id = ");
        person_of(s, q.project_id, d);
        s.push(")");
    }
    if let Some(after) = q.after {
        s.push(" AND timestamp >= ").bind(SqlParam::Time(after));
    }
    if let Some(before) = q.before {
        s.push(" AND timestamp < ").bind(SqlParam::Time(before));
    }
}

/// A scalar subquery: the person a distinct id counts as now (its linked
/// person followed through an override), 0 when it has none.
pub(crate) fn person_of(s: &mut Sql, project_id: i64, distinct_id: &str) {
    s.push(
        "(SELECT if(o.now = 0, l.person, o.now) FROM (SELECT argMax(person_id, version) AS person \
         FROM person_distinct_ids WHERE project_id = ",
    )
    .bind(SqlParam::Int(project_id))
    .push(" AND distinct_id = ")
    .bind(SqlParam::Text(distinct_id.to_owned()))
    .push(
        ") AS l CROSS JOIN (SELECT argMax(person_id, version) AS now FROM person_overrides \
           WHERE project_id = ",
    )
    .bind(SqlParam::Int(project_id))
    .push(
        " AND old_person_id IN (SELECT argMax(person_id, version) FROM person_distinct_ids \
           WHERE project_id = ",
    )
    .bind(SqlParam::Int(project_id))
    .push(" AND distinct_id = ")
    .bind(SqlParam::Text(distinct_id.to_owned()))
    .push(")) AS o)");
}
