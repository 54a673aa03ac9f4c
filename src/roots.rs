//! Where the Hugging Face hub cache lives (docs/hf-cache.md §1.1). Mirrors
//! `huggingface_hub/constants.py` step by step, with Python `expanduser` + `expandvars` semantics,
//! so the exporter watches the folder the Python client writes to. Pure: environment and home are
//! arguments; only [`default_cache_root_from_env`] reads the process state.

use std::path::{Path, PathBuf};

/// Resolve the default hub cache root exactly as huggingface_hub does:
/// HF_HUB_CACHE > HUGGINGFACE_HUB_CACHE > $HF_HOME/hub > $XDG_CACHE_HOME/huggingface/hub >
/// ~/.cache/huggingface/hub. Empty values count as set (Python `os.getenv`), and both `HF_HOME`
/// and the final value are expanded, as in Python (so `HF_HOME` is in effect expanded twice).
pub fn default_cache_root(env: &dyn Fn(&str) -> Option<String>, home: Option<&Path>) -> PathBuf {
    let expand = |s: &str| expand_vars(&expand_user(s, home), env);
    let default_home = py_join(&expand_user("~", home), ".cache");
    let hf_home_raw = env("HF_HOME").unwrap_or_else(|| {
        let xdg = env("XDG_CACHE_HOME").unwrap_or(default_home);
        py_join(&xdg, "huggingface")
    });
    let default_cache_path = py_join(&expand(&hf_home_raw), "hub");
    let legacy = env("HUGGINGFACE_HUB_CACHE").unwrap_or(default_cache_path);
    PathBuf::from(expand(&env("HF_HUB_CACHE").unwrap_or(legacy)))
}

/// `~` + `$VAR` expansion of a user-given path (used for --cache.dir and config `caches[].path`),
/// with the same rules as the Python client so a path copied from a Python config means the same.
pub fn expand_path(
    raw: &str,
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> PathBuf {
    PathBuf::from(expand_vars(&expand_user(raw, home), env))
}

/// Production convenience: default_cache_root with the process environment and
/// dirs::home_dir(). Non-UTF-8 values are converted lossily rather than treated as unset, so
/// precedence stays the same as in Python.
pub fn default_cache_root_from_env() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned());
    default_cache_root(&env, dirs::home_dir().as_deref())
}

/// Python `os.path.join(a, b)` for two POSIX strings: an absolute `b` wins, an empty `a` adds
/// nothing (so `HF_HOME=""` yields the relative `hub`, as in Python).
fn py_join(a: &str, b: &str) -> String {
    if b.starts_with('/') || a.is_empty() {
        b.to_owned()
    } else if a.ends_with('/') {
        format!("{a}{b}")
    } else {
        format!("{a}/{b}")
    }
}

/// Python `posixpath.expanduser`: only a leading `~` or `~/`; `~user` and a missing home leave
/// the string alone; the home's trailing `/` is dropped (so home `/` gives `/x`, not `//x`).
fn expand_user(path: &str, home: Option<&Path>) -> String {
    let Some(rest) = path.strip_prefix('~') else {
        return path.to_owned();
    };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return path.to_owned();
    }
    let Some(home) = home else {
        return path.to_owned();
    };
    let home = home.to_string_lossy();
    let joined = format!("{}{rest}", home.trim_end_matches('/'));
    if joined.is_empty() {
        "/".to_owned()
    } else {
        joined
    }
}

