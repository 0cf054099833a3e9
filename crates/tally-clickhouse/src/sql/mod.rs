//! ClickHouse's SQL for the queries `tally_query` defines, valid on 18.16 and
//! current releases, with every value bound through the client: only
//! identifiers and keywords this module chooses reach the SQL text. Mirrors
//! `tally-duckdb`'s `sql` module.
//!
//! Every JOIN and IN whose query reads `events` itself is `GLOBAL`: on a
//! sharded cluster `events` is a `Distributed` table, and the right side (the
//! persons, kept on the URL's server only) is computed there and sent to the
//! shards with the query; on one server `GLOBAL` changes no answer (18.16's
//! `GLOBAL IN` does skip the primary index, so these conditions are all on
//! `person_id`, which no index covers; the insert's key check stays a plain
//! `IN` on one server, `store.rs`). Queries over
//! a subquery of `events` run where the store connects, so their joins need
//! nothing.

pub(crate) mod activity;
pub(crate) mod filters;
pub(crate) mod funnel;
pub(crate) mod overview;
pub(crate) mod paths;
pub(crate) mod persons;
pub(crate) mod realtime;
pub(crate) mod retention;
pub(crate) mod scope;
pub(crate) mod sessions;
pub(crate) mod top;
pub(crate) mod trends;

use crate::client::Sql;
use chrono::{DateTime, Utc};
use tally_query::buckets::BucketPlan;
use tally_query::sql::SqlParam;
use tally_query::types::{
    DefinitionKind, DefinitionsQuery, EventsQuery, Interval, Math, TimeRange, TimeseriesQuery,
    TopEventsQuery,
};

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

pub(crate) fn event_filters(s: &mut Sql, q: &EventsQuery) {
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
                " OR person_id GLOBAL IN (SELECT old_person_id FROM (SELECT old_person_id, \
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

/// The events of one project with `person`, the person each one counts as
/// now: the person stamped at ingest followed through an override, or, for an
/// event stored without one, a negative key from its distinct id (never equal
/// to a person id, which is positive). Named `ev`. Only those from `from`
/// (when given) until `to`: ClickHouse 18.16 does not push a condition of
/// the outer query into the subquery (`enable_optimize_predicate_expression`
/// is off), so without the range here every query would read the project's
/// whole history. Callers keep their own range condition too.
pub(crate) fn push_events_with_person(
    s: &mut Sql,
    project_id: i64,
    from: Option<DateTime<Utc>>,
    to: DateTime<Utc>,
) {
    s.push(
        "(SELECT project_id, timestamp, event, distinct_id, uuid, session_id, person_id, url, \
         path, referrer, browser, os, device, country, properties, prop_keys, prop_values, \
         prop_types, is_bot, if(isNull(person_id), ",
    )
    .push(STORED_PERSON_KEY)
    .push(", if(now != 0, now, assumeNotNull(person_id))) AS person FROM events AS e");
    push_overrides_join(s, project_id);
    s.push(" WHERE project_id = ")
        .bind(SqlParam::Int(project_id));
    if let Some(from) = from {
        s.push(" AND timestamp >= ").bind(SqlParam::Time(from));
    }
    s.push(" AND timestamp < ")
        .bind(SqlParam::Time(to))
        .push(") AS ev");
}

/// ` GLOBAL ANY LEFT JOIN …` giving each row of `events` `now`: the person its
/// stored `person_id` was merged into (0 when none). Joined `USING
/// (person_id)`: a `GLOBAL` join's right side reaches the shards as a table
/// without its alias, so `ON` could not name it.
pub(crate) fn push_overrides_join(s: &mut Sql, project_id: i64) {
    s.push(
        " GLOBAL ANY LEFT JOIN (SELECT toNullable(old_person_id) AS person_id, now FROM \
         (SELECT old_person_id, argMax(person_id, version) AS now FROM person_overrides \
         WHERE project_id = ",
    )
    .bind(SqlParam::Int(project_id))
    .push(" GROUP BY old_person_id)) AS po USING (person_id)");
}

/// The key an event stored without a person counts by (its distinct id's).
pub(crate) const STORED_PERSON_KEY: &str = "-1 - toInt64(intDiv(cityHash64(distinct_id), 4))";

/// A property of the row (`prefix` names its relation: `ev.`, `pp.` or
/// nothing) as text: NULL when absent or JSON null.
pub(crate) fn push_property_of(s: &mut Sql, prefix: &str, key: SqlParam) {
    s.push("if(")
        .push(prefix)
        .push("prop_types[indexOf(")
        .push(prefix)
        .push("prop_keys, ")
        .bind(key.clone())
        .push(")] = '', NULL, ")
        .push(prefix)
        .push("prop_values[indexOf(")
        .push(prefix)
        .push("prop_keys, ")
        .bind(key)
        .push(")])");
}

/// `timestamp` shifted to local time (µs) with the offset in force then.
pub(crate) fn local_time(s: &mut Sql, plan: &BucketPlan) {
    match plan.segments.as_slice() {
        [only] if only.offset_secs == 0 => {
            s.push("timestamp");
        }
        [only] => {
            s.push("(timestamp + 1000000 * ")
                .bind(SqlParam::Int(only.offset_secs))
                .push(")");
        }
        [first, rest @ ..] => {
            s.push("(timestamp + 1000000 * multiIf(");
            let mut offset = first.offset_secs;
            for seg in rest {
                s.push("timestamp < ")
                    .bind(SqlParam::Time(seg.starts_at))
                    .push(", ")
                    .bind(SqlParam::Int(offset))
                    .push(", ");
                offset = seg.offset_secs;
            }
            s.push("").bind(SqlParam::Int(offset)).push("))");
        }
        [] => unreachable!("a plan always has one segment"),
    }
}

/// The start of the bucket holding `timestamp`, as µs of the naive local time
/// ([`BucketPlan::index_of`] reads it). Plain integer arithmetic on the local
/// microseconds (weeks start on Monday, as DuckDB's `date_trunc('week')`);
/// months through `toStartOfMonth` in UTC, which the local time is written in.
pub(crate) fn bucket_start(s: &mut Sql, plan: &BucketPlan) {
    const DAY: &str = "86400000000";
    s.push("toInt64(");
    match plan.interval {
        Interval::Minute | Interval::Hour | Interval::Day => {
            let unit = match plan.interval {
                Interval::Minute => "60000000",
                Interval::Hour => "3600000000",
                _ => DAY,
            };
            s.push("intDiv(");
            local_time(s, plan);
            s.push(", ").push(unit).push(") * ").push(unit);
        }
        Interval::Week => {
            s.push("(intDiv(");
            local_time(s, plan);
            s.push(", ").push(DAY).push(") - (intDiv(");
            local_time(s, plan);
            s.push(", ").push(DAY).push(") + 3) % 7) * ").push(DAY);
        }
        Interval::Month => {
            s.push("dateDiff('day', toDate('1970-01-01'), toStartOfMonth(toDateTime(intDiv(");
            local_time(s, plan);
            s.push(", 1000000), 'UTC'))) * ").push(DAY);
        }
    }
    s.push(")");
}

fn bots(s: &mut Sql, include: bool) {
    if !include {
        s.push(" AND is_bot = 0");
    }
}

fn in_range(s: &mut Sql, range: TimeRange) {
    s.push(" AND timestamp >= ")
        .bind(SqlParam::Time(range.from))
        .push(" AND timestamp < ")
        .bind(SqlParam::Time(range.to));
}

/// Rows: (local bucket start as µs of the naive local time, value).
pub(crate) fn timeseries(q: &TimeseriesQuery) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT ");
    bucket_start(&mut s, &q.plan);
    s.push(" AS bucket, ").push(match q.math {
        Math::Total => "count()",
        Math::UniqueUsers => "uniqExact(person)",
    });
    s.push(" FROM ");
    if q.filters.needs_sessions() {
        sessions::push_with_facts(
            &mut s,
            sessions::Window {
                project_id: q.project_id,
                from: Some(q.range.from),
                to: q.range.to,
                include_bots: q.include_bots,
            },
        );
        s.push(" AS ev");
    } else if q.math == Math::UniqueUsers {
        push_events_with_person(&mut s, q.project_id, Some(q.range.from), q.range.to);
    } else {
        s.push("events AS ev");
    }
    s.push(" WHERE project_id = ")
        .bind(SqlParam::Int(q.project_id));
    in_range(&mut s, q.range);
    if let Some(event) = &q.event {
        s.push(" AND event = ").bind(SqlParam::Text(event.clone()));
    }
    bots(&mut s, q.include_bots);
    top::push_dimension_filters(&mut s, &q.filters);
    s.push(" GROUP BY bucket");
    s
}

