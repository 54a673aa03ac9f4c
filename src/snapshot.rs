//! What one scrape shows: the scan reports plus the download state and the counters that
//! live across scans. Built by the coordinator (daemon) or by [`oneshot`] (`scan`, `textfile`),
//! rendered by [`crate::render`] and [`crate::report`].

use std::collections::BTreeMap;

use crate::downloads::tracker::{self, RepoDownloadState, TempObservation, Thresholds, Tracker};
use crate::scan::{CacheReport, Reason, RepoReport};

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub caches: Vec<CacheSnap>,
}

#[derive(Debug, Clone)]
pub struct CacheSnap {
    pub report: CacheReport,
    /// One per `report.repos`, same order.
    pub downloads: Vec<RepoDownloadState>,
    /// Cumulative since start: `hf_cache_scan_errors_total`.
    pub errors_total: BTreeMap<Reason, u64>,
    /// Cumulative walks of this root: `hf_cache_scans_total`.
    pub scans_total: u64,
    /// Whether the lock signal was used for this scan (`hf_cache_lock_probe_enabled`).
    pub lock_probe_enabled: bool,
}

/// Temp files of a repo as the state machine sees them. Lock facts are dropped when the
/// probe is off or untrusted, so they can only ever make a file *more* alive.
pub fn observations(cache: &str, repo: &RepoReport, use_locks: bool) -> Vec<TempObservation> {
    repo.temps
        .iter()
        .map(|t| TempObservation {
            key: format!("{cache}\u{0}{}\u{0}{}", repo.folder, t.name),
            etag: t.etag.clone(),
            size: t.size,
            allocated: t.allocated,
            mtime: t.mtime,
            lock_held: if use_locks { t.lock_held } else { None },
            blob_exists: t.blob_exists,
        })
        .collect()
}

/// `lock_probe: on` keeps using locks even when they look untrustworthy; `auto` backs off.
pub fn locks_trusted(tracker: &Tracker, trust_locks_blindly: bool) -> bool {
    trust_locks_blindly || tracker.lock_signal_trusted()
}

/// Daemon mode: feed the tracker and build the cache's snapshot.
pub fn with_history(
    report: CacheReport,
    tracker: &mut Tracker,
    now: f64,
    errors_total: BTreeMap<Reason, u64>,
    scans_total: u64,
    trust_locks_blindly: bool,
) -> CacheSnap {
    let use_locks = report.lock_probe_ran && locks_trusted(tracker, trust_locks_blindly);
    let downloads = report
        .repos
        .iter()
        .map(|r| {
            if r.temps.is_empty() {
                RepoDownloadState::default()
            } else {
                tracker.observe_repo(now, &observations(&report.name, r, use_locks))
            }
        })
        .collect();
    // Re-read: what this scan saw may just have made the signal untrustworthy.
    let lock_probe_enabled = report.lock_probe_ran && locks_trusted(tracker, trust_locks_blindly);
    CacheSnap {
        report,
        downloads,
        errors_total,
        scans_total,
        lock_probe_enabled,
    }
}

/// One-shot mode: no history, so judge temp files by their mtime age.
pub fn oneshot(report: CacheReport, th: Thresholds, now: f64) -> CacheSnap {
    let use_locks = report.lock_probe_ran;
    let downloads = report
        .repos
        .iter()
        .map(|r| tracker::classify_oneshot(now, th, &observations(&report.name, r, use_locks)))
        .collect();
    let errors_total = report.errors.counts.clone();
    CacheSnap {
        lock_probe_enabled: use_locks,
        report,
        downloads,
        errors_total,
        scans_total: 1,
    }
}
