//! Read-only proof: fingerprint a cache tree (relative paths, file types, sizes, mtimes, ctimes,
//! modes, owners, inodes, link counts, symlink targets), then drive the exporter hard (hundreds
//! of scrapes in both formats, `/download_progress` polls for exported, ad-hoc and root views,
//! both scan modes, `scan --json`, `textfile` to a path outside the cache) and require the same
//! fingerprint. ctime moves on any metadata change, so even a chmod-and-back would show. The
//! syscall-level half of the proof is `tests/e2e/test_80_readonly_strace.sh`.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::common::scrape::{Server, metric};
use crate::common::*;
use crate::{REV, healthy};

/// One line per entry under `root` (the root itself included), keyed by relative path.
fn fingerprint(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap();
        let ft = m.file_type();
        let kind = if ft.is_symlink() {
            format!("link->{}", std::fs::read_link(&p).unwrap().display())
        } else if ft.is_dir() {
            "dir".to_owned()
        } else if ft.is_file() {
            "file".to_owned()
        } else {
            "other".to_owned()
        };
        let line = format!(
            "{kind} size={} mode={:o} uid={} gid={} ino={} nlink={} mtime={}.{:09} ctime={}.{:09}",
            m.len(),
            m.mode(),
            m.uid(),
            m.gid(),
            m.ino(),
            m.nlink(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec()
        );
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        out.insert(format!("/{rel}"), line);
        if ft.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
    }
    out
}

/// Every kind of entry a real cache holds, including the ones a careless tool might touch:
/// lock files, temp files, tree listings, refs, `.no_exist`, the shared store, hard links.
fn rich_cache() -> Cache {
    let c = Cache::new();
    healthy(&c);
    let tmp = format!("{}.1a2b3c4d.incomplete", h(21));
    let r = c.repo("models--org--rich");
    r.blob(&h(20), 300)
        .temp(&tmp, 100)
        .shared(&h(22))
        .link(REV, "model.bin", &h(20))
        .link(REV, "shared.bin", &h(22))
        .hard_link(REV, "hard.bin", &h(20))
        .refs("main", REV)
        .refs("pr/1", REV);
    c.store_blob(&h(22), 70);
    let listing = format!(
        r#"[{{"type":"file","path":"model.bin","oid":"{}","size":300,"lfs":{{"oid":"{}","size":300}}}},{{"type":"file","path":"next.bin","oid":"{}","size":400,"lfs":{{"oid":"{}","size":400}}}}]"#,
        h(20),
        h(20),
        h(21),
        h(21)
    );
    let tree = r.path.join("trees").join(format!("{REV}.json"));
    std::fs::create_dir_all(tree.parent().unwrap()).unwrap();
    std::fs::write(tree, listing).unwrap();
    c.file(&format!(".locks/models--org--rich/{}.lock", h(21)), 0);
    c.file(
        &format!("models--org--rich/.no_exist/{REV}/missing.json"),
        0,
    );
    c.file("CACHEDIR.TAG", 43);
    c.file("version.txt", 1);
    c
}

const OM: &str = "Accept: application/openmetrics-text;version=1.0.0;q=0.9,text/plain;q=0.5";

/// A few hundred requests of every kind against one server.
fn drive(s: &Server, rounds: usize) {
    for i in 0..rounds {
        let body = s.get("/metrics");
        assert_eq!(
            metric(&body, "hf_cache_bytes", &["model=\"org/healthy\""]),
            Some(350.0)
        );
        let (status, om) = s.get_with("/metrics", &[OM]);
        assert!(status == 200 && om.ends_with("# EOF\n"), "{status}");
        let j = s.progress("org/rich");
        assert_eq!(j["total_size"], 470, "{j}");
        if i % 4 == 0 {
            assert_eq!(s.progress("datasets/org/plain")["total_size"], 30);
            assert_eq!(s.progress("")["cache_exists"], true);
            assert_eq!(s.progress("models--org--rich@pr/1")["cache_exists"], true);
        }
    }
}

#[test]
fn nothing_in_the_cache_changes() {
    let c = rich_cache();
    let outside = tempfile::tempdir().unwrap();
    let before = fingerprint(&c.root);
    assert!(before.len() > 40, "fixture too small: {}", before.len());

    let models = [
        "--model",
        "org/healthy",
        "--model",
        "org/rich",
        "--model",
        "org/dl",
    ];
    let on_scrape = Server::start(BIN.as_ref(), &c.root, &models);
    drive(&on_scrape, 150);
    drop(on_scrape);
    let mut interval = models.to_vec();
    interval.extend(["--scan.mode", "interval", "--scan.interval", "1s"]);
    let interval = Server::start(BIN.as_ref(), &c.root, &interval);
    drive(&interval, 50);
    drop(interval);

    let root = c.root.to_str().unwrap();
    for _ in 0..5 {
        scan_json(&["scan", "--json", "--cache.dir", root]);
    }
    let prom = outside.path().join("hf_cache.prom");
    let out = run(&["textfile", prom.to_str().unwrap(), "--cache.dir", root]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read_to_string(&prom)
            .unwrap()
            .contains("hf_cache_bytes{")
    );
    let out = run(&["check-config", "--cache.dir", root]);
    assert!(out.status.success());

    let after = fingerprint(&c.root);
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let changed: Vec<String> = keys
        .into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| {
            format!(
                "{k}\n  before: {:?}\n  after:  {:?}",
                before.get(k),
                after.get(k)
            )
        })
        .collect();
    assert!(
        changed.is_empty(),
        "the cache changed:\n{}",
        changed.join("\n")
    );
}
