//! "Is anyone holding this lock file?" answered from `/proc/locks`, without taking a lock.
//!
//! A `flock` probe would briefly take the lock ourselves and needs write-free access to the
//! lock file; reading `/proc/locks` needs neither and sees every lock this kernel grants in
//! our PID namespace (hf-cache.md §3.6). It cannot see lockers in another PID namespace or
//! on another host, which is why the tracker cross-checks it against temp-file growth.

use std::collections::HashSet;

/// The `(st_dev, st_ino)` pairs of every inode that currently has a lock (or a blocked
/// waiter, which implies a holder) of a kind a downloader takes: `FLOCK`, `POSIX`, `OFDLCK`.
#[derive(Debug, Default, Clone)]
pub struct LockedInodes {
    inodes: HashSet<(u64, u64)>,
}

impl LockedInodes {
    /// `dev` uses the encoding of `std::os::unix::fs::MetadataExt::dev()` on Linux.
    pub fn contains(&self, dev: u64, ino: u64) -> bool {
        self.inodes.contains(&(dev, ino))
    }

    pub fn len(&self) -> usize {
        self.inodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inodes.is_empty()
    }
}

/// Parse the text of `/proc/locks`. Lines look like
/// `1: FLOCK  ADVISORY  WRITE 1234 fd:01:123456 0 EOF` (holders) or
/// `1: -> FLOCK  ADVISORY  WRITE 1235 fd:01:123456 0 EOF` (blocked waiters). Leases,
/// delegations, `<none>` inodes and garbage lines are skipped; this never panics.
pub fn parse_proc_locks(text: &str) -> LockedInodes {
    LockedInodes {
        inodes: text.lines().filter_map(parse_line).collect(),
    }
}

/// Read and parse `/proc/locks` (Linux only; elsewhere the open fails with `NotFound`).
pub fn read_proc_locks() -> std::io::Result<LockedInodes> {
    std::fs::read_to_string("/proc/locks").map(|text| parse_proc_locks(&text))
}

/// A read of `/proc/locks` started on its own thread as soon as a scan knows it will need one
/// (its first temp file), so it overlaps the rest of the walk. Each read waits for a kernel RCU
/// grace period (about 8 ms here when nothing read it just before), longer than a whole walk
/// of a small cache. Cheap to ask again once started.
#[derive(Default)]
pub struct Prefetch {
    started: std::sync::atomic::AtomicBool,
    read: std::sync::Mutex<Option<std::thread::JoinHandle<std::io::Result<LockedInodes>>>>,
}

impl Prefetch {
    /// Start the read unless it already was.
    pub fn start(&self) {
        use std::sync::atomic::Ordering;
        if self.started.swap(true, Ordering::Relaxed) {
            return;
        }
        let handle = std::thread::Builder::new()
            .name("proc-locks".into())
            .spawn(read_proc_locks);
        if let (Ok(h), Ok(mut slot)) = (handle, self.read.lock()) {
            *slot = Some(h);
        }
    }

    /// The read's result: the started one, or a read now if none was started (or its thread
    /// could not be). A failed read is an error, as from [`read_proc_locks`].
    pub fn finish(&self) -> std::io::Result<LockedInodes> {
        let handle = self.read.lock().ok().and_then(|mut h| h.take());
        match handle.map(std::thread::JoinHandle::join) {
            Some(Ok(read)) => read,
            _ => read_proc_locks(),
        }
    }
}

fn parse_line(line: &str) -> Option<(u64, u64)> {
    let mut tokens = line.split_whitespace();
    let ordinal = tokens.next()?;
    if !ordinal.ends_with(':') {
        return None;
    }
    let mut kind = tokens.next()?;
    if kind == "->" {
        kind = tokens.next()?;
    }
    if !matches!(kind, "FLOCK" | "POSIX" | "OFDLCK") {
        return None;
    }
    // Then come mode, access and pid; the first `MAJ:MIN:INO` token is the inode.
    tokens.find_map(parse_dev_ino)
}

/// `fd:01:123456` → (makedev(0xfd, 0x01), 123456). Major and minor are hex, inode decimal.
fn parse_dev_ino(token: &str) -> Option<(u64, u64)> {
    let mut parts = token.split(':');
    let major = u32::from_str_radix(parts.next()?, 16).ok()?;
    let minor = u32::from_str_radix(parts.next()?, 16).ok()?;
    let ino = parts.next()?.parse::<u64>().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((makedev(major, minor), ino))
}

