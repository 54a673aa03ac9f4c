//! Keeps the web configuration current without a restart (certificate rotation, new users):
//! every new connection and request stats the config file and the files it names (inode,
//! size, mtime, ctime: a few microseconds) and reloads only when one of them changed. A bad
//! reload keeps the last good configuration and logs why, once per change.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::server::ServerConfig;

use super::WebConfig;
use crate::config::ConfigError;
use crate::logging;

/// What is in force: the parsed file and, when it enables TLS, the built rustls config.
#[derive(Debug)]
pub struct Active {
    pub config: WebConfig,
    pub tls: Option<Arc<ServerConfig>>,
}

pub struct WebState {
    path: PathBuf,
    inner: Mutex<Inner>,
}

struct Inner {
    active: Arc<Active>,
    /// Files of the last attempt (good or bad) and their stamps when it was made.
    watched: Vec<PathBuf>,
    stamps: Vec<Option<Stamp>>,
}

/// Enough of `stat` to notice a rewrite, an atomic rename-over or a truncation.
type Stamp = (u64, u64, u64, i64, i64, i64, i64);

impl WebState {
    /// Load at startup; an error here is a configuration error (exit 2).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file_stamp = stamp_all(&[path.to_path_buf()]);
        let active = load_active(path)?;
        let watched: Vec<PathBuf> = std::iter::once(path.to_path_buf())
            .chain(active.config.files())
            .collect();
        let stamps = [file_stamp, stamp_all(&watched[1..])].concat();
        Ok(Self {
            path: path.to_path_buf(),
            inner: Mutex::new(Inner {
                active: Arc::new(active),
                watched,
                stamps,
            }),
        })
    }

    /// The configuration to use now, reloaded first if a watched file changed.
    pub fn current(&self) -> Arc<Active> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = stamp_all(&inner.watched);
        if now == inner.stamps {
            return inner.active.clone();
        }
        // Stamp the config file before reading it: a write racing the read shows up as
        // another change next time instead of being lost.
        let file_stamp = stamp_all(std::slice::from_ref(&self.path));
        match load_active(&self.path).and_then(|a| self.same_tls_mode(&inner.active, a)) {
            Ok(a) => {
                let files = a.config.files();
                logging::info(
                    "web config reloaded",
                    &[
                        ("file", &self.path.display()),
                        ("tls", &a.tls.is_some()),
                        ("users", &a.config.users.len()),
                    ],
                );
                inner.watched = std::iter::once(self.path.clone()).chain(files).collect();
                inner.stamps = [file_stamp, stamp_all(&inner.watched[1..])].concat();
                inner.active = Arc::new(a);
            }
            Err(e) => {
                logging::warn(
                    "web config reload failed; keeping the previous configuration",
                    &[("file", &self.path.display()), ("err", &e)],
                );
                // Remember what failed so the warning is logged once per change, not per request.
                inner.stamps = now;
            }
        }
        inner.active.clone()
    }

    /// Whether the listener speaks TLS is decided at startup, as in the toolkit.
    fn same_tls_mode(&self, old: &Active, new: Active) -> Result<Active, ConfigError> {
        if old.tls.is_some() != new.tls.is_some() {
            return Err(ConfigError::Invalid {
                file: self.path.display().to_string(),
                message: "tls_server_config: turning TLS on or off needs a restart".into(),
            });
        }
        Ok(new)
    }
}

/// Read, validate and (for TLS) build: the whole load, as done at startup and on reload.
pub fn load_active(path: &Path) -> Result<Active, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: file.clone(),
        source,
    })?;
    let dir = path.parent().unwrap_or(Path::new(""));
    let config = super::parse(&file, &text, dir)?;
    let tls = match &config.tls {
        Some(t) => Some(
            super::tls::server_config(t)
                .map_err(|message| ConfigError::Invalid { file, message })?,
        ),
        None => None,
    };
    Ok(Active { config, tls })
}

fn stamp_all(files: &[PathBuf]) -> Vec<Option<Stamp>> {
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f).ok().map(|m| {
                (
                    m.dev(),
                    m.ino(),
                    m.size(),
                    m.mtime(),
                    m.mtime_nsec(),
                    m.ctime(),
                    m.ctime_nsec(),
                )
            })
        })
        .collect()
}
