//! The real server over raw HTTP/1.1 on 127.0.0.1: negotiation, endpoints, CORS, single-flight
//! scans and graceful SIGTERM.

mod common;

use std::ffi::OsStr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::server::{Proc, Resp, exchange};
use common::*;

const PROM_2_42_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// The exporter serving one temp cache, which lives as long as the server.
struct Server {
    proc: Proc,
    _cache: Cache,
}

impl Server {
    fn start(cache: Cache, extra: &[&str]) -> Self {
        let mut args: Vec<&OsStr> = vec!["--cache.dir".as_ref(), cache.root.as_os_str()];
        args.extend(extra.iter().map(OsStr::new));
        Self {
            proc: Proc::start(&args),
            _cache: cache,
        }
    }

    fn get(&self, path: &str) -> Resp {
        self.req("GET", path, &[])
    }

    fn req(&self, method: &str, path: &str, headers: &[&str]) -> Resp {
        self.proc.req(method, path, headers)
    }

    /// `hf_cache_scans_total` of the only cache.
    fn scans(&self) -> u64 {
        let body = self.get("/metrics").body;
        let line = body
            .lines()
            .find(|l| l.starts_with("hf_cache_scans_total{"));
        line.and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no hf_cache_scans_total in\n{body}"))
    }
}

fn small_cache() -> Cache {
    let c = Cache::new();
    c.repo("models--org--name")
        .blob(&h(1), 1000)
        .link(&"a".repeat(40), "config.json", &h(1))
        .temp(&format!("{}.1a2b3c4d.incomplete", h(2)), 24);
    c
}

#[test]
fn metrics_negotiates_text_and_openmetrics() {
    let s = Server::start(small_cache(), &[]);
    let r = s.get("/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(r.body.contains("hf_cache_bytes{cache=\""), "{}", r.body);
    assert!(
        r.body
            .contains("model=\"org/name\",repo_type=\"model\"} 1024"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("# EOF"));

    let r = s.req("GET", "/metrics", &[&format!("Accept: {PROM_2_42_ACCEPT}")]);
    assert_eq!(r.status, 200);
    let ct = r.header("content-type").unwrap();
    assert!(
        ct.starts_with("application/openmetrics-text; version=1.0.0"),
        "{ct}"
    );
    assert!(r.body.ends_with("# EOF\n"), "{}", r.body);

    let r = s.req("HEAD", "/metrics", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "");
}

#[test]
fn health_ready_landing_404_and_405() {
    let s = Server::start(small_cache(), &[]);
    assert_eq!(s.get("/healthz").status, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.get("/readyz").status != 200 {
        assert!(Instant::now() < deadline, "/readyz never turned 200");
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = s.get("/");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("href=\"/metrics\""), "{}", r.body);
    assert_eq!(s.get("/nope").status, 404);
    let r = s.req("POST", "/metrics", &["Content-Length: 0"]);
    assert_eq!(r.status, 405);
    assert!(r.header("allow").is_some_and(|a| a.contains("GET")));
}

#[test]
fn download_progress_json_errors_and_cors() {
    let s = Server::start(small_cache(), &[]);
    let r = s.get("/download_progress?model_name=org/name");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let j = r.json();
    let fields = [
        "downloading",
        "total_size",
        "incomplete_count",
        "model_name",
        "cache_path",
        "cache_exists",
        "total_mb",
        "repo_type",
        "repo_id",
        "incomplete_bytes",
        "expected_bytes",
        "progress",
        "stalled",
        "abandoned_count",
        "last_progress",
    ];
    for f in fields {
        assert!(j.get(f).is_some(), "missing {f} in {j}");
    }
    assert_eq!(j["model_name"], "org/name");
    assert_eq!(j["repo_id"], "org/name");
    assert_eq!(j["cache_exists"], true);
    assert_eq!(j["total_size"], 1024);
    assert_eq!(j["incomplete_count"], 1);
    assert_eq!(j["incomplete_bytes"], 24);

    let r = s.get("/download_progress?model_name=..%2F..%2Fetc");
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].is_string(), "{}", r.body);

    let r = s.req(
        "OPTIONS",
        "/download_progress",
        &[
            "Origin: http://example.test",
            "Access-Control-Request-Method: GET",
        ],
    );
    assert!(r.status == 204 || r.status == 200, "{}", r.status);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(
        r.header("access-control-allow-methods")
            .is_some_and(|m| m.contains("GET"))
    );
}

