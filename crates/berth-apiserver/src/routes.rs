//! HTTP routing: parses Kubernetes API paths and dispatches verbs.

use crate::discovery;
use crate::error::ApiError;
use crate::meta;
use crate::ops::{self, DeleteOpts, Sub, WriteOpts, key_for, present};
use crate::patch;
use crate::resources::ResourceInfo;
use crate::selectors::{FieldSelector, Filter, LabelSelector};
use crate::state::Shared;
use crate::subresources;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State as AxState};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

pub type Params = HashMap<String, String>;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

pub fn json_response(code: u16, v: &Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.status_json())
}

/// A parsed resource path.
#[derive(Debug, Clone)]
pub struct ResPath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub plural: String,
    pub name: Option<String>,
    pub sub: Option<String>,
}

fn parse_rest(group: &str, version: &str, rest: &[&str]) -> Option<ResPath> {
    let (namespace, rest) =
        if rest.len() >= 3 && rest[0] == "namespaces" && !(rest.len() == 3 && matches!(rest[2], "status" | "finalize"))
        {
            (Some(rest[1].to_string()), &rest[2..])
        } else {
            (None, rest)
        };
    if rest.is_empty() || rest.len() > 3 {
        return None;
    }
    Some(ResPath {
        group: group.to_string(),
        version: version.to_string(),
        namespace,
        plural: rest[0].to_string(),
        name: rest.get(1).map(|s| s.to_string()),
        sub: rest.get(2).map(|s| s.to_string()),
    })
}

async fn handle(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(params): Query<Params>,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_end_matches('/').to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("127.0.0.1").to_string();
    let res = match segs.as_slice() {
        ["version"] => Ok(json_response(200, &discovery::version())),
        ["healthz"] | ["livez"] | ["readyz"] => Ok((StatusCode::OK, "ok").into_response()),
        ["openapi", "v2"] => Ok(if accept.contains("protobuf") {
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")],
                crate::openapi::V2_PROTOBUF,
            )
                .into_response()
        } else {
            json_response(200, &crate::openapi::v2_json())
        }),
        ["openapi", "v3"] => Ok(json_response(200, &crate::openapi::v3_root(&shared.lock()))),
        ["openapi", "v3", "api", v] => crate::openapi::v3_group_version(&shared.lock(), "", v)
            .map(|j| json_response(200, &j))
            .ok_or_else(ApiError::path_not_found),
        ["openapi", "v3", "apis", g, v] => crate::openapi::v3_group_version(&shared.lock(), g, v)
            .map(|j| json_response(200, &j))
            .ok_or_else(ApiError::path_not_found),
        ["api"] | ["apis"] if accept.contains("g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList") => {
            let doc = discovery::aggregated(&shared.lock(), segs[0] == "api");
            Ok((
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")],
                doc.to_string(),
            )
                .into_response())
        }
        ["api"] => Ok(json_response(200, &discovery::api_versions(&host))),
        ["apis"] => Ok(json_response(200, &discovery::group_list(&shared.lock()))),
        ["api", v] => discovery::resource_list(&shared.lock(), "", v)
            .map(|j| json_response(200, &j))
            .ok_or_else(ApiError::path_not_found),
        ["apis", g] => {
            discovery::group(&shared.lock(), g).map(|j| json_response(200, &j)).ok_or_else(ApiError::path_not_found)
        }
        ["apis", g, v] => discovery::resource_list(&shared.lock(), g, v)
            .map(|j| json_response(200, &j))
            .ok_or_else(ApiError::path_not_found),
        ["api", v, rest @ ..] => match parse_rest("", v, rest) {
            Some(rp) => dispatch(&shared, &method, rp, &params, &headers, &accept, &body).await,
            None => Err(ApiError::path_not_found()),
        },
        ["apis", g, v, rest @ ..] => match parse_rest(g, v, rest) {
            Some(rp) => dispatch(&shared, &method, rp, &params, &headers, &accept, &body).await,
            None => Err(ApiError::path_not_found()),
        },
        _ => Err(ApiError::path_not_found()),
    };
    match res {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(%method, %path, code = e.code, reason = e.reason, "request failed");
            error_response(&e)
        }
    }
}

fn manager(params: &Params, headers: &HeaderMap) -> String {
    if let Some(m) = params.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.clone();
    }
    let ua = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("unknown");
    ua.split('/').next().unwrap_or("unknown").to_string()
}

fn parse_body(body: &Bytes, headers: &HeaderMap) -> Result<Value, ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if ct.contains("yaml") {
        serde_yaml::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
    } else if ct.contains("protobuf") {
        crate::proto::decode(body).map_err(|e| {
            tracing::debug!(category = e.category(), "protobuf body refused");
            ApiError::unsupported_media(e.to_string())
        })
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the body of the request was not valid JSON: {e}")))
    }
}

