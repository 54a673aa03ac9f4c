//! One cache root: list its repo folders, decide which to export (configured ones always,
//! discovered ones up to `max_repos`) and scan each. A missing root is a state, not an error.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Instant;

use super::repo::{RepoCtx, scan_repo};
use super::{
    CacheReport, ErrorTally, Reason, RepoReport, RepoStats, ScanOptions, fsstat, unix_seconds,
};
use crate::config::CacheSpec;
use crate::downloads::proc_locks;
use crate::repo_ref::{RepoRef, RepoType, parse_folder_name};

/// A repo to report on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub repo_type: RepoType,
    pub repo_id: String,
    pub folder: String,
    pub revision: Option<String>,
}

impl From<&RepoRef> for Target {
    fn from(r: &RepoRef) -> Self {
        Self {
            repo_type: r.repo_type,
            repo_id: r.repo_id.clone(),
            folder: r.folder_name(),
            revision: r.revision.clone(),
        }
    }
}

/// Scan one root. `configured` repos are always reported; with `discover`, every other repo
/// folder is too, up to `max_repos` (sorted by folder name so the cut is stable).
pub fn scan_cache(
    spec: &CacheSpec,
    configured: &[RepoRef],
    discover: bool,
    max_repos: usize,
    opts: ScanOptions,
) -> CacheReport {
    let started = Instant::now();
    let root = spec.path.as_path();
    let mut errors = ErrorTally::default();
    let (exists, found) = list_root(root, &mut errors);

    let mut targets: Vec<Target> = configured.iter().map(Target::from).collect();
    let mut dropped = 0u64;
    if discover {
        let mut taken = 0usize;
        for (folder, (repo_type, repo_id)) in &found {
            if targets.iter().any(|t| &t.folder == folder) {
                continue;
            }
            if taken >= max_repos {
                dropped += 1;
                continue;
            }
            taken += 1;
            targets.push(Target {
                repo_type: *repo_type,
                repo_id: repo_id.clone(),
                folder: folder.clone(),
                revision: None,
            });
        }
    }

    let locks = if opts.lock_probe {
        proc_locks::read_proc_locks().ok()
    } else {
        None
    };
    let root_real = fs::canonicalize(root).ok();
    let repos = targets
        .into_iter()
        .map(|t| {
            let present =
                found.contains_key(&t.folder) || (exists && root.join(&t.folder).is_dir());
            report_for(
                root,
                root_real.as_deref(),
                locks.as_ref(),
                t,
                present,
                &mut errors,
            )
        })
        .collect();

    let fs = if exists {
        fsstat::statvfs(root).ok()
    } else {
        None
    };
    CacheReport {
        name: spec.name.clone(),
        path: spec.path.clone(),
        exists,
        repos_found: found.len() as u64,
        repos_dropped: dropped,
        fs,
        duration: started.elapsed(),
        finished_at: unix_seconds(std::time::SystemTime::now()),
        errors,
        lock_probe_ran: locks.is_some(),
        repos,
    }
}

/// Scan one repo of a root on demand (`/download_progress` for a repo that is not exported).
pub fn scan_single(spec: &CacheSpec, t: Target, opts: ScanOptions) -> (RepoReport, ErrorTally) {
    let root = spec.path.as_path();
    let mut errors = ErrorTally::default();
    let present = root.join(&t.folder).is_dir();
    let locks = if opts.lock_probe && present {
        proc_locks::read_proc_locks().ok()
    } else {
        None
    };
    let root_real = fs::canonicalize(root).ok();
    let r = report_for(
        root,
        root_real.as_deref(),
        locks.as_ref(),
        t,
        present,
        &mut errors,
    );
    (r, errors)
}

/// Scan one target in an existing root (the JSON endpoint's ad-hoc lookups use this too).
pub(crate) fn report_for(
    root: &Path,
    root_real: Option<&Path>,
    locks: Option<&proc_locks::LockedInodes>,
    t: Target,
    present: bool,
    errors: &mut ErrorTally,
) -> RepoReport {
    let path = root.join(&t.folder);
    let (stats, temps, progress) = if present {
        let ctx = RepoCtx {
            root,
            root_real,
            folder: &t.folder,
            revision: t.revision.as_deref(),
            locks,
        };
        let s = scan_repo(&ctx);
        errors.merge(s.errors);
        (s.stats, s.temps, s.progress)
    } else {
        (RepoStats::default(), Vec::new(), None)
    };
    RepoReport {
        repo_type: t.repo_type,
        repo_id: t.repo_id,
        folder: t.folder,
        path,
        exists: present,
        stats,
        temps,
        progress,
    }
}

/// Repo folders of a root by folder name. Other entries (`.locks`, `CACHEDIR.TAG`, the shared
/// `blobs/` store, `version.txt`, probe dirs) are not repos and are skipped silently.
fn list_root(root: &Path, errors: &mut ErrorTally) -> (bool, BTreeMap<String, (RepoType, String)>) {
    let mut found = BTreeMap::new();
    let rd = match fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (false, found),
        Err(e) => {
            errors.io(root, &e);
            // A root we may not list still "exists"; one that is a file does not.
            return (e.kind() == std::io::ErrorKind::PermissionDenied, found);
        }
    };
    for entry in rd {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                errors.io(root, &e);
                continue;
            }
        };
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            errors.add(
                Reason::NonUtf8Name,
                &entry.path(),
                "entry name is not UTF-8",
            );
            continue;
        };
        let Some(parsed) = parse_folder_name(name) else {
            continue;
        };
        // d_type first; only a symlinked repo folder costs a stat.
        let is_dir = match entry.file_type() {
            Ok(ft) if ft.is_dir() => true,
            Ok(ft) if ft.is_symlink() => entry.path().is_dir(),
            _ => false,
        };
        if is_dir {
            found.insert(name.to_owned(), parsed);
        }
    }
    (true, found)
}
