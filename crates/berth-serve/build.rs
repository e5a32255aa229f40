//! Compiles the gRPC definitions: the Open Inference Protocol
//! (`proto/grpc_service.proto`) and TF Serving's PredictionService and
//! ModelService (`proto/tensorflow_serving/apis/`, trimmed copies of the
//! public protos with the real packages and field numbers).
//!
//! `protox` parses the protos in pure Rust so a fresh machine builds without
//! `protoc` installed; tonic-prost-build then generates messages and the
//! servers. The TF Serving descriptors are also written to
//! `$OUT_DIR/tfs_descriptors.bin`, so a test can compare them with the real
//! ones from the `tensorflow-serving-api` Python package.

use prost::Message;

const TFS_SERVICES: [&str; 2] =
    ["tensorflow_serving/apis/prediction_service.proto", "tensorflow_serving/apis/model_service.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["grpc_service.proto"], ["proto"])?;
    tonic_prost_build::configure().build_server(true).build_client(true).compile_fds(fds)?;

    let tfs = protox::compile(TFS_SERVICES, ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    // Only our files: protox adds the google/protobuf ones it resolved.
    let mut own = tfs.clone();
    own.file.retain(|f| !f.name().starts_with("google/"));
    std::fs::write(out.join("tfs_descriptors.bin"), own.encode_to_vec())?;
    tonic_prost_build::configure().build_server(true).build_client(true).compile_fds(tfs)?;
    Ok(())
}
