//! Loading a version into the serving pods: a batch at a time (so a version that kills
//! its process takes down at most `maxLoadingPods` pods), with the failures that end
//! a load: an error reported by any pod, a pod crashing while loading, the timeout.

use std::time::Duration;

use crate::observe::Observations;
use crate::state::RejectionReason;
use crate::time::Time;

/// Where loading a version stands.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadProgress {
    /// Still loading; `canary_pods` is the batch allowed to load (`None`: every pod).
    Loading { canary_pods: Option<Vec<String>> },
    /// Loaded where it must be.
    Done,
    /// The version cannot be served.
    Failed { reason: RejectionReason, message: String },
}

/// How a version is being loaded.
#[derive(Debug, Clone)]
pub struct LoadPlan<'a> {
    pub version: &'a str,
    /// The batch so far (`None`: every pod may load it).
    pub allowed: Option<&'a [String]>,
    /// Pods per batch (at least 1).
    pub max_loading: usize,
    /// `true`: every pod must have it AVAILABLE; `false`: one pod is enough (first
    /// deploy: there is nothing else to serve, so the first pod that can serves).
    pub need_all: bool,
    pub started: Time,
    pub timeout: Duration,
    /// A retry of a version rejected before: the pods may still report the last
    /// attempt's load error until they see the new status, so errors count only from
    /// `RETRY_SETTLE` after the start.
    pub retry: bool,
}

/// Longer than a pod takes to see a status change (one watch event), so a load error
/// reported after it is this attempt's, not the last one's.
pub const RETRY_SETTLE: Duration = Duration::from_secs(3);

/// The rejection a pod's load failure (error, golden set failed) amounts to.
pub fn load_failure(pod: &str, version: &str, (error, golden_set): (&str, bool)) -> (RejectionReason, String) {
    if golden_set {
        (RejectionReason::GoldenSet, format!("pod {pod}: version {version} failed the golden set: {error}"))
    } else {
        (RejectionReason::LoadFailed, format!("pod {pod} failed to load version {version}: {error}"))
    }
}

pub fn progress(plan: &LoadPlan<'_>, obs: &Observations, now: Time) -> LoadProgress {
    let version = plan.version;
    let elapsed = now.abs_diff(plan.started);
    let errors_count = !plan.retry || elapsed >= RETRY_SETTLE;
    // A load error anywhere ends it: the same files fail the same way everywhere.
    if let Some((pod, failure)) =
        obs.pods.iter().filter(|_| errors_count).find_map(|p| p.load_failure(version).map(|f| (&p.name, f)))
    {
        let (reason, message) = load_failure(pod, version, failure);
        return LoadProgress::Failed { reason, message };
    }
    let in_batch = |name: &str| plan.allowed.is_none_or(|a| a.iter().any(|n| n == name));
    if let Some(pod) =
        obs.pods.iter().find(|p| in_batch(&p.name) && !p.has_available(version) && p.crashed_since(plan.started))
    {
        return LoadProgress::Failed {
            reason: RejectionReason::CrashLoop,
            message: format!("pod {} restarted while loading version {version} (restarts: {})", pod.name, pod.restarts),
        };
    }

    let names = obs.pod_names();
    let available = names.iter().filter(|n| obs.pod(n).is_some_and(|p| p.has_available(version))).count();
    let done = if plan.need_all { !names.is_empty() && available == names.len() } else { available > 0 };
    if done && plan.allowed.is_none() {
        return LoadProgress::Done;
    }
    if elapsed > plan.timeout {
        let waiting: Vec<&str> = names
            .iter()
            .filter(|n| in_batch(n) && !obs.pod(n).is_some_and(|p| p.has_available(version)))
            .map(String::as_str)
            .collect();
        return LoadProgress::Failed {
            reason: RejectionReason::LoadTimeout,
            message: format!(
                "version {version} not loaded within {}s (still waiting for: {})",
                plan.timeout.as_secs(),
                if waiting.is_empty() { "pods to start".to_string() } else { waiting.join(", ") }
            ),
        };
    }
    let Some(allowed) = plan.allowed else {
        return LoadProgress::Loading { canary_pods: None };
    };
    // Next batch only when every pod of the current one serves the version.
    let mut batch: Vec<String> = allowed.iter().filter(|n| names.contains(n)).cloned().collect();
    let batch_done = batch.iter().all(|n| obs.pod(n).is_some_and(|p| p.has_available(version)));
    if batch_done {
        let next: Vec<String> =
            names.iter().filter(|n| !batch.contains(n)).take(plan.max_loading.max(1)).cloned().collect();
        batch.extend(next);
    }
    if !names.is_empty() && names.iter().all(|n| batch.contains(n)) {
        // Every pod is allowed: from here a scaled-up pod loads it too.
        if done {
            return LoadProgress::Done;
        }
        return LoadProgress::Loading { canary_pods: None };
    }
    batch.sort();
    LoadProgress::Loading { canary_pods: Some(batch) }
}
