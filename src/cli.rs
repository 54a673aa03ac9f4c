//! Command-line flags in the exporter-toolkit spelling, each with an `HF_CACHE_EXPORTER_*`
//! env var. Clap types stop here: [`Flags::overrides`] turns them into plain config values.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{LockProbe, Overrides, ScanMode};
use crate::listen::ListenAddr;
use crate::logging::{Level, LogFormat};
use crate::repo_ref::RepoRef;

/// Parse with [`Cli::from_env`] or [`Cli::parse_args`]: the derived `parse`/`try_parse_from`
/// build the command without the subcommands' copies of the flags, so they reject a flag
/// after a subcommand (`scan --cache.dir X`).
#[derive(Debug, Parser)]
#[command(
    name = "hf-cache-exporter",
    version,
    about = "Prometheus exporter for the HuggingFace Hub cache"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub flags: Flags,
}

impl Cli {
    /// The process's flags; bad ones exit with clap's message and code 2.
    pub fn from_env() -> Self {
        Self::parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// Flags may come before or after a subcommand (`--cache.dir X scan`, `scan --cache.dir X`),
    /// and one given after it wins over the same flag before it or in the environment. clap's
    /// `global = true` does that by cloning every flag into every subcommand at each start; here
    /// only the subcommand in use gets its copy ([`clap::Command::defer`]). Parsing is most of a
    /// one-shot scan's own work on a small cache: this saves an eighth of the process's
    /// instructions and a dozen page faults (docs/benchmarks.md, "Sixth session").
    pub fn parse_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut cmd = Self::command_with_flags();
        let mut matches = cmd.try_get_matches_from_mut(args)?;
        let mut cli = Self::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))?;
        if let Some((_, mut given)) = matches.remove_subcommand() {
            // Only what the command line gave after the subcommand: its copy of each flag also
            // reads the environment, which must not undo a flag given before the subcommand.
            let defaulted: Vec<clap::Id> = given
                .ids()
                .filter(|id| given.value_source(id.as_str()) != Some(ValueSource::CommandLine))
                .cloned()
                .collect();
            for id in defaulted {
                // Fails only for an id the matches do not know, and these come from them.
                let _ = given.try_clear_id(id.as_str());
            }
            cli.flags
                .update_from_arg_matches(&given)
                .map_err(|e| e.format(&mut cmd))?;
        }
        Ok(cli)
    }

    /// The full command, subcommands with their copies of the flags (for help and checks).
    pub fn command_with_flags() -> clap::Command {
        Self::command().mut_subcommands(|sc| sc.defer(Flags::augment_args))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan once and print a report (a table like `hf cache ls`, or JSON), then exit.
    Scan {
        /// Print JSON for scripts instead of a table (indented on a terminal, one line otherwise).
        #[arg(long)]
        json: bool,
    },
    /// Scan once and write Prometheus text atomically to PATH (node_exporter textfile collector).
    Textfile {
        /// Output file, e.g. /var/lib/node_exporter/textfile/hf_cache.prom
        path: PathBuf,
    },
    /// Validate the configuration and print it resolved, then exit.
    CheckConfig,
    /// Live terminal view of downloads (progress, speed, ETA, stalled/abandoned); Ctrl-C quits.
    Watch,
}

