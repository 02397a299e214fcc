//! Data parallelism that cannot change output: `map` runs a function over a slice on a few
//! threads and returns the results in the slice's order.
//!
//! Consumes: a slice and a pure function. Produces: a `Vec` equal to the sequential map.
//! Invariant: the result never depends on the thread count or on scheduling, so lowering
//! and emission stay byte-deterministic on every machine.

/// `f` of every item, in the items' order, computed on up to
/// [`std::thread::available_parallelism`] threads (contiguous chunks, one per thread). The
/// result is the same as `items.iter().map(f).collect()` whatever the thread count.
pub(crate) fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    match chunk_length(items.len()) {
        None => items.iter().map(f).collect(),
        Some(chunk) => on_threads(items.chunks(chunk).collect(), |part| {
            part.iter().map(&f).collect()
        }),
    }
}

/// The items per thread, or `None` when one thread does it all (one core, or under two
/// items).
fn chunk_length(items: usize) -> Option<usize> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    (threads >= 2 && items >= 2).then(|| items.div_ceil(threads))
}

/// `work` of every part on a thread of its own, the results concatenated in part order; a
/// panic in a thread resumes on the caller's.
fn on_threads<P: Send, R: Send>(parts: Vec<P>, work: impl Fn(P) -> Vec<R> + Sync) -> Vec<R> {
    let work = &work;
    std::thread::scope(|scope| {
        let workers: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || work(part)))
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_order_of_the_items() {
        let items: Vec<u32> = (0..1000).collect();
        let doubled = super::map(&items, |item| item * 2);
        assert_eq!(
            doubled,
            items.iter().map(|item| item * 2).collect::<Vec<_>>()
        );
        assert_eq!(super::map(&[] as &[u32], |item| *item), Vec::<u32>::new());
    }
}
