//! When a short `getdents64` already means the end of a directory.
//!
//! A listing normally ends with one more `getdents64` that returns 0. On the local filesystems
//! named in [`fills_to_end`] the kernel fills the caller's buffer until the next entry does not
//! fit or the directory has no more, so a read that left room for the longest possible entry
//! was the last one. That saves one system call per directory: about a fifth of the
//! `getdents64` calls' time on the medium benchmark cache, where most directories fit one read.
//! Network and FUSE filesystems may return a short read before the end (NFS sends a directory
//! a page of replies at a time), so anywhere else the walk keeps reading until 0.

use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{RawDir, RawDirEntry};
use rustix::io;

/// A directory's entries, as `RawDir` gives them, ending at a short read when `short_ends`
/// (the directory's filesystem [`fills_to_end`]).
pub(super) struct Entries<'buf, Fd: AsFd> {
    raw: RawDir<'buf, Fd>,
    /// The buffer's usable length: `RawDir` may skip up to 7 bytes to align it.
    room: usize,
    /// Bytes of the last `getdents64`, summed from its entries' names.
    filled: usize,
    short_ends: bool,
}

impl<'buf, Fd: AsFd> Entries<'buf, Fd> {
    pub(super) fn new(dir: Fd, buf: &'buf mut [MaybeUninit<u8>], short_ends: bool) -> Self {
        Self {
            room: buf.len().saturating_sub(7),
            raw: RawDir::new(dir, buf),
            filled: 0,
            short_ends,
        }
    }

    /// The next entry (not an `Iterator`: an entry borrows the buffer).
    pub(super) fn next(&mut self) -> Option<io::Result<RawDirEntry<'_>>> {
        if self.raw.is_buffer_empty() {
            if self.short_ends && ended(self.filled, self.room) {
                return None;
            }
            self.filled = 0;
        }
        let entry = self.raw.next()?;
        if let Ok(e) = &entry {
            self.filled += dirent_len(e.file_name().to_bytes().len());
        }
        Some(entry)
    }
}

/// Bytes one `linux_dirent64` takes for a name of `name_len` bytes: the 19-byte header, the
/// name, its NUL, padded to 8 bytes (the kernel's `filldir64`).
pub(super) const fn dirent_len(name_len: usize) -> usize {
    (19 + name_len + 1 + 7) & !7
}

/// The longest entry a read can hold back for lack of room: a 255-byte name (`NAME_MAX`).
const LONGEST: usize = dirent_len(255);

/// Whether a read that returned `filled` bytes into a buffer of `room` bytes reached the end,
/// on a filesystem that [`fills_to_end`].
pub(super) fn ended(filled: usize, room: usize) -> bool {
    filled > 0 && filled + LONGEST <= room
}

/// `statfs` magic numbers (`linux/magic.h`) of filesystems whose `readdir` stops early only when
/// the buffer is full: ext2/3/4, XFS, Btrfs and tmpfs, each checked in its `iterate_shared`.
/// Overlayfs is not among them: a directory from a single layer is listed by that layer's
/// filesystem, which may be anything.
pub(super) fn fills_to_end(f_type: i64) -> bool {
    const EXT4: i64 = 0xEF53;
    const XFS: i64 = 0x5846_5342;
    const BTRFS: i64 = 0x9123_683E;
    const TMPFS: i64 = 0x0102_1994;
    matches!(f_type, EXT4 | XFS | BTRFS | TMPFS)
}

/// [`fills_to_end`] for the filesystem of an open directory. One `fstatfs` per top folder of a
/// repo (`blobs/`, `snapshots/`), which may be a mount of its own; directories below inherit.
pub(super) fn dir_fills_to_end(dir: BorrowedFd) -> bool {
    // `f_type` is an `i64` here but narrower on some 32-bit targets.
    #[allow(clippy::unnecessary_cast)]
    rustix::fs::fstatfs(dir).is_ok_and(|s| fills_to_end(s.f_type as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirent_lengths_are_the_kernels() {
        // `.` and `..` take 24 bytes each; a 64-hex-digit blob name 88.
        assert_eq!(dirent_len(1), 24);
        assert_eq!(dirent_len(2), 24);
        assert_eq!(dirent_len(4), 24);
        assert_eq!(dirent_len(5), 32);
        assert_eq!(dirent_len(64), 88);
        assert_eq!(LONGEST, 280);
    }

    #[test]
    fn only_a_read_with_room_for_any_entry_ends_the_listing() {
        assert!(ended(48, 16 * 1024));
        assert!(ended(16 * 1024 - 280, 16 * 1024));
        assert!(!ended(16 * 1024 - 279, 16 * 1024));
        assert!(
            !ended(0, 16 * 1024),
            "an empty read is the usual end, not a short one"
        );
    }

    #[test]
    fn network_and_layered_filesystems_are_read_until_zero() {
        assert!(fills_to_end(0xEF53));
        assert!(fills_to_end(0x0102_1994));
        const NFS: i64 = 0x6969;
        const FUSE: i64 = 0x6573_5546;
        const OVERLAY: i64 = 0x794C_7630;
        const LUSTRE: i64 = 0x0BD0_0BD0;
        for f in [NFS, FUSE, OVERLAY, LUSTRE, 0] {
            assert!(!fills_to_end(f), "{f:#x}");
        }
    }
}