/// Rows: (event, count, unique persons), most frequent first, then by name.
pub(crate) fn top_events(q: &TopEventsQuery) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT event, count() AS n, uniqExact(person) FROM ");
    push_events_with_person(&mut s, q.project_id, Some(q.range.from), q.range.to);
    s.push(" WHERE project_id = ")
        .bind(SqlParam::Int(q.project_id));
    in_range(&mut s, q.range);
    bots(&mut s, q.include_bots);
    s.push(" GROUP BY event ORDER BY n DESC, event LIMIT ")
        .bind(SqlParam::Int(q.limit as i64));
    s
}

/// Rows: (name, type or '', first seen µs, last seen µs, events), most used
/// first, then by name. Computed from the stored events, so a duplicate that
/// was not stored is not counted. A property's type is the one of its
/// earliest non-null value (DuckDB keeps the first one stored; the same but
/// for events stored out of time order).
pub(crate) fn definitions(q: &DefinitionsQuery) -> Sql {
    let mut s = Sql::default();
    match q.kind {
        DefinitionKind::Event => {
            s.push(
                "SELECT event AS name, '' AS type, min(timestamp), max(timestamp), count() AS n \
                 FROM events WHERE project_id = ",
            )
            .bind(SqlParam::Int(q.project_id));
        }
        DefinitionKind::Property => {
            s.push(
                "SELECT key AS name, argMinIf(ptype, timestamp, ptype != ''), min(timestamp), \
                 max(timestamp), count() AS n FROM events ARRAY JOIN prop_keys AS key, \
                 prop_types AS ptype WHERE project_id = ",
            )
            .bind(SqlParam::Int(q.project_id));
        }
    }
    if let Some(search) = &q.search {
        s.push(" AND positionCaseInsensitiveUTF8(name, ")
            .bind(SqlParam::Text(search.clone()))
            .push(") > 0");
    }
    s.push(" GROUP BY name ORDER BY n DESC, name LIMIT ")
        .bind(SqlParam::Int(q.limit as i64));
    s
}
