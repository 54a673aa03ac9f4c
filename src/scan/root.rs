//! One cache root: list its repo folders, decide which to export (configured ones always,
//! discovered ones up to `max_repos`) and scan each. A missing root is a state, not an error.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::panic::resume_unwind;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::commits::{CloseOnDrop, Commits};
use super::locks::LockLookup;
use super::memo::{DirMemo, Dirs};
use super::repo::{self, Loaded, Tree, TreeMemo, Trees};
use super::shared::{Root, RootPaths};
use super::walk::{self, RepoWalk, WalkInput, WalkOutput};
use super::{
    CacheReport, ErrorTally, Reason, RepoReport, RepoStats, ScanOptions, chunks, fsstat,
    unix_seconds,
};
use crate::config::CacheSpec;
use crate::repo_ref::{RepoRef, RepoType, parse_folder_name};

/// Tree files from which a scan parses them on a thread beside the walk: fewer parse in less
/// time than starting the thread takes (tens of microseconds).
pub(super) const TREES_BESIDE_WALK: usize = 16;
/// Repos from which a scan resolves their refs (and then parses their tree files) on a thread
/// beside the walk instead of before it: about 4 us each, so 64 take what starting a thread
/// does several times over.
pub(super) const LOCATE_BESIDE_WALK: usize = 64;

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
    mut memo: Option<&mut DirMemo>,
) -> CacheReport {
    let started = Instant::now();
    let root = spec.path.as_path();
    let mut errors = ErrorTally::default();
    let (exists, found) = list_root(root, &mut errors);

    let mut targets: Vec<Target> = configured.iter().map(Target::from).collect();
    let mut dropped = 0u64;
    if discover {
        // Found folders are unique (map keys), so only the configured ones can repeat them.
        // Looked up in a set: a scan over every target so far was quadratic, 1 ms at 500
        // repos.
        let listed: HashSet<String> = targets.iter().map(|t| t.folder.clone()).collect();
        let mut taken = 0usize;
        for (folder, (repo_type, repo_id)) in &found {
            if listed.contains(folder) {
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

    let root_real = fs::canonicalize(root).ok();
    let present: Vec<bool> = targets
        .iter()
        .map(|t| found.contains_key(&t.folder) || (exists && root.join(&t.folder).is_dir()))
        .collect();
    let began = unix_seconds(std::time::SystemTime::now());
    let full_scan = memo
        .as_deref_mut()
        .is_none_or(|m| m.begin(began, opts.full_every));
    let setup = match memo.as_deref() {
        Some(m) => Setup {
            reuse: Some((&m.dirs, &m.trees)),
            opts,
            began,
            expect_temps: m.found_temps != Some(false),
            pool_now: m.pooled,
        },
        None => Setup::oneshot(opts, began),
    };
    let out = scan_targets(
        root,
        root_real.as_deref(),
        targets,
        &present,
        setup,
        &mut errors,
    );
    let reused_dirs = out.walk.reused_dirs;
    if let Some(m) = memo {
        m.found_temps = Some(out.walk.found_temps);
        m.pooled = out.walk.threads_used > 1;
        m.dirs = out.walk.memo;
        m.trees = out.trees;
    }

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
        lock_probe_ran: out.lock_probe_ran,
        full_scan,
        reused_dirs,
        repos: out.reports,
    }
}

/// Scan one repo of a root on demand (`/download_progress` for a repo that is not exported).
pub fn scan_single(spec: &CacheSpec, t: Target, opts: ScanOptions) -> (RepoReport, ErrorTally) {
    let root = spec.path.as_path();
    let mut errors = ErrorTally::default();
    let present = root.join(&t.folder).is_dir();
    let root_real = fs::canonicalize(root).ok();
    let began = unix_seconds(std::time::SystemTime::now());
    let setup = Setup::oneshot(opts, began);
    let mut out = scan_targets(
        root,
        root_real.as_deref(),
        vec![t],
        &[present],
        setup,
        &mut errors,
    );
    (out.reports.remove(0), errors)
}

/// A scan's reports, whether the lock probe could judge its temp files (true when there were
/// none to judge), and what the memo keeps of it.
struct Scanned {
    reports: Vec<RepoReport>,
    lock_probe_ran: bool,
    walk: WalkOutput,
    trees: Trees,
}

/// How to walk: the previous scan's directories (if they may be reused), the options, the start
/// time (unix seconds), and whether temp files are likely (then `/proc/locks` is read while the
/// walk runs, not after it).
struct Setup<'a> {
    reuse: Option<(&'a Dirs, &'a Trees)>,
    opts: ScanOptions,
    began: f64,
    expect_temps: bool,
    /// Start the walk's helper threads at once (the last walk needed them).
    pool_now: bool,
}

impl Setup<'_> {
    /// No memo: a one-shot or single-repo scan, which cannot know whether temp files are
    /// coming (the walk starts the `/proc/locks` read when it meets one).
    fn oneshot(opts: ScanOptions, began: f64) -> Self {
        Self {
            reuse: None,
            opts,
            began,
            expect_temps: false,
            pool_now: false,
        }
    }
}

