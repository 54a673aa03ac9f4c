//! The walk itself: every repo's `blobs/` and `snapshots/` at once, on a few threads, with the
//! work split inside directories (one dataset's flat `blobs/` can hold 90% of a cache's files).
//!
//! A directory is opened and listed once (`getdents64`, types from `d_type`); its regular
//! files are stat'ed relative to the open descriptor in slices of [`SLICE`] names that any
//! thread may take, so each regular file costs exactly one `fstatat` and a symlink costs none.
//! The lister helps with stat slices once [`MAX_QUEUED_SLICES`] wait, which bounds memory and
//! open descriptors whatever the directory sizes. With a [`memo`](super::memo), a directory
//! whose stamp is unchanged is not listed at all (see that module for the rules).
//!
//! The calling thread starts alone and starts the others only once the walk has proved big
//! ([`SOLO_ENTRIES`], [`SOLO_TIME`]): a cache of a few dozen files is walked before a helper
//! thread would even have started.

mod dir;
mod listing;

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CStr, OsStr, OsString};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use super::commits::Commits;
use super::memo::{Dirs, LinkMemo, MemoDir, Stamp};
use super::shared::{LinkBufs, RepoPaths, Root, RootPaths};
use super::str_list::StrList;
use super::summary::{ContentSum, Part};

/// Names per stat slice: big enough to amortise the queue, small enough to share a directory.
const SLICE: usize = 256;
/// A thread's own queued slices beyond which a lister stats its slices itself.
const MAX_QUEUED_SLICES: usize = 16;
/// Entries the calling thread lists alone before it starts the helpers. Starting one costs
/// about what listing and stat'ing a few dozen entries does (clone, stack, malloc arena, and
/// reading the cgroup CPU quota to size the pool), so small caches stay on one thread.
const SOLO_ENTRIES: usize = 1024;
/// ... or time it walks alone: on a slow network filesystem a few entries can take this long.
const SOLO_TIME: std::time::Duration = std::time::Duration::from_millis(2);

/// One repo folder to walk.
pub struct RepoWalk {
    pub dir: PathBuf,
}

pub struct WalkInput<'a> {
    pub roots: RootPaths<'a>,
    pub repos: &'a [RepoWalk],
    /// Per repo, the commit whose tree file asks for blob names and no-symlink paths (the memo
    /// then also keeps those names, so a reused directory still answers for progress).
    pub commits: &'a Commits,
    /// The previous scan's directories, when this scan may reuse them.
    pub reuse: Option<&'a Dirs>,
    /// Remember directories for the next scan (costs one `stat` per directory).
    pub record: bool,
    /// Unix seconds, for the racy-stamp rule.
    pub started: f64,
    pub racy_window: std::time::Duration,
    /// How many threads the walk may use, asked only once it needs more than one.
    pub threads: &'a (dyn Fn() -> usize + Sync),
    /// Whether a temp file with this mtime may need its lock looked up.
    pub lock_may_matter: &'a (dyn Fn(f64) -> bool + Sync),
    /// Called (on any walker thread, maybe often) when the walk meets such a temp file, once
    /// it runs on several threads: a walk that stays alone is over sooner than a thread reading
    /// `/proc/locks` beside it would start, so its caller reads that afterwards instead.
    pub temp_seen: &'a (dyn Fn() + Sync),
    /// Start the helpers at once instead of once the walk proves big.
    pub pool_now: bool,
}

#[derive(Default)]
pub struct WalkOutput {
    /// Per repo, in input order.
    pub parts: Vec<Part>,
    pub memo: Dirs,
    pub reused_dirs: u64,
    /// Whether any repo had temp files.
    pub found_temps: bool,
    /// Threads that walked (1 when the walk stayed on the calling thread).
    pub threads_used: usize,
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
    /// Its filesystem ends listings with a short read ([`listing`]).
    short_ends: bool,
}

impl DirInfo {
    /// `snapshots/` itself, whose subdirectories are the revisions.
    fn holds_revisions(&self) -> bool {
        self.section == Section::Snapshots && self.depth == 0
    }
}

/// A directory being listed, shared by its stat slices and the jobs of its subdirectories:
/// one allocation per directory (its identity and its descriptor were two, a tenth of a medium
/// scan's allocations). The descriptor closes when the last of them is done.
struct OpenDir {
    info: DirInfo,
    fd: OwnedFd,
}

struct DirJob {
    repo: usize,
    section: Section,
    depth: u32,
    path: PathBuf,
    /// The open parent, when its listing queued this job: the directory is then stat'ed and
    /// opened by name relative to it, one path component instead of the whole path.
    parent: Option<Arc<OpenDir>>,
    /// [`DirInfo::short_ends`] of the parent; `None` for a top folder, whose filesystem is
    /// asked once it is open.
    short_ends: Option<bool>,
}

