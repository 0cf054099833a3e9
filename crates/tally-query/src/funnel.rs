//! Funnels: how many persons did step 1, then step 2, … within a conversion
//! window, and how long each step took.
//!
//! Each engine's SQL (DuckDB's `sql::funnel`) marks each event of the range (plus one window after
//! it) with the steps it matches, one bit per step, ordered by person and time; the
//! walk over those rows ([`FunnelWalk`]) is plain Rust shared by every engine:
//!
//! - A person's attempt starts at a step-1 event inside the range; later steps may
//!   come up to the window after that start (so a conversion may end after `to`).
//! - **Loose** order: other events may come between steps. For each step the walk
//!   keeps the attempt with the latest start that has reached it (the one with the
//!   most window left), so the furthest step any attempt reaches is found in one
//!   pass (what ClickHouse's `windowFunnel` computes).
//! - **Strict** order: the steps must be the person's consecutive events; any other
//!   event ends every attempt in progress.
//! - One event advances an attempt by one step at most, so a funnel may repeat a
//!   step (`$pageview` → `$pageview` needs two pageviews).
//! - Events of the same instant are taken in step order: a step done at the
//!   same instant as the one before it counts.
//! - Times of a person are those of the attempt that got furthest (the first to get
//!   there).
//! - With a breakdown, a person counts under the value the breakdown property had
//!   on the event that started that attempt (first touch), as PostHog attributes.

use crate::error::QueryError;
use crate::filters::{check_property, FilterNode, PropertySource};
use crate::trends::{BreakdownRequest, DEFAULT_BREAKDOWN_LIMIT, MAX_BREAKDOWN_LIMIT};
use crate::types::{page_limit, parse_tz, PersonRecord, TimeRange};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use tally_core::ProjectId;
use utoipa::ToSchema;

pub const MIN_STEPS: usize = 2;
pub const MAX_STEPS: usize = 20;
/// Default and longest conversion window.
pub const DEFAULT_WINDOW_SECS: i64 = 14 * 86_400;
pub const MAX_WINDOW_SECS: i64 = 366 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepOrder {
    /// Steps in order, other events allowed between them.
    #[default]
    Loose,
    /// Steps as consecutive events of the person.
    Strict,
}

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepRequest {
    pub event: String,
    pub filters: Option<FilterNode>,
    pub name: Option<String>,
}

/// `{"kind": "funnel", …}` of `POST /query`.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FunnelRequest {
    pub steps: Vec<StepRequest>,
    /// The range the first step must fall in; default the 7 days before `date_to`.
    pub date_from: Option<String>,
    pub date_to: Option<String>,
    /// The IANA zone bare dates in the range are days of (default the
    /// project's time zone, UTC without one).
    pub tz: Option<String>,
    /// Seconds from the first step to the last; default 14 days, at most 366 days.
    pub conversion_window_secs: Option<i64>,
    #[serde(default)]
    pub order: StepOrder,
    pub filters: Option<FilterNode>,
    #[serde(default)]
    pub include_bots: bool,
    /// Also list the persons who reached (or dropped off at) one step.
    pub persons: Option<FunnelPersonsRequest>,
    /// Also count the funnel per value of a property of the event that started
    /// each person's attempt: the `limit` values with most persons at step 1
    /// (default 10), the rest together as "other".
    pub breakdown: Option<BreakdownRequest>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FunnelPersonStatus {
    /// Reached the step before `step` and not `step`.
    #[default]
    Dropped,
    /// Reached `step` (maybe further).
    Reached,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FunnelPersonsRequest {
    /// 0-based step.
    pub step: usize,
    #[serde(default)]
    pub status: FunnelPersonStatus,
    /// Default 100, at most 1000.
    pub limit: Option<usize>,
    #[serde(default)]
    pub offset: usize,
}

/// A checked [`FunnelPersonsRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunnelPersonsQuery {
    pub step: usize,
    pub status: FunnelPersonStatus,
    pub limit: usize,
    pub offset: usize,
}

