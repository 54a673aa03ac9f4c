//! Counting rules of `scan --json` on real cache trees (hf-cache.md is the authority). Faults
//! (permissions, broken links, loops, odd names, vanishing files) live in `tests/faults/`.

mod common;

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

/// A walk stats each store payload once and reuses what it found for later links: every repo
/// linking to a payload still counts it, and links of the same name in two repos that lead to
/// different payloads each count their own.
#[test]
fn store_payload_linked_from_several_repos_counts_in_each() {
    let c = Cache::new();
    c.store_blob(&h(3), 500);
    c.store_blob(&h(4), 900);
    let to_store = |hash: &str| format!("../../blobs/{}/{hash}", &hash[..2]);
    for name in ["models--org--a", "models--org--b"] {
        c.repo(name).shared(&h(3)).link(A, "model.bin", &h(3));
    }
    // Same link name as in a and b, another payload.
    c.repo("models--org--c")
        .blob_symlink(&h(3), &to_store(&h(4)))
        .link(A, "model.bin", &h(3));
    let doc = c.scan(&[]);
    for (model, bytes) in [("org/a", 500), ("org/b", 500), ("org/c", 900)] {
        assert_eq!(counts(repo(&doc, model)), (bytes, 1, 0, 1), "{model}");
    }
    assert_eq!(cache(&doc)["success"], true, "{doc}");
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
fn configured_repo_found_by_discovery_is_reported_once() {
    let c = Cache::new();
    c.repo("models--org--a").blob(&h(1), 1);
    c.repo("models--org--b").blob(&h(2), 2);
    let cfg = c.dir.path().join("cfg.yaml");
    std::fs::write(
        &cfg,
        format!(
            "caches: [{{path: {:?}}}]\nmodels: [org/b, org/absent]\ndiscover: true\n",
            c.root
        ),
    )
    .unwrap();
    let doc = scan_json(&["scan", "--json", "--config.file", cfg.to_str().unwrap()]);
    let mut got: Vec<&str> = cache(&doc)["repos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["model"].as_str().unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, ["org/a", "org/absent", "org/b"]);
    assert_eq!(repo(&doc, "org/b")["bytes"], 2);
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
