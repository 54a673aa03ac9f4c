//! Property tests for the three parsers that take untrusted text: repo references (from flags,
//! config and `/download_progress` queries), the YAML config and the `Accept` header. None may
//! panic, no accepted reference may name a path outside the cache root, and the round trips
//! hold. Case counts stay modest so `cargo test` stays fast; `fuzz/` runs the same parsers for
//! as long as you like.

use std::path::{Component, Path};

use hf_cache_exporter::accept::{Format, negotiate};
use hf_cache_exporter::config::{ConfigError, Overrides, PathEnv, Settings};
use hf_cache_exporter::repo_ref::{RepoRef, RepoType, parse_folder_name};
use proptest::prelude::*;

/// A Hub id part: `[\w.-]{1,96}` without a leading/trailing `-`/`.`, no `--`, no `..`.
fn part() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_]([A-Za-z0-9_]|[.-][A-Za-z0-9_]){0,20}"
}

fn repo_type() -> impl Strategy<Value = RepoType> {
    prop::sample::select(RepoType::ALL.to_vec())
}

/// A valid id: `name` or `org/name`. Orgs spelled like a type plural (`datasets/x`) are left
/// out: that spelling is read as a typed path, as the README says.
fn repo_id() -> impl Strategy<Value = String> {
    (prop::option::of(part()), part())
        .prop_filter("org named like a type", |(org, _)| {
            !org.as_deref()
                .is_some_and(|o| RepoType::ALL.iter().any(|t| t.plural() == o))
        })
        .prop_map(|(org, name)| match org {
            Some(o) => format!("{o}/{name}"),
            None => name,
        })
}

fn revision() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_]([A-Za-z0-9_.-]{0,10}[A-Za-z0-9_])?(/[A-Za-z0-9_]{1,8}){0,2}"
        .prop_filter("no `..`", |r| !r.contains(".."))
}

/// Text that looks like references: the spellings' building blocks, glued at random.
fn ref_like() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "models",
        "datasets",
        "spaces",
        "kernels",
        "--",
        "/",
        "@",
        "..",
        ".",
        "-",
        "_",
        "org",
        "name",
        "hf://",
        "https://huggingface.co/",
        "https://hf.co/",
        "tree",
        "resolve",
        "main",
        "\0",
        "\\",
        " ",
        "é",
        "%2F",
        "?",
        "#",
        "~",
        "$HOME",
        ".git",
        "a",
        "0",
    ]);
    prop::collection::vec(atoms, 0..12).prop_map(|v| v.concat())
}

/// The HF folder grammar: `{type}s--part` or `{type}s--part--part`, parts as [`part`].
fn is_hub_folder(folder: &str) -> bool {
    let Some((prefix, rest)) = folder.split_once("--") else {
        return false;
    };
    let parts: Vec<&str> = rest.split("--").collect();
    RepoType::ALL.iter().any(|t| t.plural() == prefix)
        && (1..=2).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars().count() <= 96
                && p.chars().all(|c| c.is_alphanumeric() || "_-.".contains(c))
                && !p.starts_with(['-', '.'])
                && !p.ends_with(['-', '.'])
                && !p.contains("..")
        })
}

/// Joined under a root, the path has exactly `n` more normal components: nothing escapes.
fn stays_below(rel: &str, n: usize) -> bool {
    let p = Path::new("/cache/root").join(rel);
    !rel.contains('\0')
        && p.starts_with("/cache/root")
        && p.components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
        && p.components().count() == 3 + n
}

