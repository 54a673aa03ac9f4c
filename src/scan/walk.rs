//! The walk itself: every repo's `blobs/` and `snapshots/` at once, on a few threads, with the
//! work split inside directories (one dataset's flat `blobs/` can hold 90% of a cache's files).
//!
//! A directory is opened and listed once (`getdents64`, types from `d_type`); its regular
//! files are stat'ed relative to the open descriptor in slices of [`SLICE`] names that any
//! thread may take, so each regular file costs exactly one `fstatat` and a symlink costs none.
//! The lister helps with stat slices once [`MAX_QUEUED_SLICES`] wait, which bounds memory and
//! open descriptors whatever the directory sizes. With a [`memo`](super::memo), a directory
//! whose stamp is unchanged is not listed at all (see that module for the rules).

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, RawDir, Stat};

use super::TempFile;
use super::errors::Reason;
use super::memo::{MemoDir, Stamp};
use super::shared::{RootPaths, shared_target};
use super::summary::{ContentSum, FileFacts, Part};
use crate::blob_name::{self, BlobName};

/// Names per stat slice: big enough to amortise the queue, small enough to share a directory.
const SLICE: usize = 256;
/// Queued slices beyond which a lister stats its own slices.
const MAX_QUEUED_SLICES: usize = 16;

/// One repo folder to walk.
pub struct RepoWalk {
    pub dir: PathBuf,
    /// The commit whose tree file asks for blob names and no-symlink paths; such a repo is
    /// always listed in full (the names are not remembered between scans).
    pub want_commit: Option<String>,
}

pub struct WalkInput<'a> {
    pub roots: RootPaths<'a>,
    pub repos: &'a [RepoWalk],
    /// The previous scan's directories, when this scan may reuse them.
    pub reuse: Option<&'a HashMap<PathBuf, Arc<MemoDir>>>,
    /// Remember directories for the next scan (costs one `stat` per directory).
    pub record: bool,
    /// Unix seconds, for the racy-stamp rule.
    pub started: f64,
    pub racy_window: std::time::Duration,
    pub threads: usize,
}

#[derive(Default)]
pub struct WalkOutput {
    /// Per repo, in input order.
    pub parts: Vec<Part>,
    pub memo: HashMap<PathBuf, Arc<MemoDir>>,
    pub reused_dirs: u64,
}

#[derive(Clone, Copy, PartialEq)]
enum Section {
    Blobs,
    Snapshots,
}

/// A directory's identity while its slices are in flight.
struct DirInfo {
    id: usize,
    repo: usize,
    section: Section,
    /// Depth below `blobs/` or `snapshots/` (0 for those two).
    depth: u32,
    path: PathBuf,
}

struct DirJob {
    repo: usize,
    section: Section,
    depth: u32,
    path: PathBuf,
}

#[derive(Clone, Copy)]
enum Kind {
    File,
    Unknown,
    SharedLink,
}

struct SliceJob {
    info: Arc<DirInfo>,
    dir: Arc<OwnedFd>,
    names: Vec<(CString, Kind)>,
}

/// What one directory listing learned, for the memo.
struct Listed {
    info: Arc<DirInfo>,
    stamp: Option<Stamp>,
    subdirs: Vec<OsString>,
    temps: Vec<OsString>,
    shared_links: Vec<OsString>,
    /// Entries of unknown type: the listing cannot be remembered.
    unknown: bool,
}

#[derive(Default)]
struct Local {
    /// (dir id, repo, part): everything a thread counted.
    parts: Vec<(usize, usize, Part)>,
    listed: Vec<Listed>,
    reused: Vec<(PathBuf, Arc<MemoDir>)>,
}

#[derive(Default)]
struct Queue {
    dirs: Vec<DirJob>,
    slices: Vec<SliceJob>,
    busy: usize,
    next_id: usize,
}

struct Shared<'a> {
    input: &'a WalkInput<'a>,
    q: Mutex<Queue>,
    cv: Condvar,
}

pub fn walk(input: &WalkInput) -> WalkOutput {
    let mut q = Queue::default();
    for (repo, r) in input.repos.iter().enumerate() {
        for (section, name) in [(Section::Snapshots, "snapshots"), (Section::Blobs, "blobs")] {
            q.dirs.push(DirJob {
                repo,
                section,
                depth: 0,
                path: r.dir.join(name),
            });
        }
    }
    let sh = Shared {
        input,
        q: Mutex::new(q),
        cv: Condvar::new(),
    };
    let threads = input.threads.max(1);
    let locals: Vec<Local> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads).map(|_| s.spawn(|| sh.work())).collect();
        let mut all = vec![sh.work()];
        all.extend(handles.into_iter().filter_map(|h| h.join().ok()));
        all
    });
    assemble(input, locals)
}