#[derive(Clone, Copy)]
enum Kind {
    File,
    Unknown,
    SharedLink,
}

struct SliceJob {
    dir: Arc<OpenDir>,
    names: Names,
}

/// The names of one slice, NUL-terminated back to back: one allocation per slice, not per name.
#[derive(Default)]
struct Names {
    buf: Vec<u8>,
    kinds: Vec<Kind>,
}

impl Names {
    fn push(&mut self, name: &CStr, kind: Kind) {
        self.buf.extend_from_slice(name.to_bytes_with_nul());
        self.kinds.push(kind);
    }

    fn len(&self) -> usize {
        self.kinds.len()
    }

    fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.kinds.clear();
    }

    fn iter(&self) -> impl Iterator<Item = (&CStr, Kind)> {
        // One word-at-a-time search for each name's NUL; splitting the buffer with a per-byte
        // closure was a seventh of a large cache's user-space instructions.
        let mut rest = &self.buf[..];
        self.kinds.iter().map_while(move |&kind| {
            let name = CStr::from_bytes_until_nul(rest).ok()?;
            rest = &rest[name.to_bytes_with_nul().len()..];
            Some((name, kind))
        })
    }
}

/// What one directory listing learned, for the memo.
struct Listed {
    /// [`DirInfo::id`] and [`DirInfo::path`]: not the directory itself, whose descriptor must
    /// close once it is listed.
    id: usize,
    path: PathBuf,
    stamp: Option<Stamp>,
    subdirs: Vec<OsString>,
    temps: Vec<OsString>,
    /// Entries of unknown type: the listing cannot be remembered.
    unknown: bool,
    wanted: bool,
    etags: StrList,
    snap_files: Vec<String>,
}

/// What one thread counted.
#[derive(Default)]
struct Found {
    /// (dir id, repo, part): everything a thread counted, when recording for the memo.
    parts: Vec<(usize, usize, Part)>,
    /// Otherwise: per repo, indexed by repo (grown on demand; a slice's part lands here, so
    /// this is on the per-file path and a hash map's hashing showed in profiles).
    by_repo: Vec<Option<Part>>,
    listed: Vec<Listed>,
    reused: Vec<(OsString, Arc<MemoDir>)>,
}

/// Shared-store directories' stamps, taken once per scan on each thread (`None`: no stamp).
type StoreStamps = HashMap<OsString, Option<Stamp>>;

/// One thread's state during the walk.
#[derive(Default)]
struct Local<'g> {
    found: Found,
    /// On the calling thread until the helpers run: what starts them, and since when this
    /// thread walks alone.
    grow: Option<(&'g dyn Fn(), std::time::Instant)>,
    /// Entries this thread listed (what [`SOLO_ENTRIES`] counts).
    entries: usize,
    /// A temp file met while alone: tell `temp_seen` if the walk grows.
    temp_pending: bool,
    /// Shared-store directories' stamps, each taken once per scan (per thread).
    store_stamps: StoreStamps,
    link_bufs: LinkBufs,
    /// Name buffers of finished slices, for the next listings: a slice's buffer grows to a
    /// few kilobytes, and allocating it afresh per directory showed in profiles.
    spare_names: Vec<Names>,
    /// This thread's own work: no lock while nobody else is idle.
    dirs: Vec<DirJob>,
    slices: Vec<SliceJob>,
}

#[derive(Default)]
struct Queue {
    dirs: Vec<DirJob>,
    slices: Vec<SliceJob>,
    /// Threads waiting for work.
    waiting: usize,
    /// Threads walking: the walk is over when all of them wait.
    running: usize,
    done: bool,
}

struct Shared<'a> {
    input: &'a WalkInput<'a>,
    root: Root,
    q: Mutex<Queue>,
    cv: Condvar,
    /// `Queue::waiting`, readable without the lock: new work is shared only when someone waits.
    idle: AtomicUsize,
    next_id: AtomicUsize,
    /// Per repo, its paths normalised for link resolution, made when a shared link is first met.
    repo_paths: Vec<OnceLock<RepoPaths>>,
}

