//! Command-line behaviour: help, configuration errors (exit 2), runtime errors (exit 1),
//! check-config, textfile, `scan --json` on a pipe and on a terminal, and output into a closed pipe.

mod common;

use common::*;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_lists_toolkit_flags() {
    let o = run(&["--help"]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("--web.listen-address"), "{out}");
    assert!(out.contains("--cache.dir"), "{out}");
}

#[test]
fn unknown_config_key_names_file_line_and_field() {
    let c = Cache::new();
    let cfg = c.dir.path().join("bad.yaml");
    std::fs::write(&cfg, "caches:\n  - path: /x\nmax_repos: 2\nbogus_key: 1\n").unwrap();
    let o = run(&["check-config", "--config.file", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains(cfg.to_str().unwrap()), "{err}");
    assert!(err.contains(":4:") || err.contains("line 4"), "{err}");
    assert!(err.contains("bogus_key"), "{err}");
}

#[test]
fn traversal_model_ref_is_a_usage_error() {
    let o = run(&["scan", "--json", "--model", "../x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("../x"), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
}

#[test]
fn check_config_prints_resolved_settings() {
    let o = run(&[
        "check-config",
        "--cache.dir",
        "/srv/hf",
        "--model",
        "https://huggingface.co/org/name",
        "--scan.interval",
        "1m",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("path: \"/srv/hf\""), "{out}");
    assert!(out.contains("\"org/name\""), "{out}");
    assert!(out.contains("interval: 1m"), "{out}");
    assert!(out.contains("telemetry_path: \"/metrics\""), "{out}");
}

#[test]
fn listen_address_in_use_exits_1_with_a_clear_message() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let c = Cache::new();
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["--web.listen-address", &addr, "--cache.dir"])
        .arg(&c.root);
    let o = run_timeout(cmd, 20);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&addr) && err.to_lowercase().contains("in use"),
        "{err}"
    );
}

#[test]
fn textfile_writes_prometheus_text() {
    let c = Cache::new();
    c.repo("models--org--t").blob(&h(1), 321);
    let out = c.dir.path().join("hf.prom");
    let o = run(&[
        "textfile",
        out.to_str().unwrap(),
        "--cache.dir",
        c.root.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("# TYPE hf_cache_bytes gauge"), "{text}");
    let line = format!(
        "hf_cache_bytes{{cache=\"{}\",model=\"org/t\",repo_type=\"model\"}} 321",
        c.root.display()
    );
    assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    // Written atomically: nothing else left beside it.
    let names: Vec<_> = std::fs::read_dir(c.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}"); // hub/ and hf.prom
}

/// JSON for a script is one line; a person at a terminal gets it indented.
#[test]
fn scan_json_is_one_line_into_a_pipe_and_indented_on_a_terminal() {
    let c = Cache::new();
    c.repo("models--org--t").blob(&h(1), 321);
    let root = c.root.to_str().unwrap();
    let args = ["scan", "--json", "--cache.dir", root];
    let piped = run(&args);
    assert!(piped.status.success(), "{}", stderr(&piped));
    let text = String::from_utf8(piped.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(repo(&doc, "org/t")["bytes"], 321);

    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let terminal = std::fs::OpenOptions::new()
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    let status = std::process::Command::new(BIN)
        .args(args)
        .stdout(terminal)
        .status()
        .unwrap();
    assert!(status.success());
    // What the terminal shows: lines end in CR LF there.
    let mut shown = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&shown).ends_with("}\r\n") {
        let n = rustix::io::read(&master, &mut buf).unwrap();
        shown.extend_from_slice(&buf[..n]);
    }
    let shown = String::from_utf8(shown).unwrap().replace("\r\n", "\n");
    assert!(shown.lines().count() > 10, "{shown}");
    assert!(shown.contains("\n  \"caches\": ["), "{shown}");
    let doc: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(repo(&doc, "org/t")["bytes"], 321);
}

/// `scan | head` and the like: stdout is a pipe whose reader has gone. The command stops
/// writing and exits 0 without a message; `println!` used to panic there (exit 101).
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let c = Cache::new();
    c.repo("models--org--t").blob(&h(1), 321);
    let root = c.root.to_str().unwrap();
    for args in [
        &["scan", "--json", "--cache.dir", root][..],
        &["scan", "--cache.dir", root],
        &["check-config", "--cache.dir", root],
    ] {
        // A stream socket whose reader is gone fails every write with EPIPE, however early it
        // comes, as such a pipe does (`std::io::pipe` is newer than the crate's Rust 1.85).
        let (reader, writer) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(reader);
        let o = std::process::Command::new(BIN)
            .args(args)
            .stdout(std::os::fd::OwnedFd::from(writer))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{args:?}");
    }
}

/// Flags may follow the subcommand; the environment fills in what no flag gives, and never
/// overrides a flag, wherever on the command line it is.
#[test]
fn environment_never_overrides_a_flag_before_or_after_the_subcommand() {
    let (env, flag) = (Cache::new(), Cache::new());
    let env_dir = env.root.to_str().unwrap();
    let flag_dir = flag.root.to_str().unwrap();
    let scanned = |args: &[&str]| -> String {
        let o = std::process::Command::new(BIN)
            .args(args)
            .env("HF_CACHE_EXPORTER_CACHE_DIR", env_dir)
            .output()
            .unwrap();
        let v = parse_ok(o, &args);
        v["caches"][0]["path"].as_str().unwrap().to_owned()
    };
    assert_eq!(scanned(&["scan", "--json"]), env_dir);
    assert_eq!(
        scanned(&["--cache.dir", flag_dir, "scan", "--json"]),
        flag_dir
    );
    assert_eq!(
        scanned(&["scan", "--json", "--cache.dir", flag_dir]),
        flag_dir
    );
}
