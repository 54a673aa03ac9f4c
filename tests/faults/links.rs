//! Symlinks and special files: broken and looping links, links out of the cache root (to
//! `/dev/zero`, a huge sparse file, other directories), and FIFOs. Only regular files inside the
//! root count; nothing is followed out of it, nothing is opened, nothing hangs.

use std::os::unix::fs::symlink;
use std::path::Path;

use crate::common::*;
use crate::{REV, assert_errors, assert_healthy, healthy, scan};

#[test]
fn broken_links() {
    let c = Cache::new();
    healthy(&c);
    // blobs/<h5> → ../../blobs/00/<h5>, a store payload that is gone.
    c.repo("models--org--broken")
        .shared(&h(5))
        .blob(&h(6), 40)
        .link(REV, "gone.bin", &h(5))
        .link(REV, "kept.bin", &h(6));
    // A snapshot link to a missing blob: snapshot links are never stat'ed, so it costs nothing.
    c.repo("models--org--dangling")
        .blob(&h(7), 8)
        .link(REV, "ok.txt", &h(7))
        .link(REV, "missing.txt", &h(8));
    let doc = scan(&c, &[]);
    assert_healthy(&doc);
    assert_eq!(counts(repo(&doc, "org/broken")), (40, 1, 0, 1));
    assert_eq!(counts(repo(&doc, "org/dangling")), (8, 1, 0, 1));
    assert_errors(&doc, &[("broken_symlink", 1)]);
}

#[test]
fn loops() {
    let c = Cache::new();
    healthy(&c);
    // Through the shared store: blobs/<h1> → ../../blobs/lo/a, and a ↔ b in the store.
    let store = c.root.join("blobs/lo");
    std::fs::create_dir_all(&store).unwrap();
    symlink("b", store.join("a")).unwrap();
    symlink("a", store.join("b")).unwrap();
    c.repo("models--org--storeloop")
        .blob_symlink(&h(1), "../../blobs/lo/a")
        .blob(&h(2), 5);
    // Inside the repo's own blobs/: a ↔ b (each link is one loop).
    c.repo("models--org--blobloop")
        .blob_symlink("a", "b")
        .blob_symlink("b", "a")
        .blob(&h(2), 6);
    // A directory link back up inside a snapshot: never followed, so no loop and no error.
    let r = c.repo("models--org--dirloop");
    r.snap_file(REV, "x/f.txt", 9);
    symlink("..", r.path.join("snapshots").join(REV).join("x/up")).unwrap();
    let doc = scan(&c, &[]);
    assert_healthy(&doc);
    assert_eq!(counts(repo(&doc, "org/storeloop")), (5, 1, 0, 0));
    assert_eq!(counts(repo(&doc, "org/blobloop")), (6, 1, 0, 0));
    assert_eq!(counts(repo(&doc, "org/dirloop")), (9, 1, 0, 1));
    assert_errors(&doc, &[("loop", 3)]);
}

/// A 1 TiB sparse file: if it were ever counted or read, the numbers (or the deadline) say so.
fn huge_sparse(p: &Path) {
    let f = std::fs::File::create(p).unwrap();
    f.set_len(1 << 40).unwrap();
}

#[test]
fn targets_outside_the_root() {
    let c = Cache::new();
    healthy(&c);
    let outside = c.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    huge_sparse(&outside.join("huge.bin"));
    write(&outside.join("dir/file"), 1000);
    let huge = outside.join("huge.bin");
    c.repo("models--org--escape")
        .blob(&h(1), 7)
        .blob_symlink(&h(2), "/dev/zero")
        .blob_symlink(&h(3), huge.to_str().unwrap())
        .blob_symlink(&h(4), "../../../outside/huge.bin")
        .blob_symlink(&h(5), outside.join("dir").to_str().unwrap())
        .blob_symlink(&h(6), "../../../outside/dir/file")
        .link(REV, "zero", &h(2))
        .link(REV, "huge", &h(3));
    let doc = scan(&c, &[]);
    assert_healthy(&doc);
    let r = repo(&doc, "org/escape");
    assert_eq!(counts(r), (7, 1, 0, 1));
    assert!(r["allocated_bytes"].as_u64().unwrap() < 1 << 20, "{r:#}");
    assert_errors(&doc, &[]);
}

