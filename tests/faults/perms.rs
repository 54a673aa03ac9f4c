//! Permissions and ownership: what an unprivileged exporter (uid 65534) sees when parts of the
//! cache are closed to it, and that a read-only or foreign-owned cache reads exactly.

use std::path::Path;
use std::process::Command;

use crate::common::*;
use crate::{
    REV, assert_errors, assert_healthy, chmod, healthy, repo_with_tree_file, scan_unprivileged,
    scan_unprivileged_at,
};

/// Restores a mode on drop so the temp dir can be removed even when an assertion fails.
struct Restore<'a>(&'a Path, u32);

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        chmod(self.0, self.1);
    }
}

#[test]
fn repo_folder_unreadable() {
    let c = Cache::new();
    healthy(&c);
    let r = c.repo("models--org--closed");
    r.blob(&h(9), 500).link(REV, "f", &h(9));
    chmod(&r.path, 0o000);
    let _g = Restore(&r.path, 0o755);
    let Some(doc) = scan_unprivileged(&c, &[]) else {
        return;
    };
    assert_healthy(&doc);
    let closed = repo(&doc, "org/closed");
    assert_eq!(
        (counts(closed), &closed["exists"]),
        ((0, 0, 0, 0), &true.into())
    );
    assert_errors(&doc, &[("permission_denied", 2)]);
}

#[test]
fn blobs_unreadable() {
    let c = Cache::new();
    healthy(&c);
    let r = c.repo("models--org--noblobs");
    r.blob(&h(9), 500)
        .link(REV, "linked", &h(9))
        .snap_file(REV, "real.txt", 7);
    let blobs = r.path.join("blobs");
    chmod(&blobs, 0o000);
    let _g = Restore(&blobs, 0o755);
    let Some(doc) = scan_unprivileged(&c, &[]) else {
        return;
    };
    assert_healthy(&doc);
    assert_eq!(counts(repo(&doc, "org/noblobs")), (7, 1, 0, 1));
    assert_errors(&doc, &[("permission_denied", 1)]);
}

#[test]
fn nested_snapshot_dir_unreadable() {
    let c = Cache::new();
    healthy(&c);
    let r = c.repo("models--org--nested");
    r.snap_file(REV, "open/a.txt", 3)
        .snap_file(REV, "shut/b.txt", 300)
        .snap_file(REV, "c.txt", 4);
    let shut = r.path.join("snapshots").join(REV).join("shut");
    chmod(&shut, 0o000);
    let _g = Restore(&shut, 0o755);
    let Some(doc) = scan_unprivileged(&c, &[]) else {
        return;
    };
    assert_healthy(&doc);
    assert_eq!(counts(repo(&doc, "org/nested")), (7, 2, 0, 1));
    assert_errors(&doc, &[("permission_denied", 1)]);
}

/// Content files are only lstat'ed, never opened, so a file nobody may read still counts.
#[test]
fn unreadable_file_still_counts() {
    let c = Cache::new();
    healthy(&c);
    let r = c.repo("models--org--secret");
    r.blob(&h(9), 123).link(REV, "f", &h(9));
    chmod(&r.path.join("blobs").join(h(9)), 0o000);
    let Some(doc) = scan_unprivileged(&c, &[]) else {
        return;
    };
    assert_healthy(&doc);
    assert_eq!(counts(repo(&doc, "org/secret")), (123, 1, 0, 1));
    assert_errors(&doc, &[]);
}

/// A tree file the exporter may not read leaves progress unknown; that must be visible as a
/// scan error, like every other unreadable part of the cache.
#[test]
fn unreadable_tree_file_is_an_error() {
    let c = Cache::new();
    healthy(&c);
    let listing = format!(
        r#"[{{"type":"file","path":"f","oid":"{}","size":10}}]"#,
        h(9)
    );
    let tree = repo_with_tree_file(&c, listing.as_bytes());
    chmod(&tree, 0o000);
    let Some(doc) = scan_unprivileged(&c, &[]) else {
        return;
    };
    assert_healthy(&doc);
    let t = repo(&doc, "org/tree");
    assert_eq!(
        (counts(t), &t["progress"]),
        ((10, 1, 0, 1), &serde_json::Value::Null)
    );
    assert_errors(&doc, &[("permission_denied", 1)]);
}

