//! Person timelines: what funnels and paths walk instead of sorting events by
//! person per query.
//!
//! A timeline row (`rollup_timeline`) holds one project's non-bot events of one
//! UTC hour and one person key before merges ([`STORED_PERSON_KEY`]), in order
//! (time, then uuid), as three lists: microseconds into the hour, the event
//! name's number and the page path's number (0 unless a `$pageview` with a
//! path). `rollup_names` numbers names and paths per project. Compaction writes
//! both with the hourly rollups, so an hour's rows are exact unless it is
//! dirty, as for every rollup (`crate::rollup`).
//!
//! A query that qualifies ([`funnel_reads_timeline`], [`paths_reads_timeline`])
//! reads the rows of the rolled-up hours of its range ([`rows_sql`]) and the raw
//! events of the rest ([`raw_sql`]) into [`Timelines`] (only the times and the
//! one list the query walks: [`Item`]), which hands each person's
//! events in the order the raw SQL sorts them: time, then person key before
//! merges, then uuid. The walk is then the one the raw query's rows get, so the
//! answers are the raw answers (the DuckDB store's tests compare them).

use crate::funnel::{FunnelAnswer, FunnelQuery, FunnelWalk, StepOrder};
use crate::paths::{assemble, PathRow, PathType, PathsAnswer, PathsQuery};
use crate::rollup::push_within;
use crate::sql::{Sql, SqlParam, STORED_PERSON_KEY};
use crate::types::TimeRange;
use std::collections::HashMap;
use tally_core::ProjectId;

/// The event whose page paths the lists number.
pub const PAGEVIEW: &str = "$pageview";

/// Whether a funnel can walk timelines: no filters anywhere, no breakdown,
/// bots left out (the rows hold only non-bot events and no properties).
pub fn funnel_reads_timeline(q: &FunnelQuery) -> bool {
    q.filters.is_none()
        && q.breakdown.is_none()
        && !q.include_bots
        && q.steps.iter().all(|s| s.filters.is_none())
}

/// Whether paths can walk timelines: no filters, bots left out.
pub fn paths_reads_timeline(q: &PathsQuery) -> bool {
    q.filters.is_none() && !q.include_bots
}

/// Inserts into `rollup_names` the event names and page paths of a project's
/// events in `hours` that have no number yet (numbers are unique over all
/// projects, so the next is one past the largest).
pub fn new_names_sql(project_id: ProjectId, hours: &[TimeRange]) -> Sql {
    let mut s = Sql::default();
    s.push(
        "INSERT INTO rollup_names SELECT x.project_id, \
         ((SELECT coalesce(max(id), 0) FROM rollup_names) + row_number() OVER (ORDER BY x.name))::UINTEGER, \
         x.name FROM (SELECT DISTINCT e.project_id, \
         unnest(CASE WHEN e.event = ",
    )
    .bind(SqlParam::Text(PAGEVIEW.into()))
    .push(" AND e.path IS NOT NULL THEN [e.event, e.path] ELSE [e.event] END) AS name FROM events e WHERE e.project_id = ")
    .bind(SqlParam::Int(project_id))
    .push(" AND e.is_bot IS NOT TRUE AND ");
    push_within(&mut s, "e.timestamp", hours);
    s.push(
        ") x WHERE NOT EXISTS (SELECT 1 FROM rollup_names n \
         WHERE n.project_id = x.project_id AND n.name = x.name)",
    );
    s
}

