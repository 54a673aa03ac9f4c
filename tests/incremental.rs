//! The incremental scan agrees with a full scan after every kind of change real clients make.
//!
//! Each step mutates the cache the way `huggingface_hub` (or `hf cache rm`, or a Xet download)
//! does, then scans twice: incrementally with the memo the previous steps built, and from
//! nothing. The two reports must be equal; each step must also change the full result (so the
//! step tests something) and the incremental scan must really have reused directories.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::time::Duration;

use common::{Cache, h, write};
use hf_cache_exporter::config::CacheSpec;
use hf_cache_exporter::scan::{CacheReport, DirMemo, ScanOptions, scan_cache};

const C1: &str = "1111111111111111111111111111111111111111";
const C2: &str = "2222222222222222222222222222222222222222";

fn opts() -> ScanOptions {
    ScanOptions {
        full_every: Duration::from_secs(3600),
        // The test waits out the timestamp tick itself (`settle`), so every stamp can be trusted.
        racy_window: Duration::ZERO,
        ..ScanOptions::default()
    }
}

fn scan(cache: &Cache, memo: Option<&mut DirMemo>) -> CacheReport {
    let spec = CacheSpec {
        name: "c".into(),
        path: cache.root.clone(),
    };
    scan_cache(&spec, &[], true, 1000, opts(), memo)
}

/// Let the filesystem's coarse timestamp clock move past the last change, so a scan that starts
/// now sees every directory stamp as older than itself.
fn settle() {
    std::thread::sleep(Duration::from_millis(30));
}

struct Stepper<'a> {
    cache: &'a Cache,
    memo: DirMemo,
    last_full: Option<CacheReport>,
}

impl Stepper<'_> {
    fn check(&mut self, step: &str) {
        settle();
        let inc = scan(self.cache, Some(&mut self.memo));
        let full = scan(self.cache, None);
        assert!(!inc.full_scan, "{step}: the memo should not be reset");
        assert!(inc.reused_dirs > 0, "{step}: nothing was reused");
        assert_eq!(inc.repos, full.repos, "{step}: incremental != full");
        assert_eq!(
            inc.errors.counts, full.errors.counts,
            "{step}: errors differ"
        );
        if let Some(prev) = &self.last_full {
            assert_ne!(prev.repos, full.repos, "{step}: the step changed nothing");
        }
        self.last_full = Some(full);
    }
}

