//! End to end, on berth-local or a real cluster (see `berth_e2e::ground`): real
//! berth-serve pods serving the tiny models and MiniLM, driven by the operator, with a
//! load generator running throughout. Needs `make models operator-fault-models
//! operator-fault-models-minilm`; on berth-local also a built `berth-serve`. Run with
//! `make operator-e2e` (berth-local) or `make e2e-suite-cluster`; the tests are
//! `#[ignore]`d in plain `cargo test`, and run one at a time because each starts its
//! own cluster of real processes (or its own namespace on a shared cluster) and times
//! its rollbacks.

// Test helpers outside #[test] fns: a failed setup should fail the test loudly.
#![allow(clippy::unwrap_used)]

mod lifecycle;
mod minilm;
mod quality;
mod rollbacks;
mod rollouts;
