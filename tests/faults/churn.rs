//! Files and whole repos vanishing while a scan runs. The interleaving is up to the scheduler,
//! so the assertions are invariants that hold for every interleaving: exit 0, healthy repos
//! exact, churned numbers within what could exist at some instant, and no scan errors
//! (a vanished file is a race, not an error).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::common::*;
use crate::{REV, assert_errors, assert_healthy, healthy, scan};

const TEMP: u64 = 4096;
const EPHEMERAL: u64 = 1000;

#[test]
fn files_and_repos_vanish_mid_scan() {
    let c = Cache::new();
    healthy(&c);
    let r = c.repo("models--org--churn");
    r.blob(&h(1), 10);
    let blobs = r.path.join("blobs");
    let snaps = r.path.join("snapshots");
    let root = c.root.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    let churn = {
        let (stop, rounds) = (stop.clone(), rounds.clone());
        std::thread::spawn(move || {
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                // A download: temp file, renamed to its blob, then garbage-collected.
                let blob = blobs.join(h(1000 + i % 50));
                let tmp = blobs.join(format!("{}.1a2b3c4d.incomplete", h(1000 + i % 50)));
                write(&tmp, TEMP as usize);
                std::fs::rename(&tmp, &blob).unwrap();
                let snap = snaps.join(format!("{i:040x}"));
                write(&snap.join("d/f.txt"), 10);
                std::fs::remove_file(&blob).unwrap();
                std::fs::remove_dir_all(&snap).unwrap();
                // A whole repo appearing and being deleted (`hf cache rm`).
                let eph = root.join(format!("models--org--eph{}", i % 3));
                write(&eph.join("blobs").join(h(7)), EPHEMERAL as usize);
                let link = eph.join("snapshots").join(REV).join("f");
                std::fs::create_dir_all(link.parent().unwrap()).unwrap();
                std::os::unix::fs::symlink(format!("../../blobs/{}", h(7)), link).unwrap();
                std::fs::remove_dir_all(&eph).unwrap();
                rounds.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    for _ in 0..30 {
        let doc = scan(&c, &[]);
        assert_healthy(&doc);
        assert_errors(&doc, &[]);
        let (bytes, files, incomplete, revisions) = counts(repo(&doc, "org/churn"));
        // Next to the fixed 10-byte blob, one listing of blobs/ holds at most the temp file
        // and its blob (a rename may be listed under both names), and one listing of
        // snapshots/ at most two revisions (one being removed, the next being made).
        assert!(
            (10..=10 + 2 * TEMP + 20).contains(&bytes),
            "churn bytes {bytes}"
        );
        assert!((1..=4).contains(&files), "churn files {files}");
        assert!(
            incomplete <= 1 && revisions <= 2,
            "{incomplete} temp, {revisions} revs"
        );
        for x in cache(&doc)["repos"].as_array().unwrap() {
            if x["model"].as_str().unwrap().starts_with("org/eph") {
                let (b, f, i, rev) = counts(x);
                assert!(b <= EPHEMERAL && f <= 1 && i == 0 && rev <= 1, "{x:#}");
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().expect("the mutator itself failed");
    assert!(
        rounds.load(Ordering::Relaxed) > 0,
        "the mutator never completed a round"
    );
}
