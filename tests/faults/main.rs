//! Fault catalogue: every way a cache can be odd, each built as a real tree in a temp dir and
//! run through the real binary. Each case also holds three healthy repos ([`healthy`]) and
//! asserts their exact numbers, so a fault is shown to stay local; scan errors are asserted by
//! reason, exactly ([`assert_errors`]). Zero crashes: every run has a deadline and must exit 0.
//!
//! Healthy repos in every case: `org/healthy` (350 B, 2 files, 1 revision), `org/plain`
//! (dataset, no-symlink, 30 B, 2 files), `org/dl` (40 B blob + 24 B temp file).
//!
//! | case (module::test) | fault | expected for the faulty part | errors by reason |
//! |---|---|---|---|
//! | perms::repo_folder_unreadable | repo folder mode 000, scan as uid 65534 | exists, 0 B | permission_denied 2 (blobs/, snapshots/) |
//! | perms::blobs_unreadable | `blobs/` mode 000 | snapshot files still count | permission_denied 1 |
//! | perms::nested_snapshot_dir_unreadable | one dir under `snapshots/<rev>/` mode 000 | rest of the revision counts | permission_denied 1 |
//! | perms::unreadable_file_still_counts | a blob file mode 000 | counted (only lstat'ed, never opened) | none |
//! | perms::unreadable_tree_file_is_an_error | `trees/<commit>.json` mode 000 | no progress | permission_denied 1 (ignored: engine is silent) |
//! | perms::tree_owned_by_another_user | whole cache owned by uid 4242, 0755/0644, scan as 65534 | exact numbers | none |
//! | perms::read_only_bind_mount | root on `mount -o remount,ro,bind` (fallback: other owner + a-w modes) | exact numbers | none |
//! | links::broken_links | broken shared-store link; broken snapshot link | rest counts; snapshot links are never stat'ed | broken_symlink 1 |
//! | links::loops | store loop `a→b→a`; loop in `blobs/`; dir loop `snapshots/<rev>/up → ..` | rest counts, no hang | loop 3 |
//! | links::targets_outside_the_root | blob links to `/dev/zero`, a 1 TiB sparse file, `../..` escape, absolute dir | nothing counted, nothing read | none |
//! | links::two_hop_escape_through_the_store | store entry → file outside the root | not counted (ignored: engine follows it) | none |
//! | links::special_files_are_never_opened | FIFO in `blobs/` and `snapshots/`, link to a FIFO | not counted, no hang | none |
//! | links::special_files_as_refs_or_tree_files_are_never_read | FIFO as `trees/<commit>.json` and as `refs/main`; tree file → `/dev/zero` | bytes count, no progress, no hang | io 3 |
//! | names::non_utf8_names | bad bytes in a blob name, a snapshot dir, a root entry | bytes count; the root entry is no repo | non_utf8_name 3 |
//! | names::tree_file_not_utf8_is_a_bad_tree_file | `trees/<commit>.json` with a non-UTF-8 byte | bytes count, no progress | bad_tree_file 1 |
//! | names::deep_directory_chain | 4096-deep dir chain in a snapshot | either all counted, or the part below PATH_MAX reported | none, or io 1 |
//! | churn::files_and_repos_vanish_mid_scan | mutator thread adds/renames/removes files and whole repos | churned numbers within bounds | none (vanishing is a race, not an error) |
//! | root::root_is_a_file | root path is a regular file | root_exists 0, no repos | not_a_directory 1 |
//! | root::missing_root | root path absent | root_exists 0, configured repo exists 0 | none |
//! | root::root_deleted_and_recreated_under_the_server | server running; root removed, made a file, recreated | root_exists 1 → 0 → 1, metrics recover | not_a_directory while it is a file |
//! | readonly::* | read-only proof: fingerprint before/after hundreds of scrapes, polls, scans, textfile | nothing changes | — |

#[path = "../common/mod.rs"]
mod common;

mod churn;
mod links;
mod names;
mod perms;
mod readonly;
mod root;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use common::*;

/// A 40-hex commit used as the revision of every fixture.
pub const REV: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// The three healthy repos every case carries.
pub fn healthy(c: &Cache) {
    c.repo("models--org--healthy")
        .blob(&h(1), 100)
        .blob(&h(2), 250)
        .link(REV, "config.json", &h(1))
        .link(REV, "sub/dir/w.bin", &h(2))
        .refs("main", REV);
    c.repo("datasets--org--plain")
        .snap_file(REV, "a.csv", 10)
        .snap_file(REV, "d/b.csv", 20);
    c.repo("models--org--dl")
        .blob(&h(3), 40)
        .temp(&format!("{}.1a2b3c4d.incomplete", h(4)), 24);
}

