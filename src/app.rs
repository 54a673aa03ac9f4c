//! The binary's commands wired together: resolve settings, then serve or run a one-shot
//! command. Returns an exit code; `main` only maps errors to codes.

use std::io::{BufWriter, ErrorKind, IsTerminal, Write};
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::cli::{Cli, Command};
use crate::config::{self, PathEnv, ScanMode, Settings};
use crate::coordinator::{self, Coordinator};
use crate::render::{self, Meta};
use crate::snapshot::{self, Snapshot};
use crate::web_config::reload::{Active, WebState};
use crate::{accept, logging, report, server};

/// Exit codes: 0 ok, 1 runtime failure (e.g. address in use), 2 bad configuration.
pub const EXIT_CONFIG: i32 = 2;

pub fn settings(cli: &Cli) -> Result<Settings, config::ConfigError> {
    let env = |k: &str| std::env::var(k).ok();
    let home = dirs::home_dir();
    let penv = PathEnv {
        env: &env,
        home: home.as_deref(),
    };
    config::load(
        cli.flags.config_file.as_deref(),
        &cli.flags.overrides(),
        &penv,
    )
}

pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let s = match settings(&cli) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hf-cache-exporter: configuration error: {e}");
            return Ok(EXIT_CONFIG);
        }
    };
    logging::init(s.log_level, s.log_format);
    // Only serving uses the web config; check-config validates it as serving would.
    let web = match (&cli.command, &s.web_config_file) {
        (None | Some(Command::CheckConfig), Some(path)) => match WebState::load(path) {
            Ok(w) => Some(Arc::new(w)),
            Err(e) => {
                eprintln!("hf-cache-exporter: configuration error: {e}");
                return Ok(EXIT_CONFIG);
            }
        },
        _ => None,
    };
    match &cli.command {
        Some(Command::CheckConfig) => {
            to_stdout(|out| {
                out.write_all(describe(&s).as_bytes())?;
                match &web {
                    Some(w) => writeln!(out, "# web config: {}", describe_web(&w.current())),
                    None => Ok(()),
                }
            })?;
            Ok(0)
        }
        Some(Command::Scan { json }) => {
            let snap = oneshot(&s);
            // Indented for a person at a terminal; one line for a script, which gets its
            // numbers sooner (the indentation was a third of writing 500 repos).
            let pretty = std::io::stdout().is_terminal();
            to_stdout(|out| {
                if *json {
                    let doc = report::json(&snap);
                    if pretty {
                        serde_json::to_writer_pretty(&mut *out, &doc)?;
                    } else {
                        serde_json::to_writer(&mut *out, &doc)?;
                    }
                    writeln!(out)
                } else {
                    out.write_all(report::table(&snap).as_bytes())
                }
            })?;
            Ok(0)
        }
        Some(Command::Textfile { path }) => {
            let snap = Arc::new(oneshot(&s));
            let text = render::render(snap, Meta::from_build(), accept::Format::PrometheusText);
            report::write_atomic(path, &text)
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(0)
        }
        Some(Command::Watch) => {
            crate::watch::run(&s)?;
            Ok(0)
        }
        None => serve(s, web),
    }
}

/// A one-shot command's output, written to stdout as it is produced (`scan --json` of 500 repos
/// is 330 KB; no whole-document `String`). A reader that goes away (`| head`) ends the output
/// quietly, as in a shell pipeline, where `println!` panicked (exit 101).
fn to_stdout(
    write: impl FnOnce(&mut BufWriter<std::io::StdoutLock<'static>>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        done => done,
    }
}

/// One line on what the web config turns on, for the startup log and `check-config`.
fn describe_web(a: &Active) -> String {
    let tls = match &a.config.tls {
        None => "TLS off".to_owned(),
        Some(t) => format!("TLS on ({:?})", t.client_auth),
    };
    format!(
        "{tls}, {} basic auth user(s), {} extra header(s)",
        a.config.users.len(),
        a.config.headers.len()
    )
}

fn oneshot(s: &Settings) -> Snapshot {
    let now = crate::scan::unix_seconds_now();
    let th = coordinator::thresholds(s);
    Snapshot {
        caches: coordinator::scan_all_oneshot(s, now)
            .into_iter()
            .map(|r| snapshot::oneshot(r, th, now))
            .collect(),
    }
}

