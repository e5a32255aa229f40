//! Subresources beyond status: scale, pod log, ServiceAccount token.

use crate::error::ApiError;
use crate::jsonpath;
use crate::meta;
use crate::ops::{self, Sub, WriteOpts, key_for};
use crate::resources::ResourceInfo;
use crate::routes::{Params, json_response};
use crate::state::Shared;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

fn scale_of(info: &ResourceInfo, obj: &Value) -> Value {
    let Some(sc) = &info.scale else {
        return Value::Null;
    };
    let spec = jsonpath::get(obj, &sc.spec_replicas).unwrap_or(json!(0));
    let status = jsonpath::get(obj, &sc.status_replicas).unwrap_or(json!(0));
    let mut st = json!({"replicas": status});
    let selector = if info.is_crd() {
        sc.label_selector.as_deref().and_then(|p| jsonpath::get(obj, p))
    } else {
        obj.pointer("/spec/selector").map(|s| json!(crate::selectors::selector_object_to_string(s)))
    };
    if let Some(s) = selector.filter(|s| !s.is_null()) {
        st["selector"] = s;
    }
    let m = meta::meta(obj).cloned().unwrap_or_default();
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": m.get("name"), "namespace": m.get("namespace"), "uid": m.get("uid"),
            "resourceVersion": m.get("resourceVersion"), "creationTimestamp": m.get("creationTimestamp")},
        "spec": {"replicas": spec}, "status": st,
    })
}

#[allow(clippy::too_many_arguments)]
pub fn scale(
    shared: &Arc<Shared>,
    info: &ResourceInfo,
    v: &str,
    ns: &str,
    name: &str,
    method: &Method,
    params: &Params,
    headers: &HeaderMap,
    body: &Bytes,
    opts: WriteOpts,
) -> Result<Response, ApiError> {
    let _ = params;
    let mut st = shared.lock();
    let key = key_for(info, ns, name);
    let obj = st.store.get(&key).cloned().ok_or_else(|| ApiError::not_found(&info.plural, &info.group, name))?;
    let current = scale_of(info, &obj);
    let new_scale = match *method {
        Method::GET => return Ok(json_response(200, &current)),
        Method::PUT => serde_json::from_slice::<Value>(body).map_err(|e| ApiError::bad_request(e.to_string()))?,
        Method::PATCH => {
            let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
            let p: Value = if ct.contains("yaml") {
                serde_yaml::from_slice(body).map_err(|e| ApiError::bad_request(e.to_string()))?
            } else {
                serde_json::from_slice(body).map_err(|e| ApiError::bad_request(e.to_string()))?
            };
            if ct.starts_with("application/json-patch+json") {
                crate::patch::json::apply(&current, &p)?
            } else {
                crate::patch::merge::apply(&current, &p)
            }
        }
        _ => {
            return Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            ));
        }
    };
    let want_rv = new_scale.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or_default();
    if !want_rv.is_empty() && want_rv != meta::rv(&obj) {
        return Err(ApiError::stale(&info.plural, &info.group, name));
    }
    let replicas = new_scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
    if replicas.as_i64().is_none_or(|r| r < 0) {
        return Err(ApiError::invalid(
            "Scale.autoscaling",
            name,
            vec![crate::error::Cause {
                reason: "FieldValueInvalid",
                message: format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                field: "spec.replicas".into(),
            }],
        ));
    }
    let mut updated = obj.clone();
    if let Some(sc) = &info.scale {
        jsonpath::set(&mut updated, &sc.spec_replicas, replicas);
    }
    let out = ops::update(&mut st, info, v, ns, name, updated, Sub::Main, &opts)?;
    Ok(json_response(200, &scale_of(info, &out)))
}

