//! What the engine remembers between decisions: everything `BertModel.status` carries
//! (the operator maps it in and out), so a restarted operator decides the same way.
//! The types without a timestamp are the API's own: berth-api re-exports them, so the
//! status the operator writes and the state the engine reads share one definition.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::conditions::Condition;
use crate::time::Time;
use crate::traffic::TrafficTarget;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RolloutState {
    /// The generation this state was computed from.
    pub observed_generation: Option<i64>,
    pub phase: Phase,
    /// The version that serves when no rollout runs.
    pub stable_version: Option<String>,
    /// The version being rolled out, if any.
    pub canary_version: Option<String>,
    /// Percent of requests the canary receives (a copy of its `traffic` entry).
    pub canary_weight: Option<f64>,
    /// What every serving pod loads and how it splits requests.
    pub traffic: Vec<TrafficTarget>,
    /// While the canary loads a batch at a time: the pods allowed to load it.
    pub canary_pods: Option<Vec<String>>,
    /// Index into the policy's steps of the step in force.
    pub current_step: Option<u32>,
    /// Percent of stable's requests the pods copy to the canary (the step's `mirror`).
    pub mirror: Option<f64>,
    /// When the current step (or the canary's loading) began; pauses count from here.
    pub step_started_at: Option<Time>,
    pub analysis: Option<AnalysisState>,
    /// Versions that failed and are not retried until the desired version changes.
    pub rejected_versions: Vec<RejectedVersion>,
    pub replicas: i32,
    pub ready_replicas: i32,
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

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Loading => "Loading",
            Self::Progressing => "Progressing",
            Self::Paused => "Paused",
            Self::Serving => "Serving",
            Self::RollingBack => "RollingBack",
            Self::Degraded => "Degraded",
            Self::Failed => "Failed",
        }
    }

    /// Whether the model is on its way somewhere (kstatus' "Reconciling").
    pub fn working(self) -> bool {
        matches!(self, Self::Pending | Self::Loading | Self::Progressing | Self::Paused | Self::RollingBack)
    }
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
    /// The canary's answers agreed with stable's less than `analysis.minAgreement`.
    QualityGate,
    /// The canary's embeddings live in another space than stable's (another output
    /// dimension, or agreement far below any retraining), and
    /// `rollout.allowEmbeddingSpaceChange` is not set.
    EmbeddingSpaceChanged,
    /// The canary's answers on `rollout.goldenSet` fell short of its threshold (or the
    /// golden set could not be read), in a pod that evaluated it before any traffic.
    GoldenSet,
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
            Self::QualityGate => "QualityGate",
            Self::EmbeddingSpaceChanged => "EmbeddingSpaceChanged",
            Self::GoldenSet => "GoldenSet",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RejectedVersion {
    pub version: String,
    pub reason: RejectionReason,
    pub message: String,
    pub time: Time,
    /// True while the desired version has named this version ever since it was
    /// rejected; false once it moved away (the entry stays as history).
    pub blocking: bool,
}

/// The last judgement of the canary, kept so a restarted operator continues counting.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnalysisState {
    pub consecutive_failures: u32,
    pub requests: u64,
    pub errors: u64,
    pub error_rate: Option<f64>,
    pub p99_latency_seconds: Option<f64>,
    /// Mean agreement with stable over the last interval's compared inputs.
    pub agreement: Option<f64>,
    pub agreement_samples: u64,
    pub last_time: Option<Time>,
    /// The canary's cumulative counters at `last_time`: the next interval is judged on
    /// the difference.
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
    /// Sum of the per-input agreement with stable on mirrored requests (cosine
    /// similarity, or 1 for a classifier's same top label and 0 otherwise).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub agreement_sum: f64,
    /// Inputs compared with stable.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub agreement_samples: u64,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

impl CounterSnapshot {
    /// Add another source's counters (one pod's) to these totals.
    pub fn add(&mut self, other: &CounterSnapshot) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.latency_count += other.latency_count;
        self.agreement_sum += other.agreement_sum;
        self.agreement_samples += other.agreement_samples;
        for bucket in &other.latency_buckets {
            match self.latency_buckets.iter_mut().find(|b| b.le == bucket.le) {
                Some(existing) => existing.count += bucket.count,
                None => self.latency_buckets.push(bucket.clone()),
            }
        }
        self.latency_buckets.sort_by(|a, b| a.le.total_cmp(&b.le));
    }
}

/// One cumulative histogram bucket: observations of at most `le` seconds.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct LatencyBucket {
    pub le: f64,
    pub count: u64,
}
