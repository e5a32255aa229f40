//! Names shared by the operator, the serving pods and the tools that look at them.

/// Label on every object the operator makes for a model; its value is the model name.
pub const MODEL_LABEL: &str = "berth.dev/model";
/// Standard labels, so generic tooling groups the objects.
pub const APP_NAME_LABEL: &str = "app.kubernetes.io/name";
pub const APP_INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const APP_NAME: &str = "berth-serve";
pub const MANAGER: &str = "berth-operator";

/// Annotation that aborts the running rollout (value "true").
pub const ABORT_ANNOTATION: &str = "berth.dev/abort";
/// Annotation that skips the remaining steps and promotes the canary (value "true").
pub const PROMOTE_ANNOTATION: &str = "berth.dev/promote";

/// Environment the serving pods get from the downward API, naming their model.
pub const ENV_MODEL_NAME: &str = "BERTH_MODEL_NAME";
pub const ENV_MODEL_NAMESPACE: &str = "BERTH_MODEL_NAMESPACE";
pub const ENV_POD_NAME: &str = "POD_NAME";

/// Condition types every BertModel carries.
pub use berth_rollout::conditions::{
    CONDITION_DEGRADED, CONDITION_PROGRESSING, CONDITION_READY, CONDITION_RECONCILING, CONDITION_STALLED,
};

/// The labels that select a model's serving pods.
pub fn selector_labels(model: &str) -> std::collections::BTreeMap<String, String> {
    [
        (APP_NAME_LABEL.to_string(), APP_NAME.to_string()),
        (APP_INSTANCE_LABEL.to_string(), model.to_string()),
        (MODEL_LABEL.to_string(), model.to_string()),
    ]
    .into_iter()
    .collect()
}

/// `selector_labels` as the text form a label selector takes (`status.selector`).
pub fn selector_string(model: &str) -> String {
    selector_labels(model).iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}
