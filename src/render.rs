//! Snapshot → exposition text, through prometheus-client's `Collector` with const metrics, so
//! each scrape shows exactly the current snapshot: no long-lived series, nothing stale. The text
//! comes in two parts so the server can cache the first: [`families`] (per snapshot) and
//! [`tail`] (per scrape: `process_*` and the OpenMetrics `# EOF`).

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::accept::Format;
use crate::process::ProcessStats;
use crate::scan::{Reason, RepoReport};
use crate::snapshot::{CacheSnap, Snapshot};

/// Everything besides the snapshot that a scrape shows.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub version: String,
    pub revision: String,
    pub rustc_version: String,
    /// Appended to per-repo HELP texts, e.g. in interval mode where values are cached.
    pub help_suffix: String,
    pub process: Option<ProcessStats>,
}

impl Meta {
    /// Build facts baked in by `build.rs`.
    pub fn from_build() -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").into(),
            revision: env!("HFCE_GIT_REVISION").into(),
            rustc_version: env!("HFCE_RUSTC_VERSION").into(),
            ..Self::default()
        }
    }
}

const REASONS: [Reason; 7] = [
    Reason::PermissionDenied,
    Reason::BrokenSymlink,
    Reason::Loop,
    Reason::NotADirectory,
    Reason::NonUtf8Name,
    Reason::BadTree,
    Reason::Io,
];

/// Render a whole scrape in the negotiated format: [`families`] then [`tail`]. Infallible in
/// practice: writing to a `String` only fails if a label value cannot be encoded, and then the
/// scrape gets what was written so far.
pub fn render(snap: Arc<Snapshot>, meta: Meta, format: Format) -> String {
    let mut out = families(snap, &meta, format);
    out.push_str(&tail(meta.process.as_ref(), format));
    out
}

/// Every family that depends only on the snapshot and build facts (all `hf_cache_*`), without
/// `meta.process` and without the OpenMetrics `# EOF`. The server renders this once per snapshot
/// and format and shares it between scrapes; [`render`] is exactly this followed by [`tail`].
pub fn families(snap: Arc<Snapshot>, meta: &Meta, format: Format) -> String {
    let meta = Meta {
        process: None,
        ..meta.clone()
    };
    encode(Box::new(SnapCollector { snap, meta }), format)
}

/// What changes on every scrape: the `process_*` families (when given) and, for OpenMetrics,
/// the closing `# EOF`.
pub fn tail(process: Option<&ProcessStats>, format: Format) -> String {
    let mut out = match process {
        Some(p) => encode(Box::new(process::ProcessCollector(p.clone())), format),
        None => String::new(),
    };
    if format == Format::OpenMetrics {
        let _ = prometheus_client::encoding::text::encode_eof(&mut out);
    }
    out
}

/// One collector's families, with no end-of-exposition marker, so parts can be concatenated.
fn encode(collector: Box<dyn Collector>, format: Format) -> String {
    let mut registry = Registry::default();
    registry.register_collector(collector);
    let mut out = String::new();
    let _ = match format {
        Format::PrometheusText => {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
        }
        Format::OpenMetrics => {
            prometheus_client::encoding::text::encode_registry(&mut out, &registry)
        }
    };
    out
}

#[derive(Debug)]
struct SnapCollector {
    snap: Arc<Snapshot>,
    meta: Meta,
}

type Labels<'a> = Vec<(&'static str, &'a str)>;

/// A per-repo gauge: name, help, and how to read its value (None = no sample).
type RepoGauge = (
    &'static str,
    &'static str,
    fn(&RepoReport, &crate::downloads::tracker::RepoDownloadState) -> Option<f64>,
);

const REPO_GAUGES: &[RepoGauge] = &[
    (
        "hf_cache_bytes",
        "Apparent size (st_size) of the repo's blobs and snapshot files, temp download files included; each inode once.",
        |r, _| Some(r.stats.bytes as f64),
    ),
    (
        "hf_cache_allocated_bytes",
        "Allocated disk bytes (st_blocks*512) of the same files as hf_cache_bytes.",
        |r, _| Some(r.stats.allocated_bytes as f64),
    ),
    (
        "hf_cache_files",
        "Content files of the repo (blobs, snapshot files, shared-store targets), temp download files excluded.",
        |r, _| Some(r.stats.files as f64),
    ),
    (
        "hf_cache_incomplete_files",
        "Temp download files (*.incomplete, *.part, *.sync.part) in the repo's blobs folder.",
        |r, _| Some(r.stats.incomplete_files as f64),
    ),
    (
        "hf_cache_incomplete_bytes",
        "Apparent bytes of the repo's temp download files.",
        |r, _| Some(r.stats.incomplete_bytes as f64),
    ),
    (
        "hf_cache_exists",
        "1 if the repo folder exists in the cache, else 0.",
        |r, _| Some(if r.exists { 1.0 } else { 0.0 }),
    ),
    (
        "hf_cache_revisions",
        "Snapshot folders (revisions) of the repo.",
        |r, _| Some(r.stats.revisions as f64),
    ),
    (
        "hf_cache_last_modified_timestamp_seconds",
        "Newest mtime among the repo's content and temp files (0 if none).",
        |r, _| Some(r.stats.last_modified.unwrap_or(0.0)),
    ),
    (
        "hf_cache_expected_bytes",
        "Bytes of the revision per trees/<commit>.json (all files of the commit, so an allow_patterns download stays below it).",
        |r, _| r.progress.map(|p| p.expected_bytes as f64),
    ),
    (
        "hf_cache_download_progress_ratio",
        "Completed plus in-progress bytes of the revision's files over hf_cache_expected_bytes (0..1).",
        |r, _| r.progress.map(|p| p.ratio),
    ),
    (
        "hf_cache_download_active",
        "1 if the repo has a temp download file that is not abandoned.",
        |_, d| Some(if d.active { 1.0 } else { 0.0 }),
    ),
    (
        "hf_cache_download_stalled",
        "1 if the repo is downloading but no temp file changed for downloads.stall_after.",
        |_, d| Some(if d.stalled { 1.0 } else { 0.0 }),
    ),
    (
        "hf_cache_download_last_progress_timestamp_seconds",
        "Last time one of the repo's temp files grew or changed (present while it has temp files).",
        |_, d| d.last_progress,
    ),
    (
        "hf_cache_abandoned_files",
        "Temp download files no client will finish (blob already present, lock free and idle, or idle past downloads.abandon_after).",
        |_, d| Some(d.abandoned_files as f64),
    ),
    (
        "hf_cache_abandoned_bytes",
        "Apparent bytes of abandoned temp download files.",
        |_, d| Some(d.abandoned_bytes as f64),
    ),
];

