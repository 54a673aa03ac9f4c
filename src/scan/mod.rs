//! The only code that reads the cache. It lists a root, walks each repo folder's `blobs/` and
//! `snapshots/` (in parallel; incrementally with a [`DirMemo`]) and returns plain
//! facts; it never writes, locks, renames or deletes, and an odd entry becomes a counted
//! [`errors::Reason`] instead of a failed scan.

mod chunks;
mod commits;
pub mod errors;
mod fsstat;
mod locks;
pub mod memo;
mod repo;
mod root;
#[cfg(test)]
mod root_tests;
mod shared;
mod str_list;
mod summary;
mod totals;
mod walk;

use std::path::PathBuf;
use std::time::Duration;

pub use errors::{ErrorTally, Reason};
pub use fsstat::FsStats;
pub use memo::DirMemo;
pub use root::{Target, scan_cache, scan_single};
pub use totals::root_totals;

use crate::blob_name::TempKind;
use crate::downloads::progress::Progress;
use crate::downloads::tracker::OneshotLocks;
use crate::repo_ref::RepoType;

/// What the scan may do beyond counting bytes, and how.
#[derive(Debug, Clone, Copy)]
pub struct ScanOptions {
    /// Read `/proc/locks` to tell whether temp files' lock files are held.
    pub lock_probe: bool,
    /// Walker threads; 0 picks one per CPU, up to 8. At most 64 whatever is asked.
    pub threads: usize,
    /// With a [`DirMemo`]: how often the scan starts from nothing instead of reusing
    /// unchanged directories.
    pub full_every: Duration,
    /// A directory changed this recently (relative to the scan's start) is listed again next
    /// time: another change could share its timestamp tick. [`memo::RACY_WINDOW`] by default.
    pub racy_window: Duration,
    /// A one-shot scan's rule for which temp files need their lock looked up; `None` (the
    /// server, whose tracker also learns from locks whether to trust them) looks up all.
    pub oneshot_locks: Option<OneshotLocks>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            lock_probe: false,
            threads: 0,
            full_every: Duration::from_secs(600),
            racy_window: memo::RACY_WINDOW,
            oneshot_locks: None,
        }
    }
}

impl ScanOptions {
    pub fn threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
            n => n.min(64),
        }
    }
}

/// The metric-contract numbers of one repo folder.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RepoStats {
    pub bytes: u64,
    pub allocated_bytes: u64,
    pub files: u64,
    pub incomplete_files: u64,
    pub incomplete_bytes: u64,
    pub revisions: u64,
    pub last_modified: Option<f64>,
}

/// A temp download file (`*.incomplete`, `*.part`, `*.sync.part`) in `R/blobs/`.
#[derive(Debug, Clone, PartialEq)]
pub struct TempFile {
    pub name: String,
    pub etag: String,
    pub kind: TempKind,
    pub size: u64,
    pub allocated: u64,
    pub mtime: f64,
    /// `Some(held)` when `.locks/<folder>/<etag>.lock` exists and the probe ran.
    pub lock_held: Option<bool>,
    /// The finished blob `blobs/<etag>` is already there: this temp file is a leftover.
    pub blob_exists: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RepoReport {
    pub repo_type: RepoType,
    pub repo_id: String,
    pub folder: String,
    pub path: PathBuf,
    pub exists: bool,
    pub stats: RepoStats,
    pub temps: Vec<TempFile>,
    /// From `trees/<commit>.json`; `None` when there is no tree file for the revision.
    pub progress: Option<Progress>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CacheReport {
    pub name: String,
    pub path: PathBuf,
    pub exists: bool,
    /// Repo folders in the root (before the `max_repos` cap).
    pub repos_found: u64,
    /// Discovered repos left out by `max_repos`.
    pub repos_dropped: u64,
    pub fs: Option<FsStats>,
    pub duration: Duration,
    pub finished_at: f64,
    pub errors: ErrorTally,
    /// Whether the lock probe ran (enabled and `/proc/locks` readable).
    pub lock_probe_ran: bool,
    /// Every directory was listed (no memo, or the memo's full scan was due).
    pub full_scan: bool,
    /// Directories whose previous listing was reused.
    pub reused_dirs: u64,
    pub repos: Vec<RepoReport>,
}

/// Now as unix seconds.
pub fn unix_seconds_now() -> f64 {
    unix_seconds(std::time::SystemTime::now())
}

/// Unix seconds of a timestamp, as a float (Prometheus' timestamp unit).
pub fn unix_seconds(t: std::time::SystemTime) -> f64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}
