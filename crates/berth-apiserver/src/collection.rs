//! Collection reads: list (with selectors, pagination and tables) and watch.

use crate::error::ApiError;
use crate::meta;
use crate::ops::present;
use crate::resources::ResourceInfo;
use crate::routes::{Params, filter, flag, json_response, wants_table};
use crate::state::Shared;
use crate::watch::{self, WatchParams};
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

fn encode_continue(ns: &str, name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!({"ns": ns, "name": name}).to_string())
}

fn decode_continue(tok: &str) -> Result<(String, String), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tok).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    Ok((
        v.get("ns").and_then(Value::as_str).unwrap_or_default().to_string(),
        v.get("name").and_then(Value::as_str).ok_or_else(bad)?.to_string(),
    ))
}

pub fn list(
    shared: &Arc<Shared>,
    info: &ResourceInfo,
    v: &str,
    ns: Option<&str>,
    params: &Params,
    accept: &str,
) -> Result<Response, ApiError> {
    let f = filter(info, params)?;
    let limit: usize = params.get("limit").and_then(|l| l.parse().ok()).filter(|l| *l > 0).unwrap_or(usize::MAX);
    let after = match params.get("continue").filter(|c| !c.is_empty()) {
        Some(c) => Some(decode_continue(c)?),
        None => None,
    };
    let st = shared.lock();
    let rv = st.store.current_rv().to_string();
    let mut items = Vec::new();
    let mut more = false;
    let mut remaining = 0usize;
    for (k, o) in st.store.list(&info.storage_group, &info.plural, ns) {
        if let Some((ans, aname)) = &after
            && (k.namespace.as_str(), k.name.as_str()) <= (ans.as_str(), aname.as_str())
        {
            continue;
        }
        if !f.matches(o) {
            continue;
        }
        if items.len() >= limit {
            more = true;
            remaining += 1;
            continue;
        }
        items.push(present(info, v, o.clone()));
    }
    drop(st);
    let cont = if more { items.last().map(|o| encode_continue(&meta::namespace(o), &meta::name(o))) } else { None };
    if wants_table(accept) {
        let include = params.get("includeObject").map(String::as_str).unwrap_or("Metadata");
        return Ok(json_response(200, &crate::table::table(info, v, &items, &rv, cont.as_deref(), include)));
    }
    let mut metadata = json!({"resourceVersion": rv});
    if let Some(c) = cont {
        metadata["continue"] = json!(c);
        metadata["remainingItemCount"] = json!(remaining);
    } else if info.crd.is_some() {
        metadata["continue"] = json!("");
    }
    let items = list_items(info, items);
    Ok(json_response(
        200,
        &json!({
            "kind": format!("{}List", info.kind),
            "apiVersion": info.api_version(v),
            "metadata": metadata,
            "items": items,
        }),
    ))
}

pub fn watch_response(
    shared: &Arc<Shared>,
    info: ResourceInfo,
    v: String,
    ns: Option<String>,
    params: &Params,
    accept: &str,
) -> Result<Response, ApiError> {
    let send_initial = flag(params, "sendInitialEvents");
    let timeout = params.get("timeoutSeconds").and_then(|t| t.parse().ok()).unwrap_or(1800u64);
    let p = WatchParams {
        resource_version: params.get("resourceVersion").cloned(),
        namespace: ns,
        filter: filter(&info, params)?,
        bookmarks: flag(params, "allowWatchBookmarks"),
        send_initial_events: send_initial,
        timeout: Duration::from_secs(timeout),
        table: wants_table(accept).then(|| params.get("includeObject").cloned().unwrap_or_else(|| "Metadata".into())),
    };
    let rx = watch::start(shared.clone(), info, v, p)?;
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(stream)).into_response())
}

/// Items as a list carries them: built-in kinds without `kind`/`apiVersion`
/// (the real server encodes typed lists that way), custom resources with them.
pub fn list_items(info: &ResourceInfo, mut items: Vec<Value>) -> Vec<Value> {
    if info.crd.is_none() {
        for o in items.iter_mut().filter_map(Value::as_object_mut) {
            o.remove("kind");
            o.remove("apiVersion");
        }
    }
    items
}
