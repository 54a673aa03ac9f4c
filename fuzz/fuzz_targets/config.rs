//! The YAML config: any text resolves to settings or a `ConfigError`, never a panic, and a
//! parse error always has a real position (no `:0:0`).
#![no_main]

use std::path::Path;

use hf_cache_exporter::config::{ConfigError, Overrides, PathEnv, Settings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |_: &str| None;
    let penv = PathEnv {
        env: &env,
        home: Some(Path::new("/home/u")),
    };
    if let Err(ConfigError::Parse { line, column, .. }) =
        Settings::resolve(Some(("f.yaml", text)), &Overrides::default(), &penv)
    {
        assert!(line >= 1 && column >= 1, "{text:?}");
    }
});
