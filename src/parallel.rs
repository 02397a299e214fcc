//! Data parallelism that cannot change output: `map` runs a function over a slice on a few
//! threads and returns the results in the slice's order (`into_map` over owned items).
//!
//! Consumes: a slice and a pure function. Produces: a `Vec` equal to the sequential map.
//! Invariant: the result never depends on the thread count or on scheduling, so lowering
//! and emission stay byte-deterministic on every machine.

/// `f` of every item, in the items' order, computed on up to
/// [`std::thread::available_parallelism`] threads (contiguous chunks, one per thread). The
/// result is the same as `items.iter().map(f).collect()` whatever the thread count.
pub(crate) fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if threads < 2 || items.len() < 2 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
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

/// [`map`] over owned items: `f` of every item, moved in, in the items' order.
pub(crate) fn into_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if threads < 2 || items.len() < 2 {
        return items.into_iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let mut parts = Vec::with_capacity(threads);
    let mut rest = items;
    while rest.len() > chunk {
        let tail = rest.split_off(chunk);
        parts.push(rest);
        rest = tail;
    }
    parts.push(rest);
    let f = &f;
    std::thread::scope(|scope| {
        let workers: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || part.into_iter().map(f).collect::<Vec<R>>()))
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

    #[test]
    fn into_map_keeps_the_order_of_the_items() {
        for length in [0, 1, 2, 3, 1000, 1001] {
            let items: Vec<String> = (0..length).map(|item| item.to_string()).collect();
            let expected: Vec<String> = items.iter().map(|item| format!("{item}!")).collect();
            assert_eq!(super::into_map(items, |item| item + "!"), expected);
        }
    }
}
