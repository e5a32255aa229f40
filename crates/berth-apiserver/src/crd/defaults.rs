//! Structural schema pruning and defaulting for custom resources.

use serde_json::Value;

fn preserves(schema: &Value) -> bool {
    schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool).unwrap_or(false)
}

fn join(path: &str, k: &str) -> String {
    if path.is_empty() { k.to_string() } else { format!("{path}.{k}") }
}

/// Prune the whole object (apiVersion, kind and metadata always stay);
/// returns the paths of the fields dropped, for strict field validation.
pub fn prune_root(obj: &mut Value, schema: &Value) -> Vec<String> {
    let mut removed = Vec::new();
    if preserves(schema) {
        return removed;
    }
    let Some(m) = obj.as_object_mut() else {
        return removed;
    };
    let props = schema.get("properties");
    m.retain(|k, _| {
        let keep =
            matches!(k.as_str(), "apiVersion" | "kind" | "metadata") || props.is_some_and(|p| p.get(k).is_some());
        if !keep {
            removed.push(k.clone());
        }
        keep
    });
    for (k, v) in m.iter_mut() {
        if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        if let Some(s) = props.and_then(|p| p.get(k)) {
            prune(v, s, k, &mut removed);
        }
    }
    removed
}

/// Drop fields the schema does not declare, unless it preserves unknown fields.
fn prune(v: &mut Value, schema: &Value, path: &str, removed: &mut Vec<String>) {
    if schema.get("x-kubernetes-embedded-resource").and_then(Value::as_bool) == Some(true) {
        return;
    }
    match v {
        Value::Object(m) => {
            if let Some(ap) = schema.get("additionalProperties") {
                if ap.is_object() {
                    for (k, child) in m.iter_mut() {
                        prune(child, ap, &join(path, k), removed);
                    }
                }
                return;
            }
            let props = schema.get("properties");
            if !preserves(schema) {
                m.retain(|k, _| {
                    let keep = props.is_some_and(|p| p.get(k).is_some());
                    if !keep {
                        removed.push(join(path, k));
                    }
                    keep
                });
            }
            for (k, child) in m.iter_mut() {
                if let Some(s) = props.and_then(|p| p.get(k)) {
                    prune(child, s, &join(path, k), removed);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(item, s, &format!("{path}[{i}]"), removed);
                }
            }
        }
        _ => {}
    }
}

pub fn apply_root(obj: &mut Value, schema: &Value) {
    let Some(m) = obj.as_object_mut() else {
        return;
    };
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (k, s) in props {
        if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        if !m.contains_key(k)
            && let Some(d) = s.get("default")
        {
            m.insert(k.clone(), d.clone());
        }
        if let Some(child) = m.get_mut(k) {
            apply(child, s);
        }
    }
}

/// Fill in `default` values of missing properties, recursively.
pub fn apply(v: &mut Value, schema: &Value) {
    match v {
        Value::Object(m) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, s) in props {
                    let missing = m
                        .get(k)
                        .is_none_or(|x| x.is_null() && s.get("nullable").and_then(Value::as_bool) != Some(true));
                    if missing && let Some(d) = s.get("default") {
                        m.insert(k.clone(), d.clone());
                    }
                    if let Some(child) = m.get_mut(k) {
                        apply(child, s);
                    }
                }
            }
            if let Some(ap) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for child in m.values_mut() {
                    apply(child, ap);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for i in items {
                    apply(i, s);
                }
            }
        }
        _ => {}
    }
}

/// Whole floating-point numbers become integers (`10.0` -> `10`): the real
/// server decodes custom resources into Go values, where a JSON number
/// without a fraction is an int64, so it answers `10` for a default of `10.0`.
pub fn integral_numbers(v: &mut Value) {
    match v {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                // In range and whole, so the conversion is exact.
                #[allow(clippy::cast_possible_truncation)]
                let i = f as i64;
                *v = Value::from(i);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(integral_numbers),
        Value::Object(m) => m.values_mut().for_each(integral_numbers),
        _ => {}
    }
}
