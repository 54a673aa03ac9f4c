//! Walk one repo folder R: regular files under `R/blobs/` and `R/snapshots/` (found by d_type,
//! one lstat each), shared-store targets of symlinks directly in `R/blobs/`, temp files, and
//! the revision's `trees/<commit>.json` for progress. Snapshot symlinks are never stat'ed.

use std::collections::{HashMap, HashSet};
use std::fs::{self, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use walkdir::WalkDir;

use super::{ErrorTally, Reason, RepoStats, TempFile};
use crate::blob_name::{self, BlobName, TempKind};
use crate::downloads::proc_locks::LockedInodes;
use crate::downloads::progress::{self, Progress};
use crate::downloads::tree;

/// Where the repo sits: the cache root (shared-store targets must stay inside it) and R.
pub struct RepoCtx<'a> {
    pub root: &'a Path,
    /// The root with symlinks resolved, for absolute link targets.
    pub root_real: Option<&'a Path>,
    pub folder: &'a str,
    pub revision: Option<&'a str>,
    pub locks: Option<&'a LockedInodes>,
}

pub struct RepoScan {
    pub stats: RepoStats,
    pub temps: Vec<TempFile>,
    pub progress: Option<Progress>,
    pub errors: ErrorTally,
}

/// Scan R = `ctx.root/ctx.folder`, which the caller found to exist.
pub fn scan_repo(ctx: &RepoCtx) -> RepoScan {
    let repo = ctx.root.join(ctx.folder);
    let mut w = Walker::default();
    let tree = load_tree(&repo, ctx.revision, &mut w.errors);
    if let Some((commit, _)) = &tree {
        w.want = Some(Want {
            commit: commit.clone(),
            ..Want::default()
        });
    }
    w.walk_blobs(&repo, ctx);
    w.walk_snapshots(&repo);
    let blobs = repo.join("blobs");
    for t in &mut w.temps {
        t.blob_exists = fs::symlink_metadata(blobs.join(&t.etag)).is_ok();
        if let Some(locks) = ctx.locks {
            let lock = ctx
                .root
                .join(".locks")
                .join(ctx.folder)
                .join(format!("{}.lock", t.etag));
            t.lock_held = fs::symlink_metadata(lock)
                .ok()
                .map(|m| locks.contains(m.dev(), m.ino()));
        }
    }
    let progress = tree.map(|(_, entries)| {
        let want = w.want.take().unwrap_or_default();
        let mut temp_bytes: HashMap<String, u64> = HashMap::new();
        for t in &w.temps {
            let b = progress::temp_file_bytes(t.size, t.allocated, t.kind == TempKind::SyncPart);
            let e = temp_bytes.entry(t.etag.clone()).or_default();
            *e = (*e).max(b);
        }
        let complete =
            |e: &tree::TreeEntry| want.blobs.contains(&e.etag) || want.paths.contains(&e.path);
        progress::progress(&entries, &complete, &temp_bytes)
    });
    RepoScan {
        stats: w.stats,
        temps: w.temps,
        progress,
        errors: w.errors,
    }
}

/// Names collected only when a tree file asks for them (memory stays flat otherwise).
#[derive(Default)]
struct Want {
    commit: String,
    blobs: HashSet<String>,
    paths: HashSet<String>,
}

#[derive(Default)]
struct Walker {
    stats: RepoStats,
    temps: Vec<TempFile>,
    errors: ErrorTally,
    /// (dev, ino) of files that may be seen twice: hard links and shared-store targets.
    seen: HashSet<(u64, u64)>,
    want: Option<Want>,
}

impl Walker {
    /// Visit every entry below `dir` (not following links), reporting walk errors and
    /// non-UTF-8 names once here so each walk only says what it counts.
    fn each(&mut self, dir: &Path, mut visit: impl FnMut(&mut Self, &walkdir::DirEntry)) {
        for entry in WalkDir::new(dir).min_depth(1).follow_links(false) {
            match entry {
                Ok(entry) => {
                    if entry.file_name().to_str().is_none() {
                        self.errors.add(
                            Reason::NonUtf8Name,
                            entry.path(),
                            "file name is not UTF-8",
                        );
                    }
                    visit(self, &entry);
                }
                Err(e) => self.walk_error(dir, e),
            }
        }
    }

    fn walk_blobs(&mut self, repo: &Path, ctx: &RepoCtx) {
        let blobs = repo.join("blobs");
        self.each(&blobs, |w, entry| {
            let ft = entry.file_type();
            let name = entry.file_name().to_str();
            let class = name.map_or(BlobName::Other, blob_name::classify);
            let shared_link = ft.is_symlink() && entry.depth() == 1;
            if class == BlobName::Lock || !(shared_link || ft.is_file()) {
                return;
            }
            if let (Some(want), BlobName::Blob { etag }) = (&mut w.want, class) {
                want.blobs.insert(etag.to_owned());
            }
            if shared_link {
                return w.shared_target(entry.path(), &blobs, repo, ctx);
            }
            let Some(meta) = w.lstat(entry.path()) else {
                return;
            };
            match class {
                BlobName::Temp { etag, kind } => {
                    w.temp(name.unwrap_or_default(), etag, kind, &meta)
                }
                _ => w.content(&meta, false),
            }
        });
    }

