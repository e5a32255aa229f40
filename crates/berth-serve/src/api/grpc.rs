//! `inference.GRPCInferenceService` with tonic. Inputs may come typed
//! (`contents`) or raw (`raw_input_contents`, what tritonclient sends);
//! outputs go back raw, like Triton does.

use std::collections::HashMap;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::tensor::{self, InputTensor, TensorData};
use super::{ApiError, AppState, ModelMeta, v2_json};
use crate::proto::grpc_inference_service_server::GrpcInferenceService;
use crate::proto::infer_parameter::ParameterChoice;
use crate::proto::model_infer_request::InferInputTensor;
use crate::proto::model_infer_response::InferOutputTensor;
use crate::proto::model_metadata_response::TensorMetadata;
use crate::proto::{
    InferParameter, ModelInferRequest, ModelInferResponse, ModelMetadataRequest, ModelMetadataResponse,
    ModelReadyRequest, ModelReadyResponse, ServerLiveRequest, ServerLiveResponse, ServerMetadataRequest,
    ServerMetadataResponse, ServerReadyRequest, ServerReadyResponse,
};

#[derive(Debug, Clone)]
pub struct GrpcService {
    state: Arc<AppState>,
}

impl GrpcService {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    pub fn into_server(self) -> crate::proto::grpc_inference_service_server::GrpcInferenceServiceServer<Self> {
        let limit = self.state.max_body_bytes;
        crate::proto::grpc_inference_service_server::GrpcInferenceServiceServer::new(self)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(usize::MAX)
    }
}

fn optional(version: &str) -> Option<&str> {
    (!version.is_empty()).then_some(version)
}

fn decode_input(input: InferInputTensor, raw: Option<Vec<u8>>) -> Result<InputTensor, ApiError> {
    let data = match (raw, input.contents) {
        (Some(raw), _) => v2_json::decode_binary(&input.name, &input.datatype, &raw)?,
        (None, Some(c)) => match input.datatype.as_str() {
            "BYTES" => TensorData::Bytes(c.bytes_contents),
            "INT64" => TensorData::Int64(c.int64_contents),
            "INT32" => TensorData::Int64(c.int_contents.into_iter().map(i64::from).collect()),
            other => {
                return Err(ApiError::bad(format!(
                    "input {}: datatype {other} is not accepted (BYTES for texts, INT64 for token ids)",
                    input.name
                )));
            }
        },
        (None, None) => return Err(ApiError::bad(format!("input {} has no data", input.name))),
    };
    Ok(InputTensor { name: input.name, datatype: input.datatype, shape: input.shape, data })
}

fn decode_inputs(req: &mut ModelInferRequest) -> Result<Vec<InputTensor>, ApiError> {
    let inputs = std::mem::take(&mut req.inputs);
    let raw = std::mem::take(&mut req.raw_input_contents);
    if !raw.is_empty() && raw.len() != inputs.len() {
        return Err(ApiError::bad(format!("raw_input_contents has {} entries for {} inputs", raw.len(), inputs.len())));
    }
    let mut raw = raw.into_iter();
    inputs.into_iter().map(|i| decode_input(i, raw.next())).collect()
}

fn meta_response(meta: ModelMeta) -> ModelMetadataResponse {
    let conv = |list: Vec<super::TensorMeta>| {
        list.into_iter().map(|t| TensorMetadata { name: t.name, datatype: t.datatype, shape: t.shape }).collect()
    };
    ModelMetadataResponse {
        name: meta.name,
        versions: meta.versions,
        platform: meta.platform,
        inputs: conv(meta.inputs),
        outputs: conv(meta.outputs),
    }
}

#[tonic::async_trait]
impl GrpcInferenceService for GrpcService {
    async fn server_live(&self, _: Request<ServerLiveRequest>) -> Result<Response<ServerLiveResponse>, Status> {
        Ok(Response::new(ServerLiveResponse { live: true }))
    }

    async fn server_ready(&self, _: Request<ServerReadyRequest>) -> Result<Response<ServerReadyResponse>, Status> {
        Ok(Response::new(ServerReadyResponse { ready: self.state.is_ready() }))
    }

    async fn model_ready(&self, req: Request<ModelReadyRequest>) -> Result<Response<ModelReadyResponse>, Status> {
        let req = req.into_inner();
        let ready = self.state.model_ready(&req.name, optional(&req.version))?;
        Ok(Response::new(ModelReadyResponse { ready }))
    }

    async fn server_metadata(
        &self,
        _: Request<ServerMetadataRequest>,
    ) -> Result<Response<ServerMetadataResponse>, Status> {
        Ok(Response::new(ServerMetadataResponse {
            name: "berth-serve".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            extensions: vec!["binary_tensor_data".into(), "model_repository_status".into()],
        }))
    }

    async fn model_metadata(
        &self,
        req: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        let req = req.into_inner();
        let meta = self.state.metadata(&req.name, optional(&req.version))?;
        Ok(Response::new(meta_response(meta)))
    }

    async fn model_infer(&self, req: Request<ModelInferRequest>) -> Result<Response<ModelInferResponse>, Status> {
        let mut req = req.into_inner();
        self.state.manager(&req.model_name)?;
        let inputs = decode_inputs(&mut req)?;
        let payload = tensor::v2_payload(inputs)?;
        let requested: Vec<String> = req.outputs.iter().map(|o| o.name.clone()).collect();
        let result = self.state.infer(&req.model_name, optional(&req.model_version), payload).await?;
        let mut parameters = HashMap::new();
        if let Some(indices) = result.truncated_indices() {
            parameters.insert(
                "truncated".to_string(),
                InferParameter { parameter_choice: Some(ParameterChoice::BoolParam(true)) },
            );
            parameters.insert(
                "truncated_inputs".to_string(),
                InferParameter { parameter_choice: Some(ParameterChoice::StringParam(indices)) },
            );
        }
        let version = result.version;
        let outputs = tensor::outputs(result.output, result.labels.as_deref(), &requested)?;
        let raw_output_contents = outputs.iter().map(|o| v2_json::encode_binary(&o.data)).collect();
        let outputs = outputs
            .into_iter()
            .map(|o| InferOutputTensor {
                name: o.name.into(),
                datatype: o.datatype.into(),
                shape: o.shape,
                parameters: HashMap::new(),
                contents: None,
            })
            .collect();
        Ok(Response::new(ModelInferResponse {
            model_name: req.model_name,
            model_version: version.to_string(),
            id: req.id,
            parameters,
            outputs,
            raw_output_contents,
        }))
    }
}
