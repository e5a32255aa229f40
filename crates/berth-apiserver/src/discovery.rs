//! Discovery documents: /version, /api, /apis, group and group-version
//! resource lists, and the aggregated (apidiscovery.k8s.io/v2) form.

use crate::resources::ResourceInfo;
use crate::state::State;
use serde_json::{Value, json};

pub fn version() -> Value {
    json!({
        "major": "1", "minor": "35", "emulationMajor": "1", "emulationMinor": "35",
        "gitVersion": "v1.35.0-berth", "gitCommit": "berth-local", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25", "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub fn api_versions(addr: &str) -> Value {
    json!({
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}],
    })
}

fn verbs(r: &ResourceInfo) -> Value {
    json!(["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"])
        .as_array()
        .cloned()
        .map(|mut v| {
            if r.plural == "events" || r.plural == "leases" {
                v.sort_by_key(|s| s.as_str().map(str::to_string));
            }
            Value::Array(v)
        })
        .unwrap_or_default()
}

/// Resources (with subresources) of one group/version.
pub fn resource_list(st: &State, group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for r in st.resources().filter(|r| r.group == group && r.versions.iter().any(|v| v == version)) {
        let mut main = json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
            "kind": r.kind, "verbs": verbs(r),
        });
        if !r.short_names.is_empty() {
            main["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            main["categories"] = json!(r.categories);
        }
        resources.push(main);
        if r.status {
            resources.push(json!({"name": format!("{}/status", r.plural), "singularName": "",
                "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]}));
        }
        if r.scale.is_some() {
            resources.push(json!({"name": format!("{}/scale", r.plural), "singularName": "",
                "namespaced": r.namespaced, "group": "autoscaling", "version": "v1", "kind": "Scale",
                "verbs": ["get", "patch", "update"]}));
        }
        if r.log {
            resources.push(json!({"name": "pods/log", "singularName": "", "namespaced": true,
                "kind": "Pod", "verbs": ["get"]}));
            resources.push(json!({"name": "pods/eviction", "singularName": "", "namespaced": true,
                "group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"]}));
        }
        if r.token {
            resources.push(json!({"name": "serviceaccounts/token", "singularName": "", "namespaced": true,
                "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest", "verbs": ["create"]}));
        }
    }
    if resources.is_empty() {
        return None;
    }
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
}

/// Named groups in first-seen order, each with its versions (preferred first).
fn groups(st: &State) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for r in st.resources().filter(|r| !r.group.is_empty()) {
        let entry = match out.iter_mut().position(|(g, _)| *g == r.group) {
            Some(i) => &mut out[i],
            None => {
                out.push((r.group.clone(), Vec::new()));
                let last = out.len() - 1;
                &mut out[last]
            }
        };
        for v in &r.versions {
            if !entry.1.contains(v) {
                entry.1.push(v.clone());
            }
        }
    }
    out
}

fn group_json(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> =
        versions.iter().map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v})).collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

pub fn group_list(st: &State) -> Value {
    let groups: Vec<Value> = groups(st).iter().map(|(g, v)| group_json(g, v)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(st: &State, name: &str) -> Option<Value> {
    groups(st).iter().find(|(g, _)| g == name).map(|(g, v)| {
        let mut j = group_json(g, v);
        j["kind"] = json!("APIGroup");
        j["apiVersion"] = json!("v1");
        j
    })
}

/// Aggregated discovery (apidiscovery.k8s.io/v2) for `/api` (legacy) or `/apis`.
pub fn aggregated(st: &State, legacy: bool) -> Value {
    let group_names: Vec<(String, Vec<String>)> =
        if legacy { vec![(String::new(), vec!["v1".to_string()])] } else { groups(st) };
    let mut items = Vec::new();
    for (g, versions) in group_names {
        let mut vlist = Vec::new();
        for v in &versions {
            let mut resources = Vec::new();
            for r in st.resources().filter(|r| r.group == g && r.versions.contains(v)) {
                let mut subs = Vec::new();
                if r.status {
                    subs.push(json!({"subresource": "status", "responseKind": {"group": g, "version": v, "kind": r.kind}, "verbs": ["get", "patch", "update"]}));
                }
                if r.scale.is_some() {
                    subs.push(json!({"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": ["get", "patch", "update"]}));
                }
                if r.log {
                    subs.push(json!({"subresource": "log", "responseKind": {"group": "", "version": "v1", "kind": "Pod"}, "verbs": ["get"]}));
                }
                let mut res = json!({
                    "resource": r.plural, "singularResource": r.singular,
                    "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                    "responseKind": {"group": g, "version": v, "kind": r.kind},
                    "verbs": verbs(r),
                });
                if !r.short_names.is_empty() {
                    res["shortNames"] = json!(r.short_names);
                }
                if !r.categories.is_empty() {
                    res["categories"] = json!(r.categories);
                }
                if !subs.is_empty() {
                    res["subresources"] = json!(subs);
                }
                resources.push(res);
            }
            vlist.push(json!({"version": v, "resources": resources, "freshness": "Current"}));
        }
        let mut item = json!({"metadata": {"creationTimestamp": null}, "versions": vlist});
        if !g.is_empty() {
            item["metadata"]["name"] = json!(g);
        }
        items.push(item);
    }
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}
