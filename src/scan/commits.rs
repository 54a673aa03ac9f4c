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
    /// Readers blocked in [`get`](Self::get). Publishing wakes them only when there are some:
    /// a wake-up is a system call even with nobody waiting, and the resolver publishes every
    /// repo (500 on a medium cache) while walkers almost never wait.
    waiting: Mutex<usize>,
    more: Condvar,
}

impl Commits {
    /// `n` repos whose commits [`publish`](Self::publish) will fill, in order.
    pub fn pending(n: usize) -> Self {
        Self {
            slots: (0..n).map(|_| OnceLock::new()).collect(),
            done: AtomicUsize::new(0),
            waiting: Mutex::new(0),
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
        let waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        self.done.fetch_max(to, Ordering::Release);
        // Under the lock, so a reader either saw `done` advance or is counted here already.
        if *waiting > 0 {
            self.more.notify_all();
        }
    }

    /// Repo `i`'s commit, waiting until it is published.
    pub fn get(&self, i: usize) -> Option<&str> {
        if self.done.load(Ordering::Acquire) <= i {
            let mut g = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
            *g += 1;
            while self.done.load(Ordering::Acquire) <= i {
                g = self.more.wait(g).unwrap_or_else(|p| p.into_inner());
            }
            *g -= 1;
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
    use std::sync::{Arc, mpsc};
    use std::time::Duration;

    #[test]
    fn known_commits_are_answered_at_once() {
        let c = Commits::known(vec![Some("a".into()), None]);
        assert_eq!(c.get(0), Some("a"));
        assert_eq!(c.get(1), None);
    }

    /// Readers on their own threads, each sending what it got; a reader that is never woken
    /// fails the test after `TIMEOUT` instead of hanging it.
    fn readers(c: &Arc<Commits>, slots: &[usize]) -> Vec<mpsc::Receiver<Option<String>>> {
        slots
            .iter()
            .map(|&i| {
                let (tx, rx) = mpsc::channel();
                let c = Arc::clone(c);
                std::thread::spawn(move || tx.send(c.get(i).map(str::to_owned)));
                rx
            })
            .collect()
    }

    const TIMEOUT: Duration = Duration::from_secs(10);

    #[test]
    fn a_reader_waits_for_the_publisher_and_sees_what_it_published() {
        let c = Arc::new(Commits::pending(3));
        let got = readers(&c, &[2, 0]);
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            got[0].try_recv().is_err(),
            "returned before repo 2 was published"
        );
        c.publish(0, Some("c0".into()));
        c.publish(1, None);
        c.publish(2, Some("c2".into()));
        let got: Vec<_> = got.iter().map(|r| r.recv_timeout(TIMEOUT)).collect();
        assert_eq!(got, [Ok(Some("c2".into())), Ok(Some("c0".into()))]);
    }

    #[test]
    fn readers_waiting_for_different_repos_are_each_woken() {
        let c = Arc::new(Commits::pending(4));
        c.publish(0, Some("c0".into()));
        let got = readers(&c, &[3, 1, 2]);
        std::thread::sleep(Duration::from_millis(20));
        c.publish(1, Some("c1".into()));
        assert_eq!(got[1].recv_timeout(TIMEOUT), Ok(Some("c1".into())));
        // The others still wait; one more publish each wakes them in turn.
        std::thread::sleep(Duration::from_millis(20));
        c.publish(2, None);
        assert_eq!(got[2].recv_timeout(TIMEOUT), Ok(None));
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            got[0].try_recv().is_err(),
            "returned before repo 3 was published"
        );
        c.publish(3, Some("c3".into()));
        assert_eq!(got[0].recv_timeout(TIMEOUT), Ok(Some("c3".into())));
    }

    #[test]
    fn a_publisher_that_panics_releases_waiting_readers() {
        let c = Arc::new(Commits::pending(2));
        let got = readers(&c, &[1]);
        std::thread::sleep(Duration::from_millis(20));
        let publisher = {
            let c = Arc::clone(&c);
            std::thread::spawn(move || {
                let _close = CloseOnDrop(&c);
                c.publish(0, Some("c0".into()));
                panic!("resolver bug");
            })
        };
        assert!(publisher.join().is_err());
        assert_eq!(got[0].recv_timeout(TIMEOUT), Ok(None));
        assert_eq!(c.get(0), Some("c0"));
    }
}
