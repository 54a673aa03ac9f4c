//! Per temp file history → is a repo downloading, stalled, and which temp files are abandoned.
//!
//! Rules (issue 3): a temp file is *abandoned* when it is not growing and its blob already
//! exists beside it, or its lock is held by no process, or it has not changed for
//! `abandon_after`. A repo is *downloading* while one temp file is not abandoned, and
//! *stalled* when it is downloading and none of its temp files changed for `stall_after`.
//!
//! "Changed" means size, allocated bytes or mtime differ from the previous observation; we
//! then date the change at `now` (our clock, immune to NFS server skew). A file seen for the
//! first time is dated by its mtime (a leftover found after a restart is judged by its age);
//! an mtime in the future counts as `now`. A file is *growing* while its last change is less
//! than `stall_after` old, so a live download writing in 10 MiB steps does not flicker
//! between scans, and the lock rule's "unchanged for `stall_after`" is "not growing".

use std::collections::HashMap;

/// One temp file in `R/blobs/` as the scan saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct TempObservation {
    /// Unique per temp file: cache + repo folder + file name.
    pub key: String,
    pub etag: String,
    pub size: u64,
    pub allocated: u64,
    pub mtime: f64,
    /// `None` = unknown (no lock file, probe off or untrusted).
    pub lock_held: Option<bool>,
    /// `blobs/<etag>` exists beside it.
    pub blob_exists: bool,
}

/// Seconds, from `downloads.stall_after` and `downloads.abandon_after`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub stall_after: f64,
    pub abandon_after: f64,
}

/// Download state of one repo folder. `abandoned_bytes` is apparent size (`st_size`), like
/// every `_bytes` figure of the exporter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RepoDownloadState {
    pub active: bool,
    pub stalled: bool,
    /// Newest last-change time among the repo's temp files; `None` without temp files.
    pub last_progress: Option<f64>,
    pub abandoned_files: u64,
    pub abandoned_bytes: u64,
    pub abandoned_keys: Vec<String>,
}

#[derive(Debug)]
struct History {
    size: u64,
    allocated: u64,
    mtime: f64,
    last_change: f64,
    last_seen: f64,
    lock_free: bool,
}

/// Remembers every temp file between scans so growth can be seen.
#[derive(Debug)]
pub struct Tracker {
    th: Thresholds,
    history: HashMap<String, History>,
    lock_trusted: bool,
}

impl Tracker {
    pub fn new(th: Thresholds) -> Self {
        Tracker {
            th,
            history: HashMap::new(),
            lock_trusted: true,
        }
    }

    /// Record one repo's temp files seen at `now` and classify them. A file seen for the
    /// first time gets last_change = its mtime (so an old leftover after an exporter restart
    /// is judged by its age).
    pub fn observe_repo(&mut self, now: f64, temps: &[TempObservation]) -> RepoDownloadState {
        let mut state = RepoDownloadState::default();
        let mut any_growing = false;
        for t in temps {
            let last_change = self.record(now, t);
            let idle = (now - last_change).max(0.0);
            let growing = idle < self.th.stall_after;
            let lock_free = self.lock_trusted && t.lock_held == Some(false);
            let abandoned =
                !growing && (t.blob_exists || lock_free || idle >= self.th.abandon_after);
            any_growing |= growing;
            if abandoned {
                state.abandoned_files += 1;
                state.abandoned_bytes = state.abandoned_bytes.saturating_add(t.size);
                state.abandoned_keys.push(t.key.clone());
            } else {
                state.active = true;
            }
            let newest = state
                .last_progress
                .map_or(last_change, |p| p.max(last_change));
            state.last_progress = Some(newest);
        }
        state.stalled = state.active && !any_growing;
        state
    }

    /// Drop history for keys not observed since `since` (call after each full scan, with
    /// that scan's start time), so deleted or renamed temp files do not pile up.
    pub fn forget_unseen(&mut self, since: f64) {
        self.history.retain(|_, h| h.last_seen >= since);
    }

    /// false once a temp file was seen growing while its lock file existed but was not held
    /// (lock_held == Some(false) at both ends of the change): then /proc/locks cannot see
    /// this cache's lockers (other PID namespace, network FS). Sticky: from then on "not
    /// held" is treated as unknown. Requiring both ends keeps a download that starts right
    /// after we read /proc/locks from tripping it.
    pub fn lock_signal_trusted(&self) -> bool {
        self.lock_trusted
    }

    /// Update the history of `t` and return its last-change time.
    fn record(&mut self, now: f64, t: &TempObservation) -> f64 {
        let lock_free = t.lock_held == Some(false);
        let Some(h) = self.history.get_mut(&t.key) else {
            let last_change = t.mtime.min(now);
            let h = History {
                size: t.size,
                allocated: t.allocated,
                mtime: t.mtime,
                last_change,
                last_seen: now,
                lock_free,
            };
            self.history.insert(t.key.clone(), h);
            return last_change;
        };
        // Bitwise so a NaN mtime compares equal to itself instead of "changing" forever.
        let changed = h.size != t.size
            || h.allocated != t.allocated
            || h.mtime.to_bits() != t.mtime.to_bits();
        if changed {
            if h.lock_free && lock_free {
                self.lock_trusted = false;
            }
            h.last_change = now;
        }
        (h.size, h.allocated, h.mtime) = (t.size, t.allocated, t.mtime);
        h.last_seen = now;
        h.lock_free = lock_free;
        h.last_change
    }
}

/// One-shot commands (`scan`, `textfile`): no history, last change = mtime.
pub fn classify_oneshot(now: f64, th: Thresholds, temps: &[TempObservation]) -> RepoDownloadState {
    Tracker::new(th).observe_repo(now, temps)
}

/// When a one-shot verdict ([`classify_oneshot`] at `now`) depends on a temp file's lock: only
/// for a file that is not growing, has no blob beside it and is younger than `abandon_after`.
/// A one-shot scan looks locks up for those alone, because reading `/proc/locks` costs a kernel
/// RCU grace period (8-20 ms on our test VM), more than a whole scan of a small cache.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OneshotLocks {
    pub now: f64,
    pub th: Thresholds,
}

impl OneshotLocks {
    /// Whether the lock can decide the verdict of a temp file with this mtime, its blob not
    /// yet known (the walk asks this to start the read early).
    pub fn may_matter(&self, mtime: f64) -> bool {
        // Same arithmetic as `observe_repo` on a first sighting.
        let idle = (self.now - mtime.min(self.now)).max(0.0);
        idle >= self.th.stall_after && idle < self.th.abandon_after
    }

    pub fn matters(&self, mtime: f64, blob_exists: bool) -> bool {
        !blob_exists && self.may_matter(mtime)
    }
}

#[cfg(test)]
mod tests;
