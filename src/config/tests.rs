use super::*;

fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    }
}

fn resolve(text: &str, over: &Overrides) -> Result<Settings, ConfigError> {
    let e = env(&[("HOME", "/home/u")]);
    let penv = PathEnv {
        env: &e,
        home: Some(Path::new("/home/u")),
    };
    Settings::resolve(Some(("cfg.yaml", text)), over, &penv)
}

fn err(text: &str) -> String {
    resolve(text, &Overrides::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn defaults_without_a_file() {
    let e = env(&[("HF_HOME", "/data/hf")]);
    let penv = PathEnv {
        env: &e,
        home: Some(Path::new("/home/u")),
    };
    let s = Settings::resolve(None, &Overrides::default(), &penv).unwrap();
    assert_eq!(
        s.caches,
        vec![CacheSpec {
            name: "/data/hf/hub".into(),
            path: "/data/hf/hub".into()
        }]
    );
    assert!(s.discover, "no models configured means discover everything");
    assert_eq!(s.max_repos, 1000);
    assert_eq!(s.scan_mode, ScanMode::OnScrape);
    assert_eq!(s.telemetry_path, "/metrics");
    assert_eq!(s.listen[0].port, 10150);
    assert_eq!(s.stall_after, Duration::from_secs(300));
    assert_eq!(s.abandon_after, Duration::from_secs(6 * 3600));
    assert_eq!(s.lock_probe, LockProbe::Auto);
}

#[test]
fn full_file() {
    let text = r#"
caches:
  - path: ~/hub
    name: local
  - path: /mnt/shared
models:
  - meta-llama/Llama-3.1-8B
  - repo: acme/data
    type: dataset
    revision: v1.0
  - https://huggingface.co/gpt2
aliases:
  large-v3: Systran/faster-whisper-large-v3
discover: true
max_repos: 5
scan: {mode: interval, interval: 1m, min-interval: 5s, full-every: 1h, threads: 16}
web: {listen_addresses: [":9999", "127.0.0.1:0"], telemetry_path: /m, cors_origin: "https://ui.example"}
downloads: {stall_after: 2m, abandon_after: 1h, lock_probe: off}
log: {level: debug, format: json}
"#;
    let s = resolve(text, &Overrides::default()).unwrap();
    assert_eq!(
        s.caches[0],
        CacheSpec {
            name: "local".into(),
            path: "/home/u/hub".into()
        }
    );
    assert_eq!(s.caches[1].name, "/mnt/shared");
    assert_eq!(s.models.len(), 3);
    assert_eq!(s.models[1].to_string(), "datasets/acme/data@v1.0");
    assert_eq!(
        s.aliases["large-v3"].repo_id,
        "Systran/faster-whisper-large-v3"
    );
    assert!(s.discover);
    assert_eq!(s.max_repos, 5);
    assert_eq!(
        (s.scan_mode, s.scan_interval),
        (ScanMode::Interval, Duration::from_secs(60))
    );
    assert_eq!(s.scan_min_interval, Duration::from_secs(5));
    assert_eq!(s.scan_full_every, Duration::from_secs(3600));
    assert_eq!(s.scan_threads, 16);
    assert_eq!(s.listen.len(), 2);
    assert_eq!(s.telemetry_path, "/m");
    assert_eq!(s.cors_origin, "https://ui.example");
    assert_eq!(s.lock_probe, LockProbe::Off);
    assert_eq!((s.log_level, s.log_format), (Level::Debug, LogFormat::Json));
    assert_eq!(
        s.resolve_ref("large-v3").unwrap().repo_id,
        "Systran/faster-whisper-large-v3"
    );
}

#[test]
fn flags_override_the_file() {
    let over = Overrides {
        cache_dirs: vec!["/flag/cache".into()],
        models: vec![RepoRef::parse("org/flagged", None).unwrap()],
        scan_mode: Some(ScanMode::OnScrape),
        telemetry_path: Some("/x".into()),
        ..Overrides::default()
    };
    let s = resolve(
        "models: [org/filed]\nscan: {mode: interval}\ncaches: [{path: /f}]\n",
        &over,
    )
    .unwrap();
    assert_eq!(
        s.caches,
        vec![CacheSpec {
            name: "/flag/cache".into(),
            path: "/flag/cache".into()
        }]
    );
    assert_eq!(s.models[0].repo_id, "org/flagged");
    assert!(!s.discover);
    assert_eq!(s.scan_mode, ScanMode::OnScrape);
    assert_eq!(s.telemetry_path, "/x");
}

#[test]
fn errors_name_file_line_and_field() {
    let e = err("models:\n  - org/good\n  - ../../etc\n");
    assert!(e.starts_with("cfg.yaml:3:"), "{e}");
    assert!(e.contains("models[1]") && e.contains("../../etc"), "{e}");

    let e = err("scan:\n  mode: sometimes\n");
    assert!(
        e.starts_with("cfg.yaml:2:") && e.contains("scan.mode"),
        "{e}"
    );

    let e = err("web:\n  listen_adress: [':1']\n");
    assert!(
        e.starts_with("cfg.yaml:2:") && e.contains("unknown field `listen_adress`"),
        "{e}"
    );

    let e = err("downloads:\n  stall_after: soon\n");
    assert!(
        e.contains("downloads.stall_after") && e.contains("soon"),
        "{e}"
    );

    let e = err("max_repos: -1\n");
    assert!(
        e.starts_with("cfg.yaml:1:") && e.contains("max_repos"),
        "{e}"
    );
}

#[test]
fn semantic_errors() {
    assert!(err("caches: [{path: /a, name: x}, {path: /b, name: x}]").contains("two caches"));
    assert!(err("scan: {mode: interval, interval: 0s}").contains("scan.interval"));
    assert!(err("web: {telemetry_path: metrics}").contains("telemetry_path"));
    assert!(err("log: {level: loud}").contains("log.level"));
    assert!(err("models: [{repo: datasets/a/b, type: space}]").contains("models[0]"));
}

#[test]
fn duplicate_models_collapse() {
    let s = resolve(
        "models: [org/a, models--org--a, https://huggingface.co/org/a]",
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(s.models.len(), 1);
}

#[test]
fn errors_without_a_position_print_none() {
    // A key less indented than the first starts a second YAML document.
    let e = err("    discover: true\ncaches: []\n");
    assert!(e.starts_with("cfg.yaml: ") && !e.contains(":0:0"), "{e}");
}

#[test]
fn map_revision_keeps_its_slashes() {
    let text = "models:\n  - {repo: org/x, revision: refs/pr/1}\n";
    let s = resolve(text, &Overrides::default()).unwrap();
    assert_eq!(s.models[0].revision.as_deref(), Some("refs/pr/1"));
    let e = err("models:\n  - {repo: org/x, revision: ../../etc}\n");
    assert!(e.contains("invalid revision"), "{e}");
}

#[test]
fn empty_file_is_defaults() {
    assert!(resolve("", &Overrides::default()).unwrap().discover);
}

#[test]
fn web_config_file_is_relative_to_the_config_file_and_flags_win() {
    let e = env(&[]);
    let penv = PathEnv {
        env: &e,
        home: Some(Path::new("/home/u")),
    };
    let text = "web: {config_file: web.yml, max_requests: 3}";
    let s = Settings::resolve(
        Some(("/etc/hfce/cfg.yaml", text)),
        &Overrides::default(),
        &penv,
    )
    .unwrap();
    assert_eq!(s.web_config_file, Some(PathBuf::from("/etc/hfce/web.yml")));
    assert_eq!(s.max_requests, 3);
    let over = Overrides {
        web_config_file: Some("/other/web.yml".into()),
        max_requests: Some(0),
        ..Overrides::default()
    };
    let s = Settings::resolve(Some(("/etc/hfce/cfg.yaml", text)), &over, &penv).unwrap();
    assert_eq!(s.web_config_file, Some(PathBuf::from("/other/web.yml")));
    assert_eq!(s.max_requests, 0);
    let s = resolve("", &Overrides::default()).unwrap();
    assert_eq!((s.web_config_file, s.max_requests), (None, 40));
}
