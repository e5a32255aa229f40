//! Reading conditions of a stored status (kubectl-berth, the tests). The rules that
//! write them (transition times move only when a status flips, every condition
//! records its generation) are the rollout engine's: `berth_rollout::conditions`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// Whether a condition is present and True.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    conditions.iter().any(|c| c.type_ == type_ && c.status == "True")
}

pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}
