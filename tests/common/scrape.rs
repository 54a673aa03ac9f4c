//! The real server on 127.0.0.1:0 for tests that scrape it many times: start, wait for the
//! listening log line, plain HTTP/1.1 GETs, and metric lookups. Killed on drop (by its
//! [`Proc`]); built on `server.rs`, the lower-level one for raw or TLS exchanges.

use std::path::Path;
use std::process::Command;

use super::server::{Proc, exchange};

pub struct Server {
    /// `None` for a client-only handle ([`Server::at`]) that must not stop anything on drop.
    proc: Option<Proc>,
    pub port: u16,
}

impl Server {
    /// Start `bin` (usually the test binary) serving `root` with extra flags.
    pub fn start(bin: &Path, root: &Path, extra: &[&str]) -> Self {
        let mut cmd = Command::new(bin);
        cmd.args(["--web.listen-address", "127.0.0.1:0", "--cache.dir"])
            .arg(root)
            .args(extra);
        Self::spawn(cmd)
    }

    /// Spawn a prepared command (e.g. under `setpriv`) that logs `msg=listening address=...`.
    pub fn spawn(cmd: Command) -> Self {
        let proc = Proc::spawn(cmd);
        Self {
            port: proc.port,
            proc: Some(proc),
        }
    }

    /// A handle for talking to an already running server from another thread.
    pub fn at(port: u16) -> Self {
        Self { proc: None, port }
    }

    /// GET `path` with extra header lines; returns (status, body).
    pub fn get_with(&self, path: &str, headers: &[&str]) -> (u16, String) {
        let mut conn = Proc::connect_to(self.port);
        let r = exchange(&mut conn, "GET", path, headers).expect("no HTTP response");
        (r.status, r.body)
    }

    /// GET that must answer 200; returns the body.
    pub fn get(&self, path: &str) -> String {
        let (status, body) = self.get_with(path, &[]);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// `/download_progress?model_name=<model>` as JSON.
    pub fn progress(&self, model: &str) -> serde_json::Value {
        let body = self.get(&format!("/download_progress?model_name={model}"));
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    /// Whether the process is still running (a crash would show here).
    pub fn alive(&mut self) -> bool {
        let proc = self.proc.as_mut().expect("a started server");
        proc.child.try_wait().unwrap().is_none()
    }
}

/// The value of the first sample of `name` whose labels contain every `labels` fragment
/// (e.g. `model="org/x"`); `None` when there is no such sample.
pub fn metric(body: &str, name: &str, labels: &[&str]) -> Option<f64> {
    body.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?;
        let (lbls, value) = match rest.strip_prefix('{') {
            Some(r) => r.split_once("} ")?,
            None => ("", rest.strip_prefix(' ')?),
        };
        if labels.iter().all(|f| lbls.contains(f)) {
            value.split(' ').next()?.parse().ok()
        } else {
            None
        }
    })
}
