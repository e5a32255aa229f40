//! What the TEI ([`super::tei`]) and OpenAI ([`super::openai`]) routes share: which
//! model a request means (neither protocol names one in its path), reading the JSON
//! body, and the length check that runs before a request is queued. Each protocol
//! turns a [`CompatError`] into its own status codes and error body.

use std::path::Path;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;

use super::{ApiError, AppState, rest};
use crate::engine::{InferError, Version};

/// Picks the model on a server with several; TEI and OpenAI have no model in the path.
pub const MODEL_HEADER: &str = "x-berth-model";

/// Most inputs in one request. OpenAI's embeddings API takes at most 2048; the same
/// limit here keeps one request from filling a version's queue alone.
pub const MAX_CLIENT_BATCH: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum CompatError {
    /// No inputs, or an empty list of them.
    #[error("{0}")]
    Empty(String),
    /// A well-formed request berth-serve cannot run: too long, too many inputs, an
    /// option it does not implement.
    #[error("{0}")]
    Validation(String),
    /// The body is not the JSON the route takes.
    #[error("{0}")]
    Body(String),
    /// No model is served under the name given.
    #[error("{0}")]
    UnknownModel(String),
    /// Several models are served and the request names none.
    #[error("{0}")]
    AmbiguousModel(String),
    /// The model's task is not the route's (embeddings of a classifier...).
    #[error("{0}")]
    WrongTask(String),
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<InferError> for CompatError {
    fn from(e: InferError) -> Self {
        CompatError::Api(ApiError::Infer(e))
    }
}

/// The body as `T`; a size-limit rejection stays a [`ApiError::PayloadTooLarge`].
pub fn parse<T: DeserializeOwned>(state: &AppState, body: Result<Bytes, BytesRejection>) -> Result<T, CompatError> {
    let body = rest::read_body(state, body)?;
    serde_json::from_slice(&body).map_err(|e| CompatError::Body(format!("Failed to deserialize the JSON body: {e}")))
}

fn served(state: &AppState) -> String {
    state.models.keys().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(", ")
}

/// The model a request means: the `X-Berth-Model` header, else the body's `model`
/// field, else the only model served. With one model the body's name is not checked
/// (OpenAI clients must send some name; TEI and vLLM accept any), the header is.
pub fn pick_model<'a>(state: &'a AppState, named: Option<&str>, headers: &HeaderMap) -> Result<&'a str, CompatError> {
    let header = match headers.get(MODEL_HEADER) {
        None => None,
        Some(v) => {
            Some(v.to_str().map_err(|_| CompatError::Validation(format!("the {MODEL_HEADER} header is not text")))?)
        }
    };
    let lookup = |name: &str| {
        state.models.get_key_value(name).map(|(k, _)| k.as_str()).ok_or_else(|| {
            CompatError::UnknownModel(format!("model {name:?} is not served here; served: {}", served(state)))
        })
    };
    if let Some(name) = header {
        return lookup(name);
    }
    let mut all = state.models.keys();
    match (all.next(), all.next(), named) {
        (Some(only), None, _) => Ok(only.as_str()),
        (_, _, Some(name)) => lookup(name),
        (None, _, None) => Err(CompatError::UnknownModel("no model is served".into())),
        (Some(_), Some(_), None) => Err(CompatError::AmbiguousModel(format!(
            "this server serves several models ({}): name one in the {MODEL_HEADER} header or the \"model\" field",
            served(state)
        ))),
    }
}

/// A version of `model` to read its task, tokenizer and limits from before the
/// request runs (the request itself is routed again by [`AppState::infer`]).
pub fn probe(state: &AppState, model: &str) -> Result<Arc<Version>, CompatError> {
    let manager = state.manager(model)?;
    Ok(manager.route(None).map_err(ApiError::from)?)
}

/// Refuses an empty request and one with more than [`MAX_CLIENT_BATCH`] inputs.
pub fn check_batch(n: usize, field: &str) -> Result<(), CompatError> {
    if n == 0 {
        return Err(CompatError::Empty(format!("`{field}` cannot be empty")));
    }
    if n > MAX_CLIENT_BATCH {
        return Err(CompatError::Validation(format!("batch size {n} > maximum allowed batch size {MAX_CLIENT_BATCH}")));
    }
    Ok(())
}

