//! The walk's thread use: small caches stay on the calling thread, big ones grow a pool, and
//! the temp-file hook fires exactly when there is a temp file. Totals are checked too, so a
//! walk that skipped work to stay solo would fail.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{RepoWalk, SOLO_ENTRIES, WalkInput, WalkOutput, first_jobs, walk};
use crate::scan::commits::Commits;
use crate::scan::shared::RootPaths;

const SHA: &str = "4a9a5b1a4d6dcb47e8b5b4c0c2f1d8ef5e7cba3d1b6f7a0c9e8d7c6b5a4f3e2d";

/// A repo folder with `files` blobs of 3 bytes (and a temp file when asked).
fn repo(root: &Path, files: usize, temp: bool) -> RepoWalk {
    let dir = root.join("models--o--m");
    fs::create_dir_all(dir.join("blobs")).unwrap();
    fs::create_dir_all(dir.join("snapshots").join("c0ffee")).unwrap();
    for i in 0..files {
        fs::write(
            dir.join("blobs").join(format!("{i:04}{}", &SHA[4..])),
            "abc",
        )
        .unwrap();
    }
    if temp {
        let name = format!("{SHA}.0123abcd.incomplete");
        fs::write(dir.join("blobs").join(name), "ab").unwrap();
    }
    RepoWalk { dir }
}

fn run(root: &Path, r: RepoWalk, threads: &(dyn Fn() -> usize + Sync)) -> (WalkOutput, usize) {
    run_with(root, r, threads, false)
}

fn run_with(
    root: &Path,
    r: RepoWalk,
    threads: &(dyn Fn() -> usize + Sync),
    pool_now: bool,
) -> (WalkOutput, usize) {
    let seen = AtomicUsize::new(0);
    let temp_seen = || {
        seen.fetch_add(1, Ordering::Relaxed);
    };
    let repos = [r];
    let commits = Commits::known(vec![None]);
    let input = WalkInput {
        roots: RootPaths {
            root,
            root_real: None,
        },
        repos: &repos,
        commits: &commits,
        reuse: None,
        record: false,
        started: 0.0,
        racy_window: std::time::Duration::ZERO,
        threads,
        lock_may_matter: &|_| true,
        temp_seen: &temp_seen,
        pool_now,
    };
    let out = walk(&input);
    (out, seen.load(Ordering::Relaxed))
}

#[test]
fn a_small_cache_is_walked_on_the_calling_thread_without_sizing_a_pool() {
    let tmp = tempfile::tempdir().unwrap();
    let r = repo(tmp.path(), 20, false);
    let (out, temps) = run(tmp.path(), r, &|| panic!("pool sized for 20 files"));
    assert_eq!(out.threads_used, 1);
    assert_eq!(out.parts[0].content.files, 20);
    assert_eq!(out.parts[0].content.bytes, 60);
    assert_eq!(temps, 0, "no temp file, no /proc/locks read");
}

#[test]
fn a_small_walk_leaves_reading_proc_locks_to_its_caller() {
    let tmp = tempfile::tempdir().unwrap();
    let r = repo(tmp.path(), 5, true);
    let (out, temps) = run(tmp.path(), r, &|| panic!("pool sized for 6 files"));
    assert_eq!((out.threads_used, out.parts[0].temps.len()), (1, 1));
    assert!(out.found_temps);
    assert_eq!(
        temps, 0,
        "no thread to read /proc/locks beside a walk this short"
    );
}

#[test]
fn a_walk_told_to_pool_starts_helpers_even_for_a_small_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let r = repo(tmp.path(), 20, true);
    let (out, temps) = run_with(tmp.path(), r, &|| 2, true);
    assert_eq!(out.threads_used, 2);
    assert_eq!(out.parts[0].content.files, 20);
    assert_eq!(
        temps, 1,
        "pooled from the start, so its temp file starts the read"
    );
}

#[test]
fn a_big_cache_grows_the_pool_and_counts_every_file() {
    let tmp = tempfile::tempdir().unwrap();
    let files = SOLO_ENTRIES * 3;
    let r = repo(tmp.path(), files, true);
    let (out, temps) = run(tmp.path(), r, &|| 2);
    assert_eq!(out.threads_used, 2);
    assert_eq!(out.parts[0].content.files, files as u64);
    assert_eq!(out.parts[0].content.bytes, 3 * files as u64);
    assert_eq!(out.parts[0].temps.len(), 1);
    assert!(out.found_temps);
    assert!(temps >= 1, "the temp file starts the /proc/locks read");
}

/// A slice's names come back as pushed, each with its kind, also after the buffer is reused.
#[test]
fn names_come_back_in_order_with_their_kinds() {
    use super::{Kind, Names};
    use std::ffi::CString;
    let mut names = Names::default();
    for round in 0..2 {
        let pushed: Vec<CString> = ["a", SHA, "x.0123abcd.incomplete", "é"]
            .iter()
            .map(|n| CString::new(format!("{n}{round}")).unwrap())
            .collect();
        for (i, n) in pushed.iter().enumerate() {
            let kind = if i % 2 == 0 {
                Kind::File
            } else {
                Kind::Unknown
            };
            names.push(n, kind);
        }
        assert_eq!(names.len(), pushed.len());
        let got: Vec<(CString, bool)> = names
            .iter()
            .map(|(n, k)| (n.to_owned(), matches!(k, Kind::File)))
            .collect();
        let want: Vec<(CString, bool)> = pushed
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, i % 2 == 0))
            .collect();
        assert_eq!(got, want);
        names.clear();
        assert!(names.is_empty());
    }
}

/// The walk takes repos in the order their commits are published (repo order), each repo's
/// `blobs/` before its `snapshots/`.
#[test]
fn the_queue_starts_at_the_first_repo() {
    let repos: Vec<RepoWalk> = (0..3)
        .map(|i| RepoWalk {
            dir: Path::new("/c").join(format!("models--o--m{i}")),
        })
        .collect();
    let mut jobs = first_jobs(&repos);
    let mut popped = Vec::new();
    while let Some(j) = jobs.pop() {
        popped.push((
            j.repo,
            j.path.file_name().unwrap().to_str().unwrap().to_owned(),
        ));
    }
    let want: Vec<(usize, String)> = (0..3)
        .flat_map(|i| [(i, "blobs".to_owned()), (i, "snapshots".to_owned())])
        .collect();
    assert_eq!(popped, want);
}

/// A directory that takes many `getdents64` reads, with names of every length up to 200 bytes
/// (so entry sizes do not line up with the buffer): every entry is still counted. On the
/// filesystems where the walk takes a short read as the end (`listing`), a wrong entry size
/// would end the listing after a full read and lose the rest.
#[test]
fn a_directory_of_many_reads_is_listed_to_its_last_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("models--o--m");
    let blobs = dir.join("blobs");
    fs::create_dir_all(&blobs).unwrap();
    let files = 1500;
    for i in 0..files {
        let name = format!("{i:04}{}", "x".repeat(i % 197));
        fs::write(blobs.join(name), "a").unwrap();
    }
    let (out, _) = run(tmp.path(), RepoWalk { dir }, &|| 2);
    assert_eq!(out.parts[0].content.files, files as u64);
    assert_eq!(out.parts[0].content.bytes, files as u64);
}
