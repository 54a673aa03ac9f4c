//! Rendering one scrape: a snapshot of 1000 repos to Prometheus text 0.0.4 and to OpenMetrics,
//! the work every `/metrics` request does once the scan is done. The snapshot comes from a real
//! scan of a generated cache (through the public scan API), so the bench follows whatever the
//! scan reports without building its structs by hand.

use std::fs;
use std::hint::black_box;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hf_cache_exporter::accept::Format;
use hf_cache_exporter::config::CacheSpec;
use hf_cache_exporter::downloads::tracker::Thresholds;
use hf_cache_exporter::render::{Meta, render};
use hf_cache_exporter::scan::{ScanOptions, scan_cache, unix_seconds_now};
use hf_cache_exporter::snapshot::{Snapshot, oneshot};

const REPOS: usize = 1000;

/// 1000 repo folders: a blob and a snapshot link each; every tenth also a tree file and a temp
/// file, so the progress and download series are rendered too.
fn build_cache(root: &Path) {
    for i in 0..REPOS {
        let repo = root.join(format!("models--org{}--model-{i:04}", i % 37));
        let etag = format!("{i:064x}");
        let commit = format!("{i:040x}");
        fs::create_dir_all(repo.join("blobs")).unwrap();
        fs::create_dir_all(repo.join("snapshots").join(&commit)).unwrap();
        fs::create_dir_all(repo.join("refs")).unwrap();
        fs::write(repo.join("blobs").join(&etag), vec![0u8; 64 + i]).unwrap();
        let link = repo
            .join("snapshots")
            .join(&commit)
            .join("model.safetensors");
        symlink(format!("../../blobs/{etag}"), link).unwrap();
        fs::write(repo.join("refs/main"), &commit).unwrap();
        if i % 10 == 0 {
            let pending = format!("{:064x}", i + 1_000_000);
            fs::write(
                repo.join("blobs")
                    .join(format!("{pending}.0badcafe.incomplete")),
                vec![0u8; 32],
            )
            .unwrap();
            fs::create_dir_all(repo.join("trees")).unwrap();
            let tree = format!(
                r#"{{"format_version": 1, "files": {{"model.safetensors": {{"size": {}, "blob_id": "{}"}}, "extra.bin": {{"size": 100, "blob_id": "{pending}"}}}}}}"#,
                64 + i,
                etag
            );
            fs::write(repo.join("trees").join(format!("{commit}.json")), tree).unwrap();
        }
    }
}

fn bench_render(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("hub");
    build_cache(&root);
    let spec = CacheSpec {
        name: root.display().to_string(),
        path: root.clone(),
    };
    let report = scan_cache(&spec, &[], true, REPOS, ScanOptions::default(), None);
    assert_eq!(
        report.repos.len(),
        REPOS,
        "the generated cache scans to 1000 repos"
    );
    let th = Thresholds {
        stall_after: 300.0,
        abandon_after: 6.0 * 3600.0,
    };
    let snap = Arc::new(Snapshot {
        caches: vec![oneshot(report, th, unix_seconds_now())],
    });
    let meta = Meta::from_build();

    let mut g = c.benchmark_group("render_1000_repos");
    g.throughput(Throughput::Elements(REPOS as u64));
    for (name, format) in [
        ("prometheus_text", Format::PrometheusText),
        ("openmetrics", Format::OpenMetrics),
    ] {
        let text = render(snap.clone(), meta.clone(), format);
        assert!(
            text.contains("hf_cache_bytes{"),
            "{name} output has repo series"
        );
        g.bench_function(name, |b| {
            b.iter(|| render(black_box(snap.clone()), meta.clone(), format))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_render);
criterion_main!(benches);
