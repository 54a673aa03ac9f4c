//! Download state: expected sizes from `trees/<commit>.json`, progress, and the
//! active / stalled / abandoned state machine. Pure: time and lock facts are inputs.
