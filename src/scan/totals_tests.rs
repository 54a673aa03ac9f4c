//! The root view against a plain walkdir walk of the same tree (the implementation it
//! replaced), on one thread and shared out over two.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use walkdir::WalkDir;

use super::*;

const TH: Thresholds = Thresholds {
    stall_after: 300.0,
    abandon_after: 6.0 * 3600.0,
};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The reference: walkdir without following links, `lstat` per regular file by path.
fn plain_walk(root: &Path, now: f64) -> RootTotals {
    let mut t = RootTotals {
        path: root.display().to_string(),
        exists: root.is_dir(),
        ..RootTotals::default()
    };
    let mut temps = Vec::new();
    for e in WalkDir::new(root).min_depth(1).into_iter().flatten() {
        if !e.file_type().is_file() {
            continue;
        }
        let meta = e.metadata().unwrap();
        t.bytes += meta.len();
        let in_blobs = e.path().parent().unwrap().file_name() == Some(OsStr::new("blobs"));
        let name = e.file_name().to_str().unwrap_or_default();
        if let (true, BlobName::Temp { etag, .. }) = (in_blobs, blob_name::classify(name)) {
            t.incomplete_files += 1;
            t.incomplete_bytes += meta.len();
            let f = FileFacts::from_metadata(&meta);
            temps.push(TempObservation {
                key: e.path().display().to_string(),
                etag: etag.to_owned(),
                size: f.size,
                allocated: f.allocated,
                mtime: f.mtime,
                lock_held: None,
                blob_exists: e.path().with_file_name(etag).symlink_metadata().is_ok(),
            });
        }
    }
    let state = tracker::classify_oneshot(now, TH, &temps);
    t.downloading = state.active;
    t.abandoned_files = state.abandoned_files;
    t
}

fn write(p: &Path, len: usize) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, vec![b'x'; len]).unwrap();
}

fn age(p: &Path, secs: u64) {
    let f = fs::File::options().write(true).open(p).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(secs))
        .unwrap();
}

/// A cache with `repos` repo folders and everything the view must count or skip.
fn cache(root: &Path, repos: usize) {
    let outside = root.parent().unwrap().join("outside");
    write(&outside.join("big"), 100_000);
    write(&root.join("CACHEDIR.TAG"), 43);
    write(&root.join(".locks/models--o--r0/abc.lock"), 0);
    write(&root.join("blobs/ab/shared-payload"), 777);
    for r in 0..repos {
        let repo = root.join(format!("models--o--r{r}"));
        let blobs = repo.join("blobs");
        let etag = format!("{r:040x}");
        write(&blobs.join(&etag), 1000 + r);
        let snap = repo.join("snapshots").join("c".repeat(40));
        fs::create_dir_all(snap.join("sub/deeper")).unwrap();
        symlink(format!("../../blobs/{etag}"), snap.join("model.bin")).unwrap();
        write(&snap.join("sub/deeper/plain.json"), 10 + r);
        write(&repo.join("refs/main"), 40);
        match r % 4 {
            // A fresh temp file with no blob beside it: a download in progress.
            0 => write(
                &blobs.join(format!("{:040x}.0a1b2c3d.incomplete", r + 1)),
                5 + r,
            ),
            // An old one: abandoned.
            1 => {
                let p = blobs.join(format!("{:040x}.incomplete", r + 1));
                write(&p, 7);
                age(&p, 7 * 3600);
            }
            // A temp whose blob already exists beside it.
            2 => write(&blobs.join(format!("{etag}.0a1b2c3d.incomplete")), 9),
            // A temp-looking name outside blobs/ is a plain file.
            _ => write(&repo.join(format!("{:040x}.incomplete", r)), 11),
        }
    }
    // Not followed: a link to a directory outside, a broken link, a non-UTF-8 name.
    symlink(&outside, root.join("models--o--r0/snapshots/escape")).unwrap();
    symlink("nowhere", root.join("models--o--r1/blobs/dangling")).unwrap();
    write(
        &root.join(OsStr::from_bytes(b"models--o--r2/blobs/\xff\xfe")),
        3,
    );
}

#[test]
fn matches_a_plain_walk_on_one_thread_and_on_two() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("hub");
    // Enough repo folders that the children are shared out (64 per thread asked for two).
    cache(&root, 70);
    let now = now();
    let want = plain_walk(&root, now);
    assert!(want.incomplete_files >= 50 && want.downloading && want.abandoned_files > 0);
    let asked = AtomicUsize::new(0);
    for n in [1, 2] {
        let threads = || {
            asked.fetch_add(1, Ordering::Relaxed);
            n
        };
        assert_eq!(root_totals(&root, TH, now, &threads), want, "{n} threads");
    }
    assert_eq!(
        asked.load(Ordering::Relaxed),
        2,
        "the children were not shared out"
    );
}

/// Exact figures on a small tree, so the test does not lean on walkdir alone.
#[test]
fn counts_regular_files_once_and_skips_links() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("hub");
    cache(&root, 3);
    let got = root_totals(&root, TH, now(), &|| 1);
    // Root files 43 + 0 + 777, then per repo r: blob 1000+r, plain 10+r, refs 40; temps 5, 7
    // and 9 (r = 0, 1, 2); the non-UTF-8 file 3. Links and `outside/` count nothing.
    let repos: usize = (0..3).map(|r| 1000 + r + 10 + r + 40).sum();
    assert_eq!(got.bytes, (43 + 777 + repos + 5 + 7 + 9 + 3) as u64);
    assert_eq!((got.incomplete_files, got.incomplete_bytes), (3, 21));
    assert!(got.downloading);
    assert_eq!(got.abandoned_files, 1);
}

#[test]
fn a_missing_root_is_reported_not_walked() {
    let tmp = tempfile::tempdir().unwrap();
    let got = root_totals(&tmp.path().join("absent"), TH, now(), &|| 1);
    assert!(!got.exists);
    assert_eq!(got.bytes, 0);
}

/// The configured root itself may be a symlink (a cache moved to a bigger disk).
#[test]
fn a_symlinked_root_is_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    cache(&real, 2);
    let link = tmp.path().join("hub");
    symlink(&real, &link).unwrap();
    let now = now();
    let got = root_totals(&link, TH, now, &|| 1);
    assert!(got.bytes > 2000);
    assert_eq!(got, plain_walk(&link, now));
}
