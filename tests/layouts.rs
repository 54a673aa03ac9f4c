//! Counting rules of `scan --json` on real cache trees (hf-cache.md is the authority).

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;

use common::*;

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

#[test]
fn symlinked_layout_counts_a_shared_blob_once() {
    let c = Cache::new();
    c.repo("models--org--sym")
        .blob(&h(1), 100)
        .blob(&h(2), 200)
        .link(A, "config.json", &h(1))
        .link(A, "sub/dir/weights.bin", &h(2))
        .link(B, "config.json", &h(1))
        .refs("main", B);
    let doc = c.scan(&[]);
    assert_eq!(counts(repo(&doc, "org/sym")), (300, 2, 0, 2));
    assert_eq!(cache(&doc)["success"], true);
}

#[test]
fn no_symlink_layout_counts_snapshot_files() {
    let c = Cache::new();
    let r = c.repo("models--org--plain");
    r.snap_file(A, "a.txt", 10).snap_file(A, "d/e/b.txt", 20);
    std::fs::create_dir_all(r.path.join("blobs")).unwrap();
    let doc = c.scan(&[]);
    assert_eq!(counts(repo(&doc, "org/plain")), (30, 2, 0, 1));
}

#[test]
fn shared_store_target_counted_once_and_unreferenced_payload_not() {
    let c = Cache::new();
    c.store_blob(&h(3), 500);
    c.store_blob(&h(4), 7000); // nobody links to it
    c.repo("models--org--shared")
        .shared(&h(3))
        .blob(&h(5), 10)
        .link(A, "model.bin", &h(3))
        .link(A, "x/y.txt", &h(5));
    let doc = c.scan(&[]);
    assert_eq!(counts(repo(&doc, "org/shared")), (510, 2, 0, 1));
    // The store itself is not a repo.
    assert_eq!(cache(&doc)["repos_found"], 1);
}

#[test]
fn hard_links_counted_once() {
    let c = Cache::new();
    c.repo("models--org--hard")
        .blob(&h(6), 100)
        .hard_link(A, "w.bin", &h(6))
        .hard_link(B, "nested/w.bin", &h(6));
    let doc = c.scan(&[]);
    assert_eq!(counts(repo(&doc, "org/hard")), (100, 1, 0, 2));
}

#[test]
fn temp_files_of_all_clients_counted_as_incomplete_and_lock_ignored() {
    let c = Cache::new();
    c.repo("models--org--tmp")
        .blob(&h(7), 100)
        .temp(&format!("{}.1a2b3c4d.incomplete", h(8)), 10)
        .temp(&format!("{}.part", h(9)), 20)
        .temp(&format!("{}.sync.part", h(10)), 30)
        .temp(&format!("{}.lock", h(11)), 5); // hf-hub lock: not content
    let doc = c.scan(&["--downloads.lock-probe", "off"]);
    let r = repo(&doc, "org/tmp");
    assert_eq!(counts(r), (160, 1, 3, 0));
    assert_eq!(r["incomplete_bytes"], 60);
}

#[test]
fn absent_configured_repo_is_reported_with_zeros() {
    let c = Cache::new();
    c.repo("models--org--here").blob(&h(1), 10);
    let doc = c.scan(&["--model", "org/absent"]);
    let r = repo(&doc, "org/absent");
    assert_eq!(r["exists"], false);
    assert_eq!(counts(r), (0, 0, 0, 0));
    assert_eq!(r["folder"], "models--org--absent");
}

#[test]
fn discovery_finds_every_repo_and_ignores_other_entries() {
    let c = Cache::new();
    c.repo("models--org--m").blob(&h(1), 1);
    c.repo("datasets--org--d").blob(&h(2), 2);
    c.repo("spaces--org--s").blob(&h(3), 3);
    c.repo("models--gpt2").blob(&h(4), 4);
    c.file(".locks/models--org--m/x.lock", 0);
    c.file("CACHEDIR.TAG", 43);
    c.file("version.txt", 1);
    c.store_blob(&h(9), 9);
    let doc = c.scan(&[]);
    let mut got: Vec<(String, String)> = cache(&doc)["repos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["model"].as_str().unwrap().into(),
                r["repo_type"].as_str().unwrap().into(),
            )
        })
        .collect();
    got.sort();
    let want = [
        ("gpt2", "model"),
        ("org/d", "dataset"),
        ("org/m", "model"),
        ("org/s", "space"),
    ];
    assert_eq!(got, want.map(|(a, b)| (a.to_owned(), b.to_owned())));
    assert_eq!(repo(&doc, "org/d")["bytes"], 2);
    assert_eq!(cache(&doc)["success"], true, "{doc:#}");
}

