//! The end-to-end suite's harness: one set of scenarios (`tests/e2e/`) that runs on
//! either of two grounds, chosen by the environment (see [`ground`]):
//!
//! - berth-local (default): a cluster started in-process, the operator's controller in
//!   the test process, berth-serve pods as local processes;
//! - a real Kubernetes cluster (`BERTH_E2E_KUBECONFIG`) with the Helm chart installed:
//!   one namespace per test, models on a hostPath PersistentVolume.
//!
//! This is test code: a failed setup or request should fail the test loudly, so it
//! unwraps freely.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod cluster;
pub mod ground;
pub mod harness;
pub mod load;
pub mod local;
pub mod repo;
pub mod s3;
pub mod scenario;

use std::path::{Path, PathBuf};

pub use ground::Ground;
pub use harness::Harness;
pub use load::Load;

/// The model name most scenarios use (the tiny models).
pub const MODEL: &str = "tiny";

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

pub fn models_dir() -> PathBuf {
    root().join(".cache/models")
}