#[derive(Debug, Clone)]
pub struct FunnelQuery {
    pub project_id: ProjectId,
    pub steps: Vec<StepRequest>,
    pub range: TimeRange,
    /// The zone the range was given in (answered back).
    pub tz: Tz,
    pub window: Duration,
    pub order: StepOrder,
    pub filters: Option<FilterNode>,
    pub include_bots: bool,
    pub persons: Option<FunnelPersonsQuery>,
    pub breakdown: Option<BreakdownRequest>,
}

impl FunnelQuery {
    /// Whether some step, the shared filters or the breakdown read person
    /// properties (the events then come with their persons).
    pub fn reads_persons(&self) -> bool {
        self.filter_nodes().any(FilterNode::reads_persons)
            || self
                .breakdown
                .as_ref()
                .is_some_and(|b| b.source == PropertySource::Person)
    }

    /// Whether some step, the shared filters or the breakdown read session
    /// properties (the events then come with their sessions' facts).
    pub fn reads_sessions(&self) -> bool {
        self.filter_nodes().any(FilterNode::reads_sessions)
            || self
                .breakdown
                .as_ref()
                .is_some_and(|b| b.source == PropertySource::Session)
    }

    fn filter_nodes(&self) -> impl Iterator<Item = &FilterNode> {
        self.steps
            .iter()
            .filter_map(|s| s.filters.as_ref())
            .chain(self.filters.as_ref())
    }
}

impl FunnelRequest {
    pub fn resolve(
        self,
        project_id: ProjectId,
        now: DateTime<Utc>,
    ) -> Result<FunnelQuery, QueryError> {
        if !(MIN_STEPS..=MAX_STEPS).contains(&self.steps.len()) {
            return Err(QueryError::InvalidQuery(format!(
                "a funnel has {MIN_STEPS} to {MAX_STEPS} steps"
            )));
        }
        for step in &self.steps {
            if step.event.is_empty() {
                return Err(QueryError::InvalidQuery("a step needs an event".into()));
            }
            if let Some(f) = &step.filters {
                f.validate()?;
            }
        }
        if let Some(f) = &self.filters {
            f.validate()?;
        }
        if let Some(b) = &self.breakdown {
            check_property(&b.property, b.source)?;
            if b.limit.is_some_and(|l| l == 0 || l > MAX_BREAKDOWN_LIMIT) {
                return Err(QueryError::InvalidQuery(format!(
                    "`breakdown.limit` must be 1 to {MAX_BREAKDOWN_LIMIT}"
                )));
            }
        }
        let persons = match self.persons {
            None => None,
            Some(p) => {
                if p.step >= self.steps.len()
                    || (p.step == 0 && p.status == FunnelPersonStatus::Dropped)
                {
                    return Err(QueryError::InvalidQuery(
                        "`persons.step` must be a step of the funnel (and not the first for `dropped`)"
                            .into(),
                    ));
                }
                Some(FunnelPersonsQuery {
                    step: p.step,
                    status: p.status,
                    limit: page_limit(p.limit)?,
                    offset: p.offset,
                })
            }
        };
        let window = self.conversion_window_secs.unwrap_or(DEFAULT_WINDOW_SECS);
        if !(1..=MAX_WINDOW_SECS).contains(&window) {
            return Err(QueryError::InvalidQuery(format!(
                "`conversion_window_secs` must be 1 to {MAX_WINDOW_SECS}"
            )));
        }
        let tz = parse_tz(self.tz.as_deref())?;
        let range = TimeRange::resolve_fields(
            self.date_from.as_deref(),
            self.date_to.as_deref(),
            now,
            Duration::days(7),
            ["date_from", "date_to"],
            tz,
        )?;
        Ok(FunnelQuery {
            project_id,
            steps: self.steps,
            range,
            tz,
            window: Duration::seconds(window),
            order: self.order,
            filters: self.filters,
            include_bots: self.include_bots,
            persons,
            breakdown: self.breakdown,
        })
    }
}

