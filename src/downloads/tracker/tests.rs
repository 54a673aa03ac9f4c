//! State-machine tests for [`super`], driven by an injected clock (`T0` + seconds).

use super::*;

const TH: Thresholds = Thresholds {
    stall_after: 300.0,
    abandon_after: 21_600.0,
};
const T0: f64 = 1_700_000_000.0;

fn temp(key: &str, size: u64, mtime: f64) -> TempObservation {
    let (key, etag) = (key.to_string(), format!("etag-{key}"));
    TempObservation {
        key,
        etag,
        size,
        allocated: size,
        mtime,
        lock_held: None,
        blob_exists: false,
    }
}

fn with(mut t: TempObservation, lock_held: Option<bool>, blob_exists: bool) -> TempObservation {
    (t.lock_held, t.blob_exists) = (lock_held, blob_exists);
    t
}

/// (active, stalled, abandoned_files)
fn flags(s: &RepoDownloadState) -> (bool, bool, u64) {
    (s.active, s.stalled, s.abandoned_files)
}

/// First sight (one-shot or right after a restart): judged by mtime age alone.
#[test]
fn first_sight_rules_by_age_lock_and_blob() {
    let (free, held) = (Some(false), Some(true));
    #[rustfmt::skip]
    let cases = [
        // age (now - mtime), lock, blob exists, expected (active, stalled, abandoned)
        (299.0, free, false, (true, false, 0)),     // lock free but still fresh
        (300.0, free, false, (false, false, 1)),    // lock free for stall_after
        (299.0, None, true, (true, false, 0)),      // blob exists but still growing
        (301.0, None, true, (false, false, 1)),     // blob exists: at once, no lock needed
        (301.0, held, true, (false, false, 1)),     // even with the lock held
        (-3_600.0, free, true, (true, false, 0)),   // mtime in the future = fresh
        (21_599.0, None, false, (true, true, 0)),   // unknown lock: only stalled
        (21_599.0, held, false, (true, true, 0)),   // held lock: only stalled
        (21_600.0, held, false, (false, false, 1)), // abandon_after wins over a held lock
        (172_800.0, None, false, (false, false, 1)),// two-day-old leftover after a restart
    ];
    for (age, lock, blob, want) in cases {
        let t = with(temp("a", 7, T0 - age), lock, blob);
        let s = classify_oneshot(T0, TH, &[t]);
        assert_eq!(flags(&s), want, "age {age} lock {lock:?} blob {blob}");
        assert_eq!(s.last_progress, Some((T0 - age).min(T0)));
        assert_eq!(s.abandoned_bytes, 7 * want.2);
    }
}

#[test]
fn growth_then_stall_at_threshold_then_resume() {
    let mut tr = Tracker::new(TH);
    let s = tr.observe_repo(T0, &[temp("a", 0, T0)]);
    assert_eq!((flags(&s), s.last_progress), ((true, false, 0), Some(T0)));
    // Grew by one 10 MiB step; mtime lags our clock (NFS skew): dated by our clock.
    let grown = [temp("a", 10 << 20, T0 + 5.0)];
    let s = tr.observe_repo(T0 + 60.0, &grown);
    assert_eq!(
        (flags(&s), s.last_progress),
        ((true, false, 0), Some(T0 + 60.0))
    );
    assert_eq!(
        flags(&tr.observe_repo(T0 + 359.0, &grown)),
        (true, false, 0)
    );
    let s = tr.observe_repo(T0 + 360.0, &grown);
    assert_eq!(
        (flags(&s), s.last_progress),
        ((true, true, 0), Some(T0 + 60.0))
    );
    // Allocated bytes alone moving (sparse .sync.part) is progress too.
    let mut sparse = grown[0].clone();
    sparse.allocated = 4096;
    let s = tr.observe_repo(T0 + 400.0, &[sparse]);
    assert_eq!(
        (flags(&s), s.last_progress),
        ((true, false, 0), Some(T0 + 400.0))
    );
}

#[test]
fn blob_beside_a_live_temp_abandons_only_once_it_stops() {
    // force_download, or a second process on a broken-lock filesystem.
    let mut tr = Tracker::new(TH);
    let mut live = with(temp("a", 10, T0), Some(true), true);
    assert_eq!(
        flags(&tr.observe_repo(T0, &[live.clone()])),
        (true, false, 0)
    );
    live.size = 20;
    assert_eq!(
        flags(&tr.observe_repo(T0 + 200.0, &[live.clone()])),
        (true, false, 0)
    );
    assert_eq!(
        flags(&tr.observe_repo(T0 + 499.0, &[live.clone()])),
        (true, false, 0)
    );
    let s = tr.observe_repo(T0 + 500.0, &[live]);
    assert_eq!(
        (flags(&s), s.abandoned_bytes, s.abandoned_keys),
        ((false, false, 1), 20, vec!["a".into()])
    );
}

