//! How a new version takes traffic: the engine's reading of `spec.rollout`, mapped
//! from the API by the operator.

use std::time::Duration;

/// What the user asked for, as far as the engine cares: the version to serve, on how
/// many pods, and how to get there.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub version: String,
    pub replicas: i32,
    pub rollout: Policy,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Traffic steps for the new version; weights strictly increase and the last is 100.
    pub steps: Vec<Step>,
    pub analysis: AnalysisLimits,
    /// How long every pod may take to load and warm the new version.
    pub load_timeout: Duration,
    /// How many pods load a new version at once (at least 1 is used).
    pub max_loading_pods: usize,
    /// Hold the rollout at its current step.
    pub paused: bool,
    /// Roll out a version with another output dimension than stable's.
    pub allow_embedding_space_change: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Percent of requests sent to the new version.
    pub weight: f64,
    /// How long to hold this step (while analysis passes) before the next one.
    pub pause: Option<Duration>,
    /// Percent of stable's requests copied to the new version for comparison.
    pub mirror: Option<f64>,
}

/// Limits the canary is judged against at every interval.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisLimits {
    pub interval: Duration,
    /// Largest tolerated fraction of failed canary requests (0-1).
    pub max_error_rate: f64,
    pub max_p99_latency: Duration,
    /// Requests an interval needs before it is judged at all.
    pub min_requests: u64,
    /// Consecutive failed intervals that trigger a rollback.
    pub failure_limit: u32,
    /// Lowest tolerated mean agreement with stable on mirrored requests (0-1).
    pub min_agreement: Option<f64>,
    /// Compared inputs an interval needs before its agreement is judged.
    pub min_agreement_samples: u64,
    /// Reject agreement below [`crate::analysis::EMBEDDING_SPACE_FLOOR`] as another
    /// embedding space: on for embedding models unless the spec allows the change.
    pub embedding_space_guard: bool,
}
