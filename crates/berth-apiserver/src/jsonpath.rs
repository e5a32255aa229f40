//! A small JSONPath evaluator for printer columns and scale paths:
//! `.a.b`, `.a[0]`, `.a[*].b`, `.a[?(@.type=="Ready")].status`.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    Filter(String, bool, String),
}

fn parse(path: &str) -> Option<Vec<Step>> {
    let p = path.trim().trim_start_matches('{').trim_end_matches('}');
    let p = p.strip_prefix('$').unwrap_or(p);
    let mut steps = Vec::new();
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                if !name.is_empty() {
                    steps.push(Step::Field(name));
                }
            }
            '[' => {
                let start = i + 1;
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '[' {
                        depth += 1;
                    } else if chars[i] == ']' {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    i += 1;
                }
                let inner: String = chars.get(start..i)?.iter().collect();
                i += 1;
                let inner = inner.trim();
                if inner == "*" {
                    steps.push(Step::All);
                } else if let Some(f) = inner.strip_prefix("?(").and_then(|s| s.strip_suffix(')')) {
                    let (lhs, neg, rhs) = if let Some((l, r)) = f.split_once("!=") {
                        (l, true, r)
                    } else {
                        let (l, r) = f.split_once("==")?;
                        (l, false, r)
                    };
                    let field = lhs.trim().strip_prefix("@.")?.to_string();
                    let val = rhs.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
                    steps.push(Step::Filter(field, neg, val));
                } else if let Ok(n) = inner.parse() {
                    steps.push(Step::Index(n));
                } else {
                    let name = inner.trim_matches(|c| c == '"' || c == '\'').to_string();
                    steps.push(Step::Field(name));
                }
            }
            _ => {
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                steps.push(Step::Field(chars[start..i].iter().collect()));
            }
        }
    }
    Some(steps)
}

fn scalar_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every value the path selects.
pub fn eval(obj: &Value, path: &str) -> Vec<Value> {
    let Some(steps) = parse(path) else {
        return Vec::new();
    };
    let mut cur = vec![obj.clone()];
    for step in steps {
        let mut next = Vec::new();
        for v in &cur {
            match &step {
                Step::Field(f) => next.extend(v.get(f).cloned()),
                Step::Index(n) => next.extend(v.get(*n).cloned()),
                Step::All => match v {
                    Value::Array(a) => next.extend(a.iter().cloned()),
                    Value::Object(m) => next.extend(m.values().cloned()),
                    _ => {}
                },
                Step::Filter(field, neg, want) => {
                    for item in v.as_array().into_iter().flatten() {
                        let got = eval(item, &format!(".{field}"));
                        let hit = got.first().map(scalar_str).as_deref() == Some(want.as_str());
                        if hit != *neg {
                            next.push(item.clone());
                        }
                    }
                }
            }
        }
        cur = next;
    }
    cur
}

/// The first value, for single-valued paths like `.spec.replicas`.
pub fn get(obj: &Value, path: &str) -> Option<Value> {
    eval(obj, path).into_iter().next()
}

/// Set a simple dotted path (`.spec.replicas`), creating objects on the way.
pub fn set(obj: &mut Value, path: &str, value: Value) {
    let mut cur = obj;
    let parts: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(serde_json::Map::new());
        }
        let Some(m) = cur.as_object_mut() else {
            return;
        };
        if i + 1 == parts.len() {
            m.insert((*p).to_string(), value);
            return;
        }
        cur = m.entry((*p).to_string()).or_insert_with(|| Value::Object(serde_json::Map::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_and_fields() {
        let o = json!({"status": {"conditions": [
            {"type": "Progressing", "status": "False"},
            {"type": "Ready", "status": "True"}]}, "spec": {"replicas": 3}});
        assert_eq!(eval(&o, ".status.conditions[?(@.type==\"Ready\")].status"), vec![json!("True")]);
        assert_eq!(get(&o, ".spec.replicas"), Some(json!(3)));
        assert_eq!(eval(&o, ".status.conditions[*].type").len(), 2);
        assert_eq!(get(&o, ".status.conditions[1].type"), Some(json!("Ready")));
        assert_eq!(get(&o, ".nope"), None);
    }
}
