//! What the operator sees of a model's serving pods, already fetched: the input of
//! the rollout engine besides policy and state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::state::CounterSnapshot;
use crate::time::Time;

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
    /// The version loaded but failed the golden set (`error` says how), so it is
    /// rejected as `GoldenSet` rather than as a load failure.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failed_golden_set: bool,
}

/// One serving pod.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PodObservation {
    pub name: String,
    /// The pod's Ready condition.
    pub ready: bool,
    /// Restarts of the serving container.
    pub restarts: i32,
    /// When the serving container last terminated (a crash, when it restarted since).
    pub last_terminated_at: Option<Time>,
    /// The pod's per-version states; `None` when it did not answer (starting, crashed).
    pub reports: Option<Vec<VersionReport>>,
}

impl PodObservation {
    pub fn report(&self, version: &str) -> Option<&VersionReport> {
        self.reports.as_ref()?.iter().find(|r| r.version == version)
    }

    /// Whether this pod serves `version` right now.
    pub fn has_available(&self, version: &str) -> bool {
        self.report(version).is_some_and(|r| r.state == VersionState::Available)
    }

    /// The load error this pod reports for `version`, if it failed to load it.
    pub fn load_error(&self, version: &str) -> Option<&str> {
        self.load_failure(version).map(|(error, _)| error)
    }

    /// The load error and whether it was the golden set that failed.
    pub fn load_failure(&self, version: &str) -> Option<(&str, bool)> {
        let report = self.report(version).filter(|r| r.state != VersionState::Available)?;
        report.error.as_deref().map(|e| (e, report.failed_golden_set))
    }

    /// Whether the container terminated at or after `since` (it crashed, then restarted).
    pub fn crashed_since(&self, since: Time) -> bool {
        self.restarts > 0 && self.last_terminated_at.is_some_and(|t| t >= since)
    }
}

/// Everything observed of one model's pods.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observations {
    /// Serving pods that are not being deleted, in any order.
    pub pods: Vec<PodObservation>,
    /// Cumulative counters per version, summed over the pods that answered.
    pub counters: BTreeMap<String, CounterSnapshot>,
    /// Ready pods of the Deployment.
    pub ready_replicas: i32,
    /// Set while the Deployment rolls its pods (a template change): what it waits for.
    pub rolling_update: Option<String>,
    /// Output width (embedding dimension, or number of labels) of each version, as the
    /// pods that loaded it report it.
    pub output_widths: BTreeMap<String, u64>,
}

impl Observations {
    /// Pod names, sorted, so batches are picked in a stable order.
    pub fn pod_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.pods.iter().map(|p| p.name.clone()).collect();
        names.sort();
        names
    }

    pub fn pod(&self, name: &str) -> Option<&PodObservation> {
        self.pods.iter().find(|p| p.name == name)
    }

    /// Add one pod's counters for a version to the model's totals.
    pub fn add_counters(&mut self, version: &str, pod: &CounterSnapshot) {
        self.counters.entry(version.to_string()).or_default().add(pod);
    }
}
