//! Compiles the Open Inference Protocol gRPC definition.
//!
//! `protox` parses the proto in pure Rust so a fresh machine builds without
//! `protoc` installed; tonic-prost-build then generates messages and the server.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/grpc_service.proto");
    let fds = protox::compile(["grpc_service.proto"], ["proto"])?;
    tonic_prost_build::configure().build_server(true).build_client(true).compile_fds(fds)?;
    Ok(())
}