#[derive(Debug, Args)]
pub struct Flags {
    /// YAML configuration file; flags override its values.
    #[arg(long = "config.file", env = "HF_CACHE_EXPORTER_CONFIG_FILE")]
    pub config_file: Option<PathBuf>,
    /// Address to listen on (repeatable; ":PORT" = all interfaces). Default :10150 (provisional).
    #[arg(
        long = "web.listen-address",
        env = "HF_CACHE_EXPORTER_WEB_LISTEN_ADDRESS",
        value_delimiter = ','
    )]
    pub listen: Vec<ListenAddr>,
    /// Path under which to expose metrics [default: /metrics]
    #[arg(
        long = "web.telemetry-path",
        env = "HF_CACHE_EXPORTER_WEB_TELEMETRY_PATH"
    )]
    pub telemetry_path: Option<String>,
    /// Leave out process_* metrics.
    #[arg(
        long = "web.disable-exporter-metrics",
        env = "HF_CACHE_EXPORTER_WEB_DISABLE_EXPORTER_METRICS"
    )]
    pub disable_exporter_metrics: bool,
    /// exporter-toolkit web configuration file (TLS, basic auth, response headers); re-read when it changes.
    #[arg(long = "web.config.file", env = "HF_CACHE_EXPORTER_WEB_CONFIG_FILE")]
    pub web_config_file: Option<PathBuf>,
    /// Concurrent requests on the telemetry path and /download_progress; beyond it 503. 0 = no limit [default: 40]
    #[arg(long = "web.max-requests", env = "HF_CACHE_EXPORTER_WEB_MAX_REQUESTS")]
    pub max_requests: Option<usize>,
    /// Hub cache root to scan (repeatable) [default: as huggingface_hub resolves it]
    #[arg(
        long = "cache.dir",
        env = "HF_CACHE_EXPORTER_CACHE_DIR",
        value_delimiter = ','
    )]
    pub cache_dirs: Vec<String>,
    /// Repo to export (repeatable): org/name, gpt2, datasets/org/name, a Hub URL, org/name@rev.
    #[arg(long = "model", env = "HF_CACHE_EXPORTER_MODEL", value_delimiter = ',', value_parser = parse_ref)]
    pub models: Vec<RepoRef>,
    /// on-scrape (scan when scraped) or interval (background scans, for slow filesystems).
    #[arg(long = "scan.mode", env = "HF_CACHE_EXPORTER_SCAN_MODE")]
    pub scan_mode: Option<ScanMode>,
    /// Time between background scans in interval mode [default: 30s]
    #[arg(long = "scan.interval", env = "HF_CACHE_EXPORTER_SCAN_INTERVAL", value_parser = crate::duration::parse)]
    pub scan_interval: Option<std::time::Duration>,
    /// Reuse an on-scrape result younger than this [default: 0s]
    #[arg(long = "scan.min-interval", env = "HF_CACHE_EXPORTER_SCAN_MIN_INTERVAL", value_parser = crate::duration::parse)]
    pub scan_min_interval: Option<std::time::Duration>,
    /// The server rescans only changed directories; every this often it lists everything (0 = always) [default: 10m]
    #[arg(long = "scan.full-every", env = "HF_CACHE_EXPORTER_SCAN_FULL_EVERY", value_parser = crate::duration::parse)]
    pub scan_full_every: Option<std::time::Duration>,
    /// Threads per scan; more help on high-latency filesystems (NFS) [default: 0 = one per CPU, up to 8]
    #[arg(long = "scan.threads", env = "HF_CACHE_EXPORTER_SCAN_THREADS")]
    pub scan_threads: Option<usize>,
    /// A download with no temp-file change for this long is stalled [default: 5m]
    #[arg(long = "downloads.stall-after", env = "HF_CACHE_EXPORTER_DOWNLOADS_STALL_AFTER", value_parser = crate::duration::parse)]
    pub stall_after: Option<std::time::Duration>,
    /// A temp file unchanged for this long is abandoned whatever its lock says [default: 6h]
    #[arg(long = "downloads.abandon-after", env = "HF_CACHE_EXPORTER_DOWNLOADS_ABANDON_AFTER", value_parser = crate::duration::parse)]
    pub abandon_after: Option<std::time::Duration>,
    /// Use /proc/locks to tell live downloads: auto, on or off [default: auto]
    #[arg(
        long = "downloads.lock-probe",
        env = "HF_CACHE_EXPORTER_DOWNLOADS_LOCK_PROBE"
    )]
    pub lock_probe: Option<LockProbe>,
    /// Only log messages with the given severity or above: debug, info, warn, error [default: info]
    #[arg(long = "log.level", env = "HF_CACHE_EXPORTER_LOG_LEVEL")]
    pub log_level: Option<Level>,
    /// Output format of log messages: logfmt or json [default: logfmt]
    #[arg(long = "log.format", env = "HF_CACHE_EXPORTER_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
}

fn parse_ref(s: &str) -> Result<RepoRef, String> {
    RepoRef::parse(s, None).map_err(|e| e.to_string())
}

