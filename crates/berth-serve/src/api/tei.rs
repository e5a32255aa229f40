//! Hugging Face Text Embeddings Inference's REST API on the REST port: `/embed`,
//! `/predict`, `/tokenize`, `/rerank`, `/info` and `/health`, with TEI's field
//! names, defaults, error body `{"error", "error_type"}` and status codes, so a TEI
//! client (or `huggingface_hub`'s `InferenceClient`) works unchanged. Requests run
//! through [`AppState::infer`], so versions and the canary split apply as on V2.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::compat::{self, CompatError};
use super::tensor::Payload;
use super::{ApiError, AppState};
use crate::engine::head::l2_normalize;
use crate::engine::{InferError, Output};
use crate::manager::RouteError;
use crate::model::{Task, TokenizeError};

mod meta;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/embed", post(embed))
        .route("/predict", post(predict))
        .route("/tokenize", post(meta::tokenize))
        .route("/rerank", post(meta::rerank))
        .route("/info", get(meta::info))
        .route("/health", get(meta::health))
        .route("/", post(root))
}

/// TEI's `ErrorType`, serialized as TEI does (the variant name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Unhealthy,
    Backend,
    Overloaded,
    Validation,
    Tokenizer,
    Empty,
}

impl ErrorType {
    pub fn name(self) -> &'static str {
        match self {
            ErrorType::Unhealthy => "Unhealthy",
            ErrorType::Backend => "Backend",
            ErrorType::Overloaded => "Overloaded",
            ErrorType::Validation => "Validation",
            ErrorType::Tokenizer => "Tokenizer",
            ErrorType::Empty => "Empty",
        }
    }

    /// TEI's `From<&ErrorType> for StatusCode`.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorType::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Backend => StatusCode::FAILED_DEPENDENCY,
            ErrorType::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            ErrorType::Tokenizer => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Validation => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorType::Empty => StatusCode::BAD_REQUEST,
        }
    }
}

/// The status and TEI error type of a failure.
pub fn classify(e: &CompatError) -> (StatusCode, ErrorType) {
    use ErrorType as T;
    let t = match e {
        CompatError::Empty(_) => T::Empty,
        // axum's Json extractor, which TEI uses, answers an undecodable body 422.
        CompatError::Body(_) | CompatError::UnknownModel(_) | CompatError::AmbiguousModel(_) => {
            return (StatusCode::UNPROCESSABLE_ENTITY, T::Validation);
        }
        CompatError::Validation(_) => T::Validation,
        CompatError::WrongTask(_) => T::Backend,
        CompatError::Api(api) => match api {
            ApiError::Infer(InferError::Tokenize { source: TokenizeError::TooLong { .. }, .. }) => T::Validation,
            ApiError::Infer(InferError::Tokenize { .. }) => T::Tokenizer,
            ApiError::Infer(InferError::InvalidInput(_)) | ApiError::PayloadTooLarge(_) => T::Validation,
            ApiError::Infer(InferError::Overloaded { .. }) => T::Overloaded,
            ApiError::Infer(InferError::Runtime(_) | InferError::Unavailable(_)) | ApiError::Internal(_) => T::Backend,
            ApiError::Route(RouteError::UnknownModel(_) | RouteError::UnknownVersion { .. }) => {
                return (StatusCode::UNPROCESSABLE_ENTITY, T::Validation);
            }
            ApiError::Route(_) => T::Unhealthy,
            ApiError::BadRequest(_) | ApiError::NoRoute(_) => return (StatusCode::UNPROCESSABLE_ENTITY, T::Validation),
        },
    };
    (t.status(), t)
}

fn error_response(e: CompatError) -> Response {
    let (status, kind) = classify(&e);
    (status, axum::Json(json!({ "error": e.to_string(), "error_type": kind.name() }))).into_response()
}

pub(super) fn answer<T: Serialize>(result: Result<T, CompatError>) -> Response {
    match result {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => error_response(e),
    }
}

