//! One repo folder R before and after the walk: which commit's `trees/<commit>.json` asks for
//! progress (resolved before the walk, which then collects the names it needs; the file itself
//! is parsed before or beside the walk), and what the walk's sums become: temp files checked
//! against their finished blob and their lock, and progress.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustix::fs::{AtFlags, FileType};

use super::locks::LockLookup;
use super::memo::Stamp;
use super::shared::{Root, read_regular};
use super::str_list::StrList;
use super::summary::{FileFacts, Part};
use super::{ErrorTally, Reason, RepoStats, TempFile};
use crate::blob_name::TempKind;
use crate::downloads::progress::{self, Progress, Revision};
use crate::downloads::tree;

/// A repo's commit of interest, and the tree file its progress is measured against. The walk
/// needs only the commit (whose snapshot it collects names from), so the tree file itself can
/// be parsed while the walk runs ([`load_tree`]).
pub struct Located {
    pub commit: Option<String>,
    pub tree_file: Option<PathBuf>,
}

/// The entries of `trees/<commit>.json`, arranged for the progress sums.
pub type Tree = Arc<Revision>;

/// Parsed tree files by path, with the stamp they were read under: a tree file of 100k entries
/// is megabytes of JSON, so an incremental scan parses it again only when its stamp changed.
pub type Trees = HashMap<OsString, (Stamp, Tree)>;

/// Tree files the last scan parsed, and when this scan started (only settled stamps are kept).
/// Read-only, so repos can be prepared on several threads; [`Loaded::keep`] says what to keep.
pub struct TreeMemo<'a> {
    pub last: &'a Trees,
    pub started: f64,
    pub racy_window: Duration,
}

/// The commit `revision` (default `main`) names in R (`root`/`folder`), and its tree file, if
/// R has one. Lookups start from the open root (`at`) rather than from the root's path.
pub fn locate(
    root: &Path,
    at: &Root,
    folder: &str,
    revision: Option<&str>,
    errors: &mut ErrorTally,
) -> Located {
    let commit = tree_commit(at, root, folder, revision, errors);
    let tree_file = commit.as_ref().map(|c| {
        let mut f = root.join(folder);
        f.push("trees");
        f.push(format!("{c}.json"));
        f
    });
    Located { commit, tree_file }
}

/// What a repo's walk adds up to.
pub struct RepoScan {
    pub stats: RepoStats,
    pub temps: Vec<TempFile>,
    pub progress: Option<Progress>,
}

/// Turn R's walked part into its report: `at` (the open cache root) and `folder` locate
/// `R/blobs/` and `.locks/<folder>/`.
pub fn finish(
    at: &Root,
    folder: &str,
    tree: Option<Tree>,
    mut part: Part,
    locks: &LockLookup,
    errors: &mut ErrorTally,
) -> RepoScan {
    let stats = part.stats();
    let mut temps = std::mem::take(&mut part.temps);
    // Only a repo with temp files needs their paths (on medium, 105 files in 500 repos).
    if !temps.is_empty() {
        check_temps(at, folder, &mut temps, locks);
    }
    let progress = tree.map(|rev| {
        let mut temp_bytes: HashMap<String, u64> = HashMap::new();
        for t in &temps {
            let b = progress::temp_file_bytes(t.size, t.allocated, t.kind == TempKind::SyncPart);
            let e = temp_bytes.entry(t.etag.clone()).or_default();
            *e = (*e).max(b);
        }
        // Sorted, not hashed: `progress` walks the blob names beside the tree's sorted etags.
        let (blobs, paths) = (sorted(&part.want_blobs), sorted(&part.want_paths));
        let found = progress::Found {
            blobs: &blobs,
            paths: &paths,
        };
        progress::progress(&rev, &found, &temp_bytes)
    });
    errors.merge(part.errors);
    RepoScan {
        stats,
        temps,
        progress,
    }
}

