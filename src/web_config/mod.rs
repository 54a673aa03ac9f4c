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
pub mod tls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, Deserializer};

use crate::config::ConfigError;

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

/// The file as written. Empty strings mean "unset", as in the toolkit.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<BTreeMap<String, BcryptHash>>,
    rate_limit: Option<de::IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    #[serde(default)]
    cert: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    client_ca: String,
    #[serde(default)]
    cert_file: String,
    #[serde(default)]
    key_file: String,
    #[serde(default)]
    client_auth_type: Option<ClientAuthName>,
    #[serde(default)]
    client_ca_file: String,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<Version>,
    max_version: Option<Version>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    #[allow(dead_code)] // accepted for compatibility: rustls always uses its own order
    prefer_server_cipher_suites: Option<bool>,
}

impl RawTls {
    /// The toolkit serves plain HTTP unless one of these is set.
    fn is_enabled(&self) -> bool {
        [
            &self.cert,
            &self.key,
            &self.client_ca,
            &self.cert_file,
            &self.key_file,
            &self.client_ca_file,
        ]
        .iter()
        .any(|s| !s.is_empty())
            || self.client_auth_type.is_some()
    }

    fn validate(self, dir: &Path) -> Result<TlsSettings, String> {
        let t = "tls_server_config";
        if self.cipher_suites.as_ref().is_some_and(|c| !c.is_empty()) {
            return Err(format!(
                "{t}.cipher_suites: not supported; rustls offers only modern AEAD suites"
            ));
        }
        if self
            .curve_preferences
            .as_ref()
            .is_some_and(|c| !c.is_empty())
        {
            return Err(format!(
                "{t}.curve_preferences: not supported; rustls uses X25519, P-256 and P-384"
            ));
        }
        if self
            .client_allowed_sans
            .as_ref()
            .is_some_and(|c| !c.is_empty())
        {
            return Err(format!(
                "{t}.client_allowed_sans: not supported by hf-cache-exporter; trust a dedicated client CA instead"
            ));
        }
        let pem = |inline: String, file: String, what: &str| -> Result<Option<Pem>, String> {
            match (inline.is_empty(), file.is_empty()) {
                (false, false) => Err(format!("{t}: give {what} or {what}_file, not both")),
                (false, true) => Ok(Some(Pem::Inline(inline))),
                (true, false) => Ok(Some(Pem::File(dir.join(file)))),
                (true, true) => Ok(None),
            }
        };
        let cert = pem(self.cert, self.cert_file, "cert")?
            .ok_or_else(|| format!("{t}: missing one of cert or cert_file"))?;
        let key = pem(self.key, self.key_file, "key")?
            .ok_or_else(|| format!("{t}: missing one of key or key_file"))?;
        let client_ca = pem(self.client_ca, self.client_ca_file, "client_ca")?;
        let client_auth = self
            .client_auth_type
            .map_or(ClientAuth::NoClientCert, |c| c.0);
        match (client_auth, &client_ca) {
            (ClientAuth::NoClientCert, Some(_)) => {
                return Err(format!(
                    "{t}: client CA's have been configured without a Client Auth Policy (set client_auth_type: RequireAndVerifyClientCert)"
                ));
            }
            (ClientAuth::NoClientCert, None) => {}
            (_, None) => {
                return Err(format!(
                    "{t}.client_auth_type: verifying client certificates needs client_ca_file or client_ca"
                ));
            }
            (_, Some(_)) => {}
        }
        let min_version = self.min_version.map_or(TlsVersion::Tls12, |v| v.0);
        let max_version = self.max_version.map_or(TlsVersion::Tls13, |v| v.0);
        if min_version > max_version {
            return Err(format!("{t}: min_version is above max_version"));
        }
        Ok(TlsSettings {
            cert,
            key,
            client_auth,
            client_ca,
            min_version,
            max_version,
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    #[allow(dead_code)] // accepted and ignored: HTTP/1.1 only (see the module docs)
    http2: Option<bool>,
    headers: Option<Headers>,
}

/// Extra headers are limited to the toolkit's allow-list so one file means the same thing
/// everywhere; the enumerated ones must have one of the toolkit's values.
#[derive(Debug, Default)]
struct Headers(Vec<(String, String)>);

const ALLOWED_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(d)?;
        let mut out = Vec::new();
        for (k, v) in map {
            let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(n, _)| *n == k) else {
                return Err(de::Error::custom(format!(
                    "HTTP header {k:?} can not be configured"
                )));
            };
            if !allowed.is_empty() && !allowed.contains(&v.as_str()) {
                return Err(de::Error::custom(format!(
                    "invalid value for {k}. Expected one of: {allowed:?}, but got: {v:?}"
                )));
            }
            if hyper::header::HeaderValue::from_str(&v).is_err() {
                return Err(de::Error::custom(format!(
                    "{k}: {v:?} is not a valid header value"
                )));
            }
            if !v.is_empty() {
                out.push((k, v));
            }
        }
        Ok(Headers(out))
    }
}

/// A bcrypt hash, checked while parsing so the error points at the user's line.
#[derive(Debug)]
struct BcryptHash(String);

impl<'de> Deserialize<'de> for BcryptHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrVisitor(|s| match s.parse::<bcrypt::HashParts>() {
            Ok(_) => Ok(BcryptHash(s.to_owned())),
            Err(e) => Err(format!(
                "not a bcrypt hash ({e}); generate one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
            )),
        }))
    }
}

/// Parsing inside `visit_str` makes serde_norway put the value's line, column and field path
/// in the error (a `String::deserialize` followed by a check would point at the parent map).
struct StrVisitor<T>(fn(&str) -> Result<T, String>);

impl<T> de::Visitor<'_> for StrVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.0)(v).map_err(E::custom)
    }
}

#[derive(Debug, Clone, Copy)]
struct Version(TlsVersion);

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrVisitor(|v| match v {
            "TLS12" => Ok(Version(TlsVersion::Tls12)),
            "TLS13" => Ok(Version(TlsVersion::Tls13)),
            "TLS10" | "TLS11" => Err(format!(
                "{v} is not supported (rustls speaks TLS12 and TLS13 only)"
            )),
            _ => Err(format!(
                "unknown TLS version: {v} (expected TLS12 or TLS13)"
            )),
        }))
    }
}

#[derive(Debug, Clone, Copy)]
struct ClientAuthName(ClientAuth);

impl<'de> Deserialize<'de> for ClientAuthName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrVisitor(client_auth))
    }
}

fn client_auth(v: &str) -> Result<ClientAuthName, String> {
    match v {
        "" | "NoClientCert" => Ok(ClientAuthName(ClientAuth::NoClientCert)),
        "VerifyClientCertIfGiven" => Ok(ClientAuthName(ClientAuth::VerifyClientCertIfGiven)),
        "RequireAndVerifyClientCert" => Ok(ClientAuthName(ClientAuth::RequireAndVerifyClientCert)),
        "RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert" => Err(format!(
            "{v} accepts certificates nobody verified and is not supported; use RequireAndVerifyClientCert"
        )),
        _ => Err(format!(
            "invalid ClientAuth: {v} (expected NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)"
        )),
    }
}

#[cfg(test)]
mod tests;
