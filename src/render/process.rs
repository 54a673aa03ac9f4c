//! The `process_*` families: the one part of a scrape that changes on every request, so it is
//! rendered per scrape and appended after the snapshot's cached families.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

use super::gauge;
use crate::process::ProcessStats;

#[derive(Debug)]
pub(super) struct ProcessCollector(pub ProcessStats);

impl Collector for ProcessCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        process_metrics(&mut enc, &self.0)
    }
}

fn process_metrics(enc: &mut DescriptorEncoder, p: &ProcessStats) -> Result<(), std::fmt::Error> {
    let fam = enc.encode_descriptor(
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds.",
        None,
        MetricType::Counter,
    )?;
    ConstCounter::new(p.cpu_seconds_total).encode(fam)?;
    let mut gauges: Vec<(&str, &str, f64)> = vec![
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            p.resident_memory_bytes as f64,
        ),
        (
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            p.virtual_memory_bytes as f64,
        ),
        (
            "process_open_fds",
            "Number of open file descriptors.",
            p.open_fds as f64,
        ),
        (
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            p.start_time_seconds,
        ),
        (
            "process_threads",
            "Number of OS threads in the process.",
            p.threads as f64,
        ),
    ];
    if let Some(max) = p.max_fds {
        gauges.push((
            "process_max_fds",
            "Maximum number of open file descriptors.",
            max as f64,
        ));
    }
    for (name, help, v) in gauges {
        gauge(
            v,
            enc.encode_descriptor(name, help, None, MetricType::Gauge)?,
        )?;
    }
    Ok(())
}
