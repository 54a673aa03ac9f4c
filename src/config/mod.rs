//! Resolved settings: the YAML file (if any) overlaid by flags, with defaults filled in.
//! Parsing is pure ([`Settings::resolve`] takes text); [`load`] is the thin file-reading half.

mod file;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use file::{FileConfig, LockProbe, ScanMode};

use crate::listen::ListenAddr;
use crate::logging::{Level, LogFormat};
use crate::repo_ref::RepoRef;

/// One cache root to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSpec {
    /// The `cache` label: the configured name, else the path as given.
    pub name: String,
    pub path: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub caches: Vec<CacheSpec>,
    pub models: Vec<RepoRef>,
    pub aliases: BTreeMap<String, RepoRef>,
    /// Export every repo folder found (also true when no models are configured).
    pub discover: bool,
    pub max_repos: usize,
    pub scan_mode: ScanMode,
    pub scan_interval: Duration,
    pub scan_min_interval: Duration,
    /// The server's scans reuse unchanged directories; every this often one lists everything.
    /// Zero: every scan is a full one.
    pub scan_full_every: Duration,
    /// Walker threads per scan; 0 = one per CPU, up to 8.
    pub scan_threads: usize,
    pub listen: Vec<ListenAddr>,
    pub telemetry_path: String,
    pub disable_exporter_metrics: bool,
    pub cors_origin: String,
    /// `--web.config.file`: TLS and basic auth, checked by [`crate::web_config`].
    pub web_config_file: Option<PathBuf>,
    /// `--web.max-requests`: concurrent telemetry/progress requests; 0 = unlimited.
    pub max_requests: usize,
    pub stall_after: Duration,
    pub abandon_after: Duration,
    pub lock_probe: LockProbe,
    pub log_level: Level,
    pub log_format: LogFormat,
}

/// Values given on the command line (or their env vars); `None`/empty = not given.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub cache_dirs: Vec<String>,
    pub models: Vec<RepoRef>,
    pub listen: Vec<ListenAddr>,
    pub telemetry_path: Option<String>,
    pub disable_exporter_metrics: bool,
    pub web_config_file: Option<PathBuf>,
    pub max_requests: Option<usize>,
    pub scan_mode: Option<ScanMode>,
    pub scan_interval: Option<Duration>,
    pub scan_min_interval: Option<Duration>,
    pub scan_full_every: Option<Duration>,
    pub scan_threads: Option<usize>,
    pub stall_after: Option<Duration>,
    pub abandon_after: Option<Duration>,
    pub lock_probe: Option<LockProbe>,
    pub log_level: Option<Level>,
    pub log_format: Option<LogFormat>,
}

/// A config problem, located as precisely as we can.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

/// How a path or `~`/`$VAR` in it gets expanded; injected so resolution stays testable.
pub struct PathEnv<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub home: Option<&'a Path>,
}

