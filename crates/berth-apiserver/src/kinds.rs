//! What particular built-in kinds do on create and update: the defaults and
//! status resets the real API server's registry strategies apply.

use crate::error::ApiError;
use crate::resources::ResourceInfo;
use crate::state::State;
use base64::Engine;
use serde_json::{Value, json};

/// Services get a cluster IP on the loopback network (127.96.0.0/16) so a
/// local proxy can listen on it; say so in the docs: not 10.96.0.0/12.
fn alloc_cluster_ip(st: &State) -> String {
    let used: std::collections::HashSet<String> = st
        .store
        .list("", "services", None)
        .filter_map(|(_, s)| s.pointer("/spec/clusterIP").and_then(Value::as_str).map(str::to_string))
        .collect();
    for n in 1u32..65000 {
        let ip = format!("127.96.{}.{}", n / 250, n % 250 + 1);
        if !used.contains(&ip) {
            return ip;
        }
    }
    "None".into()
}

fn pod_spec_defaults(spec: &mut Value, is_pod: bool) {
    let Some(m) = spec.as_object_mut() else {
        return;
    };
    m.entry("restartPolicy").or_insert(json!("Always"));
    m.entry("terminationGracePeriodSeconds").or_insert(json!(30));
    m.entry("dnsPolicy").or_insert(json!("ClusterFirst"));
    m.entry("schedulerName").or_insert(json!("default-scheduler"));
    m.entry("securityContext").or_insert(json!({}));
    if is_pod && !m.contains_key("serviceAccountName") {
        let sa = m.get("serviceAccount").cloned().unwrap_or(json!("default"));
        m.insert("serviceAccountName".into(), sa);
    }
    for list in ["containers", "initContainers"] {
        for c in m.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
            let Some(c) = c.as_object_mut() else { continue };
            let image = c.get("image").and_then(Value::as_str).unwrap_or_default().to_string();
            let latest = !image.contains(':') || image.ends_with(":latest");
            c.entry("imagePullPolicy").or_insert(json!(if latest { "Always" } else { "IfNotPresent" }));
            c.entry("terminationMessagePath").or_insert(json!("/dev/termination-log"));
            c.entry("terminationMessagePolicy").or_insert(json!("File"));
            c.entry("resources").or_insert(json!({}));
            for p in c.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten() {
                if let Some(p) = p.as_object_mut() {
                    p.entry("protocol").or_insert(json!("TCP"));
                }
            }
        }
    }
}

fn workload_defaults(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    spec.entry("replicas").or_insert(json!(1));
    spec.entry("revisionHistoryLimit").or_insert(json!(10));
    if let Some(t) = spec.get_mut("template").and_then(|t| t.get_mut("spec")) {
        pod_spec_defaults(t, false);
    }
}

/// Defaults and status handling for a new object.
/// Whether objects of this kind carry `metadata.generation`: custom resources,
/// CRDs and the built-in kinds whose strategy sets it (ConfigMaps, Secrets,
/// Namespaces, Services and the like have none in Kubernetes).
pub fn tracks_generation(info: &ResourceInfo) -> bool {
    info.crd.is_some()
        || matches!(
            (info.group.as_str(), info.plural.as_str()),
            ("", "pods")
                | ("apiextensions.k8s.io", "customresourcedefinitions")
                | ("apps", "deployments" | "replicasets" | "statefulsets" | "daemonsets")
                | ("batch", "jobs" | "cronjobs")
                | ("policy", "poddisruptionbudgets")
                | ("autoscaling", "horizontalpodautoscalers")
                | ("networking.k8s.io", "ingresses" | "networkpolicies")
        )
}

/// Empty maps the real server's Go types leave out (`omitempty`): labels
/// and annotations on every kind, a ConfigMap's or Secret's data.
pub fn drop_empty_maps(info: &ResourceInfo, obj: &mut Value) {
    let empty = |v: &Value| v.as_object().is_some_and(|m| m.is_empty());
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.retain(|k, v| !(matches!(k.as_str(), "labels" | "annotations") && empty(v)));
    }
    if info.group.is_empty()
        && matches!(info.plural.as_str(), "configmaps" | "secrets")
        && let Some(m) = obj.as_object_mut()
    {
        m.retain(|k, v| !(matches!(k.as_str(), "data" | "binaryData" | "stringData") && empty(v)));
    }
}