#[test]
fn max_repos_caps_discovery_and_counts_the_rest() {
    let c = Cache::new();
    for n in ["a", "b", "c"] {
        c.repo(&format!("models--org--{n}")).blob(&h(1), 1);
    }
    let cfg = c.dir.path().join("cfg.yaml");
    std::fs::write(
        &cfg,
        format!("caches: [{{path: {:?}}}]\nmax_repos: 2\n", c.root),
    )
    .unwrap();
    let doc = scan_json(&["scan", "--json", "--config.file", cfg.to_str().unwrap()]);
    assert_eq!(cache(&doc)["repos"].as_array().unwrap().len(), 2);
    assert_eq!(cache(&doc)["repos_dropped"], 1);
    assert_eq!(cache(&doc)["repos_found"], 3);
}

#[test]
fn case_variants_are_distinct_repos() {
    let c = Cache::new();
    c.repo("models--Org--X").blob(&h(1), 11);
    c.repo("models--org--x").blob(&h(1), 22);
    let doc = c.scan(&[]);
    assert_eq!(repo(&doc, "Org/X")["bytes"], 11);
    assert_eq!(repo(&doc, "org/x")["bytes"], 22);
}

#[test]
fn broken_shared_store_symlink_is_an_error_and_the_rest_counts() {
    let c = Cache::new();
    c.repo("models--org--broken").shared(&h(1)).blob(&h(2), 40);
    let doc = c.scan(&[]);
    assert_eq!(errors(&doc, "broken_symlink"), 1, "{doc:#}");
    assert_eq!(cache(&doc)["success"], false);
    assert_eq!(counts(repo(&doc, "org/broken")).0, 40);
}

#[test]
fn symlink_loop_through_the_shared_store_is_a_loop_error() {
    let c = Cache::new();
    let store = c.root.join("blobs/lo");
    std::fs::create_dir_all(&store).unwrap();
    std::os::unix::fs::symlink("b", store.join("a")).unwrap();
    std::os::unix::fs::symlink("a", store.join("b")).unwrap();
    c.repo("models--org--loop")
        .blob_symlink(&h(1), "../../blobs/lo/a")
        .blob(&h(2), 5);
    let mut cmd = Command::new(BIN);
    cmd.args(["scan", "--json", "--cache.dir", c.root.to_str().unwrap()]);
    let doc = parse_ok(run_timeout(cmd, 30), &"loop scan");
    assert_eq!(errors(&doc, "loop"), 1, "{doc:#}");
    assert_eq!(counts(repo(&doc, "org/loop")).0, 5);
}

#[test]
fn symlink_loop_inside_repo_blobs_is_a_loop_error() {
    let c = Cache::new();
    c.repo("models--org--loop2")
        .blob_symlink("a", "b")
        .blob_symlink("b", "a")
        .blob(&h(2), 5);
    let mut cmd = Command::new(BIN);
    cmd.args(["scan", "--json", "--cache.dir", c.root.to_str().unwrap()]);
    let doc = parse_ok(run_timeout(cmd, 30), &"loop scan");
    assert_eq!(counts(repo(&doc, "org/loop2")).0, 5);
    assert!(errors(&doc, "loop") >= 1, "{doc:#}");
}

#[test]
fn non_utf8_name_is_an_error_but_its_bytes_count() {
    let c = Cache::new();
    let r = c.repo("models--org--bytes");
    r.blob(&h(1), 10);
    write(
        &r.path.join("blobs").join(OsStr::from_bytes(b"bad\xff\xfe")),
        50,
    );
    let doc = c.scan(&[]);
    assert_eq!(errors(&doc, "non_utf8_name"), 1, "{doc:#}");
    assert_eq!(counts(repo(&doc, "org/bytes")).0, 60);
}