/// One attempt: its step times (µs), `times()[0]` the start, and the breakdown
/// value of its first event. The times live in a fixed array (a funnel has at
/// most [`MAX_STEPS`] steps): the walk makes an attempt per first-step event
/// and copies one per step reached, millions on a month of events, and a heap
/// allocation each cost more than the copy.
#[derive(Debug, Clone)]
struct Attempt {
    at: [i64; MAX_STEPS],
    len: usize,
    value: Option<Arc<str>>,
}

impl Attempt {
    fn start(at_us: i64, value: Option<Arc<str>>) -> Self {
        let mut at = [0; MAX_STEPS];
        at[0] = at_us;
        Self { at, len: 1, value }
    }

    fn times(&self) -> &[i64] {
        &self.at[..self.len]
    }

    /// This attempt, one step further at `at_us`.
    fn then(&self, at_us: i64) -> Self {
        let mut next = self.clone();
        if let Some(slot) = next.at.get_mut(next.len) {
            *slot = at_us;
            next.len += 1;
        }
        next
    }
}

/// The counts of a set of persons: all of them, or those of one breakdown value.
#[derive(Debug, Clone)]
struct Tally {
    /// Persons whose furthest step is k.
    furthest: Vec<u64>,
    /// Per step k ≥ 1: seconds from step k−1, one entry per person reaching k.
    step_secs: Vec<Vec<f64>>,
    /// Seconds from the first step to the last, per person who got to the end.
    whole_secs: Vec<f64>,
}

impl Tally {
    fn new(steps: usize) -> Self {
        Self {
            furthest: vec![0; steps],
            step_secs: vec![Vec::new(); steps],
            whole_secs: Vec::new(),
        }
    }

    /// Counts a person whose furthest attempt is `best`.
    fn add(&mut self, best: &Attempt) {
        let times = best.times();
        let k = times.len() - 1;
        self.furthest[k] += 1;
        let secs = |a: i64, b: i64| (b - a) as f64 / 1e6;
        for step in 1..times.len() {
            self.step_secs[step].push(secs(times[step - 1], times[step]));
        }
        if times.len() == self.furthest.len() {
            self.whole_secs.push(secs(times[0], times[k]));
        }
    }

    fn merge(&mut self, other: Tally) {
        for (k, n) in other.furthest.into_iter().enumerate() {
            self.furthest[k] += n;
        }
        for (k, secs) in other.step_secs.into_iter().enumerate() {
            self.step_secs[k].extend(secs);
        }
        self.whole_secs.extend(other.whole_secs);
    }

    fn persons(&self) -> u64 {
        self.furthest.iter().sum()
    }

    /// The steps (persons reaching each, conversion, times) and the mean and
    /// median time to convert.
    fn shape(mut self, q: &FunnelQuery) -> (Vec<FunnelStep>, Option<f64>, Option<f64>) {
        let n = self.furthest.len();
        // Persons reaching step k = those whose furthest step is k or later.
        let mut counts = vec![0u64; n];
        let mut running = 0;
        for k in (0..n).rev() {
            running += self.furthest[k];
            counts[k] = running;
        }
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        let steps = (0..n)
            .map(|k| {
                let secs = &mut self.step_secs[k];
                FunnelStep {
                    step: k,
                    name: q.steps[k]
                        .name
                        .clone()
                        .unwrap_or_else(|| q.steps[k].event.clone()),
                    count: counts[k],
                    conversion_from_first: ratio(counts[k], counts[0]),
                    conversion_from_previous: ratio(counts[k], counts[k.saturating_sub(1)]),
                    avg_secs_from_previous: mean(secs),
                    median_secs_from_previous: median(secs),
                }
            })
            .collect();
        let whole = &mut self.whole_secs;
        (steps, mean(whole), median(whole))
    }
}

