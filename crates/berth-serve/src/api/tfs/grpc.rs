//! `tensorflow.serving.PredictionService` and `tensorflow.serving.ModelService`
//! with tonic, on the gRPC port beside the V2 service. Regress,
//! MultiInference and HandleReloadConfigRequest answer UNIMPLEMENTED with
//! the reason: BERT models here embed or classify, and versions come from the
//! model directory or the operator, not from a pushed config.

use std::sync::Arc;

use prost::Message;
use tonic::{Request, Response, Status};

use crate::api::AppState;
use crate::api::tensor as neutral;
use crate::tfs_proto::tensorflow::serving::model_service_server::{ModelService, ModelServiceServer};
use crate::tfs_proto::tensorflow::serving::prediction_service_server::{PredictionService, PredictionServiceServer};
use crate::tfs_proto::tensorflow::serving::{
    Class, ClassificationRequest, ClassificationResponse, ClassificationResult, Classifications,
    GetModelMetadataRequest, GetModelMetadataResponse, GetModelStatusRequest, GetModelStatusResponse,
    MultiInferenceRequest, MultiInferenceResponse, PredictRequest, PredictResponse, RegressionRequest,
    RegressionResponse, ReloadConfigRequest, ReloadConfigResponse,
};

use super::{Selector, TfsError, classify, model_name, model_spec, signature, status, tensor};

/// The only metadata field TF Serving defines.
const SIGNATURE_DEF_FIELD: &str = "signature_def";
const SIGNATURE_DEF_MAP_URL: &str = "type.googleapis.com/tensorflow.serving.SignatureDefMap";

#[derive(Debug, Clone)]
pub struct TfsService {
    state: Arc<AppState>,
}

impl TfsService {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    /// Both services, with the same message size limit as V2.
    pub fn into_servers(self) -> (PredictionServiceServer<Self>, ModelServiceServer<Self>) {
        let limit = self.state.max_body_bytes;
        let prediction = PredictionServiceServer::new(self.clone())
            .max_decoding_message_size(limit)
            .max_encoding_message_size(usize::MAX);
        let model = ModelServiceServer::new(self).max_decoding_message_size(limit);
        (prediction, model)
    }

    async fn predict(&self, req: PredictRequest) -> Result<PredictResponse, TfsError> {
        let spec = model_name(req.model_spec.as_ref())?;
        signature::check_predict(&spec.signature_name)?;
        let version = Selector::from_spec(spec).version(&self.state, &spec.name)?;
        let payload = neutral::payload(tensor::inputs(req.inputs)?)?;
        let result = self.state.infer(&spec.name, version.as_deref(), payload).await?;
        let spec = model_spec(&spec.name, &result.version, signature::DEFAULT);
        let outputs = neutral::outputs(result.output, result.labels.as_deref(), &req.output_filter)?;
        Ok(PredictResponse { model_spec: Some(spec), outputs: outputs.into_iter().map(tensor::output).collect() })
    }

    fn metadata(&self, req: GetModelMetadataRequest) -> Result<GetModelMetadataResponse, TfsError> {
        let spec = model_name(req.model_spec.as_ref())?;
        if req.metadata_field.is_empty() {
            return Err(TfsError::bad("GetModelMetadataRequest must specify at least one metadata_field"));
        }
        if let Some(other) = req.metadata_field.iter().find(|f| f.as_str() != SIGNATURE_DEF_FIELD) {
            return Err(TfsError::bad(format!("Metadata field {other} is not supported")));
        }
        let target = Selector::from_spec(spec).target(&self.state, &spec.name)?;
        let map = signature::signatures(&target);
        let any = prost_types::Any { type_url: SIGNATURE_DEF_MAP_URL.into(), value: map.encode_to_vec() };
        Ok(GetModelMetadataResponse {
            model_spec: Some(model_spec(&spec.name, &target.number, "")),
            metadata: [(SIGNATURE_DEF_FIELD.to_string(), any)].into(),
        })
    }

    async fn classify(&self, req: ClassificationRequest) -> Result<ClassificationResponse, TfsError> {
        let spec = model_name(req.model_spec.as_ref())?;
        signature::check_classify(&spec.signature_name)?;
        let target = Selector::from_spec(spec).target(&self.state, &spec.name)?;
        classify::check_classifier(&spec.name, &target)?;
        let texts = classify::texts(classify::examples(req.input)?)?;
        let result = self.state.infer(&spec.name, Some(target.number.as_str()), neutral::Payload::Texts(texts)).await?;
        let classifications = classify::classes(&result)?
            .into_iter()
            .map(|row| Classifications {
                classes: row.into_iter().map(|(label, score)| Class { label, score }).collect(),
            })
            .collect();
        Ok(ClassificationResponse {
            model_spec: Some(model_spec(&spec.name, &result.version, signature::CLASSIFICATION)),
            result: Some(ClassificationResult { classifications }),
        })
    }

    fn model_status(&self, req: GetModelStatusRequest) -> Result<GetModelStatusResponse, TfsError> {
        let spec = model_name(req.model_spec.as_ref())?;
        let list = status::select(&self.state, &spec.name, &Selector::from_spec(spec))?;
        Ok(GetModelStatusResponse { model_version_status: list.iter().map(status::to_proto).collect() })
    }
}

fn unimplemented(what: &str, why: &str) -> Status {
    Status::unimplemented(format!("{what} is not implemented by berth-serve: {why}"))
}

#[tonic::async_trait]
impl PredictionService for TfsService {
    async fn classify(&self, req: Request<ClassificationRequest>) -> Result<Response<ClassificationResponse>, Status> {
        Ok(Response::new(TfsService::classify(self, req.into_inner()).await?))
    }

    async fn regress(&self, _: Request<RegressionRequest>) -> Result<Response<RegressionResponse>, Status> {
        Err(unimplemented("Regress", "its BERT models embed or classify; use Predict or Classify"))
    }

    async fn predict(&self, req: Request<PredictRequest>) -> Result<Response<PredictResponse>, Status> {
        Ok(Response::new(TfsService::predict(self, req.into_inner()).await?))
    }

    async fn multi_inference(
        &self,
        _: Request<MultiInferenceRequest>,
    ) -> Result<Response<MultiInferenceResponse>, Status> {
        Err(unimplemented("MultiInference", "send one Predict or Classify per task"))
    }

    async fn get_model_metadata(
        &self,
        req: Request<GetModelMetadataRequest>,
    ) -> Result<Response<GetModelMetadataResponse>, Status> {
        Ok(Response::new(self.metadata(req.into_inner())?))
    }
}

#[tonic::async_trait]
impl ModelService for TfsService {
    async fn get_model_status(
        &self,
        req: Request<GetModelStatusRequest>,
    ) -> Result<Response<GetModelStatusResponse>, Status> {
        Ok(Response::new(self.model_status(req.into_inner())?))
    }

    async fn handle_reload_config_request(
        &self,
        _: Request<ReloadConfigRequest>,
    ) -> Result<Response<ReloadConfigResponse>, Status> {
        Err(unimplemented(
            "HandleReloadConfigRequest",
            "versions come from the model base path (standalone) or the BertModel (controlled mode)",
        ))
    }
}