/// glibc's `makedev`, the encoding Linux `stat` (and so std's `MetadataExt::dev`) reports.
fn makedev(major: u32, minor: u32) -> u64 {
    let (major, minor) = (u64::from(major), u64::from(minor));
    ((major & 0xffff_f000) << 32)
        | ((major & 0x0fff) << 8)
        | ((minor & 0xffff_ff00) << 12)
        | (minor & 0x00ff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefetch_read_succeeds_or_fails_as_a_direct_one() {
        // Lock counts change as other tests run, so compare the outcome, not the contents.
        let direct = read_proc_locks().map(|_| ()).map_err(|e| e.kind());
        let p = Prefetch::default();
        p.start();
        p.start(); // a second start is a no-op, not a second thread
        assert_eq!(p.finish().map(|_| ()).map_err(|e| e.kind()), direct);
        // Never started: finish reads now.
        let fresh = Prefetch::default().finish();
        assert_eq!(fresh.map(|_| ()).map_err(|e| e.kind()), direct);
    }

    const SAMPLE: &str = "\
1: FLOCK  ADVISORY  WRITE 1234 fd:01:123456 0 EOF
1: -> FLOCK  ADVISORY  WRITE 1240 fd:01:123456 0 EOF
2: POSIX  ADVISORY  READ 999 08:02:77 0 EOF
3: OFDLCK ADVISORY  WRITE -1 00:2f:4242 0 EOF
4: LEASE  ACTIVE    READ 555 08:02:88 0 EOF
5: DELEG  ACTIVE    READ 556 08:02:89 0 EOF
6: -> POSIX  ADVISORY  WRITE 700 103:05:31 100 200
7: FLOCK  ADVISORY  WRITE 701 <none>:0 0 EOF
";

    #[test]
    fn holders_and_waiters_of_lock_kinds_downloaders_use() {
        let locks = parse_proc_locks(SAMPLE);
        assert!(locks.contains(0xfd01, 123_456));
        assert!(locks.contains(0x0802, 77));
        assert!(locks.contains(0x2f, 4242));
        // A waiter alone still proves the inode is contended.
        assert!(locks.contains(0x10305, 31));
        // Leases and delegations are not download locks.
        assert!(!locks.contains(0x0802, 88));
        assert!(!locks.contains(0x0802, 89));
        // Holder and waiter on one inode collapse to one entry.
        assert_eq!(locks.len(), 4);
        assert!(!locks.is_empty());
    }

    #[test]
    fn device_numbers_match_glibc_makedev() {
        // Values as `stat -c %d` prints them for these MAJ:MIN pairs.
        assert_eq!(makedev(0xfe, 0x00), 65_024);
        assert_eq!(makedev(0x08, 0x11), 2065);
        assert_eq!(makedev(0, 0x34), 52);
        // Large minors (e.g. anonymous block devices) spill into the high bits.
        assert_eq!(makedev(0, 0x1_2345), 0x1230_0045);
        assert_eq!(makedev(0x1234, 0x56), 0x0000_1000_0002_3456);
    }

    #[test]
    fn garbage_is_skipped_without_panicking() {
        let text = "\n   \nFLOCK ADVISORY WRITE 1 fd:01:2 0 EOF\n1:\n1: ->\n2: FLOCK\n\
                    3: FLOCK ADVISORY WRITE 1 zz:01:2 0 EOF\n4: FLOCK ADVISORY WRITE 1 fd:01:x\n\
                    5: FLOCK ADVISORY WRITE 1 fd:01:2:9 0 EOF\n6: POSIX ADVISORY WRITE 1 1ffffffff:0:1\n\
                    7: FLOCK ADVISORY WRITE 1 0a:0b:12 0 EOF ünïcödé\n";
        let locks = parse_proc_locks(text);
        assert_eq!(locks.len(), 1);
        assert!(locks.contains(makedev(0x0a, 0x0b), 12));
        assert!(parse_proc_locks("").is_empty());
    }

    /// The real kernel agrees with our encoding: a flock we hold shows up under the
    /// `(dev, ino)` that `stat` reports for the file.
    #[cfg(target_os = "linux")]
    #[test]
    fn sees_a_real_flock() {
        use rustix::fs::{FlockOperation, flock};
        use std::os::unix::fs::MetadataExt;

        let file = tempfile::NamedTempFile::new().expect("temp file");
        let meta = file.as_file().metadata().expect("stat");
        let before = read_proc_locks().expect("/proc/locks is readable on Linux");
        assert!(!before.contains(meta.dev(), meta.ino()));
        flock(file.as_file(), FlockOperation::NonBlockingLockExclusive).expect("flock");
        let during = read_proc_locks().expect("/proc/locks");
        assert!(
            during.contains(meta.dev(), meta.ino()),
            "dev {:#x} ino {} not in /proc/locks",
            meta.dev(),
            meta.ino()
        );
        flock(file.as_file(), FlockOperation::Unlock).expect("unlock");
        assert!(
            !read_proc_locks()
                .expect("/proc/locks")
                .contains(meta.dev(), meta.ino())
        );
    }
}
