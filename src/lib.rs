//! hf-cache-exporter: a read-only Prometheus exporter for the HuggingFace Hub cache.
//!
//! # Layout
//! - Pure logic, unit-tested without a disk: [`repo_ref`] (what users write → repo folders),
//!   [`roots`] (where the cache is), [`config`] (YAML + flags → settings), [`accept`]
//!   (content negotiation), [`render`] (snapshot → exposition text), [`downloads`]
//!   (progress, stalled and abandoned state), [`logging`] (logfmt/json lines).
//! - The only code that touches the cache: [`scan`]. It never writes, locks or renames.
//! - Async glue: [`coordinator`] (single-flight scans, interval mode) and [`server`] (hyper).
//! - [`web_config`]: `--web.config.file` (exporter-toolkit TLS, basic auth, headers; reloaded on change).
//! - One-shot commands: [`report`] (`scan`, `textfile`).

// The library is the binary's insides, documented for the people who change it: module charters
// link their private parts on purpose (`cargo doc --document-private-items`, checked in CI).
#![allow(rustdoc::private_intra_doc_links)]

pub mod accept;
pub mod app;
pub mod blob_name;
pub mod cli;
pub mod config;
pub mod coordinator;
pub mod downloads;
pub mod duration;
pub mod listen;
pub mod logging;
pub mod process;
pub mod progress_api;
pub mod render;
pub mod repo_ref;
pub mod report;
pub mod roots;
pub mod scan;
pub mod server;
pub mod snapshot;
pub mod watch;
pub mod web_config;