/// Add up what the threads found: per repo, and per listed directory for the memo.
fn assemble(input: &WalkInput, locals: Vec<Local>) -> WalkOutput {
    let mut out = WalkOutput {
        parts: (0..input.repos.len()).map(|_| Part::default()).collect(),
        ..WalkOutput::default()
    };
    let mut per_dir: HashMap<usize, (ContentSum, bool)> = HashMap::new();
    let mut listed = Vec::new();
    for local in locals {
        for (id, repo, part) in local.parts {
            if input.record {
                let e = per_dir.entry(id).or_default();
                e.0.merge(&part.content);
                e.1 |= part.errors.total() > 0;
            }
            out.parts[repo].merge(part);
        }
        listed.extend(local.listed);
        out.reused_dirs += local.reused.len() as u64;
        out.memo.extend(local.reused);
    }
    for l in listed {
        let (content, dirty) = per_dir.remove(&l.info.id).unwrap_or_default();
        let Some(stamp) = l.stamp else { continue };
        if dirty || l.unknown || !stamp.settled(input.started, input.racy_window) {
            continue;
        }
        let memo = MemoDir {
            stamp,
            subdirs: l.subdirs,
            temps: l.temps,
            shared_links: l.shared_links,
            content,
        };
        out.memo.insert(l.info.path.clone(), Arc::new(memo));
    }
    out
}