/// Python `posixpath.expandvars`: `$name` (ASCII word chars) and `${name}`; unknown variables
/// stay as written and substituted values are not expanded again.
fn expand_vars(path: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let (name, len) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        match (len, (!name.is_empty()).then(|| env(name)).flatten()) {
            (0, _) => {
                out.push('$');
                rest = after;
            }
            (_, Some(value)) => {
                out.push_str(&value);
                rest = &after[len..];
            }
            (_, None) => {
                out.push('$');
                out.push_str(&after[..len]);
                rest = &after[len..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    fn root(vars: &[(&str, &str)], home: Option<&str>) -> PathBuf {
        default_cache_root(&env_of(vars), home.map(Path::new))
    }

    #[test]
    fn precedence_chain_each_step() {
        let all = [
            ("HF_HUB_CACHE", "/a"),
            ("HUGGINGFACE_HUB_CACHE", "/b"),
            ("HF_HOME", "/c"),
            ("XDG_CACHE_HOME", "/d"),
        ];
        let h = Some("/home/u");
        assert_eq!(root(&all, h), PathBuf::from("/a"));
        assert_eq!(root(&all[1..], h), PathBuf::from("/b"));
        assert_eq!(root(&all[2..], h), PathBuf::from("/c/hub"));
        assert_eq!(root(&all[3..], h), PathBuf::from("/d/huggingface/hub"));
        assert_eq!(
            root(&[], h),
            PathBuf::from("/home/u/.cache/huggingface/hub")
        );
    }

    #[test]
    fn empty_values_count_as_set() {
        let h = Some("/home/u");
        assert_eq!(
            root(&[("HF_HUB_CACHE", ""), ("HF_HOME", "/c")], h),
            PathBuf::from("")
        );
        assert_eq!(
            root(&[("HF_HOME", ""), ("XDG_CACHE_HOME", "/d")], h),
            PathBuf::from("hub")
        );
        assert_eq!(
            root(&[("XDG_CACHE_HOME", "")], h),
            PathBuf::from("huggingface/hub")
        );
    }

    #[test]
    fn tilde_and_vars_are_expanded_at_every_step() {
        let h = Some("/home/u");
        assert_eq!(
            root(&[("HF_HUB_CACHE", "~/hc")], h),
            PathBuf::from("/home/u/hc")
        );
        assert_eq!(
            root(&[("HUGGINGFACE_HUB_CACHE", "$D/legacy"), ("D", "/data")], h),
            PathBuf::from("/data/legacy")
        );
        assert_eq!(
            root(&[("HF_HOME", "~/hf")], h),
            PathBuf::from("/home/u/hf/hub")
        );
        assert_eq!(
            root(&[("XDG_CACHE_HOME", "${X}/c"), ("X", "/x")], h),
            PathBuf::from("/x/c/huggingface/hub")
        );
        // HF_HOME is expanded, then the default cache path is expanded again (Python does too).
        assert_eq!(
            root(&[("HF_HOME", "$A"), ("A", "$B"), ("B", "/twice")], h),
            PathBuf::from("/twice/hub")
        );
        // ...but the explicit HF_HUB_CACHE value only once.
        assert_eq!(
            root(&[("HF_HUB_CACHE", "$A"), ("A", "$B"), ("B", "/x")], h),
            PathBuf::from("$B")
        );
    }

    #[test]
    fn missing_home_leaves_tilde() {
        assert_eq!(root(&[], None), PathBuf::from("~/.cache/huggingface/hub"));
        assert_eq!(root(&[("HF_HOME", "/c")], None), PathBuf::from("/c/hub"));
        assert_eq!(
            root(&[], Some("/")),
            PathBuf::from("/.cache/huggingface/hub")
        );
    }

    #[test]
    fn expand_path_python_semantics() {
        let env = env_of(&[("A", "/a"), ("EMPTY", ""), ("A_1", "x")]);
        let e = |raw: &str| expand_path(raw, &env, Some(Path::new("/home/u/")));
        assert_eq!(e("~"), PathBuf::from("/home/u"));
        assert_eq!(e("~/m"), PathBuf::from("/home/u/m"));
        assert_eq!(e("~bob/m"), PathBuf::from("~bob/m"));
        assert_eq!(e("/x/~/m"), PathBuf::from("/x/~/m"));
        assert_eq!(e("$A/m"), PathBuf::from("/a/m"));
        assert_eq!(e("${A}m"), PathBuf::from("/am"));
        assert_eq!(e("$A_1-$A"), PathBuf::from("x-/a"));
        assert_eq!(e("[$EMPTY]"), PathBuf::from("[]"));
        assert_eq!(e("$NOPE/${NOPE}/$"), PathBuf::from("$NOPE/${NOPE}/$"));
        assert_eq!(e("${A/${}/$-/${A}"), PathBuf::from("${A/${}/$-//a"));
        assert_eq!(e("é$Aé"), PathBuf::from("é/aé"));
        assert_eq!(e("é${A}é"), PathBuf::from("é/aé"));
        assert_eq!(expand_path("~/m", &env, None), PathBuf::from("~/m"));
    }
}
