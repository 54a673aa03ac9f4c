//! Symlinks directly in `R/blobs/` that point into the cache-wide shared blob store
//! (`<root>/blobs/<xx>/<hash>`). Their targets are counted for the repo; a target outside the
//! cache root is never followed, so a link to `/dev/zero` or a home directory costs nothing and
//! counts nothing.
//!
//! Each store payload is usually linked from several repos; its `lstat` is remembered for the
//! rest of the walk (up to [`SEEN_TARGETS`] of them), so a payload costs one `lstat` however
//! many repos link to it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::{CStr, OsStr, OsString};
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
    /// Regular files reached through links in this walk, by normalised path: their facts.
    seen: Mutex<HashMap<Box<[u8]>, FileFacts>>,
}

/// What [`read_regular`] gives a buffer that has no room; it doubles each time it fills. Small
/// enough that a typical tree file (a few kilobytes) stays below malloc's `mmap` size.
const READ_CHUNK: usize = 16 * 1024;

/// Store payloads whose `lstat` a walk remembers. A bound keeps memory independent of the
/// cache's size (at most a few hundred kilobytes); past it the memory starts again, which
/// costs only `lstat`s. The medium benchmark cache has 1,032 payloads for 2,064 links.
pub const SEEN_TARGETS: usize = 2048;

impl Root {
    pub fn open(paths: &RootPaths) -> Self {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        Self {
            norm: normalize(paths.root),
            real: paths.root_real.map(Path::to_path_buf),
            fd: rustix::fs::open(paths.root, flags, Mode::empty()).ok(),
            seen: Mutex::default(),
        }
    }

    /// What an earlier link in this walk found at `p` (normalised), a regular file.
    fn seen(&self, p: &Path) -> Option<FileFacts> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(p.as_os_str().as_bytes()).copied()
    }

    fn remember(&self, p: &Path, facts: FileFacts) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= SEEN_TARGETS {
            seen.clear();
        }
        seen.insert(p.as_os_str().as_bytes().into(), facts);
    }

    /// For a normalised `p` (as are `norm` and the canonical `real`).
    fn contains(&self, p: &Path) -> bool {
        within(p, &self.norm).is_some()
            || self.real.as_ref().is_some_and(|r| within(p, r).is_some())
    }

    /// `p` (normalised) as a descriptor and a path relative to it.
    pub(crate) fn at<'p>(&self, p: &'p Path) -> (BorrowedFd<'_>, &'p Path) {
        use std::os::fd::AsFd;
        match (&self.fd, within(p, &self.norm)) {
            (Some(fd), Some(rel)) if !rel.as_os_str().is_empty() => (fd.as_fd(), rel),
            _ => (CWD, p),
        }
    }

    /// `rel`, a path inside the root (`<folder>/refs/main`), as a descriptor and a path from it:
    /// the open root, or the root's path when it could not be opened (lookups then fail as
    /// they would have).
    pub fn beneath<'p>(&self, rel: &'p Path) -> (BorrowedFd<'_>, Cow<'p, Path>) {
        use std::os::fd::AsFd;
        match &self.fd {
            Some(fd) => (fd.as_fd(), Cow::Borrowed(rel)),
            None => (CWD, Cow::Owned(self.norm.join(rel))),
        }
    }

    /// The whole of the regular file at `p` (normalised) into `buf` ([`read_regular`]), looked up
    /// from the root's descriptor.
    pub fn read_file(&self, p: &Path, buf: &mut Vec<u8>) -> io::Result<()> {
        let (base, rel) = self.at(p);
        read_regular(base, rel, buf)
    }

    /// `lstat` of a normalised path.
    pub fn lstat(&self, p: &Path) -> rustix::io::Result<Stat> {
        let (base, rel) = self.at(p);
        rustix::fs::statat(base, rel, AtFlags::SYMLINK_NOFOLLOW)
    }

    /// `stat` of a normalised path, following links as [`Root::read_file`] does.
    pub fn stat(&self, p: &Path) -> rustix::io::Result<Stat> {
        let (base, rel) = self.at(p);
        rustix::fs::statat(base, rel, AtFlags::empty())
    }

    fn readlink(&self, p: &Path, buf: &mut Vec<u8>) -> rustix::io::Result<()> {
        let (base, rel) = self.at(p);
        readlink_into(base, rel, buf)
    }
}

