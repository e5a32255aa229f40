//! The operator's side of every decision: the rollout engine (berth-rollout, pure and
//! Kubernetes-free) with the API types mapped in and out at [`edge`], and the parsing
//! of what the serving pods answer. Nothing here talks to the network, so it is tested
//! synchronously and a restarted operator decides exactly as before.

pub mod edge;
pub mod parse;

use berth_api::{BertModelSpec, BertModelStatus};
pub use berth_rollout::conditions::rolling_update;
pub use berth_rollout::{Observations, Outcome, PodObservation, RolloutEvent};
use jiff::Timestamp;

/// What the engine decided, over the API's status.
pub type Decision = berth_rollout::Decision<BertModelStatus>;

/// Everything a decision depends on, as the API has it.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub spec: &'a BertModelSpec,
    pub generation: Option<i64>,
    pub status: &'a BertModelStatus,
    /// `berth.dev/abort: "true"` is set.
    pub abort: bool,
    /// `berth.dev/promote: "true"` is set.
    pub promote: bool,
    pub obs: &'a Observations,
    pub now: Timestamp,
}

/// Decide the next status: the engine on the mapped spec and status; the status's
/// `selector` (the operator's, not the engine's) passes through.
pub fn decide(input: &Input<'_>) -> Decision {
    let spec = edge::spec(input.spec);
    let state = edge::state_in(input.status);
    let decision = berth_rollout::decide(&berth_rollout::Input {
        spec: &spec,
        generation: input.generation,
        status: &state,
        abort: input.abort,
        promote: input.promote,
        obs: input.obs,
        now: edge::timestamp_in(input.now),
    });
    let selector = input.status.selector.clone();
    decision.map_status(|s| edge::status_out(s, selector))
}

/// The status of a model whose spec fails validation: nothing is rolled out, the
/// traffic table stays as it was, and the conditions name the fields.
pub fn invalid_spec(
    status: &BertModelStatus,
    generation: Option<i64>,
    message: String,
    now: Timestamp,
) -> BertModelStatus {
    let mut state = edge::state_in(status);
    berth_rollout::conditions::invalid_spec(
        &mut state,
        generation,
        message,
        edge::timestamp_in(edge::whole_seconds(now)),
    );
    edge::status_out(state, status.selector.clone())
}