#[test]
fn growth_behind_a_free_lock_makes_lock_signal_untrusted_for_good() {
    let mut tr = Tracker::new(TH);
    tr.observe_repo(T0, &[with(temp("a", 0, T0), Some(false), false)]);
    assert!(tr.lock_signal_trusted(), "first sight alone proves nothing");
    tr.observe_repo(
        T0 + 30.0,
        &[with(temp("a", 5, T0 + 30.0), Some(false), false)],
    );
    assert!(!tr.lock_signal_trusted());
    // Now an idle file whose lock looks free is only stalled, not abandoned.
    let idle = with(temp("b", 1, T0 - 1_000.0), Some(false), false);
    assert_eq!(flags(&tr.observe_repo(T0 + 60.0, &[idle])), (true, true, 0));
    tr.observe_repo(
        T0 + 90.0,
        &[with(temp("a", 9, T0 + 90.0), Some(true), false)],
    );
    assert!(!tr.lock_signal_trusted(), "sticky");
}

#[test]
fn growth_with_held_or_unknown_or_just_released_lock_keeps_trust() {
    let mut tr = Tracker::new(TH);
    let a = |size, lock| with(temp("a", size, T0), lock, false);
    let b = |size, lock| with(temp("b", size, T0), lock, false);
    tr.observe_repo(T0, &[a(0, Some(true)), b(0, None)]);
    tr.observe_repo(T0 + 9.0, &[a(1, Some(true)), b(1, None)]);
    // Held (or unknown) at the last look, free now: the download may have just ended.
    tr.observe_repo(T0 + 18.0, &[a(2, Some(false)), b(2, Some(false))]);
    assert!(tr.lock_signal_trusted());
}

#[test]
fn forget_unseen_drops_history_of_vanished_files_only() {
    let mut tr = Tracker::new(TH);
    tr.observe_repo(T0, &[temp("a", 0, T0), temp("b", 0, T0)]);
    tr.observe_repo(T0 + 100.0, &[temp("a", 1, T0 + 50.0)]);
    tr.forget_unseen(T0 + 100.0);
    assert_eq!(tr.history.len(), 1);
    // "a" keeps its observed change time ...
    let s = tr.observe_repo(T0 + 200.0, &[temp("a", 1, T0 + 50.0)]);
    assert_eq!(s.last_progress, Some(T0 + 100.0));
    tr.forget_unseen(T0 + 300.0);
    assert!(tr.history.is_empty());
    // ... until forgotten: then it is judged by its mtime again.
    let s = tr.observe_repo(T0 + 400.0, &[temp("a", 1, T0 + 50.0)]);
    assert_eq!(s.last_progress, Some(T0 + 50.0));
}

#[test]
fn repo_state_combines_its_files() {
    let done = with(temp("dup", 40, T0 - 900.0), None, true);
    let (idle, live) = (temp("idle", 5, T0 - 800.0), temp("live", 10, T0 - 10.0));
    let s = classify_oneshot(T0, TH, &[done.clone(), idle.clone(), live]);
    assert_eq!((flags(&s), s.abandoned_bytes), ((true, false, 1), 40));
    assert_eq!(
        (s.abandoned_keys, s.last_progress),
        (vec!["dup".into()], Some(T0 - 10.0))
    );
    // Without the live file: still downloading (idle), now stalled.
    assert_eq!(
        flags(&classify_oneshot(T0, TH, &[done, idle])),
        (true, true, 1)
    );
    assert_eq!(classify_oneshot(T0, TH, &[]), RepoDownloadState::default());
}

/// `OneshotLocks::matters` is exact: where it says the lock does not matter, every lock value
/// gives the same one-shot verdict; where it says it does, held and free give different ones.
#[test]
fn oneshot_locks_matter_exactly_where_the_verdict_depends_on_them() {
    let filter = OneshotLocks { now: T0, th: TH };
    let ages = [
        -60.0,
        0.0,
        1.0,
        299.0,
        300.0,
        301.0,
        3_600.0,
        21_599.0,
        21_600.0,
        21_601.0,
        1e9,
        f64::NAN,
    ];
    for age in ages {
        for blob in [false, true] {
            let verdicts: Vec<_> = [None, Some(true), Some(false)]
                .into_iter()
                .map(|lock| {
                    let t = with(temp("a", 10, T0 - age), lock, blob);
                    flags(&classify_oneshot(T0, TH, &[t]))
                })
                .collect();
            let depends = verdicts[1] != verdicts[2];
            assert_eq!(
                filter.matters(T0 - age, blob),
                depends,
                "age {age}, blob {blob}"
            );
            if !depends {
                assert!(verdicts.iter().all(|v| *v == verdicts[0]), "age {age}");
            }
            // may_matter never rules out a file that matters.
            assert!(!filter.matters(T0 - age, blob) || filter.may_matter(T0 - age));
        }
    }
}
