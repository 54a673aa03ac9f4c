//! Which temp files get their lock looked up, and when `/proc/locks` is read for them.
//!
//! Reading `/proc/locks` makes the kernel wait for an RCU grace period (8-20 ms on our test VM
//! when nothing read it just before; lock calls on the host wait meanwhile), so a scan reads it
//! only for temp files that need it: every one in the server (its tracker also learns from
//! locks whether to trust them), only those whose verdict depends on it in a one-shot scan.
//! The read runs on its own thread from the first such file a multi-threaded walk meets (or
//! from the start when the last scan had temp files), so it overlaps the walk.

use std::sync::OnceLock;

use crate::downloads::proc_locks::{LockedInodes, Prefetch};
use crate::downloads::tracker::OneshotLocks;

pub struct LockLookup {
    probe: bool,
    oneshot: Option<OneshotLocks>,
    prefetch: Prefetch,
    read: OnceLock<Option<LockedInodes>>,
}

impl LockLookup {
    /// `probe`: the lock probe is on; `oneshot`: a one-shot scan's rule (see [`OneshotLocks`]);
    /// `expect_temps`: start reading at once.
    pub fn new(probe: bool, oneshot: Option<OneshotLocks>, expect_temps: bool) -> Self {
        let me = Self {
            probe,
            oneshot,
            prefetch: Prefetch::default(),
            read: OnceLock::new(),
        };
        if probe && expect_temps {
            me.prefetch.start();
        }
        me
    }

    /// Whether a temp file with this mtime may need its lock (its blob not yet known).
    pub fn may_matter(&self, mtime: f64) -> bool {
        self.probe && self.oneshot.is_none_or(|o| o.may_matter(mtime))
    }

    /// Start reading `/proc/locks` beside the walk (once).
    pub fn start(&self) {
        self.prefetch.start();
    }

    /// The locks to look a temp file up in, when its lock matters; the first call waits for
    /// the read (started earlier, or now).
    pub fn for_temp(&self, mtime: f64, blob_exists: bool) -> Option<&LockedInodes> {
        let matters = self.probe && self.oneshot.is_none_or(|o| o.matters(mtime, blob_exists));
        if !matters {
            return None;
        }
        self.read
            .get_or_init(|| self.prefetch.finish().ok())
            .as_ref()
    }

    /// Whether the scan's lock facts can be used: the probe is on and, if `/proc/locks` was
    /// needed, it could be read.
    pub fn usable(&self) -> bool {
        self.probe && self.read.get().is_none_or(Option::is_some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::downloads::tracker::Thresholds;

    const NOW: f64 = 1_700_000_000.0;
    const ONESHOT: OneshotLocks = OneshotLocks {
        now: NOW,
        th: Thresholds {
            stall_after: 300.0,
            abandon_after: 21_600.0,
        },
    };

    #[test]
    fn a_one_shot_scan_reads_locks_only_for_undecided_temp_files() {
        let l = LockLookup::new(true, Some(ONESHOT), false);
        assert!(
            l.for_temp(NOW - 10.0, false).is_none(),
            "growing: lock irrelevant"
        );
        assert!(l.for_temp(NOW - 1e6, false).is_none(), "past abandon_after");
        assert!(l.for_temp(NOW - 600.0, true).is_none(), "its blob exists");
        assert!(l.read.get().is_none(), "so /proc/locks was never read");
        assert!(l.usable());
        assert!(!l.may_matter(NOW - 10.0) && l.may_matter(NOW - 600.0));
        // An undecided one is looked up (on Linux /proc/locks reads; the result is a set).
        let looked_up = l.for_temp(NOW - 600.0, false).is_some();
        assert_eq!(looked_up, l.usable());
        assert!(l.read.get().is_some());
    }

    #[test]
    fn the_server_looks_every_temp_file_up_and_an_off_probe_none() {
        let server = LockLookup::new(true, None, false);
        assert!(server.may_matter(NOW));
        let _ = server.for_temp(NOW, true);
        assert!(server.read.get().is_some());
        let off = LockLookup::new(false, None, true);
        assert!(!off.may_matter(NOW - 600.0));
        assert!(off.for_temp(NOW - 600.0, false).is_none());
        assert!(off.read.get().is_none() && !off.usable());
    }
}
