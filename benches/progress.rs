//! Progress sums of one revision from its tree listing: parsing a tree file and arranging the
//! listing (once per tree file) and the sums a scan computes for every repo with a `trees/<commit>.json` after
//! the walk. The shape is a dataset's: 5,000 files under
//! long shared path prefixes, 64-hex etags, every blob present.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hf_cache_exporter::downloads::progress::{Found, Revision, progress};
use hf_cache_exporter::downloads::tree::{TreeEntry, parse_tree};

const FILES: u64 = 5000;

fn entries() -> Vec<TreeEntry> {
    (0..FILES)
        .map(|i| {
            let path = format!("data/train/{:04}/{i:07}.parquet", i / 100);
            // Differing from the first character on, as sha256 etags do, and not in path order.
            let etag = format!(
                "{:016x}",
                i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            )
            .repeat(4);
            TreeEntry::new(&path, &etag, 800_000 + i)
        })
        .collect()
}

/// `trees/<commit>.json` as `huggingface_hub` writes it (`json.dump`, sorted keys, LFS files).
fn tree_json(entries: &[TreeEntry]) -> String {
    let files: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                r#""{}": {{"blob_id": "{}", "lfs_sha256": "{}", "lfs_size": {}, "size": 134, "xet_hash": "{}"}}"#,
                e.path(),
                &e.etag()[..40],
                e.etag(),
                e.size,
                e.etag()
            )
        })
        .collect();
    format!(
        r#"{{"files": {{{}}}, "format_version": 1}}"#,
        files.join(", ")
    )
}

fn bench_progress(c: &mut Criterion) {
    let entries = entries();
    let mut blobs: Vec<&str> = entries.iter().map(TreeEntry::etag).collect();
    blobs.sort_unstable();
    let found = Found {
        blobs: &blobs,
        paths: &[],
    };
    let temps = HashMap::new();
    let mut g = c.benchmark_group("progress");
    g.throughput(Throughput::Elements(FILES));
    // Once per tree file in a one-shot scan, beside the walk: the writer's layout and key order.
    let json = tree_json(&entries);
    g.bench_function("parse_5000_file_tree", |b| {
        b.iter(|| parse_tree(black_box(&json)).expect("valid tree"))
    });
    // Once per parsed tree file, beside the walk (and reused while the file is unchanged).
    g.bench_function("arrange_5000_files", |b| {
        b.iter_batched(
            || entries.clone(),
            |e| Revision::new(black_box(e)),
            BatchSize::LargeInput,
        )
    });
    // Once per scan and repo, after the walk.
    let rev = Revision::new(entries.clone());
    g.bench_function("5000_files_all_present", |b| {
        b.iter(|| progress(black_box(&rev), &found, &temps))
    });
    g.finish();
}

criterion_group!(benches, bench_progress);
criterion_main!(benches);
