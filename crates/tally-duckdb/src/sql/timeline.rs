//! Person timelines: what funnels and paths walk instead of sorting events by
//! person per query.
//!
//! A timeline row (`rollup_timeline`) holds one project's non-bot events of one
//! UTC hour and one person key before merges ([`STORED_PERSON_KEY`]), in order
//! (time, then uuid), as three lists: microseconds into the hour, the event
//! name's number and the page path's number (0 unless a `$pageview` with a
//! path). `rollup_names` numbers names and paths per project. Compaction writes
//! both with the hourly rollups, so an hour's rows are exact unless it is
//! dirty, as for every rollup (`super::rollup`).
//!
//! A query that qualifies ([`funnel_reads_timeline`], [`paths_reads_timeline`])
//! reads the rows of the rolled-up hours of its range ([`rows_sql`]) and the raw
//! events of the rest ([`raw_sql`]) into [`Timelines`] (only the times and the
//! one list the query walks: [`Item`]), which hands each person's
//! events in the order the raw SQL sorts them: time, then person key before
//! merges, then uuid. The walk is then the one the raw query's rows get, so the
//! answers are the raw answers (the DuckDB store's tests compare them).

use super::rollup::push_within;
use super::{Sql, STORED_PERSON_KEY};
use std::collections::HashMap;
use tally_core::ProjectId;
use tally_query::funnel::{FunnelAnswer, FunnelQuery, FunnelWalk, StepOrder};
use tally_query::paths::{assemble, PathRow, PathType, PathsAnswer, PathsQuery};
use tally_query::sql::SqlParam;
use tally_query::types::TimeRange;

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
/// whether the person is merged from several keys, the times list and the
/// `item` list, for the rows of `stretches` (whole rolled-up hours).
pub fn rows_sql(project_id: ProjectId, stretches: &[TimeRange], item: Item) -> Sql {
    let mut s = Sql::default();
    s.push(
        "SELECT coalesce(po.person_id, r.person), r.person, epoch_us(r.hour), \
         po.person_id IS NOT NULL OR r.person IN \
         (SELECT m.person_id FROM person_overrides m WHERE m.project_id = ",
    )
    .bind(SqlParam::Int(project_id))
    .push("), r.micros, r.")
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

/// `SELECT {columns} FROM {table}` of one project's rows in `hours`.
fn select_in_hours(columns: &str, table: &str, project_id: ProjectId, hours: &[TimeRange]) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT ")
        .push(columns)
        .push(" FROM ")
        .push(table)
        .push(" WHERE project_id = ")
        .bind(SqlParam::Int(project_id))
        .push(" AND ");
    push_within(&mut s, "hour", hours);
    s
}

/// Rows: hour start (µs), stamp, of the rolled-up hours in `stretches` that
/// have one (those with timeline rows, and others compaction rewrote).
pub fn stamps_sql(project_id: ProjectId, stretches: &[TimeRange]) -> Sql {
    let mut s = select_in_hours(
        "epoch_us(hour), stamp",
        "rollup_stamps",
        project_id,
        stretches,
    );
    s.push(" ORDER BY hour");
    s
}

/// Rows: person key before merges, hour start (µs), and the times, event and
/// page lists, of the timeline rows of `hours` (whole hours): what the
/// in-memory copies hold.
pub fn whole_rows_sql(project_id: ProjectId, hours: &[TimeRange]) -> Sql {
    select_in_hours(
        "person, epoch_us(hour), micros, event, page",
        "rollup_timeline",
        project_id,
        hours,
    )
}

