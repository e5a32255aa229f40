//! RFC 6902 JSON patch, applied by the `json-patch` crate (the one kube-core
//! uses); here only the mapping to the API server's answers.

use crate::error::ApiError;
use json_patch::{PatchErrorKind, PatchOperation};
use serde_json::Value;

/// A patch that is no list of operations is 400 BadRequest; one that does not
/// apply (a missing path, a failed test) is 422 Invalid, as on the real server.
pub fn apply(doc: &Value, patch: &Value) -> Result<Value, ApiError> {
    let ops: Vec<PatchOperation> =
        serde_json::from_value(patch.clone()).map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
    let mut out = doc.clone();
    // Not `json_patch::patch`: it undoes a failed patch in place (and panics if
    // that fails); the copy is dropped on failure anyway.
    json_patch::patch_unsafe(&mut out, &ops).map_err(|e| {
        let op = ops.get(e.operation).map_or("patch", op_name);
        let path = e.path.as_str();
        // Worded like the evanphx/json-patch errors the real server returns.
        ApiError::invalid_patch(match e.kind {
            PatchErrorKind::TestFailed => format!("testing value {path} failed: test failed"),
            PatchErrorKind::InvalidPointer => format!("{op} operation does not apply: doc is missing path: {path}"),
            PatchErrorKind::InvalidFromPointer => format!("{op} operation does not apply: doc is missing from path"),
            PatchErrorKind::CannotMoveInsideItself => format!("{op} operation does not apply: {path} is inside from"),
            // The enum is non-exhaustive.
            other => format!("{op} operation does not apply at {path}: {other}"),
        })
    })?;
    Ok(out)
}

fn op_name(op: &PatchOperation) -> &'static str {
    match op {
        PatchOperation::Add(_) => "add",
        PatchOperation::Remove(_) => "remove",
        PatchOperation::Replace(_) => "replace",
        PatchOperation::Move(_) => "move",
        PatchOperation::Copy(_) => "copy",
        PatchOperation::Test(_) => "test",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operations_apply_and_failures_map_to_status_codes() {
        let doc = json!({"data": {"a": "1"}, "list": [1, 2]});
        let out = apply(
            &doc,
            &json!([
                {"op": "add", "path": "/data/b", "value": "2"},
                {"op": "replace", "path": "/data/a", "value": "9"},
                {"op": "add", "path": "/list/-", "value": 3},
                {"op": "move", "from": "/data/b", "path": "/data/c"},
                {"op": "copy", "from": "/data/a", "path": "/data/d"},
                {"op": "remove", "path": "/list/0"},
                {"op": "test", "path": "/data/c", "value": "2"}
            ]),
        )
        .unwrap();
        assert_eq!(out, json!({"data": {"a": "9", "c": "2", "d": "9"}, "list": [2, 3]}));
        for (patch, code, message) in [
            (json!([{"op": "replace", "path": "/data/zzz", "value": "x"}]), 422, "replace operation does not apply"),
            (json!([{"op": "remove", "path": "/data/zzz"}]), 422, "doc is missing path: /data/zzz"),
            (json!([{"op": "test", "path": "/data/a", "value": "no"}]), 422, "testing value /data/a failed"),
            (json!({"op": "add"}), 400, "invalid JSON patch"),
            (json!([{"op": "frobnicate", "path": "/a"}]), 400, "invalid JSON patch"),
            (json!([{"op": "add", "path": "/a"}]), 400, "invalid JSON patch"),
        ] {
            let err = apply(&doc, &patch).unwrap_err();
            assert_eq!(err.code, code, "{patch}");
            assert!(err.message.contains(message), "{patch}: {}", err.message);
        }
    }
}