#[test]
fn root_that_is_a_file_does_not_exist() {
    let c = Cache::new();
    let f = c.dir.path().join("not-a-dir");
    std::fs::write(&f, "x").unwrap();
    let doc = scan_json(&["scan", "--json", "--cache.dir", f.to_str().unwrap()]);
    assert_eq!(cache(&doc)["exists"], false);
    assert_eq!(cache(&doc)["repos"].as_array().unwrap().len(), 0);
}

#[test]
fn missing_root_is_a_state_not_a_failure() {
    let c = Cache::new();
    let missing = c.dir.path().join("nowhere");
    let out = c.dir.path().join("out.prom");
    let o = run(&[
        "textfile",
        out.to_str().unwrap(),
        "--cache.dir",
        missing.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let line = format!("hf_cache_root_exists{{cache=\"{}\"}} 0", missing.display());
    assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
}

#[test]
fn symlinks_out_of_the_root_are_never_followed() {
    let c = Cache::new();
    let big = c.dir.path().join("outside.bin");
    write(&big, 1 << 20);
    c.repo("models--org--escape")
        .blob(&h(1), 7)
        .blob_symlink(&h(2), "/dev/zero")
        .blob_symlink(&h(3), big.to_str().unwrap())
        .blob_symlink(&h(4), "../../../outside.bin");
    let mut cmd = Command::new(BIN);
    cmd.args(["scan", "--json", "--cache.dir", c.root.to_str().unwrap()]);
    let doc = parse_ok(run_timeout(cmd, 30), &"escape scan");
    assert_eq!(counts(repo(&doc, "org/escape")), (7, 1, 0, 0));
}

#[test]
fn permission_denied_is_counted_and_other_repos_are_correct() {
    use std::os::unix::fs::PermissionsExt;
    let c = Cache::new();
    c.repo("models--org--ok")
        .blob(&h(1), 100)
        .link(A, "f", &h(1));
    let locked = c.repo("models--org--locked");
    locked.blob(&h(2), 50);
    let mode = |p: &std::path::Path, m| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    mode(c.dir.path(), 0o755);
    mode(&locked.path.join("blobs"), 0o000);
    let root = c.root.to_str().unwrap();
    let mut cmd = if is_root() {
        if Command::new("setpriv").arg("--version").output().is_err() {
            eprintln!("SKIP: running as root and setpriv is missing, cannot drop privileges");
            return;
        }
        // Copy the binary so nobody can run it whatever the checkout's permissions are.
        let bin = c.dir.path().join("hfce");
        std::fs::copy(BIN, &bin).unwrap();
        mode(&bin, 0o755);
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(bin);
        cmd
    } else {
        Command::new(BIN)
    };
    cmd.args(["scan", "--json", "--cache.dir", root]);
    let doc = parse_ok(run_timeout(cmd, 60), &"unprivileged scan");
    mode(&locked.path.join("blobs"), 0o755); // let TempDir clean up
    assert!(errors(&doc, "permission_denied") >= 1, "{doc:#}");
    assert_eq!(cache(&doc)["success"], false);
    assert_eq!(counts(repo(&doc, "org/ok")), (100, 1, 0, 1));
}

#[test]
fn files_vanishing_mid_scan_are_not_errors() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let c = Cache::new();
    let r = c.repo("models--org--churn");
    r.blob(&h(1), 10);
    let blobs = r.path.join("blobs");
    let snaps = r.path.join("snapshots");
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let blob = blobs.join(h(1000 + i % 50));
                let tmp = blobs.join(format!("{}.1a2b3c4d.incomplete", h(1000 + i % 50)));
                let snap = snaps.join(format!("{i:040x}"));
                write(&tmp, 4096);
                let _ = std::fs::rename(&tmp, &blob);
                write(&snap.join("d/f.txt"), 10);
                let _ = std::fs::remove_file(&blob);
                let _ = std::fs::remove_dir_all(&snap);
            }
        })
    };
    let root = c.root.to_str().unwrap();
    for _ in 0..30 {
        let doc = scan_json(&["scan", "--json", "--cache.dir", root]);
        assert_eq!(cache(&doc)["errors"], serde_json::json!({}), "{doc:#}");
        assert!(repo(&doc, "org/churn")["bytes"].as_u64().unwrap() >= 10);
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
}
