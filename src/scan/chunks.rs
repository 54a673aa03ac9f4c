//! An order-preserving parallel map for the per-repo phase after the walk: checking temp files
//! and measuring progress. It ran on one thread while the other CPUs idled (refs included,
//! about 10 ms of a 500-repo scan here; refs are now resolved beside the walk).
//!
//! Each chunk counts its errors in its own tally, merged in chunk order, so the counts and the
//! first samples are exactly what one thread going through the items in order would record.

use super::ErrorTally;

/// Items per extra thread below which spawning one (tens of microseconds) costs more than it
/// saves: a cache of a few repos stays on the calling thread.
const MIN_PER_THREAD: usize = 32;

/// `f` over `items` on up to `threads()` threads (asked only when there are enough items for
/// two), results in input order.
pub fn map<T, R, F>(
    items: Vec<T>,
    threads: &dyn Fn() -> usize,
    errors: &mut ErrorTally,
    f: F,
) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(T, &mut ErrorTally) -> R + Sync,
{
    let most = items.len() / MIN_PER_THREAD;
    let n = if most >= 2 { threads().min(most) } else { 1 };
    if n == 1 {
        return items.into_iter().map(|t| f(t, errors)).collect();
    }
    let chunks = split(items, n);
    let f = &f;
    let done: Vec<(Vec<R>, ErrorTally)> = std::thread::scope(|s| {
        let mut chunks = chunks.into_iter();
        let first = chunks.next().unwrap_or_default();
        let handles: Vec<_> = chunks.map(|c| s.spawn(move || run(c, f))).collect();
        let mut done = vec![run(first, f)];
        // A panicking chunk is a bug; re-raise it here rather than drop its repos silently.
        done.extend(handles.into_iter().map(|h| match h.join() {
            Ok(d) => d,
            Err(p) => std::panic::resume_unwind(p),
        }));
        done
    });
    let mut out = Vec::with_capacity(done.iter().map(|(r, _)| r.len()).sum());
    for (results, tally) in done {
        out.extend(results);
        errors.merge(tally);
    }
    out
}

fn run<T, R>(chunk: Vec<T>, f: &(impl Fn(T, &mut ErrorTally) -> R + Sync)) -> (Vec<R>, ErrorTally) {
    let mut tally = ErrorTally::default();
    let results = chunk.into_iter().map(|t| f(t, &mut tally)).collect();
    (results, tally)
}

/// `items` in `n` consecutive chunks of nearly equal length (the first ones one longer).
fn split<T>(items: Vec<T>, n: usize) -> Vec<Vec<T>> {
    let (base, extra) = (items.len() / n, items.len() % n);
    let mut it = items.into_iter();
    (0..n)
        .map(|i| it.by_ref().take(base + usize::from(i < extra)).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::scan::Reason;

    #[test]
    fn split_keeps_order_and_every_item() {
        let chunks = split((0..10).collect(), 3);
        assert_eq!(chunks, vec![vec![0, 1, 2, 3], vec![4, 5, 6], vec![7, 8, 9]]);
        assert_eq!(split(Vec::<u8>::new(), 2), vec![Vec::<u8>::new(), vec![]]);
    }

    /// Many items on several threads: results and error samples come out as a serial pass
    /// would give them.
    #[test]
    fn parallel_map_matches_a_serial_pass() {
        let items: Vec<u32> = (0..1000).collect();
        let f = |i: u32, e: &mut ErrorTally| {
            if i % 7 == 0 {
                e.add(Reason::Io, Path::new(&format!("/r{i}")), "odd");
            }
            i * 2
        };
        let mut serial_errors = ErrorTally::default();
        let serial = map(items.clone(), &|| 1, &mut serial_errors, f);
        let mut par_errors = ErrorTally::default();
        let par = map(items, &|| 4, &mut par_errors, f);
        assert_eq!(par, serial);
        assert_eq!(par_errors, serial_errors);
        assert_eq!(par_errors.counts[&Reason::Io], 143);
        assert_eq!(par_errors.samples[1].1, Path::new("/r7"));
    }

    #[test]
    fn few_items_stay_on_the_calling_thread() {
        let me = std::thread::current().id();
        let mut e = ErrorTally::default();
        let ids = map(vec![(); 8], &|| panic!("not asked"), &mut e, |(), _| {
            std::thread::current().id()
        });
        assert!(ids.iter().all(|id| *id == me));
        let ids = map(vec![(); 200], &|| 4, &mut e, |(), _| {
            std::thread::current().id()
        });
        assert!(
            ids.iter().any(|id| *id != me),
            "200 items use other threads"
        );
    }
}
