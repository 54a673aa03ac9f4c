//! Symlinks directly in `R/blobs/` that point into the cache-wide shared blob store
//! (`<root>/blobs/<xx>/<hash>`). Their targets are counted for the repo; a target outside the
//! cache root is never followed, so a link to `/dev/zero` or a home directory costs nothing and
//! counts nothing.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use super::errors::{ErrorTally, Reason};
use super::summary::FileFacts;

/// Where links may point: the cache root as configured and with symlinks resolved.
pub struct RootPaths<'a> {
    pub root: &'a Path,
    pub root_real: Option<&'a Path>,
}

/// Resolve `link` (in `blobs` of `repo`): the target's facts when it is a regular file in the
/// root but outside the repo (inside the repo it is counted where it lives).
pub fn shared_target(
    link: &Path,
    blobs: &Path,
    repo: &Path,
    roots: &RootPaths,
    errors: &mut ErrorTally,
) -> Option<FileFacts> {
    let target = match fs::read_link(link) {
        Ok(t) => t,
        Err(e) => {
            errors.io(link, &e);
            return None;
        }
    };
    let resolved = normalize(&blobs.join(&target));
    let in_root = resolved.starts_with(normalize(roots.root))
        || roots.root_real.is_some_and(|r| resolved.starts_with(r));
    if !in_root {
        return None;
    }
    // Stat even inside R, to report loops and broken links (rare, so this costs nothing).
    let inside_repo = resolved.starts_with(normalize(repo));
    match fs::metadata(link) {
        Ok(meta) if meta.is_file() && !inside_repo => Some(FileFacts {
            dev: meta.dev(),
            ino: meta.ino(),
            nlink: meta.nlink(),
            size: meta.len(),
            allocated: meta.blocks() * 512,
            mtime: meta.mtime() as f64 + meta.mtime_nsec() as f64 / 1e9,
        }),
        Ok(_) => None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            errors.add(
                Reason::BrokenSymlink,
                link,
                format!("target {} is missing", target.display()),
            );
            None
        }
        Err(e) => {
            errors.io(link, &e);
            None
        }
    }
}

/// Lexical `..`/`.` resolution: link targets are relative to their folder, and we must decide
/// "inside the root?" without following anything.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize;
    use std::path::Path;

    #[test]
    fn normalize_resolves_dots_lexically() {
        assert_eq!(
            normalize(Path::new("/c/models--a/blobs/../../blobs/ab/x")),
            Path::new("/c/blobs/ab/x")
        );
        assert_eq!(normalize(Path::new("/c/./a/../../../..")), Path::new("/"));
    }
}
