//! The JSON shape of `GET /download_progress`, kept field-for-field compatible with the Python
//! endpoint web frontends already poll, plus the new fields. Pure: built from scan facts.

use serde_json::{Value, json};

use crate::downloads::tracker::RepoDownloadState;
use crate::scan::RepoReport;

/// One repo. `model_name` is echoed exactly as the caller sent it.
pub fn repo_json(model_name: &str, r: &RepoReport, d: &RepoDownloadState) -> Value {
    json!({
        "downloading": d.active,
        "total_size": r.stats.bytes,
        "incomplete_count": r.stats.incomplete_files,
        "model_name": model_name,
        "cache_path": r.path.display().to_string(),
        "cache_exists": r.exists,
        "total_mb": total_mb(r.stats.bytes),
        "repo_type": r.repo_type.as_str(),
        "repo_id": r.repo_id,
        "incomplete_bytes": r.stats.incomplete_bytes,
        "expected_bytes": r.progress.map(|p| p.expected_bytes),
        "progress": r.progress.map(|p| p.ratio),
        "stalled": d.stalled,
        "abandoned_count": d.abandoned_files,
        "last_progress": d.last_progress,
    })
}

/// The whole cache root (empty `model_name`): every regular file under it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RootTotals {
    pub path: String,
    pub exists: bool,
    pub bytes: u64,
    pub incomplete_files: u64,
    pub incomplete_bytes: u64,
    pub downloading: bool,
    pub abandoned_files: u64,
}

pub fn root_json(model_name: &str, t: &RootTotals) -> Value {
    json!({
        "downloading": t.downloading,
        "total_size": t.bytes,
        "incomplete_count": t.incomplete_files,
        "model_name": model_name,
        "cache_path": t.path,
        "cache_exists": t.exists,
        "total_mb": total_mb(t.bytes),
        "repo_type": Value::Null,
        "repo_id": Value::Null,
        "incomplete_bytes": t.incomplete_bytes,
        "expected_bytes": Value::Null,
        "progress": Value::Null,
        "stalled": false,
        "abandoned_count": t.abandoned_files,
        "last_progress": Value::Null,
    })
}

pub fn error_json(message: &str) -> Value {
    json!({ "error": message })
}

/// MiB with one decimal, as the old endpoint computed `round(total / 1024 / 1024, 1)`.
pub fn total_mb(bytes: u64) -> f64 {
    (bytes as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::downloads::progress::Progress;
    use crate::repo_ref::RepoType;
    use crate::scan::RepoStats;

    fn report() -> RepoReport {
        RepoReport {
            repo_type: RepoType::Model,
            repo_id: "BAAI/bge-small-en-v1.5".into(),
            folder: "models--BAAI--bge-small-en-v1.5".into(),
            path: "/c/models--BAAI--bge-small-en-v1.5".into(),
            exists: true,
            stats: RepoStats {
                bytes: 3 * 1024 * 1024 + 52429,
                incomplete_files: 1,
                incomplete_bytes: 7,
                ..Default::default()
            },
            temps: vec![],
            progress: Some(Progress {
                expected_bytes: 10,
                done_bytes: 5,
                ratio: 0.5,
            }),
        }
    }

    #[test]
    fn seed_fields_and_new_fields() {
        let d = RepoDownloadState {
            active: true,
            stalled: true,
            last_progress: Some(12.5),
            abandoned_files: 2,
            ..Default::default()
        };
        let v = repo_json("BAAI/bge-small-en-v1.5", &report(), &d);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = vec![
            "abandoned_count",
            "cache_exists",
            "cache_path",
            "downloading",
            "expected_bytes",
            "incomplete_bytes",
            "incomplete_count",
            "last_progress",
            "model_name",
            "progress",
            "repo_id",
            "repo_type",
            "stalled",
            "total_mb",
            "total_size",
        ];
        want.sort_unstable();
        let mut got = keys.clone();
        got.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(v["downloading"], true);
        assert_eq!(v["total_size"], 3 * 1024 * 1024 + 52429);
        assert_eq!(v["total_mb"], 3.1);
        assert_eq!(v["progress"], 0.5);
        assert_eq!(v["expected_bytes"], 10);
        assert_eq!(v["stalled"], true);
        assert_eq!(v["abandoned_count"], 2);
        assert_eq!(v["last_progress"], 12.5);
        assert_eq!(v["cache_path"], "/c/models--BAAI--bge-small-en-v1.5");
    }

    #[test]
    fn unknowns_are_null_not_made_up() {
        let mut r = report();
        r.progress = None;
        let v = repo_json("x", &r, &RepoDownloadState::default());
        assert!(
            v["progress"].is_null()
                && v["expected_bytes"].is_null()
                && v["last_progress"].is_null()
        );
        assert_eq!(v["downloading"], false);
    }

    #[test]
    fn total_mb_rounds_to_one_decimal() {
        assert_eq!(total_mb(0), 0.0);
        assert_eq!(total_mb(1024 * 1024), 1.0);
        assert_eq!(total_mb(1024 * 1024 + 104_858), 1.1);
    }
}