/// TEI's `/`: `/predict` on a classifier, `/embed` on an embedding model. What
/// `huggingface_hub`'s `InferenceClient(model=url)` posts to.
async fn root(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let classifier = compat::pick_model(&state, None, &headers)
        .and_then(|m| compat::probe(&state, m))
        .map(|v| matches!(v.info.task, Task::Classification { .. }));
    match classifier {
        Ok(true) => answer(predictions(&state, &headers, body).await),
        Ok(false) => answer(embed_rows(&state, &headers, body).await),
        Err(e) => error_response(e),
    }
}

/// `"text"` or `["a", "b"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Inputs {
    One(String),
    Many(Vec<String>),
}

impl Inputs {
    pub(super) fn into_vec(self) -> Vec<String> {
        match self {
            Inputs::One(s) => vec![s],
            Inputs::Many(v) => v,
        }
    }
}

/// TEI spells its variants this way; only `Right` is what berth-serve's tokenizer does.
#[derive(Debug, Clone, Copy, Deserialize)]
enum TruncationDirection {
    Left,
    Right,
}

fn check_direction(d: Option<TruncationDirection>) -> Result<(), CompatError> {
    match d {
        None | Some(TruncationDirection::Right) => Ok(()),
        Some(TruncationDirection::Left) => Err(CompatError::Validation(
            "truncation_direction \"Left\" is not supported: berth-serve truncates on the right".into(),
        )),
    }
}

pub(super) fn no_prompt(prompt_name: Option<&str>) -> Result<(), CompatError> {
    match prompt_name {
        None => Ok(()),
        Some(p) => {
            Err(CompatError::Validation(format!("prompt_name {p:?} is not supported: berth-serve has no prompts")))
        }
    }
}

#[derive(Debug, Deserialize)]
struct EmbedRequest {
    inputs: Inputs,
    #[serde(default)]
    truncate: Option<bool>,
    #[serde(default)]
    truncation_direction: Option<TruncationDirection>,
    #[serde(default)]
    prompt_name: Option<String>,
    #[serde(default = "yes")]
    normalize: bool,
    /// berth-serve's: which model, on a server with several.
    #[serde(default)]
    model: Option<String>,
}

pub(super) fn yes() -> bool {
    true
}

async fn embed(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(embed_rows(&state, &headers, body).await)
}

async fn embed_rows(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Vec<Vec<f32>>, CompatError> {
    let req: EmbedRequest = compat::parse(state, body)?;
    let model = compat::pick_model(state, req.model.as_deref(), headers)?;
    check_direction(req.truncation_direction)?;
    no_prompt(req.prompt_name.as_deref())?;
    let texts = req.inputs.into_vec();
    compat::check_batch(texts.len(), "inputs")?;
    let probe = compat::probe(state, model)?;
    if !matches!(probe.info.task, Task::Embedding { .. }) {
        return Err(CompatError::WrongTask("Model is not an embedding model".into()));
    }
    compat::token_counts(&probe, &texts, req.truncate.unwrap_or(false)).await?;
    drop(probe);
    let result = state.infer(model, None, Payload::Texts(texts)).await?;
    let Output::Embeddings { width, data } = result.output else {
        return Err(CompatError::WrongTask("Model is not an embedding model".into()));
    };
    Ok(data
        .chunks(width.max(1))
        .map(|row| {
            let mut row = row.to_vec();
            if req.normalize {
                l2_normalize(&mut row);
            }
            row
        })
        .collect())
}

/// TEI's predict input: a text, a pair `[a, b]` or a batch `[[a], [b, c], ...]`.
/// berth-serve has no pair task, so a pair is refused rather than read as two texts;
/// a list of three or more texts (which TEI refuses) is taken as a batch.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PredictInputs {
    One(String),
    Flat(Vec<String>),
    Nested(Vec<Vec<String>>),
}

#[derive(Debug, Deserialize)]
struct PredictRequest {
    inputs: PredictInputs,
    #[serde(default)]
    truncate: Option<bool>,
    #[serde(default)]
    truncation_direction: Option<TruncationDirection>,
    #[serde(default)]
    raw_scores: bool,
    #[serde(default)]
    model: Option<String>,
}

