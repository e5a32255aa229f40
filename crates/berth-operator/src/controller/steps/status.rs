//! Step 6, status: the computed status, written only when it differs from the stored
//! one, by server-side apply of the whole status with force and a field manager of its
//! own. One manager owning every status field is what makes a field the decision no
//! longer sets (a finished canary's `canaryVersion`) disappear: SSA removes the fields
//! a manager stops applying, without the hand-made null diff a merge patch needs.
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
    api.patch_status(name, &params, &Patch::Apply(&patch)).await.map_err(StatusError::Write)?;
    Ok(true)
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
}
