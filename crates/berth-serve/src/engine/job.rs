//! What travels through a version's queue.

use std::time::Instant;

use tokio::sync::oneshot;

use super::InferError;

/// One sequence to run. `mask == None` means every token is attended to
/// (text input); pre-tokenized input may bring its own mask.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub ids: Vec<i64>,
    pub type_ids: Vec<i64>,
    pub mask: Option<Vec<i64>>,
}

impl Row {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// A request's answer: `width` values per row, row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Pooled (and maybe normalised) embeddings; width = hidden size.
    Embeddings { width: usize, data: Vec<f32> },
    /// Class probabilities; width = number of labels.
    Probabilities { width: usize, data: Vec<f32> },
}

impl Output {
    pub fn width(&self) -> usize {
        match self {
            Output::Embeddings { width, .. } | Output::Probabilities { width, .. } => *width,
        }
    }

    pub fn data(&self) -> &[f32] {
        match self {
            Output::Embeddings { data, .. } | Output::Probabilities { data, .. } => data,
        }
    }

    /// One slice of `width` values per row; None when the data is not whole rows.
    pub fn rows(&self) -> Option<Vec<&[f32]>> {
        let (data, width) = (self.data(), self.width());
        (width > 0 && data.len().is_multiple_of(width)).then(|| data.chunks(width).collect())
    }
}

pub(crate) type Reply = oneshot::Sender<Result<Output, InferError>>;

/// One request in the queue: its rows run in the same or consecutive batches
/// and come back together.
pub(crate) struct Job {
    pub rows: Vec<Row>,
    pub reply: Reply,
    pub enqueued: Instant,
}