pub fn on_create(st: &State, info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    if info.group.is_empty() {
        match info.plural.as_str() {
            "namespaces" => {
                let name = crate::meta::name(obj);
                let labels = crate::meta::meta_mut(obj).entry("labels").or_insert_with(|| json!({}));
                labels["kubernetes.io/metadata.name"] = json!(name);
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
                obj["status"] = json!({"phase": "Active"});
            }
            "pods" => {
                if let Some(spec) = obj.get_mut("spec") {
                    pod_spec_defaults(spec, true);
                }
                let status = obj.get("status").cloned().unwrap_or(json!({}));
                let mut status = if status.is_object() { status } else { json!({}) };
                if status.get("phase").is_none() {
                    status["phase"] = json!("Pending");
                }
                status["qosClass"] = json!("BestEffort");
                obj["status"] = status;
            }
            "services" => {
                let ip = alloc_cluster_ip(st);
                if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.entry("type").or_insert(json!("ClusterIP"));
                    spec.entry("sessionAffinity").or_insert(json!("None"));
                    let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
                    if !headless && spec.get("clusterIP").and_then(Value::as_str).is_none_or(str::is_empty) {
                        spec.insert("clusterIP".into(), json!(ip));
                    }
                    let cip = spec.get("clusterIP").cloned().unwrap_or(json!("None"));
                    spec.insert("clusterIPs".into(), json!([cip]));
                    for p in spec.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten() {
                        if let Some(p) = p.as_object_mut() {
                            p.entry("protocol").or_insert(json!("TCP"));
                            let port = p.get("port").cloned().unwrap_or(json!(0));
                            p.entry("targetPort").or_insert(port);
                        }
                    }
                }
                obj["status"] = json!({"loadBalancer": {}});
            }
            "secrets" => {
                // stringData is write-only: merged into data as base64.
                if let Some(Value::Object(sd)) = obj.as_object_mut().and_then(|m| m.remove("stringData")) {
                    let data = obj.as_object_mut().map(|m| m.entry("data").or_insert_with(|| json!({})));
                    if let Some(Value::Object(d)) = data {
                        for (k, v) in sd {
                            let s = v.as_str().unwrap_or_default();
                            d.insert(k, json!(base64::engine::general_purpose::STANDARD.encode(s)));
                        }
                    }
                }
                if obj.get("type").is_none() {
                    obj["type"] = json!("Opaque");
                }
            }
            _ => {}
        }
    } else if info.group == "apps" {
        workload_defaults(obj);
        if info.plural == "deployments"
            && let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
        {
            spec.entry("progressDeadlineSeconds").or_insert(json!(600));
            spec.entry("strategy").or_insert(json!({
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}
            }));
        }
        obj["status"] = json!({});
    } else if info.group == "apiextensions.k8s.io" {
        crate::crd::accept_crd(obj)?;
    } else if info.status && info.plural != "customresourcedefinitions" {
        // Status is written through the status subresource only.
        if let Some(m) = obj.as_object_mut() {
            m.remove("status");
        }
    }
    Ok(())
}

/// Defaults that also apply on update (so a replace keeps them).
pub fn on_update(st: &State, info: &ResourceInfo, old: &Value, obj: &mut Value) -> Result<(), ApiError> {
    match (info.group.as_str(), info.plural.as_str()) {
        ("", "services") => {
            // clusterIP is immutable once set; keep it when the client omits it.
            if obj.pointer("/spec/clusterIP").is_none()
                && let (Some(ip), Some(spec)) =
                    (old.pointer("/spec/clusterIP").cloned(), obj.get_mut("spec").and_then(Value::as_object_mut))
            {
                spec.insert("clusterIP".into(), ip.clone());
                spec.insert("clusterIPs".into(), json!([ip]));
            }
            let _ = st;
        }
        ("", "pods") => {
            if let Some(spec) = obj.get_mut("spec") {
                pod_spec_defaults(spec, true);
            }
        }
        ("", "secrets") => {
            if let Some(Value::Object(sd)) = obj.as_object_mut().and_then(|m| m.remove("stringData")) {
                let data = obj.as_object_mut().map(|m| m.entry("data").or_insert_with(|| json!({})));
                if let Some(Value::Object(d)) = data {
                    for (k, v) in sd {
                        let s = v.as_str().unwrap_or_default();
                        d.insert(k, json!(base64::engine::general_purpose::STANDARD.encode(s)));
                    }
                }
            }
        }
        ("apps", _) => {
            workload_defaults(obj);
            if info.plural == "deployments"
                && let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
            {
                spec.entry("progressDeadlineSeconds").or_insert(json!(600));
                spec.entry("strategy").or_insert(json!({
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}
                }));
            }
        }
        ("apiextensions.k8s.io", _) => crate::crd::accept_crd(obj)?,
        _ => {}
    }
    Ok(())
}

/// core/v1 Event field <-> events.k8s.io/v1 Event field.
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("reportingComponent", "reportingController"),
];

fn rename(obj: &mut Value, to_v1: bool) {
    let Some(m) = obj.as_object_mut() else {
        return;
    };
    for (core, v1) in EVENT_FIELDS {
        let (from, to) = if to_v1 { (core, v1) } else { (v1, core) };
        if let Some(v) = m.remove(*from) {
            m.insert((*to).to_string(), v);
        }
    }
}

/// Events are stored in the core/v1 shape; the events.k8s.io view renames.
pub fn to_api_shape(info: &ResourceInfo, obj: &mut Value) {
    if info.group == "events.k8s.io" {
        rename(obj, true);
    }
}

pub fn to_storage_shape(info: &ResourceInfo, obj: &mut Value) {
    if info.group == "events.k8s.io" {
        rename(obj, false);
    }
}
