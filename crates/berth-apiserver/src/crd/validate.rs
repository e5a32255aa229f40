//! OpenAPI v3 schema validation of custom resources, with the field paths and
//! messages the real API server produces (kube-openapi's validator wording).

use crate::error::Cause;
use serde_json::Value;

/// A value as Go's `%v`-ish printing in field errors shows it.
fn repr(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "\"null\"".into(),
        other => other.to_string(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_ok(v: &Value, t: &str) -> bool {
    match t {
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    }
}

fn invalid(path: &str, v: &Value, detail: String, causes: &mut Vec<Cause>) {
    causes.push(Cause {
        reason: "FieldValueInvalid",
        message: format!("Invalid value: {}: {detail}", repr(v)),
        field: path.to_string(),
    });
}

/// Bounds print like Go's %v of a float64: `0`, not `0.0`.
fn num_str(v: &Value) -> String {
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        _ => v.to_string(),
    }
}

pub fn validate(v: &Value, schema: &Value, path: &str, causes: &mut Vec<Cause>) {
    let nullable = schema.get("nullable").and_then(Value::as_bool) == Some(true);
    if v.is_null() && nullable {
        return;
    }
    let int_or_string = schema.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true);
    if int_or_string {
        if !(v.is_string() || v.is_i64() || v.is_u64()) {
            causes.push(Cause {
                reason: "FieldValueTypeInvalid",
                message: format!(
                    "Invalid value: \"{}\": {path} in body must be of type integer,string: \"{}\"",
                    type_name(v),
                    type_name(v)
                ),
                field: path.to_string(),
            });
        }
        return;
    }
    if let Some(t) = schema.get("type").and_then(Value::as_str)
        && !type_ok(v, t)
    {
        causes.push(Cause {
            reason: "FieldValueTypeInvalid",
            message: format!(
                "Invalid value: \"{}\": {path} in body must be of type {t}: \"{}\"",
                type_name(v),
                type_name(v)
            ),
            field: path.to_string(),
        });
        return;
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        let list: Vec<String> = e.iter().map(repr).collect();
        causes.push(Cause {
            reason: "FieldValueNotSupported",
            message: format!("Unsupported value: {}: supported values: {}", repr(v), list.join(", ")),
            field: path.to_string(),
        });
    }
    if let Some(n) = v.as_f64() {
        let excl_min = schema.get("exclusiveMinimum").and_then(Value::as_bool) == Some(true);
        let excl_max = schema.get("exclusiveMaximum").and_then(Value::as_bool) == Some(true);
        if let Some(min) = schema.get("minimum").filter(|m| m.is_number()) {
            let m = min.as_f64().unwrap_or(f64::MIN);
            if (excl_min && n <= m) || (!excl_min && n < m) {
                let word = if excl_min { "greater than" } else { "greater than or equal to" };
                invalid(path, v, format!("{path} in body should be {word} {}", num_str(min)), causes);
            }
        }
        if let Some(max) = schema.get("maximum").filter(|m| m.is_number()) {
            let m = max.as_f64().unwrap_or(f64::MAX);
            if (excl_max && n >= m) || (!excl_max && n > m) {
                let word = if excl_max { "less than" } else { "less than or equal to" };
                invalid(path, v, format!("{path} in body should be {word} {}", num_str(max)), causes);
            }
        }
    }
    if let Some(s) = v.as_str() {
        let len = s.chars().count() as u64;
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            causes.push(Cause {
                reason: "FieldValueTooLong",
                message: format!("Too long: may not be more than {max} bytes"),
                field: path.to_string(),
            });
        }
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            invalid(path, v, format!("{path} in body should be at least {min} chars long"), causes);
        }
        if let Some(p) = schema.get("pattern").and_then(Value::as_str)
            && !regex::Regex::new(p).map(|r| r.is_match(s)).unwrap_or(true)
        {
            invalid(path, v, format!("{path} in body should match '{p}'"), causes);
        }
    }
    match v {
        Value::Object(m) => {
            for req in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
            {
                if !m.contains_key(req) {
                    causes.push(Cause {
                        reason: "FieldValueRequired",
                        message: "Required value".into(),
                        field: format!("{path}.{req}"),
                    });
                }
            }
            let props = schema.get("properties");
            let ap = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, child) in m {
                let sub = props.and_then(|p| p.get(k)).or(ap);
                if let Some(s) = sub {
                    validate(child, s, &format!("{path}.{k}"), causes);
                }
            }
            if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
                && m.len() as u64 > max
            {
                causes.push(Cause {
                    reason: "FieldValueTooMany",
                    message: format!("Too many: {}: must have at most {max} items", m.len()),
                    field: path.to_string(),
                });
            }
        }
        Value::Array(items) => {
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && items.len() as u64 > max
            {
                causes.push(Cause {
                    reason: "FieldValueTooMany",
                    message: format!("Too many: {}: must have at most {max} items", items.len()),
                    field: path.to_string(),
                });
            }
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                // The real server prints the length as the value here.
                let len = Value::from(items.len());
                invalid(path, &len, format!("{path} in body should have at least {min} items"), causes);
            }
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate(item, s, &format!("{path}[{i}]"), causes);
                }
            }
            if schema.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("set") {
                for (i, item) in items.iter().enumerate() {
                    if items[..i].contains(item) {
                        causes.push(Cause {
                            reason: "FieldValueDuplicate",
                            message: format!("Duplicate value: {}", repr(item)),
                            field: format!("{path}[{i}]"),
                        });
                    }
                }
            }
        }
        _ => {}
    }
}

/// Causes that keep the CEL rules from running, as kube-apiserver's `hasBlockingErr`
/// has them: a wrong type, a missing required field, an unsupported enum value, too
/// long, too many. Other schema errors (a bound, a pattern) let the rules run.
pub fn is_blocking(cause: &Cause) -> bool {
    matches!(
        cause.reason,
        "FieldValueTypeInvalid"
            | "FieldValueRequired"
            | "FieldValueNotSupported"
            | "FieldValueTooLong"
            | "FieldValueTooMany"
    )
}

/// The cause kube-apiserver adds, with no field, when blocking errors kept the rules
/// from running.
pub fn rules_not_checked() -> Cause {
    Cause {
        reason: "FieldValueInvalid",
        message: "Invalid value: null: some validation rules were not checked because the object was invalid; \
                  correct the existing errors to complete validation"
            .into(),
        field: "<nil>".into(),
    }
}

/// Whether `schema` has a CEL rule anywhere (kube-apiserver builds its CEL validator,
/// and so can report rules as not checked, only then).
pub fn has_rules(schema: &Value) -> bool {
    match schema {
        Value::Object(m) => m.contains_key("x-kubernetes-validations") || m.values().any(has_rules),
        Value::Array(a) => a.iter().any(has_rules),
        _ => false,
    }
}

/// The CEL rules of `schema` and of every schema under it that `v` reaches, in the
/// order kube-apiserver evaluates them: a node's own rules, then its children's.
pub fn check_rules(v: &Value, schema: &Value, path: &str, causes: &mut Vec<Cause>) {
    if v.is_null() {
        return;
    }
    super::cel::check(v, schema, path, causes);
    match v {
        Value::Object(m) => {
            let props = schema.get("properties");
            let ap = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, child) in m {
                if let Some(sub) = props.and_then(|p| p.get(k)).or(ap) {
                    check_rules(child, sub, &format!("{path}.{k}"), causes);
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check_rules(item, sub, &format!("{path}[{i}]"), causes);
                }
            }
        }
        _ => {}
    }
}
