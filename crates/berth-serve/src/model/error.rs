//! Why a version could not be loaded. Kept on the version and shown in its
//! status; never a crash.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("manifest {path}: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("sha256 of {file} is {actual}, the manifest says {expected}")]
    Checksum { file: String, expected: String, actual: String },
    #[error("config.json: {0}")]
    Config(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("ONNX Runtime: {0}")]
    Runtime(String),
    /// `libtensorflow.so` could not be dlopened (the build links it at run time).
    #[error(
        "TensorFlow C library not found: set TENSORFLOW_DIR to the directory holding libtensorflow.so \
         (or add it to LD_LIBRARY_PATH): {0}"
    )]
    TensorflowLibrary(String),
    /// Which graph the version directory holds: neither, both, or one this
    /// build cannot run.
    #[error("model format: {0}")]
    Format(String),
    #[error("creating session from {path}: {message}")]
    Session { path: PathBuf, message: String },
    #[error("graph signature: {0}")]
    Signature(String),
    #[error("warm-up: {0}")]
    Warmup(String),
}

impl LoadError {
    /// Bounded label for metrics and logs.
    pub fn category(&self) -> &'static str {
        match self {
            LoadError::Io { .. } => "io",
            LoadError::Manifest { .. } => "manifest",
            LoadError::Checksum { .. } => "checksum",
            LoadError::Config(_) => "config",
            LoadError::Tokenizer(_) => "tokenizer",
            LoadError::Runtime(_) | LoadError::TensorflowLibrary(_) => "runtime",
            LoadError::Format(_) => "format",
            LoadError::Session { .. } => "session",
            LoadError::Signature(_) => "signature",
            LoadError::Warmup(_) => "warmup",
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LoadError::Io { path: path.into(), source }
    }
}
