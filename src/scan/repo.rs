//! One repo folder R before and after the walk: which commit's `trees/<commit>.json` asks for
//! progress (read before the walk, which then collects the names it needs), and what the walk's
//! sums become: temp files checked against their finished blob and their lock, and progress.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::locks::LockLookup;
use super::memo::Stamp;
use super::summary::Part;
use super::walk::RepoWalk;
use super::{ErrorTally, Reason, RepoStats, TempFile};
use crate::blob_name::TempKind;
use crate::downloads::progress::{self, Progress};
use crate::downloads::tree;

/// A repo folder to walk and the tree listing its progress is measured against.
pub struct Prepared {
    pub walk: RepoWalk,
    pub tree: Option<Tree>,
    /// The tree file's path and settled stamp, when the memo may keep `tree` under them.
    pub keep: Option<(OsString, Stamp)>,
}

/// The entries of `trees/<commit>.json`.
pub type Tree = Arc<Vec<tree::TreeEntry>>;

/// Parsed tree files by path, with the stamp they were read under: a tree file of 100k entries
/// is megabytes of JSON, so an incremental scan parses it again only when its stamp changed.
pub type Trees = HashMap<OsString, (Stamp, Tree)>;

/// Tree files the last scan parsed, and when this scan started (only settled stamps are kept).
/// Read-only, so repos can be prepared on several threads; [`Prepared::keep`] says what to keep.
pub struct TreeMemo<'a> {
    pub last: &'a Trees,
    pub started: f64,
    pub racy_window: Duration,
}

/// Read R's tree file for `revision` (default `main`), if any.
pub fn prepare(
    repo: &Path,
    revision: Option<&str>,
    memo: Option<&TreeMemo>,
    errors: &mut ErrorTally,
) -> Prepared {
    let (want_commit, tree, keep) = match load_tree(repo, revision, memo, errors) {
        Some(Loaded { commit, tree, keep }) => (Some(commit), Some(tree), keep),
        None => (None, None, None),
    };
    Prepared {
        walk: RepoWalk {
            dir: repo.to_path_buf(),
            want_commit,
        },
        tree,
        keep,
    }
}

/// What a repo's walk adds up to.
pub struct RepoScan {
    pub stats: RepoStats,
    pub temps: Vec<TempFile>,
    pub progress: Option<Progress>,
}

/// Turn R's walked part into its report: `root` and `folder` locate `.locks/<folder>/`.
pub fn finish(
    root: &Path,
    folder: &str,
    tree: Option<Tree>,
    mut part: Part,
    locks: &LockLookup,
    errors: &mut ErrorTally,
) -> RepoScan {
    let stats = part.stats();
    let blobs = root.join(folder).join("blobs");
    let mut temps = std::mem::take(&mut part.temps);
    temps.sort_by(|a, b| a.name.cmp(&b.name));
    for t in &mut temps {
        t.blob_exists = fs::symlink_metadata(blobs.join(&t.etag)).is_ok();
        if let Some(locks) = locks.for_temp(t.mtime, t.blob_exists) {
            let lock = root
                .join(".locks")
                .join(folder)
                .join(format!("{}.lock", t.etag));
            t.lock_held = fs::symlink_metadata(lock)
                .ok()
                .map(|m| locks.contains(m.dev(), m.ino()));
        }
    }
    let progress = tree.map(|entries| {
        let mut temp_bytes: HashMap<String, u64> = HashMap::new();
        for t in &temps {
            let b = progress::temp_file_bytes(t.size, t.allocated, t.kind == TempKind::SyncPart);
            let e = temp_bytes.entry(t.etag.clone()).or_default();
            *e = (*e).max(b);
        }
        // Sorted, not hashed: asked once per tree entry (see `tree::distinct_sizes`).
        let (blobs, paths) = (sorted(&part.want_blobs), sorted(&part.want_paths));
        let complete = |e: &tree::TreeEntry| {
            blobs.binary_search(&e.etag.as_str()).is_ok()
                || paths.binary_search(&e.path.as_str()).is_ok()
        };
        progress::progress(&entries, &complete, &temp_bytes)
    });
    errors.merge(part.errors);
    RepoScan {
        stats,
        temps,
        progress,
    }
}

fn sorted(v: &[String]) -> Vec<&str> {
    let mut v: Vec<&str> = v.iter().map(String::as_str).collect();
    v.sort_unstable();
    v
}

/// A commit to measure, its tree listing, and what the memo may keep of it.
struct Loaded {
    commit: String,
    tree: Tree,
    keep: Option<(OsString, Stamp)>,
}

/// The commit to measure and its tree listing, if the repo has one.
fn load_tree(
    repo: &Path,
    revision: Option<&str>,
    memo: Option<&TreeMemo>,
    errors: &mut ErrorTally,
) -> Option<Loaded> {
    let trees = repo.join("trees");
    if !trees.is_dir() {
        return None;
    }
    let rev = revision.unwrap_or("main");
    let commit = if rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()) {
        rev.to_owned()
    } else {
        read_optional(&repo.join("refs").join(rev), errors)?
            .trim()
            .to_owned()
    };
    if commit.is_empty() || commit.contains(['/', '\\']) || commit.starts_with('.') {
        return None;
    }
    let path = trees.join(format!("{commit}.json"));
    let Some(memo) = memo else {
        let tree = parse(&path, errors)?;
        return Some(Loaded {
            commit,
            tree,
            keep: None,
        });
    };
    // Stat before reading: a change after the stat shows as a new stamp next time.
    let stamp = rustix::fs::stat(&path).ok().map(|st| Stamp::from_stat(&st));
    let tree = match memo.last.get(path.as_os_str()) {
        Some((s, tree)) if Some(*s) == stamp => tree.clone(),
        _ => parse(&path, errors)?,
    };
    let keep = stamp
        .filter(|s| s.settled(memo.started, memo.racy_window))
        .map(|s| (path.into_os_string(), s));
    Some(Loaded { commit, tree, keep })
}

fn parse(path: &Path, errors: &mut ErrorTally) -> Option<Tree> {
    let text = read_optional(path, errors)?;
    match tree::parse_tree(&text) {
        Ok(entries) => Some(Arc::new(entries)),
        Err(e) => {
            errors.add(Reason::BadTree, path, e);
            None
        }
    }
}

/// A file that may legitimately be missing (a ref not fetched, no tree file for the commit);
/// any other failure to read it is a counted error.
fn read_optional(path: &Path, errors: &mut ErrorTally) -> Option<String> {
    fs::read_to_string(path)
        .map_err(|e| errors.io(path, &e))
        .ok()
}
