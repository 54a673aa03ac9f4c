//! When scans run. On-scrape mode: concurrent scrapes share one walk (single-flight) and a
//! result younger than `scan.min-interval` is reused. Interval mode: a background task rescans
//! and scrapes get the latest snapshot at once. Walks run on blocking threads only.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use tokio::sync::Mutex;

use crate::config::{LockProbe, ScanMode, Settings};
use crate::downloads::tracker::{OneshotLocks, RepoDownloadState, Thresholds, Tracker};
use crate::logging;
use crate::progress_api::RootTotals;
use crate::repo_ref::RepoRef;
use crate::scan::{self, CacheReport, DirMemo, Reason, RepoReport, ScanOptions, Target};
use crate::snapshot::{self, Snapshot};

pub struct Coordinator {
    settings: Arc<Settings>,
    /// Held for the whole of a walk: this is the single flight.
    state: Mutex<State>,
    latest: RwLock<Option<(Instant, Arc<Snapshot>)>>,
    ready: AtomicBool,
    adhoc: Mutex<HashMap<String, AdhocEntry>>,
    /// The whole-root view of `/download_progress`, under the same freshness rule.
    root_view: Mutex<Option<(Instant, RootTotals)>>,
}

/// An ad-hoc `/download_progress` result and when it was taken.
type AdhocEntry = (Instant, Arc<(RepoReport, RepoDownloadState)>);

struct State {
    trackers: Vec<Tracker>,
    errors_total: Vec<BTreeMap<Reason, u64>>,
    scans_total: Vec<u64>,
    /// Per cache: the directories the last scan saw, for the next incremental one.
    memos: Vec<DirMemo>,
    /// Paths already logged, so a broken file is logged once, not on every scrape.
    logged: HashSet<(Reason, PathBuf)>,
}

pub fn thresholds(s: &Settings) -> Thresholds {
    Thresholds {
        stall_after: s.stall_after.as_secs_f64(),
        abandon_after: s.abandon_after.as_secs_f64(),
    }
}

fn now() -> f64 {
    scan::unix_seconds_now()
}

