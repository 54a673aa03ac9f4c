//! `textfile` output of a fixed tree (fixed contents and mtimes) compared with
//! `tests/golden/metrics.txt`. Lines that depend on the machine or the clock are dropped.
//! After an intended change: `UPDATE_GOLDEN=1 cargo test --test golden`, then review the diff.

mod common;

use std::fs::{File, FileTimes};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use common::*;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/metrics.txt");

/// Metric names whose values vary between runs or filesystems.
const VARYING: &[&str] = &[
    "hf_cache_scan_duration_seconds",
    "hf_cache_last_scan_timestamp_seconds",
    "hf_cache_filesystem_",
    "hf_cache_exporter_build_info",
    "hf_cache_allocated_bytes", // st_blocks differ between tmpfs, ext4, overlayfs...
];

const C1: &str = "1111111111111111111111111111111111111111";
const C2: &str = "2222222222222222222222222222222222222222";

/// Set the mtime of every regular file under `dir` from a fixed base, in name order.
fn fix_mtimes(dir: &Path, next: &mut u64) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let ft = std::fs::symlink_metadata(&p).unwrap().file_type();
        if ft.is_dir() {
            fix_mtimes(&p, next);
        } else if ft.is_file() {
            let t = UNIX_EPOCH + Duration::from_secs(*next);
            *next += 60;
            let f = File::options().write(true).open(&p).unwrap();
            f.set_times(FileTimes::new().set_modified(t).set_accessed(t))
                .unwrap();
        }
    }
}

fn tree(files: &[(&str, &str, u64)]) -> String {
    let entries: Vec<String> = files
        .iter()
        .map(|(path, sha, size)| {
            format!("{path:?}: {{\"size\": 134, \"blob_id\": \"{}\", \"lfs_sha256\": \"{sha}\", \"lfs_size\": {size}}}", &sha[..40])
        })
        .collect();
    format!(
        "{{\"format_version\": 1, \"files\": {{{}}}}}",
        entries.join(", ")
    )
}

fn build(c: &Cache) {
    let done = c.repo("models--org--done");
    done.blob(&h(1), 1000)
        .blob(&h(2), 500)
        .link(C1, "config.json", &h(2))
        .link(C1, "model/weights.bin", &h(1))
        .refs("main", C1);
    std::fs::create_dir_all(done.path.join("trees")).unwrap();
    std::fs::write(
        done.path.join(format!("trees/{C1}.json")),
        tree(&[
            ("config.json", &h(2), 500),
            ("model/weights.bin", &h(1), 1000),
        ]),
    )
    .unwrap();

    let part = c.repo("models--org--partial");
    part.blob(&h(3), 300)
        .temp(&format!("{}.1a2b3c4d.incomplete", h(4)), 100)
        .temp(&format!("{}.part", h(5)), 50) // not .sync.part: its progress uses st_blocks
        .link(C2, "a.bin", &h(3))
        .refs("main", C2);
    std::fs::create_dir_all(part.path.join("trees")).unwrap();
    std::fs::write(
        part.path.join(format!("trees/{C2}.json")),
        tree(&[
            ("a.bin", &h(3), 300),
            ("b.bin", &h(4), 400),
            ("c.bin", &h(5), 600),
        ]),
    )
    .unwrap();

    c.repo("datasets--org--data")
        .snap_file(C1, "train.csv", 42)
        .snap_file(C1, "sub/test.csv", 8)
        .refs("main", C1);
    c.file("CACHEDIR.TAG", 43);
    let mut t = 1_600_000_000;
    fix_mtimes(&c.root, &mut t);
}

#[test]
fn textfile_output_matches_golden() {
    let c = Cache::new();
    build(&c);
    let cfg = c.dir.path().join("golden.yaml");
    let yaml = format!(
        "caches: [{{path: {:?}, name: golden}}]\ndownloads: {{lock_probe: off}}\n",
        c.root
    );
    std::fs::write(&cfg, yaml).unwrap();
    let out = c.dir.path().join("metrics.prom");
    let o = run(&[
        "textfile",
        out.to_str().unwrap(),
        "--config.file",
        cfg.to_str().unwrap(),
        "--web.disable-exporter-metrics",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let got: String = text
        .lines()
        .filter(|l| !VARYING.iter().any(|v| l.contains(v)))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        !got.contains(c.dir.path().to_str().unwrap()),
        "temp path leaked:\n{got}"
    );

    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(Path::new(GOLDEN).parent().unwrap()).unwrap();
        std::fs::write(GOLDEN, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(GOLDEN).unwrap_or_default();
    if got != want {
        let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
        let mut diff = String::new();
        for l in w.iter().filter(|l| !g.contains(l)) {
            diff.push_str(&format!("- {l}\n"));
        }
        for l in g.iter().filter(|l| !w.contains(l)) {
            diff.push_str(&format!("+ {l}\n"));
        }
        if diff.is_empty() {
            diff = "(same lines, different order)\n".into();
        }
        panic!("textfile output differs from {GOLDEN} (UPDATE_GOLDEN=1 to rewrite):\n{diff}");
    }
}