/// Pod logs come from files the kubelet names in annotations:
/// `berth.dev/log-path.<container>` (or `berth.dev/log-path` for any container).
pub async fn log(shared: &Arc<Shared>, ns: &str, name: &str, params: &Params) -> Result<Response, ApiError> {
    let (path, container) = {
        let st = shared.lock();
        let pod = st
            .store
            .get(&crate::store::Key::new("", "pods", ns, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found("pods", "", name))?;
        let names: Vec<String> = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
            .collect();
        let default = pod
            .pointer("/metadata/annotations/kubectl.kubernetes.io~1default-container")
            .and_then(Value::as_str)
            .map(str::to_string);
        let container = match params.get("container").filter(|c| !c.is_empty()).cloned().or(default) {
            Some(c) => c,
            None if names.len() == 1 => names[0].clone(),
            None => {
                return Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    names.join(" ")
                )));
            }
        };
        if !names.contains(&container) {
            return Err(ApiError::bad_request(format!("container {container} is not valid for pod {name}")));
        }
        let ann = |k: &str| {
            pod.pointer(&format!("/metadata/annotations/{}", k.replace('/', "~1")))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let prev = if params.get("previous").is_some_and(|p| p == "true") { "-previous" } else { "" };
        let path =
            ann(&format!("berth.dev/log-path{prev}.{container}")).or_else(|| ann(&format!("berth.dev/log-path{prev}")));
        (path, container)
    };
    let Some(path) = path else {
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: no log recorded yet"
        )));
    };
    let data = tokio::fs::read(&path).await.unwrap_or_default();
    let mut text = data;
    if let Some(n) = params.get("tailLines").and_then(|t| t.parse::<usize>().ok()) {
        let lines: Vec<&[u8]> = text.split_inclusive(|b| *b == b'\n').collect();
        let start = lines.len().saturating_sub(n);
        text = lines[start..].concat();
    }
    if let Some(n) = params.get("limitBytes").and_then(|t| t.parse::<usize>().ok()) {
        text.truncate(n);
    }
    if params.get("follow").is_some_and(|f| f == "true") {
        // Follow: send what exists, then poll the file until the pod is gone.
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let shared = shared.clone();
        let (ns, name) = (ns.to_string(), name.to_string());
        let mut offset = tokio::fs::metadata(&path).await.map(|m| m.len()).unwrap_or(0);
        let first = Bytes::from(text);
        let closing = shared.closing();
        tokio::spawn(async move {
            if tx.send(first).await.is_err() {
                return;
            }
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                let alive = shared.lock().store.get(&crate::store::Key::new("", "pods", &ns, &name)).is_some();
                let data = tokio::fs::read(&path).await.unwrap_or_default();
                if (data.len() as u64) > offset {
                    let chunk = Bytes::copy_from_slice(&data[offset as usize..]);
                    offset = data.len() as u64;
                    if tx.send(chunk).await.is_err() {
                        return;
                    }
                }
                if !alive || tx.is_closed() || *closing.borrow() {
                    return;
                }
            }
        });
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
        });
        return Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], Body::from_stream(stream)).into_response());
    }
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], text).into_response())
}

/// TokenRequest: a token string for in-pod clients. Authentication is not
/// enforced by this server, so the token is only an opaque marker.
pub fn token(shared: &Arc<Shared>, ns: &str, name: &str, body: &Bytes) -> Result<Response, ApiError> {
    let exists = shared.lock().store.get(&crate::store::Key::new("", "serviceaccounts", ns, name)).is_some();
    if !exists {
        return Err(ApiError::not_found("serviceaccounts", "", name));
    }
    let req: Value = serde_json::from_slice(body).unwrap_or(json!({}));
    let secs = req.pointer("/spec/expirationSeconds").and_then(Value::as_i64).unwrap_or(3600);
    let exp = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(secs))
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut out = req.clone();
    out["kind"] = json!("TokenRequest");
    out["apiVersion"] = json!("authentication.k8s.io/v1");
    out["status"] =
        json!({"token": format!("berth-local.{ns}.{name}.{}", meta::new_uid()), "expirationTimestamp": exp});
    Ok(json_response(201, &out))
}
