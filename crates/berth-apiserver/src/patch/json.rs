//! RFC 6902 JSON patch.

use crate::error::ApiError;
use serde_json::Value;

fn unescape(tok: &str) -> String {
    tok.replace("~1", "/").replace("~0", "~")
}

fn tokens(path: &str) -> Result<Vec<String>, ApiError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path.strip_prefix('/').ok_or_else(|| ApiError::bad_request(format!("invalid JSON pointer {path:?}")))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn missing(path: &str) -> ApiError {
    // Worded like the evanphx/json-patch errors the real server returns.
    ApiError::invalid_patch(format!("replace operation does not apply: doc is missing path: {path}"))
}

fn parent<'a>(doc: &'a mut Value, toks: &[String], path: &str) -> Result<&'a mut Value, ApiError> {
    let mut cur = doc;
    for t in toks {
        cur = match cur {
            Value::Object(m) => m.get_mut(t).ok_or_else(|| missing(path))?,
            Value::Array(a) => {
                let i: usize = t.parse().map_err(|_| missing(path))?;
                a.get_mut(i).ok_or_else(|| missing(path))?
            }
            _ => return Err(missing(path)),
        };
    }
    Ok(cur)
}

fn get(doc: &Value, path: &str) -> Result<Value, ApiError> {
    let ptr = path.to_string();
    doc.pointer(&ptr).cloned().ok_or_else(|| missing(path))
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, ApiError> {
    let toks = tokens(path)?;
    let Some((last, init)) = toks.split_last() else {
        return Ok(std::mem::take(doc));
    };
    match parent(doc, init, path)? {
        Value::Object(m) => m.remove(last).ok_or_else(|| missing(path)),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| missing(path))?;
            if i < a.len() { Ok(a.remove(i)) } else { Err(missing(path)) }
        }
        _ => Err(missing(path)),
    }
}

fn add(doc: &mut Value, path: &str, value: Value, replace: bool) -> Result<(), ApiError> {
    let toks = tokens(path)?;
    let Some((last, init)) = toks.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent(doc, init, path)? {
        Value::Object(m) => {
            if replace && !m.contains_key(last) {
                return Err(missing(path));
            }
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" && !replace {
                a.push(value);
                return Ok(());
            }
            let i: usize = last.parse().map_err(|_| missing(path))?;
            if replace {
                let slot = a.get_mut(i).ok_or_else(|| missing(path))?;
                *slot = value;
            } else if i <= a.len() {
                a.insert(i, value);
            } else {
                return Err(missing(path));
            }
            Ok(())
        }
        _ => Err(missing(path)),
    }
}

pub fn apply(doc: &Value, patch: &Value) -> Result<Value, ApiError> {
    let ops = patch.as_array().ok_or_else(|| ApiError::bad_request("json patch must be an array of operations"))?;
    let mut doc = doc.clone();
    for op in ops {
        let kind = op.get("op").and_then(Value::as_str).unwrap_or_default();
        let path = op.get("path").and_then(Value::as_str).unwrap_or_default();
        let value =
            || op.get("value").cloned().ok_or_else(|| ApiError::bad_request(format!("{kind} operation needs a value")));
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::bad_request(format!("{kind} operation needs from")))
        };
        match kind {
            "add" => add(&mut doc, path, value()?, false)?,
            "replace" => add(&mut doc, path, value()?, true)?,
            "remove" => {
                remove(&mut doc, path)?;
            }
            "move" => {
                let v = remove(&mut doc, from()?)?;
                add(&mut doc, path, v, false)?;
            }
            "copy" => {
                let v = get(&doc, from()?)?;
                add(&mut doc, path, v, false)?;
            }
            "test" => {
                if get(&doc, path)? != value()? {
                    return Err(ApiError::invalid_patch(format!("testing value {path} failed: test failed")));
                }
            }
            other => {
                return Err(ApiError::bad_request(format!("unexpected kind of JSON patch operation: {other:?}")));
            }
        }
    }
    Ok(doc)
}
