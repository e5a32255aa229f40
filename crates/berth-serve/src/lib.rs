//! berth-serve: the inference server that runs in every Berth serving pod.
//!
//! Layers, each with its own error type:
//! - [`model`]: reading a version directory (manifest, config, tokenizer,
//!   ONNX graph or TensorFlow SavedModel) into a loaded, warmed-up version.
//! - [`engine`]: the request path inside one version: bounded queue, dynamic
//!   batcher, session workers and the task heads.
//! - [`manager`]: the set of versions of a model, their state machine, the
//!   per-request traffic split, and the sources of the desired state
//!   (filesystem poller in standalone mode).
//! - [`api`]: Open Inference Protocol V2 and TF Serving's APIs, each over
//!   REST and gRPC, Prometheus metrics.

pub mod api;
pub mod cli;
pub mod config;
pub mod engine;
pub mod manager;
pub mod metrics;
pub mod model;
pub mod remote;
pub mod server;

/// The generated Open Inference Protocol gRPC types and service.
pub mod proto {
    #![allow(clippy::all, missing_docs, unreachable_pub)]
    tonic::include_proto!("inference");
}

/// The generated TF Serving types and services (`tensorflow.serving`) with
/// the TensorFlow core messages they use (`tensorflow`, `tensorflow.error`).
/// Nested like the proto packages, because the generated code refers to
/// other packages by relative paths (`super::TensorProto`).
pub mod tfs_proto {
    #![allow(clippy::all, missing_docs, unreachable_pub)]
    pub mod tensorflow {
        tonic::include_proto!("tensorflow");
        pub mod error {
            tonic::include_proto!("tensorflow.error");
        }
        pub mod serving {
            tonic::include_proto!("tensorflow.serving");
        }
    }

    /// Our TF Serving protos as an encoded `FileDescriptorSet`, for checking
    /// them against the real descriptors.
    pub const DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tfs_descriptors.bin"));
}