/// Walks the rows of an engine's funnel SQL (one person after another) and counts.
pub struct FunnelWalk {
    steps: usize,
    order: StepOrder,
    from_us: i64,
    to_us: i64,
    window_us: i64,
    person: Option<i64>,
    reached: Vec<Option<Attempt>>,
    best: Option<Attempt>,
    total: Tally,
    /// With a breakdown: the persons of each value.
    by_value: Option<HashMap<Option<Arc<str>>, Tally>>,
    /// With a persons list: the persons it holds, in walk order (ascending).
    listed: Vec<i64>,
    list: Option<FunnelPersonsQuery>,
}

impl FunnelWalk {
    pub fn new(q: &FunnelQuery) -> Self {
        let n = q.steps.len();
        Self {
            steps: n,
            order: q.order,
            from_us: q.range.from.timestamp_micros(),
            to_us: q.range.to.timestamp_micros(),
            window_us: q.window.num_microseconds().unwrap_or(i64::MAX),
            person: None,
            reached: vec![None; n],
            best: None,
            total: Tally::new(n),
            by_value: q.breakdown.as_ref().map(|_| HashMap::new()),
            listed: Vec::new(),
            list: q.persons,
        }
    }

    /// One row of an engine's funnel SQL; `value` is its breakdown value (`None`
    /// without a breakdown).
    pub fn push(&mut self, person: i64, at_us: i64, bits: i64, value: Option<String>) {
        if self.person != Some(person) {
            self.finish_person();
            self.person = Some(person);
        }
        // In place, later steps first: step k reads step k−1 before this event
        // changes it, so one event moves an attempt by one step at most.
        let strict = self.order == StepOrder::Strict;
        for k in (1..self.steps).rev() {
            let advanced = if bits & (1 << k) != 0 {
                self.reached[k - 1]
                    .as_ref()
                    .filter(|prev| at_us - prev.at[0] <= self.window_us)
                    .map(|prev| prev.then(at_us))
            } else {
                None
            };
            match advanced {
                // A later start leaves more of the window for the next steps.
                Some(a) => {
                    let later = self.reached[k]
                        .as_ref()
                        .is_none_or(|cur| a.at[0] >= cur.at[0]);
                    if later || strict {
                        self.reached[k] = Some(a);
                    }
                }
                // Strict: an event that is not the next step ends the attempt.
                None if strict => self.reached[k] = None,
                None => {}
            }
        }
        if bits & 1 != 0 && at_us >= self.from_us && at_us < self.to_us {
            self.reached[0] = Some(Attempt::start(at_us, value.map(Arc::from)));
        } else if strict {
            self.reached[0] = None;
        }
        // The furthest attempt so far (the first to get there is kept).
        if let Some(top) = self.reached.iter().rposition(Option::is_some) {
            let further = self.best.as_ref().is_none_or(|b| top + 1 > b.len);
            if further {
                self.best = self.reached[top].clone();
            }
        }
    }

    /// Takes in a walk over other persons, as if this walk had gone on over
    /// them (the persons list stays ascending).
    pub fn absorb(&mut self, mut later: FunnelWalk) {
        self.finish_person();
        self.person = None;
        later.finish_person();
        self.total.merge(later.total);
        let steps = self.steps;
        if let (Some(mine), Some(theirs)) = (self.by_value.as_mut(), later.by_value) {
            for (value, tally) in theirs {
                mine.entry(value)
                    .or_insert_with(|| Tally::new(steps))
                    .merge(tally);
            }
        }
        self.listed.extend(later.listed);
        self.listed.sort_unstable();
    }

