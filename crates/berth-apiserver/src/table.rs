//! `kubectl get` tables (meta.k8s.io/v1 Table): default columns per kind and
//! CRD additionalPrinterColumns.

use crate::jsonpath;
use crate::resources::ResourceInfo;
use serde_json::{Value, json};

/// Age as kubectl prints it (k8s.io/apimachinery duration.HumanDuration).
pub fn human_age(ts: &str) -> String {
    let Ok(t) = ts.parse::<jiff::Timestamp>() else {
        return "<unknown>".into();
    };
    let secs = (jiff::Timestamp::now().as_second() - t.as_second()).max(0);
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        if secs % 60 == 0 { format!("{m}m") } else { format!("{m}m{}s", secs % 60) }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 { format!("{h}h") } else { format!("{h}h{}m", m % 60) }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        if h % 24 == 0 { format!("{d}d") } else { format!("{d}d{}h", h % 24) }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else {
        format!("{}y", d / 365)
    }
}

fn col(name: &str, ty: &str, desc: &str, priority: i64) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": ty, "format": format, "description": desc, "priority": priority})
}

fn s(o: &Value, p: &str) -> String {
    jsonpath::get(o, p)
        .map(|v| match v {
            Value::String(s) => s,
            Value::Null => String::new(),
            other => other.to_string(),
        })
        .unwrap_or_default()
}

fn i(o: &Value, p: &str) -> i64 {
    jsonpath::get(o, p).and_then(|v| v.as_i64()).unwrap_or(0)
}

fn age(o: &Value) -> Value {
    json!(human_age(&s(o, ".metadata.creationTimestamp")))
}

fn pod_row(o: &Value) -> Vec<Value> {
    let total = o.pointer("/spec/containers").and_then(Value::as_array).map(Vec::len).unwrap_or(0);
    let statuses = o.pointer("/status/containerStatuses").and_then(Value::as_array).cloned().unwrap_or_default();
    let ready = statuses.iter().filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true)).count();
    let restarts: i64 = statuses.iter().filter_map(|c| c.get("restartCount").and_then(Value::as_i64)).sum();
    let mut status = s(o, ".status.phase");
    for c in &statuses {
        if let Some(r) = c.pointer("/state/waiting/reason").and_then(Value::as_str) {
            status = r.to_string();
        } else if let Some(r) = c.pointer("/state/terminated/reason").and_then(Value::as_str) {
            status = r.to_string();
        }
    }
    if crate::meta::is_deleting(o) {
        status = "Terminating".into();
    }
    let ip = s(o, ".status.podIP");
    let node = s(o, ".spec.nodeName");
    vec![
        json!(crate::meta::name(o)),
        json!(format!("{ready}/{total}")),
        json!(status),
        json!(restarts),
        age(o),
        json!(if ip.is_empty() { "<none>".into() } else { ip }),
        json!(if node.is_empty() { "<none>".into() } else { node }),
    ]
}

/// Events in either shape (core/v1 or events.k8s.io/v1).
fn event_row(o: &Value) -> Vec<Value> {
    let first = |paths: &[&str]| paths.iter().map(|p| s(o, p)).find(|v| !v.is_empty()).unwrap_or_default();
    let when = first(&[
        ".lastTimestamp",
        ".deprecatedLastTimestamp",
        ".series.lastObservedTime",
        ".eventTime",
        ".metadata.creationTimestamp",
    ]);
    let kind = first(&[".involvedObject.kind", ".regarding.kind"]).to_lowercase();
    let name = first(&[".involvedObject.name", ".regarding.name"]);
    vec![
        json!(human_age(&when)),
        json!(s(o, ".type")),
        json!(s(o, ".reason")),
        json!(format!("{kind}/{name}")),
        json!(first(&[".message", ".note"])),
    ]
}

fn service_ports(o: &Value) -> String {
    let ports: Vec<String> = o
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            format!(
                "{}/{}",
                p.get("port").map(|v| v.to_string()).unwrap_or_default(),
                p.get("protocol").and_then(Value::as_str).unwrap_or("TCP")
            )
        })
        .collect();
    if ports.is_empty() { "<none>".into() } else { ports.join(",") }
}