/// A link's text into `buf` (cleared first), grown until it fits. `rustix::fs::readlinkat`
/// returns a fresh `CString`, two allocations per store link (a reserve, then the shrink to a
/// boxed string); this reuses the caller's buffer.
fn readlink_into<P: rustix::path::Arg + Copy>(
    base: BorrowedFd,
    rel: P,
    buf: &mut Vec<u8>,
) -> rustix::io::Result<()> {
    buf.clear();
    buf.reserve(256);
    loop {
        rustix::fs::readlinkat_raw(base, rel, rustix::buffer::spare_capacity(buf))?;
        // A text that fills the buffer may have been cut short.
        if buf.len() < buf.capacity() {
            return Ok(());
        }
        let more = buf.capacity() * 2;
        buf.clear();
        buf.reserve(more);
    }
}

/// `rel` (from `base`) opened for reading, if it is a regular file. A FIFO or a device named like
/// a ref or tree file is refused before it is opened (opening a FIFO waits for a writer, or wakes
/// one; opening a device can act on it, and `/dev/zero` never ends), and checked again on the
/// open descriptor in case it was swapped in between; `O_NONBLOCK` keeps that open from waiting.
fn open_regular(base: BorrowedFd, rel: &Path) -> io::Result<OwnedFd> {
    let regular = |st: &Stat| FileType::from_raw_mode(st.st_mode) == FileType::RegularFile;
    let refuse = || io::Error::other("not a regular file");
    if !regular(&rustix::fs::statat(base, rel, AtFlags::empty())?) {
        return Err(refuse());
    }
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let fd = rustix::fs::openat(base, rel, flags, Mode::empty())?;
    if !regular(&rustix::fs::fstat(&fd)?) {
        return Err(refuse());
    }
    Ok(fd)
}

/// The whole of the regular file `rel` (from `base`; see [`open_regular`]) into `buf`, replacing
/// what it held. No size `statx` (std's `read_to_end` asks for one), and `buf` is the caller's:
/// reused across a cache's tree files, it maps no fresh pages for each; sized for a 40-byte
/// ref, it is the only allocation.
pub fn read_regular(base: BorrowedFd, rel: &Path, buf: &mut Vec<u8>) -> io::Result<()> {
    let fd = open_regular(base, rel)?;
    buf.clear();
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity().max(READ_CHUNK));
        }
        match rustix::io::read(&fd, rustix::buffer::spare_capacity(buf)) {
            Ok(0) => return Ok(()),
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// A repo folder's paths as link resolution compares them, normalised once per walk and repo
/// instead of once per link: re-parsing a long cache path twice per link was most of a link's
/// user-space work (callgrind).
pub struct RepoPaths {
    /// `R/blobs`, the folder shared-store links sit in.
    blobs: PathBuf,
    repo: PathBuf,
}

impl RepoPaths {
    pub fn new(repo_dir: &Path) -> Self {
        let repo = normalize(repo_dir);
        let blobs = join_normalized(&repo, Path::new("blobs"));
        Self { blobs, repo }
    }
}

/// A walker thread's scratch space for [`shared_target`]: the link text and the resolved path
/// of every store link it follows, so a link costs its two system calls and no allocation.
#[derive(Default)]
pub struct LinkBufs {
    target: Vec<u8>,
    resolved: Vec<u8>,
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

/// A symlink in `R/blobs/`: the folder's path and the link's name, and the open folder with the
/// name as a C string when the walk has them (the first `readlink` then needs no path lookup).
/// The joined path is built only for an error or a lookup by path, not for every link.
pub struct Link<'a> {
    pub dir: &'a Path,
    pub name: &'a OsStr,
    pub open: Option<(BorrowedFd<'a>, &'a CStr)>,
}

impl Link<'_> {
    fn path(&self) -> PathBuf {
        self.dir.join(self.name)
    }
}

