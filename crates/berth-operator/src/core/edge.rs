//! The edge between the API and the rollout engine (berth-rollout): `BertModelSpec`
//! becomes the engine's `Spec`, `BertModelStatus` its `RolloutState` and back, and
//! Kubernetes' `Time` its `Time`. Lossless both ways, so a status read, decided on
//! and written back unchanged is byte-for-byte what was stored.

use berth_api::{AnalysisStatus, BertModelSpec, BertModelStatus, RejectedVersion, RolloutSpec, Task};
use berth_rollout::conditions::Condition as EngineCondition;
use berth_rollout::{AnalysisLimits, AnalysisState, Policy, RolloutState, Spec, Step};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

pub fn time_in(t: &Time) -> berth_rollout::Time {
    berth_rollout::Time::from_unix_nanos(t.0.as_nanosecond())
}

pub fn timestamp_in(t: Timestamp) -> berth_rollout::Time {
    berth_rollout::Time::from_unix_nanos(t.as_nanosecond())
}

/// Back to Kubernetes' time; the engine only produces times it was given (or whole
/// seconds of them), so the range check never fails in practice and falls back to
/// the epoch rather than panic.
pub fn time_out(t: berth_rollout::Time) -> Time {
    Time(Timestamp::from_nanosecond(t.as_unix_nanos()).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// Kubernetes stores times to the second.
pub fn whole_seconds(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

/// `task` as the spec names it: the embedding-space guard is for embedding models (and
/// models whose task the pods detect), not classifiers.
pub fn policy(rollout: &RolloutSpec, task: Option<Task>) -> Policy {
    let analysis = &rollout.analysis;
    Policy {
        steps: rollout
            .steps
            .iter()
            .map(|s| Step { weight: s.weight, pause: s.pause.map(|p| p.as_duration()), mirror: s.mirror })
            .collect(),
        analysis: AnalysisLimits {
            interval: analysis.interval.as_duration(),
            max_error_rate: analysis.max_error_rate,
            max_p99_latency: analysis.max_p99_latency.as_duration(),
            min_requests: analysis.min_requests,
            failure_limit: analysis.failure_limit,
            min_agreement: analysis.min_agreement,
            min_agreement_samples: analysis.min_agreement_samples,
            embedding_space_guard: !rollout.allow_embedding_space_change && task != Some(Task::Classification),
        },
        load_timeout: rollout.load_timeout.as_duration(),
        max_loading_pods: usize::try_from(rollout.max_loading_pods).unwrap_or(1),
        paused: rollout.paused,
        allow_embedding_space_change: rollout.allow_embedding_space_change,
    }
}

pub fn spec(spec: &BertModelSpec) -> Spec {
    Spec { version: spec.version.clone(), replicas: spec.replicas, rollout: policy(&spec.rollout, spec.task) }
}

fn condition_in(c: &Condition) -> EngineCondition {
    EngineCondition {
        type_: c.type_.clone(),
        status: c.status.clone(),
        reason: c.reason.clone(),
        message: c.message.clone(),
        observed_generation: c.observed_generation,
        last_transition_time: time_in(&c.last_transition_time),
    }
}

fn condition_out(c: EngineCondition) -> Condition {
    Condition {
        type_: c.type_,
        status: c.status,
        reason: c.reason,
        message: c.message,
        observed_generation: c.observed_generation,
        last_transition_time: time_out(c.last_transition_time),
    }
}

fn analysis_in(a: &AnalysisStatus) -> AnalysisState {
    AnalysisState {
        consecutive_failures: a.consecutive_failures,
        requests: a.requests,
        errors: a.errors,
        error_rate: a.error_rate,
        p99_latency_seconds: a.p99_latency_seconds,
        agreement: a.agreement,
        agreement_samples: a.agreement_samples,
        last_time: a.last_time.as_ref().map(time_in),
        baseline: a.baseline.clone(),
    }
}

fn analysis_out(a: AnalysisState) -> AnalysisStatus {
    AnalysisStatus {
        consecutive_failures: a.consecutive_failures,
        requests: a.requests,
        errors: a.errors,
        error_rate: a.error_rate,
        p99_latency_seconds: a.p99_latency_seconds,
        agreement: a.agreement,
        agreement_samples: a.agreement_samples,
        last_time: a.last_time.map(time_out),
        baseline: a.baseline,
    }
}

fn rejected_in(r: &RejectedVersion) -> berth_rollout::RejectedVersion {
    berth_rollout::RejectedVersion {
        version: r.version.clone(),
        reason: r.reason,
        message: r.message.clone(),
        time: time_in(&r.time),
        blocking: r.blocking,
    }
}

fn rejected_out(r: berth_rollout::RejectedVersion) -> RejectedVersion {
    RejectedVersion {
        version: r.version,
        reason: r.reason,
        message: r.message,
        time: time_out(r.time),
        blocking: r.blocking,
    }
}

/// The engine's state of a stored status. `selector` is the operator's own (the scale
/// subresource's), not the engine's: [`status_out`] takes it back.
pub fn state_in(s: &BertModelStatus) -> RolloutState {
    let BertModelStatus {
        observed_generation,
        phase,
        stable_version,
        canary_version,
        canary_weight,
        traffic,
        canary_pods,
        current_step,
        mirror,
        step_started_at,
        analysis,
        rejected_versions,
        replicas,
        ready_replicas,
        selector: _,
        conditions,
    } = s;
    RolloutState {
        observed_generation: *observed_generation,
        phase: *phase,
        stable_version: stable_version.clone(),
        canary_version: canary_version.clone(),
        canary_weight: *canary_weight,
        traffic: traffic.clone(),
        canary_pods: canary_pods.clone(),
        current_step: *current_step,
        mirror: *mirror,
        step_started_at: step_started_at.as_ref().map(time_in),
        analysis: analysis.as_ref().map(analysis_in),
        rejected_versions: rejected_versions.iter().map(rejected_in).collect(),
        replicas: *replicas,
        ready_replicas: *ready_replicas,
        conditions: conditions.iter().map(condition_in).collect(),
    }
}

pub fn status_out(s: RolloutState, selector: Option<String>) -> BertModelStatus {
    let RolloutState {
        observed_generation,
        phase,
        stable_version,
        canary_version,
        canary_weight,
        traffic,
        canary_pods,
        current_step,
        mirror,
        step_started_at,
        analysis,
        rejected_versions,
        replicas,
        ready_replicas,
        conditions,
    } = s;
    BertModelStatus {
        observed_generation,
        phase,
        stable_version,
        canary_version,
        canary_weight,
        traffic,
        canary_pods,
        current_step,
        mirror,
        step_started_at: step_started_at.map(time_out),
        analysis: analysis.map(analysis_out),
        rejected_versions: rejected_versions.into_iter().map(rejected_out).collect(),
        replicas,
        ready_replicas,
        selector,
        conditions: conditions.into_iter().map(condition_out).collect(),
    }
}
