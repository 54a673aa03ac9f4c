//! Two reference rows of issue #5's table, as one bare program for `bench/compare.sh`:
//! - `par_walk 1 ROOT`: raw `getdents64` + `fstatat(dirfd, name)` on one thread;
//! - `par_walk 2 ROOT`: the same split inside directories over two threads.
//!
//! It does what `seq_walk` does (per-repo sums of `st_size` of the regular files in `blobs/` and
//! `snapshots/`, symlinks skipped) and nothing the exporter must do besides: no shared-store
//! links, refs, tree files, temp-file rules, memo or report. So it is the floor a walker of
//! this design reaches on the machine at hand, and the exporter's ratio is read against it.
//! Prints `<folder>\t<bytes>` per repo, in `seq_walk`'s order, so the two can be diffed.
//!
//! `cargo run --release --example par_walk -- THREADS CACHE_ROOT`

use std::ffi::{CString, OsStr, OsString};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, RawDir};

mod common;

/// Names per stat job: the unit two threads share a big directory by.
const SLICE: usize = 256;

enum Job {
    /// A directory to list: by name in its open parent, or by path from the working directory.
    Dir {
        repo: usize,
        parent: Option<Arc<OwnedFd>>,
        name: OsString,
    },
    /// Regular files of one open directory to stat.
    Stat {
        repo: usize,
        dir: Arc<OwnedFd>,
        names: Vec<CString>,
    },
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// Jobs queued or running: the walk is over when none are left.
    open: usize,
}

struct Walk {
    q: Mutex<Queue>,
    cv: Condvar,
    bytes: Vec<AtomicU64>,
}

impl Walk {
    fn push(&self, job: Job) {
        let mut q = self.q.lock().unwrap();
        q.open += 1;
        q.jobs.push(job);
        drop(q);
        self.cv.notify_one();
    }

    fn run(&self) {
        let mut q = self.q.lock().unwrap();
        loop {
            if let Some(job) = q.jobs.pop() {
                drop(q);
                self.job(job);
                q = self.q.lock().unwrap();
                q.open -= 1;
                if q.open == 0 {
                    self.cv.notify_all();
                }
            } else if q.open == 0 {
                return;
            } else {
                q = self.cv.wait(q).unwrap();
            }
        }
    }

    fn job(&self, job: Job) {
        match job {
            Job::Dir { repo, parent, name } => self.list(repo, parent, &name),
            Job::Stat { repo, dir, names } => {
                let mut sum = 0;
                for n in &names {
                    if let Ok(st) =
                        rustix::fs::statat(&*dir, n.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)
                    {
                        if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile {
                            sum += st.st_size as u64;
                        }
                    }
                }
                self.bytes[repo].fetch_add(sum, Ordering::Relaxed);
            }
        }
    }

    fn list(&self, repo: usize, parent: Option<Arc<OwnedFd>>, name: &OsStr) {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let opened = match &parent {
            Some(p) => rustix::fs::openat(p.as_fd(), name, flags | OFlags::NOFOLLOW, Mode::empty()),
            None => rustix::fs::openat(CWD, name, flags, Mode::empty()),
        };
        let Ok(dir) = opened else { return };
        let dir = Arc::new(dir);
        let mut buf = [MaybeUninit::<u8>::uninit(); 16 * 1024];
        let mut entries = RawDir::new(&*dir, &mut buf);
        let mut names = Vec::new();
        while let Some(Ok(e)) = entries.next() {
            let n = e.file_name();
            if matches!(n.to_bytes(), b"." | b"..") {
                continue;
            }
            match e.file_type() {
                FileType::Directory => self.push(Job::Dir {
                    repo,
                    parent: Some(dir.clone()),
                    name: OsStr::from_bytes(n.to_bytes()).to_owned(),
                }),
                // Unknown `d_type` (some network filesystems): the stat decides whether it counts
                // (such a directory is not descended into; seq_walk's caches have none).
                FileType::RegularFile | FileType::Unknown => names.push(n.to_owned()),
                _ => {}
            }
            if names.len() == SLICE {
                let names = std::mem::take(&mut names);
                self.push(Job::Stat {
                    repo,
                    dir: dir.clone(),
                    names,
                });
            }
        }
        if !names.is_empty() {
            self.push(Job::Stat { repo, dir, names });
        }
    }
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(threads), Some(root)) = (args.next(), args.next()) else {
        eprintln!("usage: par_walk THREADS CACHE_ROOT");
        std::process::exit(2);
    };
    let Some(threads) = threads.to_str().and_then(|t| t.parse::<usize>().ok()) else {
        eprintln!("par_walk: THREADS must be a number");
        std::process::exit(2);
    };
    let root = std::path::Path::new(&root);
    let folders = common::repo_folders("par_walk", root);
    let walk = Walk {
        q: Mutex::new(Queue::default()),
        cv: Condvar::new(),
        bytes: folders.iter().map(|_| AtomicU64::new(0)).collect(),
    };
    for (repo, f) in folders.iter().enumerate() {
        for sub in ["blobs", "snapshots"] {
            let name = root.join(f).join(sub).into_os_string();
            walk.push(Job::Dir {
                repo,
                parent: None,
                name,
            });
        }
    }
    std::thread::scope(|s| {
        for _ in 1..threads.max(1) {
            s.spawn(|| walk.run());
        }
        walk.run();
    });
    for (f, b) in folders.iter().zip(&walk.bytes) {
        println!("{}\t{}", f.to_string_lossy(), b.load(Ordering::Relaxed));
    }
}
