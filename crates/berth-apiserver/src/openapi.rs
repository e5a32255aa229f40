//! OpenAPI documents, only as much as kubectl needs:
//! - `/openapi/v3` and per-group-version documents whose PATCH operations
//!   carry `x-kubernetes-group-version-kind` and the `fieldValidation`
//!   parameter, so kubectl leaves validation to the server (fieldValidation)
//!   instead of validating client-side; the strategic-merge content type is
//!   left out so `kubectl apply` computes patches from its built-in types.
//! - component schemas for custom resources (from the CRD), so
//!   `kubectl explain` works for them; built-in kinds have no schema here.
//! - `/openapi/v2`: an empty Swagger 2.0 document (protobuf or JSON), which
//!   makes kubectl's client-side validation a no-op instead of an error.

use crate::resources::ResourceInfo;
use crate::state::State;
use serde_json::{Value, json};

/// Protobuf encoding of `openapi_v2.Document{swagger: "2.0"}` (field 1, string).
pub const V2_PROTOBUF: &[u8] = &[0x0a, 0x03, b'2', b'.', b'0'];

pub fn v2_json() -> Value {
    json!({"swagger": "2.0", "info": {"title": "Kubernetes (berth-apiserver)", "version": "v1.35.0"},
        "paths": {}, "definitions": {}})
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

pub fn v3_root(st: &State) -> Value {
    let mut paths = serde_json::Map::new();
    let hash = st.store.current_rv();
    for r in st.resources() {
        for v in &r.versions {
            let p = gv_path(&r.group, v);
            paths.insert(p.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={hash:016X}")}));
        }
    }
    json!({"paths": paths})
}

fn schema_name(r: &ResourceInfo, version: &str) -> String {
    let group: Vec<&str> = r.group.split('.').rev().collect();
    let g = if r.group.is_empty() { "io.k8s.api.core".to_string() } else { group.join(".") };
    format!("{g}.{version}.{}", r.kind)
}

pub fn v3_group_version(st: &State, group: &str, version: &str) -> Option<Value> {
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    let mut found = false;
    for r in st.resources().filter(|r| r.group == group && r.versions.iter().any(|v| v == version)) {
        found = true;
        let gvk = json!({"group": r.group, "version": version, "kind": r.kind});
        let name = schema_name(r, version);
        let reference = json!({"$ref": format!("#/components/schemas/{name}")});
        let base = if r.namespaced {
            format!("/{}/namespaces/{{namespace}}/{}/{{name}}", gv_path(group, version), r.plural)
        } else {
            format!("/{}/{}/{{name}}", gv_path(group, version), r.plural)
        };
        let body = json!({"schema": {"type": "object"}});
        paths.insert(base, json!({
            "get": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "get",
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}}},
            "patch": {
                "x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch",
                "parameters": [
                    {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                    {"name": "force", "in": "query", "schema": {"type": "boolean"}},
                ],
                "requestBody": {"content": {
                    "application/json-patch+json": body, "application/merge-patch+json": body,
                    "application/apply-patch+yaml": body}},
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}},
            },
        }));
        let mut schema = r
            .crd
            .as_ref()
            .and_then(|c| c.schema(version).cloned())
            .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
        if let Some(m) = schema.as_object_mut() {
            let props = m.entry("properties").or_insert_with(|| json!({}));
            if let Some(p) = props.as_object_mut() {
                p.entry("apiVersion").or_insert(json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}));
                p.entry("kind").or_insert(json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}));
                p.entry("metadata").or_insert(json!({"type": "object", "description": "Standard object's metadata."}));
            }
            m.insert("x-kubernetes-group-version-kind".into(), json!([gvk]));
        }
        schemas.insert(name, schema);
    }
    found.then(|| {
        json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes (berth-apiserver)", "version": "v1.35.0"},
            "paths": paths,
            "components": {"schemas": schemas},
        })
    })
}
