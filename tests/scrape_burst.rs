//! Single flight under a burst: 64 scrapes released at once, against a cache whose walk takes
//! a while, cause no walk beyond the one already running or fresh. With `scan.min-interval` far
//! above the test's length the exact answer is 1 walk (the start-up warm-up), whatever the
//! timing: requests that arrive during the warm-up wait for it, later ones reuse it. Without
//! the single flight, requests arriving during the warm-up would each walk. The wall-clock
//! version (min-interval 0, one wave of 64 → 1 walk) is `bench/serve.sh`.

mod common;

use std::sync::{Arc, Barrier};

use common::scrape::{Server, metric};
use common::*;

#[test]
fn sixty_four_concurrent_scrapes_share_one_walk() {
    let c = Cache::new();
    for i in 0..40 {
        let r = c.repo(&format!("models--org--m{i}"));
        for j in 0..150 {
            r.snap_file(&"a".repeat(40), &format!("d{}/f{j}", j % 9), 1);
        }
    }
    let root = c.root.clone();
    let s = Server::start(
        BIN.as_ref(),
        &root,
        &["--scan.min-interval", "1h", "--web.max-requests", "0"],
    );
    let port = s.port;
    let gate = Arc::new(Barrier::new(64));
    let scrapes: Vec<_> = (0..64)
        .map(|_| {
            let gate = gate.clone();
            std::thread::spawn(move || {
                let me = Server::at(port);
                gate.wait();
                me.get("/metrics")
            })
        })
        .collect();
    for t in scrapes {
        let body = t.join().unwrap();
        assert_eq!(metric(&body, "hf_cache_scans_total", &[]), Some(1.0));
        assert_eq!(
            metric(&body, "hf_cache_files", &["model=\"org/m7\""]),
            Some(150.0)
        );
    }
    let body = s.get("/metrics");
    assert_eq!(
        metric(&body, "hf_cache_scans_total", &[]),
        Some(1.0),
        "{body}"
    );
}

/// Interval mode at start-up: a scrape that arrives before the first background scan has
/// published walks itself, and the loop's first tick, which waited for that walk, must not
/// walk again right after it. Raced on purpose, several times: scrapes fired as soon as the
/// port is known.
#[test]
fn interval_start_up_scrapes_do_not_double_the_first_walk() {
    let c = Cache::new();
    for i in 0..20 {
        c.repo(&format!("models--org--m{i}"))
            .snap_file(&"a".repeat(40), "f.bin", 1);
    }
    for round in 0..8 {
        let s = Server::start(
            BIN.as_ref(),
            &c.root,
            &["--scan.mode", "interval", "--scan.interval", "1h"],
        );
        let port = s.port;
        let scrapes: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(move || Server::at(port).get("/metrics")))
            .collect();
        for t in scrapes {
            t.join().unwrap();
        }
        // Give a needless second walk time to publish before looking.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let body = s.get("/metrics");
        assert_eq!(
            metric(&body, "hf_cache_scans_total", &[]),
            Some(1.0),
            "round {round}: {body}"
        );
    }
}
