//! The protocols: Open Inference Protocol V2 over REST ([`rest`]) and gRPC
//! ([`grpc`]), TF Serving's REST and gRPC APIs ([`tfs`]) and `/metrics`. All
//! of them call into [`AppState`], which holds the protocol-neutral request
//! path: route -> tokenize (outside any lock) -> queue -> answer.

pub mod compat;
pub mod error;
pub mod grpc;
pub mod grpc_limit;
pub mod mirror;
pub mod openai;
pub mod rest;
pub mod tei;
pub mod tensor;
pub mod tfs;
pub mod v2_json;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

pub use error::ApiError;
use tensor::Payload;

use crate::engine::{InferError, Output, Version};
use crate::manager::{ModelManager, RouteError, VersionId, VersionState};
use crate::metrics::Metrics;
use crate::model::Task;

/// Texts beyond this many bytes in one request are tokenized on a blocking
/// thread instead of the async worker that received them.
const INLINE_TOKENIZE_BYTES: usize = 16 * 1024;

pub struct AppState {
    pub models: BTreeMap<String, Arc<ModelManager>>,
    pub metrics: Metrics,
    /// Set on SIGTERM: readiness turns false while in-flight work finishes.
    pub draining: AtomicBool,
    /// Largest accepted request body (REST) or message (gRPC), bytes.
    pub max_body_bytes: usize,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("models", &self.models.keys()).finish_non_exhaustive()
    }
}

/// A finished inference.
#[derive(Debug)]
pub struct InferResult {
    pub model: String,
    pub version: VersionId,
    pub output: Output,
    pub labels: Option<Vec<String>>,
    /// Per input: cut to the maximum sequence length.
    pub truncated: Vec<bool>,
}

impl InferResult {
    /// "0,2" for the inputs that were truncated, None when none was.
    pub fn truncated_indices(&self) -> Option<String> {
        let idx: Vec<String> =
            self.truncated.iter().enumerate().filter(|(_, t)| **t).map(|(i, _)| i.to_string()).collect();
        (!idx.is_empty()).then(|| idx.join(","))
    }
}

/// Inputs and outputs a model takes and gives, for metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorMeta {
    pub name: String,
    pub datatype: String,
    pub shape: Vec<i64>,
}

#[derive(Debug, Clone)]
pub struct ModelMeta {
    pub name: String,
    pub versions: Vec<String>,
    pub platform: String,
    pub inputs: Vec<TensorMeta>,
    pub outputs: Vec<TensorMeta>,
}

impl AppState {
    pub fn new(models: BTreeMap<String, Arc<ModelManager>>, metrics: Metrics, max_body_bytes: usize) -> Arc<Self> {
        Arc::new(Self { models, metrics, draining: AtomicBool::new(false), max_body_bytes })
    }

