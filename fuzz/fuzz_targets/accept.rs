//! The `Accept` header of every scrape: never a panic, and OpenMetrics only when the header
//! names it.
#![no_main]

use hf_cache_exporter::accept::{Format, negotiate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let f = negotiate(Some(header));
    if !header.to_ascii_lowercase().contains("openmetrics-text") {
        assert_eq!(f, Format::PrometheusText, "{header:?}");
    }
});