/// The timeline rows of a project's events in `hours` (whole hours, their
/// names numbered by [`new_names_sql`] first), in the column order of
/// `rollup_timeline`.
pub fn timeline_rows_sql(project_id: ProjectId, hours: &[TimeRange]) -> Sql {
    const ORDER: &str = " ORDER BY e.timestamp, e.uuid)";
    let mut s = Sql::default();
    s.push("SELECT e.project_id, ")
        .push(STORED_PERSON_KEY)
        .push(
            " AS person, date_trunc('hour', e.timestamp) AS hour, \
             list((epoch_us(e.timestamp) - epoch_us(date_trunc('hour', e.timestamp)))::UINTEGER",
        )
        .push(ORDER)
        .push(", list(n.id")
        .push(ORDER)
        .push(", list(coalesce(p.id, 0)::UINTEGER")
        .push(ORDER)
        .push(
            " FROM events e JOIN rollup_names n ON n.project_id = e.project_id AND n.name = e.event \
             LEFT JOIN rollup_names p ON p.project_id = e.project_id AND p.name = e.path AND e.event = ",
        )
        .bind(SqlParam::Text(PAGEVIEW.into()))
        .push(" WHERE e.project_id = ")
        .bind(SqlParam::Int(project_id))
        .push(" AND e.is_bot IS NOT TRUE AND ");
    push_within(&mut s, "e.timestamp", hours);
    s.push(" GROUP BY ALL");
    s
}

/// Which list of a timeline a query walks (besides the times): each event's
/// name, or its page path (`$pageview`s with a path; 0 for other events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Event,
    Page,
}

impl Item {
    fn column(self) -> &'static str {
        match self {
            Item::Event => "event",
            Item::Page => "page",
        }
    }
}

/// Rows: person (through merges), person key before merges, hour start (µs),
/// the times list and the `item` list, for the rows of `stretches` (whole
/// rolled-up hours).
pub fn rows_sql(project_id: ProjectId, stretches: &[TimeRange], item: Item) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT coalesce(po.person_id, r.person), r.person, epoch_us(r.hour), r.micros, r.")
        .push(item.column())
        .push(
            " FROM rollup_timeline r LEFT JOIN person_overrides po \
             ON po.project_id = r.project_id AND po.old_person_id = r.person WHERE r.project_id = ",
        )
        .bind(SqlParam::Int(project_id))
        .push(" AND ");
    push_within(&mut s, "r.hour", stretches);
    s
}

/// Rows: person (through merges), person key before merges, time (µs), event
/// name, page path (`$pageview`s only) of the non-bot events in `parts`, in
/// timeline order.
pub fn raw_sql(project_id: ProjectId, parts: &[TimeRange]) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT coalesce(po.person_id, ")
        .push(STORED_PERSON_KEY)
        .push("), ")
        .push(STORED_PERSON_KEY)
        .push(", epoch_us(e.timestamp), e.event, CASE WHEN e.event = ")
        .bind(SqlParam::Text(PAGEVIEW.into()))
        .push(
            " THEN e.path END FROM events e LEFT JOIN person_overrides po \
             ON po.project_id = e.project_id AND po.old_person_id = e.person_id WHERE e.project_id = ",
        )
        .bind(SqlParam::Int(project_id))
        .push(" AND e.is_bot IS NOT TRUE AND ");
    push_within(&mut s, "e.timestamp", parts);
    s.push(" ORDER BY e.timestamp, 2, e.uuid");
    s
}

/// Rows: name, number, for those of `names` a project has numbered.
pub fn name_ids_sql(project_id: ProjectId, names: &[&str]) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT name, id FROM rollup_names WHERE project_id = ")
        .bind(SqlParam::Int(project_id))
        .push(" AND name IN ")
        .bind_list(names.iter().map(|n| SqlParam::Text((*n).to_string())));
    s
}

/// Rows: number, name, for those of `ids` a project has.
pub fn id_names_sql(project_id: ProjectId, ids: &[u32]) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT id, name FROM rollup_names WHERE project_id = ")
        .bind(SqlParam::Int(project_id))
        .push(" AND id IN ")
        .bind_list(ids.iter().map(|&id| SqlParam::Int(i64::from(id))));
    s
}

/// Names by number: the project's numbers read for this query, and numbers of
/// its own (from the top down) for names met in raw events that have none yet.
#[derive(Debug, Default)]
pub struct Names {
    ids: HashMap<String, u32>,
    own: Vec<String>,
}

impl Names {
    /// A name's stored number, from [`name_ids_sql`].
    pub fn learn(&mut self, name: String, id: u32) {
        self.ids.insert(name, id);
    }

