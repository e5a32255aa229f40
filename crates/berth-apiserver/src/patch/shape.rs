//! How lists merge: by key (a "map" list), as a set, or atomically. Built-in
//! kinds use the merge keys of their Go types (patchMergeKey/listMapKeys);
//! custom resources use `x-kubernetes-list-type` in their schema.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum ListType {
    Map(Vec<String>),
    Set,
    Atomic,
}

#[derive(Debug, Clone, Copy)]
pub enum Shape<'a> {
    /// A built-in kind.
    Builtin,
    /// A custom resource with this root schema (or none).
    Custom(Option<&'a Value>),
}

fn key(k: &str) -> ListType {
    ListType::Map(vec![k.to_string()])
}

/// Merge keys of the built-in types, by field name (and parent where it matters).
fn builtin_list(path: &[String]) -> ListType {
    let last = path.last().map(String::as_str).unwrap_or_default();
    let parent = path.len().checked_sub(2).and_then(|i| path.get(i)).map(String::as_str).unwrap_or_default();
    match last {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims" => key("name"),
        "readinessGates" => key("conditionType"),
        "volumeMounts" => key("mountPath"),
        "volumeDevices" => key("devicePath"),
        "ports" if matches!(parent, "containers" | "initContainers" | "ephemeralContainers") => {
            ListType::Map(vec!["containerPort".into(), "protocol".into()])
        }
        "ports" if parent == "spec" => ListType::Map(vec!["port".into(), "protocol".into()]),
        "conditions" => key("type"),
        "ownerReferences" => key("uid"),
        "hostAliases" => key("ip"),
        "topologySpreadConstraints" => ListType::Map(vec!["topologyKey".into(), "whenUnsatisfiable".into()]),
        "finalizers" => ListType::Set,
        "managedFields" => ListType::Atomic,
        _ => ListType::Atomic,
    }
}

fn walk<'a>(mut schema: &'a Value, path: &[String]) -> Option<&'a Value> {
    for (i, field) in path.iter().enumerate() {
        // Entering a list's items happens implicitly between names.
        if i > 0 && schema.get("type").and_then(Value::as_str) == Some("array") {
            schema = schema.get("items")?;
        }
        schema = match schema.pointer(&format!("/properties/{}", field.replace('~', "~0").replace('/', "~1"))) {
            Some(s) => s,
            None => match schema.get("additionalProperties") {
                Some(ap) if ap.is_object() => ap,
                _ => return None,
            },
        };
    }
    Some(schema)
}

impl Shape<'_> {
    /// Objects owned and replaced as one value: label selectors on built-in
    /// kinds (`+structType=atomic`/`+mapType=atomic` in their Go types), and
    /// `x-kubernetes-map-type: atomic` in a custom resource's schema.
    pub fn atomic_object(&self, path: &[String]) -> bool {
        if path.first().map(String::as_str) == Some("metadata") {
            return false;
        }
        match self {
            Shape::Builtin => {
                matches!(path.last().map(String::as_str), Some("selector" | "labelSelector" | "namespaceSelector"))
            }
            Shape::Custom(None) => false,
            Shape::Custom(Some(root)) => walk(root, path)
                .and_then(|s| s.get("x-kubernetes-map-type"))
                .and_then(Value::as_str)
                .is_some_and(|t| t == "atomic"),
        }
    }

    pub fn list_type(&self, path: &[String]) -> ListType {
        // metadata is the same on every kind.
        if path.first().map(String::as_str) == Some("metadata") {
            return builtin_list(path);
        }
        match self {
            Shape::Builtin => builtin_list(path),
            Shape::Custom(None) => ListType::Atomic,
            Shape::Custom(Some(root)) => {
                let Some(s) = walk(root, path) else {
                    return ListType::Atomic;
                };
                match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
                    Some("map") => ListType::Map(
                        s.get("x-kubernetes-list-map-keys")
                            .and_then(Value::as_array)
                            .map(|a| a.iter().filter_map(|k| k.as_str().map(str::to_string)).collect())
                            .unwrap_or_default(),
                    ),
                    Some("set") => ListType::Set,
                    _ => ListType::Atomic,
                }
            }
        }
    }
}
