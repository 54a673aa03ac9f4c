//! `scan_cache` with a memo: the walk's thread use carries over to the next scan.

use std::fs;
use std::path::Path;

use super::root::scan_cache;
use super::{DirMemo, ScanOptions};
use crate::config::CacheSpec;

/// A cache root with one model repo of `files` blobs.
fn cache(root: &Path, files: usize) -> CacheSpec {
    let blobs = root.join("models--o--m").join("blobs");
    fs::create_dir_all(&blobs).unwrap();
    fs::create_dir_all(root.join("models--o--m").join("snapshots")).unwrap();
    for i in 0..files {
        fs::write(blobs.join(format!("{i:064x}")), "abc").unwrap();
    }
    CacheSpec {
        name: "c".into(),
        path: root.to_path_buf(),
    }
}

fn pooled_after_scan(files: usize) -> (bool, u64) {
    let tmp = tempfile::tempdir().unwrap();
    let spec = cache(tmp.path(), files);
    let opts = ScanOptions {
        threads: 2,
        ..ScanOptions::default()
    };
    let mut memo = DirMemo::default();
    let report = scan_cache(&spec, &[], true, usize::MAX, opts, Some(&mut memo));
    (memo.pooled, report.repos[0].stats.files)
}

#[test]
fn the_memo_remembers_whether_the_walk_needed_helpers() {
    assert_eq!(pooled_after_scan(10), (false, 10));
    assert_eq!(pooled_after_scan(3000), (true, 3000));
}