/// Resolve `link` (in `R/blobs`, of `paths`) one hop at a time, each hop checked to stay inside the
/// root, so a store entry that is itself a link to somewhere else is not followed out. The
/// target's facts when it is a regular file in the root but outside the repo (inside the repo it
/// is counted where it lives). `bufs` is the calling thread's.
pub fn shared_target(
    link: &Link,
    paths: &RepoPaths,
    root: &Root,
    stamp_dir: &mut dyn FnMut(&Path) -> Option<Stamp>,
    errors: &mut ErrorTally,
    bufs: &mut LinkBufs,
) -> Option<Reached> {
    // Set only once a link leads to another link; almost every link is one hop.
    let mut hop: Option<PathBuf> = None;
    let mut dir = Cow::Borrowed(paths.blobs.as_path());
    for i in 0..MAX_HOPS {
        let read = match (&hop, link.open) {
            (None, Some((fd, name))) => readlink_into(fd, name, &mut bufs.target),
            (Some(hop), _) => root.readlink(hop, &mut bufs.target),
            (None, None) => root.readlink(&link.path(), &mut bufs.target),
        };
        if let Err(e) = read {
            errors.io(&link.path(), &e.into());
            return None;
        }
        let target = Path::new(OsStr::from_bytes(&bufs.target));
        join_normalized_into(&mut bufs.resolved, &dir, &bufs.target);
        let resolved = Path::new(OsStr::from_bytes(&bufs.resolved));
        if !root.contains(resolved) {
            return None;
        }
        let store_dir = match (i, resolved.parent()) {
            (0, Some(p)) => stamp_dir(p).map(|s| (p.to_path_buf(), s)),
            _ => None,
        };
        let outside_repo = || within(resolved, &paths.repo).is_none();
        if let Some(facts) = root.seen(resolved) {
            return outside_repo().then_some(Reached { facts, store_dir });
        }
        // Stat even inside R, to report loops and broken links (rare, so this costs nothing).
        match root.lstat(resolved) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                dir = Cow::Owned(resolved.parent().map(Path::to_path_buf).unwrap_or_default());
                hop = Some(resolved.to_path_buf());
            }
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {
                let facts = FileFacts::from_stat(&st);
                root.remember(resolved, facts);
                return outside_repo().then_some(Reached { facts, store_dir });
            }
            Ok(_) => return None,
            Err(Errno::NOENT) => {
                let what = format!("target {} is missing", target.display());
                errors.add(Reason::BrokenSymlink, &link.path(), what);
                return None;
            }
            Err(e) => {
                errors.io(&link.path(), &e.into());
                return None;
            }
        }
    }
    errors.add(
        Reason::Loop,
        &link.path(),
        "too many levels of symbolic links",
    );
    None
}

/// Lexical `..`/`.` resolution: link targets are relative to their folder, and we must decide
/// "inside the root?" without following anything. Gives what pushing `p`'s `Path::components`
/// onto an empty `PathBuf` would (popping for `..`, skipping `.`), on bytes: this runs for every
/// shared-store link, where component parsing was a third of the scan's own CPU time.
fn normalize(p: &Path) -> PathBuf {
    normalize_join(Path::new(""), p)
}

/// `normalize(&base.join(p))` without building the joined path.
fn normalize_join(base: &Path, p: &Path) -> PathBuf {
    let (base, p) = (base.as_os_str().as_bytes(), p.as_os_str().as_bytes());
    let mut out = Vec::with_capacity(base.len() + p.len());
    push_normalized(&mut out, base);
    push_normalized(&mut out, p);
    PathBuf::from(OsString::from_vec(out))
}

/// `normalize_join(base, p)` for a `base` that is already normalised: only `p` is parsed. (After
/// `base`'s segments, `normalize_join` holds exactly `normalize(base)`, so the two agree.)
fn join_normalized(base: &Path, p: &Path) -> PathBuf {
    let mut out = Vec::new();
    join_normalized_into(&mut out, base, p.as_os_str().as_bytes());
    PathBuf::from(OsString::from_vec(out))
}

/// [`join_normalized`] into `out` (cleared first), so a caller can reuse one buffer.
fn join_normalized_into(out: &mut Vec<u8>, base: &Path, p: &[u8]) {
    let base = base.as_os_str().as_bytes();
    out.clear();
    out.reserve(base.len() + 1 + p.len());
    out.extend_from_slice(base);
    push_normalized(out, p);
}

/// Append `part`'s segments to the normalised path in `out`, resolving `.` and `..` lexically.
fn push_normalized(out: &mut Vec<u8>, part: &[u8]) {
    if part.first() == Some(&b'/') {
        out.clear();
        out.push(b'/');
    }
    for seg in part.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => match out.iter().rposition(|&b| b == b'/') {
                None => out.clear(),
                Some(0) => out.truncate(1),
                Some(i) => out.truncate(i),
            },
            name => {
                if !out.is_empty() && out.last() != Some(&b'/') {
                    out.push(b'/');
                }
                out.extend_from_slice(name);
            }
        }
    }
}

