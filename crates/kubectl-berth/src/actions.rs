//! The verbs that change a BertModel. Each is one merge patch, so it composes with
//! GitOps: `pause` writes the same field a manifest would, and `abort`/`promote` are
//! annotations the operator clears once it has acted.

use berth_api::BertModel;
use berth_api::labels::{ABORT_ANNOTATION, PROMOTE_ANNOTATION};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

pub const FIELD_MANAGER: &str = "kubectl-berth";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pause,
    Resume,
    Abort,
    Promote,
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("bertmodel {0:?} has no rollout in progress (no canary version)")]
    NoRollout(String),
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

impl Action {
    /// The merge patch that performs the action.
    pub fn patch(self) -> Value {
        match self {
            Self::Pause => json!({"spec": {"rollout": {"paused": true}}}),
            Self::Resume => json!({"spec": {"rollout": {"paused": false}}}),
            Self::Abort => json!({"metadata": {"annotations": {ABORT_ANNOTATION: "true"}}}),
            Self::Promote => json!({"metadata": {"annotations": {PROMOTE_ANNOTATION: "true"}}}),
        }
    }

    /// Abort and promote only mean something while a canary exists.
    fn needs_rollout(self) -> bool {
        matches!(self, Self::Abort | Self::Promote)
    }

    pub fn done_message(self, name: &str) -> String {
        match self {
            Self::Pause => format!("bertmodel {name} paused"),
            Self::Resume => format!("bertmodel {name} resumed"),
            Self::Abort => format!("bertmodel {name}: abort requested; the canary goes to weight 0 and is rejected"),
            Self::Promote => format!("bertmodel {name}: promotion requested; remaining steps are skipped"),
        }
    }
}

pub async fn run(api: &Api<BertModel>, name: &str, action: Action) -> Result<BertModel, ActionError> {
    if action.needs_rollout() {
        let model = api.get(name).await?;
        if model.status.as_ref().and_then(|s| s.canary_version.as_ref()).is_none() {
            return Err(ActionError::NoRollout(name.to_string()));
        }
    }
    Ok(api.patch(name, &PatchParams::apply(FIELD_MANAGER), &Patch::Merge(action.patch())).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_touch_only_their_field() {
        assert_eq!(Action::Pause.patch()["spec"]["rollout"]["paused"], true);
        assert_eq!(Action::Resume.patch()["spec"]["rollout"]["paused"], false);
        assert_eq!(Action::Abort.patch()["metadata"]["annotations"][ABORT_ANNOTATION], "true");
        assert_eq!(Action::Promote.patch()["metadata"]["annotations"][PROMOTE_ANNOTATION], "true");
        assert!(Action::Abort.patch().get("spec").is_none());
    }
}
