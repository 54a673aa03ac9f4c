//! Parse `trees/<commit>.json` (huggingface_hub >= 1.22) into the list of files a revision
//! should contain, so progress can be measured against a known total without the network.
//!
//! Format (`_tree_cache.py::write_tree_cache`): `{"format_version": 1, "files": {"<path>":
//! {"size": N, "blob_id": "<git sha1>", "lfs_sha256"?: "..", "lfs_size"?: N, "xet_hash"?: ".."}}}`.
//! Unknown keys are ignored so a newer writer adding fields does not blind us; an unknown
//! `format_version` is refused because its fields may mean something else. Files of the
//! writer's usual shape are read by [`quick`]; serde_json reads the rest and reports errors.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

mod quick;

/// The only tree-cache layout we understand.
const FORMAT_VERSION: u64 = 1;

/// One file of a revision, keyed the way its blob is named on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// The path, then the etag, in one string: a one-shot scan parses every tree file of the
    /// cache, and a `String` for each was a fifth of its allocations.
    text: String,
    path_len: usize,
    /// Content size: `lfs_size` when present (the `size` of an LFS file may be its pointer's).
    pub size: u64,
}

impl TreeEntry {
    pub fn new(path: &str, etag: &str, size: u64) -> Self {
        let mut text = String::with_capacity(path.len() + etag.len());
        text.push_str(path);
        text.push_str(etag);
        Self {
            text,
            path_len: path.len(),
            size,
        }
    }

    /// Path inside the repo, as listed in the tree.
    pub fn path(&self) -> &str {
        &self.text[..self.path_len]
    }

    /// Blob name in `blobs/`: the LFS sha256 when the file is in LFS/Xet, else the git blob sha1
    /// (that is what the Hub sends as `X-Linked-Etag` / `ETag`).
    pub fn etag(&self) -> &str {
        &self.text[self.path_len..]
    }
}

/// Why a tree file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("tree cache is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("tree cache is not UTF-8: {0}")]
    NotUtf8(#[from] std::str::Utf8Error),
    #[error("tree cache has format_version {0}, only 1 is understood")]
    UnknownFormat(u64),
    #[error("tree cache has no `{0}`")]
    MissingTopLevel(&'static str),
    #[error("tree cache entry {path:?} has no `{field}`")]
    MissingField { path: String, field: &'static str },
}

#[derive(Deserialize)]
struct RawTree {
    format_version: Option<u64>,
    files: Option<Files>,
}

/// The `files` object read straight into a list: a one-shot scan parses every tree file of
/// the cache (1.3 MB for 500 repos), and a map keyed by path plus an owned string per field
/// made this a fifth of the scan's user-space instructions.
struct Files(Vec<Pending>);

/// An entry whose missing field is reported only after sorting, so the error names the
/// same entry whatever order the writer used.
struct Pending {
    entry: TreeEntry,
    missing: Option<&'static str>,
}

/// A string borrowed from the file when it has no escapes (every hex id does), so only
/// the id that becomes the etag is copied.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

#[derive(Deserialize)]
struct RawFile<'a> {
    size: Option<u64>,
    #[serde(borrow)]
    blob_id: Option<Text<'a>>,
    #[serde(borrow)]
    lfs_sha256: Option<Text<'a>>,
    lfs_size: Option<u64>,
}

impl<'de> Deserialize<'de> for Files {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FilesVisitor;
        impl<'de> Visitor<'de> for FilesVisitor {
            type Value = Files;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of repo paths to file entries")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Files, A::Error> {
                let mut files = Vec::new();
                while let Some((path, file)) = map.next_entry::<Text<'de>, RawFile<'de>>()? {
                    files.push(pending(&path.0, file));
                }
                Ok(Files(files))
            }
        }
        deserializer.deserialize_map(FilesVisitor)
    }
}

