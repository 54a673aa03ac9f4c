//! The whole-root view for `/download_progress` without a model: every regular file under the
//! root (symlinks skipped, so nothing is counted twice), and its temp download files.
//!
//! Frontends poll this view every few seconds and it has no memo, so it is the server's
//! costliest request. Each directory is opened relative to its parent and its files are
//! stat'ed relative to it (no path is built per entry, only per directory and per temp file),
//! and the root's children are shared out over the scan threads.

use std::ffi::{OsStr, OsString};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, RawDir, Stat};

use super::ErrorTally;
use super::chunks;
use super::summary::FileFacts;
use crate::blob_name::{self, BlobName};
use crate::downloads::tracker::{self, TempObservation, Thresholds};
use crate::progress_api::RootTotals;

/// `threads` is asked only when the root has enough children to share out.
pub fn root_totals(
    root: &Path,
    th: Thresholds,
    now: f64,
    threads: &dyn Fn() -> usize,
) -> RootTotals {
    let mut t = RootTotals {
        path: root.display().to_string(),
        exists: root.is_dir(),
        ..RootTotals::default()
    };
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let Some(fd) = t
        .exists
        .then(|| rustix::fs::openat(CWD, root, dir_flags, Mode::empty()).ok())
        .flatten()
    else {
        return t;
    };
    let mut sum = Sum::default();
    let mut children = Vec::new();
    list(fd.as_fd(), root, &mut sum, |name| children.push(name));
    // Walk errors are not reported by this view (a file that vanished is simply not there).
    let parts = chunks::map(children, threads, &mut ErrorTally::default(), |name, _| {
        let mut part = Sum::default();
        subtree(fd.as_fd(), root, &name, &mut part);
        part
    });
    for p in parts {
        sum.add(p);
    }
    t.bytes = sum.bytes;
    t.incomplete_files = sum.incomplete_files;
    t.incomplete_bytes = sum.incomplete_bytes;
    let state = tracker::classify_oneshot(now, th, &sum.temps);
    t.downloading = state.active;
    t.abandoned_files = state.abandoned_files;
    t
}

#[derive(Default)]
struct Sum {
    bytes: u64,
    incomplete_files: u64,
    incomplete_bytes: u64,
    temps: Vec<TempObservation>,
}

impl Sum {
    fn add(&mut self, o: Sum) {
        self.bytes += o.bytes;
        self.incomplete_files += o.incomplete_files;
        self.incomplete_bytes += o.incomplete_bytes;
        self.temps.extend(o.temps);
    }
}

struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

/// Depth first with an explicit stack, so a deep tree cannot overflow the thread's stack;
/// a directory stays open while children of it wait, so open descriptors grow with depth only.
fn subtree(parent: BorrowedFd, parent_path: &Path, name: &OsStr, sum: &mut Sum) {
    let mut stack: Vec<(Option<Rc<Dir>>, OsString)> = vec![(None, name.to_owned())];
    while let Some((up, name)) = stack.pop() {
        let (base, base_path) = match &up {
            Some(d) => (d.fd.as_fd(), d.path.as_path()),
            None => (parent, parent_path),
        };
        // NOFOLLOW: listed as a directory, but it may have been swapped for a symlink since.
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let Ok(fd) = rustix::fs::openat(base, name.as_os_str(), flags, Mode::empty()) else {
            continue;
        };
        let dir = Rc::new(Dir {
            fd,
            path: base_path.join(&name),
        });
        list(dir.fd.as_fd(), &dir.path, sum, |sub| {
            stack.push((Some(dir.clone()), sub))
        });
    }
}

/// Counts the regular files of one directory and hands each subdirectory to `subdir`.
fn list(fd: BorrowedFd, path: &Path, sum: &mut Sum, mut subdir: impl FnMut(OsString)) {
    let in_blobs = path.file_name().is_some_and(|n| n == "blobs");
    let mut buf = [MaybeUninit::<u8>::uninit(); 16 * 1024];
    let mut entries = RawDir::new(fd, &mut buf);
    while let Some(Ok(entry)) = entries.next() {
        let name = entry.file_name();
        if matches!(name.to_bytes(), b"." | b"..") {
            continue;
        }
        let st = match entry.file_type() {
            FileType::Directory => {
                subdir(OsStr::from_bytes(name.to_bytes()).to_owned());
                continue;
            }
            FileType::RegularFile => {
                match rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => st,
                    Err(_) => continue,
                }
            }
            // Filesystems that leave d_type empty: the stat tells what it is.
            FileType::Unknown => match rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                    subdir(OsStr::from_bytes(name.to_bytes()).to_owned());
                    continue;
                }
                Ok(st) => st,
                Err(_) => continue,
            },
            _ => continue,
        };
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            continue;
        }
        file(fd, path, in_blobs, name.to_bytes(), &st, sum);
    }
}

fn file(fd: BorrowedFd, dir: &Path, in_blobs: bool, name: &[u8], st: &Stat, sum: &mut Sum) {
    let f = FileFacts::from_stat(st);
    sum.bytes += f.size;
    let utf8 = std::str::from_utf8(name).unwrap_or_default();
    let (true, BlobName::Temp { etag, .. }) = (in_blobs, blob_name::classify(utf8)) else {
        return;
    };
    sum.incomplete_files += 1;
    sum.incomplete_bytes += f.size;
    let blob_exists = rustix::fs::statat(fd, etag, AtFlags::SYMLINK_NOFOLLOW).is_ok();
    sum.temps.push(TempObservation {
        key: dir.join(OsStr::from_bytes(name)).display().to_string(),
        etag: etag.to_owned(),
        size: f.size,
        allocated: f.allocated,
        mtime: f.mtime,
        lock_held: None,
        blob_exists,
    });
}

#[cfg(test)]
#[path = "totals_tests.rs"]
mod tests;
