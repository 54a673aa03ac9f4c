//! Repo references: turn what users write (`org/name`, `gpt2`, `models--org--name`, Hub URLs,
//! `datasets/org/name`, `hf://…`, `org/name@rev`) into a validated repo id and its cache folder.
//!
//! Validation follows the Hub's grammar (hf-cache.md §2.1), which is also what keeps every
//! folder we derive inside the cache root: parts are `[\w\-.]{1,96}` without a leading or
//! trailing `-`/`.`, with no `--` and no `..`, so a folder name can never be `..` or contain `/`.

use std::fmt;
use std::str::FromStr;

/// The four repo kinds that have a folder prefix in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RepoType {
    Model,
    Dataset,
    Space,
    Kernel,
}

impl RepoType {
    pub const ALL: [RepoType; 4] = [Self::Model, Self::Dataset, Self::Space, Self::Kernel];

    /// The `repo_type` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::Dataset => "dataset",
            Self::Space => "space",
            Self::Kernel => "kernel",
        }
    }

    /// The folder prefix and URL segment: `models`, `datasets`, …
    pub fn plural(self) -> &'static str {
        match self {
            Self::Model => "models",
            Self::Dataset => "datasets",
            Self::Space => "spaces",
            Self::Kernel => "kernels",
        }
    }

    fn from_plural(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.plural() == s)
    }
}

impl FromStr for RepoType {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self, RefError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s || t.plural() == s)
            .ok_or_else(|| {
                RefError::new(s, "repo type must be one of model, dataset, space, kernel")
            })
    }
}

impl fmt::Display for RepoType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reference that failed to parse, with the input it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid repo reference {input:?}: {reason}")]
pub struct RefError {
    pub input: String,
    pub reason: String,
}

impl RefError {
    fn new(input: &str, reason: impl Into<String>) -> Self {
        Self {
            input: input.to_owned(),
            reason: reason.into(),
        }
    }
}

/// A validated repo: type, id with the caller's casing, and an optional pinned revision.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoRef {
    pub repo_type: RepoType,
    pub repo_id: String,
    pub revision: Option<String>,
}

impl RepoRef {
    /// Parse a user reference. `explicit` is the config's `type:`; it must agree with a type
    /// spelled in the reference itself.
    pub fn parse(input: &str, explicit: Option<RepoType>) -> Result<Self, RefError> {
        let raw = input.trim();
        if raw.is_empty() {
            return Err(RefError::new(input, "empty"));
        }
        let (spelled, id_and_rest, mut revision) =
            split_forms(raw).map_err(|r| RefError::new(input, r))?;
        let repo_type = match (spelled, explicit) {
            (Some(a), Some(b)) if a != b => {
                return Err(RefError::new(input, format!("names a {a} but type is {b}")));
            }
            (a, b) => a.or(b).unwrap_or(RepoType::Model),
        };
        let (id_part, at_rev) = match id_and_rest.as_str().split_once('@') {
            Some((id, rev)) => (id, Some(rev)),
            None => (id_and_rest.as_str(), None),
        };
        if let Some(rev) = at_rev {
            // `org/name@rev/path/in/repo`: the revision ends at the first `/`.
            let rev = rev.split('/').next().unwrap_or_default();
            revision = Some(rev.to_owned());
        }
        let parts: Vec<&str> = id_part.split('/').filter(|p| !p.is_empty()).collect();
        let repo_id = match parts.as_slice() {
            [] => return Err(RefError::new(input, "no repo id")),
            [name] => (*name).to_owned(),
            // Anything after org/name is a file inside the repo (`org/repo/file.gguf`).
            [org, name, ..] => format!("{org}/{name}"),
        };
        validate_repo_id(&repo_id).map_err(|r| RefError::new(input, r))?;
        if let Some(rev) = &revision {
            validate_revision(rev).map_err(|r| RefError::new(input, r))?;
        }
        Ok(Self {
            repo_type,
            repo_id,
            revision,
        })
    }

    /// Pin a revision given on its own (the config's `revision:`). There a `/` belongs to the
    /// revision (`refs/pr/1`, `feature/x`), while in `org/name@rev/file` it starts a path.
    pub fn with_revision(mut self, rev: &str) -> Result<Self, RefError> {
        let input = format!("{}@{rev}", self.repo_id);
        validate_revision(rev).map_err(|r| RefError::new(&input, r))?;
        self.revision = Some(rev.to_owned());
        Ok(self)
    }

    /// `models--org--name`: the folder huggingface_hub creates for this repo.
    pub fn folder_name(&self) -> String {
        folder_name(self.repo_type, &self.repo_id)
    }
}

impl fmt::Display for RepoRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.repo_type != RepoType::Model {
            write!(f, "{}/", self.repo_type.plural())?;
        }
        f.write_str(&self.repo_id)?;
        match &self.revision {
            Some(rev) => write!(f, "@{rev}"),
            None => Ok(()),
        }
    }
}