/// Rows: person key merged away, the person it belongs to now.
pub fn overrides_sql(project_id: ProjectId) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT old_person_id, person_id FROM person_overrides WHERE project_id = ")
        .bind(SqlParam::Int(project_id));
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
    /// A name's stored number, from [`name_ids_sql`] (a name already
    /// numbered for this query keeps its number: what was thinned used it).
    pub fn learn(&mut self, name: String, id: u32) {
        self.ids.entry(name).or_insert(id);
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

/// What a walk keeps of one timeline row, as the row is taken in: the events
/// it reaches the same answer from as from the whole row, given that the
/// person's other events lie in other hours. That holds for every person
/// with one key; a person merged from several keys gets every row whole
/// ([`Timelines::push_row`]), since their keys' events may interleave.
/// Each part of a walk thins its rows with its own copy.
pub trait Thin: Clone {
    /// Appends to `out` the events the walk needs of one row (one key's
    /// events of the hour starting at `hour_us`: µs into the hour and item
    /// numbers, in order): a subset of the row, in its order or in one the
    /// walk reads the same.
    fn thin(&self, hour_us: i64, micros: &[u32], items: &[u32], out: &mut Vec<Step>);
}

/// The events of a row, whole.
fn whole_row<'a>(
    hour_us: i64,
    micros: &'a [u32],
    items: &'a [u32],
) -> impl Iterator<Item = Step> + 'a {
    micros.iter().zip(items).map(move |(&m, &item)| Step {
        t_us: hour_us + i64::from(m),
        item,
    })
}

/// Keeps every event.
#[derive(Debug, Clone, Copy, Default)]
#[cfg(test)]
pub struct Whole;

#[cfg(test)]
impl Thin for Whole {
    fn thin(&self, hour_us: i64, micros: &[u32], items: &[u32], out: &mut Vec<Step>) {
        out.extend(whole_row(hour_us, micros, items));
    }
}

/// A run of one person key's events in order: a row's kept events, or one raw
/// event.
#[derive(Debug, Clone, Copy)]
struct Segment {
    person: i64,
    key: i64,
    /// The time of its first event.
    first_us: i64,
    /// Its events: `begin..end` of [`Timelines::events`].
    begin: usize,
    end: usize,
}

/// Timeline rows and raw events of one query's range, thinned as they come in
/// (`T`) and handed out per person. Holds its own copy of the kept events, so
/// what they were read from (Arrow batches) can go as soon as it is taken in.
#[derive(Debug)]
pub struct Timelines<T> {
    /// One part per thread of the walk, each person's in one by a hash of the
    /// person.
    parts: Vec<Part<T>>,
}

/// The segments of one set of persons, and their kept events.
#[derive(Debug)]
struct Part<T> {
    thin: T,
    segments: Vec<Segment>,
    events: Vec<Step>,
}

impl<T: Thin> Part<T> {
    fn push_row(&mut self, row: TimelineRow<'_>) {
        let begin = self.events.len();
        if row.merged {
            self.events
                .extend(whole_row(row.hour_us, row.micros, row.items));
        } else {
            self.thin
                .thin(row.hour_us, row.micros, row.items, &mut self.events);
        }
        self.push_segment(row.person, row.key, begin);
    }

    fn push_segment(&mut self, person: i64, key: i64, begin: usize) {
        let Some(first) = self.events.get(begin) else {
            return;
        };
        self.segments.push(Segment {
            person,
            key,
            first_us: first.t_us,
            begin,
            end: self.events.len(),
        });
    }
}

/// Which of `parts` parts a person's events go to. Fibonacci hashing: person
/// ids are dense, keys from distinct ids are hashes; both spread evenly.
fn part_of(person: i64, parts: usize) -> usize {
    let h = (person as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
    (h % parts as u64) as usize
}

/// One timeline row as taken in ([`rows_sql`]'s columns).
#[derive(Debug, Clone, Copy)]
pub struct TimelineRow<'a> {
    /// The person, through merges.
    pub person: i64,
    /// The person key before merges.
    pub key: i64,
    /// The hour's start (µs).
    pub hour_us: i64,
    /// The person is merged from several keys, so the row is kept whole.
    pub merged: bool,
    /// µs into the hour, in order.
    pub micros: &'a [u32],
    /// The item numbers (one list of [`Item`]), one per time.
    pub items: &'a [u32],
}

/// Hands rows to [`Timelines::take_in_parallel`].
pub type PushRow<'a> = dyn FnMut(TimelineRow<'_>) + 'a;

