//! RFC 7386 JSON merge patch, by the `json-patch` crate.

use serde_json::Value;

pub fn apply(target: &Value, patch: &Value) -> Value {
    let mut out = target.clone();
    json_patch::merge(&mut out, patch);
    out
}