/// `{type}s--org--name`, as `file_download.py::repo_folder_name` builds it.
pub fn folder_name(repo_type: RepoType, repo_id: &str) -> String {
    format!("{}--{}", repo_type.plural(), repo_id.replace('/', "--"))
}

/// Parse a cache folder name back into (type, repo id), keeping its casing. `None` for
/// anything that is not a repo folder: unknown prefixes, `.locks`, `blobs`, ids with more
/// than one `/` (not a valid Hub id, so not something to export as a label).
pub fn parse_folder_name(name: &str) -> Option<(RepoType, String)> {
    let (prefix, rest) = name.split_once("--")?;
    let repo_type = RepoType::from_plural(prefix)?;
    let parts: Vec<&str> = rest.split("--").collect();
    if parts.len() > 2 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    Some((repo_type, parts.join("/")))
}

/// Split the syntactic wrappers off: returns (type spelled in the input, `id[@rev][/rest]`,
/// revision from a URL `/tree/<rev>` or `/resolve/<rev>` tail).
fn split_forms(raw: &str) -> Result<(Option<RepoType>, String, Option<String>), String> {
    if let Some(rest) = raw.strip_prefix("hf://") {
        return Ok(owned(typed_path(rest)));
    }
    if let Some(rest) = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
    {
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        if !matches!(host, "huggingface.co" | "www.huggingface.co" | "hf.co") {
            return Err(format!("not a Hugging Face URL (host {host:?})"));
        }
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let (t, path, _) = typed_path(path);
        let mut segs = path.splitn(4, '/');
        let (first, second, third, fourth) = (segs.next(), segs.next(), segs.next(), segs.next());
        // `org/name/tree/<rev>`, `org/name/resolve/<rev>/file`, `org/name/blob/<rev>/file`.
        let (id_len, rev) = match (second, third, fourth) {
            (Some(_), Some("tree" | "resolve" | "blob"), Some(rev)) => (
                2,
                Some(rev.split('/').next().unwrap_or_default().to_owned()),
            ),
            (Some(_), Some(_), _) => (2, None),
            _ => (
                usize::from(first.is_some()) + usize::from(second.is_some()),
                None,
            ),
        };
        let end = path
            .split('/')
            .take(id_len)
            .map(|s| s.len() + 1)
            .sum::<usize>()
            .saturating_sub(1);
        return Ok((t, path[..end.min(path.len())].to_owned(), rev));
    }
    if let Some((prefix, rest)) = raw.split_once("--") {
        if let Some(t) = RepoType::from_plural(prefix) {
            if rest.split("--").count() > 2 {
                return Err("folder name has more than one `--` after the type".into());
            }
            // A folder name: `models--org--name` → `org/name`.
            return Ok((Some(t), rest.replace("--", "/"), None));
        }
    }
    Ok(owned(typed_path(raw)))
}

type Forms = (Option<RepoType>, String, Option<String>);

fn owned((t, path, rev): (Option<RepoType>, &str, Option<String>)) -> Forms {
    (t, path.to_owned(), rev)
}

/// `datasets/org/name` → (Dataset, `org/name`); three or more parts are needed so that a
/// model `datasets/x` (org named like a type) is not misread.
fn typed_path(path: &str) -> (Option<RepoType>, &str, Option<String>) {
    let path = path.trim_start_matches('/');
    if let Some((first, rest)) = path.split_once('/') {
        if let Some(t) = RepoType::from_plural(first) {
            if !rest.is_empty() {
                return (Some(t), rest, None);
            }
        }
    }
    (None, path, None)
}

/// The Hub's `validate_repo_id`: at most one `/`, each part `[\w\-.]{1,96}` with no leading
/// or trailing `-`/`.`, no `--`, no `..`, and no `.git` ending.
pub fn validate_repo_id(id: &str) -> Result<(), String> {
    if id.contains("--") {
        return Err("`--` is not allowed in a repo id".into());
    }
    if id.contains("..") {
        return Err("`..` is not allowed in a repo id".into());
    }
    if id.ends_with(".git") {
        return Err("a repo id cannot end with `.git`".into());
    }
    let parts: Vec<&str> = id.split('/').collect();
    if parts.len() > 2 {
        return Err("a repo id has at most one `/`".into());
    }
    for part in parts {
        if part.is_empty() || part.chars().count() > 96 {
            return Err(format!("{part:?} must be 1 to 96 characters"));
        }
        if let Some(c) = part
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.')))
        {
            return Err(format!(
                "character {c:?} is not allowed (letters, digits, `_`, `-`, `.`)"
            ));
        }
        if part.starts_with(['-', '.']) || part.ends_with(['-', '.']) {
            return Err(format!("{part:?} cannot start or end with `-` or `.`"));
        }
    }
    Ok(())
}