/// Tokenizes `texts` as the served version does and returns each one's token count,
/// special tokens included. An input over the maximum length is refused unless
/// `truncate`, and then counts the tokens it is cut to. Under `--truncation reject`
/// nothing is cut, so `truncate: true` cannot be honoured for a long input.
pub async fn token_counts(version: &Arc<Version>, texts: &[String], truncate: bool) -> Result<Vec<usize>, CompatError> {
    let bytes: usize = texts.iter().map(String::len).sum();
    // Long requests tokenize off the async workers, as the V2 path does.
    let (rows, truncated) = if bytes > 16 * 1024 {
        let (v, owned) = (Arc::clone(version), texts.to_vec());
        tokio::task::spawn_blocking(move || v.tokenize(&owned))
            .await
            .map_err(|e| ApiError::Internal(format!("tokenizer task: {e}")))?
    } else {
        version.tokenize(texts)
    }
    .map_err(|e| match e {
        InferError::Tokenize { index, source: crate::model::TokenizeError::TooLong { tokens, max } } if truncate => {
            CompatError::Validation(format!(
                "Input validation error: `inputs` must have less than {max} tokens. Given: {tokens} (input {index}); \
                 this server runs with --truncation reject, so it does not truncate"
            ))
        }
        InferError::Tokenize { index, source: crate::model::TokenizeError::TooLong { tokens, max } } => {
            CompatError::Validation(format!(
                "Input validation error: `inputs` must have less than {max} tokens. Given: {tokens} (input {index})"
            ))
        }
        other => other.into(),
    })?;
    if !truncate && let Some(index) = truncated.iter().position(|t| *t) {
        let max = version.tokenizer.max_len();
        return Err(CompatError::Validation(format!(
            "Input validation error: `inputs` must have less than {max} tokens. Given: more than {max} (input {index}); \
             send \"truncate\": true to cut it to {max}"
        )));
    }
    Ok(rows.iter().map(|r| r.len()).collect())
}

/// One token with where it came from, as TEI's `/tokenize` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub id: u32,
    pub text: String,
    pub special: bool,
    /// Byte offsets into the input; none for special tokens.
    pub start: Option<usize>,
    pub stop: Option<usize>,
}

/// Tokenizes with the version's `tokenizer.json`, offsets included, nothing cut.
pub fn tokenize_with_offsets(dir: &Path, texts: &[String], add_special: bool) -> Result<Vec<Vec<Token>>, CompatError> {
    let path = dir.join("tokenizer.json");
    let backend = |m: String| CompatError::Api(ApiError::Internal(m));
    let mut tok = tokenizers::Tokenizer::from_file(&path)
        .map_err(|e| backend(format!("/tokenize reads {}: {e}", path.display())))?;
    tok.with_padding(None);
    tok.with_truncation(None).map_err(|e| backend(e.to_string()))?;
    texts
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let enc = tok.encode(text.as_str(), add_special).map_err(|e| InferError::Tokenize {
                index,
                source: crate::model::TokenizeError::Failed(e.to_string()),
            })?;
            Ok(enc
                .get_ids()
                .iter()
                .zip(enc.get_offsets())
                .zip(enc.get_special_tokens_mask())
                .zip(enc.get_tokens())
                .map(|(((&id, &(start, stop)), &special), token)| {
                    if special == 1 {
                        Token { id, text: token.clone(), special: true, start: None, stop: None }
                    } else {
                        let text = text.get(start..stop).map_or_else(|| token.clone(), str::to_string);
                        Token { id, text, special: false, start: Some(start), stop: Some(stop) }
                    }
                })
                .collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_limits() {
        assert!(matches!(check_batch(0, "inputs"), Err(CompatError::Empty(m)) if m == "`inputs` cannot be empty"));
        assert!(check_batch(1, "inputs").is_ok());
        assert!(check_batch(MAX_CLIENT_BATCH, "inputs").is_ok());
        assert!(matches!(check_batch(MAX_CLIENT_BATCH + 1, "input"), Err(CompatError::Validation(_))));
    }
}
