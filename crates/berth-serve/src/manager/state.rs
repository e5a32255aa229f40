//! The per-version life cycle, with TF Serving's names: START (known, load not
//! started) -> LOADING -> AVAILABLE (warmed up, eligible for traffic) -> UNLOADING
//! (out of routing, finishing in-flight requests) -> END (unloaded, or failed to load,
//! with the error kept beside it). One definition, shared with the operator.

pub use berth_api::VersionState;