pub fn walk(input: &WalkInput) -> WalkOutput {
    let mut q = Queue {
        dirs: first_jobs(input.repos),
        ..Queue::default()
    };
    q.running = 1;
    let sh = Shared {
        input,
        root: Root::open(&input.roots),
        q: Mutex::new(q),
        cv: Condvar::new(),
        idle: AtomicUsize::new(0),
        next_id: AtomicUsize::new(0),
        repo_paths: input.repos.iter().map(|_| OnceLock::new()).collect(),
    };
    let found: Vec<Found> = std::thread::scope(|s| {
        let helpers = RefCell::new(Vec::new());
        // Called at most once, by the calling thread: the pool's size is fixed before any
        // helper exists, so "every thread waits" still means the walk is over.
        let grow = || {
            let n = (input.threads)().max(1);
            sh.lock().running = n;
            let mut h = helpers.borrow_mut();
            h.extend((1..n).map(|_| s.spawn(|| sh.work(None))));
        };
        let mut all = vec![sh.work(Some(&grow))];
        let handles = helpers.into_inner();
        all.extend(handles.into_iter().filter_map(|h| h.join().ok()));
        all
    });
    let threads_used = found.len();
    let mut out = assemble(input, found);
    out.threads_used = threads_used;
    out
}

/// Each repo's two top folders, as the queue (a stack) starts: popped in repo order. The resolver
/// beside the walk publishes commits in that order, and a walker needs a repo's commit to list
/// it; starting at the last repo made the walk wait for every ref to be resolved (2-4 ms with
/// one CPU idle on the medium benchmark cache).
fn first_jobs(repos: &[RepoWalk]) -> Vec<DirJob> {
    let mut jobs = Vec::with_capacity(2 * repos.len());
    for (repo, r) in repos.iter().enumerate().rev() {
        for (section, name) in [(Section::Snapshots, "snapshots"), (Section::Blobs, "blobs")] {
            jobs.push(DirJob {
                repo,
                section,
                depth: 0,
                path: child(&r.dir, OsStr::new(name)),
                parent: None,
                short_ends: None,
            });
        }
    }
    jobs
}

/// Add up what the threads found: per repo, and per listed directory for the memo.
fn assemble(input: &WalkInput, found: Vec<Found>) -> WalkOutput {
    let mut out = WalkOutput {
        parts: (0..input.repos.len()).map(|_| Part::default()).collect(),
        memo: Dirs::with_capacity(input.reuse.map_or(0, |m| m.len())),
        ..WalkOutput::default()
    };
    let mut per_dir: HashMap<usize, (ContentSum, bool, Vec<LinkMemo>)> = HashMap::new();
    let mut listed = Vec::new();
    for local in found {
        for (id, repo, mut part) in local.parts {
            if input.record {
                let e = per_dir.entry(id).or_default();
                e.0.merge(&part.content);
                e.1 |= part.errors.total() > 0;
                e.2.extend(std::mem::take(&mut part.links));
            }
            out.parts[repo].merge(part);
        }
        for (repo, part) in local.by_repo.into_iter().enumerate() {
            if let Some(part) = part {
                out.parts[repo].merge(part);
            }
        }
        listed.extend(local.listed);
        out.reused_dirs += local.reused.len() as u64;
        out.memo.extend(local.reused);
    }
    out.found_temps = out.parts.iter().any(|p| !p.temps.is_empty());
    for l in listed {
        let (content, dirty, links) = per_dir.remove(&l.id).unwrap_or_default();
        let Some(stamp) = l.stamp else { continue };
        if dirty || l.unknown || !stamp.settled(input.started, input.racy_window) {
            continue;
        }
        let memo = MemoDir {
            stamp,
            subdirs: l.subdirs,
            temps: l.temps,
            shared_links: links,
            content,
            wanted: l.wanted,
            etags: l.etags,
            snap_files: l.snap_files,
        };
        out.memo.insert(l.path.into_os_string(), Arc::new(memo));
    }
    out
}

