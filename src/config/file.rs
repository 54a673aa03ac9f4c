//! The YAML config file's shape. Every struct denies unknown keys and every value is parsed
//! while deserializing, so serde reports the line, column and field of a bad value itself.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::listen::ListenAddr;
use crate::repo_ref::{RepoRef, RepoType};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub caches: Vec<CacheEntry>,
    #[serde(default)]
    pub models: Vec<ModelEntry>,
    /// Short names a frontend sends (`large-v3`) → the repo they mean.
    #[serde(default)]
    pub aliases: BTreeMap<String, ModelEntry>,
    pub discover: Option<bool>,
    pub max_repos: Option<usize>,
    #[serde(default)]
    pub scan: ScanSection,
    #[serde(default)]
    pub web: WebSection,
    #[serde(default)]
    pub downloads: DownloadsSection,
    #[serde(default)]
    pub log: LogSection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheEntry {
    pub path: String,
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanSection {
    pub mode: Option<ScanMode>,
    pub interval: Option<Dur>,
    #[serde(alias = "min-interval")]
    pub min_interval: Option<Dur>,
    #[serde(alias = "full-every")]
    pub full_every: Option<Dur>,
    pub threads: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSection {
    #[serde(alias = "listen-address", alias = "listen_address")]
    pub listen_addresses: Option<Vec<Listen>>,
    #[serde(alias = "telemetry-path")]
    pub telemetry_path: Option<String>,
    #[serde(alias = "disable-exporter-metrics")]
    pub disable_exporter_metrics: Option<bool>,
    /// `Access-Control-Allow-Origin` for `/download_progress`.
    #[serde(alias = "cors-origin")]
    pub cors_origin: Option<String>,
    /// exporter-toolkit web configuration (TLS, basic auth); relative to this file's folder.
    #[serde(alias = "config-file")]
    pub config_file: Option<String>,
    /// Concurrent requests on the expensive endpoints; 0 = no limit.
    #[serde(alias = "max-requests")]
    pub max_requests: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadsSection {
    #[serde(alias = "stall-after")]
    pub stall_after: Option<Dur>,
    #[serde(alias = "abandon-after")]
    pub abandon_after: Option<Dur>,
    #[serde(alias = "lock-probe")]
    pub lock_probe: Option<LockProbe>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    pub level: Option<String>,
    pub format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScanMode {
    OnScrape,
    Interval,
}

impl std::str::FromStr for ScanMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "on-scrape" => Ok(Self::OnScrape),
            "interval" => Ok(Self::Interval),
            _ => Err(format!(
                "invalid scan mode {s:?}: expected on-scrape or interval"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockProbe {
    Auto,
    On,
    Off,
}

impl std::str::FromStr for LockProbe {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "on" => Ok(Self::On),
            "off" => Ok(Self::Off),
            _ => Err(format!(
                "invalid lock probe {s:?}: expected auto, on or off"
            )),
        }
    }
}

/// A `models:` item: a plain reference string, or `{repo, type, revision}`.
#[derive(Debug, Clone)]
pub struct ModelEntry(pub RepoRef);

impl<'de> Deserialize<'de> for ModelEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ModelVisitor)
    }
}

struct ModelVisitor;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelMap {
    #[serde(alias = "id")]
    repo: String,
    #[serde(rename = "type")]
    repo_type: Option<String>,
    revision: Option<String>,
}

impl<'de> Visitor<'de> for ModelVisitor {
    type Value = ModelEntry;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a repo reference string or a map with `repo`, `type`, `revision`")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ModelEntry, E> {
        RepoRef::parse(v, None).map(ModelEntry).map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ModelEntry, A::Error> {
        let m = ModelMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
        let t = m
            .repo_type
            .as_deref()
            .map(str::parse::<RepoType>)
            .transpose()
            .map_err(de::Error::custom)?;
        let mut r = RepoRef::parse(&m.repo, t).map_err(de::Error::custom)?;
        if let Some(rev) = m.revision {
            r = r.with_revision(&rev).map_err(de::Error::custom)?;
        }
        Ok(ModelEntry(r))
    }
}

/// A duration value; a newtype so serde puts the field's path in the error.
#[derive(Debug, Clone, Copy)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(DurVisitor)
    }
}

/// Parsing inside `visit_str` makes serde_norway attach the field's path to the error.
struct DurVisitor;

impl Visitor<'_> for DurVisitor {
    type Value = Dur;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a duration like 30s, 5m or 1h30m")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
        crate::duration::parse(v).map(Dur).map_err(E::custom)
    }
}

/// A listen address value, parsed while deserializing for the same reason.
#[derive(Debug, Clone)]
pub struct Listen(pub ListenAddr);

impl<'de> Deserialize<'de> for Listen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map(Listen).map_err(de::Error::custom)
    }
}