    fn finish_person(&mut self) {
        if let Some(best) = self.best.take() {
            let k = best.len - 1;
            self.total.add(&best);
            if let Some(by_value) = self.by_value.as_mut() {
                by_value
                    .entry(best.value.clone())
                    .or_insert_with(|| Tally::new(self.steps))
                    .add(&best);
            }
            let listed = self.list.is_some_and(|l| match l.status {
                FunnelPersonStatus::Reached => k >= l.step,
                FunnelPersonStatus::Dropped => k + 1 == l.step,
            });
            // Events stored without a person have negative keys: no person to show.
            if let Some(p) = self.person.filter(|&p| listed && p > 0) {
                self.listed.push(p);
            }
        }
        self.reached.iter_mut().for_each(|r| *r = None);
    }

    pub fn finish(mut self, q: &FunnelQuery) -> FunnelAnswer {
        self.finish_person();
        let (steps, avg_secs_to_convert, median_secs_to_convert) = self.total.shape(q);
        let breakdown = self.by_value.take().map(|by_value| {
            let limit = q
                .breakdown
                .as_ref()
                .and_then(|b| b.limit)
                .unwrap_or(DEFAULT_BREAKDOWN_LIMIT);
            // Most persons first; ties by value, persons without one last.
            let mut values: Vec<(Option<Arc<str>>, Tally)> = by_value.into_iter().collect();
            values.sort_by(|(va, ta), (vb, tb)| {
                tb.persons()
                    .cmp(&ta.persons())
                    .then_with(|| match (va, vb) {
                        (Some(a), Some(b)) => a.cmp(b),
                        (Some(_), None) => std::cmp::Ordering::Less,
                        (None, Some(_)) => std::cmp::Ordering::Greater,
                        (None, None) => std::cmp::Ordering::Equal,
                    })
            });
            let rest = values.split_off(values.len().min(limit));
            let mut lines: Vec<FunnelBreakdown> = values
                .into_iter()
                .map(|(value, tally)| {
                    FunnelBreakdown::of(value.map(|v| v.to_string()), false, tally, q)
                })
                .collect();
            if !rest.is_empty() {
                let mut other = Tally::new(self.steps);
                for (_, tally) in rest {
                    other.merge(tally);
                }
                lines.push(FunnelBreakdown::of(None, true, other, q));
            }
            lines
        });
        FunnelAnswer {
            kind: "funnel",
            range: q.range,
            tz: q.tz.name().to_owned(),
            conversion_window_secs: q.window.num_seconds(),
            order: q.order,
            steps,
            avg_secs_to_convert,
            median_secs_to_convert,
            breakdown,
            persons: self.list.map(|l| {
                let page: Vec<i64> = self
                    .listed
                    .iter()
                    .copied()
                    .skip(l.offset)
                    .take(l.limit)
                    .collect();
                FunnelPersons {
                    step: l.step,
                    status: l.status,
                    next_offset: (self.listed.len() > l.offset + l.limit)
                        .then_some(l.offset + l.limit),
                    person_ids: page,
                    results: Vec::new(),
                }
            }),
        }
    }
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The middle value, or the mean of the two middle ones.
fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FunnelStep {
    pub step: usize,
    pub name: String,
    /// Persons who reached this step.
    pub count: u64,
    /// `null` when nobody did step 1 (or the previous step).
    pub conversion_from_first: Option<f64>,
    pub conversion_from_previous: Option<f64>,
    /// Of the persons who reached this step, from the previous one (`null` for the
    /// first step).
    pub avg_secs_from_previous: Option<f64>,
    pub median_secs_from_previous: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FunnelAnswer {
    pub kind: &'static str,
    pub range: TimeRange,
    /// The zone the range's bare dates were read in.
    pub tz: String,
    pub conversion_window_secs: i64,
    pub order: StepOrder,
    pub steps: Vec<FunnelStep>,
    /// From the first to the last step, of the persons who got to the end.
    pub avg_secs_to_convert: Option<f64>,
    pub median_secs_to_convert: Option<f64>,
    /// The persons list asked for with `persons`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persons: Option<FunnelPersons>,
    /// With `breakdown`: the funnel of each value, most persons first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<Vec<FunnelBreakdown>>,
}

/// The funnel of the persons whose attempt started on an event with one value
/// of the breakdown property (or, `is_other`, with any value outside the top).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FunnelBreakdown {
    /// `null` for events without the property (and for "other").
    pub value: Option<String>,
    pub is_other: bool,
    pub steps: Vec<FunnelStep>,
    pub avg_secs_to_convert: Option<f64>,
    pub median_secs_to_convert: Option<f64>,
}

impl FunnelBreakdown {
    fn of(value: Option<String>, is_other: bool, tally: Tally, q: &FunnelQuery) -> Self {
        let (steps, avg_secs_to_convert, median_secs_to_convert) = tally.shape(q);
        Self {
            value,
            is_other,
            steps,
            avg_secs_to_convert,
            median_secs_to_convert,
        }
    }
}

/// One page of the persons who reached or dropped off at a step, by person id.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FunnelPersons {
    pub step: usize,
    pub status: FunnelPersonStatus,
    pub results: Vec<PersonRecord>,
    /// The `offset` of the next page; `null` on the last.
    pub next_offset: Option<usize>,
    /// The page's person ids, for the engine to load (not serialized).
    #[serde(skip)]
    pub person_ids: Vec<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::funnel_query as query;

