//! Model repositories in object stores: `s3://bucket/prefix` (AWS S3 or any
//! S3-compatible store such as MinIO) and `gs://bucket/prefix` (Google Cloud
//! Storage's XML API). Version N lives under `{prefix}/{N}/`, as on disk. A version
//! is mirrored into a local cache directory while it is LOADING, so everything
//! after that (manifest check, tokenizer, sessions) reads local files; a download
//! that fails is that version's load error, and a slow one counts against the
//! operator's `loadTimeout` like a slow load.

pub mod listing;
pub mod mirror;
pub mod sigv4;
pub mod store;

pub use store::RemoteStore;

/// Failures talking to the object store; `category` is bounded for metrics.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{uri}: {message}")]
    Location { uri: String, message: String },
    #[error("{url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url}: HTTP {status}: {message}")]
    Status { url: String, status: u16, message: String },
    #[error("{url}: unreadable listing: {message}")]
    Listing { url: String, message: String },
    #[error("no objects under {0} (is the version uploaded?)")]
    Empty(String),
    #[error("object key {0:?} leaves the version directory")]
    UnsafeKey(String),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl RemoteError {
    pub fn category(&self) -> &'static str {
        match self {
            RemoteError::Location { .. } => "config",
            RemoteError::Transport { .. } => "fetch-transport",
            RemoteError::Status { status: 401 | 403, .. } => "fetch-denied",
            RemoteError::Status { status: 404, .. } | RemoteError::Empty(_) => "fetch-missing",
            RemoteError::Status { .. } | RemoteError::Listing { .. } => "fetch-error",
            RemoteError::UnsafeKey(_) => "fetch-unsafe",
            RemoteError::Io { .. } => "io",
        }
    }

    pub(crate) fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        RemoteError::Io { path: path.into(), source }
    }
}

/// True for a `--model_base_path` that names an object store, not a directory.
pub fn is_remote(base: &str) -> bool {
    base.starts_with("s3://") || base.starts_with("gs://")
}
