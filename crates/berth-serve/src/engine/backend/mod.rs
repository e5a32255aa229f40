//! What runs a padded `[batch, sequence]` batch: ONNX Runtime for `model.onnx`,
//! TensorFlow for a SavedModel (`saved_model.pb` + `variables/`, cargo feature
//! `tensorflow`). Everything around it (queue, batching, task heads, warm-up,
//! versions) is the same for both; a backend only turns int64 ids, mask and
//! token types into one float tensor.

mod format;
pub mod onnx;
#[cfg(feature = "tensorflow")]
mod tensorflow;

use std::path::Path;

pub use format::{Format, SAVED_MODEL_FILE, detect};

use super::InferError;
use crate::config::ServingConfig;
use crate::model::{LoadError, Signature, Task};

/// One padded batch, row-major `[batch, seq]`.
pub struct Inputs<'a> {
    pub batch: usize,
    pub seq: usize,
    pub ids: &'a [i64],
    pub mask: &'a [i64],
    pub types: &'a [i64],
}

/// A worker's session. An enum rather than a trait object: `run` hands the
/// output to a generic closure borrowing the backend's own buffer, so neither
/// backend copies its output.
pub enum Backend {
    Onnx(onnx::OnnxSession),
    #[cfg(feature = "tensorflow")]
    Tensorflow(tensorflow::TfSession),
}

impl Backend {
    /// Runs `input` and calls `read(dims, data)` with the graph output.
    pub fn run<R>(
        &mut self,
        input: &Inputs<'_>,
        read: impl FnOnce(&[usize], &[f32]) -> Result<R, InferError>,
    ) -> Result<R, InferError> {
        match self {
            Backend::Onnx(s) => s.run(input, read),
            #[cfg(feature = "tensorflow")]
            Backend::Tensorflow(s) => s.run(input, read),
        }
    }
}

/// `cfg.sessions` sessions for the version in `dir`, checked against the task.
pub fn open(dir: &Path, cfg: &ServingConfig, task: &Task) -> Result<(Format, Vec<Backend>, Signature), LoadError> {
    let format = detect(dir)?;
    let (backends, signature) = match format {
        Format::Onnx => {
            let file = format::onnx_file(dir).unwrap_or_else(|| dir.join(onnx::MODEL_FILE));
            let (sessions, sig) = onnx::open(&file, cfg, task)?;
            (sessions.into_iter().map(Backend::Onnx).collect(), sig)
        }
        Format::SavedModel => open_saved_model(dir, cfg, task)?,
    };
    Ok((format, backends, signature))
}

#[cfg(feature = "tensorflow")]
fn open_saved_model(dir: &Path, cfg: &ServingConfig, task: &Task) -> Result<(Vec<Backend>, Signature), LoadError> {
    let (sessions, sig) = tensorflow::open(dir, cfg, task)?;
    Ok((sessions.into_iter().map(Backend::Tensorflow).collect(), sig))
}

#[cfg(not(feature = "tensorflow"))]
fn open_saved_model(dir: &Path, _: &ServingConfig, _: &Task) -> Result<(Vec<Backend>, Signature), LoadError> {
    Err(LoadError::Format(format!(
        "{} holds a TensorFlow SavedModel; this berth-serve was built without TensorFlow support \
         (rebuild with `--features tensorflow`)",
        dir.display()
    )))
}

#[cfg(all(test, not(feature = "tensorflow")))]
mod tests {
    use super::*;

    #[test]
    fn a_saved_model_names_the_missing_feature() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SAVED_MODEL_FILE), b"").unwrap();
        std::fs::create_dir(dir.path().join("variables")).unwrap();
        let task = Task::Embedding { pooling: crate::model::PoolingMode::Mean, normalize: false };
        let Err(err) = open(dir.path(), &ServingConfig::default(), &task) else { panic!("loaded without TensorFlow") };
        assert_eq!(err.category(), "format");
        assert!(err.to_string().contains("--features tensorflow"), "{err}");
    }
}
