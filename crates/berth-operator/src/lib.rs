//! The Berth operator: reconciles `BertModel`s and runs hot updates.
//!
//! `core` is pure (no I/O): the rollout engine, analysis and status. `build` makes the
//! child objects. `controller` is the thin edge that observes, applies and writes status.

pub mod build;
pub mod controller;
pub mod core;
pub mod ops;
