//! A declarative builder for Hub cache trees in temp dirs, and helpers to run the real binary.
#![allow(dead_code)] // each test crate uses a different subset

pub mod scrape;
pub mod server;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_hf-cache-exporter");

/// A cache root inside a temp dir (`<tmp>/hub`), so tests can also place things outside it.
pub struct Cache {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl Cache {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("hub");
        fs::create_dir(&root).unwrap();
        Self { dir, root }
    }

    /// A repo folder, e.g. `models--org--name`.
    pub fn repo(&self, folder: &str) -> Repo {
        let path = self.root.join(folder);
        fs::create_dir_all(&path).unwrap();
        Repo { path }
    }

    /// A payload in the shared store: `<root>/blobs/<hash[..2]>/<hash>`.
    pub fn store_blob(&self, hash: &str, n: usize) -> PathBuf {
        let p = self.root.join("blobs").join(&hash[..2]).join(hash);
        write(&p, n);
        p
    }

    /// A file anywhere under the root (`.locks/...`, `version.txt`).
    pub fn file(&self, rel: &str, n: usize) -> PathBuf {
        let p = self.root.join(rel);
        write(&p, n);
        p
    }

    /// Run `scan --json` on this root and return the parsed document.
    pub fn scan(&self, extra: &[&str]) -> Value {
        let root = self.root.to_str().unwrap();
        let mut args = vec!["scan", "--json", "--cache.dir", root];
        args.extend_from_slice(extra);
        scan_json(&args)
    }
}

pub struct Repo {
    pub path: PathBuf,
}

impl Repo {
    /// `blobs/<hash>` with `n` real bytes.
    pub fn blob(&self, hash: &str, n: usize) -> &Self {
        write(&self.path.join("blobs").join(hash), n);
        self
    }

    /// `snapshots/<rev>/<path>` → `../../blobs/<hash>` with one more `../` per nested folder.
    pub fn link(&self, rev: &str, path: &str, hash: &str) -> &Self {
        let p = self.path.join("snapshots").join(rev).join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        let up = "../".repeat(path.matches('/').count() + 2);
        symlink(format!("{up}blobs/{hash}"), &p).unwrap();
        self
    }

    /// A real file in `snapshots/<rev>/<path>` (no-symlink layout).
    pub fn snap_file(&self, rev: &str, path: &str, n: usize) -> &Self {
        write(&self.path.join("snapshots").join(rev).join(path), n);
        self
    }

    /// `refs/<name>` containing `commit`.
    pub fn refs(&self, name: &str, commit: &str) -> &Self {
        let p = self.path.join("refs").join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, commit).unwrap();
        self
    }

    /// A temp download file (any name) in `blobs/`.
    pub fn temp(&self, name: &str, n: usize) -> &Self {
        self.blob(name, n)
    }

    /// `snapshots/<rev>/<path>` as a hard link of `blobs/<hash>`.
    pub fn hard_link(&self, rev: &str, path: &str, hash: &str) -> &Self {
        let p = self.path.join("snapshots").join(rev).join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::hard_link(self.path.join("blobs").join(hash), p).unwrap();
        self
    }

    /// `blobs/<hash>` → `../../blobs/<hash[..2]>/<hash>` (the shared store, two hops).
    pub fn shared(&self, hash: &str) -> &Self {
        self.blob_symlink(hash, &format!("../../blobs/{}/{hash}", &hash[..2]))
    }

    /// Any symlink directly in `blobs/`.
    pub fn blob_symlink(&self, name: &str, target: &str) -> &Self {
        let blobs = self.path.join("blobs");
        fs::create_dir_all(&blobs).unwrap();
        symlink(target, blobs.join(name)).unwrap();
        self
    }
}

/// Write `n` bytes (not sparse) at `p`, creating parents.
pub fn write(p: &Path, n: usize) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, vec![b'x'; n]).unwrap();
}

/// A 64-hex etag made from a small number, so tests read `h(1)`, `h(2)`.
pub fn h(i: u32) -> String {
    format!("{i:064x}")
}

pub fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// Run the binary, require exit 0 and parse stdout as JSON.
pub fn scan_json(args: &[&str]) -> Value {
    parse_ok(run(args), &args)
}

pub fn parse_ok(out: Output, what: &dyn std::fmt::Debug) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what:?} failed: {stderr}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what:?}: bad JSON ({e}): {stderr}"))
}

/// The first cache of a scan document.
pub fn cache(doc: &Value) -> &Value {
    &doc["caches"][0]
}

/// The repo with this model id in the first cache.
pub fn repo<'a>(doc: &'a Value, model: &str) -> &'a Value {
    cache(doc)["repos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["model"] == model)
        .unwrap_or_else(|| panic!("no repo {model} in {doc:#}"))
}

/// A scan-error count by reason (0 when absent).
pub fn errors(doc: &Value, reason: &str) -> u64 {
    cache(doc)["errors"][reason].as_u64().unwrap_or(0)
}

/// `(bytes, files, incomplete_files, revisions)` of a repo, for compact assertions.
pub fn counts(r: &Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| r[k].as_u64().unwrap();
    (
        n("bytes"),
        n("files"),
        n("incomplete_files"),
        n("revisions"),
    )
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Run with a deadline: a hang fails the test instead of stalling the suite.
pub fn run_timeout(mut cmd: Command, secs: u64) -> Output {
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{cmd:?} did not finish within {secs}s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}
