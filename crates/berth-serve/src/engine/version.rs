//! A loaded version: tokenizer, signature, and the queue feeding its session
//! workers. Requests hold an `Arc<Version>` until answered, which is how
//! unloading knows when a version has drained.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::oneshot;

use super::backend::Format;
use super::job::Job;
use super::worker::Shared;
use super::{InferError, Output, Row};
use crate::manager::VersionId;
use crate::model::{ModelInfo, Signature, TextTokenizer};

pub struct Version {
    pub model: String,
    pub number: VersionId,
    pub dir: PathBuf,
    pub info: ModelInfo,
    /// Which backend runs it (`format.platform()` names it in metadata).
    pub format: Format,
    pub signature: Signature,
    pub tokenizer: TextTokenizer,
    /// Output width seen at warm-up (hidden size or label count).
    pub output_width: usize,
    pub(crate) sender: SyncSender<Job>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) capacity: usize,
    pub(crate) workers: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Version")
            .field("model", &self.model)
            .field("number", &self.number)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Marks a request as on its way to this version's queue (see
/// `Shared::incoming`); released when dropped.
pub struct IncomingGuard(Arc<Shared>);

impl Drop for IncomingGuard {
    fn drop(&mut self) {
        self.0.incoming.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Version {
    pub fn incoming(&self) -> IncomingGuard {
        self.shared.incoming.fetch_add(1, Ordering::AcqRel);
        IncomingGuard(Arc::clone(&self.shared))
    }

    /// Nothing queued or on its way: a mirrored copy would not wait behind a client's
    /// request, nor make one wait.
    pub fn is_idle(&self) -> bool {
        self.shared.incoming.load(Ordering::Acquire) == 0 && self.shared.metrics.queue_depth.get() <= 0
    }

    /// Tokenizes texts into rows; also says which were truncated.
    pub fn tokenize<S: AsRef<str>>(&self, texts: &[S]) -> Result<(Vec<Row>, Vec<bool>), InferError> {
        let mut rows = Vec::with_capacity(texts.len());
        let mut truncated = Vec::with_capacity(texts.len());
        for (index, text) in texts.iter().enumerate() {
            let enc = self.tokenizer.encode(text.as_ref()).map_err(|source| InferError::Tokenize { index, source })?;
            truncated.push(enc.truncated);
            rows.push(Row { ids: enc.ids, type_ids: enc.type_ids, mask: None });
        }
        Ok((rows, truncated))
    }

    /// Checks pre-tokenized rows against the vocabulary and length limit, so
    /// bad ids are a 400 and not an ONNX Runtime failure of a whole batch.
    pub fn check_rows(&self, rows: &[Row]) -> Result<(), InferError> {
        let vocab = i64::try_from(self.tokenizer.vocab_size()).unwrap_or(i64::MAX);
        let max = self.tokenizer.max_len();
        for (i, row) in rows.iter().enumerate() {
            if row.is_empty() {
                return Err(InferError::InvalidInput(format!("row {i} of input_ids is empty")));
            }
            if row.len() > max {
                return Err(InferError::InvalidInput(format!(
                    "row {i} of input_ids has {} tokens, more than the maximum of {max}",
                    row.len()
                )));
            }
            if let Some(bad) = row.ids.iter().find(|&&id| id < 0 || id >= vocab) {
                return Err(InferError::InvalidInput(format!(
                    "row {i} of input_ids has id {bad}, outside the vocabulary [0, {vocab})"
                )));
            }
            if let Some(bad) = row.type_ids.iter().find(|&&t| !(0..=1).contains(&t)) {
                return Err(InferError::InvalidInput(format!(
                    "row {i} of token_type_ids has {bad}; only 0 and 1 are valid"
                )));
            }
            if row.type_ids.len() != row.len() || row.mask.as_ref().is_some_and(|m| m.len() != row.len()) {
                return Err(InferError::InvalidInput(format!(
                    "row {i}: input_ids, attention_mask and token_type_ids differ in length"
                )));
            }
        }
        Ok(())
    }

    /// Queues the rows; a full queue is refused at once.
    pub fn submit(&self, rows: Vec<Row>) -> Result<oneshot::Receiver<Result<Output, InferError>>, InferError> {
        let (reply, rx) = oneshot::channel();
        // Counted before sending so a worker never decrements below zero.
        self.shared.metrics.queue_depth.inc();
        let job = Job { rows, reply, enqueued: Instant::now() };
        match self.sender.try_send(job) {
            Ok(()) => Ok(rx),
            Err(e) => {
                self.shared.metrics.queue_depth.dec();
                Err(match e {
                    TrySendError::Full(_) => {
                        InferError::Overloaded { version: self.number.clone(), capacity: self.capacity }
                    }
                    TrySendError::Disconnected(_) => InferError::Unavailable(self.number.clone()),
                })
            }
        }
    }

    /// Submits and waits for the answer.
    pub async fn run(&self, rows: Vec<Row>) -> Result<Output, InferError> {
        let rx = self.submit(rows)?;
        rx.await.map_err(|_| InferError::Runtime("the session worker stopped".into()))?
    }

    /// Worker threads to join once the last reference is gone.
    pub fn take_workers(&self) -> Vec<JoinHandle<()>> {
        self.workers.lock().map(|mut w| std::mem::take(&mut *w)).unwrap_or_default()
    }
}
