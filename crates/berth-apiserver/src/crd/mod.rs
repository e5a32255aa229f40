//! CustomResourceDefinitions: the CRD object itself (names, conditions) and
//! what a CRD's schema does to its custom resources (prune, default, validate).

pub mod cel;
pub mod defaults;
pub mod validate;

use crate::error::{ApiError, Cause};
use crate::resources::ResourceInfo;
use serde_json::{Value, json};

/// Prune unknown fields, apply defaults, then validate against the schema of
/// `version`. Returns the object to store.
/// `strict` is `fieldValidation=Strict`: unknown fields are an error
/// instead of being dropped.
pub fn admit(info: &ResourceInfo, version: &str, mut obj: Value, strict: bool) -> Result<Value, ApiError> {
    let Some(crd) = &info.crd else {
        return Ok(obj);
    };
    let Some(schema) = crd.schema(version) else {
        return Ok(obj);
    };
    let unknown = defaults::prune_root(&mut obj, schema);
    if strict && !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().map(|u| format!("unknown field \"{u}\"")).collect();
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            list.join(", "),
            kind = info.kind
        )));
    }
    defaults::apply_root(&mut obj, schema);
    defaults::integral_numbers(&mut obj);
    let mut causes = Vec::new();
    if let Some(m) = obj.as_object() {
        for (k, v) in m {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(s) = schema.pointer(&format!("/properties/{k}")) {
                validate::validate(v, s, k, &mut causes)
            }
        }
        for req in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !m.contains_key(req) {
                causes.push(Cause {
                    reason: "FieldValueRequired",
                    message: "Required value".into(),
                    field: req.to_string(),
                });
            }
        }
    }
    if let Some(scale) = &info.scale {
        scale_replicas(&obj, &scale.spec_replicas, &mut causes);
    }
    // The rules run as a second pass, as on the real server: not at all once a
    // blocking schema error is found (which it then reports with a cause of its own).
    if validate::has_rules(schema) {
        if causes.iter().any(validate::is_blocking) {
            causes.push(validate::rules_not_checked());
        } else {
            // Rules on the root schema see the whole object.
            cel::check(&obj, schema, "", &mut causes);
            if let Some(m) = obj.as_object() {
                for (k, v) in m.iter().filter(|(k, _)| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata")) {
                    if let Some(s) = schema.pointer(&format!("/properties/{k}")) {
                        validate::check_rules(v, s, k, &mut causes);
                    }
                }
            }
        }
    }
    if causes.is_empty() {
        Ok(obj)
    } else {
        Err(ApiError::invalid(&info.kind_group(), &crate::meta::name(&obj), causes))
    }
}

/// The scale subresource's own check of `specReplicasPath` (a second cause
/// beside the schema's, named with the path as the CRD writes it).
fn scale_replicas(obj: &Value, spec_path: &str, causes: &mut Vec<Cause>) {
    let pointer = spec_path.replace('.', "/");
    let Some(v) = obj.pointer(&pointer) else {
        return;
    };
    let message = match v {
        Value::Number(n) => match n.as_i64() {
            Some(i) if i < 0 => format!("Invalid value: {i}: should be a non-negative integer"),
            _ => return,
        },
        Value::String(s) => {
            format!("Invalid value: 0: {spec_path} accessor error: {s} is of the type string, expected int64")
        }
        _ => return,
    };
    causes.push(Cause { reason: "FieldValueInvalid", message, field: spec_path.to_string() });
}

/// Check a CRD and fill in its status the way the apiextensions controller
/// does once the names are accepted.
pub fn accept_crd(obj: &mut Value) -> Result<(), ApiError> {
    let name = crate::meta::name(obj);
    let group = obj.pointer("/spec/group").and_then(Value::as_str).unwrap_or_default().to_string();
    let plural = obj.pointer("/spec/names/plural").and_then(Value::as_str).unwrap_or_default().to_string();
    let mut causes = Vec::new();
    if name != format!("{plural}.{group}") {
        causes.push(Cause {
            reason: "FieldValueInvalid",
            message: format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
            field: "metadata.name".into(),
        });
    }
    if obj.pointer("/spec/names/kind").and_then(Value::as_str).is_none_or(str::is_empty) {
        causes.push(Cause {
            reason: "FieldValueRequired",
            message: "Required value".into(),
            field: "spec.names.kind".into(),
        });
    }
    let versions = obj.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    let storage = versions.iter().filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true)).count();
    if storage != 1 {
        causes.push(Cause {
            reason: "FieldValueInvalid",
            message: format!(
                "Invalid value: {}: must have exactly one version marked as storage version",
                json!(versions.iter().filter_map(|v| v.get("name")).collect::<Vec<_>>())
            ),
            field: "spec.versions".into(),
        });
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid("CustomResourceDefinition.apiextensions.k8s.io", &name, causes));
    }
    let now = crate::meta::now();
    let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let mut accepted = names.clone();
    if accepted.get("singular").is_none() {
        let kind = names.get("kind").and_then(Value::as_str).unwrap_or_default().to_lowercase();
        accepted["singular"] = json!(kind);
    }
    if accepted.get("listKind").is_none() {
        let kind = names.get("kind").and_then(Value::as_str).unwrap_or_default();
        accepted["listKind"] = json!(format!("{kind}List"));
    }
    if let Some(spec_names) = obj.pointer_mut("/spec/names") {
        *spec_names = accepted.clone();
    }
    let stored: Vec<Value> = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .filter_map(|v| v.get("name").cloned())
        .collect();
    obj["status"] = json!({
        "acceptedNames": accepted,
        "storedVersions": stored,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
    });
    Ok(())
}
