//! statvfs of a cache root: free and total bytes of the filesystem the cache lives on, so
//! "will the rest of this download fit" can be answered next to the repo sizes.

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStats {
    /// Bytes available to an unprivileged user (`f_bavail`), what a download can use.
    pub avail_bytes: u64,
    pub size_bytes: u64,
}

pub fn statvfs(path: &Path) -> std::io::Result<FsStats> {
    let s = rustix::fs::statvfs(path)?;
    Ok(FsStats {
        avail_bytes: s.f_bavail.saturating_mul(s.f_frsize),
        size_bytes: s.f_blocks.saturating_mul(s.f_frsize),
    })
}