impl Flags {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            cache_dirs: self.cache_dirs.clone(),
            models: self.models.clone(),
            listen: self.listen.clone(),
            telemetry_path: self.telemetry_path.clone(),
            disable_exporter_metrics: self.disable_exporter_metrics,
            // An empty value disables it, as in the exporter-toolkit.
            web_config_file: self
                .web_config_file
                .clone()
                .filter(|p| !p.as_os_str().is_empty()),
            max_requests: self.max_requests,
            scan_mode: self.scan_mode,
            scan_interval: self.scan_interval,
            scan_min_interval: self.scan_min_interval,
            scan_full_every: self.scan_full_every,
            scan_threads: self.scan_threads,
            stall_after: self.stall_after,
            abandon_after: self.abandon_after,
            lock_probe: self.lock_probe,
            log_level: self.log_level,
            log_format: self.log_format,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_in_toolkit_spelling() {
        let cli = Cli::parse_args([
            "x",
            "--web.listen-address",
            ":1",
            "--web.listen-address",
            "127.0.0.1:2",
            "--cache.dir",
            "/a",
            "--model",
            "org/a",
            "--model",
            "datasets/org/b",
            "--scan.mode",
            "interval",
            "--scan.interval",
            "1m",
            "--downloads.lock-probe",
            "off",
            "--log.level",
            "debug",
            "--log.format",
            "json",
            "scan",
            "--json",
        ])
        .unwrap();
        let o = cli.flags.overrides();
        assert_eq!(o.listen.len(), 2);
        assert_eq!(o.models.len(), 2);
        assert_eq!(o.scan_mode, Some(ScanMode::Interval));
        assert_eq!(o.scan_interval, Some(std::time::Duration::from_secs(60)));
        assert_eq!(o.lock_probe, Some(LockProbe::Off));
        assert!(matches!(cli.command, Some(Command::Scan { json: true })));
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(Cli::parse_args(["x", "--model", "../etc"]).is_err());
        assert!(Cli::parse_args(["x", "--scan.interval", "soon"]).is_err());
        assert!(Cli::parse_args(["x", "--web.listen-address", "nope"]).is_err());
        // The same checks apply to a flag given after the subcommand.
        assert!(Cli::parse_args(["x", "scan", "--model", "../etc"]).is_err());
        assert!(Cli::parse_args(["x", "check-config", "--scan.interval", "soon"]).is_err());
        assert!(Cli::parse_args(["x", "scan", "--bogus"]).is_err());
    }

    #[test]
    fn flags_after_the_subcommand_count() {
        let cli = Cli::parse_args([
            "x",
            "scan",
            "--json",
            "--cache.dir",
            "/a",
            "--model",
            "org/a",
            "--web.disable-exporter-metrics",
        ])
        .unwrap();
        let o = cli.flags.overrides();
        assert_eq!(o.cache_dirs, ["/a"]);
        assert_eq!(o.models.len(), 1);
        assert!(o.disable_exporter_metrics);
        assert!(matches!(cli.command, Some(Command::Scan { json: true })));
        let cli = Cli::parse_args(["x", "textfile", "--scan.threads", "3", "/out.prom"]).unwrap();
        assert_eq!(cli.flags.scan_threads, Some(3));
        assert!(
            matches!(cli.command, Some(Command::Textfile { path }) if path == std::path::Path::new("/out.prom"))
        );
    }

    #[test]
    fn a_flag_after_the_subcommand_wins_and_the_others_stay() {
        let cli = Cli::parse_args([
            "x",
            "--cache.dir",
            "/a",
            "--model",
            "org/a",
            "--scan.threads",
            "2",
            "check-config",
            "--cache.dir",
            "/b",
            "--cache.dir",
            "/c",
        ])
        .unwrap();
        let o = cli.flags.overrides();
        // Replaced, not appended, as with clap's global flags.
        assert_eq!(o.cache_dirs, ["/b", "/c"]);
        assert_eq!(o.models.len(), 1);
        assert_eq!(o.scan_threads, Some(2));
        assert!(!o.disable_exporter_metrics);
    }

    #[test]
    fn command_passes_clap_checks() {
        // Builds every subcommand, deferred flags included, and asserts clap's invariants
        // (no duplicate ids or long names between a subcommand's own args and the flags).
        Cli::command_with_flags().debug_assert();
    }
}
