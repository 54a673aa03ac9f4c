//! The whole-root view for `/download_progress` without a model: every regular file under the
//! root (symlinks skipped, so nothing is counted twice), and its temp download files.

use std::path::Path;

use walkdir::WalkDir;

use super::summary::FileFacts;
use crate::blob_name::{self, BlobName};
use crate::downloads::tracker::{self, TempObservation, Thresholds};
use crate::progress_api::RootTotals;

pub fn root_totals(root: &Path, th: Thresholds, now: f64) -> RootTotals {
    let mut t = RootTotals {
        path: root.display().to_string(),
        exists: root.is_dir(),
        ..RootTotals::default()
    };
    if !t.exists {
        return t;
    }
    let mut temps = Vec::new();
    for entry in WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .into_iter()
        .flatten()
    {
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        t.bytes += meta.len();
        let in_blobs = entry
            .path()
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n == "blobs");
        let name = entry.file_name().to_str().unwrap_or_default();
        if let (true, BlobName::Temp { etag, .. }) = (in_blobs, blob_name::classify(name)) {
            t.incomplete_files += 1;
            t.incomplete_bytes += meta.len();
            let blob_exists = entry.path().with_file_name(etag).symlink_metadata().is_ok();
            let f = FileFacts::from_metadata(&meta);
            temps.push(TempObservation {
                key: entry.path().display().to_string(),
                etag: etag.to_owned(),
                size: f.size,
                allocated: f.allocated,
                mtime: f.mtime,
                lock_held: None,
                blob_exists,
            });
        }
    }
    let state = tracker::classify_oneshot(now, th, &temps);
    t.downloading = state.active;
    t.abandoned_files = state.abandoned_files;
    t
}
