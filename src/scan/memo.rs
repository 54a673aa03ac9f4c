//! What the incremental scan remembers between scans, and when it may trust it.
//!
//! A directory's mtime and ctime change whenever an entry is added, removed or renamed, and
//! finished blobs are immutable, so a directory whose stamp is unchanged still holds the same
//! content files: its sums are reused without listing it or stat-ing its files. Temp files are
//! always stat'ed again (they grow in place); a shared-store link's target is reused only while
//! the store directory holding it keeps its stamp (one `stat` per store directory per scan), and
//! a directory that had errors is always listed again (so error counters keep counting). A stamp too close to "now" is not trusted: another change could land
//! within the same timestamp tick after we listed ("racy" entries, as git calls them). A full
//! scan every `scan.full-every` is the safety net for what stamps cannot see (a blob rewritten in
//! place, an NFS server with a lagging clock).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::repo::Trees;
use super::str_list::StrList;
use super::summary::{ContentSum, FileFacts};

/// A stamp newer than this, relative to the scan's start, is not trusted by default.
pub const RACY_WINDOW: Duration = Duration::from_secs(2);

/// Identity and change times of a directory, from the `stat` of its open descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub dev: u64,
    pub ino: u64,
    pub mtime: (i64, u32),
    pub ctime: (i64, u32),
}

impl Stamp {
    /// From a `stat` of the directory (or file).
    // `Stat` field types differ between architectures; the casts are no-ops only on some.
    #[allow(clippy::unnecessary_cast)]
    pub fn from_stat(st: &rustix::fs::Stat) -> Self {
        Self {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            mtime: (st.st_mtime as i64, st.st_mtime_nsec as u32),
            ctime: (st.st_ctime as i64, st.st_ctime_nsec as u32),
        }
    }

    /// Whether a listing taken under this stamp may be reused later.
    pub fn settled(&self, scan_started: f64, racy_window: Duration) -> bool {
        let newest = self.mtime.max(self.ctime);
        let newest = newest.0 as f64 + f64::from(newest.1) / 1e9;
        newest < scan_started - racy_window.as_secs_f64()
    }
}

/// One directory as a previous scan found it.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoDir {
    pub stamp: Stamp,
    pub subdirs: Vec<OsString>,
    /// Temp files, stat'ed again on every scan.
    pub temps: Vec<OsString>,
    /// Symlinks directly in `R/blobs/` (into the shared store).
    pub shared_links: Vec<LinkMemo>,
    pub content: ContentSum,
    /// Listed for a repo whose tree file asks for names: then the two lists below are filled.
    pub wanted: bool,
    /// Etags of the blobs in this `blobs/` directory.
    pub etags: StrList,
    /// Regular files of this `snapshots/` directory, relative to `snapshots/` (no-symlink mode).
    pub snap_files: Vec<String>,
}

/// A symlink directly in `R/blobs/`. The link itself cannot change while its directory's stamp
/// holds (replacing a link is an entry change), but its target lives in another directory.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkMemo {
    pub name: OsString,
    /// The store file it reached in one hop, trusted while that file's directory keeps its
    /// stamp (store payloads are published by rename and immutable, like blobs); `None`: resolve
    /// it again on every scan.
    pub target: Option<StoreFile>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreFile {
    pub dir: PathBuf,
    pub dir_stamp: Stamp,
    pub facts: FileFacts,
}

/// Directory path → what it held. Keyed by the path's bytes: hashing a `Path` parses its
/// components, a measurable cost at one lookup per directory per scan.
pub type Dirs = HashMap<OsString, Arc<MemoDir>>;

/// Per cache root: the directories of the last scan. Rebuilt by every scan from the directories
/// it visited, so removed repos do not linger.
#[derive(Debug, Default)]
pub struct DirMemo {
    pub dirs: Dirs,
    /// Whether the last scan found temp files (`None` before the first): the next scan then
    /// expects some.
    pub found_temps: Option<bool>,
    /// Whether the last walk needed helper threads: the next one starts with them rather than
    /// alone (an incremental rescan of a big cache lists little, so it would grow late).
    pub pooled: bool,
    /// Parsed `trees/<commit>.json` files, by the same rules.
    pub trees: Trees,
    last_full: Option<f64>,
}

impl DirMemo {
    /// Called before a scan at `now`: forget everything when a full scan is due (or none ran yet),
    /// and say whether this scan is a full one.
    pub fn begin(&mut self, now: f64, full_every: Duration) -> bool {
        let due = self
            .last_full
            .is_none_or(|t| now - t >= full_every.as_secs_f64() || now < t);
        if due {
            self.dirs.clear();
            self.trees.clear();
            self.last_full = Some(now);
        }
        due
    }

    /// When the last full scan started (unix seconds).
    pub fn last_full(&self) -> Option<f64> {
        self.last_full
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(mtime: i64, ctime: i64) -> Stamp {
        Stamp {
            dev: 1,
            ino: 2,
            mtime: (mtime, 0),
            ctime: (ctime, 500_000_000),
        }
    }

    #[test]
    fn recent_stamps_are_not_trusted() {
        assert!(stamp(100, 100).settled(103.0, RACY_WINDOW));
        assert!(
            !stamp(100, 100).settled(102.0, RACY_WINDOW),
            "ctime 100.5 is within 2 s"
        );
        assert!(
            !stamp(100, 200).settled(150.0, RACY_WINDOW),
            "a ctime newer than mtime counts"
        );
        assert!(
            !stamp(200, 100).settled(150.0, RACY_WINDOW),
            "future stamps are never trusted"
        );
    }

    #[test]
    fn full_scan_every_interval_and_first_time() {
        let every = Duration::from_secs(600);
        let mut m = DirMemo::default();
        assert!(m.begin(1000.0, every), "first scan is full");
        m.dirs.insert("/c/x".into(), Arc::new(sample()));
        assert!(!m.begin(1500.0, every));
        assert_eq!(m.dirs.len(), 1, "kept between incremental scans");
        assert!(m.begin(1600.0, every), "600 s after the last full scan");
        assert!(m.dirs.is_empty(), "a full scan starts from nothing");
        assert!(m.begin(10.0, every), "the clock went backwards: start over");
        assert!(m.begin(10.0, Duration::ZERO), "full-every 0: always full");
    }

    fn sample() -> MemoDir {
        MemoDir {
            stamp: stamp(1, 1),
            subdirs: vec![],
            temps: vec![],
            shared_links: vec![],
            content: ContentSum::default(),
            wanted: false,
            etags: StrList::default(),
            snap_files: vec![],
        }
    }
}