#[derive(Debug, Serialize)]
struct Prediction {
    score: f32,
    label: String,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum PredictResponse {
    Single(Vec<Prediction>),
    Batch(Vec<Vec<Prediction>>),
}

const PAIRS: &str =
    "text pairs are not supported: berth-serve's classifiers take one text; a batch is [[\"a\"], [\"b\"]]";

fn predict_texts(inputs: PredictInputs) -> Result<(Vec<String>, bool), CompatError> {
    match inputs {
        PredictInputs::One(s) => Ok((vec![s], true)),
        PredictInputs::Flat(v) if v.len() == 1 => Ok((v, true)),
        PredictInputs::Flat(v) if v.len() == 2 => Err(CompatError::Validation(PAIRS.into())),
        PredictInputs::Flat(v) => Ok((v, false)),
        PredictInputs::Nested(rows) => {
            let texts = rows
                .into_iter()
                .map(|mut r| match r.len() {
                    1 => Ok(r.remove(0)),
                    2 => Err(CompatError::Validation(PAIRS.into())),
                    n => Err(CompatError::Body(format!("a batch element has one text (or two for a pair), got {n}"))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((texts, false))
        }
    }
}

async fn predict(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(predictions(&state, &headers, body).await)
}

async fn predictions(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<PredictResponse, CompatError> {
    let req: PredictRequest = compat::parse(state, body)?;
    let model = compat::pick_model(state, req.model.as_deref(), headers)?;
    check_direction(req.truncation_direction)?;
    let (texts, single) = predict_texts(req.inputs)?;
    compat::check_batch(texts.len(), "inputs")?;
    let probe = compat::probe(state, model)?;
    if !matches!(probe.info.task, Task::Classification { .. }) {
        return Err(CompatError::WrongTask("Model is not a classifier model".into()));
    }
    if req.raw_scores {
        return Err(CompatError::Validation(
            "raw_scores is not supported: berth-serve's classifier head returns softmax probabilities".into(),
        ));
    }
    compat::token_counts(&probe, &texts, req.truncate.unwrap_or(false)).await?;
    drop(probe);
    let result = state.infer(model, None, Payload::Texts(texts)).await?;
    let Output::Probabilities { width, data } = result.output else {
        return Err(CompatError::WrongTask("Model is not a classifier model".into()));
    };
    let labels = result.labels.unwrap_or_default();
    let mut rows: Vec<Vec<Prediction>> = data
        .chunks(width.max(1))
        .map(|p| {
            let mut row: Vec<Prediction> = p
                .iter()
                .enumerate()
                .map(|(i, &score)| Prediction {
                    score,
                    label: labels.get(i).cloned().unwrap_or_else(|| format!("LABEL_{i}")),
                })
                .collect();
            row.sort_by(|a, b| b.score.total_cmp(&a.score));
            row
        })
        .collect();
    if single {
        return Ok(PredictResponse::Single(rows.pop().unwrap_or_default()));
    }
    Ok(PredictResponse::Batch(rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn errors_use_tei_status_codes() {
        let cases = [
            (CompatError::Empty("e".into()), 400, "Empty"),
            (CompatError::Validation("v".into()), 413, "Validation"),
            (CompatError::Body("b".into()), 422, "Validation"),
            (CompatError::WrongTask("w".into()), 424, "Backend"),
            (CompatError::Api(ApiError::Infer(InferError::Runtime("r".into()))), 424, "Backend"),
            (CompatError::Api(ApiError::Route(RouteError::NoneAvailable("m".into()))), 503, "Unhealthy"),
        ];
        for (e, status, kind) in cases {
            let (s, k) = classify(&e);
            assert_eq!((s.as_u16(), k.name()), (status, kind), "{e}");
        }
    }

    #[test]
    fn predict_inputs_follow_tei() {
        let parse = |v: Value| predict_texts(serde_json::from_value(v).unwrap());
        assert_eq!(parse(json!("a")).unwrap(), (vec!["a".to_string()], true));
        assert_eq!(parse(json!(["a"])).unwrap(), (vec!["a".to_string()], true));
        assert_eq!(parse(json!([["a"], ["b"]])).unwrap(), (vec!["a".to_string(), "b".to_string()], false));
        assert_eq!(parse(json!(["a", "b", "c"])).unwrap().0.len(), 3);
        assert!(matches!(parse(json!(["a", "b"])), Err(CompatError::Validation(_))));
        assert!(matches!(parse(json!([["a", "b"]])), Err(CompatError::Validation(_))));
    }
}