    pub fn manager(&self, name: &str) -> Result<&Arc<ModelManager>, ApiError> {
        self.models.get(name).ok_or_else(|| RouteError::UnknownModel(name.to_string()).into())
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Ready: not draining and every model has an AVAILABLE version.
    pub fn is_ready(&self) -> bool {
        !self.is_draining() && !self.models.is_empty() && self.models.values().all(|m| m.is_ready())
    }

    /// Whether `model` (and `version`, when given) can take requests.
    pub fn model_ready(&self, model: &str, version: Option<&str>) -> Result<bool, ApiError> {
        let manager = self.manager(model)?;
        if self.is_draining() {
            return Ok(false);
        }
        match version.filter(|v| !v.is_empty()) {
            None => Ok(manager.is_ready()),
            Some(v) => match manager.route(Some(v)) {
                Ok(_) => Ok(true),
                Err(RouteError::NotAvailable { .. }) => Ok(false),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Runs one request and records it in the metrics. A request the router sent to
    /// a canary that fails it server-side (the model or ONNX Runtime failing, the
    /// version going away) is answered by stable instead, once: the failure still
    /// counts against the canary, so its analysis sees it, and the client never does.
    /// A request that names its version gets that version's answer, failure included.
    pub async fn infer(&self, model: &str, version: Option<&str>, payload: Payload) -> Result<InferResult, ApiError> {
        let started = Instant::now();
        let routed = self.manager(model).and_then(|m| Ok((m, m.route(version)?)));
        let (manager, target) = match routed {
            Ok(routed) => routed,
            Err(e) => {
                self.record(model, None, &Err(&e), started);
                return Err(e);
            }
        };
        let fallback = if version.is_none() { manager.fallback_for(&target.number) } else { None };
        // A copy for the canary, drawn at `status.mirror`, of requests stable answers.
        let mirror = if version.is_none() { manager.mirror_for(&target.number) } else { None };
        // The input is kept only where something else may need it: stable, should the
        // canary fail a request, or the canary, for a mirrored copy.
        let mut spare = (fallback.is_some() || mirror.is_some()).then(|| payload.clone());
        let result = run(model, &target, payload).await;
        self.record(model, Some(&target.number), &result.as_ref(), started);
        // Answered: nothing falls back, the kept input goes to the copy.
        if let (Some(canary), Ok(answer)) = (mirror, &result)
            && let Some(ticket) = manager.admit_mirror(canary, &target)
            && let Some(copy) = spare.take()
        {
            mirror::spawn(self, model, ticket, copy, answer.output.clone());
        }
        match (result, fallback, spare) {
            (Err(e), Some(stable), Some(payload)) if e.is_backend_failure() => {
                self.metrics.observe_fallback(model, target.number.as_str());
                tracing::info!(model, failed = %target.number, stable = %stable.number, error = %e, "answered from stable");
                let started = Instant::now();
                let retried = run(model, &stable, payload).await;
                self.record(model, Some(&stable.number), &retried.as_ref(), started);
                retried
            }
            (result, _, _) => result,
        }
    }

    fn record(
        &self,
        model: &str,
        version: Option<&VersionId>,
        result: &Result<&InferResult, &ApiError>,
        started: Instant,
    ) {
        let model_label = if self.models.contains_key(model) { model } else { "_unknown" };
        let version_label = version.map(|v| v.to_string()).unwrap_or_default();
        let outcome = match result {
            Ok(_) => berth_api::metrics::RESULT_OK,
            Err(e) => e.category(),
        };
        self.metrics.observe_request(model_label, &version_label, outcome, started.elapsed().as_secs_f64());
        if let Err(e) = result
            && e.http_status().is_server_error()
        {
            tracing::warn!(model, version = %version_label, category = outcome, error = %e, "inference failed");
        }
    }

    /// Metadata of the model, describing `version` (or the version default
    /// traffic goes to).
    pub fn metadata(&self, model: &str, version: Option<&str>) -> Result<ModelMeta, ApiError> {
        let manager = self.manager(model)?;
        let target = manager.route(version)?;
        let versions = manager
            .status()
            .into_iter()
            .filter(|s| s.state == VersionState::Available)
            .map(|s| s.version.to_string())
            .collect();
        Ok(ModelMeta {
            name: model.to_string(),
            versions,
            platform: target.format.platform().into(),
            inputs: input_meta(),
            outputs: output_meta(&target),
        })
    }
}

/// One version runs the payload: tokenize (outside any lock), queue, answer.
pub(crate) async fn run(model: &str, target: &Arc<Version>, payload: Payload) -> Result<InferResult, ApiError> {
    // From here until the job is queued the batcher knows we are coming.
    let incoming = target.incoming();
    let (rows, truncated) = match payload {
        Payload::Texts(texts) => {
            let bytes: usize = texts.iter().map(String::len).sum();
            if bytes > INLINE_TOKENIZE_BYTES {
                let v = Arc::clone(target);
                tokio::task::spawn_blocking(move || v.tokenize(&texts))
                    .await
                    .map_err(|e| ApiError::Internal(format!("tokenizer task: {e}")))??
            } else {
                target.tokenize(&texts)?
            }
        }
        Payload::Rows(rows) => {
            target.check_rows(&rows)?;
            let n = rows.len();
            (rows, vec![false; n])
        }
    };
    let rx = target.submit(rows)?;
    drop(incoming);
    let output = rx.await.map_err(|_| InferError::Runtime("the session worker stopped".into()))??;
    Ok(InferResult {
        model: model.to_string(),
        version: target.number.clone(),
        output,
        labels: labels(target),
        truncated,
    })
}

fn labels(v: &Version) -> Option<Vec<String>> {
    match &v.info.task {
        Task::Classification { labels } => Some(labels.clone()),
        Task::Embedding { .. } => None,
    }
}

fn meta(name: &str, datatype: &str, shape: &[i64]) -> TensorMeta {
    TensorMeta { name: name.into(), datatype: datatype.into(), shape: shape.to_vec() }
}

/// Texts, or the pre-tokenized alternative.
pub(crate) fn input_meta() -> Vec<TensorMeta> {
    vec![
        meta(tensor::TEXT, "BYTES", &[-1]),
        meta("input_ids", "INT64", &[-1, -1]),
        meta("attention_mask", "INT64", &[-1, -1]),
        meta("token_type_ids", "INT64", &[-1, -1]),
    ]
}

pub(crate) fn output_meta(v: &Version) -> Vec<TensorMeta> {
    let width = v.output_width as i64;
    match &v.info.task {
        Task::Embedding { .. } => vec![meta(tensor::EMBEDDING, "FP32", &[-1, width])],
        Task::Classification { .. } => {
            vec![meta(tensor::PROBABILITIES, "FP32", &[-1, width]), meta(tensor::LABEL, "BYTES", &[-1])]
        }
    }
}
