//! The conditions and counts of `status`, derived from the phase the rollout engine
//! chose. `Ready`/`Progressing`/`Degraded` for people and Argo CD; `Reconciling` and
//! `Stalled` for kstatus (Flux), which reads those two to tell "still working" from
//! "will not get there".

use berth_api::conditions::{ConditionUpdate, find, set_condition};
use berth_api::labels::{CONDITION_DEGRADED, CONDITION_PROGRESSING, CONDITION_READY};
use berth_api::{BertModelStatus, Phase};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::core::rollout::Input;

pub const CONDITION_RECONCILING: &str = "Reconciling";
pub const CONDITION_STALLED: &str = "Stalled";

pub fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Pending => "Pending",
        Phase::Loading => "Loading",
        Phase::Progressing => "Progressing",
        Phase::Paused => "Paused",
        Phase::Serving => "Serving",
        Phase::RollingBack => "RollingBack",
        Phase::Degraded => "Degraded",
        Phase::Failed => "Failed",
    }
}

fn working(phase: Phase) -> bool {
    matches!(phase, Phase::Pending | Phase::Loading | Phase::Progressing | Phase::Paused | Phase::RollingBack)
}

/// When the running rollout began: the moment `Progressing` last turned True.
pub fn rollout_started(status: &BertModelStatus) -> Option<Timestamp> {
    find(&status.conditions, CONDITION_PROGRESSING).filter(|c| c.status == "True").map(|c| c.last_transition_time.0)
}

/// Fill in generation, counts and conditions after the engine has decided.
pub fn finish(status: &mut BertModelStatus, input: &Input<'_>) {
    let generation = input.generation;
    let now = Time(input.now);
    status.observed_generation = generation;
    status.replicas = input.spec.replicas;
    status.ready_replicas = input.obs.ready_replicas;
    let phase = status.phase;
    let desired = input.spec.version.as_str();
    let rejection = status.rejected_versions.iter().rev().find(|r| r.version == desired && r.blocking).cloned();

    let (ready, ready_reason, ready_message) = match (&status.stable_version, phase) {
        (_, Phase::Failed) => (false, "Failed", rejection.as_ref().map(|r| r.message.clone()).unwrap_or_default()),
        (None, _) => (false, phase_name(phase), format!("version {desired} is not serving yet")),
        (Some(_), _) if input.spec.replicas == 0 => (true, "ScaledToZero", "replicas is 0".to_string()),
        (Some(_), _) if input.obs.ready_replicas == 0 => (false, "NoReadyPods", "no serving pod is ready".into()),
        (Some(stable), _) => (true, "Serving", format!("version {stable} is serving")),
    };
    let rolling = input.obs.rolling_update.clone();
    let progressing = (working(phase) && phase != Phase::Pending) || rolling.is_some();
    let progressing_message = match (&status.canary_version, status.current_step, &rolling) {
        (Some(c), Some(step), _) => {
            format!("version {c} at {}% (step {})", status.canary_weight.unwrap_or(0.0), step + 1)
        }
        (Some(c), None, _) => format!("loading version {c}"),
        (None, _, Some(rolling)) => rolling.clone(),
        _ => String::new(),
    };
    let progressing_reason = match (&rolling, phase) {
        (Some(_), Phase::Serving) => "RollingUpdate",
        _ => phase_name(phase),
    };
    let (degraded, degraded_reason, degraded_message) = match &rejection {
        Some(r) if status.stable_version.as_deref() != Some(desired) => (true, r.reason.as_str(), r.message.clone()),
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
            status: (working(phase) || rolling.is_some()) && !stalled,
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
        set_condition(&mut status.conditions, update, generation, &now);
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

/// The status of a model whose spec fails validation: nothing is rolled out, the
/// traffic table stays as it was, and the message names the fields.
pub fn invalid_spec(status: &mut BertModelStatus, generation: Option<i64>, message: String, now: Timestamp) {
    let now = Time(now);
    status.observed_generation = generation;
    let updates = [
        ConditionUpdate { type_: CONDITION_READY, status: false, reason: "InvalidSpec", message: message.clone() },
        ConditionUpdate { type_: CONDITION_STALLED, status: true, reason: "InvalidSpec", message },
        ConditionUpdate { type_: CONDITION_RECONCILING, status: false, reason: "InvalidSpec", message: String::new() },
    ];
    for update in updates {
        set_condition(&mut status.conditions, update, generation, &now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_update_reports_what_it_waits_for() {
        assert!(rolling_update(Some(2), Some(1), 3, 3, 3).is_some());
        assert_eq!(rolling_update(Some(2), Some(2), 3, 1, 3).as_deref(), Some("rolling update: 1 of 3 pods updated"));
        assert!(rolling_update(Some(2), Some(2), 3, 3, 2).is_some());
        assert_eq!(rolling_update(Some(2), Some(2), 3, 3, 3), None);
        assert_eq!(rolling_update(Some(1), Some(1), 0, 0, 0), None);
    }
}
