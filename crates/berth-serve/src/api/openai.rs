//! OpenAI's embeddings API on the REST port: `POST /v1/embeddings` and
//! `GET /v1/models`, with OpenAI's request fields, response shape and error body
//! `{"error": {"message", "type", "param", "code"}}`, so the `openai` client and
//! what is built on it (LangChain's `OpenAIEmbeddings`...) point at berth-serve by
//! changing the base URL. Requests run through [`AppState::infer`], so versions and
//! the canary split apply as on V2.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::compat::{self, CompatError};
use super::tensor::Payload;
use crate::engine::{Output, Row};
use crate::model::Task;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/v1/embeddings", post(embeddings)).route("/v1/models", get(models))
}

/// Texts, or token ids for clients (tiktoken-style) that tokenize themselves.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum EmbeddingInput {
    Text(String),
    Texts(Vec<String>),
    Ids(Vec<i64>),
    IdRows(Vec<Vec<i64>>),
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum EncodingFormat {
    #[default]
    Float,
    Base64,
}

#[derive(Debug, Deserialize)]
struct EmbeddingsRequest {
    input: EmbeddingInput,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    encoding_format: Option<EncodingFormat>,
    #[serde(default)]
    dimensions: Option<usize>,
    #[serde(default, rename = "user")]
    _user: Option<String>,
}

/// The status, OpenAI error `type`, `param` and `code` of a failure.
fn classify(e: &CompatError) -> (StatusCode, &'static str, Option<&'static str>, Option<&'static str>) {
    const INVALID: &str = "invalid_request_error";
    match e {
        CompatError::Empty(_) | CompatError::Validation(_) | CompatError::WrongTask(_) => {
            (StatusCode::BAD_REQUEST, INVALID, Some("input"), None)
        }
        CompatError::Body(_) => (StatusCode::BAD_REQUEST, INVALID, None, None),
        CompatError::UnknownModel(_) => (StatusCode::NOT_FOUND, INVALID, Some("model"), Some("model_not_found")),
        CompatError::AmbiguousModel(_) => (StatusCode::BAD_REQUEST, INVALID, Some("model"), None),
        CompatError::Api(api) => match api.http_status() {
            // Too long, bad token ids, body over the limit: the client's to fix.
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => {
                (StatusCode::BAD_REQUEST, INVALID, Some("input"), None)
            }
            StatusCode::NOT_FOUND => (StatusCode::NOT_FOUND, INVALID, Some("model"), Some("model_not_found")),
            StatusCode::TOO_MANY_REQUESTS => {
                (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", None, Some("rate_limit_exceeded"))
            }
            StatusCode::SERVICE_UNAVAILABLE => (StatusCode::SERVICE_UNAVAILABLE, "server_error", None, None),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "server_error", None, None),
        },
    }
}

fn error_response(e: CompatError) -> Response {
    let (status, kind, param, code) = classify(&e);
    let body = json!({ "error": { "message": e.to_string(), "type": kind, "param": param, "code": code } });
    (status, axum::Json(body)).into_response()
}

async fn embeddings(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match embed(&state, &headers, body).await {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => error_response(e),
    }
}

