//! Step 4, decide: the rollout engine (`core::decide`) on this reconcile's
//! observations. Pure: the clock is read by the caller.

use berth_api::labels::{ABORT_ANNOTATION, PROMOTE_ANNOTATION, selector_string};
use berth_api::{BertModel, BertModelStatus};
use kube::ResourceExt;

use crate::core::{Decision, Input, Observations, decide as engine, invalid_spec};

/// An annotation set to `"true"` (`kubectl berth abort|promote`).
fn annotation(model: &BertModel, key: &str) -> bool {
    model.annotations().get(key).is_some_and(|v| v == "true")
}

/// The decision for a valid model; its status carries the scale selector.
pub fn decide(model: &BertModel, status: &BertModelStatus, obs: &Observations, now: jiff::Timestamp) -> Decision {
    let input = Input {
        spec: &model.spec,
        generation: model.metadata.generation,
        status,
        abort: annotation(model, ABORT_ANNOTATION),
        promote: annotation(model, PROMOTE_ANNOTATION),
        obs,
        now,
    };
    let mut decision = engine(&input);
    decision.status.selector = Some(selector_string(&model.name_any()));
    decision
}

/// The status of a model whose spec `validate` refused.
pub fn invalid(
    status: &BertModelStatus,
    generation: Option<i64>,
    message: &str,
    now: jiff::Timestamp,
) -> BertModelStatus {
    invalid_spec(status, generation, message.to_string(), now)
}