/// `chown -R` to a uid that is neither the test's nor the scanner's.
fn chown_tree(root: &Path, uid: u32) {
    let st = Command::new("chown")
        .args(["-R", "-h", &format!("{uid}:{uid}")])
        .arg(root)
        .status()
        .unwrap();
    assert!(st.success(), "chown -R {uid} {}", root.display());
}

#[test]
fn tree_owned_by_another_user() {
    if !is_root() {
        crate::skip("chown to another user needs root");
        return;
    }
    let c = Cache::new();
    healthy(&c);
    chown_tree(&c.root, 4242);
    let doc = scan_unprivileged(&c, &[]).expect("root can always drop privileges here");
    assert_healthy(&doc);
    assert_errors(&doc, &[]);
}

/// Unmounts on drop so a failed assertion does not leave a mount behind.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// `mount --bind` then `remount,ro,bind`; `Err(why)` when this environment does not allow it.
fn bind_ro(src: &Path, dst: &Path) -> Result<Mount, String> {
    std::fs::create_dir_all(dst).unwrap();
    let run = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("mount")
            .args(args)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        match out.status.success() {
            true => Ok(()),
            false => Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        }
    };
    run(&["--bind", src.to_str().unwrap(), dst.to_str().unwrap()])?;
    let m = Mount(dst.to_path_buf());
    run(&["-o", "remount,ro,bind", dst.to_str().unwrap()])?;
    match std::fs::write(dst.join("probe"), b"x") {
        Err(e) if e.raw_os_error() == Some(30) => Ok(m), // EROFS: really read-only
        other => Err(format!("remount did not make it read-only: {other:?}")),
    }
}

/// The cache seen through a read-only bind mount, as root and as uid 65534. Where mounting is
/// not permitted, the same check runs on a tree owned by another user with every write bit
/// cleared, and the test says so on stderr.
#[test]
fn read_only_bind_mount() {
    let c = Cache::new();
    healthy(&c);
    let ro = c.dir.path().join("ro");
    let mount = if is_root() {
        bind_ro(&c.root, &ro)
    } else {
        Err("not root".into())
    };
    let view = match &mount {
        Ok(_) => {
            eprintln!(
                "read_only_bind_mount: cache on a read-only bind mount at {}",
                ro.display()
            );
            let doc = scan_json(&["scan", "--json", "--cache.dir", ro.to_str().unwrap()]);
            assert_healthy(&doc);
            assert_errors(&doc, &[]);
            ro.clone()
        }
        Err(why) => {
            eprintln!(
                "read_only_bind_mount: FALLBACK (mount not permitted: {why}); using a tree owned \
                 by another user with all write bits cleared"
            );
            if is_root() {
                chown_tree(&c.root, 4242);
            }
            let st = Command::new("chmod")
                .args(["-R", "a-w"])
                .arg(&c.root)
                .status()
                .unwrap();
            assert!(st.success());
            c.root.clone()
        }
    };
    let _writable_again = RestoreWrite(&c.root);
    let Some(doc) = scan_unprivileged_at(c.dir.path(), &view, &[]) else {
        return;
    };
    assert_healthy(&doc);
    assert_errors(&doc, &[]);
}

/// `chmod -R u+w` on drop, so the fallback's read-only tree can be removed.
struct RestoreWrite<'a>(&'a Path);

impl Drop for RestoreWrite<'_> {
    fn drop(&mut self) {
        let _ = Command::new("chmod")
            .args(["-R", "u+w"])
            .arg(self.0)
            .status();
    }
}