#[test]
fn incremental_matches_full_after_every_client_mutation() {
    let cache = Cache::new();
    let a = cache.repo("models--org--a");
    a.refs("main", C1)
        .blob(&h(1), 100)
        .blob(&h(2), 200)
        .link(C1, "config.json", &h(1))
        .link(C1, "weights/model.bin", &h(2))
        .temp(&format!("{}.incomplete", h(3)), 10);
    let b = cache.repo("models--org--nosymlink");
    b.refs("main", C1).snap_file(C1, "config.json", 30);
    let c = cache.repo("datasets--org--shared");
    c.refs("main", C1)
        .blob(&h(5), 500)
        .link(C1, "data.parquet", &h(5));
    // A repo whose tree file asks for progress: one of its two files is downloaded so far.
    let t = cache.repo("models--org--tree");
    t.refs("main", C1)
        .blob(&h(20), 20)
        .link(C1, "a.bin", &h(20));
    let tree = format!(
        r#"{{"format_version": 1, "files": {{
            "a.bin": {{"blob_id": "{}", "size": 20}},
            "b.bin": {{"blob_id": "{}", "size": 21}},
            "c.bin": {{"blob_id": "{}", "size": 22}}}}}}"#,
        h(20),
        h(21),
        h(22)
    );
    fs::create_dir_all(t.path.join("trees")).unwrap();
    fs::write(t.path.join("trees").join(format!("{C1}.json")), &tree).unwrap();
    let d = cache.repo("models--org--doomed");
    d.refs("main", C1).blob(&h(6), 60).link(C1, "f", &h(6));

    settle();
    let mut memo = DirMemo::default();
    let first = scan(&cache, Some(&mut memo));
    assert!(first.full_scan && first.reused_dirs == 0);
    let mut s = Stepper {
        cache: &cache,
        memo,
        last_full: Some(first),
    };

    // A download writes into its temp file: the directory does not change, the file grows.
    let temp = a.path.join("blobs").join(format!("{}.incomplete", h(3)));
    fs::write(&temp, vec![b'x'; 4096]).unwrap();
    s.check("temp file grows in place");

    // It finishes: rename to the blob, then the snapshot symlink.
    fs::rename(&temp, a.path.join("blobs").join(h(3))).unwrap();
    a.link(C1, "weights/extra.bin", &h(3));
    s.check("temp renamed to blob and linked");

    // The tree repo's second file lands as a blob, its third one in no-symlink mode.
    t.blob(&h(21), 21).link(C1, "b.bin", &h(21));
    s.check("progress: a wanted blob arrives");
    let full = s.last_full.as_ref().unwrap();
    let tree_repo = full.repos.iter().find(|r| r.folder == "models--org--tree");
    assert!(
        tree_repo.is_some_and(|r| r.progress.is_some()),
        "the tree file is read"
    );
    t.snap_file(C1, "c.bin", 22);
    s.check("progress: a wanted no-symlink file arrives");
    // The tree file is rewritten in place with one more file (parsed trees are kept by stamp).
    let tree = tree.replace(
        r#""c.bin""#,
        &format!(
            r#""d.bin": {{"blob_id": "{}", "size": 23}}, "c.bin""#,
            h(23)
        ),
    );
    fs::write(t.path.join("trees").join(format!("{C1}.json")), tree).unwrap();
    s.check("tree file rewritten");

    // A second revision with a nested path and a new blob.
    a.refs("v2", C2)
        .blob(&h(4), 400)
        .link(C2, "deep/er/still/model.bin", &h(4));
    s.check("new revision with nested path");

    // `hf cache rm` of the first revision: its snapshot folder and its only-used blobs go.
    fs::remove_dir_all(a.path.join("snapshots").join(C1)).unwrap();
    for i in [1, 2, 3] {
        fs::remove_file(a.path.join("blobs").join(h(i))).unwrap();
    }
    s.check("revision deleted");

    // No-symlink mode: the finished temp file is moved into snapshots/.
    let t = b.path.join("blobs").join(format!("{}.incomplete", h(7)));
    write(&t, 700);
    s.check("no-symlink temp appears");
    fs::rename(&t, b.path.join("snapshots").join(C1).join("model.bin")).unwrap();
    s.check("no-symlink move into snapshots");

    // Shared-store publish: the payload moves to <root>/blobs/xx/<hash>, a symlink replaces it.
    let store = cache.store_blob(&h(5), 500);
    fs::remove_file(c.path.join("blobs").join(h(5))).unwrap();
    c.shared(&h(5));
    let before = s.last_full.as_ref().unwrap().repos[0].stats;
    settle();
    let inc = scan(&cache, Some(&mut s.memo));
    let full = scan(&cache, None);
    assert_eq!(inc.repos, full.repos, "shared-store publish");
    // Publishing moves no bytes in or out of the repo's total (only the payload's mtime is new).
    let after = inc.repos[0].stats;
    assert_eq!((before.bytes, before.files), (after.bytes, after.files));
    assert!(inc.reused_dirs > 0);
    s.last_full = Some(full);
    // The store's payload is replaced (published again: a temp file renamed over it, as the
    // client publishes): the repo's folder does not change, the store directory does. (Payloads
    // are read-only and never rewritten in place; a rewrite in place is the full scan's to see,
    // as for blobs.)
    let tmp = store.with_extension("tmp");
    fs::write(&tmp, vec![b'y'; 900]).unwrap();
    fs::rename(&tmp, &store).unwrap();
    s.check("shared target replaced under an unchanged repo folder");
    fs::remove_file(&store).unwrap();
    s.check("shared target deleted (broken link)");

    // A blob replaced by a different file under the same name.
    let tmp = a.path.join("blobs").join("replacement.tmp");
    write(&tmp, 4321);
    fs::rename(&tmp, a.path.join("blobs").join(h(4))).unwrap();
    s.check("blob replaced by rename");

    // A cancelled download: the temp file is deleted.
    a.temp(&format!("{}.incomplete", h(8)), 80);
    s.check("temp file appears");
    fs::remove_file(a.path.join("blobs").join(format!("{}.incomplete", h(8)))).unwrap();
    s.check("temp file deleted");

    // Whole repos come and go.
    fs::remove_dir_all(&d.path).unwrap();
    s.check("repo removed");
    let e = cache.repo("models--org--new");
    e.refs("main", C1).blob(&h(9), 90).link(C1, "f", &h(9));
    s.check("repo added");

    // A repo folder replaced by another one of the same name (new inodes throughout).
    let tmpdir = cache.dir.path().join("staging");
    fs::create_dir(&tmpdir).unwrap();
    fs::rename(&e.path, tmpdir.join("old")).unwrap();
    let e2 = cache.repo("models--org--new");
    e2.refs("main", C1).blob(&h(9), 91).link(C1, "f", &h(9));
    s.check("repo folder replaced");

    // A snapshot entry that is a symlink to a directory: never followed, never counted.
    symlink(
        "../../blobs",
        e2.path.join("snapshots").join(C1).join("loop"),
    )
    .unwrap();
    e2.blob(&h(10), 5);
    s.check("blob added next to a symlinked folder");
}

#[test]
fn full_every_zero_never_reuses_and_first_scan_is_full() {
    let cache = Cache::new();
    cache
        .repo("models--org--a")
        .blob(&h(1), 10)
        .link(C1, "f", &h(1));
    settle();
    let spec = CacheSpec {
        name: "c".into(),
        path: cache.root.clone(),
    };
    let mut memo = DirMemo::default();
    let zero = ScanOptions {
        full_every: Duration::ZERO,
        ..opts()
    };
    for _ in 0..3 {
        let r = scan_cache(&spec, &[], true, 1000, zero, Some(&mut memo));
        assert!(r.full_scan);
        assert_eq!(r.reused_dirs, 0);
        assert_eq!(r.repos[0].stats.bytes, 10);
    }
    // With a period, the second scan reuses what the first listed: root-level folders of the
    // repo (blobs/, snapshots/) and the revision folder.
    let mut memo = DirMemo::default();
    let r1 = scan_cache(&spec, &[], true, 1000, opts(), Some(&mut memo));
    let r2 = scan_cache(&spec, &[], true, 1000, opts(), Some(&mut memo));
    assert!(r1.full_scan && !r2.full_scan);
    assert_eq!(r2.reused_dirs, 3);
    assert_eq!(r1.repos, r2.repos);
}
