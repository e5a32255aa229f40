//! Open Inference Protocol V2 over REST (axum), plus TF Serving's REST API
//! ([`tfs::rest`]) and `/metrics` on the same port.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::{ApiError, AppState, ModelMeta, tensor, tfs, v2_json};

pub const HEADER_LENGTH: &str = "inference-header-content-length";

pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.max_body_bytes;
    Router::new()
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
        .route("/v2", get(server_metadata))
        .route("/v2/models/{model}", get(model_metadata))
        .route("/v2/models/{model}/ready", get(model_ready))
        .route("/v2/models/{model}/infer", post(infer))
        .route("/v2/models/{model}/versions/{version}", get(version_metadata))
        .route("/v2/models/{model}/versions/{version}/ready", get(version_ready))
        .route("/v2/models/{model}/versions/{version}/infer", post(infer_version))
        .merge(tfs::rest::routes())
        .merge(super::tei::routes())
        .merge(super::openai::routes())
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NoRoute(format!("no endpoint {}", uri.path()))
}

async fn live() -> Json<Value> {
    Json(json!({ "live": true }))
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    let ready = state.is_ready();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "ready": ready }))).into_response()
}

async fn server_metadata() -> Json<Value> {
    Json(json!({
        "name": "berth-serve",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["binary_tensor_data", "model_repository_status"],
    }))
}

fn meta_json(meta: ModelMeta) -> Json<Value> {
    let tensors = |list: Vec<super::TensorMeta>| -> Vec<Value> {
        list.into_iter().map(|t| json!({ "name": t.name, "datatype": t.datatype, "shape": t.shape })).collect()
    };
    Json(json!({
        "name": meta.name,
        "versions": meta.versions,
        "platform": meta.platform,
        "inputs": tensors(meta.inputs),
        "outputs": tensors(meta.outputs),
    }))
}

async fn model_metadata(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.metadata(&model, None).map(meta_json)
}

async fn version_metadata(
    State(state): State<Arc<AppState>>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    state.metadata(&model, Some(&version)).map(meta_json)
}

fn ready_response(model: &str, ready: bool) -> Response {
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "name": model, "ready": ready }))).into_response()
}

async fn model_ready(State(state): State<Arc<AppState>>, Path(model): Path<String>) -> Result<Response, ApiError> {
    Ok(ready_response(&model, state.model_ready(&model, None)?))
}

async fn version_ready(
    State(state): State<Arc<AppState>>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(ready_response(&model, state.model_ready(&model, Some(&version))?))
}

async fn infer(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    run_infer(&state, &model, None, &headers, body).await
}

async fn infer_version(
    State(state): State<Arc<AppState>>,
    Path((model, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    run_infer(&state, &model, Some(&version), &headers, body).await
}

async fn run_infer(
    state: &AppState,
    model: &str,
    version: Option<&str>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(state, body)?;
    let header_len = match headers.get(HEADER_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or_else(|| ApiError::bad("Inference-Header-Content-Length is not a number"))?,
        ),
    };
    // Unknown model: 404 before any parsing effort.
    state.manager(model)?;
    let mut req = v2_json::parse(&body, header_len)?;
    drop(body);
    let requested = req.requested();
    let payload = tensor::v2_payload(std::mem::take(&mut req.inputs))?;
    let result = state.infer(model, version, payload).await?;
    let mut params = Map::new();
    if let Some(indices) = result.truncated_indices() {
        params.insert("truncated".into(), Value::Bool(true));
        params.insert("truncated_inputs".into(), Value::String(indices));
    }
    let version_number = result.version;
    let outputs = tensor::outputs(result.output, result.labels.as_deref(), &requested)?;
    let (bytes, header) = v2_json::render(&req, model, version_number.as_str(), params, &outputs)?;
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    match header {
        Some(n) => {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            h.insert(HEADER_LENGTH, HeaderValue::from(n));
        }
        None => {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
    }
    Ok(response)
}

pub(crate) fn read_body(state: &AppState, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "the request body is larger than the limit of {} bytes",
                state.max_body_bytes
            ))
        } else {
            ApiError::bad(format!("reading the request body: {rejection}"))
        }
    })
}

async fn metrics(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let text = state.metrics.render().map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