/// `p` relative to `base` when `p` is `base` or below it (`Path::strip_prefix`), for normalised
/// paths, on bytes.
fn within<'p>(p: &'p Path, base: &Path) -> Option<&'p Path> {
    let (pb, bb) = (p.as_os_str().as_bytes(), base.as_os_str().as_bytes());
    let rest = match bb {
        b"" => pb,
        b"/" => pb.strip_prefix(b"/")?,
        _ => match pb.strip_prefix(bb)? {
            [] => &[],
            [b'/', rest @ ..] => rest,
            _ => return None,
        },
    };
    Some(Path::new(OsStr::from_bytes(rest)))
}

#[cfg(test)]
mod tests {
    use super::{
        Root, RootPaths, SEEN_TARGETS, join_normalized, normalize, normalize_join, readlink_into,
        within,
    };
    use crate::scan::summary::FileFacts;
    use proptest::prelude::*;
    use std::path::{Component, Path, PathBuf};

    /// Link texts longer than the first reservation come back whole, into the same buffer.
    #[test]
    fn a_link_text_is_read_whole_whatever_its_length() {
        let tmp = tempfile::tempdir().unwrap();
        let mut buf = Vec::new();
        for len in [1, 255, 256, 257, 600, 2000] {
            let target = "a/".repeat(len / 2) + &"b".repeat(len % 2);
            let link = tmp.path().join(format!("l{len}"));
            std::os::unix::fs::symlink(&target, &link).unwrap();
            readlink_into(rustix::fs::CWD, link.as_path(), &mut buf).unwrap();
            assert_eq!(buf, target.as_bytes(), "target of {len} bytes");
        }
    }

    /// The memory of reached payloads stays within its bound however many links a walk meets,
    /// and still answers for the latest.
    #[test]
    fn seen_targets_stay_bounded() {
        let root = Root::open(&RootPaths {
            root: Path::new("/nonexistent-hf-cache-root"),
            root_real: None,
        });
        let facts = |size| FileFacts {
            dev: 1,
            ino: size,
            nlink: 1,
            size,
            allocated: size,
            mtime: 0.0,
        };
        for i in 0..3 * SEEN_TARGETS as u64 {
            let p = PathBuf::from(format!("/c/blobs/ab/{i}"));
            root.remember(&p, facts(i));
            assert_eq!(root.seen(&p), Some(facts(i)));
            assert!(root.seen.lock().unwrap().len() <= SEEN_TARGETS);
        }
        assert_eq!(root.seen(Path::new("/c/blobs/ab/x")), None);
    }

    /// The definition: `Path::components`, popping for `..`.
    fn by_components(p: &Path) -> PathBuf {
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

    #[test]
    fn normalize_resolves_dots_lexically() {
        assert_eq!(
            normalize(Path::new("/c/models--a/blobs/../../blobs/ab/x")),
            Path::new("/c/blobs/ab/x")
        );
        assert_eq!(normalize(Path::new("/c/./a/../../../..")), Path::new("/"));
        assert_eq!(normalize(Path::new("../a//b/")), Path::new("a/b"));
    }

    #[test]
    fn within_is_strip_prefix_by_components() {
        let w = |p: &str, b: &str| within(Path::new(p), Path::new(b)).map(Path::to_path_buf);
        assert_eq!(w("/c/blobs/ab", "/c"), Some("blobs/ab".into()));
        assert_eq!(w("/c", "/c"), Some("".into()));
        assert_eq!(w("/cc/x", "/c"), None);
        assert_eq!(w("/x", "/"), Some("x".into()));
        assert_eq!(w("hub/x", ""), Some("hub/x".into()));
        assert_eq!(w("hub/x", "/"), None);
    }

    fn paths() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec!["/", ".", "..", "a", "bc", "//", "./", "../"]),
            0..12,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        /// The byte-level versions agree with `Path::components`, `join` and `strip_prefix`
        /// on paths made of separators, dots and names in any order.
        #[test]
        fn byte_level_matches_components(base in paths(), p in paths()) {
            let (base, p) = (Path::new(&base), Path::new(&p));
            prop_assert_eq!(normalize(p), by_components(p));
            prop_assert_eq!(normalize_join(base, p), by_components(&base.join(p)));
            prop_assert_eq!(join_normalized(&normalize(base), p), normalize_join(base, p));
            let (nb, np) = (by_components(base), by_components(&base.join(p)));
            prop_assert_eq!(within(&np, &nb), np.strip_prefix(&nb).ok());
        }
    }
}