/// Every accepted reference names one folder in the root, and its revision stays in `refs/`.
fn assert_safe(r: &RepoRef) -> Result<(), TestCaseError> {
    let folder = r.folder_name();
    prop_assert!(is_hub_folder(&folder), "folder {folder:?}");
    prop_assert!(stays_below(&folder, 1), "folder {folder:?}");
    if let Some(rev) = &r.revision {
        let under_refs = format!("refs/{rev}");
        let depth = rev.split('/').count() + 1;
        prop_assert!(stays_below(&under_refs, depth), "revision {rev:?}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn repo_ref_never_panics_and_never_escapes(input in any::<String>()) {
        if let Ok(r) = RepoRef::parse(&input, None) {
            assert_safe(&r)?;
        }
    }

    #[test]
    fn repo_ref_like_text_never_escapes(input in ref_like(), t in prop::option::of(repo_type())) {
        if let Ok(r) = RepoRef::parse(&input, t) {
            assert_safe(&r)?;
            if let Some(t) = t {
                prop_assert_eq!(r.repo_type, t);
            }
        }
    }

    #[test]
    fn folder_name_round_trips(t in repo_type(), id in repo_id()) {
        let r = RepoRef { repo_type: t, repo_id: id.clone(), revision: None };
        let folder = r.folder_name();
        prop_assert_eq!(parse_folder_name(&folder), Some((t, id.clone())));
        prop_assert_eq!(RepoRef::parse(&folder, None).unwrap(), r.clone());
        assert_safe(&r)?;
    }

    /// `Display` round-trips for revisions without `/` (in the one-string form `@a/b` reads as
    /// revision `a` and a path `b` inside the repo; the config's map form keeps slashes).
    #[test]
    fn display_round_trips(t in repo_type(), id in repo_id(), rev in prop::option::of("[A-Za-z0-9_]([A-Za-z0-9_.-]{0,10}[A-Za-z0-9_])?")) {
        prop_assume!(!rev.as_deref().is_some_and(|r| r.contains("..")));
        let r = RepoRef { repo_type: t, repo_id: id, revision: rev };
        let shown = r.to_string();
        prop_assert_eq!(RepoRef::parse(&shown, None).unwrap(), r.clone(), "via {:?}", shown);
        let url = format!("https://huggingface.co/{}", shown.split('@').next().unwrap());
        let via_url = RepoRef::parse(&url, None).unwrap();
        prop_assert_eq!((via_url.repo_type, via_url.repo_id), (r.repo_type, r.repo_id));
    }

    #[test]
    fn parse_folder_name_never_panics_and_stays_one_component(name in any::<String>()) {
        if let Some((t, id)) = parse_folder_name(&name) {
            prop_assert_eq!(format!("{}--{}", t.plural(), id.replace('/', "--")), name);
        }
    }
}

fn resolve(text: &str) -> Result<Settings, ConfigError> {
    let env = |_: &str| None;
    let penv = PathEnv {
        env: &env,
        home: Some(Path::new("/home/u")),
    };
    Settings::resolve(Some(("f.yaml", text)), &Overrides::default(), &penv)
}

/// Config-shaped YAML: real keys and nesting with values drawn from good and bad spellings.
fn config_like() -> impl Strategy<Value = String> {
    let value = prop::sample::select(vec![
        "30s",
        "0s",
        "1h30m",
        "-1s",
        "abc",
        "99999999999999999999h",
        "on-scrape",
        "interval",
        "auto",
        "on",
        "off",
        "true",
        "3",
        "org/name",
        "models--a--b",
        "../../etc",
        "a--b",
        "\"datasets/org/d@v1\"",
        "{repo: org/x, type: dataset}",
        "{repo: x, revision: ..}",
        ":10150",
        "127.0.0.1:0",
        "[::1]:9",
        "~/hub",
        "$HOME/x",
        "[]",
        "{}",
        "null",
        "'",
        "\"",
        "\t",
        "[a, b]",
        "{path: /x, name: n}",
    ]);
    let key = prop::sample::select(vec![
        "caches",
        "models",
        "aliases",
        "discover",
        "max_repos",
        "scan",
        "mode",
        "interval",
        "min_interval",
        "web",
        "listen_addresses",
        "telemetry_path",
        "cors_origin",
        "downloads",
        "stall_after",
        "abandon_after",
        "lock_probe",
        "log",
        "level",
        "format",
        "path",
        "name",
        "bogus",
    ]);
    let line = (0..3usize, key, prop::bool::ANY, value).prop_map(|(indent, k, list, v)| {
        let dash = if list { "- " } else { "" };
        format!("{}{k}: {dash}{v}", "  ".repeat(indent))
    });
    prop::collection::vec(line, 0..8).prop_map(|v| v.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The config's map form gives exactly the repo it spells, slashed revisions included.
    #[test]
    fn config_model_map_round_trips(t in repo_type(), id in repo_id(), rev in revision()) {
        let text = format!("models:\n  - {{repo: \"{id}\", type: {t}, revision: \"{rev}\"}}\n");
        let s = resolve(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let want = RepoRef { repo_type: t, repo_id: id, revision: Some(rev) };
        prop_assert_eq!(&s.models, &vec![want]);
    }
}

fn check_config(text: &str) -> Result<(), TestCaseError> {
    match resolve(text) {
        Ok(s) => {
            for r in s.models.iter().chain(s.aliases.values()) {
                assert_safe(r)?;
            }
        }
        Err(e) => {
            // Where the YAML itself is malformed (and the YAML parser can say where), the error
            // carries a line and column; it may be an earlier, semantic one.
            let yaml = serde_yaml::from_str::<serde_yaml::Value>(text).err();
            if yaml.as_ref().and_then(|y| y.location()).is_some() {
                let ConfigError::Parse { line, column, .. } = e else {
                    return Err(TestCaseError::fail(format!("no location in {e}")));
                };
                prop_assert!(line >= 1 && column >= 1, "{line}:{column}");
            }
            prop_assert!(!e.to_string().contains(":0:0"), "{e}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn config_never_panics_on_any_text(text in any::<String>()) {
        check_config(&text)?;
    }

    #[test]
    fn config_never_panics_on_config_like_yaml(text in config_like()) {
        check_config(&text)?;
    }

    #[test]
    fn accept_never_panics(header in any::<String>()) {
        let _ = negotiate(Some(&header));
    }

    /// OpenMetrics only when explicitly asked for: text without the media type stays text.
    #[test]
    fn accept_without_openmetrics_is_text(header in "[ -~]{0,80}") {
        prop_assume!(!header.to_ascii_lowercase().contains("openmetrics"));
        prop_assert_eq!(negotiate(Some(&header)), Format::PrometheusText);
    }

    /// An explicit OpenMetrics range with q > 0 and nothing else wins; with q = 0 it never does.
    #[test]
    fn accept_openmetrics_q(q in 0u16..=1000, version in prop::sample::select(vec!["", ";version=1.0.0", ";version=0.0.1"])) {
        let qs = if q == 1000 { "1".to_owned() } else { format!("0.{q:03}") };
        let header = format!("application/openmetrics-text{version};q={qs}");
        let want = if q > 0 { Format::OpenMetrics } else { Format::PrometheusText };
        prop_assert_eq!(negotiate(Some(&header)), want, "{}", header);
    }
}