impl Shared<'_> {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.q.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Walk until every thread waits; `grow` (on the calling thread) starts the helpers.
    fn work(&self, grow: Option<&dyn Fn()>) -> Found {
        let mut local = Local {
            grow: grow.map(|g| (g, std::time::Instant::now())),
            ..Local::default()
        };
        loop {
            self.maybe_grow(&mut local);
            // Own work first (slices before directories: they hold descriptors and memory).
            let job = match local.slices.pop() {
                Some(s) => Ok(s),
                None => match local.dirs.pop() {
                    Some(d) => Err(d),
                    None => match self.next() {
                        Some(job) => job,
                        None => break,
                    },
                },
            };
            match job {
                Ok(slice) => self.stat_slice(slice, &mut local),
                Err(dir) => self.dir(dir, &mut local),
            }
            if self.idle.load(Ordering::Relaxed) > 0 {
                self.share(&mut local);
            }
        }
        local.found
    }

    /// A job from the common queue, or `None` once every thread waits for one (then nobody
    /// holds work that could still produce more).
    fn next(&self) -> Option<Result<SliceJob, DirJob>> {
        let mut q = self.lock();
        loop {
            if let Some(s) = q.slices.pop() {
                return Some(Ok(s));
            }
            if let Some(d) = q.dirs.pop() {
                return Some(Err(d));
            }
            if q.done {
                return None;
            }
            q.waiting += 1;
            if q.waiting == q.running {
                q.done = true;
                self.cv.notify_all();
                return None;
            }
            self.idle.store(q.waiting, Ordering::Relaxed);
            q = self.cv.wait(q).unwrap_or_else(|p| p.into_inner());
            q.waiting -= 1;
            self.idle.store(q.waiting, Ordering::Relaxed);
        }
    }

    /// Hand half of this thread's queued work to the common queue for threads that wait.
    fn share(&self, local: &mut Local) {
        if local.slices.len() + local.dirs.len() < 2 {
            return;
        }
        let mut q = self.lock();
        let slices = local.slices.len() / 2;
        q.slices.extend(local.slices.drain(..slices));
        // The oldest directories: nearest the top, so the biggest subtrees.
        let dirs = local.dirs.len().div_ceil(2);
        q.dirs.extend(local.dirs.drain(..dirs));
        drop(q);
        self.cv.notify_all();
    }

    /// Queue `info.path/name`, a subdirectory of a directory being walked (`parent` is that
    /// directory's descriptor when it is open).
    fn push_subdir(
        &self,
        info: &DirInfo,
        name: &OsStr,
        parent: Option<&Arc<OpenDir>>,
        local: &mut Local,
    ) {
        local.dirs.push(DirJob {
            repo: info.repo,
            section: info.section,
            depth: info.depth + 1,
            path: child(&info.path, name),
            parent: parent.cloned(),
            short_ends: Some(info.short_ends),
        });
    }

    /// Queue a slice, handing it straight to a waiting thread when there is one (a lister may
    /// be busy with one directory for a long time), or stat it here when enough are queued.
    fn push_slice(&self, job: SliceJob, local: &mut Local) {
        // A big directory is the one place a lone thread could stay busy for long.
        self.maybe_grow(local);
        if self.idle.load(Ordering::Relaxed) > 0 {
            self.lock().slices.push(job);
            self.cv.notify_one();
        } else if local.slices.len() >= MAX_QUEUED_SLICES {
            self.stat_slice(job, local);
        } else {
            local.slices.push(job);
        }
    }

    /// Keep what a job counted: per directory when the memo needs per-directory sums, else
    /// folded into the repo's part at once (memory then does not grow with the file count).
    fn keep(&self, local: &mut Local, info: &DirInfo, part: Part) {
        let found = &mut local.found;
        if self.input.record {
            found.parts.push((info.id, info.repo, part));
        } else {
            if found.by_repo.len() <= info.repo {
                found.by_repo.resize_with(info.repo + 1, || None);
            }
            match &mut found.by_repo[info.repo] {
                Some(p) => p.merge(part),
                slot => *slot = Some(part),
            }
        }
    }

    fn repo_paths(&self, repo: usize) -> &RepoPaths {
        self.repo_paths[repo].get_or_init(|| RepoPaths::new(&self.input.repos[repo].dir))
    }

    fn new_id(&self) -> usize {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Start the helpers (once) when the walk has proved big, or at once when told to; this
    /// thread's queued work is then shared as they wait. A no-op on a helper.
    fn maybe_grow(&self, local: &mut Local) {
        let Some((grow, since)) = local.grow else {
            return;
        };
        if self.input.pool_now || local.entries > SOLO_ENTRIES || since.elapsed() > SOLO_TIME {
            local.grow = None;
            grow();
            if local.temp_pending {
                (self.input.temp_seen)();
            }
        }
    }

    /// A temp file with this mtime was met: see [`WalkInput::temp_seen`].
    fn temp_seen(&self, local: &mut Local, mtime: f64) {
        if !(self.input.lock_may_matter)(mtime) {
            return;
        }
        if local.grow.is_some() {
            local.temp_pending = true;
        } else {
            (self.input.temp_seen)();
        }
    }
}

/// Spare name buffers a thread keeps at most (each up to a slice of names, some kilobytes).
const MAX_SPARE_NAMES: usize = 2 * MAX_QUEUED_SLICES;

impl Local<'_> {
    fn names(&mut self) -> Names {
        self.spare_names.pop().unwrap_or_default()
    }

    fn recycle(&mut self, mut names: Names) {
        if self.spare_names.len() < MAX_SPARE_NAMES {
            names.clear();
            self.spare_names.push(names);
        }
    }
}

/// `dir/name` in one allocation of the right size (`Path::join` copies, then grows).
fn child(dir: &Path, name: &OsStr) -> PathBuf {
    let mut p = PathBuf::with_capacity(dir.as_os_str().len() + 1 + name.len());
    p.push(dir);
    p.push(name);
    p
}

#[cfg(test)]
mod tests;
