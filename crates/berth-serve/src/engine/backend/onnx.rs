//! The ONNX Runtime backend: one `Session` per worker (`Session::run` takes
//! `&mut self`, so sessions are never shared).

use std::path::Path;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::{Session, SessionInputValue};
use ort::value::{TensorElementType, TensorRef};

use super::Inputs;
use crate::config::{ServingConfig, Spinning};
use crate::engine::InferError;
use crate::model::signature::{self, ATTENTION_MASK, Elem, INPUT_IDS, TOKEN_TYPE_IDS, TensorDesc};
use crate::model::{LoadError, Signature, Task, runtime};

pub const MODEL_FILE: &str = "model.onnx";

pub struct OnnxSession {
    session: Session,
    signature: Signature,
}

/// `sessions` sessions of `path`, each checked against the task.
pub fn open(path: &Path, cfg: &ServingConfig, task: &Task) -> Result<(Vec<OnnxSession>, Signature), LoadError> {
    let env = runtime::environment(cfg.ort_library.as_deref())?;
    let mut out = Vec::with_capacity(cfg.sessions.max(1));
    let mut checked = None;
    for _ in 0..cfg.sessions.max(1) {
        let session = build_session(&env, path, cfg)?;
        let (inputs, outputs) = describe(&session);
        let signature = signature::check(&inputs, &outputs, task, &[Elem::Int64])?;
        checked = Some(signature.clone());
        out.push(OnnxSession { session, signature });
    }
    let signature = checked
        .ok_or_else(|| LoadError::Session { path: path.to_path_buf(), message: "no session was created".into() })?;
    Ok((out, signature))
}

impl OnnxSession {
    /// Runs one padded batch and hands the output's dims and data to `read`,
    /// borrowed from ONNX Runtime's output (no copy).
    pub fn run<R>(
        &mut self,
        input: &Inputs<'_>,
        read: impl FnOnce(&[usize], &[f32]) -> Result<R, InferError>,
    ) -> Result<R, InferError> {
        let shape = [input.batch, input.seq];
        let rt = |e: ort::Error| InferError::Runtime(e.to_string());
        let mut feeds: Vec<(&str, SessionInputValue<'_>)> = vec![
            (INPUT_IDS, TensorRef::from_array_view((shape, input.ids)).map_err(rt)?.into()),
            (ATTENTION_MASK, TensorRef::from_array_view((shape, input.mask)).map_err(rt)?.into()),
        ];
        if self.signature.has_token_type_ids {
            feeds.push((TOKEN_TYPE_IDS, TensorRef::from_array_view((shape, input.types)).map_err(rt)?.into()));
        }
        let outputs = self.session.run(feeds).map_err(rt)?;
        let value = outputs
            .get(&self.signature.output)
            .ok_or_else(|| InferError::Runtime(format!("the graph produced no {} output", self.signature.output)))?;
        let (out_shape, data) = value.try_extract_tensor::<f32>().map_err(rt)?;
        let dims: Vec<usize> = out_shape.iter().map(|&d| usize::try_from(d).unwrap_or(0)).collect();
        read(&dims, data)
    }
}

fn build_session(env: &ort::environment::Environment, path: &Path, cfg: &ServingConfig) -> Result<Session, LoadError> {
    let err = |message: String| LoadError::Session { path: path.to_path_buf(), message };
    Session::builder(env)
        .map_err(|e| err(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| err(e.to_string()))?
        .with_intra_threads(cfg.threads.max(1))
        .map_err(|e| err(e.to_string()))?
        .with_inter_threads(1)
        .map_err(|e| err(e.to_string()))?
        .with_intra_op_spinning(cfg.spinning != Spinning::Never)
        .map_err(|e| err(e.to_string()))?
        .with_config_entry("session.force_spinning_stop", if cfg.spinning == Spinning::DuringRun { "1" } else { "0" })
        .map_err(|e| err(e.to_string()))?
        .commit_from_file(path)
        .map_err(|e| err(e.to_string()))
}

fn describe(session: &Session) -> (Vec<TensorDesc>, Vec<TensorDesc>) {
    let conv = |outlet: &ort::value::Outlet| TensorDesc {
        name: outlet.name().to_string(),
        elem: match outlet.dtype().tensor_type() {
            Some(TensorElementType::Int64) => Elem::Int64,
            Some(TensorElementType::Int32) => Elem::Int32,
            Some(TensorElementType::Float32) => Elem::Float32,
            Some(other) => Elem::Other(format!("{other:?}")),
            None => Elem::Other(format!("{:?}", outlet.dtype())),
        },
        shape: outlet.dtype().tensor_shape().map(|s| s.iter().copied().collect()).unwrap_or_default(),
    };
    (session.inputs().iter().map(conv).collect(), session.outputs().iter().map(conv).collect())
}
