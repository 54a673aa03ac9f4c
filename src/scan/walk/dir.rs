//! What the walk does with one directory: reuse it from the memo, or list it (descending into
//! subdirectories, queueing stat slices), and what it does with one regular file or shared link.

use std::ffi::{CStr, OsStr};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, Stat};

use super::{
    DirInfo, DirJob, Kind, Listed, Local, OpenDir, SLICE, Section, Shared, SliceJob, StoreStamps,
    listing,
};
use crate::blob_name::{self, BlobName};
use crate::scan::TempFile;
use crate::scan::errors::Reason;
use crate::scan::memo::{LinkMemo, MemoDir, Stamp, StoreFile};
use crate::scan::shared::{Link, Root, shared_target};
use crate::scan::str_list::StrList;
use crate::scan::summary::{FileFacts, Part};

impl Shared<'_> {
    pub(super) fn dir(&self, job: DirJob, local: &mut Local) {
        let input = self.input;
        let want = input.commits.get(job.repo).is_some();
        let mut info = DirInfo {
            id: self.new_id(),
            repo: job.repo,
            section: job.section,
            depth: job.depth,
            path: job.path,
            // A top folder reused from the memo is not opened: its subdirectories read to 0.
            short_ends: job.short_ends.unwrap_or(false),
        };
        let mut part = Part::default();
        let stamp = if input.record {
            let (base, rel) = at(&job.parent, &self.root, &info.path);
            match stat_dir(base, rel, info.depth == 0) {
                Ok(st) => Some(Stamp::from_stat(&st)),
                Err(e) => return self.dir_error(&info, e, part, local),
            }
        } else {
            None
        };
        if let (Some(stamp), Some(memo)) = (stamp, input.reuse) {
            let same = |m: &&Arc<MemoDir>| m.stamp == stamp && m.wanted == want;
            if let Some(m) = memo.get(info.path.as_os_str()).filter(same) {
                let m = self.reuse(&info, m, &mut part, local);
                self.keep(local, &info, part);
                local.found.reused.push((info.path.into_os_string(), m));
                return;
            }
        }
        let (base, rel) = at(&job.parent, &self.root, &info.path);
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        // The two top folders may be symlinks (as `read_dir` would follow); below them a
        // directory came from `d_type`, so a symlink there now is a race, not a descent.
        let flags = if info.depth == 0 {
            flags
        } else {
            flags | OFlags::NOFOLLOW
        };
        let fd = match rustix::fs::openat(base, rel, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(e) => return self.dir_error(&info, e, part, local),
        };
        if job.short_ends.is_none() {
            info.short_ends = listing::dir_fills_to_end(fd.as_fd());
        }
        let dir = Arc::new(OpenDir { info, fd });
        let mut listed = Listed {
            id: dir.info.id,
            // Filled in only for a listing the memo keeps.
            path: PathBuf::new(),
            stamp,
            subdirs: Vec::new(),
            temps: Vec::new(),
            unknown: false,
            wanted: want,
            etags: StrList::default(),
            snap_files: Vec::new(),
        };
        self.list(&dir, &mut listed, &mut part, local);
        self.keep(local, &dir.info, part);
        if listed.stamp.is_some() {
            listed.path = dir.info.path.clone();
            local.found.listed.push(listed);
        }
    }

    /// Read the directory once: descend into subdirectories, queue regular files (and entries
    /// of unknown type) for stat slices, note what the memo must redo on reuse.
    fn list(&self, dir: &Arc<OpenDir>, listed: &mut Listed, part: &mut Part, local: &mut Local) {
        let info = &dir.info;
        let want = self.input.commits.get(info.repo).is_some();
        // Names are kept only for a listing the memo will hold.
        let remember = listed.stamp.is_some();
        let mut buf = [MaybeUninit::<u8>::uninit(); 16 * 1024];
        let mut entries = listing::Entries::new(&dir.fd, &mut buf, info.short_ends);
        let mut batch = local.names();
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
            local.entries += 1;
            // Most names are ASCII (hashes, config files), which is checked a word at a time;
            // the full UTF-8 validation runs only for other names and where a `str` is needed.
            let valid = bytes.is_ascii() || std::str::from_utf8(bytes).is_ok();
            let utf8 = || valid.then(|| std::str::from_utf8(bytes).ok()).flatten();
            if !valid {
                let path = info.path.join(OsStr::from_bytes(bytes));
                part.errors
                    .add(Reason::NonUtf8Name, &path, "file name is not UTF-8");
            }
            // Only names in blobs/ mean something (temp files, locks, etags); a plain blob's
            // etag is needed only for tree progress.
            let class = match info.section {
                Section::Blobs if want || blob_name::has_suffix(bytes) => {
                    utf8().map_or(BlobName::Other, blob_name::classify)
                }
                Section::Blobs | Section::Snapshots => BlobName::Other,
            };
            let ft = entry.file_type();
            if ft == FileType::Directory {
                if info.holds_revisions() {
                    part.revisions += 1;
                }
                if remember {
                    listed.subdirs.push(OsStr::from_bytes(bytes).to_owned());
                }
                self.push_subdir(info, OsStr::from_bytes(bytes), Some(dir), local);
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
                _ if !remember => {}
                (Kind::Unknown, _) => listed.unknown = true,
                (Kind::SharedLink, _) => {}
                (_, BlobName::Temp { .. }) if info.section == Section::Blobs => {
                    listed.temps.push(OsStr::from_bytes(bytes).into())
                }
                _ => {}
            }
            if want && info.section == Section::Blobs {
                if let BlobName::Blob { etag } = class {
                    part.want_blobs.push(etag);
                    if remember {
                        listed.etags.push(etag);
                    }
                }
            }
            if want && remember && info.section == Section::Snapshots {
                if let (Kind::File, Some(n)) = (kind, utf8()) {
                    listed.snap_files.extend(self.snap_rel(info, n));
                }
            }
            batch.push(name, kind);
            if batch.len() == SLICE {
                let names = std::mem::replace(&mut batch, local.names());
                let job = SliceJob {
                    dir: dir.clone(),
                    names,
                };
                self.push_slice(job, local);
            }
        }
        if batch.is_empty() {
            local.recycle(batch);
        } else {
            let job = SliceJob {
                dir: dir.clone(),
                names: batch,
            };
            self.push_slice(job, local);
        }
    }

    /// A directory unchanged since the last scan: its remembered sums, plus what is never
    /// remembered (temp files), plus its store links' targets (reused while their store
    /// directory is unchanged), plus its subdirectories' own checks. Returns what the memo keeps
    /// of it now: `m` itself unless a store link resolved differently.
    fn reuse(
        &self,
        info: &DirInfo,
        m: &Arc<MemoDir>,
        part: &mut Part,
        local: &mut Local,
    ) -> Arc<MemoDir> {
        part.content.merge(&m.content);
        part.want_blobs.extend_from(&m.etags);
        if let Some(commit) = self.input.commits.get(info.repo) {
            let paths = m.snap_files.iter().filter_map(|f| in_commit(f, commit));
            part.want_paths.extend(paths);
        }
        if info.holds_revisions() {
            part.revisions += m.subdirs.len() as u64;
        }
        for name in &m.subdirs {
            self.push_subdir(info, name, None, local);
        }
        for name in &m.temps {
            let path = info.path.join(name);
            match rustix::fs::statat(CWD, &path, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {
                    self.file(info, name.as_bytes(), &st, part, local)
                }
                Ok(_) => {}
                Err(e) => part.errors.io(&path, &e.into()),
            }
        }
        let mut relinked: Option<Vec<LinkMemo>> = None;
        for (i, l) in m.shared_links.iter().enumerate() {
            let unchanged = |t: &&StoreFile| {
                self.store_stamp(&t.dir, &mut local.store_stamps) == Some(t.dir_stamp)
            };
            let fresh = match l.target.as_ref().filter(unchanged) {
                Some(t) => {
                    part.shared.push(t.facts);
                    None
                }
                None => self
                    .shared_link(info, None, &l.name, part, local)
                    .filter(|fresh| fresh != l),
            };
            match (fresh, &mut relinked) {
                (Some(f), _) => relinked
                    .get_or_insert_with(|| m.shared_links[..i].to_vec())
                    .push(f),
                (None, Some(v)) => v.push(l.clone()),
                (None, None) => {}
            }
        }
        match relinked {
            Some(links) => Arc::new(MemoDir {
                shared_links: links,
                ..(**m).clone()
            }),
            None => m.clone(),
        }
    }

    pub(super) fn stat_slice(&self, job: SliceJob, local: &mut Local) {
        let info = &job.dir.info;
        let mut part = Part::default();
        for (name, kind) in job.names.iter() {
            if let Kind::SharedLink = kind {
                self.listed_link(&job, name, &mut part, local);
                continue;
            }
            let st = match rustix::fs::statat(&job.dir.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(e) => {
                    let path = info.path.join(OsStr::from_bytes(name.to_bytes()));
                    part.errors.io(&path, &e.into());
                    continue;
                }
            };
            match FileType::from_raw_mode(st.st_mode) {
                FileType::RegularFile => self.file(info, name.to_bytes(), &st, &mut part, local),
                FileType::Directory if matches!(kind, Kind::Unknown) => {
                    if info.holds_revisions() {
                        part.revisions += 1;
                    }
                    let name = OsStr::from_bytes(name.to_bytes());
                    self.push_subdir(info, name, Some(&job.dir), local);
                }
                FileType::Symlink
                    if matches!(kind, Kind::Unknown)
                        && info.section == Section::Blobs
                        && info.depth == 0 =>
                {
                    self.listed_link(&job, name, &mut part, local)
                }
                _ => {}
            }
        }
        self.keep(local, info, part);
        local.recycle(job.names);
    }

    /// One regular file with its `stat`: a temp file, a blob or a no-symlink snapshot file.
    fn file(&self, info: &DirInfo, name: &[u8], st: &Stat, part: &mut Part, local: &mut Local) {
        let facts = FileFacts::from_stat(st);
        if info.section == Section::Blobs {
            if let Some((utf8, BlobName::Temp { etag, kind })) = blob_name::has_suffix(name)
                .then(|| std::str::from_utf8(name).ok())
                .flatten()
                .map(|n| (n, blob_name::classify(n)))
            {
                part.temps.push(TempFile {
                    name: utf8.to_owned(),
                    etag: etag.to_owned(),
                    kind,
                    size: facts.size,
                    allocated: facts.allocated,
                    mtime: facts.mtime,
                    lock_held: None,
                    blob_exists: false,
                });
                self.temp_seen(local, facts.mtime);
                return;
            }
        } else if let Some(commit) = self.input.commits.get(info.repo) {
            // No-symlink mode keeps finished files here: `snapshots/<commit>/<path>`.
            let rel = std::str::from_utf8(name)
                .ok()
                .and_then(|n| self.snap_rel(info, n));
            if let Some(p) = rel.as_deref().and_then(|r| in_commit(r, commit)) {
                part.want_paths.push(p);
            }
        }
        part.content.add(facts);
    }

    /// `info.path/name` relative to the repo's `snapshots/`, e.g. `<commit>/sub/file.bin`.
    fn snap_rel(&self, info: &DirInfo, name: &str) -> Option<String> {
        // Bytes, not `Path::strip_prefix`: this runs per file, and the walk built `info.path`
        // as `<repo dir>/snapshots/...` itself, so no component parsing is needed.
        let repo = self.input.repos[info.repo].dir.as_os_str().as_bytes();
        let rest = info.path.as_os_str().as_bytes().strip_prefix(repo)?;
        let dir = rest.strip_prefix(b"/snapshots")?;
        let dir = std::str::from_utf8(dir).ok()?;
        Some(match dir.strip_prefix('/') {
            None if dir.is_empty() => name.to_owned(),
            Some(dir) if !dir.is_empty() => format!("{dir}/{name}"),
            _ => return None,
        })
    }

    /// Resolve `info.path/name`, a symlink in `R/blobs/`, and count its store target. What the
    /// memo keeps of it when this scan records: its target only if one hop away in a settled
    /// store directory.
    fn shared_link(
        &self,
        info: &DirInfo,
        at: Option<(BorrowedFd, &CStr)>,
        name: &OsStr,
        part: &mut Part,
        local: &mut Local,
    ) -> Option<LinkMemo> {
        let input = self.input;
        let paths = self.repo_paths(info.repo);
        let link = Link {
            dir: &info.path,
            name,
            open: at,
        };
        let stamps = &mut local.store_stamps;
        let mut stamp_dir = |dir: &Path| {
            if input.record {
                self.store_stamp(dir, stamps)
            } else {
                None
            }
        };
        let reached = shared_target(
            &link,
            paths,
            &self.root,
            &mut stamp_dir,
            &mut part.errors,
            &mut local.link_bufs,
        );
        let (facts, store_dir) = match reached {
            Some(r) => (Some(r.facts), r.store_dir),
            None => (None, None),
        };
        part.shared.extend(facts);
        if !input.record {
            return None;
        }
        let settled = |s: &Stamp| s.settled(input.started, input.racy_window);
        let target = match (facts, store_dir) {
            (Some(facts), Some((dir, dir_stamp))) if settled(&dir_stamp) => Some(StoreFile {
                dir,
                dir_stamp,
                facts,
            }),
            _ => None,
        };
        Some(LinkMemo {
            name: name.to_owned(),
            target,
        })
    }

    /// A shared link found by listing `job`'s directory: resolved from the open directory, and
    /// kept for the memo when recording.
    fn listed_link(&self, job: &SliceJob, name: &CStr, part: &mut Part, local: &mut Local) {
        let os = OsStr::from_bytes(name.to_bytes());
        let at = Some((job.dir.fd.as_fd(), name));
        if let Some(l) = self.shared_link(&job.dir.info, at, os, part, local) {
            part.links.push(l);
        }
    }

    /// A shared-store directory's stamp, taken once per scan on each thread.
    fn store_stamp(&self, dir: &Path, stamps: &mut StoreStamps) -> Option<Stamp> {
        if let Some(s) = stamps.get(dir.as_os_str()) {
            return *s;
        }
        let s = self.root.lstat(dir).ok().map(|st| Stamp::from_stat(&st));
        stamps.insert(dir.as_os_str().to_owned(), s);
        s
    }

    /// The directory could not be stat'ed or opened. A missing `blobs/` or `snapshots/` is a
    /// normal state (refs-only repo folders), and a vanished directory is a race.
    fn dir_error(&self, info: &DirInfo, e: rustix::io::Errno, mut part: Part, local: &mut Local) {
        part.errors.io(&info.path, &e.into());
        self.keep(local, info, part);
    }
}