impl Collector for SnapCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let caches = &self.snap.caches;
        for (name, help, value) in REPO_GAUGES {
            let help = format!("{help}{}", self.meta.help_suffix);
            let mut fam = enc.encode_descriptor(name, &help, None, MetricType::Gauge)?;
            for c in caches {
                for (r, d) in c.report.repos.iter().zip(&c.downloads) {
                    if let Some(v) = value(r, d) {
                        let labels: Labels = vec![
                            ("cache", &c.report.name),
                            ("model", &r.repo_id),
                            ("repo_type", r.repo_type.as_str()),
                        ];
                        gauge(v, fam.encode_family(&labels)?)?;
                    }
                }
            }
        }
        cache_gauges(&mut enc, caches)?;
        let mut fam = enc.encode_descriptor("hf_cache_scan_errors", "Errors met while scanning the cache root, by reason; vanished files are races, not errors.", None, MetricType::Counter)?;
        for c in caches {
            for reason in REASONS {
                let n = c.errors_total.get(&reason).copied().unwrap_or(0);
                let labels: Labels = vec![("cache", &c.report.name), ("reason", reason.as_str())];
                ConstCounter::new(n).encode(fam.encode_family(&labels)?)?;
            }
        }
        let mut fam = enc.encode_descriptor(
            "hf_cache_scans",
            "Walks of the cache root since start (concurrent scrapes share one walk).",
            None,
            MetricType::Counter,
        )?;
        for c in caches {
            ConstCounter::new(c.scans_total)
                .encode(fam.encode_family(&vec![("cache", c.report.name.as_str())])?)?;
        }
        let m = &self.meta;
        let labels: Labels = vec![
            ("version", &m.version),
            ("revision", &m.revision),
            ("rustc_version", &m.rustc_version),
        ];
        let mut fam = enc.encode_descriptor(
            "hf_cache_exporter_build_info",
            "Build facts of the exporter; always 1.",
            None,
            MetricType::Gauge,
        )?;
        gauge(1.0, fam.encode_family(&labels)?)
    }
}

/// Whole numbers print as integers (`1234`, not `1234.0`) so byte counts read naturally.
fn gauge(v: f64, enc: prometheus_client::encoding::MetricEncoder) -> Result<(), std::fmt::Error> {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        ConstGauge::new(v as i64).encode(enc)
    } else {
        ConstGauge::new(v).encode(enc)
    }
}

type CacheGauge = (&'static str, &'static str, fn(&CacheSnap) -> Option<f64>);

const CACHE_GAUGES: &[CacheGauge] = &[
    (
        "hf_cache_root_exists",
        "1 if the cache root exists (a missing root is a state, not an error).",
        |c| Some(if c.report.exists { 1.0 } else { 0.0 }),
    ),
    (
        "hf_cache_repos",
        "Repo folders found in the cache root.",
        |c| Some(c.report.repos_found as f64),
    ),
    (
        "hf_cache_repos_dropped",
        "Discovered repos not exported because of max_repos.",
        |c| Some(c.report.repos_dropped as f64),
    ),
    (
        "hf_cache_filesystem_avail_bytes",
        "Bytes available to unprivileged users on the cache root's filesystem (statvfs f_bavail).",
        |c| c.report.fs.map(|f| f.avail_bytes as f64),
    ),
    (
        "hf_cache_filesystem_size_bytes",
        "Size of the cache root's filesystem (statvfs).",
        |c| c.report.fs.map(|f| f.size_bytes as f64),
    ),
    (
        "hf_cache_scan_duration_seconds",
        "Duration of the last scan of the cache root.",
        |c| Some(c.report.duration.as_secs_f64()),
    ),
    (
        "hf_cache_scan_success",
        "1 if the last scan of the cache root met no errors.",
        |c| {
            Some(if c.report.errors.total() == 0 {
                1.0
            } else {
                0.0
            })
        },
    ),
    (
        "hf_cache_last_scan_timestamp_seconds",
        "End time of the last scan of the cache root.",
        |c| Some(c.report.finished_at),
    ),
    (
        "hf_cache_lock_probe_enabled",
        "1 if download liveness uses lock files seen in /proc/locks (downloads.lock_probe, and the signal looks trustworthy).",
        |c| Some(if c.lock_probe_enabled { 1.0 } else { 0.0 }),
    ),
];

fn cache_gauges(enc: &mut DescriptorEncoder, caches: &[CacheSnap]) -> Result<(), std::fmt::Error> {
    for (name, help, value) in CACHE_GAUGES {
        let mut fam = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for c in caches {
            if let Some(v) = value(c) {
                gauge(
                    v,
                    fam.encode_family(&vec![("cache", c.report.name.as_str())])?,
                )?;
            }
        }
    }
    Ok(())
}

mod process;

#[cfg(test)]
pub(crate) mod tests;
