//! The web config file as written, checked while it is deserialized wherever serde can say
//! where a value is (line, column, field path), then cross-checked in [`RawTls::validate`].

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::{ClientAuth, Pem, TlsSettings, TlsVersion};

/// The file as written. Empty strings mean "unset", as in the toolkit.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub tls_server_config: Option<RawTls>,
    pub http_server_config: Option<RawHttp>,
    pub basic_auth_users: Option<BTreeMap<String, BcryptHash>>,
    pub rate_limit: Option<de::IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
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
    pub fn is_enabled(&self) -> bool {
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

    pub fn validate(self, dir: &Path) -> Result<TlsSettings, String> {
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
pub(super) struct RawHttp {
    #[allow(dead_code)] // accepted and ignored: HTTP/1.1 only (see the `web_config` docs)
    http2: Option<bool>,
    pub headers: Option<Headers>,
}

/// Extra headers are limited to the toolkit's allow-list so one file means the same thing
/// everywhere; the enumerated ones must have one of the toolkit's values.
#[derive(Debug, Default)]
pub(super) struct Headers(pub Vec<(String, String)>);

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
pub(super) struct BcryptHash(pub String);

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
