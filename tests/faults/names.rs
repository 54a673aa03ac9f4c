//! Odd names and shapes: non-UTF-8 names at every level, and a directory chain deeper than any
//! path the kernel accepts (PATH_MAX), which a recursive walker would also overflow its stack on.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::common::*;
use crate::{REV, assert_errors, assert_healthy, healthy, repo_with_tree_file, scan};

/// Each non-UTF-8 name is one `non_utf8_name` error; the bytes under it still count, and a root
/// entry whose name is not UTF-8 is not exported as a repo (it cannot be a label value).
#[test]
fn non_utf8_names() {
    let c = Cache::new();
    healthy(&c);
    let r = c.repo("models--org--bytes");
    r.blob(&h(1), 10);
    write(
        &r.path.join("blobs").join(OsStr::from_bytes(b"bad\xff\xfe")),
        50,
    );
    let odd_dir = r
        .path
        .join("snapshots")
        .join(REV)
        .join(OsStr::from_bytes(b"d\xe9j\xe0"));
    write(&odd_dir.join("f.txt"), 5);
    let odd_repo = c.root.join(OsStr::from_bytes(b"models--org--\xff"));
    write(&odd_repo.join("blobs").join(h(1)), 1000);
    let doc = scan(&c, &[]);
    assert_healthy(&doc);
    assert_eq!(counts(repo(&doc, "org/bytes")), (65, 3, 0, 1));
    assert_eq!(cache(&doc)["repos"].as_array().unwrap().len(), 4, "{doc:#}");
    assert_errors(&doc, &[("non_utf8_name", 3)]);
}

/// A tree file that is not UTF-8 cannot be the JSON a client wrote: a `bad_tree_file`, and the
/// repo's progress is unknown while its bytes still count.
#[test]
fn tree_file_not_utf8_is_a_bad_tree_file() {
    let c = Cache::new();
    healthy(&c);
    repo_with_tree_file(&c, b"{\"format_version\": 1, \"files\": {\"\xff\": {}}}");
    let doc = scan(&c, &[]);
    assert_healthy(&doc);
    let t = repo(&doc, "org/tree");
    assert_eq!(counts(t), (10, 1, 0, 1));
    assert_eq!(t["progress"], serde_json::Value::Null);
    assert_errors(&doc, &[("bad_tree_file", 1)]);
}

/// `depth` nested `d/` directories under `base` (made with dirfd-relative calls, since the full
/// path outgrows PATH_MAX), with a `bottom.bin` of `n` bytes at the end.
fn deep_chain(base: &Path, depth: usize, n: usize) {
    use rustix::fs::{CWD, Mode, OFlags, mkdirat, openat};
    let dir = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC;
    std::fs::create_dir_all(base).unwrap();
    let mut fd = openat(CWD, base, dir, Mode::empty()).unwrap();
    for _ in 0..depth {
        mkdirat(&fd, "d", Mode::from_raw_mode(0o755)).unwrap();
        fd = openat(&fd, "d", dir, Mode::empty()).unwrap();
    }
    let flags = OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC;
    let f = openat(&fd, "bottom.bin", flags, Mode::from_raw_mode(0o644)).unwrap();
    assert_eq!(rustix::io::write(&f, &vec![b'x'; n]).unwrap(), n);
}

/// The documented rule: a file the scan cannot reach is never dropped silently. A walker that
/// works relative to directory fds counts the bottom file; one that builds full paths cannot
/// name it (ENAMETOOLONG) and reports exactly one `io` error for the chain. Either way: no
/// crash, no stack overflow, and the rest of the cache is exact.
#[test]
fn deep_directory_chain() {
    let c = Cache::new();
    healthy(&c);
    let r = c.repo("models--org--deep");
    r.snap_file(REV, "top.txt", 4);
    deep_chain(&r.path.join("snapshots").join(REV).join("chain"), 4096, 5);
    let doc = scan(&c, &[]);
    assert_healthy(&doc);
    let got = counts(repo(&doc, "org/deep"));
    match got {
        (9, 2, 0, 1) => {
            eprintln!("deep_directory_chain: the bottom file was reached and counted");
            assert_errors(&doc, &[]);
        }
        (4, 1, 0, 1) => {
            eprintln!("deep_directory_chain: the part below PATH_MAX was reported as io");
            assert_errors(&doc, &[("io", 1)]);
        }
        other => panic!("deep chain counted as {other:?}: {doc:#}"),
    }
}
