//! The conditions and counts of the status, derived from the phase the engine chose.
//! `Ready`/`Progressing`/`Degraded` for people and Argo CD; `Reconciling` and
//! `Stalled` for kstatus (Flux), which reads those two to tell "still working" from
//! "will not get there". A condition's `lastTransitionTime` moves only when its status
//! flips, and every condition records the generation it speaks for.

use crate::engine::Input;
use crate::state::{Phase, RolloutState};
use crate::time::Time;

pub const CONDITION_READY: &str = "Ready";
pub const CONDITION_PROGRESSING: &str = "Progressing";
pub const CONDITION_DEGRADED: &str = "Degraded";
pub const CONDITION_RECONCILING: &str = "Reconciling";
pub const CONDITION_STALLED: &str = "Stalled";

/// A condition as Kubernetes keeps it; `status` is "True", "False" or "Unknown", kept
/// as text so conditions the engine does not own pass through unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    pub observed_generation: Option<i64>,
    pub last_transition_time: Time,
}

/// The new value of one condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionUpdate<'a> {
    pub type_: &'a str,
    pub status: bool,
    pub reason: &'a str,
    pub message: String,
}

/// Set or replace a condition. Returns true when anything changed.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    update: ConditionUpdate<'_>,
    generation: Option<i64>,
    now: Time,
) -> bool {
    let status = if update.status { "True" } else { "False" }.to_string();
    match conditions.iter_mut().find(|c| c.type_ == update.type_) {
        Some(existing) => {
            let transition = existing.status != status;
            let changed = transition
                || existing.reason != update.reason
                || existing.message != update.message
                || existing.observed_generation != generation;
            if transition {
                existing.last_transition_time = now;
            }
            existing.status = status;
            existing.reason = update.reason.to_string();
            existing.message = update.message;
            existing.observed_generation = generation;
            changed
        }
        None => {
            conditions.push(Condition {
                type_: update.type_.to_string(),
                status,
                reason: update.reason.to_string(),
                message: update.message,
                observed_generation: generation,
                last_transition_time: now,
            });
            true
        }
    }
}

pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether a condition is present and True.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == "True")
}

/// When the running rollout began: the moment `Progressing` last turned True.
pub fn rollout_started(state: &RolloutState) -> Option<Time> {
    find(&state.conditions, CONDITION_PROGRESSING).filter(|c| c.status == "True").map(|c| c.last_transition_time)
}

/// Fill in generation, counts and conditions after the engine has decided.
pub fn finish(state: &mut RolloutState, input: &Input<'_>) {
    let generation = input.generation;
    let now = input.now;
    state.observed_generation = generation;
    state.replicas = input.spec.replicas;
    state.ready_replicas = input.obs.ready_replicas;
    let phase = state.phase;
    let desired = input.spec.version.as_str();
    let rejection = state.rejected_versions.iter().rev().find(|r| r.version == desired && r.blocking).cloned();

    let (ready, ready_reason, ready_message) = match (&state.stable_version, phase) {
        (_, Phase::Failed) => (false, "Failed", rejection.as_ref().map(|r| r.message.clone()).unwrap_or_default()),
        (None, _) => (false, phase.as_str(), format!("version {desired} is not serving yet")),
        (Some(_), _) if input.spec.replicas == 0 => (true, "ScaledToZero", "replicas is 0".to_string()),
        (Some(_), _) if input.obs.ready_replicas == 0 => (false, "NoReadyPods", "no serving pod is ready".into()),
        (Some(stable), _) => (true, "Serving", format!("version {stable} is serving")),
    };
    let rolling = input.obs.rolling_update.clone();
    let progressing = (phase.working() && phase != Phase::Pending) || rolling.is_some();
    let progressing_message = match (&state.canary_version, state.current_step, &rolling) {
        (Some(c), Some(step), _) => {
            let mirrored = state.mirror.map(|m| format!(", {m}% of stable's requests mirrored")).unwrap_or_default();
            format!("version {c} at {}% (step {}){mirrored}", state.canary_weight.unwrap_or(0.0), step + 1)
        }
        (Some(c), None, _) => format!("loading version {c}"),
        (None, _, Some(rolling)) => rolling.clone(),
        _ => String::new(),
    };
    let progressing_reason = match (&rolling, phase) {
        (Some(_), Phase::Serving) => "RollingUpdate",
        _ => phase.as_str(),
    };
    let (degraded, degraded_reason, degraded_message) = match &rejection {
        Some(r) if state.stable_version.as_deref() != Some(desired) => (true, r.reason.as_str(), r.message.clone()),
        _ => (false, "AsExpected", String::new()),
    };
    let stalled = degraded || phase == Phase::Failed;

    let updates = [
        ConditionUpdate { type_: CONDITION_READY, status: ready, reason: ready_reason, message: ready_message },
        ConditionUpdate {
            type_: CONDITION_PROGRESSING,
            status: progressing,
            reason: progressing_reason,
            message: progressing_message,
        },
        ConditionUpdate {
            type_: CONDITION_DEGRADED,
            status: degraded,
            reason: degraded_reason,
            message: degraded_message.clone(),
        },
        ConditionUpdate {
            type_: CONDITION_RECONCILING,
            status: (phase.working() || rolling.is_some()) && !stalled,
            reason: progressing_reason,
            message: String::new(),
        },
        ConditionUpdate {
            type_: CONDITION_STALLED,
            status: stalled,
            reason: if stalled { degraded_reason } else { "AsExpected" },
            message: if stalled { degraded_message } else { String::new() },
        },
    ];
    for update in updates {
        set_condition(&mut state.conditions, update, generation, now);
    }
}