/// Where a job's directory is: its name in the open parent, or, for a repo's `blobs/` and
/// `snapshots/`, its path from the open cache root (not from `/`: that was the root's own
/// components looked up again for each of them, 6 of every 8 lookups with a root like
/// `/home/<user>/.cache/huggingface/hub`). The walk made `path` by appending the name, so the
/// name is what follows the last `/` (no component parsing).
fn at<'a>(
    parent: &'a Option<Arc<OpenDir>>,
    root: &'a Root,
    path: &'a Path,
) -> (BorrowedFd<'a>, &'a Path) {
    let bytes = path.as_os_str().as_bytes();
    let name = bytes.rsplit(|&b| b == b'/').next().unwrap_or_default();
    match parent {
        Some(parent) if !name.is_empty() && name != b"." && name != b".." => {
            (parent.fd.as_fd(), Path::new(OsStr::from_bytes(name)))
        }
        _ => root.at(path),
    }
}

fn stat_dir(base: BorrowedFd, path: &Path, follow: bool) -> rustix::io::Result<Stat> {
    let flags = if follow {
        AtFlags::empty()
    } else {
        AtFlags::SYMLINK_NOFOLLOW
    };
    rustix::fs::statat(base, path, flags)
}

/// The path inside the revision for a `snapshots/`-relative path under `commit`.
fn in_commit<'a>(rel: &'a str, commit: &str) -> Option<&'a str> {
    rel.strip_prefix(commit)?.strip_prefix('/')
}
