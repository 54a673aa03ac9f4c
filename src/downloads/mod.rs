//! Download state: expected sizes from `trees/<commit>.json`, progress, and the
//! active / stalled / abandoned state machine. Pure: time and lock facts are inputs.
//!
//! The scan engine gathers facts (temp files in `R/blobs/`, tree files, `/proc/locks`) and
//! hands them here; nothing in this module walks the cache, so every rule is unit-tested
//! with literal inputs and an injected clock (`now`, unix seconds as `f64`).
//!
//! - [`tree`]: parse `trees/<commit>.json`, expected bytes per revision.
//! - [`progress`]: bytes done / expected for one revision.
//! - [`proc_locks`]: which inodes hold a lock, read from `/proc/locks` without locking.
//! - [`tracker`]: per temp file history → repo is downloading, stalled, or has abandoned files.

pub mod proc_locks;
pub mod progress;
pub mod tracker;
pub mod tree;
