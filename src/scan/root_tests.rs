//! `scan_cache` on real trees: the walk's thread use carries over to the next scan, and tree
//! files parsed beside the walk give what parsing them before it gave.

use std::fs;
use std::path::Path;

use super::errors::MAX_SAMPLES;
use super::root::{LOCATE_BESIDE_WALK, TREES_BESIDE_WALK, scan_cache};
use super::{DirMemo, ScanOptions};
use super::{Reason, RepoReport};
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

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// `n` repos cycling through three cases: `refs/main` is a directory (an `io` error, no tree),
/// the tree file is not JSON (`bad_tree_file`), and a valid tree whose one blob is there.
fn repos_with_trees(root: &Path, n: usize) -> CacheSpec {
    for i in 0..n {
        let repo = root.join(format!("models--o--m{i:02}"));
        let etag = format!("{i:064x}");
        fs::create_dir_all(repo.join("blobs")).unwrap();
        fs::create_dir_all(repo.join("snapshots").join(COMMIT)).unwrap();
        fs::create_dir_all(repo.join("trees")).unwrap();
        fs::write(repo.join("blobs").join(&etag), "abc").unwrap();
        std::os::unix::fs::symlink(
            format!("../../blobs/{etag}"),
            repo.join("snapshots").join(COMMIT).join("w.bin"),
        )
        .unwrap();
        let tree = repo.join("trees").join(format!("{COMMIT}.json"));
        match i % 3 {
            0 => fs::create_dir_all(repo.join("refs").join("main")).unwrap(),
            1 => fs::write(&tree, "{not json").unwrap(),
            _ => fs::write(
                &tree,
                format!(r#"{{"format_version": 1, "files": {{"w.bin": {{"size": 3, "lfs_sha256": "{etag}"}}}}}}"#),
            )
            .unwrap(),
        }
        if i % 3 != 0 {
            fs::create_dir_all(repo.join("refs")).unwrap();
            fs::write(repo.join("refs").join("main"), COMMIT).unwrap();
        }
    }
    CacheSpec {
        name: "c".into(),
        path: root.to_path_buf(),
    }
}

fn progress_of(r: &RepoReport) -> Option<(u64, u64)> {
    r.progress
        .as_ref()
        .map(|p| (p.expected_bytes, p.done_bytes))
}

#[test]
fn trees_parsed_beside_the_walk_keep_errors_in_repo_order() {
    // Below the first threshold the trees are parsed before the walk, above it beside it;
    // above the second, refs are resolved beside the walk too (the walk waits for them).
    for n in [
        TREES_BESIDE_WALK - 1,
        TREES_BESIDE_WALK + 5,
        LOCATE_BESIDE_WALK + 1,
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let spec = repos_with_trees(tmp.path(), n);
        let opts = ScanOptions {
            threads: 2,
            ..ScanOptions::default()
        };
        let report = scan_cache(&spec, &[], true, usize::MAX, opts, None);
        assert_eq!(report.repos.len(), n);
        for (i, r) in report.repos.iter().enumerate() {
            let want = (i % 3 == 2).then_some((3, 3));
            assert_eq!(progress_of(r), want, "{n} repos, repo {i}");
        }
        // One thread going through the repos in order records a ref error for every third
        // repo and a tree error for the next one: interleaved, not grouped by phase.
        let want: Vec<(Reason, String)> = (0..n)
            .filter(|i| i % 3 != 2)
            .map(|i| {
                let repo = format!("models--o--m{i:02}");
                match i % 3 {
                    0 => (Reason::Io, format!("{repo}/refs/main")),
                    _ => (Reason::BadTree, format!("{repo}/trees/{COMMIT}.json")),
                }
            })
            .collect();
        let got: Vec<(Reason, String)> = report
            .errors
            .samples
            .iter()
            .map(|(r, p, _)| {
                (
                    *r,
                    p.strip_prefix(tmp.path()).unwrap().display().to_string(),
                )
            })
            .collect();
        assert_eq!(report.errors.total(), want.len() as u64, "{n} repos");
        assert_eq!(got, want[..want.len().min(MAX_SAMPLES)], "{n} repos");
    }
}
