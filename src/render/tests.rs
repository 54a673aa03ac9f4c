use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::downloads::progress::Progress;
use crate::downloads::tracker::RepoDownloadState;
use crate::repo_ref::RepoType;
use crate::scan::{CacheReport, ErrorTally, FsStats, RepoStats};

fn repo(id: &str, exists: bool, bytes: u64) -> RepoReport {
    RepoReport {
        repo_type: RepoType::Model,
        repo_id: id.into(),
        folder: format!("models--{}", id.replace('/', "--")),
        path: PathBuf::from("/c"),
        exists,
        stats: RepoStats {
            bytes,
            allocated_bytes: 4096,
            files: 2,
            incomplete_files: 1,
            incomplete_bytes: 10,
            revisions: 1,
            last_modified: Some(1700000000.5),
        },
        temps: vec![],
        progress: None,
    }
}

pub(crate) fn snapshot() -> Arc<Snapshot> {
    let mut with_tree = repo("acme/tiny", true, 1234);
    with_tree.progress = Some(Progress {
        expected_bytes: 2000,
        done_bytes: 1000,
        ratio: 0.5,
    });
    let mut errors = BTreeMap::new();
    errors.insert(Reason::PermissionDenied, 3);
    let report = CacheReport {
        name: "main".into(),
        path: PathBuf::from("/c"),
        exists: true,
        repos_found: 1,
        repos_dropped: 0,
        fs: Some(FsStats {
            avail_bytes: 100,
            size_bytes: 200,
        }),
        duration: Duration::from_millis(250),
        finished_at: 1700000100.0,
        errors: ErrorTally::default(),
        lock_probe_ran: true,
        full_scan: true,
        reused_dirs: 0,
        repos: vec![with_tree, repo("acme/absent", false, 0)],
    };
    let active = RepoDownloadState {
        active: true,
        last_progress: Some(1700000050.0),
        ..Default::default()
    };
    Arc::new(Snapshot {
        caches: vec![CacheSnap {
            report,
            downloads: vec![active, RepoDownloadState::default()],
            errors_total: errors,
            scans_total: 7,
            lock_probe_enabled: true,
        }],
    })
}

pub(crate) fn meta() -> Meta {
    Meta {
        version: "1.2.3".into(),
        revision: "abc".into(),
        rustc_version: "1.95.0".into(),
        ..Meta::default()
    }
}

fn samples(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with('#')).collect()
}

#[test]
fn prometheus_text_has_every_contract_series() {
    let text = render(snapshot(), meta(), Format::PrometheusText);
    let s = samples(&text);
    for want in [
        r#"hf_cache_bytes{cache="main",model="acme/tiny",repo_type="model"} 1234"#,
        r#"hf_cache_bytes{cache="main",model="acme/absent",repo_type="model"} 0"#,
        r#"hf_cache_exists{cache="main",model="acme/absent",repo_type="model"} 0"#,
        r#"hf_cache_expected_bytes{cache="main",model="acme/tiny",repo_type="model"} 2000"#,
        r#"hf_cache_download_progress_ratio{cache="main",model="acme/tiny",repo_type="model"} 0.5"#,
        r#"hf_cache_download_active{cache="main",model="acme/tiny",repo_type="model"} 1"#,
        r#"hf_cache_download_last_progress_timestamp_seconds{cache="main",model="acme/tiny",repo_type="model"} 1700000050"#,
        r#"hf_cache_last_modified_timestamp_seconds{cache="main",model="acme/tiny",repo_type="model"} 1700000000.5"#,
        r#"hf_cache_root_exists{cache="main"} 1"#,
        r#"hf_cache_filesystem_avail_bytes{cache="main"} 100"#,
        r#"hf_cache_scan_duration_seconds{cache="main"} 0.25"#,
        r#"hf_cache_scan_success{cache="main"} 1"#,
        r#"hf_cache_scan_errors_total{cache="main",reason="permission_denied"} 3"#,
        r#"hf_cache_scan_errors_total{cache="main",reason="loop"} 0"#,
        r#"hf_cache_scans_total{cache="main"} 7"#,
        r#"hf_cache_lock_probe_enabled{cache="main"} 1"#,
        r#"hf_cache_exporter_build_info{version="1.2.3",revision="abc",rustc_version="1.95.0"} 1"#,
    ] {
        assert!(s.contains(&want), "missing {want}\n{text}");
    }
    assert!(text.contains("# TYPE hf_cache_bytes gauge"), "{text}");
    assert!(
        !s.iter()
            .any(|l| l.starts_with("hf_cache_expected_bytes{cache=\"main\",model=\"acme/absent\"")),
        "no tree → no series"
    );
    assert!(!s.iter().any(|l| l.starts_with(
        "hf_cache_download_last_progress_timestamp_seconds{cache=\"main\",model=\"acme/absent\""
    )));
    assert!(!text.contains("process_"), "no process stats given");
    assert!(!text.contains("# EOF"));
}

#[test]
fn openmetrics_ends_with_eof_and_names_counters() {
    let text = render(snapshot(), meta(), Format::OpenMetrics);
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(
        text.contains("# TYPE hf_cache_scan_errors counter"),
        "{text}"
    );
    assert!(
        text.contains(r#"hf_cache_scan_errors_total{cache="main",reason="permission_denied"} 3"#)
    );
}

#[test]
fn label_values_are_escaped() {
    let snap = snapshot();
    let mut s = (*snap).clone();
    s.caches[0].report.name = "a\"b\\c\nd".into();
    let text = render(Arc::new(s), meta(), Format::PrometheusText);
    assert!(
        text.contains(r#"hf_cache_root_exists{cache="a\"b\\c\nd"} 1"#),
        "{text}"
    );
}

#[test]
fn process_metrics_when_given() {
    let mut m = meta();
    m.process = Some(ProcessStats {
        cpu_seconds_total: 1.5,
        resident_memory_bytes: 10,
        max_fds: Some(1024),
        ..Default::default()
    });
    let text = render(snapshot(), m, Format::PrometheusText);
    assert!(text.contains("process_cpu_seconds_total 1.5"), "{text}");
    assert!(text.contains("process_max_fds 1024"));
    assert!(text.contains("process_resident_memory_bytes 10"));
}

#[test]
fn families_then_tail_is_the_whole_scrape() {
    let mut m = meta();
    m.help_suffix = " Cached.".into();
    m.process = Some(ProcessStats {
        cpu_seconds_total: 2.25,
        threads: 3,
        ..Default::default()
    });
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let whole = render(snapshot(), m.clone(), format);
        let head = families(snapshot(), &m, format);
        assert!(
            !head.contains("process_") && !head.contains("# EOF"),
            "{head}"
        );
        assert!(head.contains("# HELP hf_cache_bytes ") && head.contains(" Cached.\n"));
        let tail = tail(m.process.as_ref(), format);
        assert!(tail.starts_with("# HELP process_cpu_seconds"), "{tail}");
        assert_eq!(whole, format!("{head}{tail}"), "{format:?}");
    }
    assert_eq!(tail(None, Format::PrometheusText), "");
    assert_eq!(tail(None, Format::OpenMetrics), "# EOF\n");
}
