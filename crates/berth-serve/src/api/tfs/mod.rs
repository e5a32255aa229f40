//! TensorFlow Serving's APIs over the same request path as V2, so clients
//! written for `tensorflow_model_server` work unchanged:
//! - gRPC ([`grpc`]): `tensorflow.serving.PredictionService` (Predict,
//!   GetModelMetadata, Classify) and `tensorflow.serving.ModelService`
//!   (GetModelStatus), beside the V2 service on the gRPC port.
//! - REST ([`rest`]): `/v1/models/{m}[/versions/{v}|/labels/{l}]` status,
//!   `/metadata`, `:predict` (row and columnar, [`json`]) and `:classify`.
//!
//! The served signatures ([`signature`]) describe what Berth takes and gives:
//! texts (tokenized by the server) or token ids in, pooled embeddings or
//! class probabilities and labels out.

pub mod classify;
pub mod error;
pub mod grpc;
pub mod json;
pub mod rest;
pub mod signature;
pub mod status;
pub mod tensor;

use std::sync::Arc;

pub use error::TfsError;

use super::AppState;
use crate::engine::Version;
use crate::manager::VersionId;
use crate::tfs_proto::tensorflow::serving::ModelSpec;
use crate::tfs_proto::tensorflow::serving::model_spec::VersionChoice;

/// Which version a request names.
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    /// Neither version nor label: where default traffic goes.
    Latest,
    Version(String),
    Label(String),
}

impl Selector {
    pub fn from_spec(spec: &ModelSpec) -> Self {
        match &spec.version_choice {
            Some(VersionChoice::Version(v)) => Selector::Version(v.to_string()),
            Some(VersionChoice::VersionLabel(l)) if !l.is_empty() => Selector::Label(l.clone()),
            _ => Selector::Latest,
        }
    }

    /// The explicit version to route to (labels resolved now), or None for
    /// default traffic.
    pub fn version(&self, state: &AppState, model: &str) -> Result<Option<String>, TfsError> {
        // Unknown models are NOT_FOUND whatever the selector.
        let manager = state.manager(model)?;
        match self {
            Selector::Latest => Ok(None),
            Selector::Version(v) => Ok(Some(v.clone())),
            Selector::Label(l) => {
                let v = manager.label_version(l).map_err(super::ApiError::from)?;
                Ok(Some(v.to_string()))
            }
        }
    }

    /// The version that answers a request without running it (metadata,
    /// Classify's task check).
    pub fn target(&self, state: &AppState, model: &str) -> Result<Arc<Version>, TfsError> {
        let version = self.version(state, model)?;
        Ok(state.manager(model)?.route(version.as_deref()).map_err(super::ApiError::from)?)
    }
}

/// The model spec of an answer: the model, the version that answered and
/// the signature. A version that is not a number (controlled mode allows
/// names) has no Int64 form and is left out.
pub fn model_spec(model: &str, version: &VersionId, signature_name: &str) -> ModelSpec {
    ModelSpec {
        name: model.to_string(),
        version_choice: version.number().and_then(|n| i64::try_from(n).ok()).map(VersionChoice::Version),
        signature_name: signature_name.to_string(),
    }
}

/// The model spec's name, which every request needs.
pub fn model_name(spec: Option<&ModelSpec>) -> Result<&ModelSpec, TfsError> {
    spec.filter(|s| !s.name.is_empty()).ok_or_else(|| TfsError::bad("Missing ModelSpec name"))
}
