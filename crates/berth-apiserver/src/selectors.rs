//! Label selectors (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`) and field
//! selectors (`metadata.name`, `metadata.namespace`, and a few per-kind fields).

use crate::error::ApiError;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Req {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

#[derive(Debug, Clone, Default)]
pub struct LabelSelector(Vec<Req>);

/// Split on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

fn parse_set(s: &str) -> Option<Vec<String>> {
    let s = s.trim();
    let inner = s.strip_prefix('(')?.strip_suffix(')')?;
    Some(inner.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect())
}

fn bad(sel: &str) -> ApiError {
    ApiError::bad_request(format!("unable to parse requirement: invalid label selector: {sel:?}"))
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let p = part.as_str();
            if let Some(k) = p.strip_prefix('!') {
                reqs.push(Req::NotExists(k.trim().to_string()));
            } else if let Some((k, v)) = p.split_once("!=") {
                reqs.push(Req::NotEq(k.trim().into(), v.trim().into()));
            } else if let Some((k, v)) = p.split_once("==") {
                reqs.push(Req::Eq(k.trim().into(), v.trim().into()));
            } else if let Some((k, v)) = p.split_once('=') {
                reqs.push(Req::Eq(k.trim().into(), v.trim().into()));
            } else if let Some(idx) = p.find(" notin ") {
                let set = parse_set(&p[idx + 7..]).ok_or_else(|| bad(p))?;
                reqs.push(Req::NotIn(p[..idx].trim().into(), set));
            } else if let Some(idx) = p.find(" in ") {
                let set = parse_set(&p[idx + 4..]).ok_or_else(|| bad(p))?;
                reqs.push(Req::In(p[..idx].trim().into(), set));
            } else if p.contains(' ') || p.contains('(') {
                return Err(bad(p));
            } else {
                reqs.push(Req::Exists(p.to_string()));
            }
        }
        Ok(Self(reqs))
    }

    pub fn matches(&self, labels: &serde_json::Map<String, Value>) -> bool {
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => get(k) == Some(v.as_str()),
            Req::NotEq(k, v) => get(k) != Some(v.as_str()),
            Req::In(k, set) => get(k).is_some_and(|x| set.iter().any(|s| s == x)),
            Req::NotIn(k, set) => get(k).is_none_or(|x| !set.iter().any(|s| s == x)),
            Req::Exists(k) => labels.contains_key(k),
            Req::NotExists(k) => !labels.contains_key(k),
        })
    }
}

/// Match a `matchLabels`/`matchExpressions` selector object (used by the scale
/// subresource and by callers that store selectors in objects).
pub fn selector_object_to_string(sel: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in m {
            parts.push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    for e in sel.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
        let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
        let vals: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match e.get("operator").and_then(Value::as_str).unwrap_or_default() {
            "In" => parts.push(format!("{key} in ({})", vals.join(","))),
            "NotIn" => parts.push(format!("{key} notin ({})", vals.join(","))),
            "Exists" => parts.push(key.to_string()),
            "DoesNotExist" => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    parts.join(",")
}

#[derive(Debug, Clone, Default)]
pub struct FieldSelector(Vec<(String, bool, String)>);

/// Fields a field selector may name, per kind (the real server's lists are
/// longer; these are the ones clients of berth-local use).
fn field_value(kind: &str, obj: &Value, field: &str) -> Option<Option<String>> {
    // events.k8s.io names the core Event fields differently; storage is core.
    if kind == "Event" {
        if let Some(rest) = field.strip_prefix("regarding.") {
            return field_value(kind, obj, &format!("involvedObject.{rest}"));
        }
        if field == "reportingController" {
            return field_value(kind, obj, "reportingComponent");
        }
    }
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).map(str::to_string);
    let v = match field {
        "metadata.name" => s("/metadata/name"),
        "metadata.namespace" => s("/metadata/namespace"),
        "spec.nodeName" if kind == "Pod" => s("/spec/nodeName"),
        "status.phase" if kind == "Pod" || kind == "Namespace" => s("/status/phase"),
        "status.podIP" if kind == "Pod" => s("/status/podIP"),
        "spec.serviceAccountName" if kind == "Pod" => s("/spec/serviceAccountName"),
        "type" if kind == "Secret" => s("/type"),
        "involvedObject.name"
        | "involvedObject.namespace"
        | "involvedObject.kind"
        | "involvedObject.uid"
        | "reason"
        | "type"
            if kind == "Event" =>
        {
            s(&format!("/{}", field.replace('.', "/")))
        }
        _ => return None,
    };
    Some(v)
}

impl FieldSelector {
    pub fn parse(s: &str, kind: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let (k, neg, v) = if let Some((k, v)) = part.split_once("!=") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, false, v)
            } else {
                return Err(ApiError::bad_request(format!("invalid selector: '{part}'; can't understand '{part}'")));
            };
            let k = k.trim().to_string();
            if field_value(kind, &Value::Null, &k).is_none() {
                return Err(ApiError::bad_request(format!("field label not supported: {k}")));
            }
            reqs.push((k, neg, v.trim().to_string()));
        }
        Ok(Self(reqs))
    }

    pub fn matches(&self, kind: &str, obj: &Value) -> bool {
        self.0.iter().all(|(k, neg, v)| {
            let actual = field_value(kind, obj, k).flatten().unwrap_or_default();
            (actual == *v) != *neg
        })
    }
}

/// Label + field selector together.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub kind: String,
}

impl Filter {
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(&crate::meta::labels(obj)) && self.fields.matches(&self.kind, obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn label_grammar() {
        let l = labels(json!({"a": "1", "b": "x"}));
        let m = |s: &str| LabelSelector::parse(s).map(|sel| sel.matches(&l)).unwrap_or(false);
        assert!(m(""));
        assert!(m("a=1,b in (x, y)"));
        assert!(m("a == 1"));
        assert!(!m("a!=1"));
        assert!(m("c notin (1)"));
        assert!(!m("b notin (x)"));
        assert!(m("a,!c"));
        assert!(!m("!a"));
        assert!(LabelSelector::parse("a in x").is_err());
    }

    #[test]
    fn selector_objects_render_to_strings() {
        let s = selector_object_to_string(&json!({"matchLabels": {"app": "w"},
            "matchExpressions": [{"key": "t", "operator": "In", "values": ["a", "b"]}, {"key": "x", "operator": "DoesNotExist"}]}));
        assert_eq!(s, "app=w,t in (a,b),!x");
    }

    #[test]
    fn unknown_field_selector_is_refused() {
        assert!(FieldSelector::parse("spec.nodeName=n", "ConfigMap").is_err());
        assert!(FieldSelector::parse("spec.nodeName=n", "Pod").is_ok());
    }
}
