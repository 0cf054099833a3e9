//! ClickHouse's SQL for persons: one person, and the persons list
//! (`tally_query::persons` says what it shows). Persons are read as each
//! id's latest row (`schema.rs`), merged-away ones left out.

use super::filters::push_filter;
use crate::client::Sql;
use tally_query::persons::{PersonOrder, PersonsQuery};
use tally_query::sql::SqlParam;

/// The persons of a project as they are now, named `pp`, with the columns
/// filters read (`prop_keys`, `prop_values`, `prop_types`).
pub(crate) fn push_current_persons(s: &mut Sql, project_id: i64) {
    s.push(
        "(SELECT id, identified_now AS is_identified, first_now AS first_seen, \
         last_now AS last_seen, properties_now AS properties, keys_now AS prop_keys, \
         values_now AS prop_values, types_now AS prop_types FROM (SELECT id, \
         argMax(is_identified, version) AS identified_now, argMax(first_seen, version) AS first_now, \
         argMax(last_seen, version) AS last_now, argMax(properties, version) AS properties_now, \
         argMax(prop_keys, version) AS keys_now, argMax(prop_values, version) AS values_now, \
         argMax(prop_types, version) AS types_now, argMax(is_deleted, version) AS deleted_now \
         FROM persons WHERE project_id = ",
    )
    .bind(SqlParam::Int(project_id))
    .push(" GROUP BY id HAVING deleted_now = 0)) AS pp");
}

/// Every distinct id of a project with the person it belongs to now (its
/// linked person followed through an override): rows `(distinct_id, owner)`.
pub(crate) fn push_owned_ids(s: &mut Sql, project_id: i64) {
    s.push(
        "(SELECT distinct_id, if(now != 0, now, linked) AS owner FROM (SELECT distinct_id, \
         argMax(person_id, version) AS linked FROM person_distinct_ids WHERE project_id = ",
    )
    .bind(SqlParam::Int(project_id))
    .push(
        " GROUP BY distinct_id) AS l ANY LEFT JOIN (SELECT old_person_id, \
         argMax(person_id, version) AS now FROM person_overrides WHERE project_id = ",
    )
    .bind(SqlParam::Int(project_id))
    .push(" GROUP BY old_person_id) AS po ON po.old_person_id = l.linked)");
}

/// The columns of a person row, in [`crate::query::PersonRow`]'s order.
const PERSON_COLUMNS: &str =
    "SELECT pp.id, pp.is_identified, pp.first_seen, pp.last_seen, pp.properties";

/// The person a distinct id belongs to (no row when none).
pub(crate) fn person(project_id: i64, distinct_id: &str) -> Sql {
    let mut s = Sql::default();
    s.push(PERSON_COLUMNS).push(" FROM ");
    push_current_persons(&mut s, project_id);
    s.push(" WHERE pp.id = ");
    super::person_of(&mut s, project_id, distinct_id);
    s
}

/// The persons with these ids, by ascending id.
pub(crate) fn persons_by_id(project_id: i64, ids: &[i64]) -> Sql {
    let mut s = Sql::default();
    s.push(PERSON_COLUMNS).push(" FROM ");
    push_current_persons(&mut s, project_id);
    s.push(" WHERE pp.id IN ")
        .bind_list(ids.iter().map(|id| SqlParam::Int(*id)))
        .push(" ORDER BY pp.id");
    s
}

/// One page of the persons list (one row past the limit when there is more).
pub(crate) fn persons_page(q: &PersonsQuery) -> Sql {
    let order = match q.order_by {
        PersonOrder::LastSeen => "pp.last_seen DESC, pp.id DESC",
        PersonOrder::FirstSeen => "pp.first_seen DESC, pp.id DESC",
    };
    let mut s = Sql::default();
    s.push(PERSON_COLUMNS).push(" FROM ");
    push_current_persons(&mut s, q.project_id);
    s.push(" WHERE 1");
    if let Some(text) = &q.search {
        // Property names, values as text, and distinct ids, ignoring case.
        let bound = || SqlParam::Text(text.clone());
        s.push(" AND (arrayExists(k -> positionCaseInsensitiveUTF8(k, ")
            .bind(bound())
            .push(") > 0, pp.prop_keys) OR arrayExists(v -> positionCaseInsensitiveUTF8(v, ")
            .bind(bound())
            .push(") > 0, pp.prop_values) OR pp.id IN (SELECT owner FROM ");
        push_owned_ids(&mut s, q.project_id);
        s.push(" WHERE positionCaseInsensitiveUTF8(distinct_id, ")
            .bind(bound())
            .push(") > 0))");
    }
    if let Some(f) = &q.filters {
        s.push(" AND ");
        push_filter(&mut s, f);
    }
    s.push(" ORDER BY ")
        .push(order)
        .push(" LIMIT ")
        .bind(SqlParam::Int(q.limit as i64 + 1))
        .push(" OFFSET ")
        .bind(SqlParam::Int(i64::try_from(q.offset).unwrap_or(i64::MAX)));
    s
}

/// Rows `(owner, distinct_id)` of the distinct ids of these persons.
pub(crate) fn distinct_ids_of(project_id: i64, ids: &[i64]) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT owner, distinct_id FROM ");
    push_owned_ids(&mut s, project_id);
    s.push(" WHERE owner IN ")
        .bind_list(ids.iter().map(|id| SqlParam::Int(*id)));
    s
}

/// Rows `(person, events)`: how many stored events count as each of these
/// persons (bots included), found through the ids stored on the events.
pub(crate) fn event_counts_of(project_id: i64, ids: &[i64]) -> Sql {
    let list = || ids.iter().map(|id| SqlParam::Int(*id));
    let mut s = Sql::default();
    s.push("SELECT if(now != 0, now, assumeNotNull(person_id)) AS owner, count() FROM events AS e");
    super::push_overrides_join(&mut s, project_id);
    s.push(" WHERE project_id = ")
        .bind(SqlParam::Int(project_id))
        .push(" AND (person_id IN ")
        .bind_list(list())
        .push(
            " OR person_id GLOBAL IN (SELECT old_person_id FROM (SELECT old_person_id, \
           argMax(person_id, version) AS merged_into FROM person_overrides WHERE project_id = ",
        )
        .bind(SqlParam::Int(project_id))
        .push(" GROUP BY old_person_id) WHERE merged_into IN ")
        .bind_list(list())
        .push(")) GROUP BY owner");
    s
}
