//! Step 6, status: the computed status, written only when it differs from the stored
//! one, by server-side apply of the whole status with force and a field manager of its
//! own. One manager owning every status field is what makes a field the decision no
//! longer sets (a finished canary's `canaryVersion`) disappear: SSA removes the fields
//! a manager stops applying, without the hand-made null diff a merge patch needs.
//! A field another manager still co-owns survives an apply that drops it: the status an
//! operator before 0.2 wrote by merge patch (manager `Update`) after an upgrade, or a
//! hand edit. Whatever the stored status still holds beyond the applied one is then
//! removed by a JSON patch, so the stored status always equals the computed one.
//! Then the abort/promote annotation, once acted on, is removed (a merge patch of the
//! metadata: the user set it, so no manager of ours owns it).

use berth_api::labels::{ABORT_ANNOTATION, PROMOTE_ANNOTATION};
use berth_api::{BertModel, BertModelStatus};
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde_json::{Value, json};

/// The status field manager, apart from the children's (`apply::FIELD_MANAGER`) so each
/// owns only what it writes.
pub const FIELD_MANAGER: &str = "berth-operator-status";

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("serialising the status: {0}")]
    Serialize(#[source] serde_json::Error),
    #[error("writing the status: {0}")]
    Write(#[source] kube::Error),
    #[error("removing status fields another manager still held: {0}")]
    Leftovers(#[source] kube::Error),
    #[error("removing the abort/promote annotation: {0}")]
    Annotations(#[source] kube::Error),
}

/// The apply configuration of the status subresource: `new`, whole.
pub fn apply_patch(name: &str, new: &BertModelStatus) -> Result<Value, StatusError> {
    let status = serde_json::to_value(new).map_err(StatusError::Serialize)?;
    Ok(json!({
        "apiVersion": BertModel::api_version(&()),
        "kind": BertModel::kind(&()),
        "metadata": {"name": name},
        "status": status,
    }))
}

/// Write `new` unless it equals `old` (the stored status); `true` when written.
#[tracing::instrument(name = "status", skip_all)]
pub async fn write(
    api: &Api<BertModel>,
    name: &str,
    old: &BertModelStatus,
    new: &BertModelStatus,
) -> Result<bool, StatusError> {
    if old == new {
        return Ok(false);
    }
    let patch = apply_patch(name, new)?;
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let written = api.patch_status(name, &params, &Patch::Apply(&patch)).await.map_err(StatusError::Write)?;
    let stored = serde_json::to_value(&written.status).map_err(StatusError::Serialize)?;
    let removals = leftovers(&stored, &patch["status"], "/status");
    if !removals.is_empty() {
        tracing::info!(fields = ?removals, "status fields co-owned by another manager removed");
        let ops: Vec<Value> = removals.iter().map(|path| json!({"op": "remove", "path": path})).collect();
        let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops)).map_err(StatusError::Serialize)?;
        let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
        api.patch_status(name, &params, &Patch::<()>::Json(patch)).await.map_err(StatusError::Leftovers)?;
    }
    Ok(true)
}

/// JSON pointers (under `at`) of the object keys `stored` has and `applied` does not,
/// descending into objects both have. Lists are atomic in this schema: an apply
/// replaces them whole, so they never hold leftovers.
pub fn leftovers(stored: &Value, applied: &Value, at: &str) -> Vec<String> {
    let (Some(stored), Some(applied)) = (stored.as_object(), applied.as_object()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in stored {
        let path = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
        match applied.get(key) {
            None => out.push(path),
            Some(want) => out.extend(leftovers(value, want, &path)),
        }
    }
    out
}

/// Remove the abort/promote annotation (the decision acted on it).
pub async fn clear_annotations(api: &Api<BertModel>, name: &str) -> Result<(), StatusError> {
    let patch = json!({"metadata": {"annotations": {ABORT_ANNOTATION: null, PROMOTE_ANNOTATION: null}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(StatusError::Annotations)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patch_is_the_whole_status_and_nothing_for_absent_fields() -> Result<(), StatusError> {
        let new = BertModelStatus { stable_version: Some("2".into()), ..BertModelStatus::default() };
        let patch = apply_patch("m", &new)?;
        assert_eq!(patch["kind"], "BertModel");
        assert_eq!(patch["status"]["stableVersion"], "2");
        // Absent, not null: SSA removes what the manager no longer applies.
        assert!(patch["status"].get("canaryVersion").is_none());
        Ok(())
    }

    #[test]
    fn leftovers_are_the_keys_only_the_stored_status_has() {
        let stored = json!({"phase": "Serving", "canaryVersion": "3", "analysis": {"requests": 5, "p99LatencySeconds": 0.2},
                            "traffic": [{"version": "3", "weight": 100.0}]});
        let applied = json!({"phase": "Serving", "analysis": {"requests": 5}, "traffic": []});
        assert_eq!(
            leftovers(&stored, &applied, "/status"),
            vec!["/status/analysis/p99LatencySeconds".to_string(), "/status/canaryVersion".to_string()]
        );
        assert!(leftovers(&applied, &applied, "/status").is_empty());
        assert_eq!(leftovers(&json!({"a/b~": 1}), &json!({}), ""), vec!["/a~1b~0".to_string()]);
    }
}