/// Two hops: the repo's blob link points into the root's store (inside the root), but the store
/// entry is itself a link to a file outside. The README's rule is that only regular files inside
/// the root count, so the 1 TiB file must not.
#[test]
fn two_hop_escape_through_the_store() {
    let c = Cache::new();
    healthy(&c);
    let huge = c.dir.path().join("huge.bin");
    huge_sparse(&huge);
    let store = c.root.join("blobs").join(&h(0xee)[..2]);
    std::fs::create_dir_all(&store).unwrap();
    symlink(&huge, store.join(h(0xee))).unwrap();
    c.repo("models--org--hop")
        .shared(&h(0xee))
        .blob(&h(1), 3)
        .link(REV, "huge", &h(0xee));
    let doc = scan(&c, &[]);
    assert_healthy(&doc);
    assert_eq!(counts(repo(&doc, "org/hop")), (3, 1, 0, 1));
    assert_errors(&doc, &[]);
}

/// A FIFO blocks whoever opens it for reading; the scan must never open one. A store link to
/// `/dev/zero` (inside the root, then out) is not a regular file either, so it counts nothing.
#[test]
fn special_files_are_never_opened() {
    let c = Cache::new();
    healthy(&c);
    let r = c.repo("models--org--fifo");
    r.blob(&h(1), 11).snap_file(REV, "real.txt", 2);
    let fifo = r.path.join("blobs").join(h(2));
    mkfifo(&fifo);
    mkfifo(&r.path.join("snapshots").join(REV).join("pipe"));
    // blobs/<h3> → store entry → the FIFO; blobs/<h4> → store entry → /dev/zero.
    let store = c.root.join("blobs").join("00");
    std::fs::create_dir_all(&store).unwrap();
    symlink(&fifo, store.join(h(3))).unwrap();
    symlink("/dev/zero", store.join(h(4))).unwrap();
    r.shared(&h(3)).shared(&h(4));
    let doc = scan(&c, &[]);
    assert_healthy(&doc);
    assert_eq!(counts(repo(&doc, "org/fifo")), (13, 2, 0, 1));
    assert_errors(&doc, &[]);
}

/// A FIFO or a device where a ref or a tree file belongs is refused without being read: a FIFO's
/// open would wait for a writer (the scan would hang) and `/dev/zero` never ends. Each is one
/// `io` error; the repos' bytes still count and their progress is unknown.
#[test]
fn special_files_as_refs_or_tree_files_are_never_read() {
    let c = Cache::new();
    healthy(&c);
    // A repo with `trees/`, and where its tree file for `REV` goes.
    let with_trees = |folder: &str| {
        let r = c.repo(folder);
        r.blob(&h(9), 10).link(REV, "f", &h(9));
        std::fs::create_dir_all(r.path.join("trees")).unwrap();
        let tree = r.path.join("trees").join(format!("{REV}.json"));
        (r, tree)
    };
    let (r, tree) = with_trees("models--org--tree-fifo");
    r.refs("main", REV);
    mkfifo(&tree);
    let (r, tree) = with_trees("models--org--tree-zero");
    r.refs("main", REV);
    symlink("/dev/zero", tree).unwrap();
    let (r, _) = with_trees("models--org--ref-fifo");
    std::fs::create_dir_all(r.path.join("refs")).unwrap();
    mkfifo(&r.path.join("refs").join("main"));
    let doc = scan(&c, &[]);
    assert_healthy(&doc);
    for model in ["org/tree-fifo", "org/tree-zero", "org/ref-fifo"] {
        let r = repo(&doc, model);
        assert_eq!(counts(r), (10, 1, 0, 1), "{model}");
        assert_eq!(r["progress"], serde_json::Value::Null, "{model}");
    }
    assert_errors(&doc, &[("io", 3)]);
}

fn mkfifo(p: &Path) {
    rustix::fs::mkfifoat(rustix::fs::CWD, p, rustix::fs::Mode::from_raw_mode(0o644)).unwrap();
}