impl Settings {
    /// Parse `text` (the file named `file`, for messages) and overlay `over`.
    pub fn resolve(
        file: Option<(&str, &str)>,
        over: &Overrides,
        penv: &PathEnv,
    ) -> Result<Self, ConfigError> {
        let name = file.map_or("<flags>", |(n, _)| n).to_owned();
        let fc = match file {
            Some((n, text)) => parse_file(n, text)?,
            None => FileConfig::default(),
        };
        let invalid = |message: String| ConfigError::Invalid {
            file: name.clone(),
            message,
        };

        let caches = if !over.cache_dirs.is_empty() {
            over.cache_dirs
                .iter()
                .map(|d| cache_spec(d, None, penv))
                .collect()
        } else if !fc.caches.is_empty() {
            fc.caches
                .iter()
                .map(|c| cache_spec(&c.path, c.name.as_deref(), penv))
                .collect()
        } else {
            let root = crate::roots::default_cache_root(penv.env, penv.home);
            vec![CacheSpec {
                name: root.display().to_string(),
                path: root,
            }]
        };
        let mut seen = std::collections::HashSet::new();
        for c in &caches {
            if c.name.is_empty() {
                return Err(invalid("caches: a cache name cannot be empty".into()));
            }
            if !seen.insert(c.name.clone()) {
                return Err(invalid(format!(
                    "caches: two caches are named {:?}; give them distinct `name`s",
                    c.name
                )));
            }
        }
        let mut models: Vec<RepoRef> = if over.models.is_empty() {
            fc.models.into_iter().map(|m| m.0).collect()
        } else {
            over.models.clone()
        };
        let mut dedup = std::collections::HashSet::new();
        models.retain(|m| dedup.insert(m.folder_name()));

        let scan_mode = over
            .scan_mode
            .or(fc.scan.mode)
            .unwrap_or(ScanMode::OnScrape);
        let scan_interval = over
            .scan_interval
            .or(fc.scan.interval.map(|d| d.0))
            .unwrap_or(Duration::from_secs(30));
        if scan_mode == ScanMode::Interval && scan_interval.is_zero() {
            return Err(invalid(
                "scan.interval must be greater than 0s in interval mode".into(),
            ));
        }
        let telemetry_path = over
            .telemetry_path
            .clone()
            .or(fc.web.telemetry_path)
            .unwrap_or_else(|| "/metrics".into());
        if !telemetry_path.starts_with('/') || telemetry_path.contains(['?', '#', ' ']) {
            return Err(invalid(format!(
                "web.telemetry_path {telemetry_path:?} must be a path starting with `/`"
            )));
        }
        let max_repos = fc.max_repos.unwrap_or(1000);
        let level = match (&over.log_level, &fc.log.level) {
            (Some(l), _) => *l,
            (None, Some(s)) => s.parse().map_err(|e| invalid(format!("log.level: {e}")))?,
            (None, None) => Level::Info,
        };
        let format = match (&over.log_format, &fc.log.format) {
            (Some(f), _) => *f,
            (None, Some(s)) => s.parse().map_err(|e| invalid(format!("log.format: {e}")))?,
            (None, None) => LogFormat::Logfmt,
        };
        let listen = if !over.listen.is_empty() {
            over.listen.clone()
        } else {
            fc.web
                .listen_addresses
                .unwrap_or_default()
                .into_iter()
                .map(|l| l.0)
                .collect()
        };
        let listen = if listen.is_empty() {
            vec![crate::listen::DEFAULT.parse().map_err(invalid)?]
        } else {
            listen
        };

        // Like Prometheus, a path inside a config file is relative to that file's folder.
        let web_config_file = over.web_config_file.clone().or_else(|| {
            let raw = fc.web.config_file.as_deref().filter(|f| !f.is_empty())?;
            let p = crate::roots::expand_path(raw, penv.env, penv.home);
            Some(Path::new(&name).parent().unwrap_or(Path::new("")).join(p))
        });

        Ok(Self {
            discover: fc.discover.unwrap_or(false) || models.is_empty(),
            caches,
            models,
            aliases: fc.aliases.into_iter().map(|(k, v)| (k, v.0)).collect(),
            max_repos,
            scan_mode,
            scan_interval,
            scan_min_interval: over
                .scan_min_interval
                .or(fc.scan.min_interval.map(|d| d.0))
                .unwrap_or(Duration::ZERO),
            scan_full_every: over
                .scan_full_every
                .or(fc.scan.full_every.map(|d| d.0))
                .unwrap_or(Duration::from_secs(600)),
            scan_threads: over.scan_threads.or(fc.scan.threads).unwrap_or(0),
            listen,
            telemetry_path,
            disable_exporter_metrics: over.disable_exporter_metrics
                || fc.web.disable_exporter_metrics.unwrap_or(false),
            cors_origin: fc.web.cors_origin.unwrap_or_else(|| "*".into()),
            web_config_file,
            max_requests: over.max_requests.or(fc.web.max_requests).unwrap_or(40),
            stall_after: over
                .stall_after
                .or(fc.downloads.stall_after.map(|d| d.0))
                .unwrap_or(Duration::from_secs(300)),
            abandon_after: over
                .abandon_after
                .or(fc.downloads.abandon_after.map(|d| d.0))
                .unwrap_or(Duration::from_secs(6 * 3600)),
            lock_probe: over
                .lock_probe
                .or(fc.downloads.lock_probe)
                .unwrap_or(LockProbe::Auto),
            log_level: level,
            log_format: format,
        })
    }

    /// Look up what a `/download_progress` caller means: an alias, else a reference.
    pub fn resolve_ref(&self, input: &str) -> Result<RepoRef, crate::repo_ref::RefError> {
        match self.aliases.get(input.trim()) {
            Some(r) => Ok(r.clone()),
            None => RepoRef::parse(input, None),
        }
    }
}

/// Read and resolve: the only file I/O of configuration.
pub fn load(
    path: Option<&Path>,
    over: &Overrides,
    penv: &PathEnv,
) -> Result<Settings, ConfigError> {
    match path {
        None => Settings::resolve(None, over, penv),
        Some(p) => {
            let name = p.display().to_string();
            let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                file: name.clone(),
                source,
            })?;
            Settings::resolve(Some((&name, &text)), over, penv)
        }
    }
}

fn parse_file(file: &str, text: &str) -> Result<FileConfig, ConfigError> {
    parse_yaml(file, text)
}

/// Strict YAML into `T`, errors located as `file:line:column: field: message`; shared with
/// [`crate::web_config`] so both files report problems the same way.
pub(crate) fn parse_yaml<T: serde::de::DeserializeOwned + Default>(
    file: &str,
    text: &str,
) -> Result<T, ConfigError> {
    if text.trim().is_empty() {
        return Ok(T::default());
    }
    serde_yaml::from_str(text).map_err(|e| {
        // A few errors have no position (e.g. a second document); never print a fake `0:0`.
        let Some(loc) = e.location() else {
            return ConfigError::Invalid {
                file: file.to_owned(),
                message: e.to_string(),
            };
        };
        let (line, column) = (loc.line(), loc.column());
        // serde_norway appends " at line L column C"; we print the location up front instead.
        let message = e.to_string();
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_owned(),
            None => message,
        };
        ConfigError::Parse {
            file: file.to_owned(),
            line,
            column,
            message,
        }
    })
}

fn cache_spec(raw: &str, name: Option<&str>, penv: &PathEnv) -> CacheSpec {
    CacheSpec {
        name: name.map_or_else(|| raw.to_owned(), str::to_owned),
        path: crate::roots::expand_path(raw, penv.env, penv.home),
    }
}

#[cfg(test)]
mod tests;
