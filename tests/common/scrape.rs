//! The real server on 127.0.0.1:0 for tests that scrape it many times: start, wait for the
//! listening log line, plain HTTP/1.1 GETs, and metric lookups. Kill on drop. (`server.rs` is
//! the lower-level one, for raw or TLS exchanges.)
#![allow(dead_code)] // each test crate uses a different subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub struct Server {
    /// `None` for a client-only handle ([`Server::at`]) that must not stop anything on drop.
    pub child: Option<Child>,
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
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            // Keep draining so the server never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("msg=listening") {
                    let addr = line.split("address=").nth(1).unwrap_or_default();
                    let addr = addr.split_whitespace().next().unwrap_or_default();
                    let _ = tx.send(addr.rsplit(':').next().unwrap_or_default().parse().ok());
                }
            }
        });
        let Some(port) = rx.recv_timeout(Duration::from_secs(20)).ok().flatten() else {
            let _ = child.kill();
            panic!("server did not log its listening address");
        };
        Self {
            child: Some(child),
            port,
        }
    }

    /// A handle for talking to an already running server from another thread.
    pub fn at(port: u16) -> Self {
        Self { child: None, port }
    }

    /// GET `path` with extra header lines; returns (status, body).
    pub fn get_with(&self, path: &str, headers: &[&str]) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut raw = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        for h in headers {
            raw.push_str(h);
            raw.push_str("\r\n");
        }
        raw.push_str("\r\n");
        s.write_all(raw.as_bytes()).unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).unwrap();
        let text = String::from_utf8(buf).expect("response is UTF-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("no header end");
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
        (status.expect("status line"), body.to_owned())
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
        let child = self.child.as_mut().expect("a started server");
        child.try_wait().unwrap().is_none()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
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
