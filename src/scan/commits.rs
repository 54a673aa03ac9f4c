//! Each repo's commit of interest (the one whose tree file measures progress), published in
//! repo order by the thread that resolves refs while the walk already runs, and waited for by
//! walker threads that reach a repo first.
//!
//! Resolving 500 repos' refs took 2-3 ms before the walk could start, while the walk spends
//! its first milliseconds on one thread anyway; resolving beside it uses that idle CPU. A
//! resolver is tens of times faster per repo than the walk, so walkers almost never wait.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};

pub struct Commits {
    slots: Vec<OnceLock<Option<String>>>,
    /// Slots published so far: `slots[..done]` are set (or given up on).
    done: AtomicUsize,
    lock: Mutex<()>,
    more: Condvar,
}

impl Commits {
    /// `n` repos whose commits [`publish`](Self::publish) will fill, in order.
    pub fn pending(n: usize) -> Self {
        Self {
            slots: (0..n).map(|_| OnceLock::new()).collect(),
            done: AtomicUsize::new(0),
            lock: Mutex::new(()),
            more: Condvar::new(),
        }
    }

    /// Commits already known, in repo order.
    #[cfg(test)]
    pub fn known(commits: Vec<Option<String>>) -> Self {
        let n = commits.len();
        let c = Self::pending(n);
        for (slot, commit) in c.slots.iter().zip(commits) {
            let _ = slot.set(commit);
        }
        c.done.store(n, Ordering::Release);
        c
    }

    /// Repo `i`'s commit; every repo before it must have been published already.
    pub fn publish(&self, i: usize, commit: Option<String>) {
        debug_assert_eq!(
            self.done.load(Ordering::Relaxed),
            i,
            "published out of order"
        );
        let _ = self.slots[i].set(commit);
        self.advance(i + 1);
    }

    /// Stop waiting for the rest (their commits stay unknown). The publisher's guard calls this,
    /// so a resolver that panics leaves walkers running rather than waiting forever.
    pub fn close(&self) {
        self.advance(self.slots.len());
    }

    fn advance(&self, to: usize) {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.done.fetch_max(to, Ordering::Release);
        self.more.notify_all();
    }

    /// Repo `i`'s commit, waiting until it is published.
    pub fn get(&self, i: usize) -> Option<&str> {
        if self.done.load(Ordering::Acquire) <= i {
            let mut g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            while self.done.load(Ordering::Acquire) <= i {
                g = self.more.wait(g).unwrap_or_else(|p| p.into_inner());
            }
        }
        self.slots[i].get().and_then(|c| c.as_deref())
    }
}

/// Closes `commits` when dropped, however the publisher ends.
pub struct CloseOnDrop<'a>(pub &'a Commits);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_commits_are_answered_at_once() {
        let c = Commits::known(vec![Some("a".into()), None]);
        assert_eq!(c.get(0), Some("a"));
        assert_eq!(c.get(1), None);
    }

    #[test]
    fn a_reader_waits_for_the_publisher_and_sees_what_it_published() {
        let c = Commits::pending(3);
        std::thread::scope(|s| {
            let reader = s.spawn(|| (c.get(2).map(str::to_owned), c.get(0).map(str::to_owned)));
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(
                !reader.is_finished(),
                "returned before repo 2 was published"
            );
            c.publish(0, Some("c0".into()));
            c.publish(1, None);
            c.publish(2, Some("c2".into()));
            let got = reader.join().unwrap();
            assert_eq!(got, (Some("c2".into()), Some("c0".into())));
        });
    }

    #[test]
    fn a_publisher_that_panics_releases_waiting_readers() {
        let c = Commits::pending(2);
        std::thread::scope(|s| {
            let reader = s.spawn(|| c.get(1).map(str::to_owned));
            let publisher = s.spawn(|| {
                let _close = CloseOnDrop(&c);
                c.publish(0, Some("c0".into()));
                panic!("resolver bug");
            });
            assert!(publisher.join().is_err());
            assert_eq!(reader.join().unwrap(), None);
        });
        assert_eq!(c.get(0), Some("c0"));
    }
}
