//! The observed state the operator writes: `BertModel.status`, and the part of it the
//! serving pods read (`status.traffic`), so both sides share one definition.

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

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    #[default]
    Pending,
    Loading,
    Progressing,
    Paused,
    Serving,
    RollingBack,
    Degraded,
    Failed,
}

/// One line of the traffic table: a version and its share of requests in percent.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct TrafficTarget {
    pub version: String,
    #[schemars(range(min = 0.0, max = 100.0))]
    pub weight: f64,
}

/// Why a version was rejected; bounded, so it can label metrics and Events.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum RejectionReason {
    /// A pod could not fetch, verify or load the version.
    LoadFailed,
    /// Not every pod loaded the version within `rollout.loadTimeout`.
    LoadTimeout,
    /// Pods restarted repeatedly while loading the version.
    CrashLoop,
    /// The canary's error rate exceeded `analysis.maxErrorRate`.
    ErrorRate,
    /// The canary's p99 latency exceeded `analysis.maxP99Latency`.
    Latency,
    /// A user aborted the rollout.
    Aborted,
}

impl RejectionReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::LoadFailed => "LoadFailed",
            Self::LoadTimeout => "LoadTimeout",
            Self::CrashLoop => "CrashLoop",
            Self::ErrorRate => "ErrorRate",
            Self::Latency => "Latency",
            Self::Aborted => "Aborted",
        }
    }
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_time: Option<Time>,
    /// The canary's cumulative counters (summed over pods) at `lastTime`: the next
    /// interval is judged on the difference, also after an operator restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<CounterSnapshot>,
}

/// Cumulative request counters of one version, summed over the serving pods.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CounterSnapshot {
    #[serde(default)]
    pub requests: u64,
    #[serde(default)]
    pub errors: u64,
    /// Latency histogram buckets with a finite upper bound, ascending (cumulative counts).
    #[serde(default)]
    pub latency_buckets: Vec<LatencyBucket>,
    /// Observations in the latency histogram (its `+Inf` bucket).
    #[serde(default)]
    pub latency_count: u64,
}

/// One cumulative histogram bucket: observations of at most `le` seconds.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct LatencyBucket {
    pub le: f64,
    pub count: u64,
}

/// A version's state inside one serving pod, as TF Serving names them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VersionState {
    Start,
    Loading,
    Available,
    Unloading,
    End,
}

impl VersionState {
    pub const ALL: [VersionState; 5] = [Self::Start, Self::Loading, Self::Available, Self::Unloading, Self::End];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Start => "START",
            Self::Loading => "LOADING",
            Self::Available => "AVAILABLE",
            Self::Unloading => "UNLOADING",
            Self::End => "END",
        }
    }
}

impl std::fmt::Display for VersionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One serving pod's report about one version (what the operator polls).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct VersionReport {
    pub version: String,
    pub state: VersionState,
    /// The load error, kept after the version ends so it can be shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