impl<T: Thin> Timelines<T> {
    /// Empty, for a walk on `parts` threads ([`walk_threads`]).
    pub fn new(parts: usize, thin: T) -> Self {
        Self {
            parts: (0..parts.max(1))
                .map(|_| Part {
                    thin: thin.clone(),
                    segments: Vec::new(),
                    events: Vec::new(),
                })
                .collect(),
        }
    }

    /// A timeline row from [`rows_sql`], thinned unless `merged`.
    pub fn push_row(&mut self, row: TimelineRow<'_>) {
        let n = self.parts.len();
        self.parts[part_of(row.person, n)].push_row(row);
    }

    /// Takes in rows on one thread per part: `rows` is called once on each
    /// and hands every row to the function it gets (as to [`push_row`],
    /// in any order), which keeps those of the part's persons. For rows
    /// already in memory: each thread reads them all and thins its share.
    ///
    /// [`push_row`]: Self::push_row
    pub fn take_in_parallel(&mut self, rows: impl Fn(&mut PushRow<'_>) + Sync)
    where
        T: Send,
    {
        let n = self.parts.len();
        let rows = &rows;
        std::thread::scope(|scope| {
            for (i, part) in self.parts.iter_mut().enumerate() {
                scope.spawn(move || {
                    rows(&mut |row| {
                        if part_of(row.person, n) == i {
                            part.push_row(row);
                        }
                    });
                });
            }
        });
    }

    /// A raw event from [`raw_sql`] (in its order), its names numbered; never
    /// thinned.
    pub fn push_event(&mut self, person: i64, key: i64, step: Step) {
        let n = self.parts.len();
        let part = &mut self.parts[part_of(person, n)];
        let begin = part.events.len();
        part.events.push(step);
        part.push_segment(person, key, begin);
    }

    /// How many events were kept (rows thinned, raw events whole).
    pub fn kept_events(&self) -> usize {
        self.parts.iter().map(|p| p.events.len()).sum()
    }

    /// Hands each person and their kept events in order (time, person key
    /// before merges, then as stored: the raw SQL's order) to `f`, one set of
    /// persons per thread, persons ascending within each: each set starts from
    /// `start()`, and the states come back one per set.
    pub fn for_each_person<S: Send>(
        self,
        start: impl Fn() -> S + Sync,
        f: impl Fn(&mut S, i64, &[Step]) + Sync,
    ) -> Vec<S> {
        let run = |(mut part, events): (Vec<Segment>, Vec<Step>)| {
            let events = &events[..];
            // Raw events come in the raw SQL's order, so `begin` keeps
            // same-instant events of one key in uuid order.
            // By person only (one comparison), then each person's few
            // segments in order, when they are not already.
            part.sort_unstable_by_key(|s| s.person);
            let mut state = start();
            let mut person_steps: Vec<Step> = Vec::new();
            let mut keyed: Vec<(i64, i64, usize)> = Vec::new();
            for group in part.chunk_by_mut(|a, b| a.person == b.person) {
                let order = |s: &Segment| (s.first_us, s.key, s.begin);
                if !group.is_sorted_by_key(order) {
                    group.sort_unstable_by_key(order);
                }
                let group = &*group;
                if let [one] = group {
                    f(&mut state, one.person, &events[one.begin..one.end]);
                    continue;
                }
                person_steps.clear();
                // Segments of one key never overlap (one hour, or one event);
                // those of two keys merged into one person (kept whole) may:
                // then order every event by time and key.
                let mut overlap = false;
                let mut last: Option<(i64, i64)> = None;
                for seg in group {
                    if let Some((t, key)) = last {
                        if seg.first_us < t || (seg.first_us == t && seg.key != key) {
                            overlap = true;
                        }
                    }
                    let run = &events[seg.begin..seg.end];
                    person_steps.extend_from_slice(run);
                    last = run.last().map(|s| (s.t_us, seg.key));
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
        let one = self.parts.len() == 1;
        let parts = self.parts.into_iter().map(|p| (p.segments, p.events));
        if one {
            return parts.map(run).collect();
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = parts
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

/// Which steps each event number is (a bit per step), for a funnel's events.
#[derive(Debug, Clone)]
pub struct StepBits {
    steps: Vec<(u32, i64)>,
    /// The steps of every number up to the largest small step number (stored
    /// numbers are small and dense): looked up once per event of a row.
    small: Vec<i64>,
}

impl StepBits {
    /// Numbers below this are looked up in a table.
    const SMALL: u32 = 1 << 16;

    /// The funnel's step events, their names numbered in `names`.
    pub fn new(q: &FunnelQuery, names: &mut Names) -> Self {
        let steps: Vec<(u32, i64)> = q
            .steps
            .iter()
            .enumerate()
            .map(|(k, s)| (names.id(&s.event), 1i64 << k))
            .collect();
        let size = steps
            .iter()
            .map(|&(id, _)| id)
            .filter(|&id| id < Self::SMALL)
            .max()
            .map_or(0, |id| id as usize + 1);
        let mut small = vec![0; size];
        for &(id, bits) in &steps {
            if let Some(b) = small.get_mut(id as usize) {
                *b |= bits;
            }
        }
        Self { steps, small }
    }

    /// The steps an event with this number is (0: none).
    pub fn of(&self, item: u32) -> i64 {
        if let Some(&bits) = self.small.get(item as usize) {
            return bits;
        }
        if item < Self::SMALL {
            return 0;
        }
        self.steps
            .iter()
            .filter(|(id, _)| *id == item)
            .fold(0, |acc, (_, b)| acc | b)
    }
}

/// What a funnel walk keeps of a row. Strict order reads every event, so
/// keeps the row whole. Loose order reads only step events, and drops (as
/// [`walk_funnel`] does) a first-step-only event followed by another before
/// the range's end: a later start of an attempt is as good. A row's last step
/// event is always kept, since what follows it is in another row; `walk_funnel`
/// then drops what is left to drop.
#[derive(Debug, Clone)]
pub struct FunnelThin {
    bits: StepBits,
    to_us: i64,
    loose: bool,
    /// The step events (steps, number) of one instant of the row taken in.
    instant: std::cell::RefCell<Vec<(i64, u32)>>,
}

impl FunnelThin {
    pub fn new(q: &FunnelQuery, bits: StepBits) -> Self {
        Self {
            bits,
            to_us: q.range.to.timestamp_micros(),
            loose: q.order == StepOrder::Loose,
            instant: Default::default(),
        }
    }
}

impl Thin for FunnelThin {
    fn thin(&self, hour_us: i64, micros: &[u32], items: &[u32], out: &mut Vec<Step>) {
        if !self.loose {
            out.extend(whole_row(hour_us, micros, items));
            return;
        }
        // The walk's order is time, then steps: same-instant events of several
        // steps (rare, but common for a very active person) may come in
        // another, so each instant's step events are put in step order first.
        let mut kept = Kept::default();
        let mut instant = self.instant.borrow_mut();
        instant.clear();
        let mut at = i64::MIN;
        for (&m, &item) in micros.iter().zip(items) {
            let bits = self.bits.of(item);
            if bits == 0 {
                continue;
            }
            let t_us = hour_us + i64::from(m);
            if t_us != at {
                kept.push_instant(out, at, &mut instant, self.to_us);
                at = t_us;
            }
            instant.push((bits, item));
        }
        kept.push_instant(out, at, &mut instant, self.to_us);
        kept.finish(out);
    }
}

/// A row's step events kept so far (in the walk's order): the last is held
/// back until the next shows whether it is superseded.
#[derive(Default)]
struct Kept {
    held: Option<(Step, i64)>,
}

impl Kept {
    fn push(&mut self, out: &mut Vec<Step>, step: Step, bits: i64, to_us: i64) {
        if let Some((held, held_bits)) = self.held {
            // Superseded (as `walk_funnel` drops it): a first-step-only event
            // followed by another inside the range.
            if !(held_bits == 1 && bits == 1 && step.t_us < to_us) {
                out.push(held);
            }
        }
        self.held = Some((step, bits));
    }

    /// Pushes the step events `(steps, number)` of the instant `t_us` in step
    /// order (the walk's), and empties `instant`.
    fn push_instant(
        &mut self,
        out: &mut Vec<Step>,
        t_us: i64,
        instant: &mut Vec<(i64, u32)>,
        to_us: i64,
    ) {
        if !instant.is_sorted() {
            instant.sort_unstable();
        }
        for (bits, item) in instant.drain(..) {
            self.push(out, Step { t_us, item }, bits, to_us);
        }
    }

    fn finish(self, out: &mut Vec<Step>) {
        if let Some((held, _)) = self.held {
            out.push(held);
        }
    }
}

/// The funnel over timelines: the walk of [`super::funnel::funnel_sql`]'s rows,
/// built from each person's events.
pub fn walk_funnel<T: Thin>(
    q: &FunnelQuery,
    timelines: Timelines<T>,
    bits_of: &StepBits,
) -> FunnelAnswer {
    let to_us = q.range.to.timestamp_micros();
    let loose = q.order == StepOrder::Loose;
    let parts = timelines.for_each_person(
        || (FunnelWalk::new(q), Vec::<(i64, i64)>::new()),
        |(walk, marked), person, steps| {
            marked.clear();
            for s in steps {
                let bits = bits_of.of(s.item);
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

/// What paths keep of a row: the items before the range's end (pages:
/// `$pageview`s with a path), repeats in a row collapsed (the walk collapses
/// them), and of those only what a path can reach. A path is the `steps`
/// items after the person's first anchor (or first item), or before it
/// (backward), and may run on into the next rows (or back into the previous):
/// so a row keeps its first `steps + 1` items (its last, backward), one more
/// than a path can take from it in case the first repeats the row before, and
/// the `steps + 1` items from its first anchor on (up to it, backward).
/// Items dropped between those never sit inside a path.
#[derive(Debug, Clone, Copy)]
pub struct PathsThin {
    to_us: i64,
    /// The anchor's number; `None`: paths start at each person's first item.
    anchor: Option<u32>,
    backward: bool,
    steps: usize,
}

impl PathsThin {
    pub fn new(q: &PathsQuery, anchor: Option<u32>) -> Self {
        Self {
            to_us: q.range.to.timestamp_micros(),
            anchor: if q.anchor.is_some() { anchor } else { None },
            backward: q.backward,
            steps: q.steps,
        }
    }
}

impl Thin for PathsThin {
    fn thin(&self, hour_us: i64, micros: &[u32], items: &[u32], out: &mut Vec<Step>) {
        let from = out.len();
        let mut last = None;
        for s in whole_row(hour_us, micros, items) {
            if s.t_us >= self.to_us || s.item == 0 || last == Some(s.item) {
                continue;
            }
            out.push(s);
            last = Some(s.item);
        }
        let n = out.len() - from;
        let reach = self.steps.saturating_add(1);
        if n <= reach {
            return;
        }
        let at = self
            .anchor
            .and_then(|a| out[from..].iter().position(|s| s.item == a));
        // Two spans of the row's items to keep: its edge, and around its
        // first anchor.
        let (edge, near) = if self.backward {
            (
                n - reach..n,
                at.map_or(0..0, |i| (i + 1).saturating_sub(reach)..i + 1),
            )
        } else {
            (0..reach, at.map_or(0..0, |i| i..(i + reach).min(n)))
        };
        let mut kept = from;
        for i in 0..n {
            if edge.contains(&i) || near.contains(&i) {
                out[kept] = out[from + i];
                kept += 1;
            }
        }
        out.truncate(kept);
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

/// Counts the paths of each person (as [`super::paths::paths_sql`] does):
/// items in order with repeats collapsed, from the first occurrence of the
/// anchor (or the first item), `steps` items after it (or before, backward).
pub fn count_paths<T: Thin>(
    q: &PathsQuery,
    timelines: Timelines<T>,
    anchor: Option<u32>,
) -> PathCounts {
    let to_us = q.range.to.timestamp_micros();
    let steps = i64::try_from(q.steps).unwrap_or(i64::MAX);
    let parts = timelines.for_each_person(
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration};
    use proptest::prelude::*;
    use tally_query::funnel::{FunnelPersonStatus, FunnelPersonsQuery};

    const HOUR_US: i64 = 3_600_000_000;

    /// One key's events of one hour: (µs into the hour, item), in time order
    /// (same-instant events in any order, as their uuids fall).
    type Row = (i64, i64, i64, Vec<(u32, u32)>);

    /// Persons 1–4; person 4 has two keys (4 and 40), so is merged. Hours 0–3
    /// are rows; hour 4 raw events. Times within a few µs, so same-instant
    /// events are common; items 1–4.
    fn rows() -> impl Strategy<Value = Vec<Row>> {
        let row = (
            1i64..=5,
            0i64..4,
            prop::collection::vec((0u32..6, 1u32..=4), 1..12),
        );
        prop::collection::vec(row, 0..24).prop_map(|rows| {
            let mut seen = std::collections::HashSet::new();
            rows.into_iter()
                .filter_map(|(p, hour, mut events)| {
                    let (person, key) = if p == 5 { (4, 40) } else { (p, p) };
                    // One row per key and hour.
                    if !seen.insert((key, hour)) {
                        return None;
                    }
                    events.sort_by_key(|e| e.0);
                    Some((person, key, hour, events))
                })
                .collect()
        })
    }

    /// Raw events of hour 4, in the raw SQL's order: (person, key, µs, item).
    fn raw() -> impl Strategy<Value = Vec<(i64, i64, i64, u32)>> {
        prop::collection::vec((1i64..=5, 0i64..6, 1u32..=4), 0..10).prop_map(|events| {
            let mut events: Vec<_> = events
                .into_iter()
                .map(|(p, m, item)| {
                    let (person, key) = if p == 5 { (4, 40) } else { (p, p) };
                    (person, key, 4 * HOUR_US + m, item)
                })
                .collect();
            events.sort_by_key(|e| (e.2, e.1));
            events
        })
    }

    /// The rows pushed one by one (as read from DuckDB), or, with
    /// `parallel`, taken in on each part's thread (as from the cache).
    fn take_in<T: Thin + Send>(
        thin: T,
        rows: &[Row],
        raw: &[(i64, i64, i64, u32)],
        parallel: bool,
    ) -> Timelines<T> {
        let mut t = Timelines::new(2, thin);
        let lists =
            |events: &[(u32, u32)]| -> (Vec<u32>, Vec<u32>) { events.iter().copied().unzip() };
        fn row<'a>(
            person: i64,
            key: i64,
            hour: i64,
            micros: &'a [u32],
            items: &'a [u32],
        ) -> TimelineRow<'a> {
            TimelineRow {
                person,
                key,
                hour_us: hour * HOUR_US,
                merged: person == 4,
                micros,
                items,
            }
        }
        if parallel {
            t.take_in_parallel(|push| {
                for (person, key, hour, events) in rows {
                    let (micros, items) = lists(events);
                    push(row(*person, *key, *hour, &micros, &items));
                }
            });
        } else {
            for (person, key, hour, events) in rows {
                let (micros, items) = lists(events);
                t.push_row(row(*person, *key, *hour, &micros, &items));
            }
        }
        for &(person, key, t_us, item) in raw {
            t.push_event(person, key, Step { t_us, item });
        }
        t
    }

    fn names() -> Names {
        let mut names = Names::default();
        for (id, name) in ["a", "b", "c", "d"].iter().enumerate() {
            names.learn((*name).to_string(), u32::try_from(id + 1).unwrap());
        }
        names
    }

    fn funnel(steps: &[&str], order: StepOrder, to_us: i64, window_us: i64) -> FunnelQuery {
        let mut q = tally_query::testing::funnel_query(steps, order, 0);
        q.range.to = DateTime::from_timestamp_micros(to_us).unwrap();
        q.window = Duration::microseconds(window_us);
        q.persons = Some(FunnelPersonsQuery {
            step: 2,
            status: FunnelPersonStatus::Dropped,
            limit: 100,
            offset: 0,
        });
        q
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// A thinned funnel walk answers as the walk of every event does, for
        /// loose and strict order, repeated steps, ranges ending mid-data, and
        /// a person whose two keys' events interleave.
        #[test]
        fn funnels_on_thinned_rows_answer_as_on_whole_rows(
            rows in rows(),
            raw in raw(),
            steps in prop::sample::select(vec![
                vec!["a", "b", "c"], vec!["a", "b", "a"], vec!["b", "a"], vec!["a", "a", "b", "d"],
            ]),
            strict in any::<bool>(),
            to_hours in 1i64..=5,
            window_us in prop::sample::select(vec![3, 5_000, HOUR_US, 10 * HOUR_US]),
        ) {
            let order = if strict { StepOrder::Strict } else { StepOrder::Loose };
            let q = funnel(&steps, order, to_hours * HOUR_US + 2, window_us);
            let mut names = names();
            let bits = StepBits::new(&q, &mut names);
            let whole = walk_funnel(&q, take_in(Whole, &rows, &raw, false), &bits);
            let thinned = take_in(FunnelThin::new(&q, bits.clone()), &rows, &raw, true);
            prop_assert_eq!(walk_funnel(&q, thinned, &bits), whole);
        }

        /// Paths counted on thinned rows are those counted on every event.
        #[test]
        fn paths_on_thinned_rows_count_as_on_whole_rows(
            rows in rows(),
            raw in raw(),
            anchor in prop::option::of(1u32..=4),
            backward in any::<bool>(),
            steps in 1usize..=4,
            to_hours in 1i64..=5,
        ) {
            // Backward paths end at an anchor.
            let backward = backward && anchor.is_some();
            let q = PathsQuery {
                project_id: 1,
                path_type: PathType::Events,
                anchor: anchor.map(|a| a.to_string()),
                backward,
                steps,
                limit: 50,
                range: TimeRange {
                    from: DateTime::from_timestamp_micros(0).unwrap(),
                    to: DateTime::from_timestamp_micros(to_hours * HOUR_US + 2).unwrap(),
                },
                tz: chrono_tz::Tz::UTC,
                filters: None,
                include_bots: false,
            };
            let whole = count_paths(&q, take_in(Whole, &rows, &raw, false), anchor);
            let thinned = count_paths(&q, take_in(PathsThin::new(&q, anchor), &rows, &raw, true), anchor);
            prop_assert_eq!(thinned.nodes, whole.nodes);
            prop_assert_eq!(thinned.links, whole.links);
        }
    }

    /// The thinning keeps what it must and drops what it may: of a run of
    /// first-step events only the last, every other step's event, nothing of
    /// other events; same-instant steps out of step order sorted first.
    #[test]
    fn a_loose_funnel_keeps_the_last_of_a_run_of_first_steps() {
        let q = funnel(&["a", "b"], StepOrder::Loose, 10 * HOUR_US, HOUR_US);
        let mut names = names();
        let thin = FunnelThin::new(&q, StepBits::new(&q, &mut names));
        let mut out = Vec::new();
        // a a d a b a | b at one instant before a
        thin.thin(0, &[1, 2, 3, 4, 5, 6], &[1, 1, 4, 1, 2, 1], &mut out);
        let step = |t_us, item| Step { t_us, item };
        assert_eq!(out, vec![step(4, 1), step(5, 2), step(6, 1)]);
        out.clear();
        thin.thin(0, &[1, 2, 2, 3], &[1, 2, 1, 1], &mut out);
        assert_eq!(out, vec![step(2, 1), step(2, 2), step(3, 1)]);
    }
}