    pub fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = u32::MAX - u32::try_from(self.own.len()).unwrap_or(u32::MAX - 1);
        self.own.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    /// The name of one of this query's own numbers.
    fn own_name(&self, id: u32) -> Option<&str> {
        let i = usize::try_from(u32::MAX - id).ok()?;
        self.own.get(i).map(String::as_str)
    }
}

/// One event of a timeline: time (µs) and the number of its [`Item`] (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub t_us: i64,
    pub item: u32,
}

/// A run of one person key's events in order: a row, or one raw event.
#[derive(Debug, Clone, Copy)]
struct Segment {
    person: i64,
    key: i64,
    /// The time of its first event.
    first_us: i64,
    /// A row's hour start (µs); unused for a raw event.
    hour_us: i64,
    /// The row source it is in, or [`RAW`].
    source: u32,
    /// Its events: `begin..end` of the source's lists (or of the raw events).
    begin: u32,
    end: u32,
}

/// [`Segment::source`] of a raw event.
const RAW: u32 = u32::MAX;

/// Timeline rows and raw events of one query's range, handed out per person.
/// Rows are not copied: they borrow the lists of the sources they were read
/// from (e.g. Arrow batches), which outlive this.
#[derive(Debug, Default)]
pub struct Timelines<'a> {
    /// Per source: the values of its two list columns (micros, item).
    sources: Vec<[&'a [u32]; 2]>,
    segments: Vec<Segment>,
    raw: Vec<Step>,
}

impl<'a> Timelines<'a> {
    /// A batch of rows: the concatenated values of its two list columns.
    /// Returns its number, for [`Timelines::push_row`].
    pub fn add_source(&mut self, micros: &'a [u32], item: &'a [u32]) -> u32 {
        self.sources.push([micros, item]);
        u32::try_from(self.sources.len() - 1).unwrap_or(RAW - 1)
    }

    /// A timeline row from [`rows_sql`]: its lists are `begin..end` of the
    /// source's values.
    pub fn push_row(
        &mut self,
        source: u32,
        person: i64,
        key: i64,
        hour_us: i64,
        begin: usize,
        end: usize,
    ) {
        let Some(first) = self.sources[source as usize][0].get(begin) else {
            return;
        };
        if end <= begin {
            return;
        }
        self.segments.push(Segment {
            person,
            key,
            first_us: hour_us + i64::from(*first),
            hour_us,
            source,
            begin: u32::try_from(begin).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        });
    }

    /// A raw event from [`raw_sql`], its names numbered.
    pub fn push_event(&mut self, person: i64, key: i64, step: Step) {
        let begin = u32::try_from(self.raw.len()).unwrap_or(u32::MAX);
        self.raw.push(step);
        self.segments.push(Segment {
            person,
            key,
            first_us: step.t_us,
            hour_us: 0,
            source: RAW,
            begin,
            end: begin + 1,
        });
    }

    /// The events of one segment, appended to `out`.
    fn extend(&self, seg: &Segment, out: &mut Vec<Step>) {
        let (b, e) = (seg.begin as usize, seg.end as usize);
        if seg.source == RAW {
            out.extend_from_slice(&self.raw[b..e]);
            return;
        }
        let [micros, item] = self.sources[seg.source as usize];
        out.extend(
            micros[b..e]
                .iter()
                .zip(&item[b..e])
                .map(|(&m, &item)| Step {
                    t_us: seg.hour_us + i64::from(m),
                    item,
                }),
        );
    }

