//! Symlinks directly in `R/blobs/` that point into the cache-wide shared blob store
//! (`<root>/blobs/<xx>/<hash>`). Their targets are counted for the repo; a target outside the
//! cache root is never followed, so a link to `/dev/zero` or a home directory costs nothing and
//! counts nothing.

use std::ffi::{CStr, OsString};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use super::errors::{ErrorTally, Reason};
use super::memo::Stamp;
use super::summary::FileFacts;

/// Where links may point: the cache root as configured and with symlinks resolved.
pub struct RootPaths<'a> {
    pub root: &'a Path,
    pub root_real: Option<&'a Path>,
}

/// The root as link resolution uses it: normalised once, and open, so a path inside it is
/// looked up from the root's descriptor (`blobs/ab/<hash>`) rather than from `/` every time.
pub struct Root {
    norm: PathBuf,
    real: Option<PathBuf>,
    fd: Option<OwnedFd>,
}

impl Root {
    pub fn open(paths: &RootPaths) -> Self {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        Self {
            norm: normalize(paths.root),
            real: paths.root_real.map(Path::to_path_buf),
            fd: rustix::fs::open(paths.root, flags, Mode::empty()).ok(),
        }
    }

    fn contains(&self, p: &Path) -> bool {
        p.starts_with(&self.norm) || self.real.as_ref().is_some_and(|r| p.starts_with(r))
    }

    /// `p` (normalised) as a descriptor and a path relative to it.
    fn at<'p>(&self, p: &'p Path) -> (BorrowedFd<'_>, &'p Path) {
        use std::os::fd::AsFd;
        match (&self.fd, p.strip_prefix(&self.norm)) {
            (Some(fd), Ok(rel)) if !rel.as_os_str().is_empty() => (fd.as_fd(), rel),
            _ => (CWD, p),
        }
    }

    /// `lstat` of a normalised path.
    pub fn lstat(&self, p: &Path) -> rustix::io::Result<Stat> {
        let (base, rel) = self.at(p);
        rustix::fs::statat(base, rel, AtFlags::SYMLINK_NOFOLLOW)
    }

    fn readlink(&self, p: &Path) -> rustix::io::Result<PathBuf> {
        let (base, rel) = self.at(p);
        rustix::fs::readlinkat(base, rel, Vec::new()).map(path_of)
    }
}

fn path_of(c: std::ffi::CString) -> PathBuf {
    OsString::from_vec(c.into_bytes()).into()
}

/// A shared-store file a link led to.
pub struct Reached {
    pub facts: FileFacts,
    /// When it was one hop away and `stamp_dir` knew its directory: that directory and its
    /// stamp, taken before the file's `stat` (what an incremental scan needs to trust it later).
    pub store_dir: Option<(PathBuf, Stamp)>,
}

/// Links followed before giving up with [`Reason::Loop`] (the kernel allows 40; the store needs 1).
const MAX_HOPS: usize = 8;

/// Resolve `link` (in `blobs` of `repo`) one hop at a time, each hop checked to stay inside the
/// root, so a store entry that is itself a link to somewhere else is not followed out. The
/// target's facts when it is a regular file in the root but outside the repo (inside the repo it
/// is counted where it lives). `first` is the link's open directory and name, when the walk
/// has them (the first `readlink` then needs no path lookup).
pub fn shared_target(
    link: &Path,
    first: Option<(BorrowedFd, &CStr)>,
    (blobs, repo): (&Path, &Path),
    root: &Root,
    stamp_dir: &mut dyn FnMut(&Path) -> Option<Stamp>,
    errors: &mut ErrorTally,
) -> Option<Reached> {
    let mut hop = link.to_path_buf();
    let mut dir = blobs.to_path_buf();
    for i in 0..MAX_HOPS {
        let target = match (i, first) {
            (0, Some((fd, name))) => rustix::fs::readlinkat(fd, name, Vec::new()).map(path_of),
            _ => root.readlink(&hop),
        };
        let target = match target {
            Ok(t) => t,
            Err(e) => {
                errors.io(link, &e.into());
                return None;
            }
        };
        let resolved = normalize(&dir.join(&target));
        if !root.contains(&resolved) {
            return None;
        }
        let store_dir = match (i, resolved.parent()) {
            (0, Some(p)) => stamp_dir(p).map(|s| (p.to_path_buf(), s)),
            _ => None,
        };
        // Stat even inside R, to report loops and broken links (rare, so this costs nothing).
        match root.lstat(&resolved) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                dir = resolved.parent().map(Path::to_path_buf).unwrap_or_default();
                hop = resolved;
            }
            Ok(st)
                if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
                    && !resolved.starts_with(normalize(repo)) =>
            {
                let facts = FileFacts::from_stat(&st);
                return Some(Reached { facts, store_dir });
            }
            Ok(_) => return None,
            Err(Errno::NOENT) => {
                let what = format!("target {} is missing", target.display());
                errors.add(Reason::BrokenSymlink, link, what);
                return None;
            }
            Err(e) => {
                errors.io(link, &e.into());
                return None;
            }
        }
    }
    errors.add(Reason::Loop, link, "too many levels of symbolic links");
    None
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
