//! CEL `x-kubernetes-validations` on CRD schemas, evaluated with the `cel`
//! crate. `self` is the value at the schema node carrying the rules, typed
//! by the schema (numbers are doubles, integers ints) as Kubernetes does.
//! Adds Kubernetes' list library `isSorted()`. Transition rules (those that
//! use `oldSelf`) are not evaluated; `messageExpression` falls back to
//! `message`.

use crate::error::Cause;
use cel::extractors::This;
use cel::objects::{Key, Map};
use cel::{Context, Program, Value as Cel};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// JSON to CEL, guided by the schema.
fn to_cel(v: &Value, schema: Option<&Value>) -> Cel {
    let ty = schema.and_then(|s| s.get("type")).and_then(Value::as_str);
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => match (ty, n.as_i64()) {
            (Some("number"), _) | (_, None) => Cel::Float(n.as_f64().unwrap_or(0.0)),
            (_, Some(i)) => Cel::Int(i),
        },
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(a) => {
            let items = schema.and_then(|s| s.get("items"));
            Cel::List(Arc::new(a.iter().map(|x| to_cel(x, items)).collect()))
        }
        Value::Object(m) => {
            let props = schema.and_then(|s| s.get("properties"));
            let ap = schema.and_then(|s| s.get("additionalProperties")).filter(|a| a.is_object());
            let map: HashMap<Key, Cel> = m
                .iter()
                .map(|(k, x)| {
                    let sub = props.and_then(|p| p.get(k)).or(ap);
                    (Key::String(Arc::new(k.clone())), to_cel(x, sub))
                })
                .collect();
            Cel::Map(Map { map: Arc::new(map) })
        }
    }
}

fn is_sorted(This(list): This<Arc<Vec<Cel>>>) -> bool {
    list.windows(2)
        .all(|w| matches!(w[0].partial_cmp(&w[1]), Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)))
}

fn type_word(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Null => "null",
    }
}

/// How an evaluation error names the rule: by its message when it has one.
fn rule_name<'a>(rule: &'a Value, src: &'a str) -> &'a str {
    rule.get("message").and_then(Value::as_str).unwrap_or(src)
}

/// Evaluate the rules of `schema` against `v` at `path`.
pub fn check(v: &Value, schema: &Value, path: &str, causes: &mut Vec<Cause>) {
    let Some(rules) = schema.get("x-kubernetes-validations").and_then(Value::as_array) else {
        return;
    };
    for rule in rules {
        let Some(src) = rule.get("rule").and_then(Value::as_str) else {
            continue;
        };
        if src.contains("oldSelf") {
            continue;
        }
        let field = match rule.get("fieldPath").and_then(Value::as_str) {
            Some(fp) => format!("{path}{fp}"),
            None => path.to_string(),
        };
        let reason = match rule.get("reason").and_then(Value::as_str) {
            Some("FieldValueRequired") => "FieldValueRequired",
            Some("FieldValueDuplicate") => "FieldValueDuplicate",
            Some("FieldValueForbidden") => "FieldValueForbidden",
            _ => "FieldValueInvalid",
        };
        let message = rule
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("failed rule: {src}"));
        let program = match Program::compile(src) {
            Ok(p) => p,
            Err(e) => {
                causes.push(Cause {
                    reason: "FieldValueInvalid",
                    message: format!("Invalid value: \"{}\": compilation failed: {e}", type_word(v)),
                    field,
                });
                continue;
            }
        };
        let mut ctx = Context::default();
        ctx.add_variable_from_value("self", to_cel(v, Some(schema)));
        // `isSorted` is not in the CEL standard library; Kubernetes adds it.
        if ctx.add_function("isSorted", is_sorted).is_err() {
            tracing::debug!("isSorted already defined");
        }
        match program.execute(&ctx) {
            Ok(Cel::Bool(true)) => {}
            Ok(Cel::Bool(false)) => {
                // The real server (1.36) leaves the value out of a failed rule's message.
                causes.push(Cause { reason, message: format!("Invalid value: {message}"), field })
            }
            Ok(other) => causes.push(Cause {
                reason: "FieldValueInvalid",
                message: format!("Invalid value: \"{}\": rule did not evaluate to a bool: {other:?}", type_word(v)),
                field,
            }),
            Err(e) => causes.push(Cause {
                reason: "FieldValueInvalid",
                message: format!("Invalid value: \"{}\": {e} evaluating rule: {}", type_word(v), rule_name(rule, src)),
                field,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(rule: &str, v: Value, schema: Value) -> Vec<Cause> {
        let mut s = schema;
        s["x-kubernetes-validations"] = json!([{"rule": rule, "message": "nope"}]);
        let mut causes = Vec::new();
        check(&v, &s, "spec.steps", &mut causes);
        causes
    }

    #[test]
    fn berth_rules() {
        let schema =
            json!({"type": "array", "items": {"type": "object", "properties": {"weight": {"type": "number"}}}});
        let good = json!([{"weight": 5}, {"weight": 25}, {"weight": 100}]);
        let last = "self[size(self) - 1].weight == 100.0";
        let sorted = "self.map(s, s.weight).isSorted() && self.all(s, self.exists_one(t, t.weight == s.weight))";
        assert!(run(last, good.clone(), schema.clone()).is_empty());
        assert!(run(sorted, good, schema.clone()).is_empty());
        let bad = json!([{"weight": 25}, {"weight": 5}, {"weight": 90}]);
        let c = run(last, bad.clone(), schema.clone());
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].message, "Invalid value: nope");
        assert_eq!(c[0].field, "spec.steps");
        assert_eq!(run(sorted, bad, schema.clone()).len(), 1);
        let dup = json!([{"weight": 5}, {"weight": 5}, {"weight": 100}]);
        assert_eq!(run(sorted, dup, schema).len(), 1);
    }
}
