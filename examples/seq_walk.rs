//! The 1.00 reference of `bench/compare.sh`: the plain sequential way to get per-repo byte totals
//! of a Hub cache, with no tuning. For each repo folder it walks `blobs/` and `snapshots/` with
//! walkdir (symlinks not followed), lstats every regular file found by its entry type and sums
//! `st_size`; symlinks are skipped. Prints `<folder>\t<bytes>` per repo.
//!
//! `cargo run --release --example seq_walk -- CACHE_ROOT`

use std::path::Path;

use walkdir::WalkDir;

mod common;

fn main() {
    let Some(root) = std::env::args_os().nth(1) else {
        eprintln!("usage: seq_walk CACHE_ROOT");
        std::process::exit(2);
    };
    let root = Path::new(&root);
    let folders = common::repo_folders("seq_walk", root);
    for folder in folders {
        let mut bytes = 0u64;
        for sub in ["blobs", "snapshots"] {
            let walk = WalkDir::new(root.join(&folder).join(sub)).follow_links(false);
            for entry in walk.into_iter().flatten() {
                if entry.file_type().is_file() {
                    bytes += entry.metadata().map_or(0, |m| m.len());
                }
            }
        }
        println!("{}\t{bytes}", folder.to_string_lossy());
    }
}
