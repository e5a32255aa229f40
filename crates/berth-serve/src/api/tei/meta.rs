//! TEI's routes around inference: `/tokenize`, `/rerank`, `/info` and `/health`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ErrorType, Inputs, answer, no_prompt, yes};
use crate::api::compat::{self, CompatError};
use crate::api::{ApiError, AppState};
use crate::model::Task;

#[derive(Debug, Deserialize)]
struct TokenizeRequest {
    inputs: Inputs,
    #[serde(default = "yes")]
    add_special_tokens: bool,
    #[serde(default)]
    prompt_name: Option<String>,
    #[serde(default)]
    model: Option<String>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct SimpleToken {
    pub id: u32,
    pub text: String,
    pub special: bool,
    pub start: Option<usize>,
    pub stop: Option<usize>,
}

pub(super) async fn tokenize(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(tokens(&state, &headers, body).await)
}

async fn tokens(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Vec<Vec<SimpleToken>>, CompatError> {
    let req: TokenizeRequest = compat::parse(state, body)?;
    let model = compat::pick_model(state, req.model.as_deref(), headers)?;
    no_prompt(req.prompt_name.as_deref())?;
    let texts = req.inputs.into_vec();
    compat::check_batch(texts.len(), "inputs")?;
    let dir = compat::probe(state, model)?.dir.clone();
    let special = req.add_special_tokens;
    // The serving tokenizer skips character offsets (it never needs them), so the
    // version's tokenizer.json is read again with them; /tokenize is a debugging aid.
    tokio::task::spawn_blocking(move || compat::tokenize_with_offsets(&dir, &texts, special))
        .await
        .map_err(|e| ApiError::Internal(format!("tokenizer task: {e}")))?
        .map(|rows| {
            rows.into_iter()
                .map(|row| {
                    row.into_iter()
                        .map(|t| SimpleToken {
                            id: t.id,
                            text: t.text,
                            special: t.special,
                            start: t.start,
                            stop: t.stop,
                        })
                        .collect()
                })
                .collect()
        })
}

#[derive(Debug, Deserialize)]
struct RerankRequest {
    #[serde(rename = "query")]
    _query: String,
    texts: Vec<String>,
    #[serde(default)]
    model: Option<String>,
}

/// berth-serve has no reranker task yet: every model answers TEI's error for a model
/// that is not a re-ranker, after TEI's own check for an empty `texts`.
pub(super) async fn rerank(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result: Result<Value, CompatError> = (|| {
        let req: RerankRequest = compat::parse(&state, body)?;
        compat::pick_model(&state, req.model.as_deref(), &headers)?;
        if req.texts.is_empty() {
            return Err(CompatError::Empty("`texts` cannot be empty".into()));
        }
        Err(CompatError::WrongTask("model is not a re-ranker model".into()))
    })();
    answer(result)
}

pub(super) async fn health(State(state): State<Arc<AppState>>) -> Response {
    if state.is_ready() {
        return StatusCode::OK.into_response();
    }
    let kind = ErrorType::Unhealthy;
    (kind.status(), axum::Json(json!({ "error": "unhealthy", "error_type": kind.name() }))).into_response()
}

pub(super) async fn info(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let result = (|| {
        let model = compat::pick_model(&state, None, &headers)?;
        let manager = state.manager(model)?;
        let v = compat::probe(&state, model)?;
        let cfg = manager.config();
        let model_type = match &v.info.task {
            Task::Embedding { pooling, .. } => json!({ "embedding": { "pooling": pooling.name() } }),
            Task::Classification { labels } => {
                let id2label: BTreeMap<String, &String> =
                    labels.iter().enumerate().map(|(i, l)| (i.to_string(), l)).collect();
                let label2id: BTreeMap<&String, usize> = labels.iter().enumerate().map(|(i, l)| (l, i)).collect();
                json!({ "classifier": { "id2label": id2label, "label2id": label2id } })
            }
        };
        // Quantized versions say so in their manifest; the graph's dtype is not read.
        let quantized = std::fs::read_to_string(v.dir.join("berth-manifest.json"))
            .map(|m| m.contains("\"quantized\""))
            .unwrap_or(false);
        Ok::<Value, CompatError>(json!({
            "model_id": model,
            "model_sha": null,
            "model_dtype": if quantized { "int8" } else { "float32" },
            "model_type": model_type,
            "max_concurrent_requests": cfg.queue_capacity,
            "max_input_length": cfg.max_sequence_length,
            "max_batch_tokens": cfg.max_batch_tokens,
            "max_batch_requests": cfg.max_batch_size,
            "max_client_batch_size": compat::MAX_CLIENT_BATCH,
            "auto_truncate": false,
            "tokenization_workers": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "version": env!("CARGO_PKG_VERSION"),
            "sha": null,
            "docker_label": null,
        }))
    })();
    answer(result)
}