/// Walk the present targets together (one pool of threads for all of them) and build every
/// target's report, in order.
fn scan_targets(
    root: &Path,
    root_real: Option<&Path>,
    targets: Vec<Target>,
    present: &[bool],
    setup: Setup,
    errors: &mut ErrorTally,
) -> Scanned {
    let opts = setup.opts;
    // Sizing the pool reads the cgroup CPU quota (a few files in /sys): only when needed.
    let pool = std::sync::OnceLock::new();
    let threads = || *pool.get_or_init(|| opts.threads());
    let tree_memo = setup.reuse.map(|(_, last)| TreeMemo {
        last,
        started: setup.began,
        racy_window: opts.racy_window,
    });
    let present_targets: Vec<Option<&Target>> = targets
        .iter()
        .zip(present)
        .map(|(t, &p)| p.then_some(t))
        .collect();
    let walks: Vec<RepoWalk> = present_targets
        .iter()
        .flatten()
        .map(|t| RepoWalk {
            dir: root.join(&t.folder),
        })
        .collect();
    let root_at = Root::open(&RootPaths { root, root_real });
    // Per target: its tree file and ref errors when present, `None` when absent, each commit
    // published as found. Each repo keeps its own tally, merged below in repo order with its
    // tree file's, so counts and samples are what one thread going through the repos in order
    // would record.
    let locate_all = |commits: &Commits| -> Vec<Option<(Option<PathBuf>, ErrorTally)>> {
        let _close = CloseOnDrop(commits);
        let mut next = 0;
        let mut locate = |t: &Target| {
            let mut tally = ErrorTally::default();
            let rev = t.revision.as_deref();
            let l = repo::locate(root, &root_at, &t.folder, rev, &mut tally);
            commits.publish(next, l.commit);
            next += 1;
            (l.tree_file, tally)
        };
        present_targets.iter().map(|t| t.map(&mut locate)).collect()
    };
    // Tree files are needed only after the walk.
    let load = |located: &[Option<(Option<PathBuf>, ErrorTally)>]| -> Vec<Option<(Option<Loaded>, ErrorTally)>> {
        let mut buf = Vec::new();
        let mut load_one = |f: &Option<PathBuf>| {
            let mut tally = ErrorTally::default();
            let loaded = f.as_deref().and_then(|f| {
                repo::load_tree(&root_at, f, tree_memo.as_ref(), &mut buf, &mut tally)
            });
            (loaded, tally)
        };
        located
            .iter()
            .map(|l| l.as_ref().map(|(f, _)| load_one(f)))
            .collect()
    };
    let commits = Commits::pending(walks.len());
    // Many repos: refs are resolved and tree files parsed on a thread beside the walk, which
    // starts at once (it runs alone at first, leaving a CPU idle). Few: refs first, and tree
    // files beside the walk only when there are enough to pay for a thread.
    let early = (walks.len() < LOCATE_BESIDE_WALK).then(|| locate_all(&commits));
    // The one-shot rule applies only without a memo: the server's tracker needs every lock.
    let oneshot = opts.oneshot_locks.filter(|_| setup.reuse.is_none());
    let locks = LockLookup::new(opts.lock_probe, oneshot, setup.expect_temps);
    let lock_may_matter = |mtime| locks.may_matter(mtime);
    let temp_seen = || locks.start();
    let input = WalkInput {
        roots: RootPaths { root, root_real },
        repos: &walks,
        commits: &commits,
        reuse: setup.reuse.map(|(dirs, _)| dirs),
        record: setup.reuse.is_some(),
        started: setup.began,
        racy_window: opts.racy_window,
        threads: &threads,
        lock_may_matter: &lock_may_matter,
        temp_seen: &temp_seen,
        // With refs resolved beside the walk, the helpers start at once too. Started after the
        // first 2 ms (`walk::SOLO_TIME`), a helper was created while the resolver, the walk's
        // first new thread, ran: on the benchmark VM the kernel put that first thread on the
        // walk's own CPU and left the other idle for 2-5 ms (ftrace); a third thread lands there.
        pool_now: setup.pool_now || early.is_none(),
    };
    let (mut out, located, loaded) = match early {
        None => std::thread::scope(|s| {
            let prep = s.spawn(|| {
                let located = locate_all(&commits);
                let loaded = load(&located);
                (located, loaded)
            });
            let out = walk::walk(&input);
            // A panic beside the walk is a bug; re-raise it rather than lose the repos' trees.
            let (located, loaded) = prep.join().unwrap_or_else(|p| resume_unwind(p));
            (out, located, loaded)
        }),
        Some(located) => {
            let tree_files = located.iter().flatten().filter(|(f, _)| f.is_some());
            let (out, loaded) = if tree_files.count() >= TREES_BESIDE_WALK {
                std::thread::scope(|s| {
                    let trees = s.spawn(|| load(&located));
                    let out = walk::walk(&input);
                    (out, trees.join().unwrap_or_else(|p| resume_unwind(p)))
                })
            } else {
                let loaded = load(&located);
                (walk::walk(&input), loaded)
            };
            (out, located, loaded)
        }
    };
    let mut next_trees = Trees::new();
    // Per target: `Some(tree)` when present (and walked), `None` when absent.
    let mut trees: Vec<Option<Option<Tree>>> = Vec::with_capacity(targets.len());
    for (l, t) in located.into_iter().zip(loaded) {
        let (Some((_, ref_tally)), Some((loaded, tree_tally))) = (l, t) else {
            trees.push(None);
            continue;
        };
        errors.merge(ref_tally);
        errors.merge(tree_tally);
        let tree = loaded.map(|Loaded { tree, keep }| {
            if let Some((key, stamp)) = keep {
                next_trees.insert(key, (stamp, tree.clone()));
            }
            tree
        });
        trees.push(Some(tree));
    }
    let mut parts = std::mem::take(&mut out.parts).into_iter();
    // Each target with its walked part (present targets were walked, in order).
    let walked: Vec<_> = targets
        .into_iter()
        .zip(trees)
        .map(|(t, tree)| {
            let walked = tree.and_then(|tree| parts.next().map(|part| (tree, part)));
            (t, walked)
        })
        .collect();
    let reports = chunks::map(walked, &threads, errors, |(t, walked), errors| {
        let path = root.join(&t.folder);
        let (exists, stats, temps, progress) = match walked {
            Some((tree, part)) => {
                let s = repo::finish(&root_at, &t.folder, tree, part, &locks, errors);
                (true, s.stats, s.temps, s.progress)
            }
            None => (false, RepoStats::default(), Vec::new(), None),
        };
        RepoReport {
            repo_type: t.repo_type,
            repo_id: t.repo_id,
            folder: t.folder,
            path,
            exists,
            stats,
            temps,
            progress,
        }
    });
    Scanned {
        reports,
        lock_probe_ran: locks.usable(),
        walk: out,
        trees: next_trees,
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
