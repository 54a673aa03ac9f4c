//! One-shot commands: `scan` (a table like `hf cache ls`, or JSON) and `textfile` (Prometheus
//! text written atomically for node_exporter's textfile collector).

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

use crate::snapshot::Snapshot;

/// The `scan --json` document (shape documented in the README).
pub fn json(snap: &Snapshot) -> Value {
    let caches: Vec<Value> = snap
        .caches
        .iter()
        .map(|c| {
            let r = &c.report;
            let errors: serde_json::Map<String, Value> = r
                .errors
                .counts
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), json!(v)))
                .collect();
            let repos: Vec<Value> = r
                .repos
                .iter()
                .zip(&c.downloads)
                .map(|(x, d)| {
                    json!({
                        "model": x.repo_id,
                        "repo_type": x.repo_type.as_str(),
                        "folder": x.folder,
                        "path": x.path.display().to_string(),
                        "exists": x.exists,
                        "bytes": x.stats.bytes,
                        "allocated_bytes": x.stats.allocated_bytes,
                        "files": x.stats.files,
                        "incomplete_files": x.stats.incomplete_files,
                        "incomplete_bytes": x.stats.incomplete_bytes,
                        "revisions": x.stats.revisions,
                        "last_modified": x.stats.last_modified,
                        "expected_bytes": x.progress.map(|p| p.expected_bytes),
                        "progress": x.progress.map(|p| p.ratio),
                        "downloading": d.active,
                        "stalled": d.stalled,
                        "abandoned_files": d.abandoned_files,
                        "abandoned_bytes": d.abandoned_bytes,
                    })
                })
                .collect();
            json!({
                "cache": r.name,
                "path": r.path.display().to_string(),
                "exists": r.exists,
                "repos_found": r.repos_found,
                "repos_dropped": r.repos_dropped,
                "scan_duration_seconds": r.duration.as_secs_f64(),
                "success": r.errors.total() == 0,
                "errors": errors,
                "repos": repos,
            })
        })
        .collect();
    json!({ "caches": caches })
}

/// A human table: one row per repo, sizes in human units.
pub fn table(snap: &Snapshot) -> String {
    let mut out = String::new();
    for c in &snap.caches {
        let r = &c.report;
        let state = if r.exists { "" } else { " (does not exist)" };
        out.push_str(&format!("cache {} ({}){state}\n", r.name, r.path.display()));
        out.push_str(&format!(
            "{:<48} {:<8} {:>10} {:>7} {:>5} {:>10} {:>9}  {}\n",
            "REPO ID", "TYPE", "SIZE", "FILES", "REVS", "INCOMPLETE", "PROGRESS", "STATE"
        ));
        for (x, d) in r.repos.iter().zip(&c.downloads) {
            let progress = x
                .progress
                .map_or_else(|| "-".to_owned(), |p| format!("{:.1}%", p.ratio * 100.0));
            let state = match (x.exists, d.active, d.stalled, d.abandoned_files) {
                (false, ..) => "missing".to_owned(),
                (_, true, true, _) => "stalled".to_owned(),
                (_, true, false, _) => "downloading".to_owned(),
                (_, false, _, n) if n > 0 => format!("{n} abandoned"),
                _ => "ok".to_owned(),
            };
            out.push_str(&format!(
                "{:<48} {:<8} {:>10} {:>7} {:>5} {:>10} {:>9}  {state}\n",
                x.repo_id,
                x.repo_type.as_str(),
                human(x.stats.bytes),
                x.stats.files,
                x.stats.revisions,
                x.stats.incomplete_files,
                progress
            ));
        }
        let total: u64 = r.repos.iter().map(|x| x.stats.bytes).sum();
        out.push_str(&format!(
            "{} repos, {} in {:.3}s, {} scan errors\n",
            r.repos.len(),
            human(total),
            r.duration.as_secs_f64(),
            r.errors.total()
        ));
    }
    out
}

/// `1.2G`-style sizes, like `hf cache ls`.
pub fn human(bytes: u64) -> String {
    let units = ["B", "K", "M", "G", "T", "P"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.1}{}", units[i])
    }
}

/// Write `text` to `path` via a temp file in the same directory and a rename, so node_exporter
/// never reads a half-written file. This writes only the output file, never the cache.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("output path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(999), "999B");
        assert_eq!(human(3_145_871), "3.1M");
        assert_eq!(human(16_100_000_000), "16.1G");
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.prom");
        write_atomic(&p, "a 1\n").unwrap();
        write_atomic(&p, "b 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "b 2\n");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left behind"
        );
        assert!(write_atomic(&dir.path().join("missing/x.prom"), "c").is_err());
    }
}