/// Little-endian f32s, base64: what OpenAI sends and its clients decode.
fn base64_f32(row: &[f32]) -> String {
    let bytes: Vec<u8> = row.iter().flat_map(|v| v.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn embed(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, CompatError> {
    let req: EmbeddingsRequest = compat::parse(state, body)?;
    let model = compat::pick_model(state, req.model.as_deref(), headers)?;
    let probe = compat::probe(state, model)?;
    if !matches!(probe.info.task, Task::Embedding { .. }) {
        return Err(CompatError::WrongTask(format!(
            "model {model:?} is a classifier; /v1/embeddings needs an embedding model"
        )));
    }
    if let Some(d) = req.dimensions
        && d != probe.output_width
    {
        return Err(CompatError::Validation(format!(
            "dimensions {d} is not supported: model {model:?} gives {} dimensions and does not shorten them",
            probe.output_width
        )));
    }
    let (payload, tokens) = match req.input {
        EmbeddingInput::Text(t) => texts_payload(&probe, vec![t]).await?,
        EmbeddingInput::Texts(t) => texts_payload(&probe, t).await?,
        EmbeddingInput::Ids(ids) => ids_payload(vec![ids])?,
        EmbeddingInput::IdRows(rows) => ids_payload(rows)?,
    };
    drop(probe);
    let result = state.infer(model, None, payload).await?;
    let Output::Embeddings { width, data } = result.output else {
        return Err(CompatError::WrongTask(format!("model {model:?} did not answer embeddings")));
    };
    // Checked again on the answer: the version that ran may differ from the probe.
    if let Some(d) = req.dimensions
        && d != width
    {
        return Err(CompatError::Validation(format!("dimensions {d} is not supported: the model gives {width}")));
    }
    let base64 = req.encoding_format == Some(EncodingFormat::Base64);
    let data: Vec<Value> = data
        .chunks(width.max(1))
        .enumerate()
        .map(|(index, row)| {
            let embedding = if base64 { Value::String(base64_f32(row)) } else { json!(row) };
            json!({ "object": "embedding", "index": index, "embedding": embedding })
        })
        .collect();
    Ok(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    }))
}

/// Texts; `usage` counts the tokens the tokenizer makes of them, special tokens
/// included. OpenAI truncates nothing: an input over the maximum length is a 400.
async fn texts_payload(
    probe: &Arc<crate::engine::Version>,
    texts: Vec<String>,
) -> Result<(Payload, usize), CompatError> {
    compat::check_batch(texts.len(), "input")?;
    if let Some(i) = texts.iter().position(String::is_empty) {
        return Err(CompatError::Validation(format!("input {i} is an empty string")));
    }
    let counts = compat::token_counts(probe, &texts, false).await?;
    Ok((Payload::Texts(texts), counts.iter().sum()))
}

/// Token ids as rows, every token attended to; the version checks them against its
/// vocabulary and length limit.
fn ids_payload(rows: Vec<Vec<i64>>) -> Result<(Payload, usize), CompatError> {
    compat::check_batch(rows.len(), "input")?;
    if let Some(i) = rows.iter().position(Vec::is_empty) {
        return Err(CompatError::Validation(format!("input {i} has no token ids")));
    }
    let tokens = rows.iter().map(Vec::len).sum();
    let rows = rows.into_iter().map(|ids| Row { type_ids: vec![0; ids.len()], ids, mask: None }).collect();
    Ok((Payload::Rows(rows), tokens))
}

async fn models(State(state): State<Arc<AppState>>) -> Response {
    let data: Vec<Value> = state
        .models
        .keys()
        .map(|name| json!({ "id": name, "object": "model", "created": 0, "owned_by": "berth" }))
        .collect();
    axum::Json(json!({ "object": "list", "data": data })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ApiError;

    #[test]
    fn base64_is_little_endian_f32() {
        let encoded = base64_f32(&[1.0, -2.5]);
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
        assert_eq!(bytes, [1.0f32.to_le_bytes(), (-2.5f32).to_le_bytes()].concat());
    }

    #[test]
    fn inputs_of_every_shape_parse() {
        let parse = |v: Value| serde_json::from_value::<EmbeddingInput>(v).unwrap();
        assert!(matches!(parse(json!("a")), EmbeddingInput::Text(_)));
        assert!(matches!(parse(json!(["a", "b"])), EmbeddingInput::Texts(_)));
        assert!(matches!(parse(json!([1, 2])), EmbeddingInput::Ids(_)));
        assert!(matches!(parse(json!([[1, 2], [3]])), EmbeddingInput::IdRows(_)));
        let (payload, tokens) = ids_payload(vec![vec![101, 7, 102]]).unwrap();
        assert_eq!(tokens, 3);
        let Payload::Rows(rows) = payload else { panic!("rows expected") };
        assert_eq!((rows[0].type_ids.clone(), rows[0].mask.clone()), (vec![0, 0, 0], None));
        assert!(ids_payload(vec![]).is_err());
        assert!(ids_payload(vec![vec![]]).is_err());
    }

    #[test]
    fn errors_use_openai_statuses() {
        let (s, kind, _, code) = classify(&CompatError::UnknownModel("m".into()));
        assert_eq!((s.as_u16(), kind, code), (404, "invalid_request_error", Some("model_not_found")));
        assert_eq!(classify(&CompatError::Body("b".into())).0.as_u16(), 400);
        let overloaded = CompatError::Api(ApiError::Infer(crate::engine::InferError::Overloaded {
            version: "1".parse().unwrap(),
            capacity: 1,
        }));
        assert_eq!(classify(&overloaded).0.as_u16(), 429);
    }
}
