//! Why a part of the tree could not be read. Each reason is a `reason` label value of
//! `hf_cache_scan_errors_total`; files that vanish mid-scan are normal races and are not errors.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    PermissionDenied,
    BrokenSymlink,
    Loop,
    NotADirectory,
    NonUtf8Name,
    BadTree,
    Io,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PermissionDenied => "permission_denied",
            Self::BrokenSymlink => "broken_symlink",
            Self::Loop => "loop",
            Self::NotADirectory => "not_a_directory",
            Self::NonUtf8Name => "non_utf8_name",
            Self::BadTree => "bad_tree_file",
            Self::Io => "io",
        }
    }

    /// Map an I/O error; `None` for "it vanished", which is a race, not an error.
    pub fn of(e: &io::Error) -> Option<Self> {
        match e.kind() {
            io::ErrorKind::NotFound => None,
            io::ErrorKind::PermissionDenied => Some(Self::PermissionDenied),
            io::ErrorKind::NotADirectory => Some(Self::NotADirectory),
            _ if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
                Some(Self::Loop)
            }
            _ => Some(Self::Io),
        }
    }
}

/// Counts by reason plus a few examples for the log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorTally {
    pub counts: BTreeMap<Reason, u64>,
    pub samples: Vec<(Reason, PathBuf, String)>,
}

pub(crate) const MAX_SAMPLES: usize = 20;

impl ErrorTally {
    pub fn add(&mut self, reason: Reason, path: &Path, detail: impl std::fmt::Display) {
        *self.counts.entry(reason).or_default() += 1;
        if self.samples.len() < MAX_SAMPLES {
            self.samples
                .push((reason, path.to_path_buf(), detail.to_string()));
        }
    }

    /// Record an I/O error unless it is a vanish race.
    pub fn io(&mut self, path: &Path, e: &io::Error) {
        if let Some(r) = Reason::of(e) {
            self.add(r, path, e);
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    pub fn merge(&mut self, other: ErrorTally) {
        // The usual case (every slice and repo step merges its tally): nothing to add, and
        // going through an empty map still cost about 150 instructions.
        if other.counts.is_empty() && other.samples.is_empty() {
            return;
        }
        for (r, n) in other.counts {
            *self.counts.entry(r).or_default() += n;
        }
        let room = MAX_SAMPLES.saturating_sub(self.samples.len());
        self.samples.extend(other.samples.into_iter().take(room));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vanished_files_are_not_errors() {
        let mut t = ErrorTally::default();
        t.io(Path::new("/x"), &io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(t.total(), 0);
        t.io(
            Path::new("/y"),
            &io::Error::from(io::ErrorKind::PermissionDenied),
        );
        t.io(Path::new("/z"), &io::Error::from_raw_os_error(40)); // ELOOP on Linux
        assert_eq!(t.counts[&Reason::PermissionDenied], 1);
        assert_eq!(t.counts[&Reason::Loop], 1);
        assert_eq!(t.samples.len(), 2);
    }

    #[test]
    fn samples_are_capped() {
        let mut t = ErrorTally::default();
        for _ in 0..100 {
            t.add(Reason::Io, Path::new("/a"), "boom");
        }
        assert_eq!((t.total(), t.samples.len()), (100, MAX_SAMPLES));
    }
}