    fn walk(q: &FunnelQuery, rows: &[(i64, i64, i64)]) -> FunnelAnswer {
        let mut w = FunnelWalk::new(q);
        for &(p, t, b) in rows {
            w.push(p, t, b, None);
        }
        w.finish(q)
    }

    /// The rule the loose SQL applies: drop a first-step-only event whose next
    /// matching event (same person) is first-step-only and inside the range.
    fn pruned(rows: &[(i64, i64, i64)], to_us: i64) -> Vec<(i64, i64, i64)> {
        rows.iter()
            .enumerate()
            .filter(|(i, &(p, _, b))| {
                let next = rows.get(i + 1).filter(|n| n.0 == p);
                !(b == 1 && next.is_some_and(|n| n.2 == 1 && n.1 < to_us))
            })
            .map(|(_, r)| *r)
            .collect()
    }

    /// Dropping those starts never changes an answer: 2,000 random streams of
    /// 3-step funnels (steps can share events), windows short and long.
    #[test]
    fn dropping_superseded_starts_changes_nothing() {
        let mut state: u64 = 42;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % n
        };
        for round in 0..2_000 {
            let window = [30, 120, 600][round % 3];
            let q = query(&["a", "b", "c"], StepOrder::Loose, window);
            let mut rows = Vec::new();
            for person in 0..5 {
                let mut t = 0;
                for _ in 0..next(12) {
                    t += 1 + next(100) as i64;
                    // Bits: mostly single steps, sometimes two at once.
                    let bits = [1, 1, 1, 2, 4, 3, 6, 1][next(8) as usize];
                    rows.push((person, t * 1_000_000, bits));
                }
            }
            let to_us = q.range.to.timestamp_micros();
            assert_eq!(
                walk(&q, &rows),
                walk(&q, &pruned(&rows, to_us)),
                "round {round}"
            );
        }
    }

    #[test]
    fn strict_order_ends_an_attempt_at_any_other_event() {
        let q = query(&["a", "b"], StepOrder::Strict, 600);
        // Person 1: a, (other), b → 1 step. Person 2: a, b → 2 steps.
        let rows = [
            (1, 1_000_000, 1),
            (1, 2_000_000, 0),
            (1, 3_000_000, 2),
            (2, 1_000_000, 1),
            (2, 5_000_000, 2),
        ];
        let answer = walk(&q, &rows);
        assert_eq!(
            answer.steps.iter().map(|s| s.count).collect::<Vec<_>>(),
            vec![2, 1]
        );
        assert_eq!(answer.steps[1].median_secs_from_previous, Some(4.0));
    }
}
