//! What one directory contributes to its repo's numbers, and how those parts add up. Pure: the
//! walker fills parts from `stat` results in any order, on any thread; adding them up (with
//! hard-link and shared-store dedupe) gives the same totals whatever the order.

use super::memo::LinkMemo;
use super::str_list::StrList;
use super::{ErrorTally, RepoStats, TempFile};

/// The facts of one regular file that the totals need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FileFacts {
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub size: u64,
    pub allocated: u64,
    pub mtime: f64,
}

/// Sums over plain content files (blobs, no-symlink snapshot files): immutable once complete,
/// so the incremental scan may reuse them while their directory is unchanged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContentSum {
    pub files: u64,
    pub bytes: u64,
    pub allocated: u64,
    pub last_modified: Option<f64>,
    /// Files that may be seen twice (nlink > 1): counted once per repo when parts are added.
    pub linked: Vec<FileFacts>,
}

impl FileFacts {
    /// From `std` metadata (the paths that do not go through the walker's `fstatat`).
    pub fn from_metadata(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            nlink: meta.nlink(),
            size: meta.len(),
            allocated: meta.blocks() * 512,
            mtime: meta.mtime() as f64 + meta.mtime_nsec() as f64 / 1e9,
        }
    }
}

impl FileFacts {
    /// From the walker's `fstatat`.
    // `Stat` field types differ between architectures; the casts are no-ops only on some.
    #[allow(clippy::unnecessary_cast)]
    pub fn from_stat(st: &rustix::fs::Stat) -> Self {
        Self {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            nlink: st.st_nlink as u64,
            size: st.st_size.max(0) as u64,
            allocated: (st.st_blocks as u64).saturating_mul(512),
            mtime: st.st_mtime as f64 + st.st_mtime_nsec as f64 / 1e9,
        }
    }
}

impl ContentSum {
    pub fn add(&mut self, f: FileFacts) {
        if f.nlink > 1 {
            self.linked.push(f);
            return;
        }
        self.add_counted(&f);
    }

    fn add_counted(&mut self, f: &FileFacts) {
        self.files += 1;
        self.bytes += f.size;
        self.allocated += f.allocated;
        self.last_modified = Some(self.last_modified.map_or(f.mtime, |m| m.max(f.mtime)));
    }

    pub fn merge(&mut self, other: &ContentSum) {
        self.add_sums(other);
        self.linked.extend_from_slice(&other.linked);
    }

    /// [`merge`](Self::merge), taking `other`'s list.
    fn absorb(&mut self, other: ContentSum) {
        self.add_sums(&other);
        append(&mut self.linked, other.linked);
    }

    fn add_sums(&mut self, other: &ContentSum) {
        self.files += other.files;
        self.bytes += other.bytes;
        self.allocated += other.allocated;
        if let Some(m) = other.last_modified {
            self.last_modified = Some(self.last_modified.map_or(m, |x| x.max(m)));
        }
    }
}

/// `a` then `b`, taking `b`'s buffer when `a` is empty: each slice's part is merged into its
/// repo's, the first into an empty one, and most lists are empty or short, so copying them into
/// fresh buffers was most of the merging.
fn append<T>(a: &mut Vec<T>, mut b: Vec<T>) {
    if a.is_empty() {
        *a = b;
    } else {
        a.append(&mut b);
    }
}

/// One directory's (or one slice of a directory's) contribution during one scan.
#[derive(Debug, Default)]
pub struct Part {
    pub content: ContentSum,
    /// Shared-store targets of `R/blobs/*` symlinks: always deduped; reused only as
    /// [`super::memo`] allows.
    pub shared: Vec<FileFacts>,
    pub temps: Vec<TempFile>,
    /// Revision folders (`snapshots/<commit>/`).
    pub revisions: u64,
    pub errors: ErrorTally,
    /// Blob names and no-symlink snapshot paths of the wanted commit, for tree progress.
    pub want_blobs: StrList,
    pub want_paths: StrList,
    /// The shared-store links resolved, with what the memo keeps of them (when recording).
    pub links: Vec<LinkMemo>,
}