    fn walk_snapshots(&mut self, repo: &Path) {
        let snaps = repo.join("snapshots");
        self.each(&snaps, |w, entry| {
            let ft = entry.file_type();
            if entry.depth() == 1 && ft.is_dir() {
                w.stats.revisions += 1;
            }
            if !ft.is_file() {
                return;
            }
            let Some(meta) = w.lstat(entry.path()) else {
                return;
            };
            w.content(&meta, false);
            if let Some(want) = &mut w.want {
                // No-symlink mode keeps finished files here: `snapshots/<commit>/<path>`.
                let rel = entry.path().strip_prefix(&snaps).ok();
                let mut comps = rel.into_iter().flat_map(Path::components);
                if comps.next().and_then(|c| c.as_os_str().to_str()) == Some(want.commit.as_str()) {
                    let path: PathBuf = comps.collect();
                    if let Some(p) = path.to_str() {
                        want.paths.insert(p.to_owned());
                    }
                }
            }
        });
    }

    /// A symlink directly in `R/blobs/`: count its target when it is a regular file in the
    /// cache root's shared store (outside R). Targets outside the root are never followed, so a
    /// link to `/dev/zero` or someone's home directory costs nothing and counts nothing.
    fn shared_target(&mut self, link: &Path, blobs: &Path, repo: &Path, ctx: &RepoCtx) {
        let target = match fs::read_link(link) {
            Ok(t) => t,
            Err(e) => return self.errors.io(link, &e),
        };
        let resolved = normalize(&blobs.join(&target));
        let in_root = resolved.starts_with(normalize(ctx.root))
            || ctx.root_real.is_some_and(|r| resolved.starts_with(r));
        if !in_root {
            return;
        }
        // Inside R the target is counted where it lives; stat anyway to report loops and
        // broken links (such links are rare, so this costs nothing in normal caches).
        let inside_repo = resolved.starts_with(normalize(repo));
        match fs::metadata(link) {
            Ok(meta) if meta.is_file() && !inside_repo => self.content(&meta, true),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.errors.add(
                    Reason::BrokenSymlink,
                    link,
                    format!("target {} is missing", target.display()),
                );
            }
            Err(e) => self.errors.io(link, &e),
        }
    }

    fn lstat(&mut self, path: &Path) -> Option<Metadata> {
        match fs::symlink_metadata(path) {
            Ok(m) => Some(m),
            Err(e) => {
                self.errors.io(path, &e);
                None
            }
        }
    }

    /// Add a content file unless its inode was counted already.
    fn content(&mut self, meta: &Metadata, always_dedupe: bool) {
        if (always_dedupe || meta.nlink() > 1) && !self.seen.insert((meta.dev(), meta.ino())) {
            return;
        }
        self.stats.files += 1;
        self.add_bytes(meta);
    }

    fn temp(&mut self, name: &str, etag: &str, kind: TempKind, meta: &Metadata) {
        self.stats.incomplete_files += 1;
        self.stats.incomplete_bytes += meta.len();
        self.add_bytes(meta);
        self.temps.push(TempFile {
            name: name.to_owned(),
            etag: etag.to_owned(),
            kind,
            size: meta.len(),
            allocated: meta.blocks() * 512,
            mtime: mtime(meta),
            lock_held: None,
            blob_exists: false,
        });
    }

    fn add_bytes(&mut self, meta: &Metadata) {
        self.stats.bytes += meta.len();
        self.stats.allocated_bytes += meta.blocks() * 512;
        let m = mtime(meta);
        self.stats.last_modified = Some(self.stats.last_modified.map_or(m, |x| x.max(m)));
    }

    fn walk_error(&mut self, top: &Path, e: walkdir::Error) {
        let path = e.path().unwrap_or(top).to_path_buf();
        if e.loop_ancestor().is_some() {
            return self.errors.add(Reason::Loop, &path, &e);
        }
        match e.io_error() {
            // A missing `blobs/` or `snapshots/` is a normal state (refs-only repo folders).
            Some(io) if io.kind() == std::io::ErrorKind::NotFound => {}
            Some(io) => self.errors.io(&path, io),
            None => self.errors.add(Reason::Io, &path, &e),
        }
    }
}

/// The commit to measure and its tree listing, if the repo has one.
fn load_tree(
    repo: &Path,
    revision: Option<&str>,
    errors: &mut ErrorTally,
) -> Option<(String, Vec<tree::TreeEntry>)> {
    let trees = repo.join("trees");
    if !trees.is_dir() {
        return None;
    }
    let rev = revision.unwrap_or("main");
    let commit = if rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()) {
        rev.to_owned()
    } else {
        fs::read_to_string(repo.join("refs").join(rev))
            .ok()?
            .trim()
            .to_owned()
    };
    if commit.is_empty() || commit.contains(['/', '\\']) || commit.starts_with('.') {
        return None;
    }
    let path = trees.join(format!("{commit}.json"));
    let text = fs::read_to_string(&path).ok()?;
    match tree::parse_tree(&text) {
        Ok(entries) => Some((commit, entries)),
        Err(e) => {
            errors.add(Reason::BadTree, &path, e);
            None
        }
    }
}

/// mtime with nanoseconds, as unix seconds.
pub(super) fn mtime(meta: &Metadata) -> f64 {
    meta.mtime() as f64 + meta.mtime_nsec() as f64 / 1e9
}

/// Lexical `..`/`.` resolution: link targets are relative to their folder, and we must decide
/// "inside the root?" without following anything.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize;
    use std::path::Path;

    #[test]
    fn normalize_resolves_dots_lexically() {
        assert_eq!(
            normalize(Path::new("/c/models--a/blobs/../../blobs/ab/x")),
            Path::new("/c/blobs/ab/x")
        );
        assert_eq!(normalize(Path::new("/c/./a/../../../..")), Path::new("/"));
    }
}
