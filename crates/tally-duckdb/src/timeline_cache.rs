//! Person timeline rows kept in memory between queries, so a funnel or paths
//! query over hours read before takes them in without DuckDB (no scan, no
//! Arrow conversion) and on every walk thread at once.
//!
//! Guarantee: a query only ever uses a copy whose stamp equals the hour's stamp
//! in its own snapshot (`rollup_stamps`, a new number each time compaction
//! rewrites the hour's rows), so a copy is the rows that query would have read.
//! The copies are bounded by a byte budget: past it the oldest hours go first
//! (recent hours are what dashboards ask for); an hour that would only fit by
//! dropping newer ones is not kept (the query uses it once and lets it go).

use crate::sql::timeline::Item;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tally_core::ProjectId;

/// One rolled-up hour's timeline rows, as stored at one stamp.
#[derive(Debug, Default)]
pub(crate) struct HourRows {
    pub(crate) stamp: i64,
    pub(crate) hour_us: i64,
    /// Person key (before merges) of each row.
    keys: Vec<i64>,
    /// Row `i`'s events are `ends[i - 1]..ends[i]` (from 0 for the first).
    ends: Vec<u32>,
    micros: Vec<u32>,
    events: Vec<u32>,
    pages: Vec<u32>,
}

impl HourRows {
    pub(crate) fn new(stamp: i64, hour_us: i64) -> Self {
        Self {
            stamp,
            hour_us,
            ..Self::default()
        }
    }

    /// Appends one row: its key and its three lists (of one length).
    pub(crate) fn push(&mut self, key: i64, micros: &[u32], events: &[u32], pages: &[u32]) {
        self.keys.push(key);
        self.micros.extend_from_slice(micros);
        self.events.extend_from_slice(events);
        self.pages.extend_from_slice(pages);
        self.ends
            .push(u32::try_from(self.micros.len()).unwrap_or(u32::MAX));
    }

    /// Each row's key, times and `item` list, in the order pushed.
    pub(crate) fn rows(&self, item: Item) -> impl Iterator<Item = (i64, &[u32], &[u32])> {
        let items = match item {
            Item::Event => &self.events,
            Item::Page => &self.pages,
        };
        let mut begin = 0usize;
        self.keys.iter().zip(&self.ends).map(move |(&key, &end)| {
            let range = begin..end as usize;
            begin = end as usize;
            (key, &self.micros[range.clone()], &items[range])
        })
    }

    /// What it holds in memory, near enough for a budget.
    fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.keys.capacity() * 8
            + (self.ends.capacity()
                + self.micros.capacity()
                + self.events.capacity()
                + self.pages.capacity())
                * 4
    }

    /// Gives back the spare capacity of its lists (it is read-only from now on).
    pub(crate) fn shrink(&mut self) {
        self.keys.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.micros.shrink_to_fit();
        self.events.shrink_to_fit();
        self.pages.shrink_to_fit();
    }
}

/// The copies of every project's hours, oldest hour first.
#[derive(Debug)]
pub(crate) struct TimelineCache {
    budget: usize,
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    /// By (hour start µs, project): eviction takes the first.
    hours: BTreeMap<(i64, ProjectId), Arc<HourRows>>,
    bytes: usize,
}

impl TimelineCache {
    /// Keeps at most `budget` bytes of rows (0: keeps none).
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            budget,
            kept: Mutex::default(),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.budget > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        // The map is consistent between statements: a panic elsewhere while
        // holding the lock leaves nothing half-done.
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Of `stamps` (hour start µs, stamp), the copies kept at that stamp and
    /// the hours (with their stamps) that have none.
    pub(crate) fn lookup(
        &self,
        project_id: ProjectId,
        stamps: &[(i64, i64)],
    ) -> (Vec<Arc<HourRows>>, Vec<(i64, i64)>) {
        let kept = self.lock();
        let mut hits = Vec::with_capacity(stamps.len());
        let mut misses = Vec::new();
        for &(hour_us, stamp) in stamps {
            match kept.hours.get(&(hour_us, project_id)) {
                Some(rows) if rows.stamp == stamp => hits.push(Arc::clone(rows)),
                _ => misses.push((hour_us, stamp)),
            }
        }
        (hits, misses)
    }

