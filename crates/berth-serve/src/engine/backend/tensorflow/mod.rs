//! The TensorFlow SavedModel backend (cargo feature `tensorflow`). A version
//! loads its SavedModel once; TensorFlow's `Session::run` is thread-safe, so
//! every worker shares that session and only keeps its own feed list.

mod describe;
mod library;
mod options;

use std::path::Path;
use std::sync::Arc;

use tensorflow::{Graph, Operation, SavedModelBundle, SessionRunArgs, Status, Tensor};

use super::Inputs;
use crate::config::ServingConfig;
use crate::engine::InferError;
use crate::model::signature::{self, ATTENTION_MASK, Elem, INPUT_IDS, TOKEN_TYPE_IDS};
use crate::model::{LoadError, Signature, Task};

/// The MetaGraph tag TF Serving loads.
const SERVE_TAG: &str = "serve";

/// The loaded SavedModel. The graph is kept with the session that runs it.
struct Model {
    bundle: SavedModelBundle,
    _graph: Graph,
}

/// Which of the batch's buffers feeds a signature input.
#[derive(Clone, Copy)]
enum Source {
    Ids,
    Mask,
    Types,
}

/// One signature input: the graph tensor it names and its element type.
#[derive(Clone)]
struct Feed {
    source: Source,
    op: Operation,
    index: i32,
    int32: bool,
}

/// A worker's handle on the version's session.
pub struct TfSession {
    model: Arc<Model>,
    feeds: Vec<Feed>,
    fetch: (Operation, i32),
}

/// Loads the SavedModel in `dir`, checks `cfg.signature_name` against the
/// task, and returns one handle per configured session.
pub fn open(dir: &Path, cfg: &ServingConfig, task: &Task) -> Result<(Vec<TfSession>, Signature), LoadError> {
    library::ensure_loaded()?;
    let options = options::session_options(cfg)?;
    let mut graph = Graph::new();
    let bundle = SavedModelBundle::load(&options, [SERVE_TAG], &mut graph, dir)
        .map_err(|e| LoadError::Session { path: dir.to_path_buf(), message: e.to_string() })?;
    let def = describe::signature(bundle.meta_graph_def(), &cfg.signature_name)?;
    let (inputs, outputs) = describe::describe(def);
    let checked = signature::check(&inputs, &outputs, task, &[Elem::Int64, Elem::Int32])?;
    let in_graph = |what: &str, info: &tensorflow::TensorInfo| -> Result<(Operation, i32), LoadError> {
        let op = graph
            .operation_by_name_required(&info.name().name)
            .map_err(|e| LoadError::Signature(format!("signature {:?}, {what}: {e}", cfg.signature_name)))?;
        Ok((op, info.name().index))
    };
    let mut feeds = Vec::with_capacity(inputs.len());
    for input in &inputs {
        let source = match input.name.as_str() {
            INPUT_IDS => Source::Ids,
            ATTENTION_MASK => Source::Mask,
            TOKEN_TYPE_IDS => Source::Types,
            // `check` refuses any other input.
            other => return Err(LoadError::Signature(format!("unexpected input {other}"))),
        };
        let info = def.get_input(&input.name).map_err(|e| LoadError::Signature(e.to_string()))?;
        let (op, index) = in_graph(&format!("input {}", input.name), info)?;
        feeds.push(Feed { source, op, index, int32: input.elem == Elem::Int32 });
    }
    let info = def.get_output(&checked.output).map_err(|e| LoadError::Signature(e.to_string()))?;
    let fetch = in_graph(&format!("output {}", checked.output), info)?;
    let model = Arc::new(Model { bundle, _graph: graph });
    let sessions = (0..cfg.sessions.max(1))
        .map(|_| TfSession { model: Arc::clone(&model), feeds: feeds.clone(), fetch: fetch.clone() })
        .collect();
    Ok((sessions, checked))
}

/// A feed tensor of the element type the signature declares.
enum FeedTensor {
    I64(Tensor<i64>),
    I32(Tensor<i32>),
}

impl TfSession {
    /// Runs one padded batch and hands the output's dims and data to `read`.
    pub fn run<R>(
        &mut self,
        input: &Inputs<'_>,
        read: impl FnOnce(&[usize], &[f32]) -> Result<R, InferError>,
    ) -> Result<R, InferError> {
        let dims = [input.batch as u64, input.seq as u64];
        let tensors = self
            .feeds
            .iter()
            .map(|feed| {
                let values = match feed.source {
                    Source::Ids => input.ids,
                    Source::Mask => input.mask,
                    Source::Types => input.types,
                };
                if feed.int32 {
                    let narrow =
                        values.iter().map(|&v| i32::try_from(v)).collect::<Result<Vec<i32>, _>>().map_err(|_| {
                            InferError::InvalidInput("a token id does not fit the model's int32 input".into())
                        })?;
                    Ok(FeedTensor::I32(Tensor::new(&dims).with_values(&narrow).map_err(tf_error)?))
                } else {
                    Ok(FeedTensor::I64(Tensor::new(&dims).with_values(values).map_err(tf_error)?))
                }
            })
            .collect::<Result<Vec<_>, InferError>>()?;
        let mut args = SessionRunArgs::new();
        for (feed, tensor) in self.feeds.iter().zip(&tensors) {
            match tensor {
                FeedTensor::I64(t) => args.add_feed(&feed.op, feed.index, t),
                FeedTensor::I32(t) => args.add_feed(&feed.op, feed.index, t),
            }
        }
        let token = args.request_fetch(&self.fetch.0, self.fetch.1);
        self.model.bundle.session.run(&mut args).map_err(tf_error)?;
        let output: Tensor<f32> = args.fetch(token).map_err(tf_error)?;
        let out_dims: Vec<usize> = output.dims().iter().map(|&d| usize::try_from(d).unwrap_or(0)).collect();
        read(&out_dims, &output)
    }
}

fn tf_error(status: Status) -> InferError {
    InferError::Runtime(format!("TensorFlow: {status}"))
}