impl Part {
    pub fn merge(&mut self, other: Part) {
        self.content.absorb(other.content);
        append(&mut self.shared, other.shared);
        append(&mut self.temps, other.temps);
        self.revisions += other.revisions;
        self.errors.merge(other.errors);
        self.want_blobs.append(other.want_blobs);
        self.want_paths.append(other.want_paths);
        append(&mut self.links, other.links);
    }

    /// The repo's metric-contract numbers: plain sums, then each linked or shared inode once.
    pub fn stats(&self) -> RepoStats {
        let mut sum = ContentSum {
            linked: Vec::new(),
            ..self.content.clone()
        };
        // Each inode once, by its first appearance (a stable sort keeps it first among its
        // equals), rather than through a hash set, which hashed and rehashed every link of a
        // shared-store repo.
        let mut files: Vec<&FileFacts> = self.content.linked.iter().chain(&self.shared).collect();
        files.sort_by_key(|f| (f.dev, f.ino));
        files.dedup_by_key(|f| (f.dev, f.ino));
        for f in files {
            sum.add_counted(f);
        }
        let mut stats = RepoStats {
            bytes: sum.bytes,
            allocated_bytes: sum.allocated,
            files: sum.files,
            revisions: self.revisions,
            last_modified: sum.last_modified,
            ..RepoStats::default()
        };
        for t in &self.temps {
            stats.incomplete_files += 1;
            stats.incomplete_bytes += t.size;
            stats.bytes += t.size;
            stats.allocated_bytes += t.allocated;
            stats.last_modified = Some(stats.last_modified.map_or(t.mtime, |m| m.max(t.mtime)));
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob_name::TempKind;

    fn file(ino: u64, nlink: u64, size: u64, mtime: f64) -> FileFacts {
        FileFacts {
            dev: 1,
            ino,
            nlink,
            size,
            allocated: size.div_ceil(4096) * 4096,
            mtime,
        }
    }

    fn temp(size: u64, mtime: f64) -> TempFile {
        TempFile {
            name: "x.incomplete".into(),
            etag: "x".into(),
            kind: TempKind::Incomplete,
            size,
            allocated: 0,
            mtime,
            lock_held: None,
            blob_exists: false,
        }
    }

    #[test]
    fn order_of_parts_does_not_change_totals() {
        let mut a = Part::default();
        a.content.add(file(1, 1, 10, 5.0));
        a.content.add(file(2, 2, 100, 9.0)); // hard link, seen again in b
        let mut b = Part::default();
        b.content.add(file(2, 2, 100, 9.0));
        b.content.add(file(3, 1, 1, 1.0));
        b.temps.push(temp(7, 11.0));
        let mut c = Part::default();
        c.shared.push(file(4, 1, 1000, 2.0));
        c.shared.push(file(4, 1, 1000, 2.0)); // two links to one shared blob
        c.revisions = 2;

        let sum = |parts: [&Part; 3]| {
            let mut all = Part::default();
            for p in parts {
                all.content.merge(&p.content);
                all.shared.extend(p.shared.iter().copied());
                all.temps.extend(p.temps.iter().cloned());
                all.revisions += p.revisions;
            }
            all.stats()
        };
        let s = sum([&a, &b, &c]);
        assert_eq!(s, sum([&c, &b, &a]));
        assert_eq!((s.files, s.bytes), (4, 10 + 100 + 1 + 1000 + 7));
        assert_eq!((s.incomplete_files, s.incomplete_bytes), (1, 7));
        assert_eq!(s.revisions, 2);
        assert_eq!(s.last_modified, Some(11.0));
    }

    #[test]
    fn a_shared_target_also_hard_linked_counts_once() {
        let mut p = Part::default();
        p.content.add(file(9, 2, 50, 1.0));
        p.shared.push(file(9, 2, 50, 1.0));
        assert_eq!((p.stats().files, p.stats().bytes), (1, 50));
    }

    #[test]
    fn empty_part_has_no_last_modified() {
        assert_eq!(Part::default().stats(), RepoStats::default());
    }
}