/// Columns and one row per object.
fn columns_and_rows(info: &ResourceInfo, version: &str, objs: &[Value]) -> (Vec<Value>, Vec<Vec<Value>>) {
    let name_col = col("Name", "string", "Name must be unique within a namespace.", 0);
    let age_col = col(
        "Age",
        "string",
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
        0,
    );
    if let Some(crd) = &info.crd {
        let custom = crd.columns(version);
        if custom.is_empty() {
            return (vec![name_col, age_col], objs.iter().map(|o| vec![json!(crate::meta::name(o)), age(o)]).collect());
        }
        let mut cols = vec![name_col];
        for c in custom {
            let mut d = col(
                c.get("name").and_then(Value::as_str).unwrap_or_default(),
                c.get("type").and_then(Value::as_str).unwrap_or("string"),
                c.get("description").and_then(Value::as_str).unwrap_or_default(),
                c.get("priority").and_then(Value::as_i64).unwrap_or(0),
            );
            if let Some(f) = c.get("format") {
                d["format"] = f.clone();
            }
            cols.push(d);
        }
        let rows = objs
            .iter()
            .map(|o| {
                let mut row = vec![json!(crate::meta::name(o))];
                for c in custom {
                    let path = c.get("jsonPath").and_then(Value::as_str).unwrap_or_default();
                    let ty = c.get("type").and_then(Value::as_str).unwrap_or("string");
                    let vals = jsonpath::eval(o, path);
                    let cell = match (vals.len(), ty) {
                        (0, _) => Value::Null,
                        (_, "date") => json!(human_age(vals[0].as_str().unwrap_or_default())),
                        (1, _) => vals[0].clone(),
                        _ => json!(
                            vals.iter()
                                .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
                                .collect::<Vec<_>>()
                                .join(",")
                        ),
                    };
                    row.push(cell);
                }
                row
            })
            .collect();
        return (cols, rows);
    }
    let mk = |names: &[(&str, &str, i64)]| -> Vec<Value> { names.iter().map(|(n, t, p)| col(n, t, "", *p)).collect() };
    match (info.group.as_str(), info.plural.as_str()) {
        ("", "pods") => (
            mk(&[
                ("Name", "string", 0),
                ("Ready", "string", 0),
                ("Status", "string", 0),
                ("Restarts", "string", 0),
                ("Age", "string", 0),
                ("IP", "string", 1),
                ("Node", "string", 1),
            ]),
            objs.iter().map(pod_row).collect(),
        ),
        ("", "namespaces") => (
            mk(&[("Name", "string", 0), ("Status", "string", 0), ("Age", "string", 0)]),
            objs.iter().map(|o| vec![json!(crate::meta::name(o)), json!(s(o, ".status.phase")), age(o)]).collect(),
        ),
        ("", "services") => (
            mk(&[
                ("Name", "string", 0),
                ("Type", "string", 0),
                ("Cluster-IP", "string", 0),
                ("External-IP", "string", 0),
                ("Port(s)", "string", 0),
                ("Age", "string", 0),
            ]),
            objs.iter()
                .map(|o| {
                    vec![
                        json!(crate::meta::name(o)),
                        json!(s(o, ".spec.type")),
                        json!(s(o, ".spec.clusterIP")),
                        json!("<none>"),
                        json!(service_ports(o)),
                        age(o),
                    ]
                })
                .collect(),
        ),
        ("apps", "deployments") => (
            mk(&[
                ("Name", "string", 0),
                ("Ready", "string", 0),
                ("Up-to-date", "string", 0),
                ("Available", "string", 0),
                ("Age", "string", 0),
            ]),
            objs.iter()
                .map(|o| {
                    vec![
                        json!(crate::meta::name(o)),
                        json!(format!("{}/{}", i(o, ".status.readyReplicas"), i(o, ".spec.replicas"))),
                        json!(i(o, ".status.updatedReplicas")),
                        json!(i(o, ".status.availableReplicas")),
                        age(o),
                    ]
                })
                .collect(),
        ),
        ("apps", "replicasets") => (
            mk(&[
                ("Name", "string", 0),
                ("Desired", "integer", 0),
                ("Current", "integer", 0),
                ("Ready", "integer", 0),
                ("Age", "string", 0),
            ]),
            objs.iter()
                .map(|o| {
                    vec![
                        json!(crate::meta::name(o)),
                        json!(i(o, ".spec.replicas")),
                        json!(i(o, ".status.replicas")),
                        json!(i(o, ".status.readyReplicas")),
                        age(o),
                    ]
                })
                .collect(),
        ),
        ("", "configmaps") => (
            mk(&[("Name", "string", 0), ("Data", "string", 0), ("Age", "string", 0)]),
            objs.iter()
                .map(|o| {
                    vec![
                        json!(crate::meta::name(o)),
                        json!(o.get("data").and_then(Value::as_object).map(|m| m.len()).unwrap_or(0)),
                        age(o),
                    ]
                })
                .collect(),
        ),
        ("", "events") | ("events.k8s.io", "events") => (
            mk(&[
                ("Last Seen", "string", 0),
                ("Type", "string", 0),
                ("Reason", "string", 0),
                ("Object", "string", 0),
                ("Message", "string", 0),
            ]),
            objs.iter().map(event_row).collect(),
        ),
        ("apiextensions.k8s.io", _) => (
            mk(&[("Name", "string", 0), ("Created At", "date", 0)]),
            objs.iter()
                .map(|o| vec![json!(crate::meta::name(o)), json!(s(o, ".metadata.creationTimestamp"))])
                .collect(),
        ),
        _ => (vec![name_col, age_col], objs.iter().map(|o| vec![json!(crate::meta::name(o)), age(o)]).collect()),
    }
}

/// Build a Table; `include` is the includeObject parameter (None|Metadata|Object).
pub fn table(info: &ResourceInfo, version: &str, objs: &[Value], rv: &str, cont: Option<&str>, include: &str) -> Value {
    let (cols, rows) = columns_and_rows(info, version, objs);
    let rows: Vec<Value> = rows
        .into_iter()
        .zip(objs)
        .map(|(cells, o)| {
            let mut row = json!({"cells": cells});
            match include {
                "None" => {}
                "Object" => row["object"] = o.clone(),
                _ => {
                    row["object"] = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                        "metadata": o.get("metadata").cloned().unwrap_or(json!({}))});
                }
            }
            row
        })
        .collect();
    let mut meta = json!({"resourceVersion": rv});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": cols, "rows": rows})
}