fn serve(s: Settings, web: Option<Arc<WebState>>) -> anyhow::Result<i32> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut listeners = Vec::new();
        for addr in &s.listen {
            match bind(addr).await {
                Ok(l) => listeners.push(l),
                Err(e) => {
                    logging::error("cannot listen", &[("address", addr), ("err", &e)]);
                    eprintln!("hf-cache-exporter: cannot listen on {addr}: {e}");
                    return Ok(1);
                }
            }
        }
        if rustix::process::geteuid().is_root() {
            logging::warn(
                "running as root; the exporter only needs read access to the cache",
                &[],
            );
        }
        for l in &listeners {
            let local = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
            logging::info(
                "listening",
                &[("address", &local), ("telemetry_path", &s.telemetry_path)],
            );
        }
        if let (Some(w), Some(f)) = (&web, &s.web_config_file) {
            logging::info(
                "web config loaded",
                &[
                    ("file", &f.display()),
                    ("summary", &describe_web(&w.current())),
                ],
            );
        }
        for c in &s.caches {
            logging::info(
                "watching cache",
                &[("cache", &c.name), ("path", &c.path.display())],
            );
        }
        let coord = Coordinator::new(Arc::new(s));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        if coord.settings().scan_mode == ScanMode::Interval {
            let mut rx = stop_rx.clone();
            tokio::spawn(coord.clone().run_interval(async move {
                let _ = rx.changed().await;
            }));
        } else {
            // Warm up so /readyz turns ready without waiting for the first scrape.
            let c = coord.clone();
            tokio::spawn(async move {
                c.snapshot().await;
            });
        }
        server::serve(listeners, coord, web, shutdown_signal()).await;
        let _ = stop_tx.send(true);
        logging::info("shut down", &[]);
        Ok(0)
    })
}

async fn bind(addr: &crate::listen::ListenAddr) -> std::io::Result<TcpListener> {
    let mut last = std::io::Error::other("no address to bind");
    for sa in addr.candidates() {
        match TcpListener::bind(sa).await {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => logging::info("received SIGTERM, shutting down", &[]),
        _ = tokio::signal::ctrl_c() => logging::info("received SIGINT, shutting down", &[]),
    }
}

/// `check-config` output: the resolved settings in the config file's own shape.
pub fn describe(s: &Settings) -> String {
    let d = crate::duration::format;
    let mut out = String::from("caches:\n");
    for c in &s.caches {
        out.push_str(&format!(
            "  - name: {:?}\n    path: {:?}\n",
            c.name,
            c.path.display().to_string()
        ));
    }
    out.push_str("models:\n");
    for m in &s.models {
        out.push_str(&format!("  - {:?}\n", m.to_string()));
    }
    if !s.aliases.is_empty() {
        out.push_str("aliases:\n");
        for (k, v) in &s.aliases {
            out.push_str(&format!("  {k:?}: {:?}\n", v.to_string()));
        }
    }
    let mode = match s.scan_mode {
        ScanMode::OnScrape => "on-scrape",
        ScanMode::Interval => "interval",
    };
    out.push_str(&format!(
        "discover: {}\nmax_repos: {}\n",
        s.discover, s.max_repos
    ));
    out.push_str(&format!(
        "scan:\n  mode: {mode}\n  interval: {}\n  min_interval: {}\n  full_every: {}\n  threads: {}\n",
        d(s.scan_interval),
        d(s.scan_min_interval),
        d(s.scan_full_every),
        s.scan_threads
    ));
    let listen: Vec<String> = s
        .listen
        .iter()
        .map(|l| format!("{:?}", l.to_string()))
        .collect();
    out.push_str(&format!(
        "web:\n  listen_addresses: [{}]\n  telemetry_path: {:?}\n  disable_exporter_metrics: {}\n  cors_origin: {:?}\n",
        listen.join(", "),
        s.telemetry_path,
        s.disable_exporter_metrics,
        s.cors_origin
    ));
    if let Some(f) = &s.web_config_file {
        out.push_str(&format!("  config_file: {:?}\n", f.display().to_string()));
    }
    out.push_str(&format!("  max_requests: {}\n", s.max_requests));
    out.push_str(&format!(
        "downloads:\n  stall_after: {}\n  abandon_after: {}\n  lock_probe: {}\n",
        d(s.stall_after),
        d(s.abandon_after),
        format!("{:?}", s.lock_probe).to_lowercase()
    ));
    out.push_str(&format!(
        "log:\n  level: {}\n  format: {}\n",
        format!("{:?}", s.log_level).to_lowercase(),
        format!("{:?}", s.log_format).to_lowercase()
    ));
    out
}
