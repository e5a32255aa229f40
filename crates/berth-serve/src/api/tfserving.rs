//! TF Serving's model status (`GET /v1/models/{m}[/versions/{v}]`), which the
//! operator reads for per-version state, load errors and traffic.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::manager::{RouteError, VersionStatus};

fn status_json(s: &VersionStatus) -> Value {
    let (code, message) = match &s.error {
        Some(e) => ("UNKNOWN", e.as_str()),
        None => ("OK", ""),
    };
    json!({
        "version": s.version.to_string(),
        "state": s.state.as_str(),
        "status": { "error_code": code, "error_message": message },
        // Berth's addition: the share of default traffic this version gets.
        "traffic": s.traffic,
    })
}

pub async fn model_status(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let manager = state.manager(&model)?;
    // TF Serving lists the newest version first.
    let list: Vec<Value> = manager.status().iter().rev().map(status_json).collect();
    Ok(Json(json!({ "model_version_status": list })))
}

pub async fn version_status(
    State(state): State<Arc<AppState>>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let manager = state.manager(&model)?;
    let found = version
        .parse::<crate::manager::VersionId>()
        .ok()
        .and_then(|v| manager.status().into_iter().find(|s| s.version == v))
        .ok_or_else(|| RouteError::UnknownVersion { model: model.clone(), version: version.clone() })?;
    Ok(Json(json!({ "model_version_status": [status_json(&found)] })))
}
