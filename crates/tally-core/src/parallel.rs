//! Splitting a large batch over the machine's cores, for per-event work that
//! needs no order (enrichment, encoding for the store). Scoped threads, one per
//! core, each given one contiguous chunk; the calling thread takes a chunk too.
//! Batches below [`MIN_PARALLEL`] run on the calling thread alone: a thread
//! costs tens of microseconds to start, small batches are done sooner than that.

/// Events below which a batch is not split.
pub const MIN_PARALLEL: usize = 8192;

fn chunk_len(len: usize) -> usize {
    if len < MIN_PARALLEL {
        return len.max(1);
    }
    // Asked once: on Linux the answer reads cgroup files.
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    len.div_ceil(cores)
}

/// Runs `f` on contiguous chunks of `items` that together cover it, in parallel.
pub fn for_each_chunk<T: Send>(items: &mut [T], f: impl Fn(&mut [T]) + Sync) {
    let chunk = chunk_len(items.len());
    let mut chunks = items.chunks_mut(chunk);
    let Some(first) = chunks.next() else {
        return;
    };
    std::thread::scope(|s| {
        for rest in chunks {
            s.spawn(|| f(rest));
        }
        f(first);
    });
}

/// `f` of contiguous chunks of `items`, in parallel; the results in chunk order.
pub fn map_chunks<T: Sync, R: Send>(items: &[T], f: impl Fn(&[T]) -> R + Sync) -> Vec<R> {
    let chunk = chunk_len(items.len());
    let mut chunks = items.chunks(chunk);
    let Some(first) = chunks.next() else {
        return Vec::new();
    };
    std::thread::scope(|s| {
        let rest: Vec<_> = chunks.map(|c| s.spawn(|| f(c))).collect();
        let mut out = vec![f(first)];
        // A panic in a chunk is the caller's panic, as if it had run here.
        out.extend(
            rest.into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))),
        );
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_item_once_in_order() {
        for len in [0, 1, MIN_PARALLEL - 1, MIN_PARALLEL, 3 * MIN_PARALLEL + 7] {
            let mut items: Vec<usize> = (0..len).collect();
            for_each_chunk(&mut items, |chunk| chunk.iter_mut().for_each(|x| *x += 1));
            assert!(items.iter().enumerate().all(|(i, &x)| x == i + 1), "{len}");
            let parts = map_chunks(&items, |chunk| chunk.to_vec());
            assert_eq!(parts.concat(), items, "{len}");
        }
    }
}
