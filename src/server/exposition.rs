//! The `/metrics` body. The `hf_cache_*` families depend only on the snapshot (and on settings
//! fixed at start), so they are rendered once per snapshot and format, by the first scrape that
//! asks, and shared by every later scrape of that snapshot. A scrape adds only its own tail:
//! `process_*` read now and, for OpenMetrics, `# EOF`. A new scan publishes a new snapshot, so
//! the next scrape renders afresh; nothing has to be invalidated by hand.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use hyper::body::Bytes;
use tokio::sync::OnceCell;

use super::body::Body;
use super::gzip::Head;
use crate::accept::Format;
use crate::config::{ScanMode, Settings};
use crate::render::{self, Meta};
use crate::snapshot::Snapshot;

pub struct Exposition {
    /// Build facts and the HELP suffix; never `process`, which is read per scrape.
    meta: Meta,
    process: bool,
    /// The families of the snapshot rendered last. The lock is held only to compare or swap
    /// this pointer, never while rendering or sending.
    current: Mutex<Option<Arc<Rendered>>>,
}

/// One snapshot's families, per format, each rendered on first use.
struct Rendered {
    /// Weak, so the cache never keeps an old snapshot alive; the allocation it points to stays
    /// reserved while this exists, so a later snapshot cannot reuse the address and match.
    snap: Weak<Snapshot>,
    text: OnceCell<Bytes>,
    openmetrics: OnceCell<Bytes>,
    /// The same, gzip-compressed (see [`super::gzip`]); `None` if compressing failed.
    text_gz: OnceCell<Option<Head>>,
    openmetrics_gz: OnceCell<Option<Head>>,
}

impl Exposition {
    pub fn new(s: &Settings) -> Self {
        let mut meta = Meta::from_build();
        if s.scan_mode == ScanMode::Interval {
            meta.help_suffix = format!(
                " Cached: from the background scan every {}.",
                crate::duration::format(s.scan_interval)
            );
        }
        Self::with_meta(meta, !s.disable_exporter_metrics)
    }

    fn with_meta(meta: Meta, process: bool) -> Self {
        Self {
            meta: Meta {
                process: None,
                ..meta
            },
            process,
            current: Mutex::new(None),
        }
    }

    /// The whole answer to one scrape of `snap`: the shared families, then this scrape's tail;
    /// gzip-compressed when `gzip` asks for it (then the second value is true).
    pub async fn body(&self, snap: Arc<Snapshot>, format: Format, gzip: bool) -> (Body, bool) {
        let process = || {
            let p = self.process.then(crate::process::read).and_then(Result::ok);
            render::tail(p.as_ref(), format)
        };
        if gzip {
            if let Some(head) = self.families_gz(snap.clone(), format).await {
                let (head, rest) = head.finish(process().as_bytes());
                return (Body::chunks([head, Bytes::from(rest)]), true);
            }
        }
        let families = self.families(snap, format).await;
        (Body::chunks([families, Bytes::from(process())]), false)
    }

    /// `snap`'s families in `format`, compressed once (off the async workers: 600 KB take
    /// milliseconds).
    async fn families_gz(&self, snap: Arc<Snapshot>, format: Format) -> Option<Head> {
        let entry = self.entry(&snap);
        let cell = match format {
            Format::PrometheusText => &entry.text_gz,
            Format::OpenMetrics => &entry.openmetrics_gz,
        };
        let compress = || async {
            let families = self.families(snap, format).await;
            let job = tokio::task::spawn_blocking(move || Head::compress(&families));
            job.await.ok().and_then(Result::ok)
        };
        cell.get_or_init(compress).await.clone()
    }

    /// `snap`'s families in `format`; concurrent first scrapes wait for one render.
    async fn families(&self, snap: Arc<Snapshot>, format: Format) -> Bytes {
        let entry = self.entry(&snap);
        let cell = match format {
            Format::PrometheusText => &entry.text,
            Format::OpenMetrics => &entry.openmetrics,
        };
        let render = || async { Bytes::from(render::families(snap, &self.meta, format)) };
        cell.get_or_init(render).await.clone()
    }