impl Shared<'_> {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.q.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn work(&self) -> Local {
        let mut local = Local::default();
        while let Some(job) = self.next() {
            match job {
                Ok(slice) => self.stat_slice(slice, &mut local),
                Err(dir) => self.dir(dir, &mut local),
            }
            let mut q = self.lock();
            q.busy -= 1;
            if q.busy == 0 && q.dirs.is_empty() && q.slices.is_empty() {
                self.cv.notify_all();
            }
        }
        local
    }

    /// The next job (stat slices first: they hold descriptors and memory), or `None` when
    /// nothing is queued and nobody is working, so nothing more can come.
    fn next(&self) -> Option<Result<SliceJob, DirJob>> {
        let mut q = self.lock();
        loop {
            let job = match q.slices.pop() {
                Some(s) => Some(Ok(s)),
                None => q.dirs.pop().map(Err),
            };
            if let Some(job) = job {
                q.busy += 1;
                return Some(job);
            }
            if q.busy == 0 {
                return None;
            }
            q = self.cv.wait(q).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn push_dir(&self, job: DirJob) {
        self.lock().dirs.push(job);
        self.cv.notify_one();
    }

    /// Queue a slice, or stat it here when enough are waiting.
    fn push_slice(&self, job: SliceJob, local: &mut Local) {
        let mut q = self.lock();
        if q.slices.len() >= MAX_QUEUED_SLICES {
            drop(q);
            return self.stat_slice(job, local);
        }
        q.slices.push(job);
        drop(q);
        self.cv.notify_one();
    }

    fn dir(&self, job: DirJob, local: &mut Local) {
        let input = self.input;
        let want = input.repos[job.repo].want_commit.is_some();
        let id = {
            let mut q = self.lock();
            q.next_id += 1;
            q.next_id
        };
        let info = Arc::new(DirInfo {
            id,
            repo: job.repo,
            section: job.section,
            depth: job.depth,
            path: job.path,
        });
        let mut part = Part::default();
        let stamp = if input.record && !want {
            match stat_dir(&info.path, info.depth == 0) {
                Ok(st) => Some(stamp_of(&st)),
                Err(e) => return self.dir_error(&info, e, part, local),
            }
        } else {
            None
        };
        if let (Some(stamp), Some(memo)) = (stamp, input.reuse) {
            if let Some(m) = memo.get(&info.path).filter(|m| m.stamp == stamp) {
                self.reuse(&info, m, &mut part);
                local.reused.push((info.path.clone(), m.clone()));
                local.parts.push((info.id, info.repo, part));
                return;
            }
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        // The two top folders may be symlinks (as `read_dir` would follow); below them a
        // directory came from `d_type`, so a symlink there now is a race, not a descent.
        let flags = if info.depth == 0 {
            flags
        } else {
            flags | OFlags::NOFOLLOW
        };
        let dir = match rustix::fs::open(&info.path, flags, Mode::empty()) {
            Ok(d) => Arc::new(d),
            Err(e) => return self.dir_error(&info, e, part, local),
        };
        let mut listed = Listed {
            info: info.clone(),
            stamp,
            subdirs: Vec::new(),
            temps: Vec::new(),
            shared_links: Vec::new(),
            unknown: false,
        };
        self.list(&info, &dir, &mut listed, &mut part, local);
        local.parts.push((info.id, info.repo, part));
        local.listed.push(listed);
    }
}

impl Shared<'_> {
    /// Read the directory once: descend into subdirectories, queue regular files (and entries
    /// of unknown type) for stat slices, note what the memo must redo on reuse.
    fn list(
        &self,
        info: &Arc<DirInfo>,
        dir: &Arc<OwnedFd>,
        listed: &mut Listed,
        part: &mut Part,
        local: &mut Local,
    ) {
        let want = self.input.repos[info.repo].want_commit.is_some();
        let mut buf = [MaybeUninit::<u8>::uninit(); 16 * 1024];
        let mut entries = RawDir::new(&**dir, &mut buf);
        let mut batch: Vec<(CString, Kind)> = Vec::new();
        while let Some(entry) = entries.next() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    part.errors.io(&info.path, &e.into());
                    break;
                }
            };
            let name = entry.file_name();
            let bytes = name.to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            let utf8 = name.to_str().ok();
            if utf8.is_none() {
                let path = info.path.join(OsStr::from_bytes(bytes));
                part.errors
                    .add(Reason::NonUtf8Name, &path, "file name is not UTF-8");
            }
            let class = utf8.map_or(BlobName::Other, blob_name::classify);
            let ft = entry.file_type();
            if ft == FileType::Directory {
                if info.section == Section::Snapshots && info.depth == 0 {
                    part.revisions += 1;
                }
                listed.subdirs.push(OsStr::from_bytes(bytes).to_owned());
                self.push_dir(DirJob {
                    repo: info.repo,
                    section: info.section,
                    depth: info.depth + 1,
                    path: info.path.join(OsStr::from_bytes(bytes)),
                });
                continue;
            }
            let kind = match (info.section, ft) {
                (Section::Blobs, _) if class == BlobName::Lock => continue,
                (_, FileType::RegularFile) => Kind::File,
                (_, FileType::Unknown) => Kind::Unknown,
                (Section::Blobs, FileType::Symlink) if info.depth == 0 => Kind::SharedLink,
                _ => continue,
            };
            match (kind, class) {
                (Kind::Unknown, _) => listed.unknown = true,
                (Kind::SharedLink, _) => listed.shared_links.push(OsStr::from_bytes(bytes).into()),
                (_, BlobName::Temp { .. }) if info.section == Section::Blobs => {
                    listed.temps.push(OsStr::from_bytes(bytes).into())
                }
                _ => {}
            }
            if want && info.section == Section::Blobs {
                if let BlobName::Blob { etag } = class {
                    part.want_blobs.push(etag.to_owned());
                }
            }
            batch.push((name.to_owned(), kind));
            if batch.len() == SLICE {
                let names = std::mem::take(&mut batch);
                let job = SliceJob {
                    info: info.clone(),
                    dir: dir.clone(),
                    names,
                };
                self.push_slice(job, local);
            }
        }
        if !batch.is_empty() {
            let job = SliceJob {
                info: info.clone(),
                dir: dir.clone(),
                names: batch,
            };
            self.push_slice(job, local);
        }
    }

    /// A directory unchanged since the last scan: its remembered sums, plus what is never
    /// remembered (temp files, shared-store links), plus its subdirectories' own checks.
    fn reuse(&self, info: &Arc<DirInfo>, m: &MemoDir, part: &mut Part) {
        part.content.merge(&m.content);
        if info.section == Section::Snapshots && info.depth == 0 {
            part.revisions += m.subdirs.len() as u64;
        }
        for name in &m.subdirs {
            self.push_dir(DirJob {
                repo: info.repo,
                section: info.section,
                depth: info.depth + 1,
                path: info.path.join(name),
            });
        }
        for name in &m.temps {
            let path = info.path.join(name);
            match rustix::fs::statat(CWD, &path, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {
                    self.file(info, name.as_bytes(), &st, part)
                }
                Ok(_) => {}
                Err(e) => part.errors.io(&path, &e.into()),
            }
        }
        for name in &m.shared_links {
            self.shared_link(info, &info.path.join(name), part);
        }
    }

    fn stat_slice(&self, job: SliceJob, local: &mut Local) {
        let info = &job.info;
        let mut part = Part::default();
        for (name, kind) in &job.names {
            if let Kind::SharedLink = kind {
                let path = info.path.join(OsStr::from_bytes(name.to_bytes()));
                self.shared_link(info, &path, &mut part);
                continue;
            }
            let st = match rustix::fs::statat(&*job.dir, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)
            {
                Ok(st) => st,
                Err(e) => {
                    let path = info.path.join(OsStr::from_bytes(name.to_bytes()));
                    part.errors.io(&path, &e.into());
                    continue;
                }
            };
            match FileType::from_raw_mode(st.st_mode) {
                FileType::RegularFile => self.file(info, name.to_bytes(), &st, &mut part),
                FileType::Directory if matches!(kind, Kind::Unknown) => {
                    if info.section == Section::Snapshots && info.depth == 0 {
                        part.revisions += 1;
                    }
                    self.push_dir(DirJob {
                        repo: info.repo,
                        section: info.section,
                        depth: info.depth + 1,
                        path: info.path.join(OsStr::from_bytes(name.to_bytes())),
                    });
                }
                FileType::Symlink
                    if matches!(kind, Kind::Unknown)
                        && info.section == Section::Blobs
                        && info.depth == 0 =>
                {
                    let path = info.path.join(OsStr::from_bytes(name.to_bytes()));
                    self.shared_link(info, &path, &mut part);
                }
                _ => {}
            }
        }
        local.parts.push((info.id, info.repo, part));
    }

    /// One regular file with its `stat`: a temp file, a blob or a no-symlink snapshot file.
    fn file(&self, info: &DirInfo, name: &[u8], st: &Stat, part: &mut Part) {
        let facts = facts_of(st);
        let utf8 = std::str::from_utf8(name).ok();
        if info.section == Section::Blobs {
            if let Some(BlobName::Temp { etag, kind }) = utf8.map(blob_name::classify) {
                part.temps.push(TempFile {
                    name: utf8.unwrap_or_default().to_owned(),
                    etag: etag.to_owned(),
                    kind,
                    size: facts.size,
                    allocated: facts.allocated,
                    mtime: facts.mtime,
                    lock_held: None,
                    blob_exists: false,
                });
                return;
            }
        } else if let Some(commit) = &self.input.repos[info.repo].want_commit {
            // No-symlink mode keeps finished files here: `snapshots/<commit>/<path>`.
            let snaps = self.input.repos[info.repo].dir.join("snapshots");
            let full = info.path.join(OsStr::from_bytes(name));
            if let Ok(rel) = full.strip_prefix(snaps.join(commit)) {
                if let Some(p) = rel.to_str() {
                    part.want_paths.push(p.to_owned());
                }
            }
        }
        part.content.add(facts);
    }

    fn shared_link(&self, info: &DirInfo, link: &Path, part: &mut Part) {
        let repo = &self.input.repos[info.repo].dir;
        if let Some(f) = shared_target(link, &info.path, repo, &self.input.roots, &mut part.errors)
        {
            part.shared.push(f);
        }
    }

    /// The directory could not be stat'ed or opened. A missing `blobs/` or `snapshots/` is a
    /// normal state (refs-only repo folders), and a vanished directory is a race.
    fn dir_error(&self, info: &DirInfo, e: rustix::io::Errno, mut part: Part, local: &mut Local) {
        part.errors.io(&info.path, &e.into());
        local.parts.push((info.id, info.repo, part));
    }
}

fn stat_dir(path: &Path, follow: bool) -> rustix::io::Result<Stat> {
    let flags = if follow {
        AtFlags::empty()
    } else {
        AtFlags::SYMLINK_NOFOLLOW
    };
    rustix::fs::statat(CWD, path, flags)
}

// `Stat` field types differ between architectures; the casts are no-ops only on some.
#[allow(clippy::unnecessary_cast)]
fn stamp_of(st: &Stat) -> Stamp {
    Stamp {
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        mtime: (st.st_mtime as i64, st.st_mtime_nsec as u32),
        ctime: (st.st_ctime as i64, st.st_ctime_nsec as u32),
    }
}

#[allow(clippy::unnecessary_cast)]
fn facts_of(st: &Stat) -> FileFacts {
    FileFacts {
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        nlink: st.st_nlink as u64,
        size: st.st_size.max(0) as u64,
        allocated: (st.st_blocks as u64).saturating_mul(512),
        mtime: st.st_mtime as f64 + st.st_mtime_nsec as f64 / 1e9,
    }
}