/// Interval mode serves families rendered once per snapshot: two scrapes of one snapshot are
/// byte-identical, and the scan after a cache change shows the change in both formats.
#[test]
fn rendered_once_per_snapshot_and_refreshed_by_the_next_scan() {
    let s = Server::start(
        small_cache(),
        &[
            "--scan.mode",
            "interval",
            "--scan.interval",
            "1s",
            "--web.disable-exporter-metrics",
        ],
    );
    let om = format!("Accept: {PROM_2_42_ACCEPT}");
    let scans = |body: &str| scrape::metric(body, "hf_cache_scans_total", &[]);
    let bytes = |body: &str| scrape::metric(body, "hf_cache_bytes", &["model=\"org/name\""]);
    for headers in [&[][..], &[om.as_str()][..]] {
        // A background scan may publish between the two scrapes; then compare the next pair.
        let same = (0..20).find_map(|_| {
            let (a, b) = (
                s.req("GET", "/metrics", headers),
                s.req("GET", "/metrics", headers),
            );
            let len = a.header("content-length").map(str::to_owned);
            assert_eq!(len, Some(a.body.len().to_string()), "{headers:?}");
            (scans(&a.body) == scans(&b.body)).then_some((a.body, b.body))
        });
        let (a, b) = same.expect("two scrapes of one snapshot");
        assert_eq!(a, b, "{headers:?}");
        assert_eq!(bytes(&a), Some(1024.0));
        assert_eq!(a.ends_with("# EOF\n"), !headers.is_empty());
    }
    s._cache.repo("models--org--name").blob(&h(3), 5000);
    let deadline = Instant::now() + Duration::from_secs(30);
    while bytes(&s.get("/metrics").body) != Some(6024.0) {
        assert!(Instant::now() < deadline, "no scan picked up the new blob");
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = s.req("GET", "/metrics", &[&om]);
    assert_eq!(bytes(&r.body), Some(6024.0), "{}", r.body);
}

#[test]
fn concurrent_scrapes_share_walks() {
    let c = Cache::new();
    for i in 0..20 {
        let r = c.repo(&format!("models--org--m{i}"));
        for j in 0..100 {
            r.snap_file(&"a".repeat(40), &format!("d{}/f{j}", j % 7), 1);
        }
    }
    let s = Server::start(c, &["--scan.mode", "on-scrape"]);
    let before = s.scans();
    let port = s.proc.port;
    let threads: Vec<_> = (0..20)
        .map(|_| {
            std::thread::spawn(move || {
                let mut t = Proc::connect_to(port);
                let r = exchange(&mut t, "GET", "/metrics", &[]).expect("no HTTP response");
                assert_eq!(r.status, 200, "{}", r.body);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let walks = s.scans() - before - 1; // the last read walks once itself
    assert!(walks < 20, "20 concurrent scrapes caused {walks} walks");
    assert!(walks >= 1);
}

#[test]
fn sigterm_exits_zero_quickly() {
    let mut s = Server::start(small_cache(), &[]);
    assert_eq!(s.get("/healthz").status, 200);
    let pid = s.proc.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(st) = s.proc.child.try_wait().unwrap() {
            assert_eq!(st.code(), Some(0), "exit status {st:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no exit 10s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One request, the raw response split into lowercased head and body bytes (gzip is binary).
fn raw_get(s: &Server, headers: &[&str]) -> (String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut conn = s.proc.connect();
    let mut req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".to_owned();
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    conn.write_all(format!("{req}\r\n").as_bytes()).unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).unwrap();
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&raw[..at]).to_ascii_lowercase();
    (head, raw[at + 4..].to_vec())
}

#[test]
fn gzip_when_accepted_as_prometheus_asks() {
    use std::io::Read;
    let s = Server::start(
        small_cache(),
        &["--scan.mode", "interval", "--scan.interval", "1h"],
    );
    let series = |body: &str| -> Vec<String> {
        let keep = |l: &&str| l.starts_with("hf_cache_") && !l.starts_with("hf_cache_scrape");
        body.lines().filter(keep).map(str::to_owned).collect()
    };
    let (head, plain) = raw_get(&s, &[]);
    assert!(!head.contains("content-encoding"), "{head}");
    let plain = String::from_utf8(plain).unwrap();
    // Prometheus 2.x/3.x sends exactly this.
    let (head, zipped) = raw_get(&s, &["Accept-Encoding: gzip"]);
    assert!(head.contains("\r\ncontent-encoding: gzip"), "{head}");
    assert!(head.contains("\r\nvary: accept-encoding"), "{head}");
    let len = format!("\r\ncontent-length: {}", zipped.len());
    assert!(head.contains(&len), "{head}");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&zipped[..])
        .read_to_string(&mut text)
        .expect("a valid gzip body");
    assert!(text.contains("\nprocess_cpu_seconds_total "), "{text}");
    assert_eq!(series(&text), series(&plain));
    assert!(
        series(&text)
            .iter()
            .any(|l| l.starts_with("hf_cache_bytes{"))
    );
    let (head, body) = raw_get(&s, &["Accept-Encoding: gzip;q=0, identity"]);
    assert!(!head.contains("content-encoding"), "{head}");
    assert!(String::from_utf8(body).is_ok());
}