    fn entry(&self, snap: &Arc<Snapshot>) -> Arc<Rendered> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        match &*current {
            Some(r) if std::ptr::eq(r.snap.as_ptr(), Arc::as_ptr(snap)) => r.clone(),
            _ => {
                let r = Arc::new(Rendered {
                    snap: Arc::downgrade(snap),
                    text: OnceCell::new(),
                    openmetrics: OnceCell::new(),
                    text_gz: OnceCell::new(),
                    openmetrics_gz: OnceCell::new(),
                });
                *current = Some(r.clone());
                r
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tests::{meta, snapshot};
    use http_body_util::BodyExt;

    const FORMATS: [Format; 2] = [Format::PrometheusText, Format::OpenMetrics];

    async fn bytes(b: Body) -> Bytes {
        b.collect().await.unwrap().to_bytes()
    }

    #[tokio::test]
    async fn cached_body_is_the_uncached_render() {
        let mut m = meta();
        m.help_suffix = " Cached: from the background scan every 30s.".into();
        let exp = Exposition::with_meta(m.clone(), false);
        let snap = snapshot();
        for format in FORMATS {
            let uncached = render::render(snap.clone(), m.clone(), format);
            let first = bytes(exp.body(snap.clone(), format, false).await.0).await;
            let second = bytes(exp.body(snap.clone(), format, false).await.0).await;
            assert_eq!(std::str::from_utf8(&first).unwrap(), uncached, "{format:?}");
            assert_eq!(first, second, "{format:?}");
        }
        // Both formats hang off the one entry for this snapshot; a repeat is a clone, not a render.
        let a = exp.families(snap.clone(), Format::OpenMetrics).await;
        let b = exp.families(snap.clone(), Format::OpenMetrics).await;
        assert_eq!(a.as_ptr(), b.as_ptr());
    }

    #[tokio::test]
    async fn gzip_body_is_the_plain_body_compressed_once_per_snapshot() {
        use std::io::Read;
        let exp = Exposition::with_meta(meta(), false);
        let snap = snapshot();
        for format in FORMATS {
            let (plain, gz) = exp.body(snap.clone(), format, false).await;
            assert!(!gz);
            let (zipped, gz) = exp.body(snap.clone(), format, true).await;
            assert!(gz);
            let zipped = bytes(zipped).await;
            let mut out = String::new();
            flate2::read::GzDecoder::new(&zipped[..])
                .read_to_string(&mut out)
                .unwrap();
            assert_eq!(out.as_bytes(), &bytes(plain).await[..], "{format:?}");
        }
        let a = exp.families_gz(snap.clone(), Format::PrometheusText).await;
        let b = exp.families_gz(snap.clone(), Format::PrometheusText).await;
        let head = |h: Option<Head>| h.unwrap().finish(b"").0;
        assert_eq!(head(a).as_ptr(), head(b).as_ptr(), "compressed once");
    }

    #[tokio::test]
    async fn process_metrics_are_read_per_scrape() {
        let exp = Exposition::with_meta(meta(), true);
        let snap = snapshot();
        for format in FORMATS {
            let body = bytes(exp.body(snap.clone(), format, false).await.0).await;
            let text = std::str::from_utf8(&body).unwrap();
            assert!(text.contains("\nprocess_cpu_seconds_total "), "{text}");
            let families = render::families(snap.clone(), &meta(), format);
            assert!(text.starts_with(&families), "{format:?}");
            assert_eq!(text.ends_with("# EOF\n"), format == Format::OpenMetrics);
        }
    }

    #[tokio::test]
    async fn a_new_snapshot_renders_afresh() {
        let exp = Exposition::with_meta(meta(), false);
        let old = snapshot();
        let before = bytes(exp.body(old.clone(), Format::PrometheusText, false).await.0).await;
        let mut changed = (*old).clone();
        changed.caches[0].report.repos[0].stats.bytes = 98765;
        changed.caches[0].scans_total += 1;
        let new = Arc::new(changed);
        for format in FORMATS {
            let after = bytes(exp.body(new.clone(), format, false).await.0).await;
            let text = std::str::from_utf8(&after).unwrap();
            assert_eq!(text, render::render(new.clone(), meta(), format));
            assert!(text.contains(r#"model="acme/tiny",repo_type="model"} 98765"#));
            assert!(text.contains(r#"hf_cache_scans_total{cache="main"} 8"#));
        }
        assert_ne!(
            before,
            bytes(exp.body(new, Format::PrometheusText, false).await.0).await
        );
        // A scrape still holding the old snapshot gets the old snapshot's text.
        assert_eq!(
            before,
            bytes(exp.body(old, Format::PrometheusText, false).await.0).await
        );
    }
}