impl Coordinator {
    pub fn new(settings: Arc<Settings>) -> Arc<Self> {
        let n = settings.caches.len();
        let th = thresholds(&settings);
        Arc::new(Self {
            state: Mutex::new(State {
                trackers: (0..n).map(|_| Tracker::new(th)).collect(),
                errors_total: vec![BTreeMap::new(); n],
                scans_total: vec![0; n],
                memos: (0..n).map(|_| DirMemo::default()).collect(),
                logged: HashSet::new(),
            }),
            settings,
            latest: RwLock::new(None),
            ready: AtomicBool::new(false),
            adhoc: Mutex::new(HashMap::new()),
            root_view: Mutex::new(None),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// `/readyz`: the first scan has completed.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    fn latest(&self) -> Option<(Instant, Arc<Snapshot>)> {
        self.latest
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// The snapshot a scrape should show.
    pub async fn snapshot(&self) -> Arc<Snapshot> {
        if self.settings.scan_mode == ScanMode::Interval {
            if let Some((_, s)) = self.latest() {
                return s;
            }
        }
        let arrived = Instant::now();
        let mut state = self.state.lock().await;
        if let Some((at, s)) = self.latest() {
            // Finished after we arrived (we waited for that walk) or still fresh enough.
            if at >= arrived || at.elapsed() < self.settings.scan_min_interval {
                return s;
            }
        }
        self.scan_locked(&mut state).await
    }

    /// Interval mode's loop; ends when `shutdown` resolves.
    pub async fn run_interval(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let mut tick = tokio::time::interval(self.settings.scan_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        let mut first_tick = true;
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => {
                    let mut state = self.state.lock().await;
                    // In this mode only scrapes that come before the first result walk, so a
                    // first tick that finds one needs no twin of it. "Found before the tick"
                    // is not the test: under load this task may first run after such a walk.
                    let first = std::mem::replace(&mut first_tick, false);
                    if !(first && self.latest().is_some()) {
                        self.scan_locked(&mut state).await;
                    }
                }
            }
        }
    }

    async fn scan_locked(&self, state: &mut State) -> Arc<Snapshot> {
        let settings = self.settings.clone();
        let started = now();
        let mut memos = std::mem::take(&mut state.memos);
        let reports = tokio::task::spawn_blocking(move || {
            let reports = scan_all(&settings, Some(&mut memos));
            (reports, memos)
        })
        .await;
        let reports = match reports {
            Ok((reports, memos)) => {
                state.memos = memos;
                reports
            }
            Err(e) => {
                logging::error("scan task failed", &[("err", &e)]);
                Vec::new()
            }
        };
        // After a failed task the next scan is a full one.
        state
            .memos
            .resize_with(self.settings.caches.len(), DirMemo::default);
        let force = self.settings.lock_probe == LockProbe::On;
        let mut caches = Vec::with_capacity(reports.len());
        for (i, report) in reports.into_iter().enumerate() {
            for (reason, path, detail) in &report.errors.samples {
                if state.logged.len() < 10_000 && state.logged.insert((*reason, path.clone())) {
                    logging::warn(
                        "scan error",
                        &[
                            ("cache", &report.name),
                            ("reason", &reason.as_str()),
                            ("path", &path.display()),
                            ("err", detail),
                        ],
                    );
                }
            }
            for (r, n) in &report.errors.counts {
                *state.errors_total[i].entry(*r).or_default() += n;
            }
            if report.repos_dropped > 0 {
                logging::warn(
                    "max_repos reached; discovered repos left out",
                    &[("cache", &report.name), ("dropped", &report.repos_dropped)],
                );
            }
            state.scans_total[i] += 1;
            let t = &mut state.trackers[i];
            let snap = snapshot::with_history(
                report,
                t,
                now(),
                state.errors_total[i].clone(),
                state.scans_total[i],
                force,
            );
            t.forget_unseen(started);
            logging::debug(
                "scan done",
                &[
                    ("cache", &snap.report.name),
                    ("repos", &snap.report.repos.len()),
                    ("full", &snap.report.full_scan),
                    ("reused_dirs", &snap.report.reused_dirs),
                    ("seconds", &snap.report.duration.as_secs_f64()),
                ],
            );
            caches.push(snap);
        }
        let snap = Arc::new(Snapshot { caches });
        if let Ok(mut g) = self.latest.write() {
            *g = Some((Instant::now(), snap.clone()));
        }
        self.ready.store(true, Ordering::Release);
        snap
    }

    /// `/download_progress` without a model: every regular file of the first root. A burst of
    /// polls waits on one walk, like scrapes do.
    pub async fn root_totals(&self) -> RootTotals {
        let arrived = Instant::now();
        let mut view = self.root_view.lock().await;
        if let Some((at, t)) = view.as_ref() {
            if *at >= arrived || at.elapsed() < self.settings.scan_min_interval {
                return t.clone();
            }
        }
        let root = self.settings.caches[0].path.clone();
        let th = thresholds(&self.settings);
        let now = now();
        let opts = scan_options(&self.settings);
        let t = tokio::task::spawn_blocking(move || {
            scan::root_totals(&root, th, now, &|| opts.threads())
        })
        .await
        .unwrap_or_default();
        *view = Some((Instant::now(), t.clone()));
        t
    }

    /// `/download_progress` for one repo: from the snapshot when the repo is exported, else an
    /// ad-hoc walk of just that repo under the same freshness rules (no series are added).
    pub async fn repo_state(&self, r: &RepoRef) -> (RepoReport, RepoDownloadState) {
        let folder = r.folder_name();
        let exported = self.settings.discover
            || self
                .settings
                .models
                .iter()
                .any(|m| m.folder_name() == folder);
        if exported && r.revision.is_none() {
            let snap = self.snapshot().await;
            // The first cache that has the repo, as the ad-hoc path picks it.
            let listed = snap.caches.iter().flat_map(|c| {
                let i = c.report.repos.iter().position(|x| x.folder == folder);
                i.map(|i| (c.report.repos[i].clone(), c.downloads[i].clone()))
            });
            let mut listed = listed.peekable();
            let first = listed.peek().cloned();
            if let Some(hit) = listed.find(|(x, _)| x.exists).or(first) {
                return hit;
            }
        }
        let key = r.to_string();
        let arrived = Instant::now();
        let mut adhoc = self.adhoc.lock().await;
        if let Some((at, v)) = adhoc.get(&key) {
            if *at >= arrived || at.elapsed() < self.settings.scan_min_interval {
                return (**v).clone();
            }
        }
        let settings = self.settings.clone();
        let target = Target::from(r);
        // Choosing the cache stats the disk, so it happens on the blocking thread too.
        let (cache_idx, report, errors) =
            tokio::task::spawn_blocking(move || scan_one(&settings, target))
                .await
                .unwrap_or_else(|_| (0, empty_report(r, &self.settings, 0), Default::default()));
        let mut state = self.state.lock().await;
        for (reason, n) in errors {
            *state.errors_total[cache_idx].entry(reason).or_default() += n;
        }
        let name = &self.settings.caches[cache_idx].name;
        let tracker = &mut state.trackers[cache_idx];
        // Same rule as a full scan: `auto` stops using locks once they look untrustworthy.
        let use_locks = snapshot::locks_trusted(tracker, self.settings.lock_probe == LockProbe::On);
        let obs = snapshot::observations(name, &report, use_locks);
        let dl = if obs.is_empty() {
            RepoDownloadState::default()
        } else {
            tracker.observe_repo(now(), &obs)
        };
        drop(state);
        if adhoc.len() > 1000 {
            adhoc.clear();
        }
        let v = Arc::new((report, dl));
        adhoc.insert(key, (Instant::now(), v.clone()));
        (*v).clone()
    }
}

fn scan_options(s: &Settings) -> ScanOptions {
    ScanOptions {
        lock_probe: s.lock_probe != LockProbe::Off,
        full_every: s.scan_full_every,
        threads: s.scan_threads,
        ..ScanOptions::default()
    }
}

/// Scan every configured root (blocking). With `memos` (one per cache, kept by the caller
/// between scans) unchanged directories are reused, unless `scan.full-every` is zero.
pub fn scan_all(s: &Settings, memos: Option<&mut [DirMemo]>) -> Vec<CacheReport> {
    scan_all_with(s, memos, scan_options(s))
}

/// Scan every root once for a one-shot command that judges downloads at `now`: locks are
/// looked up only for temp files whose verdict depends on them.
pub fn scan_all_oneshot(s: &Settings, now: f64) -> Vec<CacheReport> {
    let opts = ScanOptions {
        oneshot_locks: Some(OneshotLocks {
            now,
            th: thresholds(s),
        }),
        ..scan_options(s)
    };
    scan_all_with(s, None, opts)
}

fn scan_all_with(
    s: &Settings,
    mut memos: Option<&mut [DirMemo]>,
    opts: ScanOptions,
) -> Vec<CacheReport> {
    let mut out = Vec::with_capacity(s.caches.len());
    for (i, c) in s.caches.iter().enumerate() {
        let memo = match memos.as_deref_mut() {
            Some(m) if !s.scan_full_every.is_zero() => m.get_mut(i),
            _ => None,
        };
        out.push(scan::scan_cache(
            c,
            &s.models,
            s.discover,
            s.max_repos,
            opts,
            memo,
        ));
    }
    out
}

/// Scan one repo in the first cache that has its folder (the first cache if none does).
fn scan_one(s: &Settings, t: Target) -> (usize, RepoReport, BTreeMap<Reason, u64>) {
    let opts = scan_options(s);
    let idx = s
        .caches
        .iter()
        .position(|c| c.path.join(&t.folder).is_dir())
        .unwrap_or(0);
    let (r, e) = scan::scan_single(&s.caches[idx], t, opts);
    (idx, r, e.counts)
}

fn empty_report(r: &RepoRef, s: &Settings, idx: usize) -> RepoReport {
    let t = Target::from(r);
    RepoReport {
        repo_type: t.repo_type,
        path: s.caches[idx].path.join(&t.folder),
        repo_id: t.repo_id,
        folder: t.folder,
        exists: false,
        stats: Default::default(),
        temps: vec![],
        progress: None,
    }
}