/// `org/tree`: one 10-byte blob linked at `REV` (the ref `main`), and `contents` as its
/// `trees/<REV>.json`. Returns the tree file's path.
pub fn repo_with_tree_file(c: &Cache, contents: &[u8]) -> PathBuf {
    let r = c.repo("models--org--tree");
    r.blob(&h(9), 10).link(REV, "f", &h(9)).refs("main", REV);
    let tree = r.path.join("trees").join(format!("{REV}.json"));
    std::fs::create_dir_all(tree.parent().unwrap()).unwrap();
    std::fs::write(&tree, contents).unwrap();
    tree
}

/// The healthy repos' exact numbers: a fault elsewhere must not move them.
pub fn assert_healthy(doc: &Value) {
    let r = repo(doc, "org/healthy");
    assert_eq!(
        (counts(r), r["exists"].as_bool()),
        ((350, 2, 0, 1), Some(true)),
        "{doc:#}"
    );
    let r = repo(doc, "org/plain");
    assert_eq!(
        (counts(r), &r["repo_type"]),
        ((30, 2, 0, 1), &Value::from("dataset"))
    );
    let r = repo(doc, "org/dl");
    assert_eq!(
        (counts(r), &r["incomplete_bytes"]),
        ((64, 1, 1, 0), &Value::from(24))
    );
}

/// The scan errors of the first cache are exactly `want` (reasons not listed are 0).
pub fn assert_errors(doc: &Value, want: &[(&str, u64)]) {
    let got = cache(doc)["errors"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let want: serde_json::Map<String, Value> = want
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect();
    assert_eq!(got, want, "scan errors differ in {doc:#}");
    assert_eq!(cache(doc)["success"], want.is_empty());
}

/// `scan --json` on the cache's root with a deadline, as the current user.
pub fn scan(c: &Cache, extra: &[&str]) -> Value {
    let mut cmd = Command::new(BIN);
    cmd.args(["scan", "--json", "--cache.dir"])
        .arg(&c.root)
        .args(extra);
    parse_ok(run_timeout(cmd, 60), &"scan")
}

/// Whether tests that need it must run (CI) rather than skip with a message.
pub fn required() -> bool {
    std::env::var_os("CI").is_some()
}

/// Skip loudly, or fail in CI where every case must run.
pub fn skip(why: &str) {
    assert!(!required(), "cannot run in CI: {why}");
    eprintln!("SKIP: {why}");
}

/// Set a mode, panicking with the path on failure.
pub fn chmod(p: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
}

/// A command running the binary (copied into `tmp`) without privileges: uid/gid 65534 via `setpriv` when the
/// tests run as root (permission checks do not apply to root), else the current user. `None`
/// (after a loud skip) when running as root without setpriv outside CI.
pub fn unprivileged(tmp: &Path) -> Option<Command> {
    if !is_root() {
        return Some(Command::new(BIN));
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        skip("running as root and setpriv is missing, cannot drop privileges");
        return None;
    }
    // A copy nobody can run whatever the checkout's permissions are; the temp dir is 0700.
    chmod(tmp, 0o755);
    let bin = tmp.join("hfce");
    if !bin.exists() {
        std::fs::copy(BIN, &bin).unwrap();
    }
    chmod(&bin, 0o755);
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin);
    Some(cmd)
}

/// `scan --json` as an unprivileged user; `None` when that is impossible here (skipped).
pub fn scan_unprivileged(c: &Cache, extra: &[&str]) -> Option<Value> {
    scan_unprivileged_at(c.dir.path(), &c.root, extra)
}

/// The same for a root other than the cache's own (a mount of it); `tmp` holds the binary copy.
pub fn scan_unprivileged_at(tmp: &Path, root: &Path, extra: &[&str]) -> Option<Value> {
    let mut cmd = unprivileged(tmp)?;
    cmd.args(["scan", "--json", "--cache.dir"])
        .arg(root)
        .args(extra);
    Some(parse_ok(run_timeout(cmd, 60), &"unprivileged scan"))
}
