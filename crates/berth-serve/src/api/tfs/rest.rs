//! TF Serving's REST API on the REST port, beside V2:
//!
//! ```text
//! GET  /v1/models/{m}[/versions/{v}|/labels/{l}]            status
//! GET  /v1/models/{m}[/versions/{v}|/labels/{l}]/metadata   signatures
//! POST /v1/models/{m}[/versions/{v}|/labels/{l}]:predict    row or columnar
//! POST /v1/models/{m}[/versions/{v}|/labels/{l}]:classify   classifiers
//! ```
//!
//! The `:verb` is part of the last path segment, so one wildcard route per
//! method takes every `/v1/models/...` path and [`parse_path`] splits it.
//! Errors answer `{"error": "..."}` with TF Serving's HTTP codes.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::routing::get;
use serde_json::{Value, json};

use crate::api::AppState;
use crate::api::rest::read_body;
use crate::manager::VersionId;

use super::{Selector, TfsError, classify, json as body, signature, status};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Endpoint {
    Status,
    Metadata,
    Predict,
    Classify,
    Regress,
}

/// `m`, `m/versions/v`, `m/labels/l`, then `/metadata` (GET) or `:verb`
/// (POST) -> (model, selector, endpoint); None for any other path.
pub fn parse_path(path: &str, post: bool) -> Option<(String, Selector, Endpoint)> {
    let (path, endpoint) = if post {
        let (path, verb) = path.rsplit_once(':').filter(|(_, verb)| !verb.contains('/'))?;
        let endpoint = match verb {
            "predict" => Endpoint::Predict,
            "classify" => Endpoint::Classify,
            "regress" => Endpoint::Regress,
            _ => return None,
        };
        (path, endpoint)
    } else {
        match path.strip_suffix("/metadata") {
            Some(p) => (p, Endpoint::Metadata),
            None => (path, Endpoint::Status),
        }
    };
    let segments: Vec<&str> = path.split('/').collect();
    let (model, selector) = match segments.as_slice() {
        [m] => (*m, Selector::Latest),
        [m, "versions", v] if !v.is_empty() => (*m, Selector::Version(v.to_string())),
        [m, "labels", l] if !l.is_empty() => (*m, Selector::Label(l.to_string())),
        _ => return None,
    };
    (!model.is_empty()).then(|| (model.to_string(), selector, endpoint))
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/v1/models/{*path}", get(get_v1).post(post_v1))
}

fn no_endpoint(path: &str) -> TfsError {
    TfsError::NotFound(format!(
        "no endpoint /v1/models/{path} (expected {{model}}[/versions/{{v}}|/labels/{{l}}][/metadata] or \
         ...:predict / :classify)"
    ))
}

async fn get_v1(State(state): State<Arc<AppState>>, Path(path): Path<String>) -> Result<Json<Value>, TfsError> {
    let (model, selector, endpoint) = parse_path(&path, false).ok_or_else(|| no_endpoint(&path))?;
    match endpoint {
        Endpoint::Metadata => metadata(&state, &model, &selector),
        _ => {
            let list = status::select(&state, &model, &selector)?;
            Ok(Json(json!({ "model_version_status": list.iter().map(status::to_json).collect::<Vec<_>>() })))
        }
    }
}

async fn post_v1(
    State(state): State<Arc<AppState>>,
    Path(path): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, TfsError> {
    let (model, selector, endpoint) = parse_path(&path, true).ok_or_else(|| no_endpoint(&path))?;
    // Unknown model, version or label: 404 before any parsing effort.
    let version = selector.version(&state, &model)?;
    let raw = read_body(&state, raw)?;
    match endpoint {
        Endpoint::Classify => classify(&state, &model, &selector, &raw).await,
        Endpoint::Regress => Err(TfsError::Unimplemented(
            "Regress is not implemented by berth-serve: its BERT models embed or classify; use :predict or :classify"
                .into(),
        )),
        _ => {
            let req = body::parse_predict(&raw)?;
            drop(raw);
            signature::check_predict(&req.signature_name)?;
            let result = state.infer(&model, version.as_deref(), req.payload).await?;
            Ok(Json(body::predict_response(result, req.columnar)?))
        }
    }
}

fn version_json(v: &VersionId) -> Value {
    Value::String(v.to_string())
}

fn metadata(state: &AppState, model: &str, selector: &Selector) -> Result<Json<Value>, TfsError> {
    let target = selector.target(state, model)?;
    let map = signature::signatures(&target);
    Ok(Json(json!({
        "model_spec": { "name": model, "signature_name": "", "version": version_json(&target.number) },
        "metadata": { "signature_def": signature::to_json(&map) },
    })))
}

async fn classify(state: &AppState, model: &str, selector: &Selector, raw: &[u8]) -> Result<Json<Value>, TfsError> {
    let req = body::parse_classify(raw)?;
    signature::check_classify(&req.signature_name)?;
    let target = selector.target(state, model)?;
    classify::check_classifier(model, &target)?;
    let texts = classify::texts(req.examples)?;
    let result = state.infer(model, Some(target.number.as_str()), crate::api::tensor::Payload::Texts(texts)).await?;
    let classes = classify::classes(&result)?;
    Ok(Json(body::classify_response(classes, result.version.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let sel = |s: &str| Selector::Version(s.into());
        let p = |path: &str, post| parse_path(path, post);
        assert_eq!(p("bert", false), Some(("bert".into(), Selector::Latest, Endpoint::Status)));
        assert_eq!(p("bert/metadata", false), Some(("bert".into(), Selector::Latest, Endpoint::Metadata)));
        assert_eq!(p("bert/versions/3", false), Some(("bert".into(), sel("3"), Endpoint::Status)));
        assert_eq!(p("bert/versions/3/metadata", false), Some(("bert".into(), sel("3"), Endpoint::Metadata)));
        assert_eq!(
            p("bert/labels/canary:predict", true),
            Some(("bert".into(), Selector::Label("canary".into()), Endpoint::Predict))
        );
        assert_eq!(p("bert:classify", true), Some(("bert".into(), Selector::Latest, Endpoint::Classify)));
        assert_eq!(p("bert/versions/3:predict", true), Some(("bert".into(), sel("3"), Endpoint::Predict)));
        for (bad, post) in [
            ("bert", true),
            (":predict", true),
            ("bert/versions/:predict", true),
            ("a/b:predict", true),
            ("bert:explain", true),
            ("bert/versions/3/extra", false),
            ("bert/labels", false),
        ] {
            assert_eq!(p(bad, post), None, "{bad}");
        }
    }
}