    /// Keeps `rows` (replacing an older copy of its hour), dropping the oldest
    /// hours while over budget; not kept if only newer hours could make room.
    pub(crate) fn keep(&self, project_id: ProjectId, rows: &Arc<HourRows>) {
        if !self.enabled() {
            return;
        }
        let key = (rows.hour_us, project_id);
        let size = rows.bytes();
        let mut kept = self.lock();
        if let Some(old) = kept.hours.remove(&key) {
            kept.bytes -= old.bytes();
        }
        let older: usize = kept.hours.range(..key).map(|(_, r)| r.bytes()).sum();
        if kept.bytes - older + size > self.budget {
            return;
        }
        while kept.bytes + size > self.budget {
            let Some((_, dropped)) = kept.hours.pop_first() else {
                break;
            };
            kept.bytes -= dropped.bytes();
        }
        kept.bytes += size;
        kept.hours.insert(key, Arc::clone(rows));
    }

    /// How many hours and bytes are kept.
    pub(crate) fn held(&self) -> (usize, usize) {
        let kept = self.lock();
        (kept.hours.len(), kept.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000;

    fn hour(h: i64, stamp: i64, events: usize) -> Arc<HourRows> {
        let mut rows = HourRows::new(stamp, h * HOUR);
        let list: Vec<u32> = (0..events as u32).collect();
        rows.push(7, &list, &list, &list);
        rows.shrink();
        Arc::new(rows)
    }

    #[test]
    fn a_copy_serves_only_its_own_stamp() {
        let cache = TimelineCache::new(1 << 20);
        cache.keep(1, &hour(5, 10, 3));
        let (hits, misses) = cache.lookup(1, &[(5 * HOUR, 10), (6 * HOUR, 11)]);
        assert_eq!(hits.len(), 1);
        assert_eq!(misses, vec![(6 * HOUR, 11)]);
        // The hour rewritten since: its copy is not its rows.
        let (hits, misses) = cache.lookup(1, &[(5 * HOUR, 12)]);
        assert!(hits.is_empty());
        assert_eq!(misses, vec![(5 * HOUR, 12)]);
        // Another project's hour 5 is another hour.
        assert_eq!(cache.lookup(2, &[(5 * HOUR, 10)]).1.len(), 1);
        // A newer copy replaces the older and the bytes stay counted once.
        let one = cache.held().1;
        cache.keep(1, &hour(5, 12, 3));
        assert_eq!(cache.held(), (1, one));
        assert_eq!(cache.lookup(1, &[(5 * HOUR, 12)]).0.len(), 1);
    }

    #[test]
    fn past_the_budget_the_oldest_hours_go_and_an_old_hour_is_not_kept() {
        let size = hour(0, 0, 100).bytes();
        let cache = TimelineCache::new(3 * size);
        for h in [3, 1, 2] {
            cache.keep(1, &hour(h, h, 100));
        }
        assert_eq!(cache.held(), (3, 3 * size));
        // A newer hour drops the oldest (1), not the last kept (2).
        cache.keep(1, &hour(4, 4, 100));
        let stamps: Vec<(i64, i64)> = (1..=4).map(|h| (h * HOUR, h)).collect();
        let (hits, misses) = cache.lookup(1, &stamps);
        assert_eq!(
            hits.iter().map(|r| r.stamp).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        assert_eq!(misses, vec![(HOUR, 1)]);
        // An hour older than all kept would only fit by dropping newer ones.
        cache.keep(1, &hour(0, 0, 100));
        assert_eq!(cache.lookup(1, &[(0, 0)]).1.len(), 1);
        assert_eq!(cache.held(), (3, 3 * size));
        // A budget of 0 keeps nothing.
        let off = TimelineCache::new(0);
        off.keep(1, &hour(1, 1, 1));
        assert_eq!(off.held(), (0, 0));
    }

    #[test]
    fn rows_come_back_as_pushed() {
        let mut rows = HourRows::new(1, HOUR);
        rows.push(3, &[1, 2], &[10, 11], &[0, 5]);
        rows.push(9, &[4], &[12], &[6]);
        let events: Vec<_> = rows.rows(Item::Event).collect();
        assert_eq!(
            events,
            vec![
                (3, &[1u32, 2][..], &[10u32, 11][..]),
                (9, &[4][..], &[12][..])
            ]
        );
        let pages: Vec<_> = rows.rows(Item::Page).map(|r| r.2.to_vec()).collect();
        assert_eq!(pages, vec![vec![0, 5], vec![6]]);
    }
}