pub fn wants_table(accept: &str) -> bool {
    accept.contains("as=Table")
}

pub fn flag(params: &Params, k: &str) -> bool {
    matches!(params.get(k).map(String::as_str), Some("true") | Some("1"))
}

fn dry_run(params: &Params) -> bool {
    params.get("dryRun").is_some_and(|v| v == "All")
}

pub fn filter(info: &ResourceInfo, params: &Params) -> Result<Filter, ApiError> {
    Ok(Filter {
        labels: LabelSelector::parse(params.get("labelSelector").map(String::as_str).unwrap_or(""))?,
        fields: FieldSelector::parse(params.get("fieldSelector").map(String::as_str).unwrap_or(""), &info.kind)?,
        kind: info.kind.clone(),
    })
}

async fn dispatch(
    shared: &Arc<Shared>,
    method: &Method,
    rp: ResPath,
    params: &Params,
    headers: &HeaderMap,
    accept: &str,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let info = shared.lock().find(&rp.group, &rp.version, &rp.plural).ok_or_else(ApiError::path_not_found)?;
    if !info.namespaced && rp.namespace.is_some() {
        return Err(ApiError::path_not_found());
    }
    if info.namespaced && rp.namespace.is_none() && rp.name.is_some() {
        return Err(ApiError::path_not_found());
    }
    if info.group == "authorization.k8s.io" {
        // Access reviews are answered, never stored: RBAC is not enforced.
        if *method != Method::POST || rp.name.is_some() {
            return Err(ApiError::method_not_allowed("access reviews only support create"));
        }
        // Typed clients send protobuf here; the answer does not depend on the body.
        let mut review = parse_body(body, headers)
            .unwrap_or_else(|_| json!({"apiVersion": info.api_version(&rp.version), "kind": info.kind, "spec": {}}));
        review["status"] = json!({"allowed": true, "reason": "berth-apiserver does not enforce RBAC"});
        return Ok(json_response(201, &review));
    }
    let ns = rp.namespace.clone().unwrap_or_default();
    let v = rp.version.clone();
    let opts = WriteOpts {
        manager: manager(params, headers),
        dry_run: dry_run(params),
        from_apply: false,
        strict: params.get("fieldValidation").is_some_and(|v| v == "Strict"),
    };
    match (rp.name.as_deref(), rp.sub.as_deref()) {
        (None, None) => match *method {
            Method::GET => {
                if flag(params, "watch") {
                    return crate::collection::watch_response(shared, info, v, rp.namespace.clone(), params, accept);
                }
                crate::collection::list(shared, &info, &v, rp.namespace.as_deref(), params, accept)
            }
            Method::POST => {
                let obj = parse_body(body, headers)?;
                let created = ops::create(&mut shared.lock(), &info, &v, &ns, obj, &opts)?;
                Ok(json_response(201, &present(&info, &v, created)))
            }
            Method::DELETE => {
                let f = filter(&info, params)?;
                let dopts = delete_opts(params, headers, body)?;
                let mut st = shared.lock();
                let names: Vec<(String, String)> = st
                    .store
                    .list(&info.storage_group, &info.plural, rp.namespace.as_deref())
                    .filter(|(_, o)| f.matches(o))
                    .map(|(k, _)| (k.namespace.clone(), k.name.clone()))
                    .collect();
                let mut items = Vec::new();
                for (n, name) in names {
                    items.push(present(&info, &v, ops::delete(&mut st, &info, &n, &name, &dopts)?));
                }
                let rv = st.store.current_rv().to_string();
                let items = crate::collection::list_items(&info, items);
                Ok(json_response(
                    200,
                    &json!({"kind": format!("{}List", info.kind), "apiVersion": info.api_version(&v),
                    "metadata": {"resourceVersion": rv}, "items": items}),
                ))
            }
            _ => Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource".to_string(),
            )),
        },
        (Some(name), None) => match *method {
            Method::GET => {
                let st = shared.lock();
                let obj = st
                    .store
                    .get(&key_for(&info, &ns, name))
                    .cloned()
                    .ok_or_else(|| ApiError::not_found(&info.plural, &info.group, name))?;
                let obj = present(&info, &v, obj);
                if wants_table(accept) {
                    let rv = meta::rv(&obj);
                    let include = params.get("includeObject").map(String::as_str).unwrap_or("Metadata");
                    return Ok(json_response(200, &crate::table::table(&info, &v, &[obj], &rv, None, include)));
                }
                Ok(json_response(200, &obj))
            }
            Method::PUT => {
                let obj = parse_body(body, headers)?;
                let mut st = shared.lock();
                let create_on_update = matches!(info.plural.as_str(), "endpoints" | "leases" | "endpointslices");
                if create_on_update && st.store.get(&key_for(&info, &ns, name)).is_none() {
                    let created = ops::create(&mut st, &info, &v, &ns, obj, &opts)?;
                    return Ok(json_response(201, &present(&info, &v, created)));
                }
                let out = ops::update(&mut st, &info, &v, &ns, name, obj, Sub::Main, &opts)?;
                Ok(json_response(200, &present(&info, &v, out)))
            }
            Method::PATCH => patch_object(shared, &info, &v, &ns, name, Sub::Main, params, headers, body, opts),
            Method::DELETE => {
                let dopts = delete_opts(params, headers, body)?;
                let mut st = shared.lock();
                let out = ops::delete(&mut st, &info, &ns, name, &dopts)?;
                let still_there = dopts.dry_run || st.store.get(&key_for(&info, &ns, name)).is_some();
                // An object that is gone is answered with a Status, as the real
                // server does for every kind but pods; one still held by
                // finalizers (or a pod's grace period) comes back as the object.
                if still_there || (info.group.is_empty() && info.plural == "pods") {
                    return Ok(json_response(200, &present(&info, &v, out)));
                }
                Ok(json_response(200, &crate::ops::deleted_status(&info, &out)))
            }
            _ => Err(ApiError::method_not_allowed("the server does not allow this method on the requested resource")),
        },
        (Some(name), Some("status")) if info.status => match *method {
            Method::GET => {
                let st = shared.lock();
                let obj = st
                    .store
                    .get(&key_for(&info, &ns, name))
                    .cloned()
                    .ok_or_else(|| ApiError::not_found(&info.plural, &info.group, name))?;
                Ok(json_response(200, &present(&info, &v, obj)))
            }
            Method::PUT => {
                let obj = parse_body(body, headers)?;
                let out = ops::update(&mut shared.lock(), &info, &v, &ns, name, obj, Sub::Status, &opts)?;
                Ok(json_response(200, &present(&info, &v, out)))
            }
            Method::PATCH => patch_object(shared, &info, &v, &ns, name, Sub::Status, params, headers, body, opts),
            _ => Err(ApiError::method_not_allowed("the server does not allow this method on the requested resource")),
        },
        (Some(name), Some("scale")) if info.scale.is_some() => {
            subresources::scale(shared, &info, &v, &ns, name, method, params, headers, body, opts)
        }
        (Some(name), Some("log")) if info.log => subresources::log(shared, &ns, name, params).await,
        (Some(name), Some("eviction")) if info.log && *method == Method::POST => {
            let out = ops::delete(&mut shared.lock(), &info, &ns, name, &DeleteOpts::default())?;
            let _ = out;
            Ok(json_response(
                201,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            ))
        }
        (Some(name), Some("binding")) if info.log && *method == Method::POST => {
            let b = parse_body(body, headers)?;
            let node = b.pointer("/target/name").and_then(Value::as_str).unwrap_or_default().to_string();
            let mut st = shared.lock();
            let mut pod = st
                .store
                .get(&key_for(&info, &ns, name))
                .cloned()
                .ok_or_else(|| ApiError::not_found("pods", "", name))?;
            pod["spec"]["nodeName"] = json!(node);
            ops::update(&mut st, &info, &v, &ns, name, pod, Sub::Main, &opts)?;
            Ok(json_response(
                201,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            ))
        }
        (Some(name), Some("token")) if info.token && *method == Method::POST => {
            subresources::token(shared, &ns, name, body)
        }
        (Some(_), Some(sub)) => Err(ApiError::path_not_found().with_detail(&format!(
            "{} does not serve the subresource {sub:?} here",
            crate::error::qualified(&info.plural, &info.group)
        ))),
        (None, Some(_)) => Err(ApiError::path_not_found()),
    }
}

