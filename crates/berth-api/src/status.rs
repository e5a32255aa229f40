//! The observed state the operator writes: `BertModel.status`, and the part of it the
//! serving pods read (`status.traffic`), so both sides share one definition. The parts
//! without a Kubernetes timestamp are the rollout engine's own types (berth-rollout),
//! re-exported: the engine, the operator and the pods read one definition.

pub use berth_rollout::{
    CounterSnapshot, LatencyBucket, Phase, RejectionReason, TrafficTarget, VersionReport, VersionState,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BertModelStatus {
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub phase: Phase,
    /// The version that serves when no rollout runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_version: Option<String>,
    /// The version being rolled out, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_version: Option<String>,
    /// Percent of requests the canary receives (a copy of its `traffic` entry, for
    /// `kubectl get`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_weight: Option<f64>,
    /// What every serving pod loads and how it splits requests. The serving pods
    /// converge on this list: load what is listed, unload what is not.
    #[serde(default)]
    pub traffic: Vec<TrafficTarget>,
    /// While the canary loads a batch at a time (`rollout.maxLoadingPods`): the pods
    /// allowed to load it. Absent: every pod loads every version in `traffic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_pods: Option<Vec<String>>,
    /// Index into `spec.rollout.steps` of the step in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step: Option<u32>,
    /// Percent of the requests stable answers that every serving pod also sends to
    /// `canaryVersion` to compare the answers (the step's `mirror`); the copies are
    /// thrown away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<f64>,
    /// When the current step (or the canary's loading) began; pauses count from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_started_at: Option<Time>,
    /// The latest analysis of the canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisStatus>,
    /// Versions that failed and are not retried until `spec.version` changes.
    #[serde(default)]
    pub rejected_versions: Vec<RejectedVersion>,
    #[serde(default)]
    pub replicas: i32,
    #[serde(default)]
    pub ready_replicas: i32,
    /// Label selector of the serving pods, for the scale subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct RejectedVersion {
    pub version: String,
    pub reason: RejectionReason,
    #[serde(default)]
    pub message: String,
    pub time: Time,
    /// True while `spec.version` has named this version ever since it was rejected: it
    /// is not retried. Once `spec.version` names another version this turns false and
    /// the entry stays as history, so setting the version again tries it again.
    #[serde(default = "still_blocking")]
    pub blocking: bool,
}

fn still_blocking() -> bool {
    true
}

/// The last judgement of the canary, kept so a restarted operator continues counting.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisStatus {
    /// Consecutive failed intervals so far.
    #[serde(default)]
    pub consecutive_failures: u32,
    #[serde(default)]
    pub requests: u64,
    #[serde(default)]
    pub errors: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_latency_seconds: Option<f64>,
    /// Mean agreement with stable over the last interval's mirrored inputs (cosine
    /// similarity of embeddings, or the share of same top labels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<f64>,
    /// Inputs compared with stable in the last interval.
    #[serde(default)]
    pub agreement_samples: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_time: Option<Time>,
    /// The canary's cumulative counters (summed over pods) at `lastTime`: the next
    /// interval is judged on the difference, also after an operator restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<CounterSnapshot>,
}