    /// Hands each person and their events in order (time, person key before
    /// merges, then as stored: the raw SQL's order) to `f`, in `parts` sets of
    /// persons (split by a hash of the person) on as many threads, persons
    /// ascending within each: each set starts from `start()`, and the states
    /// come back one per set.
    pub fn for_each_person<S: Send>(
        self,
        parts: usize,
        start: impl Fn() -> S + Sync,
        f: impl Fn(&mut S, i64, &[Step]) + Sync,
    ) -> Vec<S> {
        let parts = parts.max(1);
        let mut sets: Vec<Vec<Segment>> = (0..parts)
            .map(|_| Vec::with_capacity(self.segments.len() / parts + 1))
            .collect();
        for seg in &self.segments {
            // Fibonacci hashing: person ids are dense, keys from distinct ids
            // are hashes; both spread evenly.
            let h = (seg.person as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
            sets[(h % parts as u64) as usize].push(*seg);
        }
        let this = &self;
        let run = |mut part: Vec<Segment>| {
            // Raw events come in the raw SQL's order, so `begin` keeps
            // same-instant events of one key in uuid order.
            part.sort_unstable_by_key(|s| (s.person, s.first_us, s.key, s.source, s.begin));
            let mut state = start();
            let mut person_steps: Vec<Step> = Vec::new();
            let mut keyed: Vec<(i64, i64, usize)> = Vec::new();
            for group in part.chunk_by(|a, b| a.person == b.person) {
                person_steps.clear();
                // Segments of one key never overlap (one hour, or one event);
                // those of two keys merged into one person may: then order
                // every event by time and key.
                let mut overlap = false;
                let mut last: Option<(i64, i64)> = None;
                for seg in group {
                    let from = person_steps.len();
                    this.extend(seg, &mut person_steps);
                    if let Some((t, key)) = last {
                        if seg.first_us < t || (seg.first_us == t && seg.key != key) {
                            overlap = true;
                        }
                    }
                    if person_steps.len() > from {
                        last = person_steps.last().map(|s| (s.t_us, seg.key));
                    }
                }
                if overlap {
                    keyed.clear();
                    let mut i = 0;
                    for seg in group {
                        for _ in seg.begin..seg.end {
                            keyed.push((person_steps[i].t_us, seg.key, i));
                            i += 1;
                        }
                    }
                    keyed.sort_unstable();
                    let sorted: Vec<Step> =
                        keyed.iter().map(|&(_, _, i)| person_steps[i]).collect();
                    person_steps = sorted;
                }
                f(&mut state, group[0].person, &person_steps);
            }
            state
        };
        if parts == 1 {
            return sets.into_iter().map(run).collect();
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = sets
                .into_iter()
                .map(|part| {
                    let run = &run;
                    scope.spawn(move || run(part))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    }
}

/// How many threads walk timelines: the machine's cores, at most 4.
pub fn walk_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// The numbers of a funnel's step events (their names looked up in `names`).
pub fn step_bits(q: &FunnelQuery, names: &mut Names) -> Vec<(u32, i64)> {
    q.steps
        .iter()
        .enumerate()
        .map(|(k, s)| (names.id(&s.event), 1i64 << k))
        .collect()
}

/// The funnel over timelines: the walk of [`crate::funnel::funnel_sql`]'s rows,
/// built from each person's events.
pub fn walk_funnel(
    q: &FunnelQuery,
    timelines: Timelines<'_>,
    bits_of: &[(u32, i64)],
) -> FunnelAnswer {
    let to_us = q.range.to.timestamp_micros();
    let loose = q.order == StepOrder::Loose;
    let parts = timelines.for_each_person(
        walk_threads(),
        || (FunnelWalk::new(q), Vec::<(i64, i64)>::new()),
        |(walk, marked), person, steps| {
            marked.clear();
            for s in steps {
                let bits = bits_of
                    .iter()
                    .filter(|(id, _)| *id == s.item)
                    .fold(0, |acc, (_, b)| acc | b);
                // Loose order reads only events of a step; strict, every event.
                if bits != 0 || !loose {
                    marked.push((s.t_us, bits));
                }
            }
            // Same-instant events in step order, as the SQL sorts them.
            if !marked.is_sorted() {
                marked.sort_unstable();
            }
            for (i, &(t, bits)) in marked.iter().enumerate() {
                // As the SQL drops them: a first-step-only event followed by
                // another inside the range cannot start a better attempt.
                let superseded = loose
                    && bits == 1
                    && marked
                        .get(i + 1)
                        .is_some_and(|&(next_t, next_bits)| next_bits == 1 && next_t < to_us);
                if !superseded {
                    walk.push(person, t, bits, None);
                }
            }
        },
    );
    let mut parts = parts.into_iter().map(|(walk, _)| walk);
    let mut walk = parts.next().unwrap_or_else(|| FunnelWalk::new(q));
    for later in parts {
        walk.absorb(later);
    }
    walk.finish(q)
}

/// The list paths walk: page numbers or event numbers.
pub fn paths_item(q: &PathsQuery) -> Item {
    match q.path_type {
        PathType::Pages => Item::Page,
        PathType::Events => Item::Event,
    }
}

/// What paths over timelines count before names are known: every node and
/// every link, by number.
#[derive(Debug, Default)]
pub struct PathCounts {
    nodes: HashMap<(i64, u32), i64>,
    links: HashMap<(i64, u32, u32), i64>,
}

impl PathCounts {
    /// Every number a node or link holds (to look their names up).
    pub fn ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.nodes.keys().map(|&(_, id)| id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Counts the paths of each person (as [`crate::paths::paths_sql`] does):
/// items in order with repeats collapsed, from the first occurrence of the
/// anchor (or the first item), `steps` items after it (or before, backward).
pub fn count_paths(q: &PathsQuery, timelines: Timelines<'_>, anchor: Option<u32>) -> PathCounts {
    let to_us = q.range.to.timestamp_micros();
    let steps = i64::try_from(q.steps).unwrap_or(i64::MAX);
    let parts = timelines.for_each_person(
        walk_threads(),
        || (PathCounts::default(), Vec::<u32>::new()),
        |(counts, items), _, events| {
            items.clear();
            for e in events.iter().filter(|e| e.t_us < to_us) {
                // Pages: a page number is only ever a `$pageview`'s.
                if e.item == 0 {
                    continue;
                }
                let item = e.item;
                if items.last() != Some(&item) {
                    items.push(item);
                }
            }
            let at = match (q.anchor.as_ref(), anchor) {
                (None, _) => (!items.is_empty()).then_some(0),
                (Some(_), Some(a)) => items.iter().position(|&i| i == a),
                (Some(_), None) => None,
            };
            let Some(at) = at else { return };
            let at = i64::try_from(at).unwrap_or(i64::MAX);
            let (lo, hi) = if q.backward { (-steps, 0) } else { (0, steps) };
            let item_at = |step: i64| {
                usize::try_from(at + step)
                    .ok()
                    .and_then(|i| items.get(i).copied())
            };
            for step in lo..=hi {
                let Some(item) = item_at(step) else { continue };
                *counts.nodes.entry((step, item)).or_default() += 1;
                if step < hi {
                    if let Some(next) = item_at(step + 1) {
                        *counts.links.entry((step, item, next)).or_default() += 1;
                    }
                }
            }
        },
    );
    let mut total = PathCounts::default();
    for (counts, _) in parts {
        for (k, n) in counts.nodes {
            *total.nodes.entry(k).or_default() += n;
        }
        for (k, n) in counts.links {
            *total.links.entry(k).or_default() += n;
        }
    }
    total
}

/// The answer from the counts, names looked up (`stored`: the project's names of
/// [`PathCounts::ids`], from [`id_names_sql`]).
pub fn paths_answer(
    q: &PathsQuery,
    counts: PathCounts,
    names: &Names,
    stored: &HashMap<u32, String>,
) -> PathsAnswer {
    let name = |id: u32| -> String {
        stored
            .get(&id)
            .cloned()
            .or_else(|| names.own_name(id).map(str::to_string))
            .unwrap_or_default()
    };
    let mut rows: Vec<PathRow> = counts
        .nodes
        .iter()
        .map(|(&(step, item), &persons)| PathRow {
            step,
            item: name(item),
            next: None,
            persons,
        })
        .collect();
    let mut links: Vec<PathRow> = counts
        .links
        .iter()
        .map(|(&(step, a, b), &persons)| PathRow {
            step,
            item: name(a),
            next: Some(name(b)),
            persons,
        })
        .collect();
    // As the SQL ranks them: heaviest first, then by step and names.
    links.sort_by(|a, b| {
        b.persons
            .cmp(&a.persons)
            .then(a.step.cmp(&b.step))
            .then_with(|| a.item.cmp(&b.item))
            .then_with(|| a.next.cmp(&b.next))
    });
    links.truncate(q.limit);
    rows.extend(links);
    assemble(q, rows)
}