/// Sorted by path, and the last of a repeated path wins, as a map would give.
fn arrange(mut files: Vec<Pending>) -> Vec<Pending> {
    files.sort_by(|a: &Pending, b: &Pending| a.entry.path().cmp(b.entry.path()));
    files.dedup_by(|later, kept| {
        let same = later.entry.path() == kept.entry.path();
        if same {
            std::mem::swap(later, kept);
        }
        same
    });
    files
}

fn pending(path: &str, file: RawFile<'_>) -> Pending {
    let etag = file.lfs_sha256.or(file.blob_id);
    let size = file.lfs_size.or(file.size);
    let missing = match (&etag, size) {
        (None, _) => Some("blob_id"),
        (_, None) => Some("size"),
        _ => None,
    };
    let etag = etag.as_ref().map_or("", |t| &t.0);
    Pending {
        entry: TreeEntry::new(path, etag, size.unwrap_or(0)),
        missing,
    }
}

/// Parse a tree cache file. Entries come back sorted by path (deterministic output).
pub fn parse_tree(json: &str) -> Result<Vec<TreeEntry>, TreeError> {
    let (format_version, files) = match quick::parse(json) {
        Some(read) => read,
        None => {
            let raw: RawTree = serde_json::from_str(json)?;
            (raw.format_version, raw.files.map(|Files(f)| f))
        }
    };
    match format_version {
        None => return Err(TreeError::MissingTopLevel("format_version")),
        Some(FORMAT_VERSION) => {}
        Some(other) => return Err(TreeError::UnknownFormat(other)),
    }
    let files = arrange(files.ok_or(TreeError::MissingTopLevel("files"))?);
    if let Some((path, field)) = files
        .iter()
        .find_map(|p| Some((p.entry.path(), p.missing?)))
    {
        return Err(TreeError::MissingField {
            path: path.to_owned(),
            field,
        });
    }
    Ok(files.into_iter().map(|p| p.entry).collect())
}

/// Bytes the revision occupies once complete: each etag counted once, because identical
/// files share one blob on disk (same rule as `hf cache ls`). Should one etag be listed with
/// different sizes (a corrupt tree), the largest wins so progress can never exceed 100%.
/// The scan gets this from `progress::Revision`; this plain form is the tests' reference.
#[cfg(test)]
pub(crate) fn expected_bytes(entries: &[TreeEntry]) -> u64 {
    distinct_sizes(entries)
        .iter()
        .fold(0, |sum: u64, (_, n)| sum.saturating_add(*n))
}