/// Revisions become at most a ref file name under `refs/` (read, never written); keep them to
/// what git allows and reject anything that could walk out of that folder.
fn validate_revision(rev: &str) -> Result<(), String> {
    let ok = !rev.is_empty()
        && rev.len() <= 255
        && !rev.starts_with('/')
        && !rev
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        && rev
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
    if ok {
        Ok(())
    } else {
        Err(format!("invalid revision {rev:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str) -> (RepoType, String, Option<String>) {
        let r = RepoRef::parse(input, None).unwrap_or_else(|e| panic!("{input}: {e}"));
        (r.repo_type, r.repo_id, r.revision)
    }

    fn model(id: &str) -> (RepoType, String, Option<String>) {
        (RepoType::Model, id.to_owned(), None)
    }

    fn pinned(id: &str, rev: &str) -> (RepoType, String, Option<String>) {
        (RepoType::Model, id.to_owned(), Some(rev.to_owned()))
    }

    #[test]
    fn plain_ids_keep_their_case() {
        assert_eq!(
            ok("meta-llama/Llama-3.1-8B"),
            model("meta-llama/Llama-3.1-8B")
        );
        assert_eq!(ok("gpt2"), model("gpt2"));
        assert_eq!(
            ok("  acme-org/tiny-model.v1_0 "),
            model("acme-org/tiny-model.v1_0")
        );
    }

    #[test]
    fn folder_names() {
        assert_eq!(ok("models--Org--X"), model("Org/X"));
        assert_eq!(ok("models--gpt2"), model("gpt2"));
        assert_eq!(ok("datasets--acme--data").0, RepoType::Dataset);
        assert_eq!(ok("kernels--acme--k").1, "acme/k");
        assert!(RepoRef::parse("models--a--b--c", None).is_err());
    }

    #[test]
    fn urls_with_and_without_tails() {
        assert_eq!(ok("https://huggingface.co/org/name"), model("org/name"));
        assert_eq!(
            ok("https://huggingface.co/org/name/tree/v1.0"),
            pinned("org/name", "v1.0")
        );
        let r = ok("https://huggingface.co/org/name/resolve/main/sub/file.bin?download=true");
        assert_eq!(r, pinned("org/name", "main"));
        assert_eq!(
            ok("https://huggingface.co/datasets/org/data").0,
            RepoType::Dataset
        );
        assert_eq!(ok("https://hf.co/gpt2"), model("gpt2"));
        assert!(RepoRef::parse("https://example.com/org/name", None).is_err());
    }

    #[test]
    fn typed_paths_and_hf_scheme() {
        assert_eq!(
            ok("datasets/org/name"),
            (RepoType::Dataset, "org/name".into(), None)
        );
        assert_eq!(ok("spaces/org/demo").0, RepoType::Space);
        assert_eq!(
            ok("hf://datasets/org/name"),
            (RepoType::Dataset, "org/name".into(), None)
        );
        assert_eq!(ok("hf://org/name@v2/file.txt"), pinned("org/name", "v2"));
    }

    #[test]
    fn file_paths_and_revisions() {
        let r = ok("TheBloke/Mistral-7B-Instruct-v0.2-GGUF/mistral-7b-instruct-v0.2.Q4_K_M.gguf");
        assert_eq!(r, model("TheBloke/Mistral-7B-Instruct-v0.2-GGUF"));
        assert_eq!(ok("org/name@main"), pinned("org/name", "main"));
    }

    #[test]
    fn explicit_type_must_agree() {
        let r = RepoRef::parse("org/data", Some(RepoType::Dataset)).unwrap();
        assert_eq!(r.repo_type, RepoType::Dataset);
        assert!(RepoRef::parse("datasets/org/data", Some(RepoType::Space)).is_err());
    }

    #[test]
    fn grammar_rejections() {
        let bad = [
            "",
            "a--b",
            "../etc",
            "org/..",
            "org/.hidden",
            "org/name-",
            "org/na me",
            "x.git",
            "a/b\\c",
            "org/\u{0}",
            "org/name@../../x",
            "org/name@",
        ];
        for input in bad {
            assert!(
                RepoRef::parse(input, None).is_err(),
                "{input:?} should be rejected"
            );
        }
        assert!(RepoRef::parse(&"a".repeat(97), None).is_err());
        assert!(RepoRef::parse(&"a".repeat(96), None).is_ok());
    }

    #[test]
    fn folder_round_trip_stays_one_path_component() {
        for input in ["org/name", "gpt2", "datasets/a.b/c_d", "spaces/x/y-z"] {
            let r = RepoRef::parse(input, None).unwrap();
            let folder = r.folder_name();
            assert!(
                !folder.contains('/') && !folder.starts_with('.'),
                "{folder}"
            );
            assert_eq!(
                parse_folder_name(&folder),
                Some((r.repo_type, r.repo_id.clone()))
            );
        }
    }

    #[test]
    fn discovery_parsing() {
        assert_eq!(
            parse_folder_name("models--Org--X"),
            Some((RepoType::Model, "Org/X".into()))
        );
        assert_eq!(
            parse_folder_name("models--gpt2"),
            Some((RepoType::Model, "gpt2".into()))
        );
        let junk = [
            ".locks",
            "blobs",
            "CACHEDIR.TAG",
            "model--a--b",
            "models--a--b--c",
            "models--",
        ];
        for name in junk {
            assert_eq!(parse_folder_name(name), None, "{name}");
        }
    }
}
