//! Strategic merge patch for built-in kinds: maps merge, lists with a merge
//! key merge item by item, and the `$patch`, `$setElementOrder`,
//! `$deleteFromPrimitiveList` and `$retainKeys` directives kubectl sends.

use super::shape::{ListType, Shape};
use crate::error::ApiError;
use serde_json::{Map, Value};

pub fn apply(target: &Value, patch: &Value, shape: Shape<'_>) -> Result<Value, ApiError> {
    merge_value(target, patch, shape, &mut Vec::new())
}

fn merge_value(target: &Value, patch: &Value, shape: Shape<'_>, path: &mut Vec<String>) -> Result<Value, ApiError> {
    match patch {
        Value::Object(p) => {
            let t = target.as_object().cloned().unwrap_or_default();
            merge_map(t, p, shape, path)
        }
        _ => Ok(patch.clone()),
    }
}

fn merge_map(
    mut t: Map<String, Value>,
    p: &Map<String, Value>,
    shape: Shape<'_>,
    path: &mut Vec<String>,
) -> Result<Value, ApiError> {
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut out = p.clone();
            out.remove("$patch");
            return Ok(Value::Object(out));
        }
        Some("delete") => return Ok(Value::Null),
        Some(other) if other != "merge" => {
            return Err(ApiError::bad_request(format!("Unknown patch type: {other} in map")));
        }
        _ => {}
    }
    if let Some(keys) = p.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
        t.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, v) in p {
        if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let remove: Vec<&Value> = v.as_array().map(|a| a.iter().collect()).unwrap_or_default();
            if let Some(Value::Array(list)) = t.get_mut(field) {
                list.retain(|x| !remove.contains(&x));
            }
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        path.push(k.clone());
        let merged = match v {
            Value::Array(items) => {
                let cur = t.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
                let order = p.get(&format!("$setElementOrder/{k}")).and_then(Value::as_array);
                merge_list(cur, items, shape, path, order)?
            }
            Value::Object(_) => {
                let cur = t.get(k).cloned().unwrap_or(Value::Null);
                merge_value(&cur, v, shape, path)?
            }
            _ => v.clone(),
        };
        path.pop();
        if merged.is_null() {
            t.remove(k);
        } else {
            t.insert(k.clone(), merged);
        }
    }
    Ok(Value::Object(t))
}

fn item_key<'a>(item: &'a Value, key: &str) -> Option<&'a Value> {
    item.get(key)
}

/// The order the real server gives a merged keyed list without
/// `$setElementOrder`: the patch's items in patch order and the server-only
/// items in server order, interleaved by their place on the server (a new
/// item goes before the server-only items after which nothing anchors it).
fn patch_order(cur: Vec<Value>, items: &[Value], key: &str, server_order: &[Value]) -> Vec<Value> {
    let patch_keys: Vec<&Value> =
        items.iter().filter(|i| i.get("$patch").is_none()).filter_map(|i| item_key(i, key)).collect();
    let (mut patched, server_only): (Vec<Value>, Vec<Value>) =
        cur.into_iter().partition(|c| item_key(c, key).is_some_and(|k| patch_keys.contains(&k)));
    patched.sort_by_key(|c| item_key(c, key).and_then(|k| patch_keys.iter().position(|p| *p == k)));
    let at = |v: &Value| item_key(v, key).and_then(|k| server_order.iter().position(|s| s == k));
    let mut out = Vec::with_capacity(patched.len() + server_only.len());
    let (mut left, mut right) = (server_only.into_iter().peekable(), patched.into_iter().peekable());
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
            (Some(l), Some(r)) => matches!((at(l), at(r)), (Some(a), Some(b)) if a < b),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

fn merge_list(
    mut cur: Vec<Value>,
    items: &[Value],
    shape: Shape<'_>,
    path: &mut Vec<String>,
    order: Option<&Vec<Value>>,
) -> Result<Value, ApiError> {
    // `[{"$patch": "replace"}, ...]` replaces the whole list.
    if items.iter().any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace")) {
        let rest: Vec<Value> = items.iter().filter(|i| i.get("$patch").is_none()).cloned().collect();
        return Ok(Value::Array(rest));
    }
    match shape.list_type(path) {
        ListType::Map(keys) => {
            let Some(key) = keys.first() else {
                return Ok(Value::Array(items.to_vec()));
            };
            let server_order: Vec<Value> = cur.iter().filter_map(|c| item_key(c, key).cloned()).collect();
            for item in items {
                let Some(kv) = item_key(item, key) else {
                    return Err(ApiError::bad_request(format!(
                        "map: {item} does not contain declared merge key: {key}"
                    )));
                };
                let pos = cur.iter().position(|c| item_key(c, key) == Some(kv));
                if item.get("$patch").and_then(Value::as_str) == Some("delete") {
                    if let Some(i) = pos {
                        cur.remove(i);
                    }
                    continue;
                }
                match pos {
                    Some(i) => {
                        let merged = merge_value(&cur[i], item, shape, path)?;
                        cur[i] = merged;
                    }
                    None => {
                        let merged = merge_value(&Value::Null, item, shape, path)?;
                        cur.push(merged);
                    }
                }
            }
            if let Some(order) = order {
                // Order by $setElementOrder; items not named keep their place at the end.
                let rank = |v: &Value| {
                    item_key(v, key)
                        .and_then(|kv| order.iter().position(|o| item_key(o, key) == Some(kv)))
                        .unwrap_or(usize::MAX)
                };
                cur.sort_by_key(rank);
                return Ok(Value::Array(cur));
            }
            Ok(Value::Array(patch_order(cur, items, key, &server_order)))
        }
        ListType::Set => {
            for item in items {
                if !cur.contains(item) {
                    cur.push(item.clone());
                }
            }
            Ok(Value::Array(cur))
        }
        ListType::Atomic => Ok(Value::Array(items.to_vec())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn directives() {
        let live = json!({"spec": {"containers": [{"name": "a", "image": "1", "args": ["x"]}, {"name": "b", "image": "1"}],
            "volumes": [{"name": "v", "emptyDir": {}}]}, "metadata": {"finalizers": ["f1"]}});
        let patch = json!({
            "$setElementOrder/metadata": [],
            "metadata": {"finalizers": ["f2"], "$deleteFromPrimitiveList/finalizers": ["f1"]},
            "spec": {
                "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                "containers": [{"name": "a", "args": ["y"]}],
                "volumes": [{"$patch": "replace"}, {"name": "w", "emptyDir": {}}]
            }
        });
        let out = apply(&live, &patch, Shape::Builtin).unwrap_or_default();
        assert_eq!(out["metadata"]["finalizers"], json!(["f2"]));
        assert_eq!(out["spec"]["containers"][0]["name"], "b");
        assert_eq!(out["spec"]["containers"][1]["args"], json!(["y"]), "atomic lists replace");
        assert_eq!(out["spec"]["containers"][1]["image"], "1");
        assert_eq!(out["spec"]["volumes"], json!([{"name": "w", "emptyDir": {}}]));
    }
}
