//! Why one inference request failed inside a version.

use crate::manager::VersionId;
use crate::model::TokenizeError;

#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// The version's queue is full; answered at once instead of queueing.
    #[error("the queue of version {version} is full ({capacity} requests waiting); retry later")]
    Overloaded { version: VersionId, capacity: usize },
    /// The version stopped taking requests (unloading or shutting down).
    #[error("version {0} is not taking requests")]
    Unavailable(VersionId),
    #[error("input {index}: {source}")]
    Tokenize {
        index: usize,
        #[source]
        source: TokenizeError,
    },
    /// Input that tokenized or parsed fine but cannot be run (bad ids...).
    #[error("{0}")]
    InvalidInput(String),
    /// ONNX Runtime failed on a batch; every request of the batch gets it.
    #[error("inference failed: {0}")]
    Runtime(String),
}

impl InferError {
    pub fn category(&self) -> &'static str {
        match self {
            InferError::Overloaded { .. } => "overloaded",
            InferError::Unavailable(_) => "unavailable",
            InferError::Tokenize { source, .. } => source.category(),
            InferError::InvalidInput(_) => "invalid_input",
            InferError::Runtime(_) => "runtime",
        }
    }
}
