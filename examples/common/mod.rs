//! What the reference walkers (`seq_walk`, `par_walk`) share: which folders of a cache root are
//! repos, in one order, so their outputs can be compared line by line.

use std::ffi::OsString;
use std::path::Path;

/// The repo folders (`<type>s--...` directories) of `root`, sorted; exits with a message naming
/// `tool` when the root cannot be listed.
pub fn repo_folders(tool: &str, root: &Path) -> Vec<OsString> {
    let mut folders: Vec<OsString> = match std::fs::read_dir(root) {
        Ok(rd) => rd
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("--"))
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name())
            .collect(),
        Err(e) => {
            eprintln!("{tool}: {}: {e}", root.display());
            std::process::exit(1);
        }
    };
    folders.sort();
    folders
}