/// Sort R's temp files by name, and find out for each whether its blob is complete beside it
/// and (when its verdict needs it) whether its lock in `.locks/<folder>/` is held.
fn check_temps(at: &Root, folder: &str, temps: &mut [TempFile], locks: &LockLookup) {
    let lstat = |rel: PathBuf| {
        let (base, rel) = at.beneath(&rel);
        rustix::fs::statat(base, &*rel, AtFlags::SYMLINK_NOFOLLOW).ok()
    };
    let (blobs, lock_dir) = (
        Path::new(folder).join("blobs"),
        Path::new(".locks").join(folder),
    );
    temps.sort_by(|a, b| a.name.cmp(&b.name));
    for t in temps {
        t.blob_exists = lstat(blobs.join(&t.etag)).is_some();
        if let Some(locks) = locks.for_temp(t.mtime, t.blob_exists) {
            let lock = lstat(lock_dir.join(format!("{}.lock", t.etag)))
                .map(|st| FileFacts::from_stat(&st));
            t.lock_held = lock.map(|f| locks.contains(f.dev, f.ino));
        }
    }
}

fn sorted(v: &StrList) -> Vec<&str> {
    let mut v: Vec<&str> = v.iter().collect();
    v.sort_unstable();
    v
}

/// A parsed tree file and what the memo may keep of it.
pub struct Loaded {
    pub tree: Tree,
    /// The tree file's path and settled stamp, when the memo may keep `tree` under them.
    pub keep: Option<(OsString, Stamp)>,
}

/// The commit to measure, when R has `trees/` (a client that writes tree files) and its
/// revision resolves to a commit id that is safe to put in a file name.
fn tree_commit(
    root: &Root,
    root_path: &Path,
    folder: &str,
    revision: Option<&str>,
    errors: &mut ErrorTally,
) -> Option<String> {
    let trees = Path::new(folder).join("trees");
    let (base, trees) = root.beneath(&trees);
    let is_dir = rustix::fs::statat(base, &*trees, AtFlags::empty())
        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory);
    if !is_dir {
        return None;
    }
    let rev = revision.unwrap_or("main");
    let commit = if rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()) {
        rev.to_owned()
    } else {
        let rel = Path::new(folder).join("refs").join(rev);
        let (base, rel) = root.beneath(&rel);
        read_ref(base, &rel)
            .map_err(|e| errors.io(&root_path.join(folder).join("refs").join(rev), &e))
            .ok()?
            .trim()
            .to_owned()
    };
    if commit.is_empty() || commit.contains(['/', '\\']) || commit.starts_with('.') {
        return None;
    }
    Some(commit)
}

/// A ref file's text (40 bytes), read as [`read_regular`] reads: never from a FIFO or a device.
fn read_ref(base: BorrowedFd, rel: &Path) -> io::Result<String> {
    let mut buf = Vec::with_capacity(64);
    read_regular(base, rel, &mut buf)?;
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Parse the tree file at `path`, or reuse the memo's while its stamp is unchanged. `at` opens
/// it; `buf` is the caller's, reused from one tree file to the next.
pub fn load_tree(
    at: &Root,
    path: &Path,
    memo: Option<&TreeMemo>,
    buf: &mut Vec<u8>,
    errors: &mut ErrorTally,
) -> Option<Loaded> {
    let Some(memo) = memo else {
        let tree = parse(at, path, buf, errors)?;
        return Some(Loaded { tree, keep: None });
    };
    // Stat before reading: a change after the stat shows as a new stamp next time.
    let stamp = at.stat(path).ok().map(|st| Stamp::from_stat(&st));
    let tree = match memo.last.get(path.as_os_str()) {
        Some((s, tree)) if Some(*s) == stamp => tree.clone(),
        _ => parse(at, path, buf, errors)?,
    };
    let keep = stamp
        .filter(|s| s.settled(memo.started, memo.racy_window))
        .map(|s| (path.as_os_str().to_owned(), s));
    Some(Loaded { tree, keep })
}

/// A tree file that cannot be read is a counted error (its commit's ref said it should be
/// there); one that is not UTF-8 JSON of the known layout is a bad tree file.
fn parse(at: &Root, path: &Path, buf: &mut Vec<u8>, errors: &mut ErrorTally) -> Option<Tree> {
    at.read_file(path, buf)
        .map_err(|e| errors.io(path, &e))
        .ok()?;
    let parsed = match std::str::from_utf8(buf) {
        Ok(text) => tree::parse_tree(text),
        Err(e) => Err(e.into()),
    };
    match parsed {
        Ok(entries) => Some(Arc::new(Revision::new(entries))),
        Err(e) => {
            errors.add(Reason::BadTree, path, e);
            None
        }
    }
}