fn delete_opts(params: &Params, headers: &HeaderMap, body: &Bytes) -> Result<DeleteOpts, ApiError> {
    let b: Value = if body.is_empty() {
        Value::Null
    } else if body.starts_with(b"k8s\x00") {
        parse_body(body, headers)?
    } else {
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    let mut propagation = params
        .get("propagationPolicy")
        .cloned()
        .or_else(|| b.get("propagationPolicy").and_then(Value::as_str).map(str::to_string));
    let orphan = params
        .get("orphanDependents")
        .map(|v| v == "true")
        .or_else(|| b.get("orphanDependents").and_then(Value::as_bool));
    if propagation.is_none() && orphan == Some(true) {
        propagation = Some("Orphan".into());
    }
    let grace = params
        .get("gracePeriodSeconds")
        .and_then(|g| g.parse().ok())
        .or_else(|| b.get("gracePeriodSeconds").and_then(Value::as_i64));
    let dry = params.get("dryRun").is_some_and(|v| v == "All")
        || b.get("dryRun").and_then(Value::as_array).is_some_and(|a| a.iter().any(|x| x == "All"));
    Ok(DeleteOpts {
        propagation,
        grace,
        uid: b.pointer("/preconditions/uid").and_then(Value::as_str).map(str::to_string),
        rv: b.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(str::to_string),
        dry_run: dry,
    })
}

#[allow(clippy::too_many_arguments)]
pub fn patch_object(
    shared: &Arc<Shared>,
    info: &ResourceInfo,
    v: &str,
    ns: &str,
    name: &str,
    sub: Sub,
    params: &Params,
    headers: &HeaderMap,
    body: &Bytes,
    mut opts: WriteOpts,
) -> Result<Response, ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let mut st = shared.lock();
    let key = key_for(info, ns, name);
    // Patches are written against the API shape of the object.
    let live = st.store.get(&key).cloned().map(|l| present(info, v, l));
    let shape = ops::shape_of(info, v);
    if ct.starts_with("application/apply-patch") {
        if params.get("fieldManager").is_none_or(|m| m.is_empty()) {
            return Err(ApiError::invalid(
                "PatchOptions.meta.k8s.io",
                "",
                vec![crate::error::Cause {
                    reason: "FieldValueRequired",
                    message: "Required value: is required for apply patch".into(),
                    field: "fieldManager".into(),
                }],
            ));
        }
        let cfg: Value =
            serde_yaml::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
        if cfg.get("apiVersion").is_none() || cfg.get("kind").is_none() {
            return Err(ApiError::bad_request("apiVersion and kind must be set in an apply configuration"));
        }
        // A resourceVersion in the applied configuration is a precondition.
        let want_rv = cfg.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or_default();
        if !want_rv.is_empty() && live.as_ref().is_none_or(|l| meta::rv(l) != want_rv) {
            return Err(ApiError::stale(&info.plural, &info.group, name));
        }
        let force = flag(params, "force");
        let subres = (sub == Sub::Status).then_some("status");
        let applied =
            patch::apply::apply(live.as_ref(), &cfg, &opts.manager, subres, force, shape, &info.api_version(v))
                .map_err(|c| {
                    // The real server names no object in an apply conflict's details.
                    let mut e = ApiError::conflict(&info.plural, &info.group, name, "").without_target();
                    e.message = patch::apply::conflict_message(&c);
                    e.causes = c
                        .iter()
                        .map(|c| crate::error::Cause {
                            reason: "FieldManagerConflict",
                            message: format!("conflict with {}", c.label),
                            field: patch::fieldset::display(&c.path),
                        })
                        .collect();
                    e
                })?;
        opts.from_apply = true;
        let mut obj = applied.object;
        let created = live.is_none();
        let out = match live {
            None => {
                meta::meta_mut(&mut obj).insert("name".into(), json!(name));
                ops::create(&mut st, info, v, ns, obj, &opts)?
            }
            Some(l) => {
                meta::meta_mut(&mut obj).insert("resourceVersion".into(), json!(meta::rv(&l)));
                ops::update(&mut st, info, v, ns, name, obj, sub, &opts)?
            }
        };
        drop(st);
        let code = if created { 201 } else { 200 };
        return Ok(json_response(code, &present(info, v, out)));
    }
    if params.contains_key("force") {
        return Err(ApiError::invalid(
            "PatchOptions.meta.k8s.io",
            "",
            vec![crate::error::Cause {
                reason: "FieldValueForbidden",
                message: "Forbidden: may not be specified for non-apply patch".into(),
                field: "force".into(),
            }],
        ));
    }
    let live = live.ok_or_else(|| ApiError::not_found(&info.plural, &info.group, name))?;
    let p: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body of the request was not valid JSON: {e}")))?;
    let patched = if ct.starts_with("application/json-patch+json") {
        patch::json::apply(&live, &p)?
    } else if ct.starts_with("application/merge-patch+json") {
        patch::merge::apply(&live, &p)
    } else if ct.starts_with("application/strategic-merge-patch+json") {
        if info.is_crd() {
            return Err(ApiError::unsupported_media(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            ));
        }
        patch::strategic::apply(&live, &p, shape)?
    } else {
        return Err(ApiError::unsupported_media(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct:?})"
        )));
    };
    let out = ops::update(&mut st, info, v, ns, name, patched, sub, &opts)?;
    Ok(json_response(200, &present(info, v, out)))
}
