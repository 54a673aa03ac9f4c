//! `--web.config.file`: the Prometheus exporter-toolkit web configuration (TLS, basic auth,
//! extra response headers), so one file works for node_exporter and for us, and
//! `promtool check web-config` can vet it. This file is the schema and its validation, pure:
//! text in, a checked [`WebConfig`] out. [`tls`] reads the certificate files it names,
//! [`auth`] checks credentials, [`reload`] re-reads everything when a file changes.
//!
//! Differences from the toolkit are rejected loudly rather than silently ignored: TLS 1.0/1.1,
//! `cipher_suites`, `curve_preferences`, `client_allowed_sans`, `rate_limit` and the client
//! auth types that accept unverified certificates are errors. `http2` is accepted and ignored
//! (the exporter speaks HTTP/1.1, which is what Prometheus scrapes with anyway).

pub mod auth;
pub mod reload;
mod schema;
pub mod tls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::ConfigError;
use schema::RawFile;

/// A validated web configuration. File paths are already joined with the file's folder.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebConfig {
    pub tls: Option<TlsSettings>,
    /// user → bcrypt hash; empty means no basic auth.
    pub users: BTreeMap<String, String>,
    /// Extra response headers, from the toolkit's allow-list.
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert: Pem,
    pub key: Pem,
    pub client_auth: ClientAuth,
    pub client_ca: Option<Pem>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
}

/// PEM text given inline or as a file to read (at load and on every reload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pem {
    Inline(String),
    File(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    NoClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

impl WebConfig {
    /// Every file the configuration names, for change detection.
    pub fn files(&self) -> Vec<PathBuf> {
        let Some(t) = &self.tls else { return vec![] };
        [Some(&t.cert), Some(&t.key), t.client_ca.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|p| match p {
                Pem::File(f) => Some(f.clone()),
                Pem::Inline(_) => None,
            })
            .collect()
    }
}

/// Parse and validate `text` (the file `file`; relative paths are taken from `dir`).
pub fn parse(file: &str, text: &str, dir: &Path) -> Result<WebConfig, ConfigError> {
    let raw: RawFile = crate::config::parse_yaml(file, text)?;
    let invalid = |message: String| ConfigError::Invalid {
        file: file.to_owned(),
        message,
    };
    if raw.rate_limit.is_some() {
        return Err(invalid(
            "rate_limit: not supported by hf-cache-exporter; use --web.max-requests".into(),
        ));
    }
    let tls = match raw.tls_server_config {
        Some(t) if t.is_enabled() => Some(t.validate(dir).map_err(invalid)?),
        _ => None,
    };
    let http = raw.http_server_config.unwrap_or_default();
    Ok(WebConfig {
        tls,
        users: raw
            .basic_auth_users
            .unwrap_or_default()
            .into_iter()
            .map(|(u, h)| (u, h.0))
            .collect(),
        headers: http.headers.map(|h| h.0).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests;
