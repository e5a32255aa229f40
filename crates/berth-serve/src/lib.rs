//! berth-serve: the inference server that runs in every Berth serving pod.
//!
//! Layers, each with its own error type:
//! - [`model`]: reading a version directory (manifest, config, tokenizer,
//!   ONNX graph) into a loaded, warmed-up version.
//! - [`engine`]: the request path inside one version: bounded queue, dynamic
//!   batcher, session workers and the task heads.
//! - [`manager`]: the set of versions of a model, their state machine, the
//!   per-request traffic split, and the sources of the desired state
//!   (filesystem poller in standalone mode).
//! - [`api`]: Open Inference Protocol V2 over REST and gRPC, TF Serving's
//!   model status, Prometheus metrics.

pub mod api;
pub mod cli;
pub mod config;
pub mod engine;
pub mod manager;
pub mod metrics;
pub mod model;
pub mod server;

/// The generated Open Inference Protocol gRPC types and service.
pub mod proto {
    #![allow(clippy::all, missing_docs, unreachable_pub)]
    tonic::include_proto!("inference");
}