/// What a Deployment's rolling update still waits for; `None` when it is complete.
pub fn rolling_update(
    generation: Option<i64>,
    observed: Option<i64>,
    desired: i32,
    updated: i32,
    available: i32,
) -> Option<String> {
    if generation.is_some() && observed < generation {
        return Some("the Deployment has not seen the new pod template yet".to_string());
    }
    if updated < desired {
        return Some(format!("rolling update: {updated} of {desired} pods updated"));
    }
    if available < desired {
        return Some(format!("rolling update: {available} of {desired} pods available"));
    }
    None
}

/// The state of a model whose spec fails validation: nothing is rolled out, the
/// traffic table stays as it was, and the message names the fields.
pub fn invalid_spec(state: &mut RolloutState, generation: Option<i64>, message: String, now: Time) {
    state.observed_generation = generation;
    let updates = [
        ConditionUpdate { type_: CONDITION_READY, status: false, reason: "InvalidSpec", message: message.clone() },
        ConditionUpdate { type_: CONDITION_STALLED, status: true, reason: "InvalidSpec", message },
        ConditionUpdate { type_: CONDITION_RECONCILING, status: false, reason: "InvalidSpec", message: String::new() },
    ];
    for update in updates {
        set_condition(&mut state.conditions, update, generation, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(status: bool, reason: &str) -> ConditionUpdate<'_> {
        ConditionUpdate { type_: "Ready", status, reason, message: String::new() }
    }

    #[test]
    fn rolling_update_reports_what_it_waits_for() {
        assert!(rolling_update(Some(2), Some(1), 3, 3, 3).is_some());
        assert_eq!(rolling_update(Some(2), Some(2), 3, 1, 3).as_deref(), Some("rolling update: 1 of 3 pods updated"));
        assert!(rolling_update(Some(2), Some(2), 3, 3, 2).is_some());
        assert_eq!(rolling_update(Some(2), Some(2), 3, 3, 3), None);
        assert_eq!(rolling_update(Some(1), Some(1), 0, 0, 0), None);
    }

    fn at(seconds: i64) -> Time {
        Time::from_unix_seconds(seconds)
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let mut conditions = Vec::new();
        assert!(set_condition(&mut conditions, ready(false, "Loading"), Some(1), at(10)));
        assert!(set_condition(&mut conditions, ready(false, "StillLoading"), Some(1), at(20)));
        assert_eq!(conditions[0].last_transition_time, at(10));
        assert!(set_condition(&mut conditions, ready(true, "Serving"), Some(2), at(30)));
        assert_eq!(conditions[0].last_transition_time, at(30));
        assert_eq!(conditions[0].observed_generation, Some(2));
    }

    #[test]
    fn unchanged_update_reports_no_change() {
        let mut conditions = Vec::new();
        set_condition(&mut conditions, ready(true, "Serving"), Some(3), at(1));
        assert!(!set_condition(&mut conditions, ready(true, "Serving"), Some(3), at(99)));
        assert_eq!(conditions.len(), 1);
        assert!(is_true(&conditions, "Ready"));
        assert!(set_condition(&mut conditions, ready(true, "Serving"), Some(4), at(99)));
    }
}
