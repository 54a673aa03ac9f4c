//! The real exporter as a server on 127.0.0.1:0, with its log kept for assertions, and raw
//! HTTP/1.1 over any stream (plain TCP or a rustls client stream). `scrape.rs` builds the
//! many-scrapes helpers on top of this.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use super::BIN;

pub struct Proc {
    pub child: Child,
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// Start with `args` (plus a loopback listen address) and wait for the `listening` line.
    pub fn start(args: &[&std::ffi::OsStr]) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.args(["--web.listen-address", "127.0.0.1:0"]).args(args);
        Self::spawn(cmd)
    }

    /// Spawn a prepared command (any binary or wrapper that ends up logging
    /// `msg=listening address=...`) and wait for that line.
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("msg=listening") {
                    let addr = line.split("address=").nth(1).unwrap_or_default();
                    let addr = addr.split_whitespace().next().unwrap_or_default();
                    let _ = tx.send(
                        addr.rsplit(':')
                            .next()
                            .unwrap_or_default()
                            .parse::<u16>()
                            .ok(),
                    );
                }
                sink.lock().unwrap().push(line);
            }
        });
        let Some(port) = rx.recv_timeout(Duration::from_secs(20)).ok().flatten() else {
            let _ = child.kill();
            panic!(
                "server did not log its listening address: {:?}",
                log.lock().unwrap()
            );
        };
        Self { child, port, log }
    }

    pub fn connect(&self) -> TcpStream {
        Self::connect_to(self.port)
    }

    /// A plain connection to a server on `port` (also from threads that hold no `Proc`).
    pub fn connect_to(port: u16) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s
    }

    /// One request on a fresh plain connection.
    pub fn req(&self, method: &str, path: &str, headers: &[&str]) -> Resp {
        exchange(&mut self.connect(), method, path, headers).expect("no HTTP response")
    }

    /// Wait (up to 20 s) until a log line contains `needle`.
    pub fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(l) = self.log.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return l.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needle:?} in {:?}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Write one `Connection: close` request and read the whole answer; `None` if the peer
/// closed or failed (e.g. a TLS alert) before sending a status line.
pub fn exchange(
    s: &mut (impl Read + Write),
    method: &str,
    path: &str,
    headers: &[&str],
) -> Option<Resp> {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for h in headers {
        raw.push_str(h);
        raw.push_str("\r\n");
    }
    raw.push_str("\r\n");
    s.write_all(raw.as_bytes()).ok()?;
    read_response(s)
}

pub fn read_response(s: &mut impl Read) -> Option<Resp> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // rustls reports a peer that closed without close_notify as UnexpectedEof.
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&buf);
    text.starts_with("HTTP/1.1 ").then(|| Resp::parse(&text))
}

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn parse(raw: &str) -> Self {
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Self {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}
