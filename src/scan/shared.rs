//! Symlinks directly in `R/blobs/` that point into the cache-wide shared blob store
//! (`<root>/blobs/<xx>/<hash>`). Their targets are counted for the repo; a target outside the
//! cache root is never followed, so a link to `/dev/zero` or a home directory costs nothing and
//! counts nothing.

use std::fs;
use std::path::{Component, Path, PathBuf};

use super::errors::{ErrorTally, Reason};
use super::summary::FileFacts;

/// Where links may point: the cache root as configured and with symlinks resolved.
pub struct RootPaths<'a> {
    pub root: &'a Path,
    pub root_real: Option<&'a Path>,
}

/// Links followed before giving up with [`Reason::Loop`] (the kernel allows 40; the store needs 1).
const MAX_HOPS: usize = 8;

/// Resolve `link` (in `blobs` of `repo`) one hop at a time, each hop checked to stay inside the
/// root, so a store entry that is itself a link to somewhere else is not followed out. The
/// target's facts when it is a regular file in the root but outside the repo (inside the repo it
/// is counted where it lives).
pub fn shared_target(
    link: &Path,
    blobs: &Path,
    repo: &Path,
    roots: &RootPaths,
    errors: &mut ErrorTally,
) -> Option<FileFacts> {
    let root = normalize(roots.root);
    let mut hop = link.to_path_buf();
    let mut dir = blobs.to_path_buf();
    for _ in 0..MAX_HOPS {
        let target = match fs::read_link(&hop) {
            Ok(t) => t,
            Err(e) => {
                errors.io(link, &e);
                return None;
            }
        };
        let resolved = normalize(&dir.join(&target));
        let in_root =
            resolved.starts_with(&root) || roots.root_real.is_some_and(|r| resolved.starts_with(r));
        if !in_root {
            return None;
        }
        // Stat even inside R, to report loops and broken links (rare, so this costs nothing).
        match fs::symlink_metadata(&resolved) {
            Ok(meta) if meta.file_type().is_symlink() => {
                dir = resolved.parent().map(Path::to_path_buf).unwrap_or_default();
                hop = resolved;
            }
            Ok(meta) if meta.is_file() && !resolved.starts_with(normalize(repo)) => {
                return Some(FileFacts::from_metadata(&meta));
            }
            Ok(_) => return None,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let what = format!("target {} is missing", target.display());
                errors.add(Reason::BrokenSymlink, link, what);
                return None;
            }
            Err(e) => {
                errors.io(link, &e);
                return None;
            }
        }
    }
    errors.add(Reason::Loop, link, "too many levels of symbolic links");
    None
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
