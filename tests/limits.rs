//! Request limits against the real binary: `--web.max-requests` (503 + Retry-After while the
//! slots are taken), the slowloris header timeout, head size and header count limits, the
//! method allow-list, bounded query strings and bounded request bodies.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use common::server::{Proc, read_response};
use common::*;

fn start(extra: &[&str]) -> (Proc, Cache) {
    let c = Cache::new();
    c.repo("models--org--name")
        .blob(&h(1), 1000)
        .link(&"a".repeat(40), "config.json", &h(1));
    let mut args: Vec<&std::ffi::OsStr> = vec!["--cache.dir".as_ref(), c.root.as_os_str()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    (Proc::start(&args), c)
}

#[test]
fn max_requests_answers_503_while_the_slots_are_taken() {
    let (s, _c) = start(&["--web.max-requests", "1"]);
    // A holder's request takes the only slot and then waits for the one body byte it
    // announced; nothing else can free the slot. If a probe was in flight when the holder
    // arrived, the holder is the one refused: start another holder and probe again.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut holder, refused) = 'outer: loop {
        let mut holder = s.connect();
        holder
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1\r\n\r\n")
            .unwrap();
        loop {
            assert!(
                Instant::now() < deadline,
                "the held request never took the slot"
            );
            let r = s.req("GET", "/metrics", &[]);
            if r.status == 503 {
                break 'outer (holder, r);
            }
            assert_eq!(r.status, 200, "{}", r.body);
            holder.set_nonblocking(true).unwrap();
            let answered = holder.peek(&mut [0u8; 1]).is_ok_and(|n| n > 0);
            holder.set_nonblocking(false).unwrap();
            if answered {
                break; // the holder was refused: try again with a new one
            }
        }
    };
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(
        refused.body.contains("too many concurrent requests"),
        "{}",
        refused.body
    );
    assert_eq!(
        s.req("GET", "/download_progress?model_name=org/name", &[])
            .status,
        503,
        "the progress endpoint shares the slots"
    );
    assert_eq!(
        s.req("GET", "/healthz", &[]).status,
        200,
        "probes are never limited"
    );
    assert_eq!(
        s.req("OPTIONS", "/metrics", &[]).status,
        204,
        "OPTIONS costs no slot"
    );

    holder.write_all(b"x").unwrap();
    let r = read_response(&mut holder).expect("held request got no answer");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        s.req("GET", "/metrics", &[]).status,
        200,
        "slot not released"
    );
}

#[test]
fn slow_headers_are_cut_off() {
    let (s, _c) = start(&[]);
    let mut t = s.connect();
    t.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    t.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // Keep trickling header lines; the server must hang up on its own. The head timeout is
    // 10 s; the 25 s bound tells it apart from hyper's 30 s default, with room for a slow CI box.
    let deadline = Instant::now() + Duration::from_secs(25);
    let mut buf = [0u8; 1024];
    let closed_by = loop {
        assert!(
            Instant::now() < deadline,
            "a slowloris client kept its connection for 25 s"
        );
        if let Err(e) = t.write_all(b"X-Slow: 1\r\n") {
            break format!("write: {e}");
        }
        match t.read(&mut buf) {
            Ok(0) => break "eof".to_owned(),
            Ok(n) => break format!("answer: {}", String::from_utf8_lossy(&buf[..n])),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => break format!("read: {e}"),
        }
    };
    assert!(
        !closed_by.contains(" 200 "),
        "slow request was served: {closed_by}"
    );
}

#[test]
fn oversized_heads_are_refused() {
    let (s, _c) = start(&[]);
    let big = format!("X-Big: {}", "a".repeat(100 * 1024));
    let many: Vec<String> = (0..150).map(|i| format!("X-H{i}: v")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    for (what, headers) in [
        ("100 KiB header", vec![big.as_str()]),
        ("150 headers", many),
    ] {
        let mut t = s.connect();
        let r = common::server::exchange(&mut t, "GET", "/healthz", &headers);
        match r {
            None => {} // connection closed: also a refusal
            Some(r) => assert_eq!(r.status, 431, "{what}: {}", r.body),
        }
    }
    assert_eq!(
        s.req("GET", "/healthz", &[]).status,
        200,
        "server still serves"
    );
}

#[test]
fn methods_queries_and_bodies_are_bounded() {
    let (s, _c) = start(&[]);
    for m in ["POST", "PUT", "DELETE", "PATCH", "TRACE"] {
        let r = s.req(m, "/metrics", &["Content-Length: 0"]);
        assert_eq!(r.status, 405, "{m}");
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"), "{m}");
    }
    let long = "a".repeat(3000);
    for path in [
        format!("/metrics?x={long}"),
        format!("/download_progress?model_name={long}"),
    ] {
        assert_eq!(s.req("GET", &path, &[]).status, 414, "{}", &path[..20]);
    }
    assert_eq!(
        s.req("GET", &format!("/metrics?x={}", "a".repeat(2000)), &[])
            .status,
        200
    );

    let mut t = s.connect();
    let body = vec![b'x'; 100 * 1024];
    t.write_all(
        format!(
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    let _ = t.write_all(&body);
    let r = read_response(&mut t).expect("no answer to a large body");
    assert_eq!(r.status, 413);
}
