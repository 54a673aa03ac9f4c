//! The root itself: a file instead of a directory, missing, and deleted then recreated while the
//! server runs. A missing root is a state (`hf_cache_root_exists 0`), never a crash.

use crate::common::scrape::{Server, metric};
use crate::common::*;
use crate::{assert_errors, assert_healthy, healthy};

#[test]
fn root_is_a_file() {
    let c = Cache::new();
    std::fs::remove_dir(&c.root).unwrap();
    std::fs::write(&c.root, "x").unwrap();
    let doc = crate::scan(&c, &["--model", "org/healthy"]);
    assert_eq!(cache(&doc)["exists"], false);
    let r = repo(&doc, "org/healthy");
    assert_eq!((counts(r), &r["exists"]), ((0, 0, 0, 0), &false.into()));
    assert_errors(&doc, &[("not_a_directory", 1)]);
}

#[test]
fn missing_root() {
    let c = Cache::new();
    std::fs::remove_dir(&c.root).unwrap();
    let doc = crate::scan(&c, &["--model", "org/healthy"]);
    assert_eq!(cache(&doc)["exists"], false);
    assert_eq!(repo(&doc, "org/healthy")["exists"], false);
    assert_errors(&doc, &[]);
}

/// One scrape's view: (root_exists, exists and bytes of org/healthy, scans, not_a_directory).
fn view(s: &Server) -> (f64, f64, f64, f64, f64) {
    let body = s.get("/metrics");
    let m = |name: &str, labels: &[&str]| {
        metric(&body, name, labels).unwrap_or_else(|| panic!("no {name}{labels:?} in\n{body}"))
    };
    let model = ["model=\"org/healthy\""];
    (
        m("hf_cache_root_exists", &[]),
        m("hf_cache_exists", &model),
        m("hf_cache_bytes", &model),
        m("hf_cache_scans_total", &[]),
        m(
            "hf_cache_scan_errors_total",
            &["reason=\"not_a_directory\""],
        ),
    )
}

#[test]
fn root_deleted_and_recreated_under_the_server() {
    let c = Cache::new();
    healthy(&c);
    let mut s = Server::start(
        BIN.as_ref(),
        &c.root,
        &["--model", "org/healthy", "--scan.mode", "on-scrape"],
    );
    let (up, exists, bytes, _, _) = view(&s);
    assert_eq!((up, exists, bytes), (1.0, 1.0, 350.0));

    std::fs::remove_dir_all(&c.root).unwrap();
    let (up, exists, bytes, _, _) = view(&s);
    assert_eq!((up, exists, bytes), (0.0, 0.0, 0.0));
    let j = s.progress("org/healthy");
    assert_eq!(
        (&j["cache_exists"], &j["total_size"]),
        (&false.into(), &0.into())
    );
    assert_eq!(s.progress("")["cache_exists"], false);

    // Replaced by a file: every walk counts one not_a_directory error, and nothing else moves.
    std::fs::write(&c.root, "not a cache").unwrap();
    let (_, _, _, scans0, errs0) = view(&s);
    for _ in 0..5 {
        let (up, exists, bytes, _, _) = view(&s);
        assert_eq!((up, exists, bytes), (0.0, 0.0, 0.0));
    }
    let (_, _, _, scans1, errs1) = view(&s);
    assert_eq!(
        errs1 - errs0,
        scans1 - scans0,
        "one error per walk while the root is a file"
    );

    std::fs::remove_file(&c.root).unwrap();
    std::fs::create_dir(&c.root).unwrap();
    healthy(&c);
    let (up, exists, bytes, _, _) = view(&s);
    assert_eq!((up, exists, bytes), (1.0, 1.0, 350.0));
    let body = s.get("/metrics");
    assert_eq!(
        metric(&body, "hf_cache_scan_success", &[]),
        Some(1.0),
        "{body}"
    );
    assert_eq!(s.progress("org/healthy")["total_size"], 350);
    assert!(s.alive(), "the server exited");
}

/// The healthy fixture itself, through `scan --json`, so the helpers are trusted.
#[test]
fn healthy_fixture_is_exact() {
    let c = Cache::new();
    healthy(&c);
    let doc = crate::scan(&c, &[]);
    assert_healthy(&doc);
    assert_errors(&doc, &[]);
}