/// (etag, size) sorted by etag, one per etag, deduplicated as described on
/// [`expected_bytes`]: the reference the progress tests check `progress::Revision` against.
#[cfg(test)]
pub(crate) fn distinct_sizes(entries: &[TreeEntry]) -> Vec<(&str, u64)> {
    let mut sizes: Vec<(&str, u64)> = entries.iter().map(|e| (e.etag(), e.size)).collect();
    sizes.sort_unstable();
    // Equal etags are adjacent with the largest size last; keep that one.
    sizes.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            kept.1 = later.1;
        }
        same
    });
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SHA_A: &str = "0ad4f1d5a4b3b2e1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7";

    fn entry(path: &str, etag: &str, size: u64) -> TreeEntry {
        TreeEntry::new(path, etag, size)
    }

    #[test]
    fn lfs_fields_win_over_git_fields_and_extra_keys_are_ignored() {
        let json = format!(
            r#"{{"format_version": 1, "written_by": "future", "files": {{
              "model.safetensors": {{"size": 134, "blob_id": "aaaa", "lfs_sha256": "{SHA_A}",
                                     "lfs_size": 5000000000, "xet_hash": "ff", "new_key": [1]}},
              "config.json": {{"size": 612, "blob_id": "1d2e3f"}}
            }}}}"#
        );
        let got = parse_tree(&json).expect("valid tree");
        assert_eq!(
            got,
            vec![
                entry("config.json", "1d2e3f", 612),
                entry("model.safetensors", SHA_A, 5_000_000_000),
            ]
        );
    }

    #[test]
    fn null_optional_fields_fall_back_to_git_fields() {
        let json = r#"{"format_version": 1, "files": {"a": {"size": 3, "blob_id": "b1",
                       "lfs_sha256": null, "lfs_size": null}}}"#;
        assert_eq!(parse_tree(json).unwrap(), vec![entry("a", "b1", 3)]);
    }

    #[test]
    fn empty_file_list_is_valid() {
        let got = parse_tree(r#"{"format_version": 1, "files": {}}"#).unwrap();
        assert!(got.is_empty());
        assert_eq!(expected_bytes(&got), 0);
    }

    #[test]
    fn refuses_bad_json_unknown_version_and_missing_fields() {
        assert!(matches!(parse_tree("{not json"), Err(TreeError::Json(_))));
        assert!(matches!(parse_tree("[]"), Err(TreeError::Json(_))));
        assert!(matches!(
            parse_tree(r#"{"format_version": 2, "files": {}}"#),
            Err(TreeError::UnknownFormat(2))
        ));
        assert!(matches!(
            parse_tree(r#"{"files": {}}"#),
            Err(TreeError::MissingTopLevel("format_version"))
        ));
        assert!(matches!(
            parse_tree(r#"{"format_version": 1}"#),
            Err(TreeError::MissingTopLevel("files"))
        ));
        let no_size = r#"{"format_version": 1, "files": {"x/y.bin": {"blob_id": "b"}}}"#;
        match parse_tree(no_size) {
            Err(TreeError::MissingField { path, field }) => {
                assert_eq!((path.as_str(), field), ("x/y.bin", "size"));
            }
            other => panic!("expected MissingField, got {other:?}"),
        }
        let no_id = r#"{"format_version": 1, "files": {"c": {"size": 1}}}"#;
        assert!(matches!(
            parse_tree(no_id),
            Err(TreeError::MissingField {
                field: "blob_id",
                ..
            })
        ));
        let negative = r#"{"format_version": 1, "files": {"c": {"size": -1, "blob_id": "b"}}}"#;
        assert!(matches!(parse_tree(negative), Err(TreeError::Json(_))));
    }

    #[test]
    fn expected_bytes_counts_each_etag_once() {
        let entries = [
            entry("a/weights.bin", "e1", 100),
            entry("b/weights.bin", "e1", 100), // same content under two paths: one blob
            entry("c.txt", "e2", 7),
        ];
        assert_eq!(expected_bytes(&entries), 107);
        // A corrupt tree listing one etag with two sizes never shrinks the total.
        let odd = [entry("a", "e1", 5), entry("b", "e1", 9)];
        assert_eq!(expected_bytes(&odd), 9);
        // Absurd sizes saturate rather than panic on overflow.
        let huge = [entry("a", "e1", u64::MAX), entry("b", "e2", 1)];
        assert_eq!(expected_bytes(&huge), u64::MAX);
    }

    /// The parser before it read `files` into a list: serde's own map, owned strings.
    fn parse_with_a_map(json: &str) -> Result<Vec<TreeEntry>, String> {
        #[derive(Deserialize)]
        struct Tree {
            format_version: Option<u64>,
            files: Option<std::collections::BTreeMap<String, File>>,
        }
        #[derive(Deserialize)]
        struct File {
            size: Option<u64>,
            blob_id: Option<String>,
            lfs_sha256: Option<String>,
            lfs_size: Option<u64>,
        }
        let tree: Tree = serde_json::from_str(json).map_err(|_| "json".to_string())?;
        match tree.format_version {
            Some(FORMAT_VERSION) => {}
            other => return Err(format!("version {other:?}")),
        }
        let files = tree.files.ok_or("no files")?;
        files
            .into_iter()
            .map(|(path, f)| {
                let etag = f
                    .lfs_sha256
                    .or(f.blob_id)
                    .ok_or(format!("{path} blob_id"))?;
                let size = f.lfs_size.or(f.size).ok_or(format!("{path} size"))?;
                Ok(TreeEntry::new(&path, &etag, size))
            })
            .collect()
    }

    fn same_outcome(json: &str) -> Result<(), TestCaseError> {
        let got = parse_tree(json).map_err(|e| match e {
            TreeError::Json(_) => "json".to_string(),
            TreeError::UnknownFormat(v) => format!("version {:?}", Some(v)),
            TreeError::MissingTopLevel("format_version") => "version None".to_string(),
            TreeError::MissingTopLevel(_) => "no files".to_string(),
            TreeError::MissingField { path, field } => format!("{path} {field}"),
            TreeError::NotUtf8(e) => format!("not UTF-8: {e}"),
        });
        prop_assert_eq!(got, parse_with_a_map(json));
        Ok(())
    }

    /// JSON string literals, some with escapes so the borrowed path falls back to a copy.
    fn literal() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-c]{1,2}",
            "[a-c]\\\\u00e9[a-c]",
            "[a-c]\\\\n",
            "[0-9a-f]{8}",
        ]
    }

    /// Fields as the writer puts them (or leaves them out), which `quick` reads itself, and
    /// now and then a number JSON does not allow, which it must leave to serde.
    fn plain_field() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[0-9a-f]{1,8}".prop_map(|v| format!(r#""blob_id": "{v}""#)),
            4 => "[0-9a-f]{1,8}".prop_map(|v| format!(r#""lfs_sha256": "{v}""#)),
            4 => (0u64..5).prop_map(|n| format!(r#""size": {n}"#)),
            4 => (0u64..5).prop_map(|n| format!(r#""lfs_size": {n}"#)),
            4 => "[0-9a-f]{0,4}".prop_map(|v| format!(r#""xet_hash": "{v}""#)),
            4 => (0u64..3).prop_map(|n| format!(r#""new_key":{n}"#)),
            1 => Just(r#""size": 02"#.to_string()),
        ]
    }

    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => plain_field(),
            1 => literal().prop_map(|v| format!(r#""blob_id": "{v}""#)),
            1 => Just(r#""lfs_sha256": null"#.to_string()),
            1 => Just(r#""xet_hash": [1, {"x": 2}]"#.to_string()),
            1 => Just(r#""size": 1.5"#.to_string()),
        ]
    }

    /// Files whose every field is plain (read by `quick`) or any field (mostly left to serde).
    fn files() -> impl Strategy<Value = Vec<(String, Vec<String>)>> {
        let plain = ("[a-c]{1,2}", proptest::collection::vec(plain_field(), 0..5));
        let any = (literal(), proptest::collection::vec(field(), 0..5));
        prop_oneof![
            proptest::collection::vec(plain, 0..8),
            proptest::collection::vec(any, 0..8),
        ]
    }

    /// JSON whitespace, or none.
    fn gap() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["", " ", "\n  ", "\t", "\r\n"])
    }

    proptest! {
        /// Repeated paths (the last wins), escapes, missing and unknown fields, any order:
        /// the list-building parser agrees with the map it replaced, errors included.
        #[test]
        fn agrees_with_the_map_parser(
            files in files(),
            version in prop::sample::select(vec!["1", "1", "1", "2", "1.0", "null", "\"1\""]),
            files_first in any::<bool>(),
            extra in prop::option::of(plain_field()),
            gap in gap(),
        ) {
            let sep = format!(",{gap}");
            let body: Vec<String> = files
                .iter()
                .map(|(path, fields)| format!(r#""{path}"{gap}:{{{}}}"#, fields.join(&sep)))
                .collect();
            let mut top = vec![
                format!(r#""format_version":{gap}{version}"#),
                format!(r#""files": {{{gap}{}{gap}}}"#, body.join(&sep)),
            ];
            if files_first {
                top.reverse();
            }
            top.extend(extra);
            same_outcome(&format!("{gap}{{{}}}{gap}", top.join(&sep)))?;
        }
    }
}
