//! Model repositories in object stores, through the `object_store` crate:
//! `s3://bucket/prefix` (AWS S3 or any S3-compatible store such as MinIO),
//! `gs://bucket/prefix` (Google Cloud Storage) and `az://container/prefix` (Azure
//! Blob Storage). Version N lives under `{prefix}/{N}/`, as on disk. A version is
//! mirrored into a local cache directory while it is LOADING, so everything after
//! that (manifest check, tokenizer, sessions) reads local files; a download that
//! fails is that version's load error, and a slow one counts against the
//! operator's `loadTimeout` like a slow load.

pub mod errors;
pub mod location;
pub mod mirror;
pub mod store;

#[cfg(test)]
mod memory_tests;

pub use errors::{FetchKind, RemoteError};
pub use store::RemoteStore;

/// The URI schemes `is_remote` accepts, each with its object store.
pub const SCHEMES: [&str; 3] = ["s3://", "gs://", "az://"];

/// True for a `--model_base_path` that names an object store, not a directory.
pub fn is_remote(base: &str) -> bool {
    SCHEMES.iter().any(|scheme| base.starts_with(scheme))
}
